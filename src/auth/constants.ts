/** Constants of challenge-response authentication (issue 14, item 1; seed 002). */

/** libp2p protocol on which a peer asks this node to prove its node key (issue 14, item 1). */
export const AUTH_PROTOCOL = '/umbra/auth/1.0.0'
/** Version of the challenge and response objects. */
export const AUTH_VERSION = 1 as const
/** Domain-separation context of the bytes a response signs (STYLE.md "Wire and crypto"). */
export const AUTH_RESPONSE_CONTEXT = 'umbra/auth/response/v1'
/** Domain-separation context of the HMAC tag that marks a challenge as issued by this node. */
export const AUTH_TAG_CONTEXT = 'umbra/auth/challenge-tag/v1'
/** Random nonce of a challenge, bytes (256 bits: never repeats by chance). */
export const AUTH_NONCE_BYTES = 32
/** HMAC-SHA256 tag and its per-process secret, bytes. */
export const AUTH_TAG_BYTES = 32
/** Default lifetime of a challenge, ms (one minute: enough for a person at a CLI, short for a replay). */
export const DEFAULT_CHALLENGE_TTL_MS = 60_000
/** Shortest lifetime a challenge may be given, ms. */
export const MIN_CHALLENGE_TTL_MS = 1_000
/** Longest lifetime a challenge may be given, ms (10 min; bounds how long a used nonce is remembered). */
export const MAX_CHALLENGE_TTL_MS = 600_000
/** Most used nonces remembered at once (each until its challenge expires): 65,536 × ~100 bytes ≈ 6.5 MB at most. */
export const MAX_USED_NONCES = 65_536
/** Longest purpose string, characters. */
export const MAX_PURPOSE_LENGTH = 64
/** A purpose: letters, digits and `._:/-`, starting with a letter or digit. */
export const PURPOSE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/-]*$/
/** Largest message on {@link AUTH_PROTOCOL}, bytes (a challenge or a response is < 600 bytes as JSON). */
export const MAX_AUTH_MESSAGE_BYTES = 4096
/** Time limit of one exchange on {@link AUTH_PROTOCOL}, ms. */
export const AUTH_EXCHANGE_TIMEOUT_MS = 10_000
