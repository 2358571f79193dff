/**
 * The `umbra-data` namespace (seed 000's storeData / retrieveData): values
 * under user-chosen keys `/umbra-data/<key>`, first-come: the first
 * publisher holds a key until its record expires (docs/dht-records.md).
 * Declared once with {@link defineNamespace}; the functions below are its
 * named entry points.
 */
import { DATA_NAMESPACE, MAX_KEY_BYTES, MAX_RECORD_BYTES, MAX_VALUE_BYTES } from './constants.ts'
import { InvalidKeyNameError } from './errors.ts'
import { defineNamespace, type Namespace, type Verified } from './namespace.ts'
import type { PrivateKey } from '@libp2p/interface'

export type { VerifiedRecord } from './namespace.ts'

const encoder = new TextEncoder()

/**
 * Checks a user key: 1 to 256 bytes of UTF-8, no control characters.
 * @throws UMBRA_ERR_INVALID_KEY_NAME
 */
function checkUserKey (key: string): void {
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
}

/** The `umbra-data` namespace: first-come keys, opaque values up to 64 KiB. */
export const dataNamespace: Namespace<Uint8Array> = defineNamespace({
  name: DATA_NAMESPACE,
  maxRecordBytes: MAX_RECORD_BYTES,
  maxValueBytes: MAX_VALUE_BYTES,
  parseSuffix: (suffix) => {
    checkUserKey(suffix)
    return {}
  },
  decodeValue: (value) => value
})

/**
 * The DHT key of a user key: the bytes of `/umbra-data/<key>`.
 * @param key - 1 to 256 bytes of UTF-8, no control characters
 * @throws UMBRA_ERR_INVALID_KEY_NAME
 */
export function dhtKeyFor (key: string): Uint8Array {
  checkUserKey(key)
  return dataNamespace.key(key)
}

/** The user key of a `/umbra-data/…` DHT key. @throws UMBRA_ERR_INVALID_RECORD */
export function userKeyOf (dhtKey: Uint8Array): string {
  return dataNamespace.suffixOf(dhtKey)
}

/**
 * Builds and signs a data record (IPNS / BEP 44 model: signed value with
 * sequence number and expiry; docs/dht-records.md).
 * @param init.dhtKey - from {@link dhtKeyFor}
 * @param init.expiresAt - ms since the Unix epoch
 * @returns the encoded `UmbraRecord`
 */
export async function signRecord (init: { privateKey: PrivateKey, dhtKey: Uint8Array, seq: number, expiresAt: number, value: Uint8Array }): Promise<Uint8Array> {
  return await dataNamespace.sign(init)
}

/**
 * Decodes and checks a data record (see {@link Namespace.verify}).
 * @param now - current time, ms since the Unix epoch
 * @throws UMBRA_ERR_INVALID_RECORD with the reason
 */
export async function verifyRecord (dhtKey: Uint8Array, bytes: Uint8Array, now = Date.now()): Promise<Verified<Uint8Array>> {
  return await dataNamespace.verify(dhtKey, bytes, now)
}

/**
 * The kad-dht validator of the `umbra-data` namespace: while the copy this
 * node holds is unexpired, a record from another publisher, with a lower
 * sequence number, or with the same sequence number but other content is
 * refused.
 * @param readLocal - returns the record value this node stores for a DHT key
 * @throws UMBRA_ERR_INVALID_RECORD, UMBRA_ERR_KEY_OWNED
 */
export function createDataValidator (readLocal: (dhtKey: Uint8Array) => Promise<Uint8Array | undefined>): (dhtKey: Uint8Array, value: Uint8Array) => Promise<void> {
  return dataNamespace.validator(readLocal)
}

/** The kad-dht selector of the `umbra-data` namespace: highest seq, then latest expiry; invalid records rank last. */
export function selectDataRecord (dhtKey: Uint8Array, records: Uint8Array[]): number {
  return dataNamespace.selector(dhtKey, records)
}
