/**
 * `/umbra/birthday-punch/1.0.0` (issue 17 items 2 and 3; docs/nat.md
 * "Birthday punching"): signalling of a birthday-paradox UDP punch over the
 * relayed connection, the safety rules that keep it from being aimed at a
 * third party, and the libp2p connection on the pair it finds.
 *
 * ```
 * A (initiator)              R (server, relay)               B (responder)
 *   ── VOUCH_REQUEST ─────────▶                 ◀──────────── VOUCH_REQUEST ──
 *   ◀─ VOUCHER(A, ip_A) ──────                  ───────── VOUCHER(B, ip_B) ──▶
 *   ── OFFER(mapping, mapped?, secret, voucher_A) ─ through R ─▶
 *   ◀─ ANSWER(mapping, mapped?, voucher_B) ──────── through R ──
 *   randomising side: 256 sockets, short TTL towards the consistent side's mapped address; then READY
 *   consistent side: on READY, probes random ports of the randomising side's vouched IP every 10 ms
 *   ── first authentic probe/ack pair wins; the consistent side sends RESULT(endpoint) ──
 *   both: a udx stream on the winning ports, Noise (A initiates) + Yamux: a libp2p connection
 * ```
 *
 * Safety (a node can never be made to spray a third party):
 * - every UDP packet of a punch goes only to an IP that a **server node
 *   vouched for**: a voucher is the server's Ed25519 signature over "peer P
 *   is connected to me from IP x" (x = the remote IP of P's direct
 *   connection to it), valid {@link VOUCHER_TTL_MS}. A voucher counts only
 *   when its server is the relay that carries the signalling connection or a
 *   bootstrap server of this node, its subject is the PeerId at the other
 *   end of the signalling connection, and it has not expired. The probed IP
 *   is the voucher's, never an address the peer claims; a claimed mapped
 *   address must be on the vouched IP;
 * - at most one birthday punch at a time per node (either side);
 * - back-off per peer after a punch that probed and failed:
 *   {@link BACKOFF_BASE_MS}, doubling to {@link BACKOFF_MAX_MS}; a success
 *   clears it (a refusal before any packet was sent does not count);
 * - at most {@link MAX_PROBES} probes ({@link PROBE_INTERVAL_MS} apart) and 256 opening
 *   datagrams per punch.
 */
import { randomBytes } from 'node:crypto'
import type { Socket } from 'node:dgram'
import { isIPv4 } from 'node:net'
import { peerIdFromMultihash } from '@libp2p/peer-id'
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import * as Digest from 'multiformats/hashes/digest'
import { withTimeout } from '../signals.ts'
import { BIRTHDAY_SOCKETS, bindPunchSocket, MAX_PROBES, openBirthdaySockets, PROBE_INTERVAL_MS, probeRandomPorts, type Endpoint, type PunchResult } from './birthday.ts'
import { BIRTHDAY_SECRET_BYTES, deriveDatagramKey } from './birthday-wire.ts'
import { BirthdayRefusedError } from './errors.ts'
import { connectionPath, relayPeerOf } from './path.ts'
import { PunchMessage, Voucher } from './pb/birthday.ts'
import { stunBinding } from './stun-client.ts'
import { upgradeUdx } from './udx-connection.ts'
import type { MappingBehaviour } from './mapping.ts'
import type { Logger } from '../logger.ts'
import type { Connection, Libp2p, PeerId, PrivateKey, Stream, Upgrader } from '@libp2p/interface'

/** The protocol id; allowed on limited (relayed) connections. */
export const BIRTHDAY_PROTOCOL = '/umbra/birthday-punch/1.0.0'
/** Wire version of {@link PunchMessage}. */
export const BIRTHDAY_PROTOCOL_VERSION = 1
/** Domain-separation prefix of a voucher (its own, STYLE.md "Wire and crypto"). */
export const VOUCHER_DOMAIN = 'umbra/birthday-punch/voucher/v1'
/** How long a voucher is valid, ms: one punch, with room for clock skew between a server and its clients. */
export const VOUCHER_TTL_MS = 2 * 60_000
/** Largest signalling message, bytes (a voucher is about 120 bytes, the signature 64). */
export const MAX_PUNCH_MESSAGE_BYTES = 1024
/** Time allowed for one signalling step (a voucher, an offer's answer, READY), ms. */
export const SIGNAL_STEP_TIMEOUT_MS = 10_000
/** Time allowed for a whole birthday punch, ms: MAX_PROBES × PROBE_INTERVAL_MS of probing (17.5 s) plus signalling and the upgrade, with room for a loaded machine. */
export const BIRTHDAY_PUNCH_TIMEOUT_MS = 45_000
/** Back-off after a failed punch with a peer, ms, doubling per failure (a randomising NAT rarely changes within minutes). */
export const BACKOFF_BASE_MS = 60_000
/** Longest back-off, ms. */
export const BACKOFF_MAX_MS = 60 * 60_000

const TYPE = { VOUCH_REQUEST: 1, VOUCHER: 2, OFFER: 3, ANSWER: 4, READY: 5, RESULT: 6, REFUSE: 7 } as const
const MAPPING_CODE = { consistent: 1, random: 2 } as const
const MAX_REASON_BYTES = 256

/** Test knobs of {@link BirthdayPunchInit}: the probing schedule and socket count (production uses the defaults). */
export interface BirthdayTuning {
  /** @default 256 */
  sockets?: number
  /** @default 20 */
  intervalMs?: number
  /** @default 1750 */
  maxProbes?: number
  /** @default [1024, 65535] */
  portRange?: readonly [number, number]
}

/** What {@link createBirthdayPunch} needs. */
export interface BirthdayPunchInit {
  libp2p: Libp2p
  /** Signs vouchers (server nodes). */
  privateKey: PrivateKey
  role: 'server' | 'client'
  log: Logger
  /** This node's NAT mapping now (src/nat/mapping.ts). */
  mapping: () => MappingBehaviour
  /** `host:port` STUN servers: the consistent side learns its punch socket's mapped address from the first that answers. */
  stunServers: string[]
  /** PeerIds of this node's bootstrap servers, whose vouchers count besides the signalling connection's relay. */
  trustedServers: () => string[]
  /** The node's libp2p upgrader (Noise, Yamux). */
  upgrader: () => Upgrader
  tuning?: BirthdayTuning
}

/** What a successful punch gives. */
export interface BirthdayOutcome {
  /** The libp2p connection on the punched pair. */
  connection: Connection
  /** This node's side: its NAT's mapping. */
  side: 'consistent' | 'random'
  /** Probes sent (consistent side) or sockets opened (randomising side). */
  count: number
  /** The peer's public endpoint on the pair. */
  remote: Endpoint
}

/** The service as the node holds it. */
export interface BirthdayPunch {
  start: () => Promise<void>
  stop: () => Promise<void>
  /**
   * Punches to `peer` over the relayed connection `via` (this node sends the
   * offer and runs the Noise initiator).
   * @throws UMBRA_ERR_BIRTHDAY_REFUSED (busy, backing off, mappings that do not fit, a voucher missing or invalid), UMBRA_ERR_BIRTHDAY_EXHAUSTED, UMBRA_ERR_ABORTED, or the upgrader's error
   */
  punch: (peer: PeerId, via: Connection, signal?: AbortSignal) => Promise<BirthdayOutcome>
  /** Refusals and outcomes so far, by reason (for tests and metrics). */
  readonly counters: Record<string, number>
}

interface CheckedVoucher { ip: string, bytes: Uint8Array<ArrayBuffer>, signature: Uint8Array<ArrayBuffer> }

/** The relay PeerId of a relayed connection (`…/p2p/<relay>/p2p-circuit…`), if any. */
function relayOf (conn: Connection): string | undefined {
  return relayPeerOf(conn.remoteAddr.toString())
}

function parseEndpoint (text: string): Endpoint | undefined {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(text)
  if (m?.[1] == null || !isIPv4(m[1])) return undefined
  const port = Number(m[2])
  return port >= 1 && port <= 0xffff ? { host: m[1], port } : undefined
}

function mappingOf (code: number): 'consistent' | 'random' | undefined {
  return code === MAPPING_CODE.consistent ? 'consistent' : code === MAPPING_CODE.random ? 'random' : undefined
}

/** The remote IPv4 address of a direct connection, or undefined. */
function remoteIp (conn: Connection): string | undefined {
  const ip = /^\/ip4\/([^/]+)\//.exec(conn.remoteAddr.toString())?.[1]
  return ip != null && isIPv4(ip) ? ip : undefined
}

/** Creates the birthday-punch service; see the module comment. */
export function createBirthdayPunch (init: BirthdayPunchInit): BirthdayPunch {
  const { libp2p, log } = init
  const tuning = init.tuning ?? {}
  let active = false
  const backoff = new Map<string, { until: number, failures: number }>()
  const counters: Record<string, number> = {}
  const count = (what: string): void => { counters[what] = (counters[what] ?? 0) + 1 }

  const refuse = (reason: string): BirthdayRefusedError => {
    count(`refused:${reason.split(':')[0] ?? reason}`)
    return new BirthdayRefusedError(`birthday punch refused: ${reason}`)
  }

  /** Throws when this node may not start a punch with `peer` now; marks it busy otherwise. */
  function claim (peer: PeerId): void {
    if (active) throw refuse('busy: another birthday punch is running')
    const b = backoff.get(peer.toString())
    if (b != null && b.until > Date.now()) throw refuse(`back-off: ${Math.ceil((b.until - Date.now()) / 1000)} s left after ${b.failures} failed punch(es) with this peer`)
    active = true
  }
  /** Ends a punch: success clears the peer's back-off; a failure after probing began doubles it; a refusal before leaves it. */
  function settle (peer: PeerId, ok: boolean, probed: boolean): void {
    active = false
    if (ok) { backoff.delete(peer.toString()); return }
    if (!probed) return
    const failures = (backoff.get(peer.toString())?.failures ?? 0) + 1
    backoff.set(peer.toString(), { failures, until: Date.now() + Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (failures - 1)) })
  }

  /** The next message, within `stepMs`; a REFUSE or another version throws UMBRA_ERR_BIRTHDAY_REFUSED. */
  async function read (lp: LengthPrefixedStream<Stream>, signal: AbortSignal, stepMs = SIGNAL_STEP_TIMEOUT_MS): Promise<PunchMessage> {
    const msg = PunchMessage.decode((await lp.read({ signal: withTimeout(signal, stepMs) })).subarray())
    if (msg.version !== BIRTHDAY_PROTOCOL_VERSION) throw refuse(`the peer speaks version ${msg.version}`)
    if (msg.type === TYPE.REFUSE) throw refuse(`the peer refused: ${msg.reason.slice(0, MAX_REASON_BYTES)}`)
    return msg
  }
  async function write (lp: LengthPrefixedStream<Stream>, msg: Partial<PunchMessage>, signal: AbortSignal): Promise<void> {
    await lp.write(PunchMessage.encode({ version: BIRTHDAY_PROTOCOL_VERSION, ...msg }), { signal })
  }

  /**
   * The voucher's IP when `bytes`/`signature` are a valid voucher for `subject` from a server this node trusts: a
   * bootstrap server or `server` (the relay of the signalling connection, or the server just asked); throws
   * UMBRA_ERR_BIRTHDAY_REFUSED otherwise.
   */
  async function checkVoucher (bytes: Uint8Array, signature: Uint8Array, subject: PeerId, server: string | undefined): Promise<string> {
    let v: Voucher
    try {
      v = Voucher.decode(bytes)
    } catch {
      throw refuse('unvouched: the voucher does not decode')
    }
    if (v.domain !== VOUCHER_DOMAIN) throw refuse('unvouched: wrong voucher domain')
    let signer: PeerId
    try {
      signer = peerIdFromMultihash(Digest.decode(v.server))
    } catch {
      throw refuse('unvouched: the voucher names no server PeerId')
    }
    const trusted = new Set([...init.trustedServers(), ...(server != null ? [server] : [])])
    if (!trusted.has(signer.toString())) throw refuse(`unvouched: ${signer.toString()} is neither the relay of this connection nor a bootstrap server`)
    if (signer.publicKey == null || !(await signer.publicKey.verify(bytes, signature))) throw refuse('unvouched: bad voucher signature')
    if (!Buffer.from(v.subject).equals(Buffer.from(subject.toMultihash().bytes))) throw refuse('unvouched: the voucher is for another peer')
    if (Number(v.expires) < Date.now()) throw refuse('unvouched: the voucher expired')
    if (!isIPv4(v.ip)) throw refuse('unvouched: the voucher names no IPv4 address')
    return v.ip
  }

  /** Asks `server` (a direct connection) to vouch for this node's address. */
  async function requestVoucher (server: string, signal: AbortSignal): Promise<CheckedVoucher> {
    const conn = libp2p.getConnections().find((c) => c.remotePeer.toString() === server && connectionPath(c, c.remotePeer) === 'direct')
    if (conn == null) throw refuse(`unvouched: no direct connection to the server ${server}`)
    const stream = await conn.newStream(BIRTHDAY_PROTOCOL, { signal })
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_PUNCH_MESSAGE_BYTES })
      await write(lp, { type: TYPE.VOUCH_REQUEST }, signal)
      const msg = await read(lp, signal)
      if (msg.type !== TYPE.VOUCHER) throw refuse('unvouched: the server sent no voucher')
      const ip = await checkVoucher(msg.voucher, msg.signature, libp2p.peerId, server)
      await stream.close({ signal }).catch(() => {})
      return { ip, bytes: msg.voucher, signature: msg.signature }
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
  }

  /** A server node signs what it sees: `peer` connected from the remote IP of `conn`. */
  async function vouch (lp: LengthPrefixedStream<Stream>, conn: Connection, signal: AbortSignal): Promise<void> {
    const ip = remoteIp(conn)
    if (init.role !== 'server' || ip == null || connectionPath(conn, conn.remotePeer) !== 'direct') {
      await write(lp, { type: TYPE.REFUSE, reason: 'this node vouches only as a server, over a direct IPv4 connection' }, signal)
      return
    }
    const bytes = Voucher.encode({ domain: VOUCHER_DOMAIN, subject: conn.remotePeer.toMultihash().bytes, ip, server: libp2p.peerId.toMultihash().bytes, expires: BigInt(Date.now() + VOUCHER_TTL_MS) })
    const signature = await init.privateKey.sign(bytes)
    count('vouched')
    await write(lp, { type: TYPE.VOUCHER, voucher: bytes, signature: new Uint8Array(signature) }, signal)
  }

  /** Binds the consistent side's punch socket and learns its mapped address; it must be on the vouched IP. */
  async function mappedSocket (vouchedIp: string, signal: AbortSignal): Promise<{ socket: Socket, mapped: Endpoint }> {
    const socket = await bindPunchSocket()
    try {
      for (const s of init.stunServers) {
        const server = parseEndpoint(s)
        if (server == null) continue
        const seen = await stunBinding(server, { socket, signal, timeout: 3_000 }).catch(() => undefined)
        if (seen == null) continue
        if (seen.address !== vouchedIp) throw refuse(`unvouched: the punch socket maps to ${seen.address}, not the vouched IP`)
        return { socket, mapped: { host: seen.address, port: seen.port } }
      }
      throw refuse('no STUN server answered for the punch socket')
    } catch (err) {
      socket.close()
      throw err
    }
  }

  /**
   * The punch itself, once both sides agreed: the randomising side opens its sockets and sends READY; the
   * consistent side probes on READY and sends RESULT. Resolves with this side's winning local port and the peer's endpoint.
   */
  async function run (lp: LengthPrefixedStream<Stream>, side: 'consistent' | 'random', key: Buffer, peerIp: string, peerMapped: Endpoint | undefined, own: Socket | undefined, signal: AbortSignal): Promise<{ localPort: number, remote: Endpoint, count: number }> {
    if (side === 'random') {
      if (peerMapped == null) throw refuse('the consistent peer named no mapped address')
      const sockets = await openBirthdaySockets({ target: peerMapped, key, sockets: tuning.sockets ?? BIRTHDAY_SOCKETS, signal })
      try {
        await write(lp, { type: TYPE.READY }, signal)
        // The peer's RESULT (or REFUSE) ends the wait as much as a probe does.
        // The probing may take all of its 17.5 s: this wait is bounded by the punch's signal, not by one signalling step.
        const next = read(lp, signal, BIRTHDAY_PUNCH_TIMEOUT_MS)
        next.catch(() => {})
        const won = await Promise.race([sockets.won, next.then((m): never => { throw refuse(`the peer ended the punch: ${m.reason.slice(0, MAX_REASON_BYTES) || 'no probe got through'}`) })])
        const localPort = won.socket.address().port
        won.socket.close()
        const result = await next
        if (result.type !== TYPE.RESULT || result.mapped === '') throw refuse('the peer sent no result')
        return { localPort, remote: won.remote, count: won.count }
      } catch (err) {
        log.debug({ sockets: sockets.ports.length, strays: sockets.stats.strays, target: `${peerMapped.host}:${peerMapped.port}` }, 'no probe reached the birthday sockets')
        throw err
      } finally {
        sockets.close()
      }
    }
    if (own == null) throw new Error('the consistent side has no punch socket')
    const ready = await read(lp, signal)
    if (ready.type !== TYPE.READY) throw refuse('the peer did not start')
    let hit: PunchResult
    try {
      hit = await probeRandomPorts({ socket: own, peerIp, key, intervalMs: tuning.intervalMs ?? PROBE_INTERVAL_MS, maxProbes: tuning.maxProbes ?? MAX_PROBES, portRange: tuning.portRange, signal })
    } catch (err) {
      await write(lp, { type: TYPE.RESULT, reason: (err as Error).message.slice(0, MAX_REASON_BYTES) }, signal).catch(() => {})
      throw err
    }
    await write(lp, { type: TYPE.RESULT, mapped: `${hit.remote.host}:${hit.remote.port}` }, signal)
    const localPort = own.address().port
    own.close()
    return { localPort, remote: hit.remote, count: hit.count }
  }

  /** This node's side, from its own NAT mapping; a refusal while that is `unknown`. */
  function ownSide (): 'consistent' | 'random' {
    const mine: MappingBehaviour = init.mapping()
    if (mine !== 'consistent' && mine !== 'random') throw refuse(`mapping: this node's NAT mapping is ${mine}`)
    return mine
  }

  /** The sides of a pair, or a refusal: one consistent and one randomising mapping. */
  function sides (mine: 'consistent' | 'random', theirs: 'consistent' | 'random' | undefined): 'consistent' | 'random' {
    if (theirs == null) throw refuse('mapping: the peer named no NAT mapping')
    if (mine === theirs) throw refuse(`mapping: both NATs are ${mine} (${mine === 'consistent' ? 'WebRTC gets through' : 'no punch gets through'})`)
    return mine
  }

  /** The peer's mapped endpoint when this node is the randomising side (it probes there), which must lie on the vouched IP. */
  function peerEndpoint (side: 'consistent' | 'random', mapped: string, peerIp: string): Endpoint | undefined {
    if (side !== 'random') return undefined
    const peerMapped = parseEndpoint(mapped)
    if (peerMapped?.host !== peerIp) throw refuse('unvouched: the mapped address is not on the vouched IP')
    return peerMapped
  }

  /** The responder's side of an offer that arrived on `lp` over `conn`. */
  async function respond (lp: LengthPrefixedStream<Stream>, offer: PunchMessage, conn: Connection, signal: AbortSignal): Promise<void> {
    const peer = conn.remotePeer
    try {
      claim(peer)
    } catch (err) {
      await write(lp, { type: TYPE.REFUSE, reason: (err as Error).message }, signal)
      return
    }
    let ok = false
    let probed = false
    let own: Socket | undefined
    try {
      const side = sides(ownSide(), mappingOf(offer.mapping))
      const peerIp = await checkVoucher(offer.voucher, offer.signature, peer, relayOf(conn))
      const peerMapped = peerEndpoint(side, offer.mapped, peerIp)
      if (offer.secret.byteLength !== BIRTHDAY_SECRET_BYTES) throw refuse('the offer carries no secret')
      const relay = relayOf(conn) ?? init.trustedServers()[0]
      if (relay == null) throw refuse('unvouched: no server to vouch for this node')
      const mine = await requestVoucher(relay, signal)
      let mapped: Endpoint | undefined
      if (side === 'consistent') ({ socket: own, mapped } = await mappedSocket(mine.ip, signal))
      await write(lp, { type: TYPE.ANSWER, mapping: MAPPING_CODE[side], mapped: mapped != null ? `${mapped.host}:${mapped.port}` : '', voucher: mine.bytes, signature: mine.signature }, signal)
      probed = true
      const pair = await run(lp, side, deriveDatagramKey(offer.secret), peerIp, peerMapped, own, withTimeout(signal, BIRTHDAY_PUNCH_TIMEOUT_MS))
      own = undefined
      await upgradeUdx({ libp2p, upgrader: init.upgrader(), localPort: pair.localPort, remote: pair.remote, peer, direction: 'inbound', signal: withTimeout(signal, SIGNAL_STEP_TIMEOUT_MS) })
      count('direct')
      ok = true
      log.debug({ side, count: pair.count }, 'birthday punch answered: direct')
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'birthday punch answered: failed')
      await write(lp, { type: TYPE.REFUSE, reason: (err as Error).message.slice(0, MAX_REASON_BYTES) }, signal).catch(() => {})
    } finally {
      own?.close()
      settle(peer, ok, probed)
    }
  }

  return {
    counters,

    async start () {
      await libp2p.handle(BIRTHDAY_PROTOCOL, async (stream, conn) => {
        const signal = withTimeout(undefined, BIRTHDAY_PUNCH_TIMEOUT_MS + SIGNAL_STEP_TIMEOUT_MS)
        const lp = lpStream(stream, { maxDataLength: MAX_PUNCH_MESSAGE_BYTES })
        try {
          const first = await read(lp, signal)
          if (first.type === TYPE.VOUCH_REQUEST) await vouch(lp, conn, signal)
          else if (first.type === TYPE.OFFER && init.role === 'client') await respond(lp, first, conn, signal)
          else await write(lp, { type: TYPE.REFUSE, reason: 'unexpected message' }, signal)
          await stream.close({ signal }).catch(() => {})
        } catch (err) {
          stream.abort(err as Error)
        }
      }, { runOnLimitedConnection: true, maxInboundStreams: 4, maxOutboundStreams: 4 })
    },

    async stop () {
      await libp2p.unhandle(BIRTHDAY_PROTOCOL).catch(() => {})
    },

    async punch (peer, via, outer) {
      claim(peer)
      const signal = withTimeout(outer, BIRTHDAY_PUNCH_TIMEOUT_MS)
      let ok = false
      let probed = false
      let own: Socket | undefined
      let stream: Stream | undefined
      try {
        const mine = ownSide()
        const relay = relayOf(via) ?? init.trustedServers()[0]
        if (relay == null) throw refuse('unvouched: no server to vouch for this node')
        const voucher = await requestVoucher(relay, signal)
        let mapped: Endpoint | undefined
        if (mine === 'consistent') ({ socket: own, mapped } = await mappedSocket(voucher.ip, signal))
        const secret = randomBytes(BIRTHDAY_SECRET_BYTES)
        stream = await via.newStream(BIRTHDAY_PROTOCOL, { signal, runOnLimitedConnection: true })
        const lp = lpStream(stream, { maxDataLength: MAX_PUNCH_MESSAGE_BYTES })
        await write(lp, { type: TYPE.OFFER, mapping: MAPPING_CODE[mine], mapped: mapped != null ? `${mapped.host}:${mapped.port}` : '', secret, voucher: voucher.bytes, signature: voucher.signature }, signal)
        const answer = await read(lp, signal)
        if (answer.type !== TYPE.ANSWER) throw refuse('the peer did not answer the offer')
        const side = sides(mine, mappingOf(answer.mapping))
        const peerIp = await checkVoucher(answer.voucher, answer.signature, peer, relayOf(via))
        const peerMapped = peerEndpoint(side, answer.mapped, peerIp)
        probed = true
        const pair = await run(lp, side, deriveDatagramKey(secret), peerIp, peerMapped, own, signal)
        own = undefined
        const connection = await upgradeUdx({ libp2p, upgrader: init.upgrader(), localPort: pair.localPort, remote: pair.remote, peer, direction: 'outbound', signal: withTimeout(outer, SIGNAL_STEP_TIMEOUT_MS) })
        await stream.close({ signal }).catch(() => {})
        count('direct')
        ok = true
        return { connection, side, count: pair.count, remote: pair.remote }
      } catch (err) {
        stream?.abort(err as Error)
        throw err
      } finally {
        own?.close()
        settle(peer, ok, probed)
      }
    }
  }
}
