/**
 * Service discovery (issue 9 item 4) on 6 real loopback nodes: advertise by
 * PeerId and find it from another node with dialable addresses; the
 * anonymous variant lists the pseudonym and never the advertiser's PeerId
 * or key, and the set is put into the DHT by the pseudonym's gateway, never
 * by the advertiser's node; unadvertise removes the pseudonym at once and the provider record
 * once its (short, for the test) lifetime passes; a hostile set that drops
 * another pseudonym's entry, or carries a forged entry, is refused.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { anonSetKey, discoveryNamespace, signEntry, signSet, topicOf, verifySet } from '../../src/discovery/index.ts'
import { createTestnet, type Testnet } from '../../src/testnet/index.ts'
import type { UmbraNode } from '../../src/node/index.ts'
import type { KadDHT } from '@libp2p/kad-dht'
import { until } from '../helpers/wait.ts'

const NODES = 6
const PROVIDER_TTL_MS = 4000

describe('service discovery on 6 loopback nodes', { timeout: 90_000 }, () => {
  let net: Testnet
  let nodes: UmbraNode[]

  before(async () => {
    net = await createTestnet(NODES, { mixnet: { preset: 'none', threads: 1 }, discovery: { providerTtl: PROVIDER_TTL_MS, reprovideInterval: 1000 } })
    nodes = net.nodes
  })
  after(async () => { await net?.stop() })

  it('a node advertised by PeerId is found from another node, with addresses that dial', async (t) => {
    const [, adv, , , , finder] = nodes as [UmbraNode, UmbraNode, UmbraNode, UmbraNode, UmbraNode, UmbraNode]
    const res = await adv.discovery.advertise('chat/lobby')
    t.diagnostic(`advertise stored the provider record on ${res.storedOn} nodes`)
    assert.ok(res.storedOn >= 1)
    const started = Date.now()
    const found = await until('the advertiser in find()', async () => {
      const peers = await finder.discovery.find('chat/lobby')
      return peers.find((p) => p.peerId === adv.peerId)
    }, 20_000)
    t.diagnostic(`found in ${Date.now() - started} ms with ${found.addrs.length} addresses`)
    assert.equal(found.key, adv.key)
    assert.ok(found.addrs.length > 0)
    const withPeer = found.addrs.map((a) => a.includes('/p2p/') ? a : `${a}/p2p/${found.peerId}`)
    await finder.libp2p.hangUp(peerIdFromString(found.peerId))
    const conn = await finder.libp2p.dial(multiaddr(withPeer[0] as string))
    assert.equal(conn.remotePeer.toString(), adv.peerId)
    assert.deepEqual(await finder.discovery.find('chat/other-room'), [])
  })

  it('after unadvertise, the provider record is no longer re-provided and is gone once it expires', async (t) => {
    const [, , adv, , finder] = nodes as [UmbraNode, UmbraNode, UmbraNode, UmbraNode, UmbraNode]
    await adv.discovery.advertise('files/share')
    await until('the advertiser in find()', async () => (await finder.discovery.find('files/share')).find((p) => p.peerId === adv.peerId), 20_000)
    // Still listed after more than a lifetime: the advertiser re-provides it.
    await new Promise((resolve) => setTimeout(resolve, PROVIDER_TTL_MS + 1500))
    const still = (await finder.discovery.find('files/share')).some((p) => p.peerId === adv.peerId)
    t.diagnostic(`listed ${PROVIDER_TTL_MS + 1500} ms later while advertised: ${still}`)
    assert.ok(still, 're-provided before expiry')
    await adv.discovery.unadvertise('files/share')
    assert.deepEqual(adv.discovery.advertised().namespaces, [])
    const started = Date.now()
    await until('the provider record to expire everywhere', async () => (await finder.discovery.find('files/share')).some((p) => p.peerId === adv.peerId) ? undefined : true, 20_000)
    t.diagnostic(`gone from find() ${Date.now() - started} ms after unadvertise (provider TTL ${PROVIDER_TTL_MS} ms)`)
  })

  it('the anonymous variant lists the pseudonym, never the advertiser\'s PeerId or key', async (t) => {
    const [, , , adv, other, finder] = nodes as [UmbraNode, UmbraNode, UmbraNode, UmbraNode, UmbraNode, UmbraNode]
    await until('every directory to list every node', () => nodes.every((n) => n.mixnet.directory().length === NODES) ? true : undefined, 30_000)
    const p = await adv.pseudonyms.create({ label: 'lobby' })
    const q = await other.pseudonyms.create({ label: 'lobby2' })
    // Who puts the set into the DHT: every node's kad-dht put is watched.
    const setKey = Buffer.from(anonSetKey('chat/lobby')).toString('hex')
    const putters = new Set<string>()
    for (const n of nodes) {
      const kad = n.libp2p.services.dht as KadDHT
      const put = kad.put.bind(kad)
      kad.put = (key, value, options) => {
        if (Buffer.from(key).toString('hex') === setKey) putters.add(n.peerId)
        return put(key, value, options)
      }
    }
    const res = await adv.discovery.advertise('chat/lobby', { pseudonym: p.key })
    t.diagnostic(`the set was put by ${[...putters].map((id) => p.gateways.includes(id) ? 'a gateway of the pseudonym' : id === adv.peerId ? 'THE ADVERTISER' : 'another node').join(', ')}`)
    assert.ok(!putters.has(adv.peerId), 'the advertiser never puts the set itself')
    assert.equal(putters.size, 1, 'one gateway put it')
    assert.ok([...putters].every((id) => p.gateways.includes(id)), 'a gateway of the pseudonym put it')
    assert.equal(res.anonymous, true)
    assert.equal(res.advertiser, p.key)
    t.diagnostic(`anonymous set stored on ${res.storedOn} nodes`)
    await other.discovery.advertise('chat/lobby', { pseudonym: q.key })
    const found = await finder.discovery.find('chat/lobby', { anonymous: true })
    const keys = found.map((f) => f.pseudonym).sort()
    t.diagnostic(`find(anonymous) lists ${found.length} pseudonyms`)
    assert.deepEqual(keys, [p.key, q.key].sort())
    const text = JSON.stringify(found)
    assert.ok(!text.includes(adv.peerId) && !text.includes(adv.key), 'the advertiser\'s PeerId and key are not listed')
    // The stored record names neither the advertising node's PeerId nor its key.
    const stored = await until('a stored copy', async () => {
      for await (const ev of (finder.libp2p.services.dht as KadDHT).get(anonSetKey('chat/lobby'))) if (ev.name === 'VALUE') return ev.value
      return undefined
    }, 10_000)
    const hex = Buffer.from(stored).toString('hex')
    assert.deepEqual(finder.discovery.counters().dropped, {}, 'no invalid copy met')
    assert.ok(!hex.includes(Buffer.from(adv.libp2p.peerId.publicKey?.raw ?? []).toString('hex')), 'the record does not carry the node key')
    // Unadvertise removes the pseudonym at once; the other one stays.
    await adv.discovery.unadvertise('chat/lobby', { pseudonym: p.key })
    const after = (await finder.discovery.find('chat/lobby', { anonymous: true })).map((f) => f.pseudonym)
    t.diagnostic(`after unadvertise: ${after.length} pseudonym(s)`)
    assert.deepEqual(after, [q.key])
    // The gateway publishes only sets signed by the pseudonym, and only in the discovery namespace.
    const handle = adv.mixnet as unknown as { publishThroughGateway(p: string, k: Uint8Array, r: Uint8Array): Promise<number> }
    const stranger = await generateKeyPair('Ed25519')
    const now = Date.now()
    const notMine = await signSet(stranger, anonSetKey('chat/lobby'), [], now, now + 60_000)
    await assert.rejects(handle.publishThroughGateway(p.key, anonSetKey('chat/lobby'), notMine), (err: Error & { code?: string }) => err.code === 'UMBRA_ERR_GATEWAY_UNREACHABLE' && /not signed by the mailbox key/.test(err.message))
    await assert.rejects(handle.publishThroughGateway(p.key, new TextEncoder().encode('/umbra-data/x'), notMine), (err: Error) => /does not publish records of that namespace/.test(err.message))
    // Only own pseudonyms can be advertised.
    await assert.rejects(adv.discovery.advertise('chat/lobby', { pseudonym: q.key }), { code: 'UMBRA_ERR_INVALID_OPTION' })
    await assert.rejects(adv.discovery.find(''), { code: 'UMBRA_ERR_INVALID_NAMESPACE' })
  })

  // Known limit (docs/discovery.md): advertises started at the same instant can still lose an entry (kad-dht lets two
  // concurrent puts both pass the validator); one after the other from three nodes, every entry is kept.
  it('pseudonyms advertised one after the other from three nodes are all found', async (t) => {
    const advertisers = nodes.slice(1, 4)
    const ps = await Promise.all(advertisers.map(async (n) => await n.pseudonyms.create()))
    const started = Date.now()
    const results = []
    for (const [i, n] of advertisers.entries()) results.push(await n.discovery.advertise('race/room', { pseudonym: ps[i]?.key }))
    t.diagnostic(`3 advertises one after the other in ${Date.now() - started} ms, stored on ${results.map((r) => r.storedOn).join('/')} nodes`)
    let last: string[] = []
    const found = await until('all three pseudonyms', async () => {
      const list = (await (nodes[5] as UmbraNode).discovery.find('race/room', { anonymous: true })).map((f) => f.pseudonym)
      last = list
      return ps.every((p) => list.includes(p.key)) ? list : undefined
    }, 40_000).catch((err) => { throw new Error(`${(err as Error).message}; last saw ${last.length}: ${last.map((k) => ps.findIndex((p) => p.key === k)).join(',')}; counters ${JSON.stringify((nodes[5] as UmbraNode).discovery.counters())}`) })
    assert.equal(found.length, 3)
  })

  it('storing nodes refuse a set that drops another pseudonym\'s entry, or is forged, expired, oversized or of another namespace', async () => {
    const validate = discoveryNamespace.validator(async () => held)
    const ns = 'hostile/test'
    const dhtKey = anonSetKey(ns)
    const topic = topicOf(ns, true)
    const alice = await generateKeyPair('Ed25519')
    const mallory = await generateKeyPair('Ed25519')
    const now = Date.now()
    const aliceEntry = await signEntry(alice, topic, now + 60_000)
    let held: Uint8Array | undefined = await signSet(alice, dhtKey, [aliceEntry], now, now + 60_000)
    await verifySet(dhtKey, held)
    // Mallory writes a set without Alice: refused.
    const malloryEntry = await signEntry(mallory, topic, now + 60_000)
    await assert.rejects(validate(dhtKey, await signSet(mallory, dhtKey, [malloryEntry], now + 1, now + 60_000)), { code: 'UMBRA_ERR_INVALID_RECORD' })
    // With Alice kept: accepted.
    await validate(dhtKey, await signSet(mallory, dhtKey, [aliceEntry, malloryEntry], now + 1, now + 60_000))
    // A forged entry (Alice's key, Mallory's signature): refused.
    const forged = await signEntry(mallory, topic, now + 60_000)
    const bad = Buffer.from(forged)
    bad.set(alice.publicKey.raw, 2)
    await assert.rejects(validate(dhtKey, await signSet(mallory, dhtKey, [aliceEntry, bad], now + 2, now + 60_000)), { code: 'UMBRA_ERR_INVALID_RECORD' })
    // An entry signed for another namespace: refused.
    const elsewhere = await signEntry(mallory, topicOf('other', true), now + 60_000)
    await assert.rejects(validate(dhtKey, await signSet(mallory, dhtKey, [aliceEntry, elsewhere], now + 3, now + 60_000)), { code: 'UMBRA_ERR_INVALID_RECORD' })
    // An expired entry, a set over 32 entries, a repeated pseudonym, an oversized record: refused.
    const expired = await signEntry(mallory, topic, now - 1000)
    await assert.rejects(validate(dhtKey, await signSet(mallory, dhtKey, [aliceEntry, expired], now + 3, now + 60_000)), { code: 'UMBRA_ERR_INVALID_RECORD' })
    const many = await Promise.all(Array.from({ length: 33 }, async () => await signEntry(await generateKeyPair('Ed25519'), topic, now + 60_000)))
    await assert.rejects(validate(dhtKey, await signSet(mallory, dhtKey, many, now + 3, now + 60_000)), { code: 'UMBRA_ERR_INVALID_RECORD' })
    await assert.rejects(validate(dhtKey, await signSet(mallory, dhtKey, [aliceEntry, aliceEntry], now + 3, now + 60_000)), { code: 'UMBRA_ERR_INVALID_RECORD' })
    const big = new Uint8Array(7000)
    await assert.rejects(validate(dhtKey, big), { code: 'UMBRA_ERR_INVALID_RECORD' })
    // A set stored under another namespace's key, or a key that is not a topic: refused.
    const signedHere = await signSet(mallory, dhtKey, [malloryEntry], now + 3, now + 60_000)
    await assert.rejects(validate(anonSetKey('other'), signedHere), { code: 'UMBRA_ERR_INVALID_RECORD' })
    await assert.rejects(validate(new TextEncoder().encode('/umbra-disc/not-a-topic'), signedHere), { code: 'UMBRA_ERR_INVALID_RECORD' })
    // Alice may remove her own entry.
    held = await signSet(alice, dhtKey, [aliceEntry, malloryEntry], now + 4, now + 60_000)
    await assert.rejects(validate(dhtKey, await signSet(alice, dhtKey, [aliceEntry], now + 5, now + 60_000)), { code: 'UMBRA_ERR_INVALID_RECORD' })
    await validate(dhtKey, await signSet(alice, dhtKey, [malloryEntry], now + 5, now + 60_000))
  })
})
