/**
 * Name records without a network (src/names/name-record.ts): names parse or
 * are refused with a code, typed records are normalised, global and zone
 * records round-trip through sign and verify, the proof of work binds label
 * and key and grows as the label shortens, and the decoders of both
 * namespaces refuse arbitrary bytes with UMBRA_ERR_INVALID_RECORD (fuzzed).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import fc from 'fast-check'
import { UmbraRecord } from '../../src/dht/pb/record.ts'
import {
  checkPow, formatName, globalNameKey, globalNameNamespace, looksLikeName, mintPow, normaliseRecords, openZoneName, parseName, powBits,
  signGlobalName, signZoneName, zoneNameKey, zoneNameNamespace
} from '../../src/names/index.ts'

const HOUR = 3_600_000

describe('name records', () => {
  it('parses global and zone names and refuses bad ones with UMBRA_ERR_INVALID_NAME', async () => {
    const zone = await generateKeyPair('Ed25519')
    const { encodeKey } = await import('../../src/identity/index.ts')
    const key = encodeKey(zone.publicKey.raw)
    assert.deepEqual(parseName('alice'), { kind: 'global', label: 'alice' })
    const z = parseName(`www.${key}`)
    assert.equal(z.kind, 'zone')
    assert.equal(formatName(z), `www.${key}`)
    for (const bad of ['', 'Alice', '-alice', 'al_ice', 'a'.repeat(64), 'www.key_nope', `www.${key}x`, 'é']) {
      assert.throws(() => parseName(bad), { code: 'UMBRA_ERR_INVALID_NAME' }, bad)
    }
    assert.equal(looksLikeName('alice'), true)
    assert.equal(looksLikeName(`www.${key}`), true)
    assert.equal(looksLikeName(key), false)
    assert.equal(looksLikeName('12D3KooWJSjeZWLqo7EwiUyoiMzWqE4knoQfsHZn4ZJyFeV5jgYg'), false)
  })

  it('normalises typed records (a key_ peer becomes its PeerId) and refuses bad ones', async () => {
    const k = await generateKeyPair('Ed25519')
    const { encodeKey } = await import('../../src/identity/index.ts')
    const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
    const out = normaliseRecords([{ type: 'peer', value: encodeKey(k.publicKey.raw) }, { type: 'multiaddr', value: '/ip4/127.0.0.1/tcp/1' }])
    assert.equal(out[0]?.value, peerIdFromPrivateKey(k).toString())
    for (const bad of [[], [{ type: 'peer', value: 'x' }], [{ type: 'pseudonym', value: '12D3KooWJSjeZWLqo7EwiUyoiMzWqE4knoQfsHZn4ZJyFeV5jgYg' }], [{ type: 'text', value: 'x'.repeat(257) }], [{ type: 'mail', value: 'x' }], Array.from({ length: 9 }, () => ({ type: 'text', value: 'x' }))]) {
      assert.throws(() => normaliseRecords(bad as never), { code: 'UMBRA_ERR_INVALID_NAME_RECORD' }, JSON.stringify(bad).slice(0, 80))
    }
  })

  it('the proof of work binds label and key, and grows as the label gets shorter', async () => {
    const a = await generateKeyPair('Ed25519')
    const b = await generateKeyPair('Ed25519')
    const nonce = await mintPow('bound-label-x', a.publicKey.raw)
    assert.equal(checkPow('bound-label-x', a.publicKey.raw, nonce), true)
    assert.equal(checkPow('bound-label-x', b.publicKey.raw, nonce), false, 'another key')
    assert.equal(checkPow('bound-label-y', a.publicKey.raw, nonce), false, 'another label')
    const bits = Array.from({ length: 63 }, (_, i) => powBits(i + 1))
    for (let i = 1; i < bits.length; i++) assert.ok((bits[i] as number) <= (bits[i - 1] as number))
    assert.equal(powBits(8), 22)
    assert.equal(powBits(1), 43)
    assert.equal(powBits(63), 12)
  })

  it('global and zone records round-trip through sign and verify', async () => {
    const k = await generateKeyPair('Ed25519')
    const records = normaliseRecords([{ type: 'text', value: 'hi' }, { type: 'pseudonym', value: (await import('../../src/identity/index.ts')).encodeKey(k.publicKey.raw) }])
    const g = await signGlobalName({ privateKey: k, label: 'round-trip-name', powNonce: await mintPow('round-trip-name', k.publicKey.raw), records, seq: 7, expiresAt: Date.now() + HOUR, cacheTtl: 120_000 })
    const gv = await globalNameNamespace.verify(globalNameKey('round-trip-name'), g)
    assert.deepEqual(gv.decoded.records, records)
    assert.equal(gv.decoded.cacheTtl, 120_000)
    assert.equal(gv.seq, 7)
    const z = await signZoneName({ zonePrivateKey: k, label: 'www', records, seq: 3, expiresAt: Date.now() + HOUR, cacheTtl: 0 })
    const zv = await zoneNameNamespace.verify(zoneNameKey(k.publicKey.raw, 'www'), z)
    assert.deepEqual((await openZoneName(k.publicKey.raw, 'www', zv)).records, records)
    // Another label of the same zone cannot open it.
    await assert.rejects(openZoneName(k.publicKey.raw, 'ftp', zv), { code: 'UMBRA_ERR_INVALID_RECORD' })
  })

  it('decoders refuse arbitrary values and envelopes with UMBRA_ERR_INVALID_RECORD (fuzz)', async () => {
    const k = await generateKeyPair('Ed25519')
    const gKey = globalNameKey('fuzzed-name-x')
    const zKey = zoneNameKey(k.publicKey.raw, 'fuzz')
    const codes = new Set<string>()
    // Random bytes as whole records.
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 5000 }), async (bytes) => {
      for (const [ns, key] of [[globalNameNamespace, gKey], [zoneNameNamespace, zKey]] as const) {
        await (ns.verify(key, bytes) as Promise<unknown>).then(() => assert.fail('accepted random bytes'), (err: { code?: string }) => { codes.add(String(err.code)) })
      }
    }), { numRuns: 300, interruptAfterTimeLimit: 3000 })
    // Random values inside a correctly signed envelope: what a hostile publisher controls.
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 600 }), async (value) => {
      for (const [ns, key] of [[globalNameNamespace, gKey], [zoneNameNamespace, zKey]] as const) {
        const rec = await ns.sign({ privateKey: k, dhtKey: key, seq: 1, expiresAt: Date.now() + HOUR, value })
        assert.ok(UmbraRecord.decode(rec).value.byteLength === value.byteLength)
        await (ns.verify(key, rec) as Promise<unknown>).then(() => assert.fail('accepted a random value'), (err: { code?: string }) => { codes.add(String(err.code)) })
      }
    }), { numRuns: 200, interruptAfterTimeLimit: 4000 })
    assert.deepEqual([...codes], ['UMBRA_ERR_INVALID_RECORD'])
  })
})
