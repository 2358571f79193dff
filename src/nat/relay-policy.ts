/**
 * Who may use a server node's circuit relay, and how one host is kept from
 * filling its inbound handshake slots (issue 10, items 1 and 3).
 *
 * The relay (@libp2p/circuit-relay-v2 server) asks libp2p's connection gater
 * before it grants a reservation (`denyInboundRelayReservation`) and before
 * it opens a circuit (`denyOutboundRelayedConnection`); the upgrader asks it
 * for every raw inbound socket (`denyInboundConnection`). This module is that
 * gater, plus the listener that frees a reservation when its holder
 * disconnects (the library keeps it until its TTL, 2 h, otherwise).
 *
 * What the relay cannot do: read the protocol of a stream inside a circuit.
 * A relayed connection is Noise-encrypted end to end between the two peers,
 * so multistream-select runs inside the encryption; the relay only sees
 * bytes. Hence: slots and circuits only for peers that announce Umbra
 * protocols, per-circuit byte and time budgets, per-peer circuit counts; and
 * the destination (an Umbra client) runs only Umbra protocols on relayed
 * (limited) connections. See docs/nat.md "Relay limits".
 *
 * @example
 * ```ts
 * const policy = createRelayPolicy({ allow: LOOPBACK_ALLOW })
 * const libp2p = await createLibp2p({ connectionGater: policy.gater, ... })
 * policy.attach(libp2p)
 * ```
 */
import { RELAY_V2_HOP_CODEC, RELAY_V2_STOP_CODEC, type CircuitRelayService } from '@libp2p/circuit-relay-v2'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import {
  INBOUND_UPGRADE_TIMEOUT_MS,
  MAX_PENDING_INBOUND_PER_HOST,
  RELAY_CIRCUIT_DATA_LIMIT_BYTES,
  RELAY_CIRCUIT_DURATION_LIMIT_MS,
  RELAY_IDENTIFY_WAIT_MS,
  RELAY_MAX_CIRCUITS_PER_DESTINATION,
  RELAY_MAX_CIRCUITS_PER_SOURCE,
  RELAY_MAX_RESERVATIONS_PER_IP,
  RELAY_UMBRA_PROTOCOLS
} from './constants.ts'
import { InvalidOptionError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import type { ConnectionGater, IdentifyResult, Libp2p, MultiaddrConnection, PeerId, Stream } from '@libp2p/interface'

/** Options of {@link createRelayPolicy}; every field is optional. */
export interface RelayPolicyInit {
  /** Reservations one IP address may hold. @default RELAY_MAX_RESERVATIONS_PER_IP (4) */
  maxReservationsPerIp?: number
  /** Open circuits one source peer may have through this relay. @default RELAY_MAX_CIRCUITS_PER_SOURCE (4) */
  maxCircuitsPerSource?: number
  /** Open circuits to one reservation holder. @default RELAY_MAX_CIRCUITS_PER_DESTINATION (16) */
  maxCircuitsPerDestination?: number
  /** A peer must announce one of these (identify) to reserve or open a circuit. @default RELAY_UMBRA_PROTOCOLS */
  requiredProtocols?: string[]
  /** Time to wait for identify before judging a peer, ms. @default RELAY_IDENTIFY_WAIT_MS (5 s) */
  identifyWaitMs?: number
  /** Inbound sockets one host may have in their handshake at once. @default MAX_PENDING_INBOUND_PER_HOST (4) */
  maxPendingPerHost?: number
  /** Longest handshake, ms: a pending socket is forgotten after it. @default INBOUND_UPGRADE_TIMEOUT_MS (5 s) */
  upgradeTimeoutMs?: number
  /** CIDRs (`/ip4/127.0.0.0/ipcidr/8`) exempt from the per-host pending cap and the per-IP reservation cap, as libp2p's connectionManager.allow. @default [] */
  allow?: string[]
  /** Bytes one circuit may carry, both directions together. @default RELAY_CIRCUIT_DATA_LIMIT_BYTES (4 MiB) */
  circuitDataLimitBytes?: number
  /** Lifetime of one circuit, ms. @default RELAY_CIRCUIT_DURATION_LIMIT_MS (10 min) */
  circuitDurationLimitMs?: number
  /** Where refusals are logged (debug level). */
  log?: Logger
}

/** Why a request was refused; the keys of {@link RelayPolicy.refused}. */
export type RelayRefusal = 'reservation-not-umbra' | 'reservation-per-ip' | 'circuit-not-umbra' | 'circuit-per-source' | 'circuit-per-destination' | 'pending-per-host'

/** The gater and its counters. */
export interface RelayPolicy {
  /** Pass as `createLibp2p({ connectionGater })`. */
  readonly gater: ConnectionGater
  /** Refusals so far, by reason. */
  readonly refused: Record<RelayRefusal, number>
  /** Reservations freed because their holder disconnected. */
  readonly released: number
  /** Circuits the relay cut: `data` at the byte budget, `duration` at the time budget. */
  readonly cut: { data: number, duration: number }
  /** Binds the policy to the node (after `createLibp2p`, before `start`): until then every reservation and circuit is refused. */
  attach(libp2p: Libp2p): void
  /** Removes the listeners and timers. Idempotent. */
  detach(): void
}

interface PendingSocket { host: string, addr: string, timer: ReturnType<typeof setTimeout> }

/** What one relayed circuit has used of its budget. */
interface Budget { bytes: number, streams: Stream[], ended: boolean, timer?: ReturnType<typeof setTimeout> }

/** The host (IP) of a direct address, or undefined for a relayed or non-IP one. */
function hostOf (addr: Multiaddr): string | undefined {
  const parts = addr.getComponents()
  if (parts.some((p) => p.name === 'p2p-circuit')) return undefined
  const ip = parts.find((p) => p.name === 'ip4' || p.name === 'ip6')
  return ip?.value
}

/** A socket's address without a trailing `/p2p/<PeerId>`, to match a raw socket with the connection it became. */
function addrKey (addr: Multiaddr): string {
  return addr.toString().replace(/\/p2p\/[^/]+$/, '')
}

/** `true` when `ip` lies inside the `/ipN/<addr>/ipcidr/<bits>` (or plain `/ipN/<addr>`) `cidr`. */
function inCidr (ip: string, cidr: string): boolean {
  const parts = multiaddr(cidr).getComponents()
  const base = parts.find((p) => p.name === 'ip4' || p.name === 'ip6')
  if (base?.value == null) return false
  const bitsPart = parts.find((p) => p.name === 'ipcidr')
  const v4 = base.name === 'ip4'
  if (v4 !== ip.includes('.')) return false
  const toBig = (s: string): bigint => {
    if (v4) return s.split('.').reduce((acc, x) => (acc << 8n) + BigInt(Number(x)), 0n)
    const [head = '', tail = ''] = s.split('::')
    const h = head === '' ? [] : head.split(':')
    const t = tail === '' ? [] : tail.split(':')
    const groups = s.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h
    return groups.reduce((acc, x) => (acc << 16n) + BigInt(parseInt(x, 16)), 0n)
  }
  const width = v4 ? 32n : 128n
  const bits = BigInt(bitsPart?.value ?? width.toString())
  const mask = bits === 0n ? 0n : ((1n << bits) - 1n) << (width - bits)
  return (toBig(ip) & mask) === (toBig(base.value) & mask)
}

/**
 * Creates the relay and admission policy of a node (the reservation and
 * circuit checks only matter on a server, which runs the relay).
 * Sources: libp2p circuit relay v2 spec (reservations, limits); issue 10.
 * @throws UMBRA_ERR_INVALID_OPTION for a negative or fractional limit or a malformed `allow` entry
 */
export function createRelayPolicy (init: RelayPolicyInit = {}): RelayPolicy {
  const maxPerIp = init.maxReservationsPerIp ?? RELAY_MAX_RESERVATIONS_PER_IP
  const maxPerSource = init.maxCircuitsPerSource ?? RELAY_MAX_CIRCUITS_PER_SOURCE
  const maxPerDestination = init.maxCircuitsPerDestination ?? RELAY_MAX_CIRCUITS_PER_DESTINATION
  const required = new Set(init.requiredProtocols ?? RELAY_UMBRA_PROTOCOLS)
  const identifyWaitMs = init.identifyWaitMs ?? RELAY_IDENTIFY_WAIT_MS
  const maxPendingPerHost = init.maxPendingPerHost ?? MAX_PENDING_INBOUND_PER_HOST
  const upgradeTimeoutMs = init.upgradeTimeoutMs ?? INBOUND_UPGRADE_TIMEOUT_MS
  const allow = init.allow ?? []
  const dataLimit = init.circuitDataLimitBytes ?? Number(RELAY_CIRCUIT_DATA_LIMIT_BYTES)
  const durationLimit = init.circuitDurationLimitMs ?? RELAY_CIRCUIT_DURATION_LIMIT_MS
  for (const [field, value] of Object.entries({ circuitDataLimitBytes: dataLimit, circuitDurationLimitMs: durationLimit, maxReservationsPerIp: maxPerIp, maxCircuitsPerSource: maxPerSource, maxCircuitsPerDestination: maxPerDestination, identifyWaitMs, maxPendingPerHost, upgradeTimeoutMs })) {
    if (!Number.isInteger(value) || value < 0) throw new InvalidOptionError(`createRelayPolicy: ${field} must be an integer >= 0, got ${String(value)}`)
  }
  for (const cidr of allow) {
    try {
      multiaddr(cidr)
    } catch (err) {
      throw new InvalidOptionError(`createRelayPolicy: allow entry ${JSON.stringify(cidr)} is not a CIDR multiaddr such as /ip4/10.0.0.0/ipcidr/8`, { cause: err })
    }
  }
  const refused: Record<RelayRefusal, number> = {
    'reservation-not-umbra': 0,
    'reservation-per-ip': 0,
    'circuit-not-umbra': 0,
    'circuit-per-source': 0,
    'circuit-per-destination': 0,
    'pending-per-host': 0
  }
  let released = 0
  const cut = { data: 0, duration: 0 }
  /** Relay streams already given a budget. */
  const budgeted = new WeakSet<Stream>()
  /** Budgets of approved circuits whose STOP stream (towards the destination) is not open yet, by destination. */
  const awaitingStop = new Map<string, Budget[]>()
  const log = init.log
  const refuse = (reason: RelayRefusal, detail: Record<string, unknown>): true => {
    refused[reason]++
    log?.debug({ reason, ...detail }, 'relay policy refused')
    return true
  }
  let node: Libp2p | undefined
  /** Reservations granted but maybe not yet in the relay's map (the relay stores them after the gater answers): peer -> host. */
  const granting = new Map<string, string>()
  /** Inbound sockets in their handshake, by remote address string. */
  const pending = new Map<string, PendingSocket>()
  const pendingPerHost = new Map<string, number>()
  /** Hosts checked against `allow` already. */
  const exempt = new Map<string, boolean>()

  const relay = (): CircuitRelayService | undefined => (node?.services as { relay?: CircuitRelayService } | undefined)?.relay

  const isExempt = (host: string): boolean => {
    let e = exempt.get(host)
    if (e == null) {
      e = allow.some((cidr) => inCidr(host, cidr))
      if (exempt.size > 4096) exempt.clear()
      exempt.set(host, e)
    }
    return e
  }

  const speaksUmbra = (protocols: string[]): boolean => protocols.some((p) => required.has(p))

  /** Waits (bounded) for identify to list `peer`'s protocols; `true` when one of them is Umbra's. */
  const isUmbraPeer = async (peer: PeerId): Promise<boolean> => {
    const libp2p = node
    if (libp2p == null) return false
    return await new Promise<boolean>((resolve) => {
      let settled = false
      const done = (ok: boolean): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        libp2p.removeEventListener('peer:identify', onIdentify)
        resolve(ok)
      }
      const onIdentify = (evt: CustomEvent<IdentifyResult>): void => {
        if (evt.detail.peerId.equals(peer)) done(speaksUmbra(evt.detail.protocols))
      }
      // Listen first, then look: identify may finish in between.
      libp2p.addEventListener('peer:identify', onIdentify)
      const timer = setTimeout(() => {
        void libp2p.peerStore.get(peer).then((p) => p.protocols, () => [] as string[]).then((p) => { done(speaksUmbra(p)) })
      }, identifyWaitMs)
      // Identify stores the protocols, then the agent version: once the version is there, its protocol list stands.
      // (The list alone is no sign: libp2p also adds each protocol a peer opened a stream for, e.g. the relay's HOP.)
      void libp2p.peerStore.get(peer).then((known) => {
        if (known.metadata.has('AgentVersion') || known.metadata.has('ProtocolVersion')) done(speaksUmbra(known.protocols))
      }, () => {})
    })
  }

  /** Hosts of `peer`'s direct connections. */
  const hostsOf = (peer: PeerId): Set<string> => {
    const out = new Set<string>()
    for (const conn of node?.getConnections(peer) ?? []) {
      const h = hostOf(conn.remoteAddr)
      if (h != null) out.add(h)
    }
    return out
  }

  const countStreams = (peer: PeerId, protocol: string, direction: 'inbound' | 'outbound'): number => {
    let n = 0
    for (const conn of node?.getConnections(peer) ?? []) {
      for (const s of conn.streams) if (s.protocol === protocol && s.direction === direction) n++
    }
    return n
  }

  /**
   * Counts what the relay sends on a circuit's streams (`send` is how the
   * relay's pipe writes each chunk, @libp2p/utils messageStreamToDuplex), so
   * both directions of a circuit draw on one budget; at the budget the send
   * throws and both streams are aborted, which ends the relay's pipe.
   */
  const meter = (stream: Stream, budget: Budget): void => {
    if (budgeted.has(stream)) return
    budgeted.add(stream)
    budget.streams.push(stream)
    const send = stream.send.bind(stream)
    stream.send = (data) => {
      budget.bytes += data.byteLength
      if (budget.bytes > dataLimit) {
        const err = new Error(`circuit data budget of ${dataLimit} bytes exceeded`)
        end(budget, 'data', err)
        throw err
      }
      return send(data)
    }
  }

  const end = (budget: Budget, why: 'data' | 'duration', err: Error): void => {
    if (budget.ended) return
    budget.ended = true
    clearTimeout(budget.timer)
    cut[why]++
    log?.debug({ why, bytes: budget.bytes }, 'relay circuit cut at its budget')
    for (const s of budget.streams) s.abort(err)
  }

  /** Gives the circuit just approved a byte and time budget: its HOP stream now, its STOP stream once the relay opened it. */
  const budgetCircuit = (source: PeerId, destination: PeerId): void => {
    const budget: Budget = { bytes: 0, streams: [], ended: false }
    budget.timer = setTimeout(() => { end(budget, 'duration', new Error(`circuit duration budget of ${durationLimit} ms exceeded`)) }, durationLimit)
    budget.timer.unref?.()
    for (const conn of node?.getConnections(source) ?? []) {
      for (const s of conn.streams) {
        if (s.protocol === RELAY_V2_HOP_CODEC && s.direction === 'inbound' && !budgeted.has(s)) {
          meter(s, budget)
          s.addEventListener('close', () => { clearTimeout(budget.timer) }, { once: true })
        }
      }
    }
    const key = destination.toString()
    const queue = awaitingStop.get(key) ?? []
    queue.push(budget)
    awaitingStop.set(key, queue)
    // The relay opens the STOP stream right after this answer; look for it until it appears (bounded by the relay's 30 s hop timeout).
    const started = Date.now()
    const look = (): void => {
      for (const conn of node?.getConnections(destination) ?? []) {
        for (const s of conn.streams) {
          if (s.protocol === RELAY_V2_STOP_CODEC && s.direction === 'outbound' && !budgeted.has(s)) {
            const next = awaitingStop.get(key)?.shift()
            if (next != null) meter(s, next)
          }
        }
      }
      const left = awaitingStop.get(key)
      if (left == null || left.length === 0) {
        awaitingStop.delete(key)
        return
      }
      if (Date.now() - started > 30_000 || budget.ended) {
        const i = left.indexOf(budget)
        if (i >= 0) left.splice(i, 1)
        return
      }
      setTimeout(look, 20).unref?.()
    }
    setTimeout(look, 0).unref?.()
  }

  const gater: ConnectionGater = {
    denyInboundRelayReservation: async (peer) => {
      if (!(await isUmbraPeer(peer))) return refuse('reservation-not-umbra', { peer: peer.toString() })
      // Hosts in `allow` (loopback by default: a local testnet's clients all share 127.0.0.1) have no per-IP cap.
      const hosts = new Set([...hostsOf(peer)].filter((h) => !isExempt(h)))
      const holders = new Set<string>()
      for (const [id, r] of relay()?.reservations ?? []) {
        if (id.equals(peer)) continue
        const h = hostOf(r.addr)
        if (h != null && hosts.has(h)) holders.add(id.toString())
      }
      for (const [id, h] of granting) if (id !== peer.toString() && hosts.has(h)) holders.add(id)
      if (holders.size >= maxPerIp) return refuse('reservation-per-ip', { peer: peer.toString(), holders: holders.size })
      const key = peer.toString()
      const host = [...hosts][0]
      if (host != null) {
        granting.set(key, host)
        // The relay stores the reservation right after this answer; from then on it is counted in its map.
        setTimeout(() => { granting.delete(key) }, 1000).unref?.()
      }
      return false
    },

    denyOutboundRelayedConnection: async (source, destination) => {
      if (!(await isUmbraPeer(source))) return refuse('circuit-not-umbra', { peer: source.toString() })
      // The HOP stream of this very request is open already, hence `>`.
      if (countStreams(source, RELAY_V2_HOP_CODEC, 'inbound') > maxPerSource) return refuse('circuit-per-source', { peer: source.toString() })
      if (countStreams(destination, RELAY_V2_STOP_CODEC, 'outbound') >= maxPerDestination) return refuse('circuit-per-destination', { peer: destination.toString() })
      budgetCircuit(source, destination)
      return false
    },

    denyInboundConnection: (maConn: MultiaddrConnection) => {
      const host = hostOf(maConn.remoteAddr)
      if (host == null || isExempt(host)) return false
      const n = pendingPerHost.get(host) ?? 0
      if (n >= maxPendingPerHost) return refuse('pending-per-host', { host })
      const addr = addrKey(maConn.remoteAddr)
      pendingPerHost.set(host, n + 1)
      const timer = setTimeout(() => { settle(addr) }, upgradeTimeoutMs + 1000)
      timer.unref?.()
      pending.set(addr, { host, addr, timer })
      maConn.addEventListener?.('close', () => { settle(addr) }, { once: true })
      return false
    }
  }

  /** A pending socket finished its handshake, failed, or timed out: its host gets the slot back. */
  const settle = (addr: string): void => {
    const p = pending.get(addr)
    if (p == null) return
    pending.delete(addr)
    clearTimeout(p.timer)
    const n = (pendingPerHost.get(p.host) ?? 1) - 1
    if (n <= 0) pendingPerHost.delete(p.host)
    else pendingPerHost.set(p.host, n)
  }

  const onConnectionOpen = (evt: CustomEvent<{ remoteAddr: Multiaddr }>): void => {
    settle(addrKey(evt.detail.remoteAddr))
  }

  /** Frees the reservation of a peer that has no connection left (libp2p would keep it for its whole TTL). */
  const onPeerDisconnect = (evt: CustomEvent<PeerId>): void => {
    const reservations = relay()?.reservations
    const r = reservations?.get(evt.detail)
    if (r == null) return
    r.signal.clear()
    reservations?.delete(evt.detail)
    released++
    log?.debug({ peer: evt.detail.toString() }, 'relay reservation freed: its holder disconnected')
  }

  return {
    gater,
    refused,
    get released () { return released },
    cut,
    attach (libp2p) {
      if (node != null) return
      node = libp2p
      libp2p.addEventListener('peer:disconnect', onPeerDisconnect)
      libp2p.addEventListener('connection:open', onConnectionOpen as (evt: CustomEvent) => void)
    },
    detach () {
      node?.removeEventListener('peer:disconnect', onPeerDisconnect)
      node?.removeEventListener('connection:open', onConnectionOpen as (evt: CustomEvent) => void)
      node = undefined
      for (const p of pending.values()) clearTimeout(p.timer)
      pending.clear()
      pendingPerHost.clear()
      granting.clear()
    }
  }
}
