import { createHash } from 'node:crypto'
import { peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { base58btc } from 'multiformats/bases/base58'
import { ED25519_PUBLIC_KEY_BYTES, KEY_CHECKSUM_BYTES, KEY_CHECKSUM_DOMAIN, KEY_PREFIX, KEY_TYPE_ED25519, KEY_TYPE_SECP256K1, SECP256K1_PUBLIC_KEY_BYTES } from './constants.ts'
import { InvalidKeyError, KeyChecksumError, KeyTypeUnsupportedError } from './errors.ts'
import type { PeerId, PublicKey } from '@libp2p/interface'

function checksum (typeAndKey: Uint8Array): Uint8Array {
  return createHash('sha256').update(KEY_CHECKSUM_DOMAIN).update(typeAndKey).digest().subarray(0, KEY_CHECKSUM_BYTES)
}

/** The key types a `key_` string carries (issue 14, item 3 added secp256k1). */
export type KeyType = 'Ed25519' | 'secp256k1'

/** A decoded `key_`: its type and raw public key (Ed25519: 32 bytes; secp256k1: 33 bytes, compressed). */
export interface TypedKey {
  type: KeyType
  publicKey: Uint8Array
}

const TYPES: ReadonlyArray<{ type: KeyType, byte: number, bytes: number }> = [
  { type: 'Ed25519', byte: KEY_TYPE_ED25519, bytes: ED25519_PUBLIC_KEY_BYTES },
  { type: 'secp256k1', byte: KEY_TYPE_SECP256K1, bytes: SECP256K1_PUBLIC_KEY_BYTES }
]

/**
 * Shows a public key as `key_<base58btc>` (seed 002's format).
 *
 * Payload: type byte ‖ public key ‖ checksum (4 bytes, the first bytes of
 * SHA-256(`umbra/key-checksum/v1` ‖ type ‖ key)), so a mistyped key is
 * rejected by {@link decodeTypedKey}. The type follows from the length: a
 * 32-byte key is Ed25519 (type `0x01`, about 55 characters), a 33-byte key
 * is a compressed secp256k1 key (type `0x02`, issue 14 item 3, about 56).
 * @param publicKey - raw Ed25519 (32 bytes) or compressed secp256k1 (33 bytes, first byte 2 or 3) public key
 * @throws UMBRA_ERR_INVALID_KEY for any other length or prefix
 */
export function encodeKey (publicKey: Uint8Array): string {
  const t = TYPES.find((t) => t.bytes === publicKey?.byteLength)
  if (t == null) {
    throw new InvalidKeyError(`A public key is ${ED25519_PUBLIC_KEY_BYTES} (Ed25519) or ${SECP256K1_PUBLIC_KEY_BYTES} (secp256k1) bytes, got ${publicKey?.byteLength}`)
  }
  if (t.type === 'secp256k1' && publicKey[0] !== 2 && publicKey[0] !== 3) throw new InvalidKeyError('A secp256k1 key_ holds the 33-byte compressed form (first byte 2 or 3)')
  const typeAndKey = new Uint8Array(1 + t.bytes)
  typeAndKey[0] = t.byte
  typeAndKey.set(publicKey, 1)
  const payload = new Uint8Array(typeAndKey.byteLength + KEY_CHECKSUM_BYTES)
  payload.set(typeAndKey)
  payload.set(checksum(typeAndKey), typeAndKey.byteLength)
  return KEY_PREFIX + base58btc.baseEncode(payload)
}

/**
 * Parses a `key_<base58btc>` string of any type.
 * @param key - as produced by {@link encodeKey}
 * @returns its type and raw public key
 * @throws UMBRA_ERR_INVALID_KEY (no prefix, bad base58, wrong length, unknown type),
 *   UMBRA_ERR_KEY_CHECKSUM (checksum mismatch: mistyped key)
 */
export function decodeTypedKey (key: string): TypedKey {
  if (typeof key !== 'string' || !key.startsWith(KEY_PREFIX)) {
    throw new InvalidKeyError(`A key starts with "${KEY_PREFIX}"`)
  }
  let payload: Uint8Array
  try {
    payload = base58btc.baseDecode(key.slice(KEY_PREFIX.length))
  } catch (err) {
    throw new InvalidKeyError('A key is key_ followed by base58btc characters', { cause: err })
  }
  const t = TYPES.find((t) => t.byte === payload[0])
  if (t == null) throw new InvalidKeyError(`Unknown key type 0x${(payload[0] ?? 0).toString(16)}`)
  const expected = 1 + t.bytes + KEY_CHECKSUM_BYTES
  if (payload.byteLength !== expected) {
    throw new InvalidKeyError(`A ${t.type} key decodes to ${expected} bytes, this one to ${payload.byteLength}: it was truncated or mistyped`)
  }
  const typeAndKey = payload.subarray(0, 1 + t.bytes)
  const sum = payload.subarray(1 + t.bytes)
  const want = checksum(typeAndKey)
  if (!sum.every((b, i) => b === want[i])) {
    throw new KeyChecksumError()
  }
  return { type: t.type, publicKey: typeAndKey.slice(1) }
}

/**
 * Parses a `key_<base58btc>` string that must be an Ed25519 key: what every
 * Ed25519-only use calls (pseudonyms, ring members, zones, gateways).
 * @param key - as produced by {@link encodeKey}
 * @returns the public key, 32 bytes
 * @throws UMBRA_ERR_INVALID_KEY, UMBRA_ERR_KEY_CHECKSUM (see {@link decodeTypedKey}),
 *   UMBRA_ERR_KEY_TYPE_UNSUPPORTED (a secp256k1 wallet key)
 */
export function decodeKey (key: string): Uint8Array {
  const k = decodeTypedKey(key)
  if (k.type !== 'Ed25519') throw new KeyTypeUnsupportedError(`${key} is a ${k.type} (wallet) key; only Ed25519 keys are accepted here`)
  return k.publicKey
}

/**
 * The libp2p public key of a `key_` of any type (to verify a signature by it).
 * @throws the codes of {@link decodeTypedKey}
 */
export function publicKeyFromKey (key: string): PublicKey {
  return publicKeyFromRaw(decodeTypedKey(key).publicKey)
}

/**
 * `true` when `value` parses as a `key_` key (checksum included).
 * @param value - any string
 */
export function isKey (value: string): boolean {
  try {
    decodeTypedKey(value)
    return true
  } catch {
    return false
  }
}

/**
 * The `key_` form of an Ed25519 or secp256k1 PeerId's public key.
 * @throws UMBRA_ERR_INVALID_KEY when the PeerId is of another type (RSA, a CID)
 */
export function keyFromPeerId (peerId: PeerId): string {
  if ((peerId.type !== 'Ed25519' && peerId.type !== 'secp256k1') || peerId.publicKey == null) {
    throw new InvalidKeyError(`Only Ed25519 and secp256k1 PeerIds have a key_ form, this one is ${peerId.type}`)
  }
  return encodeKey(peerId.publicKey.raw)
}

/**
 * The PeerId of a `key_` transport key.
 * @throws UMBRA_ERR_INVALID_KEY, UMBRA_ERR_KEY_CHECKSUM
 */
export function peerIdFromKey (key: string): PeerId {
  return peerIdFromPublicKey(publicKeyFromKey(key))
}

/**
 * Accepts either a PeerId string (`12D3Koo…`) or a `key_` key and returns the PeerId.
 * @throws UMBRA_ERR_INVALID_KEY, UMBRA_ERR_KEY_CHECKSUM
 */
export function parsePeer (value: string): PeerId {
  if (typeof value === 'string' && value.startsWith(KEY_PREFIX)) {
    return peerIdFromKey(value)
  }
  try {
    return peerIdFromString(value)
  } catch (err) {
    throw new InvalidKeyError('Expected a PeerId (12D3Koo… or 16Uiu2HA…) or a key_ key', { cause: err })
  }
}
