/**
 * The node's durable inbox (issue 11, items 1 and 2): direct messages,
 * anonymous messages to its pseudonyms and anonymous replies, in one table of
 * the state database (component `inbox`), so they survive a restart and a
 * SIGKILL (WAL). Pages are read newest first with a cursor that stays valid
 * while messages arrive. `ack` means the application has processed a message:
 * acknowledged messages are deleted. Every id is remembered for
 * INBOX_SEEN_TTL_MS after receipt, so a second copy (a sender's retry after a
 * lost acknowledgement, an offline-queue copy) is dropped even after the first
 * was acknowledged or deleted. docs/messaging.md "Inbox".
 */
import { randomBytes } from 'node:crypto'
import { InvalidOptionError } from '../errors.ts'
import { INBOX_MAX_MESSAGES, INBOX_PAGE_DEFAULT, INBOX_PAGE_MAX, INBOX_SEEN_TTL_MS, INBOX_SWEEP_INTERVAL_MS } from './constants.ts'
import { MessageNotFoundError } from './errors.ts'
import type { ReceivedMessage } from './types.ts'
import type { AnonymousMessage, AnonymousReply } from '../mixnet/types.ts'
import type { StateDatabase } from '../store/database.ts'
import type { Logger } from '../logger.ts'

/** One inbox entry; `kind` tells which. */
export type InboxEntry =
  | ({ kind: 'direct' } & ReceivedMessage)
  | ({ kind: 'anonymous' } & AnonymousMessage)
  | ({ kind: 'reply', id: string } & AnonymousReply)

/** Options of {@link Inbox.list}. */
export interface InboxListOptions {
  /** Entries per page, 1 to 1,000. @default 100 */
  limit?: number
  /** Cursor: the `next` of the previous page; only older entries are listed. */
  before?: string
  /** Only entries received at or after this time, ms since the Unix epoch. */
  since?: number
}

/** One page of {@link Inbox.list}. */
export interface InboxPage {
  /** Newest first. */
  messages: InboxEntry[]
  /** Cursor for the next (older) page; absent on the last page. */
  next?: string
}

/** The inbox as the library shows it (`node.inbox`). */
export interface Inbox {
  /**
   * One page of the inbox, newest first. The cursor is the entry's position
   * of arrival, so messages arriving between two pages never shift or repeat
   * entries of the older pages.
   * @throws UMBRA_ERR_INVALID_OPTION (limit not 1 to 1,000, malformed cursor)
   */
  list(options?: InboxListOptions): InboxPage
  /**
   * Deletes the entry with this id.
   * @throws UMBRA_ERR_MESSAGE_NOT_FOUND when no entry has it
   */
  delete(id: string): void
  /**
   * Marks entries as processed by the application: they are deleted. Ids not
   * in the inbox (never received, or already gone) are returned in `unknown`.
   * @param ids - at most 1,000
   * @throws UMBRA_ERR_INVALID_OPTION (not an array of strings, too many)
   */
  ack(ids: string[]): { acked: number, unknown: string[] }
  /** Entries in the inbox. */
  size(): number
}

/** The inbox with the write side the services use. */
export interface InboxHandle extends Inbox {
  /** Stores a direct message; false (nothing stored) when its id from this sender was already seen. */
  addDirect(message: ReceivedMessage): boolean
  /** Stores an anonymous message; false when its id was already seen. */
  addAnonymous(message: AnonymousMessage): boolean
  /** Stores an anonymous reply under a fresh id; returns the entry. */
  addReply(reply: AnonymousReply): InboxEntry
  /** Whether a direct message with this id from this sender was already received (within INBOX_SEEN_TTL_MS). */
  seenDirect(from: string, id: string): boolean
}

/** Options of {@link createInbox}. */
export interface InboxInit {
  state: StateDatabase
  log?: Logger
  /** Entries kept before the oldest is dropped. @default INBOX_MAX_MESSAGES */
  maxMessages?: number
}

/** Schema of component `inbox`; append only (src/store/database.ts). */
const MIGRATIONS = [
  `CREATE TABLE inbox (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL,
     kind TEXT NOT NULL,
     sender TEXT,
     sender_key TEXT,
     recipient TEXT,
     in_reply_to TEXT,
     body BLOB NOT NULL,
     sent_at INTEGER,
     received_at INTEGER NOT NULL,
     replies_left INTEGER
   ) STRICT;
   CREATE INDEX inbox_by_id ON inbox (id);
   CREATE TABLE inbox_seen (kind TEXT NOT NULL, sender TEXT NOT NULL, id TEXT NOT NULL, seen_at INTEGER NOT NULL, PRIMARY KEY (kind, sender, id)) STRICT, WITHOUT ROWID;
   CREATE INDEX inbox_seen_by_time ON inbox_seen (seen_at);`
]

interface Row {
  seq: number
  id: string
  kind: string
  sender: string | null
  sender_key: string | null
  recipient: string | null
  in_reply_to: string | null
  body: Uint8Array
  sent_at: number | null
  received_at: number
  replies_left: number | null
}

const CURSOR = /^[0-9]{1,15}$/

/** A value bound to a statement parameter. */
type SqlValue = string | number | null | Uint8Array

function toEntry (r: Row): InboxEntry {
  const body = new Uint8Array(r.body)
  if (r.kind === 'direct') return { kind: 'direct', id: r.id, from: r.sender ?? '', fromKey: r.sender_key ?? '', body, sentAt: r.sent_at ?? 0, receivedAt: r.received_at }
  if (r.kind === 'anonymous') return { kind: 'anonymous', id: r.id, from: null, to: r.recipient ?? '', body, sentAt: r.sent_at ?? 0, receivedAt: r.received_at, repliesLeft: r.replies_left ?? 0 }
  return { kind: 'reply', id: r.id, inReplyTo: r.in_reply_to ?? '', body, receivedAt: r.received_at }
}

/**
 * Opens the inbox on a state database (migrating component `inbox`).
 * @throws UMBRA_ERR_STATE_DB (migration failed), UMBRA_ERR_INVALID_OPTION
 */
export function createInbox (init: InboxInit): InboxHandle {
  const { state, log } = init
  const maxMessages = init.maxMessages ?? INBOX_MAX_MESSAGES
  if (!Number.isInteger(maxMessages) || maxMessages < 1) throw new InvalidOptionError('maxMessages must be a positive integer')
  state.migrate('inbox', MIGRATIONS)
  const { db } = state
  const insert = db.prepare('INSERT INTO inbox (id, kind, sender, sender_key, recipient, in_reply_to, body, sent_at, received_at, replies_left) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
  const markSeen = db.prepare('INSERT INTO inbox_seen (kind, sender, id, seen_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING')
  const isSeen = db.prepare('SELECT 1 AS x FROM inbox_seen WHERE kind = ? AND sender = ? AND id = ?')
  const sweepSeen = db.prepare('DELETE FROM inbox_seen WHERE seen_at < ?')
  const count = db.prepare('SELECT COUNT(*) AS n FROM inbox')
  const dropOldest = db.prepare('DELETE FROM inbox WHERE seq IN (SELECT seq FROM inbox ORDER BY seq ASC LIMIT ?)')
  const page = db.prepare('SELECT * FROM inbox WHERE seq < ? AND received_at >= ? ORDER BY seq DESC LIMIT ?')
  const remove = db.prepare('DELETE FROM inbox WHERE id = ?')
  let lastSweep = 0
  let size = (count.get() as { n: number }).n

  /** Inserts one entry unless (kind, sender, id) was seen; evicts the oldest past the cap. */
  function add (kind: string, sender: string, values: SqlValue[]): boolean {
    const now = Date.now()
    const added = state.transaction(() => {
      if (now - lastSweep >= INBOX_SWEEP_INTERVAL_MS) {
        sweepSeen.run(now - INBOX_SEEN_TTL_MS)
        lastSweep = now
      }
      if (markSeen.run(kind, sender, values[0] as string, now).changes === 0) return false
      insert.run(...values)
      size++
      if (size > maxMessages) {
        const over = size - maxMessages
        dropOldest.run(over)
        size -= over
        log?.warn({ dropped: over, max: maxMessages }, 'inbox full: dropped the oldest messages')
      }
      return true
    })
    return added
  }

  return {
    addDirect (m) {
      return add('direct', m.from, [m.id, 'direct', m.from, m.fromKey, null, null, m.body, m.sentAt, m.receivedAt, null])
    },

    addAnonymous (m) {
      return add('anonymous', m.to, [m.id, 'anonymous', null, null, m.to, null, m.body, m.sentAt, m.receivedAt, m.repliesLeft])
    },

    addReply (r) {
      const id = randomBytes(16).toString('hex')
      add('reply', '', [id, 'reply', null, null, null, r.inReplyTo, r.body, null, r.receivedAt, null])
      return { kind: 'reply', id, inReplyTo: r.inReplyTo, body: r.body, receivedAt: r.receivedAt }
    },

    seenDirect (from, id) {
      return isSeen.get('direct', from, id) !== undefined
    },

    list (options = {}) {
      const limit = options.limit ?? INBOX_PAGE_DEFAULT
      if (!Number.isInteger(limit) || limit < 1 || limit > INBOX_PAGE_MAX) throw new InvalidOptionError(`limit must be an integer from 1 to ${INBOX_PAGE_MAX}, got ${String(limit)}`)
      if (options.before !== undefined && (typeof options.before !== 'string' || !CURSOR.test(options.before))) {
        throw new InvalidOptionError('before must be the "next" cursor of a previous page')
      }
      const since = options.since ?? 0
      if (!Number.isFinite(since)) throw new InvalidOptionError('since must be a time in ms since the Unix epoch')
      const before = options.before !== undefined ? Number(options.before) : Number.MAX_SAFE_INTEGER
      // One more row than asked tells whether an older page exists.
      const rows = page.all(before, since, limit + 1) as unknown as Row[]
      const more = rows.length > limit
      const shown = more ? rows.slice(0, limit) : rows
      const out: InboxPage = { messages: shown.map(toEntry) }
      if (more) out.next = String((shown.at(-1) as Row).seq)
      return out
    },

    delete (id) {
      if (typeof id !== 'string') throw new MessageNotFoundError('A message id is a string')
      const gone = Number(remove.run(id).changes)
      if (gone === 0) throw new MessageNotFoundError(`No message ${id} is in the inbox`)
      size -= gone
    },

    ack (ids) {
      if (!Array.isArray(ids) || ids.length > INBOX_PAGE_MAX || ids.some((id) => typeof id !== 'string')) {
        throw new InvalidOptionError(`ids must be an array of at most ${INBOX_PAGE_MAX} message ids`)
      }
      const unknown: string[] = []
      let acked = 0
      state.transaction(() => {
        for (const id of new Set(ids)) {
          const gone = Number(remove.run(id).changes)
          if (gone === 0) unknown.push(id)
          acked += gone
        }
      })
      size -= acked
      return { acked, unknown }
    },

    size () {
      return size
    }
  }
}
