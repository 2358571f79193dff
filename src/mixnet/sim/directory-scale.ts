/**
 * Directory scale simulator (issue 15, item 4, the simulation): the mix
 * directory's protocol (src/mixnet/directory.ts) run by thousands of nodes
 * over an in-memory transport with a simulated clock (a discrete-event queue,
 * no timers), per-link latency and churn. Results and limits: docs/scale.md.
 *
 * Real (taken from the code, not restated): every timing and cap constant
 * (src/mixnet/constants.ts and descriptorTiming: lifetime 25 s and re-sign
 * 8 s up to 1,000 nodes, growing to 120 s / 40 s; pull every 3 s from 3
 * peers, pages of 64, at most 64 pages, admission concurrency 8, queue 256,
 * 32 new nodes per peer per minute, negative cache 60 s); the byte size of
 * every frame, from a descriptor signed by `signDescriptor` and frames
 * encoded by the real `DirectoryMessage` codec (plus the length prefix).
 *
 * Modelled (restated from directory.ts, because `createDirectory` is bound to
 * a libp2p node, real timers and one Ed25519 verification per descriptor,
 * which at 10,000 nodes would be ~10^10 verifications per simulated minute):
 * the state machine of `offer`, `enqueue`/`pump`/`run`, `page`, `exchange`,
 * `flood`, `pullRound`, `onConnect`, `onDisconnect` and the withdrawal, over
 * node indices; a descriptor is its expiry (a later expiry is a higher seq;
 * negative: withdrawn). Not modelled: the 5-min re-checks (runs are shorter),
 * the subnet cap (simulated nodes sit in distinct /24s), reported failures,
 * connection setup bytes (only directory frames are counted). The
 * reachability check takes 3 round trips to a live node (TCP, Noise, the
 * directory hello) and fails after 2 round trips (refused) for a departed
 * one. Each node keeps `degree` connections (topped up when peers leave).
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import {
  DESCRIPTOR_LIFETIME_MS, DIRECTORY_ADMISSION_CONCURRENCY, DIRECTORY_ADMISSION_QUEUE, DIRECTORY_CHECK_TIMEOUT_MS,
  DIRECTORY_MAX_NEW_PER_PEER, DIRECTORY_MAX_PAGES, DIRECTORY_NEGATIVE_CACHE_MS, DIRECTORY_PAGE_DESCRIPTORS, DIRECTORY_PEER_WINDOW_MS,
  DIRECTORY_PULL_FANOUT, DIRECTORY_PULL_INTERVAL_MS, WIRE_VERSION, DIRECTORY_KEY_PREFIX_BYTES, DIRECTORY_SUMMARY_PAGE,
  SYNC_DESCRIPTORS, SYNC_INSTANCE_BYTES, SYNC_MAX_SUMMARY_PAGES, SYNC_SINCE, SYNC_SUMMARY, SYNC_WANT
} from '../constants.ts'
import { varintLength } from '../directory.ts'
import { descriptorTiming, ROLE_GATEWAY, ROLE_MIX, signDescriptor } from '../descriptor.ts'
import { DirectoryMessage, DirectorySync } from '../pb/mixnet.ts'
import { seeded } from './random.ts'

/** Cursor of a page (a node key), bytes (Ed25519 public key). */
const CURSOR_BYTES = 32
/** Mix hops of a simulated path (DEFAULT_HOPS in the node). */
const PATH_HOPS = 3
/** Coverage that counts as converged, per node and over nodes (issue 15 brief: 99 % of nodes list 99 % of live mixes). */
export const CONVERGED_SHARE = 0.99

/** Frame sizes of the directory protocol, bytes, each with its length prefix. */
export interface FrameSizes {
  /** One signed descriptor as `signDescriptor` encodes it. */
  descriptor: number
  /** A frame: `descriptors` descriptors, a pull flag, a cursor (`after`) and a next-page cursor. */
  frame (descriptors: number, pull: boolean, after: boolean, next: boolean): number
  /**
   * A `/umbra/mixdir/2.0.0` frame (`DirectorySync`): `since` (type 1),
   * `summary` of `n` entries (2), `want` of `n` keys (3), `descriptors` (4).
   */
  sync (type: 'since' | 'summary' | 'want' | 'descriptors', n: number): number
}

/**
 * Measures frame sizes with the real codecs: signs one descriptor (2
 * addresses, 2 onion keys: the key overlap of a rotation) and encodes
 * `DirectoryMessage` frames of it.
 */
export async function measureFrames (): Promise<FrameSizes> {
  const key = await generateKeyPair('Ed25519')
  const t = Date.now()
  const onion = (n: number): Uint8Array => new Uint8Array(32).fill(n)
  const descriptor = await signDescriptor(key, {
    seq: t,
    issuedAt: t,
    expiresAt: t + DESCRIPTOR_LIFETIME_MS,
    addrs: ['/ip4/203.0.113.47/tcp/4001', '/ip4/203.0.113.47/tcp/4002/ws'],
    roles: ROLE_MIX | ROLE_GATEWAY,
    onionKeys: [{ epoch: 493_201, key: onion(1) }, { epoch: 493_202, key: onion(2) }]
  })
  const cache = new Map<string, number>()
  const cursor = new Uint8Array(CURSOR_BYTES).fill(0xab)
  // A change counter of a long-running node (3 varint bytes) and an 8-byte instance id.
  const counter = 1_000_000n
  const instance = new Uint8Array(SYNC_INSTANCE_BYTES).fill(0xcd)
  const prefixes = (n: number): Uint8Array<ArrayBuffer> => new Uint8Array(n * DIRECTORY_KEY_PREFIX_BYTES).fill(0x5a)
  const types = { since: SYNC_SINCE, summary: SYNC_SUMMARY, want: SYNC_WANT, descriptors: SYNC_DESCRIPTORS } as const
  return {
    descriptor: descriptor.byteLength,
    frame (n, pull, after, next) {
      const k = `${n}/${pull}/${after}/${next}`
      let size = cache.get(k)
      if (size == null) {
        const body = DirectoryMessage.encode({
          version: WIRE_VERSION,
          descriptors: Array.from({ length: n }, () => descriptor as Uint8Array<ArrayBuffer>),
          pull,
          after: after ? cursor : new Uint8Array(0),
          next: next ? cursor : new Uint8Array(0)
        }).byteLength
        size = body + varintLength(body)
        cache.set(k, size)
      }
      return size
    },
    sync (type, n) {
      const k = `sync/${type}/${n}`
      let size = cache.get(k)
      if (size == null) {
        const body = DirectorySync.encode({
          version: WIRE_VERSION,
          type: types[type],
          instance: type === 'since' || type === 'summary' ? instance : new Uint8Array(0),
          since: type === 'since' ? counter : 0n,
          upto: type === 'summary' ? counter : 0n,
          more: false,
          keys: type === 'summary' || type === 'want' ? prefixes(n) : new Uint8Array(0),
          seqs: type === 'summary' ? Array.from({ length: n }, () => BigInt(t)) : [],
          descriptors: type === 'descriptors' ? Array.from({ length: n }, () => descriptor as Uint8Array<ArrayBuffer>) : []
        }).byteLength
        size = body + varintLength(body)
        cache.set(k, size)
      }
      return size
    }
  }
}

/** Scale simulation options; every field optional. */
export interface ScaleSimInit {
  /** Nodes (all server nodes with a descriptor). @default 1000 */
  nodes?: number
  /** Simulated time, ms. @default 180_000 */
  durationMs?: number
  /** Cold start: nodes start uniformly over this window with empty directories, ms. @default 30_000 */
  startWindowMs?: number
  /** Warm start: every node starts holding every descriptor (a converged network), to measure upkeep and churn. @default false */
  warm?: boolean
  /** Nodes leaving per minute, as a share of `nodes` (as many join). @default 0 */
  churnPerMin?: number
  /** Churn stops at this time, ms (so late joiners are not cut off by the end of the run). @default durationMs */
  churnUntilMs?: number
  /** Share of leaving nodes that crash instead of withdrawing. @default 0.5 */
  crashShare?: number
  /** Connections a node keeps (modelled connection manager). @default 8 */
  degree?: number
  /** One-way link latency range, ms. @default [20, 150] */
  latencyMs?: [number, number]
  /** Nodes whose coverage is sampled each second (all when fewer). @default 200 */
  sampleNodes?: number
  /** Paths built per simulated second (by random live nodes). @default 100 */
  pathsPerSecond?: number
  /** Bandwidth is averaged from this time on, ms. @default durationMs / 2 */
  measureFromMs?: number
  /** What-if: new nodes one peer may introduce per minute. @default 32 (DIRECTORY_MAX_NEW_PER_PEER, as the node runs) */
  maxNewPerPeer?: number
  /**
   * What-if (not what the node runs): a new node listed or pushed by at least
   * this many distinct peers is not counted against any peer's cap of new
   * nodes; its reachability check still runs, in the same admission queue.
   * One peer alone still introduces at most `maxNewPerPeer` a minute.
   * @default undefined (off)
   */
  corroboration?: number
  /** Descriptor lifetime and re-sign interval, ms. @default what the node uses for a directory of `nodes`: descriptorTiming(nodes) (25 s / 8 s up to 1,000) */
  lifetimeMs?: number
  refreshMs?: number
  /**
   * Pull protocol: `sync` (`/umbra/mixdir/2.0.0`: change counter, summaries,
   * wanted descriptors; issue 15) or `paged` (`/umbra/mixdir/1.0.0`: the whole
   * directory in pages, what an older peer does). @default 'sync'
   */
  protocol?: 'sync' | 'paged'
  seed?: number
  frames: FrameSizes
}

/** What one run measured. */
export interface ScaleSimResult {
  nodes: number
  /** First time ≥ 99 % of sampled live nodes listed ≥ 99 % of live mixes, ms; undefined if never. */
  convergedAtMs?: number
  /** Share of sampled nodes at ≥ 99 % coverage at the end. */
  finalConvergedShare: number
  /** Mean share of live mixes a sampled node lists, at the end. */
  finalCoverage: number
  /** The same over the sampled nodes that were not churn joiners (up since the start), at the end; undefined if none was sampled. */
  finalCoverageSettled?: number
  /** Mean share of live mixes the live churn joiners list at the end of the run; undefined without live joiners. */
  finalCoverageJoiners?: number
  /** Joiners (churn) that reached ≥ 99 % coverage, and their median time to it, ms. */
  joinersConverged: number
  joiners: number
  joinMedianMs?: number
  /**
   * Directory bytes a joiner received per second, from its join to its leave
   * or the end of the run, mean over joiners up at least 30 s (what catching
   * up costs, to set against `rxBytesPerNodeSec`); undefined without such joiners.
   */
  joinerRxBytesPerSec?: number
  /** Directory bytes per live node per second, received and sent, over the measuring window. */
  rxBytesPerNodeSec: number
  txBytesPerNodeSec: number
  /** Descriptors received per node per second (each is one Ed25519 verification in the real code). */
  verifiesPerNodeSec: number
  /** Paths built, and the share using a node that had already left. */
  paths: number
  stalePathShare: number
  /** Admissions refused by cap, by reason. */
  refused: Record<string, number>
  /** Bytes the simulated transport carried in total, and messages. */
  transportBytes: number
  transportMessages: number
  /** Sum over nodes of bytes sent and received (each must equal transportBytes). */
  nodeTxBytes: number
  nodeRxBytes: number
  /** Events processed (simulation cost). */
  events: number
}

interface SimEvent { t: number, o: number, f: () => void }

/** A binary-heap event queue on a simulated clock (ties run in insertion order). */
class EventQueue {
  readonly #h: SimEvent[] = []
  #n = 0
  now = 0
  processed = 0
  at (t: number, f: () => void): void {
    const h = this.#h
    const ev = { t, o: this.#n++, f }
    let i = h.length
    h.push(ev)
    while (i > 0) {
      const p = (i - 1) >> 1
      const pe = h[p] as SimEvent
      if (pe.t < t || (pe.t === t && pe.o < ev.o)) break
      h[i] = pe; i = p
    }
    h[i] = ev
  }

  /** Runs events up to `until`, ms. */
  run (until: number): void {
    const h = this.#h
    const before = (a: SimEvent, b: SimEvent): boolean => a.t < b.t || (a.t === b.t && a.o < b.o)
    while (h.length > 0 && (h[0] as SimEvent).t <= until) {
      const top = h[0] as SimEvent
      const last = h.pop() as SimEvent
      if (h.length > 0) {
        let i = 0
        for (;;) {
          const l = 2 * i + 1
          if (l >= h.length) break
          const r = l + 1
          const c = r < h.length && before(h[r] as SimEvent, h[l] as SimEvent) ? r : l
          if (!before(h[c] as SimEvent, last)) break
          h[i] = h[c] as SimEvent; i = c
        }
        h[i] = last
      }
      this.now = top.t
      this.processed++
      top.f()
    }
    this.now = until
  }
}

/**
 * The in-memory transport: delivers a frame after the link's one-way
 * latency and counts its bytes at both ends. Every byte the simulator
 * reports passes through {@link SimTransport.send}.
 */
export class SimTransport {
  readonly tx: Float64Array
  readonly rx: Float64Array
  bytes = 0
  messages = 0
  readonly #q: EventQueue
  readonly #lat: (a: number, b: number) => number
  constructor (q: EventQueue, nodes: number, latency: (a: number, b: number) => number) {
    this.#q = q
    this.#lat = latency
    this.tx = new Float64Array(nodes)
    this.rx = new Float64Array(nodes)
  }

  /** One-way latency of a link, ms. */
  latency (a: number, b: number): number { return this.#lat(a, b) }

  /** Sends `bytes` from `a` to `b`; `deliver` runs on arrival. */
  send (a: number, b: number, bytes: number, deliver: () => void): void {
    this.bytes += bytes
    this.messages++
    this.tx[a] = (this.tx[a] as number) + bytes
    this.rx[b] = (this.rx[b] as number) + bytes
    this.#q.at(this.#q.now + this.#lat(a, b), deliver)
  }
}

interface NodeState {
  alive: boolean
  joinedAt: number
  /** When it left, ms; -1 while alive. */
  leftAt: number
  convergedAt: number
  peers: Set<number>
  /** Admission queue and what is queued or checking. */
  queue: Array<{ d: number, e: number, from: number, admit: boolean }>
  queued: Map<number, { d: number, e: number, from: number, admit: boolean }>
  inFlight: number
  /** Node → failed-until, ms. */
  negative: Map<number, number>
  /** Peer → times it introduced a new node, ms. */
  perPeer: Map<number, number[]>
  /** New node → the distinct peers that listed or pushed it (`corroboration` only). */
  listedBy: Map<number, Set<number>>
  /** Sync cursor per peer: the peer's change counter this node synced up to. */
  cursors: Map<number, number>
  /** Node → the copy (|expiry|, the seq proxy) a running sync is fetching (directory.ts `fetching`). */
  fetching: Map<number, number>
  verifies: number
  timers: boolean
}

/**
 * Runs one simulation; see the module comment for what is real and what is
 * modelled. Deterministic for a given `seed`.
 * @throws RangeError when `nodes` < 2
 */
export function simulateDirectory (init: ScaleSimInit): ScaleSimResult {
  const n = init.nodes ?? 1000
  if (!Number.isSafeInteger(n) || n < 2) throw new RangeError(`nodes must be an integer >= 2, got ${n}`)
  const duration = init.durationMs ?? 180_000
  const startWindow = init.warm === true ? 0 : (init.startWindowMs ?? 30_000)
  const churn = init.churnPerMin ?? 0
  const crashShare = init.crashShare ?? 0.5
  const degree = init.degree ?? 8
  const [latMin, latMax] = init.latencyMs ?? [20, 150]
  const measureFrom = init.measureFromMs ?? duration / 2
  const frames = init.frames
  const maxPerPeer = init.maxNewPerPeer ?? DIRECTORY_MAX_NEW_PER_PEER
  const timing = descriptorTiming(n)
  const lifetime = init.lifetimeMs ?? timing.lifetimeMs
  const refresh = init.refreshMs ?? timing.refreshMs
  const paged = init.protocol === 'paged'
  const random = seeded(init.seed ?? 1)
  const pick = (k: number): number => Math.floor(random() * k)

  // Capacity: the starting nodes plus every expected joiner (with margin).
  const joinsExpected = Math.ceil(churn * n * duration / 60_000)
  const cap = n + Math.ceil(joinsExpected * 1.5) + 16
  // view[i * cap + d]: node i's copy of d's descriptor: its expiry (ms), negative if withdrawn, 0 if none.
  const view = new Int32Array(cap * cap)
  // ver[i * cap + d]: node i's change counter when it stored d's current copy (directory.ts `Entry.version`); clock[i]: node i's counter.
  const ver = new Int32Array(paged ? 0 : cap * cap)
  const clock = new Int32Array(cap)
  // Change log per node, in change-counter order: logD[i][k] changed at counter logV[i][k] (directory.ts answers a
  // SINCE from its entries ordered by version; scanning and sorting the whole view per SINCE made a 10,000-node run
  // take hours). An entry is current while ver[i * cap + d] still equals its counter; superseded and expired entries
  // are dropped when the log fills.
  const logD: Int32Array[] = []
  const logV: Int32Array[] = []
  const logLen = new Int32Array(cap)
  const append = (i: number, d: number, c: number): void => {
    let ds = logD[i] ?? new Int32Array(64)
    let vs = logV[i] ?? new Int32Array(64)
    let len = logLen[i] as number
    if (len === ds.length) {
      // Compact: keep the entries still current and unexpired.
      const t = q.now
      const base = i * cap
      let w = 0
      for (let k = 0; k < len; k++) {
        const x = ds[k] as number
        const e = view[base + x] as number
        if ((ver[base + x] as number) === vs[k] && (e > t || -e > t)) { ds[w] = x; vs[w] = vs[k] as number; w++ }
      }
      len = w
      if (len * 2 > ds.length) {
        const nd = new Int32Array(ds.length * 2); nd.set(ds.subarray(0, len)); ds = nd
        const nv = new Int32Array(vs.length * 2); nv.set(vs.subarray(0, len)); vs = nv
      }
    }
    ds[len] = d
    vs[len] = c
    logD[i] = ds
    logV[i] = vs
    logLen[i] = len + 1
  }
  // Key order (the cursor order of pages): a random permutation.
  const order = Array.from({ length: cap }, (_, i) => i)
  for (let i = cap - 1; i > 0; i--) { const j = pick(i + 1); const x = order[i] as number; order[i] = order[j] as number; order[j] = x }
  const salt = Math.floor(random() * 0x7fffffff)
  const latency = (a: number, b: number): number => {
    const lo = Math.min(a, b)
    const hi = Math.max(a, b)
    let h = Math.imul(lo ^ salt, 0x9e3779b1) ^ Math.imul(hi + 0x632be5ab, 0x85ebca77)
    h ^= h >>> 13
    h = Math.imul(h, 0xc2b2ae35) >>> 0
    return latMin + (h % (latMax - latMin + 1))
  }
  const q = new EventQueue()
  const net = new SimTransport(q, cap, latency)
  const nodes: NodeState[] = []
  const live: number[] = []
  const livePos = new Int32Array(cap).fill(-1)
  const refused: Record<string, number> = {}
  const refuse = (r: string): void => { refused[r] = (refused[r] ?? 0) + 1 }
  let used = 0

  const expiryOf = (i: number, d: number): number => view[i * cap + d] as number
  /** Node i stores a copy of d (expiry `e`, negative: withdrawn) with the next change counter. */
  const store = (i: number, d: number, e: number): void => {
    view[i * cap + d] = e
    if (paged) return
    const c = (clock[i] as number) + 1
    clock[i] = c
    ver[i * cap + d] = c
    append(i, d, c)
  }
  const now = (): number => q.now

  function perPeerCount (s: NodeState, peer: number): number {
    const kept = (s.perPeer.get(peer) ?? []).filter((t) => t > now() - DIRECTORY_PEER_WINDOW_MS)
    if (kept.length === 0) s.perPeer.delete(peer)
    else s.perPeer.set(peer, kept)
    return kept.length
  }

  /** `corroboration` what-if: records that `from` vouched for new node `d`; true once enough distinct peers did. */
  function corroborated (s: NodeState, d: number, from: number): boolean {
    if (init.corroboration == null) return false
    let by = s.listedBy.get(d)
    if (by == null) { by = new Set(); s.listedBy.set(d, by) }
    by.add(from)
    return by.size >= init.corroboration
  }

  /** directory.ts `offer`: returns true when the descriptor is news to flood on. */
  function offer (i: number, d: number, e: number, from: number): boolean {
    const s = nodes[i] as NodeState
    s.verifies++
    if (d === i) return false
    const mine = expiryOf(i, d)
    if (Math.abs(mine) > now()) {
      if (Math.abs(e) <= Math.abs(mine)) return false
      store(i, d, e)
      return (e < 0) !== (mine < 0)
    }
    const waiting = s.queued.get(d)
    if (waiting != null) {
      // directory.ts `offer`: a newer copy of a node waiting for its check replaces the queued one.
      if (waiting.admit && e > 0 && waiting.e < e) waiting.e = e
      return false
    }
    if (e < 0) return false
    const bad = s.negative.get(d)
    if (bad != null && bad > now()) { refuse('recently-refused'); return false }
    if (corroborated(s, d, from)) { enqueue(i, { d, e, from, admit: true }); return false }
    if (perPeerCount(s, from) >= maxPerPeer) { refuse('peer-cap'); return false }
    const list = s.perPeer.get(from) ?? []
    list.push(now())
    s.perPeer.set(from, list)
    enqueue(i, { d, e, from, admit: true })
    return false
  }

  function enqueue (i: number, c: NodeState['queue'][number]): void {
    const s = nodes[i] as NodeState
    if (s.queued.has(c.d)) return
    if (c.admit && s.queue.length >= DIRECTORY_ADMISSION_QUEUE) { refuse('queue-full'); return }
    s.queued.set(c.d, c)
    if (c.admit) s.queue.push(c)
    else s.queue.unshift(c)
    pump(i)
  }

  function pump (i: number): void {
    const s = nodes[i] as NodeState
    while (s.alive && s.inFlight < DIRECTORY_ADMISSION_CONCURRENCY && s.queue.length > 0) {
      const c = s.queue.shift() as NodeState['queue'][number]
      s.inFlight++
      const target = nodes[c.d]
      const rtt = 2 * latency(i, c.d)
      const ok = target?.alive === true
      const took = ok ? 3 * rtt : Math.min(DIRECTORY_CHECK_TIMEOUT_MS, 2 * rtt)
      // The hello frame is the one directory frame of a check (connection setup is not counted).
      if (ok) net.send(i, c.d, frames.frame(0, false, false, false), () => {})
      q.at(now() + took, () => {
        s.inFlight--
        s.queued.delete(c.d)
        if (s.alive) checked(i, c, ok)
        pump(i)
      })
    }
  }

  /** directory.ts `run` after the check. */
  function checked (i: number, c: NodeState['queue'][number], ok: boolean): void {
    const s = nodes[i] as NodeState
    if (!ok) {
      s.negative.set(c.d, now() + DIRECTORY_NEGATIVE_CACHE_MS)
      if (c.admit) refuse('unreachable')
      else view[i * cap + c.d] = 0
      return
    }
    if (!c.admit) return
    if (Math.abs(expiryOf(i, c.d)) > now() || c.e <= now()) return
    store(i, c.d, c.e)
    s.listedBy.delete(c.d)
    s.negative.delete(c.d)
    flood(i, [c.d], c.from)
  }

  /** directory.ts `flood`: push frames of up to 64 descriptors to every peer but `except`. */
  function flood (i: number, ds: number[], except: number): void {
    const s = nodes[i] as NodeState
    const copies = ds.map((d) => expiryOf(i, d))
    for (const p of s.peers) {
      if (p === except) continue
      for (let k = 0; k < ds.length; k += DIRECTORY_PAGE_DESCRIPTORS) {
        const chunk = ds.slice(k, k + DIRECTORY_PAGE_DESCRIPTORS)
        const es = copies.slice(k, k + DIRECTORY_PAGE_DESCRIPTORS)
        net.send(i, p, frames.frame(chunk.length, false, false, false), () => { receive(p, chunk, es, i) })
      }
    }
  }

  /** directory.ts `offerAll` on the receiving side of a push. */
  function receive (i: number, ds: number[], es: number[], from: number): void {
    if (nodes[i]?.alive !== true) return
    const news: number[] = []
    ds.forEach((d, k) => { if (offer(i, d, es[k] as number, from)) news.push(d) })
    if (news.length > 0) flood(i, news, from)
  }

  /**
   * directory.ts `exchange` (puller `i`, server `p`) and `handle`: the first
   * frame carries `pushed`; each answer page is built from the server's
   * directory when the request arrives (`page`), and the puller asks for the
   * next one unless there is none or `p` reached its per-peer cap.
   */
  function pull (i: number, p: number, pushed: number[]): void {
    const pushedE = pushed.map((d) => expiryOf(i, d))
    net.send(i, p, frames.frame(pushed.length, true, false, false), () => {
      if (nodes[p]?.alive !== true) return
      receive(p, pushed, pushedE, i)
      servePage(i, p, 0, 0)
    })
  }

  function servePage (i: number, p: number, from: number, pages: number): void {
    const ds: number[] = []
    const es: number[] = []
    const t = now()
    let k = from
    const base = p * cap
    for (; k < cap && ds.length < DIRECTORY_PAGE_DESCRIPTORS; k++) {
      const d = order[k] as number
      const e = view[base + d] as number
      if (e > t || -e > t) { ds.push(d); es.push(e) }
    }
    // `next` is set when a served entry follows (what `page` computes from the sorted list).
    let more = false
    for (let j = k; j < cap; j++) { const e = view[base + (order[j] as number)] as number; if (e > t || -e > t) { more = true; break } }
    net.send(p, i, frames.frame(ds.length, false, false, more), () => {
      const s = nodes[i] as NodeState
      if (!s.alive) return
      const news: number[] = []
      for (let j = 0; j < ds.length; j++) if (offer(i, ds[j] as number, es[j] as number, p)) news.push(ds[j] as number)
      if (news.length > 0) flood(i, news, p)
      if (!more || pages + 1 >= DIRECTORY_MAX_PAGES || perPeerCount(s, p) >= maxPerPeer) return
      net.send(i, p, frames.frame(0, true, true, false), () => {
        if (nodes[p]?.alive === true) servePage(i, p, k, pages + 1)
      })
    })
  }

  /**
   * directory.ts `syncOn` (puller `i`) and `handleSync` (answerer `p`):
   * SINCE with `i`'s cursor for `p`; `p` answers the summaries of its
   * entries changed after it (oldest change first, 1,024 per frame); `i`
   * wants every refresh of a held node and new nodes while its per-peer
   * budget and queue room last, in WANT frames of 64, each answered with the
   * descriptors `p` holds when the WANT arrives. A cap-limited summary frame
   * keeps the cursor before it.
   */
  function sync (i: number, p: number): void {
    const s = nodes[i] as NodeState
    // The budget of new nodes: the peer's cap left and the admission queue's room (directory.ts `budget`).
    let capLeft = maxPerPeer - perPeerCount(s, p)
    let room = DIRECTORY_ADMISSION_QUEUE - s.queue.length
    let keep: number | undefined
    const summaryPage = (since: number, pages: number): void => {
      net.send(i, p, frames.sync('since', 0), () => {
        const sp = nodes[p] as NodeState
        if (!sp.alive) return
        const t = now()
        const base = p * cap
        // The current, unexpired entries changed after `since`, oldest change first: from the change log.
        const ds = logD[p] as Int32Array
        const vs = logV[p] as Int32Array
        const len = logLen[p] as number
        let lo = 0
        let hi = len
        while (lo < hi) { const mid = (lo + hi) >> 1; if ((vs[mid] as number) > since) hi = mid; else lo = mid + 1 }
        const chunk: number[] = []
        let more = false
        for (let k = lo; k < len; k++) {
          const d = ds[k] as number
          const e = view[base + d] as number
          if ((ver[base + d] as number) !== vs[k] || !(e > t || -e > t)) continue
          if (chunk.length === DIRECTORY_SUMMARY_PAGE) { more = true; break }
          chunk.push(d)
        }
        const seqs = chunk.map((d) => Math.abs(view[base + d] as number))
        const upto = more ? ver[base + (chunk.at(-1) as number)] as number : clock[p] as number
        net.send(p, i, frames.sync('summary', chunk.length), () => {
          if (!s.alive) return
          const want: number[] = []
          const tt = now()
          const claim = (d: number, seq: number): boolean => {
            if ((s.fetching.get(d) ?? -1) >= seq) return false
            s.fetching.set(d, seq)
            want.push(d)
            return true
          }
          chunk.forEach((d, k) => {
            if (d === i) return
            const seq = seqs[k] as number
            const mine = expiryOf(i, d)
            if (Math.abs(mine) > tt) { if (Math.abs(mine) < seq) claim(d, seq); return }
            const check = s.queued.get(d)
            if (check != null) { if (Math.abs(check.e) < seq) claim(d, seq); return }
            if ((s.fetching.get(d) ?? -1) >= seq) return
            const bad = s.negative.get(d)
            if (bad != null && bad > tt) return
            if (room <= 0) { keep ??= since; return }
            if (corroborated(s, d, p)) { if (claim(d, seq)) room--; return }
            if (capLeft <= 0) { keep ??= since; return }
            if (claim(d, seq)) { capLeft--; room-- }
          })
          const claimed = want.map((d) => [d, s.fetching.get(d) as number] as const)
          const release = (): void => { for (const [d, seq] of claimed) if (s.fetching.get(d) === seq) s.fetching.delete(d) }
          const next = (): void => {
            release()
            s.cursors.set(p, upto)
            if (more && pages + 1 < SYNC_MAX_SUMMARY_PAGES) summaryPage(upto, pages + 1)
            else if (keep != null) s.cursors.set(p, keep)
          }
          fetch(i, p, want, 0, next)
        })
      })
    }
    summaryPage(s.cursors.get(p) ?? 0, 0)
  }

  /** WANT frames of up to 64 keys, one at a time, each answered with `p`'s current copies; `done` runs after the last answer (or when `p` is gone). */
  function fetch (i: number, p: number, want: number[], at: number, done: () => void): void {
    if (at >= want.length) { done(); return }
    const chunk = want.slice(at, at + DIRECTORY_PAGE_DESCRIPTORS)
    net.send(i, p, frames.sync('want', chunk.length), () => {
      // A departed answerer: the stream fails, and the puller's claims are released (directory.ts `finally`).
      if (nodes[p]?.alive !== true) { done(); return }
      const t = now()
      const ds = chunk.filter((d) => { const e = expiryOf(p, d); return e > t || -e > t })
      const es = ds.map((d) => expiryOf(p, d))
      net.send(p, i, frames.sync('descriptors', ds.length), () => {
        if (nodes[i]?.alive !== true) return
        receive(i, ds, es, p)
        fetch(i, p, want, at + chunk.length, done)
      })
    })
  }

  function pullRound (i: number): void {
    const s = nodes[i] as NodeState
    if (!s.alive) return
    const all = [...s.peers]
    for (let k = 0; k < Math.min(DIRECTORY_PULL_FANOUT, all.length); k++) {
      const j = k + pick(all.length - k)
      const x = all[k] as number; all[k] = all[j] as number; all[j] = x
      if (paged) pull(i, all[k] as number, [])
      else sync(i, all[k] as number)
    }
    q.at(now() + DIRECTORY_PULL_INTERVAL_MS, () => { pullRound(i) })
  }

  function sign (i: number): void {
    if (nodes[i]?.alive !== true) return
    store(i, i, now() + lifetime)
    q.at(now() + refresh, () => { sign(i) })
  }

  /** Both ends of a new connection run `onConnect`: push the own descriptor and pull. */
  function connect (a: number, b: number): void {
    const sa = nodes[a] as NodeState
    const sb = nodes[b] as NodeState
    if (a === b || sa.peers.has(b)) return
    sa.peers.add(b); sb.peers.add(a)
    if (paged) { pull(a, b, [a]); pull(b, a, [b]); return }
    // directory.ts `onConnect`: push the own descriptor over /umbra/mixdir/1.0.0, then sync.
    for (const [x, y] of [[a, b], [b, a]] as const) {
      const e = expiryOf(x, x)
      net.send(x, y, frames.frame(1, false, false, false), () => { receive(y, [x], [e], x) })
      sync(x, y)
    }
  }

  function randomLive (): number { return live[pick(live.length)] as number }

  function join (warmState: boolean): number {
    const i = used++
    if (i >= cap) throw new RangeError('simulator capacity exceeded')
    nodes.push({ alive: true, joinedAt: now(), leftAt: -1, convergedAt: -1, peers: new Set(), queue: [], queued: new Map(), negative: new Map(), perPeer: new Map(), cursors: new Map(), fetching: new Map(), inFlight: 0, verifies: 0, timers: true, listedBy: new Map() })
    livePos[i] = live.length
    live.push(i)
    // Sign at start, then flood it (directory.ts `start`), then pull rounds. A node of a converged (warm) network
    // signed its current copy at a random time in the last interval, so re-signing phases are spread as in a
    // network whose nodes started at different times (all at once would re-sign all n descriptors together).
    const age = warmState ? Math.floor(random() * refresh) : 0
    store(i, i, now() + lifetime - age)
    q.at(now() + refresh - age, () => { sign(i) })
    if (!warmState) {
      const want = Math.min(degree, live.length - 1)
      for (let tries = 0; (nodes[i] as NodeState).peers.size < want && tries < 4 * degree; tries++) connect(i, randomLive())
    }
    q.at(now() + (warmState ? random() * DIRECTORY_PULL_INTERVAL_MS : 0), () => { pullRound(i) })
    return i
  }

  function leave (i: number): void {
    const s = nodes[i] as NodeState
    const crash = random() < crashShare
    if (!crash) {
      // A clean stop pushes a withdrawal to every peer (directory.ts `stop`).
      const w = -(now() + lifetime)
      store(i, i, w)
      for (const p of s.peers) net.send(i, p, frames.frame(1, false, false, false), () => { receive(p, [i], [w], i) })
    }
    s.alive = false
    s.leftAt = now()
    const pos = livePos[i] as number
    const last = live.pop() as number
    if (last !== i) { live[pos] = last; livePos[last] = pos }
    livePos[i] = -1
    for (const p of s.peers) {
      const sp = nodes[p] as NodeState
      sp.peers.delete(i)
      // onDisconnect: re-check the node (it fails: it is gone).
      if (sp.alive) {
        if (crash && Math.abs(expiryOf(p, i)) > now()) enqueue(p, { d: i, e: expiryOf(p, i), from: i, admit: false })
        // Modelled connection manager: top up below half the target degree.
        if (sp.peers.size < degree / 2 && live.length > 1) connect(p, randomLive())
      }
    }
    s.peers.clear()
    s.queue.length = 0
  }

  // Start.
  if (init.warm === true) {
    for (let k = 0; k < n; k++) join(true)
    for (let k = 0; k < n; k++) {
      for (let j = 0; j < degree; j++) {
        const p = pick(n)
        if (p !== k) { (nodes[k] as NodeState).peers.add(p); (nodes[p] as NodeState).peers.add(k) }
      }
      // Converged: holds every node's current copy (signed at a random time in the last interval; change counter 1).
      for (let d = 0; d < n; d++) view[k * cap + d] = view[d * cap + d] as number
      if (!paged) { ver.fill(1, k * cap, k * cap + n); clock[k] = 1; logLen[k] = 0; for (let d = 0; d < n; d++) append(k, d, 1) }
    }
    // ... and has synced with each peer up to that state.
    if (!paged) for (let k = 0; k < n; k++) for (const p of (nodes[k] as NodeState).peers) (nodes[k] as NodeState).cursors.set(p, 1)
  } else {
    for (let k = 0; k < n; k++) q.at(k === 0 ? 0 : random() * startWindow, () => { join(false) })
  }

  // Churn: Poisson leaves, each followed by a join (the network stays at n).
  const joiners: number[] = []
  const isJoiner = new Uint8Array(cap)
  if (churn > 0) {
    const rate = churn * n / 60_000
    const until = init.churnUntilMs ?? duration
    const nextChurn = (): void => {
      const at = now() - Math.log(1 - random()) / rate
      if (at > until) return
      q.at(at, () => {
        if (live.length > 2) leave(randomLive())
        const j = join(false)
        isJoiner[j] = 1
        joiners.push(j)
        nextChurn()
      })
    }
    q.at(startWindow, nextChurn)
  }

  // Coverage samples (each second) and paths.
  const sampleN = init.sampleNodes ?? 200
  const pathsPerSec = init.pathsPerSecond ?? 100
  let convergedAt: number | undefined
  let lastShare = 0
  let lastCoverage = 0
  let lastSettled: number | undefined
  let paths = 0
  let stale = 0
  const coverage = (i: number): number => {
    const base = i * cap
    const t = now()
    let c = 0
    for (const d of live) if ((view[base + d] as number) > t) c++
    return c / live.length
  }
  const sample = (): void => {
    const t = now()
    const picks = live.length <= sampleN ? [...live] : Array.from({ length: sampleN }, randomLive)
    let ok = 0
    let sum = 0
    let settledSum = 0
    let settled = 0
    for (const i of picks) {
      const c = coverage(i)
      sum += c
      if (c >= CONVERGED_SHARE) ok++
      if (isJoiner[i] === 0) { settledSum += c; settled++ }
    }
    lastSettled = settled === 0 ? undefined : settledSum / settled
    lastShare = ok / picks.length
    lastCoverage = sum / picks.length
    if (convergedAt == null && t >= startWindow && lastShare >= CONVERGED_SHARE) convergedAt = t
    for (const j of joiners) {
      const s = nodes[j] as NodeState
      if (s.alive && s.convergedAt < 0 && coverage(j) >= CONVERGED_SHARE) s.convergedAt = t
    }
    // Paths: PATH_HOPS distinct usable entries, uniformly (rejection sampling over the view).
    for (let k = 0; k < pathsPerSec && t >= startWindow; k++) {
      const i = randomLive()
      const base = i * cap
      const hops = new Set<number>()
      for (let tries = 0; hops.size < PATH_HOPS && tries < 50 * used; tries++) {
        const d = pick(used)
        if (d !== i && (view[base + d] as number) > t) hops.add(d)
      }
      if (hops.size < PATH_HOPS) continue
      paths++
      if ([...hops].some((d) => nodes[d]?.alive !== true)) stale++
    }
    if (t + 1000 <= duration) q.at(t + 1000, sample)
  }
  q.at(1000, sample)

  // Bandwidth window: snapshot counters at measureFrom.
  let tx0 = 0
  let rx0 = 0
  let v0 = 0
  let liveTime = 0
  const snap = (): { tx: number, rx: number, v: number } => {
    let tx = 0; let rx = 0; let v = 0
    for (let i = 0; i < used; i++) { tx += net.tx[i] as number; rx += net.rx[i] as number; v += (nodes[i] as NodeState).verifies }
    return { tx, rx, v }
  }
  q.at(measureFrom, () => { const s = snap(); tx0 = s.tx; rx0 = s.rx; v0 = s.v })
  const tick = (): void => { liveTime += live.length; if (now() + 1000 <= duration) q.at(now() + 1000, tick) }
  q.at(measureFrom + 1000, tick)

  q.run(duration)
  const end = snap()
  const nodeSeconds = Math.max(1, liveTime)
  const liveJoiners = joiners.filter((j) => nodes[j]?.alive === true)
  const joinerCoverage = liveJoiners.length === 0 ? undefined : liveJoiners.reduce((a, j) => a + coverage(j), 0) / liveJoiners.length
  const joinerRates = joiners.map((j) => {
    const s = nodes[j] as NodeState
    const up = (s.leftAt >= 0 ? s.leftAt : duration) - s.joinedAt
    return up >= 30_000 ? (net.rx[j] as number) * 1000 / up : -1
  }).filter((r) => r >= 0)
  const joinTimes = joiners.map((j) => nodes[j] as NodeState).filter((s) => s.convergedAt >= 0).map((s) => s.convergedAt - s.joinedAt).sort((a, b) => a - b)
  return {
    nodes: n,
    convergedAtMs: convergedAt,
    finalConvergedShare: lastShare,
    finalCoverage: lastCoverage,
    finalCoverageSettled: lastSettled,
    finalCoverageJoiners: joinerCoverage,
    joiners: joiners.length,
    joinersConverged: joinTimes.length,
    joinMedianMs: joinTimes[Math.floor(joinTimes.length / 2)],
    joinerRxBytesPerSec: joinerRates.length === 0 ? undefined : joinerRates.reduce((a, b) => a + b, 0) / joinerRates.length,
    rxBytesPerNodeSec: (end.rx - rx0) / nodeSeconds,
    txBytesPerNodeSec: (end.tx - tx0) / nodeSeconds,
    verifiesPerNodeSec: (end.v - v0) / nodeSeconds,
    paths,
    stalePathShare: paths === 0 ? 0 : stale / paths,
    refused,
    transportBytes: net.bytes,
    transportMessages: net.messages,
    nodeTxBytes: end.tx,
    nodeRxBytes: end.rx,
    events: q.processed
  }
}
