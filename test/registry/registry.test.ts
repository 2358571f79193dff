/**
 * The peer registry (issue 9 item 2) on real loopback nodes: servers and a
 * client publish peer records, others look them up by PeerId or key, a node
 * that never saw a client reaches it by its PeerId alone, metadata sealed
 * to one key is readable by that key only, and forged records are refused.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createNode, type UmbraNode } from '../../src/node/index.ts'
import { keyFromPeerId } from '../../src/identity/index.ts'
import { peerRecordKey, signPeerRecord, verifyPeerRecord } from '../../src/registry/index.ts'
import { createTestnet, type Testnet } from '../../src/testnet/index.ts'
import { until } from '../helpers/wait.ts'

describe('peer registry on real loopback nodes', { timeout: 120_000 }, () => {
  let net: Testnet
  let client: UmbraNode
  const extra: UmbraNode[] = []
  const MIXNET = { preset: 'none' as const, threads: 1 }

  before(async () => {
    net = await createTestnet(4, { mixnet: MIXNET })
    client = await createNode({ role: 'client', privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: net.bootstrap, mixnet: MIXNET, nat: { upnp: false, stunPort: 0 } })
    extra.push(client)
    await client.start()
  })
  after(async () => {
    for (const n of extra) await n.stop().catch(() => {})
    await net?.stop()
  })

  it('a server\'s record, looked up by PeerId and by key, names its role and addresses', async () => {
    const [a, b] = net.nodes as [UmbraNode, UmbraNode]
    const rec = await until('server A\'s record', async () => await b.registry.lookup(a.peerId, { fresh: true }), 20_000)
    assert.equal(rec.peerId, a.peerId)
    assert.equal(rec.key, keyFromPeerId(a.libp2p.peerId))
    assert.equal(rec.role, 'server')
    assert.deepEqual([...rec.addrs].sort(), [...a.getMultiaddrs()].sort())
    assert.ok(Date.now() - rec.lastSeen < 60_000)
    const byKey = await b.registry.lookup(rec.key)
    assert.equal(byKey.peerId, a.peerId)
  })

  it('a client publishes its relayed addresses only, never a direct one', async (t) => {
    const server = net.nodes[2] as UmbraNode
    const rec = await until('a client record with a relayed address', async () => {
      const r = await server.registry.lookup(client.peerId, { fresh: true })
      return r.addrs.some((a) => a.includes('/p2p-circuit')) ? r : undefined
    }, 45_000)
    t.diagnostic(`client record: ${rec.addrs.length} addresses, e.g. ${rec.addrs[0] ?? ''}`)
    assert.equal(rec.role, 'client')
    assert.ok(rec.addrs.every((a) => a.includes('/p2p-circuit')), `only relayed addresses: ${rec.addrs.join(' ')}`)
    // The client listens on 127.0.0.1 TCP too (its NAT status sees it); that address is in no record.
    const direct = client.nat.status().reachableAddrs.filter((a) => !a.includes('/p2p-circuit'))
    assert.ok(rec.addrs.every((a) => !direct.some((d) => a.startsWith(d))))
  })

  it('a node that never met the client reaches it by its PeerId alone', async () => {
    const stranger = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [net.bootstrap[0] as string], mixnet: MIXNET, nat: { stunPort: 0 } })
    extra.push(stranger)
    await stranger.start()
    assert.equal(stranger.libp2p.getConnections(client.libp2p.peerId).length, 0)
    const got = new Promise<string>((resolve) => {
      client.addEventListener('message', (evt) => { resolve(new TextDecoder().decode(evt.detail.body)) }, { once: true })
    })
    await until('a message to the client by PeerId', async () => { await stranger.messaging.send(client.peerId, new TextEncoder().encode('found you')); return true }, 30_000)
    assert.equal(await got, 'found you')
  })

  it('metadata sealed to one key is readable by that key only', async () => {
    const [a, b, c] = net.nodes as [UmbraNode, UmbraNode, UmbraNode]
    const bKey = keyFromPeerId(b.libp2p.peerId)
    await a.registry.setMetadata(new TextEncoder().encode('{"svc":"shop"}'), { sealTo: bKey })
    const seenByB = await b.registry.lookup(a.peerId, { fresh: true })
    assert.equal(seenByB.sealed, true)
    assert.equal(new TextDecoder().decode(b.registry.openMetadata(seenByB)), '{"svc":"shop"}')
    const seenByC = await c.registry.lookup(a.peerId, { fresh: true })
    assert.equal(c.registry.openMetadata(seenByC), undefined, 'another node cannot open it')
    assert.ok(!new TextDecoder().decode(seenByC.metadata).includes('shop'), 'the stored bytes are not the plaintext')
    // Plain metadata is readable by anyone, as published.
    await a.registry.setMetadata(new TextEncoder().encode('open'))
    const plain = await c.registry.lookup(a.peerId, { fresh: true })
    assert.equal(plain.sealed, false)
    assert.equal(new TextDecoder().decode(plain.metadata), 'open')
    await assert.rejects(a.registry.setMetadata(new Uint8Array(1025)), { code: 'UMBRA_ERR_METADATA_TOO_LARGE' })
  })

  it('a record for someone else\'s key is refused by storing nodes and lookups', async () => {
    const victim = net.nodes[1] as UmbraNode
    const mallory = await generateKeyPair('Ed25519')
    const forged = await signPeerRecord({ privateKey: mallory, role: 'server', addrs: ['/ip4/127.0.0.1/tcp/9'], seq: Date.now() * 2, expiresAt: Date.now() + 60_000 })
    const victimKey = peerRecordKey(keyFromPeerId(victim.libp2p.peerId))
    await assert.rejects(verifyPeerRecord(victimKey, forged), { code: 'UMBRA_ERR_INVALID_RECORD' })
    // Pushed into the DHT under the victim's key anyway, it does not replace the real record.
    const pushes = (net.nodes[3] as UmbraNode).libp2p.services as { dht: { put(key: Uint8Array, value: Uint8Array): AsyncIterable<unknown> } }
    try {
      for await (const e of pushes.dht.put(victimKey, forged)) void e
    } catch { /* refused */ }
    const rec = await (net.nodes[0] as UmbraNode).registry.lookup(victim.peerId, { fresh: true })
    assert.equal(rec.peerId, victim.peerId)
    assert.ok(!rec.addrs.includes('/ip4/127.0.0.1/tcp/9'))
  })

  it('a node that opts out publishes nothing: lookups answer UMBRA_ERR_PEER_NOT_FOUND', async () => {
    const hidden = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: net.bootstrap, mixnet: MIXNET, nat: { stunPort: 0 }, registry: { publish: false } })
    extra.push(hidden)
    await hidden.start()
    await new Promise((resolve) => setTimeout(resolve, 3_000))
    await assert.rejects((net.nodes[1] as UmbraNode).registry.lookup(hidden.peerId, { fresh: true }), { code: 'UMBRA_ERR_PEER_NOT_FOUND' })
    await assert.rejects((net.nodes[1] as UmbraNode).registry.lookup('not-a-peer'), { code: 'UMBRA_ERR_INVALID_KEY' })
  })
})
