/**
 * Path ranking (seed 002's path ranking; issue 11 item 3). Where a peer can
 * be reached over several paths (several addresses, a relay, a direct WebRTC
 * connection) the messaging service tries them best first and records how
 * each send went. A path is ranked by, in this order:
 *
 * 1. health: a path is healthy until its recent success rate (the last
 *    {@link PATH_WINDOW} sends over it) falls below
 *    {@link PATH_HEALTHY_RATE}; every healthy path ranks above every
 *    unhealthy one, and unhealthy ones rank by success rate, best first.
 *    An unhealthy path not tried for {@link PATH_RETRY_MS} counts as healthy
 *    again, so a path that recovered (a NAT mapping back) is probed again;
 * 2. hop count: a direct path (0 relays) before a relayed one (1 relay);
 * 3. measured latency: the round trip of a send (write, then the
 *    recipient's acknowledgement), ms, smoothed as an EWMA with weight
 *    {@link PATH_RTT_ALPHA}; a path not measured yet ranks after measured
 *    ones of the same hop count.
 *
 * So a direct path is used first, and once it fails repeatedly a relayed path
 * that works moves above it. docs/messaging.md "Path ranking".
 */
import { isRelayedAddr } from '../nat/nat-service.ts'

/** Sends remembered per path for its success rate (seed 002 "recent success rate"; issue 11). */
export const PATH_WINDOW = 8
/** Lowest success rate over the window at which a path still counts as healthy, 0 to 1. */
export const PATH_HEALTHY_RATE = 0.5
/** After this long without a send over it, an unhealthy path is tried again (ranked as healthy), ms. */
export const PATH_RETRY_MS = 60_000
/** Weight of a new RTT sample in the EWMA (0 to 1; 0.3 follows a change within about 3 sends). */
export const PATH_RTT_ALPHA = 0.3
/** Peers whose paths are remembered; the least recently used is forgotten past this. */
export const PATH_MAX_PEERS = 1024
/** Paths remembered per peer; the least recently used is forgotten past this. */
export const PATH_MAX_PER_PEER = 16

/** How a path reaches the peer: `direct` (0 relays, TCP/WebSockets/WebRTC) or `relayed` (1 relay, circuit relay v2). */
export type PathKind = 'direct' | 'relayed'

/** One ranked path to a peer with its measurements, as `GET /v1/peers/{peer}` shows it. */
export interface RankedPath {
  /** The multiaddr of the path, without the peer's trailing `/p2p/<peer>`. */
  addr: string
  kind: PathKind
  /** Relays on the path: 0 direct, 1 relayed. */
  hops: number
  /** EWMA of the measured send round trips, ms; absent before the first success. */
  rttMs?: number
  /** Successes over the last `attempts` sends (at most {@link PATH_WINDOW}), 0 to 1; absent before the first send. */
  successRate?: number
  /** Sends remembered for `successRate`, 0 to {@link PATH_WINDOW}. */
  attempts: number
  /** A connection over this path is open now. */
  connected: boolean
  /** Time of the last send over this path, ms since the Unix epoch; absent before the first. */
  lastUsed?: number
}

/** A candidate path given to {@link PathRanker.rank}: its address and whether a connection over it is open. */
export interface PathCandidate {
  addr: string
  connected: boolean
}

interface PathStats {
  rttMs?: number
  outcomes: boolean[]
  lastUsed?: number
}

/** Strips the peer's own trailing `/p2p/<peer>` so that one path has one key however it was written. */
export function pathKey (addr: string, peer: string): string {
  const tail = `/p2p/${peer}`
  return addr.endsWith(tail) ? addr.slice(0, -tail.length) : addr
}

/** `relayed` for a circuit-relay address (not a `/p2p-circuit/webrtc` one, which is direct once up), else `direct`. */
export function pathKind (addr: string): PathKind {
  return isRelayedAddr(addr) ? 'relayed' : 'direct'
}

/**
 * Ranks paths to peers from the outcome and round trip of each send
 * (module comment). In memory: measurements start over when the node restarts.
 */
export class PathRanker {
  readonly #peers = new Map<string, Map<string, PathStats>>()
  readonly #window: number
  readonly #alpha: number

  /**
   * @param options.window - sends remembered per path @default PATH_WINDOW
   * @param options.alpha - EWMA weight of a new RTT sample @default PATH_RTT_ALPHA
   */
  constructor (options: { window?: number, alpha?: number } = {}) {
    this.#window = options.window ?? PATH_WINDOW
    this.#alpha = options.alpha ?? PATH_RTT_ALPHA
  }

  /**
   * Records one send over `addr` to `peer`: `rttMs` (ms, the send's round
   * trip) when it succeeded, `undefined` when it failed.
   */
  record (peer: string, addr: string, rttMs: number | undefined, now = Date.now()): void {
    const paths = this.#pathsOf(peer)
    const key = pathKey(addr, peer)
    const stats = paths.get(key) ?? { outcomes: [] }
    paths.delete(key)
    paths.set(key, stats)
    if (paths.size > PATH_MAX_PER_PEER) paths.delete(paths.keys().next().value as string)
    stats.outcomes.push(rttMs !== undefined)
    if (stats.outcomes.length > this.#window) stats.outcomes.shift()
    if (rttMs !== undefined) stats.rttMs = stats.rttMs === undefined ? rttMs : this.#alpha * rttMs + (1 - this.#alpha) * stats.rttMs
    stats.lastUsed = now
  }

  /**
   * The paths to `peer`, best first: the candidates given (open connections
   * and known addresses) with what was measured over them; without
   * `candidates`, every path measured before (none of them connected).
   * @returns one entry per distinct path key
   */
  rank (peer: string, candidates?: PathCandidate[]): RankedPath[] {
    const byKey = new Map<string, RankedPath>()
    const stats = this.#peers.get(peer)
    const add = (addr: string, connected: boolean): void => {
      const key = pathKey(addr, peer)
      const had = byKey.get(key)
      if (had != null) { had.connected ||= connected; return }
      const kind = pathKind(key)
      const s = stats?.get(key)
      const ok = s?.outcomes.filter(Boolean).length ?? 0
      const attempts = s?.outcomes.length ?? 0
      byKey.set(key, {
        addr: key,
        kind,
        hops: kind === 'direct' ? 0 : 1,
        ...(s?.rttMs !== undefined ? { rttMs: Math.round(s.rttMs * 100) / 100 } : {}),
        ...(attempts > 0 ? { successRate: ok / attempts } : {}),
        attempts,
        connected,
        ...(s?.lastUsed !== undefined ? { lastUsed: s.lastUsed } : {})
      })
    }
    if (candidates != null) for (const c of candidates) add(c.addr, c.connected)
    else for (const key of stats?.keys() ?? []) add(key, false)
    const now = Date.now()
    return [...byKey.values()].sort((a, b) => comparePaths(a, b, now))
  }

  /** Forgets everything measured for `peer`. */
  forget (peer: string): void {
    this.#peers.delete(peer)
  }

  #pathsOf (peer: string): Map<string, PathStats> {
    let paths = this.#peers.get(peer)
    if (paths != null) this.#peers.delete(peer)
    paths ??= new Map()
    this.#peers.set(peer, paths)
    if (this.#peers.size > PATH_MAX_PEERS) this.#peers.delete(this.#peers.keys().next().value as string)
    return paths
  }
}

/**
 * Health, then hop count, then EWMA RTT (measured before unmeasured), then an
 * open connection first (module comment). `now`: ms since the Unix epoch, for
 * {@link PATH_RETRY_MS}.
 */
export function comparePaths (a: RankedPath, b: RankedPath, now = Date.now()): number {
  const healthy = (p: RankedPath): boolean => p.successRate === undefined || p.successRate >= PATH_HEALTHY_RATE || now - (p.lastUsed ?? 0) >= PATH_RETRY_MS
  if (healthy(a) !== healthy(b)) return healthy(a) ? -1 : 1
  if (!healthy(a) && a.successRate !== b.successRate) return (b.successRate ?? 0) - (a.successRate ?? 0)
  if (a.hops !== b.hops) return a.hops - b.hops
  if ((a.rttMs === undefined) !== (b.rttMs === undefined)) return a.rttMs === undefined ? 1 : -1
  if (a.rttMs !== undefined && b.rttMs !== undefined && a.rttMs !== b.rttMs) return a.rttMs - b.rttMs
  if (a.connected !== b.connected) return a.connected ? -1 : 1
  return 0
}
