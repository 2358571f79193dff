import { Libp2pRecord } from '@libp2p/record'
import { Key } from 'interface-datastore'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { withTimeout } from '../signals.ts'
import { AbortedError, InvalidOptionError } from '../errors.ts'
import { encodeKey } from '../identity/index.ts'
import { DEFAULT_QUORUM, DEFAULT_TTL_MS, K, DHT_QUERY_TIMEOUT_MS, EARLY_REPUBLISH_DELAYS_MS, MAX_TTL_MS, MAX_VALUE_BYTES, MIN_REPLICAS, MIN_TTL_MS, REPUBLISH_INTERVAL_MS, STARTUP_REPUBLISH_DELAY_MS } from './constants.ts'
import { InvalidTtlError, KeyOwnedError, ValueTooLargeError } from './errors.ts'
import { dataNamespace, dhtKeyFor, signRecord, verifyRecord, type VerifiedRecord } from './record.ts'
import type { DhtGetOptions, DhtGetResult, DhtPutOptions, DhtPutResult, DhtService } from './types.ts'
import type { Logger } from '../logger.ts'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Datastore } from 'interface-datastore'
import type { StateDatabase } from '../store/index.ts'
import { migrateDhtState } from './state.ts'
import { observed, type MetricsRecorder } from '../metrics/recorder.ts'

/** What the DHT service needs from the node. */
export interface DhtServiceComponents {
  kad: KadDHT
  /** The datastore given to libp2p; kad-dht keeps records under `/dht/record/`. */
  datastore: Datastore
  privateKey: PrivateKey
  log: Logger
  /**
   * The node's state database: the records this node owns and re-publishes
   * are kept in its `dht_owned` table (src/dht/state.ts) and reloaded at
   * creation, so a restarted node keeps re-publishing them (issue 11).
   * @default none: memory only
   */
  state?: StateDatabase
  /** Put and get latencies and outcomes are reported here (src/metrics). @default none */
  metrics?: MetricsRecorder
}

/** Options of {@link createDhtService}. */
export interface DhtServiceInit {
  /** How often owned records are re-published, ms. @default 3_600_000 (1 h) */
  republishInterval?: number
  /** Time limit of each network query, ms. @default 15_000 */
  queryTimeout?: number
  /** Valid remote copies after which a network get stops asking. @default 3 */
  quorum?: number
}

/** The DHT service with its lifecycle, as held by the node. */
export interface DhtServiceHandle extends DhtService {
  start(): void
  stop(): void
  /** Re-publishes every owned, unexpired record now; resolves to how many were sent. */
  republish(signal?: AbortSignal): Promise<number>
}

interface Owned {
  dhtKey: Uint8Array
  bytes: Uint8Array
  seq: number
  expiresAt: number
}

/** kad-dht's datastore key of a record (its `bufferToRecordKey` with prefix `/dht/record`). */
export function recordDatastoreKey (dhtKey: Uint8Array): Key {
  return new Key(`/dht/record/${uint8ArrayToString(dhtKey, 'base32')}`, false)
}

/**
 * Reads the record value this node stores for `dhtKey`, undefined if none.
 * @param datastore - libp2p's datastore
 */
export async function readLocalRecord (datastore: Datastore, dhtKey: Uint8Array): Promise<Uint8Array | undefined> {
  try {
    const raw = await datastore.get(recordDatastoreKey(dhtKey))
    return Libp2pRecord.deserialize(raw).value
  } catch {
    return undefined
  }
}

/** The unexpired owned records kept in `state` (expired ones are deleted), or an empty map without one. */
function loadOwned (state: StateDatabase | undefined): Map<string, Owned> {
  const owned = new Map<string, Owned>()
  if (state == null) return owned
  migrateDhtState(state)
  state.db.prepare('DELETE FROM dht_owned WHERE expires_at <= ?').run(Date.now())
  const rows = state.db.prepare('SELECT key, dht_key, record, seq, expires_at FROM dht_owned').all() as Array<{ key: string, dht_key: Uint8Array, record: Uint8Array, seq: number, expires_at: number }>
  for (const r of rows) owned.set(r.key, { dhtKey: r.dht_key, bytes: r.record, seq: r.seq, expiresAt: r.expires_at })
  return owned
}

/**
 * Creates the DHT storage service over a started kad-dht (seed 000's
 * storeData / retrieveData; IPNS and BEP 44 are the record models).
 * See {@link DhtService} for the calls and their errors.
 */
export function createDhtService (components: DhtServiceComponents, init: DhtServiceInit = {}): DhtServiceHandle {
  const { kad, datastore, privateKey, log } = components
  const republishInterval = init.republishInterval ?? REPUBLISH_INTERVAL_MS
  const queryTimeout = init.queryTimeout ?? DHT_QUERY_TIMEOUT_MS
  const quorum = init.quorum ?? DEFAULT_QUORUM
  const owned = loadOwned(components.state)
  const saveOwned = components.state?.db.prepare('INSERT INTO dht_owned (key, dht_key, record, seq, expires_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET dht_key = excluded.dht_key, record = excluded.record, seq = excluded.seq, expires_at = excluded.expires_at')
  const dropOwned = components.state?.db.prepare('DELETE FROM dht_owned WHERE key = ?')
  const me = privateKey.publicKey.raw
  let timer: ReturnType<typeof setInterval> | undefined
  /** Pending early re-publishes of under-replicated records, by key (MIN_REPLICAS). */
  const early = new Map<string, ReturnType<typeof setTimeout>>()
  let startupTimer: ReturnType<typeof setTimeout> | undefined

  /** Re-publishes `key` after the `attempt`-th early delay if the service runs and the record is still owned and live; again while it stays under MIN_REPLICAS. */
  function republishEarly (key: string, attempt: number): void {
    const delay = EARLY_REPUBLISH_DELAYS_MS[attempt]
    if (timer == null || delay == null) return
    clearTimeout(early.get(key))
    const t = setTimeout(() => {
      early.delete(key)
      const rec = owned.get(key)
      if (rec == null || rec.expiresAt <= Date.now()) return
      publish(rec.dhtKey, rec.bytes, withTimeout(undefined, queryTimeout)).then((storedOn) => {
        log.debug({ storedOn, attempt }, 'dht early re-publish')
        if (storedOn < MIN_REPLICAS) republishEarly(key, attempt + 1)
      }, () => { republishEarly(key, attempt + 1) })
    }, delay)
    t.unref()
    early.set(key, t)
  }

  function toResult (key: string, rec: VerifiedRecord, source: 'local' | 'network'): DhtGetResult {
    return { key, value: rec.value, publisher: encodeKey(rec.publisher), seq: rec.seq, expiresAt: rec.expiresAt, source }
  }

  async function localVerified (dhtKey: Uint8Array): Promise<VerifiedRecord | undefined> {
    const bytes = await readLocalRecord(datastore, dhtKey)
    if (bytes == null) return undefined
    try {
      return await verifyRecord(dhtKey, bytes)
    } catch {
      return undefined
    }
  }

  /** The best valid copy in the network (see `Namespace.query`: ends once `quorum` remote copies verified). */
  async function queryNetwork (dhtKey: Uint8Array, signal: AbortSignal, q: number): Promise<{ rec: VerifiedRecord, remote: boolean } | undefined> {
    return await dataNamespace.query(kad, dhtKey, { signal, quorum: q, me })
  }

  async function publish (dhtKey: Uint8Array, bytes: Uint8Array, signal: AbortSignal, peers?: PeerId[]): Promise<number> {
    try {
      return await dataNamespace.publish(kad, dhtKey, bytes, signal, peers)
    } catch (err) {
      if (err instanceof AbortedError) throw new AbortedError('DHT put aborted or timed out; the record is kept locally and re-published', { cause: err })
      throw err
    }
  }

  const service: DhtServiceHandle = {
    async put (key: string, value: Uint8Array, options: DhtPutOptions = {}): Promise<DhtPutResult> {
      const dhtKey = dhtKeyFor(key)
      if (!(value instanceof Uint8Array)) throw new ValueTooLargeError('A DHT value must be bytes (Uint8Array)')
      if (value.byteLength > MAX_VALUE_BYTES) {
        throw new ValueTooLargeError(`A DHT value is at most ${MAX_VALUE_BYTES} bytes, got ${value.byteLength}`)
      }
      const ttl = options.ttl ?? DEFAULT_TTL_MS
      if (!Number.isInteger(ttl) || ttl < MIN_TTL_MS || ttl > MAX_TTL_MS) {
        throw new InvalidTtlError(`ttl must be whole milliseconds from ${MIN_TTL_MS} to ${MAX_TTL_MS}, got ${String(ttl)}`)
      }
      const signal = withTimeout(options.signal, queryTimeout)
      // One lookup (issue 15): it finds the newest copy, which decides ownership and the next sequence number,
      // and the k closest nodes, which the record is then sent to without a second lookup.
      const { best: found, closest } = await dataNamespace.lookup(kad, dhtKey, { signal, me })
      if (found != null && !uint8ArrayEquals(found.rec.publisher, me)) {
        throw new KeyOwnedError(`Key "${key}" belongs to ${encodeKey(found.rec.publisher)} until ${new Date(found.rec.expiresAt).toISOString()}`)
      }
      const seq = Math.max(found?.rec.seq ?? 0, owned.get(key)?.seq ?? 0) + 1
      const expiresAt = Date.now() + ttl
      const bytes = await signRecord({ privateKey, dhtKey, seq, expiresAt, value })
      owned.set(key, { dhtKey, bytes, seq, expiresAt })
      saveOwned?.run(key, dhtKey, bytes, seq, expiresAt)
      // This node's own copy, where kad-dht's put keeps it (readLocalRecord).
      await datastore.put(recordDatastoreKey(dhtKey), new Libp2pRecord(dhtKey, bytes, new Date()).serialize())
      const storedOn = await publish(dhtKey, bytes, signal, closest)
      log.debug({ seq, storedOn }, 'dht put')
      if (storedOn < MIN_REPLICAS) republishEarly(key, 0)
      return { key, seq, expiresAt, storedOn }
    },

    async get (key: string, options: DhtGetOptions = {}): Promise<DhtGetResult | undefined> {
      const dhtKey = dhtKeyFor(key)
      const q = options.quorum ?? quorum
      if (!Number.isInteger(q) || q < 1 || q > K) throw new InvalidOptionError(`quorum must be a whole number from 1 to ${K}, got ${String(q)}`)
      if (options.fresh !== true) {
        const local = await localVerified(dhtKey)
        if (local != null) return toResult(key, local, 'local')
      }
      const found = await queryNetwork(dhtKey, withTimeout(options.signal, queryTimeout), q)
      return found == null ? undefined : toResult(key, found.rec, found.remote ? 'network' : 'local')
    },

    async republish (signal?: AbortSignal): Promise<number> {
      let sent = 0
      for (const [key, rec] of owned) {
        if (rec.expiresAt <= Date.now()) {
          owned.delete(key)
          dropOwned?.run(key)
          continue
        }
        try {
          await publish(rec.dhtKey, rec.bytes, withTimeout(signal, queryTimeout))
          sent++
        } catch (err) {
          log.warn({ err: (err as Error).message }, 'dht re-publish failed; will retry')
        }
      }
      return sent
    },

    start (): void {
      if (timer != null) return
      timer = setInterval(() => {
        service.republish().catch((err: Error) => log.warn({ err: err.message }, 'dht re-publish failed'))
      }, republishInterval)
      timer.unref()
      // Records owned before a restart (state database) go out once the routing table has filled, not one interval later.
      if (owned.size > 0) {
        startupTimer = setTimeout(() => {
          service.republish().catch((err: Error) => log.warn({ err: err.message }, 'dht re-publish after start failed'))
        }, STARTUP_REPUBLISH_DELAY_MS)
        startupTimer.unref()
      }
    },

    stop (): void {
      if (timer != null) clearInterval(timer)
      timer = undefined
      clearTimeout(startupTimer)
      startupTimer = undefined
      for (const t of early.values()) clearTimeout(t)
      early.clear()
    }
  }
  const { metrics } = components
  if (metrics != null) {
    // Every return and throw of put and get timed in one place.
    service.put = observed(service.put.bind(service), (_r, err, ms) => { metrics.dhtOperation('put', err === undefined ? 'ok' : 'error', ms) })
    service.get = observed(service.get.bind(service), (r, err, ms) => { metrics.dhtOperation('get', err !== undefined ? 'error' : r === undefined ? 'not-found' : 'ok', ms) })
  }
  return service
}

