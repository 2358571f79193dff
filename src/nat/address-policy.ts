/**
 * Which of its own addresses a node announces, and which addresses of other
 * peers a server hands out in its DHT answers (issue 10, "address privacy
 * for clients"; docs/nat.md "Who can learn a client's IP address").
 *
 * - A **client** announces (identify, its signed peer record, kad) only its
 *   relayed addresses (`…/p2p-circuit`, `…/p2p-circuit/webrtc`): they carry
 *   the relay's IP, never the client's. Peers the client dials directly see
 *   the connection's source address, nothing more.
 * - A **server** announces what it listens on, minus private and loopback
 *   addresses unless `announcePrivate` is set (testnets, LANs).
 * - A node's kad answers (FIND_NODE, GET_PROVIDERS closer peers and
 *   providers) keep the direct addresses only of peers that serve the kad
 *   protocol (DHT servers, handed out as they announced them); for every
 *   other peer, clients included, only relayed addresses remain, whatever
 *   the peer store learned (e.g. from an older client's identify).
 *
 * Source: libp2p AddressManager `announceFilter`; @libp2p/kad-dht
 * `peerInfoMapper` (applied to every peer in an answer and to peers before
 * they enter the routing table).
 */
import { isPrivateIp } from '@libp2p/utils'
import type { PeerId, PeerInfo } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** Options of {@link createAddressPolicy}. */
export interface AddressPolicyInit {
  /** `client`: announce relayed addresses only. `server`: announce listen addresses. */
  role: 'server' | 'client'
  /** Announce and hand out private and loopback addresses (testnets, LANs). */
  announcePrivate: boolean
  /** The kad protocol id whose handler marks a peer as a DHT server (e.g. `/umbra/kad/1.0.0`). */
  kadProtocol: string
}

/** The policy; its functions are handed to libp2p and kad-dht at construction. */
export interface AddressPolicy {
  /** libp2p `addresses.announceFilter`: the addresses this node announces. */
  announceFilter(addrs: Multiaddr[]): Multiaddr[]
  /** kad-dht `peerInfoMapper`: what a kad answer says about a peer. */
  peerInfoMapper(info: PeerInfo): PeerInfo
  /** Every address libp2p last offered to the filter, before filtering (this node's own view, e.g. for NAT status). */
  unfiltered(): Multiaddr[]
  /** Binds the policy to the running node: its own PeerId (always answered with what it announces). */
  setSelf(peerId: PeerId): void
  /**
   * Records a peer's protocols (from the peer store's `peer:update`, which
   * identify fires before kad's topology sees the peer): serving `kadProtocol`
   * makes it a DHT server whose addresses may be handed out.
   */
  onPeerProtocols(peerId: PeerId, protocols: readonly string[]): void
}

/** True for an address through a circuit relay (the relay's IP is in it, not the peer's). */
export function isCircuitAddr (ma: Multiaddr): boolean {
  return ma.toString().includes('/p2p-circuit')
}

/** True when the address's first component is a private, loopback or link-local IP (DNS names and non-IP are not). */
export function isPrivateAddr (ma: Multiaddr): boolean {
  const ip = /^\/ip[46]\/([^/]+)/.exec(ma.toString())?.[1]
  if (ip == null) return false
  return isPrivateIp(ip) === true
}

/**
 * Whether a node announces private/loopback addresses when the option is not
 * given: yes when every listen address names an explicit private or loopback
 * IP (a testnet, a LAN), no when any is public or a wildcard (`0.0.0.0`, `::`:
 * a deployment, whose LAN addresses should not leave the host).
 * @param listen - listen multiaddr strings
 */
export function defaultAnnouncePrivate (listen: readonly string[]): boolean {
  const ips = listen.map((a) => /^\/ip[46]\/([^/]+)/.exec(a)?.[1]).filter((ip): ip is string => ip != null)
  if (ips.length === 0) return false
  return ips.every((ip) => ip !== '0.0.0.0' && ip !== '::' && isPrivateIp(ip) === true)
}

/**
 * Creates the address policy of one node; see the module comment.
 * @param init - see {@link AddressPolicyInit}
 */
export function createAddressPolicy (init: AddressPolicyInit): AddressPolicy {
  const servers = new Set<string>()
  let self: string | undefined
  let last: Multiaddr[] = []

  const publicOnly = (addrs: Multiaddr[]): Multiaddr[] => init.announcePrivate ? addrs : addrs.filter((ma) => isCircuitAddr(ma) || !isPrivateAddr(ma))

  return {
    announceFilter (addrs) {
      last = addrs
      if (init.role === 'client') return addrs.filter(isCircuitAddr)
      return publicOnly(addrs)
    },

    peerInfoMapper (info) {
      const id = info.id.toString()
      if (id === self) return info
      // A DHT server's addresses are what it chose to announce (its own policy dropped private ones).
      if (servers.has(id)) return info
      return { ...info, multiaddrs: info.multiaddrs.filter(isCircuitAddr) }
    },

    unfiltered () {
      return [...last]
    },

    setSelf (peerId) {
      self = peerId.toString()
    },

    onPeerProtocols (peerId, protocols) {
      if (protocols.includes(init.kadProtocol)) servers.add(peerId.toString())
      else servers.delete(peerId.toString())
    }
  }
}
