import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { InvalidRecordError } from '../dht/errors.ts'
import { defineNamespace, type Namespace, type VerifiedRecord } from '../dht/namespace.ts'
import { InvalidOptionError } from '../errors.ts'
import { decodeKey, encodeKey } from '../identity/index.ts'
import { ContactRecord } from './pb/contact.ts'
import type { PrivateKey } from '@libp2p/interface'

const MINUTE = 60 * 1000

/** DHT namespace of pseudonym contact records: keys are `/umbra-contact/<key_…>` (DESIGN.md section 4). */
export const CONTACT_NAMESPACE = 'umbra-contact'
/** Wire version of {@link ContactRecord}. */
const CONTACT_RECORD_VERSION = 1
/** Largest encoded contact record (UmbraRecord envelope included) accepted before parsing, bytes; a valid one is under 400. */
const MAX_CONTACT_RECORD_BYTES = 1024
/** Gateways a contact record names, at least and at most (DESIGN.md section 5, "Addressing"). */
const MIN_GATEWAYS = 1
const MAX_GATEWAYS = 3
/** X25519 public key, Ed25519 public key and mailbox id lengths, bytes. */
const BOX_KEY_BYTES = 32
const GATEWAY_KEY_BYTES = 32
const MAILBOX_ID_BYTES = 32
/** Clock skew tolerated on `issuedAt`, ms (same as DHT records, src/dht/constants.ts). */
const MAX_CLOCK_SKEW_MS = 5 * MINUTE


/** A contact record that passed {@link verifyContactRecord}. */
export interface VerifiedContact {
  /** The pseudonym, `key_…`. */
  key: string
  /** The pseudonym's raw Ed25519 public key, 32 bytes (the record's publisher). */
  publicKey: Uint8Array
  /** The pseudonym's X25519 public key, 32 bytes. */
  boxKey: Uint8Array
  /** Raw Ed25519 public keys of the gateways, 32 bytes each, 1 to 3, distinct, in the publisher's order of preference. */
  gateways: Uint8Array[]
  /** The same gateways as PeerId strings (`12D3Koo…`). */
  gatewayPeerIds: string[]
  /** Mailbox id at the gateways, 32 bytes. */
  mailbox: Uint8Array
  seq: number
  /** ms since the Unix epoch. */
  expiresAt: number
  /** ms since the Unix epoch. */
  issuedAt: number
  /** The encoded record, as stored and sent. */
  bytes: Uint8Array
}

/** The contact fields of a verified record (the envelope's are added by the namespace). */
type ContactFields = Omit<VerifiedContact, 'seq' | 'expiresAt' | 'bytes'>

/**
 * The `umbra-contact` namespace: `/umbra-contact/<key_…>`, self-certifying
 * (only the pseudonym named in the key may publish), value a
 * {@link ContactRecord}. Declared once with `defineNamespace` (src/dht/namespace.ts).
 */
export const contactNamespace: Namespace<ContactFields> = defineNamespace<ContactFields>({
  name: CONTACT_NAMESPACE,
  maxRecordBytes: MAX_CONTACT_RECORD_BYTES,
  maxValueBytes: MAX_CONTACT_RECORD_BYTES,
  parseSuffix: (suffix) => {
    let publicKey: Uint8Array
    try {
      publicKey = decodeKey(suffix)
    } catch (err) {
      throw new InvalidRecordError(`DHT key does not name a pseudonym key: ${(err as Error).message}`, { cause: err })
    }
    if (encodeKey(publicKey) !== suffix) throw new InvalidRecordError('DHT key is not in canonical key_ form')
    return { owner: publicKey }
  },
  decodeValue: decodeContact
})

/**
 * The DHT key of a pseudonym's contact record: the bytes of
 * `/umbra-contact/<key_…>` (DESIGN.md section 4).
 * @param key - the pseudonym, `key_…`
 * @throws UMBRA_ERR_INVALID_KEY, UMBRA_ERR_KEY_CHECKSUM
 */
export function contactDhtKey (key: string): Uint8Array {
  return contactNamespace.key(encodeKey(decodeKey(key)))
}

/**
 * The pseudonym named by a `/umbra-contact/…` DHT key.
 * @returns the `key_…` string and the raw Ed25519 public key (32 bytes)
 * @throws UMBRA_ERR_INVALID_RECORD
 */
export function pseudonymOfContactKey (dhtKey: Uint8Array): { key: string, publicKey: Uint8Array } {
  const key = contactNamespace.suffixOf(dhtKey)
  let publicKey: Uint8Array
  try {
    publicKey = decodeKey(key)
  } catch (err) {
    throw new InvalidRecordError(`DHT key does not name a pseudonym key: ${(err as Error).message}`, { cause: err })
  }
  if (encodeKey(publicKey) !== key) throw new InvalidRecordError('DHT key is not in canonical key_ form')
  return { key, publicKey }
}

function gatewayBytes (g: unknown): Uint8Array {
  if (typeof g === 'string') {
    let id
    try {
      id = peerIdFromString(g)
    } catch (err) {
      throw new InvalidOptionError(`gateways: ${g} is not a PeerId`, { cause: err })
    }
    if (id.type !== 'Ed25519') throw new InvalidOptionError(`gateways: ${g} is a ${id.type} PeerId; a gateway has an Ed25519 key`)
    return id.publicKey.raw
  }
  if (g instanceof Uint8Array && g.byteLength === GATEWAY_KEY_BYTES) return g
  throw new InvalidOptionError(`gateways: each is a PeerId string or a ${GATEWAY_KEY_BYTES}-byte Ed25519 public key`)
}

function distinct (keys: Uint8Array[]): boolean {
  return keys.every((k, i) => keys.findIndex((o) => uint8ArrayEquals(o, k)) === i)
}

/**
 * Builds and signs a pseudonym's contact record: a {@link ContactRecord}
 * (protobuf, version 1) carried as the value of the signed DHT record
 * envelope of src/dht/namespace.ts, published by the pseudonym's Ed25519 key
 * under `/umbra-contact/<key_…>` (DESIGN.md sections 4-5; IPNS / BEP 44 model).
 * @param init.pseudonymKey - the pseudonym's Ed25519 private key
 * @param init.boxKey - X25519 public key, 32 bytes
 * @param init.gateways - 1 to 3 distinct gateways: Ed25519 PeerId strings or raw 32-byte public keys
 * @param init.mailbox - mailbox id, 32 bytes
 * @param init.seq - sequence number, a positive safe integer; higher replaces lower
 * @param init.expiresAt - ms since the Unix epoch, at most 48 h ahead (DHT record limit)
 * @param init.issuedAt - ms since the Unix epoch @default Date.now()
 * @returns the encoded signed record (a few hundred bytes)
 * @throws UMBRA_ERR_INVALID_OPTION naming the bad field
 */
export async function signContactRecord (init: {
  pseudonymKey: PrivateKey
  boxKey: Uint8Array
  gateways: Array<Uint8Array | string>
  mailbox: Uint8Array
  seq: number
  expiresAt: number
  issuedAt?: number
}): Promise<Uint8Array> {
  if (init?.pseudonymKey?.type !== 'Ed25519') throw new InvalidOptionError('pseudonymKey must be an Ed25519 private key')
  if (!(init.boxKey instanceof Uint8Array) || init.boxKey.byteLength !== BOX_KEY_BYTES) throw new InvalidOptionError(`boxKey must be ${BOX_KEY_BYTES} bytes`)
  if (!(init.mailbox instanceof Uint8Array) || init.mailbox.byteLength !== MAILBOX_ID_BYTES) throw new InvalidOptionError(`mailbox must be ${MAILBOX_ID_BYTES} bytes`)
  if (!Array.isArray(init.gateways) || init.gateways.length < MIN_GATEWAYS || init.gateways.length > MAX_GATEWAYS) {
    throw new InvalidOptionError(`gateways must name ${MIN_GATEWAYS} to ${MAX_GATEWAYS} gateways`)
  }
  const gateways = init.gateways.map(gatewayBytes)
  if (!distinct(gateways)) throw new InvalidOptionError('gateways must not repeat a gateway')
  if (!Number.isSafeInteger(init.seq) || init.seq < 1) throw new InvalidOptionError('seq must be a positive integer')
  const issuedAt = init.issuedAt ?? Date.now()
  if (!Number.isSafeInteger(issuedAt) || issuedAt < 1) throw new InvalidOptionError('issuedAt must be ms since the Unix epoch')
  if (!Number.isSafeInteger(init.expiresAt) || init.expiresAt <= issuedAt) throw new InvalidOptionError('expiresAt must be ms since the Unix epoch, after issuedAt')
  const value = ContactRecord.encode({
    version: CONTACT_RECORD_VERSION,
    boxKey: init.boxKey as Uint8Array<ArrayBuffer>,
    gateways: gateways as Array<Uint8Array<ArrayBuffer>>,
    mailbox: init.mailbox as Uint8Array<ArrayBuffer>,
    issuedAt: BigInt(issuedAt)
  })
  const dhtKey = contactDhtKey(encodeKey(init.pseudonymKey.publicKey.raw))
  return await contactNamespace.sign({ privateKey: init.pseudonymKey, dhtKey, seq: init.seq, expiresAt: init.expiresAt, value })
}

/**
 * Decodes and checks a contact record fetched under `dhtKey`: encoded size
 * (≤ 1 KiB, before decoding), the signed envelope (`Namespace.verify`:
 * signature, expiry not past and at most 48 h + 5 min ahead, canonical
 * encoding, publisher = the pseudonym named by the DHT key), then the
 * canonical {@link ContactRecord}: version 1, box key 32 bytes, 1 to 3
 * distinct 32-byte gateway keys, mailbox 32 bytes, issuedAt set, not after
 * the expiry and at most 5 min ahead of `now`.
 * @param dhtKey - `/umbra-contact/<key_…>` bytes
 * @param now - ms since the Unix epoch
 * @throws UMBRA_ERR_INVALID_RECORD with the reason
 */
export async function verifyContactRecord (dhtKey: Uint8Array, bytes: Uint8Array, now = Date.now()): Promise<VerifiedContact> {
  const rec = await contactNamespace.verify(dhtKey, bytes, now)
  return { ...rec.decoded, seq: rec.seq, expiresAt: rec.expiresAt, bytes: rec.bytes }
}

/** The value checks of a contact record whose envelope verified (the namespace's `decodeValue`). */
function decodeContact (value: Uint8Array, rec: VerifiedRecord, now: number): ContactFields {
  let c: ContactRecord
  try {
    c = ContactRecord.decode(value, { limits: { gateways: MAX_GATEWAYS } })
  } catch (err) {
    throw new InvalidRecordError('Contact record value is not a valid ContactRecord', { cause: err })
  }
  if (!uint8ArrayEquals(ContactRecord.encode(c), value)) throw new InvalidRecordError('Contact record is not canonically encoded')
  if (c.version !== CONTACT_RECORD_VERSION) throw new InvalidRecordError(`Unsupported contact record version ${c.version}`)
  if (c.boxKey.byteLength !== BOX_KEY_BYTES) throw new InvalidRecordError(`Contact box key is not ${BOX_KEY_BYTES} bytes`)
  if (c.mailbox.byteLength !== MAILBOX_ID_BYTES) throw new InvalidRecordError(`Contact mailbox id is not ${MAILBOX_ID_BYTES} bytes`)
  if (c.gateways.length < MIN_GATEWAYS) throw new InvalidRecordError('Contact record names no gateway')
  if (!c.gateways.every((g) => g.byteLength === GATEWAY_KEY_BYTES)) throw new InvalidRecordError(`A contact gateway key is not ${GATEWAY_KEY_BYTES} bytes`)
  if (!distinct(c.gateways)) throw new InvalidRecordError('Contact record repeats a gateway')
  if (c.issuedAt < 1n || c.issuedAt > BigInt(rec.expiresAt)) throw new InvalidRecordError('Contact issuedAt is missing or after the expiry')
  const issuedAt = Number(c.issuedAt)
  if (issuedAt > now + MAX_CLOCK_SKEW_MS) throw new InvalidRecordError('Contact record is issued in the future')
  return {
    key: encodeKey(rec.publisher),
    publicKey: rec.publisher,
    boxKey: c.boxKey,
    gateways: c.gateways,
    gatewayPeerIds: c.gateways.map((g) => peerIdFromPublicKey(publicKeyFromRaw(g)).toString()),
    mailbox: c.mailbox,
    issuedAt
  }
}

/**
 * The kad-dht validator of the `umbra-contact` namespace (pass as
 * `validators: { 'umbra-contact': createContactValidator(…) }`). A record
 * must pass {@link verifyContactRecord}, so only the pseudonym named in the
 * DHT key can publish there. With `readLocal`, a record older than the
 * unexpired copy this node holds (lower seq, or the same seq with other
 * content) is refused too.
 * @param readLocal - returns the record value this node stores for a DHT key
 * @throws UMBRA_ERR_INVALID_RECORD
 */
export function createContactValidator (readLocal?: (dhtKey: Uint8Array) => Promise<Uint8Array | undefined>): (dhtKey: Uint8Array, value: Uint8Array) => Promise<void> {
  return contactNamespace.validator(readLocal)
}

/**
 * The kad-dht selector of the `umbra-contact` namespace: index of the record
 * with the highest sequence number, then the latest expiry. Records that do
 * not decode, or whose publisher is not the pseudonym named by the DHT key,
 * rank last (kad-dht has already run the validator on each).
 */
export function selectContactRecord (dhtKey: Uint8Array, records: Uint8Array[]): number {
  return contactNamespace.selector(dhtKey, records)
}
