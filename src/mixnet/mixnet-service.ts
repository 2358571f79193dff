/**
 * The anonymity layer of a node (DESIGN.md section 5, issue 3): relaying
 * (server nodes), the gateway role (server nodes), the directory, pseudonyms
 * and their mailboxes, anonymous sending with fragment acknowledgements and
 * retransmission, SURB replies and cover traffic. docs/mixnet.md has the
 * protocols and sequence diagrams; docs/sphinx.md the packet format.
 */
import { randomBytes, randomInt } from 'node:crypto'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { TypedEventEmitter } from 'main-event'
import sodium from 'sodium-native'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { AbortedError, InvalidOptionError, NotStartedError, UmbraError } from '../errors.ts'
import { decodeKey, encodeKey } from '../identity/index.ts'
import { MessageTooLargeError, InvalidRecipientError } from '../messaging/errors.ts'
import { withTimeout } from '../signals.ts'
import {
  ANON_INBOX_LIMIT, CONTACT_TTL_MS, DEFAULT_EPOCH_GRACE_MS, DEFAULT_EPOCH_MS, DEFAULT_HOPS, DEFAULT_REPLY_SURBS,
  FRAGMENT_ACK_TIMEOUT_MS, FRAGMENT_ATTEMPTS, MAX_HOP_DELAY_MS, MAX_HOPS, MAX_MESSAGE_BYTES, MAX_REPLY_SURBS, MIN_HOPS,
  REASSEMBLY_TTL_MS, RELAY_ALPHA_FILTER_MAX, RELAY_DESIGN_RATE, RELAY_MAX_HELD_PACKETS, RELAY_MAX_HELD_PER_PEER, SEND_TIMEOUT_MS, WIRE_VERSION,
  CONTACT_CACHE_MS, CONTACT_IDLE_MS, CONTACT_REFRESH_MEAN_MS, GATEWAY_LOOKUP_DHT_TIMEOUT_MS, LOOKUP_ATTEMPTS, LOOKUP_TIMEOUT_MS, MAX_CACHED_CONTACTS
} from './constants.ts'
import {
  DEFAULT_PSEUDONYM_GATEWAYS, GATEWAY_CHECK_INTERVAL_MS, GATEWAY_DOWN_AVOID_MS, GATEWAY_LEFT_GRACE_MS, GATEWAY_REPLACE_AFTER_MS, MAX_PSEUDONYM_GATEWAYS,
  MAX_RATE_SCALE, MIN_RATE_SCALE, SEND_QUEUE_MAX_WAIT_MS
} from './constants.ts'
import { contactDhtKey, contactNamespace, signContactRecord, verifyContactRecord, type VerifiedContact } from './contact.ts'
import type { Namespace } from '../dht/namespace.ts'
import { ROLE_GATEWAY, ROLE_MIX } from './descriptor.ts'
import { createDirectory, type Directory, type MixNodeInfo } from './directory.ts'
import { AnonymousDeliveryError, MailboxFullError, NoSurbError, NotEnoughMixesError, ReplyTooLargeError, UnknownPseudonymError } from './errors.ts'
import { SendQueueFullError } from './errors.ts'
import { GatewayUnreachableError, NotMyPseudonymError } from './errors.ts'
import { DELIVERY_FRAGMENT, DELIVERY_SURB, createGateway, type Gateway } from './gateway.ts'
import { createLinks, peerIdOfNodeKey, type Links } from './links.ts'
import { linkTarget } from './packet-link.ts'
import { openMailboxStore, type MailboxStore, type MailboxTotals } from './mailbox-store.ts'
import type { MetricsRecorder } from '../metrics/recorder.ts'
import { createMailboxClient, type Delivery, type MailboxClient } from './mailbox-client.ts'
import { createOnionKeys, type OnionKeys } from './onion-keys.ts'
import { AnonymousMessage as AnonymousMessagePb } from './pb/mixnet.ts'
import { createPathProbes } from './path-probes.ts'
import { createPoolEntropy } from './sim/pool-entropy.ts'
import { openGuards, type Guards } from './guards.ts'
import { createPoissonClock, createSendSchedule, GUARD_LANES, type BuiltPacket, type PoissonClock, type SendSchedule } from './send-schedule.ts'
import { MIX_LAYERS, assignLayers, nodeKeyHex, selectLayeredPath } from './topology.ts'
import { createPseudonymStore, type Pseudonym, type PseudonymStore } from './pseudonym-store.ts'
import { createReplayFilter, replayCapacity, type ReplayFilter } from './replay-filter.ts'
import { openMixState, type MixState } from './mix-state.ts'
import type { StateDatabase } from '../store/index.ts'
import { PAYLOAD_SIZE, SURB_SIZE, createPacket, createSurb, createSurbReply, decodeSurb, encodeSurb, openSurbReply, packetEpoch, type SphinxHop, type SurbSecrets } from './sphinx/index.ts'
import { ALPHA_OFFSET, ALPHA_SIZE } from './sphinx/constants.ts'
import type { SphinxPool } from './worker-pool.ts'
import { createLazySphinxPool } from './lazy-pool.ts'
import type { QuotaCounters } from '../quota.ts'
import {
  ACK_REFUSED_BYTES, ACK_REFUSED_MESSAGES, ACK_STORED, ACK_UNKNOWN_MAILBOX, FLAG_DROP_COVER, FRAGMENT_DATA_SIZE, MAX_FRAGMENTS,
  REPLY_DATA, REPLY_DATA_SIZE, REPLY_DELIVERED, REPLY_FRAGMENT_ACK, REPLY_LOOP,
  decodeFragment, decodeReplyLayer, encodeFragment, encodeGatewayLayer, encodeReplyLayer,
  FLAG_LOOKUP, LOOKUP_FOUND, REPLY_LOOKUP, encodeLookupRequest
} from './wire.ts'
import { ACK_REFUSED_CONFLICT, ACK_REFUSED_INCOMPLETE } from './wire.ts'
import { FLAG_PUBSUB, MAX_ANONYMOUS_ENVELOPE_BYTES, PUBLISH_OK, PUBLISH_REFUSED, REPLY_PUBLISHED, encodePubsubPublish } from './wire.ts'
import type {
  AnonymousMessage, AnonymousReply, AnonymousSendReceipt, MixnetCounters, MixnetEvents, MixnetInit,
  MixnetPreset, MixnetService, MixnetTraffic, MixNodeSummary, PresetParameters, PseudonymGatewayState, PseudonymInfo, PseudonymService, RelayObservation
} from './types.ts'
import type { Logger } from '../logger.ts'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Libp2p, PeerId, PrivateKey } from '@libp2p/interface'

/**
 * Preset parameters (docs/mixnet.md "Presets"; Loopix, Piotrowska et al.
 * 2017, for the model). `payloadRate` (issue 16, item 1) is the constant
 * packet rate of the payload stream: 2/s costs 8 KiB/s per idle node at
 * `balanced`, 5/s 20 KiB/s at `strong` (4,096-byte packets).
 */
export const PRESETS: Record<MixnetPreset, PresetParameters> = {
  none: { meanDelayMs: 0, loopRate: 0, dropRate: 0, payloadRate: 0 },
  balanced: { meanDelayMs: 20, loopRate: 0.5, dropRate: 0.5, payloadRate: 5 },
  strong: { meanDelayMs: 100, loopRate: 2, dropRate: 2, payloadRate: 10 }
}

/**
 * Packets a message of MAX_MESSAGE_BYTES takes, with room for its sealing,
 * acknowledgement SURB and reply SURBs (each reply SURB < 600 bytes): the
 * least the constant-rate send queue holds (issue 16, item 1).
 */
const MAX_MESSAGE_PACKETS = Math.ceil((MAX_MESSAGE_BYTES + (MAX_REPLY_SURBS + 1) * 600 + 256) / FRAGMENT_DATA_SIZE)

/** Longest setTimeout Node honours, ms (2^31 − 1; longer ones fire at once with a warning: Node docs, setTimeout). */
const MAX_TIMER_MS = 2 ** 31 - 1
/** SURB secrets are kept this many epochs (a SURB cannot outlive its epoch's keys). */
const SURB_KEEP_EPOCHS = 2
/** Most message ids remembered to drop duplicates. */
const SEEN_LIMIT = 10_000
/** Mixes remembered per message from tries that lost their acknowledgement. */
const MAX_LOSSY_MIXES = 32
/** How long an outgoing message's outcome is kept for late acknowledgements and `outcome()`, ms. */
const OUTGOING_KEEP_MS = 10 * 60_000
/** Most outgoing messages whose outcome is kept. */
const OUTGOING_LIMIT = 1000
/** A reply gateway unreachable this long is abandoned for another, ms (issue 8, item 1). */
const REPLY_GATEWAY_GRACE_MS = 5_000
/** An abandoned reply gateway is not picked again for this long, ms. */
const AVOID_GATEWAY_MS = 60_000
/**
 * How long a gateway's DHT put of a record it publishes for a mailbox owner
 * (a contact record at claim time, or a record of `gatewayNamespaces`) may
 * take, ms. Matches the mailbox client's 15 s wait for a PUBLISH answer.
 */
const GATEWAY_PUBLISH_TIMEOUT_MS = 15_000

/** What the mixnet needs from the node. */
export interface MixnetComponents {
  libp2p: Libp2p
  kad: KadDHT
  privateKey: PrivateKey
  /** Server nodes relay and act as gateways. */
  server: boolean
  /** Data directory, or undefined to keep everything in memory. */
  dataDir?: string
  /** The node's state database: a relay keeps its onion keys and replay tags there (src/mixnet/mix-state.ts). @default none: memory only */
  state?: StateDatabase
  log: Logger
  /** Per-peer quota refusals (mailbox claims) are counted here. */
  quotas?: QuotaCounters
  /**
   * DHT namespaces whose records this node, as a gateway, publishes for the
   * pseudonyms it serves (service discovery's anonymous sets), each with the
   * validator to run against this node's own copy first (kad-dht's put
   * overwrites the local copy without validating). @default none
   */
  gatewayNamespaces?: Array<{ namespace: Namespace<unknown>, validate: (dhtKey: Uint8Array, record: Uint8Array) => Promise<void> }>
  /** Sphinx processing times and anonymous sends are reported here (src/metrics). @default none */
  metrics?: MetricsRecorder
}

/** What this node holds as a gateway, from {@link MixnetHandle.gatewayUsage}. */
export interface GatewayUsage extends MailboxTotals {
  /** Mailboxes claimed at this gateway (by pseudonyms and reply mailboxes), with messages or not. */
  claimed: number
}

/** The mixnet with its lifecycle, as held by the node. */
export interface MixnetHandle extends MixnetService {
  readonly pseudonyms: PseudonymService
  readonly events: TypedEventEmitter<MixnetEvents>
  /** The Ed25519 signing key of one of this node's pseudonyms (`key_…`), or undefined (service discovery signs its entries with it). */
  pseudonymSignKey(key: string): PrivateKey | undefined
  /**
   * Has the gateway of one of this node's pseudonyms publish a DHT record the
   * pseudonym signed (a namespace in the gateway's `gatewayNamespaces`), so
   * the storing nodes see the gateway's PeerId, never this node's.
   * @returns how many nodes acknowledged it
   * @throws UMBRA_ERR_NOT_MY_PSEUDONYM, UMBRA_ERR_GATEWAY_UNREACHABLE (not connected, refused, or no answer in 15 s)
   */
  publishThroughGateway(pseudonym: string, dhtKey: Uint8Array, record: Uint8Array): Promise<number>
  /** The directory entry of a node key (32 bytes), if listed. */
  directoryEntry(nodeKey: Uint8Array): MixNodeInfo | undefined
  /** Mailboxes this node holds as a gateway and what they hold now; undefined on a client or when stopped (read by src/metrics). */
  gatewayUsage(): GatewayUsage | undefined
  /** This relay's own anonymity estimate (src/mixnet/sim/pool-entropy.ts): mean entropy of its recent departures, bits; undefined on a client (read by src/metrics). */
  anonymityEstimate(): { bits: number, departures: number } | undefined
  /** This node's guard set, in sample order (docs/mixnet.md "Layers and guards"; tests and the simulator). */
  guardSample(): import('./topology.ts').GuardEntry[]
  /** Sends one raw packet to a node (tests: replays and tampering on real relays). */
  sendRawPacket(nodeKey: Uint8Array, packet: Uint8Array): Promise<void>
  /**
   * Anonymous publishing (issue 13, item 2): sends a pub/sub envelope (at
   * most MAX_ANONYMOUS_ENVELOPE_BYTES) through `hops` mixes to a random exit
   * (a server node other than this one), which publishes it on GossipSub
   * and answers through a SURB. Tries up to LOOKUP_ATTEMPTS exits; a retry
   * re-sends the same envelope, which subscribers de-duplicate on its id.
   * @returns how many exits were tried until one published it
   * @throws UMBRA_ERR_MESSAGE_TOO_LARGE, UMBRA_ERR_INVALID_OPTION (hops), UMBRA_ERR_NOT_ENOUGH_MIXES,
   *   UMBRA_ERR_ANON_DELIVERY_FAILED (refused by an exit, or no exit answered), UMBRA_ERR_ABORTED
   */
  publishAnonymous(envelope: Uint8Array, options?: { hops?: number, signal?: AbortSignal }): Promise<{ attempts: number }>
  /** Sets what this node does with the anonymous envelopes it exits (the pub/sub service's checked publish; resolves the message id). */
  setPubsubExit(publish: ((envelope: Uint8Array) => Promise<Uint8Array>) | undefined): void
  start(): Promise<void>
  stop(): Promise<void>
}

/** This node's reply mailbox: an unpublished key claimed at one gateway, named by its node key only. */
interface ReplyMailbox {
  key: PrivateKey
  /** The gateway's Ed25519 node key, 32 bytes; its onion keys are always read from the directory. */
  gatewayKey: Uint8Array
  gatewayId: string
  client: MailboxClient
}

/** A pseudonym's verified contact record as cached by a sender. */
interface Contact {
  boxKey: Uint8Array
  gateways: Uint8Array[]
  mailbox: Uint8Array
  seq: number
  fetchedAt: number
  /** Reused until then: CONTACT_CACHE_MS after the fetch, never past the record's expiry (ms since the Unix epoch). */
  staleAt: number
  /** The record's own expiry, ms since the Unix epoch: a stale copy still serves while a new lookup fails. */
  expiresAt: number
  /** Last send that used it, ms since the Unix epoch (idle contacts are forgotten). */
  usedAt: number
}

/** A message this node sent, kept OUTGOING_KEEP_MS so that late acknowledgements update its outcome (issue 8, item 6). */
interface Outgoing {
  /** Message id, hex. */
  id: string
  /** Recipient pseudonym, `key_…`. */
  to: string
  /** Fragments (0 until sealed). */
  total: number
  hops: number
  /** The pseudonym's gateways (node keys, 32 bytes) in its contact record's order; looked up in the directory at every try. */
  gatewayKeys: Uint8Array[]
  /** Gateways (node key hex) that did not acknowledge a try of this message in time, or do not hold the mailbox: its later tries go to the next one. */
  failedGateways: Set<string>
  /** PeerIds of the gateways that acknowledged storing a fragment. */
  storedBy: Set<string>
  /** Most gateways, in record order, that one fragment passed over before a gateway stored it (AnonymousSendReceipt.gatewayFailovers). */
  gatewayFailovers: number
  mailbox: Uint8Array
  /** Fragment indexes the gateway acknowledged as stored. */
  stored: Set<number>
  /** First hops that failed for this message: avoided in its later tries. */
  excluded: Uint8Array[]
  /** Mixes of tries whose acknowledgement never came: avoided too while enough others are listed (newest MAX_LOSSY_MIXES). */
  lossy: Uint8Array[]
  retransmissions: number
  /** Longest wait of a first try in the constant-rate send queue, ms. */
  queuedMs: number
  status: 'sending' | 'stored' | 'delivered' | 'failed'
  /** Per fragment index, the tries waiting for its acknowledgement. */
  waiters: Map<number, Set<(status: number) => void>>
  startedAt: number
  updatedAt: number
}

interface SurbEntry {
  secrets: SurbSecrets
  epoch: number
  onReply(kind: number, messageId: Uint8Array, status: number, data: Uint8Array): void
}

interface Reassembly {
  total: number
  chunks: Array<Uint8Array | undefined>
  have: number
  /** Delivery ids to acknowledge once the message is whole, each at the gateway that delivered it. */
  deliveries: Array<{ client: MailboxClient, id: number }>
  startedAt: number
}

/** One gateway of a pseudonym this node owns: the mailbox client that holds the claim there. */
interface OwnedGateway {
  /** The gateway's Ed25519 node key, 32 bytes. */
  nodeKey: Uint8Array
  peerId: string
  client: MailboxClient
  /** When the client was created, ms since the Unix epoch (a claim never held counts as lost since then). */
  createdAt: number
}

/** A pseudonym this node owns, with a mailbox client per gateway (issue 11, item 4). */
interface Owned {
  pseudonym: Pseudonym
  gateways: OwnedGateway[]
  /** Sequence number of the contact record last signed (a new record always gets a higher one). */
  seq: number
  /** Fragments being reassembled, by message id (hex); fragments of one message may come from several gateways. */
  reassembly: Map<string, Reassembly>
}

function hex (b: Uint8Array): string {
  return uint8ArrayToString(b, 'base16')
}

/**
 * Exponential delay with mean `mean` ms, from a CSPRNG (Loopix per-hop
 * delays), clamped to MAX_HOP_DELAY_MS: the most any relay holds a packet.
 */
function expDelay (mean: number): number {
  return expDraw(mean, MAX_HOP_DELAY_MS)
}

/**
 * An exponential draw with mean `mean` ms, rounded to whole ms, at most `cap`
 * ms (0 when `mean` is 0). `uniform` gives u in (0, 1]: a CSPRNG by default;
 * the anonymity simulator (src/mixnet/sim) passes a seeded one.
 */
export function expDraw (mean: number, cap: number, uniform: () => number = () => randomInt(1, 2 ** 47) / 2 ** 47): number {
  if (mean <= 0) return 0
  const u = uniform()
  return Math.min(Math.round(-mean * Math.log(u)), cap)
}

function newCounters (): MixnetCounters {
  return { packetsIn: 0, forwarded: 0, forwardFailed: 0, dropped: {}, stored: 0, refused: 0, acksSent: 0, acksFailed: 0, fragmentsSent: 0, retransmitted: 0, loopsSent: 0, loopsReturned: 0, dropCoverSent: 0, coverDropped: 0, replyGatewayMoves: 0, gatewayFailovers: 0, gatewayReplacements: 0, duplicatesDropped: 0 }
}

/** Validates `init.mixnet`. @throws UMBRA_ERR_INVALID_OPTION naming the field */
export function validateMixnetInit (init: MixnetInit | undefined): Required<Omit<MixnetInit, 'threads'>> & { threads?: number } {
  const preset = init?.preset ?? 'balanced'
  if (!(preset in PRESETS)) throw new InvalidOptionError(`init.mixnet.preset must be "none", "balanced" or "strong", got ${JSON.stringify(preset)}`)
  const hops = init?.hops ?? DEFAULT_HOPS
  if (!Number.isInteger(hops) || hops < MIN_HOPS || hops > MAX_HOPS) throw new InvalidOptionError(`init.mixnet.hops must be an integer from ${MIN_HOPS} to ${MAX_HOPS}, got ${String(hops)}`)
  const epochMs = init?.epochMs ?? DEFAULT_EPOCH_MS
  if (!Number.isSafeInteger(epochMs) || epochMs < 10_000) throw new InvalidOptionError(`init.mixnet.epochMs must be an integer of at least 10000 (ms), got ${String(epochMs)}`)
  const threads = init?.threads
  if (threads != null && (!Number.isInteger(threads) || threads < 1 || threads > 64)) throw new InvalidOptionError(`init.mixnet.threads must be an integer from 1 to 64, got ${String(threads)}`)
  const rateScale = init?.rateScale ?? 1
  if (typeof rateScale !== 'number' || !Number.isFinite(rateScale) || rateScale < MIN_RATE_SCALE || rateScale > MAX_RATE_SCALE) throw new InvalidOptionError(`init.mixnet.rateScale must be a number from ${MIN_RATE_SCALE} to ${MAX_RATE_SCALE}, got ${String(rateScale)}`)
  const linkPort = init?.linkPort ?? 0
  if (linkPort !== false && (!Number.isInteger(linkPort) || linkPort < 0 || linkPort > 65_535)) throw new InvalidOptionError(`init.mixnet.linkPort must be a TCP port 0 to 65535 (0: a free one) or false (no packet links), got ${String(linkPort)}`)
  return { preset, hops, epochMs, threads, rateScale, linkPort }
}

/** Creates the anonymity layer of a node; see the module comment. */
export function createMixnet (components: MixnetComponents, init: MixnetInit | undefined): MixnetHandle {
  const { libp2p, kad, privateKey, log } = components
  const options = validateMixnetInit(init)
  const preset = PRESETS[options.preset]
  // rateScale multiplies the three Poisson rates only (tests measure rates over short windows).
  const parameters: PresetParameters = { ...preset, loopRate: preset.loopRate * options.rateScale, dropRate: preset.dropRate * options.rateScale, payloadRate: preset.payloadRate * options.rateScale }
  const events = new TypedEventEmitter<MixnetEvents>()
  const counters = newCounters()
  const ownKey = libp2p.peerId.publicKey?.raw ?? new Uint8Array()
  const graceMs = Math.min(DEFAULT_EPOCH_GRACE_MS, Math.floor(options.epochMs / 4))
  const mixState: MixState | undefined = components.server && components.state != null ? openMixState(components.state) : undefined
  const onion: OnionKeys | undefined = components.server ? createOnionKeys({ epochMs: options.epochMs, graceMs, store: mixState?.onionKeys }) : undefined
  const directory: Directory = createDirectory({ libp2p, privateKey, log, publish: components.server, onionKeys: () => onion?.published() ?? [], linkPort: () => links.linkPort(), drop })
  // A packet the links refuse before processing (overload) still counts as received; `penalized` counts streams.
  const links: Links = createLinks({
    libp2p,
    log,
    inbound: components.server,
    onPacket,
    drop: (reason) => {
      if (reason === 'overload') counters.packetsIn++
      drop(reason)
    },
    addrsFor: (k) => directory.get(k)?.addrs ?? [],
    privateKey,
    linkFor: (k) => linkTarget(directory.get(k)),
    linkListen: options.linkPort !== false ? { port: options.linkPort } : undefined,
    linkFailure: (reason) => { drop(`link-${reason}`) }
  })
  let pool: SphinxPool | undefined
  let replay: ReplayFilter | undefined
  let store: MailboxStore | undefined
  let gateway: Gateway | undefined
  let pseudonymStore: PseudonymStore | undefined
  const owned = new Map<string, Owned>()
  const surbs = new Map<string, SurbEntry>()
  const contacts = new Map<string, Contact>()
  const inbox: AnonymousMessage[] = []
  const replies: AnonymousReply[] = []
  const replySurbs = new Map<string, { surbs: Uint8Array[] }>()
  const deliveredWaiters = new Map<string, () => void>()
  const seen = new Set<string>()
  const outgoing = new Map<string, Outgoing>()
  // A loop not back within its acknowledgement budget, twice over, counts as lost.
  const probes = createPathProbes({ timeoutMs: 2 * roundTripBudget(FRAGMENT_ACK_TIMEOUT_MS, options.hops) })
  let replyMailbox: Promise<ReplyMailbox> | undefined
  /** The settled value of `replyMailbox`, once claimed. */
  let replyMailboxCurrent: ReplyMailbox | undefined
  /** Gateways (node key hex) not to pick for the reply mailbox or a pseudonym until the time given, ms. */
  const avoidGateway = new Map<string, number>()
  /** Pseudonym gateways (node key hex) that did not acknowledge a fragment in time: sends prefer the others until the time given, ms. */
  const gatewayDownUntil = new Map<string, number>()
  /** When start() ran, ms since the Unix epoch: gateways are not judged unreachable before they had GATEWAY_REPLACE_AFTER_MS to answer. */
  let startedAt = 0
  const timers = new Set<ReturnType<typeof setTimeout>>()
  /** Packets held for their delay, in all and by predecessor PeerId. */
  let held = 0
  const heldBy = new Map<string, number>()
  const poolEntropy = components.server ? createPoolEntropy({ coverRate: parameters.loopRate + parameters.dropRate }) : undefined
  let running = false
  /** The pub/sub service's publish for envelopes this node exits (issue 13, item 2). */
  let pubsubExit: ((envelope: Uint8Array) => Promise<Uint8Array>) | undefined
  /** Guards for the first hop of every packet this node originates (persisted in the state database). */
  const guards: Guards = openGuards(components.state)
  /** Packets this node originated, by first hop PeerId. */
  const packetsOutByLink = new Map<string, number>()
  /** The constant-rate payload stream (issue 16, item 1): every originated packet but loop and drop cover goes through it. */
  /**
   * Packets the send queue holds: λ × SEND_QUEUE_MAX_WAIT_MS, and never
   * fewer than a message of MAX_MESSAGE_BYTES needs (so any message the API
   * accepts can be sent, waiting longer at a low rate); 1 with λ = 0 (no stream: packets leave at once).
   */
  const queueCapacity = parameters.payloadRate > 0
    ? Math.max(Math.ceil(parameters.payloadRate * SEND_QUEUE_MAX_WAIT_MS / 1000), MAX_MESSAGE_PACKETS)
    : 1
  /** The longest a packet can wait in a full send queue, ms (0 with λ = 0); a send's default timeout adds it. */
  const queueMaxWaitMs = parameters.payloadRate > 0 ? Math.ceil(queueCapacity / parameters.payloadRate * 1000) : 0
  const schedule: SendSchedule = createSendSchedule({
    rate: parameters.payloadRate,
    capacity: queueCapacity,
    send: emit,
    cover: async (lane) => buildDropCover(lane),
    lanes: guardLanes,
    onCover: () => { counters.dropCoverSent++ },
    expDraw: (mean) => expDraw(mean, MAX_TIMER_MS),
    onError: (err) => { log.trace({ err: err.message }, 'payload-stream cover packet not sent') }
  })

  /**
   * Writes a packet this node originated to its first link: counts it per
   * link and tells the guard set whether the link worked.
   * @throws the link's error (dial or write failed)
   */
  async function emit (p: BuiltPacket): Promise<void> {
    try {
      await links.send(p.first, p.packet)
    } catch (err) {
      guards.failed(p.first)
      throw err
    }
    guards.succeeded(p.first)
    const peer = directory.get(p.first)?.peerId ?? nodeKeyHex(p.first)
    packetsOutByLink.set(peer, (packetsOutByLink.get(peer) ?? 0) + 1)
  }

  /**
   * The payload stream's lanes (src/mixnet/send-schedule.ts): the first
   * GUARD_LANES usable primary guards, suspects passed over while others are
   * usable, the same order {@link pickMixes} takes them in (node keys, 32 bytes).
   */
  function guardLanes (): Uint8Array[] {
    const epoch = epochNow()
    const candidates = directory.list().filter((n) => (n.roles & ROLE_MIX) !== 0 && !uint8ArrayEquals(n.nodeKey, ownKey) && (n.onionKeys.has(epoch) || n.onionKeys.has(epoch + 1)))
    const suspects = new Set(probes.suspects().map(nodeKeyHex))
    const out: MixNodeInfo[] = []
    for (let i = 0; i < GUARD_LANES; i++) {
      const taken = (k: string): boolean => out.some((n) => nodeKeyHex(n.nodeKey) === k)
      const next = guards.pick(candidates, (k) => taken(k) || suspects.has(k)) ?? guards.pick(candidates, taken)
      if (next == null) break
      out.push(next)
    }
    return out.map((n) => n.nodeKey)
  }

  /** Node keys of this node's primary guards (32 bytes each). */
  function guardKeys (): Uint8Array[] {
    const listed = directory.list()
    // Samples the guards if none are yet (a first start), so the answer does not change at the first packet.
    guards.pick(listed.filter((n) => (n.roles & ROLE_MIX) !== 0 && !uint8ArrayEquals(n.nodeKey, ownKey)))
    return guards.primary(new Set(listed.map((n) => nodeKeyHex(n.nodeKey)))).map((k) => uint8ArrayFromString(k, 'base16'))
  }

  /** How long to wait for an answer that crosses `hops` mixes and the gateway there and back: `baseMs` plus four mean delays per hop each way, ms. */
  function roundTripBudget (baseMs: number, hops: number): number {
    return baseMs + 2 * (hops + 1) * parameters.meanDelayMs * 4
  }

  function drop (reason: string): void {
    counters.dropped[reason] = (counters.dropped[reason] ?? 0) + 1
  }

  function epochNow (): number {
    return Math.floor(Date.now() / options.epochMs)
  }

  /** Runs `fn` after `ms` ms (clamped to MAX_TIMER_MS, so a timer never overflows and fires at once). */
  function later (ms: number, fn: () => void): void {
    const t = setTimeout(() => { timers.delete(t); fn() }, Math.min(Math.max(0, ms), MAX_TIMER_MS))
    t.unref()
    timers.add(t)
  }

  // ---- relay and final hop (server nodes) --------------------------------

  function observe (from: PeerId, r: { kind: 'forward', nextNode: Uint8Array, delayMs: number } | { kind: 'deliver' | 'deliverSurb', mailbox: Uint8Array }): void {
    const detail: RelayObservation = r.kind === 'forward'
      ? { from: from.toString(), kind: r.kind, next: peerIdOfNodeKey(r.nextNode).toString(), delayMs: r.delayMs }
      : { from: from.toString(), kind: r.kind, mailbox: hex(r.mailbox) }
    events.safeDispatchEvent('relay:packet', { detail })
  }

  /**
   * Exact copies of a packet are dropped before any Sphinx work: the group
   * element α of every packet that passed the replay-tag check is recorded
   * (per epoch, in a second replay filter), and a packet whose α was
   * recorded is a replay (same α, same key: same shared secret, same tag).
   * The tag filter stays the check that counts, since α can be varied
   * without changing the shared secret (a low-order component). α is keyed
   * (BLAKE2b-128 under a per-node random key) so that the filter's buckets
   * stay random to senders.
   */
  const alphas: ReplayFilter = createReplayFilter({ maxPerEpoch: RELAY_ALPHA_FILTER_MAX, whenFull: 'forget' })
  const alphaKey = sodium.sodium_malloc(sodium.crypto_generichash_KEYBYTES)
  sodium.randombytes_buf(alphaKey)

  /** The keyed α of a packet, 16 bytes (see `alphas`). */
  function alphaTag (packet: Uint8Array): Uint8Array {
    const out = Buffer.alloc(16)
    sodium.crypto_generichash(out, Buffer.from(packet.buffer, packet.byteOffset + ALPHA_OFFSET, ALPHA_SIZE), alphaKey)
    return out
  }

  /**
   * Relays, delivers or drops one inbound packet (docs/mixnet.md "Relaying").
   * Returns `'replay'` for an exact copy of a packet already relayed
   * (dropped at once; links penalize a predecessor that sends many),
   * nothing for another packet dropped at once, else a promise that
   * resolves when the relay is done with it: dropped (`'replay'` for a
   * replayed tag), stored, forwarded, or scheduled for its delay (links
   * count it as in processing until then).
   * Drops, counted by reason: the pool's (size, version, point, mac, routing,
   * payload, epoch, worker, closed, overload), `replay`, `delay` (asks for
   * more than MAX_HOP_DELAY_MS), `next-hop` (successor not in the directory;
   * never dialled), `held-full` (RELAY_MAX_HELD_PACKETS held, or
   * RELAY_MAX_HELD_PER_PEER from this predecessor).
   */
  function onPacket (packet: Uint8Array, from: PeerId): Promise<'replay' | undefined> | 'replay' | undefined {
    counters.packetsIn++
    if (pool == null || replay == null) { drop('closed'); return }
    const epoch = packetEpoch(packet)
    const alpha = epoch == null ? undefined : alphaTag(packet)
    // Synchronous, so that a replay flood frees its processing slots at once (links count a void return as done).
    if (epoch != null && alpha != null && alphas.has(epoch, alpha)) { drop('replay'); return 'replay' }
    return relay(pool, packet, from, epoch, alpha)
  }

  async function relay (pool: SphinxPool, packet: Uint8Array, from: PeerId, epoch: number | undefined, alpha: Uint8Array | undefined): Promise<'replay' | undefined> {
    try {
      const processing = performance.now()
      const r = await pool.process(packet)
      components.metrics?.sphinxProcessed(performance.now() - processing)
      if (!r.ok) { drop(r.reason); return }
      if (epoch == null) { drop('replay'); return }
      // Every valid packet's α, new or a replay, so that a copy of either costs no Sphinx work next time.
      if (alpha != null) alphas.seen(epoch, alpha)
      if (replay?.seen(epoch, r.tag) !== false) { drop('replay'); return 'replay' }
      if (events.listenerCount('relay:packet') > 0) observe(from, r)
      if (r.kind === 'forward') {
        const next = r.delayMs === 0 ? r.nextNode : r.nextNode.slice()
        if (r.delayMs > MAX_HOP_DELAY_MS) { drop('delay'); return }
        // The pool's results are views into its batch buffer: a packet held for its delay gets its own copies.
        const out = r.delayMs === 0 ? r.packet : r.packet.slice()
        if (!uint8ArrayEquals(next, ownKey) && directory.get(next) == null) { drop('next-hop'); return }
        const fwd = async (): Promise<void> => {
          try {
            await links.send(next, out)
            counters.forwarded++
          } catch (err) {
            counters.forwardFailed++
            log.debug({ err: (err as Error).message }, 'next hop unreachable; packet dropped')
          }
        }
        if (r.delayMs === 0) { poolEntropy?.departed(1, 0); await fwd(); return }
        const peer = from.toString()
        const fromPeer = heldBy.get(peer) ?? 0
        if (held >= RELAY_MAX_HELD_PACKETS || fromPeer >= RELAY_MAX_HELD_PER_PEER) { drop('held-full'); return }
        held++
        heldBy.set(peer, fromPeer + 1)
        later(r.delayMs, () => {
          poolEntropy?.departed(held, r.delayMs)
          held--
          const n = (heldBy.get(peer) ?? 1) - 1
          if (n > 0) heldBy.set(peer, n)
          else heldBy.delete(peer)
          void fwd()
        })
      } else if (r.kind === 'deliver') {
        await gateway?.deliver(r.mailbox, r.body)
      } else {
        gateway?.deliverSurb(r.mailbox, r.surbId, r.payload)
      }
    } catch (err) {
      drop('error')
      log.warn({ err: (err as Error).message }, 'packet handling failed')
    }
  }

  // ---- paths ---------------------------------------------------------------

  /**
   * `count` distinct mixes for `epoch`, one per layer of the stratified
   * topology (src/mixnet/topology.ts: layers from the epoch and the
   * directory, hop i from layer i mod 3, uniformly within the layer), none
   * in `exclude`. Nodes in `avoid` (first hops that failed for this message,
   * lossy mixes) and path-probe suspects are left out too while their layer
   * has others. With `own` (a packet this node writes to its own first
   * link), hop 0 is this node's first usable guard that is not excluded
   * (suspects are passed over while another guard is usable); with no usable
   * guard, hop 0 is drawn from layer 0 like any hop. `layerOffset` shifts
   * the layers (loop cover: see selectLayeredPath). `lane` (the payload
   * stream slot's guard, see {@link guardLanes}) is hop 0 when it is a
   * candidate that is not excluded, avoided or a suspect; otherwise the
   * guard policy picks as above (the slot scheduler accounts for the swap).
   * @throws UMBRA_ERR_NOT_ENOUGH_MIXES
   */
  function pickMixes (count: number, epoch: number, exclude: Uint8Array[], avoid: Uint8Array[] = [], own = false, layerOffset = 0, lane?: Uint8Array): MixNodeInfo[] {
    const mixes = directory.list().filter((n) => (n.roles & ROLE_MIX) !== 0 && n.onionKeys.has(epoch))
    const layers = assignLayers(mixes, epoch)
    const excluded = new Set(exclude.map(nodeKeyHex))
    const suspects = new Set(probes.suspects().map(nodeKeyHex))
    const avoided = new Set([...avoid.map(nodeKeyHex), ...suspects])
    let first: MixNodeInfo | undefined
    if (own) {
      const candidates = mixes.filter((n) => !uint8ArrayEquals(n.nodeKey, ownKey))
      const laneHex = lane == null ? undefined : nodeKeyHex(lane)
      const laneNode = laneHex == null || excluded.has(laneHex) || avoided.has(laneHex) ? undefined : candidates.find((n) => nodeKeyHex(n.nodeKey) === laneHex)
      // A usable lane was picked by the guard policy already (guardLanes, which also keeps the sample): no second pick.
      first = laneNode ?? guards.pick(candidates, (k) => excluded.has(k) || suspects.has(k)) ?? guards.pick(candidates, (k) => excluded.has(k))
    }
    return selectLayeredPath({
      layers,
      hops: count,
      first,
      exclude: (n) => excluded.has(nodeKeyHex(n.nodeKey)),
      avoid: (n) => avoided.has(nodeKeyHex(n.nodeKey)),
      layerOffset,
      rng: randomInt
    })
  }

  function hopsTo (mixes: MixNodeInfo[], last: MixNodeInfo, epoch: number, final: SphinxHop['routing']): SphinxHop[] {
    const out: SphinxHop[] = mixes.map((m, i) => ({
      onionKey: m.onionKeys.get(epoch) as Uint8Array,
      routing: { type: 'forward', nextNode: (mixes[i + 1] ?? last).nodeKey, delayMs: expDelay(parameters.meanDelayMs) }
    }))
    const lastKey = last.onionKeys.get(epoch)
    if (lastKey == null) throw new NotEnoughMixesError(`Node ${last.peerId} has no onion key for epoch ${epoch}`)
    out.push({ onionKey: lastKey, routing: final })
    return out
  }

  /**
   * A SURB back to this node's reply mailbox through `hops` mixes; registers
   * its secrets. The route (gateway and mixes, with their onion keys for the
   * current epoch, see {@link withEpoch}) is read from the directory now,
   * never from a copy, so a SURB is always built for keys the directory
   * currently lists.
   * @param onPath - called with the mixes' node keys (path probes)
   * @param exclude - node keys no hop may be (a first hop that just failed)
   * @param own - this node sends the SURB itself (loop cover): its first hop is a guard
   * @throws UMBRA_ERR_NOT_ENOUGH_MIXES when no usable reply gateway or too few mixes are listed
   */
  async function makeSurb (hops: number, onReply: SurbEntry['onReply'], exclude: Uint8Array[] = [], onPath?: (mixes: Uint8Array[]) => void, own = false): Promise<Uint8Array> {
    const { rm, gateway: gw } = await replyRoute()
    const surbId = randomBytes(16)
    // A loop (own) rotates the layers after its guard, so the probes reach every layer (src/mixnet/topology.ts).
    const layerOffset = own ? randomInt(MIX_LAYERS) : 0
    return withEpoch((epoch) => {
      const mixes = pickMixes(hops, epoch, [ownKey, gw.nodeKey], exclude, own, layerOffset)
      onPath?.(mixes.map((m) => m.nodeKey))
      const path = hopsTo(mixes, gw, epoch, { type: 'deliverSurb', mailbox: rm.key.publicKey.raw, surbId })
      const { surb, secrets } = createSurb({ epoch, firstNode: (mixes[0] as MixNodeInfo).nodeKey, hops: path })
      surbs.set(hex(surbId), { secrets, epoch, onReply })
      return encodeSurb(surb)
    })
  }

  /**
   * Builds with the current epoch's keys, or with the next epoch's when the
   * directory lacks the current one (a clock a little behind the relays' at
   * a boundary: relays publish and accept the next epoch's key ahead of it).
   * Every hop of one packet uses the same epoch.
   * @throws the first attempt's error (UMBRA_ERR_NOT_ENOUGH_MIXES) when neither works
   */
  function withEpoch<T> (build: (epoch: number) => T): T {
    const epoch = epochNow()
    try {
      return build(epoch)
    } catch (err) {
      if (!(err instanceof NotEnoughMixesError)) throw err
      try {
        return build(epoch + 1)
      } catch {
        throw err
      }
    }
  }

  // ---- reply mailbox: where acknowledgements, replies and loops come back -----

  /**
   * The reply mailbox and its gateway's current directory entry, with a key
   * for `epoch`. A reply gateway that left the directory, lists no key for
   * the epoch, or has been unreachable for REPLY_GATEWAY_GRACE_MS is
   * abandoned: the node claims a fresh reply mailbox at another gateway
   * (issue 8, item 1). SURBs already handed out for the old one are lost;
   * the senders' retransmissions cover fragments.
   * @throws UMBRA_ERR_NOT_ENOUGH_MIXES when no gateway is usable, UMBRA_ERR_GATEWAY_UNREACHABLE when claims at 3 gateways in turn were not accepted in time
   */
  async function replyRoute (): Promise<{ rm: ReplyMailbox, gateway: MixNodeInfo }> {
    let claimError: Error | undefined
    for (let attempt = 0; attempt < 3; attempt++) {
      let rm: ReplyMailbox
      try {
        rm = await ensureReplyMailbox()
      } catch (err) {
        // A gateway that did not take the claim (down, restarting) is avoided now: the next try claims at another one.
        if (err instanceof NotEnoughMixesError) throw err
        claimError = err as Error
        log.info({ err: claimError.message }, 'reply mailbox claim failed; trying another gateway')
        continue
      }
      // The epoch is read after the claim (which may take seconds), next to the directory it is checked against.
      const epoch = epochNow()
      const gw = directory.get(rm.gatewayKey)
      const keyed = gw != null && (gw.onionKeys.has(epoch) || gw.onionKeys.has(epoch + 1))
      const downFor = rm.client.disconnectedSince == null ? 0 : Date.now() - rm.client.disconnectedSince
      if (gw != null && keyed && downFor < REPLY_GATEWAY_GRACE_MS) return { rm, gateway: gw }
      const why = gw == null ? 'left the directory' : !keyed ? `lists no key for epoch ${epoch}` : `unreachable for ${downFor} ms`
      abandonReplyMailbox(rm, why)
    }
    if (claimError != null) throw new GatewayUnreachableError(`No reply mailbox could be claimed at 3 gateways (last: ${claimError.message})`, { cause: claimError })
    throw new NotEnoughMixesError('No reply gateway could be claimed')
  }

  /** Drops `rm` as the reply mailbox (if it still is) so the next use claims another; remembers the gateway to avoid it for a while. */
  function abandonReplyMailbox (rm: ReplyMailbox, why: string): void {
    if (replyMailboxCurrent !== rm) return
    log.info({ gateway: rm.gatewayId, why }, 'reply gateway unusable; moving the reply mailbox to another gateway')
    counters.replyGatewayMoves++
    avoidGateway.set(hex(rm.gatewayKey), Date.now() + AVOID_GATEWAY_MS)
    rm.client.stop()
    replyMailbox = undefined
    replyMailboxCurrent = undefined
  }

  async function ensureReplyMailbox (): Promise<ReplyMailbox> {
    replyMailbox ??= (async () => {
      const key = await generateKeyPair('Ed25519')
      // Never this node (a node cannot dial itself: the claim would wait out the mailbox client's 15 s timeout, stalling the
      // first send; issue 15 follow-up). Not one of its guards while others are listed: a loop's last hop must not be its
      // first, which would send every loop through the next guard.
      const gw = pickGateway([...avoidedGateways(), ...guardKeys()], [ownKey], 'The mix directory lists no gateway other than this node for a reply mailbox')
      const gatewayKey = gw.nodeKey
      const client = createMailboxClient({
        libp2p,
        log,
        gateway: gatewayKey,
        gatewayAddrs: () => directory.get(gatewayKey)?.addrs ?? [],
        mailboxKey: key,
        onDelivery: onReplyDelivery
      })
      try {
        await client.ready()
      } catch (err) {
        client.stop()
        avoidGateway.set(hex(gatewayKey), Date.now() + AVOID_GATEWAY_MS)
        throw err
      }
      const rm: ReplyMailbox = { key, gatewayKey, gatewayId: gw.peerId, client }
      replyMailboxCurrent = rm
      return rm
    })()
    const pending = replyMailbox
    pending.catch(() => { if (replyMailbox === pending) replyMailbox = undefined })
    return await pending
  }

  /**
   * A gateway with a key for this epoch, uniformly at random: never one in
   * `exclude`, and none in `avoid` while others are listed.
   * @throws UMBRA_ERR_NOT_ENOUGH_MIXES (`none` is its message)
   */
  function pickGateway (avoid: Uint8Array[], exclude: Uint8Array[] = [], none = 'The mix directory lists no gateway yet'): MixNodeInfo {
    const has = (list: Uint8Array[], n: MixNodeInfo): boolean => list.some((k) => uint8ArrayEquals(k, n.nodeKey))
    const all = directory.list().filter((n) => (n.roles & ROLE_GATEWAY) !== 0 && n.onionKeys.has(epochNow()) && !has(exclude, n))
    const preferred = all.filter((n) => !has(avoid, n))
    const pick = preferred.length > 0 ? preferred : all
    if (pick.length === 0) throw new NotEnoughMixesError(none)
    return pick[randomInt(pick.length)] as MixNodeInfo
  }

  function onReplyDelivery (d: Delivery): void {
    if (d.kind !== DELIVERY_SURB || d.data.byteLength !== 16 + PAYLOAD_SIZE) { drop('malformed'); replyMailboxAck(d.id); return }
    const id = hex(d.data.subarray(0, 16))
    const entry = surbs.get(id)
    replyMailboxAck(d.id)
    if (entry == null) { drop('unknown-surb'); return }
    surbs.delete(id)
    try {
      const body = openSurbReply(entry.secrets, d.data.subarray(16))
      const layer = decodeReplyLayer(body)
      entry.onReply(layer.kind, layer.messageId, layer.status, layer.data)
    } catch (err) {
      drop('tampered')
      log.debug({ err: (err as Error).message }, 'a SURB reply did not open')
    }
  }

  function replyMailboxAck (id: number): void {
    if (id > 0) replyMailboxCurrent?.client.ack([id])
  }

  // ---- contacts: looked up through the mixnet (issue 8, item 4) ----------------
  //
  // A sender never queries the DHT for a contact record itself: a storing
  // node would see its PeerId asking for the pseudonym it is about to write
  // to. It sends a lookup request through mixes to a random gateway, which
  // runs the DHT query and answers through a SURB; the sender checks the
  // record's signature itself. Cached records are refreshed the same way on
  // a Poisson schedule that has nothing to do with sends.

  const lookups = new Map<string, Promise<Contact>>()
  const refreshTimers = new Map<string, ReturnType<typeof setTimeout>>()

  /**
   * The contact of pseudonym `to`: the cached one while fresh, else a mixnet
   * lookup (one at a time per pseudonym; concurrent sends share it).
   * @throws UMBRA_ERR_NOT_ENOUGH_MIXES (no gateway or too few mixes), UMBRA_ERR_UNKNOWN_PSEUDONYM
   *   (gateways found no valid record), UMBRA_ERR_ANON_DELIVERY_FAILED (no gateway answered), UMBRA_ERR_ABORTED
   */
  async function lookupContact (to: string, hops: number, signal: AbortSignal): Promise<Contact> {
    const cached = contacts.get(to)
    if (cached != null && Date.now() < cached.staleAt) {
      cached.usedAt = Date.now()
      return cached
    }
    let pending = lookups.get(to)
    if (pending == null) {
      pending = fetchContact(to, hops).finally(() => { lookups.delete(to) })
      lookups.set(to, pending)
    }
    const lookedUp = pending.then((c) => c, (err: Error) => {
      // A stale but unexpired copy is better than no send when every gateway failed us (never when the mixnet is too small).
      if (cached != null && Date.now() < cached.expiresAt && !(err instanceof NotEnoughMixesError)) return cached
      throw err
    })
    const contact = await raceAbort(lookedUp, signal, 'send aborted')
    contact.usedAt = Date.now()
    return contact
  }

  /** Asks up to LOOKUP_ATTEMPTS distinct random gateways in turn; caches and schedules refreshes of what it finds. */
  async function fetchContact (to: string, hops: number): Promise<Contact> {
    const dhtKey = contactDhtKey(to)
    const key = decodeKey(to)
    const tried: Uint8Array[] = []
    const silentFirstHops: Uint8Array[] = []
    let notFound = 0
    for (let attempt = 0; attempt < LOOKUP_ATTEMPTS; attempt++) {
      if (!running) throw new AbortedError('The node is stopping')
      const gw = pickLookupGateway(tried)
      tried.push(gw.nodeKey)
      const answer = await lookupThrough(gw, key, hops, silentFirstHops)
      if (answer == null) continue
      if (answer.status !== LOOKUP_FOUND) { notFound++; continue }
      let verified: VerifiedContact
      try {
        verified = await verifyContactRecord(dhtKey, answer.data)
      } catch (err) {
        drop('bad-contact')
        log.debug({ err: (err as Error).message }, 'a gateway answered an invalid contact record; asking another')
        continue
      }
      return cacheContact(to, verified)
    }
    if (notFound > 0) throw new UnknownPseudonymError(`No contact record for ${to} was found in the DHT (asked through ${tried.length} gateways)`)
    throw new AnonymousDeliveryError(`No gateway answered the contact lookup for ${to} (${tried.length} tries)`)
  }

  /** A random gateway for a lookup: never this node; one not in `tried` when there is one. */
  function pickLookupGateway (tried: Uint8Array[]): MixNodeInfo {
    return pickGateway(tried, [ownKey], 'The mix directory lists no gateway other than this node for a contact lookup')
  }

  /**
   * One request through `hops` mixes to server `gw` (a forward packet like
   * any other, `flag` in its gateway layer with `slot` after the SURB,
   * mailbox field random) with a SURB for the answer. Resolves the first
   * answer `match` accepts, or undefined when the first hop is unreachable,
   * no answer came within `waitMs`, or `signal` aborted. Contact lookups
   * (FLAG_LOOKUP) and anonymous pub/sub publishes (FLAG_PUBSUB) use it.
   * @throws UMBRA_ERR_NOT_ENOUGH_MIXES
   */
  async function requestThrough (gw: MixNodeInfo, hops: number, flag: number, slot: Uint8Array, match: (kind: number, messageId: Uint8Array) => boolean, waitMs: number, what: string, signal: AbortSignal | undefined, silentFirstHops: Uint8Array[]): Promise<{ status: number, data: Uint8Array } | undefined> {
    let settle!: (answer: { status: number, data: Uint8Array }) => void
    const answered = new Promise<{ status: number, data: Uint8Array }>((resolve) => { settle = resolve })
    const surb = await makeSurb(hops, (kind, mid, status, data) => {
      if (match(kind, mid)) settle({ status, data })
    })
    let first: Uint8Array | undefined
    try {
      await schedule.submit(async (lane) => withEpoch((epoch) => {
        const mixes = pickMixes(hops, epoch, [ownKey, gw.nodeKey, ...silentFirstHops], [], true, 0, lane)
        first = (mixes[0] as MixNodeInfo).nodeKey
        return {
          first,
          packet: createPacket({
            epoch,
            hops: hopsTo(mixes, gw, epoch, { type: 'deliver', mailbox: randomBytes(32) }),
            body: encodeGatewayLayer(flag, surb, slot)
          })
        }
      }))
    } catch (err) {
      if (first == null || err instanceof NotEnoughMixesError) throw err
      directory.reportFailure?.(first)
      log.debug({ err: (err as Error).message }, `first hop of ${what} unreachable`)
      return undefined
    }
    const wait = withTimeout(signal, waitMs)
    let onAbort: (() => void) | undefined
    const answer = await Promise.race([
      answered,
      new Promise<undefined>((resolve) => { onAbort = () => { resolve(undefined) }; wait.addEventListener('abort', onAbort, { once: true }) })
    ])
    if (onAbort != null) wait.removeEventListener('abort', onAbort)
    // No answer: the next try of this request leaves through another first hop (the next primary guard), so one
    // silently dropping guard cannot sink every try before path probes name it (docs/mixnet.md "Layers and guards").
    if (answer == null && first != null && !(signal?.aborted ?? false)) silentFirstHops.push(first)
    return answer
  }

  /**
   * One lookup request to gateway `gw` ({@link requestThrough}, FLAG_LOOKUP).
   * Resolves the answer, or undefined.
   * @throws UMBRA_ERR_NOT_ENOUGH_MIXES
   */
  async function lookupThrough (gw: MixNodeInfo, key: Uint8Array, hops: number, silentFirstHops: Uint8Array[]): Promise<{ status: number, data: Uint8Array } | undefined> {
    const requestId = randomBytes(16)
    return await requestThrough(gw, hops, FLAG_LOOKUP, encodeLookupRequest({ requestId, key }),
      (kind, mid) => kind === REPLY_LOOKUP && uint8ArrayEquals(mid, requestId), roundTripBudget(LOOKUP_TIMEOUT_MS, hops), 'a contact lookup', undefined, silentFirstHops)
  }

  /**
   * One anonymous publish to exit `exit` ({@link requestThrough}, FLAG_PUBSUB).
   * Resolves the exit's status (PUBLISH_OK, PUBLISH_REFUSED), or undefined.
   * @throws UMBRA_ERR_NOT_ENOUGH_MIXES
   */
  async function publishThrough (exit: MixNodeInfo, envelope: Uint8Array, hops: number, signal: AbortSignal, silentFirstHops: Uint8Array[]): Promise<number | undefined> {
    const answer = await requestThrough(exit, hops, FLAG_PUBSUB, encodePubsubPublish(envelope),
      (kind) => kind === REPLY_PUBLISHED, roundTripBudget(FRAGMENT_ACK_TIMEOUT_MS, hops), 'an anonymous publish', signal, silentFirstHops)
    return answer?.status
  }

  /** Caches a verified record (a newer seq wins) and starts its refresh schedule when it is new. */
  function cacheContact (to: string, v: VerifiedContact): Contact {
    const now = Date.now()
    const held = contacts.get(to)
    if (held != null && held.seq > v.seq && now < held.staleAt) return held
    const contact: Contact = { boxKey: v.boxKey, gateways: v.gateways, mailbox: v.mailbox, seq: v.seq, fetchedAt: now, staleAt: Math.min(now + CONTACT_CACHE_MS, v.expiresAt), expiresAt: v.expiresAt, usedAt: held?.usedAt ?? now }
    contacts.delete(to)
    contacts.set(to, contact)
    if (contacts.size > MAX_CACHED_CONTACTS) {
      let oldest: string | undefined
      for (const [k, c] of contacts) if (oldest == null || c.usedAt < (contacts.get(oldest)?.usedAt ?? Infinity)) oldest = k
      if (oldest != null) forgetContact(oldest)
    }
    if (!refreshTimers.has(to)) scheduleContactRefresh(to)
    return contact
  }

  function forgetContact (to: string): void {
    contacts.delete(to)
    clearTimeout(refreshTimers.get(to))
    refreshTimers.delete(to)
  }

  /** Exponential wait with mean `mean` ms from a CSPRNG, at most 5 means (Poisson refreshes). */
  function poissonWait (mean: number): number {
    return expDraw(mean, 5 * mean)
  }

  /** Refreshes `to` through the mixnet after a random wait, again and again while it is cached and used. */
  function scheduleContactRefresh (to: string): void {
    const t = setTimeout(() => {
      refreshTimers.delete(to)
      const c = contacts.get(to)
      if (!running || c == null) return
      if (Date.now() - c.usedAt > CONTACT_IDLE_MS) { forgetContact(to); return }
      if (lookups.has(to)) { scheduleContactRefresh(to); return }
      const p = fetchContact(to, options.hops).finally(() => { lookups.delete(to) })
      lookups.set(to, p)
      p.catch((err) => { log.debug({ err: err.message }, 'contact refresh failed; the cached record is kept until it is stale') })
        .finally(() => { if (running && contacts.has(to) && !refreshTimers.has(to)) scheduleContactRefresh(to) })
    }, poissonWait(CONTACT_REFRESH_MEAN_MS))
    t.unref()
    refreshTimers.set(to, t)
  }

  function stopContactRefresh (): void {
    for (const t of refreshTimers.values()) clearTimeout(t)
    refreshTimers.clear()
    lookups.clear()
  }

  /** The newest valid contact record under `dhtKey` in the DHT, queried from this node (first remote copy ends it), or undefined. */
  async function dhtContact (dhtKey: Uint8Array, signal: AbortSignal): Promise<VerifiedContact | undefined> {
    try {
      const found = await contactNamespace.query(kad, dhtKey, { signal, quorum: 1, me: ownKey })
      return found == null ? undefined : await verifyContactRecord(dhtKey, found.rec.bytes)
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'contact record query ended without a record')
      return undefined
    }
  }

  /** The gateway's side of a lookup: a DHT query from this node for someone else (GatewayInit.lookupContact). */
  async function lookupForOthers (key: Uint8Array): Promise<Uint8Array | undefined> {
    let dhtKey: Uint8Array
    try {
      dhtKey = contactDhtKey(encodeKey(key))
    } catch {
      drop('malformed')
      return undefined
    }
    return (await dhtContact(dhtKey, AbortSignal.timeout(GATEWAY_LOOKUP_DHT_TIMEOUT_MS)))?.bytes
  }

  /** Stores a claimant's contact record in the DHT (the gateway's job); refuses one that is not the mailbox key's. */
  /** A PUBLISH request of a mailbox owner (gateway.ts): a record of an allowed namespace, valid, signed by the mailbox key. */
  async function publishRecordForOwner (mailbox: Uint8Array, dhtKey: Uint8Array, bytes: Uint8Array): Promise<number> {
    const text = new TextDecoder().decode(dhtKey)
    const allowed = (components.gatewayNamespaces ?? []).find((n) => text.startsWith(`/${n.namespace.name}/`))
    if (allowed == null) throw new Error('this gateway does not publish records of that namespace')
    const ns = allowed.namespace
    const rec = await ns.verify(dhtKey, bytes)
    if (!uint8ArrayEquals(rec.publisher, mailbox)) throw new Error('the record is not signed by the mailbox key')
    await allowed.validate(dhtKey, bytes)
    return await ns.publish(kad, dhtKey, bytes, AbortSignal.timeout(GATEWAY_PUBLISH_TIMEOUT_MS))
  }

  async function publishContact (mailbox: Uint8Array, bytes: Uint8Array): Promise<void> {
    const dhtKey = contactDhtKey(encodeKey(mailbox))
    await verifyContactRecord(dhtKey, bytes)
    await contactNamespace.publish(kad, dhtKey, bytes, AbortSignal.timeout(GATEWAY_PUBLISH_TIMEOUT_MS))
  }

  // ---- sending ---------------------------------------------------------------

  /**
   * Sends fragment `index` of `out` until the gateway acknowledges it, on a
   * fresh path and a fresh ack SURB each try (FRAGMENT_ATTEMPTS tries). An
   * acknowledgement of any earlier try counts (a late ack), and so does the
   * recipient's end-to-end acknowledgement of the whole message. A first
   * hop that cannot be reached is excluded from the message's later tries
   * and reported to the directory (issue 8, item 6). The gateway and every
   * onion key are read from the directory at each try.
   * Gateway failover (issue 11, item 4): each try goes to the first of the
   * pseudonym's gateways (contact record order, see {@link sendGateway})
   * that is listed and has not failed this message; a try whose
   * acknowledgement does not come in time, or that the gateway answers with
   * "unknown mailbox", moves the later tries to the next gateway.
   * Every try waits for its slot of the constant-rate stream; the first try
   * uses the room {@link send} reserved (`reserved.take()` says whether one is left).
   * @throws UMBRA_ERR_NOT_ENOUGH_MIXES, UMBRA_ERR_MAILBOX_FULL, UMBRA_ERR_ANON_DELIVERY_FAILED, UMBRA_ERR_ABORTED
   */
  async function sendFragment (out: Outgoing, index: number, fragment: Uint8Array, signal: AbortSignal, reserved: { take: () => boolean }): Promise<void> {
    const hops = out.hops
    const ackTimeout = roundTripBudget(FRAGMENT_ACK_TIMEOUT_MS, hops)
    let lastError: Error | undefined
    for (let attempt = 0; attempt < FRAGMENT_ATTEMPTS; attempt++) {
      if (out.stored.has(index) || out.status === 'delivered') return
      if (signal.aborted) throw new AbortedError('send aborted')
      if (attempt > 0) { counters.retransmitted++; out.retransmissions++ } else counters.fragmentsSent++
      let first: Uint8Array | undefined
      // Mixes of this try (forward path and ack SURB): avoided by the message's later tries if its acknowledgement is lost.
      const used: Uint8Array[] = []
      const avoid = [...out.excluded, ...out.lossy]
      // The gateway of this try, set when the packet is built (the acknowledgement comes later).
      let target: { node: MixNodeInfo, rank: number } | undefined
      try {
        // Built at its slot of the constant-rate stream (issue 16), so a packet that waited still uses the current keys and guard.
        const sent = await schedule.submit(async (lane) => {
          const ackSurb = await makeSurb(hops, (kind, _mid, status) => { if (kind === REPLY_FRAGMENT_ACK) onFragmentAck(out, index, status, target) }, avoid, (path) => { used.push(...path) })
          return withEpoch((epoch) => {
            target = sendGateway(out, epoch)
            const gw = target.node
            const mixes = pickMixes(hops, epoch, [ownKey, gw.nodeKey], avoid, true, 0, lane)
            // The guard is not a lossy suspect of this message: only the hops after it are (a lost acknowledgement must not move a node off its guard).
            used.push(...mixes.slice(1).map((m) => m.nodeKey))
            first = (mixes[0] as MixNodeInfo).nodeKey
            const path = hopsTo(mixes, gw, epoch, { type: 'deliver', mailbox: out.mailbox })
            return { first, packet: createPacket({ epoch, hops: path, body: encodeGatewayLayer(0, ackSurb, fragment) }) }
          })
        }, attempt === 0 && reserved.take())
        if (attempt === 0) out.queuedMs = Math.max(out.queuedMs, Math.round(sent.waitedMs))
      } catch (err) {
        if (err instanceof NotEnoughMixesError || err instanceof SendQueueFullError || err instanceof AbortedError) throw err
        lastError = err as Error
        if (first != null) {
          out.excluded.push(first)
          directory.reportFailure?.(first)
        }
        log.debug({ err: lastError.message }, 'first hop unreachable; retrying on another path')
        continue
      }
      // The last try also waits for a late acknowledgement of any try, or the end-to-end one.
      const wait = attempt === FRAGMENT_ATTEMPTS - 1 ? 2 * ackTimeout : ackTimeout
      const status = await awaitAck(out, index, wait, signal)
      if (status === ACK_STORED) return
      if (status === -2) throw new AbortedError('send aborted')
      if (status === ACK_REFUSED_MESSAGES) throw new MailboxFullError('The recipient\'s mailbox holds its limit of 100 messages')
      if (status === ACK_REFUSED_BYTES) throw new MailboxFullError('The recipient\'s mailbox would exceed its limit of 1 MB')
      if (status === ACK_REFUSED_INCOMPLETE) throw new MailboxFullError('The recipient\'s mailbox holds its limit of 8 incomplete multi-fragment messages (each kept at most 10 min); retry later or send one fragment (a shorter body, fewer reply SURBs)')
      if (status === ACK_REFUSED_CONFLICT) throw new AnonymousDeliveryError('The gateway holds fragments of another message with this message id')
      if (status === ACK_UNKNOWN_MAILBOX) {
        // A gateway the owner replaced (or whose claim it lost) answers; the pseudonym's other gateways may hold the mailbox.
        if (target == null || !failOver(out, target.node)) throw new AnonymousDeliveryError('No gateway of the pseudonym holds a mailbox for it')
        lastError = new Error('a gateway does not hold the mailbox')
        continue
      }
      lastError = new Error('no acknowledgement in time')
      // The gateway may be gone: the next tries go to the pseudonym's next gateway (the recipient drops a second copy by message id).
      if (target != null) failOver(out, target.node)
      // Some mix of this try lost the packet or its acknowledgement: the next tries go around all of them (softly).
      out.lossy.push(...used)
      if (out.lossy.length > MAX_LOSSY_MIXES) out.lossy.splice(0, out.lossy.length - MAX_LOSSY_MIXES)
    }
    throw new AnonymousDeliveryError(`Message ${out.id}: a fragment was not acknowledged after ${FRAGMENT_ATTEMPTS} tries (${lastError?.message ?? 'unknown'}); a late acknowledgement still updates its status (anonymous:status)`)
  }

  /** Resolves with the next acknowledgement status of fragment `index` (ACK_STORED at once if already stored or delivered), -1 after `ms`, -2 on abort. */
  async function awaitAck (out: Outgoing, index: number, ms: number, signal: AbortSignal): Promise<number> {
    if (out.stored.has(index) || out.status === 'delivered') return ACK_STORED
    return await new Promise<number>((resolve) => {
      const done = (status: number): void => {
        clearTimeout(timer)
        signal.removeEventListener('abort', onAbort)
        out.waiters.get(index)?.delete(done)
        resolve(status)
      }
      const onAbort = (): void => { done(-2) }
      const timer = setTimeout(() => { done(-1) }, ms)
      timer.unref()
      signal.addEventListener('abort', onAbort, { once: true })
      let set = out.waiters.get(index)
      if (set == null) { set = new Set(); out.waiters.set(index, set) }
      set.add(done)
    })
  }

  /**
   * The gateway for a try of `out` in `epoch`: the first of the pseudonym's
   * gateways, in contact record order, that the directory lists with a key
   * for the epoch, that has not failed this message and that did not
   * recently leave a fragment unacknowledged (GATEWAY_DOWN_AVOID_MS); with
   * none such, the first listed one not failed for this message, then the
   * first listed. `rank` is its index in the record (failovers passed over).
   * @throws UMBRA_ERR_NOT_ENOUGH_MIXES when none is listed
   */
  function sendGateway (out: Outgoing, epoch: number): { node: MixNodeInfo, rank: number } {
    const now = Date.now()
    const listed = out.gatewayKeys
      .map((k, rank) => ({ node: directory.get(k), rank }))
      .filter((c): c is { node: MixNodeInfo, rank: number } => c.node?.onionKeys.has(epoch) === true)
    const fresh = listed.filter((c) => !out.failedGateways.has(hex(c.node.nodeKey)))
    const pick = fresh.find((c) => (gatewayDownUntil.get(hex(c.node.nodeKey)) ?? 0) <= now) ?? fresh[0] ?? listed[0]
    if (pick == null) throw new NotEnoughMixesError('None of the pseudonym\'s gateways is in the mix directory')
    return pick
  }

  /**
   * Moves the later tries of `out` away from gateway `gw` (it did not
   * acknowledge in time, or does not hold the mailbox), and has the next
   * sends to any pseudonym prefer other gateways for GATEWAY_DOWN_AVOID_MS.
   * @returns whether another gateway of the pseudonym is left to try
   */
  function failOver (out: Outgoing, gw: MixNodeInfo): boolean {
    const k = hex(gw.nodeKey)
    if (!out.failedGateways.has(k)) counters.gatewayFailovers++
    out.failedGateways.add(k)
    gatewayDownUntil.set(k, Date.now() + GATEWAY_DOWN_AVOID_MS)
    if (gatewayDownUntil.size > MAX_CACHED_CONTACTS) gatewayDownUntil.delete(gatewayDownUntil.keys().next().value as string)
    return out.gatewayKeys.some((key) => !out.failedGateways.has(hex(key)) && directory.get(key) != null)
  }

  /** A gateway's acknowledgement of fragment `index`, from any try, in time or late; `via` is the try's gateway. */
  function onFragmentAck (out: Outgoing, index: number, status: number, via?: { node: MixNodeInfo, rank: number }): void {
    if (status === ACK_STORED && via != null) {
      gatewayDownUntil.delete(hex(via.node.nodeKey))
      out.storedBy.add(via.node.peerId)
    }
    if (status === ACK_STORED && !out.stored.has(index)) {
      out.stored.add(index)
      if (via != null) out.gatewayFailovers = Math.max(out.gatewayFailovers, via.rank)
      if (out.stored.size === out.total && out.status === 'failed') setOutcome(out, 'stored')
    }
    for (const w of [...(out.waiters.get(index) ?? [])]) w(status)
  }

  /** Records a message's outcome and tells listeners (`anonymous:status`); a late acknowledgement can turn `failed` into `stored` or `delivered`. */
  function setOutcome (out: Outgoing, status: Outgoing['status']): void {
    if (out.status === status || out.status === 'delivered') return
    out.status = status
    out.updatedAt = Date.now()
    if (status !== 'sending') events.safeDispatchEvent('anonymous:status', { detail: { id: out.id, to: out.to, status } })
  }

  /** Remembers an outgoing message for OUTGOING_KEEP_MS (bounded), so late acknowledgements find it. */
  function track (out: Outgoing): void {
    const now = Date.now()
    for (const [id, o] of outgoing) {
      if (outgoing.size < OUTGOING_LIMIT && now - o.updatedAt < OUTGOING_KEEP_MS) break
      if (o.status !== 'sending') outgoing.delete(id)
    }
    outgoing.set(out.id, out)
  }

  const service: MixnetHandle = {
    get preset () { return options.preset },
    parameters,
    events,

    async send (to, body, opts = {}) {
      const started = performance.now()
      if (!(body instanceof Uint8Array)) throw new MessageTooLargeError('A message body must be bytes (Uint8Array)')
      if (body.byteLength > MAX_MESSAGE_BYTES) throw new MessageTooLargeError(`An anonymous message body is at most ${MAX_MESSAGE_BYTES} bytes, got ${body.byteLength}`)
      try { decodeKey(to) } catch (err) { throw new InvalidRecipientError(`The recipient must be a pseudonym key_…: ${(err as Error).message}`, { cause: err }) }
      const hops = opts.hops ?? options.hops
      if (!Number.isInteger(hops) || hops < MIN_HOPS || hops > MAX_HOPS) throw new InvalidOptionError(`hops must be an integer from ${MIN_HOPS} to ${MAX_HOPS}, got ${String(hops)}`)
      const surbCount = opts.replySurbs ?? DEFAULT_REPLY_SURBS
      if (!Number.isInteger(surbCount) || surbCount < 0 || surbCount > MAX_REPLY_SURBS) throw new InvalidOptionError(`replySurbs must be an integer from 0 to ${MAX_REPLY_SURBS}, got ${String(surbCount)}`)
      // With constant-rate sending, the default timeout also covers the longest wait in the send queue.
      const signal = withTimeout(opts.signal, opts.timeout ?? SEND_TIMEOUT_MS + queueMaxWaitMs)
      const contact = await lookupContact(to, hops, signal)
      if (!contact.gateways.some((k) => directory.get(k) != null)) throw new NotEnoughMixesError('None of the pseudonym\'s gateways is in the mix directory')
      const messageId = randomBytes(16)
      const idHex = hex(messageId)
      const out: Outgoing = {
        id: idHex, to, total: 0, hops, gatewayKeys: contact.gateways, failedGateways: new Set(), storedBy: new Set(), gatewayFailovers: 0, mailbox: contact.mailbox, stored: new Set(), excluded: [], lossy: [],
        retransmissions: 0, queuedMs: 0, status: 'sending', waiters: new Map(), updatedAt: Date.now(), startedAt: Date.now()
      }
      let delivered: Promise<void> | undefined
      let ackSurb: Uint8Array = new Uint8Array(0)
      if (opts.wait === 'delivered' || surbCount > 0) {
        delivered = new Promise<void>((resolve) => { deliveredWaiters.set(idHex, resolve) })
        ackSurb = await makeSurb(hops, (kind, mid) => {
          if (kind === REPLY_DELIVERED && uint8ArrayEquals(mid, messageId)) {
            deliveredWaiters.get(idHex)?.()
            deliveredWaiters.delete(idHex)
            // Everything reached the recipient: every fragment wait ends.
            setOutcome(out, 'delivered')
            for (let i = 0; i < out.total; i++) out.stored.add(i)
            for (const set of out.waiters.values()) for (const w of [...set]) w(ACK_STORED)
            events.safeDispatchEvent('anonymous:delivered', { detail: { id: idHex } })
          }
        })
      }
      const replyBlocks: Uint8Array[] = []
      for (let i = 0; i < surbCount; i++) {
        replyBlocks.push(await makeSurb(hops, (kind, mid, _status, data) => {
          if (kind !== REPLY_DATA || !uint8ArrayEquals(mid, messageId)) return
          const reply: AnonymousReply = { inReplyTo: idHex, body: data, receivedAt: Date.now() }
          replies.push(reply)
          if (replies.length > ANON_INBOX_LIMIT) replies.shift()
          events.safeDispatchEvent('anonymous:reply', { detail: reply })
        }))
      }
      const plain = AnonymousMessagePb.encode({ version: WIRE_VERSION, id: messageId, body: body as Uint8Array<ArrayBuffer>, ackSurb: ackSurb as Uint8Array<ArrayBuffer>, surbs: replyBlocks as Array<Uint8Array<ArrayBuffer>>, sentAt: BigInt(Date.now()) })
      const sealed = Buffer.alloc(plain.byteLength + sodium.crypto_box_SEALBYTES)
      sodium.crypto_box_seal(sealed, Buffer.from(plain), Buffer.from(contact.boxKey))
      const total = Math.max(1, Math.ceil(sealed.byteLength / FRAGMENT_DATA_SIZE))
      if (total > MAX_FRAGMENTS) throw new MessageTooLargeError(`The message needs ${total} fragments; at most ${MAX_FRAGMENTS}`)
      const queue = schedule.state()
      if (queue.rate > 0 && total > queue.capacity) {
        throw new MessageTooLargeError(`The message needs ${total} packets; the send queue holds at most ${queue.capacity} (${Math.round(queueMaxWaitMs / 1000)} s at ${queue.rate} packets/s, preset ${options.preset}): send a shorter body`)
      }
      // Admitted whole or not at all: UMBRA_ERR_SEND_QUEUE_FULL says how long until it fits.
      schedule.reserve(total)
      let unreserved = total
      const reserved = { take: () => { if (unreserved === 0) return false; unreserved--; return true } }
      out.total = total
      track(out)
      try {
        await Promise.all(Array.from({ length: total }, async (_, index) => {
          const fragment = encodeFragment({ messageId, index, total, data: sealed.subarray(index * FRAGMENT_DATA_SIZE, (index + 1) * FRAGMENT_DATA_SIZE) })
          await sendFragment(out, index, fragment, signal, reserved)
        }))
        if (out.status === 'sending') setOutcome(out, 'stored')
        if (opts.wait === 'delivered' && delivered != null && out.status !== 'delivered') {
          await Promise.race([
            delivered,
            new Promise<never>((_resolve, reject) => {
              if (signal.aborted) reject(new AnonymousDeliveryError('No end-to-end acknowledgement in time'))
              signal.addEventListener('abort', () => { reject(opts.signal?.aborted === true ? new AbortedError('send aborted') : new AnonymousDeliveryError('Stored at the gateway, but no end-to-end acknowledgement in time')) }, { once: true })
            })
          ])
        }
        const status: 'stored' | 'delivered' = out.status === 'delivered' ? 'delivered' : 'stored'
        components.metrics?.messageSent('anonymous')
        return { id: idHex, to, fragments: total, retransmissions: out.retransmissions, status, rttMs: performance.now() - started, gateways: [...out.storedBy], gatewayFailovers: out.gatewayFailovers, queuedMs: out.queuedMs } satisfies AnonymousSendReceipt
      } catch (err) {
        if (out.status === 'sending') setOutcome(out, 'failed')
        components.metrics?.sendFailed('anonymous')
        contacts.delete(to)
        if (err instanceof UmbraError && !(err instanceof AbortedError)) Object.assign(err, { messageId: idHex })
        throw err
      } finally {
        schedule.release(unreserved)
      }
    },

    outcome (id) {
      const o = outgoing.get(id)
      if (o == null) return undefined
      return { id: o.id, to: o.to, status: o.status, fragments: o.total, storedFragments: o.stored.size, retransmissions: o.retransmissions, startedAt: o.startedAt, updatedAt: o.updatedAt }
    },

    directoryEntry (nodeKey) {
      return directory.get(nodeKey)
    },

    anonymityEstimate () {
      return poolEntropy == null ? undefined : { bits: poolEntropy.bits(), departures: poolEntropy.departures() }
    },

    gatewayUsage () {
      if (gateway == null || store == null) return undefined
      return { claimed: gateway.mailboxCount(), ...store.totals() }
    },

    traffic (): MixnetTraffic {
      const listed = new Set(directory.list().map((n) => nodeKeyHex(n.nodeKey)))
      const guardIds = guards.primary(listed).map((k) => directory.get(Buffer.from(k, 'hex'))?.peerId ?? k)
      return { sendQueue: schedule.state(), guards: guardIds, packetsOutByLink: Object.fromEntries(packetsOutByLink) }
    },

    guardSample () {
      return guards.sample()
    },

    async sendRawPacket (nodeKey, packet) {
      await links.send(nodeKey, packet)
    },

    async publishAnonymous (envelope, opts = {}) {
      if (!running) throw new NotStartedError('The mixnet is not started')
      if (!(envelope instanceof Uint8Array) || envelope.byteLength > MAX_ANONYMOUS_ENVELOPE_BYTES) {
        throw new MessageTooLargeError(`An anonymous publish carries one packet: the envelope is at most ${MAX_ANONYMOUS_ENVELOPE_BYTES} bytes`)
      }
      const hops = opts.hops ?? options.hops
      if (!Number.isInteger(hops) || hops < MIN_HOPS || hops > MAX_HOPS) throw new InvalidOptionError(`hops must be an integer from ${MIN_HOPS} to ${MAX_HOPS}, got ${String(hops)}`)
      const signal = opts.signal ?? new AbortController().signal
      const tried: Uint8Array[] = []
      const silentFirstHops: Uint8Array[] = []
      for (let attempt = 1; attempt <= LOOKUP_ATTEMPTS; attempt++) {
        if (signal.aborted) throw new AbortedError()
        const exit = pickGateway(tried, [ownKey], 'The mix directory lists no exit other than this node for an anonymous publish')
        tried.push(exit.nodeKey)
        const status = await publishThrough(exit, envelope, hops, signal, silentFirstHops)
        if (status === PUBLISH_OK) return { attempts: attempt }
        if (status === PUBLISH_REFUSED) throw new AnonymousDeliveryError('The exit refused the anonymous publish: the envelope does not decode or verify, or the exit runs no pub/sub')
      }
      if (signal.aborted) throw new AbortedError()
      throw new AnonymousDeliveryError(`No exit confirmed the anonymous publish (${LOOKUP_ATTEMPTS} tries)`)
    },

    setPubsubExit (publish) {
      pubsubExit = publish
    },

    async reply (messageId, body) {
      if (!(body instanceof Uint8Array) || body.byteLength > REPLY_DATA_SIZE) throw new ReplyTooLargeError(`A reply is at most ${REPLY_DATA_SIZE} bytes`)
      const entry = replySurbs.get(messageId)
      const encoded = entry?.surbs.shift()
      if (encoded == null) throw new NoSurbError(`No reply block is left for message ${messageId}`)
      const msg = inbox.find((m) => m.id === messageId)
      if (msg != null) msg.repliesLeft = entry?.surbs.length ?? 0
      const surb = decodeSurb(encoded)
      const { firstNode, packet } = createSurbReply(surb, encodeReplyLayer({ kind: REPLY_DATA, messageId: Buffer.from(messageId, 'hex'), status: 0, data: body }))
      // The SURB's first hop was chosen by the original sender, so it is not this node's guard; the packet still takes a slot of the stream.
      await schedule.submit(async () => ({ first: firstNode, packet }))
    },

    inbox () {
      return inbox.slice()
    },

    replies () {
      return replies.slice()
    },

    directory (): MixNodeSummary[] {
      return directory.list().map((n) => ({ peerId: n.peerId, addrs: n.addrs, epochs: [...n.onionKeys.keys()], expiresAt: n.expiresAt, ...(n.linkPort !== undefined ? { linkPort: n.linkPort } : {}) }))
    },

    counters () {
      return { ...counters, dropped: { ...counters.dropped } }
    },

    replyGateway () {
      return replyMailboxCurrent?.gatewayId
    },

    suspects () {
      return probes.suspects().map((k) => peerIdOfNodeKey(k).toString())
    },

    pseudonymSignKey (key) {
      return pseudonymStore?.get(key)?.signKey
    },

    async publishThroughGateway (pseudonym, dhtKey, record) {
      // One gateway is enough: the record goes to the DHT, not to a gateway.
      const client = connectedMailboxes(pseudonym)[0] as MailboxClient
      try {
        return await client.publish(dhtKey, record)
      } catch (err) {
        throw new GatewayUnreachableError(`The gateway of ${pseudonym} did not publish the record: ${(err as Error).message}`, { cause: err })
      }
    },

    pseudonyms: {
      async create (opts = {}) {
        if (pseudonymStore == null) throw new AbortedError('The node is stopping')
        const pseudonyms = pseudonymStore
        const count = opts.gateways ?? DEFAULT_PSEUDONYM_GATEWAYS
        if (!Number.isInteger(count) || count < 1 || count > MAX_PSEUDONYM_GATEWAYS) {
          throw new InvalidOptionError(`gateways must be an integer from 1 to ${MAX_PSEUDONYM_GATEWAYS}, got ${String(count)}`)
        }
        const gws = pickGateways(count, [ownKey])
        opts.signal?.throwIfAborted()
        const p = await pseudonyms.create({ label: opts.label })
        try {
          await pseudonyms.setGateways(p.key, gws.map((g) => g.peerId))
          const stored = pseudonyms.get(p.key) ?? p
          await raceAbort(attach(stored, 'one'), opts.signal)
          return info(stored)
        } catch (err) {
          // Roll back (issue 10): a pseudonym whose mailbox no gateway holds is not kept,
          // so a failed create leaves nothing behind and the caller may simply retry.
          for (const g of owned.get(p.key)?.gateways ?? []) g.client.stop()
          owned.delete(p.key)
          await pseudonyms.remove(p.key).catch((e: Error) => { log.warn({ err: e.message }, 'could not roll back a pseudonym') })
          if (opts.signal?.aborted === true) throw new AbortedError('pseudonym creation aborted; the pseudonym was not kept', { cause: err })
          if (err instanceof UmbraError) throw err
          throw new GatewayUnreachableError(`No gateway of ${gws.map((g) => g.peerId).join(', ')} accepted the mailbox claim (${(err as Error).message}); the pseudonym was not kept`, { cause: err })
        }
      },
      list () {
        return (pseudonymStore?.list() ?? []).map(info)
      },
      async purgeMailbox (key, opts = {}) {
        const clients = connectedMailboxes(key)
        try {
          const counts = await Promise.all(clients.map(async (c) => await c.purge({ all: opts.all === true })))
          return { deleted: counts.reduce((a, b) => a + b, 0) }
        } catch (err) {
          throw new GatewayUnreachableError(`A gateway of ${key} did not purge: ${(err as Error).message}`, { cause: err })
        }
      }
    },

    async start () {
      if (running) return
      running = true
      pseudonymStore = await createPseudonymStore(components.dataDir)
      if (components.server) {
        pool = createLazySphinxPool({ threads: options.threads })
        replay = createReplayFilter({ store: mixState?.replayTags, maxPerEpoch: replayCapacity(RELAY_DESIGN_RATE, options.epochMs, graceMs) })
        const updateKeys = (): void => {
          if (onion == null || pool == null) return
          pool.setKeys(onion.secrets().map((s) => ({ epoch: s.epoch, secret: s.secret })))
          // Tags of an epoch whose key left (its grace period is over) can go.
          const oldest = Math.min(onion.current(), ...onion.secrets().map((k) => k.epoch))
          replay?.dropBefore(oldest)
          alphas.dropBefore(oldest)
        }
        updateKeys()
        const keyTimer = setInterval(() => {
          if (onion?.tick() === true) { updateKeys(); void directory.republish() } else updateKeys()
          pruneSurbs()
        }, Math.min(5_000, Math.floor(options.epochMs / 20)))
        keyTimer.unref()
        timers.add(keyTimer)
        store = openMailboxStore({ path: components.dataDir != null ? join(components.dataDir, 'mailbox.db') : ':memory:' })
        gateway = createGateway({
          libp2p,
          store,
          state: components.state,
          dataDir: components.dataDir,
          log,
          counters,
          drop,
          sendPacket: async (k, p) => { await links.send(k, p) },
          publishContact,
          lookupContact: lookupForOthers,
          publishRecord: publishRecordForOwner,
          publishPubsub: async (envelope) => {
            if (pubsubExit == null) throw new Error('no pub/sub service')
            return await pubsubExit(envelope)
          },
          quotas: components.quotas
        })
        await gateway.start()
      } else {
        const t = setInterval(pruneSurbs, 5_000)
        t.unref()
        timers.add(t)
      }
      await links.start()
      await directory.start()
      startedAt = Date.now()
      for (const p of pseudonymStore.list()) void attach(p, 'none').catch((err) => { log.warn({ err: err.message }, 'could not claim a pseudonym\'s mailboxes; retrying in the background') })
      const gatewayTimer = setInterval(checkGateways, GATEWAY_CHECK_INTERVAL_MS)
      gatewayTimer.unref()
      timers.add(gatewayTimer)
      scheduleCover('loop')
      scheduleCover('drop')
      schedule.start()
    },

    async stop () {
      if (!running) return
      running = false
      schedule.stop()
      for (const t of timers) { clearTimeout(t); clearInterval(t) }
      timers.clear()
      stopContactRefresh()
      held = 0
      heldBy.clear()
      for (const o of owned.values()) for (const g of o.gateways) g.client.stop()
      owned.clear()
      // A claim still under way (a lone node's gateway may take its full timeout to answer) is not waited for: its client is stopped when it settles.
      void replyMailbox?.then((rm) => { rm.client.stop() }, () => {})
      replyMailbox = undefined
      replyMailboxCurrent = undefined
      await directory.stop()
      await links.stop()
      await gateway?.stop()
      gateway = undefined
      store?.close()
      store = undefined
      await pool?.close()
      pool = undefined
      onion?.destroy()
      mixState?.close()
    }
  }

  /**
   * The connected mailbox clients of one of this node's pseudonyms, at least one, in its gateways' order.
   * @throws UMBRA_ERR_INVALID_KEY / UMBRA_ERR_KEY_CHECKSUM, UMBRA_ERR_NOT_MY_PSEUDONYM, UMBRA_ERR_GATEWAY_UNREACHABLE (none connected)
   */
  function connectedMailboxes (key: string): MailboxClient[] {
    decodeKey(key)
    const clients = (owned.get(key)?.gateways ?? []).map((g) => g.client).filter((c) => c.connected)
    if (clients.length > 0) return clients
    if (pseudonymStore?.get(key) == null) throw new NotMyPseudonymError(`This node does not hold the pseudonym ${key}`)
    throw new GatewayUnreachableError(`The mailbox of ${key} is not connected to any of its gateways`)
  }

  /** The state of one owned gateway's claim (GET /v1/pseudonyms). */
  function gatewayState (g: OwnedGateway): PseudonymGatewayState {
    const listed = directory.get(g.nodeKey) != null
    if (g.client.connected) return { peerId: g.peerId, state: 'connected', since: g.client.connectedSince ?? g.createdAt, listed }
    const lost = g.client.disconnectedSince
    return lost == null ? { peerId: g.peerId, state: 'connecting', since: g.createdAt, listed } : { peerId: g.peerId, state: 'unreachable', since: lost, listed }
  }

  function info (p: Pseudonym): PseudonymInfo {
    const o = owned.get(p.key)
    const gatewayStates = p.gateways.map((peerId) => {
      const g = o?.gateways.find((x) => x.peerId === peerId)
      return g != null ? gatewayState(g) : { peerId, state: 'connecting' as const, since: startedAt, listed: false }
    })
    return { key: p.key, gateways: p.gateways, label: p.label, createdAt: p.createdAt, online: gatewayStates.some((g) => g.state === 'connected'), gatewayStates }
  }

  /** `promise`, or AbortedError(`message`) once `signal` aborts (also when it already has); the promise keeps running, and its later rejection is not reported as unhandled. */
  async function raceAbort<T> (promise: Promise<T>, signal: AbortSignal | undefined, message = 'aborted'): Promise<T> {
    if (signal == null) return await promise
    promise.catch(() => {})
    if (signal.aborted) throw new AbortedError(message)
    let onAbort: (() => void) | undefined
    try {
      return await Promise.race([promise, new Promise<never>((_resolve, reject) => {
        onAbort = () => { reject(new AbortedError(message)) }
        signal.addEventListener('abort', onAbort, { once: true })
      })])
    } finally {
      if (onAbort != null) signal.removeEventListener('abort', onAbort)
    }
  }


  /**
   * Claims a pseudonym's mailbox at each of its gateways (one mailbox client
   * per gateway; clients held before are stopped) and hands every gateway
   * the same newly signed contact record, which names all of them in the
   * pseudonym's order, to publish (issue 11, item 4). Each client keeps
   * re-dialling its gateway; {@link checkGateways} replaces one that stays away.
   * @param wait - `one`: resolve once a gateway accepted the claim (and so
   *   published the record), reject when none did within 15 s; `none`: resolve once the clients are started
   * @throws UMBRA_ERR_NOT_ENOUGH_MIXES (no gateway), UMBRA_ERR_INVALID_OPTION (a gateway is not an Ed25519 PeerId),
   *   Error naming each gateway's refusal (`one` only: no claim accepted)
   */
  async function attach (p: Pseudonym, wait: 'one' | 'none'): Promise<void> {
    if (p.gateways.length === 0) throw new NotEnoughMixesError(`Pseudonym ${p.key} has no gateway`)
    const keys = p.gateways.map((id) => {
      const k = peerIdFromString(id).publicKey?.raw
      if (k == null || k.byteLength !== 32) throw new InvalidOptionError(`Gateway ${id} is not an Ed25519 PeerId`)
      return k
    })
    const prev = owned.get(p.key)
    // Strictly increasing, also when the record is re-signed within one ms; ms since the epoch, so a restart signs a higher one too.
    const seq = Math.max(Date.now(), (prev?.seq ?? 0) + 1)
    const contact = await signContactRecord({
      pseudonymKey: p.signKey,
      boxKey: p.boxPublicKey,
      gateways: keys,
      mailbox: p.signKey.publicKey.raw,
      seq,
      expiresAt: Date.now() + CONTACT_TTL_MS
    })
    const entry: Owned = { pseudonym: p, gateways: [], seq, reassembly: prev?.reassembly ?? new Map() }
    for (const g of prev?.gateways ?? []) g.client.stop()
    owned.set(p.key, entry)
    entry.gateways = keys.map((nodeKey, i) => {
      const client: MailboxClient = createMailboxClient({
        libp2p,
        log,
        gateway: nodeKey,
        gatewayAddrs: () => directory.get(nodeKey)?.addrs ?? [],
        mailboxKey: p.signKey,
        contact,
        onDelivery: (d) => { onFragmentDelivery(entry, client, d) }
      })
      return { nodeKey, peerId: p.gateways[i] as string, client, createdAt: Date.now() }
    })
    if (wait === 'none') return
    try {
      await Promise.any(entry.gateways.map(async (g) => { await g.client.ready() }))
    } catch (err) {
      const reasons = err instanceof AggregateError ? err.errors.map((e: Error) => e.message) : [(err as Error).message]
      throw new Error([...new Set(reasons)].join('; '), { cause: err })
    }
  }

  /** Gateways picked recently for a mailbox that failed (reply mailbox, pseudonym gateways): avoided while others are listed. */
  function avoidedGateways (): Uint8Array[] {
    const now = Date.now()
    for (const [k, until] of avoidGateway) if (until <= now) avoidGateway.delete(k)
    return [...avoidGateway.keys()].map((k) => uint8ArrayFromString(k, 'base16'))
  }

  /**
   * Up to `count` distinct gateways, uniformly at random from the directory
   * (none in `exclude`; recently failed ones only when nothing else is
   * listed); fewer when the directory lists fewer.
   * @throws UMBRA_ERR_NOT_ENOUGH_MIXES when it lists none
   */
  function pickGateways (count: number, exclude: Uint8Array[]): MixNodeInfo[] {
    const picked: MixNodeInfo[] = []
    while (picked.length < count) {
      try {
        picked.push(pickGateway(avoidedGateways(), [...exclude, ...picked.map((g) => g.nodeKey)]))
      } catch (err) {
        if (picked.length > 0 && err instanceof NotEnoughMixesError) break
        throw err
      }
    }
    return picked
  }

  /** Pseudonyms (`key_…`) whose gateways are being replaced now (one replacement at a time per pseudonym). */
  const replacing = new Set<string>()

  /**
   * Owner side of gateway failover (issue 11, item 4), every
   * GATEWAY_CHECK_INTERVAL_MS: a gateway of an owned pseudonym whose claim
   * has been lost (or never held) for GATEWAY_REPLACE_AFTER_MS, or for
   * GATEWAY_LEFT_GRACE_MS once the mix directory no longer lists it, is
   * replaced (see {@link replaceGateways}). Time before this node started
   * does not count, so a restart does not replace gateways the directory has
   * not listed yet.
   */
  function checkGateways (): void {
    if (!running) return
    const now = Date.now()
    for (const o of owned.values()) {
      if (replacing.has(o.pseudonym.key)) continue
      const gone = o.gateways.filter((g) => {
        if (g.client.connected) return false
        const downFor = now - Math.max(g.client.disconnectedSince ?? g.createdAt, startedAt)
        return downFor >= GATEWAY_REPLACE_AFTER_MS || (downFor >= GATEWAY_LEFT_GRACE_MS && directory.get(g.nodeKey) == null)
      })
      if (gone.length === 0) continue
      replacing.add(o.pseudonym.key)
      void replaceGateways(o, gone)
        .catch((err) => { log.warn({ err: (err as Error).message }, 'could not replace a pseudonym\'s gateway; trying again later') })
        .finally(() => { replacing.delete(o.pseudonym.key) })
    }
  }

  /**
   * Puts another gateway from the directory in the place of each of `gone`
   * (never one the pseudonym already names, nor this node), persists the
   * list, re-signs the contact record (higher seq) and re-claims at every
   * gateway, so each holds and publishes the new record. A gateway with no
   * other to take its place is kept (it may come back).
   * @throws UMBRA_ERR_PSEUDONYM_FILE (the list could not be saved; nothing changed)
   */
  async function replaceGateways (o: Owned, gone: OwnedGateway[]): Promise<void> {
    const store = pseudonymStore
    if (store == null) return
    const p = o.pseudonym
    const next = [...p.gateways]
    const exclude = [ownKey, ...o.gateways.map((g) => g.nodeKey)]
    const moves: string[] = []
    for (const g of gone) {
      const [fresh] = (() => { try { return pickGateways(1, exclude) } catch { return [] } })()
      if (fresh == null) continue
      exclude.push(fresh.nodeKey)
      avoidGateway.set(hex(g.nodeKey), Date.now() + AVOID_GATEWAY_MS)
      next[next.indexOf(g.peerId)] = fresh.peerId
      moves.push(`${g.peerId} -> ${fresh.peerId}`)
    }
    if (moves.length === 0) return
    await store.setGateways(p.key, next)
    const stored = store.get(p.key)
    if (!running || stored == null || owned.get(p.key) !== o) return
    counters.gatewayReplacements += moves.length
    log.info({ moves }, 'replaced unreachable pseudonym gateways; re-publishing the contact record')
    await attach(stored, 'none')
  }

  // ---- receiving -------------------------------------------------------------

  /**
   * One fragment delivered by one of `o`'s gateways (`client`). Fragments
   * of a message are reassembled across gateways, and acknowledged each at
   * the gateway that delivered it once the message is whole.
   * De-duplication by message id (issue 11, item 4): a message already
   * reassembled (`seen`) is acknowledged and dropped, so a copy stored at a
   * second gateway (a sender that failed over after a lost acknowledgement)
   * never reaches the inbox push below twice.
   */
  function onFragmentDelivery (o: Owned, client: MailboxClient, d: Delivery): void {
    if (d.kind !== DELIVERY_FRAGMENT) { drop('malformed'); client.ack([d.id]); return }
    let f
    try {
      f = decodeFragment(d.data)
    } catch {
      drop('malformed')
      client.ack([d.id])
      return
    }
    const id = hex(f.messageId)
    if (seen.has(id)) { counters.duplicatesDropped++; client.ack([d.id]); return }
    const now = Date.now()
    for (const [k, r] of o.reassembly) if (now - r.startedAt > REASSEMBLY_TTL_MS) o.reassembly.delete(k)
    let r = o.reassembly.get(id)
    if (r == null) {
      r = { total: f.total, chunks: new Array(f.total), have: 0, deliveries: [], startedAt: now }
      o.reassembly.set(id, r)
    }
    if (r.total !== f.total) { drop('malformed'); client.ack([d.id]); return }
    r.deliveries.push({ client, id: d.id })
    if (r.chunks[f.index] == null) { r.chunks[f.index] = f.data; r.have++ }
    if (r.have < r.total) return
    o.reassembly.delete(id)
    seen.add(id)
    if (seen.size > SEEN_LIMIT) seen.delete(seen.values().next().value as string)
    for (const c of new Set(r.deliveries.map((x) => x.client))) c.ack(r.deliveries.filter((x) => x.client === c).map((x) => x.id))
    const sealed = Buffer.concat(r.chunks as Uint8Array[])
    if (sealed.byteLength < sodium.crypto_box_SEALBYTES) { drop('unreadable'); return }
    const plain = Buffer.alloc(sealed.byteLength - sodium.crypto_box_SEALBYTES)
    if (!sodium.crypto_box_seal_open(plain, sealed, Buffer.from(o.pseudonym.boxPublicKey), Buffer.from(o.pseudonym.boxSecretKey))) { drop('unreadable'); return }
    let msg: AnonymousMessagePb
    try {
      msg = AnonymousMessagePb.decode(plain, { limits: { surbs: MAX_REPLY_SURBS } })
      if (msg.version !== WIRE_VERSION || !uint8ArrayEquals(msg.id, f.messageId) || msg.body.byteLength > MAX_MESSAGE_BYTES) throw new Error('fields')
      if (msg.surbs.some((s) => s.byteLength !== SURB_SIZE) || (msg.ackSurb.byteLength !== 0 && msg.ackSurb.byteLength !== SURB_SIZE)) throw new Error('SURB length')
    } catch {
      drop('unreadable')
      return
    }
    const received: AnonymousMessage = { id, from: null, to: o.pseudonym.key, body: msg.body, sentAt: Number(msg.sentAt), receivedAt: Date.now(), repliesLeft: msg.surbs.length }
    replySurbs.set(id, { surbs: [...msg.surbs] })
    if (replySurbs.size > ANON_INBOX_LIMIT) replySurbs.delete(replySurbs.keys().next().value as string)
    inbox.push(received)
    if (inbox.length > ANON_INBOX_LIMIT) inbox.shift()
    events.safeDispatchEvent('anonymous:message', { detail: received })
    if (msg.ackSurb.byteLength === SURB_SIZE) {
      try {
        const { firstNode, packet } = createSurbReply(decodeSurb(msg.ackSurb), encodeReplyLayer({ kind: REPLY_DELIVERED, messageId: f.messageId, status: 0, data: new Uint8Array(0) }))
        void schedule.submit(async () => ({ first: firstNode, packet })).catch(() => { counters.acksFailed++ })
      } catch {
        drop('malformed')
      }
    }
  }

  function pruneSurbs (): void {
    const oldest = epochNow() - SURB_KEEP_EPOCHS
    for (const [k, e] of surbs) if (e.epoch < oldest) surbs.delete(k)
    for (const k of probes.sweep()) {
      const peer = directory.get(uint8ArrayFromString(k, 'base16'))?.peerId ?? k
      log.info({ mix: peer }, 'mix lost most loop probes through it; avoided for new paths')
    }
  }

  // ---- cover traffic (Loopix) --------------------------------------------------

  /** Runs one cover stream (Loopix loop or drop cover) at its Poisson rate, its events placed on the clock (src/mixnet/send-schedule.ts). */
  function scheduleCover (kind: 'loop' | 'drop', clock?: PoissonClock): void {
    const rate = kind === 'loop' ? parameters.loopRate : parameters.dropRate
    if (rate <= 0 || !running) return
    const c = clock ?? createPoissonClock(1000 / rate, expDelay)
    later(c.nextDelay(), () => {
      if (!running) return
      void sendCover(kind).catch((err) => { log.trace({ err: err.message }, 'cover packet not sent') })
      scheduleCover(kind, c)
    })
  }

  /**
   * Sends one loop or drop cover packet on this node's own Poisson stream
   * (Loopix): its first hop is this node's guard, like every packet it
   * originates, so cover and real packets share the first link.
   */
  async function sendCover (kind: 'loop' | 'drop'): Promise<void> {
    const hops = options.hops
    if (kind === 'loop') {
      const probeId = hex(randomBytes(8))
      const encoded = await makeSurb(hops, (k) => {
        if (k !== REPLY_LOOP) return
        counters.loopsReturned++
        probes.returned(probeId)
      }, [], (path) => { probes.sent(probeId, path) }, true)
      const { firstNode, packet } = createSurbReply(decodeSurb(encoded), encodeReplyLayer({ kind: REPLY_LOOP, messageId: randomBytes(16), status: 0, data: new Uint8Array(0) }))
      await emit({ first: firstNode, packet })
      counters.loopsSent++
      return
    }
    await emit(buildDropCover())
    counters.dropCoverSent++
  }

  /**
   * A drop cover packet: a random gateway discards it (flag 2). Fills the
   * payload stream's slots when no real packet waits (through the slot's
   * `lane`, so its gateway is drawn among the others), and the drop stream.
   * @throws UMBRA_ERR_NOT_ENOUGH_MIXES
   */
  function buildDropCover (lane?: Uint8Array): BuiltPacket {
    const hops = options.hops
    const gw = pickGateway(lane == null ? [ownKey] : [ownKey, lane])
    const fragment = encodeFragment({ messageId: randomBytes(16), index: 0, total: 1, data: randomBytes(FRAGMENT_DATA_SIZE) })
    return withEpoch((epoch) => {
      const mixes = pickMixes(hops, epoch, [ownKey, gw.nodeKey], [], true, 0, lane)
      return { first: (mixes[0] as MixNodeInfo).nodeKey, packet: createPacket({ epoch, hops: hopsTo(mixes, gw, epoch, { type: 'deliver', mailbox: randomBytes(32) }), body: encodeGatewayLayer(FLAG_DROP_COVER, undefined, fragment) }) }
    })
  }

  return service
}
