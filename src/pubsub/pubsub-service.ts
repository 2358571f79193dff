/**
 * The pub/sub service of a node (issue 13 items 1, 3 and 5; DESIGN.md
 * section 5b): GossipSub topics carrying signed envelopes
 * (src/pubsub/envelope.ts), checked by {@link EnvelopeValidator}, kept by
 * the {@link MessageStore}, with history from server nodes
 * (`/umbra/pubsub-history/1.0.0`). docs/pubsub.md has the protocol and the
 * choices.
 *
 * Server nodes "serve" every topic a connected peer subscribes to (up to
 * {@link MAX_SERVED_TOPICS}): they join its mesh, so a subscriber that only
 * knows servers still meets the publishers, and they keep its last messages
 * for history. Messages of served topics are not handed to the application
 * unless it subscribed too.
 */
import { TopicValidatorResult, type GossipSub } from '@libp2p/gossipsub'
import { TypedEventEmitter } from 'main-event'
import { InvalidOptionError, NotStartedError } from '../errors.ts'
import { UnknownPseudonymError } from '../mixnet/errors.ts'
import { checkTopic, encodeEnvelope, messageIdText, publisherKey, signEnvelope } from './envelope.ts'
import {
  DEFAULT_MAX_MESSAGE_AGE_MS, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_STORE_MESSAGES, DEFAULT_STORE_TTL_MS, HISTORY_PEERS, HISTORY_PROTOCOL,
  MAX_HISTORY_MESSAGES
} from './constants.ts'
import { PubSubHistoryError, PubSubUnsupportedError } from './errors.ts'
import { requestHistory, serveHistory } from './history.ts'
import { scoreTopic } from './gossip-config.ts'
import { MessageStore } from './store.ts'
import { EnvelopeValidator, REJECT_REASONS } from './validator.ts'
import { validateHybridInit, type HybridPubSubInit, type HybridStats, type PublishRoute } from './hybrid.ts'
import type { PubSubEnvelope } from './pb/pubsub.ts'
import type { PublishOptions, PublishResult, PubSubMessage, PubSubVia, RejectReason } from './types.ts'
import type { Logger } from '../logger.ts'
import type { StateDatabase } from '../store/index.ts'
import type { Libp2p, PeerId, PrivateKey } from '@libp2p/interface'

/** Most topics a server serves for its peers at once (bounded memory and mesh work). */
export const MAX_SERVED_TOPICS = 1000
/** Every delivery path, in a fixed order (metrics labels). */
export const PUBSUB_VIAS: readonly PubSubVia[] = ['p2p', 'central', 'store', 'mixnet']
/** Attempts to find a history server after a restart, one a second (identify must have run). */
const RESTORE_ATTEMPTS = 10
const RESTORE_RETRY_MS = 1000

/** Pub/sub options, `createNode({ pubsub })`. Every field is optional. */
export interface PubSubInit extends HybridPubSubInit {
  /** Largest encoded message accepted or published, bytes. @default 1_048_576 (1 MiB, issue 13) */
  maxMessageBytes?: number
  /** Oldest message accepted from GossipSub, ms; ids are remembered as long (replays). @default 300_000 (5 min) */
  maxMessageAge?: number
  /** Accept messages without a publisher (anonymous). @default true */
  acceptUnsigned?: boolean
  /** Messages the store keeps per topic. @default 100 (issue 13 item 3) */
  storeMessages?: number
  /** How long the store keeps a message, ms. @default 300_000 (5 min, issue 13 item 3) */
  storeTtl?: number
  /** GossipSub's IP co-location penalty; `createTestnet` and `umbra testnet` turn it off. @default true */
  ipColocationPenalty?: boolean
  /** GossipSub's seen-message cache, ms. @default 120_000 */
  seenTtl?: number
  /** On a server: join, relay and store every topic a peer subscribes to. @default true */
  serve?: boolean
}

/** What `subscribe` reports. */
export interface SubscribeResult {
  topic: string
  /** Messages fetched from the store of server nodes and delivered (0 without `since`). */
  history: number
}

/** Counters of the pub/sub service (metrics `umbra_pubsub_…`). */
export interface PubSubStats {
  /** Messages rejected by reason since start (GossipSub, history and other paths). */
  rejected: Record<RejectReason, number>
  /** Messages handed to the application or the store, by the path that brought them first. */
  delivered: Record<PubSubVia, number>
  /** Messages this node published. */
  published: number
  /** Hybrid and central modes: each side's health, the side(s) in use per topic, switches (src/pubsub/hybrid.ts). */
  hybrid?: HybridStats
}

/** Events of the pub/sub service. */
export interface PubSubEvents {
  /** A verified message of a subscribed topic, once per id whichever path brought it. */
  'message': CustomEvent<PubSubMessage>
}

/** `node.pubsub`: topics, publishing, history (issue 13 item 5). */
export interface PubSubService {
  /**
   * Subscribes to `topic` (kept across restarts). With `since` (ms since the
   * Unix epoch), asks up to 3 server peers for the messages published since
   * then and delivers the ones this node has not seen.
   * @throws UMBRA_ERR_PUBSUB_INVALID_TOPIC, UMBRA_ERR_NOT_STARTED
   */
  subscribe(topic: string, options?: { since?: number, signal?: AbortSignal }): Promise<SubscribeResult>
  /** Unsubscribes (and forgets the subscription). @throws UMBRA_ERR_PUBSUB_INVALID_TOPIC */
  unsubscribe(topic: string): Promise<void>
  /**
   * Signs `data` with the node key (or `options.pseudonym`'s key) and
   * publishes it on `topic`. The publisher does not receive its own message.
   * @throws UMBRA_ERR_PUBSUB_INVALID_TOPIC, UMBRA_ERR_PUBSUB_MESSAGE_TOO_LARGE,
   *   UMBRA_ERR_PUBSUB_UNSUPPORTED (`anonymous` before the mixnet bridge is wired),
   *   UMBRA_ERR_UNKNOWN_PSEUDONYM
   */
  publish(topic: string, data: Uint8Array, options?: PublishOptions): Promise<PublishResult>
  /** Topics the application subscribes to, sorted. */
  topics(): string[]
  /** PeerIds of connected peers subscribed to `topic`. @throws UMBRA_ERR_PUBSUB_INVALID_TOPIC */
  peers(topic: string): string[]
  /**
   * Messages of `topic` this node holds (received or served), published at
   * or after `since` (ms), oldest first, at most `limit` (100).
   * @throws UMBRA_ERR_PUBSUB_INVALID_TOPIC
   */
  messages(topic: string, options?: { since?: number, limit?: number }): PubSubMessage[]
  /**
   * Asks server peers for the messages of `topic` since `since` (ms) and
   * delivers the new ones (event `pubsub:message`, `via: 'store'`).
   * @returns the messages delivered now
   * @throws UMBRA_ERR_PUBSUB_HISTORY when no server peer answered
   */
  history(topic: string, options: { since: number, signal?: AbortSignal }): Promise<PubSubMessage[]>
  /** Counters since start. */
  stats(): PubSubStats
}

/** What the node hands the service. */
export interface PubSubComponents {
  libp2p: Libp2p
  gossipsub: GossipSub
  privateKey: PrivateKey
  validator: EnvelopeValidator
  state: StateDatabase
  server: boolean
  log: Logger
  /** The signing key of one of this node's pseudonyms, `undefined` for a key it does not hold. */
  pseudonymKey: (key: string) => PrivateKey | undefined
}

/**
 * Sends an anonymous publish through the mixnet (issue 13 item 2), installed
 * by that part with {@link PubSubHandle.setAnonymousPublisher}.
 */
export type AnonymousPublisher = (envelope: Uint8Array, options: PublishOptions) => Promise<PublishResult>

/** The service plus what the node and the other pub/sub paths (central bridge, mixnet exit) need. */
export interface PubSubHandle extends PubSubService {
  readonly events: TypedEventEmitter<PubSubEvents>
  /** The validator shared by every path. */
  readonly validator: EnvelopeValidator
  start(): Promise<void>
  stop(): Promise<void>
  /**
   * Checks an envelope that came another way than GossipSub (central server,
   * mixnet exit) and delivers it unless its id was seen.
   * @returns the message delivered, or `undefined` (rejected, counted; or a duplicate)
   */
  ingest(envelope: Uint8Array, via: PubSubVia): Promise<PubSubMessage | undefined>
  /** Publishes an already signed envelope on GossipSub as it is (exit mix, bridge). @returns GossipSub recipients */
  publishEnvelope(envelope: Uint8Array): Promise<number>
  /** Installs the anonymous path; until then `publish({ anonymous: true })` throws UMBRA_ERR_PUBSUB_UNSUPPORTED. */
  setAnonymousPublisher(fn: AnonymousPublisher | undefined): void
  /** Hybrid modes (src/pubsub/hybrid.ts): publishes go through `route` instead of GossipSub alone, and it learns the subscribed topics. */
  setRoute(route: PublishRoute | undefined): void
}

/**
 * Checks {@link PubSubInit}.
 * @throws UMBRA_ERR_INVALID_OPTION naming the field
 */
export function validatePubSubInit (init: PubSubInit | undefined): void {
  if (init == null) return
  if (typeof init !== 'object') throw new InvalidOptionError('init.pubsub must be an object')
  validateHybridInit(init)
  const ints: Array<[keyof PubSubInit, number]> = [['maxMessageBytes', 64], ['maxMessageAge', 1000], ['storeMessages', 1], ['storeTtl', 1000], ['seenTtl', 1000]]
  for (const [field, min] of ints) {
    const v = init[field]
    if (v !== undefined && (!Number.isSafeInteger(v) || (v as number) < min)) throw new InvalidOptionError(`init.pubsub.${field} must be a whole number, at least ${min}`)
  }
  for (const field of ['acceptUnsigned', 'ipColocationPenalty', 'serve'] as const) {
    if (init[field] !== undefined && typeof init[field] !== 'boolean') throw new InvalidOptionError(`init.pubsub.${field} must be true or false`)
  }
}

/** The validator of a node's {@link PubSubInit} (built before libp2p: GossipSub's msgIdFn needs it). */
export function createValidator (init: PubSubInit = {}): EnvelopeValidator {
  return new EnvelopeValidator({ maxBytes: init.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES, maxAgeMs: init.maxMessageAge ?? DEFAULT_MAX_MESSAGE_AGE_MS, acceptUnsigned: init.acceptUnsigned })
}

function toMessage (e: PubSubEnvelope, via: PubSubVia): PubSubMessage {
  return { topic: e.topic, id: messageIdText(e.id), from: publisherKey(e), data: e.data, timestamp: Number(e.timestamp), via }
}

/**
 * Builds the service; `start()` after libp2p started.
 * @throws UMBRA_ERR_STATE_DB when the store's migration fails
 */
export function createPubSub (c: PubSubComponents, init: PubSubInit = {}): PubSubHandle {
  const { libp2p, gossipsub, validator, log } = c
  const store = new MessageStore(c.state, { maxMessages: init.storeMessages ?? DEFAULT_STORE_MESSAGES, ttl: init.storeTtl ?? DEFAULT_STORE_TTL_MS })
  const serve = c.server && (init.serve ?? true)
  const events = new TypedEventEmitter<PubSubEvents>()
  const user = new Set<string>()
  const served = new Set<string>()
  const delivered = Object.fromEntries(PUBSUB_VIAS.map((v) => [v, 0])) as Record<PubSubVia, number>
  let published = 0
  let running = false
  let anonymous: AnonymousPublisher | undefined
  let route: PublishRoute | undefined
  let unserve: (() => Promise<void>) | undefined
  const restoring = new AbortController()

  const joined = (topic: string): boolean => user.has(topic) || served.has(topic)

  const join = (topic: string): void => {
    if (gossipsub.topicValidators.has(topic)) return
    scoreTopic(gossipsub, topic)
    gossipsub.topicValidators.set(topic, async (_peer, msg) => {
      const r = await validator.check(topic, msg.data, 'p2p')
      if (r.ok) return TopicValidatorResult.Accept
      log.debug({ reason: r.reason }, 'pub/sub message rejected')
      return TopicValidatorResult.Reject
    })
    gossipsub.subscribe(topic)
  }

  const leave = (topic: string): void => {
    if (joined(topic)) return
    gossipsub.unsubscribe(topic)
    gossipsub.topicValidators.delete(topic)
  }

  /**
   * Stores a verified envelope (subscribed or served topic) and hands it to
   * the application once per id when it subscribes to the topic. A message
   * of a topic only served stays unmarked: a later `subscribe(topic, { since })`
   * hands it over from the store.
   */
  const deliver = (e: PubSubEnvelope, bytes: Uint8Array, via: PubSubVia): PubSubMessage | undefined => {
    if (joined(e.topic)) store.add(e.topic, e.id, Number(e.timestamp), bytes)
    if (!user.has(e.topic) || !validator.markDelivered(messageIdText(e.id))) return undefined
    delivered[via]++
    const msg = toMessage(e, via)
    events.safeDispatchEvent('message', { detail: msg })
    return msg
  }

  const onMessage = (evt: CustomEvent<{ topic: string, data: Uint8Array }>): void => {
    const e = validator.decode(evt.detail.data)
    if (e instanceof Error) return // the validator rejected it already; GossipSub does not dispatch those
    deliver(e, evt.detail.data, 'p2p')
  }

  const onSubscriptionChange = (evt: CustomEvent<{ peerId: PeerId, subscriptions: Array<{ topic: string, subscribe: boolean }> }>): void => {
    if (!serve || !running) return
    for (const { topic, subscribe } of evt.detail.subscriptions) {
      if (subscribe) {
        if (joined(topic) || served.size >= MAX_SERVED_TOPICS) continue
        try {
          checkTopic(topic)
        } catch {
          continue
        }
        served.add(topic)
        join(topic)
      } else if (served.has(topic) && gossipsub.getSubscribers(topic).length === 0) {
        served.delete(topic)
        leave(topic)
      }
    }
  }

  /** Connected peers that answer history, those subscribed to `topic` first. */
  const historyPeers = async (topic: string): Promise<PeerId[]> => {
    const subscribers = new Set(gossipsub.getSubscribers(topic).map((p) => p.toString()))
    const seen = new Set<string>()
    const out: Array<{ id: PeerId, sub: boolean }> = []
    for (const conn of libp2p.getConnections()) {
      const key = conn.remotePeer.toString()
      if (seen.has(key)) continue
      seen.add(key)
      const peer = await libp2p.peerStore.get(conn.remotePeer).catch(() => undefined)
      if (peer?.protocols.includes(HISTORY_PROTOCOL) === true) out.push({ id: conn.remotePeer, sub: subscribers.has(key) })
    }
    out.sort((a, b) => Number(b.sub) - Number(a.sub))
    return out.slice(0, HISTORY_PEERS).map((p) => p.id)
  }

  /** @throws UMBRA_ERR_UNKNOWN_PSEUDONYM */
  const pseudonymKey = (key: string): PrivateKey => {
    const k = c.pseudonymKey(key)
    if (k == null) throw new UnknownPseudonymError(`${key.slice(0, 60)} is not a pseudonym of this node`)
    return k
  }

  const ensureStarted = (): void => {
    if (!running) throw new NotStartedError()
  }

  const handle: PubSubHandle = {
    events,
    validator,

    async subscribe (topic, options = {}) {
      checkTopic(topic)
      ensureStarted()
      store.subscribe(topic)
      user.add(topic)
      join(topic)
      route?.subscribe(topic)
      let history = 0
      if (options.since !== undefined) {
        // What this node holds already (it served the topic, or subscribed before), then what the servers hold.
        for (const m of store.since(topic, options.since, MAX_HISTORY_MESSAGES)) {
          const e = validator.decode(m.envelope)
          if (!(e instanceof Error) && deliver(e, m.envelope, 'store') != null) history++
        }
        history += (await handle.history(topic, { since: options.since, signal: options.signal }).catch(() => [])).length
      }
      return { topic, history }
    },

    async unsubscribe (topic) {
      checkTopic(topic)
      ensureStarted()
      store.unsubscribe(topic)
      user.delete(topic)
      leave(topic)
      route?.unsubscribe(topic)
    },

    async publish (topic, data, options = {}) {
      checkTopic(topic)
      ensureStarted()
      options.signal?.throwIfAborted()
      if (options.anonymous === true) {
        if (anonymous == null) throw new PubSubUnsupportedError('Anonymous publishing (through the mixnet) is not available on this node yet')
        const envelope = await signEnvelope({ topic, data, privateKey: options.pseudonym != null ? pseudonymKey(options.pseudonym) : undefined, maxBytes: validator.maxBytes })
        return await anonymous(encodeEnvelope(envelope), options)
      }
      const privateKey = options.pseudonym != null ? pseudonymKey(options.pseudonym) : c.privateKey
      const envelope = await signEnvelope({ topic, data, privateKey, maxBytes: validator.maxBytes })
      const bytes = encodeEnvelope(envelope)
      const id = messageIdText(envelope.id)
      validator.remember(id, Number(envelope.timestamp), true)
      validator.markDelivered(id)
      if (joined(topic)) store.add(topic, envelope.id, Number(envelope.timestamp), bytes)
      const recipients = route != null ? await route.publish(topic, bytes) : (await gossipsub.publish(topic, bytes)).recipients.length
      published++
      return { id, recipients }
    },

    topics () {
      return [...user].sort()
    },

    peers (topic) {
      checkTopic(topic)
      if (!running) return []
      return gossipsub.getSubscribers(topic).map((p) => p.toString())
    },

    messages (topic, options = {}) {
      checkTopic(topic)
      const limit = Math.min(Math.max(1, options.limit ?? MAX_HISTORY_MESSAGES), MAX_HISTORY_MESSAGES)
      const out: PubSubMessage[] = []
      for (const m of store.since(topic, options.since ?? 0, limit)) {
        const e = validator.decode(m.envelope)
        if (!(e instanceof Error)) out.push(toMessage(e, 'store'))
      }
      return out
    },

    async history (topic, options) {
      checkTopic(topic)
      ensureStarted()
      const peers = await historyPeers(topic)
      if (peers.length === 0) throw new PubSubHistoryError(`No connected server answers ${HISTORY_PROTOCOL}`)
      const answers = await Promise.allSettled(peers.map(async (p) => await requestHistory(libp2p, p, topic, options.since, { signal: options.signal })))
      if (answers.every((a) => a.status === 'rejected')) throw new PubSubHistoryError(`None of ${peers.length} servers answered the history request`)
      const out: PubSubMessage[] = []
      for (const a of answers) {
        if (a.status !== 'fulfilled') continue
        for (const bytes of a.value) {
          const r = await validator.check(topic, bytes, 'store')
          // Held here already: handed over before (or by subscribe's own pass over the store).
          if (!r.ok || store.has(topic, r.envelope.id)) continue
          const msg = deliver(r.envelope, bytes, 'store')
          if (msg != null) out.push(msg)
        }
      }
      out.sort((a, b) => a.timestamp - b.timestamp)
      return out
    },

    stats () {
      return { rejected: { ...validator.rejected }, delivered: { ...delivered }, published, ...(route?.stats != null ? { hybrid: route.stats() } : {}) }
    },

    async ingest (bytes, via) {
      const e = validator.decode(bytes)
      const r = await validator.check(e instanceof Error ? '' : e.topic, bytes, via)
      if (!r.ok || r.duplicate === true) return undefined
      return deliver(r.envelope, bytes, via)
    },

    async publishEnvelope (bytes) {
      ensureStarted()
      const e = validator.decode(bytes)
      if (e instanceof Error) throw e
      const id = messageIdText(e.id)
      validator.remember(id, Number(e.timestamp), true)
      return (await gossipsub.publish(e.topic, bytes)).recipients.length
    },

    setAnonymousPublisher (fn) {
      anonymous = fn
    },

    setRoute (r) {
      route = r
      for (const topic of user) route?.subscribe(topic)
    },

    async start () {
      if (running) return
      running = true
      gossipsub.addEventListener('message', onMessage)
      gossipsub.addEventListener('subscription-change', onSubscriptionChange)
      if (c.server) unserve = await serveHistory(libp2p, store, log)
      // Subscriptions of the last run: join again, then fetch what was missed since the newest message held.
      const restored = store.subscriptions()
      for (const topic of restored) {
        user.add(topic)
        join(topic)
        route?.subscribe(topic)
      }
      if (restored.length > 0) void restore(restored)
    },

    async stop () {
      if (!running) return
      running = false
      restoring.abort()
      gossipsub.removeEventListener('message', onMessage)
      gossipsub.removeEventListener('subscription-change', onSubscriptionChange)
      await unserve?.()
      unserve = undefined
    }
  }

  const restore = async (topics: string[]): Promise<void> => {
    const signal = restoring.signal
    for (const topic of topics) {
      const since = store.newest(topic) ?? Date.now() - store.ttl
      for (let attempt = 0; attempt < RESTORE_ATTEMPTS && !signal.aborted; attempt++) {
        try {
          const got = await handle.history(topic, { since, signal })
          log.info({ messages: got.length }, 'pub/sub history fetched after restart')
          break
        } catch (err) {
          log.debug({ err: (err as Error).message }, 'pub/sub history not available yet')
          await new Promise((resolve) => setTimeout(resolve, RESTORE_RETRY_MS).unref())
        }
      }
    }
  }

  return handle
}

/** Every reject reason and delivery path, for metrics that show zeros from the first scrape. */
export { REJECT_REASONS }
