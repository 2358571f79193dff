/**
 * A mix relay's durable state in the node's state database (issue 11,
 * item 1; docs/ARCHITECTURE.md "Durable state"), component `mixnet`:
 *
 * - `mix_onion_key`: the X25519 onion key pairs of the epochs the relay
 *   accepts (current, next, and the previous one during its grace period),
 *   so a relay restarted after a crash still opens the packets and SURBs
 *   built for them (src/mixnet/onion-keys.ts). These are secrets: they are
 *   kept in the state database (mode 0600, directory 0700), never in a file
 *   of their own; a key leaving the window is overwritten with zeros, then
 *   deleted (the old page image may stay in the `-wal` file until the next
 *   checkpoint reuses it).
 * - `mix_replay_log`: the replay tags' first 8 bytes per epoch
 *   (src/mixnet/replay-filter.ts), so a restarted relay still refuses a
 *   replay within the epoch. Writes are batched and append only (issue 15:
 *   a relay at 12,000 packets/s writes 43M tags an epoch, too many for one
 *   B-tree row each): new tags are buffered per epoch in a typed array and
 *   appended as one BLOB row (8 bytes per tag, little-endian lo, hi) every
 *   {@link REPLAY_FLUSH_INTERVAL_MS} or {@link REPLAY_FLUSH_BATCH} tags, so
 *   a SIGKILL loses at most the last interval's tags (documented window).
 *   Disk: 8 bytes per tag (≈ 345 MB for a full epoch at 12,000 packets/s),
 *   deleted with the epoch. Rows of the earlier one-row-per-tag table
 *   `mix_replay` are still read and deleted.
 */
import type { StateDatabase } from '../store/index.ts'
import type { OnionKeyStore } from './onion-keys.ts'
import type { ReplayTagStore } from './replay-filter.ts'

/** Longest time a new replay fingerprint waits before it is written, ms (a SIGKILL loses at most this window's tags). */
export const REPLAY_FLUSH_INTERVAL_MS = 50
/** Buffered fingerprints that trigger a write at once (one BLOB row of 32 KiB). */
export const REPLAY_FLUSH_BATCH = 4096

const isLittleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1

/** `n` pairs of u32 words as little-endian bytes (big-endian hosts only). */
function toLittleEndian (words: Uint32Array, n: number): Uint8Array {
  const out = new Uint8Array(n * 8)
  const view = new DataView(out.buffer)
  for (let i = 0; i < 2 * n; i++) view.setUint32(4 * i, words[i] as number, true)
  return out
}

/** Migration steps of component `mixnet`; append only, never edit a shipped step. */
const MIX_STATE_STEPS: readonly string[] = [
  `CREATE TABLE mix_onion_key (epoch INTEGER PRIMARY KEY, public_key BLOB NOT NULL, secret BLOB NOT NULL) STRICT;
   CREATE TABLE mix_replay (epoch INTEGER NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL, PRIMARY KEY (epoch, lo, hi)) STRICT, WITHOUT ROWID`,
  // issue 15: append-only batches, 8 bytes per tag.
  `CREATE TABLE mix_replay_log (id INTEGER PRIMARY KEY, epoch INTEGER NOT NULL, tags BLOB NOT NULL) STRICT;
   CREATE INDEX mix_replay_log_epoch ON mix_replay_log (epoch)`
]

/** A relay's durable state (see the module comment). */
export interface MixState {
  onionKeys: OnionKeyStore
  replayTags: ReplayTagStore
  /** Writes the buffered replay fingerprints now. */
  flush: () => void
  /** Flushes and stops the flush timer (mixnet stop; the database is the node's to close). Later tags start it again. */
  close: () => void
}

/**
 * Opens the relay's tables in `state` (creating them on first use).
 * @throws UMBRA_ERR_STATE_DB (migration failed)
 */
export function openMixState (state: StateDatabase): MixState {
  state.migrate('mixnet', MIX_STATE_STEPS)
  const { db } = state
  const getKey = db.prepare('SELECT public_key, secret FROM mix_onion_key WHERE epoch = ?')
  const putKey = db.prepare('INSERT INTO mix_onion_key (epoch, public_key, secret) VALUES (?, ?, ?) ON CONFLICT (epoch) DO UPDATE SET public_key = excluded.public_key, secret = excluded.secret')
  const addBatch = db.prepare('INSERT INTO mix_replay_log (epoch, tags) VALUES (?, ?)')
  const dropLog = db.prepare('DELETE FROM mix_replay_log WHERE epoch < ?')
  const dropTags = db.prepare('DELETE FROM mix_replay WHERE epoch < ?')
  /** Buffered tags per epoch: two u32 words (lo, hi) each, `n` tags used. */
  const pending = new Map<number, { words: Uint32Array, n: number }>()
  let buffered = 0
  let timer: ReturnType<typeof setTimeout> | undefined

  const flush = (): void => {
    clearTimeout(timer)
    timer = undefined
    if (buffered === 0) return
    const batches = [...pending]
    pending.clear()
    buffered = 0
    state.transaction(() => {
      for (const [epoch, b] of batches) {
        const bytes = new Uint8Array(b.words.buffer, 0, b.n * 8)
        if (isLittleEndian) addBatch.run(epoch, bytes)
        else addBatch.run(epoch, toLittleEndian(b.words, b.n))
      }
    })
  }

  return {
    onionKeys: {
      get (epoch) {
        const row = getKey.get(epoch) as { public_key: Uint8Array, secret: Uint8Array } | undefined
        return row == null ? undefined : { publicKey: row.public_key, secret: row.secret }
      },
      put (epoch, publicKey, secret) {
        putKey.run(epoch, publicKey, secret)
      },
      retain (epochs) {
        const keep = epochs.filter((e) => Number.isSafeInteger(e)).join(',')
        const outside = keep === '' ? '' : ` WHERE epoch NOT IN (${keep})`
        state.transaction(() => {
          db.exec(`UPDATE mix_onion_key SET secret = zeroblob(length(secret))${outside}`)
          db.exec(`DELETE FROM mix_onion_key${outside}`)
        })
      }
    },
    replayTags: {
      * load () {
        for (const r of db.prepare('SELECT epoch, lo, hi FROM mix_replay').iterate() as Iterable<{ epoch: number, lo: number, hi: number }>) yield [r.epoch, r.lo, r.hi]
        for (const r of db.prepare('SELECT epoch, tags FROM mix_replay_log ORDER BY id').iterate() as Iterable<{ epoch: number, tags: Uint8Array }>) {
          const view = new DataView(r.tags.buffer, r.tags.byteOffset, r.tags.byteLength)
          for (let at = 0; at + 8 <= r.tags.byteLength; at += 8) yield [r.epoch, view.getUint32(at, true), view.getUint32(at + 4, true)]
        }
      },
      add (epoch, lo, hi) {
        let b = pending.get(epoch)
        if (b === undefined) {
          b = { words: new Uint32Array(2 * REPLAY_FLUSH_BATCH), n: 0 }
          pending.set(epoch, b)
        }
        b.words[2 * b.n] = lo
        b.words[2 * b.n + 1] = hi
        b.n++
        buffered++
        if (b.n >= REPLAY_FLUSH_BATCH) flush()
        else if (timer == null) {
          timer = setTimeout(flush, REPLAY_FLUSH_INTERVAL_MS)
          timer.unref()
        }
      },
      dropBefore (epoch) {
        flush()
        state.transaction(() => {
          dropLog.run(epoch)
          dropTags.run(epoch)
        })
      }
    },
    flush,
    close: flush
  }
}
