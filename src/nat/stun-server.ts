/**
 * Umbra's STUN server (RFC 5389 Binding over UDP): every server node runs
 * one so that WebRTC ICE in Umbra asks only the network's own STUN servers
 * for server-reflexive candidates, never a third party (issue 4).
 *
 * Behaviour, per datagram:
 * 1. The source IP spends one token of its bucket; an empty bucket drops the
 *    datagram unread (`rateLimited`).
 * 2. It is decoded by the schema module (`stun.ts`); a failure is counted
 *    (`malformed`) and dropped, never answered and never thrown.
 * 3. A Binding request is answered with a Success Response carrying the
 *    request's source as XOR-MAPPED-ADDRESS (RFC 5389 §7.3.1, §15.2); one
 *    with unknown comprehension-required attributes gets a 420 error
 *    response listing them, with an empty reason phrase (RFC 5389 §7.3.1,
 *    §15.6). A FINGERPRINT is added only when the request carried one; no
 *    SOFTWARE is sent.
 * 4. Anything else well formed (indications, responses, other methods) is
 *    dropped (`ignored`); responses are never answered, so two servers
 *    cannot ping-pong.
 *
 * Not an amplifier: no response is ever more than MAX_STUN_AMPLIFICATION
 * (2.2) times its request's size; one that would be is not sent (counted
 * `oversized`). The largest ratios are a 44-byte success to a 20-byte
 * request from an IPv6 source (2.2), 32 to 20 from IPv4 (1.6), and 36 to 24
 * for a 420 naming one unknown attribute (1.5). Per-source-IP token buckets
 * bound what any one address can make the server send; spoofed sources
 * still get at most that factor, to the spoofed victim, at the bucket rate.
 *
 * @example
 * ```ts
 * const stun = createStunServer({ port: DEFAULT_STUN_PORT })
 * await stun.start()
 * console.log(stun.address()) // { host: '0.0.0.0', port: 3478 }
 * // or bind given interfaces, both families: createStunServer({ host: ['192.0.2.7', '2001:db8::7'] })
 * await stun.stop()
 * ```
 */
import { createSocket, type RemoteInfo, type Socket, type SocketType } from 'node:dgram'
import { isIP } from 'node:net'
import { InvalidOptionError, NotStartedError } from '../errors.ts'
import { logger } from '../logger.ts'
import {
  DEFAULT_STUN_HOST,
  DEFAULT_STUN_PORT,
  DEFAULT_STUN_RATE_LIMIT_PER_SECOND,
  MAX_STUN_AMPLIFICATION,
  MAX_STUN_RATE_LIMIT_SOURCES,
  STUN_ERROR,
  STUN_METHOD_BINDING,
  STUN_RATE_LIMIT_SWEEP_MS
} from './constants.ts'
import { decodeStunMessage, encodeStunMessage, type StunAddress, type StunMessage } from './stun.ts'

const log = logger('nat:stun')

/** Attempts at binding the IPv6 socket to the IPv4 socket's random port when `port` is 0 and `host` is `'::'`. */
const DUAL_STACK_BIND_ATTEMPTS = 5

/** Options of {@link createStunServer}. */
export interface StunServerInit {
  /**
   * IP address(es) to bind, all on the same port. An IPv4 address binds one
   * udp4 socket; an IPv6 address one udp6 socket; `'::'` binds both, udp4 on
   * `0.0.0.0` and IPv6-only udp6 on `::` (if IPv6 is unavailable the server
   * runs on IPv4 alone and logs a warning). A wildcard makes the specific
   * addresses of its family redundant (they are skipped). A socket after the
   * first that cannot bind is skipped with a warning.
   * @default '0.0.0.0'
   */
  host?: string | string[]
  /**
   * UDP port, 0–65535; 0 picks a free port (see {@link StunServer.address}).
   * @default 3478 (RFC 5389 §18.4)
   */
  port?: number
  /**
   * Datagrams accepted per second from one source IP (token bucket of that
   * capacity, refilled continuously); the excess is dropped unread.
   * @default 50
   */
  rateLimitPerSecond?: number
  /**
   * The OTHER-ADDRESS (RFC 5780 §7.4) to put in a success answer, given the
   * local address of the socket the request arrived at; undefined for none.
   * Left out of an answer it would make larger than
   * {@link MAX_STUN_AMPLIFICATION} times the request.
   * @default none
   */
  otherAddress?: (local: { address: string, port: number }) => StunAddress | undefined
}

/** What a STUN server has seen since it was created (monotonic counts). */
export interface StunServerCounters {
  /** Well-formed Binding requests processed (answered with success or 420). */
  requests: number
  /** Responses handed to the socket (success and error responses). */
  responses: number
  /** Datagrams that were not well-formed STUN (dropped, see `StunMalformedError`). */
  malformed: number
  /** Datagrams dropped unread because their source IP's token bucket was empty. */
  rateLimited: number
  /** Well-formed STUN messages that were not Binding requests (indications, responses, other methods); dropped. */
  ignored: number
  /** Responses not sent because they would exceed MAX_STUN_AMPLIFICATION times their request's size. */
  oversized: number
}

/** A running or stopped STUN server; see {@link createStunServer}. */
export interface StunServer {
  /**
   * Binds the socket(s) and starts answering. Idempotent: a second call
   * returns the same promise.
   * @throws the socket's bind error (e.g. `EADDRINUSE`) as it is
   */
  start(): Promise<void>
  /** Closes every socket and timer. Idempotent; the server may be started again. */
  stop(): Promise<void>
  /**
   * The bound address: the udp4 socket's, or the udp6 socket's when only
   * that one is bound.
   * @throws {NotStartedError} `UMBRA_ERR_NOT_STARTED` before `start()` resolves or after `stop()`
   */
  address(): { host: string, port: number }
  /** A snapshot of the counters. */
  counters(): StunServerCounters
}

/**
 * Creates a STUN server (RFC 5389 Binding, UDP); call `start()` to bind.
 * @param init - see {@link StunServerInit}
 * @returns a {@link StunServer}
 * @throws {InvalidOptionError} `UMBRA_ERR_INVALID_OPTION` when `host` is not
 * an IP address, `port` not an integer 0–65535, or `rateLimitPerSecond` not a
 * positive finite number
 */
export function createStunServer (init: StunServerInit = {}): StunServer {
  const hostInit = init.host ?? DEFAULT_STUN_HOST
  const port = init.port ?? DEFAULT_STUN_PORT
  const rate = init.rateLimitPerSecond ?? DEFAULT_STUN_RATE_LIMIT_PER_SECOND
  const hostList = Array.isArray(hostInit) ? hostInit : [hostInit]
  if (hostList.length === 0 || hostList.some((h) => typeof h !== 'string' || isIP(h) === 0)) {
    throw new InvalidOptionError(`createStunServer: host must be an IPv4 or IPv6 address (or a non-empty list of them) such as '0.0.0.0' or '::', got ${JSON.stringify(hostInit)}`)
  }
  const hosts = bindPlan(hostList)
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
    throw new InvalidOptionError(`createStunServer: port must be an integer 0..65535 (0 = any free port), got ${String(port)}`)
  }
  if (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0) {
    throw new InvalidOptionError(`createStunServer: rateLimitPerSecond must be a positive number, got ${String(rate)}`)
  }

  const counters: StunServerCounters = { requests: 0, responses: 0, malformed: 0, rateLimited: 0, ignored: 0, oversized: 0 }
  const limiter = new TokenBuckets(rate, MAX_STUN_RATE_LIMIT_SOURCES)
  let sockets: Socket[] = []
  let starting: Promise<void> | undefined
  let sweep: ReturnType<typeof setInterval> | undefined

  /** A Binding success answer; with `other` only when that stays within the amplification bound. */
  const success = (msg: StunMessage, requestBytes: number, rinfo: RemoteInfo, other: StunAddress | undefined): Uint8Array => {
    const base = { method: STUN_METHOD_BINDING, messageClass: 'success' as const, transactionId: msg.transactionId, xorMappedAddress: reflexiveAddress(rinfo), fingerprint: msg.fingerprint }
    if (other != null) {
      const withOther = encodeStunMessage({ ...base, otherAddress: other })
      if (withOther.length <= requestBytes * MAX_STUN_AMPLIFICATION) return withOther
    }
    return encodeStunMessage(base)
  }

  const onMessage = (socket: Socket, datagram: Buffer, rinfo: RemoteInfo): void => {
    if (!limiter.take(rinfo.address)) {
      counters.rateLimited++
      return
    }
    let msg: StunMessage
    try {
      msg = decodeStunMessage(datagram)
    } catch {
      counters.malformed++
      return
    }
    if (msg.messageClass !== 'request' || msg.method !== STUN_METHOD_BINDING || rinfo.port === 0) {
      counters.ignored++
      return
    }
    counters.requests++
    const response = msg.unknownRequired.length > 0
      ? encodeStunMessage({
        method: STUN_METHOD_BINDING,
        messageClass: 'error',
        transactionId: msg.transactionId,
        // No reason phrase: it would make the answer 2.3 times its request (RFC 5389 §15.6 allows any phrase).
        errorCode: { code: STUN_ERROR.UNKNOWN_ATTRIBUTE, reason: '' },
        unknownAttributes: msg.unknownRequired,
        fingerprint: msg.fingerprint
      })
      : success(msg, datagram.length, rinfo, init.otherAddress?.(socket.address()))
    if (response.length > datagram.length * MAX_STUN_AMPLIFICATION) {
      counters.oversized++
      return
    }
    counters.responses++
    socket.send(response, rinfo.port, rinfo.address, (err) => {
      if (err != null) log.debug({ err: err.message }, 'STUN response not sent')
    })
  }

  const open = async (type: SocketType, address: string, bindPort: number): Promise<Socket> => {
    const socket = createSocket({ type, ipv6Only: type === 'udp6' })
    socket.on('message', (datagram, rinfo) => { onMessage(socket, datagram, rinfo) })
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject)
        socket.bind({ address, port: bindPort }, () => {
          socket.off('error', reject)
          resolve()
        })
      })
    } catch (err) {
      socket.close()
      throw err
    }
    socket.on('error', (err) => { log.warn({ err: err.message }, 'STUN socket error') })
    return socket
  }

  const bindAll = async (): Promise<Socket[]> => {
    if (hosts.length === 1 && hosts[0] === '::') return await bindDual()
    const out: Socket[] = []
    for (const h of hosts) {
      if (out.length === 0) {
        out.push(...(h === '::' ? await bindDual() : [await open(isIP(h) === 6 ? 'udp6' : 'udp4', h, port)]))
        continue
      }
      try {
        const samePort = out[0]?.address().port ?? port
        if (h === '::') {
          out.push(await open('udp4', '0.0.0.0', samePort))
          out.push(await open('udp6', '::', samePort))
        } else {
          out.push(await open(isIP(h) === 6 ? 'udp6' : 'udp4', h, samePort))
        }
      } catch (err) {
        log.warn({ err: (err as Error).message, host: h }, 'STUN server: an address could not be bound; skipped')
      }
    }
    return out
  }

  const bindDual = async (): Promise<Socket[]> => {
    for (let attempt = 1; ; attempt++) {
      const v4 = await open('udp4', '0.0.0.0', port)
      try {
        return [v4, await open('udp6', '::', v4.address().port)]
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code
        if (port === 0 && code === 'EADDRINUSE' && attempt < DUAL_STACK_BIND_ATTEMPTS) {
          v4.close()
          continue
        }
        log.warn({ err: (err as Error).message }, 'STUN server: IPv6 socket not bound; answering on IPv4 only')
        return [v4]
      }
    }
  }

  const server: StunServer = {
    async start () {
      starting ??= (async () => {
        sockets = await bindAll()
        sweep = setInterval(() => { limiter.sweep() }, STUN_RATE_LIMIT_SWEEP_MS)
        sweep.unref()
        const { host: boundHost, port: boundPort } = server.address()
        log.info({ host: boundHost, port: boundPort, sockets: sockets.length }, 'STUN server listening')
      })().catch((err: unknown) => {
        starting = undefined
        throw err
      })
      return starting
    },

    async stop () {
      const pending = starting
      if (pending == null) return
      await pending.catch(() => {})
      if (starting !== pending) return
      starting = undefined
      if (sweep != null) clearInterval(sweep)
      sweep = undefined
      const closing = sockets.map(async (socket) => new Promise<void>((resolve) => { socket.close(() => { resolve() }) }))
      sockets = []
      limiter.clear()
      await Promise.all(closing)
    },

    address () {
      const socket = sockets[0]
      if (socket == null) throw new NotStartedError('The STUN server is not started')
      const { address, port: boundPort } = socket.address()
      return { host: address, port: boundPort }
    },

    counters () {
      return { ...counters }
    }
  }
  return server
}

/**
 * The IPs a node's STUN server binds by default: those of its listen
 * multiaddrs (`/ip4/…`, `/ip6/…`; a wildcard stays a wildcard), so that it
 * answers only where the node itself listens; `'0.0.0.0'` when none names an IP.
 * @param listen - listen multiaddr strings, e.g. `/ip4/127.0.0.1/tcp/4001`
 * @returns a non-empty list of IP addresses
 */
export function stunHostsForListen (listen: readonly string[]): string[] {
  const ips = listen.map((a) => /^\/ip[46]\/([^/]+)/.exec(a)?.[1]).filter((ip): ip is string => ip != null && isIP(ip) !== 0)
  return ips.length > 0 ? [...new Set(ips)] : [DEFAULT_STUN_HOST]
}

/**
 * The addresses to bind, in order: duplicates removed, and the specific
 * addresses of a family dropped when its wildcard is listed (`'::'` covers
 * both families, as it binds `0.0.0.0` too).
 */
function bindPlan (list: readonly string[]): string[] {
  const all = [...new Set(list)]
  const dual = all.includes('::')
  const any4 = dual || all.includes('0.0.0.0')
  return all.filter((h) => {
    if (h === '::') return true
    if (isIP(h) === 4) return h === '0.0.0.0' ? !dual : !any4
    return !dual
  })
}

/** The source of a request as XOR-MAPPED-ADDRESS content; an IPv4-mapped IPv6 source is reported as the IPv4 address it is. */
function reflexiveAddress (rinfo: RemoteInfo): StunAddress {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(rinfo.address)
  if (mapped?.[1] != null) return { address: mapped[1], port: rinfo.port, family: 'IPv4' }
  return { address: rinfo.address, port: rinfo.port, family: rinfo.family === 'IPv6' ? 'IPv6' : 'IPv4' }
}

/**
 * Per-key token buckets: capacity `max(rate, 1)` tokens, refilled at `rate`
 * per second. At most `maxKeys` buckets are kept; the oldest is forgotten
 * first.
 */
class TokenBuckets {
  readonly #rate: number
  readonly #capacity: number
  readonly #maxKeys: number
  readonly #buckets = new Map<string, { tokens: number, at: number }>()

  constructor (rate: number, maxKeys: number) {
    this.#rate = rate
    this.#capacity = Math.max(rate, 1)
    this.#maxKeys = maxKeys
  }

  /** Spends one token of `key`'s bucket; false when it is empty. */
  take (key: string): boolean {
    const now = performance.now()
    let bucket = this.#buckets.get(key)
    if (bucket == null) {
      if (this.#buckets.size >= this.#maxKeys) {
        const oldest = this.#buckets.keys().next().value
        if (oldest !== undefined) this.#buckets.delete(oldest)
      }
      bucket = { tokens: this.#capacity, at: now }
      this.#buckets.set(key, bucket)
    } else {
      bucket.tokens = Math.min(this.#capacity, bucket.tokens + (now - bucket.at) * this.#rate / 1000)
      bucket.at = now
    }
    if (bucket.tokens < 1) return false
    bucket.tokens -= 1
    return true
  }

  /** Forgets buckets that have refilled completely (equivalent to a fresh bucket). */
  sweep (): void {
    const now = performance.now()
    for (const [key, bucket] of this.#buckets) {
      if (bucket.tokens + (now - bucket.at) * this.#rate / 1000 >= this.#capacity) this.#buckets.delete(key)
    }
  }

  clear (): void {
    this.#buckets.clear()
  }
}
