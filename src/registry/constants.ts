/**
 * Constants of the peer registry (DESIGN.md section 4 "Peer records", seed
 * 002's public-key registry; issue 9 item 2). Units are in the names.
 */
const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE

/** DHT namespace of peer records: keys are `/umbra-peer/<key_…>` of the node's transport key. */
export const PEER_NAMESPACE = 'umbra-peer'
/** Wire version of `PeerRecordValue`. */
export const PEER_RECORD_VERSION = 1
/** Role codes on the wire. */
export const ROLE_SERVER = 1
export const ROLE_CLIENT = 2
/** A published record is valid this long, ms (re-published well before). */
export const PEER_RECORD_TTL_MS = 2 * HOUR
/** A node re-publishes its record this often even when nothing changed, ms. */
export const PEER_REPUBLISH_MS = 30 * MINUTE
/** Address changes within this window are published together, ms. */
export const PEER_REPUBLISH_DEBOUNCE_MS = 2 * SECOND
/** Most addresses in a record, and the longest one, bytes of UTF-8 (as mix descriptors). */
export const MAX_PEER_ADDRS = 16
/** Queue servers a record may name (issue 11: the k = 3 servers holding the node's offline queue, OFFLINE_REPLICAS). */
export const MAX_QUEUE_SERVERS = 3
export const MAX_PEER_ADDR_BYTES = 256
/** Largest application metadata, bytes (issue 9: at most 1 KiB). */
export const MAX_METADATA_BYTES = 1024
/** Largest encoded peer record (envelope included), bytes; checked before decoding. */
export const MAX_PEER_RECORD_BYTES = 8 * 1024
/** A looked-up record is reused this long, ms. */
export const LOOKUP_CACHE_MS = 60 * SECOND
/** Time limit of one network lookup, ms. */
export const LOOKUP_TIMEOUT_MS = 10 * SECOND
/** Time limit of one publish, ms. */
export const PUBLISH_TIMEOUT_MS = 20 * SECOND
/** Clock skew tolerated on `lastSeen`, ms (same as DHT records). */
export const MAX_CLOCK_SKEW_MS = 5 * MINUTE
