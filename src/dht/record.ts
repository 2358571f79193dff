import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { encodeKey } from '../identity/index.ts'
import { DATA_NAMESPACE, MAX_CLOCK_SKEW_MS, MAX_KEY_BYTES, MAX_RECORD_BYTES, MAX_TTL_MS, MAX_VALUE_BYTES, RECORD_SIGNATURE_DOMAIN, RECORD_VERSION } from './constants.ts'
import { InvalidKeyNameError, InvalidRecordError, KeyOwnedError } from './errors.ts'
import { UmbraRecord, UmbraRecordSignable } from './pb/record.ts'
import type { PrivateKey } from '@libp2p/interface'

const PREFIX = `/${DATA_NAMESPACE}/`
const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** A record that passed {@link verifyRecord}. */
export interface VerifiedRecord {
  /** Publisher's raw Ed25519 public key, 32 bytes. */
  publisher: Uint8Array
  seq: number
  /** ms since the Unix epoch. */
  expiresAt: number
  value: Uint8Array
  signature: Uint8Array
  /** The encoded record, as stored and sent. */
  bytes: Uint8Array
}

/**
 * The DHT key of a user key: the bytes of `/umbra-data/<key>`.
 * @param key - 1 to 256 bytes of UTF-8, no control characters
 * @throws UMBRA_ERR_INVALID_KEY_NAME
 */
export function dhtKeyFor (key: string): Uint8Array {
  if (typeof key !== 'string' || key.length === 0) {
    throw new InvalidKeyNameError('A DHT key must be a non-empty string')
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key)) {
    throw new InvalidKeyNameError('A DHT key must not contain control characters')
  }
  const bytes = encoder.encode(key)
  if (bytes.byteLength > MAX_KEY_BYTES) {
    throw new InvalidKeyNameError(`A DHT key is at most ${MAX_KEY_BYTES} bytes, got ${bytes.byteLength}`)
  }
  return encoder.encode(PREFIX + key)
}

/** The user key of a `/umbra-data/…` DHT key. @throws UMBRA_ERR_INVALID_RECORD */
export function userKeyOf (dhtKey: Uint8Array): string {
  let text: string
  try {
    text = decoder.decode(dhtKey)
  } catch (err) {
    throw new InvalidRecordError('DHT key is not UTF-8', { cause: err })
  }
  if (!text.startsWith(PREFIX) || text.length === PREFIX.length) {
    throw new InvalidRecordError(`DHT key is not in the ${DATA_NAMESPACE} namespace`)
  }
  return text.slice(PREFIX.length)
}

function signable (dhtKey: Uint8Array, publisher: Uint8Array, seq: number, expiresAt: number, value: Uint8Array): Uint8Array {
  return UmbraRecordSignable.encode({
    domain: RECORD_SIGNATURE_DOMAIN,
    key: dhtKey as Uint8Array<ArrayBuffer>,
    publisher: publisher as Uint8Array<ArrayBuffer>,
    seq: BigInt(seq),
    expiresAt: BigInt(expiresAt),
    value: value as Uint8Array<ArrayBuffer>
  })
}

/**
 * Builds and signs a data record (IPNS / BEP 44 model: signed value with
 * sequence number and expiry; docs/dht-records.md).
 * @param init.dhtKey - from {@link dhtKeyFor}
 * @param init.expiresAt - ms since the Unix epoch
 * @returns the encoded {@link UmbraRecord}
 */
export async function signRecord (init: { privateKey: PrivateKey, dhtKey: Uint8Array, seq: number, expiresAt: number, value: Uint8Array }): Promise<Uint8Array> {
  const publisher = init.privateKey.publicKey.raw
  const signature = await init.privateKey.sign(signable(init.dhtKey, publisher, init.seq, init.expiresAt, init.value))
  return UmbraRecord.encode({
    version: RECORD_VERSION,
    publisher: publisher as Uint8Array<ArrayBuffer>,
    seq: BigInt(init.seq),
    expiresAt: BigInt(init.expiresAt),
    value: init.value as Uint8Array<ArrayBuffer>,
    signature: signature as Uint8Array<ArrayBuffer>
  })
}

/**
 * Decodes and checks a data record: size, version, field lengths, expiry
 * (not past, not more than 48 h + 5 min ahead) and the publisher's signature
 * over the DHT key and every field. Decoding is strict: the bytes must be
 * the canonical protobuf encoding of the fields.
 * @param now - current time, ms since the Unix epoch
 * @throws UMBRA_ERR_INVALID_RECORD with the reason
 */
export async function verifyRecord (dhtKey: Uint8Array, bytes: Uint8Array, now = Date.now()): Promise<VerifiedRecord> {
  if (bytes.byteLength > MAX_RECORD_BYTES) {
    throw new InvalidRecordError(`Record of ${bytes.byteLength} bytes exceeds ${MAX_RECORD_BYTES}`)
  }
  let rec: UmbraRecord
  try {
    rec = UmbraRecord.decode(bytes)
  } catch (err) {
    throw new InvalidRecordError('Record is not a valid UmbraRecord', { cause: err })
  }
  if (!uint8ArrayEquals(UmbraRecord.encode(rec), bytes)) throw new InvalidRecordError('Record is not canonically encoded')
  if (rec.version !== RECORD_VERSION) throw new InvalidRecordError(`Unsupported record version ${rec.version}`)
  if (rec.publisher.byteLength !== 32) throw new InvalidRecordError('Record publisher key is not 32 bytes')
  if (rec.signature.byteLength !== 64) throw new InvalidRecordError('Record signature is not 64 bytes')
  if (rec.value.byteLength > MAX_VALUE_BYTES) throw new InvalidRecordError(`Record value of ${rec.value.byteLength} bytes exceeds ${MAX_VALUE_BYTES}`)
  if (rec.seq < 1n || rec.seq > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidRecordError('Record sequence number out of range')
  const expiresAt = Number(rec.expiresAt)
  if (expiresAt <= now) throw new InvalidRecordError('Record has expired')
  if (expiresAt > now + MAX_TTL_MS + MAX_CLOCK_SKEW_MS) throw new InvalidRecordError('Record expiry is beyond the 48 h maximum')
  const seq = Number(rec.seq)
  const ok = await publicKeyFromRaw(rec.publisher).verify(signable(dhtKey, rec.publisher, seq, expiresAt, rec.value), rec.signature)
  if (!ok) throw new InvalidRecordError('Record signature does not verify')
  return { publisher: rec.publisher, seq, expiresAt, value: rec.value, signature: rec.signature, bytes }
}

/**
 * The kad-dht validator of the `umbra-data` namespace. Beyond
 * {@link verifyRecord} it applies the ownership rule against the copy this
 * node already holds: while that copy is unexpired, a record from another
 * publisher, with a lower sequence number, or with the same sequence number
 * but different content is refused.
 * @param readLocal - returns the record value this node stores for a DHT key
 * @throws UMBRA_ERR_INVALID_RECORD, UMBRA_ERR_KEY_OWNED
 */
export function createDataValidator (readLocal: (dhtKey: Uint8Array) => Promise<Uint8Array | undefined>) {
  return async (dhtKey: Uint8Array, value: Uint8Array): Promise<void> => {
    userKeyOf(dhtKey)
    const incoming = await verifyRecord(dhtKey, value)
    const localBytes = await readLocal(dhtKey)
    if (localBytes == null) return
    let held: VerifiedRecord
    try {
      held = await verifyRecord(dhtKey, localBytes)
    } catch {
      return // the held copy expired or is damaged: anyone may write
    }
    if (!uint8ArrayEquals(held.publisher, incoming.publisher)) {
      throw new KeyOwnedError(`Key is held by ${encodeKey(held.publisher)} until ${new Date(held.expiresAt).toISOString()}`)
    }
    if (incoming.seq < held.seq) throw new InvalidRecordError(`Stale record: seq ${incoming.seq} < held ${held.seq}`)
    if (incoming.seq === held.seq && !uint8ArrayEquals(incoming.signature, held.signature)) {
      throw new InvalidRecordError(`Conflicting record with the same seq ${incoming.seq}`)
    }
  }
}

/**
 * The kad-dht selector of the `umbra-data` namespace: index of the record
 * with the highest sequence number, then the latest expiry; records that do
 * not decode rank last.
 */
export function selectDataRecord (_dhtKey: Uint8Array, records: Uint8Array[]): number {
  let best = 0
  let bestSeq = -1n
  let bestExp = -1n
  records.forEach((bytes, i) => {
    try {
      const r = UmbraRecord.decode(bytes)
      if (r.seq > bestSeq || (r.seq === bestSeq && r.expiresAt > bestExp)) {
        best = i
        bestSeq = r.seq
        bestExp = r.expiresAt
      }
    } catch {
      // ranks last
    }
  })
  return best
}
