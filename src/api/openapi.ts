import {
  ANONYMOUS_SEND_TIMEOUT_MS,
  API_OPERATION_TIMEOUT_MS,
  API_VERSION,
  MAX_ANONYMOUS_HOPS,
  MAX_DHT_KEY_BYTES,
  MAX_DHT_TTL_S,
  MAX_DHT_VALUE_BYTES,
  MAX_HOLEPUNCH_ADDRS,
  MAX_HOLEPUNCH_TIMEOUT_MS,
  MAX_MESSAGE_BYTES,
  MAX_MULTIADDR_CHARS,
  MAX_PSEUDONYM_LABEL_CHARS,
  MAX_RECIPIENT_CHARS,
  MAX_REPLY_BYTES,
  MAX_REPLY_SURBS,
  MESSAGE_SEND_TIMEOUT_MS,
  MIN_ANONYMOUS_HOPS,
  MIN_DHT_TTL_S,
  MIN_HOLEPUNCH_TIMEOUT_MS,
  SSE_HEARTBEAT_MS
} from './constants.ts'
import { QUOTA_CODES, QUOTA_KINDS, type QuotaKind } from '../quota.ts'
import { INBOX_PAGE_DEFAULT, INBOX_PAGE_MAX } from '../messaging/constants.ts'
import { DEFAULT_PSEUDONYM_GATEWAYS, MAX_PSEUDONYM_GATEWAYS } from '../mixnet/constants.ts'
import { RING_MAX_MEMBERS, RING_MIN_MEMBERS, RING_SCOPE_MAX_BYTES } from '../proofs/constants.ts'
import { DEFAULT_MAX_MESSAGE_BYTES, MAX_HISTORY_MESSAGES, MAX_TOPIC_BYTES } from '../pubsub/constants.ts'

/**
 * The route table of the HTTP API and its OpenAPI 3.1 document (DESIGN.md
 * section 7, issue 2). Every JSON schema here is defined once and used three
 * times: by Fastify to validate requests and serialize responses
 * (src/api/server.ts), in the document served at `GET /v1/openapi.json`, and
 * as the TypeScript types of requests and responses (src/api/contract.ts,
 * issue 12: handlers, `ApiClient`, the CLI and the tests use them). Write
 * schemas `as const` so their literals reach the types.
 *
 * Schemas use only keywords that mean the same in JSON Schema draft-07 (Ajv,
 * Fastify's validator) and 2020-12 (OpenAPI 3.1). Query parameters are
 * strings (the validator does not coerce types, so `ttl: "60"` in a body is
 * rejected rather than guessed at); handlers parse them.
 */

/** One path to a peer as `GET /v1/peers/{peer}` ranks it (src/messaging/path-ranking.ts; seed 002's path ranking, issue 11). */
const rankedPathSchema = {
  type: 'object',
  required: ['addr', 'kind', 'hops', 'attempts', 'connected'],
  additionalProperties: false,
  properties: {
    addr: { type: 'string', description: 'The multiaddr of the path, without the peer\'s trailing `/p2p/<peer>`.' },
    kind: { type: 'string', enum: ['direct', 'relayed'], description: '`direct` (TCP, WebSockets, WebRTC) or `relayed` (circuit relay v2).' },
    hops: { type: 'integer', minimum: 0, maximum: 1, description: 'Relays on the path: 0 direct, 1 relayed.' },
    rttMs: { type: 'number', minimum: 0, description: 'EWMA (weight 0.3) of the measured send round trips over this path, ms; absent before the first success.' },
    successRate: { type: 'number', minimum: 0, maximum: 1, description: 'Successful sends over the last `attempts` (at most 8); absent before the first send. Below 0.5 the path ranks after every healthy one.' },
    attempts: { type: 'integer', minimum: 0, description: 'Sends remembered for `successRate`, 0 to 8.' },
    connected: { type: 'boolean', description: 'A connection over this path is open now.' },
    lastUsed: { type: 'integer', minimum: 0, description: 'Last send over this path, ms since the Unix epoch.' }
  }
} as const

/** A JSON schema object, as used by Fastify and OpenAPI 3.1. */
export type JsonSchema = Record<string, unknown>

const encodingSchema = {
  type: 'string',
  enum: ['utf8', 'base64'],
  description: 'How `value`/`body` is written: `utf8` text, or `base64` (standard alphabet, padded) for bytes that are not UTF-8.'
} as const

const errorSchema = {
  type: 'object',
  required: ['error'],
  additionalProperties: false,
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      additionalProperties: false,
      properties: {
        code: { type: 'string', description: 'Stable machine-readable code, `UMBRA_ERR_…`; match on this.', examples: ['UMBRA_ERR_BAD_REQUEST'] },
        message: { type: 'string', description: 'Human-readable description; may change between versions.' }
      }
    }
  }
} as const

const noQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {}
} as const

const peerSummarySchema = {
  type: 'object',
  required: ['peerId', 'addrs', 'path'],
  additionalProperties: false,
  properties: {
    peerId: { type: 'string', description: 'PeerId, base58btc.' },
    addrs: { type: 'array', items: { type: 'string' }, description: 'Remote multiaddrs of the open connections.' },
    path: { type: 'string', enum: ['direct', 'relayed'], description: '`relayed` when every connection goes through a circuit relay.' }
  }
} as const

/** The `nat` object of `GET /v1/node`: `NatStatus` of src/nat/types.ts. */
const natStatusSchema = {
  type: 'object',
  required: ['reachability', 'reachableAddrs', 'relays', 'stunServers', 'mapping', 'samples'],
  additionalProperties: false,
  properties: {
    reachability: {
      type: 'string',
      enum: ['public', 'private', 'unknown'],
      description: '`public`: a server node, reachable at its listen addresses; `private`: behind a NAT, reachable through relay reservations (and WebRTC upgrades); `unknown`: a client without a relay reservation yet.'
    },
    reachableAddrs: { type: 'array', items: { type: 'string' }, description: 'Addresses other nodes can dial this node at, relayed (`/p2p-circuit`) ones included.' },
    relays: { type: 'array', items: { type: 'string' }, description: 'PeerIds of the relays this node holds a reservation on.' },
    stunPort: { type: 'integer', minimum: 0, maximum: 65535, description: "UDP port of this node's STUN server (RFC 5389 Binding), when it runs one (server nodes; absent when turned off or not bound)." },
    stunServers: { type: 'array', items: { type: 'string' }, description: "STUN servers (`host:port`) this node's WebRTC ICE asks; only these, never a third-party server." },
    mapping: { type: 'string', enum: ['consistent', 'random', 'unknown'], description: "How this node's NAT maps one UDP socket to different destinations, from STUN answers to one socket (docs/nat.md, NAT classification): `consistent` (same public port: a cone NAT, or no NAT), `random` (a new port per destination: a symmetric NAT), `unknown` (fewer than two answers)." },
    samples: {
      type: 'array',
      description: 'The STUN answers the mapping verdict rests on, all from one socket.',
      items: {
        type: 'object',
        required: ['server', 'mapped'],
        additionalProperties: false,
        properties: {
          server: { type: 'string', description: 'STUN endpoint asked, `host:port`.' },
          mapped: { type: 'string', description: 'Mapped (server-reflexive) address it saw, `host:port`.' }
        }
      }
    }
  }
} as const

/** The answer of `POST /v1/nat/holepunch`: `HolePunchResult` of src/nat/types.ts. */
const holePunchResultSchema = {
  type: 'object',
  required: ['peer', 'path', 'method', 'rttMs', 'elapsedMs', 'remoteAddr'],
  additionalProperties: false,
  properties: {
    peer: { type: 'string', description: 'PeerId of the peer, base58btc (also when asked by `key_…`).' },
    path: { type: 'string', enum: ['direct', 'relayed'], description: '`direct`: a connection without a relay exists now; `relayed`: only through a circuit relay.' },
    method: {
      type: 'string',
      enum: ['existing-direct', 'direct-dial', 'webrtc', 'udp-birthday', 'circuit-relay'],
      description: '`existing-direct`: a direct connection was already open; `direct-dial`: a plain dial of a public address of the peer (e.g. its UPnP mapping) answered; `webrtc`: upgraded through both NATs (SDP over the relay, then ICE with this network\'s STUN servers); `circuit-relay`: the upgrade failed or was impossible, the relay carries the traffic.'
    },
    rttMs: { type: 'number', description: 'Round-trip time of a ping over the path reported, ms; -1 when the ping failed.' },
    elapsedMs: { type: 'number', minimum: 0, description: 'Time the attempt took, ms.' },
    remoteAddr: { type: 'string', description: 'Remote multiaddr of the connection reported.' },
    reason: { type: 'string', description: 'Why the direct upgrade failed (only when `path` is `relayed`).' }
  }
} as const

/**
 * One entry of `GET /v1/messages`, and the `data` of the `message`,
 * `anonymous:message` and `anonymous:reply` events. Three kinds share the
 * shape; `kind` says which fields are present:
 * - `direct`: `id, from, fromKey, body, encoding, sentAt, receivedAt`, `anonymous: false`
 * - `anonymous` (a message to one of this node's pseudonyms): `id, to, body,
 *   encoding, sentAt, receivedAt, repliesLeft`, `from: null`, `anonymous: true`
 * - `reply` (an answer through a SURB of a message this node sent):
 *   `inReplyTo, body, encoding, receivedAt`, `from: null`, `anonymous: true`;
 *   no `id` of its own (answer it by sending a new message)
 */
const messageEntrySchema = {
  type: 'object',
  required: ['kind', 'anonymous', 'from', 'body', 'encoding', 'receivedAt'],
  additionalProperties: false,
  properties: {
    kind: { type: 'string', enum: ['direct', 'anonymous', 'reply'], description: '`direct`: a direct message; `anonymous`: an anonymous message to one of this node\'s pseudonyms; `reply`: an anonymous reply to a message this node sent.' },
    anonymous: { type: 'boolean', description: '`false` for direct messages; `true` for anonymous messages and replies (the sender is unknown, also to this node).' },
    id: { type: 'string', description: 'Message id, 32 lowercase hex characters: chosen by the sender (`direct` and `anonymous`; reply with `POST /v1/messages/{id}/reply`), or by this node at receipt (`reply`). `DELETE /v1/messages/{id}` and `POST /v1/messages/ack` take it.' },
    from: { type: ['string', 'null'], description: "Sender's PeerId (base58btc), proven by its signature; `null` when anonymous." },
    fromKey: { type: 'string', description: "Sender's transport key, `key_<base58btc>` (`direct` only)." },
    to: { type: 'string', description: 'The pseudonym the message was sent to, `key_…` (`anonymous` only).' },
    inReplyTo: { type: 'string', description: 'Id of the message this node sent that this answers, 32 hex characters (`reply` only).' },
    body: { type: 'string', description: 'The body: UTF-8 text when the bytes are valid UTF-8, else base64.' },
    encoding: { type: 'string', enum: ['utf8', 'base64'], description: 'How `body` is written.' },
    sentAt: { type: 'integer', description: "Sender's clock at sending, ms since the Unix epoch (not trusted; `direct` and `anonymous`)." },
    receivedAt: { type: 'integer', description: "This node's clock at receipt, ms since the Unix epoch." },
    repliesLeft: { type: 'integer', minimum: 0, description: 'Unused reply blocks (SURBs) of the message (`anonymous` only).' }
  }
} as const

/** One pub/sub message as an application receives it: `PubSubMessage` of src/pubsub/types.ts, bytes as text. */
const pubsubMessageSchema = {
  type: 'object',
  required: ['topic', 'id', 'from', 'data', 'encoding', 'timestamp', 'via'],
  additionalProperties: false,
  properties: {
    topic: { type: 'string', description: 'The topic.' },
    id: { type: 'string', description: 'Message id, 32 lowercase hex characters, signed by the publisher: the same on every path and every node.' },
    from: { type: ['string', 'null'], description: "Publisher's key, `key_…` (a node key or a pseudonym), proven by its signature; `null` for an unsigned anonymous message." },
    data: { type: 'string', description: 'The data: UTF-8 text when the bytes are valid UTF-8, else base64.' },
    encoding: { type: 'string', enum: ['utf8', 'base64'], description: 'How `data` is written.' },
    timestamp: { type: 'integer', description: "Publisher's clock when it signed, ms since the Unix epoch (checked within 5 minutes of this node's clock on GossipSub)." },
    via: { type: 'string', enum: ['p2p', 'central', 'store', 'mixnet'], description: 'The path that brought it to this node first: `p2p` (GossipSub), `central` (the central server of the hybrid modes), `store` (history from a server node\'s message store), `mixnet` (the exit mix of an anonymous publish).' }
  }
} as const

/** `:topic` of the pub/sub routes. */
const topicParamsSchema = {
  type: 'object',
  required: ['topic'],
  additionalProperties: false,
  properties: { topic: { type: 'string', minLength: 1, maxLength: MAX_TOPIC_BYTES, description: `The topic, 1 to ${MAX_TOPIC_BYTES} bytes of UTF-8, URL-encoded.` } }
} as const

/** The answer of `POST /v1/messages`: 200 when delivered (or stored at a gateway, anonymous), 202 when queued for an offline recipient. */
const sendReceiptSchema = {
  type: 'object',
  required: ['id', 'to', 'anonymous', 'rttMs'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', description: 'Message id, 32 hex characters.' },
    to: { type: 'string', description: "Recipient's PeerId (direct) or the pseudonym (anonymous)." },
    anonymous: { type: 'boolean', description: 'Whether the message went through the mix network.' },
    fragments: { type: 'integer', minimum: 1, description: 'Sphinx packets the message took, without retransmissions (anonymous only).' },
    retransmissions: { type: 'integer', minimum: 0, description: 'Fragments sent again on a new path (anonymous only).' },
    status: { type: 'string', enum: ['stored', 'delivered'], description: '`stored` at the recipient\'s gateway, or `delivered` to the recipient (anonymous only).' },
    path: { type: 'string', enum: ['direct', 'relayed', 'queued'], description: 'Direct messages: the path that carried it (seed 001): `direct` or `relayed` connection (200), or `queued` in the recipient\'s offline queue (202).' },
    servers: { type: 'array', items: { type: 'string' }, description: 'PeerIds of the queue servers holding the message (`queued` only).' },
    rttMs: { type: 'number', minimum: 0, description: 'Time from sending until the (last) acknowledgement, ms.' },
    gateways: { type: 'array', items: { type: 'string' }, description: 'PeerIds of the pseudonym\'s gateways that acknowledged storing a fragment (anonymous only).' },
    gatewayFailovers: { type: 'integer', minimum: 0, description: 'How many of the pseudonym\'s gateways, in its contact record\'s order, the message passed over before one stored it: not listed, recently silent, no acknowledgement in time, or no mailbox there (anonymous only; 0: the first one took it).' },
    queuedMs: { type: 'integer', minimum: 0, description: 'How long the message\'s packets waited in the constant-rate send queue, ms (anonymous only; 0 with preset `none`; docs/mixnet.md, Constant-rate sending).' }
  }
} as const

/** A pseudonym of this node as `POST`/`GET /v1/pseudonyms` show it (no secrets). */
const pseudonymSchema = {
  type: 'object',
  required: ['key', 'gateways', 'createdAt', 'online'],
  additionalProperties: false,
  properties: {
    key: { type: 'string', description: 'The pseudonym, `key_<base58btc>` of its Ed25519 key: give it to people who should write to you anonymously.' },
    gateways: { type: 'array', items: { type: 'string' }, description: 'PeerIds of the gateways holding its mailbox.' },
    label: { type: 'string', description: 'The note given at creation, if any (never sent to the network).' },
    createdAt: { type: 'integer', description: 'Creation time, ms since the Unix epoch.' },
    online: { type: 'boolean', description: 'True while at least one gateway holds the mailbox claim on an open connection.' },
    gatewayStates: {
      type: 'array',
      description: 'Each of `gateways`, in the same order, with the state of its mailbox claim. A gateway `unreachable` for 15 s (3 s once it left the mix directory) is replaced by another and the contact record re-published.',
      items: {
        type: 'object',
        required: ['peerId', 'state', 'since', 'listed'],
        additionalProperties: false,
        properties: {
          peerId: { type: 'string', description: 'The gateway\'s PeerId.' },
          state: { type: 'string', enum: ['connected', 'connecting', 'unreachable'], description: '`connected`: it holds the claim on an open connection; `connecting`: not claimed yet since start or since the record changed; `unreachable`: the claim was lost, re-dialling.' },
          since: { type: 'integer', description: 'Since when it is in this state, ms since the Unix epoch.' },
          listed: { type: 'boolean', description: 'Whether this node\'s mix directory lists it now.' }
        }
      }
    }
  }
} as const

/** One mix directory entry (`GET /v1/mixnet`). */
const mixNodeSchema = {
  type: 'object',
  required: ['peerId', 'addrs', 'epochs', 'expiresAt'],
  additionalProperties: false,
  properties: {
    peerId: { type: 'string', description: 'PeerId of the mix node, base58btc.' },
    addrs: { type: 'array', items: { type: 'string' }, description: 'Its multiaddrs.' },
    epochs: { type: 'array', items: { type: 'integer' }, description: 'Key epochs it published an onion key for.' },
    expiresAt: { type: 'integer', description: 'Expiry of its descriptor, ms since the Unix epoch.' },
    linkPort: { type: 'integer', minimum: 1, maximum: 65535, description: 'TCP port of its packet links (docs/mixnet.md "Packet links"); absent when it announces none.' }
  }
} as const

const counterSchema = { type: 'integer', minimum: 0 } as const

/** Counters of the mixnet since start (`GET /v1/mixnet`). */
const mixnetCountersSchema = {
  type: 'object',
  required: ['packetsIn', 'forwarded', 'forwardFailed', 'dropped', 'stored', 'refused', 'acksSent', 'acksFailed', 'fragmentsSent', 'retransmitted', 'loopsSent', 'loopsReturned', 'dropCoverSent', 'coverDropped', 'replyGatewayMoves', 'gatewayFailovers', 'gatewayReplacements', 'duplicatesDropped'],
  additionalProperties: false,
  properties: {
    packetsIn: { ...counterSchema, description: 'Sphinx packets received.' },
    forwarded: { ...counterSchema, description: 'Packets relayed to a next hop.' },
    forwardFailed: { ...counterSchema, description: 'Relayed packets whose next hop could not be reached.' },
    dropped: { type: 'object', additionalProperties: counterSchema, description: 'Packets dropped, by reason (size, version, point, mac, routing, payload, epoch, replay, worker, closed, delay, next-hop, held-full, overload, penalized (mix streams), malformed, …; docs/mixnet.md "Relaying").' },
    stored: { ...counterSchema, description: 'Fragments and replies stored in a mailbox of this gateway.' },
    refused: { ...counterSchema, description: 'Packets refused by this gateway (quota, unknown mailbox).' },
    acksSent: { ...counterSchema, description: 'Fragment acknowledgements sent by this gateway.' },
    acksFailed: { ...counterSchema, description: 'Fragment acknowledgements this gateway failed to send.' },
    fragmentsSent: { ...counterSchema, description: 'Fragments this node sent (first tries).' },
    retransmitted: { ...counterSchema, description: 'Fragments this node sent again.' },
    loopsSent: { ...counterSchema, description: 'Loop cover packets sent.' },
    loopsReturned: { ...counterSchema, description: 'Loop cover packets that came back.' },
    dropCoverSent: { ...counterSchema, description: 'Drop cover packets sent.' },
    coverDropped: { ...counterSchema, description: 'Cover packets received and dropped.' },
    replyGatewayMoves: { ...counterSchema, description: 'Times this node moved its reply mailbox to another gateway (the old one left the directory or stayed unreachable).' },
    gatewayFailovers: { ...counterSchema, description: 'Times a send of this node moved to the pseudonym\'s next gateway (no acknowledgement in time, or the gateway did not hold the mailbox).' },
    gatewayReplacements: { ...counterSchema, description: 'Gateways of this node\'s pseudonyms it replaced (gone or unreachable), re-publishing the contact record.' },
    duplicatesDropped: { ...counterSchema, description: 'Fragments of anonymous messages already delivered that came again (from a second gateway, or re-delivered) and were dropped.' }
  }
} as const

/** Path parameter `{id}` of an anonymous message. */
const messageIdParamsSchema = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', pattern: '^[0-9a-f]{32}$', description: 'Id of an anonymous message in this node\'s inbox, 32 lowercase hex characters.' }
  }
} as const

/** Path parameter of the discovery routes: the namespace string, URL-encoded. */
const discoveryParamsSchema = {
  type: 'object',
  required: ['namespace'],
  additionalProperties: false,
  properties: {
    namespace: { type: 'string', minLength: 1, maxLength: 256, description: 'The namespace, 1 to 256 bytes of UTF-8 (URL-encode `/` as `%2F`).' }
  }
} as const

const pseudonymKeyParamsSchema = {
  type: 'object',
  required: ['key'],
  additionalProperties: false,
  properties: {
    key: { type: 'string', minLength: 5, maxLength: 128, pattern: '^key_[0-9A-Za-z]+$', description: 'One of this node\'s pseudonyms, `key_…` (base58btc).' }
  }
} as const

const dhtKeyParamsSchema = {
  type: 'object',
  required: ['key'],
  additionalProperties: false,
  properties: {
    key: {
      type: 'string',
      minLength: 1,
      description: `Record key, percent-encoded in the path (\`/\` as \`%2F\`); 1 to ${MAX_DHT_KEY_BYTES} bytes of UTF-8 once decoded.`
    }
  }
} as const

/** The Fastify `schema` of one route (each part is optional). */
export interface RouteSchema {
  params?: JsonSchema
  querystring?: JsonSchema
  body?: JsonSchema
  /** Response schemas by success status, 200 or 201 (errors are sent by the error handler). */
  response?: { 200: JsonSchema } | { 201: JsonSchema } | { 200: JsonSchema, 201: JsonSchema } | { 200: JsonSchema, 202: JsonSchema }
}

/**
 * How a route is authenticated: `none`, the bearer header, or (only for the
 * event stream, which `EventSource` cannot give headers) the header or
 * `?token=`.
 */
export type RouteAuth = 'none' | 'bearer' | 'bearer-or-query'

/** One route of the API: what Fastify registers and what the OpenAPI document says about it. */
export interface RouteSpec {
  method: 'GET' | 'PUT' | 'POST' | 'DELETE'
  /** Fastify path, e.g. `/v1/dht/:key`. */
  url: string
  operationId: string
  summary: string
  description: string
  auth: RouteAuth
  schema: RouteSchema
  /** Error statuses this route may answer, documented in the OpenAPI file (401 is added for authenticated routes, 500 for all). */
  errors: number[]
  /** The request body may be left out altogether (it then counts as `{}`). @default false */
  bodyOptional?: boolean
  /** For a route that is not JSON: its media type and description (the event stream). */
  stream?: { mediaType: string, description: string }
}

/**
 * Every route of the API. src/api/server.ts registers a handler for each key;
 * the OpenAPI document is generated from the same objects.
 */
/** A name in a path or body: `label` or `label.key_…` (docs/names.md). */
const nameParamSchema = { type: 'string', minLength: 1, maxLength: 200, pattern: '^[a-z0-9][a-z0-9-]{0,62}(\\.key_[0-9A-Za-z]+)?$', description: 'A global name `label` or a zone name `label.key_…`.' } as const

/** One typed record a name points to. */
const nameRecordSchema = {
  type: 'object',
  required: ['type', 'value'],
  additionalProperties: false,
  properties: {
    type: { type: 'string', enum: ['peer', 'pseudonym', 'multiaddr', 'text'] },
    value: { type: 'string', minLength: 1, maxLength: 256, description: 'peer: PeerId or key_…; pseudonym: key_…; multiaddr; text (at most 256 bytes).' }
  }
} as const

/** A name this node owns. */
const ownedNameSchema = {
  type: 'object',
  required: ['name', 'kind', 'records', 'seq', 'expiresAt', 'ttl', 'cacheTtl', 'renew'],
  additionalProperties: false,
  properties: {
    name: { type: 'string' },
    kind: { type: 'string', enum: ['global', 'zone'] },
    records: { type: 'array', items: nameRecordSchema },
    seq: { type: 'integer' },
    expiresAt: { type: 'integer', description: 'Expiry, ms since the Unix epoch.' },
    ttl: { type: 'integer', description: 'Record lifetime, seconds.' },
    cacheTtl: { type: 'integer', description: 'Resolver cache time, seconds.' },
    renew: { type: 'boolean' },
    storedOn: { type: 'integer', description: 'Storing nodes that acknowledged the record (register only).' }
  }
} as const

/** A `key_…` string (base58btc); describe it where used: `{ ...keyStringSchema, description }`. */
const keyStringSchema = { type: 'string', minLength: 5, maxLength: 128, pattern: '^key_[0-9A-Za-z]+$' } as const
/** A purpose of src/auth (src/auth/constants.ts PURPOSE_PATTERN, MAX_PURPOSE_LENGTH). */
const purposeSchema = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._:/-]*$' } as const
/** 32 bytes in base64url (43 characters). */
const bytes32Schema = { type: 'string', minLength: 43, maxLength: 43, pattern: '^[A-Za-z0-9_-]+$' } as const

/** A challenge of src/auth (issue 14, item 1), as issued by `POST /v1/auth/challenge`. */
const authChallengeSchema = {
  type: 'object',
  required: ['version', 'purpose', 'issuer', 'nonce', 'expiresAt', 'tag'],
  additionalProperties: false,
  properties: {
    version: { type: 'integer', const: 1 },
    purpose: { ...purposeSchema, description: 'What the proof is for.' },
    issuer: { ...keyStringSchema, description: 'The issuing node\'s key.' },
    nonce: { ...bytes32Schema, description: '32 random bytes, base64url.' },
    expiresAt: { type: 'integer', minimum: 0, description: 'Expiry, ms since the Unix epoch.' },
    tag: { ...bytes32Schema, description: 'The issuer\'s HMAC-SHA256 tag over the other fields, base64url.' }
  }
} as const

/** A response to a challenge (`POST /v1/auth/respond`). */
const authResponseSchema = {
  type: 'object',
  required: ['version', 'key', 'purpose', 'nonce', 'signature'],
  additionalProperties: false,
  properties: {
    version: { type: 'integer', const: 1 },
    key: { ...keyStringSchema, description: 'The key that signed: the node key or a pseudonym.' },
    purpose: { ...purposeSchema, description: 'The purpose the signer saw in the challenge.' },
    nonce: bytes32Schema,
    signature: { type: 'string', minLength: 86, maxLength: 86, pattern: '^[A-Za-z0-9_-]+$', description: 'Ed25519 signature over the domain-separated fields (docs/auth.md), base64url.' }
  }
} as const

/** What a verified proof answers (`POST /v1/auth/verify`, `POST /v1/auth/prove`). */
const authVerifiedSchema = {
  type: 'object',
  required: ['valid', 'key', 'purpose'],
  additionalProperties: false,
  properties: {
    valid: { type: 'boolean', const: true },
    key: { type: 'string', description: 'The key that proved itself, `key_…`.' },
    purpose: { type: 'string' }
  }
} as const

const AUTH_REFUSALS = '400 `UMBRA_ERR_AUTH_CHALLENGE` (malformed, not issued by this node since its last start, or answering another challenge), `UMBRA_ERR_AUTH_EXPIRED`, `UMBRA_ERR_AUTH_PURPOSE`, `UMBRA_ERR_AUTH_SIGNATURE` (not signed by the named or expected key), `UMBRA_ERR_AUTH_REPLAY` (already accepted once); 503 `UMBRA_ERR_AUTH_BUSY`'

/** Fields both ring-signature routes take (issue 14, item 2; docs/proofs.md). */
const ringProofFields = {
  message: { type: 'string', description: `The signed message, written as \`encoding\` says; at most ${MAX_MESSAGE_BYTES} bytes once decoded.` },
  encoding: { ...encodingSchema, default: 'utf8' },
  ring: { type: 'array', minItems: RING_MIN_MEMBERS, maxItems: RING_MAX_MEMBERS, items: { type: 'string', minLength: 1, maxLength: MAX_RECIPIENT_CHARS }, description: `${RING_MIN_MEMBERS} to ${RING_MAX_MEMBERS} distinct \`key_…\` ids (node keys or pseudonyms); the order is part of what is signed.` },
  scope: { type: 'string', maxLength: RING_SCOPE_MAX_BYTES, description: `Linking scope, at most ${RING_SCOPE_MAX_BYTES} bytes of UTF-8 (default empty): two signatures by one member carry the same \`keyImage\` exactly when their scopes are equal.` }
} as const

/** A key image in a response: 32 bytes, hex. */
const keyImageSchema = { type: 'string', pattern: '^[0-9a-f]{64}$', description: 'Key image, 32 bytes as lowercase hex: equal for two signatures by the same member in the same scope.' } as const

/** A ring signature in a request or response: standard padded base64. */
const ringSignatureSchema = { type: 'string', minLength: 1, maxLength: 12000, description: 'Ring signature, standard padded base64 (1 + 32·(ring size + 2) bytes).' } as const

export const ROUTES = {
  health: {
    method: 'GET',
    url: '/v1/health',
    operationId: 'getHealth',
    summary: 'Liveness check',
    description: 'Answers `{"status":"ok"}` while the API server runs. The only route (with the OpenAPI document) that needs no token.',
    auth: 'none',
    schema: {
      response: {
        200: {
          type: 'object',
          required: ['status'],
          additionalProperties: false,
          properties: { status: { type: 'string', enum: ['ok'] } }
        }
      }
    },
    errors: [503]
  },
  openapi: {
    method: 'GET',
    url: '/v1/openapi.json',
    operationId: 'getOpenApi',
    summary: 'This OpenAPI 3.1 document',
    description: 'Served without a token: it describes the API, not the node, and tools fetch it unauthenticated.',
    auth: 'none',
    schema: {},
    errors: [503]
  },
  node: {
    method: 'GET',
    url: '/v1/node',
    operationId: 'getNode',
    summary: "This node's identity and addresses",
    description: 'PeerId, transport key, role, listening multiaddrs, the number of connected peers and the NAT status (`nat`: reachability, reachable addresses, relay reservations, STUN server port and STUN servers); `wallet` (Bitcoin and Evrmore addresses) when the identity is a secp256k1 wallet key.',
    auth: 'bearer',
    schema: {
      querystring: noQuerySchema,
      response: {
        200: {
          type: 'object',
          required: ['peerId', 'key', 'role', 'addrs', 'peers', 'nat'],
          additionalProperties: false,
          properties: {
            peerId: { type: 'string', description: 'PeerId, base58btc.' },
            key: { type: 'string', description: 'Transport public key, `key_<base58btc>`.' },
            role: { type: 'string', enum: ['server', 'client'], description: 'DESIGN.md section 2.' },
            addrs: { type: 'array', items: { type: 'string' }, description: 'Listening multiaddrs, each ending in `/p2p/<PeerId>`.' },
            peers: { type: 'integer', minimum: 0, description: 'Number of connected peers.' },
            nat: natStatusSchema,
            wallet: {
              type: 'object',
              required: ['type', 'compressed', 'addresses'],
              additionalProperties: false,
              description: 'Only for a node whose identity is an imported secp256k1 wallet key (issue 14, docs/wallet-keys.md): the P2PKH addresses of that key.',
              properties: {
                type: { type: 'string', enum: ['secp256k1'] },
                compressed: { type: 'boolean', description: 'The addresses hash the compressed public key (false: imported from an uncompressed WIF).' },
                addresses: {
                  type: 'object',
                  required: ['bitcoin', 'evrmore'],
                  additionalProperties: false,
                  properties: {
                    bitcoin: { type: 'string', description: 'Bitcoin P2PKH address (version 0x00, `1…`).' },
                    evrmore: { type: 'string', description: 'Evrmore P2PKH address (version 0x21, `E…`).' }
                  }
                }
              }
            }
          }
        }
      }
    },
    errors: [400, 503]
  },
  peers: {
    method: 'GET',
    url: '/v1/peers',
    operationId: 'listPeers',
    summary: 'Connected peers',
    description: 'One entry per connected peer.',
    auth: 'bearer',
    schema: {
      querystring: noQuerySchema,
      response: {
        200: {
          type: 'object',
          required: ['peers'],
          additionalProperties: false,
          properties: { peers: { type: 'array', items: peerSummarySchema } }
        }
      }
    },
    errors: [400, 503]
  },
  peerPaths: {
    method: 'GET',
    url: '/v1/peers/:peer',
    operationId: 'peerPaths',
    summary: 'The ranked paths to a peer, with their measurements',
    description: 'The paths this node knows to `peer` (its open connections and the addresses it knows, with what was measured over each), best first, as a direct message tries them (seed 002\'s path ranking, issue 11): healthy paths (success rate of the last 8 sends at least 0.5, not tried yet, or not tried for 60 s) first, then fewer relays, then lower measured RTT. Measurements are kept in memory. An empty list when nothing is known. Errors: 400 `UMBRA_ERR_INVALID_RECIPIENT` (not a PeerId or `key_…`).',
    auth: 'bearer',
    schema: {
      params: { type: 'object', required: ['peer'], additionalProperties: false, properties: { peer: { type: 'string', minLength: 1, maxLength: 128, description: 'A PeerId (`12D3Koo…`) or a `key_…`.' } } },
      querystring: noQuerySchema,
      response: {
        200: {
          type: 'object',
          required: ['peerId', 'paths'],
          additionalProperties: false,
          properties: {
            peerId: { type: 'string' },
            paths: { type: 'array', items: rankedPathSchema, description: 'Best first.' }
          }
        }
      }
    },
    errors: [400, 503]
  },
  natHolePunch: {
    method: 'POST',
    url: '/v1/nat/holepunch',
    operationId: 'holePunch',
    summary: 'Make the connection to a peer direct, through NATs if need be',
    description: [
      'Reuses a direct connection to `peer` when one is open (`existing-direct`); else dials the peer\'s `/p2p-circuit/webrtc` address (SDP over the relay, then ICE through both NATs with this network\'s own STUN servers: `webrtc`); else keeps or opens a relayed connection and says why the upgrade failed (`path: "relayed"`, `method: "circuit-relay"`, `reason`). Then pings over the path reported. Issue 4; seed 000\'s `attemptNATHolePunch`.',
      `\`addrs\` (at most ${MAX_HOLEPUNCH_ADDRS} multiaddrs, e.g. the peer's relayed addresses) are tried besides those the node already knows; a \`/p2p/\` at the end of one must name \`peer\`. \`timeout\` (${MIN_HOLEPUNCH_TIMEOUT_MS} to ${MAX_HOLEPUNCH_TIMEOUT_MS} ms, default 10,000) bounds the direct upgrade; the relayed fallback may take up to 10 s more, and past ${API_OPERATION_TIMEOUT_MS / 1000} s in all the request answers 504.`,
      'Errors: 400 `UMBRA_ERR_BAD_REQUEST` (a field missing, unknown or out of range), `UMBRA_ERR_INVALID_RECIPIENT` (`peer` is not a PeerId or `key_…`, or is this node), `UMBRA_ERR_INVALID_MULTIADDR` (an entry of `addrs` is not a multiaddr, or names another peer); 502 `UMBRA_ERR_PEER_UNREACHABLE` (neither a direct nor a relayed connection could be opened: the attempt ended and the network said no, hence 502 rather than 504); 504 `UMBRA_ERR_ABORTED`/`UMBRA_ERR_TIMEOUT`.'
    ].join('\n\n'),
    auth: 'bearer',
    schema: {
      querystring: noQuerySchema,
      body: {
        type: 'object',
        required: ['peer'],
        additionalProperties: false,
        properties: {
          peer: { type: 'string', minLength: 1, maxLength: MAX_RECIPIENT_CHARS, description: 'The peer: PeerId (`12D3Koo…`), transport key (`key_…`) or a name (`alice`, `alice.key_…`) resolved to its `peer` record.' },
          addrs: {
            type: 'array',
            maxItems: MAX_HOLEPUNCH_ADDRS,
            items: { type: 'string', minLength: 1, maxLength: MAX_MULTIADDR_CHARS },
            description: `Multiaddrs of the peer to try besides the known ones, at most ${MAX_HOLEPUNCH_ADDRS} (e.g. \`/ip4/…/p2p/<relay>/p2p-circuit/webrtc/p2p/<peer>\`).`
          },
          timeout: { type: 'integer', minimum: MIN_HOLEPUNCH_TIMEOUT_MS, maximum: MAX_HOLEPUNCH_TIMEOUT_MS, description: `Give up on the direct upgrade after this many ms, ${MIN_HOLEPUNCH_TIMEOUT_MS} to ${MAX_HOLEPUNCH_TIMEOUT_MS}. Default 10,000.` }
        }
      },
      response: { 200: holePunchResultSchema }
    },
    errors: [400, 415, 502, 503, 504]
  },
  dhtPut: {
    method: 'PUT',
    url: '/v1/dht/:key',
    operationId: 'putDhtRecord',
    summary: 'Store a signed record in the DHT',
    description: `Signs \`value\` under \`key\` with the node's key and stores it on the closest nodes and locally. \`value\` is at most ${MAX_DHT_VALUE_BYTES} bytes once decoded (413 \`UMBRA_ERR_VALUE_TOO_LARGE\` above). The first publisher owns a key until its record expires: another node's put answers 409 \`UMBRA_ERR_KEY_OWNED\`. Errors: 400 \`UMBRA_ERR_BAD_REQUEST\`, \`UMBRA_ERR_INVALID_KEY_NAME\`, \`UMBRA_ERR_INVALID_TTL\`; 429 \`UMBRA_ERR_QUOTA_DHT_RECORDS\`/\`…_DHT_BYTES\`/\`…_DHT_TOTAL_BYTES\` (a node stores at most 256 records and 4 MiB per publisher, docs/quotas.md); 504 \`UMBRA_ERR_ABORTED\`/\`UMBRA_ERR_TIMEOUT\`.`,
    auth: 'bearer',
    schema: {
      params: dhtKeyParamsSchema,
      querystring: noQuerySchema,
      body: {
        type: 'object',
        required: ['value'],
        additionalProperties: false,
        properties: {
          value: { type: 'string', description: `The value, written as \`encoding\` says; at most ${MAX_DHT_VALUE_BYTES} bytes once decoded.` },
          encoding: { ...encodingSchema, default: 'utf8' },
          ttl: {
            type: 'integer',
            minimum: MIN_DHT_TTL_S,
            maximum: MAX_DHT_TTL_S,
            description: 'Lifetime of the record in seconds from now. Default: the DHT service default (24 h).'
          }
        }
      },
      response: {
        200: {
          type: 'object',
          required: ['key', 'seq', 'expiresAt', 'storedOn'],
          additionalProperties: false,
          properties: {
            key: { type: 'string', description: 'The key as stored (decoded from the path).' },
            seq: { type: 'integer', description: 'Sequence number of the stored record (1, then +1 per put of the same key by this node).' },
            expiresAt: { type: 'integer', description: 'Expiry, ms since the Unix epoch.' },
            storedOn: { type: 'integer', minimum: 0, description: 'How many remote nodes acknowledged storing it (0 when the node is alone).' }
          }
        }
      }
    },
    errors: [400, 409, 413, 415, 429, 503, 504]
  },
  dhtGet: {
    method: 'GET',
    url: '/v1/dht/:key',
    operationId: 'getDhtRecord',
    summary: 'Fetch the newest valid record for a key',
    description: 'Looks in the local store first, then the network (`fresh=true`: the network only). 404 `UMBRA_ERR_NOT_FOUND` when no node has a valid record.',
    auth: 'bearer',
    schema: {
      params: dhtKeyParamsSchema,
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          fresh: { type: 'string', enum: ['true', 'false'], description: '`true`: skip the local copy and ask the network. Default `false`.' }
        }
      },
      response: {
        200: {
          type: 'object',
          required: ['key', 'value', 'encoding', 'publisher', 'seq', 'expiresAt', 'source'],
          additionalProperties: false,
          properties: {
            key: { type: 'string' },
            value: { type: 'string', description: 'UTF-8 text when the bytes are valid UTF-8, else base64.' },
            encoding: { type: 'string', enum: ['utf8', 'base64'], description: 'How `value` is written.' },
            publisher: { type: 'string', description: "Publisher's signing key, `key_<base58btc>`." },
            seq: { type: 'integer' },
            expiresAt: { type: 'integer', description: 'Expiry, ms since the Unix epoch.' },
            source: { type: 'string', enum: ['local', 'network'], description: "Where the record came from: this node's store or a network query." }
          }
        }
      }
    },
    errors: [400, 404, 503, 504]
  },
  registryLookup: {
    method: 'GET',
    url: '/v1/registry/:peer',
    operationId: 'lookupPeer',
    summary: 'The peer record of a node, by PeerId or key_',
    description: 'Looks up the signed peer record a node publishes under its `key_…` (docs/registry.md): its role, the addresses others can dial (a client lists relayed ones only), when it was last seen, and its metadata. Cached 60 s unless `fresh=true`. Errors: 400 `UMBRA_ERR_INVALID_KEY`/`UMBRA_ERR_KEY_CHECKSUM` (not a PeerId or key); 404 `UMBRA_ERR_PEER_NOT_FOUND`; 504 `UMBRA_ERR_ABORTED`.',
    auth: 'bearer',
    schema: {
      params: { type: 'object', required: ['peer'], additionalProperties: false, properties: { peer: { type: 'string', minLength: 1, maxLength: 128, description: 'A PeerId (`12D3Koo…`) or a `key_…`.' } } },
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          fresh: { type: 'string', enum: ['true', 'false'], description: '`true`: ask the network even when a cached copy is fresh. Default `false`.' }
        }
      },
      response: {
        200: {
          type: 'object',
          required: ['peerId', 'key', 'role', 'addrs', 'lastSeen', 'sealed', 'seq', 'expiresAt'],
          additionalProperties: false,
          properties: {
            peerId: { type: 'string' },
            key: { type: 'string', description: 'The node\'s transport key, `key_…`.' },
            role: { type: 'string', enum: ['server', 'client'] },
            addrs: { type: 'array', items: { type: 'string' }, description: 'Multiaddrs others can dial.' },
            lastSeen: { type: 'integer', description: 'When the node signed the record, ms since the Unix epoch.' },
            queueServers: { type: 'array', maxItems: 3, items: { type: 'string' }, description: 'PeerIds of the server nodes holding the node\'s offline queue (issue 11); absent when the record names none (an older node): senders then use the 3 servers closest to its key.' },
            metadata: { type: 'string', description: 'Application metadata, base64 (absent when empty). Sealed metadata is opened when it is sealed to this node.' },
            sealed: { type: 'boolean', description: 'The metadata is sealed to one recipient key.' },
            opened: { type: 'boolean', description: 'Sealed metadata was sealed to this node and `metadata` is its plaintext.' },
            seq: { type: 'integer' },
            expiresAt: { type: 'integer', description: 'Expiry, ms since the Unix epoch.' }
          }
        }
      }
    },
    errors: [400, 404, 503, 504]
  },
  namesRegister: {
    method: 'POST',
    url: '/v1/names',
    operationId: 'registerName',
    summary: 'Register or update a global name or a name in this node\'s zone',
    description: [
      'A global name `label` (lowercase a-z, 0-9 and `-`, 1 to 63 characters, not starting with `-`) is first-come: the node mints the proof of work the label\'s length needs (docs/names.md: about 1 s at 8 characters, longer below) and publishes the claim; a zone name `label.key_…` must be in this node\'s zone (its transport key). The node renews the name before it expires. Answers 201 when the name is new to this node, 200 when it updated one it owns.',
      '`records`: 1 to 8 `{type, value}`: `peer` (PeerId or `key_…`, for direct messages and hole punching), `pseudonym` (`key_…`, for anonymous messages), `multiaddr`, `text` (at most 256 bytes each). `ttl`: record lifetime in seconds, 1 to 172,800 (default 86,400). `cacheTtl`: how long resolvers cache the answer, seconds, 0 to 3,600 (default 300).',
      'Errors: 400 `UMBRA_ERR_BAD_REQUEST`, `UMBRA_ERR_INVALID_NAME`, `UMBRA_ERR_INVALID_NAME_RECORD`, `UMBRA_ERR_INVALID_KEY`; 403 `UMBRA_ERR_NOT_ZONE_OWNER` (the zone is another key); 409 `UMBRA_ERR_KEY_OWNED` (another key holds the global name until its record expires); 504 `UMBRA_ERR_ABORTED`/`UMBRA_ERR_TIMEOUT`.'
    ].join('\n\n'),
    auth: 'bearer',
    schema: {
      querystring: noQuerySchema,
      body: {
        type: 'object',
        required: ['name', 'records'],
        additionalProperties: false,
        properties: {
          name: nameParamSchema,
          records: { type: 'array', minItems: 1, maxItems: 8, items: nameRecordSchema },
          ttl: { type: 'integer', minimum: 1, maximum: 172_800, description: 'Record lifetime, seconds. Default 86,400 (24 h).' },
          cacheTtl: { type: 'integer', minimum: 0, maximum: 3600, description: 'How long resolvers cache the answer, seconds. Default 300.' },
          renew: { type: 'boolean', description: '`false`: let the name lapse after `ttl` instead of renewing it. Default `true`.' }
        }
      },
      response: { 200: ownedNameSchema, 201: ownedNameSchema }
    },
    errors: [400, 403, 409, 415, 503, 504]
  },
  namesList: {
    method: 'GET',
    url: '/v1/names',
    operationId: 'listNames',
    summary: 'The names this node owns and keeps renewed',
    description: 'Every global and zone name this node registered and still holds or renews.',
    auth: 'bearer',
    schema: {
      querystring: noQuerySchema,
      response: { 200: { type: 'object', required: ['names'], additionalProperties: false, properties: { names: { type: 'array', items: ownedNameSchema } } } }
    },
    errors: [400, 503]
  },
  namesResolve: {
    method: 'GET',
    url: '/v1/names/:name',
    operationId: 'resolveName',
    summary: 'Resolve a global name or a zone name to its records',
    description: 'Looks the name up in the DHT (a zone name\'s record is opened with the key derived from zone and label, and its zone signature checked) and caches the answer for the record\'s cache TTL (at most 1 h, never past its expiry), unless `fresh=true`. Errors: 400 `UMBRA_ERR_INVALID_NAME`; 404 `UMBRA_ERR_NAME_NOT_FOUND`; 504 `UMBRA_ERR_ABORTED`.',
    auth: 'bearer',
    schema: {
      params: { type: 'object', required: ['name'], additionalProperties: false, properties: { name: nameParamSchema } },
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          fresh: { type: 'string', enum: ['true', 'false'], description: '`true`: ask the network even when a cached answer is fresh. Default `false`.' }
        }
      },
      response: {
        200: {
          type: 'object',
          required: ['name', 'kind', 'records', 'owner', 'seq', 'expiresAt', 'cacheTtl', 'source'],
          additionalProperties: false,
          properties: {
            name: { type: 'string' },
            kind: { type: 'string', enum: ['global', 'zone'] },
            records: { type: 'array', items: nameRecordSchema },
            owner: { type: 'string', description: 'The key that owns the name (global: the claimant; zone: the zone key), `key_…`.' },
            seq: { type: 'integer' },
            expiresAt: { type: 'integer', description: 'Expiry, ms since the Unix epoch.' },
            cacheTtl: { type: 'integer', description: 'How long this answer is cached, seconds.' },
            source: { type: 'string', enum: ['cache', 'network', 'own'], description: 'Where the answer came from: the resolution cache, a DHT query, or a name this node owns.' }
          }
        }
      }
    },
    errors: [400, 404, 503, 504]
  },
  discoveryAdvertise: {
    method: 'POST',
    url: '/v1/discovery/:namespace',
    operationId: 'advertise',
    summary: 'Advertise this node, or one of its pseudonyms, under a namespace',
    description: 'Service discovery (docs/discovery.md). Without `pseudonym`: a kad-dht provider record names this node\'s PeerId under the namespace (re-provided until DELETE). With `pseudonym` (one of this node\'s, `key_…`): the pseudonym\'s signed entry is added to the namespace\'s anonymous set instead; the PeerId is not listed. URL-encode a namespace holding `/`. The body may be left out. Errors: 400 `UMBRA_ERR_INVALID_NAMESPACE`, `UMBRA_ERR_INVALID_OPTION` (not this node\'s pseudonym), `UMBRA_ERR_INVALID_KEY`; 507 `UMBRA_ERR_DISCOVERY_SET_FULL`; 504 `UMBRA_ERR_ABORTED`.',
    auth: 'bearer',
    schema: {
      params: discoveryParamsSchema,
      querystring: noQuerySchema,
      body: {
        type: 'object',
        additionalProperties: false,
        properties: { pseudonym: { type: 'string', minLength: 5, maxLength: 128, pattern: '^key_[0-9A-Za-z]+$', description: 'Advertise this pseudonym of the node instead of its PeerId.' } }
      },
      response: {
        200: {
          type: 'object',
          required: ['namespace', 'anonymous', 'advertiser', 'storedOn'],
          additionalProperties: false,
          properties: {
            namespace: { type: 'string' },
            anonymous: { type: 'boolean' },
            advertiser: { type: 'string', description: 'The PeerId, or the pseudonym `key_…`, now listed.' },
            storedOn: { type: 'integer', minimum: 0, description: 'DHT nodes that acknowledged the provider record or the set.' }
          }
        }
      }
    },
    bodyOptional: true,
    errors: [400, 415, 503, 504, 507]
  },
  discoveryUnadvertise: {
    method: 'DELETE',
    url: '/v1/discovery/:namespace',
    operationId: 'unadvertise',
    summary: 'Stop advertising under a namespace',
    description: 'By PeerId (no `pseudonym` query): no more re-provides; the storing nodes drop the provider record when it expires (at most 6 h). With `?pseudonym=key_…`: the set is re-written without that entry at once. Errors: 400 `UMBRA_ERR_INVALID_NAMESPACE`, `UMBRA_ERR_INVALID_OPTION`; 504 `UMBRA_ERR_ABORTED`.',
    auth: 'bearer',
    schema: {
      params: discoveryParamsSchema,
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { pseudonym: { type: 'string', minLength: 5, maxLength: 128, pattern: '^key_[0-9A-Za-z]+$', description: 'Withdraw this pseudonym\'s entry.' } }
      },
      response: { 200: { type: 'object', required: ['namespace', 'removed'], additionalProperties: false, properties: { namespace: { type: 'string' }, removed: { type: 'boolean', const: true } } } }
    },
    errors: [400, 503, 504]
  },
  discoveryFind: {
    method: 'GET',
    url: '/v1/discovery/:namespace',
    operationId: 'discover',
    summary: 'Find who advertises a namespace',
    description: 'Nodes (PeerId, key, addresses; addresses from the provider record, else the peer registry) or, with `anonymous=true`, pseudonyms (random order), to reach with an anonymous message. Errors: 400 `UMBRA_ERR_INVALID_NAMESPACE`, `UMBRA_ERR_BAD_REQUEST`; 504 `UMBRA_ERR_ABORTED`.',
    auth: 'bearer',
    schema: {
      params: discoveryParamsSchema,
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          anonymous: { type: 'string', enum: ['true', 'false'], description: '`true`: list pseudonyms from the anonymous set. Default `false`.' },
          limit: { type: 'string', pattern: '^(100|[1-9][0-9]?)$', description: 'Most results, 1 to 100. Default 20.' }
        }
      },
      response: {
        200: {
          type: 'object',
          required: ['namespace', 'anonymous'],
          additionalProperties: false,
          properties: {
            namespace: { type: 'string' },
            anonymous: { type: 'boolean' },
            peers: {
              type: 'array',
              items: { type: 'object', required: ['peerId', 'key', 'addrs'], additionalProperties: false, properties: { peerId: { type: 'string' }, key: { type: 'string' }, addrs: { type: 'array', items: { type: 'string' } } } }
            },
            pseudonyms: {
              type: 'array',
              items: { type: 'object', required: ['pseudonym', 'expiresAt'], additionalProperties: false, properties: { pseudonym: { type: 'string' }, expiresAt: { type: 'integer', description: 'ms since the Unix epoch.' } } }
            }
          }
        }
      }
    },
    errors: [400, 503, 504]
  },
  messageSend: {
    method: 'POST',
    url: '/v1/messages',
    operationId: 'sendMessage',
    summary: 'Send a direct or an anonymous end-to-end encrypted message',
    description: [
      `Direct (default): encrypts \`body\` to the recipient (a PeerId or \`key_…\`) and delivers it on the first of seed 001's paths that works: a direct connection, a relayed one (both answer 200 once the recipient acknowledged), or, when the recipient is unreachable, its offline queue at its 3 closest server nodes (202, \`path: "queued"\`; kept 72 h, delivered when the recipient comes back). Up to ${MESSAGE_SEND_TIMEOUT_MS / 1000} s for the direct attempt, then 15 s to queue; the recipient learns this node's PeerId. Retry with the same \`id\`: the recipient keeps one copy.`,
      `Anonymous (\`"anonymous": true\`): \`to\` is a pseudonym \`key_…\`; the body is sealed to it and sent as Sphinx packets through \`hops\` mixes (default: the node's, 3) to the pseudonym's gateway. The recipient learns nothing about the sender. \`wait: "stored"\` (default) answers once the gateway acknowledged every fragment; \`wait: "delivered"\` also waits for the recipient's end-to-end acknowledgement. The message carries \`replySurbs\` reply blocks (default 2) the recipient can answer through (\`POST /v1/messages/{id}/reply\`; replies appear in \`GET /v1/messages\` as \`kind: "reply"\`). Gives up after ${ANONYMOUS_SEND_TIMEOUT_MS / 1000} s.`,
      `\`hops\`, \`wait\` and \`replySurbs\` are refused (400) without \`"anonymous": true\`. \`body\` is at most ${MAX_MESSAGE_BYTES} bytes once decoded (413 \`UMBRA_ERR_MESSAGE_TOO_LARGE\`); send large or binary bodies as base64.`,
      'Errors: 400 `UMBRA_ERR_BAD_REQUEST`, `UMBRA_ERR_INVALID_RECIPIENT`, `UMBRA_ERR_INVALID_KEY`, `UMBRA_ERR_KEY_CHECKSUM`, `UMBRA_ERR_INVALID_OPTION`; 404 `UMBRA_ERR_UNKNOWN_PSEUDONYM` (no contact record for the pseudonym); 502 `UMBRA_ERR_DELIVERY_FAILED` (direct), `UMBRA_ERR_ANON_DELIVERY_FAILED` (no lookup gateway answered the contact lookup, fragments not acknowledged after every retransmission, or no end-to-end acknowledgement with `wait: "delivered"`); 503 `UMBRA_ERR_NOT_ENOUGH_MIXES` (the mix directory is too small for the path); 507 `UMBRA_ERR_MAILBOX_FULL` (the recipient\'s mailbox is full; retry later), `UMBRA_ERR_OFFLINE_QUEUE_FULL` (direct: the recipient is offline and its queue holds 100 messages), `UMBRA_ERR_OFFLINE_QUEUE_BYTES` (direct: the message does not fit in its 1 MB queue), `UMBRA_ERR_OFFLINE_QUEUE_SERVER_FULL` (direct: the queue servers hold 8 MB from this node already); 504 `UMBRA_ERR_ABORTED`/`UMBRA_ERR_TIMEOUT`.'
    ].join('\n\n'),
    auth: 'bearer',
    schema: {
      querystring: noQuerySchema,
      body: {
        type: 'object',
        required: ['to', 'body'],
        additionalProperties: false,
        properties: {
          to: { type: 'string', minLength: 1, maxLength: MAX_RECIPIENT_CHARS, description: 'Recipient: PeerId (`12D3Koo…`) or transport key (`key_…`); with `anonymous`, a pseudonym (`key_…`). A name (`alice`, `alice.key_…`) resolves to its `peer` record, or with `anonymous` its `pseudonym` record (400 `UMBRA_ERR_INVALID_RECIPIENT` when it does not resolve or has no such record).' },
          body: { type: 'string', description: `The body, written as \`encoding\` says; at most ${MAX_MESSAGE_BYTES} bytes once decoded.` },
          encoding: { ...encodingSchema, default: 'utf8' },
          anonymous: { type: 'boolean', default: false, description: '`true`: send through the mix network to a pseudonym, without revealing this node.' },
          hops: { type: 'integer', minimum: MIN_ANONYMOUS_HOPS, maximum: MAX_ANONYMOUS_HOPS, description: `Mix hops before the recipient's gateway, ${MIN_ANONYMOUS_HOPS} to ${MAX_ANONYMOUS_HOPS} (only with \`anonymous\`). Default: the node's \`mixnet.hops\` (3).` },
          wait: { type: 'string', enum: ['stored', 'delivered'], description: '`stored`: answer once the gateway stored every fragment; `delivered`: also wait for the recipient\'s acknowledgement (only with `anonymous`). Default `stored`.' },
          replySurbs: { type: 'integer', minimum: 0, maximum: MAX_REPLY_SURBS, description: `Reply blocks the message carries, 0 to ${MAX_REPLY_SURBS}: how many times the recipient can answer (only with \`anonymous\`). Default 2.` },
          id: { type: 'string', pattern: '^[0-9a-f]{32}$', description: 'Direct messages: the id of an earlier attempt, to retry it (32 lowercase hex characters); the recipient de-duplicates by id, so a retry never yields two copies. Random when absent.' }
        },
        // hops, wait and replySurbs only with "anonymous": true (ANONYMOUS_ONLY_FIELDS in constants.ts)
        if: { required: ['anonymous'], properties: { anonymous: { const: true } } },
        then: { properties: { id: false } },
        else: { properties: { hops: false, wait: false, replySurbs: false } }
      },
      response: { 200: sendReceiptSchema, 202: sendReceiptSchema }
    },
    errors: [400, 404, 413, 415, 502, 503, 504, 507]
  },
  messageReply: {
    method: 'POST',
    url: '/v1/messages/:id/reply',
    operationId: 'replyToMessage',
    summary: 'Answer an anonymous message through one of its reply blocks',
    description: `Sends \`body\` back to the unknown sender of anonymous message \`id\` through one of the SURBs it carried (each is single use; \`repliesLeft\` of the message counts them). The reply fits in one packet: at most ${MAX_REPLY_BYTES} bytes once decoded (413 \`UMBRA_ERR_REPLY_TOO_LARGE\`). Answers once the packet left this node; the sender sees it as a \`kind: "reply"\` entry of its \`GET /v1/messages\` and an \`anonymous:reply\` event. Errors: 400 \`UMBRA_ERR_BAD_REQUEST\`; 409 \`UMBRA_ERR_NO_SURB\` (no reply block left, or no such message); 413 \`UMBRA_ERR_REPLY_TOO_LARGE\`; 503 \`UMBRA_ERR_NOT_ENOUGH_MIXES\`; 504 \`UMBRA_ERR_ABORTED\`/\`UMBRA_ERR_TIMEOUT\`.`,
    auth: 'bearer',
    schema: {
      params: messageIdParamsSchema,
      querystring: noQuerySchema,
      body: {
        type: 'object',
        required: ['body'],
        additionalProperties: false,
        properties: {
          body: { type: 'string', description: `The reply, written as \`encoding\` says; at most ${MAX_REPLY_BYTES} bytes once decoded.` },
          encoding: { ...encodingSchema, default: 'utf8' }
        }
      },
      response: {
        200: {
          type: 'object',
          required: ['id', 'repliesLeft'],
          additionalProperties: false,
          properties: {
            id: { type: 'string', description: 'Id of the message answered.' },
            repliesLeft: { type: 'integer', minimum: 0, description: 'Reply blocks of that message still unused.' }
          }
        }
      }
    },
    errors: [400, 409, 413, 415, 503, 504]
  },
  messageStatus: {
    method: 'GET',
    url: '/v1/messages/:id/status',
    operationId: 'getMessageStatus',
    summary: 'What became of an anonymous message this node sent',
    description: 'The outcome of an anonymous message sent in the last 10 minutes (the newest 1,000 are kept). A late acknowledgement turns `failed` into `stored` or `delivered` (and is also streamed as an `anonymous:status` event), so a send that answered 502 can be checked here by the `id` of its error. Errors: 404 `UMBRA_ERR_NOT_FOUND` (unknown or forgotten id).',
    auth: 'bearer',
    schema: {
      params: messageIdParamsSchema,
      querystring: noQuerySchema,
      response: {
        200: {
          type: 'object',
          required: ['id', 'to', 'status', 'fragments', 'storedFragments', 'retransmissions', 'startedAt', 'updatedAt'],
          additionalProperties: false,
          properties: {
            id: { type: 'string', description: 'Message id, 32 hex characters.' },
            to: { type: 'string', description: 'The recipient pseudonym, `key_…`.' },
            status: { type: 'string', enum: ['sending', 'stored', 'delivered', 'failed'], description: '`sending`; `stored`: the gateway acknowledged every fragment; `delivered`: the recipient acknowledged end to end; `failed`: the send gave up (a late acknowledgement can still change it).' },
            fragments: { type: 'integer', minimum: 0 },
            storedFragments: { type: 'integer', minimum: 0, description: 'Fragments the gateway acknowledged as stored.' },
            retransmissions: { type: 'integer', minimum: 0 },
            startedAt: { type: 'integer', description: 'ms since the Unix epoch.' },
            updatedAt: { type: 'integer', description: 'ms since the Unix epoch.' }
          }
        }
      }
    },
    errors: [400, 404]
  },
  messageList: {
    method: 'GET',
    url: '/v1/messages',
    operationId: 'listMessages',
    summary: 'One page of the durable inbox, newest first',
    description: `Direct messages, anonymous messages to this node's pseudonyms and anonymous replies to messages it sent, from the durable inbox (kept across restarts until deleted or acknowledged), newest first, \`limit\` per page (default ${INBOX_PAGE_DEFAULT}, at most ${INBOX_PAGE_MAX}). \`next\`, when present, is the cursor of the next (older) page: pass it as \`before\`. The cursor is the position of arrival, so messages arriving meanwhile never shift or repeat entries of older pages. \`kind\` tells entries apart, see the \`MessageEntry\` schema. With \`since\`, only entries with \`receivedAt >= since\`.`,
    auth: 'bearer',
    schema: {
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          limit: { type: 'string', pattern: '^[0-9]{1,4}$', description: `Entries per page, 1 to ${INBOX_PAGE_MAX}; default ${INBOX_PAGE_DEFAULT}.` },
          before: { type: 'string', pattern: '^[0-9]{1,15}$', description: 'Cursor: the `next` of the previous page.' },
          since: { type: 'string', pattern: '^[0-9]{1,15}$', description: 'Only messages received at or after this time, ms since the Unix epoch.' }
        }
      },
      response: {
        200: {
          type: 'object',
          required: ['messages'],
          additionalProperties: false,
          properties: {
            messages: { type: 'array', items: messageEntrySchema },
            next: { type: 'string', description: 'Cursor of the next (older) page; absent on the last page.' }
          }
        }
      }
    },
    errors: [400, 503]
  },
  messageDelete: {
    method: 'DELETE',
    url: '/v1/messages/:id',
    operationId: 'deleteMessage',
    summary: 'Delete one message from the inbox',
    description: 'Removes the entry with this id (any kind). Its id stays remembered for 7 days, so a late copy (a retry, an offline-queue copy) does not bring it back. Errors: 400 `UMBRA_ERR_BAD_REQUEST`; 404 `UMBRA_ERR_MESSAGE_NOT_FOUND`.',
    auth: 'bearer',
    schema: {
      params: { ...messageIdParamsSchema, properties: { id: { ...messageIdParamsSchema.properties.id, description: 'Id of an inbox entry, 32 lowercase hex characters.' } } },
      querystring: noQuerySchema,
      response: {
        200: {
          type: 'object',
          required: ['id', 'deleted'],
          additionalProperties: false,
          properties: { id: { type: 'string' }, deleted: { type: 'boolean', const: true } }
        }
      }
    },
    errors: [400, 404, 503]
  },
  messageAck: {
    method: 'POST',
    url: '/v1/messages/ack',
    operationId: 'ackMessages',
    summary: 'Acknowledge messages the application has processed',
    description: `Acknowledging means the application has processed the messages: they are deleted from the inbox (their ids stay remembered for 7 days, so no copy of them comes back). Up to ${INBOX_PAGE_MAX} ids; ids not in the inbox are listed in \`unknown\` (not an error, so a retried acknowledgement succeeds). Errors: 400 \`UMBRA_ERR_BAD_REQUEST\`.`,
    auth: 'bearer',
    schema: {
      querystring: noQuerySchema,
      body: {
        type: 'object',
        required: ['ids'],
        additionalProperties: false,
        properties: {
          ids: { type: 'array', maxItems: INBOX_PAGE_MAX, items: { type: 'string', pattern: '^[0-9a-f]{32}$' }, description: 'Ids of inbox entries, 32 lowercase hex characters each.' }
        }
      },
      response: {
        200: {
          type: 'object',
          required: ['acked', 'unknown'],
          additionalProperties: false,
          properties: {
            acked: { type: 'integer', minimum: 0, description: 'Entries acknowledged (and deleted).' },
            unknown: { type: 'array', items: { type: 'string' }, description: 'Ids that were not in the inbox.' }
          }
        }
      }
    },
    errors: [400, 415, 503]
  },
  pseudonymCreate: {
    method: 'POST',
    url: '/v1/pseudonyms',
    operationId: 'createPseudonym',
    summary: 'Create a pseudonym others can write to anonymously',
    description: 'Makes a fresh Ed25519 key, picks `gateways` (default 3) distinct gateways from the mix directory (never this node), claims a mailbox at each and has them publish the signed contact record naming all of them in the DHT. Answers 201 once senders can find it (one gateway accepted the claim; `gatewayStates` shows the others). A gateway that goes away later is replaced and the record re-published. The body may be left out. Keep `key`: it is the address to hand out. Errors: 400 `UMBRA_ERR_BAD_REQUEST`, `UMBRA_ERR_INVALID_OPTION`; 502 `UMBRA_ERR_GATEWAY_UNREACHABLE` (no gateway accepted the mailbox claim within 15 s); 503 `UMBRA_ERR_NOT_ENOUGH_MIXES` (no gateway known yet: wait for the mix directory to fill); 504 `UMBRA_ERR_ABORTED`/`UMBRA_ERR_TIMEOUT`. On any error nothing is kept: the pseudonym is removed again, so the request can simply be retried.',
    auth: 'bearer',
    schema: {
      querystring: noQuerySchema,
      body: {
        type: 'object',
        additionalProperties: false,
        properties: {
          label: { type: 'string', minLength: 1, maxLength: MAX_PSEUDONYM_LABEL_CHARS, pattern: '^[^\\u0000-\\u001f\\u007f]*$', description: `A note for yourself, 1 to ${MAX_PSEUDONYM_LABEL_CHARS} characters without control characters; stays on this node.` },
          gateways: { type: 'integer', minimum: 1, maximum: MAX_PSEUDONYM_GATEWAYS, description: `How many distinct gateways hold its mailbox, 1 to ${MAX_PSEUDONYM_GATEWAYS}, default ${DEFAULT_PSEUDONYM_GATEWAYS} (fewer only when the mix directory lists fewer). Senders fail over between them.` }
        }
      },
      response: { 201: pseudonymSchema }
    },
    bodyOptional: true,
    errors: [400, 415, 502, 503, 504]
  },
  pseudonymList: {
    method: 'GET',
    url: '/v1/pseudonyms',
    operationId: 'listPseudonyms',
    summary: "This node's pseudonyms",
    description: 'Every pseudonym of this node, oldest first.',
    auth: 'bearer',
    schema: {
      querystring: noQuerySchema,
      response: {
        200: {
          type: 'object',
          required: ['pseudonyms'],
          additionalProperties: false,
          properties: { pseudonyms: { type: 'array', items: pseudonymSchema } }
        }
      }
    },
    errors: [400, 503]
  },
  pseudonymPurge: {
    method: 'POST',
    url: '/v1/pseudonyms/:key/purge',
    operationId: 'purgePseudonymMailbox',
    summary: "Delete what the pseudonym's mailbox at its gateway holds",
    description: 'Has the gateway delete the rows (fragments) of incomplete messages in the pseudonym\'s mailbox, or with `"all": true` every row, including messages not yet delivered to this node. Incomplete messages expire 10 min after their last fragment anyway; purge frees their budget (8 messages) at once. Answers how many rows were deleted. The body may be left out. Errors: 400 `UMBRA_ERR_BAD_REQUEST`, `UMBRA_ERR_INVALID_KEY`, `UMBRA_ERR_KEY_CHECKSUM`; 404 `UMBRA_ERR_NOT_MY_PSEUDONYM`; 502 `UMBRA_ERR_GATEWAY_UNREACHABLE` (the mailbox is not connected to its gateway, or no answer in 15 s).',
    auth: 'bearer',
    schema: {
      params: pseudonymKeyParamsSchema,
      querystring: noQuerySchema,
      body: {
        type: 'object',
        additionalProperties: false,
        properties: {
          all: { type: 'boolean', default: false, description: '`true`: delete every row, not only those of incomplete messages.' }
        }
      },
      response: {
        200: {
          type: 'object',
          required: ['deleted'],
          additionalProperties: false,
          properties: { deleted: { type: 'integer', minimum: 0, description: 'Rows (fragments) the gateway deleted.' } }
        }
      }
    },
    bodyOptional: true,
    errors: [400, 404, 415, 502, 503]
  },
  authChallenge: {
    method: 'POST',
    url: '/v1/auth/challenge',
    operationId: 'authChallenge',
    summary: 'Issue a challenge for someone to prove a key (docs/auth.md)',
    description: 'A random 32-byte nonce bound to `purpose`, this node as issuer and an expiry (`ttlMs`, 1,000-600,000, default 60,000), tagged so this node can later verify an answer to it, once. Errors: 400 `UMBRA_ERR_BAD_REQUEST`, `UMBRA_ERR_INVALID_OPTION`.',
    auth: 'bearer',
    schema: {
      querystring: noQuerySchema,
      body: {
        type: 'object',
        required: ['purpose'],
        additionalProperties: false,
        properties: {
          purpose: authChallengeSchema.properties.purpose,
          ttlMs: { type: 'integer', minimum: 1000, maximum: 600_000, description: 'Lifetime of the challenge, ms. Default 60,000.' }
        }
      },
      response: { 200: { type: 'object', required: ['challenge'], additionalProperties: false, properties: { challenge: authChallengeSchema } } }
    },
    errors: [400, 415, 503]
  },
  authRespond: {
    method: 'POST',
    url: '/v1/auth/respond',
    operationId: 'authRespond',
    summary: 'Answer a challenge with the node key or one of its pseudonyms',
    description: 'Signs the challenge\'s domain-separated fields (never the raw nonce) with the node key, or with `key` (the node key or one of this node\'s pseudonyms, `key_…`). Errors: 400 `UMBRA_ERR_BAD_REQUEST`, `UMBRA_ERR_AUTH_CHALLENGE`, `UMBRA_ERR_AUTH_EXPIRED`; 404 `UMBRA_ERR_NOT_MY_PSEUDONYM`.',
    auth: 'bearer',
    schema: {
      querystring: noQuerySchema,
      body: {
        type: 'object',
        required: ['challenge'],
        additionalProperties: false,
        properties: {
          challenge: authChallengeSchema,
          key: { ...keyStringSchema, description: 'Sign with this key (the node key or a pseudonym of this node). Default: the node key.' }
        }
      },
      response: { 200: { type: 'object', required: ['response'], additionalProperties: false, properties: { response: authResponseSchema } } }
    },
    errors: [400, 404, 415, 503]
  },
  authVerify: {
    method: 'POST',
    url: '/v1/auth/verify',
    operationId: 'authVerify',
    summary: 'Verify a response to a challenge this node issued',
    description: `Accepts each challenge once: signature under the response's key, freshness, purpose (and \`purpose\`/\`key\` when given), single use. Errors: ${AUTH_REFUSALS}.`,
    auth: 'bearer',
    schema: {
      querystring: noQuerySchema,
      body: {
        type: 'object',
        required: ['challenge', 'response'],
        additionalProperties: false,
        properties: {
          challenge: authChallengeSchema,
          response: authResponseSchema,
          purpose: { ...authChallengeSchema.properties.purpose, description: 'Refuse unless the challenge is for this purpose.' },
          key: { ...keyStringSchema, description: 'Refuse unless this key signed.' }
        }
      },
      response: { 200: authVerifiedSchema }
    },
    errors: [400, 415, 503]
  },
  authProve: {
    method: 'POST',
    url: '/v1/auth/prove',
    operationId: 'authProve',
    summary: 'Ask a peer to prove its node key over /umbra/auth/1.0.0',
    description: `Sends the peer a fresh challenge for \`purpose\` and verifies its answer against the peer's PeerId key. Only node keys answer on the network (a pseudonym would be linked to the PeerId). Errors: 400 \`UMBRA_ERR_INVALID_KEY\`; 502 \`UMBRA_ERR_AUTH_PEER\` (no answer or a refusal); ${AUTH_REFUSALS}.`,
    auth: 'bearer',
    schema: {
      querystring: noQuerySchema,
      body: {
        type: 'object',
        required: ['peer', 'purpose'],
        additionalProperties: false,
        properties: {
          peer: { type: 'string', minLength: 1, maxLength: 128, description: 'PeerId or `key_…` of the peer.' },
          purpose: authChallengeSchema.properties.purpose
        }
      },
      response: { 200: authVerifiedSchema }
    },
    errors: [400, 415, 502, 503]
  },
  proofRingSign: {
    method: 'POST',
    url: '/v1/proofs/ring',
    operationId: 'ringSign',
    summary: 'Sign as an anonymous member of a ring of keys',
    description: 'Signs `message` with a linkable ring signature (bLSAG over ristretto255, docs/proofs.md) using the first ring member whose key this node holds (its node key or one of its pseudonyms). The signature shows that one of the ring\'s keys signed, not which. Errors: 400 `UMBRA_ERR_BAD_REQUEST`, `UMBRA_ERR_RING_INVALID` (a member is not a `key_` Ed25519 id, or appears twice), `UMBRA_ERR_INVALID_OPTION`; 403 `UMBRA_ERR_NOT_RING_MEMBER` (this node holds none of the ring\'s keys); 413 `UMBRA_ERR_MESSAGE_TOO_LARGE`.',
    auth: 'bearer',
    schema: {
      querystring: noQuerySchema,
      body: { type: 'object', required: ['message', 'ring'], additionalProperties: false, properties: ringProofFields },
      response: {
        200: {
          type: 'object',
          required: ['signature', 'keyImage'],
          additionalProperties: false,
          properties: { signature: ringSignatureSchema, keyImage: keyImageSchema }
        }
      }
    },
    errors: [400, 403, 413, 415, 503]
  },
  proofRingVerify: {
    method: 'POST',
    url: '/v1/proofs/ring/verify',
    operationId: 'ringVerify',
    summary: 'Check a ring signature',
    description: 'Checks that one member of `ring` signed `message` in `scope` (docs/proofs.md); needs none of this node\'s keys. A well-formed signature that does not verify answers `{"valid": false}`. Errors: 400 `UMBRA_ERR_BAD_REQUEST` (also: `signature` not base64), `UMBRA_ERR_RING_INVALID`, `UMBRA_ERR_RING_SIGNATURE_MALFORMED` (wrong length for the ring, non-canonical scalar, bad key image), `UMBRA_ERR_INVALID_OPTION`; 413 `UMBRA_ERR_MESSAGE_TOO_LARGE`.',
    auth: 'bearer',
    schema: {
      querystring: noQuerySchema,
      body: { type: 'object', required: ['message', 'ring', 'signature'], additionalProperties: false, properties: { ...ringProofFields, signature: ringSignatureSchema } },
      response: {
        200: {
          type: 'object',
          required: ['valid', 'keyImage'],
          additionalProperties: false,
          properties: { valid: { type: 'boolean' }, keyImage: keyImageSchema }
        }
      }
    },
    errors: [400, 413, 415, 503]
  },
  mixnet: {
    method: 'GET',
    url: '/v1/mixnet',
    operationId: 'getMixnet',
    summary: 'The mix network as this node sees it',
    description: 'The traffic-analysis preset and its parameters, the mix directory (sorted by PeerId) and the counters since start.',
    auth: 'bearer',
    schema: {
      querystring: noQuerySchema,
      response: {
        200: {
          type: 'object',
          required: ['preset', 'parameters', 'directory', 'counters', 'suspects'],
          additionalProperties: false,
          properties: {
            preset: { type: 'string', enum: ['none', 'balanced', 'strong'], description: '`none`: no delays, no cover traffic; `balanced`; `strong` (docs/mixnet.md, Presets).' },
            parameters: {
              type: 'object',
              required: ['meanDelayMs', 'loopRate', 'dropRate', 'payloadRate'],
              additionalProperties: false,
              properties: {
                meanDelayMs: { type: 'number', minimum: 0, description: 'Mean of the exponential per-hop delay, ms.' },
                loopRate: { type: 'number', minimum: 0, description: 'Loop cover packets per second.' },
                dropRate: { type: 'number', minimum: 0, description: 'Drop cover packets per second.' },
                payloadRate: { type: 'number', minimum: 0, description: 'Packets per second of the constant-rate payload stream: a real packet takes the next slot, cover fills the rest; 0: off (docs/mixnet.md, Constant-rate sending).' }
              }
            },
            traffic: {
              type: 'object',
              required: ['sendQueue', 'guards', 'packetsOutByLink'],
              additionalProperties: false,
              description: 'What an observer of this node\'s links sees and what shapes it (docs/mixnet.md, Constant-rate sending; Layers and guards).',
              properties: {
                sendQueue: {
                  type: 'object',
                  description: 'The constant-rate send queue.',
                  required: ['rate', 'queued', 'capacity', 'estimatedWaitMs'],
                  additionalProperties: false,
                  properties: {
                    rate: { type: 'number', minimum: 0, description: 'Packets per second (0: off).' },
                    queued: { ...counterSchema, description: 'Packets waiting for a slot.' },
                    capacity: { ...counterSchema, description: 'Most packets that may wait; a send that does not fit gets 503 UMBRA_ERR_SEND_QUEUE_FULL.' },
                    estimatedWaitMs: { ...counterSchema, description: 'Expected wait of a packet queued now, ms.' }
                  }
                },
                guards: { type: 'array', items: { type: 'string' }, description: 'PeerIds of this node\'s primary guards, in the order they are used as first hop.' },
                packetsOutByLink: { type: 'object', additionalProperties: counterSchema, description: 'Packets this node originated since start, by the PeerId of the first hop.' }
              }
            },
            directory: { type: 'array', items: mixNodeSchema },
            counters: mixnetCountersSchema,
            suspects: { type: 'array', items: { type: 'string' }, description: 'PeerIds of mixes this node avoids for new paths because its loop cover through them was lost (path probes; docs/mixnet.md, Eviction).' },
            replyGateway: { type: 'string', description: 'PeerId of the gateway holding this node\'s reply mailbox (acknowledgements, replies and loop cover come back there); absent until claimed.' }
          }
        }
      }
    },
    errors: [400, 503]
  },
  quotas: {
    method: 'GET',
    url: '/v1/quotas',
    operationId: 'getQuotas',
    summary: 'Per-peer quota refusals since start',
    description: 'How many times each per-peer quota refused something since the node started (docs/quotas.md has every quota, its limit and the code the refused peer sees): `mailbox-claims` (gateway claims over 16 per peer), `dht-records`, `dht-bytes`, `dht-total-bytes` (records stored for others over 256 or 4 MiB per owner key, or 256 MiB in all), `provider-records`, `direct-messages` (over 100 tokens/s per peer: 1 per message + 1 per 64 KiB), `event-streams` (over 16 open `GET /v1/events`).',
    auth: 'bearer',
    schema: {
      querystring: noQuerySchema,
      response: {
        200: {
          type: 'object',
          required: ['refused'],
          additionalProperties: false,
          properties: {
            refused: {
              type: 'object',
              required: [...QUOTA_KINDS],
              additionalProperties: false,
              properties: Object.fromEntries(QUOTA_KINDS.map((k) => [k, { type: 'integer', minimum: 0, description: `Refusals answered \`${QUOTA_CODES[k]}\`.` }])) as Record<QuotaKind, { type: 'integer', minimum: 0, description: string }>
            }
          }
        }
      }
    },
    errors: [400, 503]
  },
  pubsubSubscriptions: {
    method: 'GET',
    url: '/v1/pubsub/subscriptions',
    operationId: 'listSubscriptions',
    summary: 'Topics this node subscribes to',
    description: 'The application\'s pub/sub subscriptions (kept across restarts), each with the connected peers subscribed to it (docs/pubsub.md).',
    auth: 'bearer',
    schema: {
      querystring: noQuerySchema,
      response: {
        200: {
          type: 'object',
          required: ['topics'],
          additionalProperties: false,
          properties: {
            topics: {
              type: 'array',
              items: { type: 'object', required: ['topic', 'peers'], additionalProperties: false, properties: { topic: { type: 'string' }, peers: { type: 'array', items: { type: 'string' }, description: 'PeerIds of connected peers subscribed to the topic.' } } }
            }
          }
        }
      }
    },
    errors: [503]
  },
  pubsubSubscribe: {
    method: 'PUT',
    url: '/v1/pubsub/subscriptions/:topic',
    operationId: 'subscribe',
    summary: 'Subscribe to a topic',
    description: 'Joins the topic\'s GossipSub mesh; its messages then arrive as `pubsub:message` on `/v1/events` and in `GET /v1/pubsub/{topic}/messages`. The subscription is kept across restarts; after one, the node asks server nodes for what it missed. With `since` (ms since the Unix epoch), server nodes are asked at once for the messages published since then (their store keeps the last 100 or 5 minutes per topic). Idempotent. The body may be left out. Errors: 400 `UMBRA_ERR_PUBSUB_INVALID_TOPIC`.',
    auth: 'bearer',
    schema: {
      params: topicParamsSchema,
      querystring: noQuerySchema,
      body: {
        type: 'object',
        additionalProperties: false,
        properties: { since: { type: 'integer', minimum: 0, description: 'Fetch history published at or after this time, ms since the Unix epoch.' } }
      },
      response: {
        200: {
          type: 'object',
          required: ['topic', 'history'],
          additionalProperties: false,
          properties: {
            topic: { type: 'string' },
            history: { type: 'integer', minimum: 0, description: 'Messages fetched from server nodes\' stores and delivered now (0 without `since`, or when no server answered).' }
          }
        }
      }
    },
    bodyOptional: true,
    errors: [400, 415, 503, 504]
  },
  pubsubUnsubscribe: {
    method: 'DELETE',
    url: '/v1/pubsub/subscriptions/:topic',
    operationId: 'unsubscribe',
    summary: 'Unsubscribe from a topic',
    description: 'Leaves the topic and forgets the subscription; what the node stored stays until its store drops it. Idempotent. Errors: 400 `UMBRA_ERR_PUBSUB_INVALID_TOPIC`.',
    auth: 'bearer',
    schema: {
      params: topicParamsSchema,
      querystring: noQuerySchema,
      response: { 200: { type: 'object', required: ['topic', 'removed'], additionalProperties: false, properties: { topic: { type: 'string' }, removed: { type: 'boolean', const: true } } } }
    },
    errors: [400, 503]
  },
  pubsubPublish: {
    method: 'POST',
    url: '/v1/pubsub/:topic',
    operationId: 'publish',
    summary: 'Publish a message on a topic',
    description: `Signs \`data\` with the node key (or \`pseudonym\`'s) inside a pub/sub envelope with a fresh message id and publishes it over GossipSub; subscribers receive it once, with the publisher's \`key_…\` (docs/pubsub.md). This node does not receive its own message. With \`anonymous\` the envelope (unsigned, or signed by \`pseudonym\`) travels through \`hops\` mixes to a random exit mix that publishes it (one Sphinx packet: an envelope of at most about 2.6 KB; issue 13 item 2, docs/pubsub-hybrid.md); \`recipients\` is then 0. In hybrid and central modes the message goes where \`pubsub.mode\` and \`strategy\` say, and waits in a bounded queue while no side is healthy. Errors: 400 \`UMBRA_ERR_PUBSUB_INVALID_TOPIC\`, \`UMBRA_ERR_BAD_REQUEST\`; 404 \`UMBRA_ERR_UNKNOWN_PSEUDONYM\`; 413 \`UMBRA_ERR_PUBSUB_MESSAGE_TOO_LARGE\` (over ${DEFAULT_MAX_MESSAGE_BYTES} bytes with the envelope, by default, or over one packet when anonymous); 501 \`UMBRA_ERR_PUBSUB_UNSUPPORTED\`; 502 \`UMBRA_ERR_ANON_DELIVERY_FAILED\` (no exit confirmed it); 503 \`UMBRA_ERR_NOT_ENOUGH_MIXES\`, \`UMBRA_ERR_PUBSUB_QUEUE_FULL\`.`,
    auth: 'bearer',
    schema: {
      params: topicParamsSchema,
      querystring: noQuerySchema,
      body: {
        type: 'object',
        required: ['data'],
        additionalProperties: false,
        properties: {
          data: { type: 'string', description: 'The message, written as `encoding` says.' },
          encoding: { ...encodingSchema, default: 'utf8' },
          anonymous: { type: 'boolean', default: false, description: 'Publish through the mix network: subscribers and the exit mix learn nothing about this node.' },
          hops: { type: 'integer', minimum: MIN_ANONYMOUS_HOPS, maximum: MAX_ANONYMOUS_HOPS, description: 'Mix hops of an anonymous publish (needs `anonymous`).' },
          pseudonym: { type: 'string', minLength: 5, maxLength: 128, pattern: '^key_[0-9A-Za-z]+$', description: 'Sign with this pseudonym of the node instead of the node key (with `anonymous`: readers can tell two messages came from one pseudonym, not from whom).' }
        }
      },
      response: {
        200: {
          type: 'object',
          required: ['topic', 'id', 'recipients'],
          additionalProperties: false,
          properties: {
            topic: { type: 'string' },
            id: { type: 'string', description: 'Message id, 32 hex characters.' },
            recipients: { type: 'integer', minimum: 0, description: 'Peers GossipSub sent it to directly (0 when no peer subscribes yet).' }
          }
        }
      }
    },
    errors: [400, 404, 413, 415, 501, 502, 503, 504]
  },
  pubsubMessages: {
    method: 'GET',
    url: '/v1/pubsub/:topic/messages',
    operationId: 'listTopicMessages',
    summary: 'Messages of a topic this node holds',
    description: `Messages of the topic in this node's message store (received while subscribed, or served for peers), oldest first; the store keeps the last 100 or 5 minutes per topic by default. Errors: 400 \`UMBRA_ERR_PUBSUB_INVALID_TOPIC\`, \`UMBRA_ERR_BAD_REQUEST\`.`,
    auth: 'bearer',
    schema: {
      params: topicParamsSchema,
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          since: { type: 'string', pattern: '^[0-9]{1,15}$', description: 'Only messages published at or after this time, ms since the Unix epoch. Default 0.' },
          limit: { type: 'string', pattern: '^[1-9][0-9]{0,2}$', description: `Most messages, 1 to ${MAX_HISTORY_MESSAGES}. Default ${MAX_HISTORY_MESSAGES}.` }
        }
      },
      response: {
        200: {
          type: 'object',
          required: ['topic', 'messages'],
          additionalProperties: false,
          properties: { topic: { type: 'string' }, messages: { type: 'array', items: pubsubMessageSchema } }
        }
      }
    },
    errors: [400, 503]
  },
  metrics: {
    method: 'GET',
    url: '/metrics',
    operationId: 'getMetrics',
    summary: 'Prometheus metrics',
    description: 'The node\'s metrics in the Prometheus text format 0.0.4 (docs/metrics.md lists every metric): Umbra\'s `umbra_…` and libp2p\'s own. Outside `/v1`, where Prometheus looks by default; scrape it with the bearer token (`authorization` in the scrape config).',
    auth: 'bearer',
    schema: {},
    errors: [503],
    stream: { mediaType: 'text/plain; version=0.0.4', description: 'Prometheus text exposition format 0.0.4.' }
  },
  events: {
    method: 'GET',
    url: '/v1/events',
    operationId: 'streamEvents',
    summary: 'Server-sent events of what the node sees',
    description: 'A `text/event-stream` that stays open. The token may be given as `?token=` because `EventSource` cannot set headers.',
    auth: 'bearer-or-query',
    schema: {
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          token: { type: 'string', description: 'The API token, for clients that cannot send the Authorization header.' }
        }
      }
    },
    errors: [400, 429],
    stream: {
      mediaType: 'text/event-stream',
      description: [
        'Events, each `event: <name>` then one `data: <JSON>` line:',
        '- `peer:connect`, `peer:disconnect`: `{"peerId": "<PeerId>"}`',
        '- `message`: a received direct message, the same object as an entry of `GET /v1/messages` (`kind: "direct"`)',
        '- `anonymous:message`: an anonymous message to one of this node\'s pseudonyms, as an entry of `GET /v1/messages` (`kind: "anonymous"`)',
        '- `anonymous:reply`: a reply through a SURB of a message this node sent, as an entry of `GET /v1/messages` (`kind: "reply"`)',
        '- `anonymous:delivered`: the recipient acknowledged an anonymous message this node sent: `{"id": "<message id>"}`',
        '- `pubsub:message`: a message on a topic this node subscribes to, once per message id, as an entry of `GET /v1/pubsub/{topic}/messages`',
        '- `anonymous:status`: an anonymous message this node sent reached `stored`, `delivered` or `failed`, or a late acknowledgement changed its status: `{"id", "to", "status"}`',
        `A comment line (\`: heartbeat\`) is sent every ${SSE_HEARTBEAT_MS / 1000} s. The stream ends when the server closes.`
      ].join('\n')
    }
  }
} as const satisfies Record<string, RouteSpec>

/** Names of the routes in {@link ROUTES}. */
export type RouteName = keyof typeof ROUTES

/**
 * The shapes routes share, by the name `#/components/schemas/…` gives them in
 * the OpenAPI document; src/api/contract.ts derives a type from each.
 */
export const COMPONENT_SCHEMAS = {
  Error: errorSchema,
  PeerSummary: peerSummarySchema,
  MessageEntry: messageEntrySchema,
  Pseudonym: pseudonymSchema,
  MixNode: mixNodeSchema,
  MixnetCounters: mixnetCountersSchema,
  NatStatus: natStatusSchema,
  HolePunchResult: holePunchResultSchema,
  RankedPath: rankedPathSchema,
  NameRecord: nameRecordSchema,
  OwnedName: ownedNameSchema,
  AuthChallenge: authChallengeSchema,
  AuthResponse: authResponseSchema,
  PubSubMessage: pubsubMessageSchema
} as const

/** Schema of the `data` of a `message` event (same as a `GET /v1/messages` entry). */
export const MESSAGE_EVENT_SCHEMA: JsonSchema = messageEntrySchema

/** Schema of the error body every route sends on failure. */
export const ERROR_SCHEMA: JsonSchema = errorSchema

const STATUS_DESCRIPTIONS: Record<number, string> = {
  400: 'Bad request: `UMBRA_ERR_BAD_REQUEST` (a field is missing, unknown, of the wrong type or out of range; the message names it), `UMBRA_ERR_BAD_JSON`, or a service code such as `UMBRA_ERR_INVALID_KEY_NAME`, `UMBRA_ERR_INVALID_RECIPIENT`, `UMBRA_ERR_INVALID_OPTION`, `UMBRA_ERR_INVALID_MULTIADDR`.',
  401: 'Missing or wrong bearer token: `UMBRA_ERR_UNAUTHORIZED`.',
  403: 'Forbidden: `UMBRA_ERR_NOT_ZONE_OWNER` (a zone name in another key\'s zone), `UMBRA_ERR_NOT_RING_MEMBER` (this node holds none of a ring\'s keys).',
  404: 'Not found: `UMBRA_ERR_NOT_FOUND`, `UMBRA_ERR_NAME_NOT_FOUND`, `UMBRA_ERR_UNKNOWN_PSEUDONYM` (no contact record for the pseudonym), `UMBRA_ERR_NOT_MY_PSEUDONYM` (this node does not hold it).',
  409: 'Conflict with the current state: `UMBRA_ERR_KEY_OWNED` (the DHT key belongs to another publisher until its record expires), `UMBRA_ERR_NO_SURB` (the message has no reply block left).',
  413: 'Too large: `UMBRA_ERR_BODY_TOO_LARGE` (request over 1.5 MiB), `UMBRA_ERR_VALUE_TOO_LARGE`, `UMBRA_ERR_MESSAGE_TOO_LARGE`, `UMBRA_ERR_REPLY_TOO_LARGE` or `UMBRA_ERR_PUBSUB_MESSAGE_TOO_LARGE`.',
  415: 'The body is not JSON: `UMBRA_ERR_UNSUPPORTED_MEDIA_TYPE`.',
  421: 'The `Host` header is not this API\'s bound host, a localhost name or an IP literal on its port (DNS rebinding, docs/dashboard.md): `UMBRA_ERR_HOST_NOT_ALLOWED`.',
  500: 'Unexpected failure: `UMBRA_ERR_INTERNAL` (details are in the node log).',
  502: 'The recipient could not be reached: `UMBRA_ERR_DELIVERY_FAILED` (direct), `UMBRA_ERR_ANON_DELIVERY_FAILED` (anonymous: not acknowledged after every retransmission), `UMBRA_ERR_PEER_UNREACHABLE` (hole punch: neither a direct nor a relayed connection), `UMBRA_ERR_GATEWAY_UNREACHABLE` (a pseudonym\'s gateway is not connected, or did not accept a new pseudonym\'s mailbox claim).',
  501: 'Not built on this node: `UMBRA_ERR_PUBSUB_UNSUPPORTED` (anonymous publishing before the mixnet path is wired).',
  503: 'Not available now: the node is not started (`UMBRA_ERR_NOT_STARTED`), the API server is closing (`UMBRA_ERR_SHUTTING_DOWN`), or the mix directory is too small for the path (`UMBRA_ERR_NOT_ENOUGH_MIXES`).',
  429: 'Over a quota (docs/quotas.md): `UMBRA_ERR_QUOTA_EVENT_STREAMS` (16 event streams are open already; close one), `UMBRA_ERR_QUOTA_DHT_RECORDS` / `UMBRA_ERR_QUOTA_DHT_BYTES` / `UMBRA_ERR_QUOTA_DHT_TOTAL_BYTES` (this node already stores 256 records or 4 MiB under this node\'s key, or 256 MiB in all; storing nodes would refuse it too).',
  504: 'The operation was aborted or timed out: `UMBRA_ERR_ABORTED`, `UMBRA_ERR_TIMEOUT`.',
  507: "The recipient's mailbox at its gateway is full: `UMBRA_ERR_MAILBOX_FULL` (retry later, once the recipient fetched its messages); or a direct message's recipient is offline and its offline queue is full: `UMBRA_ERR_OFFLINE_QUEUE_FULL` (100 messages), `UMBRA_ERR_OFFLINE_QUEUE_BYTES` (1 MB), `UMBRA_ERR_OFFLINE_QUEUE_SERVER_FULL` (its queue servers hold 8 MB from this node already)."
}

/** `/v1/dht/:key` → `/v1/dht/{key}`. */
function openApiPath (url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')
}

/** Turns a Fastify `params`/`querystring` object schema into OpenAPI parameter objects. */
function parametersOf (schema: JsonSchema | undefined, where: 'path' | 'query'): Array<Record<string, unknown>> {
  if (schema === undefined) return []
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>
  const required = new Set((schema.required ?? []) as string[])
  return Object.entries(properties).map(([name, property]) => {
    const { description, ...rest } = property
    return { name, in: where, required: where === 'path' || required.has(name), description, schema: rest }
  })
}

function operationOf (route: RouteSpec): Record<string, unknown> {
  const responses: Record<string, unknown> = {}
  if (route.stream !== undefined) {
    responses['200'] = { description: route.stream.description, content: { [route.stream.mediaType]: { schema: { type: 'string' } } } }
  } else if (route.schema.response !== undefined) {
    for (const [status, schema] of Object.entries(route.schema.response) as Array<[string, JsonSchema]>) {
      responses[status] = { description: status === '201' ? 'Created' : status === '202' ? 'Accepted' : 'OK', content: { 'application/json': { schema } } }
    }
  } else {
    responses['200'] = { description: 'OK', content: { 'application/json': { schema: { type: 'object' } } } }
  }
  const statuses = new Set(route.errors)
  if (route.auth !== 'none') statuses.add(401)
  statuses.add(421) // every route: the Host check of src/web (issue 12)
  statuses.add(500)
  for (const status of [...statuses].sort((a, b) => a - b)) {
    responses[String(status)] = { $ref: `#/components/responses/E${status}` }
  }
  const operation: Record<string, unknown> = {
    operationId: route.operationId,
    summary: route.summary,
    description: route.description,
    parameters: [...parametersOf(route.schema.params, 'path'), ...parametersOf(route.schema.querystring, 'query')],
    responses
  }
  if (route.schema.body !== undefined) {
    operation.requestBody = { required: route.bodyOptional !== true, content: { 'application/json': { schema: route.schema.body } } }
  }
  if (route.auth === 'none') operation.security = []
  if (route.auth === 'bearer-or-query') operation.security = [{ bearerAuth: [] }, { queryToken: [] }]
  return operation
}

/**
 * Builds the OpenAPI 3.1 document of the API from {@link ROUTES}.
 * @param serverUrl - base URL to list under `servers` (e.g. `http://127.0.0.1:7450`); omitted when undefined
 * @returns a fresh JSON-serializable object (callers may mutate it)
 */
export function buildOpenApiDocument (serverUrl?: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const route of Object.values(ROUTES) as RouteSpec[]) {
    const path = openApiPath(route.url)
    paths[path] ??= {}
    paths[path][route.method.toLowerCase()] = operationOf(route)
  }
  const responses: Record<string, unknown> = {}
  for (const [status, description] of Object.entries(STATUS_DESCRIPTIONS)) {
    responses[`E${status}`] = { description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }
  }
  const doc: Record<string, unknown> = {
    openapi: '3.1.0',
    info: {
      title: 'Umbra node HTTP API',
      version: API_VERSION,
      description: 'Control a running Umbra node: identity, peers, NAT status and hole punching, DHT records, direct and anonymous messages, pseudonyms, the mix network and an event stream (DESIGN.md section 7). Bound to 127.0.0.1 by default. Every route except `/v1/health` and `/v1/openapi.json` needs `Authorization: Bearer <token>`; the token is in the data directory. Errors are `{"error":{"code":"UMBRA_ERR_…","message":"…"}}`, also for requests refused before routing: malformed HTTP (400 `UMBRA_ERR_BAD_REQUEST`), a URL parameter over 4 KiB (414 `UMBRA_ERR_BAD_REQUEST`), headers over 16 KiB (431 `UMBRA_ERR_HEADERS_TOO_LARGE`) and headers not received within 10 s or a request within 30 s (408 `UMBRA_ERR_REQUEST_TIMEOUT`); these close the connection. Every GET route also answers HEAD. Bodies are JSON; unknown fields and a JSON `null` body are rejected.'
    },
    ...(serverUrl !== undefined ? { servers: [{ url: serverUrl }] } : {}),
    security: [{ bearerAuth: [] }],
    paths,
    components: {
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'The API token from the data directory.' },
        queryToken: { type: 'apiKey', in: 'query', name: 'token', description: 'The API token as `?token=`; only on `/v1/events`.' }
      },
      schemas: COMPONENT_SCHEMAS,
      responses
    }
  }
  return structuredClone(doc)
}
