/**
 * The anonymous variant of service discovery (issue 9 item 4): a bounded set
 * of pseudonym entries per namespace, in one DHT record under
 * `/umbra-disc/<base32 sha256(domain ‖ namespace ‖ "\0anon")>`.
 *
 * Provider records always name the provider's PeerId, so they cannot carry a
 * pseudonym. Kademlia cannot list the keys under a prefix either, so the
 * pseudonyms of one namespace live together in ONE record: a
 * {@link DiscoverySet} of at most 32 entries, each signed by its own
 * pseudonym over (domain, topic, key, expiry) — a storing node or a reader
 * checks every entry on its own, whoever wrote the envelope. The set is
 * merged by its writers (read every copy, union, add one's own entry, put)
 * and the storing nodes enforce the merge: a new copy must keep every
 * unexpired entry of the copy they hold, except the writer's own entry (that
 * is how an `unadvertise` removes it) and except when the set is full. The
 * envelope is the common signed `UmbraRecord` of src/dht/namespace.ts,
 * signed by the writing pseudonym; its first-come validator is replaced by
 * the merge rule above (the namespace's `validator` and `selector`).
 * docs/discovery.md has the layout and what each party learns.
 */
import { createHash } from 'node:crypto'
import sodium from 'sodium-native'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { InvalidRecordError } from '../dht/errors.ts'
import { defineNamespace, type Namespace, type VerifiedRecord } from '../dht/namespace.ts'
import { encodeKey } from '../identity/index.ts'
import {
  ANON_TOPIC_SUFFIX, DISCOVERY_NAMESPACE, DISCOVERY_SET_VERSION, ENTRY_SIGNATURE_DOMAIN, ENTRY_TTL_MS, MAX_CLOCK_SKEW_MS,
  MAX_NAMESPACE_BYTES, MAX_SET_ENTRIES, MAX_SET_RECORD_BYTES, TOPIC_DOMAIN
} from './constants.ts'
import { InvalidNamespaceError } from './errors.ts'
import { DiscoveryEntry, DiscoveryEntrySignable, DiscoverySet } from './pb/discovery.ts'
import { UmbraRecord } from '../dht/pb/record.ts'
import type { PrivateKey } from '@libp2p/interface'

const encoder = new TextEncoder()

/** One verified pseudonym entry of a set. */
export interface AnonEntry {
  /** The pseudonym, `key_…`. */
  key: string
  /** Raw Ed25519 public key, 32 bytes. */
  publicKey: Uint8Array
  /** ms since the Unix epoch. */
  expiresAt: number
  /** The encoded, signed {@link DiscoveryEntry}. */
  bytes: Uint8Array
}

/** The decoded value of a set record: its entries, each verified. */
export interface AnonSet {
  /** Topic hash, 32 bytes. */
  topic: Uint8Array
  entries: AnonEntry[]
}

/**
 * Checks a namespace string (1 to 256 bytes of UTF-8, no control characters).
 * @throws UMBRA_ERR_INVALID_NAMESPACE
 */
export function checkNamespace (namespace: unknown): string {
  if (typeof namespace !== 'string' || namespace.length === 0) throw new InvalidNamespaceError('A discovery namespace must be a non-empty string')
  if (encoder.encode(namespace).byteLength > MAX_NAMESPACE_BYTES) throw new InvalidNamespaceError(`A discovery namespace is at most ${MAX_NAMESPACE_BYTES} bytes of UTF-8`)
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(namespace)) throw new InvalidNamespaceError('A discovery namespace must not contain control characters')
  return namespace
}

/**
 * The 32-byte topic of a namespace: sha256(TOPIC_DOMAIN ‖ namespace [‖ "\0anon"]).
 * @param anonymous - the anonymous variant's topic (a different key from the provider CID's)
 * @throws UMBRA_ERR_INVALID_NAMESPACE
 */
export function topicOf (namespace: string, anonymous: boolean): Uint8Array {
  checkNamespace(namespace)
  return new Uint8Array(createHash('sha256').update(TOPIC_DOMAIN + namespace + (anonymous ? ANON_TOPIC_SUFFIX : ''), 'utf8').digest())
}

/** The topic named by a DHT key suffix: 52 base32 characters (RFC 4648, lower case, no padding) of 32 bytes. @throws UMBRA_ERR_INVALID_RECORD */
function topicOfSuffix (suffix: string): Uint8Array {
  if (!/^[a-z2-7]{52}$/.test(suffix)) throw new InvalidRecordError('DHT key is not /umbra-disc/<52 base32 characters>')
  const topic = uint8ArrayFromString(suffix, 'base32')
  if (topic.byteLength !== 32 || uint8ArrayToString(topic, 'base32') !== suffix) throw new InvalidRecordError('DHT key topic is not canonical base32 of 32 bytes')
  return topic
}

function entrySignable (topic: Uint8Array, key: Uint8Array, expiresAt: number): Uint8Array {
  return DiscoveryEntrySignable.encode({ domain: ENTRY_SIGNATURE_DOMAIN, topic: topic as Uint8Array<ArrayBuffer>, key: key as Uint8Array<ArrayBuffer>, expiresAt: BigInt(expiresAt) })
}

/**
 * Verifies one encoded entry against a topic (canonical encoding, 32-byte
 * key, expiry not past and at most 2 h + 5 min ahead, Ed25519 signature by
 * the key itself, libsodium `crypto_sign_verify_detached`).
 * @throws UMBRA_ERR_INVALID_RECORD with the reason
 */
export function verifyEntry (topic: Uint8Array, bytes: Uint8Array, now = Date.now()): AnonEntry {
  let e: DiscoveryEntry
  try {
    e = DiscoveryEntry.decode(bytes)
  } catch (err) {
    throw new InvalidRecordError('Discovery entry is not a valid DiscoveryEntry', { cause: err })
  }
  if (!uint8ArrayEquals(DiscoveryEntry.encode(e), bytes)) throw new InvalidRecordError('Discovery entry is not canonically encoded')
  if (e.key.byteLength !== 32 || e.signature.byteLength !== 64) throw new InvalidRecordError('Discovery entry key or signature has the wrong length')
  const expiresAt = Number(e.expiresAt)
  if (expiresAt <= now) throw new InvalidRecordError('Discovery entry has expired')
  if (expiresAt > now + ENTRY_TTL_MS + MAX_CLOCK_SKEW_MS) throw new InvalidRecordError('Discovery entry expiry is too far ahead')
  if (!sodium.crypto_sign_verify_detached(Buffer.from(e.signature), Buffer.from(entrySignable(topic, e.key, expiresAt)), Buffer.from(e.key))) {
    throw new InvalidRecordError('Discovery entry signature does not verify')
  }
  return { key: encodeKey(e.key), publicKey: e.key, expiresAt, bytes }
}

/**
 * Signs a pseudonym's entry for a topic.
 * @param privateKey - the pseudonym's Ed25519 key
 * @param expiresAt - ms since the Unix epoch, at most 2 h ahead
 * @returns the encoded {@link DiscoveryEntry}
 */
export async function signEntry (privateKey: PrivateKey, topic: Uint8Array, expiresAt: number): Promise<Uint8Array> {
  const key = privateKey.publicKey.raw
  const signature = await privateKey.sign(entrySignable(topic, key, expiresAt))
  return DiscoveryEntry.encode({ key: key as Uint8Array<ArrayBuffer>, expiresAt: BigInt(expiresAt), signature: signature as Uint8Array<ArrayBuffer> })
}

/** Structural checks of a set value (the namespace's `decodeValue`): canonical, version 1, at most 32 entries. */
function decodeSetValue (value: Uint8Array): DiscoverySet {
  let s: DiscoverySet
  try {
    s = DiscoverySet.decode(value, { limits: { entries: MAX_SET_ENTRIES } })
  } catch (err) {
    throw new InvalidRecordError(`Discovery set is not a valid DiscoverySet of at most ${MAX_SET_ENTRIES} entries`, { cause: err })
  }
  if (!uint8ArrayEquals(DiscoverySet.encode(s), value)) throw new InvalidRecordError('Discovery set is not canonically encoded')
  if (s.version !== DISCOVERY_SET_VERSION) throw new InvalidRecordError(`Unsupported discovery set version ${s.version}`)
  return s
}

const base = defineNamespace<DiscoverySet>({
  name: DISCOVERY_NAMESPACE,
  maxRecordBytes: MAX_SET_RECORD_BYTES,
  maxValueBytes: MAX_SET_RECORD_BYTES,
  parseSuffix: (suffix) => {
    topicOfSuffix(suffix)
    return {} // any pseudonym may write the envelope; each entry is checked on its own (verifySet)
  },
  decodeValue: decodeSetValue
})

/**
 * The `umbra-disc` namespace: {@link defineNamespace}'s keys, signing and
 * verification, with the merge rule of the module comment as its validator
 * and "most unexpired entries, then highest seq" as its selector.
 */
export const discoveryNamespace: Namespace<DiscoverySet> = {
  ...base,
  validator (readLocal) {
    return async (dhtKey, value) => {
      const incoming = await verifySet(dhtKey, value)
      const localBytes = readLocal == null ? undefined : await readLocal(dhtKey)
      if (localBytes == null) return
      let held: Awaited<ReturnType<typeof verifySet>>
      try {
        held = await verifySet(dhtKey, localBytes)
      } catch {
        return // the held copy expired or is damaged
      }
      if (incoming.decoded.entries.length >= MAX_SET_ENTRIES) return // a full set may evict
      const writer = encodeKey(incoming.publisher)
      const kept = new Set(incoming.decoded.entries.map((e) => e.key))
      for (const e of held.decoded.entries) {
        if (e.key !== writer && !kept.has(e.key)) throw new InvalidRecordError(`Discovery set drops the unexpired entry of ${e.key}`)
      }
    }
  },
  selector (dhtKey, records) {
    let best = 0
    let bestScore = -1
    records.forEach((bytes, i) => {
      const score = scoreSync(dhtKey, bytes)
      if (score > bestScore) {
        best = i
        bestScore = score
      }
    })
    return best
  }
}

/** The DHT key of a namespace's anonymous set: bytes of `/umbra-disc/<base32 topic>`. @throws UMBRA_ERR_INVALID_NAMESPACE */
export function anonSetKey (namespace: string): Uint8Array {
  return base.key(uint8ArrayToString(topicOf(namespace, true), 'base32'))
}

/**
 * Verifies a set record fetched under `dhtKey`: the envelope (namespace
 * module), then the set: version, at most 32 distinct entries, each valid
 * for the key's topic.
 * @throws UMBRA_ERR_INVALID_RECORD with the reason
 */
export async function verifySet (dhtKey: Uint8Array, bytes: Uint8Array, now = Date.now()): Promise<VerifiedRecord & { decoded: AnonSet }> {
  const topic = topicOfSuffix(base.suffixOf(dhtKey))
  const rec = await base.verify(dhtKey, bytes, now)
  const entries = rec.decoded.entries.map((b) => verifyEntry(topic, b, now))
  if (new Set(entries.map((e) => e.key)).size !== entries.length) throw new InvalidRecordError('Discovery set repeats a pseudonym')
  return { ...rec, decoded: { topic, entries } }
}

/** Selector score: valid unexpired entries × 1e13 + seq (seq is ms since the epoch, < 1e13); -1 when it does not decode. */
function scoreSync (dhtKey: Uint8Array, bytes: Uint8Array): number {
  try {
    if (bytes.byteLength > MAX_SET_RECORD_BYTES) return -1
    const topic = topicOfSuffix(base.suffixOf(dhtKey))
    const rec = UmbraRecord.decode(bytes)
    const s = decodeSetValue(rec.value)
    const now = Date.now()
    const live = s.entries.filter((b) => {
      try {
        verifyEntry(topic, b, now)
        return true
      } catch {
        return false
      }
    }).length
    return live * 1e13 + Math.min(Number(rec.seq), 1e13 - 1)
  } catch {
    return -1
  }
}

/**
 * Signs a set record.
 * @param writer - the writing pseudonym's Ed25519 key (signs the envelope)
 * @param entries - encoded entries, at most 32, distinct keys
 * @param seq - higher than any set this writer signed before (ms since the epoch is used)
 */
export async function signSet (writer: PrivateKey, dhtKey: Uint8Array, entries: Uint8Array[], seq: number, expiresAt: number): Promise<Uint8Array> {
  const value = DiscoverySet.encode({ version: DISCOVERY_SET_VERSION, entries: entries as Array<Uint8Array<ArrayBuffer>> })
  return await base.sign({ privateKey: writer, dhtKey, seq, expiresAt, value })
}
