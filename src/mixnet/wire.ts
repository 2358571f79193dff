/**
 * The schema module of the mixnet's fixed-size payload layers: what travels
 * inside a Sphinx body (docs/mixnet.md has the byte tables). Every layout is
 * checked for version and lengths before anything is read; decoders throw
 * `UMBRA_ERR_MIXNET_MALFORMED` and never read past the buffer.
 *
 * - gateway layer: the 3,379-byte body a gateway gets from a DELIVER hop:
 *   an optional SURB for the fragment acknowledgement and one fragment.
 * - fragment: what a gateway stores and hands to the mailbox owner.
 * - reply layer: the body of a packet sent through a SURB (acknowledgements,
 *   replies, loop cover, contact lookup answers).
 * - lookup request: what a gateway layer with {@link FLAG_LOOKUP} carries in
 *   the fragment slot (issue 8: contact lookups through the mixnet).
 */
import { BODY_SIZE, SURB_SIZE } from './sphinx/index.ts'
import { WIRE_VERSION } from './constants.ts'
import { MixnetMalformedError } from './errors.ts'

/** Gateway layer flags. */
export const FLAG_HAS_ACK_SURB = 1
export const FLAG_DROP_COVER = 2
/** The fragment slot holds a contact lookup request ({@link encodeLookupRequest}); an ack SURB carries the answer back. */
export const FLAG_LOOKUP = 4
/**
 * The fragment slot holds a pub/sub envelope ({@link encodePubsubPublish}) for the exit to publish on
 * GossipSub (issue 13, item 2: anonymous publishing); an ack SURB, when present, carries {@link REPLY_PUBLISHED} back.
 */
export const FLAG_PUBSUB = 8

/** Fragment header: messageId 16 | index u16 | total u16 | length u16. */
export const FRAGMENT_HEADER_SIZE = 16 + 2 + 2 + 2
/** Gateway layer header: version u8 | flags u8 | ack SURB (SURB_SIZE, zero when absent). */
export const GATEWAY_HEADER_SIZE = 2 + SURB_SIZE
/** Bytes of message data one forward packet carries (2,589 with Sphinx v1). */
export const FRAGMENT_DATA_SIZE = BODY_SIZE - GATEWAY_HEADER_SIZE - FRAGMENT_HEADER_SIZE
/** Most fragments of one message (a 1 MiB body sealed, with SURBs, fits in about 410). */
export const MAX_FRAGMENTS = 1024

/** Reply layer header: version u8 | kind u8 | messageId 16 | status u8 | length u16. */
export const REPLY_HEADER_SIZE = 1 + 1 + 16 + 1 + 2
/** Bytes of reply data one SURB packet carries (3,358 with Sphinx v1). */
export const REPLY_DATA_SIZE = BODY_SIZE - REPLY_HEADER_SIZE

/** Reply layer kinds. */
export const REPLY_FRAGMENT_ACK = 1
export const REPLY_DELIVERED = 2
export const REPLY_DATA = 3
export const REPLY_LOOP = 4
/** A gateway's answer to a contact lookup: status {@link LOOKUP_FOUND} with the signed record as data, or {@link LOOKUP_NOT_FOUND}. */
export const REPLY_LOOKUP = 5
/** An exit's answer to an anonymous publish: status {@link PUBLISH_OK} or {@link PUBLISH_REFUSED}; message id = the envelope's id. */
export const REPLY_PUBLISHED = 6

/** Anonymous publish slot: length u16 | envelope. */
export const PUBSUB_SLOT_HEADER_SIZE = 2
/** Largest pub/sub envelope one anonymous publish carries, bytes (2,609 with Sphinx v1: one packet, no fragmentation). */
export const MAX_ANONYMOUS_ENVELOPE_BYTES = BODY_SIZE - GATEWAY_HEADER_SIZE - PUBSUB_SLOT_HEADER_SIZE
/** Anonymous publish answer statuses (exit → publisher). */
export const PUBLISH_OK = 0
/** The exit refused the envelope (does not decode or verify, or the exit runs no pub/sub). */
export const PUBLISH_REFUSED = 1

/** Contact lookup request: requestId 16 | pseudonym (Ed25519 public key) 32. */
export const LOOKUP_REQUEST_SIZE = 16 + 32
/** Contact lookup answer statuses (gateway → sender). */
export const LOOKUP_FOUND = 0
export const LOOKUP_NOT_FOUND = 1

/** Fragment acknowledgement statuses (gateway → sender). */
export const ACK_STORED = 0
export const ACK_REFUSED_MESSAGES = 1
export const ACK_REFUSED_BYTES = 2
export const ACK_UNKNOWN_MAILBOX = 3
/** Refused: the mailbox's budget of incomplete messages (8 messages, 1 MB; issue 8) is full. */
export const ACK_REFUSED_INCOMPLETE = 4
/** Refused: the gateway holds fragments of this message id with another `total`. */
export const ACK_REFUSED_CONFLICT = 5

/** One fragment of a sealed message. */
export interface Fragment {
  /** 16 random bytes shared by every fragment of one message. */
  messageId: Uint8Array
  /** 0-based position. */
  index: number
  /** Number of fragments, 1 to {@link MAX_FRAGMENTS}. */
  total: number
  /** At most {@link FRAGMENT_DATA_SIZE} bytes. */
  data: Uint8Array
}

/** A contact lookup request (the fragment slot of a gateway layer with {@link FLAG_LOOKUP}). */
export interface LookupRequest {
  /** 16 random bytes; the answer's reply layer carries them as its message id. */
  requestId: Uint8Array
  /** The pseudonym's raw Ed25519 public key, 32 bytes (the DHT key is `/umbra-contact/<key_…>`). */
  key: Uint8Array
}

/** The decoded gateway layer. */
export interface GatewayLayer {
  flags: number
  /** Encoded SURB for the fragment acknowledgement, when the flag is set. */
  ackSurb?: Uint8Array
  /** The fragment bytes exactly as {@link encodeFragment} wrote them; with {@link FLAG_LOOKUP}, the {@link LOOKUP_REQUEST_SIZE}-byte lookup request. */
  fragment: Uint8Array
}

/** The decoded reply layer. */
export interface ReplyLayer {
  kind: number
  messageId: Uint8Array
  status: number
  data: Uint8Array
}

function malformed (what: string): never {
  throw new MixnetMalformedError(`Malformed ${what}`)
}

/**
 * Encodes one fragment: `messageId 16 | index u16 | total u16 | len u16 | data`.
 * @throws UMBRA_ERR_MIXNET_MALFORMED when a field is out of range
 */
export function encodeFragment (f: Fragment): Uint8Array {
  if (f.messageId.byteLength !== 16 || f.total < 1 || f.total > MAX_FRAGMENTS || f.index < 0 || f.index >= f.total || f.data.byteLength > FRAGMENT_DATA_SIZE) {
    malformed('fragment fields')
  }
  const out = new Uint8Array(FRAGMENT_HEADER_SIZE + f.data.byteLength)
  const view = new DataView(out.buffer)
  out.set(f.messageId, 0)
  view.setUint16(16, f.index)
  view.setUint16(18, f.total)
  view.setUint16(20, f.data.byteLength)
  out.set(f.data, FRAGMENT_HEADER_SIZE)
  return out
}

/**
 * Decodes a fragment; trailing bytes (padding) are not allowed.
 * @throws UMBRA_ERR_MIXNET_MALFORMED
 */
export function decodeFragment (bytes: Uint8Array): Fragment {
  if (bytes.byteLength < FRAGMENT_HEADER_SIZE) malformed('fragment (short)')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const index = view.getUint16(16)
  const total = view.getUint16(18)
  const len = view.getUint16(20)
  if (total < 1 || total > MAX_FRAGMENTS || index >= total || len > FRAGMENT_DATA_SIZE || bytes.byteLength !== FRAGMENT_HEADER_SIZE + len) {
    malformed('fragment header')
  }
  return { messageId: bytes.slice(0, 16), index, total, data: bytes.slice(FRAGMENT_HEADER_SIZE) }
}

/**
 * Encodes the gateway layer into a full {@link BODY_SIZE} body (zero padded).
 * @param ackSurb - encoded SURB ({@link SURB_SIZE} bytes) or undefined
 * @param fragment - from {@link encodeFragment}
 */
export function encodeGatewayLayer (flags: number, ackSurb: Uint8Array | undefined, fragment: Uint8Array): Uint8Array {
  if (ackSurb != null && ackSurb.byteLength !== SURB_SIZE) malformed('ack SURB length')
  if (fragment.byteLength > BODY_SIZE - GATEWAY_HEADER_SIZE) malformed('fragment length')
  const out = new Uint8Array(BODY_SIZE)
  out[0] = WIRE_VERSION
  out[1] = (flags & ~FLAG_HAS_ACK_SURB) | (ackSurb != null ? FLAG_HAS_ACK_SURB : 0)
  if (ackSurb != null) out.set(ackSurb, 2)
  out.set(fragment, GATEWAY_HEADER_SIZE)
  return out
}

/**
 * Decodes the gateway layer of a delivered body.
 * @throws UMBRA_ERR_MIXNET_MALFORMED
 */
export function decodeGatewayLayer (body: Uint8Array): GatewayLayer {
  if (body.byteLength !== BODY_SIZE || body[0] !== WIRE_VERSION) malformed('gateway layer version or size')
  const flags = body[1] ?? 0
  if ((flags & ~(FLAG_HAS_ACK_SURB | FLAG_DROP_COVER | FLAG_LOOKUP | FLAG_PUBSUB)) !== 0) malformed('gateway layer flags')
  const ackSurb = (flags & FLAG_HAS_ACK_SURB) !== 0 ? body.slice(2, 2 + SURB_SIZE) : undefined
  const rest = body.subarray(GATEWAY_HEADER_SIZE)
  if ((flags & FLAG_LOOKUP) !== 0) {
    // A lookup is answered through its SURB only: without one it is useless, and it is never cover.
    if (ackSurb == null || (flags & FLAG_DROP_COVER) !== 0) malformed('lookup flags')
    return { flags, ackSurb, fragment: rest.slice(0, LOOKUP_REQUEST_SIZE) }
  }
  if ((flags & FLAG_PUBSUB) !== 0) {
    if ((flags & FLAG_DROP_COVER) !== 0) malformed('pubsub flags')
    return { flags, ackSurb, fragment: rest.slice() }
  }
  const len = new DataView(rest.buffer, rest.byteOffset, rest.byteLength).getUint16(20)
  if (len > FRAGMENT_DATA_SIZE) malformed('fragment length')
  return { flags, ackSurb, fragment: rest.slice(0, FRAGMENT_HEADER_SIZE + len) }
}

/**
 * Encodes a contact lookup request: `requestId 16 | key 32`
 * (docs/mixnet.md "Payload layers"). Sent in the fragment slot of a gateway
 * layer with {@link FLAG_LOOKUP} and an ack SURB.
 * @throws UMBRA_ERR_MIXNET_MALFORMED when a field has the wrong length
 */
export function encodeLookupRequest (r: LookupRequest): Uint8Array {
  if (r.requestId.byteLength !== 16 || r.key.byteLength !== 32) malformed('lookup request fields')
  const out = new Uint8Array(LOOKUP_REQUEST_SIZE)
  out.set(r.requestId, 0)
  out.set(r.key, 16)
  return out
}

/**
 * Decodes a contact lookup request (exactly {@link LOOKUP_REQUEST_SIZE} bytes).
 * @throws UMBRA_ERR_MIXNET_MALFORMED
 */
export function decodeLookupRequest (bytes: Uint8Array): LookupRequest {
  if (bytes.byteLength !== LOOKUP_REQUEST_SIZE) malformed('lookup request (length)')
  return { requestId: bytes.slice(0, 16), key: bytes.slice(16, LOOKUP_REQUEST_SIZE) }
}

/**
 * Encodes the slot of an anonymous publish: `length u16 | envelope`
 * (docs/mixnet.md "Payload layers"; issue 13, item 2).
 * @throws UMBRA_ERR_MIXNET_MALFORMED when the envelope is over {@link MAX_ANONYMOUS_ENVELOPE_BYTES}
 */
export function encodePubsubPublish (envelope: Uint8Array): Uint8Array {
  if (envelope.byteLength > MAX_ANONYMOUS_ENVELOPE_BYTES) malformed('pubsub envelope (too long for one packet)')
  const out = new Uint8Array(PUBSUB_SLOT_HEADER_SIZE + envelope.byteLength)
  new DataView(out.buffer).setUint16(0, envelope.byteLength)
  out.set(envelope, PUBSUB_SLOT_HEADER_SIZE)
  return out
}

/**
 * Decodes the slot of an anonymous publish (trailing bytes are padding).
 * @throws UMBRA_ERR_MIXNET_MALFORMED
 */
export function decodePubsubPublish (slot: Uint8Array): Uint8Array {
  if (slot.byteLength < PUBSUB_SLOT_HEADER_SIZE) malformed('pubsub slot (short)')
  const len = new DataView(slot.buffer, slot.byteOffset, slot.byteLength).getUint16(0)
  if (len > MAX_ANONYMOUS_ENVELOPE_BYTES || PUBSUB_SLOT_HEADER_SIZE + len > slot.byteLength) malformed('pubsub slot length')
  return slot.slice(PUBSUB_SLOT_HEADER_SIZE, PUBSUB_SLOT_HEADER_SIZE + len)
}

/**
 * Encodes a reply layer into a full {@link BODY_SIZE} body (zero padded).
 * @throws UMBRA_ERR_MIXNET_MALFORMED when data is longer than {@link REPLY_DATA_SIZE}
 */
export function encodeReplyLayer (r: ReplyLayer): Uint8Array {
  if (r.messageId.byteLength !== 16 || r.data.byteLength > REPLY_DATA_SIZE) malformed('reply fields')
  const out = new Uint8Array(BODY_SIZE)
  out[0] = WIRE_VERSION
  out[1] = r.kind
  out.set(r.messageId, 2)
  out[18] = r.status
  new DataView(out.buffer).setUint16(19, r.data.byteLength)
  out.set(r.data, REPLY_HEADER_SIZE)
  return out
}

/**
 * Decodes a reply layer.
 * @throws UMBRA_ERR_MIXNET_MALFORMED
 */
export function decodeReplyLayer (body: Uint8Array): ReplyLayer {
  if (body.byteLength !== BODY_SIZE || body[0] !== WIRE_VERSION) malformed('reply layer version or size')
  const kind = body[1] ?? 0
  if (kind < REPLY_FRAGMENT_ACK || kind > REPLY_PUBLISHED) malformed('reply kind')
  const len = new DataView(body.buffer, body.byteOffset, body.byteLength).getUint16(19)
  if (len > REPLY_DATA_SIZE) malformed('reply length')
  return { kind, messageId: body.slice(2, 18), status: body[18] ?? 0, data: body.slice(REPLY_HEADER_SIZE, REPLY_HEADER_SIZE + len) }
}
