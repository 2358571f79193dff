/**
 * The schema module of STUN (RFC 5389): every STUN message Umbra sends or
 * reads is encoded and decoded here, and nowhere else.
 *
 * Scope: the Binding method; the attributes XOR-MAPPED-ADDRESS (IPv4 and
 * IPv6), MAPPED-ADDRESS (decode, and encode for completeness), SOFTWARE,
 * ERROR-CODE, UNKNOWN-ATTRIBUTES, FINGERPRINT and RFC 5780's OTHER-ADDRESS
 * (a two-address server names its other address). USERNAME, REALM, NONCE
 * and MESSAGE-INTEGRITY are recognised and read past but never checked:
 * Umbra's STUN servers are open, unauthenticated Binding servers. Messages
 * must carry the RFC 5389 magic cookie; RFC 3489 messages are refused.
 *
 * The decoder checks every length before it reads: the datagram against
 * {@link MAX_STUN_MESSAGE_BYTES}, the header's length field against the
 * datagram, and each attribute against what is left; every failure is a
 * {@link StunMalformedError}, never another exception.
 */
import { randomBytes } from 'node:crypto'
import { isIP } from 'node:net'
import { crc32 } from 'node:zlib'
import {
  MAX_STUN_MESSAGE_BYTES,
  MAX_STUN_REASON_BYTES,
  MAX_STUN_SOFTWARE_BYTES,
  STUN_ATTR,
  STUN_ATTRIBUTE_HEADER_BYTES,
  STUN_FINGERPRINT_XOR,
  STUN_HEADER_BYTES,
  STUN_MAGIC_COOKIE,
  STUN_METHOD_BINDING,
  STUN_TRANSACTION_ID_BYTES
} from './constants.ts'
import { StunEncodeError, StunMalformedError } from './errors.ts'

/** The class of a STUN message (RFC 5389 §6): request, indication, success response or error response. */
export type StunClass = 'request' | 'indication' | 'success' | 'error'

/** Address family as Node's `dgram` names it. */
export type StunFamily = 'IPv4' | 'IPv6'

/** A transport address carried by (XOR-)MAPPED-ADDRESS (RFC 5389 §15.1, §15.2). */
export interface StunAddress {
  /** IP address as text: dotted IPv4, or IPv6 in RFC 5952 form (e.g. `2001:db8::1`). */
  address: string
  /** UDP port, 0–65535. */
  port: number
  /** `'IPv4'` or `'IPv6'`. */
  family: StunFamily
}

/** The ERROR-CODE attribute of an error response (RFC 5389 §15.6). */
export interface StunErrorCode {
  /** Error code, 300–699 (class × 100 + number), e.g. 420. */
  code: number
  /** Reason phrase, UTF-8, at most 763 bytes. */
  reason: string
}

/** A STUN message to encode with {@link encodeStunMessage}. */
export interface StunMessageInit {
  /** Method, 12 bits; {@link STUN_METHOD_BINDING} (0x001) is the only one Umbra uses. */
  method: number
  /** Message class. */
  messageClass: StunClass
  /** Transaction id, exactly 12 bytes (96 bits, RFC 5389 §6); see {@link createTransactionId}. */
  transactionId: Uint8Array
  /** XOR-MAPPED-ADDRESS: the reflexive address of a success response (RFC 5389 §15.2). */
  xorMappedAddress?: StunAddress
  /** MAPPED-ADDRESS: the same, not XORed, for RFC 3489 clients (RFC 5389 §15.1). Umbra's server does not send it. */
  mappedAddress?: StunAddress
  /** OTHER-ADDRESS: the server's other IP and port, which answer too (RFC 5780 §7.4). */
  otherAddress?: StunAddress
  /** SOFTWARE: the agent's name, at most 763 bytes of UTF-8 (RFC 5389 §15.10). */
  software?: string
  /** ERROR-CODE of an error response (RFC 5389 §15.6). */
  errorCode?: StunErrorCode
  /** UNKNOWN-ATTRIBUTES of a 420 error response: the attribute types not understood (RFC 5389 §15.9). */
  unknownAttributes?: number[]
  /**
   * Append a FINGERPRINT attribute (RFC 5389 §15.5).
   * @default true
   */
  fingerprint?: boolean
}

/** A STUN message returned by {@link decodeStunMessage}. */
export interface StunMessage {
  /** Method, 12 bits (0x001 = Binding). */
  method: number
  /** Message class. */
  messageClass: StunClass
  /** Transaction id, 12 bytes (a copy, safe to keep). */
  transactionId: Uint8Array
  /** First XOR-MAPPED-ADDRESS, decoded (un-XORed). */
  xorMappedAddress?: StunAddress
  /** First MAPPED-ADDRESS. */
  mappedAddress?: StunAddress
  /** First OTHER-ADDRESS (RFC 5780 §7.4; what a server claims, untrusted). */
  otherAddress?: StunAddress
  /** First SOFTWARE (untrusted text). */
  software?: string
  /** First ERROR-CODE. */
  errorCode?: StunErrorCode
  /** First UNKNOWN-ATTRIBUTES list. */
  unknownAttributes?: number[]
  /**
   * Comprehension-required attribute types (below 0x8000) this codec does not
   * understand, in order of first appearance. A server answers a request
   * that has any with 420; a client discards such a response (RFC 5389 §7.3).
   */
  unknownRequired: number[]
  /** The message carried MESSAGE-INTEGRITY (length-checked, not verified; later attributes but FINGERPRINT were ignored, RFC 5389 §15.4). */
  messageIntegrity: boolean
  /** The message carried a FINGERPRINT, and it verified (a bad one is an error). */
  fingerprint: boolean
}

/** Most unknown comprehension-required types collected from one message (a 1280-byte message holds at most 315 attributes). */
const MAX_UNKNOWN_REPORTED = 32
/** Bytes of the address part of (XOR-)MAPPED-ADDRESS, before the address: reserved, family, port. */
const ADDRESS_PREFIX_BYTES = 4
const FAMILY_IPV4 = 0x01
const FAMILY_IPV6 = 0x02

const CLASS_BITS: Record<StunClass, number> = { request: 0b00, indication: 0b01, success: 0b10, error: 0b11 }
const CLASS_NAMES: readonly StunClass[] = ['request', 'indication', 'success', 'error']

const utf8 = new TextEncoder()
const utf8Strict = new TextDecoder('utf-8', { fatal: true })

/**
 * A fresh transaction id: 12 cryptographically random bytes (RFC 5389 §6
 * "uniformly and randomly chosen from the interval 0 .. 2**96-1, and SHOULD
 * be cryptographically random").
 */
export function createTransactionId (): Uint8Array {
  return new Uint8Array(randomBytes(STUN_TRANSACTION_ID_BYTES))
}

/**
 * Encodes a STUN message (RFC 5389 §6, §15). Attributes are written in the
 * order XOR-MAPPED-ADDRESS, MAPPED-ADDRESS, ERROR-CODE, UNKNOWN-ATTRIBUTES,
 * SOFTWARE, FINGERPRINT (last, RFC 5389 §15.5); padding bytes are zero.
 * @param msg - the message; see {@link StunMessageInit}
 * @returns the datagram, at most {@link MAX_STUN_MESSAGE_BYTES} bytes
 * @throws {StunEncodeError} `UMBRA_ERR_STUN_ENCODE` when a field is invalid
 * (transaction id not 12 bytes, method not 12 bits, bad address or port,
 * error code outside 300–699, over-long text, message over the size limit)
 */
export function encodeStunMessage (msg: StunMessageInit): Uint8Array {
  if (!Number.isInteger(msg.method) || msg.method < 0 || msg.method > 0xfff) {
    throw new StunEncodeError('STUN method must be an integer 0..0xfff')
  }
  const classBits = CLASS_BITS[msg.messageClass]
  if (classBits === undefined) throw new StunEncodeError('STUN messageClass must be request, indication, success or error')
  if (!(msg.transactionId instanceof Uint8Array) || msg.transactionId.length !== STUN_TRANSACTION_ID_BYTES) {
    throw new StunEncodeError('STUN transactionId must be 12 bytes')
  }
  const attrs: Array<[number, Uint8Array]> = []
  if (msg.xorMappedAddress != null) attrs.push([STUN_ATTR.XOR_MAPPED_ADDRESS, encodeAddress(msg.xorMappedAddress, msg.transactionId)])
  if (msg.mappedAddress != null) attrs.push([STUN_ATTR.MAPPED_ADDRESS, encodeAddress(msg.mappedAddress)])
  if (msg.otherAddress != null) attrs.push([STUN_ATTR.OTHER_ADDRESS, encodeAddress(msg.otherAddress)])
  if (msg.errorCode != null) attrs.push([STUN_ATTR.ERROR_CODE, encodeErrorCode(msg.errorCode)])
  if (msg.unknownAttributes != null) attrs.push([STUN_ATTR.UNKNOWN_ATTRIBUTES, encodeUnknownAttributes(msg.unknownAttributes)])
  if (msg.software != null) {
    const software = utf8.encode(msg.software)
    if (software.length > MAX_STUN_SOFTWARE_BYTES) throw new StunEncodeError(`STUN software must be at most ${MAX_STUN_SOFTWARE_BYTES} bytes of UTF-8`)
    attrs.push([STUN_ATTR.SOFTWARE, software])
  }
  const fingerprint = msg.fingerprint ?? true

  let size = STUN_HEADER_BYTES
  for (const [, value] of attrs) size += STUN_ATTRIBUTE_HEADER_BYTES + padded(value.length)
  if (fingerprint) size += STUN_ATTRIBUTE_HEADER_BYTES + 4
  if (size > MAX_STUN_MESSAGE_BYTES) throw new StunEncodeError(`STUN message would be ${size} bytes, over ${MAX_STUN_MESSAGE_BYTES}`)

  const out = new Uint8Array(size)
  const view = new DataView(out.buffer)
  const m = msg.method
  const type = (m & 0x000f) | ((m & 0x0070) << 1) | ((m & 0x0f80) << 2) | ((classBits & 1) << 4) | ((classBits & 2) << 7)
  view.setUint16(0, type)
  view.setUint16(2, size - STUN_HEADER_BYTES)
  view.setUint32(4, STUN_MAGIC_COOKIE)
  out.set(msg.transactionId, 8)
  let offset = STUN_HEADER_BYTES
  for (const [attrType, value] of attrs) {
    view.setUint16(offset, attrType)
    view.setUint16(offset + 2, value.length)
    out.set(value, offset + STUN_ATTRIBUTE_HEADER_BYTES)
    offset += STUN_ATTRIBUTE_HEADER_BYTES + padded(value.length)
  }
  if (fingerprint) {
    view.setUint16(offset, STUN_ATTR.FINGERPRINT)
    view.setUint16(offset + 2, 4)
    view.setUint32(offset + 4, fingerprintOf(out.subarray(0, offset)))
  }
  return out
}

/**
 * Encodes a Binding Request (RFC 5389 §7.1) with a FINGERPRINT and no other
 * attribute: 28 bytes.
 * @param transactionId - 12 bytes; see {@link createTransactionId}
 * @throws {StunEncodeError} `UMBRA_ERR_STUN_ENCODE` when the id is not 12 bytes
 */
export function encodeBindingRequest (transactionId: Uint8Array): Uint8Array {
  return encodeStunMessage({ method: STUN_METHOD_BINDING, messageClass: 'request', transactionId })
}

/**
 * Decodes and checks a STUN message (RFC 5389 §6, §7.3, §15). Only the first
 * occurrence of an attribute is used; attributes after MESSAGE-INTEGRITY,
 * other than FINGERPRINT, are ignored (§15.4); FINGERPRINT must be last and
 * must verify (§15.5); padding is ignored; unknown comprehension-optional
 * attributes (0x8000–0xFFFF) are skipped and unknown comprehension-required
 * ones are listed in `unknownRequired` for the caller to act on (§7.3).
 * @param datagram - one UDP payload
 * @returns the message; see {@link StunMessage}
 * @throws {StunMalformedError} `UMBRA_ERR_STUN_MALFORMED` for anything that
 * is not a well-formed RFC 5389 message, and for nothing else
 */
export function decodeStunMessage (datagram: Uint8Array): StunMessage {
  if (!(datagram instanceof Uint8Array)) throw new StunMalformedError('STUN message must be bytes')
  if (datagram.length < STUN_HEADER_BYTES) throw new StunMalformedError(`STUN message is ${datagram.length} bytes, shorter than the 20-byte header`)
  if (datagram.length > MAX_STUN_MESSAGE_BYTES) throw new StunMalformedError(`STUN message is ${datagram.length} bytes, over ${MAX_STUN_MESSAGE_BYTES}`)
  const view = new DataView(datagram.buffer, datagram.byteOffset, datagram.byteLength)
  const type = view.getUint16(0)
  if ((type & 0xc000) !== 0) throw new StunMalformedError('STUN message type must start with two zero bits')
  const length = view.getUint16(2)
  if (length !== datagram.length - STUN_HEADER_BYTES) throw new StunMalformedError('STUN message length field disagrees with the datagram size')
  if (length % 4 !== 0) throw new StunMalformedError('STUN message length must be a multiple of 4')
  if (view.getUint32(4) !== STUN_MAGIC_COOKIE) throw new StunMalformedError('STUN magic cookie missing (RFC 3489 messages are not supported)')

  const transactionId = new Uint8Array(datagram.subarray(8, STUN_HEADER_BYTES))
  const msg: StunMessage = {
    method: (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2),
    messageClass: CLASS_NAMES[((type >> 4) & 1) | ((type >> 7) & 2)] as StunClass,
    transactionId,
    unknownRequired: [],
    messageIntegrity: false,
    fingerprint: false
  }

  const end = datagram.length
  let offset = STUN_HEADER_BYTES
  while (offset < end) {
    if (msg.fingerprint) throw new StunMalformedError('STUN FINGERPRINT must be the last attribute')
    if (end - offset < STUN_ATTRIBUTE_HEADER_BYTES) throw new StunMalformedError('STUN attribute header truncated')
    const attrType = view.getUint16(offset)
    const attrLength = view.getUint16(offset + 2)
    const valueStart = offset + STUN_ATTRIBUTE_HEADER_BYTES
    if (padded(attrLength) > end - valueStart) throw new StunMalformedError(`STUN attribute 0x${hex(attrType)} runs past the end of the message`)
    const value = datagram.subarray(valueStart, valueStart + attrLength)

    if (attrType === STUN_ATTR.FINGERPRINT) {
      if (attrLength !== 4) throw new StunMalformedError('STUN FINGERPRINT must be 4 bytes')
      if (view.getUint32(valueStart) !== fingerprintOf(datagram.subarray(0, offset))) throw new StunMalformedError('STUN FINGERPRINT does not match')
      msg.fingerprint = true
    } else if (!msg.messageIntegrity) {
      readAttribute(msg, attrType, value)
    }
    offset = valueStart + padded(attrLength)
  }
  return msg
}

/**
 * The transaction id of a datagram that looks like an RFC 5389 message (at
 * least 20 bytes, two leading zero bits, the magic cookie), without decoding
 * it; `undefined` otherwise. Lets a client tell "a broken answer to my
 * request" from unrelated traffic on a shared socket (RFC 5389 §7.3).
 * @param datagram - one UDP payload
 * @returns a 12-byte view into `datagram`, or `undefined`
 */
export function peekTransactionId (datagram: Uint8Array): Uint8Array | undefined {
  if (datagram.length < STUN_HEADER_BYTES || ((datagram[0] as number) & 0xc0) !== 0) return undefined
  const view = new DataView(datagram.buffer, datagram.byteOffset, datagram.byteLength)
  if (view.getUint32(4) !== STUN_MAGIC_COOKIE) return undefined
  return datagram.subarray(8, STUN_HEADER_BYTES)
}

function readAttribute (msg: StunMessage, attrType: number, value: Uint8Array): void {
  switch (attrType) {
    case STUN_ATTR.XOR_MAPPED_ADDRESS: {
      const address = decodeAddress(value, msg.transactionId, 'XOR-MAPPED-ADDRESS')
      msg.xorMappedAddress ??= address
      break
    }
    case STUN_ATTR.MAPPED_ADDRESS: {
      const address = decodeAddress(value, undefined, 'MAPPED-ADDRESS')
      msg.mappedAddress ??= address
      break
    }
    case STUN_ATTR.OTHER_ADDRESS: {
      const address = decodeAddress(value, undefined, 'OTHER-ADDRESS')
      msg.otherAddress ??= address
      break
    }
    case STUN_ATTR.SOFTWARE: {
      if (value.length > MAX_STUN_SOFTWARE_BYTES) throw new StunMalformedError('STUN SOFTWARE is over 763 bytes')
      msg.software ??= decodeText(value, 'SOFTWARE')
      break
    }
    case STUN_ATTR.ERROR_CODE: {
      if (value.length < 4 || value.length > 4 + MAX_STUN_REASON_BYTES) throw new StunMalformedError('STUN ERROR-CODE has a bad length')
      const errorClass = (value[2] as number) & 0x07
      const errorNumber = value[3] as number
      if (errorClass < 3 || errorClass > 6 || errorNumber > 99) throw new StunMalformedError('STUN ERROR-CODE is outside 300..699')
      const reason = decodeText(value.subarray(4), 'ERROR-CODE reason')
      msg.errorCode ??= { code: errorClass * 100 + errorNumber, reason }
      break
    }
    case STUN_ATTR.UNKNOWN_ATTRIBUTES: {
      if (value.length % 2 !== 0) throw new StunMalformedError('STUN UNKNOWN-ATTRIBUTES length must be even')
      const types: number[] = []
      for (let i = 0; i < value.length; i += 2) types.push(((value[i] as number) << 8) | (value[i + 1] as number))
      msg.unknownAttributes ??= types
      break
    }
    case STUN_ATTR.MESSAGE_INTEGRITY:
      if (value.length !== 20) throw new StunMalformedError('STUN MESSAGE-INTEGRITY must be 20 bytes')
      msg.messageIntegrity = true
      break
    case STUN_ATTR.USERNAME:
    case STUN_ATTR.REALM:
    case STUN_ATTR.NONCE:
      break
    default:
      if (attrType < 0x8000 && !msg.unknownRequired.includes(attrType) && msg.unknownRequired.length < MAX_UNKNOWN_REPORTED) {
        msg.unknownRequired.push(attrType)
      }
  }
}

function decodeText (value: Uint8Array, what: string): string {
  try {
    return utf8Strict.decode(value)
  } catch (err) {
    throw new StunMalformedError(`STUN ${what} is not valid UTF-8`, { cause: err })
  }
}

/** (XOR-)MAPPED-ADDRESS value (RFC 5389 §15.1, §15.2); XORed when `transactionId` is given. */
function encodeAddress (addr: StunAddress, transactionId?: Uint8Array): Uint8Array {
  if (!Number.isInteger(addr.port) || addr.port < 0 || addr.port > 0xffff) throw new StunEncodeError('STUN address port must be an integer 0..65535')
  const ip = ipToBytes(addr.address)
  if (ip == null) throw new StunEncodeError('STUN address must be an IPv4 or IPv6 address')
  const out = new Uint8Array(ADDRESS_PREFIX_BYTES + ip.length)
  out[1] = ip.length === 4 ? FAMILY_IPV4 : FAMILY_IPV6
  const xor = transactionId != null ? xorPad(transactionId) : undefined
  const port = xor != null ? addr.port ^ (STUN_MAGIC_COOKIE >>> 16) : addr.port
  out[2] = port >> 8
  out[3] = port & 0xff
  for (let i = 0; i < ip.length; i++) out[ADDRESS_PREFIX_BYTES + i] = (ip[i] as number) ^ (xor?.[i] ?? 0)
  return out
}

function decodeAddress (value: Uint8Array, transactionId: Uint8Array | undefined, what: string): StunAddress {
  if (value.length < ADDRESS_PREFIX_BYTES) throw new StunMalformedError(`STUN ${what} is too short`)
  const family = value[1]
  const ipLength = family === FAMILY_IPV4 ? 4 : family === FAMILY_IPV6 ? 16 : 0
  if (ipLength === 0) throw new StunMalformedError(`STUN ${what} has unknown address family ${String(family)}`)
  if (value.length !== ADDRESS_PREFIX_BYTES + ipLength) throw new StunMalformedError(`STUN ${what} has the wrong length for its family`)
  const xor = transactionId != null ? xorPad(transactionId) : undefined
  let port = ((value[2] as number) << 8) | (value[3] as number)
  if (xor != null) port ^= STUN_MAGIC_COOKIE >>> 16
  const ip = new Uint8Array(ipLength)
  for (let i = 0; i < ipLength; i++) ip[i] = (value[ADDRESS_PREFIX_BYTES + i] as number) ^ (xor?.[i] ?? 0)
  return { address: bytesToIp(ip), port, family: ipLength === 4 ? 'IPv4' : 'IPv6' }
}

/** Magic cookie followed by the transaction id: the XOR key of XOR-MAPPED-ADDRESS (RFC 5389 §15.2). */
function xorPad (transactionId: Uint8Array): Uint8Array {
  const pad = new Uint8Array(4 + STUN_TRANSACTION_ID_BYTES)
  new DataView(pad.buffer).setUint32(0, STUN_MAGIC_COOKIE)
  pad.set(transactionId, 4)
  return pad
}

function encodeErrorCode (error: StunErrorCode): Uint8Array {
  if (!Number.isInteger(error.code) || error.code < 300 || error.code > 699) throw new StunEncodeError('STUN error code must be an integer 300..699')
  const reason = utf8.encode(error.reason)
  if (reason.length > MAX_STUN_REASON_BYTES) throw new StunEncodeError(`STUN error reason must be at most ${MAX_STUN_REASON_BYTES} bytes of UTF-8`)
  const out = new Uint8Array(4 + reason.length)
  out[2] = Math.floor(error.code / 100)
  out[3] = error.code % 100
  out.set(reason, 4)
  return out
}

function encodeUnknownAttributes (types: number[]): Uint8Array {
  const out = new Uint8Array(types.length * 2)
  types.forEach((t, i) => {
    if (!Number.isInteger(t) || t < 0 || t > 0xffff) throw new StunEncodeError('STUN unknown attribute types must be integers 0..0xffff')
    out[2 * i] = t >> 8
    out[2 * i + 1] = t & 0xff
  })
  return out
}

/** FINGERPRINT value: CRC-32 (ISO HDLC, as in zlib) of the bytes before it, XOR 0x5354554e (RFC 5389 §15.5). */
function fingerprintOf (bytesBefore: Uint8Array): number {
  return (crc32(bytesBefore) ^ STUN_FINGERPRINT_XOR) >>> 0
}

function padded (length: number): number {
  return (length + 3) & ~3
}

function hex (n: number): string {
  return n.toString(16).padStart(4, '0')
}

/**
 * Bytes of an IPv4 (4) or IPv6 (16) address in text form; `undefined` if it
 * is neither. An IPv6 zone (`%eth0`) is dropped; IPv4-mapped IPv6
 * (`::ffff:192.0.2.1`) stays 16 bytes.
 */
function ipToBytes (address: string): Uint8Array | undefined {
  const bare = address.includes('%') ? address.slice(0, address.indexOf('%')) : address
  const version = isIP(bare)
  if (version === 4) return new Uint8Array(bare.split('.').map(Number))
  if (version !== 6) return undefined
  const out = new Uint8Array(16)
  const groups = (text: string): number[] => {
    if (text === '') return []
    const parts = text.split(':')
    const words: number[] = []
    for (const part of parts) {
      if (part.includes('.')) {
        const [a, b, c, d] = part.split('.').map(Number) as [number, number, number, number]
        words.push((a << 8) | b, (c << 8) | d)
      } else {
        words.push(parseInt(part, 16))
      }
    }
    return words
  }
  const split = bare.indexOf('::')
  const head = groups(split === -1 ? bare : bare.slice(0, split))
  const tail = split === -1 ? [] : groups(bare.slice(split + 2))
  const words = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail]
  words.forEach((w, i) => { out[2 * i] = w >> 8; out[2 * i + 1] = w & 0xff })
  return out
}

/** Text of a 4- or 16-byte address; IPv6 in RFC 5952 canonical form (IPv4-mapped as `::ffff:a.b.c.d`). */
function bytesToIp (ip: Uint8Array): string {
  if (ip.length === 4) return ip.join('.')
  const words: number[] = []
  for (let i = 0; i < 16; i += 2) words.push(((ip[i] as number) << 8) | (ip[i + 1] as number))
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) return `::ffff:${Array.from(ip.subarray(12)).join('.')}`
  let bestStart = -1
  let bestLength = 1
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && words[j] === 0) j++
    if (j - i > bestLength) { bestStart = i; bestLength = j - i }
    i = j
  }
  const text = (ws: number[]): string => ws.map((w) => w.toString(16)).join(':')
  if (bestStart === -1) return text(words)
  return `${text(words.slice(0, bestStart))}::${text(words.slice(bestStart + bestLength))}`
}
