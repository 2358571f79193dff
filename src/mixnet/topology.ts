/**
 * Stratified topology and guard policy of the mixnet (issue 16, item 2;
 * docs/mixnet.md "Layers and guards"). Everything here is a pure function of
 * its inputs (directory entries, an epoch, the time, a random source), so the
 * node (src/mixnet/mixnet-service.ts) and the anonymity simulator
 * (bench/anonymity.ts) run the same code.
 *
 * - **Layers** (Nym's stratified topology; Diaz, Murdoch & Troncoso 2010,
 *   "Impact of network topology on anonymity and overhead in low-latency
 *   anonymity networks"): every epoch the mix nodes are split into
 *   {@link MIX_LAYERS} layers, deterministically from the epoch and the
 *   directory, so every node with the same directory computes the same
 *   layers. A path takes hop i from layer i mod {@link MIX_LAYERS}.
 * - **Guards** (Tor's guard-spec, "Guard selection"): a node keeps a small
 *   sampled set of mix nodes, in the order they were sampled, for weeks;
 *   the first {@link GUARD_PRIMARY} listed ones are its primary guards, and
 *   every packet it originates takes the first usable primary guard as its
 *   first hop. A guard that fails is retried on a back-off schedule
 *   ({@link guardRetryDelayMs}); while it waits, the next guard is used.
 *
 * Usage:
 * ```ts
 * const mixes = directory.list()                       // TopologyNode[] (MixNodeInfo fits)
 * const layers = assignLayers(mixes, epoch)              // 3 layers, the same on every node
 * const { sample } = maintainGuards({ sample: [], candidates: mixes, now: Date.now(), rng: randomInt })
 * const key = pickGuard(sample, new Set(mixes.map((n) => nodeKeyHex(n.nodeKey))), Date.now())
 * const first = mixes.find((n) => nodeKeyHex(n.nodeKey) === key)
 * const path = selectLayeredPath({ layers, hops: 3, first, rng: randomInt })
 * ```
 */
import { createHash } from 'node:crypto'
import { NotEnoughMixesError } from './errors.ts'

const HOUR = 60 * 60 * 1000
const DAY = 24 * HOUR

/** Mix layers of the stratified topology (Nym runs 3; Umbra's default path is 3 mix hops, seed 001). */
export const MIX_LAYERS = 3
/** Domain of the hash that orders nodes for layer assignment (STYLE.md: every hash has its own domain). */
export const LAYER_DOMAIN = 'umbra/mix-layer/v1'

/** Primary guards a node keeps (Tor guard-spec: NUM_PRIMARY_GUARDS = 3). */
export const GUARD_PRIMARY = 3
/** Most guards in the sampled set (Tor guard-spec: MAX_SAMPLE_SIZE = 20). */
export const GUARD_MAX_SAMPLE = 20
/** A sampled guard is kept this long at least, ms (Tor guard-spec: GUARD_LIFETIME, uniform in [30, 60] days for unconfirmed guards). */
export const GUARD_LIFETIME_MIN_MS = 30 * DAY
/** … and at most this long, ms: the lifetime is drawn uniformly in between, so guards of many nodes do not rotate together. */
export const GUARD_LIFETIME_MAX_MS = 60 * DAY
/** A guard the directory has not listed for this long is removed from the sample, ms (Tor guard-spec: REMOVE_UNLISTED_GUARDS_AFTER = 20 days). */
export const GUARD_REMOVE_UNLISTED_MS = 20 * DAY

/** A random integer in [0, n): node:crypto's randomInt has this shape; the simulator passes a seeded one. */
export type Rng = (n: number) => number

/** What layer assignment and path selection read of a directory entry ({@link import('./directory.ts').MixNodeInfo} fits). */
export interface TopologyNode {
  /** Ed25519 node key, 32 bytes. */
  nodeKey: Uint8Array
  /** Relative capacity (any unit, > 0) when descriptors carry one; layers are balanced by it. @default 1 (balanced by count) */
  capacity?: number
}

/** One guard of a node's sampled set, as persisted (src/mixnet/guards.ts). Times are ms since the Unix epoch. */
export interface GuardEntry {
  /** Node key, lowercase hex (64 characters). */
  key: string
  addedAt: number
  /** Dropped from the sample at this time (lifetime drawn in [GUARD_LIFETIME_MIN_MS, GUARD_LIFETIME_MAX_MS]). */
  expiresAt: number
  /** First time the directory did not list it since it was last listed; undefined while listed. */
  unlistedSince?: number
  /** Start of the current run of failures (a first-hop send that failed); undefined while it works. */
  failingSince?: number
  /** Not tried as a first hop before this time (back-off after a failure). */
  retryAt?: number
}

/** Lowercase hex of a node key. */
export function nodeKeyHex (key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex')
}

/**
 * Splits `nodes` into `layers` layers for `epoch`: nodes are ordered by
 * SHA-256(LAYER_DOMAIN ‖ epoch as 8 bytes big-endian ‖ node key), then each
 * goes to the layer with the least capacity so far (the lowest index on a
 * tie), so layers hold equal counts (± 1) when no node names a capacity.
 * Deterministic: the same nodes and epoch give the same layers on every
 * node, whatever order the directory lists them in; a new epoch reshuffles.
 * @param nodes - the epoch's mix nodes (callers pass those with a key for it)
 * @returns `layers` arrays, each in hash order
 * @throws RangeError when `layers` is not a positive integer
 */
export function assignLayers<T extends TopologyNode> (nodes: readonly T[], epoch: number, layers: number = MIX_LAYERS): T[][] {
  if (!Number.isInteger(layers) || layers < 1) throw new RangeError(`layers must be a positive integer, got ${String(layers)}`)
  const epochBytes = Buffer.alloc(8)
  epochBytes.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(epoch))))
  const ordered = nodes
    .map((n) => ({ n, h: createHash('sha256').update(LAYER_DOMAIN).update(epochBytes).update(n.nodeKey).digest('hex') }))
    .sort((a, b) => a.h < b.h ? -1 : a.h > b.h ? 1 : 0)
  const out: T[][] = Array.from({ length: layers }, () => [])
  const load = new Array<number>(layers).fill(0)
  for (const { n } of ordered) {
    let best = 0
    for (let i = 1; i < layers; i++) if ((load[i] as number) < (load[best] as number)) best = i
    out[best]?.push(n)
    load[best] = (load[best] as number) + (n.capacity != null && n.capacity > 0 ? n.capacity : 1)
  }
  return out
}

/** Input of {@link selectLayeredPath}. */
export interface LayeredPathInput<T extends TopologyNode> {
  /** The epoch's layers, from {@link assignLayers}. */
  layers: readonly T[][]
  /** Mix hops, at least 1. */
  hops: number
  /** Fixed first hop (this node's guard), or undefined to draw hop 0 from layer 0 like any hop. */
  first?: T
  /** Nodes no hop may be (this node, the path's gateway, a first hop that failed). */
  exclude?: (n: T) => boolean
  /** Nodes left out while the layer (or, in a fallback, the network) has others: suspects, lossy mixes. */
  avoid?: (n: T) => boolean
  /**
   * Hop i is drawn from layer (i + layerOffset) mod L. Loop cover draws it
   * at random, so loops (the path probes) reach every layer although their
   * first hop is a guard. @default 0
   */
  layerOffset?: number
  rng: Rng
}

/**
 * A path of `hops` distinct mixes: hop i is drawn uniformly from layer
 * (i + `layerOffset`) mod L (L = `layers.length`), preferring nodes not in `avoid`; with
 * `first` given, hop 0 is that node (a guard plays the part of layer 0 for
 * the packets its node originates). A layer with no usable node left (a
 * small network, or the layer's nodes excluded) lends the hop to the
 * nodes of the other layers, so a network that can build an unlayered path
 * can build one here too. So does a layer whose only usable nodes are in
 * `avoid` while another layer has one that is not: an avoided node is taken
 * only when nothing else is usable.
 * @returns the mixes in path order
 * @throws UMBRA_ERR_NOT_ENOUGH_MIXES when fewer than `hops` usable distinct nodes exist
 */
export function selectLayeredPath<T extends TopologyNode> (input: LayeredPathInput<T>): T[] {
  const { layers, hops, first, rng } = input
  const exclude = input.exclude ?? (() => false)
  const avoid = input.avoid ?? (() => false)
  const used = new Set<T>()
  const path: T[] = []
  const usable = (n: T): boolean => !used.has(n) && !exclude(n) && n !== first
  const draw = (pool: readonly T[], wantUnavoided: boolean): T | undefined => {
    const from = pool.filter((n) => usable(n) && (!wantUnavoided || !avoid(n)))
    return from.length === 0 ? undefined : from[rng(from.length)]
  }
  const all = layers.flat()
  for (let i = 0; i < hops; i++) {
    let pick: T | undefined
    if (i === 0 && first != null) pick = first
    else {
      const layer = layers[(i + (input.layerOffset ?? 0)) % Math.max(1, layers.length)] ?? []
      // An avoided node (a path-probe suspect, or one that failed this message) is taken only when no other node of
      // any layer is usable: a small network's layer may hold nothing else, and borrowing beats a known-bad hop.
      pick = draw(layer, true) ?? draw(all, true) ?? draw(layer, false) ?? draw(all, false)
    }
    if (pick == null) {
      const have = new Set([...all.filter((n) => !exclude(n)), ...(first != null ? [first] : [])]).size
      throw new NotEnoughMixesError(`A ${hops}-hop path needs ${hops} mix nodes besides this node and the gateway; the directory has ${have}`)
    }
    used.add(pick)
    path.push(pick)
  }
  return path
}

/**
 * How long a guard that failed is left alone before it is tried again, ms
 * (Tor guard-spec, "Retry schedule"): a primary guard every 10 min during
 * its first 6 h down, every 90 min until 4 days, every 4 h until 7 days,
 * then every 9 h; a non-primary one every 1 h, 4 h, 18 h, then 36 h over
 * the same spans.
 * @param downForMs - how long it has been failing, ms
 */
export function guardRetryDelayMs (downForMs: number, primary: boolean): number {
  const spans = [6 * HOUR, 4 * DAY, 7 * DAY]
  const delays = primary ? [10 * 60_000, 90 * 60_000, 4 * HOUR, 9 * HOUR] : [HOUR, 4 * HOUR, 18 * HOUR, 36 * HOUR]
  const i = spans.findIndex((s) => downForMs < s)
  return delays[i === -1 ? delays.length - 1 : i] as number
}

/** Whether a sampled guard may be a first hop at `now`: listed in the directory and not waiting out a back-off. */
export function guardUsable (g: GuardEntry, listed: ReadonlySet<string>, now: number): boolean {
  return listed.has(g.key) && (g.retryAt == null || g.retryAt <= now)
}

/**
 * The primary guards: the first {@link GUARD_PRIMARY} guards of the sample
 * (in sample order) that the directory lists. A primary guard waiting out a
 * back-off stays primary (Tor keeps it too, so that a short outage does not
 * move a node to a new guard for good).
 */
export function primaryGuards (sample: readonly GuardEntry[], listed: ReadonlySet<string>, count: number = GUARD_PRIMARY): GuardEntry[] {
  return sample.filter((g) => listed.has(g.key)).slice(0, count)
}

/** Input of {@link maintainGuards}. */
export interface MaintainGuardsInput<T extends TopologyNode> {
  /** The sampled set, oldest first (not modified). */
  sample: readonly GuardEntry[]
  /** Mix nodes the directory lists now that may be guards (never this node itself). */
  candidates: readonly T[]
  now: number
  rng: Rng
  /** Primary guards to keep usable. @default GUARD_PRIMARY */
  primary?: number
  /** Largest sample. @default GUARD_MAX_SAMPLE */
  maxSample?: number
}

/**
 * The guard policy's bookkeeping (docs/mixnet.md "Guards"): records when
 * guards left or came back to the directory, drops guards past their
 * lifetime or unlisted for {@link GUARD_REMOVE_UNLISTED_MS}, then samples
 * new guards (uniformly, or weighted by capacity when nodes name one) while
 * fewer than `primary` guards are usable and the sample has room.
 * @returns the new sample (sample order kept, new guards appended) and whether it changed
 */
export function maintainGuards<T extends TopologyNode> (input: MaintainGuardsInput<T>): { sample: GuardEntry[], changed: boolean } {
  const { now, rng } = input
  const primary = input.primary ?? GUARD_PRIMARY
  const maxSample = input.maxSample ?? GUARD_MAX_SAMPLE
  const byKey = new Map(input.candidates.map((n) => [nodeKeyHex(n.nodeKey), n]))
  const listed = new Set(byKey.keys())
  let changed = false
  const sample: GuardEntry[] = []
  for (const g0 of input.sample) {
    const g = { ...g0 }
    if (listed.has(g.key) && g.unlistedSince != null) { delete g.unlistedSince; changed = true }
    if (!listed.has(g.key) && g.unlistedSince == null) { g.unlistedSince = now; changed = true }
    if (g.expiresAt <= now || (g.unlistedSince != null && now - g.unlistedSince >= GUARD_REMOVE_UNLISTED_MS)) { changed = true; continue }
    sample.push(g)
  }
  const inSample = new Set(sample.map((g) => g.key))
  while (sample.length < maxSample && sample.filter((g) => guardUsable(g, listed, now)).length < primary) {
    const pool = [...byKey.entries()].filter(([k]) => !inSample.has(k))
    if (pool.length === 0) break
    const weights = pool.map(([, n]) => n.capacity != null && n.capacity > 0 ? n.capacity : 1)
    const total = weights.reduce((a, b) => a + b, 0)
    // Integer draw in [0, 2^32) scaled to the total weight (Tor samples guards by bandwidth weight).
    let r = (rng(2 ** 32) / 2 ** 32) * total
    let idx = 0
    while (idx < pool.length - 1 && r >= (weights[idx] as number)) { r -= weights[idx] as number; idx++ }
    const key = (pool[idx] as [string, T])[0]
    const lifetime = GUARD_LIFETIME_MIN_MS + rng(GUARD_LIFETIME_MAX_MS - GUARD_LIFETIME_MIN_MS + 1)
    sample.push({ key, addedAt: now, expiresAt: now + lifetime })
    inSample.add(key)
    changed = true
  }
  return { sample, changed }
}

/**
 * The first hop for a packet this node originates: the first primary guard
 * that is usable and not refused by `exclude` (a first hop that already
 * failed this message, the path's gateway); if none, the first such guard
 * of the rest of the sample. Tor's guard-spec uses one guard at a time
 * (NUM_USABLE_PRIMARY_GUARDS = 1), so a link observer sees one first link.
 * @returns the guard's key (hex), or undefined when no sampled guard is usable
 */
export function pickGuard (sample: readonly GuardEntry[], listed: ReadonlySet<string>, now: number, exclude: (key: string) => boolean = () => false): string | undefined {
  const ok = (g: GuardEntry): boolean => guardUsable(g, listed, now) && !exclude(g.key)
  return (primaryGuards(sample, listed).find(ok) ?? sample.find(ok))?.key
}

/**
 * Records a failed first-hop send through guard `key` (the dial or the
 * write failed): it waits {@link guardRetryDelayMs} before it is tried again.
 * @returns the new sample (unchanged when `key` is not in it)
 */
export function guardFailed (sample: readonly GuardEntry[], key: string, listed: ReadonlySet<string>, now: number): GuardEntry[] {
  const primary = new Set(primaryGuards(sample, listed).map((g) => g.key))
  return sample.map((g) => {
    if (g.key !== key) return g
    const failingSince = g.failingSince ?? now
    return { ...g, failingSince, retryAt: now + guardRetryDelayMs(now - failingSince, primary.has(key)) }
  })
}

/** Records a first-hop send through guard `key` that worked: its failure record is cleared. */
export function guardSucceeded (sample: readonly GuardEntry[], key: string): GuardEntry[] {
  return sample.map((g) => g.key === key && (g.failingSince != null || g.retryAt != null) ? { key: g.key, addedAt: g.addedAt, expiresAt: g.expiresAt, ...(g.unlistedSince != null ? { unlistedSince: g.unlistedSince } : {}) } : g)
}
