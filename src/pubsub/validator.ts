/**
 * The validator of Umbra topics (issue 13 item 1): what GossipSub runs on
 * every message before it delivers or forwards it, and the de-duplication
 * of the other paths (message store, central server, mixnet exit).
 *
 * A GossipSub message is rejected (not delivered, not forwarded, the
 * sending peer's score lowered; counted by reason) when it is
 * - `oversized`: over `maxBytes` (checked before decoding);
 * - `malformed`: not an envelope, or of another version;
 * - `topic`: its envelope names another topic than the one it came on;
 * - `signature`: the publisher's Ed25519 signature does not verify (forged
 *   or altered);
 * - `unsigned`: no publisher, on a node with `acceptUnsigned: false`;
 * - `stale`: timestamp older than `maxAgeMs` or more than
 *   {@link MAX_CLOCK_SKEW_MS} in the future;
 * - `replay`: an id already accepted from GossipSub within `maxAgeMs`
 *   (GossipSub's own seen cache drops exact copies for `seenTTL`, 2 minutes;
 *   this cache covers the whole accepted age, so a message is accepted once
 *   per id whatever its encoding).
 *
 * GossipSub's message id ({@link EnvelopeValidator.msgId}) is the envelope's
 * 16-byte id followed by 8 bytes of SHA-256 of the whole data: GossipSub
 * records a message id as seen before it runs the validator, so with the id
 * alone a forged copy sent first would make the genuine message a
 * "duplicate" and censor it; with the hash the two differ.
 */
import { createHash } from 'node:crypto'
import { UmbraError } from '../errors.ts'
import { decodeEnvelope, messageIdText, verifyEnvelope } from './envelope.ts'
import { DEFAULT_MAX_MESSAGE_AGE_MS, DEFAULT_MAX_MESSAGE_BYTES, MAX_CLOCK_SKEW_MS, MAX_SEEN_IDS, MESSAGE_ID_BYTES } from './constants.ts'
import { PubSubMessageTooLargeError } from './errors.ts'
import type { PubSubEnvelope } from './pb/pubsub.ts'
import type { PubSubVia, RejectReason } from './types.ts'

/** Every {@link RejectReason}, in a fixed order (metrics labels). */
export const REJECT_REASONS: readonly RejectReason[] = ['malformed', 'oversized', 'topic', 'signature', 'unsigned', 'stale', 'replay']

/** Bytes of the data hash appended to the envelope id in GossipSub's message id. */
const MSG_ID_HASH_BYTES = 8

/** Options of {@link EnvelopeValidator}. */
export interface ValidatorInit {
  /** Largest encoded envelope, bytes. @default 1 MiB */
  maxBytes?: number
  /** Oldest accepted timestamp, ms before now; also how long accepted ids are remembered. @default 300_000 (5 min) */
  maxAgeMs?: number
  /** Accept envelopes without a publisher (anonymous, issue 13 item 2). @default true */
  acceptUnsigned?: boolean
  /** Clock, ms since the Unix epoch (tests). @default Date.now */
  now?: () => number
}

/** Outcome of a check: the verified envelope, or why not. */
export type CheckResult = { ok: true, envelope: PubSubEnvelope } | { ok: false, reason: RejectReason }

interface Seen {
  /** Forget the id after this time, ms since the Unix epoch. */
  expires: number
  /** It came (or went out) through GossipSub: a later GossipSub copy is a replay. */
  gossip: boolean
  /** Handed to the application already. */
  delivered: boolean
}

/**
 * Checks envelopes and remembers accepted ids. One per node; GossipSub's
 * topic validators and the other delivery paths share it, so an id is
 * delivered once whichever path brings it first.
 */
export class EnvelopeValidator {
  readonly maxBytes: number
  readonly maxAgeMs: number
  readonly acceptUnsigned: boolean
  /** Rejections since start, by reason. */
  readonly rejected: Record<RejectReason, number> = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>
  readonly #now: () => number
  readonly #seen = new Map<string, Seen>()
  /** Envelopes decoded for msgId, reused by the validator and the delivery (same data object). */
  readonly #decoded = new WeakMap<Uint8Array, PubSubEnvelope | UmbraError>()

  constructor (init: ValidatorInit = {}) {
    this.maxBytes = init.maxBytes ?? DEFAULT_MAX_MESSAGE_BYTES
    this.maxAgeMs = init.maxAgeMs ?? DEFAULT_MAX_MESSAGE_AGE_MS
    this.acceptUnsigned = init.acceptUnsigned ?? true
    this.#now = init.now ?? Date.now
  }

  /** Decodes (once per data object) without checking the signature. */
  decode (data: Uint8Array): PubSubEnvelope | UmbraError {
    let d = this.#decoded.get(data)
    if (d == null) {
      try {
        d = decodeEnvelope(data, this.maxBytes)
      } catch (err) {
        d = err as UmbraError
      }
      this.#decoded.set(data, d)
    }
    return d
  }

  /**
   * GossipSub's `msgIdFn`: envelope id (16 bytes) ‖ SHA-256(data)[0..8];
   * SHA-256(data)[0..24] when the data is no envelope (the validator rejects it).
   */
  msgId (data: Uint8Array): Uint8Array {
    const hash = createHash('sha256').update(data).digest()
    const e = this.decode(data)
    if (e instanceof Error) return new Uint8Array(hash.subarray(0, MESSAGE_ID_BYTES + MSG_ID_HASH_BYTES))
    const out = new Uint8Array(MESSAGE_ID_BYTES + MSG_ID_HASH_BYTES)
    out.set(e.id)
    out.set(hash.subarray(0, MSG_ID_HASH_BYTES), MESSAGE_ID_BYTES)
    return out
  }

  /**
   * Full check of a message that came on `topic` through `via`. Counts a
   * rejection by reason. On success the id is remembered; from GossipSub a
   * second acceptance of an id is a `replay`, from another path it is not an
   * error (`duplicate: true`, nothing to deliver).
   */
  async check (topic: string, data: Uint8Array, via: PubSubVia): Promise<CheckResult & { duplicate?: boolean }> {
    const r = await this.#check(topic, data, via)
    if (!r.ok) this.rejected[r.reason]++
    return r
  }

  async #check (topic: string, data: Uint8Array, via: PubSubVia): Promise<CheckResult & { duplicate?: boolean }> {
    if (data.byteLength > this.maxBytes) return { ok: false, reason: 'oversized' }
    const e = this.decode(data)
    if (e instanceof Error) return { ok: false, reason: e.code === PubSubMessageTooLargeError.code ? 'oversized' : 'malformed' }
    if (e.topic !== topic) return { ok: false, reason: 'topic' }
    if (e.publisher.byteLength === 0 && !this.acceptUnsigned) return { ok: false, reason: 'unsigned' }
    const now = this.#now()
    const ts = Number(e.timestamp)
    // History answers hold messages up to the store's age: only the clock skew is checked for them.
    if (ts > now + MAX_CLOCK_SKEW_MS || (via !== 'store' && ts < now - this.maxAgeMs)) return { ok: false, reason: 'stale' }
    // The signature before the replay check: a forged copy of a known id counts as forged.
    if (!(await verifyEnvelope(e))) return { ok: false, reason: 'signature' }
    const key = messageIdText(e.id)
    const seen = this.#seen.get(key)
    if (seen != null) {
      if (via !== 'p2p') return { ok: true, envelope: e, duplicate: true }
      if (seen.gossip) return { ok: false, reason: 'replay' }
      // First GossipSub copy of an id another path brought: forward it, do not deliver twice.
      seen.gossip = true
      return { ok: true, envelope: e, duplicate: seen.delivered }
    }
    this.remember(key, ts, via === 'p2p')
    return { ok: true, envelope: e }
  }

  /**
   * Remembers an id (accepted, or published by this node) until its
   * timestamp is `maxAgeMs` old (at least that long from now for store
   * answers). Bounded by {@link MAX_SEEN_IDS}: the oldest go first.
   */
  remember (key: string, timestamp: number, gossip: boolean): void {
    const now = this.#now()
    this.#prune(now)
    this.#seen.set(key, { expires: Math.max(timestamp, now) + this.maxAgeMs + MAX_CLOCK_SKEW_MS, gossip, delivered: false })
  }

  /**
   * Marks an id delivered to the application.
   * @returns `false` when it was delivered already (the caller drops it)
   */
  markDelivered (key: string): boolean {
    const s = this.#seen.get(key)
    if (s == null) {
      this.remember(key, this.#now(), false)
      return this.markDelivered(key)
    }
    if (s.delivered) return false
    s.delivered = true
    return true
  }

  /** Ids remembered now. */
  get size (): number {
    return this.#seen.size
  }

  #prune (now: number): void {
    // Map iteration is insertion order, and expiry grows with insertion time: stop at the first live entry.
    for (const [key, s] of this.#seen) {
      if (s.expires > now && this.#seen.size < MAX_SEEN_IDS) break
      this.#seen.delete(key)
    }
  }
}
