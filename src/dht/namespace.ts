/**
 * One place for DHT record namespaces (DESIGN.md section 4, issue 9 item 1).
 *
 * Every Umbra record lives under `/<namespace>/<suffix>` in the private
 * Kad-DHT and travels in the same signed envelope (`UmbraRecord`: publisher,
 * seq, expiry, value, Ed25519 signature over the DHT key and every field;
 * IPNS and BEP 44 are the models). A namespace is declared once with
 * {@link defineNamespace}: its name, size limits, how the owner key follows
 * from the DHT key (self-certifying namespaces) or not (first-come ones),
 * and the checks of its value. From that declaration it gets, from this
 * module only: its DHT keys, signing, verification, the kad-dht validator
 * and selector, a network query that returns the best valid copy, and a
 * publish that counts the storing nodes.
 *
 * @example
 * ```ts
 * const notes = defineNamespace({
 *   name: 'umbra-note', maxRecordBytes: 2048, maxValueBytes: 1024,
 *   parseSuffix: (s) => ({ owner: decodeKey(s) }),   // only key_… may publish under /umbra-note/key_…
 *   decodeValue: (v) => new TextDecoder().decode(v)
 * })
 * const bytes = await notes.sign({ privateKey, dhtKey: notes.key(encodeKey(pub)), seq: 1, expiresAt, value })
 * kadDHT({ validators: { [notes.name]: notes.validator(readLocal) }, selectors: { [notes.name]: notes.selector } })
 * ```
 */
import { createHash } from 'node:crypto'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { MessageType, Record as Libp2pRecord } from '@libp2p/kad-dht'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { encodeKey } from '../identity/index.ts'
import { AbortedError } from '../errors.ts'
import { K, MAX_CLOCK_SKEW_MS, MAX_TTL_MS, RECORD_SIGNATURE_DOMAIN, RECORD_VERSION } from './constants.ts'
import { InvalidRecordError, KeyOwnedError } from './errors.ts'
import { UmbraRecord, UmbraRecordSignable } from './pb/record.ts'
import type { KadDHT, QueryEvent } from '@libp2p/kad-dht'
import type { PeerId, PrivateKey } from '@libp2p/interface'

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** A record whose envelope passed verification (every namespace). */
export interface VerifiedRecord {
  /** Publisher's raw public key: Ed25519, 32 bytes, or compressed secp256k1 (a wallet identity), 33 bytes. */
  publisher: Uint8Array
  seq: number
  /** ms since the Unix epoch. */
  expiresAt: number
  value: Uint8Array
  signature: Uint8Array
  /** The encoded record, as stored and sent. */
  bytes: Uint8Array
}

/** A verified record with its namespace's decoded value. */
export type Verified<T> = VerifiedRecord & { decoded: T }

/** What a namespace declares; everything else comes from {@link defineNamespace}. */
export interface NamespaceSpec<T> {
  /** The first path segment of its DHT keys, e.g. `umbra-data`. */
  name: string
  /** Largest encoded record (envelope included), bytes; checked before decoding. */
  maxRecordBytes: number
  /** Largest value inside the envelope, bytes. */
  maxValueBytes: number
  /**
   * Checks the key suffix (after `/<name>/`). Returns the raw Ed25519 key
   * (32 bytes) that alone may publish under it, for self-certifying
   * namespaces; `{}` for first-come ones, where the first publisher holds
   * the key until its record expires.
   * @throws any error: the key is refused (wrapped as UMBRA_ERR_INVALID_RECORD)
   */
  parseSuffix(suffix: string): { owner?: Uint8Array }
  /**
   * Decodes and checks the value of an envelope that verified.
   * @param suffix - the DHT key after `/<name>/` (e.g. a label a proof of work is bound to)
   * @throws any error: the record is refused (wrapped as UMBRA_ERR_INVALID_RECORD)
   */
  decodeValue(value: Uint8Array, record: VerifiedRecord, now: number, suffix: string): T
}

/** A declared namespace. Every method that refuses a record throws UMBRA_ERR_INVALID_RECORD (or UMBRA_ERR_KEY_OWNED). */
export interface Namespace<T> {
  readonly name: string
  /** The DHT key of a suffix: the bytes of `/<name>/<suffix>`. @throws UMBRA_ERR_INVALID_RECORD */
  key(suffix: string): Uint8Array
  /** The suffix of one of its DHT keys. @throws UMBRA_ERR_INVALID_RECORD */
  suffixOf(dhtKey: Uint8Array): string
  /**
   * Signs a record (the envelope around `value`).
   * @param init.expiresAt - ms since the Unix epoch, at most 48 h ahead
   * @returns the encoded `UmbraRecord`
   */
  sign(init: { privateKey: PrivateKey, dhtKey: Uint8Array, seq: number, expiresAt: number, value: Uint8Array }): Promise<Uint8Array>
  /**
   * Verifies a record fetched under `dhtKey`: size before decoding,
   * canonical encoding, version, field lengths, expiry (not past, at most
   * 48 h + 5 min ahead), the signature, the owner rule of the key, then the
   * namespace's own value checks.
   * @param now - ms since the Unix epoch
   * @throws UMBRA_ERR_INVALID_RECORD with the reason
   */
  verify(dhtKey: Uint8Array, bytes: Uint8Array, now?: number): Promise<Verified<T>>
  /**
   * The kad-dht validator: {@link verify}, then, against the unexpired copy
   * this node holds (if `readLocal` is given): a record of another publisher
   * (first-come namespaces), a lower seq, or the same seq with other bytes is
   * refused.
   * @throws UMBRA_ERR_INVALID_RECORD, UMBRA_ERR_KEY_OWNED
   */
  validator(readLocal?: (dhtKey: Uint8Array) => Promise<Uint8Array | undefined>): (dhtKey: Uint8Array, value: Uint8Array) => Promise<void>
  /** The kad-dht selector: the valid record with the highest seq, then the latest expiry; invalid ones rank last. */
  selector(dhtKey: Uint8Array, records: Uint8Array[]): number
  /**
   * Queries the network (kad-dht get) for the best valid copy. Stops once
   * `quorum` copies from other nodes verified.
   * @param me - this node's raw Ed25519 key, to tell its own copy from remote ones
   * @returns the best copy and whether a remote node supplied it, or undefined
   * @throws UMBRA_ERR_ABORTED when `signal` ends the query before any copy was found
   */
  query(kad: KadDHT, dhtKey: Uint8Array, options: { signal: AbortSignal, quorum: number, me?: Uint8Array }): Promise<{ rec: Verified<T>, remote: boolean } | undefined>
  /**
   * One full Kademlia lookup of `dhtKey` (a kad-dht get that is never cut
   * short by a quorum): the best valid copy, as {@link query}, and the (at
   * most k) nodes closest to the key that answered, closest first. A put
   * gives them to {@link publish} so that it needs no second lookup
   * (issue 15 item 3).
   * @throws UMBRA_ERR_ABORTED when `signal` ends the lookup before it found a copy
   */
  lookup(kad: KadDHT, dhtKey: Uint8Array, options: { signal: AbortSignal, me?: Uint8Array }): Promise<{ best?: { rec: Verified<T>, remote: boolean }, closest: PeerId[] }>
  /**
   * Stores `bytes` on the closest nodes: with `peers` (from {@link lookup}),
   * a PUT_VALUE to each of them directly; without, a kad-dht put (a lookup
   * of its own, then the PUT_VALUEs). Either way kad-dht's datastore is not
   * written here: the caller keeps its own copy (`kad.put` does write it).
   * @returns how many nodes acknowledged the PUT_VALUE
   * @throws UMBRA_ERR_ABORTED when `signal` ends it
   */
  publish(kad: KadDHT, dhtKey: Uint8Array, bytes: Uint8Array, signal: AbortSignal, peers?: PeerId[]): Promise<number>
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

function refuse (what: string, err: unknown): never {
  if (err instanceof InvalidRecordError) throw err
  throw new InvalidRecordError(`${what}: ${(err as Error)?.message ?? String(err)}`, { cause: err })
}

/**
 * The part of kad-dht's `KadDHT` class that sends one request to one peer
 * (`network.sendRequest`, dist/src/network.d.ts); public on the class,
 * absent from the `KadDHT` interface.
 */
interface KadNetwork {
  network?: {
    sendRequest(to: PeerId, msg: { type: MessageType, key: Uint8Array, record: Uint8Array }, options: { signal: AbortSignal, path: { index: number, queued: number, running: number, total: number } }): AsyncIterable<QueryEvent>
  }
}

/** kad-dht's distance metric: SHA-256 of the key, or of a PeerId's multihash (its `convertBuffer` / `convertPeerId`). */
function kadId (bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest()
}

/** The at most {@link K} of `peers` closest to `dhtKey` by XOR distance (Maymounkov & Mazières 2002 §2.1), closest first. */
function closestTo (dhtKey: Uint8Array, peers: Iterable<PeerId>): PeerId[] {
  const target = kadId(dhtKey)
  const scored = [...peers].map((peer) => {
    const id = kadId(peer.toMultihash().bytes)
    for (let i = 0; i < id.length; i++) id[i] = (id[i] as number) ^ (target[i] as number)
    return { peer, distance: id }
  })
  scored.sort((a, b) => Buffer.compare(a.distance, b.distance))
  return scored.slice(0, K).map((s) => s.peer)
}

function isAbort (err: unknown, signal: AbortSignal): boolean {
  return signal.aborted || (err as Error)?.name === 'AbortError' || (err as Error)?.name === 'TimeoutError'
}

/**
 * Declares a DHT record namespace; see the module comment.
 * @throws UMBRA_ERR_INVALID_RECORD from the returned methods only
 */
export function defineNamespace<T> (spec: NamespaceSpec<T>): Namespace<T> {
  const prefix = `/${spec.name}/`

  function suffixOf (dhtKey: Uint8Array): string {
    let text: string
    try {
      text = decoder.decode(dhtKey)
    } catch (err) {
      throw new InvalidRecordError('DHT key is not UTF-8', { cause: err })
    }
    if (!text.startsWith(prefix) || text.length === prefix.length) throw new InvalidRecordError(`DHT key is not in the ${spec.name} namespace`)
    return text.slice(prefix.length)
  }

  function ownerOf (dhtKey: Uint8Array): Uint8Array | undefined {
    const suffix = suffixOf(dhtKey)
    try {
      return spec.parseSuffix(suffix).owner
    } catch (err) {
      refuse(`DHT key of ${spec.name} refused`, err)
    }
  }

  async function verify (dhtKey: Uint8Array, bytes: Uint8Array, now = Date.now()): Promise<Verified<T>> {
    if (!(bytes instanceof Uint8Array) || bytes.byteLength > spec.maxRecordBytes) throw new InvalidRecordError(`A ${spec.name} record is at most ${spec.maxRecordBytes} bytes`)
    const owner = ownerOf(dhtKey)
    let rec: UmbraRecord
    try {
      rec = UmbraRecord.decode(bytes)
    } catch (err) {
      throw new InvalidRecordError('Record is not a valid UmbraRecord', { cause: err })
    }
    if (!uint8ArrayEquals(UmbraRecord.encode(rec), bytes)) throw new InvalidRecordError('Record is not canonically encoded')
    if (rec.version !== RECORD_VERSION) throw new InvalidRecordError(`Unsupported record version ${rec.version}`)
    // Ed25519: 32-byte key, 64-byte signature; secp256k1 (a wallet identity, issue 14 item 3): 33-byte key, DER signature of at most 72 bytes.
    const secp = rec.publisher.byteLength === 33
    if (rec.publisher.byteLength !== 32 && !secp) throw new InvalidRecordError('Record publisher key is not 32 (Ed25519) or 33 (secp256k1) bytes')
    if (secp ? rec.signature.byteLength < 8 || rec.signature.byteLength > 72 : rec.signature.byteLength !== 64) throw new InvalidRecordError('Record signature has the wrong length for its key type')
    if (rec.value.byteLength > spec.maxValueBytes) throw new InvalidRecordError(`Record value of ${rec.value.byteLength} bytes exceeds ${spec.maxValueBytes}`)
    if (rec.seq < 1n || rec.seq > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidRecordError('Record sequence number out of range')
    const expiresAt = Number(rec.expiresAt)
    if (expiresAt <= now) throw new InvalidRecordError('Record has expired')
    if (expiresAt > now + MAX_TTL_MS + MAX_CLOCK_SKEW_MS) throw new InvalidRecordError('Record expiry is beyond the 48 h maximum')
    if (owner != null && !uint8ArrayEquals(rec.publisher, owner)) {
      throw new InvalidRecordError(`Record under ${prefix}… is signed by ${encodeKey(rec.publisher)}, not by the key its DHT key names`)
    }
    const seq = Number(rec.seq)
    let ok: boolean
    try {
      ok = await publicKeyFromRaw(rec.publisher).verify(signable(dhtKey, rec.publisher, seq, expiresAt, rec.value), rec.signature)
    } catch (err) {
      throw new InvalidRecordError('Record publisher key is unusable', { cause: err })
    }
    if (!ok) throw new InvalidRecordError('Record signature does not verify')
    const verified: VerifiedRecord = { publisher: rec.publisher, seq, expiresAt, value: rec.value, signature: rec.signature, bytes }
    let decoded: T
    try {
      decoded = spec.decodeValue(rec.value, verified, now, suffixOf(dhtKey))
    } catch (err) {
      refuse(`${spec.name} record value refused`, err)
    }
    return { ...verified, decoded }
  }

  /** kad-dht get of `dhtKey`: the best valid copy; stops after `quorum` remote ones; every node that answered goes into `responders`. */
  async function run (kad: KadDHT, dhtKey: Uint8Array, options: { signal: AbortSignal, quorum: number, me?: Uint8Array }, responders?: Map<string, PeerId>): Promise<{ rec: Verified<T>, remote: boolean } | undefined> {
    let best: { rec: Verified<T>, remote: boolean } | undefined
    let remoteCopies = 0
    const me = options.me ?? new Uint8Array(0)
    const consider = async (bytes: Uint8Array, remote: boolean): Promise<void> => {
      try {
        const rec = await verify(dhtKey, bytes)
        if (remote) remoteCopies++
        if (best == null || rec.seq > best.rec.seq || (rec.seq === best.rec.seq && rec.expiresAt > best.rec.expiresAt)) best = { rec, remote }
      } catch {
        // invalid copies are ignored; kad-dht already discards most of them
      }
    }
    const enough = new AbortController()
    const signal = AbortSignal.any([options.signal, enough.signal])
    try {
      for await (const event of kad.get(dhtKey, { signal })) {
        if (event.name === 'PEER_RESPONSE') responders?.set(event.from.toString(), event.from)
        if (event.name === 'PEER_RESPONSE' && event.record != null) await consider(event.record.value, true)
        else if (event.name === 'VALUE') await consider(event.value, !uint8ArrayEquals(event.from.publicKey?.raw ?? new Uint8Array(), me))
        if (remoteCopies >= options.quorum) {
          enough.abort()
          break
        }
      }
    } catch (err) {
      if (enough.signal.aborted) return best
      if (isAbort(err, options.signal)) {
        if (best != null) return best
        throw new AbortedError('DHT query aborted or timed out', { cause: err })
      }
      if (best == null && (err as Error)?.name !== 'NotFoundError') throw err
    }
    return best
  }

  return {
    name: spec.name,

    key (suffix) {
      if (typeof suffix !== 'string' || suffix.length === 0) throw new InvalidRecordError(`A ${spec.name} key needs a non-empty suffix`)
      const dhtKey = encoder.encode(prefix + suffix)
      ownerOf(dhtKey)
      return dhtKey
    },

    suffixOf,

    async sign (init) {
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
    },

    verify,

    validator (readLocal) {
      return async (dhtKey, value) => {
        const incoming = await verify(dhtKey, value)
        const localBytes = readLocal == null ? undefined : await readLocal(dhtKey)
        if (localBytes == null) return
        let held: Verified<T>
        try {
          held = await verify(dhtKey, localBytes)
        } catch {
          return // the held copy expired or is damaged: anyone the key allows may write
        }
        if (!uint8ArrayEquals(held.publisher, incoming.publisher)) {
          throw new KeyOwnedError(`Key is held by ${encodeKey(held.publisher)} until ${new Date(held.expiresAt).toISOString()}`)
        }
        if (incoming.seq < held.seq) throw new InvalidRecordError(`Stale record: seq ${incoming.seq} < held ${held.seq}`)
        if (incoming.seq === held.seq && !uint8ArrayEquals(incoming.bytes, held.bytes)) {
          throw new InvalidRecordError(`Conflicting record with the same seq ${incoming.seq}`)
        }
      }
    },

    selector (dhtKey, records) {
      let owner: Uint8Array | undefined
      let ownerKnown = true
      try {
        owner = ownerOf(dhtKey)
      } catch {
        ownerKnown = false
      }
      let best = 0
      let bestSeq = -1n
      let bestExp = -1n
      records.forEach((bytes, i) => {
        try {
          if (!ownerKnown || bytes.byteLength > spec.maxRecordBytes) return
          const r = UmbraRecord.decode(bytes)
          if (owner != null && !uint8ArrayEquals(r.publisher, owner)) return
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
    },

    async query (kad, dhtKey, options) {
      return await run(kad, dhtKey, options)
    },

    async lookup (kad, dhtKey, options) {
      const responders = new Map<string, PeerId>()
      const best = await run(kad, dhtKey, { ...options, quorum: Infinity }, responders)
      return { best, closest: closestTo(dhtKey, responders.values()) }
    },

    async publish (kad, dhtKey, bytes, signal, peers) {
      let storedOn = 0
      try {
        const { network } = kad as KadNetwork
        if (peers == null || network == null) {
          for await (const event of kad.put(dhtKey, bytes, { signal })) {
            if (event.name === 'PEER_RESPONSE' && event.messageName === 'PUT_VALUE') storedOn++
          }
        } else {
          // The PUT_VALUE kad-dht's put sends (content-fetching put), to the nodes a lookup just found, all at once.
          const record = new Libp2pRecord(dhtKey, bytes, new Date()).serialize()
          const msg = { type: MessageType.PUT_VALUE, key: dhtKey, record }
          const sent = await Promise.allSettled(peers.map(async (peer, index) => {
            for await (const event of network.sendRequest(peer, msg, { signal, path: { index, queued: 0, running: 0, total: peers.length } })) {
              if (event.name === 'PEER_RESPONSE' && event.messageName === 'PUT_VALUE') storedOn++
            }
          }))
          const failed = sent.find((r) => r.status === 'rejected')
          if (storedOn === 0 && failed != null && signal.aborted) throw failed.reason
        }
      } catch (err) {
        if (isAbort(err, signal)) throw new AbortedError('DHT put aborted or timed out', { cause: err })
        throw err
      }
      return storedOn
    }
  }
}
