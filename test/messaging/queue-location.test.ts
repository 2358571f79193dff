/**
 * Queue location in peer records (issue 11 item 3): a node's peer record
 * names the servers holding its offline queue; a sender queues there when the
 * record names them, else at the 3 servers closest to the recipient's key (an
 * older record without the field still works); the recipient fetches it.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { createNode, type UmbraNode } from '../../src/node/index.ts'
import { keyFromPeerId } from '../../src/identity/index.ts'
import { peerRecordKey, signPeerRecord, verifyPeerRecord } from '../../src/registry/index.ts'
import { createTestnet, type Testnet } from '../../src/testnet/index.ts'
import { until } from '../helpers/wait.ts'

const MIXNET = { preset: 'none' as const, threads: 1 }

async function signed (key: PrivateKey, queueServers?: string[]): Promise<Uint8Array> {
  return await signPeerRecord({ privateKey: key, role: 'client', addrs: [], seq: Date.now(), expiresAt: Date.now() + 10 * 60_000, ...(queueServers != null ? { queueServers } : {}) })
}

describe('queue servers in peer records (unit)', () => {
  it('round-trips queueServers; a record without them (an older node) verifies with none', async () => {
    const key = await generateKeyPair('Ed25519')
    const dhtKey = peerRecordKey(keyFromPeerId(peerIdFromPrivateKey(key)))
    const server = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    assert.deepEqual((await verifyPeerRecord(dhtKey, await signed(key, [server]))).queueServers, [server])
    assert.deepEqual((await verifyPeerRecord(dhtKey, await signed(key))).queueServers, [])
  })

  it('refuses more than 3 queue servers when signing, and a record naming something that is not a PeerId', async () => {
    const key = await generateKeyPair('Ed25519')
    const ids = await Promise.all([1, 2, 3, 4].map(async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()))
    await assert.rejects(signed(key, ids), { code: 'UMBRA_ERR_INVALID_OPTION' })
    const dhtKey = peerRecordKey(keyFromPeerId(peerIdFromPrivateKey(key)))
    await assert.rejects(verifyPeerRecord(dhtKey, await signed(key, ['not-a-peer-id'])), { code: 'UMBRA_ERR_INVALID_RECORD' })
  })
})

describe('queue servers in peer records on real nodes', { timeout: 90_000 }, () => {
  let net: Testnet
  let recipient: UmbraNode | undefined

  before(async () => { net = await createTestnet(4, { mixnet: MIXNET }) })
  after(async () => {
    await recipient?.stop().catch(() => {})
    await net?.stop()
  })

  async function putRecord (bytes: Uint8Array, key: PrivateKey): Promise<void> {
    const dht = (net.nodes[2] as UmbraNode).libp2p.services as { dht: { put(key: Uint8Array, value: Uint8Array): AsyncIterable<unknown> } }
    for await (const e of dht.dht.put(peerRecordKey(keyFromPeerId(peerIdFromPrivateKey(key))), bytes)) void e
  }

  it('a node\'s own record names its 3 closest queue servers', async () => {
    const node = net.nodes[1] as UmbraNode
    // It names the queue servers it has found so far: all 3 once it knows the other servers.
    const record = await until('a record naming 3 queue servers', async () => {
      const { record } = await node.registry.publish()
      return record.queueServers.length === 3 ? record : undefined
    }, 20_000, 500)
    assert.ok(record.queueServers.every((s) => s !== node.peerId && net.nodes.some((n) => n.peerId === s)))
    const looked = await (net.nodes[0] as UmbraNode).registry.lookup(node.peerId, { fresh: true })
    assert.deepEqual(looked.queueServers, record.queueServers)
  })

  it('the sender queues at the one server the record names; without the field at the 3 closest; the recipient fetches it', async (t) => {
    const sender = net.nodes[0] as UmbraNode
    const key = await generateKeyPair('Ed25519')
    const to = peerIdFromPrivateKey(key)
    // The named server: the closest to the recipient's key among the others (so the recipient's own closest-servers fetch finds it too).
    const digest = (id: string): Buffer => createHash('sha256').update(peerIdFromString(id).toMultihash().bytes).digest()
    const target = digest(to.toString())
    const dist = (id: string): string => Buffer.from(digest(id).map((b, i) => b ^ (target[i] as number))).toString('hex')
    const named = net.nodes.slice(1).map((n) => n.peerId).sort((x, y) => dist(x) < dist(y) ? -1 : 1)[0] as string
    await putRecord(await signed(key, [named]), key)
    const started = performance.now()
    const receipt = await sender.messaging.send(to.toString(), new TextEncoder().encode('named queue'), { timeout: 15_000 })
    t.diagnostic(`queued at the named server in ${(performance.now() - started).toFixed(0)} ms`)
    assert.equal(receipt.path, 'queued')
    assert.deepEqual(receipt.servers, [named], 'only the server the record names')

    // An older record (no queueServers): the 3 servers closest to its key, as before.
    const oldKey = await generateKeyPair('Ed25519')
    await putRecord(await signed(oldKey), oldKey)
    const old = await sender.messaging.send(peerIdFromPrivateKey(oldKey).toString(), new Uint8Array([1]), { timeout: 15_000 })
    assert.equal(old.path, 'queued')
    assert.equal(old.servers?.length, 3)

    // The recipient comes online and fetches its message once.
    const t0 = performance.now()
    recipient = await createNode({ role: 'client', privateKey: key, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: net.bootstrap, mixnet: MIXNET, nat: { upnp: false, stunPort: 0 } })
    await recipient.start()
    const r = recipient
    const got = await until('the queued message', async () => {
      await r.messaging.drainOfflineQueue()
      const m = r.messaging.inbox().find((x) => x.id === receipt.id)
      return m
    }, 20_000, 500)
    t.diagnostic(`fetched by the recipient ${(performance.now() - t0).toFixed(0)} ms after its start`)
    assert.equal(new TextDecoder().decode(got.body), 'named queue')
    assert.equal(r.messaging.inbox().filter((x) => x.id === receipt.id).length, 1)
  })
})
