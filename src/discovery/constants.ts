/**
 * Constants of service discovery (DESIGN.md section 4 "Discovery", seeds 002
 * and 004; issue 9 item 4). Units are in the names.
 */
const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE

/** Domain-separation prefix of the namespace hash: topic = sha256(prefix ‖ namespace) (STYLE.md, Wire and crypto). */
export const TOPIC_DOMAIN = 'umbra-disc/topic/v1\0'
/** Extra suffix hashed for the anonymous variant's topic, so its DHT key never equals a provider CID's digest. */
export const ANON_TOPIC_SUFFIX = '\0anon'
/** Domain of a pseudonym entry's signature (DiscoveryEntrySignable.domain). */
export const ENTRY_SIGNATURE_DOMAIN = 'umbra-disc-entry/v1'
/** DHT record namespace of anonymous discovery sets: `/umbra-disc/<base32 topic>`. */
export const DISCOVERY_NAMESPACE = 'umbra-disc'
/** Wire version of the DiscoverySet value. */
export const DISCOVERY_SET_VERSION = 1
/** Most pseudonym entries one set holds (bounded: 32 × ~110 bytes ≈ 3.5 KiB). */
export const MAX_SET_ENTRIES = 32
/** Largest encoded set record (envelope included), bytes; checked before decoding (a full set is about 3.7 KiB; it must fit a gateway frame, 8 KiB). */
export const MAX_SET_RECORD_BYTES = 6 * 1024
/** Longest namespace string, UTF-8 bytes. */
export const MAX_NAMESPACE_BYTES = 256
/** Lifetime of a pseudonym entry and of the set envelope it signs, ms; re-advertised every half of it. */
export const ENTRY_TTL_MS = 2 * HOUR
/** Clock skew tolerated on an entry's expiry, ms (as DHT records, src/dht/constants.ts). */
export const MAX_CLOCK_SKEW_MS = 5 * MINUTE
/**
 * Lifetime of a provider record on the storing nodes, ms (kad-dht `reprovide.validity`).
 * Shorter than kad-dht's 48 h so an `unadvertise` is forgotten within it; the advertiser
 * re-provides when less than half of it is left.
 */
export const PROVIDER_TTL_MS = 6 * HOUR
/** How often kad-dht checks which provider records to re-provide or drop, ms (kad-dht `reprovide.interval`). */
export const REPROVIDE_INTERVAL_MS = 10 * MINUTE
/** Default and largest number of results of `find`. */
export const DEFAULT_FIND_LIMIT = 20
export const MAX_FIND_LIMIT = 100
/** Time limit of one advertise or find, ms. */
export const DISCOVERY_TIMEOUT_MS = 30 * SECOND
/** Time limit of the registry lookup for a provider that came without addresses, ms. */
export const ADDRESS_LOOKUP_TIMEOUT_MS = 5 * SECOND
