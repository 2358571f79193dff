import { createHash } from 'node:crypto'
import { peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { base58btc } from 'multiformats/bases/base58'
import { ED25519_PUBLIC_KEY_BYTES, KEY_CHECKSUM_BYTES, KEY_CHECKSUM_DOMAIN, KEY_PREFIX, KEY_TYPE_ED25519 } from './constants.ts'
import { InvalidKeyError, KeyChecksumError } from './errors.ts'
import type { PeerId } from '@libp2p/interface'

function checksum (typeAndKey: Uint8Array): Uint8Array {
  return createHash('sha256').update(KEY_CHECKSUM_DOMAIN).update(typeAndKey).digest().subarray(0, KEY_CHECKSUM_BYTES)
}

/**
 * Shows a 32-byte Ed25519 public key as `key_<base58btc>` (seed 002's format).
 *
 * Payload: type byte `0x01` ‖ public key (32 bytes) ‖ checksum (4 bytes,
 * the first bytes of SHA-256(`umbra/key-checksum/v1` ‖ type ‖ key)), so a
 * mistyped key is rejected by {@link decodeKey}.
 * @param publicKey - raw Ed25519 public key, 32 bytes
 * @returns a string of about 55 characters
 * @throws UMBRA_ERR_INVALID_KEY when `publicKey` is not 32 bytes
 */
export function encodeKey (publicKey: Uint8Array): string {
  if (publicKey.byteLength !== ED25519_PUBLIC_KEY_BYTES) {
    throw new InvalidKeyError(`An Ed25519 public key is ${ED25519_PUBLIC_KEY_BYTES} bytes, got ${publicKey.byteLength}`)
  }
  const typeAndKey = new Uint8Array(1 + ED25519_PUBLIC_KEY_BYTES)
  typeAndKey[0] = KEY_TYPE_ED25519
  typeAndKey.set(publicKey, 1)
  const payload = new Uint8Array(typeAndKey.byteLength + KEY_CHECKSUM_BYTES)
  payload.set(typeAndKey)
  payload.set(checksum(typeAndKey), typeAndKey.byteLength)
  return KEY_PREFIX + base58btc.baseEncode(payload)
}

/**
 * Parses a `key_<base58btc>` string back into the raw 32-byte Ed25519 key.
 * @param key - as produced by {@link encodeKey}
 * @returns the public key, 32 bytes
 * @throws UMBRA_ERR_INVALID_KEY (no prefix, bad base58, wrong length or type),
 *   UMBRA_ERR_KEY_CHECKSUM (checksum mismatch: mistyped key)
 */
export function decodeKey (key: string): Uint8Array {
  if (typeof key !== 'string' || !key.startsWith(KEY_PREFIX)) {
    throw new InvalidKeyError(`A key starts with "${KEY_PREFIX}"`)
  }
  let payload: Uint8Array
  try {
    payload = base58btc.baseDecode(key.slice(KEY_PREFIX.length))
  } catch (err) {
    throw new InvalidKeyError('A key is key_ followed by base58btc characters', { cause: err })
  }
  const expected = 1 + ED25519_PUBLIC_KEY_BYTES + KEY_CHECKSUM_BYTES
  if (payload.byteLength !== expected) {
    throw new InvalidKeyError(`A key decodes to ${expected} bytes, this one to ${payload.byteLength}: it was truncated or mistyped`)
  }
  if (payload[0] !== KEY_TYPE_ED25519) {
    throw new InvalidKeyError(`Unknown key type 0x${(payload[0] ?? 0).toString(16)}`)
  }
  const typeAndKey = payload.subarray(0, 1 + ED25519_PUBLIC_KEY_BYTES)
  const sum = payload.subarray(1 + ED25519_PUBLIC_KEY_BYTES)
  const want = checksum(typeAndKey)
  if (!sum.every((b, i) => b === want[i])) {
    throw new KeyChecksumError()
  }
  return typeAndKey.slice(1)
}

/**
 * `true` when `value` parses as a `key_` key (checksum included).
 * @param value - any string
 */
export function isKey (value: string): boolean {
  try {
    decodeKey(value)
    return true
  } catch {
    return false
  }
}

/**
 * The `key_` form of an Ed25519 PeerId's public key.
 * @throws UMBRA_ERR_INVALID_KEY when the PeerId is not Ed25519
 */
export function keyFromPeerId (peerId: PeerId): string {
  if (peerId.type !== 'Ed25519' || peerId.publicKey == null) {
    throw new InvalidKeyError(`Only Ed25519 PeerIds have a key_ form, this one is ${peerId.type}`)
  }
  return encodeKey(peerId.publicKey.raw)
}

/**
 * The PeerId of a `key_` transport key.
 * @throws UMBRA_ERR_INVALID_KEY, UMBRA_ERR_KEY_CHECKSUM
 */
export function peerIdFromKey (key: string): PeerId {
  return peerIdFromPublicKey(publicKeyFromRaw(decodeKey(key)))
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
    throw new InvalidKeyError('Expected a PeerId (12D3Koo…) or a key_ key', { cause: err })
  }
}
