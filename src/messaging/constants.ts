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
