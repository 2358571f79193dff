/**
 * A reconnecting client of the central pub/sub server (./server.ts), with a
 * health state for the hybrid failover manager (src/pubsub/hybrid.ts;
 * issue 13, item 4).
 *
 * It keeps one WebSocket open to `url`, re-subscribes its topics after every
 * reconnect (backoff 200 ms doubling to 5 s), and pings the server every
 * `pingIntervalMs`. It is **healthy** while the socket is open and the last
 * pong is at most `healthTimeoutMs` old. `publish` resolves when the server
 * acknowledged the envelope (relayed, or relayed before: a duplicate).
 *
 * @example
 * ```ts
 * const client = createCentralClient({ url: 'ws://127.0.0.1:7460' })
 * client.addEventListener('message', (e) => { console.log(e.detail.topic) })
 * await client.start()
 * client.subscribe('news')
 * await client.publish('news', envelopeBytes)
 * ```
 */
import { TypedEventEmitter } from 'main-event'
import { WebSocket } from 'ws'
import { AbortedError, InvalidOptionError, UmbraError } from '../../errors.ts'
import {
  CENTRAL_FRAME_OVERHEAD_BYTES, CENTRAL_RECONNECT_MAX_MS, CENTRAL_RECONNECT_MIN_MS, DEFAULT_CENTRAL_ACK_TIMEOUT_MS, DEFAULT_CENTRAL_CLIENT_PING_MS,
  DEFAULT_CENTRAL_HEALTH_TIMEOUT_MS
} from './constants.ts'
import { DEFAULT_MAX_MESSAGE_BYTES } from '../constants.ts'
import { CentralUnavailableError } from './errors.ts'
import { checkTopic, decodeServerFrame, encodeClientFrame } from './protocol.ts'
import type { Logger } from '../../logger.ts'

/** Options of {@link createCentralClient}. */
export interface CentralClientInit {
  /** The server, `ws://HOST:PORT` or `wss://…`. */
  url: string
  /** How often the server is pinged, ms. @default 500 */
  pingIntervalMs?: number
  /** Healthy while connected and the last pong is at most this old, ms. @default 2,000 */
  healthTimeoutMs?: number
  /** A publish not acknowledged within this time fails, ms. @default 5,000 */
  ackTimeoutMs?: number
  /** Largest envelope accepted from the server, bytes. @default 1 MiB */
  maxMessageBytes?: number
  log?: Logger
}

/** Events of a {@link CentralClient}. */
export interface CentralClientEvents {
  /** An envelope the server relayed on a subscribed topic. */
  message: CustomEvent<{ topic: string, data: Uint8Array }>
  /** The health state changed. */
  health: CustomEvent<{ healthy: boolean }>
}

/** A reconnecting central client; see the module comment. */
export interface CentralClient extends TypedEventEmitter<CentralClientEvents> {
  /** Connected and the last pong is recent (see the module comment). */
  healthy(): boolean
  subscribe(topic: string): void
  unsubscribe(topic: string): void
  /**
   * Publishes an envelope on `topic`.
   * @returns whether the server had relayed this message id before (`true`: a duplicate, not relayed again)
   * @throws UMBRA_ERR_PUBSUB_CENTRAL_UNAVAILABLE (not connected, no ack in time), the server's code when it refused (UMBRA_ERR_PUBSUB_CENTRAL_RATE_LIMITED, UMBRA_ERR_PUBSUB_CENTRAL_PROTOCOL), UMBRA_ERR_ABORTED
   */
  publish(topic: string, envelope: Uint8Array, options?: { signal?: AbortSignal }): Promise<boolean>
  /** Opens the connection (does not wait for it); idempotent. */
  start(): Promise<void>
  /** Closes the connection and stops reconnecting; pending publishes fail. Idempotent. */
  stop(): Promise<void>
}

/**
 * Creates a central client (not started).
 * @throws UMBRA_ERR_INVALID_OPTION when `url` is not a ws:// or wss:// URL, or a time is not a positive integer
 */
export function createCentralClient (init: CentralClientInit): CentralClient {
  const parsed = URL.canParse(init.url) ? new URL(init.url) : undefined
  if (parsed == null || (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:')) throw new InvalidOptionError(`pubsub.central must be a ws:// or wss:// URL, e.g. ws://127.0.0.1:7460, got ${JSON.stringify(init.url)}`)
  const pingMs = init.pingIntervalMs ?? DEFAULT_CENTRAL_CLIENT_PING_MS
  const healthMs = init.healthTimeoutMs ?? DEFAULT_CENTRAL_HEALTH_TIMEOUT_MS
  const ackMs = init.ackTimeoutMs ?? DEFAULT_CENTRAL_ACK_TIMEOUT_MS
  const maxBytes = init.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES
  for (const [field, v] of Object.entries({ pingIntervalMs: pingMs, healthTimeoutMs: healthMs, ackTimeoutMs: ackMs, maxMessageBytes: maxBytes })) {
    if (!Number.isSafeInteger(v) || v < 1) throw new InvalidOptionError(`central client ${field} must be a positive integer, got ${String(v)}`)
  }
  return new CentralClientImpl(init.url, pingMs, healthMs, ackMs, maxBytes, init.log)
}

class CentralClientImpl extends TypedEventEmitter<CentralClientEvents> implements CentralClient {
  readonly #url: string
  readonly #pingMs: number
  readonly #healthMs: number
  readonly #ackMs: number
  readonly #maxBytes: number
  readonly #log?: Logger
  readonly #topics = new Set<string>()
  readonly #pending = new Map<number, { resolve(dup: boolean): void, reject(err: Error): void }>()
  #ws: WebSocket | undefined
  #running = false
  #open = false
  #lastPong = 0
  #wasHealthy = false
  #ref = 0
  #backoff = CENTRAL_RECONNECT_MIN_MS
  #pinger: ReturnType<typeof setInterval> | undefined
  #reconnect: ReturnType<typeof setTimeout> | undefined

  constructor (url: string, pingMs: number, healthMs: number, ackMs: number, maxBytes: number, log?: Logger) {
    super()
    this.#url = url
    this.#pingMs = pingMs
    this.#healthMs = healthMs
    this.#ackMs = ackMs
    this.#maxBytes = maxBytes
    this.#log = log
  }

  healthy (): boolean {
    return this.#open && Date.now() - this.#lastPong <= this.#healthMs
  }

  #checkHealth (): void {
    const h = this.healthy()
    if (h !== this.#wasHealthy) {
      this.#wasHealthy = h
      this.safeDispatchEvent('health', { detail: { healthy: h } })
    }
  }

  subscribe (topic: string): void {
    checkTopic(topic)
    if (this.#topics.has(topic)) return
    this.#topics.add(topic)
    this.#send(encodeClientFrame({ op: 'sub', topic }))
  }

  unsubscribe (topic: string): void {
    if (!this.#topics.delete(topic)) return
    this.#send(encodeClientFrame({ op: 'unsub', topic }))
  }

  async publish (topic: string, envelope: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    checkTopic(topic)
    options.signal?.throwIfAborted()
    const ws = this.#ws
    if (ws == null || !this.#open) throw new CentralUnavailableError('The central pub/sub server is not connected')
    const ref = ++this.#ref
    return await new Promise<boolean>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer)
        options.signal?.removeEventListener('abort', onAbort)
        this.#pending.delete(ref)
      }
      const onAbort = (): void => { done(); reject(new AbortedError()) }
      const timer = setTimeout(() => { done(); reject(new CentralUnavailableError(`The central pub/sub server did not acknowledge within ${this.#ackMs} ms`)) }, this.#ackMs)
      options.signal?.addEventListener('abort', onAbort, { once: true })
      this.#pending.set(ref, { resolve: (dup) => { done(); resolve(dup) }, reject: (err) => { done(); reject(err) } })
      ws.send(encodeClientFrame({ op: 'pub', topic, data: envelope, ref }), (err) => {
        if (err != null) this.#pending.get(ref)?.reject(new CentralUnavailableError(`Sending to the central pub/sub server failed: ${err.message}`))
      })
    })
  }

  #send (text: string): void {
    if (this.#open) this.#ws?.send(text)
  }

  #connect (): void {
    if (!this.#running) return
    const ws = new WebSocket(this.#url, { maxPayload: Math.ceil(this.#maxBytes * 4 / 3) + CENTRAL_FRAME_OVERHEAD_BYTES, handshakeTimeout: 5_000 })
    this.#ws = ws
    ws.on('open', () => {
      this.#open = true
      this.#backoff = CENTRAL_RECONNECT_MIN_MS
      this.#lastPong = Date.now()
      for (const t of this.#topics) ws.send(encodeClientFrame({ op: 'sub', topic: t }))
      this.#log?.debug('central pub/sub server connected')
      this.#checkHealth()
    })
    ws.on('pong', () => { this.#lastPong = Date.now(); this.#checkHealth() })
    ws.on('message', (raw: Buffer, isBinary: boolean) => {
      if (isBinary) return
      let f
      try {
        f = decodeServerFrame(raw.toString('utf8'), this.#maxBytes)
      } catch (err) {
        this.#log?.debug({ err: (err as Error).message }, 'malformed frame from the central server; dropped')
        return
      }
      if (f.op === 'msg') {
        if (this.#topics.has(f.topic)) this.safeDispatchEvent('message', { detail: { topic: f.topic, data: f.data } })
      } else if (f.op === 'ack') {
        this.#pending.get(f.ref)?.resolve(f.dup)
      } else if (f.ref != null) {
        this.#pending.get(f.ref)?.reject(new UmbraError(f.message, f.code))
      } else {
        this.#log?.debug({ code: f.code }, 'central server refused a frame')
      }
    })
    ws.on('error', (err) => { this.#log?.debug({ err: err.message }, 'central pub/sub connection error') })
    ws.on('close', () => {
      if (this.#ws === ws) {
        this.#ws = undefined
        this.#open = false
        for (const p of [...this.#pending.values()]) p.reject(new CentralUnavailableError('The connection to the central pub/sub server closed'))
        this.#checkHealth()
        this.#scheduleReconnect()
      }
    })
  }

  #scheduleReconnect (): void {
    if (!this.#running || this.#reconnect != null) return
    const delay = this.#backoff
    this.#backoff = Math.min(this.#backoff * 2, CENTRAL_RECONNECT_MAX_MS)
    this.#reconnect = setTimeout(() => { this.#reconnect = undefined; this.#connect() }, delay)
    this.#reconnect.unref()
  }

  async start (): Promise<void> {
    if (this.#running) return
    this.#running = true
    this.#connect()
    this.#pinger = setInterval(() => {
      if (this.#open) this.#ws?.ping()
      this.#checkHealth()
    }, this.#pingMs)
    this.#pinger.unref()
  }

  async stop (): Promise<void> {
    if (!this.#running) return
    this.#running = false
    clearInterval(this.#pinger)
    clearTimeout(this.#reconnect)
    this.#reconnect = undefined
    const ws = this.#ws
    this.#ws = undefined
    this.#open = false
    for (const p of [...this.#pending.values()]) p.reject(new CentralUnavailableError('The central client stopped'))
    ws?.terminate()
    this.#checkHealth()
  }
}
