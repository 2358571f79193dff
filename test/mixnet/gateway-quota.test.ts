/**
 * Gateway claim quotas (issue 10): per client PeerId cap, re-claims that do
 * not count again, and expiry of claims not renewed. Two in-process libp2p
 * nodes; the claimant speaks raw gateway frames.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { tcp } from '@libp2p/tcp'
import { lpStream } from '@libp2p/utils'
import { createLibp2p } from 'libp2p'
import { logger } from '../../src/logger.ts'
import { GATEWAY_PROTOCOL } from '../../src/mixnet/constants.ts'
import { FRAME_CLAIM, FRAME_CLAIM_OK, FRAME_ERROR, claimSignable, createGateway, gatewayFrame, type Gateway } from '../../src/mixnet/gateway.ts'
import { openMailboxStore, type MailboxStore } from '../../src/mixnet/mailbox-store.ts'
import { GatewayFrame } from '../../src/mixnet/pb/mixnet.ts'
import { QuotaCounters } from '../../src/quota.ts'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import type { MixnetCounters } from '../../src/mixnet/types.ts'

const TTL_MS = 60_000

async function node (): Promise<Libp2p> {
  return await createLibp2p({ addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
}

describe('gateway claim quotas', () => {
  let gw: Libp2p
  let client: Libp2p
  let other: Libp2p
  let gateway: Gateway
  let store: MailboxStore
  const quotas = new QuotaCounters()

  before(async () => {
    [gw, client, other] = await Promise.all([node(), node(), node()])
    store = openMailboxStore({ path: ':memory:' })
    gateway = createGateway({
      libp2p: gw,
      store,
      log: logger('test'),
      counters: {} as unknown as MixnetCounters,
      drop: () => {},
      sendPacket: async () => {},
      publishContact: async () => {},
      lookupContact: async () => undefined,
      quotas,
      maxClaimsPerPeer: 3,
      claimTtlMs: TTL_MS
    })
    await gateway.start()
  })

  after(async () => {
    await gateway.stop()
    store.close()
    await Promise.all([gw.stop(), client.stop(), other.stop()])
  })

  /** Claims `key`'s mailbox from `from`; resolves the answer frame's type and reason. */
  async function claim (from: Libp2p, key: PrivateKey, keepOpen = false): Promise<{ type: number, reason: string }> {
    const timestamp = Date.now()
    const signature = await key.sign(claimSignable(gw.peerId.publicKey?.raw ?? new Uint8Array(), from.peerId.publicKey?.raw ?? new Uint8Array(), key.publicKey.raw, timestamp))
    const stream = await from.dialProtocol(gw.getMultiaddrs(), GATEWAY_PROTOCOL)
    const lp = lpStream(stream)
    await lp.write(GatewayFrame.encode(gatewayFrame({ type: FRAME_CLAIM, mailbox: key.publicKey.raw as Uint8Array<ArrayBuffer>, timestamp: BigInt(timestamp), signature: signature as Uint8Array<ArrayBuffer> })))
    const answer = GatewayFrame.decode((await lp.read({ signal: AbortSignal.timeout(5_000) })).subarray())
    if (!keepOpen) stream.abort(new Error('done'))
    return { type: answer.type, reason: answer.reason }
  }

  it('holds at most 3 mailboxes per PeerId; re-claims do not count; another peer is not affected', async () => {
    const keys: PrivateKey[] = await Promise.all([0, 1, 2, 3].map(async () => await generateKeyPair('Ed25519')))
    for (const k of keys.slice(0, 3)) assert.equal((await claim(client, k)).type, FRAME_CLAIM_OK)
    // Re-claiming a held mailbox (a pseudonym reconnecting) is always fine.
    for (let i = 0; i < 5; i++) assert.equal((await claim(client, keys[0] as PrivateKey)).type, FRAME_CLAIM_OK)
    const refused = await claim(client, keys[3] as PrivateKey)
    assert.equal(refused.type, FRAME_ERROR)
    assert.match(refused.reason, /^UMBRA_ERR_QUOTA_MAILBOX_CLAIMS/)
    assert.equal(quotas.snapshot().refused['mailbox-claims'], 1)
    assert.equal(gateway.mailboxCount(), 3)
    assert.equal((await claim(other, keys[3] as PrivateKey)).type, FRAME_CLAIM_OK)
    assert.equal(gateway.mailboxCount(), 4)
  })

  it('drops claims not renewed within the TTL unless their owner is connected', async () => {
    const held = await generateKeyPair('Ed25519')
    await claim(other, held, true)
    const before = gateway.mailboxCount()
    gateway.expireClaims(Date.now() + TTL_MS + 1)
    assert.equal(gateway.mailboxCount(), 1, `only the connected owner's claim stays (had ${before})`)
    // The client's slots are free again.
    const k = await generateKeyPair('Ed25519')
    assert.equal((await claim(client, k)).type, FRAME_CLAIM_OK)
  })
})
