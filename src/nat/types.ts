import type { MappingBehaviour, MappingSample } from './mapping.ts'

/** NAT options of a node, `createNode({ nat })`. Every field is optional. */
export interface NatInit {
  /**
   * UDP port of the STUN server (RFC 5389 Binding) a server node runs for
   * WebRTC ICE; `false` turns it off. Client nodes ignore it.
   * @default 3478
   */
  stunPort?: number | false
  /**
   * IP addresses the STUN server binds (IPv4 or IPv6; `'0.0.0.0'` or `'::'`
   * for every interface, `'::'` binding both families).
   * @default the IPs of the node's `listen` addresses (a wildcard listen
   * address gives the wildcard of its family)
   */
  stunHost?: string | string[]
  /**
   * STUN servers (`host:port`) a client's ICE may ask. Only these are ever
   * contacted: never a third-party server.
   * @default the IP of every bootstrap address with port 3478
   */
  stunServers?: string[]
  /** Try a UPnP IGD / NAT-PMP port mapping on the local router (client nodes). @default true */
  upnp?: boolean
  /**
   * Hosts (CIDR multiaddrs, e.g. `/ip4/10.0.0.0/ipcidr/8`) exempt from the
   * inbound connection limits: libp2p's per-host rate and pending cap, and
   * Umbra's per-host pending cap (docs/nat.md "Inbound admission"). `[]`
   * exempts nobody, not even this machine.
   * @default loopback (`/ip4/127.0.0.0/ipcidr/8`, `/ip6/::1/ipcidr/128`), so a local testnet can join one node at once
   */
  allow?: string[]
}

/** What `GET /v1/node` and {@link NatService.status} report. */
export interface NatStatus {
  /**
   * `public`: a server node, or a client announcing a public address that
   *   AutoNAT peers confirmed (e.g. after a UPnP mapping).
   * `private`: behind a NAT, reachable through relay reservations (and WebRTC upgrades).
   * `unknown`: no relay reservation yet and not a server.
   */
  reachability: 'public' | 'private' | 'unknown'
  /** Addresses other nodes can dial this node at (relayed ones included). */
  reachableAddrs: string[]
  /** PeerIds of the relays this node holds a reservation on. */
  relays: string[]
  /** UDP port of this node's STUN server, if it runs one. */
  stunPort?: number
  /** STUN servers this node's ICE uses (`host:port`). */
  stunServers: string[]
  /**
   * How this node's NAT maps one UDP socket to different destinations
   * (issue 17 item 1, src/nat/mapping.ts): `consistent` (the same public
   * port for all: a cone NAT or none), `random` (a new port per
   * destination: a symmetric NAT), `unknown` (too few STUN answers yet).
   */
  mapping: MappingBehaviour
  /** The STUN answers the verdict rests on, all from one socket: endpoint asked and mapped address seen, `host:port`. */
  samples: MappingSample[]
}

/** Options of {@link NatService.holePunch}. */
export interface HolePunchOptions {
  /** Addresses of the peer to try (e.g. its relayed `/p2p-circuit` addresses) besides those already known. */
  addrs?: string[]
  signal?: AbortSignal
  /**
   * Gives up on the WebRTC upgrade after this many ms. A birthday punch (`udp-birthday`) has its own bound, 45 s
   * (1,750 probes at 10 ms plus signalling; docs/nat.md), cut short only by `signal`. @default 10_000
   */
  timeout?: number
}

/** What {@link NatService.holePunch} found. */
export interface HolePunchResult {
  /** PeerId of the peer. */
  peer: string
  /** `direct`: a connection without a relay exists now; `relayed`: only through a circuit relay. */
  path: 'direct' | 'relayed'
  /**
   * How: `existing-direct` (already direct), `direct-dial` (a plain dial of a public address of the peer given
   * or known, e.g. its UPnP mapping), `webrtc` (relayed signalling, then ICE through both NATs),
   * `udp-birthday` (birthday-paradox UDP punching between a consistent and a randomising NAT, then Noise and Yamux
   * over a udx stream on the punched pair; issue 17 items 2 and 3),
   * `circuit-relay` (the upgrade failed or is impossible; the relay carries the traffic).
   */
  method: 'existing-direct' | 'direct-dial' | 'webrtc' | 'udp-birthday' | 'circuit-relay'
  /** Round-trip time of a ping over the path reported, ms. */
  rttMs: number
  /** Time the upgrade attempt took, ms. */
  elapsedMs: number
  /** The remote address of the connection reported. */
  remoteAddr: string
  /** Why the direct upgrade failed, when `path` is `relayed`. */
  reason?: string
}

/** NAT traversal of a node (issue 4; seed 000's `attemptNATHolePunch`). */
export interface NatService {
  /** Reachability and addresses now. */
  status(): NatStatus
  /**
   * Tries to make the connection to `peer` direct: reuses a direct one, else
   * dials the peer's `/p2p-circuit/webrtc` address (signalling over the relay,
   * ICE with this network's STUN servers), else keeps or opens a relayed one.
   * @param peer - PeerId or `key_…`
   * @throws UMBRA_ERR_INVALID_RECIPIENT (not a peer), UMBRA_ERR_PEER_UNREACHABLE (neither direct nor relayed), UMBRA_ERR_ABORTED
   */
  holePunch(peer: string, options?: HolePunchOptions): Promise<HolePunchResult>
}
