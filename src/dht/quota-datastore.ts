import { Libp2pRecord } from '@libp2p/record'
import { MemoryDatastore } from 'datastore-core'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { QuotaExceededError, type QuotaCounters } from '../quota.ts'
import { DHT_SWEEP_INTERVAL_MS, MAX_PROVIDER_RECORDS_PER_PEER, MAX_PROVIDER_RECORDS_TOTAL, MAX_RECORD_BYTES_PER_OWNER, MAX_RECORDS_PER_OWNER, MAX_STORED_RECORD_BYTES } from './constants.ts'
import { UmbraRecord } from './pb/record.ts'
import { migrateDhtState } from './state.ts'
import type { StateDatabase } from '../store/index.ts'
import type { AbortOptions } from '@libp2p/interface'
import { Key } from 'interface-datastore'

/** kad-dht's datastore prefixes (`datastorePrefix` '/dht' + '/record', '/provider'). */
const RECORD_PREFIX = '/dht/record/'
const PROVIDER_PREFIX = '/dht/provider/'
/** How often at most a full sweep of expired records runs when the node-wide cap is reached, ms. */
const SWEEP_INTERVAL_MS = 10_000

/** Options of {@link QuotaDatastore}; defaults from src/dht/constants.ts (docs/quotas.md). */
export interface QuotaDatastoreInit {
  /** Refusals are counted here. */
  quotas: QuotaCounters
  /** Records one owner key may have stored at this node. @default MAX_RECORDS_PER_OWNER (256) */
  maxRecordsPerOwner?: number
  /** Bytes of records one owner key may have stored at this node. @default MAX_RECORD_BYTES_PER_OWNER (4 MiB) */
  maxBytesPerOwner?: number
  /** Bytes of records this node stores in all. @default MAX_STORED_RECORD_BYTES (256 MiB) */
  maxTotalBytes?: number
  /** Provider records one PeerId may have stored here. @default MAX_PROVIDER_RECORDS_PER_PEER (64) */
  maxProvidersPerPeer?: number
  /** Provider records stored here in all. @default MAX_PROVIDER_RECORDS_TOTAL (65 536) */
  maxProvidersTotal?: number
  /**
   * The node's state database: records and provider records are written
   * through to its `dht_store` table and loaded back (with their quota
   * accounting) when the datastore is created, so they survive a restart
   * (issue 11). @default none: memory only
   */
  state?: StateDatabase
  /** How often records past their own expiry are deleted, ms; 0 turns the timer off. @default DHT_SWEEP_INTERVAL_MS (60 000) */
  sweepInterval?: number
}

/** Prepared statements on `dht_store`. */
interface StoreRows {
  upsert: (key: string, value: Uint8Array, expiresAt: number) => void
  remove: (key: string) => void
}

interface Entry { owner: string, bytes: number, expiresAt: number }

/**
 * The node's in-memory datastore with per-publisher quotas on what kad-dht
 * stores for other peers (issue 10, item 3). kad-dht's PUT_VALUE handler
 * validates a record and then `put`s it here under `/dht/record/…`; the
 * handler does not tell the datastore which peer sent it, but every Umbra
 * record is signed by its owner key (src/dht/record.ts), so records are
 * accounted per owner key: at most `maxRecordsPerOwner` records and
 * `maxBytesPerOwner` bytes per owner, and `maxTotalBytes` in all so that one
 * peer with many keys is still bounded. Provider records (`/dht/provider/<cid>/<PeerId>`;
 * kad-dht only accepts the sender as provider) are capped per PeerId and in all.
 * Records past their own expiry no longer count (and are deleted) when a
 * quota is reached. A refused put throws {@link QuotaExceededError}
 * (`UMBRA_ERR_QUOTA_DHT_RECORDS`, `…_DHT_BYTES`, `…_DHT_TOTAL_BYTES`,
 * `…_PROVIDER_RECORDS`): kad-dht then fails the PUT_VALUE / ADD_PROVIDER
 * request, so the sender sees its put fail at this node. Every other key
 * (peer store, …) passes through unaccounted.
 *
 * With a state database (issue 11) records and provider records are also
 * written through to its `dht_store` table (src/dht/state.ts), one upsert
 * per put, and reloaded when the datastore is created: a restarted node,
 * even after a SIGKILL, still serves what it stored. Reads stay in memory.
 * Records past their own expiry are swept every `sweepInterval`. Other keys
 * (peer store) stay in memory only.
 */
export class QuotaDatastore extends MemoryDatastore {
  readonly #quotas: QuotaCounters
  readonly #maxRecords: number
  readonly #maxOwnerBytes: number
  readonly #maxTotal: number
  readonly #maxProvPeer: number
  readonly #maxProvTotal: number
  readonly #entries = new Map<string, Entry>()
  readonly #owners = new Map<string, { records: Set<string>, bytes: number }>()
  #total = 0
  #lastSweep = 0
  readonly #providers = new Map<string, string>()
  readonly #providerCounts = new Map<string, number>()
  readonly #rows?: StoreRows
  #sweepTimer?: ReturnType<typeof setInterval>

  constructor (init: QuotaDatastoreInit) {
    super()
    this.#quotas = init.quotas
    this.#maxRecords = init.maxRecordsPerOwner ?? MAX_RECORDS_PER_OWNER
    this.#maxOwnerBytes = init.maxBytesPerOwner ?? MAX_RECORD_BYTES_PER_OWNER
    this.#maxTotal = init.maxTotalBytes ?? MAX_STORED_RECORD_BYTES
    this.#maxProvPeer = init.maxProvidersPerPeer ?? MAX_PROVIDER_RECORDS_PER_PEER
    this.#maxProvTotal = init.maxProvidersTotal ?? MAX_PROVIDER_RECORDS_TOTAL
    if (init.state != null) this.#rows = this.#open(init.state)
    const every = init.sweepInterval ?? DHT_SWEEP_INTERVAL_MS
    if (every > 0) {
      this.#sweepTimer = setInterval(() => { this.sweepExpired() }, every)
      this.#sweepTimer.unref()
    }
  }

  /** Prepares `dht_store`'s statements and loads its unexpired rows, with their quota accounting. */
  #open (state: StateDatabase): StoreRows {
    migrateDhtState(state)
    const { db } = state
    const upsert = db.prepare('INSERT INTO dht_store (key, value, expires_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at')
    const remove = db.prepare('DELETE FROM dht_store WHERE key = ?')
    db.prepare('DELETE FROM dht_store WHERE expires_at <= ?').run(Date.now())
    for (const row of db.prepare('SELECT key, value FROM dht_store').iterate() as Iterable<{ key: string, value: Uint8Array }>) {
      try {
        this.#admit(row.key, row.value)
        super.put(new Key(row.key, false), row.value)
      } catch {
        remove.run(row.key) // over a quota lowered since: dropped, as a new put would be
      }
    }
    return {
      upsert: (key, value, expiresAt) => { upsert.run(key, value, expiresAt) },
      remove: (key) => { remove.run(key) }
    }
  }

  /** DHT records stored now for others (provider records not included). */
  get storedRecordCount (): number {
    return this.#entries.size
  }

  /**
   * Deletes every record past its own expiry, from memory and from the
   * state database (runs every `sweepInterval`).
   * @returns how many were deleted
   */
  sweepExpired (now = Date.now()): number {
    const before = this.#entries.size
    this.#sweep([...this.#entries.keys()], now)
    return before - this.#entries.size
  }

  /** Stops the sweep timer (node stop). The state database is the node's to close. */
  stop (): void {
    clearInterval(this.#sweepTimer)
    this.#sweepTimer = undefined
  }

  /** Bytes of DHT records stored now (keys and libp2p record envelopes included). */
  get storedRecordBytes (): number {
    return this.#total
  }

  override put (key: Key, val: Uint8Array, options?: AbortOptions): Key | Promise<Key> {
    const k = key.toString()
    const expiresAt = this.#admit(k, val)
    const out = super.put(key, val, options)
    if (expiresAt != null) this.#rows?.upsert(k, val, expiresAt)
    return out
  }

  override delete (key: Key, options?: AbortOptions): void | Promise<void> {
    const k = key.toString()
    this.#forget(k)
    if (k.startsWith(RECORD_PREFIX) || k.startsWith(PROVIDER_PREFIX)) this.#rows?.remove(k)
    return super.delete(key, options)
  }

  /**
   * Admits a record or provider record within the quotas (throws when over);
   * other keys pass.
   * @returns the expiry to persist it with (ms; providers: never, kad-dht's reprovider deletes them), or undefined for a key that is not persisted
   */
  #admit (k: string, val: Uint8Array): number | undefined {
    if (k.startsWith(RECORD_PREFIX)) return this.#admitRecord(k, val)
    if (k.startsWith(PROVIDER_PREFIX)) {
      this.#admitProvider(k)
      return Number.MAX_SAFE_INTEGER
    }
    return undefined
  }

  /** @returns the record's expiry, ms since the Unix epoch */
  #admitRecord (k: string, val: Uint8Array): number {
    const now = Date.now()
    let owner = 'unknown'
    let expiresAt = Number.MAX_SAFE_INTEGER
    try {
      const rec = UmbraRecord.decode(Libp2pRecord.deserialize(val).value)
      owner = uint8ArrayToString(rec.publisher, 'base64')
      expiresAt = Number(rec.expiresAt)
    } catch {
      // Only validated records reach here (kad-dht validates first); anything else shares one owner.
    }
    const bytes = k.length + val.byteLength
    // What storing this record would make the owner and the node hold; a replaced record's bytes are given back.
    const after = (): { records: number, ownerBytes: number, total: number } => {
      const old = this.#entries.get(k)
      const o = this.#owners.get(owner)
      const sameOwner = old?.owner === owner
      return {
        records: (o?.records.size ?? 0) + (sameOwner ? 0 : 1),
        ownerBytes: (o?.bytes ?? 0) + bytes - (sameOwner ? old.bytes : 0),
        total: this.#total + bytes - (old?.bytes ?? 0)
      }
    }
    const overOwner = (a: ReturnType<typeof after>): boolean => a.records > this.#maxRecords || a.ownerBytes > this.#maxOwnerBytes
    if (overOwner(after())) this.#sweep([...(this.#owners.get(owner)?.records ?? [])], now)
    let a = after()
    if (a.records > this.#maxRecords) this.#refuse('dht-records')
    if (a.ownerBytes > this.#maxOwnerBytes) this.#refuse('dht-bytes')
    if (a.total > this.#maxTotal && now - this.#lastSweep > SWEEP_INTERVAL_MS) {
      this.#lastSweep = now
      this.#sweep([...this.#entries.keys()], now)
      a = after()
    }
    if (a.total > this.#maxTotal) this.#refuse('dht-total-bytes')
    this.#forget(k)
    let o = this.#owners.get(owner)
    if (o == null) {
      o = { records: new Set(), bytes: 0 }
      this.#owners.set(owner, o)
    }
    o.records.add(k)
    o.bytes += bytes
    this.#total += bytes
    this.#entries.set(k, { owner, bytes, expiresAt })
    return expiresAt
  }

  #refuse (kind: 'dht-records' | 'dht-bytes' | 'dht-total-bytes' | 'provider-records'): never {
    this.#quotas.refuse(kind)
    throw new QuotaExceededError(kind)
  }

  /** Deletes the records among `keys` past their own expiry. */
  #sweep (keys: string[], now: number): void {
    for (const k of keys) {
      const e = this.#entries.get(k)
      if (e != null && e.expiresAt <= now) {
        this.#forget(k)
        this.#rows?.remove(k)
        void Promise.resolve(super.delete(new Key(k, false))).catch(() => {})
      }
    }
  }

  #admitProvider (k: string): void {
    if (this.#providers.has(k)) return
    const peer = k.slice(k.lastIndexOf('/') + 1)
    const n = this.#providerCounts.get(peer) ?? 0
    if (n >= this.#maxProvPeer || this.#providers.size >= this.#maxProvTotal) this.#refuse('provider-records')
    this.#providers.set(k, peer)
    this.#providerCounts.set(peer, n + 1)
  }

  #forget (k: string): void {
    const e = this.#entries.get(k)
    if (e != null) {
      this.#entries.delete(k)
      this.#total -= e.bytes
      const o = this.#owners.get(e.owner)
      if (o != null) {
        o.records.delete(k)
        o.bytes -= e.bytes
        if (o.records.size === 0) this.#owners.delete(e.owner)
      }
      return
    }
    const peer = this.#providers.get(k)
    if (peer != null) {
      this.#providers.delete(k)
      const n = (this.#providerCounts.get(peer) ?? 1) - 1
      if (n <= 0) this.#providerCounts.delete(peer)
      else this.#providerCounts.set(peer, n)
    }
  }
}
