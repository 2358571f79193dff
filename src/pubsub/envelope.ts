/**
 * The signed pub/sub envelope (issue 13 item 1; DESIGN.md section 5b): what
 * every GossipSub message on an Umbra topic carries as its data. GossipSub
 * runs with `StrictNoSign`, so nothing GossipSub adds names a PeerId; the
 * publisher (a node key or a pseudonym key, or nobody for an anonymous
 * message) signs the envelope itself, and the envelope's random message id is
 * GossipSub's `msgId` and the de-duplication key everywhere (live, history,
 * the central bridge).
 *
 * Layout (src/pubsub/pb/pubsub.proto, docs/pubsub.md "Envelope"):
 * `PubSubEnvelope { version, topic, id (16 B), publisher (32 B or empty),
 * timestamp (ms), data, signature (64 B or empty) }`; the signature is
 * Ed25519 (libp2p's `PrivateKey.sign`, RFC 8032) over the protobuf encoding
 * of `PubSubSignable { domain = "umbra/pubsub/v1", version, topic, id,
 * publisher, timestamp, data }`.
 *
 * @example
 * ```ts
 * const env = await signEnvelope({ topic: 'news', data: bytes, privateKey })
 * const wire = encodeEnvelope(env)
 * const back = decodeEnvelope(wire)            // throws on bad input
 * if (!(await verifyEnvelope(back))) reject()  // forged
 * ```
 */
import { randomBytes } from 'node:crypto'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { encodeKey } from '../identity/keys.ts'
import {
  DEFAULT_MAX_MESSAGE_BYTES, ENVELOPE_SIGNATURE_DOMAIN, ENVELOPE_VERSION, MAX_TOPIC_BYTES, MESSAGE_ID_BYTES, PUBLISHER_KEY_BYTES,
  SIGNATURE_BYTES
} from './constants.ts'
import { InvalidEnvelopeError, InvalidTopicError, PubSubMessageTooLargeError } from './errors.ts'
import { PubSubEnvelope, PubSubSignable } from './pb/pubsub.ts'
import type { PrivateKey } from '@libp2p/interface'

export { PubSubEnvelope } from './pb/pubsub.ts'
export {
  DEFAULT_MAX_MESSAGE_BYTES, ENVELOPE_SIGNATURE_DOMAIN, ENVELOPE_VERSION, MAX_TOPIC_BYTES, MESSAGE_ID_BYTES, PUBLISHER_KEY_BYTES, SIGNATURE_BYTES
} from './constants.ts'

const encoder = new TextEncoder()

/**
 * Checks a topic name: a string of 1 to {@link MAX_TOPIC_BYTES} bytes of UTF-8.
 * @returns the topic unchanged
 * @throws UMBRA_ERR_PUBSUB_INVALID_TOPIC
 */
export function checkTopic (topic: string): string {
  if (typeof topic !== 'string') throw new InvalidTopicError('A topic is a string')
  const n = encoder.encode(topic).byteLength
  if (n < 1 || n > MAX_TOPIC_BYTES) throw new InvalidTopicError(`A topic is 1 to ${MAX_TOPIC_BYTES} bytes of UTF-8, this one is ${n}`)
  return topic
}

/** A fresh message id: {@link MESSAGE_ID_BYTES} random bytes (node:crypto). */
export function newMessageId (): Uint8Array<ArrayBuffer> {
  return new Uint8Array(randomBytes(MESSAGE_ID_BYTES))
}

/** The text form of a message id: lowercase hex, 32 characters (API, logs, de-duplication maps). */
export function messageIdText (id: Uint8Array): string {
  return uint8ArrayToString(id, 'base16')
}

/** The `key_…` form of an envelope's publisher, or `undefined` for an unsigned (anonymous) envelope. */
export function publisherKey (envelope: PubSubEnvelope): string | undefined {
  return envelope.publisher.byteLength === 0 ? undefined : encodeKey(envelope.publisher)
}

/** The bytes the publisher signs: the domain-separated encoding of every field but the signature. */
function signable (e: PubSubEnvelope): Uint8Array<ArrayBuffer> {
  return PubSubSignable.encode({
    domain: ENVELOPE_SIGNATURE_DOMAIN,
    version: e.version,
    topic: e.topic,
    id: e.id,
    publisher: e.publisher,
    timestamp: e.timestamp,
    data: e.data
  })
}

/** What {@link signEnvelope} builds an envelope from. */
export interface SignEnvelopeInit {
  /** Topic, 1 to 256 bytes of UTF-8. */
  topic: string
  /** Application bytes. */
  data: Uint8Array
  /** Ed25519 key that signs (node key or pseudonym key); omitted: an unsigned envelope with no publisher (anonymous). */
  privateKey?: PrivateKey
  /** Message id, 16 bytes. @default 16 random bytes */
  id?: Uint8Array
  /** Publish time, ms since the Unix epoch. @default Date.now() */
  timestamp?: number
  /** Largest encoded envelope, bytes. @default 1 MiB */
  maxBytes?: number
}

/**
 * Builds an envelope and signs it with `privateKey` (Ed25519 over the
 * domain-separated signable, see the module comment).
 * @returns the envelope; {@link encodeEnvelope} gives its wire bytes
 * @throws UMBRA_ERR_PUBSUB_INVALID_TOPIC, UMBRA_ERR_PUBSUB_MESSAGE_TOO_LARGE
 *   (encoded size over `maxBytes`), UMBRA_ERR_PUBSUB_INVALID_ENVELOPE (a key
 *   that is not Ed25519, an id that is not 16 bytes)
 */
export async function signEnvelope (init: SignEnvelopeInit): Promise<PubSubEnvelope> {
  checkTopic(init.topic)
  const id = init.id ?? newMessageId()
  if (id.byteLength !== MESSAGE_ID_BYTES) throw new InvalidEnvelopeError(`A message id is ${MESSAGE_ID_BYTES} bytes`)
  if (init.privateKey != null && init.privateKey.type !== 'Ed25519') throw new InvalidEnvelopeError('Pub/sub messages are signed with Ed25519 keys')
  const envelope: PubSubEnvelope = {
    version: ENVELOPE_VERSION,
    topic: init.topic,
    id: new Uint8Array(id),
    publisher: init.privateKey == null ? new Uint8Array(0) : new Uint8Array(init.privateKey.publicKey.raw),
    timestamp: BigInt(Math.floor(init.timestamp ?? Date.now())),
    data: init.data as Uint8Array<ArrayBuffer>,
    signature: new Uint8Array(0)
  }
  if (init.privateKey != null) envelope.signature = new Uint8Array(await init.privateKey.sign(signable(envelope)))
  const size = encodeEnvelope(envelope).byteLength
  const max = init.maxBytes ?? DEFAULT_MAX_MESSAGE_BYTES
  if (size > max) throw new PubSubMessageTooLargeError(`The message encodes to ${size} bytes, over the limit of ${max}`)
  return envelope
}

/** The wire bytes of an envelope (protobuf, src/pubsub/pb/pubsub.proto). */
export function encodeEnvelope (envelope: PubSubEnvelope): Uint8Array<ArrayBuffer> {
  return PubSubEnvelope.encode(envelope)
}

/**
 * Decodes and checks the shape of an envelope: size before decoding, then
 * version, id length, publisher and signature lengths. Does NOT check the
 * signature (see {@link verifyEnvelope}) nor the time.
 * @param bytes - wire bytes from the network or the store
 * @param maxBytes - largest accepted size, bytes. @default 1 MiB
 * @throws UMBRA_ERR_PUBSUB_MESSAGE_TOO_LARGE, UMBRA_ERR_PUBSUB_INVALID_ENVELOPE
 */
export function decodeEnvelope (bytes: Uint8Array, maxBytes: number = DEFAULT_MAX_MESSAGE_BYTES): PubSubEnvelope {
  if (bytes.byteLength > maxBytes) throw new PubSubMessageTooLargeError(`The message is ${bytes.byteLength} bytes, over the limit of ${maxBytes}`)
  let e: PubSubEnvelope
  try {
    e = PubSubEnvelope.decode(bytes)
  } catch (err) {
    throw new InvalidEnvelopeError('The pub/sub envelope does not decode', { cause: err })
  }
  if (e.version !== ENVELOPE_VERSION) throw new InvalidEnvelopeError(`Unknown pub/sub envelope version ${e.version}`)
  try {
    checkTopic(e.topic)
  } catch (err) {
    throw new InvalidEnvelopeError('The envelope topic is not a topic', { cause: err })
  }
  if (e.id.byteLength !== MESSAGE_ID_BYTES) throw new InvalidEnvelopeError(`A message id is ${MESSAGE_ID_BYTES} bytes`)
  const signed = e.publisher.byteLength !== 0
  if (signed && e.publisher.byteLength !== PUBLISHER_KEY_BYTES) throw new InvalidEnvelopeError(`A publisher key is ${PUBLISHER_KEY_BYTES} bytes`)
  if (signed ? e.signature.byteLength !== SIGNATURE_BYTES : e.signature.byteLength !== 0) {
    throw new InvalidEnvelopeError(`A signed envelope carries a ${SIGNATURE_BYTES}-byte signature, an unsigned one none`)
  }
  if (e.timestamp > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidEnvelopeError('The timestamp is out of range')
  return e
}

/**
 * Checks the publisher's signature. An unsigned envelope (no publisher,
 * anonymous) has nothing to verify and returns `true`: whether to accept
 * those is the caller's policy.
 * @returns `false` when the signature does not verify (forged or altered)
 */
export async function verifyEnvelope (envelope: PubSubEnvelope): Promise<boolean> {
  if (envelope.publisher.byteLength === 0) return envelope.signature.byteLength === 0
  try {
    return await publicKeyFromRaw(envelope.publisher).verify(signable(envelope), envelope.signature)
  } catch {
    return false
  }
}
