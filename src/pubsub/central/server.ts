/**
 * The central WebSocket pub/sub server that Umbra ships (issue 13, item 4;
 * seed 004's central server), so that hybrid mode (src/pubsub/hybrid.ts)
 * can be run and tested end to end: `umbra central --listen HOST:PORT`, or
 * {@link createCentralServer} from the library.
 *
 * Clients subscribe to and publish on topics (frames in ./protocol.ts); the
 * server relays each envelope, bytes untouched, to the other subscribers of
 * its topic. It de-duplicates on the message id inside the envelope
 * (src/pubsub/dedup.ts), so that the copies hybrid nodes bridge in from
 * GossipSub are relayed once. Bounds: envelope size, topics per connection,
 * connections, and a token bucket per connection (frames/s); over a bound a
 * frame is refused with an `err` frame naming the code, and counted.
 * Health: the server pings every connection every 15 s and drops one that
 * missed a pong; clients ping the server to judge its health.
 *
 * A central server sees the address of every client and which topics each
 * one publishes and reads: it is off by default, and only nodes started with
 * `pubsub.mode` `hybrid` or `central` talk to it (docs/pubsub-hybrid.md).
 *
 * @example
 * ```ts
 * const central = await createCentralServer({ host: '127.0.0.1', port: 0 })
 * console.log(central.url) // ws://127.0.0.1:PORT
 * await central.close()
 * ```
 */
import { WebSocketServer, type WebSocket } from 'ws'
import { InvalidOptionError, UmbraError } from '../../errors.ts'
import { decodeEnvelope } from '../envelope.ts'
import { createDeduplicator, type Deduplicator } from '../dedup.ts'
import {
  CENTRAL_FRAME_OVERHEAD_BYTES, CENTRAL_SERVER_PING_MS, DEFAULT_CENTRAL_BURST, DEFAULT_CENTRAL_MAX_CONNECTIONS,
  DEFAULT_CENTRAL_MAX_TOPICS_PER_CONNECTION, DEFAULT_CENTRAL_RATE_PER_SEC
} from './constants.ts'
import { DEFAULT_MAX_MESSAGE_BYTES } from '../constants.ts'
import { CentralProtocolError, CentralRateLimitedError } from './errors.ts'
import { decodeClientFrame, encodeServerFrame, type ServerFrame } from './protocol.ts'
import type { Logger } from '../../logger.ts'

/** Options of {@link createCentralServer}. */
export interface CentralServerInit {
  /** Address to bind. @default '127.0.0.1' */
  host?: string
  /** TCP port; 0 picks a free one. @default 0 */
  port?: number
  /** Largest envelope one publish may carry, bytes. @default 1 MiB */
  maxMessageBytes?: number
  /** Most topics one connection may subscribe to. @default 256 */
  maxTopicsPerConnection?: number
  /** Most connections held at once; more are closed at once (code 1013). @default 1024 */
  maxConnections?: number
  /** Frames per second one connection may send, sustained. @default 100 */
  ratePerSec?: number
  /** Frames one connection may send in a burst. @default 200 */
  burst?: number
  /** How often every connection is pinged; one that missed the last pong is dropped, ms. @default 15,000 */
  pingIntervalMs?: number
  /** Where the server logs (never a message body or a client address). @default none */
  log?: Logger
}

/** What the server counted since it started. */
export interface CentralServerStats {
  connections: number
  /** Topics with at least one subscriber. */
  topics: number
  /** Envelopes accepted from publishers (duplicates excluded). */
  published: number
  /** Copies sent to subscribers. */
  relayed: number
  /** Publishes whose message id was relayed before (bridged echoes). */
  duplicates: number
  /** Frames refused, by code. */
  refused: Record<string, number>
}

/** A running central server. */
export interface CentralServer {
  /** `ws://HOST:PORT` it listens on. */
  readonly url: string
  readonly port: number
  stats(): CentralServerStats
  /** Closes every connection and the listening socket; idempotent. */
  close(): Promise<void>
}

interface Conn {
  ws: WebSocket
  topics: Set<string>
  tokens: number
  refilledAt: number
  alive: boolean
}

function positiveInt (value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new InvalidOptionError(`central.${field} must be a positive integer, got ${String(value)}`)
  return value
}

/**
 * Starts a central pub/sub server; resolves once it listens.
 * @throws UMBRA_ERR_INVALID_OPTION for a bad option; the listen error (EADDRINUSE, …) when the port cannot be bound
 */
export async function createCentralServer (init: CentralServerInit = {}): Promise<CentralServer> {
  const host = init.host ?? '127.0.0.1'
  const port = init.port ?? 0
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new InvalidOptionError(`central.port must be an integer from 0 to 65535, got ${String(port)}`)
  const maxBytes = positiveInt(init.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES, 'maxMessageBytes')
  const maxTopics = positiveInt(init.maxTopicsPerConnection ?? DEFAULT_CENTRAL_MAX_TOPICS_PER_CONNECTION, 'maxTopicsPerConnection')
  const maxConnections = positiveInt(init.maxConnections ?? DEFAULT_CENTRAL_MAX_CONNECTIONS, 'maxConnections')
  const ratePerSec = positiveInt(init.ratePerSec ?? DEFAULT_CENTRAL_RATE_PER_SEC, 'ratePerSec')
  const burst = positiveInt(init.burst ?? DEFAULT_CENTRAL_BURST, 'burst')
  const pingMs = positiveInt(init.pingIntervalMs ?? CENTRAL_SERVER_PING_MS, 'pingIntervalMs')
  const log = init.log
  const dedup: Deduplicator = createDeduplicator()
  const subscribers = new Map<string, Set<Conn>>()
  const conns = new Set<Conn>()
  const stats = { published: 0, relayed: 0, refused: {} as Record<string, number> }

  const wss = new WebSocketServer({ host, port, maxPayload: Math.ceil(maxBytes * 4 / 3) + CENTRAL_FRAME_OVERHEAD_BYTES })
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', resolve)
    wss.once('error', reject)
  })
  wss.on('error', (err) => { log?.warn({ err: err.message }, 'central server error') })
  const address = wss.address()
  const boundPort = typeof address === 'object' && address != null ? address.port : port

  function send (c: Conn, f: ServerFrame): void {
    if (c.ws.readyState === c.ws.OPEN) c.ws.send(encodeServerFrame(f))
  }

  function refuse (c: Conn, err: UmbraError, ref?: number): void {
    stats.refused[err.code] = (stats.refused[err.code] ?? 0) + 1
    send(c, { op: 'err', code: err.code, message: err.message, ...(ref != null ? { ref } : {}) })
  }

  function leave (c: Conn, topic: string): void {
    c.topics.delete(topic)
    const set = subscribers.get(topic)
    set?.delete(c)
    if (set?.size === 0) subscribers.delete(topic)
  }

  /** Takes one token from `c`'s bucket; false when empty. */
  function take (c: Conn): boolean {
    const now = Date.now()
    c.tokens = Math.min(burst, c.tokens + (now - c.refilledAt) * ratePerSec / 1000)
    c.refilledAt = now
    if (c.tokens < 1) return false
    c.tokens--
    return true
  }

  function onFrame (c: Conn, raw: Buffer, isBinary: boolean): void {
    if (!take(c)) { refuse(c, new CentralRateLimitedError(`Over ${ratePerSec} frames/s (burst ${burst}); frame dropped`)); return }
    let f
    try {
      if (isBinary) throw new CentralProtocolError('Malformed central pub/sub frame: binary frames are not used')
      f = decodeClientFrame(raw.toString('utf8'), maxBytes)
    } catch (err) {
      refuse(c, err instanceof UmbraError ? err : new CentralProtocolError())
      return
    }
    if (f.op === 'sub') {
      if (!c.topics.has(f.topic) && c.topics.size >= maxTopics) { refuse(c, new CentralProtocolError(`At most ${maxTopics} topics per connection`)); return }
      c.topics.add(f.topic)
      let set = subscribers.get(f.topic)
      if (set == null) { set = new Set(); subscribers.set(f.topic, set) }
      set.add(c)
      return
    }
    if (f.op === 'unsub') { leave(c, f.topic); return }
    // The id inside the envelope is the de-duplication key; the envelope's own topic must be the frame's.
    let id: Uint8Array
    try {
      const envelope = decodeEnvelope(f.data, maxBytes)
      if (envelope.topic !== f.topic) throw new CentralProtocolError('the envelope names another topic')
      id = envelope.id
    } catch (err) {
      refuse(c, new CentralProtocolError(`Malformed central pub/sub frame: ${(err as Error).message}`), f.ref)
      return
    }
    if (!dedup.firstSeen(id)) { send(c, { op: 'ack', ref: f.ref, dup: true }); return }
    stats.published++
    const text = encodeServerFrame({ op: 'msg', topic: f.topic, data: f.data })
    for (const s of subscribers.get(f.topic) ?? []) {
      if (s === c || s.ws.readyState !== s.ws.OPEN) continue
      s.ws.send(text)
      stats.relayed++
    }
    send(c, { op: 'ack', ref: f.ref, dup: false })
  }

  wss.on('connection', (ws) => {
    if (conns.size >= maxConnections) { ws.close(1013, 'too many connections'); return }
    const c: Conn = { ws, topics: new Set(), tokens: burst, refilledAt: Date.now(), alive: true }
    conns.add(c)
    ws.on('pong', () => { c.alive = true })
    ws.on('message', (raw: Buffer, isBinary: boolean) => { onFrame(c, raw, isBinary) })
    ws.on('error', () => {})
    ws.on('close', () => {
      conns.delete(c)
      for (const t of [...c.topics]) leave(c, t)
    })
  })

  const pinger = setInterval(() => {
    for (const c of conns) {
      if (!c.alive) { c.ws.terminate(); continue }
      c.alive = false
      c.ws.ping()
    }
  }, pingMs)
  pinger.unref()

  const url = `ws://${host.includes(':') ? `[${host}]` : host}:${boundPort}`
  log?.info({ url }, 'central pub/sub server listening')
  let closing: Promise<void> | undefined
  return {
    url,
    port: boundPort,
    stats: () => ({ connections: conns.size, topics: subscribers.size, published: stats.published, relayed: stats.relayed, duplicates: dedup.duplicates, refused: { ...stats.refused } }),
    async close () {
      closing ??= new Promise<void>((resolve) => {
        clearInterval(pinger)
        for (const c of conns) c.ws.terminate()
        wss.close(() => { resolve() })
      })
      await closing
    }
  }
}
