/**
 * Constants of names (seed 003's names resolved through the DHT, issue 9
 * item 3; DESIGN.md section 4). Units are in the names; docs/names.md has
 * the reasons.
 */
const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE

/** DHT namespace of global names: keys are `/umbra-name/<label>` (first-come). */
export const GLOBAL_NAMESPACE = 'umbra-name'
/** DHT namespace of zone names: keys are `/umbra-zone/<base32 of 32 bytes>`. */
export const ZONE_NAMESPACE = 'umbra-zone'
/** Wire version of the name values (src/names/pb/name.proto). */
export const NAME_VALUE_VERSION = 1

/** Domain of the zone name DHT key hash: SHA-256(domain | zone key | label). */
export const ZONE_KEY_DOMAIN = 'umbra/zone-key/v1'
/** Domain of the zone seal key: BLAKE2b-256 keyed by nothing over (domain | zone key | label). */
export const ZONE_SEAL_DOMAIN = 'umbra/zone-seal/v1'
/** Domain of the per-label storage key seed: BLAKE2b-256 keyed by the zone's private seed over (domain | label). */
export const ZONE_STORAGE_DOMAIN = 'umbra/zone-storage-key/v1'
/** Domain of the zone key's signature inside the seal. */
export const ZONE_SIGNATURE_DOMAIN = 'umbra/zone-name/v1'
/** Domain of the proof of work of a global name claim. */
export const POW_DOMAIN = 'umbra/name-pow/v1'
/** Bytes of the proof-of-work nonce. */
export const POW_NONCE_BYTES = 8

/**
 * Leading zero bits the proof of work of a global name needs, by label
 * length (chars): 12 bits from 18 chars up, one bit more per char shorter
 * up to 22 bits at 8 chars, then three bits more per char: 25 at 7, 28 at 6,
 * 34 at 4, 43 at 1. Each bit doubles the expected work (2^bits BLAKE2b
 * hashes; at the 3.4 M hashes/s measured on one core of the reference
 * machine about 1.2 s at 8 chars, 80 s at 6, 1.4 h at 4: docs/names.md
 * "Proof of work" has the table, `npm run bench:names` prints it).
 */
export function powBits (labelLength: number): number {
  if (labelLength >= 8) return Math.max(12, 22 - (labelLength - 8))
  return 22 + 3 * (8 - labelLength)
}

/** Label rules: lowercase a-z, 0-9 and '-', 1 to 63 chars (a DNS label), not starting with '-'. */
export const LABEL_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/
export const MAX_LABEL_CHARS = 63

/** Record type codes on the wire. */
export const TYPE_PEER = 1
export const TYPE_PSEUDONYM = 2
export const TYPE_MULTIADDR = 3
export const TYPE_TEXT = 4
/** Most records one name points to. */
export const MAX_NAME_RECORDS = 8
/** Longest record value, bytes of UTF-8. */
export const MAX_NAME_RECORD_VALUE_BYTES = 256
/** Largest encoded name record (envelope included), bytes; checked before decoding. */
export const MAX_NAME_RECORD_BYTES = 4096

/** Default lifetime of a name record, ms (the DHT's default). */
export const DEFAULT_NAME_TTL_MS = 24 * HOUR
/** Shortest and longest lifetime, ms (the DHT's limits). */
export const MIN_NAME_TTL_MS = 1 * SECOND
export const MAX_NAME_TTL_MS = 48 * HOUR
/** Default time resolvers cache an answer, ms. */
export const DEFAULT_CACHE_TTL_MS = 5 * MINUTE
/** Longest time resolvers cache an answer, ms, whatever the record says (never past its expiry). */
export const MAX_CACHE_TTL_MS = 1 * HOUR
/** An owned name is renewed when this fraction of its lifetime is left. */
export const RENEW_AT_FRACTION_LEFT = 0.5
/** An owned name is re-published at least this often (storing nodes churn), ms (as DHT records). */
export const NAME_REPUBLISH_MS = 1 * HOUR
/** Time limit of one resolution, ms. */
export const RESOLVE_TIMEOUT_MS = 10 * SECOND
/** Time limit of one publish, ms. */
export const NAME_PUBLISH_TIMEOUT_MS = 20 * SECOND
/** Valid remote copies after which a resolution stops (as peer record lookups). */
export const NAME_QUORUM = 1
/** Most answers the resolution cache holds. */
export const MAX_CACHED_NAMES = 1000
