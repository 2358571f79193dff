/**
 * Direct messages per second per peer (issue 10 quota): a peer sending
 * faster than 20/s (burst 40) gets ACK_RATE_LIMITED, its send rejects with
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
import { DIRECT_MESSAGES_BURST, DIRECT_MESSAGES_PER_SECOND } from '../../src/messaging/constants.ts'
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

  it('refuses a flood beyond the burst with UMBRA_ERR_QUOTA_DIRECT_MESSAGES and still serves another peer', async (t) => {
    const to = victim.libp2p.peerId.toString()
    const body = new TextEncoder().encode('hi')
    const started = performance.now()
    const results: Array<PromiseSettledResult<unknown>> = []
    // 10 at a time (the sender's own stream cap is 64), as fast as the acknowledgements come.
    for (let i = 0; i < 100; i += 10) results.push(...await Promise.allSettled(Array.from({ length: 10 }, async () => await flooder.messaging.send(to, body))))
    const other = results.find((r) => r.status === 'rejected' && !/UMBRA_ERR_QUOTA/.test((r.reason as Error).message))
    if (other != null) t.diagnostic(`other failure: ${((other as PromiseRejectedResult).reason as Error).message}`)
    const elapsedS = (performance.now() - started) / 1000
    const politeReceipt = await polite.messaging.send(to, body)
    const delivered = results.filter((r) => r.status === 'fulfilled').length
    const refused = results.filter((r) => r.status === 'rejected' && /UMBRA_ERR_QUOTA_DIRECT_MESSAGES/.test((r.reason as Error).message)).length
    t.diagnostic(`direct: 100 sent 10 at a time in ${elapsedS.toFixed(2)} s, ${delivered} delivered, ${refused} refused; victim counted ${quotas.snapshot().refused['direct-messages']}; the other peer's message delivered in ${politeReceipt.rttMs.toFixed(0)} ms`)
    // The bucket: the burst, then the rate over the time the flood took.
    assert.ok(delivered >= DIRECT_MESSAGES_BURST && delivered <= DIRECT_MESSAGES_BURST + Math.ceil(DIRECT_MESSAGES_PER_SECOND * elapsedS) + 1, `delivered ${delivered} in ${elapsedS} s`)
    assert.ok(refused > 0)
    assert.equal(delivered + refused, 100)
    assert.equal(quotas.snapshot().refused['direct-messages'], refused)
  })
})
