/**
 * A node's guards (issue 16, item 2; docs/mixnet.md "Layers and guards"):
 * the sampled set of {@link GuardEntry} kept by the policy functions of
 * src/mixnet/topology.ts, persisted in the node's state database (component
 * `mixnet-guards`, table `mix_guard`) so that a restarted node keeps its
 * guards. Without a state database the set lives in memory.
 */
import { randomInt } from 'node:crypto'
import type { StateDatabase } from '../store/index.ts'
import { guardFailed, guardSucceeded, maintainGuards, nodeKeyHex, pickGuard, primaryGuards, type GuardEntry, type TopologyNode } from './topology.ts'

/** Migration steps of component `mixnet-guards`; append only, never edit a shipped step. */
const GUARD_STEPS: readonly string[] = [
  `CREATE TABLE mix_guard (
     position INTEGER PRIMARY KEY, node_key TEXT NOT NULL UNIQUE, added_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
     unlisted_since INTEGER, failing_since INTEGER, retry_at INTEGER) STRICT`
]

/** A node's guard set (see the module comment). */
export interface Guards {
  /**
   * The first hop for a packet this node originates, after the policy's
   * bookkeeping against `candidates` (the directory's mix nodes with a key
   * for the epoch, this node left out).
   * @param exclude - keys (hex) refused for this packet (the path's gateway, a first hop that failed this message)
   * @returns the guard's directory entry, or undefined when no candidate can be a guard
   */
  pick: <T extends TopologyNode>(candidates: readonly T[], exclude?: (key: string) => boolean) => T | undefined
  /** A first-hop send through `nodeKey` failed: back-off per the retry schedule (no-op for a non-guard). */
  failed: (nodeKey: Uint8Array) => void
  /** A first-hop send through `nodeKey` worked: clears its failure record. */
  succeeded: (nodeKey: Uint8Array) => void
  /** The sampled set, in sample order (copies). */
  sample: () => GuardEntry[]
  /** Keys (hex) of the primary guards among `listed` (directory keys, hex). */
  primary: (listed: ReadonlySet<string>) => string[]
}

interface GuardRow { node_key: string, added_at: number, expires_at: number, unlisted_since: number | null, failing_since: number | null, retry_at: number | null }

/**
 * Opens the guard set, reading the persisted one from `state` (migrating it
 * on first use).
 * @param now - clock, ms since the Unix epoch (tests) @default Date.now
 * @throws UMBRA_ERR_STATE_DB (migration failed)
 */
export function openGuards (state: StateDatabase | undefined, now: () => number = Date.now): Guards {
  let sample: GuardEntry[] = []
  let save: (s: GuardEntry[]) => void = () => {}
  if (state != null) {
    state.migrate('mixnet-guards', GUARD_STEPS)
    const rows = state.db.prepare('SELECT node_key, added_at, expires_at, unlisted_since, failing_since, retry_at FROM mix_guard ORDER BY position').all() as unknown as GuardRow[]
    sample = rows.map((r) => ({
      key: r.node_key,
      addedAt: r.added_at,
      expiresAt: r.expires_at,
      ...(r.unlisted_since != null ? { unlistedSince: r.unlisted_since } : {}),
      ...(r.failing_since != null ? { failingSince: r.failing_since } : {}),
      ...(r.retry_at != null ? { retryAt: r.retry_at } : {})
    }))
    const clear = state.db.prepare('DELETE FROM mix_guard')
    const insert = state.db.prepare('INSERT INTO mix_guard (position, node_key, added_at, expires_at, unlisted_since, failing_since, retry_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
    save = (s) => {
      state.transaction(() => {
        clear.run()
        s.forEach((g, i) => insert.run(i, g.key, g.addedAt, g.expiresAt, g.unlistedSince ?? null, g.failingSince ?? null, g.retryAt ?? null))
      })
    }
  }
  const update = (next: GuardEntry[]): void => {
    const before = JSON.stringify(sample)
    sample = next
    if (JSON.stringify(next) !== before) save(next)
  }
  return {
    pick (candidates, exclude) {
      const t = now()
      const kept = maintainGuards({ sample, candidates, now: t, rng: randomInt })
      if (kept.changed) update(kept.sample)
      const listed = new Map(candidates.map((n) => [nodeKeyHex(n.nodeKey), n]))
      const key = pickGuard(sample, new Set(listed.keys()), t, exclude)
      return key == null ? undefined : listed.get(key)
    },
    failed (nodeKey) {
      const key = nodeKeyHex(nodeKey)
      if (!sample.some((g) => g.key === key)) return
      const listed = new Set(sample.filter((g) => g.unlistedSince == null).map((g) => g.key))
      update(guardFailed(sample, key, listed, now()))
    },
    succeeded (nodeKey) {
      const key = nodeKeyHex(nodeKey)
      if (sample.some((g) => g.key === key && (g.failingSince != null || g.retryAt != null))) update(guardSucceeded(sample, key))
    },
    sample () {
      return sample.map((g) => ({ ...g }))
    },
    primary (listed) {
      return primaryGuards(sample, listed).map((g) => g.key)
    }
  }
}
