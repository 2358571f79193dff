/**
 * Birthday-paradox UDP hole punching between one NAT with a consistent
 * (endpoint-independent) mapping and one that picks a random port per
 * destination (issue 17 item 2; hyperdht `lib/holepuncher.js` is the model:
 * 256 sockets, short TTL, 10 ms probes, at most 1,750 of them).
 *
 * - The **randomising** side ({@link openBirthdaySockets}) opens
 *   {@link BIRTHDAY_SOCKETS} sockets and sends one short-TTL datagram from
 *   each towards the consistent side's mapped address: each opens a mapping
 *   in its own NAT (a random public port) while the packet dies before it
 *   reaches the far NAT. It then waits for a probe on any of them.
 * - The **consistent** side ({@link probeRandomPorts}) sends an
 *   authenticated probe from its one mapped socket to a random port of the
 *   other side's public IP every {@link PROBE_INTERVAL_MS}. A probe that
 *   hits one of the ~256 open mappings passes the randomising NAT (it is a
 *   reply to that mapping), and the socket behind it answers with an ack,
 *   which passes the consistent NAT (a reply to the probe's own mapping).
 *   Chance of a hit after n probes with k = 256 mappings among the 64,512
 *   ports 1024–65535: 1 − (1 − k/64512)^n, about 64 % at n = 256, 98 % at
 *   1,024, 99.9 % at 1,750.
 *
 * The winner is the first authentic probe/ack pair; the other sockets
 * close. Which IP may be probed at all is decided by the caller (the
 * signalling layer): only one a server node vouched for (docs/nat.md).
 *
 * @example
 * ```ts
 * const key = deriveDatagramKey(secret)
 * // randomising side
 * const sockets = await openBirthdaySockets({ target: { host: '203.0.113.1', port: 41000 }, key })
 * const { socket, remote } = await sockets.won
 * // consistent side (socket: the one STUN mapped to 203.0.113.1:41000)
 * const hit = await probeRandomPorts({ socket, peerIp: '203.0.113.2', key })
 * ```
 */
import { createSocket, type Socket } from 'node:dgram'
import { once } from 'node:events'
import { randomInt } from 'node:crypto'
import { isIPv4 } from 'node:net'
import { AbortedError, InvalidOptionError } from '../errors.ts'
import { decodeDatagram, encodeDatagram } from './birthday-wire.ts'
import { BirthdayExhaustedError } from './errors.ts'

/** Sockets the randomising side opens (hyperdht `BIRTHDAY_SOCKETS`). */
export const BIRTHDAY_SOCKETS = 256
/** TTL of the randomising side's opening datagram, hops: far enough to pass its own NAT, too short to reach the other (hyperdht `HOLEPUNCH_TTL`). */
export const BIRTHDAY_OPEN_TTL = 5
/** TTL of every other datagram, hops (hyperdht `DEFAULT_TTL`, Linux's default). */
export const DEFAULT_UDP_TTL = 64
/**
 * Interval between two probes of the consistent side, ms. hyperdht uses
 * 20 ms; at 10 ms the odds per probe are the same and the median punch
 * (about 175 probes) takes 1.75 s instead of 3.5 s, for 100 datagrams of
 * 54 bytes a second.
 */
export const PROBE_INTERVAL_MS = 10
/** Most probes one punch sends (hyperdht: 1,750; 17.5 s at 10 ms). */
export const MAX_PROBES = 1_750
/** Ports the consistent side probes: the range Linux `--random-fully` and most NATs pick from. */
export const PROBE_PORT_RANGE: readonly [number, number] = [1024, 65535]
/**
 * How often the randomising side sends its short-TTL datagram again, ms:
 * keeps its 256 mappings alive while the probes run (Linux conntrack drops an
 * unreplied UDP entry after 30 s, `nf_conntrack_udp_timeout`).
 */
export const OPEN_REFRESH_MS = 10_000

/** A UDP endpoint. */
export interface Endpoint {
  /** IPv4 address as text. */
  host: string
  /** UDP port, 1–65535. */
  port: number
}

/** The pair a punch found. */
export interface PunchResult {
  /** The socket of this side that reached the peer; the caller owns it now. */
  socket: Socket
  /** The peer's public endpoint that answered (its NAT's mapped port). */
  remote: Endpoint
  /** Time from the start of probing (or of opening the sockets) to the hit, ms. */
  elapsedMs: number
  /** Probes sent (consistent side) or sockets opened (randomising side). */
  count: number
}

/** Options of {@link openBirthdaySockets}. */
export interface BirthdaySocketsInit {
  /** The consistent side's mapped address: where the opening datagrams go (an IP a server vouched for). */
  target: Endpoint
  /** The datagram key ({@link deriveDatagramKey}). */
  key: Buffer
  /** @default 256 */
  sockets?: number
  /** @default 5 */
  ttl?: number
  /** Local address the sockets bind. @default '0.0.0.0' */
  bindHost?: string
  /** Local ports to bind, one per socket (tests); otherwise ephemeral ones. */
  localPorts?: number[]
  /** Aborts: every socket closes and `won` rejects with UMBRA_ERR_ABORTED. */
  signal?: AbortSignal
}

/** The randomising side's open sockets. */
export interface BirthdaySockets {
  /** Local ports of the sockets opened. */
  readonly ports: number[]
  /**
   * The first socket that received an authentic probe from `target`, after
   * it answered with an ack; the others are closed by then. The winner keeps
   * answering further probes with acks until the caller removes its
   * `message` listeners. Rejects with UMBRA_ERR_ABORTED on abort or close().
   */
  readonly won: Promise<PunchResult>
  /** Closes every socket not yet won. Idempotent. */
  close: () => void
  /** Datagrams that reached the sockets but were not an authentic probe from `target` (ignored). */
  readonly stats: { strays: number }
}

function checkEndpoint (name: string, e: Endpoint): void {
  if (e == null || typeof e.host !== 'string' || !isIPv4(e.host)) throw new InvalidOptionError(`${name}.host must be an IPv4 address`)
  if (!Number.isInteger(e.port) || e.port < 1 || e.port > 0xffff) throw new InvalidOptionError(`${name}.port must be an integer 1..65535`)
}

async function bindUdp4 (host: string, port: number): Promise<Socket> {
  const socket = createSocket('udp4')
  socket.on('error', () => {})
  socket.bind(port, host)
  await once(socket, 'listening')
  return socket
}

async function sendTo (socket: Socket, data: Buffer, to: Endpoint): Promise<void> {
  await new Promise<void>((resolve) => { socket.send(data, to.port, to.host, () => { resolve() }) })
}

/**
 * The randomising side: opens the sockets, sends the short-TTL datagram from
 * each, and waits for a probe (see the module comment).
 * @throws UMBRA_ERR_INVALID_OPTION for a bad target or count; `won` rejects with UMBRA_ERR_ABORTED
 */
export async function openBirthdaySockets (init: BirthdaySocketsInit): Promise<BirthdaySockets> {
  checkEndpoint('target', init.target)
  const count = init.localPorts?.length ?? init.sockets ?? BIRTHDAY_SOCKETS
  if (!Number.isInteger(count) || count < 1 || count > 1024) throw new InvalidOptionError('sockets must be an integer 1..1024')
  const ttl = init.ttl ?? BIRTHDAY_OPEN_TTL
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > 255) throw new InvalidOptionError('ttl must be an integer 1..255')
  const { target, key, signal } = init
  signal?.throwIfAborted()
  const started = performance.now()
  const sockets: Socket[] = []
  let closed = false
  const stats = { strays: 0 }
  let refresh: ReturnType<typeof setInterval> | undefined
  let settle: { resolve: (r: PunchResult) => void, reject: (e: Error) => void } | undefined
  const won = new Promise<PunchResult>((resolve, reject) => { settle = { resolve, reject } })
  won.catch(() => {})
  const closeAll = (except?: Socket): void => {
    closed = true
    clearInterval(refresh)
    for (const s of sockets) {
      if (s === except) continue
      s.removeAllListeners('message')
      try { s.close() } catch { /* closed */ }
    }
    signal?.removeEventListener('abort', onAbort)
  }
  const onAbort = (): void => {
    closeAll()
    settle?.reject(new AbortedError('birthday punch aborted', { cause: signal?.reason }))
  }
  signal?.addEventListener('abort', onAbort, { once: true })
  const open = async (s: Socket): Promise<void> => {
    s.setTTL(ttl)
    await sendTo(s, encodeDatagram('open', key), target)
    s.setTTL(DEFAULT_UDP_TTL)
  }
  try {
    for (let i = 0; i < count; i++) {
      const s = await bindUdp4(init.bindHost ?? '0.0.0.0', init.localPorts?.[i] ?? 0)
      sockets.push(s)
      s.on('message', (msg, rinfo) => {
        if (rinfo.address !== target.host || rinfo.port !== target.port || decodeDatagram(msg, key) !== 'probe') {
          stats.strays++
          return
        }
        s.send(encodeDatagram('ack', key), rinfo.port, rinfo.address)
        if (closed) return
        closeAll(s)
        settle?.resolve({ socket: s, remote: { host: rinfo.address, port: rinfo.port }, elapsedMs: performance.now() - started, count })
      })
      if (signal?.aborted === true) break
      await open(s)
    }
  } catch (err) {
    closeAll()
    throw err
  }
  if (signal?.aborted === true) onAbort()
  else {
    refresh = setInterval(() => { for (const s of sockets) void open(s).catch(() => {}) }, OPEN_REFRESH_MS)
    refresh.unref()
  }
  return {
    ports: sockets.map((s) => s.address().port),
    won,
    stats,
    close () {
      if (closed) return
      closeAll()
      settle?.reject(new AbortedError('birthday sockets closed'))
    }
  }
}

/** Options of {@link probeRandomPorts}. */
export interface ProbeInit {
  /** This side's bound socket: the one whose (consistent) mapping the peer was told. */
  socket: Socket
  /** The randomising side's public IP (one a server vouched for). */
  peerIp: string
  /** The datagram key ({@link deriveDatagramKey}). */
  key: Buffer
  /** @default 20 */
  intervalMs?: number
  /** @default 1750 */
  maxProbes?: number
  /** Inclusive range of ports probed. @default [1024, 65535] */
  portRange?: readonly [number, number]
  signal?: AbortSignal
}

/**
 * The consistent side: probes random ports of `peerIp` from `socket` until
 * an authentic ack comes back (see the module comment). The socket stays
 * open and belongs to the caller.
 * @throws UMBRA_ERR_BIRTHDAY_EXHAUSTED after `maxProbes` probes and one more interval without an ack; UMBRA_ERR_ABORTED; UMBRA_ERR_INVALID_OPTION
 */
export async function probeRandomPorts (init: ProbeInit): Promise<PunchResult> {
  checkEndpoint('peer', { host: init.peerIp, port: 1 })
  const intervalMs = init.intervalMs ?? PROBE_INTERVAL_MS
  const maxProbes = init.maxProbes ?? MAX_PROBES
  const [lo, hi] = init.portRange ?? PROBE_PORT_RANGE
  if (!Number.isFinite(intervalMs) || intervalMs < 1) throw new InvalidOptionError('intervalMs must be at least 1 ms')
  if (!Number.isInteger(maxProbes) || maxProbes < 1 || maxProbes > MAX_PROBES) throw new InvalidOptionError(`maxProbes must be an integer 1..${MAX_PROBES}`)
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 1 || hi > 0xffff || lo > hi) throw new InvalidOptionError('portRange must be [lo, hi] within 1..65535')
  const { socket, peerIp, key, signal } = init
  signal?.throwIfAborted()
  const started = performance.now()
  let sent = 0
  return await new Promise<PunchResult>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined
    const done = (): void => {
      clearTimeout(timer)
      socket.removeListener('message', onMessage)
      signal?.removeEventListener('abort', onAbort)
    }
    const onMessage = (msg: Buffer, rinfo: { address: string, port: number }): void => {
      if (rinfo.address !== peerIp || decodeDatagram(msg, key) !== 'ack') return
      done()
      resolve({ socket, remote: { host: rinfo.address, port: rinfo.port }, elapsedMs: performance.now() - started, count: sent })
    }
    const onAbort = (): void => {
      done()
      reject(new AbortedError('birthday probing aborted', { cause: signal?.reason }))
    }
    const tick = (): void => {
      if (sent >= maxProbes) {
        done()
        reject(new BirthdayExhaustedError(`no ack after ${sent} probes of ${peerIp}`))
        return
      }
      sent++
      socket.send(encodeDatagram('probe', key), randomInt(lo, hi + 1), peerIp)
      timer = setTimeout(tick, sent >= maxProbes ? Math.max(intervalMs, 500) : intervalMs)
    }
    socket.on('message', onMessage)
    signal?.addEventListener('abort', onAbort, { once: true })
    tick()
  })
}

/**
 * Binds a fresh UDP socket for the consistent side (its mapping is then
 * learnt with a STUN Binding from that very socket).
 */
export async function bindPunchSocket (host = '0.0.0.0', port = 0): Promise<Socket> {
  return await bindUdp4(host, port)
}
