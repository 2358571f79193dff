/**
 * Constants of the linkable ring signature (issue 14, item 2; docs/proofs.md).
 * Scheme: bLSAG, "Zero to Monero" 2nd ed. section 3.4 (Noether & Goodell 2020),
 * over ristretto255 (RFC 9496) with @noble/curves.
 */

/** Fewest members a ring may have (a ring of one would name the signer; issue 14). */
export const RING_MIN_MEMBERS = 2
/** Most members a ring may have (issue 14: rings of 2 to 256; the signature grows by 32 bytes a member). */
export const RING_MAX_MEMBERS = 256
/** First byte of every signature: the format version. */
export const RING_SIGNATURE_VERSION = 0x01
/** Bytes of one encoded ristretto255 element or scalar (RFC 9496 section 4.3; scalars little-endian mod L). */
export const RING_ELEMENT_BYTES = 32
/** Most bytes of a scope, UTF-8 (a label such as `vote/2026-11`, not data). */
export const RING_SCOPE_MAX_BYTES = 256
/** Scope used when none is given: signatures without a scope all link to each other. */
export const RING_DEFAULT_SCOPE = ''
/** Bytes of randomness drawn for each nonce scalar, reduced mod L (64 bytes: bias below 2^-128, RFC 9380 section 5). */
export const RING_NONCE_BYTES = 64

/** Domain-separation tag of the key-image base point Hp(P ‖ scope) (RFC 9380 hash_to_ristretto255 DST). */
export const RING_HASH_TO_POINT_DST = 'umbra/ring/v1/hash-to-point'
/** Domain prefix of the digest binding scope, ring, key image and message (SHA-512). */
export const RING_TRANSCRIPT_DOMAIN = 'umbra/ring/v1/transcript'
/** Domain prefix of each challenge c_{i+1} = SHA-512(domain ‖ transcript ‖ L_i ‖ R_i) mod L. */
export const RING_CHALLENGE_DOMAIN = 'umbra/ring/v1/challenge'

/**
 * Bytes of a signature over a ring of `members`: version (1) ‖ key image (32)
 * ‖ c_0 (32) ‖ r_0 … r_{n-1} (32 each).
 */
export function ringSignatureBytes (members: number): number {
  return 1 + RING_ELEMENT_BYTES * (members + 2)
}
