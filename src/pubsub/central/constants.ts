/**
 * Constants of the central pub/sub server and its client (issue 13, item 4;
 * seed 004's central WebSocket pub/sub server). Each carries its unit and
 * where the number comes from.
 */

/** Version of the central server's frames (`v` of every JSON frame). */
export const CENTRAL_WIRE_VERSION = 1
/** Most topics one connection may subscribe to at once. */
export const DEFAULT_CENTRAL_MAX_TOPICS_PER_CONNECTION = 256
/** Most connections the server holds at once. */
export const DEFAULT_CENTRAL_MAX_CONNECTIONS = 1024
/** Frames per second one connection may send, sustained (token bucket refill): 100/s, a chatty publisher with room. */
export const DEFAULT_CENTRAL_RATE_PER_SEC = 100
/** Token bucket depth: frames one connection may send in a burst. */
export const DEFAULT_CENTRAL_BURST = 200
/** The server pings every connection this often and drops one that did not answer the previous ping, ms (RFC 6455 section 5.5.2 ping/pong). */
export const CENTRAL_SERVER_PING_MS = 15_000
/** The client pings the server this often, ms. */
export const DEFAULT_CENTRAL_CLIENT_PING_MS = 500
/** The central side counts as healthy while connected and its last pong is at most this old, ms (issue 13: "connected + pong within X ms"). */
export const DEFAULT_CENTRAL_HEALTH_TIMEOUT_MS = 2_000
/** A publish not acknowledged by the server within this time fails, ms. */
export const DEFAULT_CENTRAL_ACK_TIMEOUT_MS = 5_000
/** First reconnect delay after a lost connection, ms; doubles up to {@link CENTRAL_RECONNECT_MAX_MS}. */
export const CENTRAL_RECONNECT_MIN_MS = 200
/** Longest reconnect delay, ms. */
export const CENTRAL_RECONNECT_MAX_MS = 5_000
/** Extra room in a WebSocket frame beyond the base64 of the largest envelope (topic, field names), bytes. */
export const CENTRAL_FRAME_OVERHEAD_BYTES = 1024
/** Default TCP port of `umbra central` (next to the API's 7450). */
export const DEFAULT_CENTRAL_PORT = 7460
