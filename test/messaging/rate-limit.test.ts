/**
 * Direct messages per second per peer (issue 10 quota): a peer spending
 * more than 100 tokens/s (burst 200; a message costs 1 + 1 per 64 KiB) gets ACK_RATE_LIMITED, its send rejects with
 * the documented code, the refusals are counted, and another peer is still
 * served meanwhile.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { logger } from '../../src/logger.ts'
import { DIRECT_MESSAGE_TOKEN_BYTES, DIRECT_MESSAGES_BURST, DIRECT_MESSAGES_PER_SECOND } from '../../src/messaging/constants.ts'
import { createMessagingService, type MessagingServiceHandle } from '../../src/messaging/messaging-service.ts'
import { QuotaCounters } from '../../src/quota.ts'
import type { Libp2p } from '@libp2p/interface'

async function peer (quotas?: QuotaCounters): Promise<{ libp2p: Libp2p, messaging: MessagingServiceHandle }> {
  const privateKey = await generateKeyPair('Ed25519')
  const libp2p = await createLibp2p({ privateKey, addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
  const messaging = createMessagingService({ libp2p, privateKey, log: logger('test'), quotas, onMessage: () => {} })
  await messaging.start()
  return { libp2p, messaging }
}

describe('direct messages per second per peer', () => {
  const quotas = new QuotaCounters()
  let victim: Awaited<ReturnType<typeof peer>>
  let flooder: Awaited<ReturnType<typeof peer>>
  let polite: Awaited<ReturnType<typeof peer>>

  before(async () => {
    victim = await peer(quotas)
    flooder = await peer()
    polite = await peer()
    await flooder.libp2p.peerStore.merge(victim.libp2p.peerId, { multiaddrs: victim.libp2p.getMultiaddrs() })
    await polite.libp2p.peerStore.merge(victim.libp2p.peerId, { multiaddrs: victim.libp2p.getMultiaddrs() })
  })

  after(async () => {
    for (const p of [victim, flooder, polite]) {
      await p.messaging.stop()
      await p.libp2p.stop()
    }
  })

  it('refuses a flood of 1 MB messages beyond the budget with UMBRA_ERR_QUOTA_DIRECT_MESSAGES and still serves another peer', async (t) => {
    const to = victim.libp2p.peerId.toString()
    const big = new Uint8Array(1_000_000)
    // 1 token + 15 per full 64 KiB of a ~1,000,100-byte envelope.
    const cost = 1 + Math.floor(1_000_100 / DIRECT_MESSAGE_TOKEN_BYTES)
    const started = performance.now()
    const results: Array<PromiseSettledResult<unknown>> = []
    for (let i = 0; i < 40; i += 4) results.push(...await Promise.allSettled(Array.from({ length: 4 }, async () => await flooder.messaging.send(to, big))))
    const elapsedS = (performance.now() - started) / 1000
    const other = results.find((r) => r.status === 'rejected' && !/UMBRA_ERR_QUOTA/.test((r.reason as Error).message))
    if (other != null) t.diagnostic(`other failure: ${((other as PromiseRejectedResult).reason as Error).message}`)
    // A polite peer sends 100 small messages one at a time meanwhile (as the benchmark does): all delivered.
    const small = new TextEncoder().encode('hi')
    let politeDelivered = 0
    for (let i = 0; i < 100; i++) { await polite.messaging.send(to, small); politeDelivered++ }
    const delivered = results.filter((r) => r.status === 'fulfilled').length
    const refused = results.filter((r) => r.status === 'rejected' && /UMBRA_ERR_QUOTA_DIRECT_MESSAGES/.test((r.reason as Error).message)).length
    t.diagnostic(`direct: 40 x 1 MB sent 4 at a time in ${elapsedS.toFixed(2)} s: ${delivered} delivered, ${refused} refused; victim counted ${quotas.snapshot().refused['direct-messages']}; another peer's 100 small messages one at a time: ${politeDelivered} delivered`)
    // The bucket: the burst, then the rate over the time the flood took, in messages of `cost` tokens.
    assert.ok(delivered >= Math.floor(DIRECT_MESSAGES_BURST / cost), `delivered ${delivered}`)
    assert.ok(delivered <= Math.floor((DIRECT_MESSAGES_BURST + DIRECT_MESSAGES_PER_SECOND * elapsedS) / cost) + 1, `delivered ${delivered} in ${elapsedS} s`)
    assert.ok(refused > 0)
    assert.equal(delivered + refused, 40)
    assert.equal(quotas.snapshot().refused['direct-messages'], refused)
    assert.equal(politeDelivered, 100)
  })
})
