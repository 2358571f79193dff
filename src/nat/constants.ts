/**
 * Constants of Umbra's STUN server and client (RFC 5389, "Session Traversal
 * Utilities for NAT"). Only the Binding method is implemented: it tells a
 * node the IP address and port its packets appear to come from (the
 * server-reflexive address ICE needs, RFC 8445 §5.1.1.2).
 */

const SECOND = 1000

/** UDP port a server node answers STUN Binding requests on by default (RFC 5389 §18.4, IANA "stun"). */
export const DEFAULT_STUN_PORT = 3478
/** Address a standalone STUN server binds to by default: every IPv4 interface (a node passes its listen IPs instead). */
export const DEFAULT_STUN_HOST = '0.0.0.0'
/**
 * Largest ratio of a STUN response's size to its request's a server sends
 * (bytes/bytes): the worst legitimate case is a 44-byte Binding success (IPv6
 * XOR-MAPPED-ADDRESS) to a 20-byte header-only request. A response that
 * would be larger is not sent (counter `oversized`). Source: RFC 5389 §7.3
 * leaves amplification open; RFC 8489 §16.1.2 and BCP 38 ask servers not to
 * be usable as reflection amplifiers.
 */
export const MAX_STUN_AMPLIFICATION = 2.2
/**
 * Binding requests a STUN server answers per second from one source IP by
 * default (token bucket; a full bucket allows a burst of this many). A
 * client sends at most 7 per transaction (RFC 5389 §7.2.1), an ICE agent a
 * few per gathering, so 50/s only ever bites a flood.
 */
export const DEFAULT_STUN_RATE_LIMIT_PER_SECOND = 50
/**
 * Source IPs a STUN server keeps a token bucket for at once. When full, the
 * oldest bucket is forgotten (a forgotten source starts again with a full
 * bucket), so memory is bounded under a flood of spoofed sources.
 */
export const MAX_STUN_RATE_LIMIT_SOURCES = 16_384
/** How often idle (full) token buckets are swept, ms. */
export const STUN_RATE_LIMIT_SWEEP_MS = 5 * SECOND

/** The magic cookie, bytes 4–7 of every RFC 5389 message (RFC 5389 §6). */
export const STUN_MAGIC_COOKIE = 0x2112a442
/** Size of the fixed message header, bytes (RFC 5389 §6). */
export const STUN_HEADER_BYTES = 20
/** Size of a transaction id, bytes (96 bits, RFC 5389 §6). */
export const STUN_TRANSACTION_ID_BYTES = 12
/** Size of an attribute's type-length header, bytes (RFC 5389 §15). */
export const STUN_ATTRIBUTE_HEADER_BYTES = 4
/**
 * Largest STUN message the decoder accepts, bytes: the IPv6 minimum MTU. Over
 * UDP with an unknown path MTU a STUN message should stay under 576 bytes
 * (IPv4) or 1280 bytes (IPv6) (RFC 5389 §7.1); anything larger is refused
 * before any attribute is read.
 */
export const MAX_STUN_MESSAGE_BYTES = 1280
/** Largest SOFTWARE value, bytes (RFC 5389 §15.10: fewer than 128 characters, at most 763 bytes). */
export const MAX_STUN_SOFTWARE_BYTES = 763
/** Largest ERROR-CODE reason phrase, bytes (RFC 5389 §15.6). */
export const MAX_STUN_REASON_BYTES = 763
/** Value XORed into the CRC-32 of a FINGERPRINT attribute: ASCII "STUN" (RFC 5389 §15.5). */
export const STUN_FINGERPRINT_XOR = 0x5354554e

/** The Binding method (RFC 5389 §18.1). */
export const STUN_METHOD_BINDING = 0x001

/** Attribute types this codec reads or writes (RFC 5389 §18.2). */
export const STUN_ATTR = {
  /** Comprehension-required; the reflexive address, not XORed (RFC 5389 §15.1; RFC 3489 servers). */
  MAPPED_ADDRESS: 0x0001,
  /** Comprehension-required; read past (skipped), never checked: Umbra has no STUN credentials (RFC 5389 §15.3). */
  USERNAME: 0x0006,
  /** Comprehension-required; 20-byte HMAC-SHA1, length-checked, not verified (RFC 5389 §15.4). */
  MESSAGE_INTEGRITY: 0x0008,
  /** Comprehension-required; class, number and reason of an error response (RFC 5389 §15.6). */
  ERROR_CODE: 0x0009,
  /** Comprehension-required; types a 420 error response did not understand (RFC 5389 §15.9). */
  UNKNOWN_ATTRIBUTES: 0x000a,
  /** Comprehension-required; skipped, Umbra has no long-term credentials (RFC 5389 §15.7). */
  REALM: 0x0014,
  /** Comprehension-required; skipped, Umbra has no long-term credentials (RFC 5389 §15.8). */
  NONCE: 0x0015,
  /** Comprehension-required; the reflexive address XORed with the cookie and transaction id (RFC 5389 §15.2). */
  XOR_MAPPED_ADDRESS: 0x0020,
  /** Comprehension-optional; the agent's software name (RFC 5389 §15.10). */
  SOFTWARE: 0x8022,
  /** Comprehension-optional; CRC-32 of the message XOR "STUN", always last (RFC 5389 §15.5). */
  FINGERPRINT: 0x8028,
  /**
   * Comprehension-optional; the server's other IP address and port, which
   * also answer (RFC 5780 §7.4, same format as MAPPED-ADDRESS). Umbra's
   * server sends it when it binds two addresses (issue 17 item 1).
   */
  OTHER_ADDRESS: 0x802c
} as const

/** STUN error codes the server sends or the client reports (RFC 5389 §15.6). */
export const STUN_ERROR = {
  /** The request was malformed. */
  BAD_REQUEST: 400,
  /** The request had comprehension-required attributes the server does not understand. */
  UNKNOWN_ATTRIBUTE: 420
} as const

/** Initial retransmission timeout of a STUN request over UDP, ms (RFC 5389 §7.2.1: "SHOULD be 500 ms"). */
export const STUN_RTO_MS = 500
/** Transmissions of one request before giving up, Rc (RFC 5389 §7.2.1 default 7). */
export const STUN_MAX_TRANSMISSIONS = 7
/** After the last transmission the client waits this many RTOs (the initial one), Rm (RFC 5389 §7.2.1 default 16). */
export const STUN_LAST_WAIT_RTO_MULTIPLIER = 16
/**
 * Default overall time limit of one Binding transaction, ms. The RFC schedule
 * alone (Rc = 7, Rm = 16) would wait 39.5 s; 10 s covers five transmissions
 * (0, 0.5, 1.5, 3.5 and 7.5 s), ample for a server a node was told to use.
 */
export const STUN_DEFAULT_TIMEOUT_MS = 10 * SECOND

/*
 * Circuit relay and inbound admission (issue 10). A server node is a circuit
 * relay v2 (libp2p spec "circuit-v2.md") for Umbra clients behind NATs only;
 * see docs/nat.md "Relay limits" for what is enforced where.
 */

const MINUTE = 60 * SECOND

/**
 * Reservations one relay holds at once. libp2p's default is 15
 * (@libp2p/circuit-relay-v2 DEFAULT_MAX_RESERVATION_STORE_SIZE); with one
 * slot per peer and RELAY_MAX_RESERVATIONS_PER_IP per host, 32 leaves room
 * for eight hosts at their cap before a newcomer is refused.
 */
export const RELAY_MAX_RESERVATIONS = 32
/**
 * Reservations one IP address holds on a relay at once (a NAT hides a few
 * Umbra clients behind one public address; more than four from one host is
 * a flood). Issue 10: 13 reservations from one host filled a relay.
 */
export const RELAY_MAX_RESERVATIONS_PER_IP = 4
/**
 * Data one relayed connection (circuit) may carry, both directions together,
 * bytes: four of Umbra's largest message (a 1 MiB direct message,
 * src/messaging MAX_ENVELOPE_BYTES, body plus framing). At the budget the relay
 * resets the circuit; Umbra opens a new one for the next message. libp2p's
 * default is 128 KiB (go-libp2p relay resources.go), too small for a message.
 */
export const RELAY_CIRCUIT_DATA_LIMIT_BYTES = 4n * 1024n * 1024n
/**
 * Lifetime of one relayed connection, ms (libp2p's default: 2 min). A circuit
 * is the slow path until a WebRTC upgrade; 10 min covers several messages.
 */
export const RELAY_CIRCUIT_DURATION_LIMIT_MS = 10 * MINUTE
/** Circuits one source peer may have open through a relay at once. */
export const RELAY_MAX_CIRCUITS_PER_SOURCE = 4
/** Circuits a relay carries to one destination (reservation holder) at once. */
export const RELAY_MAX_CIRCUITS_PER_DESTINATION = 16
/**
 * How long the relay waits for identify to list a peer's protocols before it
 * judges a reservation or circuit request, ms (identify runs right after the
 * connection opens; a request can overtake it).
 */
export const RELAY_IDENTIFY_WAIT_MS = 5 * SECOND
/**
 * A peer gets a reservation or opens a circuit only if identify lists one of
 * these protocols: every Umbra node handles direct messages and the mix
 * directory (src/messaging, src/mixnet); a stock libp2p node does not.
 */
export const RELAY_UMBRA_PROTOCOLS = ['/umbra/msg/1.0.0', '/umbra/mixdir/1.0.0', '/umbra/kad/1.0.0']

/**
 * Inbound connections still in their handshake (Noise, yamux) a node accepts
 * at once from all hosts (libp2p's default: 10, maxIncomingPendingConnections).
 */
export const MAX_PENDING_INBOUND_CONNECTIONS = 32
/**
 * Inbound connections still in their handshake one host may hold at once;
 * further sockets from it are closed at once, so one host cannot fill
 * MAX_PENDING_INBOUND_CONNECTIONS (issue 10: 3 silent sockets a second kept
 * every new peer out). libp2p itself has only a per-host rate (5 a second).
 */
export const MAX_PENDING_INBOUND_PER_HOST = 4
/**
 * Time an inbound connection has to finish its handshake, ms (libp2p's
 * default: 10 s, inboundUpgradeTimeout). A Noise XX handshake and a yamux
 * negotiation take three round trips; 5 s is ample even on a slow link.
 */
export const INBOUND_UPGRADE_TIMEOUT_MS = 5 * SECOND

/**
 * Description of a client's UPnP port mapping on its router. @libp2p/upnp-nat's
 * default, `js-libp2p@<version> <PeerId>`, tells the router (and any LAN host
 * that lists its mappings, UPnP GetGenericPortMappingEntry) the node's PeerId
 * and libp2p version (issue 17 item 4, seen in the lab's miniupnpd); identify's
 * agent version hides the version for the same reason (docs/nat.md).
 */
export const UPNP_DESCRIPTION = 'umbra'

/** Protocol id of AutoNAT v1 as `@libp2p/autonat` 3 registers it (libp2p specs, autonat-v1.md). */
export const AUTONAT_PROTOCOL = '/libp2p/autonat/1.0.0'
/**
 * How often a node looks for a public address of its own that no AutoNAT
 * dial-back has confirmed yet (a fresh UPnP mapping) and asks its connected
 * AutoNAT peers about it, ms (issue 17 item 4: a mapped client reports itself
 * public soon after the mapping is made).
 */
export const AUTONAT_RECHECK_MS = 2 * SECOND
