import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createTestnet, type Testnet } from '../../src/testnet/index.ts'
import { MAX_VALUE_BYTES } from '../../src/dht/constants.ts'
import { dhtKeyFor, signRecord } from '../../src/dht/record.ts'
import type { UmbraNode } from '../../src/node/index.ts'
import type { DhtServiceHandle } from '../../src/dht/dht-service.ts'
import type { KadDHT } from '@libp2p/kad-dht'

const text = (s: string): Uint8Array => new TextEncoder().encode(s)
const HOUR = 3_600_000

/**
 * Sends a record straight to the closest nodes with kad-dht's own PUT_VALUE,
 * bypassing every check of the sender's Umbra layer, as a hostile node would.
 * @returns how many storing nodes accepted and how many refused
 */
async function rawPut (from: UmbraNode, dhtKey: Uint8Array, record: Uint8Array): Promise<{ accepted: number, refused: number }> {
  const kad = (from.libp2p.services as { dht: KadDHT }).dht
  let accepted = 0
  let refused = 0
  for await (const event of kad.put(dhtKey, record, { signal: AbortSignal.timeout(10_000) })) {
    if (event.name === 'PEER_RESPONSE' && event.messageName === 'PUT_VALUE') accepted++
    if (event.name === 'QUERY_ERROR') refused++
  }
  return { accepted, refused }
}

describe('DHT storage on real nodes', () => {
  let net: Testnet
  before(async () => { net = await createTestnet(5) })
  after(async () => { await net?.stop() })

  it('a value put on one node is got on every other node', async () => {
    const [a, ...rest] = net.nodes as [UmbraNode, ...UmbraNode[]]
    const put = await a.dht.put('greeting', text('hello'), { ttl: HOUR })
    assert.equal(put.seq, 1)
    assert.ok(put.storedOn >= 1, `stored on ${put.storedOn} nodes`)
    for (const node of rest) {
      const got = await node.dht.get('greeting')
      assert.equal(new TextDecoder().decode(got?.value), 'hello')
      assert.equal(got?.publisher, a.key)
      const fresh = await node.dht.get('greeting', { fresh: true })
      assert.equal(fresh?.seq, 1)
    }
  })

  it('an update by the owner raises the seq and wins everywhere', async () => {
    const [a, b] = net.nodes as [UmbraNode, UmbraNode]
    await a.dht.put('counter', text('1'))
    const second = await a.dht.put('counter', text('2'))
    assert.equal(second.seq, 2)
    const got = await b.dht.get('counter', { fresh: true })
    assert.equal(new TextDecoder().decode(got?.value), '2')
  })

  it('another publisher cannot take over a key (UMBRA_ERR_KEY_OWNED)', async () => {
    const [a, b, c] = net.nodes as [UmbraNode, UmbraNode, UmbraNode]
    await a.dht.put('owned', text('mine'))
    await assert.rejects(b.dht.put('owned', text('yours')), { code: 'UMBRA_ERR_KEY_OWNED' })
    assert.equal(new TextDecoder().decode((await c.dht.get('owned', { fresh: true }))?.value), 'mine')
  })

  it('returns undefined for a key nobody stored', async () => {
    assert.equal(await net.nodes[1]?.dht.get('never-stored'), undefined)
  })

  describe('storing nodes refuse bad records sent straight over kad-dht', () => {
    it('accepts a valid record sent the same way (control)', async () => {
      const publisher = await generateKeyPair('Ed25519')
      const dhtKey = dhtKeyFor('control')
      const rec = await signRecord({ privateKey: publisher, dhtKey, seq: 1, expiresAt: Date.now() + HOUR, value: text('ok') })
      const res = await rawPut(net.nodes[0] as UmbraNode, dhtKey, rec)
      assert.ok(res.accepted >= 3, `accepted by ${res.accepted}`)
      assert.equal(res.refused, 0)
      assert.equal(new TextDecoder().decode((await net.nodes[4]?.dht.get('control'))?.value), 'ok')
    })

    it('refuses a forged record (signature does not match the value)', async () => {
      const publisher = await generateKeyPair('Ed25519')
      const dhtKey = dhtKeyFor('forged')
      const rec = await signRecord({ privateKey: publisher, dhtKey, seq: 1, expiresAt: Date.now() + HOUR, value: text('honest') })
      const forged = rec.slice()
      const at = Buffer.from(forged).indexOf(Buffer.from('honest'))
      forged.set(text('forged'), at)
      const res = await rawPut(net.nodes[0] as UmbraNode, dhtKey, forged)
      assert.equal(res.accepted, 0)
      assert.ok(res.refused >= 3, `refused by ${res.refused}`)
      for (const node of net.nodes.slice(1)) assert.equal(await node.dht.get('forged'), undefined)
    })

    it('refuses a record signed for another key', async () => {
      const publisher = await generateKeyPair('Ed25519')
      const rec = await signRecord({ privateKey: publisher, dhtKey: dhtKeyFor('elsewhere'), seq: 1, expiresAt: Date.now() + HOUR, value: text('x') })
      const res = await rawPut(net.nodes[0] as UmbraNode, dhtKeyFor('moved'), rec)
      assert.equal(res.accepted, 0)
    })

    it('refuses an expired record', async () => {
      const publisher = await generateKeyPair('Ed25519')
      const dhtKey = dhtKeyFor('expired')
      const rec = await signRecord({ privateKey: publisher, dhtKey, seq: 1, expiresAt: Date.now() - 1000, value: text('old') })
      const res = await rawPut(net.nodes[0] as UmbraNode, dhtKey, rec)
      assert.equal(res.accepted, 0)
      assert.ok(res.refused >= 3)
      for (const node of net.nodes.slice(1)) assert.equal(await node.dht.get('expired'), undefined)
    })

    it('refuses an oversized value (64 KiB + 1), even when correctly signed', async () => {
      const publisher = await generateKeyPair('Ed25519')
      const dhtKey = dhtKeyFor('oversized')
      const rec = await signRecord({ privateKey: publisher, dhtKey, seq: 1, expiresAt: Date.now() + HOUR, value: new Uint8Array(MAX_VALUE_BYTES + 1) })
      const res = await rawPut(net.nodes[0] as UmbraNode, dhtKey, rec)
      assert.equal(res.accepted, 0)
      for (const node of net.nodes.slice(1)) assert.equal(await node.dht.get('oversized'), undefined)
    })

    it('refuses an expiry beyond 48 h', async () => {
      const publisher = await generateKeyPair('Ed25519')
      const dhtKey = dhtKeyFor('too-long')
      const rec = await signRecord({ privateKey: publisher, dhtKey, seq: 1, expiresAt: Date.now() + 49 * HOUR, value: text('x') })
      assert.equal((await rawPut(net.nodes[0] as UmbraNode, dhtKey, rec)).accepted, 0)
    })

    it('refuses a replayed older record and another publisher’s record for a held key', async () => {
      const owner = await generateKeyPair('Ed25519')
      const thief = await generateKeyPair('Ed25519')
      const dhtKey = dhtKeyFor('replay')
      const v1 = await signRecord({ privateKey: owner, dhtKey, seq: 1, expiresAt: Date.now() + HOUR, value: text('v1') })
      const v2 = await signRecord({ privateKey: owner, dhtKey, seq: 2, expiresAt: Date.now() + HOUR, value: text('v2') })
      assert.ok((await rawPut(net.nodes[0] as UmbraNode, dhtKey, v2)).accepted >= 3)
      assert.equal((await rawPut(net.nodes[0] as UmbraNode, dhtKey, v1)).accepted, 0)
      const stolen = await signRecord({ privateKey: thief, dhtKey, seq: 9, expiresAt: Date.now() + HOUR, value: text('mine now') })
      assert.equal((await rawPut(net.nodes[0] as UmbraNode, dhtKey, stolen)).accepted, 0)
      for (const node of net.nodes.slice(1)) assert.equal(new TextDecoder().decode((await node.dht.get('replay'))?.value), 'v2')
    })
  })

  it('rejects bad input to put with coded errors and keeps working', async () => {
    const a = net.nodes[0] as UmbraNode
    await assert.rejects(a.dht.put('big', new Uint8Array(MAX_VALUE_BYTES + 1)), { code: 'UMBRA_ERR_VALUE_TOO_LARGE' })
    await assert.rejects(a.dht.put('', text('x')), { code: 'UMBRA_ERR_INVALID_KEY_NAME' })
    await assert.rejects(a.dht.put('k'.repeat(257), text('x')), { code: 'UMBRA_ERR_INVALID_KEY_NAME' })
    await assert.rejects(a.dht.put('ttl', text('x'), { ttl: 49 * HOUR }), { code: 'UMBRA_ERR_INVALID_TTL' })
    await assert.rejects(a.dht.put('ttl', text('x'), { ttl: 0 }), { code: 'UMBRA_ERR_INVALID_TTL' })
    const ok = await a.dht.put('max-size', new Uint8Array(MAX_VALUE_BYTES).fill(1))
    assert.ok(ok.storedOn >= 1)
    assert.equal((await net.nodes[3]?.dht.get('max-size'))?.value.byteLength, MAX_VALUE_BYTES)
  })

  it('the owner re-publishes to a node that joined after the put', async () => {
    const { createNode } = await import('../../src/node/index.ts')
    const a = net.nodes[0] as UmbraNode
    await a.dht.put('republished', text('still here'))
    const late = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: net.bootstrap })
    await late.start()
    try {
      while (late.getPeers().length === 0) await new Promise((resolve) => setTimeout(resolve, 50))
      await new Promise((resolve) => setTimeout(resolve, 500)) // let the routing tables learn the new node
      assert.ok(await (a.dht as DhtServiceHandle).republish() >= 1)
      const got = await late.dht.get('republished')
      assert.equal(got?.source, 'local', 'the late node stores its own copy after the re-publish')
    } finally {
      await late.stop()
    }
  })
})
