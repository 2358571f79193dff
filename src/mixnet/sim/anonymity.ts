/**
 * Anonymity simulator (issue 16, item 4; docs/mixnet.md "Measured
 * anonymity"). A discrete-event simulation on a simulated clock (no
 * sockets, no timers) of Umbra's traffic with the node's own rules: the
 * preset's exponential per-hop delays (`expDraw`, whole ms, clamped to
 * MAX_HOP_DELAY_MS), its loop and drop cover rates for every node (clients
 * and mixes, as `scheduleCover` runs on both), paths from a
 * {@link PathSelector} (by default the node's: layers per epoch and a guard
 * sample per node, from src/mixnet/topology.ts, see ./paths.ts), and
 * gateways chosen uniformly. Clients also send real messages at a
 * Poisson rate (the traffic load).
 *
 * {@link analyseTrace} then plays a global passive observer who sees every
 * link transmission (time, from, to) and whom a share of the mixes tell
 * exactly which input became which output. For a target real message it
 * computes the observer's posterior over senders by walking the trace
 * backwards from the message's last link (last mix → gateway) and reports
 * the Shannon entropy of that posterior (Diaz et al. 2002, "Towards
 * measuring anonymity"; Serjantov & Danezis 2002) and whether the most
 * likely sender is the true one.
 *
 * The observer's model of an honest mix is Loopix's Poisson mix
 * (Piotrowska et al. 2017, §4.1.3, Theorems 1 and 2): with exponential
 * delays of rate μ = 1 / mean, a mix holding k packets emits any one of
 * them next with probability μ / (kμ + λ_M) and a packet of its own cover
 * with probability λ_M / (kμ + λ_M), λ_M its cover rate, whatever their
 * arrival times. The observer is given each mix's true pool count k at each
 * departure (as Loopix's adversary, who counts inputs and outputs; here it
 * even knows which arrivals ended at a gateway), which favours the observer.
 * An input's share of an output then is a_o · Π(1 − a_o') over the outputs
 * o' in between, a_o = μ / (k_o μ + λ_M), so one backward pass with one
 * accumulator per mix spreads every output's probability over all earlier
 * inputs in O(events). With mean delay 0 (preset `none`) an output is the
 * input of the same instant, so honest mixes link exactly, like hostile ones.
 *
 * Not modelled (stated in docs/mixnet.md): link latency and processing
 * time (both known to the observer, so they change nothing), packet loss,
 * the gateway → recipient leg, intersection over many messages of one
 * sender (long-term statistical disclosure), and the difference between
 * real and cover sending rates of a client (issue 16 item 1: today a real
 * message adds to the client's packet rate; the observer here does not use
 * rates).
 */
import { MAX_HOP_DELAY_MS } from '../constants.ts'
import { expDraw } from '../mixnet-service.ts'
import { layeredPathSelector, type PathSelector } from './paths.ts'
import { seeded } from './random.ts'
import type { PresetParameters } from '../types.ts'

const MS_PER_S = 1000
/** Mix hops per path (DEFAULT_HOPS, seed 001). */
const DEFAULT_SIM_HOPS = 3
/** Real messages per client per second when none is given: one message every 10 s. */
export const DEFAULT_MESSAGE_RATE = 0.1
/** Simulated time before targets are taken, ms: pools fill (30 mean delays, at least 2 s). */
const MIN_WARMUP_MS = 2000
/** Simulated time in which target messages are sent, ms. */
const DEFAULT_WINDOW_MS = 20_000
/** Target messages analysed per run at most. */
const DEFAULT_TARGETS = 300
/** The backward pass stops once less than this probability is still unassigned. */
const MASS_EPSILON = 1e-6
/** …or after this much simulated time back from the target, ms. */
const MAX_LOOKBACK_MS = 120_000

/** What {@link simulate} runs. */
export interface SimulationInit {
  /** The preset's parameters (PRESETS in src/mixnet/mixnet-service.ts). */
  preset: PresetParameters
  /** Mix nodes (server nodes: each relays, is a gateway and sends cover). */
  mixes: number
  /** Client nodes (send cover and real messages, never relay). */
  clients: number
  /** Real messages per client per second (Poisson). @default DEFAULT_MESSAGE_RATE (0.1) */
  messageRate?: number
  /** Mix hops per path. @default 3 */
  hops?: number
  /** Simulated time in which targets are sent, ms. @default 20,000 */
  windowMs?: number
  /** Seed of the simulation's random numbers (not cryptographic: reproducible tables). @default 1 */
  seed?: number
  /** Path selection. @default layeredPathSelector({ mixes, seed }): the node's rule (layers and guards) */
  select?: PathSelector
}

/**
 * Every link transmission of a run, in the order the simulation made them
 * (a topological order: a packet's earlier hop has a lower index). Node
 * indices: mixes are `0 … mixes − 1`, clients follow.
 */
export interface Trace {
  mixes: number
  nodes: number
  /** Sender and receiver node of each transmission. */
  from: Int32Array
  to: Int32Array
  /** Index of the same packet's previous transmission, or −1 when `from` made the packet. */
  prev: Int32Array
  /** Packets `from` (a mix) held just before this transmission left, this one included when relayed. */
  pool: Int32Array
  /** When it was sent, ms of simulated time. */
  time: Float64Array
  length: number
  /** Real messages sent in the measured window: the index of their last transmission (last mix → gateway), their sender and their first hop. */
  targets: Array<{ last: number, sender: number, first: number }>
  /** Mean delay per hop (ms) and cover rate of each mix (packets/s) the run used. */
  meanDelayMs: number
  mixCoverRate: number
}

/** What {@link analyseTrace} reports. */
export interface AnonymityResult {
  /** Mean Shannon entropy of the observer's posterior over senders, bits. */
  entropyBits: number
  /** Probability that the observer's most likely sender is the true one (ties share). */
  named: number
  /** Targets analysed. */
  targets: number
  /** Upper bound: log2 of the number of possible senders (clients and mixes), bits. */
  maxBits: number
  /**
   * Per sender: the share of senders (among those with a target analysed)
   * whom the observer named in at least half of their analysed messages.
   * With guards this splits by guard (a hostile guard for weeks or never).
   */
  clientsNamed: number
  /** Share of the targets whose first hop was hostile. */
  hostileFirst: number
  /** Probability of naming the sender of a target whose first hop was hostile; NaN when there was none. */
  namedHostileFirst: number
}


/** A growable column of numbers. */
class Column<T extends Int32Array | Float64Array> {
  data: T
  readonly #make: (n: number) => T
  constructor (make: (n: number) => T) {
    this.#make = make
    this.data = make(1024)
  }
  set (i: number, v: number): void {
    if (i >= this.data.length) {
      const next = this.#make(this.data.length * 2)
      next.set(this.data)
      this.data = next
    }
    this.data[i] = v
  }
}

/** A binary min-heap of scheduled actions by (time, sequence). */
class Agenda {
  #t: number[] = []
  #s: number[] = []
  #a: Array<(t: number) => void> = []
  #seq = 0
  get size (): number { return this.#t.length }
  push (t: number, action: (t: number) => void): void {
    const t_ = this.#t; const s_ = this.#s; const a_ = this.#a
    let i = t_.length
    const s = this.#seq++
    t_.push(t); s_.push(s); a_.push(action)
    while (i > 0) {
      const p = (i - 1) >> 1
      if (t_[p] as number < t || (t_[p] === t && (s_[p] as number) < s)) break
      t_[i] = t_[p] as number; s_[i] = s_[p] as number; a_[i] = a_[p] as (t: number) => void
      i = p
    }
    t_[i] = t; s_[i] = s; a_[i] = action
  }
  /** Removes the earliest action; returns its time and the action. */
  pop (): [number, (t: number) => void] {
    const t_ = this.#t; const s_ = this.#s; const a_ = this.#a
    const top: [number, (t: number) => void] = [t_[0] as number, a_[0] as (t: number) => void]
    const lt = t_.pop() as number; const ls = s_.pop() as number; const la = a_.pop() as (t: number) => void
    const n = t_.length
    if (n > 0) {
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        if (l >= n) break
        const r = l + 1
        const c = r < n && ((t_[r] as number) < (t_[l] as number) || (t_[r] === t_[l] && (s_[r] as number) < (s_[l] as number))) ? r : l
        if ((t_[c] as number) > lt || (t_[c] === lt && (s_[c] as number) > ls)) break
        t_[i] = t_[c] as number; s_[i] = s_[c] as number; a_[i] = a_[c] as (t: number) => void
        i = c
      }
      t_[i] = lt; s_[i] = ls; a_[i] = la
    }
    return top
  }
}

/**
 * Runs the traffic of one network (see the module comment) and returns its
 * trace. Targets are the real messages sent during `windowMs` after a
 * warm-up; the run continues until every one of them reached its gateway.
 * @throws Error when `mixes` < hops + 2 (a path needs hops mixes besides the sender and the gateway)
 */
export function simulate (init: SimulationInit): Trace {
  const { preset, mixes, clients } = init
  const hops = init.hops ?? DEFAULT_SIM_HOPS
  const messageRate = init.messageRate ?? DEFAULT_MESSAGE_RATE
  const windowMs = init.windowMs ?? DEFAULT_WINDOW_MS
  if (mixes < hops + 2) throw new Error(`simulate: ${mixes} mixes cannot give ${hops}-hop paths that avoid the sender and the gateway`)
  const uniform = seeded(init.seed ?? 1)
  const u01 = (): number => 1 - uniform() // (0, 1]
  const random = (n: number): number => Math.floor(uniform() * n)
  const select = init.select ?? layeredPathSelector({ mixes, seed: init.seed })
  const mean = preset.meanDelayMs
  const warmupMs = Math.max(MIN_WARMUP_MS, 30 * mean)
  const sendEnd = warmupMs + windowMs
  const nodes = mixes + clients
  // Each node's reply gateway (its loops end there), and each client's pseudonym gateway (messages to it end there).
  const otherMix = (self: number): number => { for (;;) { const g = random(mixes); if (g !== self) return g } }
  const replyGateway = Int32Array.from({ length: nodes }, (_, i) => otherMix(i))
  const inboxGateway = Int32Array.from({ length: clients }, () => random(mixes))

  const from = new Column((n) => new Int32Array(n))
  const to = new Column((n) => new Int32Array(n))
  const prev = new Column((n) => new Int32Array(n))
  const pool = new Column((n) => new Int32Array(n))
  const time = new Column((n) => new Float64Array(n))
  let length = 0
  const held = new Int32Array(mixes)
  const targets: Trace['targets'] = []
  const agenda = new Agenda()
  let pendingTargets = 0

  const record = (t: number, f: number, r: number, p: number): number => {
    from.set(length, f); to.set(length, r); prev.set(length, p); time.set(length, t)
    pool.set(length, f < mixes ? held[f] as number : 0)
    return length++
  }

  /** One packet from `sender` through `path` to `gateway`; `target` marks a measured real message. */
  const send = (t: number, sender: number, gateway: number, target: boolean, loop = false): void => {
    const path = select({ sender, gateway, hops, timeMs: t, loop }, random)
    let last = record(t, sender, path[0] as number, -1)
    if (target) pendingTargets++
    const arrive = (at: number, h: number): void => {
      const mix = path[h] as number
      held[mix] = (held[mix] as number) + 1
      agenda.push(at + expDraw(mean, MAX_HOP_DELAY_MS, u01), (departAt) => {
        const next = h + 1 < path.length ? path[h + 1] as number : gateway
        last = record(departAt, mix, next, last)
        held[mix] = (held[mix] as number) - 1
        if (h + 1 < path.length) arrive(departAt, h + 1)
        else if (target) { targets.push({ last, sender, first: path[0] as number }); pendingTargets-- }
      })
    }
    arrive(t, 0)
  }

  /** A Poisson stream of `rate` packets/s from `node`, sent until the window closes. */
  const stream = (node: number, rate: number, make: (t: number) => void): void => {
    if (rate <= 0) return
    const next = (t: number): void => {
      const at = t + expDraw(MS_PER_S / rate, MAX_HOP_DELAY_MS, u01)
      if (at > sendEnd) return
      agenda.push(at, () => { make(at); next(at) })
    }
    next(0)
  }
  for (let n = 0; n < nodes; n++) {
    stream(n, preset.loopRate, (t) => { send(t, n, replyGateway[n] as number, false, true) })
    stream(n, preset.dropRate, (t) => { send(t, n, otherMix(n), false) })
    if (n >= mixes) {
      stream(n, messageRate, (t) => {
        let to = random(clients - 1)
        if (to >= n - mixes) to++
        send(t, n, inboxGateway[to] as number, t >= warmupMs)
      })
    }
  }
  // Run until the window closed and every target arrived (cover still in flight then is cut off).
  while (agenda.size > 0) {
    const [t, action] = agenda.pop()
    if (t > sendEnd && pendingTargets === 0) break
    action(t)
  }
  return {
    mixes,
    nodes,
    from: from.data,
    to: to.data,
    prev: prev.data,
    pool: pool.data,
    time: time.data,
    length,
    targets,
    meanDelayMs: mean,
    mixCoverRate: preset.loopRate + preset.dropRate
  }
}

/** What {@link analyseTrace} takes besides the trace. */
export interface AnalyseOptions {
  /** Per mix, whether it is hostile (tells the observer exactly how it relays). @default none */
  hostile?: Uint8Array
  /** Most targets analysed (evenly spread over the trace's targets). @default 300 */
  maxTargets?: number
}

/**
 * The global passive observer's view of a trace (see the module comment):
 * mean sender entropy (bits) and the probability of naming the sender, over
 * the trace's target messages.
 */
export function analyseTrace (trace: Trace, options: AnalyseOptions = {}): AnonymityResult {
  const { mixes, nodes } = trace
  const hostile = options.hostile ?? new Uint8Array(mixes)
  const every = trace.targets
  const count = Math.min(every.length, options.maxTargets ?? DEFAULT_TARGETS)
  const maxBits = Math.log2(nodes)
  if (count === 0) return { entropyBits: 0, named: 0, targets: 0, maxBits, clientsNamed: 0, hostileFirst: 0, namedHostileFirst: Number.NaN }
  const exactAll = trace.meanDelayMs <= 0
  const mu = exactAll ? 0 : 1 / trace.meanDelayMs // per ms
  const lambda = trace.mixCoverRate / MS_PER_S // per ms
  const acc = new Float64Array(mixes)
  const pending = new Float64Array(trace.length)
  const senders = new Float64Array(nodes)
  let entropySum = 0
  let namedSum = 0
  let hostileFirstCount = 0
  let namedHostileFirstSum = 0
  /** Per sender: [targets analysed, named sum]. */
  const perSender = new Map<number, [number, number]>()
  for (let n = 0; n < count; n++) {
    const target = every[Math.floor(n * every.length / count)] as Trace['targets'][number]
    acc.fill(0)
    senders.fill(0)
    let pendingTotal = 1
    let accTotal = 0
    pending[target.last] = 1
    let lowest = target.last
    const stopAt = trace.time[target.last] as number - MAX_LOOKBACK_MS
    let e = target.last
    for (; e >= 0 && pendingTotal + accTotal > MASS_EPSILON && (trace.time[e] as number) >= stopAt; e--) {
      const f = trace.from[e] as number
      const r = trace.to[e] as number
      let m = pending[e] as number
      if (m !== 0) { pending[e] = 0; pendingTotal -= m }
      // As an input of an honest mixing node `r`: its share of r's later outputs.
      if (r < mixes && hostile[r] === 0 && !exactAll) m += acc[r] as number
      if (f >= mixes) { senders[f] = (senders[f] as number) + m; continue }
      const p = trace.prev[e] as number
      if (hostile[f] === 1 || exactAll) {
        if (m === 0) continue
        if (p < 0) senders[f] = (senders[f] as number) + m
        else { pending[p] = (pending[p] as number) + m; pendingTotal += m; if (p < lowest) lowest = p }
        continue
      }
      // An output of honest mix f: each of its k pooled packets with a = μ/(kμ + λ), its own cover with λ/(kμ + λ).
      const k = trace.pool[e] as number
      const denom = k * mu + lambda
      const a = k === 0 ? 0 : mu / denom
      senders[f] = (senders[f] as number) + m * (lambda / denom)
      const old = acc[f] as number
      const next = old * (1 - a) + m * a
      acc[f] = next
      accTotal += next - old
    }
    // Whatever was left pending before the stop belongs to nobody: clear it for the next target.
    pending.fill(0, lowest, target.last + 1)
    let total = 0
    for (let i = 0; i < nodes; i++) total += senders[i] as number
    let h = 0
    let best = -1
    for (let i = 0; i < nodes; i++) {
      const q = (senders[i] as number) / total
      if (q > 0) h -= q * Math.log2(q)
      if (q > best) best = q
    }
    const truth = (senders[target.sender] as number) / total
    let ties = 0
    if (truth >= best * (1 - 1e-9)) for (let i = 0; i < nodes; i++) if ((senders[i] as number) / total >= best * (1 - 1e-9)) ties++
    const named = ties > 0 ? 1 / ties : 0
    entropySum += h
    namedSum += named
    if (hostile[target.first] === 1) { hostileFirstCount++; namedHostileFirstSum += named }
    const s = perSender.get(target.sender) ?? [0, 0]
    perSender.set(target.sender, [s[0] + 1, s[1] + named])
  }
  let clientsNamed = 0
  for (const [n, namedTotal] of perSender.values()) if (namedTotal >= n / 2) clientsNamed++
  return {
    entropyBits: entropySum / count,
    named: namedSum / count,
    targets: count,
    maxBits,
    clientsNamed: clientsNamed / perSender.size,
    hostileFirst: hostileFirstCount / count,
    namedHostileFirst: hostileFirstCount === 0 ? Number.NaN : namedHostileFirstSum / hostileFirstCount
  }
}

/**
 * A hostile set for {@link analyseTrace}: `share` (0 to 1) of the mixes,
 * uniformly at random, nested (the 10 % set is inside the 20 % set for one seed).
 */
export function hostileMixes (mixes: number, share: number, seed = 7): Uint8Array {
  const uniform = seeded(seed)
  const order = Array.from({ length: mixes }, (_, i) => i)
  for (let i = mixes - 1; i > 0; i--) {
    const j = Math.floor(uniform() * (i + 1))
    const t = order[i] as number; order[i] = order[j] as number; order[j] = t
  }
  const out = new Uint8Array(mixes)
  for (const i of order.slice(0, Math.round(share * mixes))) out[i] = 1
  return out
}
