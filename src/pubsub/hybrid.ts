/**
 * Seed 004's hybrid pub/sub (issue 13, item 4; docs/pubsub-hybrid.md):
 * GossipSub (the P2P side) and Umbra's central WebSocket server (the
 * central side, ./central), with a failover manager, a bridge and
 * de-duplication on the signed envelope's message id.
 *
 * - `mode: 'p2p'` (default): this module is not used.
 * - `mode: 'central'`: every publish goes to the central server only.
 * - `mode: 'hybrid'`: both sides are subscribed; `strategy` picks where a
 *   publish goes: `prefer-p2p` / `prefer-central` (one side, the other when
 *   it fails) or `parallel` (both). Received messages are delivered once
 *   (the pub/sub service's seen cache) and, with `bridge` on, forwarded to
 *   the other side once (this module's own {@link Deduplicator}).
 *
 * Health (checked every `checkIntervalMs`, and before each publish): the P2P
 * side of a topic is healthy while GossipSub has mesh peers for it; the
 * central side while its client is connected and its last pong is at most
 * `healthTimeoutMs` old. The manager switches a topic's active side:
 * - away from a failed side at the first check that sees it fail: within
 *   `checkIntervalMs` of a closed connection or an empty mesh, and within
 *   `healthTimeoutMs + pingIntervalMs + checkIntervalMs` (2.75 s by
 *   default) of a central server that went silent;
 * - back to the preferred side once it was healthy for `failbackMs`
 *   (hysteresis, so a flapping side does not bounce), or at once when the
 *   side in use fails.
 *
 * Nothing is lost in a switch: every envelope published in the last
 * `replayMs` is sent again on the side switched to (subscribers and the
 * central server drop the copies by message id), a publish that fails on
 * one side goes to the other, and while neither side is healthy publishes
 * wait in a bounded queue (`maxQueue`; over it UMBRA_ERR_PUBSUB_QUEUE_FULL)
 * that is flushed at the first healthy check.
 *
 * @example
 * ```ts
 * const hybrid = createHybrid({ mode: 'hybrid', strategy: 'prefer-p2p', p2p, central, local })
 * await hybrid.start()
 * await hybrid.publish('news', envelopeBytes)
 * ```
 */
import { TypedEventEmitter } from 'main-event'
import { InvalidOptionError } from '../errors.ts'
import { createDeduplicator, type Deduplicator } from './dedup.ts'
import { decodeEnvelope } from './envelope.ts'
import { PubSubQueueFullError } from './central/errors.ts'
import { HYBRID_STRATEGIES, PUBSUB_MODES, type HybridStrategy, type PubSubMode } from './hybrid-modes.ts'
import type { CentralClient } from './central/client.ts'
import type { Logger } from '../logger.ts'

/** A side of the hybrid. */
export type HybridSide = 'p2p' | 'central'

export { HYBRID_STRATEGIES, PUBSUB_MODES } from './hybrid-modes.ts'
export type { HybridStrategy, PubSubMode } from './hybrid-modes.ts'

/** How often the failover manager checks both sides' health, ms. */
export const DEFAULT_HYBRID_CHECK_MS = 250
/** How long the preferred side must stay healthy before a topic fails back to it, ms. */
export const DEFAULT_FAILBACK_MS = 10_000
/** Envelopes published this recently are sent again on the side a topic switches to, ms (above the 2.75 s worst-case detection time). */
export const DEFAULT_REPLAY_MS = 5_000
/** Most envelopes kept for replay per topic. */
export const MAX_REPLAY_PER_TOPIC = 1_000
/** Switches kept for `stats().switchLog`. */
export const MAX_SWITCH_LOG = 32
/** Most publishes waiting while neither side is healthy. */
export const DEFAULT_HYBRID_MAX_QUEUE = 1_000

/** The hybrid options of `createNode({ pubsub })` (PubSubInit extends it). */
export interface HybridPubSubInit {
  /**
   * `p2p`: GossipSub only. `hybrid`: GossipSub and the central server, bridged.
   * `central`: publishes go to the central server only. A central server sees
   * who publishes and reads what: hybrid and central are opt-in. @default 'p2p'
   */
  mode?: PubSubMode
  /** Where publishes go in hybrid mode. @default 'prefer-p2p' */
  strategy?: HybridStrategy
  /** The central server, `ws://HOST:PORT` (`umbra central`); needed with hybrid and central. */
  central?: string
  /** Hybrid mode: forward what one side delivers to the other. @default true */
  bridge?: boolean
  /** Fail back to the preferred side after it was healthy this long, ms. @default 10,000 */
  failbackMs?: number
}

/** What the pub/sub service hands its publishes and subscriptions to in hybrid and central modes ({@link Hybrid} is one). */
export interface PublishRoute {
  /** @returns GossipSub recipients */
  publish(topic: string, envelope: Uint8Array): Promise<number>
  subscribe(topic: string): void
  unsubscribe(topic: string): void
  /** Shown as `stats().hybrid` of the pub/sub service. */
  stats?(): HybridStats
}

/** The GossipSub side, as the hybrid needs it. */
export interface HybridP2P {
  /** Publishes an envelope as it is on GossipSub. @returns the peers it was sent to (0: nobody got it) */
  publish(topic: string, envelope: Uint8Array): Promise<number>
  /** GossipSub mesh peers for `topic` now. */
  meshPeers(topic: string): number
  /** Calls `handler` with every envelope GossipSub accepted (validated) from the network. @returns a function that removes it */
  onMessage(handler: (topic: string, envelope: Uint8Array) => void): () => void
}

/** The local pub/sub service, as the hybrid needs it. */
export interface HybridLocal {
  /**
   * Checks an envelope from the central server and delivers it unless its id
   * was delivered before. @returns the delivered message (its `id` is the hex message id), or undefined (rejected or a duplicate)
   */
  ingest(envelope: Uint8Array, via: 'central'): Promise<{ id: string } | undefined>
}

/** Options of {@link createHybrid}. */
export interface HybridInit {
  /** `hybrid` or `central` (`p2p` uses no hybrid). */
  mode: Exclude<PubSubMode, 'p2p'>
  /** Where publishes go in `hybrid` mode. @default 'prefer-p2p' */
  strategy?: HybridStrategy
  p2p: HybridP2P
  central: CentralClient
  local: HybridLocal
  /** Forward what one side delivers to the other (hybrid mode). @default true */
  bridge?: boolean
  /** Health check period, ms. @default 250 */
  checkIntervalMs?: number
  /** Fail back to the preferred side after it was healthy this long, ms. @default 10,000 */
  failbackMs?: number
  /** Re-send envelopes this recent on a switch, ms. @default 5,000 */
  replayMs?: number
  /** Most queued publishes while no side is healthy. @default 1,000 */
  maxQueue?: number
  log?: Logger
}

/** Events of the hybrid. */
export interface HybridEvents {
  /** A topic's active side changed (`to` undefined: no side is healthy; publishes queue). */
  switch: CustomEvent<{ topic: string, from: HybridSide | undefined, to: HybridSide | undefined, replayed: number }>
}

/** Counters of the hybrid since start. */
export interface HybridStats {
  mode: PubSubMode
  strategy: HybridStrategy
  /** Health now: the P2P side per topic published on, the central side. */
  p2pTopics: Record<string, boolean>
  central: boolean
  /** Side(s) a publish on each topic published on would use now ([]: queued). */
  active: Record<string, HybridSide[]>
  /** The last {@link MAX_SWITCH_LOG} switches, oldest first (`at`: ms since the Unix epoch). */
  switchLog: Array<{ topic: string, from: HybridSide | undefined, to: HybridSide | undefined, at: number, replayed: number }>
  /** Publishes sent on each side (a parallel publish counts on both). */
  sent: Record<HybridSide, number>
  /** Envelopes forwarded by the bridge to each side. */
  bridged: Record<HybridSide, number>
  /** Envelopes sent again after a switch. */
  replayed: number
  /** Publishes waiting now. */
  queued: number
  switches: number
}

/** The hybrid manager. */
export interface Hybrid extends TypedEventEmitter<HybridEvents>, PublishRoute {
  /**
   * Publishes an envelope on the side(s) the strategy picks; queued while no
   * side is healthy.
   * @returns GossipSub recipients (0 when it went to the central server only, or was queued)
   * @throws UMBRA_ERR_PUBSUB_QUEUE_FULL
   */
  publish(topic: string, envelope: Uint8Array): Promise<number>
  /** Subscribes the central side to a topic the node subscribed to (GossipSub is subscribed by the service). */
  subscribe(topic: string): void
  unsubscribe(topic: string): void
  /** The side(s) a publish on `topic` would use now. */
  activeSides(topic: string): HybridSide[]
  stats(): HybridStats
  start(): Promise<void>
  stop(): Promise<void>
}

/**
 * Checks the hybrid options of `init.pubsub`.
 * @throws UMBRA_ERR_INVALID_OPTION naming the field
 */
export function validateHybridInit (init: HybridPubSubInit | undefined): void {
  if (init == null) return
  if (init.mode !== undefined && !PUBSUB_MODES.includes(init.mode as PubSubMode)) throw new InvalidOptionError(`init.pubsub.mode must be one of ${PUBSUB_MODES.join(', ')}, got ${JSON.stringify(init.mode)}`)
  if (init.strategy !== undefined && !HYBRID_STRATEGIES.includes(init.strategy as HybridStrategy)) throw new InvalidOptionError(`init.pubsub.strategy must be one of ${HYBRID_STRATEGIES.join(', ')}, got ${JSON.stringify(init.strategy)}`)
  if ((init.mode === 'hybrid' || init.mode === 'central') && typeof init.central !== 'string') throw new InvalidOptionError(`init.pubsub.central (ws://HOST:PORT of a central server) is needed with mode ${String(init.mode)}`)
  if (init.strategy !== undefined && init.mode !== 'hybrid') throw new InvalidOptionError('init.pubsub.strategy applies to mode hybrid only')
  if (init.central !== undefined && !/^wss?:\/\/./.test(String(init.central))) throw new InvalidOptionError(`init.pubsub.central must be a ws:// or wss:// URL, got ${JSON.stringify(init.central)}`)
  if (init.bridge !== undefined && typeof init.bridge !== 'boolean') throw new InvalidOptionError('init.pubsub.bridge must be true or false')
  if (init.failbackMs !== undefined && (!Number.isSafeInteger(init.failbackMs) || init.failbackMs < 1)) throw new InvalidOptionError('init.pubsub.failbackMs must be a positive integer (ms)')
}

/** The resolved timing options. */
interface HybridTimes { checkMs: number, failbackMs: number, replayMs: number, maxQueue: number }

interface TopicState {
  active: HybridSide | undefined
  /** Since when the preferred side has been healthy while another is active, ms. */
  preferredHealthySince: number | undefined
  recent: Array<{ envelope: Uint8Array, at: number }>
}

/**
 * Creates the hybrid manager (not started).
 * @throws UMBRA_ERR_INVALID_OPTION
 */
export function createHybrid (init: HybridInit): Hybrid {
  const positive = (v: number, field: string): number => {
    if (!Number.isSafeInteger(v) || v < 1) throw new InvalidOptionError(`pubsub.${field} must be a positive integer, got ${String(v)}`)
    return v
  }
  if (init.mode !== 'hybrid' && init.mode !== 'central') throw new InvalidOptionError(`createHybrid: mode must be hybrid or central, got ${JSON.stringify(init.mode)}`)
  const strategy = init.strategy ?? 'prefer-p2p'
  if (!HYBRID_STRATEGIES.includes(strategy)) throw new InvalidOptionError(`pubsub.strategy must be one of ${HYBRID_STRATEGIES.join(', ')}`)
  return new HybridImpl(init, strategy, {
    checkMs: positive(init.checkIntervalMs ?? DEFAULT_HYBRID_CHECK_MS, 'checkIntervalMs'),
    failbackMs: positive(init.failbackMs ?? DEFAULT_FAILBACK_MS, 'failbackMs'),
    replayMs: positive(init.replayMs ?? DEFAULT_REPLAY_MS, 'replayMs'),
    maxQueue: positive(init.maxQueue ?? DEFAULT_HYBRID_MAX_QUEUE, 'maxQueue')
  })
}

class HybridImpl extends TypedEventEmitter<HybridEvents> implements Hybrid {
  readonly #mode: 'hybrid' | 'central'
  readonly #strategy: HybridStrategy
  readonly #p2p: HybridP2P
  readonly #central: CentralClient
  readonly #local: HybridLocal
  readonly #bridge: boolean
  readonly #o: HybridTimes
  readonly #log?: Logger
  /** Ids this node already forwarded or published on each side (the bridge sends each message once per side). */
  readonly #forwarded: Record<HybridSide, Deduplicator> = { p2p: createDeduplicator(), central: createDeduplicator() }
  readonly #topics = new Map<string, TopicState>()
  readonly #subscribed = new Set<string>()
  #queue: Array<{ topic: string, envelope: Uint8Array }> = []
  readonly #sent: Record<HybridSide, number> = { p2p: 0, central: 0 }
  readonly #bridged: Record<HybridSide, number> = { p2p: 0, central: 0 }
  #replayed = 0
  readonly #switchLog: HybridStats['switchLog'] = []
  #switches = 0
  #timer: ReturnType<typeof setInterval> | undefined
  #offP2P: (() => void) | undefined
  #flushing = false

  constructor (init: HybridInit, strategy: HybridStrategy, o: HybridTimes) {
    super()
    this.#mode = init.mode
    this.#strategy = strategy
    this.#p2p = init.p2p
    this.#central = init.central
    this.#local = init.local
    this.#bridge = init.mode === 'hybrid' && (init.bridge ?? true)
    this.#o = o
    this.#log = init.log
  }

  #healthy (side: HybridSide, topic: string): boolean {
    if (side === 'central') return this.#central.healthy()
    return this.#mode === 'hybrid' && this.#p2p.meshPeers(topic) > 0
  }

  #preferred (): HybridSide {
    return this.#mode === 'central' || this.#strategy === 'prefer-central' ? 'central' : 'p2p'
  }

  #state (topic: string): TopicState {
    let s = this.#topics.get(topic)
    if (s == null) {
      s = { active: undefined, preferredHealthySince: undefined, recent: [] }
      this.#topics.set(topic, s)
      this.#evaluate(topic, s, Date.now())
    }
    return s
  }

  /** Picks `topic`'s active side (prefer-* strategies and central mode) and replays on a switch. */
  #evaluate (topic: string, s: TopicState, now: number): void {
    const pref = this.#preferred()
    const other: HybridSide | undefined = this.#mode === 'central' ? undefined : (pref === 'p2p' ? 'central' : 'p2p')
    const prefOk = this.#healthy(pref, topic)
    const otherOk = other != null && this.#healthy(other, topic)
    let next = s.active
    if (s.active === pref) {
      if (!prefOk) next = otherOk ? other : undefined
      s.preferredHealthySince = undefined
    } else if (s.active != null) {
      // On the fallback side: fail back after failbackMs of preferred health, or at once when the fallback fails.
      if (!prefOk) s.preferredHealthySince = undefined
      else s.preferredHealthySince ??= now
      if (!otherOk) next = prefOk ? pref : undefined
      else if (s.preferredHealthySince != null && now - s.preferredHealthySince >= this.#o.failbackMs) next = pref
    } else {
      next = prefOk ? pref : (otherOk ? other : undefined)
    }
    if (next !== s.active) this.#switch(topic, s, next, now)
  }

  #switch (topic: string, s: TopicState, to: HybridSide | undefined, now: number): void {
    const from = s.active
    s.active = to
    s.preferredHealthySince = undefined
    this.#switches++
    let replayed = 0
    if (to != null) {
      for (const r of s.recent) {
        if (now - r.at > this.#o.replayMs) continue
        replayed++
        void this.#sendOn(to, topic, r.envelope).catch(() => {})
      }
      this.#replayed += replayed
    }
    this.#switchLog.push({ topic, from, to, at: now, replayed })
    if (this.#switchLog.length > MAX_SWITCH_LOG) this.#switchLog.shift()
    this.#log?.info({ from: from ?? 'none', to: to ?? 'none', replayed }, 'pub/sub side switched')
    this.safeDispatchEvent('switch', { detail: { topic, from, to, replayed } })
  }

  /** Publishes on one side; a GossipSub publish that reached nobody counts as failed. @throws the side's error */
  async #sendOn (side: HybridSide, topic: string, envelope: Uint8Array): Promise<number> {
    if (side === 'central') {
      await this.#central.publish(topic, envelope)
      this.#sent.central++
      return 0
    }
    const n = await this.#p2p.publish(topic, envelope)
    if (n === 0) throw new Error('no GossipSub peer took the message')
    this.#sent.p2p++
    return n
  }

  activeSides (topic: string): HybridSide[] {
    if (this.#mode === 'hybrid' && this.#strategy === 'parallel') return (['p2p', 'central'] as const).filter((side) => this.#healthy(side, topic))
    const s = this.#state(topic)
    this.#evaluate(topic, s, Date.now())
    return s.active != null ? [s.active] : []
  }

  async publish (topic: string, envelope: Uint8Array): Promise<number> {
    const sides = this.activeSides(topic)
    let recipients = 0
    let ok = false
    for (const side of sides) {
      try {
        recipients += await this.#sendOn(side, topic, envelope)
        ok = true
      } catch (err) {
        this.#log?.debug({ side, err: (err as Error).message }, 'publish failed on one side')
      }
    }
    if (!ok && sides.length > 0 && this.#mode === 'hybrid' && this.#strategy !== 'parallel') {
      // The active side failed under us: try the other one before queueing.
      const other: HybridSide = sides[0] === 'p2p' ? 'central' : 'p2p'
      ok = await this.#sendOn(other, topic, envelope).then((n) => { recipients += n; return true }, () => false)
    }
    if (ok) this.#remember(topic, envelope)
    else this.#enqueue(topic, envelope)
    return recipients
  }

  /** Keeps a sent envelope for the replay window (bounded per topic). */
  #remember (topic: string, envelope: Uint8Array): void {
    const s = this.#state(topic)
    const now = Date.now()
    s.recent.push({ envelope, at: now })
    while (s.recent.length > MAX_REPLAY_PER_TOPIC || (s.recent.length > 0 && now - (s.recent[0]?.at ?? now) > this.#o.replayMs)) s.recent.shift()
  }

  #enqueue (topic: string, envelope: Uint8Array): void {
    if (this.#queue.length >= this.#o.maxQueue) throw new PubSubQueueFullError(`Neither pub/sub side is healthy and ${this.#o.maxQueue} publishes already wait`)
    this.#queue.push({ topic, envelope })
  }

  async #flush (): Promise<void> {
    if (this.#flushing || this.#queue.length === 0) return
    this.#flushing = true
    try {
      const waiting = this.#queue
      this.#queue = []
      for (let i = 0; i < waiting.length; i++) {
        const q = waiting[i] as { topic: string, envelope: Uint8Array }
        const sides = this.activeSides(q.topic)
        let ok = false
        for (const side of sides) {
          if (await this.#sendOn(side, q.topic, q.envelope).then(() => true, () => false)) ok = true
        }
        if (!ok) { this.#queue = [...waiting.slice(i), ...this.#queue]; return }
        this.#remember(q.topic, q.envelope)
      }
    } finally {
      this.#flushing = false
    }
  }

  subscribe (topic: string): void {
    this.#subscribed.add(topic)
    this.#central.subscribe(topic)
  }

  unsubscribe (topic: string): void {
    this.#subscribed.delete(topic)
    this.#central.unsubscribe(topic)
  }

  /** The bridge: forwards an envelope delivered by one side to the other, once per message id. */
  #forward (to: HybridSide, topic: string, envelope: Uint8Array, id: Uint8Array | string): void {
    if (!this.#bridge || !this.#subscribed.has(topic) || !this.#healthy(to, topic)) return
    if (!this.#forwarded[to].firstSeen(id)) return
    this.#bridged[to]++
    void this.#sendOn(to, topic, envelope).catch(() => {})
  }

  #onCentral = (evt: CustomEvent<{ topic: string, data: Uint8Array }>): void => {
    const { topic, data } = evt.detail
    void this.#local.ingest(data, 'central').then((msg) => {
      if (msg != null) this.#forward('p2p', topic, data, msg.id)
    }).catch(() => {})
  }

  stats (): HybridStats {
    const p2pTopics: Record<string, boolean> = {}
    const active: Record<string, HybridSide[]> = {}
    for (const t of this.#topics.keys()) {
      p2pTopics[t] = this.#healthy('p2p', t)
      active[t] = this.activeSides(t)
    }
    return {
      mode: this.#mode,
      strategy: this.#strategy,
      p2pTopics,
      central: this.#central.healthy(),
      active,
      switchLog: this.#switchLog.map((x) => ({ ...x })),
      sent: { ...this.#sent },
      bridged: { ...this.#bridged },
      replayed: this.#replayed,
      queued: this.#queue.length,
      switches: this.#switches
    }
  }

  async start (): Promise<void> {
    if (this.#timer != null) return
    this.#central.addEventListener('message', this.#onCentral)
    this.#offP2P = this.#p2p.onMessage((topic, envelope) => {
      let id: Uint8Array
      try {
        id = decodeEnvelope(envelope).id
      } catch {
        return // GossipSub's validator accepted it, so this does not happen
      }
      this.#forward('central', topic, envelope, id)
    })
    await this.#central.start()
    this.#timer = setInterval(() => {
      const now = Date.now()
      if (this.#mode === 'central' || this.#strategy !== 'parallel') {
        for (const [topic, s] of this.#topics) this.#evaluate(topic, s, now)
      }
      void this.#flush()
    }, this.#o.checkMs)
    this.#timer.unref()
  }

  async stop (): Promise<void> {
    if (this.#timer == null) return
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#central.removeEventListener('message', this.#onCentral)
    this.#offP2P?.()
    await this.#central.stop()
  }
}
