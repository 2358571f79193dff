/**
 * Name records (seed 003's names, issue 9 item 3): the two DHT namespaces,
 * declared once each with `defineNamespace` (src/dht/namespace.ts), their
 * values, the proof of work of global names and the sealing of zone names.
 * docs/names.md has the layouts and what a storing node learns.
 *
 * - Global names, `/umbra-name/<label>`: first-come (the first publisher
 *   holds the label until its record expires), each claim carrying a
 *   hashcash proof of work bound to (label, owner key) whose difficulty grows
 *   as the label gets shorter (Back 2002, "Hashcash"; BLAKE2b from libsodium).
 * - Zone names `label.key_…`, `/umbra-zone/<base32(SHA-256(domain | zone | label))>`:
 *   the value is sealed (libsodium `crypto_secretbox`) under a key derived
 *   from (zone key, label) and carries the zone key's signature; the
 *   envelope is signed by a per-label storage key derived from the zone's
 *   private key, so a storing node sees neither zone nor label (a simpler
 *   stand-in for GNS's blinded zone keys, RFC 9498 section 6.1; see
 *   docs/names.md "Why not GNS key blinding").
 */
import { createHash } from 'node:crypto'
import { generateKeyPairFromSeed, publicKeyFromRaw } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import sodium from 'sodium-native'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { InvalidRecordError } from '../dht/errors.ts'
import { defineNamespace, type Namespace, type VerifiedRecord } from '../dht/namespace.ts'
import { decodeKey, encodeKey, KeyTypeUnsupportedError, parsePeer } from '../identity/index.ts'
import {
  GLOBAL_NAMESPACE, LABEL_PATTERN, MAX_CACHE_TTL_MS, MAX_NAME_RECORD_BYTES, MAX_NAME_RECORD_VALUE_BYTES, MAX_NAME_RECORDS,
  NAME_VALUE_VERSION, POW_DOMAIN, POW_NONCE_BYTES, powBits, TYPE_MULTIADDR, TYPE_PEER, TYPE_PSEUDONYM, TYPE_TEXT, ZONE_KEY_DOMAIN,
  ZONE_NAMESPACE, ZONE_SEAL_DOMAIN, ZONE_SIGNATURE_DOMAIN, ZONE_STORAGE_DOMAIN
} from './constants.ts'
import { InvalidNameError, InvalidNameRecordError } from './errors.ts'
import { GlobalNameValue, ZoneNameBody, ZoneNameSignable, ZoneNameSigned, ZoneNameValue, type NameEntry } from './pb/name.ts'
import type { PrivateKey } from '@libp2p/interface'

const encoder = new TextEncoder()

/** The type of one record a name points to. */
export type NameRecordType = 'peer' | 'pseudonym' | 'multiaddr' | 'text'

/**
 * One typed record: `peer` a PeerId (direct messages, hole punching; a
 * `key_…` is accepted and stored as its PeerId), `pseudonym` a `key_…`
 * (anonymous messages), `multiaddr`, `text` (at most 256 bytes).
 */
export interface NameRecord {
  type: NameRecordType
  value: string
}

/** A parsed name: a global label, or a label in the zone of a key. */
export type ParsedName = { kind: 'global', label: string } | { kind: 'zone', label: string, zone: Uint8Array, zoneKey: string }

const TYPES: Record<NameRecordType, number> = { peer: TYPE_PEER, pseudonym: TYPE_PSEUDONYM, multiaddr: TYPE_MULTIADDR, text: TYPE_TEXT }
const TYPE_NAMES = new Map<number, NameRecordType>(Object.entries(TYPES).map(([k, v]) => [v, k as NameRecordType]))

/**
 * Whether `text` is written as a name (a label, or `label.key_…`) rather
 * than a PeerId or key: labels are lowercase, PeerIds and keys are not.
 */
export function looksLikeName (text: string): boolean {
  if (typeof text !== 'string') return false
  const dot = text.indexOf('.')
  return LABEL_PATTERN.test(dot < 0 ? text : text.slice(0, dot))
}

/**
 * Parses `alice` (global) or `alice.key_…` (zone of that key).
 * @throws UMBRA_ERR_INVALID_NAME
 */
export function parseName (name: string): ParsedName {
  if (typeof name !== 'string') throw new InvalidNameError('A name is a string')
  const dot = name.indexOf('.')
  const label = dot < 0 ? name : name.slice(0, dot)
  if (!LABEL_PATTERN.test(label)) throw new InvalidNameError(`"${label.slice(0, 70)}" is not a label: lowercase a-z, 0-9 and '-', 1 to 63 chars, not starting with '-'`)
  if (dot < 0) return { kind: 'global', label }
  const zoneText = name.slice(dot + 1)
  let zone: Uint8Array
  try {
    zone = decodeKey(zoneText)
  } catch (err) {
    // A secp256k1 (wallet) key_ is well formed, but zones are Ed25519 keys (their storage keys are derived from the seed).
    if (err instanceof KeyTypeUnsupportedError) throw new KeyTypeUnsupportedError(`The zone of "${name.slice(0, 140)}" is a secp256k1 (wallet) key; zone keys are Ed25519 (a wallet node registers global names only)`, { cause: err })
    throw new InvalidNameError(`The zone of "${name.slice(0, 140)}" is not a key_…`, { cause: err })
  }
  const zoneKey = encodeKey(zone)
  if (zoneKey !== zoneText) throw new InvalidNameError('The zone of a name is written in canonical key_ form')
  return { kind: 'zone', label, zone, zoneKey }
}

/** The canonical text of a parsed name. */
export function formatName (name: ParsedName): string {
  return name.kind === 'global' ? name.label : `${name.label}.${name.zoneKey}`
}

/**
 * Checks and normalises typed records for a register call (user input).
 * @throws UMBRA_ERR_INVALID_NAME_RECORD
 */
export function normaliseRecords (records: NameRecord[]): NameRecord[] {
  if (!Array.isArray(records) || records.length < 1 || records.length > MAX_NAME_RECORDS) {
    throw new InvalidNameRecordError(`A name points to 1 to ${MAX_NAME_RECORDS} records`)
  }
  return records.map((r, i) => {
    const code = TYPES[r?.type]
    if (code == null || typeof r.value !== 'string') throw new InvalidNameRecordError(`records[${i}] needs a type (peer, pseudonym, multiaddr, text) and a string value`)
    try {
      return checkEntry(r.type, r.value)
    } catch (err) {
      throw new InvalidNameRecordError(`records[${i}]: ${(err as Error).message}`, { cause: err })
    }
  })
}

/** Checks one record and returns its canonical form. @throws Error with the reason */
function checkEntry (type: NameRecordType, value: string): NameRecord {
  const n = encoder.encode(value).byteLength
  if (n < 1 || n > MAX_NAME_RECORD_VALUE_BYTES) throw new Error(`a value is 1 to ${MAX_NAME_RECORD_VALUE_BYTES} bytes`)
  switch (type) {
    case 'peer':
      return { type, value: parsePeer(value).toString() }
    case 'pseudonym':
      if (!value.startsWith('key_')) throw new Error('a pseudonym is a key_…')
      return { type, value: encodeKey(decodeKey(value)) }
    case 'multiaddr':
      return { type, value: multiaddr(value).toString() }
    case 'text':
      return { type, value }
  }
}

function toEntries (records: NameRecord[]): NameEntry[] {
  return records.map((r) => ({ type: TYPES[r.type], value: r.value }))
}

/** Decodes wire entries; each must already be canonical. @throws Error */
function fromEntries (entries: NameEntry[]): NameRecord[] {
  if (entries.length < 1 || entries.length > MAX_NAME_RECORDS) throw new Error(`a name points to 1 to ${MAX_NAME_RECORDS} records`)
  return entries.map((e) => {
    const type = TYPE_NAMES.get(e.type)
    if (type == null) throw new Error(`unknown record type ${e.type}`)
    const r = checkEntry(type, e.value)
    if (r.value !== e.value) throw new Error(`a ${type} record is not in canonical form`)
    return r
  })
}

function cacheTtlOk (s: number): number {
  if (s * 1000 > MAX_CACHE_TTL_MS) throw new Error(`cache TTL above ${MAX_CACHE_TTL_MS / 1000} s`)
  return s * 1000
}

// ---------------------------------------------------------------- global names

/** The decoded value of a global name record. */
export interface GlobalNameFields {
  label: string
  powNonce: Uint8Array
  /** ms */
  cacheTtl: number
  records: NameRecord[]
}

function powHash (label: string, owner: Uint8Array, nonce: Uint8Array): Buffer {
  const out = Buffer.alloc(32)
  sodium.crypto_generichash(out, Buffer.concat([encoder.encode(POW_DOMAIN), Buffer.from([label.length]), encoder.encode(label), owner, nonce]))
  return out
}

function leadingZeroBits (h: Uint8Array): number {
  let bits = 0
  for (const byte of h) {
    if (byte === 0) {
      bits += 8
      continue
    }
    return bits + Math.clz32(byte) - 24
  }
  return bits
}

/**
 * Whether `nonce` is a proof of work for (label, owner): BLAKE2b-256 of
 * ("umbra/name-pow/v1" | len(label) | label | owner | nonce) starts with
 * {@link powBits}(label length) zero bits (hashcash, Back 2002).
 */
export function checkPow (label: string, owner: Uint8Array, nonce: Uint8Array, bits = powBits(label.length)): boolean {
  return nonce.byteLength === POW_NONCE_BYTES && leadingZeroBits(powHash(label, owner, nonce)) >= bits
}

/**
 * Mints a proof of work for (label, owner); yields to the event loop every
 * 4,096 hashes. Expected cost 2^bits BLAKE2b hashes (docs/names.md has the
 * measured times).
 * @param bits - @default powBits(label.length)
 * @throws UMBRA_ERR_ABORTED (the signal's reason) when `signal` ends it
 */
export async function mintPow (label: string, owner: Uint8Array, options: { bits?: number, signal?: AbortSignal } = {}): Promise<Uint8Array> {
  const bits = options.bits ?? powBits(label.length)
  const nonce = Buffer.alloc(POW_NONCE_BYTES)
  sodium.randombytes_buf(nonce)
  const prefix = Buffer.concat([encoder.encode(POW_DOMAIN), Buffer.from([label.length]), encoder.encode(label), owner])
  const input = Buffer.concat([prefix, nonce])
  const out = Buffer.alloc(32)
  for (let i = 0; ; i++) {
    input.writeUInt32LE(i >>> 0, prefix.byteLength)
    sodium.crypto_generichash(out, input)
    if (leadingZeroBits(out) >= bits) return new Uint8Array(input.subarray(prefix.byteLength))
    if ((i & 4095) === 4095) {
      await new Promise((resolve) => setImmediate(resolve))
      options.signal?.throwIfAborted()
    }
  }
}

/** The `umbra-name` namespace: first-come global names, each claim with its proof of work. */
export const globalNameNamespace: Namespace<GlobalNameFields> = defineNamespace<GlobalNameFields>({
  name: GLOBAL_NAMESPACE,
  maxRecordBytes: MAX_NAME_RECORD_BYTES,
  maxValueBytes: MAX_NAME_RECORD_BYTES,
  parseSuffix: (suffix) => {
    if (!LABEL_PATTERN.test(suffix)) throw new InvalidRecordError('A global name key is /umbra-name/<label>')
    return {}
  },
  decodeValue: (value: Uint8Array, rec: VerifiedRecord, _now: number, label: string): GlobalNameFields => {
    const v = GlobalNameValue.decode(value, { limits: { records: MAX_NAME_RECORDS } })
    if (!uint8ArrayEquals(GlobalNameValue.encode(v), value)) throw new Error('not canonically encoded')
    if (v.version !== NAME_VALUE_VERSION) throw new Error(`unsupported version ${v.version}`)
    if (!checkPow(label, rec.publisher, v.powNonce)) throw new Error(`insufficient proof of work: ${powBits(label.length)} leading zero bits needed for a ${label.length}-char label`)
    return { label, powNonce: v.powNonce, cacheTtl: cacheTtlOk(v.cacheTtlS), records: fromEntries(v.records) }
  }
})

/** The DHT key of a global name. @throws UMBRA_ERR_INVALID_RECORD */
export function globalNameKey (label: string): Uint8Array {
  return globalNameNamespace.key(label)
}

/**
 * Signs a global name record.
 * @param init.expiresAt - ms since the Unix epoch, at most 48 h ahead
 * @param init.cacheTtl - ms, at most 1 h
 * @returns the encoded record
 */
export async function signGlobalName (init: { privateKey: PrivateKey, label: string, powNonce: Uint8Array, records: NameRecord[], seq: number, expiresAt: number, cacheTtl: number }): Promise<Uint8Array> {
  const value = GlobalNameValue.encode({
    version: NAME_VALUE_VERSION,
    powNonce: init.powNonce as Uint8Array<ArrayBuffer>,
    cacheTtlS: Math.round(init.cacheTtl / 1000),
    records: toEntries(init.records)
  })
  return await globalNameNamespace.sign({ privateKey: init.privateKey, dhtKey: globalNameKey(init.label), seq: init.seq, expiresAt: init.expiresAt, value })
}

// ---------------------------------------------------------------- zone names

/** What a storing node checks of a zone name value: only its shape. */
export interface ZoneNameSealed {
  nonce: Uint8Array
  sealed: Uint8Array
}

/** The `umbra-zone` namespace: sealed zone names under a hash of (zone, label); first-come per storage key. */
export const zoneNameNamespace: Namespace<ZoneNameSealed> = defineNamespace<ZoneNameSealed>({
  name: ZONE_NAMESPACE,
  maxRecordBytes: MAX_NAME_RECORD_BYTES,
  maxValueBytes: MAX_NAME_RECORD_BYTES,
  parseSuffix: (suffix) => {
    if (!/^[a-z2-7]{52}$/.test(suffix)) throw new InvalidRecordError('A zone name key is /umbra-zone/<base32 of 32 bytes>')
    return {}
  },
  decodeValue: (value: Uint8Array): ZoneNameSealed => {
    const v = ZoneNameValue.decode(value)
    if (!uint8ArrayEquals(ZoneNameValue.encode(v), value)) throw new Error('not canonically encoded')
    if (v.version !== NAME_VALUE_VERSION) throw new Error(`unsupported version ${v.version}`)
    if (v.nonce.byteLength !== sodium.crypto_secretbox_NONCEBYTES) throw new Error('nonce is not 24 bytes')
    if (v.sealed.byteLength < sodium.crypto_secretbox_MACBYTES + 64) throw new Error('sealed value too short')
    return { nonce: v.nonce, sealed: v.sealed }
  }
})

function zoneInput (domain: string, zone: Uint8Array, label: string): Buffer {
  return Buffer.concat([encoder.encode(domain), zone, Buffer.from([label.length]), encoder.encode(label)])
}

/** The DHT key of `label.<zone>`: `/umbra-zone/<base32(SHA-256("umbra/zone-key/v1" | zone | len | label))>`. */
export function zoneNameKey (zone: Uint8Array, label: string): Uint8Array {
  const digest = createHash('sha256').update(zoneInput(ZONE_KEY_DOMAIN, zone, label)).digest()
  return zoneNameNamespace.key(uint8ArrayToString(digest, 'base32'))
}

/** The seal key of `label.<zone>`: BLAKE2b-256 of ("umbra/zone-seal/v1" | zone | len | label); anyone who knows the name can derive it. */
function zoneSealKey (zone: Uint8Array, label: string): Buffer {
  const key = sodium.sodium_malloc(sodium.crypto_secretbox_KEYBYTES)
  sodium.crypto_generichash(key, zoneInput(ZONE_SEAL_DOMAIN, zone, label))
  return key
}

/**
 * The per-label storage key that signs the envelope of `label.<zone>`:
 * Ed25519 from the seed BLAKE2b-256 keyed by the zone's private seed over
 * ("umbra/zone-storage-key/v1" | len | label). Only the zone owner can
 * derive it; it is the same at every renewal, so storing nodes let the
 * owner update its record and refuse others (first-come).
 */
export async function zoneStorageKey (zonePrivateKey: PrivateKey, label: string): Promise<PrivateKey> {
  const seed = sodium.sodium_malloc(32)
  const secret = Buffer.from(zonePrivateKey.raw.subarray(0, 32))
  try {
    sodium.crypto_generichash(seed, Buffer.concat([encoder.encode(ZONE_STORAGE_DOMAIN), Buffer.from([label.length]), encoder.encode(label)]), secret)
    return await generateKeyPairFromSeed('Ed25519', new Uint8Array(seed))
  } finally {
    sodium.sodium_memzero(seed)
    secret.fill(0)
  }
}

/** A zone name's content after the seal is opened and the zone signature checked. */
export interface ZoneNameFields {
  seq: number
  expiresAt: number
  /** ms */
  cacheTtl: number
  records: NameRecord[]
}

/**
 * Signs a zone name record: the body signed by the zone key, sealed under
 * the (zone, label) key, in an envelope signed by the per-label storage key.
 * @returns the encoded record
 */
export async function signZoneName (init: { zonePrivateKey: PrivateKey, label: string, records: NameRecord[], seq: number, expiresAt: number, cacheTtl: number }): Promise<Uint8Array> {
  const zone = init.zonePrivateKey.publicKey.raw
  const dhtKey = zoneNameKey(zone, init.label)
  const body = ZoneNameBody.encode({
    version: NAME_VALUE_VERSION,
    seq: BigInt(init.seq),
    expiresAt: BigInt(init.expiresAt),
    cacheTtlS: Math.round(init.cacheTtl / 1000),
    records: toEntries(init.records)
  })
  const signature = await init.zonePrivateKey.sign(ZoneNameSignable.encode({ domain: ZONE_SIGNATURE_DOMAIN, key: dhtKey as Uint8Array<ArrayBuffer>, body }))
  const plain = Buffer.from(ZoneNameSigned.encode({ body, signature: signature as Uint8Array<ArrayBuffer> }))
  const nonce = Buffer.alloc(sodium.crypto_secretbox_NONCEBYTES)
  sodium.randombytes_buf(nonce)
  const sealed = Buffer.alloc(plain.byteLength + sodium.crypto_secretbox_MACBYTES)
  const key = zoneSealKey(zone, init.label)
  try {
    sodium.crypto_secretbox_easy(sealed, plain, nonce, key)
  } finally {
    sodium.sodium_memzero(key)
  }
  const value = ZoneNameValue.encode({ version: NAME_VALUE_VERSION, nonce: new Uint8Array(nonce), sealed: new Uint8Array(sealed) })
  const storage = await zoneStorageKey(init.zonePrivateKey, init.label)
  return await zoneNameNamespace.sign({ privateKey: storage, dhtKey, seq: init.seq, expiresAt: init.expiresAt, value })
}

/**
 * Opens a zone name record that passed the namespace's verification: the
 * seal, the zone key's signature over (DHT key, body), and the body's seq
 * and expiry equal to the envelope's (so an old body cannot be re-wrapped).
 * @throws UMBRA_ERR_INVALID_RECORD with the reason
 */
export async function openZoneName (zone: Uint8Array, label: string, rec: { seq: number, expiresAt: number, decoded: ZoneNameSealed }): Promise<ZoneNameFields> {
  const dhtKey = zoneNameKey(zone, label)
  const plain = Buffer.alloc(rec.decoded.sealed.byteLength - sodium.crypto_secretbox_MACBYTES)
  const key = zoneSealKey(zone, label)
  let ok: boolean
  try {
    ok = sodium.crypto_secretbox_open_easy(plain, Buffer.from(rec.decoded.sealed), Buffer.from(rec.decoded.nonce), key)
  } finally {
    sodium.sodium_memzero(key)
  }
  if (!ok) throw new InvalidRecordError('Zone name record does not open with the key of this name')
  try {
    const signed = ZoneNameSigned.decode(plain)
    const verified = signed.signature.byteLength === 64 &&
      await publicKeyFromRaw(zone).verify(ZoneNameSignable.encode({ domain: ZONE_SIGNATURE_DOMAIN, key: dhtKey as Uint8Array<ArrayBuffer>, body: signed.body }), signed.signature)
    if (!verified) throw new Error('the zone key\'s signature does not verify')
    const body = ZoneNameBody.decode(signed.body, { limits: { records: MAX_NAME_RECORDS } })
    if (body.version !== NAME_VALUE_VERSION) throw new Error(`unsupported version ${body.version}`)
    if (Number(body.seq) !== rec.seq || Number(body.expiresAt) !== rec.expiresAt) throw new Error('the signed seq or expiry differs from the envelope\'s')
    return { seq: rec.seq, expiresAt: rec.expiresAt, cacheTtl: cacheTtlOk(body.cacheTtlS), records: fromEntries(body.records) }
  } catch (err) {
    throw new InvalidRecordError(`Zone name record refused: ${(err as Error).message}`, { cause: err })
  }
}
