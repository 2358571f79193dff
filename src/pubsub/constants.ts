/**
 * Constants of pub/sub (issue 13; DESIGN.md section 5b; seed 004's
 * GossipSub parameters). Units are in the names; docs/pubsub.md has the
 * reasons.
 */
const SECOND = 1000
const MINUTE = 60 * SECOND

/** Wire version of {@link PubSubEnvelope} and the history messages (src/pubsub/pb/pubsub.proto). */
export const ENVELOPE_VERSION = 1
/** Domain of the publisher's Ed25519 signature over `PubSubSignable` (STYLE.md "Wire and crypto"). */
export const ENVELOPE_SIGNATURE_DOMAIN = 'umbra/pubsub/v1'
/** Bytes of a message id: 16 random bytes (128 bits: no collision in any realistic topic). */
export const MESSAGE_ID_BYTES = 16
/** Bytes of a raw Ed25519 public key (publisher field). */
export const PUBLISHER_KEY_BYTES = 32
/** Bytes of an Ed25519 signature. */
export const SIGNATURE_BYTES = 64
/** Default largest encoded envelope a node accepts or publishes, bytes (issue 13 item 1: 1 MiB). */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024
/** Bytes an envelope adds around its data at most (fields, key, signature, topic), used to bound decoding. */
export const ENVELOPE_OVERHEAD_BYTES = 512
/** Longest topic name, bytes of UTF-8. */
export const MAX_TOPIC_BYTES = 256
/**
 * Oldest message timestamp a validator accepts, ms before now: a message
 * older than this is stale (issue 13 item 1, replays). Seed 004's message
 * cache is 5 minutes; a replay cache covering the same window makes every
 * accepted id unique.
 */
export const DEFAULT_MAX_MESSAGE_AGE_MS = 5 * MINUTE
/** Largest clock skew into the future a validator accepts, ms. */
export const MAX_CLOCK_SKEW_MS = 30 * SECOND
/** Most ids a node's replay cache holds at once (bounded memory; the oldest go first). */
export const MAX_SEEN_IDS = 100_000

/** GossipSub mesh degree D (seed 004: mesh 6 to 12). */
export const MESH_D = 6
/** GossipSub D_low. */
export const MESH_D_LOW = 4
/** GossipSub D_high (seed 004: up to 12). */
export const MESH_D_HIGH = 12
/** GossipSub heartbeat interval, ms (seed 004: 1 s). */
export const HEARTBEAT_INTERVAL_MS = 1 * SECOND
/**
 * GossipSub message cache length in heartbeats: 300 heartbeats of 1 s keep
 * a message 5 minutes for IWANT answers (seed 004's 5-minute cache).
 */
export const MCACHE_LENGTH = 300
/** Heartbeats whose message ids are advertised in IHAVE gossip (GossipSub default 3). */
export const MCACHE_GOSSIP = 3

/** GossipSub P4 weight of a topic: score change per invalid message squared (4 in a burst reach the -80 graylist threshold). */
export const INVALID_MESSAGE_WEIGHT = -5
/** GossipSub P4 decay: the invalid-message count is multiplied by this every second (halves). */
export const INVALID_MESSAGE_DECAY = 0.5

/** Protocol of the message store's history answers (issue 13 item 3). */
export const HISTORY_PROTOCOL = '/umbra/pubsub-history/1.0.0'
/** Default messages a server keeps per topic (issue 13 item 3: last 100). */
export const DEFAULT_STORE_MESSAGES = 100
/** Default time a server keeps a message, ms (issue 13 item 3: 5 minutes). */
export const DEFAULT_STORE_TTL_MS = 5 * MINUTE
/** Most envelopes one history answer carries. */
export const MAX_HISTORY_MESSAGES = 100
/** Largest history answer, bytes (bounded answer: 8 MiB). */
export const MAX_HISTORY_RESPONSE_BYTES = 8 * 1024 * 1024
/** Time a history request may take end to end, ms. */
export const HISTORY_TIMEOUT_MS = 10 * SECOND
/** Most server peers a subscriber asks for history. */
export const HISTORY_PEERS = 3
