import type { COMPONENT_SCHEMAS, ROUTES, RouteName } from './openapi.ts'
import type { FromSchema } from './schema-types.ts'

/**
 * The HTTP contract as TypeScript types (issue 12, item 4). Each route's JSON
 * schemas in {@link ROUTES} (src/api/openapi.ts) are the single source: the
 * server's handlers (src/api/server.ts), the typed client `ApiClient`
 * (src/api/client.ts, exported as `umbra/api`), the CLI and the tests take
 * their request and response types from here, and the OpenAPI document is
 * built from the same objects. Adding a route is adding an entry to
 * `ROUTES` and a handler: its types follow.
 *
 * @example
 * ```ts
 * import type { RouteResponse, RouteBody } from 'umbra/api'
 * type Put = RouteBody<'dhtPut'>         // { value: string, encoding?: 'utf8' | 'base64', ttl?: number }
 * type Got = RouteResponse<'dhtGet'>     // { key, value, encoding, publisher, seq, expiresAt, source }
 * ```
 */

/** The spec of route `N`. */
type Spec<N extends RouteName> = (typeof ROUTES)[N]

/** The schema of one part (`params`, `querystring`, `body`) of a route spec, or `undefined`. */
type PartOf<S, P extends string> = S extends { readonly schema: infer Sch } ? (Sch extends { readonly [K in P]: infer X } ? X : undefined) : undefined

/** The response schemas (by status) of a route spec. */
type ResponsesOf<S> = S extends { readonly schema: { readonly response: infer R } } ? R : undefined

/** Path parameters of a route spec (`{}` when it has none). */
export type ParamsOf<S> = PartOf<S, 'params'> extends undefined ? Record<string, never> : FromSchema<PartOf<S, 'params'>>

/** Query of a route spec (strings, as sent; `{}` when it takes none). */
export type QueryOf<S> = PartOf<S, 'querystring'> extends undefined ? Record<string, never> : FromSchema<PartOf<S, 'querystring'>>

/** The body a client may send (defaulted fields optional); `undefined` when the route takes none. */
export type BodyOf<S> = PartOf<S, 'body'> extends undefined ? undefined : FromSchema<PartOf<S, 'body'>>

/** The body a handler sees after validation (defaulted fields present); `undefined` when the route takes none. */
export type ValidatedBodyOf<S> = PartOf<S, 'body'> extends undefined ? undefined : FromSchema<PartOf<S, 'body'>, true>

/** The JSON a route answers with on success (the union over 200 and 201); `unknown` for a route without a response schema. */
export type ResponseOf<S> = ResponsesOf<S> extends undefined ? unknown : { [K in keyof ResponsesOf<S>]: FromSchema<ResponsesOf<S>[K]> }[keyof ResponsesOf<S>]

/** Path parameters of route `N`, e.g. `RouteParams<'dhtGet'>` → `{ key: string }`. */
export type RouteParams<N extends RouteName> = ParamsOf<Spec<N>>
/** Query parameters of route `N`. */
export type RouteQuery<N extends RouteName> = QueryOf<Spec<N>>
/** Request body a client sends to route `N` (`undefined`: none). */
export type RouteBody<N extends RouteName> = BodyOf<Spec<N>>
/** Success response of route `N`. */
export type RouteResponse<N extends RouteName> = ResponseOf<Spec<N>>

/**
 * What a client passes to call route `N`: `params` when the path has any,
 * `query` when the route takes one, `body` when it takes one (optional when
 * the route allows leaving it out).
 */
export type RouteInput<N extends RouteName> =
  (PartOf<Spec<N>, 'params'> extends undefined ? { params?: undefined } : { params: RouteParams<N> }) &
  (PartOf<Spec<N>, 'querystring'> extends undefined ? { query?: undefined } : { query?: Partial<RouteQuery<N>> }) &
  (PartOf<Spec<N>, 'body'> extends undefined ? { body?: undefined } : Spec<N> extends { readonly bodyOptional: true } ? { body?: RouteBody<N> } : { body: RouteBody<N> })

/** A shape of `#/components/schemas/<K>`. */
export type Component<K extends keyof typeof COMPONENT_SCHEMAS> = FromSchema<(typeof COMPONENT_SCHEMAS)[K]>

/** One pub/sub message (`GET /v1/pubsub/{topic}/messages`, event `pubsub:message`). */
export type PubSubMessageEntry = Component<'PubSubMessage'>
/** The body of every error answer: `{ error: { code, message } }`. */
export type ErrorBody = Component<'Error'>
/** One connected peer (`GET /v1/peers`). */
export type PeerSummaryEntry = Component<'PeerSummary'>
/** The `nat` object of `GET /v1/node`. */
export type NatStatusEntry = Component<'NatStatus'>
/** The answer of `POST /v1/nat/holepunch`. */
export type HolePunchEntry = Component<'HolePunchResult'>
/** A pseudonym of the node (`POST`/`GET /v1/pseudonyms`). */
export type PseudonymEntry = Component<'Pseudonym'>
/** One typed record of a name. */
export type NameRecordEntry = Component<'NameRecord'>
/** A name the node owns (`POST`/`GET /v1/names`). */
export type OwnedNameEntry = Component<'OwnedName'>
/** One entry of `GET /v1/messages` (any kind; see the narrowed types below). */
export type MessageEntry = Component<'MessageEntry'>

/**
 * One kind of {@link MessageEntry}: the schema's always-present fields, the
 * optional ones `kind` makes present, and the fixed `anonymous` and `from`
 * (the schema's description of `MessageEntry`).
 */
type MessageEntryOf<Kind extends MessageEntry['kind'], Present extends keyof MessageEntry, Fixed> =
  Omit<MessageEntry, 'kind' | 'anonymous' | 'from' | Exclude<keyof MessageEntry, 'body' | 'encoding' | 'receivedAt'>> &
  Required<Pick<MessageEntry, Present>> & { kind: Kind } & Fixed

/** A direct message in `GET /v1/messages` and the `message` event. */
export type DirectMessageEntry = MessageEntryOf<'direct', 'id' | 'fromKey' | 'sentAt', { anonymous: false, from: string }>
/** An anonymous message to one of the node's pseudonyms (`anonymous:message`). */
export type AnonymousMessageEntry = MessageEntryOf<'anonymous', 'id' | 'to' | 'sentAt' | 'repliesLeft', { anonymous: true, from: null }>
/** An anonymous reply through a SURB of a message the node sent (`anonymous:reply`). */
export type ReplyMessageEntry = MessageEntryOf<'reply', 'id' | 'inReplyTo', { anonymous: true, from: null }>
/** One entry of `GET /v1/messages`, narrowed by `kind`. */
export type InboxEntry = DirectMessageEntry | AnonymousMessageEntry | ReplyMessageEntry
