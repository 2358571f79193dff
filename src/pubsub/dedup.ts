/**
 * De-duplication of pub/sub messages (issue 13, item 4; seed 004's
 * `MessageDeduplicator`): a bounded cache of message ids seen within a TTL.
 *
 * The key is the message id carried inside the signed envelope
 * (src/pubsub/envelope.ts), never a hash of re-serialised JSON: a message
 * that crossed the bridge between GossipSub and the central server keeps its
 * id byte for byte, so it is recognised however many times it comes back.
 * Used by the hybrid manager (src/pubsub/hybrid.ts) before delivering a
 * message to the application and by the central server before relaying.
 *
 * @example
 * ```ts
 * const dedup = createDeduplicator({ ttlMs: 120_000, max: 10_000 })
 * if (dedup.firstSeen(envelope.id)) deliver(envelope)
 * ```
 */
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { InvalidOptionError } from '../errors.ts'

/** How long a message id is remembered, ms: twice GossipSub's 5-minute message cache window would be too long for the central server; 2 min covers a failover replay window with room (issue 13, item 4). */
export const DEFAULT_DEDUP_TTL_MS = 2 * 60_000
/** Most message ids remembered at once; the oldest is forgotten first (bounded memory: 10,000 × ~100 bytes ≈ 1 MB). */
export const DEFAULT_DEDUP_MAX = 10_000

/** Options of {@link createDeduplicator}. */
export interface DeduplicatorInit {
  /** How long an id is remembered after it was first seen, ms. @default DEFAULT_DEDUP_TTL_MS (120,000) */
  ttlMs?: number
  /** Most ids held; beyond, the oldest are dropped. @default DEFAULT_DEDUP_MAX (10,000) */
  max?: number
  /** Clock, ms since the Unix epoch (tests). @default Date.now */
  now?: () => number
}

/** A bounded TTL set of message ids. */
export interface Deduplicator {
  /**
   * Records `id` and tells whether it is new: true the first time within the
   * TTL, false for a duplicate. A string id is used as is; bytes as hex.
   */
  firstSeen(id: Uint8Array | string): boolean
  /** Whether `id` was seen within the TTL, without recording it. */
  has(id: Uint8Array | string): boolean
  /** Ids held now (expired ones are dropped first). */
  size(): number
  /** How many duplicates {@link firstSeen} refused since creation. */
  readonly duplicates: number
  /** Forgets every id. */
  clear(): void
}

function keyOf (id: Uint8Array | string): string {
  return typeof id === 'string' ? id : uint8ArrayToString(id, 'base16')
}

/**
 * Creates a {@link Deduplicator}. Insertion order is expiry order (one TTL
 * for every id), so expiry and eviction pop from the front of a Map: O(1)
 * amortised per call.
 * @throws UMBRA_ERR_INVALID_OPTION when `ttlMs` or `max` is not a positive integer
 */
export function createDeduplicator (init: DeduplicatorInit = {}): Deduplicator {
  const ttlMs = init.ttlMs ?? DEFAULT_DEDUP_TTL_MS
  const max = init.max ?? DEFAULT_DEDUP_MAX
  const now = init.now ?? Date.now
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1) throw new InvalidOptionError(`dedup ttlMs must be a positive integer (ms), got ${String(ttlMs)}`)
  if (!Number.isSafeInteger(max) || max < 1) throw new InvalidOptionError(`dedup max must be a positive integer, got ${String(max)}`)
  /** id → when it expires, ms; in insertion (= expiry) order. */
  const seen = new Map<string, number>()
  let duplicates = 0

  function expire (t: number): void {
    for (const [k, until] of seen) {
      if (until > t) break
      seen.delete(k)
    }
  }

  return {
    firstSeen (id) {
      const t = now()
      expire(t)
      const k = keyOf(id)
      if (seen.has(k)) { duplicates++; return false }
      seen.set(k, t + ttlMs)
      while (seen.size > max) {
        const oldest = seen.keys().next().value as string
        seen.delete(oldest)
      }
      return true
    },
    has (id) {
      expire(now())
      return seen.has(keyOf(id))
    },
    size () {
      expire(now())
      return seen.size
    },
    get duplicates () { return duplicates },
    clear () { seen.clear() }
  }
}
