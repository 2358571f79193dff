import { lpStream } from '@libp2p/utils'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { withTimeout } from '../signals.ts'
import { AbortedError, UmbraError } from '../errors.ts'
import { encodeKey, parsePeer } from '../identity/index.ts'
import { ACK_DELIVERED, ACK_MALFORMED, ACK_RATE_LIMITED, DIRECT_MESSAGE_TOKEN_BYTES, DIRECT_MESSAGES_BURST, DIRECT_MESSAGES_PER_SECOND, ACK_TOO_LARGE, ACK_UNREADABLE, INBOX_LIMIT, MAX_ACK_BYTES, MAX_BODY_BYTES, MAX_ENVELOPE_BYTES, MESSAGE_PROTOCOL, MESSAGE_VERSION, RECEIVE_TIMEOUT_MS, SEND_TIMEOUT_MS } from './constants.ts'
import { DeliveryFailedError, InvalidRecipientError, MessageTooLargeError, UnreadableMessageError } from './errors.ts'
import { MessageAck } from './pb/message.ts'
import { openMessage, sealMessage } from './seal.ts'
import type { MessagingService, ReceivedMessage, SendOptions, SendReceipt } from './types.ts'
import { QUOTA_CODES, RateLimiter, type QuotaCounters } from '../quota.ts'
import type { Logger } from '../logger.ts'
import type { MetricsRecorder } from '../metrics/recorder.ts'
import { isRelayedAddr } from '../nat/nat-service.ts'
import type { Connection, Libp2p, PeerId, PrivateKey, Stream } from '@libp2p/interface'

/** What the messaging service needs from the node. */
export interface MessagingServiceComponents {
  libp2p: Libp2p
  privateKey: PrivateKey
  log: Logger
  /** Per-peer rate refusals are counted here (`direct-messages`). */
  quotas?: QuotaCounters
  /** Called once per message that decrypted and verified. */
  onMessage(message: ReceivedMessage): void
  /** Sent messages by path (direct or relayed connection) and failed sends are reported here (src/metrics). @default none */
  metrics?: MetricsRecorder
}

/** The messaging service with its lifecycle, as held by the node. */
export interface MessagingServiceHandle extends MessagingService {
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
  const inbox: ReceivedMessage[] = []
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
        const msg: ReceivedMessage = {
          id: uint8ArrayToString(opened.id, 'base16'),
          from: connection.remotePeer.toString(),
          fromKey: encodeKey(opened.senderKey),
          body: opened.body,
          sentAt: opened.sentAt,
          receivedAt: Date.now()
        }
        inbox.push(msg)
        if (inbox.length > INBOX_LIMIT) inbox.shift()
        onMessage(msg)
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

  return {
    async send (to: string, body: Uint8Array, options: SendOptions = {}): Promise<SendReceipt> {
      const started = performance.now()
      if (!(body instanceof Uint8Array)) throw new MessageTooLargeError('A message body must be bytes (Uint8Array)')
      if (body.byteLength > MAX_BODY_BYTES) {
        throw new MessageTooLargeError(`A message body is at most ${MAX_BODY_BYTES} bytes, got ${body.byteLength}`)
      }
      let peer: PeerId
      try {
        peer = parsePeer(to)
      } catch (err) {
        throw new InvalidRecipientError(`Not a PeerId or key_ key: ${(err as Error).message}`, { cause: err })
      }
      if (peer.type !== 'Ed25519' || peer.publicKey == null) throw new InvalidRecipientError('Only Ed25519 PeerIds can receive messages')
      if (peer.equals(libp2p.peerId)) throw new InvalidRecipientError('A node cannot send a direct message to itself')
      let sealed: { id: Uint8Array, envelope: Uint8Array }
      try {
        sealed = await sealMessage(privateKey, peer.publicKey.raw, body)
      } catch (err) {
        // A PeerId carries any 32 bytes as its key; one that is not an Ed25519 point has no X25519 key to seal to.
        throw new InvalidRecipientError('The recipient\'s key is not a valid Ed25519 public key', { cause: err })
      }
      const { id, envelope } = sealed
      const signal = withTimeout(options.signal, options.timeout ?? SEND_TIMEOUT_MS)
      let ack: MessageAck
      let relayed: boolean
      try {
        // libp2p.dialProtocol is this dial and newStream; the connection tells which path carried the message.
        const connection = await libp2p.dial(peer, { signal })
        relayed = isRelayedAddr(connection.remoteAddr.toString())
        const stream = await connection.newStream(MESSAGE_PROTOCOL, { signal, runOnLimitedConnection: true })
        const lp = lpStream(stream, { maxDataLength: MAX_ACK_BYTES })
        await lp.write(envelope, { signal })
        const ackBytes = (await lp.read({ signal })).subarray()
        ack = MessageAck.decode(ackBytes)
        if (ack.version !== MESSAGE_VERSION || !uint8ArrayEquals(MessageAck.encode(ack), ackBytes)) {
          throw new DeliveryFailedError(`Malformed acknowledgement (version ${ack.version})`)
        }
        await stream.close({ signal }).catch(() => {})
      } catch (err) {
        components.metrics?.sendFailed('direct')
        if (options.signal?.aborted === true) throw new AbortedError('send aborted', { cause: err })
        if (signal.aborted) throw new DeliveryFailedError(`No acknowledgement from ${peer.toString()} in time`, { cause: err })
        throw new DeliveryFailedError(`Could not deliver to ${peer.toString()}: ${(err as Error).message}`, { cause: err })
      }
      if (ack.status !== ACK_DELIVERED || !uint8ArrayEquals(ack.id, id)) {
        components.metrics?.sendFailed('direct')
        throw new DeliveryFailedError(ack.status !== ACK_DELIVERED ? ACK_TEXT[ack.status] ?? `the recipient answered status ${ack.status}` : 'The acknowledgement names another message')
      }
      components.metrics?.messageSent(relayed ? 'relayed' : 'direct')
      return { id: uint8ArrayToString(id, 'base16'), to: peer.toString(), rttMs: performance.now() - started }
    },

    inbox (): ReceivedMessage[] {
      return inbox.slice()
    },

    async start (): Promise<void> {
      // Relayed (limited) connections carry direct messages too: a client behind a NAT is reached through its relay.
      await libp2p.handle(MESSAGE_PROTOCOL, handle, { maxInboundStreams: 64, maxOutboundStreams: 64, runOnLimitedConnection: true })
    },

    async stop (): Promise<void> {
      await libp2p.unhandle(MESSAGE_PROTOCOL)
    }
  }
}
