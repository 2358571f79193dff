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
/** Length of a mailbox id, bytes (DELIVER routing command, docs/sphinx.md). */
const MAILBOX_ID_BYTES = 32
/** Length of a message id, bytes (the `id` field of a Sphinx hop block). */
const MESSAGE_ID_BYTES = 16
/** Default and largest number of rows one {@link MailboxStore.list} call returns. */
const LIST_DEFAULT_LIMIT = 1000
const LIST_MAX_LIMIT = 100_000
/** Mode of a new database file: it holds packets for other people. */
const DB_FILE_MODE = 0o600
/** Schema version kept in `PRAGMA user_version`. */
const SCHEMA_VERSION = 1
/** How long a write waits for a lock held by another connection, ms. */
const BUSY_TIMEOUT_MS = 5000

/** Options of {@link openMailboxStore}. */
export interface MailboxStoreInit {
  /** SQLite database file (created with mode 0600 if missing), or `':memory:'` for tests. Its directory must exist. */
  path: string
  /**
   * How long a stored row is kept, ms. Rows older than this are invisible
   * at once and deleted by {@link MailboxStore.expire}.
   * @default 259200000 (72 h, seed 001)
   */
  ttlMs?: number
  /**
   * Distinct message ids held per mailbox; fragments of a message already
   * held do not count again.
   * @default 100 (seed 001)
   */
  maxMessages?: number
  /**
   * Sum of data lengths held per mailbox, bytes.
   * @default 1000000 (seed 001)
   */
  maxBytes?: number
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

/** Result of {@link MailboxStore.put}: stored with its row id, or refused because a quota would be exceeded. */
export type MailboxPutResult = { ok: true, id: number } | { ok: false, reason: 'messages' | 'bytes' }

/** A gateway's on-disk mailboxes. Every method is synchronous; after `close()` every method but `close` throws UMBRA_ERR_MAILBOX_STORE. */
export interface MailboxStore {
  /**
   * Stores `data` for `mailbox`. Durable when it returns `ok: true` (WAL,
   * synchronous=FULL: the row survives a crash of the process or the OS).
   * Over quota it refuses and stores nothing; nothing held is ever dropped.
   * @param mailbox - mailbox id, 32 bytes
   * @param messageId - message id, 16 bytes
   * @param data - 1 byte or more
   * @throws UMBRA_ERR_INVALID_OPTION (wrong sizes or types), UMBRA_ERR_MAILBOX_STORE
   */
  put: (mailbox: Uint8Array, messageId: Uint8Array, data: Uint8Array) => MailboxPutResult
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
   * What a mailbox holds now: distinct message ids and bytes of data (unexpired rows).
   * @throws UMBRA_ERR_INVALID_OPTION, UMBRA_ERR_MAILBOX_STORE
   */
  usage: (mailbox: Uint8Array) => { messages: number, bytes: number }
  /**
   * Deletes every row older than the TTL.
   * @returns how many rows were deleted
   * @throws UMBRA_ERR_MAILBOX_STORE
   */
  expire: () => number
  /**
   * Mailbox ids (32 bytes each) that have unexpired rows.
   * @throws UMBRA_ERR_MAILBOX_STORE
   */
  mailboxes: () => Uint8Array[]
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
 * Quotas are per mailbox: `maxMessages` distinct message ids and `maxBytes`
 * bytes of data. A put that would exceed either is refused with the reason;
 * stored rows are only removed by `delete` or by TTL expiry.
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
    if (version !== 0 && version !== SCHEMA_VERSION) {
      throw new MailboxStoreError(`${path} has mailbox schema version ${version}; this version of Umbra reads version ${SCHEMA_VERSION}`)
    }
    const mode = (db.prepare('PRAGMA journal_mode = WAL').get() as { journal_mode: string }).journal_mode
    if (mode !== 'wal' && path !== ':memory:') throw new MailboxStoreError(`${path}: cannot switch to WAL mode (got ${mode})`)
    db.exec('PRAGMA synchronous = FULL')
    db.exec(`
      BEGIN IMMEDIATE;
      CREATE TABLE IF NOT EXISTS message (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        mailbox BLOB NOT NULL,
        message_id BLOB NOT NULL,
        data BLOB NOT NULL,
        stored_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX IF NOT EXISTS message_by_mailbox ON message (mailbox, id);
      CREATE INDEX IF NOT EXISTS message_by_message_id ON message (mailbox, message_id);
      CREATE INDEX IF NOT EXISTS message_by_time ON message (stored_at);
      PRAGMA user_version = ${SCHEMA_VERSION};
      COMMIT;
    `)
  } catch (err) {
    try { db.close() } catch { /* already failing */ }
    if (err instanceof MailboxStoreError) throw err
    throw new MailboxStoreError(`${path} is not a usable Umbra mailbox database (it was left untouched): ${(err as Error).message}`, { cause: err })
  }

  const stmt = {
    usage: db.prepare('SELECT COUNT(DISTINCT message_id) AS messages, COALESCE(SUM(length(data)), 0) AS bytes FROM message WHERE mailbox = ? AND stored_at > ?'),
    holds: db.prepare('SELECT 1 AS one FROM message WHERE mailbox = ? AND message_id = ? AND stored_at > ? LIMIT 1'),
    insert: db.prepare('INSERT INTO message (mailbox, message_id, data, stored_at) VALUES (?, ?, ?, ?)'),
    list: db.prepare('SELECT id, message_id, data, stored_at FROM message WHERE mailbox = ? AND stored_at > ? ORDER BY id LIMIT ?'),
    deleteOne: db.prepare('DELETE FROM message WHERE mailbox = ? AND id = ?'),
    expireAll: db.prepare('DELETE FROM message WHERE stored_at <= ?'),
    expireOne: db.prepare('DELETE FROM message WHERE mailbox = ? AND stored_at <= ?'),
    mailboxes: db.prepare('SELECT DISTINCT mailbox FROM message WHERE stored_at > ?')
  } satisfies Record<string, StatementSync>
  let closed = false

  const clock = (): number => {
    const t = now()
    if (typeof t !== 'number' || !Number.isFinite(t)) throw new MailboxStoreError(`The clock returned ${String(t)}`)
    return Math.floor(t)
  }

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

  const usageAt = (mailbox: Uint8Array, cutoff: number): { messages: number, bytes: number } => {
    const row = stmt.usage.get(mailbox, cutoff) as { messages: number, bytes: number }
    return { messages: Number(row.messages), bytes: Number(row.bytes) }
  }

  return {
    put (mailbox, messageId, data) {
      checkBytes('mailbox', mailbox, MAILBOX_ID_BYTES)
      checkBytes('messageId', messageId, MESSAGE_ID_BYTES)
      if (!(data instanceof Uint8Array) || data.byteLength === 0) {
        throw new InvalidOptionError('data must be a non-empty Uint8Array')
      }
      if (closed) throw new MailboxStoreError('The mailbox store is closed')
      if (data.byteLength > maxBytes) return { ok: false, reason: 'bytes' }
      return transaction('put', () => {
        const t = clock()
        const cutoff = t - ttlMs
        stmt.expireOne.run(mailbox, cutoff)
        const used = usageAt(mailbox, cutoff)
        const known = stmt.holds.get(mailbox, messageId, cutoff) != null
        if (!known && used.messages + 1 > maxMessages) return { ok: false, reason: 'messages' } as const
        if (used.bytes + data.byteLength > maxBytes) return { ok: false, reason: 'bytes' } as const
        const r = stmt.insert.run(mailbox, messageId, data, t)
        return { ok: true, id: Number(r.lastInsertRowid) } as const
      })
    },

    list (mailbox, limit = LIST_DEFAULT_LIMIT) {
      checkBytes('mailbox', mailbox, MAILBOX_ID_BYTES)
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > LIST_MAX_LIMIT) {
        throw new InvalidOptionError(`limit must be an integer from 1 to ${LIST_MAX_LIMIT}, got ${String(limit)}`)
      }
      return read('list', () => {
        const rows = stmt.list.all(mailbox, clock() - ttlMs, limit) as Array<{ id: number, message_id: Uint8Array, data: Uint8Array, stored_at: number }>
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
        for (const id of new Set(ids)) deleted += Number(stmt.deleteOne.run(mailbox, id).changes)
        return deleted
      })
    },

    usage (mailbox) {
      checkBytes('mailbox', mailbox, MAILBOX_ID_BYTES)
      return read('usage', () => usageAt(mailbox, clock() - ttlMs))
    },

    expire () {
      return transaction('expire', () => Number(stmt.expireAll.run(clock() - ttlMs).changes))
    },

    mailboxes () {
      return read('mailboxes', () => (stmt.mailboxes.all(clock() - ttlMs) as Array<{ mailbox: Uint8Array }>).map((r) => r.mailbox))
    },

    close () {
      if (closed) return
      closed = true
      db.close()
    }
  }
}
