import {
  API_VERSION,
  MAX_DHT_KEY_BYTES,
  MAX_DHT_TTL_S,
  MAX_DHT_VALUE_BYTES,
  MAX_MESSAGE_BYTES,
  MAX_RECIPIENT_CHARS,
  MESSAGE_SEND_TIMEOUT_MS,
  MIN_DHT_TTL_S,
  SSE_HEARTBEAT_MS
} from './constants.ts'

/**
 * The route table of the HTTP API and its OpenAPI 3.1 document (DESIGN.md
 * section 7, issue 2). Every JSON schema here is defined once and used twice:
 * by Fastify to validate requests and serialize responses (src/api/server.ts)
 * and in the document served at `GET /v1/openapi.json`.
 *
 * Schemas use only keywords that mean the same in JSON Schema draft-07 (Ajv,
 * Fastify's validator) and 2020-12 (OpenAPI 3.1). Query parameters are
 * strings (the validator does not coerce types, so `ttl: "60"` in a body is
 * rejected rather than guessed at); handlers parse them.
 */

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

/** One received message as `GET /v1/messages` lists it and the `message` event carries it. */
const messageEntrySchema = {
  type: 'object',
  required: ['id', 'from', 'fromKey', 'body', 'encoding', 'sentAt', 'receivedAt'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', description: 'Message id chosen by the sender, 32 lowercase hex characters.' },
    from: { type: 'string', description: "Sender's PeerId (base58btc), proven by its signature." },
    fromKey: { type: 'string', description: "Sender's transport key, `key_<base58btc>`." },
    body: { type: 'string', description: 'The body: UTF-8 text when the bytes are valid UTF-8, else base64.' },
    encoding: { type: 'string', enum: ['utf8', 'base64'], description: 'How `body` is written.' },
    sentAt: { type: 'integer', description: "Sender's clock at sending, ms since the Unix epoch (not trusted)." },
    receivedAt: { type: 'integer', description: "This node's clock at receipt, ms since the Unix epoch." }
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
  /** Response schemas by status; only 200 is given to Fastify (errors are sent by the error handler). */
  response?: { 200: JsonSchema }
}

/**
 * How a route is authenticated: `none`, the bearer header, or (only for the
 * event stream, which `EventSource` cannot give headers) the header or
 * `?token=`.
 */
export type RouteAuth = 'none' | 'bearer' | 'bearer-or-query'

/** One route of the API: what Fastify registers and what the OpenAPI document says about it. */
export interface RouteSpec {
  method: 'GET' | 'PUT' | 'POST'
  /** Fastify path, e.g. `/v1/dht/:key`. */
  url: string
  operationId: string
  summary: string
  description: string
  auth: RouteAuth
  schema: RouteSchema
  /** Error statuses this route may answer, documented in the OpenAPI file (401 is added for authenticated routes, 500 for all). */
  errors: number[]
  /** For a route that is not JSON: its media type and description (the event stream). */
  stream?: { mediaType: string, description: string }
}

/**
 * Every route of the API. src/api/server.ts registers a handler for each key;
 * the OpenAPI document is generated from the same objects.
 */
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
    description: 'PeerId, transport key, role, listening multiaddrs and the number of connected peers.',
    auth: 'bearer',
    schema: {
      querystring: noQuerySchema,
      response: {
        200: {
          type: 'object',
          required: ['peerId', 'key', 'role', 'addrs', 'peers'],
          additionalProperties: false,
          properties: {
            peerId: { type: 'string', description: 'PeerId, base58btc.' },
            key: { type: 'string', description: 'Transport public key, `key_<base58btc>`.' },
            role: { type: 'string', enum: ['server', 'client'], description: 'DESIGN.md section 2.' },
            addrs: { type: 'array', items: { type: 'string' }, description: 'Listening multiaddrs, each ending in `/p2p/<PeerId>`.' },
            peers: { type: 'integer', minimum: 0, description: 'Number of connected peers.' }
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
  dhtPut: {
    method: 'PUT',
    url: '/v1/dht/:key',
    operationId: 'putDhtRecord',
    summary: 'Store a signed record in the DHT',
    description: `Signs \`value\` under \`key\` with the node's key and stores it on the closest nodes and locally. \`value\` is at most ${MAX_DHT_VALUE_BYTES} bytes once decoded (413 \`UMBRA_ERR_VALUE_TOO_LARGE\` above). The first publisher owns a key until its record expires: another node's put answers 409 \`UMBRA_ERR_KEY_OWNED\`. Errors: 400 \`UMBRA_ERR_BAD_REQUEST\`, \`UMBRA_ERR_INVALID_KEY_NAME\`, \`UMBRA_ERR_INVALID_TTL\`; 504 \`UMBRA_ERR_ABORTED\`/\`UMBRA_ERR_TIMEOUT\`.`,
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
    errors: [400, 409, 413, 415, 503, 504]
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
  messageSend: {
    method: 'POST',
    url: '/v1/messages',
    operationId: 'sendMessage',
    summary: 'Send a direct, end-to-end encrypted message',
    description: `Encrypts \`body\` to the recipient, sends it and waits for the recipient's acknowledgement (up to ${MESSAGE_SEND_TIMEOUT_MS / 1000} s). \`body\` is at most ${MAX_MESSAGE_BYTES} bytes once decoded (413 \`UMBRA_ERR_MESSAGE_TOO_LARGE\`); send large or binary bodies as base64. Errors: 400 \`UMBRA_ERR_INVALID_RECIPIENT\`, \`UMBRA_ERR_INVALID_KEY\`, \`UMBRA_ERR_KEY_CHECKSUM\`; 502 \`UMBRA_ERR_DELIVERY_FAILED\`; 504 \`UMBRA_ERR_ABORTED\`/\`UMBRA_ERR_TIMEOUT\`.`,
    auth: 'bearer',
    schema: {
      querystring: noQuerySchema,
      body: {
        type: 'object',
        required: ['to', 'body'],
        additionalProperties: false,
        properties: {
          to: { type: 'string', minLength: 1, maxLength: MAX_RECIPIENT_CHARS, description: 'Recipient: PeerId (`12D3Koo…`) or transport key (`key_…`).' },
          body: { type: 'string', description: `The body, written as \`encoding\` says; at most ${MAX_MESSAGE_BYTES} bytes once decoded.` },
          encoding: { ...encodingSchema, default: 'utf8' }
        }
      },
      response: {
        200: {
          type: 'object',
          required: ['id', 'to', 'rttMs'],
          additionalProperties: false,
          properties: {
            id: { type: 'string', description: 'Message id, 32 hex characters.' },
            to: { type: 'string', description: "Recipient's PeerId." },
            rttMs: { type: 'number', minimum: 0, description: 'Time from sending until the acknowledgement, ms.' }
          }
        }
      }
    },
    errors: [400, 413, 415, 502, 503, 504]
  },
  messageList: {
    method: 'GET',
    url: '/v1/messages',
    operationId: 'listMessages',
    summary: 'Messages received since the node started',
    description: 'Oldest first, at most the newest 1,000. With `since`, only messages with `receivedAt >= since` (so polling with the last `receivedAt` seen can repeat a message; de-duplicate by `id`).',
    auth: 'bearer',
    schema: {
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          since: { type: 'string', pattern: '^[0-9]{1,15}$', description: 'Only messages received at or after this time, ms since the Unix epoch.' }
        }
      },
      response: {
        200: {
          type: 'object',
          required: ['messages'],
          additionalProperties: false,
          properties: { messages: { type: 'array', items: messageEntrySchema } }
        }
      }
    },
    errors: [400, 503]
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
    errors: [400],
    stream: {
      mediaType: 'text/event-stream',
      description: [
        'Events, each `event: <name>` then one `data: <JSON>` line:',
        '- `peer:connect`, `peer:disconnect`: `{"peerId": "<PeerId>"}`',
        '- `message`: a received message, the same object as an entry of `GET /v1/messages`',
        `A comment line (\`: heartbeat\`) is sent every ${SSE_HEARTBEAT_MS / 1000} s. The stream ends when the server closes.`
      ].join('\n')
    }
  }
} as const satisfies Record<string, RouteSpec>

/** Names of the routes in {@link ROUTES}. */
export type RouteName = keyof typeof ROUTES

/** Schema of the `data` of a `message` event (same as a `GET /v1/messages` entry). */
export const MESSAGE_EVENT_SCHEMA: JsonSchema = messageEntrySchema

/** Schema of the error body every route sends on failure. */
export const ERROR_SCHEMA: JsonSchema = errorSchema

const STATUS_DESCRIPTIONS: Record<number, string> = {
  400: 'Bad request: `UMBRA_ERR_BAD_REQUEST` (a field is missing, unknown, of the wrong type or out of range; the message names it), `UMBRA_ERR_BAD_JSON`, or a service code such as `UMBRA_ERR_INVALID_KEY_NAME`.',
  401: 'Missing or wrong bearer token: `UMBRA_ERR_UNAUTHORIZED`.',
  404: 'Not found: `UMBRA_ERR_NOT_FOUND`.',
  409: 'The DHT key belongs to another publisher until its record expires: `UMBRA_ERR_KEY_OWNED`.',
  413: 'Too large: `UMBRA_ERR_BODY_TOO_LARGE` (request over 1.5 MiB), `UMBRA_ERR_VALUE_TOO_LARGE` or `UMBRA_ERR_MESSAGE_TOO_LARGE`.',
  415: 'The body is not JSON: `UMBRA_ERR_UNSUPPORTED_MEDIA_TYPE`.',
  500: 'Unexpected failure: `UMBRA_ERR_INTERNAL` (details are in the node log).',
  502: 'The recipient could not be reached: `UMBRA_ERR_DELIVERY_FAILED`.',
  503: 'The node is not started (`UMBRA_ERR_NOT_STARTED`) or the API server is closing (`UMBRA_ERR_SHUTTING_DOWN`).',
  504: 'The operation was aborted or timed out: `UMBRA_ERR_ABORTED`, `UMBRA_ERR_TIMEOUT`.'
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
    responses['200'] = { description: 'OK', content: { 'application/json': { schema: route.schema.response[200] } } }
  } else {
    responses['200'] = { description: 'OK', content: { 'application/json': { schema: { type: 'object' } } } }
  }
  const statuses = new Set(route.errors)
  if (route.auth !== 'none') statuses.add(401)
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
    operation.requestBody = { required: true, content: { 'application/json': { schema: route.schema.body } } }
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
      description: 'Control a running Umbra node: identity, peers, DHT records, direct messages and an event stream (DESIGN.md section 7). Bound to 127.0.0.1 by default. Every route except `/v1/health` and `/v1/openapi.json` needs `Authorization: Bearer <token>`; the token is in the data directory. Errors are `{"error":{"code":"UMBRA_ERR_…","message":"…"}}`. Bodies are JSON; unknown fields are rejected.'
    },
    ...(serverUrl !== undefined ? { servers: [{ url: serverUrl }] } : {}),
    security: [{ bearerAuth: [] }],
    paths,
    components: {
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'The API token from the data directory.' },
        queryToken: { type: 'apiKey', in: 'query', name: 'token', description: 'The API token as `?token=`; only on `/v1/events`.' }
      },
      schemas: {
        Error: errorSchema,
        PeerSummary: peerSummarySchema,
        MessageEntry: messageEntrySchema
      },
      responses
    }
  }
  return structuredClone(doc)
}
