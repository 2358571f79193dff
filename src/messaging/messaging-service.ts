import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { withTimeout } from '../signals.ts'
import { AbortedError, UmbraError } from '../errors.ts'
import { encodeKey, parsePeer } from '../identity/index.ts'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { ACK_DELIVERED, ACK_MALFORMED, ACK_RATE_LIMITED, DIRECT_DIAL_TIMEOUT_MS, DIRECT_MESSAGE_TOKEN_BYTES, DIRECT_MESSAGES_BURST, DIRECT_MESSAGES_PER_SECOND, ACK_TOO_LARGE, PATH_DIAL_TIMEOUT_MS, QUEUE_LOOKUP_TIMEOUT_MS, ACK_UNREADABLE, INBOX_LIMIT, MAX_ACK_BYTES, MAX_BODY_BYTES, MAX_ENVELOPE_BYTES, MESSAGE_PROTOCOL, MESSAGE_VERSION, OFFLINE_DRAIN_GAP_MS, OFFLINE_POLL_INTERVAL_MS, OFFLINE_PROTOCOL, OFFLINE_STREAM_TIMEOUT_MS, RECEIVE_TIMEOUT_MS, SEND_TIMEOUT_MS } from './constants.ts'
import { DeliveryFailedError, InvalidRecipientError, MessageTooLargeError, UnreadableMessageError } from './errors.ts'
import { createInbox, type InboxHandle } from './inbox.ts'
import { createOfflineQueue, type OfflineQueueLimits, type QueuedItem } from './offline-queue.ts'
import { MessageAck } from './pb/message.ts'
import { openMessage, sealMessage, type OpenedMessage } from './seal.ts'
import type { DeliveryPath, MessagingService, ReceivedMessage, SendOptions, SendReceipt } from './types.ts'
import { InvalidOptionError } from '../errors.ts'
import { QUOTA_CODES, RateLimiter, type QuotaCounters } from '../quota.ts'
import { openStateDatabase, type StateDatabase } from '../store/database.ts'
import type { Logger } from '../logger.ts'
import type { KadDHT } from '@libp2p/kad-dht'
import type { MetricsRecorder } from '../metrics/recorder.ts'
import { multiaddr } from '@multiformats/multiaddr'
import { PathRanker, pathKey, pathKind, type PathCandidate, type PathKind, type RankedPath } from './path-ranking.ts'
import type { Connection, Libp2p, PeerId, PrivateKey, Stream } from '@libp2p/interface'

/** What the messaging service needs from the node. */
export interface MessagingServiceComponents {
  libp2p: Libp2p
  privateKey: PrivateKey
  log: Logger
  /** Per-peer rate refusals are counted here (`direct-messages`). */
  quotas?: QuotaCounters
  /** Called once per new message that decrypted and verified (not for a copy of one already received). */
  onMessage(message: ReceivedMessage): void
  /** Where the inbox and (on a server) the offline queues live; an in-memory database when absent. */
  state?: StateDatabase
  /** Finds the k closest server nodes to a recipient (its offline queue servers). */
  kad?: KadDHT
  /** Serve offline queues for others (server nodes). @default false */
  server?: boolean
  /** Per-recipient limits of the queues this node serves (seed 001 defaults). */
  queueLimits?: Partial<OfflineQueueLimits>
  /** How often to fetch this node's own offline queue, ms. @default OFFLINE_POLL_INTERVAL_MS */
  pollInterval?: number
  /**
   * The servers the recipient's peer record names for its offline queue
   * (PeerId strings; issue 11); empty or rejected: the 3 servers closest to its key. @default none
   */
  queueServersOf?: (peer: PeerId, signal: AbortSignal) => Promise<string[]>
  /**
   * The X25519 key a secp256k1 (wallet) recipient's peer record publishes
   * (issue 14, item 3): direct messages to such a node are sealed to it. @default none (such recipients are refused)
   */
  encryptionKeyOf?: (peer: PeerId, signal: AbortSignal) => Promise<Uint8Array | undefined>
  /** The queue servers this node's own published peer record names: fetched from besides the closest ones. @default none */
  publishedQueueServers?: () => string[]
  /** Sent messages by path (direct or relayed connection, or queued) and failed sends are reported here (src/metrics). @default none */
  metrics?: MetricsRecorder
}

/** The messaging service with its lifecycle, as held by the node. */
export interface MessagingServiceHandle extends MessagingService {
  /** The durable inbox of every kind (the mixnet's messages and replies are written here too). */
  readonly store: InboxHandle
  /** The k (3) closest servers to this node serving the offline queue: what its peer record names (PeerId strings). */
  ownQueueServers(signal: AbortSignal): Promise<string[]>
  start(): Promise<void>
  stop(): Promise<void>
}

const ACK_TEXT: Record<number, string> = {
  [ACK_MALFORMED]: 'the recipient could not parse the message',
  [ACK_TOO_LARGE]: 'the recipient refused the message as too large',
  [ACK_UNREADABLE]: 'the recipient could not decrypt or verify the message',
  [ACK_RATE_LIMITED]: `the recipient refused the message: over its per-peer rate (${QUOTA_CODES['direct-messages']})`
}


/**
 * Creates the direct messaging service on `/umbra/msg/1.0.0` (seed 001,
 * delivery path 1). One stream per message: the sender writes one
 * length-prefixed MessageEnvelope, the recipient answers one MessageAck
 * (status 0 = delivered) after the message decrypted and verified.
 * docs/messaging.md has the sequence and byte layout.
 */
export function createMessagingService (components: MessagingServiceComponents): MessagingServiceHandle {
  const { libp2p, privateKey, log, onMessage } = components
  const ownState = components.state == null
  const state = components.state ?? openStateDatabase({ path: ':memory:' })
  const inbox = createInbox({ state, log })
  const queue = createOfflineQueue({ libp2p, kad: components.kad, state, server: components.server ?? false, log, limits: components.queueLimits })
  const pollInterval = components.pollInterval ?? OFFLINE_POLL_INTERVAL_MS
  let pollTimer: ReturnType<typeof setInterval> | undefined
  let draining: Promise<number> | undefined
  let lastDrain = 0
  const stopping = new AbortController()
  let stopIdentify = (): void => {}
  const ranker = new PathRanker()
  const rate = new RateLimiter({ ratePerSecond: DIRECT_MESSAGES_PER_SECOND, burst: DIRECT_MESSAGES_BURST })

  async function handle (stream: Stream, connection: Connection): Promise<void> {
    const signal = AbortSignal.timeout(RECEIVE_TIMEOUT_MS)
    const lp = lpStream(stream, { maxDataLength: MAX_ENVELOPE_BYTES })
    let status = ACK_DELIVERED
    let id: Uint8Array = new Uint8Array(0)
    try {
      // Over its rate, a peer's message is answered unread: no decryption spent on it.
      const peer = connection.remotePeer.toString()
      const refuse = async (): Promise<void> => {
        components.quotas?.refuse('direct-messages')
        log.debug({ code: QUOTA_CODES['direct-messages'] }, 'refused a direct message')
        await lp.write(MessageAck.encode({ version: MESSAGE_VERSION, id: new Uint8Array(0), status: ACK_RATE_LIMITED }), { signal })
        await stream.close({ signal })
      }
      if (!rate.take(peer)) {
        await refuse()
        return
      }
      const frame = (await lp.read({ signal })).subarray()
      // Large envelopes cost more: one more token per full DIRECT_MESSAGE_TOKEN_BYTES.
      const extra = Math.floor(frame.byteLength / DIRECT_MESSAGE_TOKEN_BYTES)
      if (extra > 0 && !rate.take(peer, extra)) {
        await refuse()
        return
      }
      try {
        const opened = await openMessage(privateKey, frame)
        id = opened.id
        // The sender's signed key must be the key the connection authenticated (Noise).
        if (!uint8ArrayEquals(opened.senderKey, connection.remotePeer.publicKey?.raw ?? new Uint8Array())) {
          throw new UnreadableMessageError('Signer is not the connected peer')
        }
        // A copy of a message already received (a retry after a lost acknowledgement) is acknowledged again, not stored twice.
        store(opened)
      } catch (err) {
        status = err instanceof MessageTooLargeError ? ACK_TOO_LARGE : err instanceof UnreadableMessageError ? ACK_UNREADABLE : ACK_MALFORMED
        log.debug({ code: (err as UmbraError).code }, 'refused a direct message')
      }
      await lp.write(MessageAck.encode({ version: MESSAGE_VERSION, id: id as Uint8Array<ArrayBuffer>, status }), { signal })
      await stream.close({ signal })
    } catch (err) {
      // Oversized frame, timeout or reset: nothing was accepted, so nothing is lost.
      log.debug({ err: (err as Error).message }, 'direct message stream failed')
      stream.abort(err as Error)
    }
  }

  /** Stores an opened message in the inbox and emits it, unless its id from this sender was already received. */
  function store (opened: OpenedMessage): void {
    const msg: ReceivedMessage = {
      id: uint8ArrayToString(opened.id, 'base16'),
      from: peerIdFromPublicKey(publicKeyFromRaw(opened.senderKey)).toString(),
      fromKey: encodeKey(opened.senderKey),
      body: opened.body,
      sentAt: opened.sentAt,
      receivedAt: Date.now()
    }
    if (inbox.addDirect(msg)) onMessage(msg)
  }

  /** Opens a queued envelope, stores it unless already received; returns the ids to acknowledge at the server. */
  async function acceptQueued (items: QueuedItem[]): Promise<Uint8Array[]> {
    const done: Uint8Array[] = []
    for (const item of items) {
      try {
        const opened = await openMessage(privateKey, item.envelope)
        if (!uint8ArrayEquals(opened.id, item.id)) throw new UnreadableMessageError('The queued id is not the sealed id')
        store(opened)
      } catch (err) {
        // Not for this node or tampered: it can never be read, so it is acknowledged (deleted) too.
        log.debug({ server: item.server, code: (err as UmbraError).code }, 'dropped an unreadable queued message')
      }
      done.push(item.id)
    }
    return done
  }

  async function drain (signal?: AbortSignal): Promise<number> {
    if (draining != null) return await draining
    lastDrain = Date.now()
    const before = inbox.size()
    draining = queue.drain(acceptQueued, withTimeout(signal ?? stopping.signal, SEND_TIMEOUT_MS), components.publishedQueueServers?.())
      .then(() => Math.max(0, inbox.size() - before))
      .finally(() => { draining = undefined })
    return await draining
  }

  /** Writes the envelope on one stream of `conn` and checks the recipient's acknowledgement. */
  async function deliverOn (conn: Connection, id: Uint8Array, envelope: Uint8Array, signal: AbortSignal): Promise<void> {
    const stream = await conn.newStream(MESSAGE_PROTOCOL, { signal, runOnLimitedConnection: true })
    const lp = lpStream(stream, { maxDataLength: MAX_ACK_BYTES })
    await lp.write(envelope, { signal })
    const ackBytes = (await lp.read({ signal })).subarray()
    const ack = MessageAck.decode(ackBytes)
    if (ack.version !== MESSAGE_VERSION || !uint8ArrayEquals(MessageAck.encode(ack), ackBytes)) {
      throw new DeliveryFailedError(`Malformed acknowledgement (version ${ack.version})`)
    }
    await stream.close({ signal }).catch(() => {})
    if (ack.status !== ACK_DELIVERED) throw new RefusedError(ACK_TEXT[ack.status] ?? `the recipient answered status ${ack.status}`)
    if (!uint8ArrayEquals(ack.id, id)) throw new RefusedError('The acknowledgement names another message')
  }

  /** The paths to `peer` this node can use now: its open connections (WebRTC ones included) and the non-WebRTC addresses the peer store knows. */
  async function candidatesOf (peer: PeerId): Promise<PathCandidate[]> {
    const out: PathCandidate[] = libp2p.getConnections(peer).filter((c) => c.status === 'open').map((c) => ({ addr: c.remoteAddr.toString(), connected: true }))
    try {
      for (const a of (await libp2p.peerStore.get(peer)).addresses) {
        const addr = a.multiaddr.toString()
        // A WebRTC connection is set up by a hole punch (nat.holePunch), not by a send: a WebRTC dial cut short by the
        // per-path timeout could leave its native peer connection behind (seen under load: the process could not exit).
        if (addr.includes('/webrtc')) continue
        out.push({ addr, connected: false })
      }
    } catch {
      // Not in the peer store: only open connections, or libp2p's own peer routing (below).
    }
    return out
  }

  /**
   * Delivers over the best ranked path that works, recording each attempt's
   * outcome and round trip (ms) in the ranking; without any known path, lets
   * libp2p find one (peer routing). Dials share `dialBudget`.
   * @returns the kind of the path that carried it
   * @throws RefusedError when the recipient answered and refused; the last path's error when none worked
   */
  async function deliverRanked (peer: PeerId, id: Uint8Array, envelope: Uint8Array, signal: AbortSignal, dialBudget: AbortSignal): Promise<PathKind> {
    const peerStr = peer.toString()
    const candidates = await candidatesOf(peer)
    const ranked = ranker.rank(peerStr, candidates)
    let last: unknown = new DeliveryFailedError('No known address')
    const attempt = async (addr: string | undefined, open: () => Promise<Connection>): Promise<PathKind> => {
      let key = addr
      const t0 = performance.now()
      try {
        const conn = await open()
        key = pathKey(conn.remoteAddr.toString(), peerStr)
        const sent = performance.now()
        await deliverOn(conn, id, envelope, signal)
        ranker.record(peerStr, key, performance.now() - sent)
        return pathKind(key)
      } catch (err) {
        if (!(err instanceof RefusedError) && key != null) ranker.record(peerStr, key, undefined)
        log.debug({ to: peerStr, path: key, ms: Math.round(performance.now() - t0), err: (err as Error).message }, 'path failed')
        throw err
      }
    }
    for (const path of ranked) {
      if (dialBudget.aborted) break
      try {
        return await attempt(path.addr, async () => {
          const open = libp2p.getConnections(peer).find((c) => c.status === 'open' && pathKey(c.remoteAddr.toString(), peerStr) === path.addr)
          if (open != null) return open
          // `force`: this address, not whichever connection to the peer is open (that one ranked lower).
          return await libp2p.dial(multiaddr(`${path.addr}/p2p/${peerStr}`), { signal: AbortSignal.any([dialBudget, AbortSignal.timeout(PATH_DIAL_TIMEOUT_MS)]), force: true })
        })
      } catch (err) {
        if (err instanceof RefusedError) throw err
        last = err
      }
    }
    if (ranked.length > 0) throw last
    // No path known: libp2p's own choice (peer routing, the registry), direct addresses before relayed ones.
    return await attempt(undefined, async () => await libp2p.dial(peer, { signal: dialBudget }))
  }

  return {
    store: inbox,

    async ownQueueServers (signal: AbortSignal): Promise<string[]> {
      return await queue.ownServers(signal)
    },

    async send (to: string, body: Uint8Array, options: SendOptions = {}): Promise<SendReceipt> {
      const started = performance.now()
      if (!(body instanceof Uint8Array)) throw new MessageTooLargeError('A message body must be bytes (Uint8Array)')
      if (body.byteLength > MAX_BODY_BYTES) {
        throw new MessageTooLargeError(`A message body is at most ${MAX_BODY_BYTES} bytes, got ${body.byteLength}`)
      }
      if (options.id !== undefined && (typeof options.id !== 'string' || !/^[0-9a-f]{32}$/.test(options.id))) {
        throw new InvalidOptionError('options.id must be a message id of 32 lowercase hex characters')
      }
      let peer: PeerId
      try {
        peer = parsePeer(to)
      } catch (err) {
        throw new InvalidRecipientError(`Not a PeerId or key_ key: ${(err as Error).message}`, { cause: err })
      }
      if ((peer.type !== 'Ed25519' && peer.type !== 'secp256k1') || peer.publicKey == null) throw new InvalidRecipientError('Only Ed25519 and secp256k1 PeerIds can receive messages')
      if (peer.equals(libp2p.peerId)) throw new InvalidRecipientError('A node cannot send a direct message to itself')
      // A wallet (secp256k1) node has no X25519 form of its key: seal to the X25519 key its signed peer record publishes.
      let sealTo: Uint8Array | undefined
      if (peer.type === 'secp256k1') {
        sealTo = await components.encryptionKeyOf?.(peer, withTimeout(options.signal, QUEUE_LOOKUP_TIMEOUT_MS)).catch(() => undefined)
        if (sealTo == null) throw new InvalidRecipientError(`${peer.toString()} is a secp256k1 (wallet) node and no peer record with its encryption key was found`)
      }
      let sealed: { id: Uint8Array, envelope: Uint8Array }
      try {
        sealed = await sealMessage(privateKey, peer.publicKey.raw, body, Date.now(), options.id != null ? uint8ArrayFromString(options.id, 'base16') : undefined, sealTo)
      } catch (err) {
        // A PeerId carries any 32 bytes as its key; one that is not an Ed25519 point has no X25519 key to seal to.
        throw new InvalidRecipientError('The recipient\'s key is not a valid Ed25519 public key', { cause: err })
      }
      // One id and one envelope for every path: the recipient de-duplicates by id whichever copy arrives.
      const { id, envelope } = sealed
      const idHex = uint8ArrayToString(id, 'base16')
      const signal = withTimeout(options.signal, options.timeout ?? SEND_TIMEOUT_MS)
      const receipt = (path: DeliveryPath, servers?: string[]): SendReceipt => ({ id: idHex, to: peer.toString(), path, ...(servers != null ? { servers } : {}), rttMs: performance.now() - started })
      const aborted = (): boolean => options.signal?.aborted === true
      let reason: unknown
      try {
        // Paths 1 and 3, best ranked first (seed 002's path ranking): open connections and known addresses of the peer.
        const dialBudget = AbortSignal.any([signal, AbortSignal.timeout(DIRECT_DIAL_TIMEOUT_MS)])
        const delivered = await deliverRanked(peer, id, envelope, signal, dialBudget)
        components.metrics?.messageSent(delivered)
        return receipt(delivered)
      } catch (err) {
        if (aborted()) {
          components.metrics?.sendFailed('direct')
          throw new AbortedError('send aborted', { cause: err })
        }
        // The recipient answered and refused: queuing the same bytes would be refused again.
        if (err instanceof RefusedError) {
          components.metrics?.sendFailed('direct')
          throw new DeliveryFailedError(err.message, { cause: err })
        }
        reason = err
      }
      // Path 4: unreachable (or no acknowledgement): the sealed message waits in the recipient's offline queue.
      log.debug({ to: peer.toString(), err: (reason as Error).message }, 'recipient unreachable; queuing the message')
      try {
        // A fresh budget: the direct attempt may have used up the send's time limit on a connection that was dead.
        const queueSignal = withTimeout(options.signal, OFFLINE_STREAM_TIMEOUT_MS)
        // Where the recipient's peer record says its queue lives; an older record (or none) names no server.
        const named = await components.queueServersOf?.(peer, AbortSignal.any([queueSignal, AbortSignal.timeout(QUEUE_LOOKUP_TIMEOUT_MS)])).catch((err: Error) => {
          log.debug({ to: peer.toString(), err: err.message }, 'no queue servers from the recipient\'s peer record; using the closest servers')
          return undefined
        })
        const servers = await queue.store(peer, id, envelope, queueSignal, named)
        components.metrics?.messageSent('queued')
        return receipt('queued', servers)
      } catch (err) {
        // Neither delivered nor queued (umbra_message_send_failures_total).
        components.metrics?.sendFailed('direct')
        if (aborted()) throw new AbortedError('send aborted', { cause: err })
        if (err instanceof UmbraError && err.code !== DeliveryFailedError.code) throw err
        const why = signal.aborted ? 'no acknowledgement in time' : (reason as Error).message
        throw new DeliveryFailedError(`Could not deliver to ${peer.toString()} (${why}), nor queue it: ${(err as Error).message}`, { cause: err })
      }
    },

    async paths (to: string): Promise<RankedPath[]> {
      let peer: PeerId
      try {
        peer = parsePeer(to)
      } catch (err) {
        throw new InvalidRecipientError(`Not a PeerId or key_ key: ${(err as Error).message}`, { cause: err })
      }
      return ranker.rank(peer.toString(), await candidatesOf(peer))
    },

    inbox (): ReceivedMessage[] {
      const out: ReceivedMessage[] = []
      for (const m of inbox.list({ limit: INBOX_LIMIT }).messages) if (m.kind === 'direct') out.push(m)
      return out.reverse()
    },

    async drainOfflineQueue (options = {}) {
      return await drain(options.signal)
    },

    async start (): Promise<void> {
      // Relayed (limited) connections carry direct messages too: a client behind a NAT is reached through its relay.
      await libp2p.handle(MESSAGE_PROTOCOL, handle, { maxInboundStreams: 64, maxOutboundStreams: 64, runOnLimitedConnection: true })
      await queue.start()
      // Messages left while this node was away: fetched once its first queue server is identified (below), then periodically.
      const poll = (): void => { void drain().catch((err) => { log.debug({ err: err.message }, 'offline queue fetch failed') }) }
      pollTimer = setInterval(poll, pollInterval)
      pollTimer.unref()
      // A node coming back learns its queue servers as they connect: the first one identified triggers a fetch.
      libp2p.addEventListener('peer:identify', onIdentify)
      function onIdentify (evt: CustomEvent<{ protocols: string[] }>): void {
        if (evt.detail.protocols.includes(OFFLINE_PROTOCOL) && Date.now() - lastDrain >= OFFLINE_DRAIN_GAP_MS) poll()
      }
      stopIdentify = () => { libp2p.removeEventListener('peer:identify', onIdentify) }
    },

    async stop (): Promise<void> {
      clearInterval(pollTimer)
      stopIdentify()
      stopping.abort()
      await draining?.catch(() => {})
      await queue.stop()
      await libp2p.unhandle(MESSAGE_PROTOCOL)
      if (ownState) state.close()
    }
  }
}

/** The recipient answered and refused the message (a status other than delivered). */
class RefusedError extends Error {}
