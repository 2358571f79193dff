/**
 * The message store (issue 13 item 3; docs/pubsub.md "Message store"):
 * pub/sub tables in the node's state database (src/store), component
 * `pubsub`.
 *
 * - `pubsub_messages`: verified envelopes of the topics this node subscribes
 *   to or serves, at most `maxMessages` per topic and none older than `ttl`
 *   (by the publisher's timestamp). A server answers history requests from
 *   it; every node answers `GET /v1/pubsub/{topic}/messages` from it.
 * - `pubsub_subscriptions`: the application's subscriptions, so a node that
 *   restarts subscribes again and asks the servers for what it missed since
 *   the newest message it holds.
 */
import type { StateDatabase } from '../store/index.ts'
import type { StatementSync } from 'node:sqlite'

/** Migration steps of component `pubsub`; append only, never edit a shipped step. */
export const PUBSUB_STATE_STEPS: readonly string[] = [
  `CREATE TABLE pubsub_messages (topic TEXT NOT NULL, id BLOB NOT NULL, ts INTEGER NOT NULL, envelope BLOB NOT NULL, PRIMARY KEY (topic, id)) STRICT;
   CREATE INDEX pubsub_messages_by_time ON pubsub_messages (topic, ts);
   CREATE TABLE pubsub_subscriptions (topic TEXT PRIMARY KEY, subscribed_at INTEGER NOT NULL) STRICT`
]

/** One stored message: its publisher timestamp (ms) and envelope bytes. */
export interface StoredEnvelope {
  ts: number
  envelope: Uint8Array
}

/** Options of {@link MessageStore}. */
export interface MessageStoreInit {
  /** Messages kept per topic. @default 100 */
  maxMessages: number
  /** Age after which a message goes, ms (publisher timestamp). @default 300_000 */
  ttl: number
  /** Clock (tests). @default Date.now */
  now?: () => number
}

/** The pub/sub tables of one node. */
export class MessageStore {
  readonly maxMessages: number
  readonly ttl: number
  readonly #now: () => number
  readonly #insert: StatementSync
  readonly #has: StatementSync
  readonly #since: StatementSync
  readonly #newest: StatementSync
  readonly #trimOld: StatementSync
  readonly #trimCount: StatementSync
  readonly #count: StatementSync
  readonly #subscribe: StatementSync
  readonly #unsubscribe: StatementSync
  readonly #subscriptions: StatementSync
  readonly #state: StateDatabase

  /** @throws UMBRA_ERR_STATE_DB when the migration fails */
  constructor (state: StateDatabase, init: MessageStoreInit) {
    state.migrate('pubsub', PUBSUB_STATE_STEPS)
    this.#state = state
    this.maxMessages = init.maxMessages
    this.ttl = init.ttl
    this.#now = init.now ?? Date.now
    const db = state.db
    this.#insert = db.prepare('INSERT OR IGNORE INTO pubsub_messages (topic, id, ts, envelope) VALUES (?, ?, ?, ?)')
    this.#has = db.prepare('SELECT 1 FROM pubsub_messages WHERE topic = ? AND id = ?')
    this.#since = db.prepare('SELECT ts, envelope FROM pubsub_messages WHERE topic = ? AND ts >= ? ORDER BY ts ASC, id ASC LIMIT ?')
    this.#newest = db.prepare('SELECT MAX(ts) AS ts FROM pubsub_messages WHERE topic = ?')
    this.#trimOld = db.prepare('DELETE FROM pubsub_messages WHERE topic = ? AND ts < ?')
    this.#count = db.prepare('SELECT COUNT(*) AS n FROM pubsub_messages WHERE topic = ?')
    this.#trimCount = db.prepare('DELETE FROM pubsub_messages WHERE topic = ? AND id IN (SELECT id FROM pubsub_messages WHERE topic = ? ORDER BY ts ASC, id ASC LIMIT ?)')
    this.#subscribe = db.prepare('INSERT OR IGNORE INTO pubsub_subscriptions (topic, subscribed_at) VALUES (?, ?)')
    this.#unsubscribe = db.prepare('DELETE FROM pubsub_subscriptions WHERE topic = ?')
    this.#subscriptions = db.prepare('SELECT topic FROM pubsub_subscriptions ORDER BY topic')
  }

  /**
   * Keeps a verified envelope, then trims the topic to `maxMessages` and `ttl`.
   * @returns `false` when it was there already
   */
  add (topic: string, id: Uint8Array, ts: number, envelope: Uint8Array): boolean {
    return this.#state.transaction(() => {
      const added = Number(this.#insert.run(topic, id, ts, envelope).changes) > 0
      if (added) {
        this.#trimOld.run(topic, this.#now() - this.ttl)
        const n = Number((this.#count.get(topic) as { n: number }).n)
        if (n > this.maxMessages) this.#trimCount.run(topic, topic, n - this.maxMessages)
      }
      return added
    })
  }

  /** Whether the envelope with `id` is stored under `topic`. */
  has (topic: string, id: Uint8Array): boolean {
    return this.#has.get(topic, id) != null
  }

  /** Stored messages of `topic` with a timestamp at or after `since` (ms), oldest first, at most `limit`. */
  since (topic: string, since: number, limit: number): StoredEnvelope[] {
    this.#trimOld.run(topic, this.#now() - this.ttl)
    return (this.#since.all(topic, since, limit) as Array<{ ts: number, envelope: Uint8Array }>).map((r) => ({ ts: Number(r.ts), envelope: new Uint8Array(r.envelope) }))
  }

  /** Timestamp of the newest stored message of `topic`, ms, or `undefined`. */
  newest (topic: string): number | undefined {
    const ts = (this.#newest.get(topic) as { ts: number | null }).ts
    return ts == null ? undefined : Number(ts)
  }

  /** Records an application subscription (kept across restarts). */
  subscribe (topic: string): void {
    this.#subscribe.run(topic, this.#now())
  }

  /** Forgets an application subscription. */
  unsubscribe (topic: string): void {
    this.#unsubscribe.run(topic)
  }

  /** The recorded application subscriptions. */
  subscriptions (): string[] {
    return (this.#subscriptions.all() as Array<{ topic: string }>).map((r) => r.topic)
  }
}
