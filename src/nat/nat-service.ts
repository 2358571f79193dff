/**
 * NAT traversal of a node (issue 4; DESIGN.md section 2, roles): the STUN
 * server of a server node, the relay-reservation watchdog of a client node,
 * `holePunch` and the reachability report.
 *
 * Server nodes run a circuit-relay-v2 server and a STUN server (RFC 5389);
 * client nodes listen on `/p2p-circuit` (a reservation on a relay found
 * through their connections) and `/webrtc` (private-to-private upgrades:
 * SDP over a relayed stream, then ICE through both NATs with this network's
 * own STUN servers). docs/nat.md has the sequence.
 */
import { isPrivateIp } from '@libp2p/utils'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { AbortedError, UmbraError } from '../errors.ts'
import { parsePeer } from '../identity/index.ts'
import { InvalidRecipientError } from '../messaging/errors.ts'
import { withTimeout } from '../signals.ts'
import { createStunServer, type StunServer } from './stun-server.ts'
import { mappingEndpoints, otherStunAddress, sampleMapping, STUN_SECOND_PORT_OFFSET, type MappingReport } from './mapping.ts'
import { connectionPath, directConnections, isRelayedAddr, pingOver, relayPeerOf } from './path.ts'
import type { HolePunchOptions, HolePunchResult, NatService, NatStatus } from './types.ts'
import type { AutoNat } from './autonat.ts'
import type { Logger } from '../logger.ts'
import { observed, type MetricsRecorder } from '../metrics/recorder.ts'
import { createBirthdayPunch, type BirthdayPunch, type BirthdayTuning } from './birthday-punch.ts'
import type { Connection, Libp2p, PeerId, PrivateKey, Upgrader } from '@libp2p/interface'

/** How often a client checks that it still holds a relay reservation, ms (issue 4: re-reserve within 10 s). */
const RESERVATION_CHECK_MS = 2_000
/** How often the NAT mapping is sampled again once known, ms (a home router's behaviour rarely changes; a moved laptop's does). */
const MAPPING_REFRESH_MS = 5 * 60_000
/** How soon an `unknown` mapping verdict is retried, ms (the STUN servers may not be up yet). */
const MAPPING_RETRY_MS = 10_000
/** Time allowed for a plain dial of a peer's public address before the WebRTC upgrade, ms (a closed port drops SYNs silently). */
const DIRECT_DIAL_TIMEOUT_MS = 3_000
/** Default time allowed for the direct upgrade, ms. */
const HOLE_PUNCH_TIMEOUT_MS = 10_000

/** Neither a direct nor a relayed connection to the peer could be opened. Code `UMBRA_ERR_PEER_UNREACHABLE`. */
export class PeerUnreachableError extends UmbraError {
  static readonly code = 'UMBRA_ERR_PEER_UNREACHABLE'
  constructor (message = 'The peer could not be reached, directly or through a relay', options?: ErrorOptions) {
    super(message, PeerUnreachableError.code, options)
    this.name = 'PeerUnreachableError'
  }
}

/** What {@link createNatService} needs. */
export interface NatServiceInit {
  libp2p: Libp2p
  role: 'server' | 'client'
  log: Logger
  /** Bootstrap multiaddrs (relays a client re-dials when it lost its reservation). */
  bootstrap: string[]
  /** STUN UDP port of a server node, or false. */
  stunPort: number | false
  /** IPs the STUN server binds. @default `'0.0.0.0'` */
  stunHost?: string | string[]
  /** This node's addresses before the announce filter (a client's direct ones included), to tell whether it is publicly reachable. @default what it announces */
  ownAddrs?: () => Array<{ toString(): string }>
  /** The node's AutoNAT (src/nat/autonat.ts): its re-check loop runs while this service does. @default none */
  autonat?: AutoNat
  /** `host:port` STUN servers the client's ICE uses. */
  stunServers: string[]
  /**
   * The addresses a peer publishes in its peer record (src/registry), asked
   * when a hole punch knows no WebRTC address of the peer (so a punch by
   * PeerId alone works), and again with `fresh` when every known address
   * failed (the peer moved to another relay).
   */
  lookupAddrs?: (peer: PeerId, signal: AbortSignal, fresh: boolean) => Promise<string[]>
  /** Hole-punch results (the method, or `failed`) are reported here (src/metrics). @default none */
  metrics?: MetricsRecorder
  /**
   * Birthday-paradox punching (issue 17 items 2 and 3, src/nat/birthday-punch.ts): the node's key (a server signs
   * vouchers with it) and libp2p upgrader (Noise and Yamux on the punched socket). @default off
   */
  birthday?: { privateKey: PrivateKey, upgrader: () => Upgrader, tuning?: BirthdayTuning }
}

/** The NAT service with its lifecycle, as held by the node. */
export interface NatServiceHandle extends NatService {
  start(): Promise<void>
  stop(): Promise<void>
}

export { isRelayedAddr } from './path.ts'

/** True for an address with a public IP and no circuit hop: something a plain dial may reach. */
function isPublicDirectAddr (addr: string): boolean {
  const ip = /^\/ip[46]\/([^/]+)\//.exec(addr)?.[1]
  return ip != null && !addr.includes('/p2p-circuit') && isPrivateIp(ip) === false
}

/** Creates the NAT service; see the module comment. */
export function createNatService (init: NatServiceInit): NatServiceHandle {
  const { libp2p, log } = init
  let stun: StunServer | undefined
  /** The second STUN server (port + STUN_SECOND_PORT_OFFSET) that lets clients classify their NAT's mapping. */
  let stun2: StunServer | undefined
  let mapping: MappingReport = { mapping: 'unknown', samples: [] }
  let mappingTimer: ReturnType<typeof setTimeout> | undefined
  let stopped = false
  let watchdog: ReturnType<typeof setInterval> | undefined
  let redialing = false
  /** Server PeerIds of the bootstrap list (its `/p2p/<id>` ends): the relays whose vouchers this node trusts. */
  const trustedServers = init.bootstrap.map((a) => /\/p2p\/([^/]+)$/.exec(a)?.[1]).filter((id): id is string => id != null)
  /** Vouches (server) and answers birthday offers (client) once started. */
  const birthday: BirthdayPunch | undefined = init.birthday == null
    ? undefined
    : createBirthdayPunch({
      libp2p,
      privateKey: init.birthday.privateKey,
      upgrader: init.birthday.upgrader,
      tuning: init.birthday.tuning,
      role: init.role,
      log: log.child({ scope: 'birthday' }),
      mapping: () => mapping.mapping,
      stunServers: init.stunServers,
      trustedServers: () => trustedServers
    })

  /** Relays this node holds a reservation on: announced in its addresses and still connected (a dead relay's address can linger). */
  function relays (): string[] {
    const out = new Set<string>()
    for (const ma of libp2p.getMultiaddrs()) {
      const s = ma.toString()
      const relay = relayPeerOf(s)
      if (relay == null || out.has(relay)) continue
      const connected = libp2p.getConnections().some((c) => c.remotePeer.toString() === relay && connectionPath(c, c.remotePeer) === 'direct')
      if (connected) out.add(relay)
    }
    return [...out]
  }

  /** Samples the mapping from one socket against every known STUN endpoint, then schedules the next round. */
  async function classify (): Promise<void> {
    try {
      mapping = await sampleMapping(mappingEndpoints(init.stunServers), AbortSignal.timeout(30_000))
      log.debug({ mapping: mapping.mapping, samples: mapping.samples }, 'NAT mapping sampled')
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'NAT mapping sampling failed')
    }
    if (stopped) return
    mappingTimer = setTimeout(() => { void classify() }, mapping.mapping === 'unknown' ? MAPPING_RETRY_MS : MAPPING_REFRESH_MS)
    mappingTimer.unref()
  }

  async function checkReservation (): Promise<void> {
    if (redialing || relays().length > 0 || init.bootstrap.length === 0) return
    redialing = true
    try {
      // The circuit-relay transport reserves on relays it meets through a new connection;
      // re-dialing the bootstrap relays guards against a reservation that is never re-established.
      log.debug('no relay reservation; re-dialing the bootstrap relays')
      await Promise.allSettled(init.bootstrap.map(async (a) => await libp2p.dial(multiaddr(a), { signal: AbortSignal.timeout(5_000) })))
    } finally {
      redialing = false
    }
  }

  const service: NatServiceHandle = {
    status (): NatStatus {
      const reachableAddrs = libp2p.getMultiaddrs().map((ma) => ma.toString())
      const held = relays()
      // A client is public too once it has a public IP address that is not relayed: libp2p only lists
      // an observed or UPnP-mapped address after AutoNAT peers confirmed they could dial it (a client
      // does not announce it: see address-policy.ts).
      const own = init.ownAddrs?.().map((ma) => ma.toString()) ?? reachableAddrs
      const publicAddr = own.some(isPublicDirectAddr)
      return {
        reachability: init.role === 'server' || publicAddr ? 'public' : held.length > 0 ? 'private' : 'unknown',
        reachableAddrs,
        relays: held,
        ...(stun != null ? { stunPort: stun.address().port } : {}),
        stunServers: init.stunServers,
        mapping: mapping.mapping,
        samples: mapping.samples.map((x) => ({ ...x }))
      }
    },

    async holePunch (target: string, options: HolePunchOptions = {}): Promise<HolePunchResult> {
      let peer: PeerId
      try {
        peer = parsePeer(target)
      } catch (err) {
        throw new InvalidRecipientError(`Not a PeerId or key_ key: ${(err as Error).message}`, { cause: err })
      }
      if (peer.equals(libp2p.peerId)) throw new InvalidRecipientError('A node cannot hole-punch to itself')
      const started = performance.now()
      const signal = withTimeout(options.signal, options.timeout ?? HOLE_PUNCH_TIMEOUT_MS)
      /**
       * A `direct` report for `conn`, or undefined when it is not an open, unlimited, unrelayed connection to this
       * very peer that carries a ping now (issue 17 item 0: never a report from an address's shape alone).
       */
      const verified = async (conn: Connection, method: HolePunchResult['method'], pingSignal: AbortSignal): Promise<HolePunchResult | undefined> => {
        if (connectionPath(conn, peer) !== 'direct') return undefined
        let rttMs: number
        try {
          rttMs = await pingOver(conn, pingSignal)
        } catch (err) {
          // A peer that does not speak ping (a stock libp2p node) still negotiated over this connection: -1, as the relayed report says.
          if ((err as Error).name !== 'UnsupportedProtocolError') {
            log.debug({ err: (err as Error).message, remoteAddr: conn.remoteAddr.toString() }, 'a direct connection carried no ping; not reported direct')
            return undefined
          }
          rttMs = -1
        }
        return { peer: peer.toString(), path: 'direct', method, rttMs, elapsedMs: performance.now() - started, remoteAddr: conn.remoteAddr.toString() }
      }
      /** The first direct connection to the peer that carries a ping now. */
      const workingDirect = async (method: HolePunchResult['method'], pingSignal: AbortSignal): Promise<HolePunchResult | undefined> => {
        for (const conn of directConnections(libp2p.getConnections(peer), peer)) {
          const r = await verified(conn, method, pingSignal)
          if (r != null) return r
        }
        return undefined
      }
      const extra = (options.addrs ?? []).map((a) => multiaddr(a))
      if (extra.length > 0) await libp2p.peerStore.merge(peer, { multiaddrs: extra }).catch(() => {})
      const existing = await workingDirect('existing-direct', withTimeout(signal, 5_000))
      if (existing != null) return existing
      const known = [...extra, ...((await libp2p.peerStore.get(peer).catch(() => undefined))?.addresses.map((a) => a.multiaddr) ?? [])]
      /** The addresses the peer's record names now (src/registry), merged into `known`; returns the new ones. */
      const fromRecord = async (fresh: boolean): Promise<Multiaddr[]> => {
        if (init.lookupAddrs == null) return []
        try {
          const seen = new Set(known.map((ma) => ma.toString()))
          const published = (await init.lookupAddrs(peer, withTimeout(signal, 10_000), fresh)).map((a) => multiaddr(a)).filter((ma) => !seen.has(ma.toString()))
          known.push(...published)
          if (published.length > 0) await libp2p.peerStore.merge(peer, { multiaddrs: published }).catch(() => {})
          return published
        } catch (err) {
          log.debug({ err: (err as Error).message }, 'no peer record for the hole punch target')
          return []
        }
      }
      // A public address of the peer that is not a circuit (a server's, or a client's UPnP mapping passed in `addrs`):
      // dial it first; through a mapped or open port that is direct with no relay and no punch (issue 17 item 4).
      for (const ma of new Set(known.map((a) => a.toString()).filter(isPublicDirectAddr))) {
        try {
          const conn = await libp2p.dial(multiaddr(ma), { signal: withTimeout(signal, DIRECT_DIAL_TIMEOUT_MS) })
          const direct = await verified(conn, 'direct-dial', withTimeout(options.signal, 5_000))
          if (direct != null) return direct
        } catch (err) {
          if (options.signal?.aborted === true) throw new AbortedError('holePunch aborted', { cause: err })
          log.debug({ err: (err as Error).message, addr: ma }, 'direct dial failed; trying WebRTC')
        }
      }
      // Only the PeerId is known: the peer record names its relayed (and WebRTC) addresses.
      if (!known.some((ma) => ma.toString().includes('/p2p-circuit/webrtc'))) await fromRecord(false)
      let reason = 'the peer announces no /p2p-circuit/webrtc address'
      /** Relayed addresses whose dial failed in this punch: not dialled again (each may take 10 s). */
      const failedRelayed = new Set<string>()
      /** A relayed connection to the peer: an open one, else one dialled at the first relayed address in `addrs` that answers. */
      const relayedConnection = async (addrs: Multiaddr[]): Promise<Connection | undefined> => {
        const open = libp2p.getConnections(peer).find((c) => connectionPath(c, peer) === 'relayed')
        if (open != null) return open
        for (const ma of addrs.filter((a) => isRelayedAddr(a.toString()) && !failedRelayed.has(a.toString()))) {
          try {
            return await libp2p.dial(ma, { signal: withTimeout(options.signal, 10_000) })
          } catch (err) {
            if (options.signal?.aborted === true) throw new AbortedError('holePunch aborted', { cause: err })
            failedRelayed.add(ma.toString())
            reason += `; relayed dial failed: ${(err as Error).message}`
          }
        }
        return undefined
      }
      // Birthday-paradox punching (issue 17 items 2 and 3) once this node knows its NAT's mapping: the peer refuses at
      // once unless one side is consistent and the other randomising, and WebRTC (below) is tried next.
      let birthdayReason: string | undefined
      if (birthday != null && (mapping.mapping === 'consistent' || mapping.mapping === 'random')) {
        const via = await relayedConnection(known)
        if (via != null) {
          try {
            const { connection } = await birthday.punch(peer, via, options.signal)
            const direct = await verified(connection, 'udp-birthday', withTimeout(options.signal, 5_000))
            if (direct != null) return direct
            birthdayReason = 'the punched connection carried no ping'
          } catch (err) {
            if (options.signal?.aborted === true) throw new AbortedError('holePunch aborted', { cause: err })
            birthdayReason = (err as Error).message
            log.debug({ err: birthdayReason }, 'birthday punch failed; trying WebRTC')
          }
        }
      }
      /** Tries WebRTC on `addrs`, then makes sure a relayed connection exists; a direct report ends the punch. */
      const attempt = async (addrs: Multiaddr[]): Promise<{ direct?: HolePunchResult, relayed?: Connection }> => {
        const webrtc = addrs.map((ma) => ma.toString()).filter((a) => a.includes('/p2p-circuit/webrtc'))
        if (webrtc.length > 0) reason = 'no WebRTC address answered'
        for (const addr of new Set(webrtc)) {
          try {
            // force: an open relayed connection to the peer must not be handed back instead of a new WebRTC one.
            const conn = await libp2p.dial(multiaddr(addr), { signal, force: true })
            const direct = await verified(conn, 'webrtc', withTimeout(options.signal, 5_000))
            if (direct != null) return { direct }
            reason = `the WebRTC connection at ${conn.remoteAddr.toString()} is not a working direct path to the peer`
          } catch (err) {
            if (options.signal?.aborted === true) throw new AbortedError('holePunch aborted', { cause: err })
            reason = `WebRTC upgrade failed: ${(err as Error).message}`
            log.debug({ err: (err as Error).message }, 'WebRTC upgrade failed; staying relayed')
          }
        }
        // No direct path: make sure a relayed one exists and report it honestly.
        return { relayed: await relayedConnection(addrs) }
      }
      let outcome = await attempt(known)
      if (outcome.direct != null) return outcome.direct
      if (outcome.relayed == null) {
        // What we knew is stale (the peer moved to another relay): ask its record again, bypassing the cache.
        const moved = await fromRecord(true)
        if (moved.length > 0) outcome = await attempt(moved)
        if (outcome.direct != null) return outcome.direct
      }
      if (birthdayReason != null) reason += `; birthday punch: ${birthdayReason}`
      const relaySignal = withTimeout(options.signal, 10_000)
      const relayed = outcome.relayed
      if (relayed == null) throw new PeerUnreachableError(`No direct or relayed connection to ${peer.toString()}: ${reason}`)
      // A direct connection that appeared meanwhile (the peer's own upgrade towards us) counts only if it carries a ping.
      const late = await workingDirect('webrtc', relaySignal)
      if (late != null) return late
      // The relayed report names the connection its ping crossed: the one found, else another relayed one (a circuit
      // that just closed is replaced by libp2p on the next dial), else -1 for the one found.
      const relayedNow = (): Connection[] => [relayed, ...libp2p.getConnections(peer).filter((c) => c !== relayed && connectionPath(c, peer) === 'relayed')]
      for (const round of [0, 1]) {
        if (round === 1) await libp2p.dial(peer, { signal: relaySignal }).catch(() => undefined)
        for (const conn of relayedNow()) {
          if (connectionPath(conn, peer) !== 'relayed') continue
          const rttMs = await pingOver(conn, relaySignal).catch(() => -1)
          if (rttMs >= 0) return { peer: peer.toString(), path: 'relayed', method: 'circuit-relay', rttMs, elapsedMs: performance.now() - started, remoteAddr: conn.remoteAddr.toString(), reason }
        }
      }
      return { peer: peer.toString(), path: 'relayed', method: 'circuit-relay', rttMs: -1, elapsedMs: performance.now() - started, remoteAddr: relayed.remoteAddr.toString(), reason }
    },

    async start () {
      if (init.role === 'server' && init.stunPort !== false) {
        // A node with two addresses names the other in its answers (RFC 5780 OTHER-ADDRESS): a client samples both (issue 17 item 1).
        const otherAddress = init.stunPort !== 0 ? otherStunAddress([init.stunHost ?? '0.0.0.0'].flat(), init.stunPort) : undefined
        stun = createStunServer({ host: init.stunHost ?? '0.0.0.0', port: init.stunPort, otherAddress })
        try {
          await stun.start()
        } catch (err) {
          log.warn({ err: (err as Error).message, port: init.stunPort }, 'STUN server could not start; WebRTC upgrades through this node will lack it')
          stun = undefined
        }
        // The second port (issue 17 item 1): a client compares the mapped ports both ports saw from one socket.
        if (stun != null && init.stunPort !== 0) {
          stun2 = createStunServer({ host: init.stunHost ?? '0.0.0.0', port: init.stunPort + STUN_SECOND_PORT_OFFSET, otherAddress })
          try {
            await stun2.start()
          } catch (err) {
            log.warn({ err: (err as Error).message, port: init.stunPort + STUN_SECOND_PORT_OFFSET }, 'second STUN port could not start; clients cannot classify their NAT through this node')
            stun2 = undefined
          }
        }
      }
      stopped = false
      init.autonat?.attach(libp2p)
      await birthday?.start()
      void classify()
      if (init.role === 'client') {
        watchdog = setInterval(() => { void checkReservation() }, RESERVATION_CHECK_MS)
        watchdog.unref()
      }
    },

    async stop () {
      stopped = true
      init.autonat?.detach()
      await birthday?.stop()
      clearInterval(watchdog)
      clearTimeout(mappingTimer)
      await stun?.stop()
      await stun2?.stop()
      stun = undefined
      stun2 = undefined
    }
  }
  const { metrics } = init
  // Every return and throw of holePunch counted in one place: its method, or `failed`.
  if (metrics != null) service.holePunch = observed(service.holePunch.bind(service), (result) => { metrics.holePunch(result?.method ?? 'failed') })
  return service
}
