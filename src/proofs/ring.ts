/**
 * Linkable ring signatures over `key_` ids (issue 14, item 2; docs/proofs.md).
 *
 * Scheme: bLSAG, "Zero to Monero" 2nd ed. section 3.4 (Noether & Goodell
 * 2020), after Liu, Wei & Wong (ACISP 2004) and Back (2015), in the prime-order
 * group ristretto255 (RFC 9496). Every group and scalar operation is
 * @noble/curves' (`ristretto255.Point`, `ed25519.Point.Fn`,
 * `ristretto255_hasher`, RFC 9380); hashes are @noble/hashes' SHA-512.
 *
 * A member's ristretto255 key is its Ed25519 public point A = a·B itself,
 * read as a ristretto255 element (B is the base of both groups), and its
 * secret is the Ed25519 secret scalar a (RFC 8032 section 5.1.5), so a ring
 * is just a list of `key_` ids. A point with a torsion component is refused
 * (an honest Ed25519 key has none); docs/proofs.md gives the argument.
 */
import { randomBytes } from 'node:crypto'
import { ed25519, ristretto255, ristretto255_hasher } from '@noble/curves/ed25519.js'
import { bytesToNumberLE } from '@noble/curves/utils.js'
import { sha512 } from '@noble/hashes/sha2.js'
import { InvalidOptionError } from '../errors.ts'
import { decodeKey } from '../identity/keys.ts'
import { InvalidKeyError, KeyTypeUnsupportedError } from '../identity/errors.ts'
import {
  RING_CHALLENGE_DOMAIN,
  RING_DEFAULT_SCOPE,
  RING_ELEMENT_BYTES,
  RING_HASH_TO_POINT_DST,
  RING_MAX_MEMBERS,
  RING_MIN_MEMBERS,
  RING_NONCE_BYTES,
  RING_SCOPE_MAX_BYTES,
  RING_SIGNATURE_VERSION,
  RING_TRANSCRIPT_DOMAIN,
  ringSignatureBytes
} from './constants.ts'
import { NotRingMemberError, RingInvalidError, RingSignatureMalformedError } from './errors.ts'

type Point = InstanceType<typeof ristretto255.Point>
const G = ristretto255.Point.BASE
const Fn = ed25519.Point.Fn
const utf8 = new TextEncoder()

/** A signer's key: a libp2p Ed25519 private key (`raw` is seed ‖ public key, 64 bytes), or its raw 32-byte seed or 64-byte form. */
export type RingSignerKey = Uint8Array | { readonly type: string, readonly raw: Uint8Array }

/** Options of {@link ringSign} and {@link ringVerify}. */
export interface RingOptions {
  /** Linking scope, UTF-8, at most 256 bytes; default `''`. Key images are equal only for the same member in the same scope. */
  scope?: string
}

/** Options of {@link ringSign}. */
export interface RingSignOptions extends RingOptions {
  /**
   * Source of nonce randomness: returns `bytes` random bytes. Default
   * node:crypto `randomBytes`. Only for test vectors: a predictable source
   * reveals the signer's secret key.
   */
  random?: (bytes: number) => Uint8Array
}

/** What {@link ringSign} returns. */
export interface RingSignature {
  /** The signature, {@link ringSignatureBytes}(ring.length) bytes; carries the key image. */
  signature: Uint8Array
  /** The key image I = a·Hp(P ‖ scope), 32 bytes (ristretto255 encoding): the same for the same member and scope. */
  keyImage: Uint8Array
}

/** What {@link ringVerify} returns. */
export interface RingVerification {
  /** `true` when one member of `ring` signed `message` in `scope`. */
  valid: boolean
  /** The key image the signature carries, 32 bytes; only meaningful when `valid`. */
  keyImage: Uint8Array
}

/** A ring decoded: each member's ristretto255 element and its encoding, in ring order. */
interface DecodedRing {
  points: Point[]
  encodings: Uint8Array[]
}

/**
 * Decodes and checks a ring of `key_` ids.
 * @throws UMBRA_ERR_RING_INVALID, UMBRA_ERR_KEY_TYPE_UNSUPPORTED (a secp256k1 member)
 */
function decodeRing (ring: unknown): DecodedRing {
  if (!Array.isArray(ring)) throw new RingInvalidError('A ring is a list of key_ keys')
  if (ring.length < RING_MIN_MEMBERS || ring.length > RING_MAX_MEMBERS) {
    throw new RingInvalidError(`A ring has ${RING_MIN_MEMBERS} to ${RING_MAX_MEMBERS} members, this one ${ring.length}`)
  }
  const points: Point[] = []
  const encodings: Uint8Array[] = []
  const seen = new Set<string>()
  ring.forEach((member: unknown, i) => {
    const point = memberPoint(member, i)
    const encoding = point.toBytes()
    const hex = Buffer.from(encoding).toString('hex')
    if (seen.has(hex)) throw new RingInvalidError(`Ring member ${i} appears twice`)
    seen.add(hex)
    points.push(point)
    encodings.push(encoding)
  })
  return { points, encodings }
}

/**
 * Checks a ring as {@link ringSign} and {@link ringVerify} do, without signing.
 * @throws UMBRA_ERR_RING_INVALID, UMBRA_ERR_KEY_TYPE_UNSUPPORTED (a secp256k1 member)
 */
export function checkRing (ring: unknown): void {
  decodeRing(ring)
}

/** The ristretto255 element of ring member `i` (a `key_` id). @throws UMBRA_ERR_RING_INVALID, UMBRA_ERR_KEY_TYPE_UNSUPPORTED */
function memberPoint (member: unknown, i: number): Point {
  let edwards
  try {
    edwards = ed25519.Point.fromBytes(decodeKey(member as string))
  } catch (err) {
    // A secp256k1 (wallet) key_ is well formed but has no ristretto255 reading (issue 14, item 3).
    if (err instanceof KeyTypeUnsupportedError) throw new KeyTypeUnsupportedError(`Ring member ${i} is a secp256k1 (wallet) key; ring members are Ed25519 keys (node keys or pseudonyms)`, { cause: err })
    throw new RingInvalidError(`Ring member ${i} is not a key_ Ed25519 key: ${(err as Error).message}`, { cause: err })
  }
  // A = a·B for an honest key: in the prime-order subgroup. A torsion component would make the ristretto255 reading ambiguous.
  if (edwards.is0() || !edwards.isTorsionFree()) {
    throw new RingInvalidError(`Ring member ${i} is not an Ed25519 key of prime order (it has a torsion component)`)
  }
  return ristretto255.Point.fromAffine(edwards.toAffine())
}

/** UTF-8 bytes of a scope. @throws UMBRA_ERR_INVALID_OPTION */
function scopeBytes (scope: unknown): Uint8Array {
  const value = scope ?? RING_DEFAULT_SCOPE
  if (typeof value !== 'string') throw new InvalidOptionError('scope is a string')
  const bytes = utf8.encode(value)
  if (bytes.byteLength > RING_SCOPE_MAX_BYTES) throw new InvalidOptionError(`scope is at most ${RING_SCOPE_MAX_BYTES} bytes of UTF-8, got ${bytes.byteLength}`)
  return bytes
}

/** Bytes of a message (a string is UTF-8). @throws UMBRA_ERR_INVALID_OPTION */
function messageBytes (message: unknown): Uint8Array {
  if (typeof message === 'string') return utf8.encode(message)
  if (message instanceof Uint8Array) return message
  throw new InvalidOptionError('message is a string or a Uint8Array')
}

/** Key-image base Hp(P ‖ scope), RFC 9380 hash_to_ristretto255 (P is 32 bytes, so the split is unambiguous). */
function hashToPoint (encoding: Uint8Array, scope: Uint8Array): Point {
  const input = new Uint8Array(encoding.byteLength + scope.byteLength)
  input.set(encoding)
  input.set(scope, encoding.byteLength)
  return ristretto255_hasher.hashToCurve(input, { DST: RING_HASH_TO_POINT_DST })
}

/** 4-byte big-endian length, for length-prefixed transcript fields. */
function u32 (n: number): Uint8Array {
  const out = new Uint8Array(4)
  new DataView(out.buffer).setUint32(0, n)
  return out
}

/**
 * Digest binding everything a challenge depends on besides L and R: scope,
 * ring (in order), key image and message, each length-prefixed.
 */
function transcript (scope: Uint8Array, ring: DecodedRing, keyImage: Uint8Array, message: Uint8Array): Uint8Array {
  const h = sha512.create().update(utf8.encode(RING_TRANSCRIPT_DOMAIN))
  h.update(u32(scope.byteLength)).update(scope)
  h.update(u32(ring.encodings.length))
  for (const e of ring.encodings) h.update(e)
  h.update(keyImage)
  h.update(u32(message.byteLength)).update(message)
  return h.digest()
}

/** c = SHA-512(domain ‖ transcript ‖ L ‖ R) mod L (wide reduction). */
function challenge (digest: Uint8Array, l: Point, r: Point): bigint {
  const h = sha512.create().update(utf8.encode(RING_CHALLENGE_DOMAIN)).update(digest).update(l.toBytes()).update(r.toBytes())
  return Fn.create(bytesToNumberLE(h.digest()))
}

/** The Ed25519 secret scalar a (RFC 8032 section 5.1.5) and public key of a signer key. @throws UMBRA_ERR_INVALID_KEY, UMBRA_ERR_KEY_TYPE_UNSUPPORTED (secp256k1) */
function signerSecret (key: RingSignerKey): { scalar: bigint, point: Point } {
  let raw: Uint8Array
  if (key instanceof Uint8Array) {
    raw = key
  } else if (key != null && typeof key === 'object' && key.type === 'Ed25519' && key.raw instanceof Uint8Array) {
    raw = key.raw
  } else if (key != null && typeof key === 'object' && key.type === 'secp256k1') {
    throw new KeyTypeUnsupportedError('A secp256k1 (wallet) key cannot sign in a ring; use one of the node\'s pseudonyms')
  } else {
    throw new InvalidKeyError('A ring signer key is an Ed25519 private key')
  }
  if (raw.byteLength !== 32 && raw.byteLength !== 64) {
    throw new InvalidKeyError(`An Ed25519 private key is 32 (seed) or 64 (seed and public key) bytes, got ${raw.byteLength}`)
  }
  const { scalar } = ed25519.utils.getExtendedPublicKey(raw.subarray(0, 32))
  return { scalar: Fn.create(scalar), point: G.multiply(Fn.create(scalar)) }
}

/** A nonzero nonce scalar from `random`. @throws UMBRA_ERR_INVALID_OPTION */
function nonce (random: (bytes: number) => Uint8Array): bigint {
  const bytes = random(RING_NONCE_BYTES)
  if (!(bytes instanceof Uint8Array) || bytes.byteLength !== RING_NONCE_BYTES) {
    throw new InvalidOptionError(`random(${RING_NONCE_BYTES}) must return ${RING_NONCE_BYTES} bytes`)
  }
  const s = Fn.create(bytesToNumberLE(bytes))
  if (s === 0n) throw new InvalidOptionError('random gave a zero scalar')
  return s
}

/**
 * Signs `message` as one anonymous member of `ring` (bLSAG, Zero to Monero
 * 2nd ed. section 3.4): the signature shows that the holder of one of the
 * ring's keys signed, not which, and carries the key image
 * I = a·Hp(P ‖ scope) that is equal for two signatures by the same member in
 * the same scope.
 * @param message - bytes, or a string (UTF-8)
 * @param ring - 2 to 256 distinct `key_` ids (Ed25519 node keys or pseudonyms); order matters
 * @param signer - the Ed25519 private key of one member
 * @param options - `scope` (default `''`), `random` (nonce source, for test vectors only)
 * @returns `{ signature, keyImage }`: signature 1 + 32·(n + 2) bytes, key image 32 bytes
 * @throws UMBRA_ERR_RING_INVALID (bad ring), UMBRA_ERR_NOT_RING_MEMBER (signer not in ring),
 *   UMBRA_ERR_INVALID_KEY (signer not an Ed25519 key), UMBRA_ERR_INVALID_OPTION (message, scope, random)
 */
export function ringSign (message: Uint8Array | string, ring: readonly string[], signer: RingSignerKey, options: RingSignOptions = {}): RingSignature {
  const msg = messageBytes(message)
  const scope = scopeBytes(options.scope)
  const random = options.random ?? ((n: number) => new Uint8Array(randomBytes(n)))
  const decoded = decodeRing(ring)
  const { scalar: k, point: P } = signerSecret(signer)
  const n = decoded.points.length
  const pi = decoded.points.findIndex((p) => p.equals(P))
  if (pi < 0) throw new NotRingMemberError()

  const hp = hashToPoint(decoded.encodings[pi] as Uint8Array, scope)
  const image = hp.multiply(k)
  const keyImage = image.toBytes()
  const digest = transcript(scope, decoded, keyImage, msg)

  const c: bigint[] = new Array<bigint>(n).fill(0n)
  const r: bigint[] = new Array<bigint>(n).fill(0n)
  const alpha = nonce(random)
  c[(pi + 1) % n] = challenge(digest, G.multiply(alpha), hp.multiply(alpha))
  for (let step = 1; step < n; step++) {
    const i = (pi + step) % n
    const ri = nonce(random)
    const ci = c[i] as bigint
    r[i] = ri
    const l = G.multiply(ri).add((decoded.points[i] as Point).multiply(ci))
    const rr = hashToPoint(decoded.encodings[i] as Uint8Array, scope).multiply(ri).add(image.multiply(ci))
    c[(i + 1) % n] = challenge(digest, l, rr)
  }
  r[pi] = Fn.sub(alpha, Fn.mul(c[pi] as bigint, k))

  const signature = new Uint8Array(ringSignatureBytes(n))
  signature[0] = RING_SIGNATURE_VERSION
  signature.set(keyImage, 1)
  signature.set(Fn.toBytes(c[0] as bigint), 1 + RING_ELEMENT_BYTES)
  r.forEach((ri, i) => { signature.set(Fn.toBytes(ri), 1 + RING_ELEMENT_BYTES * (2 + i)) })
  return { signature, keyImage }
}

/**
 * Verifies a signature made by {@link ringSign}: recomputes the challenge
 * ring c_{i+1} = H(L_i, R_i) with L_i = r_i·G + c_i·P_i and
 * R_i = r_i·Hp(P_i ‖ scope) + c_i·I, and accepts when it closes at c_0.
 * @param message - bytes, or a string (UTF-8)
 * @param ring - the same `key_` ids in the same order as at signing
 * @param signature - 1 + 32·(n + 2) bytes
 * @param options - `scope` (default `''`): must be the signer's
 * @returns `{ valid, keyImage }` (keyImage: the 32 bytes the signature carries)
 * @throws UMBRA_ERR_RING_INVALID (bad ring), UMBRA_ERR_RING_SIGNATURE_MALFORMED (undecodable
 *   signature), UMBRA_ERR_INVALID_OPTION (message, scope)
 */
export function ringVerify (message: Uint8Array | string, ring: readonly string[], signature: Uint8Array, options: RingOptions = {}): RingVerification {
  const msg = messageBytes(message)
  const scope = scopeBytes(options.scope)
  const decoded = decodeRing(ring)
  const n = decoded.points.length
  const { image, keyImage, c0, r } = decodeSignature(signature, n)
  const digest = transcript(scope, decoded, keyImage, msg)
  let c = c0
  r.forEach((ri, i) => {
    const l = G.multiplyUnsafe(ri).add((decoded.points[i] as Point).multiplyUnsafe(c))
    const rr = hashToPoint(decoded.encodings[i] as Uint8Array, scope).multiplyUnsafe(ri).add(image.multiplyUnsafe(c))
    c = challenge(digest, l, rr)
  })
  return { valid: c === c0, keyImage }
}

/** Splits a signature for a ring of `n`. @throws UMBRA_ERR_RING_SIGNATURE_MALFORMED */
function decodeSignature (signature: unknown, n: number): { image: Point, keyImage: Uint8Array, c0: bigint, r: bigint[] } {
  if (!(signature instanceof Uint8Array)) throw new RingSignatureMalformedError('A ring signature is bytes')
  if (signature.byteLength !== ringSignatureBytes(n)) {
    throw new RingSignatureMalformedError(`A signature over a ring of ${n} is ${ringSignatureBytes(n)} bytes, got ${signature.byteLength}`)
  }
  if (signature[0] !== RING_SIGNATURE_VERSION) throw new RingSignatureMalformedError(`Unknown ring signature version ${signature[0]}`)
  const keyImage = signature.slice(1, 1 + RING_ELEMENT_BYTES)
  let image: Point
  try {
    image = ristretto255.Point.fromBytes(keyImage)
  } catch (err) {
    throw new RingSignatureMalformedError('The key image is not a ristretto255 element', { cause: err })
  }
  if (image.is0()) throw new RingSignatureMalformedError('The key image is the identity')
  const scalar = (at: number, what: string): bigint => {
    try {
      return Fn.fromBytes(signature.subarray(at, at + RING_ELEMENT_BYTES))
    } catch (err) {
      throw new RingSignatureMalformedError(`${what} is not a canonical scalar`, { cause: err })
    }
  }
  const c0 = scalar(1 + RING_ELEMENT_BYTES, 'c_0')
  const r = Array.from({ length: n }, (_, i) => scalar(1 + RING_ELEMENT_BYTES * (2 + i), `r_${i}`))
  return { image, keyImage, c0, r }
}
