/**
 * Wire format of birthday-paradox UDP hole punching (issue 17 item 2): the
 * datagrams the two sides exchange while they look for each other's mapped
 * ports. Every datagram is authenticated with a key both sides derived from
 * the secret signalled over the (Noise-encrypted) relayed connection, so a
 * stray packet, a third party or a replay from another punch never wins.
 *
 * Datagram (54 bytes):
 *
 * | bytes | field |
 * |---|---|
 * | 4 | magic `UMBP` |
 * | 1 | version, 1 |
 * | 1 | kind: 0 open (the short-TTL packet), 1 probe, 2 ack |
 * | 16 | random, fresh per datagram |
 * | 32 | MAC: keyed BLAKE2b-256 (libsodium `crypto_generichash`) over the first 22 bytes |
 *
 * The key is BLAKE2b-256 keyed with the domain prefix
 * {@link BIRTHDAY_KEY_DOMAIN} over the signalled secret (hyperdht's
 * `crypto.namespace` model for domain separation, STYLE.md).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import sodium from 'sodium-native'

/** Magic of every birthday-punch datagram. */
export const BIRTHDAY_MAGIC = Buffer.from('UMBP')
/** Version byte of the datagram format. */
export const BIRTHDAY_WIRE_VERSION = 1
/** Bytes of one datagram. */
export const BIRTHDAY_DATAGRAM_BYTES = 54
/** Domain-separation prefix of the datagram key (its own, per STYLE.md "Wire and crypto"). */
export const BIRTHDAY_KEY_DOMAIN = 'umbra/birthday-punch/datagram-key/v1'
/** Bytes of the signalled secret and of the derived key. */
export const BIRTHDAY_SECRET_BYTES = 32

/** Kinds of datagram. */
export const DATAGRAM_KIND = { open: 0, probe: 1, ack: 2 } as const
export type DatagramKind = keyof typeof DATAGRAM_KIND

const HEADER_BYTES = 22
const MAC_BYTES = 32
const KIND_NAMES: DatagramKind[] = ['open', 'probe', 'ack']

/**
 * Derives the 32-byte datagram key from the signalled secret.
 * @param secret - 32 bytes both sides know (signalled over the relayed connection)
 * @throws RangeError when `secret` is not 32 bytes
 */
export function deriveDatagramKey (secret: Uint8Array): Buffer {
  if (secret.byteLength !== BIRTHDAY_SECRET_BYTES) throw new RangeError(`secret must be ${BIRTHDAY_SECRET_BYTES} bytes`)
  const key = Buffer.alloc(32)
  sodium.crypto_generichash(key, Buffer.from(secret), Buffer.from(BIRTHDAY_KEY_DOMAIN))
  return key
}

/** Encodes an authenticated datagram of `kind` under `key` (see the module comment). */
export function encodeDatagram (kind: DatagramKind, key: Buffer): Buffer {
  const out = Buffer.alloc(BIRTHDAY_DATAGRAM_BYTES)
  BIRTHDAY_MAGIC.copy(out, 0)
  out[4] = BIRTHDAY_WIRE_VERSION
  out[5] = DATAGRAM_KIND[kind]
  randomBytes(16).copy(out, 6)
  sodium.crypto_generichash(out.subarray(HEADER_BYTES), out.subarray(0, HEADER_BYTES), key)
  return out
}

/**
 * The kind of an authentic datagram under `key`, or undefined for anything
 * else (wrong size, magic, version, kind or MAC): never throws, since every
 * datagram that reaches a punching socket is untrusted input.
 */
export function decodeDatagram (data: Uint8Array, key: Buffer): DatagramKind | undefined {
  if (data.byteLength !== BIRTHDAY_DATAGRAM_BYTES) return undefined
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  if (!buf.subarray(0, 4).equals(BIRTHDAY_MAGIC) || buf[4] !== BIRTHDAY_WIRE_VERSION) return undefined
  const kind = KIND_NAMES[buf[5] as number]
  if (kind == null) return undefined
  const mac = Buffer.alloc(MAC_BYTES)
  sodium.crypto_generichash(mac, buf.subarray(0, HEADER_BYTES), key)
  return timingSafeEqual(mac, buf.subarray(HEADER_BYTES)) ? kind : undefined
}
