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
 * - `mix_replay`: the replay tags' 64-bit fingerprints per epoch
 *   (src/mixnet/replay-filter.ts), so a restarted relay still refuses a
 *   replay within the epoch. Writes are batched: new fingerprints are
 *   buffered and written in one transaction every
 *   {@link REPLAY_FLUSH_INTERVAL_MS} or {@link REPLAY_FLUSH_BATCH} tags, so a
 *   SIGKILL loses at most the last interval's tags (documented window).
 */
import type { StateDatabase } from '../store/index.ts'
import type { OnionKeyStore } from './onion-keys.ts'
import type { ReplayTagStore } from './replay-filter.ts'

/** Longest time a new replay fingerprint waits before it is written, ms (a SIGKILL loses at most this window's tags). */
export const REPLAY_FLUSH_INTERVAL_MS = 50
/** Buffered fingerprints that trigger a write at once (one transaction). */
export const REPLAY_FLUSH_BATCH = 4096

/** Migration steps of component `mixnet`; append only, never edit a shipped step. */
const MIX_STATE_STEPS: readonly string[] = [
  `CREATE TABLE mix_onion_key (epoch INTEGER PRIMARY KEY, public_key BLOB NOT NULL, secret BLOB NOT NULL) STRICT;
   CREATE TABLE mix_replay (epoch INTEGER NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL, PRIMARY KEY (epoch, lo, hi)) STRICT, WITHOUT ROWID`
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
  const addTag = db.prepare('INSERT OR IGNORE INTO mix_replay (epoch, lo, hi) VALUES (?, ?, ?)')
  const dropTags = db.prepare('DELETE FROM mix_replay WHERE epoch < ?')
  let pending: Array<[number, number, number]> = []
  let timer: ReturnType<typeof setTimeout> | undefined

  const flush = (): void => {
    clearTimeout(timer)
    timer = undefined
    if (pending.length === 0) return
    const batch = pending
    pending = []
    state.transaction(() => { for (const [e, lo, hi] of batch) addTag.run(e, lo, hi) })
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
      load () {
        return (db.prepare('SELECT epoch, lo, hi FROM mix_replay').all() as Array<{ epoch: number, lo: number, hi: number }>).map((r) => [r.epoch, r.lo, r.hi])
      },
      add (epoch, lo, hi) {
        pending.push([epoch, lo, hi])
        if (pending.length >= REPLAY_FLUSH_BATCH) flush()
        else if (timer == null) {
          timer = setTimeout(flush, REPLAY_FLUSH_INTERVAL_MS)
          timer.unref()
        }
      },
      dropBefore (epoch) {
        flush()
        dropTags.run(epoch)
      }
    },
    flush,
    close: flush
  }
}
