/** Direct message protocol id (issue 2). */
export const MESSAGE_PROTOCOL = '/umbra/msg/1.0.0'
/** Wire version of the envelope and acknowledgement. */
export const MESSAGE_VERSION = 1
/** Largest message body, bytes (1 MiB, issue 2). */
export const MAX_BODY_BYTES = 1024 * 1024
/** Largest envelope frame read from the network, bytes: body + fixed fields + AEAD tag, with room to spare. */
export const MAX_ENVELOPE_BYTES = MAX_BODY_BYTES + 1024
/** Largest acknowledgement frame, bytes. */
export const MAX_ACK_BYTES = 128
/** Domain-separation prefix of the sender's signature. */
export const SIGNATURE_DOMAIN = 'umbra/direct-message/v1'
/** Domain-separation prefix of the key derivation (BLAKE2b input). */
export const KDF_DOMAIN = 'umbra/direct-message/v1/key'
/** Associated data prefix of the AEAD. */
export const AEAD_DOMAIN = 'umbra/direct-message/v1/aead'
/** Message id length, bytes. */
export const MESSAGE_ID_BYTES = 16
/** Default time limit of a send (dial, write, acknowledgement), ms. */
export const SEND_TIMEOUT_MS = 30_000
/** One ranked path's dial, ms: a path that does not answer leaves time for the next within the 10 s dial budget (issue 11 path ranking). */
export const PATH_DIAL_TIMEOUT_MS = 5_000
/** Looking up where an unreachable recipient's offline queue lives (its peer record), ms; then the closest servers are used. */
export const QUEUE_LOOKUP_TIMEOUT_MS = 5_000
/** Time a receiver waits for the envelope after a stream opens, ms. */
export const RECEIVE_TIMEOUT_MS = 30_000
/** Messages kept in memory for `inbox()`. */
export const INBOX_LIMIT = 1000
/** Acknowledgement status codes (MessageAck.status). */
export const ACK_DELIVERED = 0
export const ACK_MALFORMED = 1
export const ACK_TOO_LARGE = 2
export const ACK_UNREADABLE = 3
/** ACK status: refused unread, the sender is over its per-peer message rate (`UMBRA_ERR_QUOTA_DIRECT_MESSAGES`; docs/quotas.md). */
export const ACK_RATE_LIMITED = 4
/**
 * Tokens one peer's direct messages earn per second at this node (issue 10
 * quota; docs/quotas.md). A message costs one token, plus one per full
 * {@link DIRECT_MESSAGE_TOKEN_BYTES} of its envelope: 100 small messages/s
 * (a chat, or a benchmark sending one at a time, stays far below), or about
 * 6 MiB/s of large ones, each costing an X25519 + Ed25519 open.
 */
export const DIRECT_MESSAGES_PER_SECOND = 100
/** Tokens one peer may spend at once after being idle (bucket size): 200 small messages, or 12 of 1 MiB. */
export const DIRECT_MESSAGES_BURST = 200
/** Envelope bytes that cost one more token, bytes. */
export const DIRECT_MESSAGE_TOKEN_BYTES = 64 * 1024
/** Default page size of `inbox.list` and `GET /v1/messages` (issue 11, item 2). */
export const INBOX_PAGE_DEFAULT = 100
/** Largest page of `inbox.list` and `GET /v1/messages`. */
export const INBOX_PAGE_MAX = 1000
/**
 * Messages the durable inbox holds; past this the oldest is dropped (and
 * logged) so a flood of small messages cannot fill the disk. Direct senders
 * are also rate-limited per peer (DIRECT_MESSAGES_PER_SECOND).
 */
export const INBOX_MAX_MESSAGES = 100_000
/**
 * How long the inbox remembers a message id after receipt, ms: a copy that
 * arrives again within this time (a retry after a lost acknowledgement, the
 * offline queue's copy of a message also delivered directly) is dropped, even
 * when the first was already acknowledged or deleted. Longer than the offline
 * queue's TTL (seed 001: 72 h), so no queued copy outlives it.
 */
export const INBOX_SEEN_TTL_MS = 7 * 24 * 60 * 60 * 1000
/** Least time between two sweeps of expired seen ids, ms. */
export const INBOX_SWEEP_INTERVAL_MS = 60_000
/** Offline queue protocol id (issue 11, item 3; docs/messaging.md "Offline queue"). */
export const OFFLINE_PROTOCOL = '/umbra/offline/1.0.0'
/** Wire version of OfflineRequest and OfflineResponse. */
export const OFFLINE_VERSION = 1
/** OfflineRequest.op codes. */
export const OFFLINE_OP_STORE = 1
export const OFFLINE_OP_FETCH = 2
export const OFFLINE_OP_ACK = 3
/** OfflineResponse.status codes. */
export const OFFLINE_OK = 0
export const OFFLINE_MALFORMED = 1
export const OFFLINE_FULL_MESSAGES = 2
export const OFFLINE_FULL_BYTES = 3
export const OFFLINE_FULL_SERVER = 4
/** How long a queued message is kept, ms (seed 001: 72 h). */
export const OFFLINE_TTL_MS = 72 * 60 * 60 * 1000
/** Messages one recipient's queue holds at one server (seed 001: 100). */
export const OFFLINE_MAX_MESSAGES = 100
/** Envelope bytes one recipient's queue holds at one server (seed 001: 1 MB). */
export const OFFLINE_MAX_BYTES = 1_000_000
/**
 * Envelope bytes one storing peer may keep queued at a server, for all
 * recipients together (issue 10's per-peer quotas, docs/quotas.md): a peer
 * that makes up recipients cannot fill the server's disk. 8 full queues.
 */
export const OFFLINE_MAX_BYTES_PER_SENDER = 8 * OFFLINE_MAX_BYTES
/** Envelope bytes a server keeps queued in all (as the DHT's 256 MiB for records of others, issue 10). */
export const OFFLINE_MAX_TOTAL_BYTES = 256 * 1024 * 1024
/** Servers a message is queued at: the k closest server nodes to the recipient's PeerId (issue 11: k = 3). */
export const OFFLINE_REPLICAS = 3
/** Largest OfflineRequest frame a server reads, bytes: one envelope plus the fields, or 1,000 ack ids. */
export const MAX_OFFLINE_REQUEST_BYTES = MAX_ENVELOPE_BYTES + 1024
/** Largest OfflineResponse frame a recipient reads, bytes: a full queue (1 MB of envelopes) plus per-item fields. */
export const MAX_OFFLINE_RESPONSE_BYTES = OFFLINE_MAX_BYTES + OFFLINE_MAX_MESSAGES * 64 + 1024
/** Time a server waits for a request, and a client for an answer, ms. */
export const OFFLINE_STREAM_TIMEOUT_MS = 15_000
/** How long `send` tries a direct or relayed connection before queuing, ms. */
export const DIRECT_DIAL_TIMEOUT_MS = 10_000
/** How often a node asks its queue servers for messages left while it was away, ms (also once at start). */
export const OFFLINE_POLL_INTERVAL_MS = 30_000
/** Least time between two fetches of the own offline queue triggered by a queue server connecting, ms. */
export const OFFLINE_DRAIN_GAP_MS = 5_000
