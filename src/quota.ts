/**
 * Per-peer quotas (issue 10, item 3): the small building blocks every place
 * where one peer can make a node spend memory, disk or CPU uses, and the
 * node-wide counters of refusals by kind (`node.quotas()`,
 * `GET /v1/quotas`). docs/quotas.md has the table of every quota, its
 * default, its reason and the code a refused peer sees.
 *
 * Both tables hold a bounded number of keys and evict the least recently used
 * one first, so the quota table itself cannot be exhausted by a peer that
 * makes up keys (a new PeerId costs nothing).
 *
 * @example
 * ```ts
 * const quotas = new QuotaCounters()
 * const perPeer = new RateLimiter({ ratePerSecond: 20, burst: 40 })
 * if (!perPeer.take(peerId)) quotas.refuse('direct-messages')
 * quotas.snapshot() // { refused: { 'direct-messages': 1, ... } }
 * ```
 */

import { UmbraError } from './errors.ts'

/** Every kind of quota a node enforces; the keys of `refused` in {@link QuotaSnapshot}. */
export const QUOTA_KINDS = [
  'mailbox-claims',
  'dht-records',
  'dht-bytes',
  'dht-total-bytes',
  'provider-records',
  'direct-messages',
  'event-streams'
] as const

/** One kind of quota. */
export type QuotaKind = typeof QUOTA_KINDS[number]

/**
 * The stable code a refused caller sees for each kind (FRAME_ERROR `reason`
 * on the gateway protocol, the error code of a failed DHT put, the message
 * ACK text, the HTTP 429 body). docs/quotas.md.
 */
export const QUOTA_CODES = {
  'mailbox-claims': 'UMBRA_ERR_QUOTA_MAILBOX_CLAIMS',
  'dht-records': 'UMBRA_ERR_QUOTA_DHT_RECORDS',
  'dht-bytes': 'UMBRA_ERR_QUOTA_DHT_BYTES',
  'dht-total-bytes': 'UMBRA_ERR_QUOTA_DHT_TOTAL_BYTES',
  'provider-records': 'UMBRA_ERR_QUOTA_PROVIDER_RECORDS',
  'direct-messages': 'UMBRA_ERR_QUOTA_DIRECT_MESSAGES',
  'event-streams': 'UMBRA_ERR_QUOTA_EVENT_STREAMS'
} as const satisfies Record<QuotaKind, string>

/** Keys a per-key table holds before it evicts the least recently used one (memory bound: about 100 bytes a key). */
export const DEFAULT_MAX_QUOTA_KEYS = 10_000

/** What {@link QuotaCounters.snapshot} returns: refusals since start, by kind. */
export interface QuotaSnapshot {
  refused: Record<QuotaKind, number>
}

/**
 * Thrown (or its code sent) when a quota refuses something; `code` is
 * {@link QUOTA_CODES}[kind]. The HTTP API answers 429 for every
 * `UMBRA_ERR_QUOTA_*` code.
 */
export class QuotaExceededError extends UmbraError {
  readonly kind: QuotaKind
  constructor (kind: QuotaKind, message?: string) {
    super(message ?? `Over the ${kind} quota (docs/quotas.md)`, QUOTA_CODES[kind])
    this.name = 'QuotaExceededError'
    this.kind = kind
  }
}

/** Node-wide counters of refusals by {@link QuotaKind}; one per node. */
export class QuotaCounters {
  readonly #refused = Object.fromEntries(QUOTA_KINDS.map((k) => [k, 0])) as Record<QuotaKind, number>

  /** Counts one refusal of `kind` (`n` at once). */
  refuse (kind: QuotaKind, n = 1): void {
    this.#refused[kind] += n
  }

  /** A copy of the counters. */
  snapshot (): QuotaSnapshot {
    return { refused: { ...this.#refused } }
  }
}

/** Options of {@link RateLimiter}. */
export interface RateLimiterInit {
  /** Tokens added per second per key. */
  ratePerSecond: number
  /** Bucket size: the most a key may spend at once after being idle. @default 2 × ratePerSecond */
  burst?: number
  /** Keys tracked before the least recently used is forgotten. @default DEFAULT_MAX_QUOTA_KEYS */
  maxKeys?: number
}

/**
 * Per-key token buckets (the classic leaky-bucket-as-meter, RFC 2697 style)
 * in an LRU map of at most `maxKeys` entries. A forgotten key starts again
 * with a full bucket: the bound caps memory, not a peer with more than
 * `maxKeys` identities (which a node-wide cap next to it must bound).
 */
export class RateLimiter {
  readonly #rate: number
  readonly #burst: number
  readonly #maxKeys: number
  readonly #buckets = new Map<string, { tokens: number, at: number }>()

  constructor (init: RateLimiterInit) {
    if (!(init.ratePerSecond > 0)) throw new RangeError('RateLimiter: ratePerSecond must be > 0')
    this.#rate = init.ratePerSecond
    this.#burst = init.burst ?? 2 * init.ratePerSecond
    this.#maxKeys = init.maxKeys ?? DEFAULT_MAX_QUOTA_KEYS
  }

  /**
   * Spends `cost` tokens of `key`'s bucket if it has them.
   * @param now - ms, for tests
   * @returns false when the key is over its rate (nothing is spent)
   */
  take (key: string, cost = 1, now = Date.now()): boolean {
    let b = this.#buckets.get(key)
    if (b == null) {
      b = { tokens: this.#burst, at: now }
    } else {
      this.#buckets.delete(key)
      b.tokens = Math.min(this.#burst, b.tokens + (now - b.at) * this.#rate / 1000)
      b.at = now
    }
    this.#buckets.set(key, b)
    if (this.#buckets.size > this.#maxKeys) this.#buckets.delete(this.#buckets.keys().next().value as string)
    if (b.tokens < cost) return false
    b.tokens -= cost
    return true
  }

  /** Keys tracked now. */
  get size (): number {
    return this.#buckets.size
  }
}

/**
 * Per-key counters of something held (open streams, stored records, bytes)
 * in a map that only keeps non-zero keys; `add` refuses beyond `limit`.
 * Unlike {@link RateLimiter} nothing is evicted: what is counted is held by
 * the node, so the map is bounded by what the node holds (which a node-wide
 * cap bounds).
 */
export class KeyedCounter {
  readonly #limit: number
  readonly #counts = new Map<string, number>()

  /** @param limit - most a key may hold */
  constructor (limit: number) {
    this.#limit = limit
  }

  /** Adds `n` to `key` unless that would go past the limit. @returns whether it was added */
  add (key: string, n = 1): boolean {
    const v = (this.#counts.get(key) ?? 0) + n
    if (v > this.#limit) return false
    this.#counts.set(key, v)
    return true
  }

  /** Subtracts `n` from `key` (never below 0). */
  release (key: string, n = 1): void {
    const v = (this.#counts.get(key) ?? 0) - n
    if (v <= 0) this.#counts.delete(key)
    else this.#counts.set(key, v)
  }

  /** What `key` holds now. */
  get (key: string): number {
    return this.#counts.get(key) ?? 0
  }
}
