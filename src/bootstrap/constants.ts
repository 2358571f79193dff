/**
 * Constants of the bootstrap endpoints (seed 001's bootstrap server, issue 9
 * item 5; docs/bootstrap.md). Units are in the names.
 */
const SECOND = 1000
const MINUTE = 60 * SECOND

/** How long a challenge may be answered, ms; it is single use. */
export const CHALLENGE_TTL_MS = 60 * SECOND
/** Most outstanding challenges a server keeps; the oldest is dropped beyond it. */
export const MAX_CHALLENGES = 10_000
/**
 * Purpose of the src/auth challenges the endpoints issue, followed by the
 * action (`umbra/bootstrap-register`, `-heartbeat`, `-unregister`): src/auth's
 * domain-separated signature binds it, so a signature for one action is no
 * good for another, nor for any other use of challenge-response (issue 14 item 1).
 */
export const BOOTSTRAP_PURPOSE_PREFIX = 'umbra/bootstrap-'
/** A registered peer is live until its last register or heartbeat is older than this, ms (seed 001: heartbeats keep a peer listed). */
export const PEER_LIVE_MS = 5 * MINUTE
/** How often a node heartbeats to the bootstrap servers it registered with, ms (a fifth of PEER_LIVE_MS: four may be lost). */
export const HEARTBEAT_INTERVAL_MS = 60 * SECOND
/** Most peers `GET /peers` answers (seed 001). */
export const MAX_PEERS_ANSWER = 20
/** Most peers one server keeps registered; a register beyond it is refused with 503. */
export const MAX_REGISTERED = 10_000
/** Token bucket per source address: burst size (requests) and refill rate (requests per second). */
export const RATE_BURST = 30
export const RATE_PER_SECOND = 2
/** Most source addresses whose buckets are kept; the least recently seen is dropped beyond it. */
export const MAX_RATE_BUCKETS = 10_000
/** Largest request body, bytes (a peer record is at most 8 KiB; base64 and JSON around it). */
export const BODY_LIMIT_BYTES = 16 * 1024
/** Time limit of one request to a bootstrap server from a node, ms. */
export const CLIENT_TIMEOUT_MS = 10 * SECOND
/** Largest answer a node reads from a bootstrap server, bytes. */
export const MAX_ANSWER_BYTES = 512 * 1024
