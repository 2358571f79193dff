/**
 * The node's HTTP API under `/v1` (DESIGN.md section 7, issues 2 and 4): JSON
 * routes for the node's identity, peers, NAT status and hole punching, DHT
 * records, direct and anonymous messages, pseudonyms and the mix network, a
 * server-sent event stream, and the OpenAPI 3.1 document at
 * `/v1/openapi.json`. Bound to 127.0.0.1 by default; every route except
 * `/v1/health` and `/v1/openapi.json` needs `Authorization: Bearer <token>`.
 *
 * Routes (errors are `{"error":{"code":"UMBRA_ERR_…","message":"…"}}`):
 * - `GET  /v1/health` → `{status:'ok'}` (no token)
 * - `GET  /v1/openapi.json` → the OpenAPI document (no token)
 * - `GET  /v1/node` → `{peerId, key, role, addrs, peers, nat: {reachability, reachableAddrs, relays, stunPort?, stunServers}}`
 * - `GET  /v1/peers` → `{peers: PeerSummary[]}`
 * - `POST /v1/nat/holepunch` `{peer, addrs?, timeout? (ms)}` → `{peer, path, method, rttMs, elapsedMs, remoteAddr, reason?}`
 * - `PUT  /v1/dht/:key` `{value, encoding?, ttl? (s)}` → `{key, seq, expiresAt, storedOn}`
 * - `GET  /v1/dht/:key?fresh=true` → `{key, value, encoding, publisher, seq, expiresAt, source}`
 * - `POST /v1/messages` `{to, body, encoding?}` → `{id, to, anonymous: false, rttMs}`
 * - `POST /v1/messages` `{to: 'key_…', body, encoding?, anonymous: true, hops?, wait?, replySurbs?}`
 *   → `{id, to, anonymous: true, fragments, retransmissions, status, rttMs}`
 * - `POST /v1/messages/:id/reply` `{body, encoding?}` → `{id, repliesLeft}` (through a SURB of message `id`)
 * - `GET  /v1/messages?since=<ms>` → `{messages: MessageEntry[]}`: direct (`kind: 'direct'`), anonymous
 *   (`kind: 'anonymous'`, `from: null`, `to`, `repliesLeft`) and replies (`kind: 'reply'`, `from: null`, `inReplyTo`)
 * - `POST /v1/pseudonyms` `{label?}` → 201 `PseudonymInfo`; `GET /v1/pseudonyms` → `{pseudonyms: PseudonymInfo[]}`
 * - `POST /v1/pseudonyms/:key/purge` `{all?}` → `{deleted}` (rows its gateway deleted)
 * - `GET  /v1/mixnet` → `{preset, parameters, directory, counters}`
 * - `GET  /v1/events` (`?token=` accepted) → `text/event-stream` of `peer:connect`, `peer:disconnect`, `message`,
 *   `anonymous:message`, `anonymous:reply`, `anonymous:delivered`
 *
 * The contract (issue 12): each route's JSON schemas in `ROUTES` are the
 * single source; `RouteBody`, `RouteResponse`, … derive the types from them
 * and `ApiClient` (this module, `umbra/api`) is the typed client.
 *
 * @example
 * ```ts
 * import { ApiClient } from 'umbra/api'
 * const client = new ApiClient({ url: 'http://127.0.0.1:7450', token: 's3cret' })
 * const info = await client.node() // RouteResponse<'node'>: { peerId, key, role, addrs, peers, nat }
 * const found = await client.call('discoveryFind', { params: { namespace: 'chat' } })
 * ```
 *
 * @example
 * ```ts
 * import { createNode, createApiServer } from 'umbra'
 *
 * const node = await createNode({ dataDir: './alice' })
 * await node.start()
 * const api = await createApiServer(node, { token: 's3cret', port: 0 })
 * const res = await fetch(`${api.url}/v1/node`, { headers: { authorization: 'Bearer s3cret' } })
 * console.log(await res.json()) // { peerId: '12D3Koo…', key: 'key_…', role: 'server', addrs: [...], peers: 0, nat: { reachability: 'public', … } }
 * await api.close()
 * await node.stop()
 * ```
 */

/** Options of {@link createApiServer}. Only `token` is required. */
export interface ApiServerInit {
  /**
   * Interface to bind. Anything but loopback exposes the node's control API
   * to the network (the token still guards it; traffic is plain HTTP).
   * @default '127.0.0.1' (DESIGN.md section 7)
   */
  host?: string
  /**
   * TCP port; `0` picks any free port (read it back from {@link ApiServer.url}).
   * @default 7450 (issue 2)
   */
  port?: number
  /**
   * The bearer token every route but `/v1/health` and `/v1/openapi.json`
   * requires: 1 to 1,024 visible ASCII characters (`!` to `~`, no spaces).
   * The daemon creates it at first start in the data directory (mode 0600).
   */
  token: string
  /**
   * Interval of the comment line sent on open event streams, in ms.
   * @default 15_000 (issue 2)
   */
  heartbeatInterval?: number
}

/** A running API server. */
export interface ApiServer {
  /** Base URL, e.g. `http://127.0.0.1:7450` (the real port when `port: 0`), without a trailing slash. */
  readonly url: string
  /**
   * Stops accepting connections, ends open event streams, aborts in-flight
   * DHT and messaging calls (they answer 504) and releases the socket;
   * connections still open after 2 s are destroyed. Idempotent. Does not
   * stop the node.
   */
  close(): Promise<void>
}

export { createApiServer } from './server.ts'
export { buildOpenApiDocument, COMPONENT_SCHEMAS, ROUTES } from './openapi.ts'
export type { RouteSpec, RouteName, RouteAuth, RouteSchema, JsonSchema } from './openapi.ts'
// The contract's types, derived from the route schemas (issue 12, item 4), and the typed client.
export type {
  AnonymousMessageEntry,
  BodyOf,
  Component,
  DirectMessageEntry,
  ErrorBody,
  HolePunchEntry,
  InboxEntry,
  MessageEntry,
  NatStatusEntry,
  OwnedNameEntry,
  ParamsOf,
  PeerSummaryEntry,
  PseudonymEntry,
  QueryOf,
  ReplyMessageEntry,
  ResponseOf,
  RouteBody,
  RouteInput,
  RouteParams,
  RouteQuery,
  RouteResponse,
  ValidatedBodyOf
} from './contract.ts'
export type { FromSchema } from './schema-types.ts'
export * from './client.ts'
export * from './constants.ts'
export * from './errors.ts'
