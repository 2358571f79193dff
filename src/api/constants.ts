import { MAX_KEY_BYTES, MAX_TTL_MS, MAX_VALUE_BYTES, MIN_TTL_MS } from '../dht/constants.ts'
import { MAX_BODY_BYTES, SEND_TIMEOUT_MS } from '../messaging/constants.ts'
import { MAX_HOPS, MAX_MESSAGE_BYTES as MAX_ANON_BODY_BYTES, MAX_REPLY_SURBS as MIXNET_MAX_REPLY_SURBS, MIN_HOPS } from '../mixnet/constants.ts'

/**
 * Limits and defaults of the HTTP API (DESIGN.md section 7, issue 2).
 *
 * The DHT and messaging limits are the services' own, taken from their
 * constants, so the API can answer 413 before a request reaches a service;
 * the services check again.
 */

const KiB = 1024
const MiB = 1024 * KiB
const SECOND_MS = 1000

/** Address the API binds to unless told otherwise: loopback only. DESIGN.md section 7. */
export const DEFAULT_API_HOST = '127.0.0.1'

/** TCP port of the API unless told otherwise. Issue 2. */
export const DEFAULT_API_PORT = 7450

/** Version of the HTTP API document (`info.version` of the OpenAPI file), not of the package. */
export const API_VERSION = '1.0.0'

/**
 * Largest request body accepted, in bytes of JSON text. A 1 MiB message sent
 * as base64 is 1,398,104 characters plus the JSON around it. Issue 2.
 */
export const API_BODY_LIMIT_BYTES = 1.5 * MiB

/** Largest DHT key, in bytes of UTF-8: 256 (the DHT service's limit, issue 2). */
export const MAX_DHT_KEY_BYTES = MAX_KEY_BYTES

/** Largest DHT value, in bytes after decoding: 64 KiB (the DHT service's limit, issue 2). */
export const MAX_DHT_VALUE_BYTES = MAX_VALUE_BYTES

/** Shortest DHT record lifetime the API accepts, in seconds: 1 (the DHT service's minimum). */
export const MIN_DHT_TTL_S = Math.ceil(MIN_TTL_MS / SECOND_MS)

/** Longest DHT record lifetime the API accepts, in seconds: 172,800 = 48 h (the DHT service's maximum, issue 2). */
export const MAX_DHT_TTL_S = Math.floor(MAX_TTL_MS / SECOND_MS)

/** Largest direct message body, in bytes after decoding: 1 MiB (the messaging service's limit, issue 2). */
export const MAX_MESSAGE_BYTES = MAX_BODY_BYTES

/** How long a send waits for the recipient's acknowledgement, in ms (the messaging service's default, 30 s). */
export const MESSAGE_SEND_TIMEOUT_MS = SEND_TIMEOUT_MS

/** Largest anonymous message body, in bytes after decoding: 1 MiB (the mixnet's limit, DESIGN.md section 5). */
export const MAX_ANONYMOUS_MESSAGE_BYTES = MAX_ANON_BODY_BYTES

/**
 * How long the API lets an anonymous send take, in ms: 55 s, under
 * {@link API_OPERATION_TIMEOUT_MS}, so the mixnet's own error
 * (`UMBRA_ERR_ANON_DELIVERY_FAILED`, naming what was missing) arrives rather
 * than a bare timeout.
 */
export const ANONYMOUS_SEND_TIMEOUT_MS = 55 * SECOND_MS

/** Fewest and most mix hops an anonymous send may ask for: 1 and 8 (the mixnet's limits). */
export const MIN_ANONYMOUS_HOPS = MIN_HOPS
export const MAX_ANONYMOUS_HOPS = MAX_HOPS

/** Most reply blocks (SURBs) one anonymous message may carry: 8 (the mixnet's limit). */
export const MAX_REPLY_SURBS = MIXNET_MAX_REPLY_SURBS

/**
 * Largest reply body, in bytes after decoding: what one Sphinx packet
 * carries back through a SURB (`REPLY_DATA_SIZE` of src/mixnet/wire.ts, not
 * imported here so client commands do not load the Sphinx code; a test
 * checks the two agree).
 */
export const MAX_REPLY_BYTES = 3358

/** Longest pseudonym label, in UTF-16 code units (the pseudonym store's limit). */
export const MAX_PSEUDONYM_LABEL_CHARS = 128

/**
 * Longest length of a message recipient string (PeerId or `key_…`), in
 * characters. Real ones are about 52; this only bounds garbage.
 */
export const MAX_RECIPIENT_CHARS = 256

/** Interval of the comment line sent on idle event streams, in ms, so proxies keep them open. Issue 2. */
export const SSE_HEARTBEAT_MS = 15 * SECOND_MS

/**
 * An event-stream client that lets this many bytes pile up unread is
 * disconnected instead of growing the server's memory without bound.
 */
export const SSE_MAX_BUFFERED_BYTES = 8 * MiB

/**
 * Event streams open at once per API token (one token per node): a dashboard
 * and a few tools need one each; beyond, `GET /v1/events` is 429
 * `UMBRA_ERR_QUOTA_EVENT_STREAMS` (issue 10; docs/quotas.md). Each open
 * stream costs a socket, seven listeners and a heartbeat timer.
 */
export const SSE_MAX_STREAMS_PER_TOKEN = 16

/**
 * Upper bound on how long one request may wait for the DHT or the messaging
 * service, in ms; past it the request is aborted and answered 504. The
 * messaging service's own timeout ({@link MESSAGE_SEND_TIMEOUT_MS}) normally ends sends first.
 */
export const API_OPERATION_TIMEOUT_MS = 60 * SECOND_MS

/**
 * How long a client may take to send a request's headers, in ms: 10 s
 * (Node's default is 60 s). Past it the connection is answered 408
 * `UMBRA_ERR_REQUEST_TIMEOUT` and closed, so slowly sent headers
 * (slowloris) cannot hold connections open (issue 10).
 */
export const API_HEADERS_TIMEOUT_MS = 10 * SECOND_MS

/**
 * How long a client may take to send a whole request (headers and body), in
 * ms: 30 s, enough for the largest body ({@link API_BODY_LIMIT_BYTES}) at
 * 50 KiB/s. Not the time to answer it. Issue 10.
 */
export const API_REQUEST_TIMEOUT_MS = 30 * SECOND_MS

/** How often Node checks the two timeouts above, in ms (Node's default is 30 s). */
export const API_TIMEOUT_CHECK_MS = 1 * SECOND_MS

/**
 * How long `close()` lets in-flight requests finish after aborting them, in
 * ms, before it destroys their sockets.
 */
export const CLOSE_GRACE_MS = 2 * SECOND_MS

/** Longest route parameter accepted by the router, in characters (a 256-byte key percent-encoded is 768). */
export const MAX_PARAM_CHARS = 4 * KiB

/**
 * Fields of `POST /v1/messages` that only an anonymous send takes. The body
 * schema (src/api/openapi.ts) forbids them with a `false` schema unless
 * `anonymous` is `true`; src/api/errors.ts names them in its message.
 */
export const ANONYMOUS_ONLY_FIELDS: readonly string[] = ['hops', 'wait', 'replySurbs']

/** Most extra peer addresses one `POST /v1/nat/holepunch` may carry (issue 4). */
export const MAX_HOLEPUNCH_ADDRS = 32

/** Longest multiaddr accepted in a request, in characters. A relayed WebRTC address is about 200; this only bounds garbage. */
export const MAX_MULTIADDR_CHARS = 1024

/**
 * Shortest and longest `timeout` of `POST /v1/nat/holepunch`, in ms: 100 ms
 * and 60 s. The NAT service's own default is 10 s. With 60 s the relayed
 * fallback that follows may push the request past
 * {@link API_OPERATION_TIMEOUT_MS}; it then answers 504 `UMBRA_ERR_TIMEOUT`.
 */
export const MIN_HOLEPUNCH_TIMEOUT_MS = 100
export const MAX_HOLEPUNCH_TIMEOUT_MS = 60 * SECOND_MS
