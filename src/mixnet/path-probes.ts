/**
 * Path probes (issue 8, item 2: "eviction of nodes that fail path probes").
 *
 * A node's loop cover packets (Loopix) are its probes: each one travels a
 * SURB path of random mixes back to the node's own reply mailbox, so the
 * node learns which paths carry packets and which lose them. A mix that is
 * reachable but drops what it should relay (a silent dropper) passes every
 * directory check, yet turns up on lost loops and never on returned ones.
 * Attribution is statistical, as in Nym's network monitor, which also
 * scores mixes by test packets sent through them:
 *
 * - every mix on a returned loop scores one `returned`, every mix on a loop
 *   not back within `timeoutMs` one `lost` (the node's own reply gateway is
 *   not scored: its outages are handled by moving the reply mailbox);
 * - a mix with at least `minLost` losses and at most a quarter as many
 *   returns within `windowMs` becomes a **suspect** for `suspectMs`: new
 *   paths avoid it while enough other mixes are listed.
 *
 * An honest mix loses loops only when it shares a path with a bad one, so
 * its returns outnumber its losses unless most mixes are bad.
 *
 * Guards (issue 16): a loop's first hop is the node's guard, on every loop
 * it sends. A guard that drops everything would make every mix it shared
 * loops with look bad, so a lost loop whose first hop is a suspect (after
 * this loss is scored) blames only that first hop; the node then passes the
 * suspect guard over for the next one (Tor's path-bias idea: an entry that
 * fails most circuits is the one to leave).
 */
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'

const MINUTE = 60_000

/** Losses that make a mix a suspect (with returns at most a quarter of them). */
export const PROBE_MIN_LOST = 4
/** How long scores count before they start over, ms. */
export const PROBE_WINDOW_MS = 10 * MINUTE
/** How long a suspect is avoided, ms. */
export const PROBE_SUSPECT_MS = 10 * MINUTE
/** Loops in flight remembered at most (older ones are forgotten unscored). */
const MAX_PENDING = 1000

/** Options of {@link createPathProbes}. */
export interface PathProbesInit {
  /** A loop not back after this long counts as lost, ms. */
  timeoutMs: number
  /** @default 4 */
  minLost?: number
  /** @default 600000 (10 min) */
  windowMs?: number
  /** @default 600000 (10 min) */
  suspectMs?: number
  /** Clock, ms since the Unix epoch. @default Date.now */
  now?: () => number
}

/** Scores of the mixes on this node's loop paths. */
export interface PathProbes {
  /** A loop left over `path` (mix node keys, 32 bytes each); `id` names it for {@link returned}. */
  sent(id: string, path: Uint8Array[]): void
  /** The loop `id` came back: every mix on its path scores a return. Unknown ids are ignored. */
  returned(id: string): void
  /** Scores the loops not back in time as lost; returns the node keys (hex) that became suspects now. */
  sweep(): string[]
  /** Node keys (32 bytes) avoided now. */
  suspects(): Uint8Array[]
}

interface Score {
  returned: number
  lost: number
  since: number
  suspectUntil: number
  key: Uint8Array
}

/** Creates the probe scores of one node; see the module comment. */
export function createPathProbes (init: PathProbesInit): PathProbes {
  const now = init.now ?? Date.now
  const minLost = init.minLost ?? PROBE_MIN_LOST
  const windowMs = init.windowMs ?? PROBE_WINDOW_MS
  const suspectMs = init.suspectMs ?? PROBE_SUSPECT_MS
  const pending = new Map<string, { path: Uint8Array[], sentAt: number }>()
  const scores = new Map<string, Score>()

  function scoreOf (key: Uint8Array, t: number): Score {
    const id = uint8ArrayToString(key, 'base16')
    let s = scores.get(id)
    if (s == null || (s.suspectUntil <= t && t - s.since > windowMs)) {
      s = { returned: 0, lost: 0, since: t, suspectUntil: 0, key }
      scores.set(id, s)
    }
    return s
  }

  return {
    sent (id, path) {
      if (pending.size >= MAX_PENDING) pending.delete(pending.keys().next().value as string)
      pending.set(id, { path, sentAt: now() })
    },

    returned (id) {
      const p = pending.get(id)
      if (p == null) return
      pending.delete(id)
      const t = now()
      for (const k of p.path) scoreOf(k, t).returned++
    },

    sweep () {
      const t = now()
      const fresh: string[] = []
      for (const [id, p] of pending) {
        if (t - p.sentAt < init.timeoutMs) continue
        pending.delete(id)
        for (const [i, k] of p.path.entries()) {
          // The first hop (the guard) is scored first; once it is a suspect, the rest of its loops' paths are not blamed.
          if (i > 0 && (scoreOf(p.path[0] as Uint8Array, t).suspectUntil > t)) break
          const s = scoreOf(k, t)
          s.lost++
          if (s.suspectUntil <= t && s.lost >= minLost && s.returned * 4 <= s.lost) {
            s.suspectUntil = t + suspectMs
            fresh.push(uint8ArrayToString(k, 'base16'))
          }
        }
      }
      for (const [id, s] of scores) if (s.suspectUntil <= t && t - s.since > windowMs) scores.delete(id)
      return fresh
    },

    suspects () {
      const t = now()
      return [...scores.values()].filter((s) => s.suspectUntil > t).map((s) => s.key)
    }
  }
}
