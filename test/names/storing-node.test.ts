/**
 * Names (issue 9 item 3) attacked the way a hostile peer attacks a storing
 * node: records sent straight over kad-dht's PUT_VALUE to 5 loopback nodes,
 * bypassing the sender's Umbra layer. For both namespaces (`umbra-name`
 * global names, `umbra-zone` zone names): forged, replayed (lower seq),
 * expired, oversized, wrong-namespace and hijacking records are refused; for
 * global names, insufficient work too; for zone names, a record that is not
 * the zone key's is refused by the resolver (storing nodes cannot tell).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createTestnet, type Testnet } from '../../src/testnet/index.ts'
import {
  checkPow, globalNameKey, globalNameNamespace, MAX_NAME_RECORD_BYTES, mintPow, openZoneName, powBits, signGlobalName, signZoneName,
  zoneNameKey, zoneNameNamespace, type NameRecord
} from '../../src/names/index.ts'
import { dhtKeyFor } from '../../src/dht/record.ts'
import type { UmbraNode } from '../../src/node/index.ts'
import type { KadDHT } from '@libp2p/kad-dht'
import type { PrivateKey } from '@libp2p/interface'

const HOUR = 3_600_000
const MIXNET = { preset: 'none' as const, threads: 1 }
const RECORDS: NameRecord[] = [{ type: 'text', value: 'hello' }]

/** kad-dht PUT_VALUE straight to the closest nodes; how many accepted and refused. */
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

async function signGlobal (key: PrivateKey, label: string, init: { seq?: number, expiresAt?: number, records?: NameRecord[], powNonce?: Uint8Array } = {}): Promise<Uint8Array> {
  return await signGlobalName({
    privateKey: key,
    label,
    powNonce: init.powNonce ?? await mintPow(label, key.publicKey.raw),
    records: init.records ?? RECORDS,
    seq: init.seq ?? 1,
    expiresAt: init.expiresAt ?? Date.now() + HOUR,
    cacheTtl: 60_000
  })
}

describe('name records on hostile storing nodes', { timeout: 90_000 }, () => {
  let net: Testnet
  let sender: UmbraNode
  before(async () => {
    net = await createTestnet(5, { mixnet: MIXNET })
    sender = net.nodes[0] as UmbraNode
  })
  after(async () => { await net?.stop() })

  /** The seqs of the valid copies the network returns for a key (every node's answer, the sender's own store included). */
  async function heldBy (dhtKey: Uint8Array, ns: typeof globalNameNamespace | typeof zoneNameNamespace): Promise<number[]> {
    const kad = (net.nodes[4]?.libp2p.services as { dht: KadDHT }).dht
    const seqs: number[] = []
    const consider = async (bytes: Uint8Array): Promise<void> => {
      seqs.push(await ns.verify(dhtKey, bytes).then((r) => r.seq, () => -1))
    }
    try {
      for await (const e of kad.get(dhtKey, { signal: AbortSignal.timeout(5000) })) {
        if (e.name === 'PEER_RESPONSE' && e.record != null) await consider(e.record.value)
      }
    } catch (err) {
      if ((err as Error).name !== 'NotFoundError') throw err
    }
    return seqs
  }

  describe('global names (/umbra-name/<label>)', () => {
    it('a valid claim is stored (control); the owner\'s renewal with a higher seq replaces it', async () => {
      const owner = await generateKeyPair('Ed25519')
      const label = 'control-claim-name'
      const nonce = await mintPow(label, owner.publicKey.raw)
      const res = await rawPut(sender, globalNameKey(label), await signGlobal(owner, label, { powNonce: nonce }))
      t(res.accepted >= 3, `accepted by ${res.accepted}`)
      assert.equal(res.refused, 0)
      // The proof of work is reusable for the same label and key.
      const renewed = await rawPut(sender, globalNameKey(label), await signGlobal(owner, label, { powNonce: nonce, seq: 2 }))
      t(renewed.accepted >= 3, `renewal accepted by ${renewed.accepted}`)
    })

    it('refuses a claim with insufficient work, and work minted for another key or label', async (tc) => {
      const owner = await generateKeyPair('Ed25519')
      const other = await generateKeyPair('Ed25519')
      const label = 'lazy-claim-name'
      const lazy = new Uint8Array(8)
      while (checkPow(label, owner.publicKey.raw, lazy)) lazy[0] = (lazy[0] ?? 0) + 1
      const weak = await mintPow(label, owner.publicKey.raw, { bits: powBits(label.length) - 6 })
      const forOther = await mintPow(label, other.publicKey.raw)
      const forLabel = await mintPow('another-label-x', owner.publicKey.raw)
      for (const [what, nonce] of [['no work', lazy], ['6 bits short', weak], ['work of another key', forOther], ['work for another label', forLabel]] as const) {
        if (checkPow(label, owner.publicKey.raw, nonce)) continue // a weak mint may be lucky
        const res = await rawPut(sender, globalNameKey(label), await signGlobal(owner, label, { powNonce: nonce }))
        tc.diagnostic(`${what}: accepted ${res.accepted}, refused ${res.refused}`)
        assert.equal(res.accepted, 0, what)
        t(res.refused >= 3, `${what}: refused by ${res.refused}`)
      }
      assert.deepEqual(await heldBy(globalNameKey(label), globalNameNamespace), [])
      await assert.rejects(globalNameNamespace.verify(globalNameKey(label), await signGlobal(owner, label, { powNonce: lazy })), { code: 'UMBRA_ERR_INVALID_RECORD', message: /insufficient proof of work/ })
    })

    it('refuses forged, expired, oversized and wrong-namespace records', async () => {
      const owner = await generateKeyPair('Ed25519')
      const label = 'attacked-name-one'
      const good = await signGlobal(owner, label, { records: [{ type: 'text', value: 'honest' }] })
      const forged = good.slice()
      forged.set(new TextEncoder().encode('forged'), Buffer.from(forged).indexOf(Buffer.from('honest')))
      const expired = await signGlobal(owner, label, { expiresAt: Date.now() - 1000 })
      const tooMany = await signGlobal(owner, label, { records: Array.from({ length: 8 }, () => ({ type: 'text' as const, value: 'x'.repeat(256) })) })
      const oversized = await globalNameNamespace.sign({ privateKey: owner, dhtKey: globalNameKey(label), seq: 1, expiresAt: Date.now() + HOUR, value: new Uint8Array(MAX_NAME_RECORD_BYTES) })
      const otherLabel = await signGlobal(owner, 'attacked-name-two')
      const dataRecord = await signGlobal(owner, label)
      for (const [what, key, rec] of [
        ['forged', globalNameKey(label), forged],
        ['expired', globalNameKey(label), expired],
        ['oversized', globalNameKey(label), oversized],
        ['signed for another label', globalNameKey(label), otherLabel],
        ['a name record under /umbra-data/', dhtKeyFor(label), dataRecord]
      ] as const) {
        const res = await rawPut(sender, key, rec)
        assert.equal(res.accepted, 0, what)
        t(res.refused >= 3, `${what}: refused by ${res.refused}`)
      }
      // 8 records of 256 bytes fit in 4 KiB: the limit is on bytes, checked before decoding.
      assert.ok(tooMany.byteLength < MAX_NAME_RECORD_BYTES)
      assert.deepEqual(await heldBy(globalNameKey(label), globalNameNamespace), [])
    })

    it('refuses a replayed older record and another key\'s claim while the name is held (first-come)', async () => {
      const owner = await generateKeyPair('Ed25519')
      const thief = await generateKeyPair('Ed25519')
      const label = 'held-name-claim'
      const v1 = await signGlobal(owner, label, { seq: 1 })
      const v2 = await signGlobal(owner, label, { seq: 2 })
      t((await rawPut(sender, globalNameKey(label), v2)).accepted >= 3, 'v2 stored')
      assert.equal((await rawPut(sender, globalNameKey(label), v1)).accepted, 0, 'replayed seq 1')
      const stolen = await signGlobal(thief, label, { seq: 99, records: [{ type: 'text', value: 'mine now' }] })
      const res = await rawPut(sender, globalNameKey(label), stolen)
      assert.equal(res.accepted, 0, 'hijack')
      const seqs = await heldBy(globalNameKey(label), globalNameNamespace)
      assert.ok(seqs.length >= 3 && seqs.every((s) => s === 2), `copies held: seq ${seqs.join(', ')}`)
      // The storing node's own validator says why: the key is owned.
      await assert.rejects(globalNameNamespace.validator(async () => v2)(globalNameKey(label), stolen), { code: 'UMBRA_ERR_KEY_OWNED' })
    })
  })

  describe('zone names (/umbra-zone/<hash>)', () => {
    async function signZone (zone: PrivateKey, label: string, init: { seq?: number, expiresAt?: number } = {}): Promise<Uint8Array> {
      return await signZoneName({ zonePrivateKey: zone, label, records: RECORDS, seq: init.seq ?? 1, expiresAt: init.expiresAt ?? Date.now() + HOUR, cacheTtl: 60_000 })
    }

    it('a valid zone record is stored (control); the storing node sees neither zone nor label', async () => {
      const zone = await generateKeyPair('Ed25519')
      const label = 'www'
      const dhtKey = zoneNameKey(zone.publicKey.raw, label)
      const rec = await signZone(zone, label)
      const res = await rawPut(sender, dhtKey, rec)
      t(res.accepted >= 3, `accepted by ${res.accepted}`)
      const seen = await zoneNameNamespace.verify(dhtKey, rec)
      // What a storing node has: the DHT key, a storage key, a seq, an expiry, a nonce and ciphertext.
      const everything = Buffer.concat([Buffer.from(dhtKey), Buffer.from(rec)])
      assert.equal(everything.indexOf(Buffer.from(zone.publicKey.raw)), -1, 'zone key absent')
      assert.equal(everything.indexOf(Buffer.from('hello')), -1, 'record value absent')
      assert.equal(Buffer.from(seen.publisher).equals(Buffer.from(zone.publicKey.raw)), false, 'the envelope is signed by a per-label key')
      // The resolver, knowing zone and label, opens it.
      assert.deepEqual((await openZoneName(zone.publicKey.raw, label, seen)).records, RECORDS)
    })

    it('refuses forged, expired, oversized and wrong-namespace records', async () => {
      const zone = await generateKeyPair('Ed25519')
      const label = 'mail'
      const dhtKey = zoneNameKey(zone.publicKey.raw, label)
      const good = await signZone(zone, label)
      const forged = good.slice()
      forged[forged.length - 70] = (forged[forged.length - 70] ?? 0) ^ 1 // inside the sealed value: the envelope signature breaks
      const expired = await signZone(zone, label, { expiresAt: Date.now() - 1000 })
      const oversized = await zoneNameNamespace.sign({ privateKey: zone, dhtKey, seq: 1, expiresAt: Date.now() + HOUR, value: new Uint8Array(MAX_NAME_RECORD_BYTES) })
      const otherLabel = await signZone(zone, 'ftp')
      const globalRec = await signGlobal(zone, 'zone-as-global-name')
      for (const [what, key, rec] of [
        ['forged', dhtKey, forged],
        ['expired', dhtKey, expired],
        ['oversized', dhtKey, oversized],
        ['signed for another label', dhtKey, otherLabel],
        ['a global name record under /umbra-zone/', dhtKey, globalRec],
        ['a zone record under /umbra-name/', globalNameKey('zone-as-global-name'), good]
      ] as const) {
        const res = await rawPut(sender, key, rec)
        assert.equal(res.accepted, 0, what)
        t(res.refused >= 3, `${what}: refused by ${res.refused}`)
      }
      assert.deepEqual(await heldBy(dhtKey, zoneNameNamespace), [])
    })

    it('refuses a replayed older record and another key\'s record for a held zone name; the resolver refuses records not signed by the zone', async () => {
      const zone = await generateKeyPair('Ed25519')
      const thief = await generateKeyPair('Ed25519')
      const label = 'shop'
      const dhtKey = zoneNameKey(zone.publicKey.raw, label)
      const v1 = await signZone(zone, label, { seq: 1 })
      const v2 = await signZone(zone, label, { seq: 2 })
      t((await rawPut(sender, dhtKey, v2)).accepted >= 3, 'v2 stored')
      assert.equal((await rawPut(sender, dhtKey, v1)).accepted, 0, 'replayed seq 1')
      // The thief knows the name, hence the DHT key and the seal key, but not the zone's private key.
      const held = await zoneNameNamespace.verify(dhtKey, v2)
      const rewrapped = await zoneNameNamespace.sign({ privateKey: thief, dhtKey, seq: 99, expiresAt: held.expiresAt, value: held.value })
      assert.equal((await rawPut(sender, dhtKey, rewrapped)).accepted, 0, 'hijack refused while held')
      const seqs = await heldBy(dhtKey, zoneNameNamespace)
      assert.ok(seqs.length >= 3 && seqs.every((s) => s === 2), `copies held: seq ${seqs.join(', ')}`)
      // Had the thief stored first, resolvers would still refuse it: the zone's body says seq 2, not 99 ...
      await assert.rejects(openZoneName(zone.publicKey.raw, label, await zoneNameNamespace.verify(dhtKey, rewrapped)), { code: 'UMBRA_ERR_INVALID_RECORD', message: /differs/ })
      // ... and a body the thief signs itself does not open under the zone's name.
      const own = await signZone(thief, label)
      const ownDhtKey = zoneNameKey(thief.publicKey.raw, label)
      const moved = await zoneNameNamespace.sign({ privateKey: thief, dhtKey, seq: 100, expiresAt: Date.now() + HOUR, value: (await zoneNameNamespace.verify(ownDhtKey, own)).value })
      await assert.rejects(openZoneName(zone.publicKey.raw, label, await zoneNameNamespace.verify(dhtKey, moved)), { code: 'UMBRA_ERR_INVALID_RECORD', message: /does not open/ })
    })
  })
})

function t (ok: boolean, message: string): void {
  assert.ok(ok, message)
}
