/**
 * The schema module of the central pub/sub server's frames (issue 13,
 * item 4; docs/pubsub-hybrid.md "Central server protocol"). One JSON object
 * per WebSocket text message, every one with `v` (version) and `op`:
 *
 * | op      | direction        | fields                                     |
 * |---------|------------------|--------------------------------------------|
 * | `sub`   | client → server  | `topic`                                    |
 * | `unsub` | client → server  | `topic`                                    |
 * | `pub`   | client → server  | `topic`, `data` (base64 envelope), `ref`   |
 * | `msg`   | server → client  | `topic`, `data`                            |
 * | `ack`   | server → client  | `ref`, `dup` (the id was relayed before)   |
 * | `err`   | server → client  | `code` (`UMBRA_ERR_…`), `message`, `ref`?  |
 *
 * `data` is the signed envelope exactly as src/pubsub/envelope.ts encoded it;
 * the server never re-serialises it. Decoders check the version, op, and
 * every field's type and length before using it, and throw
 * `UMBRA_ERR_PUBSUB_CENTRAL_PROTOCOL`.
 */
import { MAX_TOPIC_BYTES } from '../constants.ts'
import { CENTRAL_WIRE_VERSION } from './constants.ts'
import { CentralProtocolError } from './errors.ts'

/** A frame a client sends. */
export type ClientFrame =
  | { op: 'sub', topic: string }
  | { op: 'unsub', topic: string }
  | { op: 'pub', topic: string, data: Uint8Array, ref: number }

/** A frame the server sends. */
export type ServerFrame =
  | { op: 'msg', topic: string, data: Uint8Array }
  | { op: 'ack', ref: number, dup: boolean }
  | { op: 'err', code: string, message: string, ref?: number }

function bad (what: string): never {
  throw new CentralProtocolError(`Malformed central pub/sub frame: ${what}`)
}

/**
 * Checks a topic name: a non-empty string of at most {@link MAX_TOPIC_BYTES} UTF-8 bytes.
 * @throws UMBRA_ERR_PUBSUB_CENTRAL_PROTOCOL
 */
export function checkTopic (topic: unknown): string {
  if (typeof topic !== 'string' || topic.length === 0 || Buffer.byteLength(topic) > MAX_TOPIC_BYTES) bad(`topic must be a string of 1 to ${MAX_TOPIC_BYTES} bytes`)
  return topic
}

/** Upper bound of the decoded size of `b64` characters of base64, bytes. */
function base64Bytes (b64: string): number {
  return Math.floor(b64.length * 3 / 4)
}

function data (value: unknown, maxBytes: number): Uint8Array {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) bad('data must be base64')
  if (base64Bytes(value) > maxBytes) bad(`data is over ${maxBytes} bytes`)
  return new Uint8Array(Buffer.from(value, 'base64'))
}

function ref (value: unknown): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) bad('ref must be a non-negative integer')
  return value as number
}

function parse (text: string): Record<string, unknown> {
  let obj: unknown
  try {
    obj = JSON.parse(text)
  } catch {
    bad('not JSON')
  }
  if (typeof obj !== 'object' || obj == null || Array.isArray(obj)) bad('not an object')
  const o = obj as Record<string, unknown>
  if (o.v !== CENTRAL_WIRE_VERSION) bad(`version must be ${CENTRAL_WIRE_VERSION}`)
  return o
}

/** Encodes a client frame as JSON text. */
export function encodeClientFrame (f: ClientFrame): string {
  if (f.op === 'pub') return JSON.stringify({ v: CENTRAL_WIRE_VERSION, op: f.op, topic: f.topic, data: Buffer.from(f.data).toString('base64'), ref: f.ref })
  return JSON.stringify({ v: CENTRAL_WIRE_VERSION, op: f.op, topic: f.topic })
}

/**
 * Decodes a client frame; `data` is refused over `maxBytes` before it is decoded.
 * @throws UMBRA_ERR_PUBSUB_CENTRAL_PROTOCOL
 */
export function decodeClientFrame (text: string, maxBytes: number): ClientFrame {
  const o = parse(text)
  switch (o.op) {
    case 'sub':
    case 'unsub':
      return { op: o.op, topic: checkTopic(o.topic) }
    case 'pub':
      return { op: 'pub', topic: checkTopic(o.topic), data: data(o.data, maxBytes), ref: ref(o.ref) }
    default:
      return bad('unknown op')
  }
}

/** Encodes a server frame as JSON text. */
export function encodeServerFrame (f: ServerFrame): string {
  if (f.op === 'msg') return JSON.stringify({ v: CENTRAL_WIRE_VERSION, op: f.op, topic: f.topic, data: Buffer.from(f.data).toString('base64') })
  return JSON.stringify({ v: CENTRAL_WIRE_VERSION, ...f })
}

/**
 * Decodes a server frame; `data` is refused over `maxBytes`.
 * @throws UMBRA_ERR_PUBSUB_CENTRAL_PROTOCOL
 */
export function decodeServerFrame (text: string, maxBytes: number): ServerFrame {
  const o = parse(text)
  switch (o.op) {
    case 'msg':
      return { op: 'msg', topic: checkTopic(o.topic), data: data(o.data, maxBytes) }
    case 'ack':
      return { op: 'ack', ref: ref(o.ref), dup: o.dup === true }
    case 'err':
      if (typeof o.code !== 'string' || typeof o.message !== 'string') bad('err needs code and message')
      return { op: 'err', code: o.code.slice(0, 100), message: o.message.slice(0, 500), ...(o.ref != null ? { ref: ref(o.ref) } : {}) }
    default:
      return bad('unknown op')
  }
}
