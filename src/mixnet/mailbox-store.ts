import { closeSync, openSync } from 'node:fs'
import { DatabaseSync } from 'node:sqlite'
import { InvalidOptionError } from '../errors.ts'
import { MailboxStoreError } from './errors.ts'
import type { StatementSync } from 'node:sqlite'

const HOUR = 60 * 60 * 1000

/** How long a gateway keeps a stored packet, ms (seed 001; DESIGN.md section 5). */
const MAILBOX_TTL_MS = 72 * HOUR // seed 001
/** Distinct messages a gateway holds per mailbox (seed 001; DESIGN.md section 5). */
const MAILBOX_MAX_MESSAGES = 100 // seed 001
/** Bytes of data a gateway holds per mailbox (seed 001; DESIGN.md section 5). */
const MAILBOX_MAX_BYTES = 1_000_000 // seed 001
/**
 * How long an incomplete message (not every fragment index held) is kept
 * after its last fragment arrived, ms (issue 8, item 3). A sender sends all
 * fragments of a message at once and gives up after 60 s by default
 * (SEND_TIMEOUT_MS), and the owner's reassembly keeps fragments 10 min
 * (REASSEMBLY_TTL_MS); a message not completed by then never will be.
 */
const MAILBOX_INCOMPLETE_TTL_MS = 10 * 60 * 1000 // = REASSEMBLY_TTL_MS (constants.ts)
/**
 * Incomplete messages held per mailbox (issue 8, item 3). Small: it bounds
 * what packets that never complete a message can occupy (each one slot for
 * 10 min), and it is the number of multi-fragment messages a pseudonym can
 * receive at the same time (an online owner completes and deletes one within
 * seconds).
 */
const MAILBOX_INCOMPLETE_MAX_MESSAGES = 8 // issue 8, item 3
/**
 * Bytes of incomplete messages held per mailbox (issue 8, item 3). A message
 * is incomplete until its last fragment arrives, so this must admit the
 * largest message the complete budget can hold: the same 1 MB.
 */
const MAILBOX_INCOMPLETE_MAX_BYTES = MAILBOX_MAX_BYTES
/** Largest number of fragments of one message (MAX_FRAGMENTS in wire.ts). */
const MAX_FRAGMENT_TOTAL = 1024
/** Length of a mailbox id, bytes (DELIVER routing command, docs/sphinx.md). */
const MAILBOX_ID_BYTES = 32
/** Length of a message id, bytes (the `id` field of a Sphinx hop block). */
const MESSAGE_ID_BYTES = 16
/** Default and largest number of rows one {@link MailboxStore.list} call returns. */
const LIST_DEFAULT_LIMIT = 1000
const LIST_MAX_LIMIT = 100_000
/** Mode of a new database file: it holds packets for other people. */
const DB_FILE_MODE = 0o600
/** Schema version kept in `PRAGMA user_version`: 2 adds fragment indexes and per-message state (issue 8). */
const SCHEMA_VERSION = 2
/** How long a write waits for a lock held by another connection, ms. */
const BUSY_TIMEOUT_MS = 5000

/** Options of {@link openMailboxStore}. */
export interface MailboxStoreInit {
  /** SQLite database file (created with mode 0600 if missing), or `':memory:'` for tests. Its directory must exist. */
  path: string
  /**
   * How long a complete message is kept after it became complete, ms.
   * Older messages are invisible at once and deleted by {@link MailboxStore.expire}.
   * @default 259200000 (72 h, seed 001)
   */
  ttlMs?: number
  /**
   * Complete messages (distinct message ids) held per mailbox; fragments of
   * a message already held do not count again.
   * @default 100 (seed 001)
   */
  maxMessages?: number
  /**
   * Sum of data lengths of complete messages held per mailbox, bytes.
   * @default 1000000 (seed 001)
   */
  maxBytes?: number
  /**
   * How long an incomplete message is kept after its last fragment arrived, ms.
   * @default 600000 (10 min, issue 8: the owner's REASSEMBLY_TTL_MS)
   */
  incompleteTtlMs?: number
  /**
   * Incomplete messages held per mailbox (a separate budget: they never use the complete one).
   * @default 8 (issue 8)
   */
  maxIncompleteMessages?: number
  /**
   * Sum of data lengths of incomplete messages held per mailbox, bytes.
   * @default 1000000 (issue 8: one message of the largest size the complete budget holds)
   */
  maxIncompleteBytes?: number
  /**
   * Clock, ms since the Unix epoch (tests inject one).
   * @default Date.now
   */
  now?: () => number
}

/** One stored row, as returned by {@link MailboxStore.list}. */
export interface MailboxEntry {
  /** Row id, unique in the database and never reused; pass it to {@link MailboxStore.delete}. */
  id: number
  /** The message this data belongs to, 16 bytes. */
  messageId: Uint8Array
  /** The stored bytes (a packet or fragment), as given to {@link MailboxStore.put}. */
  data: Uint8Array
  /** When the row was stored, ms since the Unix epoch. */
  storedAt: number
}

/** Where a row sits in its message: fragment `index` (0-based) of `total` (1 to 1024). */
export interface FragmentPosition {
  index: number
  total: number
}

/**
 * Result of {@link MailboxStore.put}: stored with its row id, or refused:
 * `messages`/`bytes` (complete budget), `incomplete` (the budget of
 * incomplete messages), `conflict` (rows held for this message id name
 * another `total`).
 */
export type MailboxPutResult = { ok: true, id: number } | { ok: false, reason: 'messages' | 'bytes' | 'incomplete' | 'conflict' }

/** What one mailbox holds now, from {@link MailboxStore.usage}. */
export interface MailboxUsage {
  /** Complete messages and their bytes (the 100 messages / 1 MB budget). */
  messages: number
  bytes: number
  /** Incomplete messages and their bytes (the 8 messages / 1 MB budget). */
  incomplete: { messages: number, bytes: number }
}

/** What all mailboxes of a store hold, from {@link MailboxStore.totals}. */
export interface MailboxTotals {
  /** Mailboxes holding at least one unexpired message. */
  mailboxes: number
  /** Unexpired messages, complete and incomplete. */
  messages: number
  /** Their stored bytes. */
  bytes: number
}

/** A gateway's on-disk mailboxes. Every method is synchronous; after `close()` every method but `close` throws UMBRA_ERR_MAILBOX_STORE. */
export interface MailboxStore {
  /**
   * Stores `data`, fragment `position` of message `messageId`, for `mailbox`.
   * Durable when it returns `ok: true` (WAL, synchronous=FULL: the row
   * survives a crash of the process or the OS).
   *
   * A message is complete once rows for every index 0 … total−1 are held (a
   * 1-fragment message at once); until then it counts against the
   * incomplete budget, and from the put that completes it against the
   * complete one. Refused, storing nothing: a new message while the complete
   * budget holds `maxMessages` (`messages`); a row that would take either
   * budget past its bytes (`bytes`, or `incomplete` for the incomplete
   * budget); a new incomplete message while `maxIncompleteMessages` are held
   * (`incomplete`); a `total` other than the one held for the message
   * (`conflict`). Nothing held is ever dropped to make room.
   * @param mailbox - mailbox id, 32 bytes
   * @param messageId - message id, 16 bytes
   * @param data - 1 byte or more
   * @param position - the fragment's index and total @default { index: 0, total: 1 }
   * @throws UMBRA_ERR_INVALID_OPTION (wrong sizes or types), UMBRA_ERR_MAILBOX_STORE
   */
  put: (mailbox: Uint8Array, messageId: Uint8Array, data: Uint8Array, position?: FragmentPosition) => MailboxPutResult
  /**
   * Unexpired rows of a mailbox, oldest first (ascending id).
   * @param limit - at most this many rows, 1 to 100000 @default 1000
   * @throws UMBRA_ERR_INVALID_OPTION, UMBRA_ERR_MAILBOX_STORE
   */
  list: (mailbox: Uint8Array, limit?: number) => MailboxEntry[]
  /**
   * Deletes rows of `mailbox` by id (ids of other mailboxes are ignored).
   * @returns how many rows were deleted
   * @throws UMBRA_ERR_INVALID_OPTION, UMBRA_ERR_MAILBOX_STORE
   */
  delete: (mailbox: Uint8Array, ids: number[]) => number
  /**
   * What a mailbox holds now (unexpired messages): complete messages and
   * their bytes, and the same for incomplete ones.
   * @throws UMBRA_ERR_INVALID_OPTION, UMBRA_ERR_MAILBOX_STORE
   */
  usage: (mailbox: Uint8Array) => MailboxUsage
  /**
   * Deletes every row of a mailbox, or with `incompleteOnly` every row of its
   * incomplete messages (the owner's PURGE, issue 8).
   * @returns how many rows were deleted
   * @throws UMBRA_ERR_INVALID_OPTION, UMBRA_ERR_MAILBOX_STORE
   */
  purge: (mailbox: Uint8Array, options?: { incompleteOnly?: boolean }) => number
  /**
   * Deletes every expired message: complete ones `ttlMs` after they became
   * complete, incomplete ones `incompleteTtlMs` after their last fragment arrived.
   * @returns how many rows were deleted
   * @throws UMBRA_ERR_MAILBOX_STORE
   */
  expire: () => number
  /**
   * Mailbox ids (32 bytes each) that have unexpired messages.
   * @throws UMBRA_ERR_MAILBOX_STORE
   */
  mailboxes: () => Uint8Array[]
  /**
   * What every mailbox holds now, summed (unexpired messages, complete and
   * incomplete): mailboxes with a message, messages, bytes. One query
   * (metrics scrape it, src/metrics).
   * @throws UMBRA_ERR_MAILBOX_STORE
   */
  totals: () => MailboxTotals
  /** Closes the database; idempotent. */
  close: () => void
}

function positiveInteger (name: string, value: unknown, fallback: number): number {
  const v = value ?? fallback
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
    throw new InvalidOptionError(`${name} must be a positive integer, got ${String(v)}`)
  }
  return v
}

function checkBytes (name: string, value: unknown, length: number): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array) || value.byteLength !== length) {
    const got = value instanceof Uint8Array ? `${value.byteLength} bytes` : typeof value
    throw new InvalidOptionError(`${name} must be a Uint8Array of ${length} bytes, got ${got}`)
  }
}

/**
 * Opens (creating if needed) a gateway's mailbox store: a SQLite database
 * (Node's built-in `node:sqlite`) in WAL mode with synchronous=FULL, holding
 * packets for pseudonyms that are offline until they fetch and delete them
 * (DESIGN.md section 5, "Mailbox"; quotas and TTL from seed 001).
 *
 * Quotas are per mailbox, in two budgets (issue 8, item 3): complete
 * messages (`maxMessages` message ids, `maxBytes` bytes, kept `ttlMs`) and
 * incomplete ones, whose fragment indexes are not all held yet
 * (`maxIncompleteMessages`, `maxIncompleteBytes`, kept `incompleteTtlMs`
 * after their last fragment arrived), so fragments that never complete a
 * message cannot lock the mailbox. A put that would exceed a budget is
 * refused with the reason; stored rows are only removed by `delete`,
 * `purge` or expiry.
 *
 * Schema 2 adds each row's fragment index and a `message_state` row per
 * message; a version 1 database is migrated in place, its messages taken
 * as complete (version 1 did not record indexes; they keep the 72 h TTL).
 *
 * @example
 * ```ts
 * const store = openMailboxStore({ path: join(dataDir, 'mailboxes.db') })
 * const r = store.put(mailbox, messageId, packet)   // { ok: true, id } | { ok: false, reason }
 * for (const e of store.list(mailbox)) deliver(e.data)
 * store.delete(mailbox, acked)
 * ```
 * @throws UMBRA_ERR_INVALID_OPTION (bad option: the message names it),
 *   UMBRA_ERR_MAILBOX_STORE (the file cannot be opened, is not an Umbra
 *   mailbox database, or is damaged; it is left untouched)
 */
export function openMailboxStore (init: MailboxStoreInit): MailboxStore {
  if (init == null || typeof init !== 'object') throw new InvalidOptionError('openMailboxStore needs an options object with a path')
  const path = init.path
  if (typeof path !== 'string' || path.length === 0) throw new InvalidOptionError('path must be the database file name (or ":memory:")')
  const ttlMs = positiveInteger('ttlMs', init.ttlMs, MAILBOX_TTL_MS)
  const maxMessages = positiveInteger('maxMessages', init.maxMessages, MAILBOX_MAX_MESSAGES)
  const maxBytes = positiveInteger('maxBytes', init.maxBytes, MAILBOX_MAX_BYTES)
  const incompleteTtlMs = positiveInteger('incompleteTtlMs', init.incompleteTtlMs, MAILBOX_INCOMPLETE_TTL_MS)
  const maxIncompleteMessages = positiveInteger('maxIncompleteMessages', init.maxIncompleteMessages, MAILBOX_INCOMPLETE_MAX_MESSAGES)
  const maxIncompleteBytes = positiveInteger('maxIncompleteBytes', init.maxIncompleteBytes, MAILBOX_INCOMPLETE_MAX_BYTES)
  const now = init.now ?? Date.now
  if (typeof now !== 'function') throw new InvalidOptionError('now must be a function returning ms since the Unix epoch')

  if (path !== ':memory:') {
    try {
      closeSync(openSync(path, 'a', DB_FILE_MODE)) // the WAL and shm files take the database file's mode
    } catch (err) {
      throw new MailboxStoreError(`Cannot create the mailbox database ${path}: ${(err as Error).message}`, { cause: err })
    }
  }

  let db: DatabaseSync
  try {
    db = new DatabaseSync(path)
  } catch (err) {
    throw new MailboxStoreError(`Cannot open the mailbox database ${path}: ${(err as Error).message}`, { cause: err })
  }
  try {
    db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`)
    const version = (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version
    if (version !== 0 && version !== 1 && version !== SCHEMA_VERSION) {
      throw new MailboxStoreError(`${path} has mailbox schema version ${version}; this version of Umbra reads versions 1 and ${SCHEMA_VERSION}`)
    }
    const mode = (db.prepare('PRAGMA journal_mode = WAL').get() as { journal_mode: string }).journal_mode
    if (mode !== 'wal' && path !== ':memory:') throw new MailboxStoreError(`${path}: cannot switch to WAL mode (got ${mode})`)
    db.exec('PRAGMA synchronous = FULL')
    // message: one row per stored fragment. message_state: one row per message,
    // total (from the fragment header), have (distinct indexes held), bytes,
    // last_at (last fragment stored, ms) and complete_at (NULL while incomplete).
    const state = `
      CREATE TABLE IF NOT EXISTS message_state (
        mailbox BLOB NOT NULL,
        message_id BLOB NOT NULL,
        total INTEGER NOT NULL,
        have INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        last_at INTEGER NOT NULL,
        complete_at INTEGER,
        PRIMARY KEY (mailbox, message_id)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS message_state_by_time ON message_state (complete_at, last_at);
      DROP INDEX IF EXISTS message_by_message_id;
      DROP INDEX IF EXISTS message_by_time;
      CREATE INDEX IF NOT EXISTS message_by_fragment ON message (mailbox, message_id, idx);
      PRAGMA user_version = ${SCHEMA_VERSION};`
    if (version === 1) {
      // Version 1 kept no fragment indexes: its messages are taken as complete
      // 1-fragment messages, complete since their oldest row (the 72 h TTL they had).
      db.exec(`
        BEGIN IMMEDIATE;
        ALTER TABLE message ADD COLUMN idx INTEGER NOT NULL DEFAULT 0;
        ${state}
        INSERT INTO message_state (mailbox, message_id, total, have, bytes, last_at, complete_at)
          SELECT mailbox, message_id, 1, 1, SUM(length(data)), MAX(stored_at), MIN(stored_at) FROM message GROUP BY mailbox, message_id;
        COMMIT;
      `)
    } else {
      db.exec(`
        BEGIN IMMEDIATE;
        CREATE TABLE IF NOT EXISTS message (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          mailbox BLOB NOT NULL,
          message_id BLOB NOT NULL,
          data BLOB NOT NULL,
          stored_at INTEGER NOT NULL,
          idx INTEGER NOT NULL DEFAULT 0
        ) STRICT;
        CREATE INDEX IF NOT EXISTS message_by_mailbox ON message (mailbox, id);
        ${state}
        COMMIT;
      `)
    }
  } catch (err) {
    try { db.close() } catch { /* already failing */ }
    if (err instanceof MailboxStoreError) throw err
    throw new MailboxStoreError(`${path} is not a usable Umbra mailbox database (it was left untouched): ${(err as Error).message}`, { cause: err })
  }

  // A message is live (visible, counted) while younger than its budget's TTL;
  // the two placeholders are the incomplete and the complete cutoff.
  const LIVE = '(CASE WHEN s.complete_at IS NULL THEN s.last_at > ? ELSE s.complete_at > ? END)'
  const stmt = {
    usage: db.prepare(`SELECT s.complete_at IS NOT NULL AS complete, COUNT(*) AS messages, COALESCE(SUM(s.bytes), 0) AS bytes FROM message_state s WHERE s.mailbox = ? AND ${LIVE} GROUP BY 1`),
    state: db.prepare('SELECT total, have, bytes, complete_at FROM message_state WHERE mailbox = ? AND message_id = ?'),
    holdsIndex: db.prepare('SELECT 1 AS one FROM message WHERE mailbox = ? AND message_id = ? AND idx = ? LIMIT 1'),
    insert: db.prepare('INSERT INTO message (mailbox, message_id, data, stored_at, idx) VALUES (?, ?, ?, ?, ?)'),
    upsertState: db.prepare(`INSERT INTO message_state (mailbox, message_id, total, have, bytes, last_at, complete_at) VALUES (?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (mailbox, message_id) DO UPDATE SET have = excluded.have, bytes = excluded.bytes, last_at = excluded.last_at, complete_at = excluded.complete_at`),
    list: db.prepare(`SELECT r.id, r.message_id, r.data, r.stored_at FROM message r JOIN message_state s ON s.mailbox = r.mailbox AND s.message_id = r.message_id
      WHERE r.mailbox = ? AND ${LIVE} ORDER BY r.id LIMIT ?`),
    deleteOne: db.prepare('DELETE FROM message WHERE mailbox = ? AND id = ? RETURNING message_id'),
    recount: db.prepare('SELECT COUNT(*) AS n, COUNT(DISTINCT idx) AS have, COALESCE(SUM(length(data)), 0) AS bytes FROM message WHERE mailbox = ? AND message_id = ?'),
    updateState: db.prepare('UPDATE message_state SET have = ?1, bytes = ?2, complete_at = CASE WHEN ?1 = total THEN complete_at ELSE NULL END WHERE mailbox = ?3 AND message_id = ?4'),
    deleteState: db.prepare('DELETE FROM message_state WHERE mailbox = ? AND message_id = ?'),
    expireRowsAll: db.prepare(`DELETE FROM message WHERE (mailbox, message_id) IN (SELECT s.mailbox, s.message_id FROM message_state s WHERE NOT ${LIVE})`),
    expireStateAll: db.prepare(`DELETE FROM message_state AS s WHERE NOT ${LIVE}`),
    expireRowsOne: db.prepare(`DELETE FROM message WHERE mailbox = ? AND message_id IN (SELECT s.message_id FROM message_state s WHERE s.mailbox = ? AND NOT ${LIVE})`),
    expireStateOne: db.prepare(`DELETE FROM message_state AS s WHERE s.mailbox = ? AND NOT ${LIVE}`),
    purgeRowsAll: db.prepare('DELETE FROM message WHERE mailbox = ?'),
    purgeStateAll: db.prepare('DELETE FROM message_state WHERE mailbox = ?'),
    purgeRowsIncomplete: db.prepare('DELETE FROM message WHERE mailbox = ? AND message_id IN (SELECT message_id FROM message_state WHERE mailbox = ? AND complete_at IS NULL)'),
    purgeStateIncomplete: db.prepare('DELETE FROM message_state WHERE mailbox = ? AND complete_at IS NULL'),
    mailboxes: db.prepare(`SELECT DISTINCT s.mailbox FROM message_state s WHERE ${LIVE}`),
    totals: db.prepare(`SELECT COUNT(DISTINCT s.mailbox) AS mailboxes, COUNT(*) AS messages, COALESCE(SUM(s.bytes), 0) AS bytes FROM message_state s WHERE ${LIVE}`)
  } satisfies Record<string, StatementSync>
  let closed = false

  const clock = (): number => {
    const t = now()
    if (typeof t !== 'number' || !Number.isFinite(t)) throw new MailboxStoreError(`The clock returned ${String(t)}`)
    return Math.floor(t)
  }
  /** The incomplete and the complete cutoff at time `t`: messages at or before them are expired. */
  const cutoffs = (t: number): [number, number] => [t - incompleteTtlMs, t - ttlMs]

  /** Runs `fn` in an IMMEDIATE transaction; a failure rolls back and throws UMBRA_ERR_MAILBOX_STORE. */
  const transaction = <T>(what: string, fn: () => T): T => {
    if (closed) throw new MailboxStoreError('The mailbox store is closed')
    try {
      db.exec('BEGIN IMMEDIATE')
    } catch (err) {
      throw new MailboxStoreError(`Mailbox ${what} failed: ${(err as Error).message}`, { cause: err })
    }
    try {
      const result = fn()
      db.exec('COMMIT')
      return result
    } catch (err) {
      try { db.exec('ROLLBACK') } catch { /* no transaction left to roll back */ }
      if (err instanceof MailboxStoreError) throw err
      throw new MailboxStoreError(`Mailbox ${what} failed: ${(err as Error).message}`, { cause: err })
    }
  }

  const read = <T>(what: string, fn: () => T): T => {
    if (closed) throw new MailboxStoreError('The mailbox store is closed')
    try {
      return fn()
    } catch (err) {
      if (err instanceof MailboxStoreError) throw err
      throw new MailboxStoreError(`Mailbox ${what} failed: ${(err as Error).message}`, { cause: err })
    }
  }

  const usageAt = (mailbox: Uint8Array, cuts: [number, number]): MailboxUsage => {
    const u: MailboxUsage = { messages: 0, bytes: 0, incomplete: { messages: 0, bytes: 0 } }
    for (const row of stmt.usage.all(mailbox, ...cuts) as Array<{ complete: number, messages: number, bytes: number }>) {
      const into = Number(row.complete) === 1 ? u : u.incomplete
      into.messages = Number(row.messages)
      into.bytes = Number(row.bytes)
    }
    return u
  }

  return {
    put (mailbox, messageId, data, position = { index: 0, total: 1 }) {
      checkBytes('mailbox', mailbox, MAILBOX_ID_BYTES)
      checkBytes('messageId', messageId, MESSAGE_ID_BYTES)
      if (!(data instanceof Uint8Array) || data.byteLength === 0) {
        throw new InvalidOptionError('data must be a non-empty Uint8Array')
      }
      const { index, total } = position ?? {}
      if (!Number.isSafeInteger(total) || total < 1 || total > MAX_FRAGMENT_TOTAL || !Number.isSafeInteger(index) || index < 0 || index >= total) {
        throw new InvalidOptionError(`position must be { index, total } with 1 <= total <= ${MAX_FRAGMENT_TOTAL} and 0 <= index < total, got ${String(index)} of ${String(total)}`)
      }
      if (closed) throw new MailboxStoreError('The mailbox store is closed')
      if (data.byteLength > maxBytes) return { ok: false, reason: 'bytes' }
      return transaction('put', () => {
        const t = clock()
        const cuts = cutoffs(t)
        stmt.expireRowsOne.run(mailbox, mailbox, ...cuts)
        stmt.expireStateOne.run(mailbox, ...cuts)
        const held = stmt.state.get(mailbox, messageId) as { total: number, have: number, bytes: number, complete_at: number | null } | undefined
        if (held != null && Number(held.total) !== total) return { ok: false, reason: 'conflict' } as const
        const used = usageAt(mailbox, cuts)
        const newIndex = held == null || stmt.holdsIndex.get(mailbox, messageId, index) == null
        const have = Number(held?.have ?? 0) + (newIndex ? 1 : 0)
        const bytes = Number(held?.bytes ?? 0) + data.byteLength
        const wasComplete = held?.complete_at != null
        const complete = have === total
        // A new message is refused while the complete budget is full: it could never be delivered.
        if ((held == null || (complete && !wasComplete)) && used.messages + 1 > maxMessages) return { ok: false, reason: 'messages' } as const
        if (complete) {
          if (used.bytes + (wasComplete ? data.byteLength : bytes) > maxBytes) return { ok: false, reason: 'bytes' } as const
        } else {
          if (held == null && used.incomplete.messages + 1 > maxIncompleteMessages) return { ok: false, reason: 'incomplete' } as const
          if (used.incomplete.bytes + data.byteLength > maxIncompleteBytes) return { ok: false, reason: 'incomplete' } as const
        }
        const r = stmt.insert.run(mailbox, messageId, data, t, index)
        const completeAt = wasComplete ? Number(held.complete_at) : complete ? t : null
        stmt.upsertState.run(mailbox, messageId, total, have, bytes, t, completeAt)
        return { ok: true, id: Number(r.lastInsertRowid) } as const
      })
    },

    list (mailbox, limit = LIST_DEFAULT_LIMIT) {
      checkBytes('mailbox', mailbox, MAILBOX_ID_BYTES)
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > LIST_MAX_LIMIT) {
        throw new InvalidOptionError(`limit must be an integer from 1 to ${LIST_MAX_LIMIT}, got ${String(limit)}`)
      }
      return read('list', () => {
        const rows = stmt.list.all(mailbox, ...cutoffs(clock()), limit) as Array<{ id: number, message_id: Uint8Array, data: Uint8Array, stored_at: number }>
        return rows.map((r) => ({ id: Number(r.id), messageId: r.message_id, data: r.data, storedAt: Number(r.stored_at) }))
      })
    },

    delete (mailbox, ids) {
      checkBytes('mailbox', mailbox, MAILBOX_ID_BYTES)
      if (!Array.isArray(ids) || !ids.every((id) => Number.isSafeInteger(id) && id >= 1)) {
        throw new InvalidOptionError('ids must be an array of row ids (positive integers) from list()')
      }
      if (ids.length === 0) return read('delete', () => 0)
      return transaction('delete', () => {
        let deleted = 0
        const touched = new Map<string, Uint8Array>()
        for (const id of new Set(ids)) {
          const row = stmt.deleteOne.get(mailbox, id) as { message_id: Uint8Array } | undefined
          if (row == null) continue
          deleted++
          touched.set(Buffer.from(row.message_id).toString('hex'), row.message_id)
        }
        for (const messageId of touched.values()) {
          const left = stmt.recount.get(mailbox, messageId) as { n: number, have: number, bytes: number }
          if (Number(left.n) === 0) stmt.deleteState.run(mailbox, messageId)
          else stmt.updateState.run(Number(left.have), Number(left.bytes), mailbox, messageId)
        }
        return deleted
      })
    },

    usage (mailbox) {
      checkBytes('mailbox', mailbox, MAILBOX_ID_BYTES)
      return read('usage', () => usageAt(mailbox, cutoffs(clock())))
    },

    purge (mailbox, options = {}) {
      checkBytes('mailbox', mailbox, MAILBOX_ID_BYTES)
      const incompleteOnly = options?.incompleteOnly ?? false
      if (typeof incompleteOnly !== 'boolean') throw new InvalidOptionError('incompleteOnly must be a boolean')
      return transaction('purge', () => {
        if (incompleteOnly) {
          const n = Number(stmt.purgeRowsIncomplete.run(mailbox, mailbox).changes)
          stmt.purgeStateIncomplete.run(mailbox)
          return n
        }
        const n = Number(stmt.purgeRowsAll.run(mailbox).changes)
        stmt.purgeStateAll.run(mailbox)
        return n
      })
    },

    expire () {
      return transaction('expire', () => {
        const cuts = cutoffs(clock())
        const n = Number(stmt.expireRowsAll.run(...cuts).changes)
        stmt.expireStateAll.run(...cuts)
        return n
      })
    },

    mailboxes () {
      return read('mailboxes', () => (stmt.mailboxes.all(...cutoffs(clock())) as Array<{ mailbox: Uint8Array }>).map((r) => r.mailbox))
    },

    totals () {
      const row = read('totals', () => stmt.totals.get(...cutoffs(clock())) as { mailboxes: number, messages: number, bytes: number })
      return { mailboxes: Number(row.mailboxes), messages: Number(row.messages), bytes: Number(row.bytes) }
    },

    close () {
      if (closed) return
      closed = true
      db.close()
    }
  }
}
