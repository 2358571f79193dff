/**
 * Linkable ring signatures (issue 14, item 2, "Must show"): a ring of 8
 * `key_` ids, member 3 signs, anyone verifies; a changed message, ring or
 * signature fails; key images link the same member within a scope only;
 * fuzzed inputs give coded errors; committed vectors reproduce byte for byte.
 */
import { describe, it, before } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes, randomInt } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { ed25519, ED25519_TORSION_SUBGROUP, ristretto255, ristretto255_hasher } from '@noble/curves/ed25519.js'
import * as umbra from '../../src/index.ts'
import { encodeKey } from '../../src/identity/keys.ts'
import { ringSign, ringVerify, ringSignatureBytes } from '../../src/proofs/index.ts'
import { computeVectors, fixedRandom, fixedRing, type RingVector } from './fixtures.ts'
import type { PrivateKey } from '@libp2p/interface'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

/** Runs `fn`; passes when it returns normally or throws an error with a UMBRA_ERR_ code; fails on any other throw. */
function codedOrValue<T> (fn: () => T): { value?: T, code?: string } {
  try {
    return { value: fn() }
  } catch (err) {
    const code = (err as { code?: unknown }).code
    assert.ok(typeof code === 'string' && code.startsWith('UMBRA_ERR_'), `uncoded error: ${String(err)}`)
    return { code }
  }
}

/** `true` when the signature is accepted; a coded error counts as not accepted. */
function accepted (message: string | Uint8Array, ring: string[], signature: Uint8Array, scope?: string): boolean {
  return codedOrValue(() => ringVerify(message, ring, signature, { scope })).value?.valid === true
}

describe('ring signatures (bLSAG over ristretto255)', () => {
  let keys: PrivateKey[]
  let ring: string[]
  before(async () => { ({ keys, ring } = await fixedRing(8)) })
  const signer = (): PrivateKey => keys[3] as PrivateKey

  it('a ring of 8 key_ ids: member 3 signs, anyone verifies, and the signature does not name member 3', (t) => {
    const started = performance.now()
    const { signature, keyImage } = ringSign('vote: yes', ring, signer(), { scope: 'poll/1' })
    const signMs = performance.now() - started
    const verifyStarted = performance.now()
    const result = ringVerify('vote: yes', ring, signature, { scope: 'poll/1' })
    const verifyMs = performance.now() - verifyStarted
    assert.equal(result.valid, true)
    assert.equal(hex(result.keyImage), hex(keyImage))
    assert.equal(signature.byteLength, ringSignatureBytes(8))
    assert.equal(signature.byteLength, 321)
    // The verifier's inputs are only public: the ring and the signature. No member's public key appears in the signature.
    for (const member of ring) assert.ok(!hex(signature).includes(hex(umbra.identity.decodeKey(member))))
    t.diagnostic(`ring of 8: signature ${signature.byteLength} bytes, sign ${signMs.toFixed(1)} ms, verify ${verifyMs.toFixed(1)} ms`)
  })

  it('every member can sign for the ring, and a libp2p key generated fresh works too', async () => {
    for (const [i, key] of keys.entries()) {
      const { signature } = ringSign(`m${i}`, ring, key)
      assert.equal(ringVerify(`m${i}`, ring, signature).valid, true, `member ${i}`)
    }
    const fresh = await generateKeyPair('Ed25519')
    const ring2 = [ring[0] as string, encodeKey(fresh.publicKey.raw)]
    const raw32 = fresh.raw.subarray(0, 32)
    for (const k of [fresh, fresh.raw, raw32]) assert.equal(ringVerify('x', ring2, ringSign('x', ring2, k).signature).valid, true)
  })

  it('a changed message, scope, ring (order, member) or signature does not verify', () => {
    const { signature } = ringSign('vote: yes', ring, signer(), { scope: 'poll/1' })
    assert.equal(accepted('vote: yes', ring, signature, 'poll/1'), true)
    assert.equal(accepted('vote: no', ring, signature, 'poll/1'), false, 'message')
    assert.equal(accepted('vote: yes', ring, signature, 'poll/2'), false, 'scope')
    assert.equal(accepted('vote: yes', ring, signature), false, 'no scope')
    const swapped = [...ring]
    ;[swapped[0], swapped[1]] = [swapped[1] as string, swapped[0] as string]
    assert.equal(accepted('vote: yes', swapped, signature, 'poll/1'), false, 'order')
    const other = encodeKey(ed25519.getPublicKey(ed25519.utils.randomSecretKey()))
    const replaced = ring.map((m, i) => i === 6 ? other : m)
    assert.equal(accepted('vote: yes', replaced, signature, 'poll/1'), false, 'member replaced')
    const replacedSigner = ring.map((m, i) => i === 3 ? other : m)
    assert.equal(accepted('vote: yes', replacedSigner, signature, 'poll/1'), false, 'signer replaced')
    // a bit flipped anywhere (every 19th bit: version, key image, c_0 and each r_i are all hit)
    let rejected = 0
    for (let bit = 0; bit < signature.byteLength * 8; bit += 19) {
      const changed = signature.slice()
      changed[bit >> 3] = (changed[bit >> 3] as number) ^ (1 << (bit & 7))
      assert.equal(accepted('vote: yes', ring, changed, 'poll/1'), false, `bit ${bit}`)
      rejected++
    }
    assert.ok(rejected > 130)
  })

  it('key images: the same member in one scope links, in another scope not, different members not', (t) => {
    const a1 = ringSign('first', ring, signer(), { scope: 'poll/1' })
    const a2 = ringSign('second', ring, signer(), { scope: 'poll/1' })
    const a3 = ringSign('third', ring, signer(), { scope: 'poll/2' })
    const b1 = ringSign('first', ring, keys[5] as PrivateKey, { scope: 'poll/1' })
    assert.notEqual(hex(a1.signature), hex(a2.signature), 'fresh randomness per signature')
    assert.equal(hex(a1.keyImage), hex(a2.keyImage), 'same member, same scope')
    assert.notEqual(hex(a1.keyImage), hex(a3.keyImage), 'same member, other scope')
    assert.notEqual(hex(a1.keyImage), hex(b1.keyImage), 'other member, same scope')
    // the key image does not depend on the ring: the same member in another ring, same scope, still links
    const otherRing = [ring[3] as string, ring[0] as string, ring[7] as string]
    const a4 = ringSign('fourth', otherRing, signer(), { scope: 'poll/1' })
    assert.equal(hex(a4.keyImage), hex(a1.keyImage), 'same member, same scope, other ring')
    assert.equal(hex(ringVerify('second', ring, a2.signature, { scope: 'poll/1' }).keyImage), hex(a1.keyImage))
    t.diagnostic(`key image of member 3 in poll/1: ${hex(a1.keyImage).slice(0, 16)}…`)
  })

  it('bad rings, signers and options give coded errors', () => {
    const code = (fn: () => unknown): string | undefined => codedOrValue(fn).code
    const s = signer()
    assert.equal(code(() => ringSign('m', [ring[3] as string], s)), 'UMBRA_ERR_RING_INVALID', 'ring of 1')
    const big = Array.from({ length: 257 }, () => encodeKey(ed25519.getPublicKey(ed25519.utils.randomSecretKey())))
    assert.equal(code(() => ringSign('m', big, s)), 'UMBRA_ERR_RING_INVALID', 'ring of 257')
    assert.equal(code(() => ringSign('m', [...ring, ring[3] as string], s)), 'UMBRA_ERR_RING_INVALID', 'duplicate')
    assert.equal(code(() => ringSign('m', [...ring, 'key_nope'], s)), 'UMBRA_ERR_RING_INVALID', 'bad id')
    assert.equal(code(() => ringSign('m', 'key_x' as unknown as string[], s)), 'UMBRA_ERR_RING_INVALID', 'not a list')
    // an Ed25519 point with a torsion component is refused: its ristretto reading would be ambiguous
    const torsioned = ed25519.Point.fromBytes(umbra.identity.decodeKey(ring[0] as string)).add(ed25519.Point.fromHex(ED25519_TORSION_SUBGROUP[1] as string))
    assert.equal(code(() => ringSign('m', [...ring, encodeKey(torsioned.toBytes())], s)), 'UMBRA_ERR_RING_INVALID', 'torsion')
    assert.equal(code(() => ringSign('m', ring.filter((_, i) => i !== 3), s)), 'UMBRA_ERR_NOT_RING_MEMBER', 'signer not in ring')
    assert.equal(code(() => ringSign('m', ring, new Uint8Array(31))), 'UMBRA_ERR_INVALID_KEY', 'short key')
    assert.equal(code(() => ringSign('m', ring, s, { scope: 'x'.repeat(257) })), 'UMBRA_ERR_INVALID_OPTION', 'long scope')
    assert.equal(code(() => ringSign(42 as unknown as string, ring, s)), 'UMBRA_ERR_INVALID_OPTION', 'message type')
    assert.equal(code(() => ringVerify('m', ring, 'sig' as unknown as Uint8Array)), 'UMBRA_ERR_RING_SIGNATURE_MALFORMED')
  })

  it('fuzzed signatures (random bytes, truncations, extensions, bad scalars) give coded errors or invalid, never a crash', (t) => {
    const small = ring.slice(0, 3)
    const { signature } = ringSign('m', small, keys[1] as PrivateKey)
    const codes = new Map<string, number>()
    let invalid = 0
    const tally = (sig: Uint8Array, r = small): void => {
      const out = codedOrValue(() => ringVerify('m', r, sig))
      if (out.code !== undefined) codes.set(out.code, (codes.get(out.code) ?? 0) + 1)
      else { assert.equal(out.value?.valid, false); invalid++ }
    }
    for (let len = 0; len < signature.byteLength + 40; len += 3) {
      if (len !== signature.byteLength) tally(Buffer.concat([signature, randomBytes(40)]).subarray(0, len))
    }
    for (let i = 0; i < 100; i++) tally(randomBytes(randomInt(0, 400)))
    for (let i = 0; i < 60; i++) {
      const sig = new Uint8Array(randomBytes(signature.byteLength)); sig[0] = 1
      tally(sig)
    }
    for (let i = 0; i < 40; i++) {
      const sig = signature.slice(); sig.set(randomBytes(32), 1 + 32 * randomInt(0, 5))
      tally(sig)
    }
    // non-canonical scalar: r_0 = 2^256 - 1
    const high = signature.slice(); high.fill(0xff, 65, 97); tally(high)
    // fuzzed rings: random strings and near-miss ids
    for (let i = 0; i < 40; i++) {
      const bad = [...small]
      const id = small[i % 3] as string
      bad[i % 3] = i % 2 === 0 ? 'key_' + randomBytes(randomInt(0, 50)).toString('base64url') : id.slice(0, randomInt(0, id.length))
      const out = codedOrValue(() => ringVerify('m', bad, signature))
      if (out.code !== undefined) codes.set(out.code, (codes.get(out.code) ?? 0) + 1)
    }
    t.diagnostic(`fuzz: ${[...codes].map(([c, n]) => `${c} ×${n}`).join(', ')}, well-formed but invalid ×${invalid}`)
    assert.ok((codes.get('UMBRA_ERR_RING_SIGNATURE_MALFORMED') ?? 0) > 100)
    assert.ok((codes.get('UMBRA_ERR_RING_INVALID') ?? 0) >= 39)
    assert.ok(invalid > 0)
  })

  it('committed vectors reproduce byte for byte and verify', async (t) => {
    const committed = JSON.parse(readFileSync(new URL('./vectors.json', import.meta.url), 'utf8')) as RingVector[]
    assert.deepEqual(await computeVectors(), committed)
    for (const v of committed) {
      const result = ringVerify(v.message, v.ring, Buffer.from(v.signature, 'hex'), { scope: v.scope })
      assert.equal(result.valid, true)
      assert.equal(hex(result.keyImage), v.keyImage)
      // the key image recomputed from the signer's seed with the library alone: I = a·hash_to_ristretto255(P ‖ scope),
      // P = a·G the member's Ed25519 point read as a ristretto255 element (docs/proofs.md)
      const { scalar, pointBytes } = ed25519.utils.getExtendedPublicKey(Buffer.from(v.seeds[v.signer] as string, 'hex'))
      assert.equal(hex(pointBytes), hex(umbra.identity.decodeKey(v.ring[v.signer] as string)))
      const P = ristretto255.Point.BASE.multiply(ed25519.Point.Fn.create(scalar))
      assert.ok(P.equals(ristretto255.Point.fromAffine(ed25519.Point.fromBytes(pointBytes).toAffine())))
      const hp = ristretto255_hasher.hashToCurve(Buffer.concat([P.toBytes(), Buffer.from(v.scope, 'utf8')]), { DST: 'umbra/ring/v1/hash-to-point' })
      assert.equal(hex(hp.multiply(ed25519.Point.Fn.create(scalar)).toBytes()), v.keyImage)
      // the nonce stream is the only randomness: another stream gives another signature but the same key image
      const { keys: vk } = await fixedRing(v.ring.length, v.keyLabel)
      const again = ringSign(v.message, v.ring, vk[v.signer] as PrivateKey, { scope: v.scope, random: fixedRandom(v.randomSeed + '!') })
      assert.notEqual(hex(again.signature), v.signature)
      assert.equal(hex(again.keyImage), v.keyImage)
    }
    t.diagnostic(`${committed.length} vectors (rings of ${committed.map((v) => v.ring.length).join(', ')})`)
  })

  it('the error classes are value exports of umbra', () => {
    assert.equal(umbra.RingInvalidError.code, 'UMBRA_ERR_RING_INVALID')
    assert.equal(umbra.NotRingMemberError.code, 'UMBRA_ERR_NOT_RING_MEMBER')
    assert.equal(umbra.RingSignatureMalformedError.code, 'UMBRA_ERR_RING_SIGNATURE_MALFORMED')
    assert.equal(typeof umbra.proofs.ringSign, 'function')
  })
})
