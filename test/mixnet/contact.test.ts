import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import fc from 'fast-check'
import { UmbraRecord } from '../../src/dht/pb/record.ts'
import { dhtKeyFor, signRecord } from '../../src/dht/record.ts'
import { encodeKey } from '../../src/identity/index.ts'
import { contactDhtKey, createContactValidator, pseudonymOfContactKey, selectContactRecord, signContactRecord, verifyContactRecord } from '../../src/mixnet/contact.ts'
import { ContactRecord } from '../../src/mixnet/pb/contact.ts'
import type { PrivateKey } from '@libp2p/interface'

const HOUR = 3_600_000
const NOW = 1_700_000_000_000
const INVALID_RECORD = 'UMBRA_ERR_INVALID_RECORD'

function expectCode (code: string): (err: unknown) => boolean {
  return (err) => (err as { code?: string }).code === code
}
function isCoded (err: unknown): boolean {
  return typeof (err as { code?: unknown }).code === 'string' && (err as { code: string }).code.startsWith('UMBRA_ERR_')
}

const pseudonym = await generateKeyPair('Ed25519')
const stranger = await generateKeyPair('Ed25519')
const gatewayKeys = await Promise.all([1, 2, 3].map(async () => await generateKeyPair('Ed25519')))
const gateways = gatewayKeys.map((k) => k.publicKey.raw)
const boxKey = new Uint8Array(32).fill(0xb0)
const mailbox = new Uint8Array(32).fill(0x3a)
const keyA = encodeKey(pseudonym.publicKey.raw)
const dhtKeyA = contactDhtKey(keyA)

async function sign (over: Partial<Parameters<typeof signContactRecord>[0]> = {}): Promise<Uint8Array> {
  return await signContactRecord({ pseudonymKey: pseudonym, boxKey, gateways: gateways.slice(0, 2), mailbox, seq: 1, expiresAt: NOW + 24 * HOUR, issuedAt: NOW, ...over })
}

/** Signs an arbitrary ContactRecord value with a valid envelope, to test the value checks behind the signature. */
async function signRaw (value: Partial<ContactRecord> | Uint8Array, key: PrivateKey = pseudonym, dhtKey = dhtKeyA): Promise<Uint8Array> {
  const bytes = value instanceof Uint8Array ? value : ContactRecord.encode(value)
  return await signRecord({ privateKey: key, dhtKey, seq: 1, expiresAt: NOW + HOUR, value: bytes })
}
const goodValue: Partial<ContactRecord> = { version: 1, boxKey: boxKey as Uint8Array<ArrayBuffer>, gateways: [gateways[0] as Uint8Array<ArrayBuffer>], mailbox: mailbox as Uint8Array<ArrayBuffer>, issuedAt: BigInt(NOW) }

describe('contact records', () => {
  it('names the DHT key /umbra-contact/<key_…>', () => {
    assert.equal(new TextDecoder().decode(dhtKeyA), `/umbra-contact/${keyA}`)
    assert.deepEqual(pseudonymOfContactKey(dhtKeyA), { key: keyA, publicKey: pseudonym.publicKey.raw })
    assert.throws(() => contactDhtKey('key_x'), expectCode('UMBRA_ERR_INVALID_KEY'))
    assert.throws(() => pseudonymOfContactKey(dhtKeyFor(keyA)), expectCode(INVALID_RECORD))
  })

  it('round-trips every field', async () => {
    const peerIds = gatewayKeys.map((k) => peerIdFromPrivateKey(k).toString())
    const bytes = await sign({ gateways: [gateways[0] as Uint8Array, peerIds[1] as string, gateways[2] as Uint8Array], seq: 7 })
    const c = await verifyContactRecord(dhtKeyA, bytes, NOW)
    assert.equal(c.key, keyA)
    assert.deepEqual(c.publicKey, pseudonym.publicKey.raw)
    assert.deepEqual(c.boxKey, boxKey)
    assert.deepEqual(c.gateways, gateways)
    assert.deepEqual(c.gatewayPeerIds, peerIds)
    assert.deepEqual(c.mailbox, mailbox)
    assert.equal(c.seq, 7)
    assert.equal(c.expiresAt, NOW + 24 * HOUR)
    assert.equal(c.issuedAt, NOW)
    assert.deepEqual(c.bytes, bytes)
    assert.ok(bytes.byteLength < 400, `${bytes.byteLength} bytes`)
  })

  it('refuses a forged signature and any flipped bit', async () => {
    const bytes = await sign()
    const rec = UmbraRecord.decode(bytes)
    const sig = new Uint8Array(rec.signature)
    sig[0] = (sig[0] ?? 0) ^ 1
    await assert.rejects(verifyContactRecord(dhtKeyA, UmbraRecord.encode({ ...rec, signature: sig }), NOW), expectCode(INVALID_RECORD))
    for (let bit = 0; bit < bytes.byteLength * 8; bit += 7) {
      const flipped = new Uint8Array(bytes)
      flipped[bit >> 3] = (flipped[bit >> 3] ?? 0) ^ (1 << (bit & 7))
      await assert.rejects(verifyContactRecord(dhtKeyA, flipped, NOW), expectCode(INVALID_RECORD), `bit ${bit}`)
    }
  })

  it('refuses a record for key A signed by B, and a record moved to another key', async () => {
    const byB = await signRaw(goodValue, stranger, dhtKeyA)
    await assert.rejects(verifyContactRecord(dhtKeyA, byB, NOW), (err: Error & { code?: string }) => err.code === INVALID_RECORD && /signed by/.test(err.message))
    const bsOwn = await signContactRecord({ pseudonymKey: stranger, boxKey, gateways: [gateways[0] as Uint8Array], mailbox, seq: 1, expiresAt: NOW + HOUR, issuedAt: NOW })
    await assert.rejects(verifyContactRecord(dhtKeyA, bsOwn, NOW), expectCode(INVALID_RECORD))
    assert.equal((await verifyContactRecord(contactDhtKey(encodeKey(stranger.publicKey.raw)), bsOwn, NOW)).key, encodeKey(stranger.publicKey.raw))
    const validate = createContactValidator()
    await assert.rejects(validate(dhtKeyA, byB), expectCode(INVALID_RECORD))
  })

  it('refuses expired records and records issued in the future', async () => {
    const bytes = await sign({ expiresAt: NOW + HOUR })
    await verifyContactRecord(dhtKeyA, bytes, NOW + HOUR - 1)
    await assert.rejects(verifyContactRecord(dhtKeyA, bytes, NOW + HOUR), expectCode(INVALID_RECORD))
    await assert.rejects(verifyContactRecord(dhtKeyA, await sign({ expiresAt: NOW + 49 * HOUR }), NOW), expectCode(INVALID_RECORD))
    const future = await sign({ issuedAt: NOW + 6 * 60_000 })
    await assert.rejects(verifyContactRecord(dhtKeyA, future, NOW), expectCode(INVALID_RECORD))
    await verifyContactRecord(dhtKeyA, future, NOW + 60_000)
  })

  it('refuses wrong lengths and counts behind a valid signature', async () => {
    const bad: Array<Partial<ContactRecord>> = [
      { ...goodValue, version: 2 },
      { ...goodValue, boxKey: new Uint8Array(31) },
      { ...goodValue, boxKey: new Uint8Array(33) },
      { ...goodValue, mailbox: new Uint8Array(16) },
      { ...goodValue, mailbox: new Uint8Array(0) },
      { ...goodValue, gateways: [] },
      { ...goodValue, gateways: [new Uint8Array(31)] },
      { ...goodValue, gateways: [gateways[0] as Uint8Array<ArrayBuffer>, gateways[0] as Uint8Array<ArrayBuffer>] },
      { ...goodValue, gateways: [...gateways, new Uint8Array(32).fill(9)] as Array<Uint8Array<ArrayBuffer>> },
      { ...goodValue, issuedAt: 0n },
      { ...goodValue, issuedAt: BigInt(NOW + 2 * HOUR) } // after the expiry
    ]
    for (const value of bad) {
      await assert.rejects(verifyContactRecord(dhtKeyA, await signRaw(value), NOW), expectCode(INVALID_RECORD), JSON.stringify(Object.keys(value)))
    }
    const nonCanonical = new Uint8Array([...ContactRecord.encode(goodValue), 0x30, 0x01]) // an unknown field 6
    await assert.rejects(verifyContactRecord(dhtKeyA, await signRaw(nonCanonical), NOW), expectCode(INVALID_RECORD))
    await assert.rejects(verifyContactRecord(dhtKeyA, new Uint8Array(1025), NOW), expectCode(INVALID_RECORD))
    await verifyContactRecord(dhtKeyA, await signRaw(goodValue), NOW)
  })

  it('signContactRecord refuses bad fields with UMBRA_ERR_INVALID_OPTION', async () => {
    const bad: Array<Partial<Parameters<typeof signContactRecord>[0]>> = [
      { boxKey: new Uint8Array(31) },
      { mailbox: new Uint8Array(33) },
      { gateways: [] },
      { gateways: [...gateways, new Uint8Array(32)] },
      { gateways: [new Uint8Array(31)] },
      { gateways: ['not-a-peer'] },
      { gateways: [gateways[0] as Uint8Array, gateways[0] as Uint8Array] },
      { seq: 0 },
      { seq: 1.5 },
      { expiresAt: NOW },
      { pseudonymKey: await generateKeyPair('secp256k1') }
    ]
    for (const over of bad) await assert.rejects(sign(over), expectCode('UMBRA_ERR_INVALID_OPTION'), Object.keys(over).join())
  })

  it('validator refuses stale and conflicting records against the held copy; selector picks the highest seq', async () => {
    const expiresAt = Date.now() + HOUR
    const issuedAt = Date.now()
    const s1 = await sign({ seq: 1, expiresAt, issuedAt })
    const s2 = await sign({ seq: 2, expiresAt, issuedAt })
    const s2b = await sign({ seq: 2, expiresAt, issuedAt, mailbox: new Uint8Array(32) })
    const s3 = await sign({ seq: 3, expiresAt: expiresAt - 1000, issuedAt })
    let held: Uint8Array | undefined = undefined
    const validate = createContactValidator(async () => held)
    await validate(dhtKeyA, s1)
    held = s2
    await assert.rejects(validate(dhtKeyA, s1), expectCode(INVALID_RECORD))
    await assert.rejects(validate(dhtKeyA, s2b), expectCode(INVALID_RECORD))
    await validate(dhtKeyA, s2)
    await validate(dhtKeyA, s3)
    assert.equal(selectContactRecord(dhtKeyA, [s1, s3, s2]), 1)
    assert.equal(selectContactRecord(dhtKeyA, [new Uint8Array([1, 2, 3]), s1]), 1)
    const byB = await signRecord({ privateKey: stranger, dhtKey: dhtKeyA, seq: 99, expiresAt, value: ContactRecord.encode(goodValue) })
    assert.equal(selectContactRecord(dhtKeyA, [s2, byB]), 0, 'a record by another publisher never wins')
  })

  it('fuzz: the decoder only ever throws coded errors', { timeout: 30_000 }, async () => {
    const valid = await sign({ expiresAt: NOW + HOUR })
    const deadline = Date.now() + 3000
    const arb = fc.oneof(
      fc.uint8Array({ maxLength: 1100 }),
      // mutations of a valid record: overwrite, truncate, extend
      fc.tuple(fc.nat({ max: valid.byteLength - 1 }), fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([at, b]) => {
        const out = new Uint8Array(valid)
        out.set(b.subarray(0, out.byteLength - at), at)
        return out
      }),
      fc.nat({ max: valid.byteLength }).map((n) => valid.subarray(0, n)),
      fc.uint8Array({ maxLength: 64 }).map((b) => new Uint8Array([...valid, ...b]))
    )
    // values behind a valid signature, so the ContactRecord decoder itself is reached
    const field = (max: number): fc.Arbitrary<Uint8Array<ArrayBuffer>> => fc.oneof(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: max })) as fc.Arbitrary<Uint8Array<ArrayBuffer>>
    const signedValue = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.record({
        version: fc.oneof(fc.constant(1), fc.nat({ max: 3 })),
        boxKey: field(40),
        gateways: fc.array(field(40), { maxLength: 5 }),
        mailbox: field(40),
        issuedAt: fc.oneof(fc.constant(BigInt(NOW)), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }))
      }).map((v) => ContactRecord.encode(v))
    )
    const check = async (bytes: Uint8Array): Promise<void> => {
      try {
        await verifyContactRecord(dhtKeyA, bytes, NOW)
      } catch (err) {
        assert.ok(isCoded(err), `uncoded error: ${String(err)}`)
      }
    }
    await fc.assert(fc.asyncProperty(arb, async (bytes) => {
      if (Date.now() > deadline) return
      await check(bytes)
    }), { numRuns: 2000 })
    const deadline2 = Date.now() + 3000
    await fc.assert(fc.asyncProperty(signedValue, async (value) => {
      if (Date.now() > deadline2) return
      await check(await signRaw(value))
    }), { numRuns: 1000 })
  })
})
