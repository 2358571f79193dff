/**
 * The record-namespace module (src/dht/namespace.ts): one declaration gives
 * keys, signing, verification, validator and selector. A made-up
 * self-certifying namespace and a first-come one are declared here and
 * attacked the way a hostile peer would attack a storing node.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { defineNamespace } from '../../src/dht/namespace.ts'
import { decodeKey, encodeKey } from '../../src/identity/index.ts'

const HOUR = 3_600_000

const notes = defineNamespace<string>({
  name: 'umbra-test-note',
  maxRecordBytes: 1024,
  maxValueBytes: 256,
  parseSuffix: (suffix) => ({ owner: decodeKey(suffix) }),
  decodeValue: (value) => {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(value)
    if (text.length === 0) throw new Error('empty note')
    return text
  }
})

const claims = defineNamespace<Uint8Array>({
  name: 'umbra-test-claim',
  maxRecordBytes: 1024,
  maxValueBytes: 256,
  parseSuffix: (suffix) => {
    if (!/^[a-z]+$/.test(suffix)) throw new Error('labels are lowercase letters')
    return {}
  },
  decodeValue: (value) => value
})

const text = (s: string): Uint8Array => new TextEncoder().encode(s)

describe('record namespaces', () => {
  it('a self-certifying namespace takes records from the key its DHT key names only', async () => {
    const alice = await generateKeyPair('Ed25519')
    const mallory = await generateKeyPair('Ed25519')
    const dhtKey = notes.key(encodeKey(alice.publicKey.raw))
    assert.equal(new TextDecoder().decode(dhtKey), `/umbra-test-note/${encodeKey(alice.publicKey.raw)}`)
    const good = await notes.sign({ privateKey: alice, dhtKey, seq: 1, expiresAt: Date.now() + HOUR, value: text('hi') })
    const verified = await notes.verify(dhtKey, good)
    assert.equal(verified.decoded, 'hi')
    assert.equal(encodeKey(verified.publisher), encodeKey(alice.publicKey.raw))
    const forged = await notes.sign({ privateKey: mallory, dhtKey, seq: 9, expiresAt: Date.now() + HOUR, value: text('mine') })
    await assert.rejects(notes.verify(dhtKey, forged), { code: 'UMBRA_ERR_INVALID_RECORD', message: /not by the key its DHT key names/ })
    // The selector never prefers the forged copy, even with a higher seq.
    assert.equal(notes.selector(dhtKey, [forged, good]), 1)
  })

  it('refuses expired, oversized, badly valued, wrong-namespace and tampered records with UMBRA_ERR_INVALID_RECORD', async () => {
    const alice = await generateKeyPair('Ed25519')
    const dhtKey = notes.key(encodeKey(alice.publicKey.raw))
    const sign = async (value: Uint8Array, expiresAt = Date.now() + HOUR): Promise<Uint8Array> => await notes.sign({ privateKey: alice, dhtKey, seq: 1, expiresAt, value })
    await assert.rejects(notes.verify(dhtKey, await sign(text('x'), Date.now() - 1)), { code: 'UMBRA_ERR_INVALID_RECORD', message: /expired/ })
    await assert.rejects(notes.verify(dhtKey, await sign(text('x'), Date.now() + 49 * HOUR)), { code: 'UMBRA_ERR_INVALID_RECORD', message: /48 h/ })
    await assert.rejects(notes.verify(dhtKey, await sign(new Uint8Array(300))), { code: 'UMBRA_ERR_INVALID_RECORD', message: /exceeds 256/ })
    await assert.rejects(notes.verify(dhtKey, new Uint8Array(2000)), { code: 'UMBRA_ERR_INVALID_RECORD', message: /at most 1024/ })
    await assert.rejects(notes.verify(dhtKey, await sign(new Uint8Array(0))), { code: 'UMBRA_ERR_INVALID_RECORD', message: /empty note/ })
    const good = await sign(text('ok'))
    const other = claims.key('alice')
    await assert.rejects(notes.verify(other, good), { code: 'UMBRA_ERR_INVALID_RECORD', message: /not in the umbra-test-note namespace/ })
    const tampered = good.slice()
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 1
    await assert.rejects(notes.verify(dhtKey, tampered), { code: 'UMBRA_ERR_INVALID_RECORD' })
    assert.throws(() => notes.key('key_notakey'), { code: 'UMBRA_ERR_INVALID_RECORD' })
    assert.throws(() => claims.key('Alice'), { code: 'UMBRA_ERR_INVALID_RECORD', message: /lowercase/ })
  })

  it('a first-come namespace: the holder keeps its key; stale and conflicting copies are refused', async () => {
    const alice = await generateKeyPair('Ed25519')
    const bob = await generateKeyPair('Ed25519')
    const dhtKey = claims.key('shop')
    let held: Uint8Array | undefined
    const validate = claims.validator(async () => held)
    const v1 = await claims.sign({ privateKey: alice, dhtKey, seq: 1, expiresAt: Date.now() + HOUR, value: text('a1') })
    await validate(dhtKey, v1)
    held = v1
    const bobs = await claims.sign({ privateKey: bob, dhtKey, seq: 5, expiresAt: Date.now() + HOUR, value: text('b') })
    await assert.rejects(validate(dhtKey, bobs), { code: 'UMBRA_ERR_KEY_OWNED' })
    const v2 = await claims.sign({ privateKey: alice, dhtKey, seq: 2, expiresAt: Date.now() + HOUR, value: text('a2') })
    await validate(dhtKey, v2)
    held = v2
    await assert.rejects(validate(dhtKey, v1), { code: 'UMBRA_ERR_INVALID_RECORD', message: /Stale/ })
    const twin = await claims.sign({ privateKey: alice, dhtKey, seq: 2, expiresAt: Date.now() + HOUR, value: text('other') })
    await assert.rejects(validate(dhtKey, twin), { code: 'UMBRA_ERR_INVALID_RECORD', message: /Conflicting/ })
    // Once the held copy expired, anyone may take the key.
    held = await claims.sign({ privateKey: alice, dhtKey, seq: 3, expiresAt: Date.now() - 1, value: text('old') })
    await validate(dhtKey, bobs)
    assert.equal(claims.selector(dhtKey, [v1, v2, new Uint8Array([1, 2, 3])]), 1)
  })
})
