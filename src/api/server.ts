import { createHash, timingSafeEqual } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { fastify } from 'fastify'
import { multiaddr } from '@multiformats/multiaddr'
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteGenericInterface, RouteHandlerMethod } from 'fastify'
import { InvalidOptionError, UmbraError } from '../errors.ts'
import { parsePeer } from '../identity/index.ts'
import { resolveRecipient, type OwnedName } from '../names/index.ts'
import { logger } from '../logger.ts'
import { QUOTA_CODES } from '../quota.ts'
import {
  ANONYMOUS_SEND_TIMEOUT_MS,
  API_BODY_LIMIT_BYTES,
  API_HEADERS_TIMEOUT_MS,
  API_OPERATION_TIMEOUT_MS,
  API_REQUEST_TIMEOUT_MS,
  API_TIMEOUT_CHECK_MS,
  CLOSE_GRACE_MS,
  DEFAULT_API_HOST,
  DEFAULT_API_PORT,
  MAX_DHT_KEY_BYTES,
  MAX_DHT_VALUE_BYTES,
  MAX_MESSAGE_BYTES,
  MAX_PARAM_CHARS,
  MAX_REPLY_BYTES,
  SSE_HEARTBEAT_MS,
  SSE_MAX_BUFFERED_BYTES,
  SSE_MAX_STREAMS_PER_TOKEN
} from './constants.ts'
import {
  API_LISTEN_CODE,
  ApiError,
  BadRequestError,
  HEADERS_TOO_LARGE_CODE,
  INVALID_MULTIADDR_CODE,
  MESSAGE_TOO_LARGE_CODE,
  NotFoundError,
  REQUEST_TIMEOUT_CODE,
  SHUTTING_DOWN_CODE,
  TIMEOUT_CODE,
  UnauthorizedError,
  VALUE_TOO_LARGE_CODE,
  toErrorReply
} from './errors.ts'
import { buildOpenApiDocument, ROUTES } from './openapi.ts'
import { instrumentApi, metricsHandler } from '../metrics/api.ts'
import type { RouteAuth, RouteSpec } from './openapi.ts'
import type { AnonymousMessageEntry, DirectMessageEntry, InboxEntry, OwnedNameEntry, ParamsOf, PubSubMessageEntry, QueryOf, ReplyMessageEntry, ResponseOf, ValidatedBodyOf } from './contract.ts'
import type { ApiServer, ApiServerInit } from './index.ts'
import { registerDashboard } from '../web/routes.ts'
import type { UmbraNode, UmbraNodeEvents, PeerEventDetail } from '../node/types.ts'
import type { ReceivedMessage } from '../messaging/types.ts'
import type { AnonymousMessage, AnonymousReply, AnonymousSendOptions, PseudonymInfo } from '../mixnet/types.ts'
import type { HolePunchOptions, NatStatus } from '../nat/types.ts'
import { DEFAULT_MAX_MESSAGE_BYTES } from '../pubsub/constants.ts'
import { PubSubMessageTooLargeError } from '../pubsub/errors.ts'
import type { PubSubMessage } from '../pubsub/types.ts'

const log = logger('api')

/** How a text field of a request or response is written (the contract's `encoding`). */
type Encoding = DirectMessageEntry['encoding']

/**
 * What Fastify's request of route `S` holds after validation: its params,
 * query and body as src/api/contract.ts derives them from the route's schemas.
 */
interface RouteTypes<S> extends RouteGenericInterface {
  Params: ParamsOf<S>
  Querystring: QueryOf<S>
  Body: ValidatedBodyOf<S>
}

/** Options after validation and defaults. */
interface ResolvedInit {
  host: string
  port: number
  token: string
  heartbeatInterval: number
}

/** Visible ASCII, no spaces: what fits in `Authorization: Bearer <token>` and a query string unchanged. */
const TOKEN_RE = /^[\x21-\x7e]{1,1024}$/
const BEARER_RE = /^Bearer[ \t]+(\S+)[ \t]*$/i
const LONE_SURROGATE_RE = /\p{Surrogate}/u
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const utf8Encoder = new TextEncoder()

/**
 * Checks {@link ApiServerInit} and fills in defaults.
 * @throws InvalidOptionError (`UMBRA_ERR_INVALID_OPTION`) naming the field and the fix
 */
function resolveInit (init: ApiServerInit): ResolvedInit {
  if (init == null || typeof init !== 'object') {
    throw new InvalidOptionError('createApiServer: init must be an object with at least { token }')
  }
  if (typeof init.token !== 'string' || !TOKEN_RE.test(init.token)) {
    throw new InvalidOptionError('createApiServer: init.token must be a string of 1 to 1024 visible ASCII characters (no spaces)')
  }
  const host = init.host ?? DEFAULT_API_HOST
  if (typeof host !== 'string' || host.length === 0) {
    throw new InvalidOptionError(`createApiServer: init.host must be a non-empty string such as '${DEFAULT_API_HOST}'`)
  }
  const port = init.port ?? DEFAULT_API_PORT
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidOptionError('createApiServer: init.port must be an integer from 0 to 65535 (0 picks a free port)')
  }
  const heartbeatInterval = init.heartbeatInterval ?? SSE_HEARTBEAT_MS
  if (!Number.isInteger(heartbeatInterval) || heartbeatInterval < 1 || heartbeatInterval > 2 ** 31 - 1) {
    throw new InvalidOptionError('createApiServer: init.heartbeatInterval must be a positive integer number of milliseconds')
  }
  return { host, port, token: init.token, heartbeatInterval }
}

/** Bytes as text: UTF-8 when they are valid UTF-8 (a BOM is kept), else base64. */
function encodeBytes (bytes: Uint8Array): { text: string, encoding: Encoding } {
  try {
    return { text: utf8Decoder.decode(bytes), encoding: 'utf8' }
  } catch {
    return { text: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'), encoding: 'base64' }
  }
}

/**
 * Decodes a request's text field to bytes, refusing more than `maxBytes`
 * before allocating them.
 * @param field - name used in messages, e.g. `body.value`
 * @throws BadRequestError when base64 is not canonical padded base64 or UTF-8 text holds a lone surrogate;
 *   ApiError 413 `tooLargeCode` when the decoded bytes would exceed `maxBytes`
 */
function decodeText (field: string, text: string, encoding: Encoding, maxBytes: number, tooLargeCode: string): Uint8Array {
  const tooLarge = (): ApiError => new ApiError(tooLargeCode, `${field} is larger than ${maxBytes} bytes once decoded`)
  if (encoding === 'base64') {
    if (Math.floor(text.length / 4) * 3 > maxBytes + 2) throw tooLarge()
    const buf = Buffer.from(text, 'base64')
    if (buf.toString('base64') !== text) {
      throw new BadRequestError(`${field} is not valid base64 (standard alphabet, with = padding)`)
    }
    if (buf.byteLength > maxBytes) throw tooLarge()
    return new Uint8Array(buf)
  }
  if (Buffer.byteLength(text, 'utf8') > maxBytes) throw tooLarge()
  if (LONE_SURROGATE_RE.test(text)) {
    throw new BadRequestError(`${field} holds a lone UTF-16 surrogate, which is not valid UTF-8; send bytes as base64`)
  }
  return utf8Encoder.encode(text)
}

function toMessageEntry (msg: ReceivedMessage): DirectMessageEntry {
  const { text, encoding } = encodeBytes(msg.body)
  return { kind: 'direct', anonymous: false, id: msg.id, from: msg.from, fromKey: msg.fromKey, body: text, encoding, sentAt: msg.sentAt, receivedAt: msg.receivedAt }
}

function toAnonymousEntry (msg: AnonymousMessage): AnonymousMessageEntry {
  const { text, encoding } = encodeBytes(msg.body)
  return { kind: 'anonymous', anonymous: true, id: msg.id, from: null, to: msg.to, body: text, encoding, sentAt: msg.sentAt, receivedAt: msg.receivedAt, repliesLeft: msg.repliesLeft }
}

function toReplyEntry (reply: AnonymousReply & { id: string }): ReplyMessageEntry {
  const { text, encoding } = encodeBytes(reply.body)
  return { kind: 'reply', anonymous: true, id: reply.id, from: null, inReplyTo: reply.inReplyTo, body: text, encoding, receivedAt: reply.receivedAt }
}

/** A pub/sub message as `GET /v1/pubsub/{topic}/messages` and the `pubsub:message` event write it. */
function toPubSubEntry (m: PubSubMessage): PubSubMessageEntry {
  const { text, encoding } = encodeBytes(m.data)
  return { topic: m.topic, id: m.id, from: m.from ?? null, data: text, encoding, timestamp: m.timestamp, via: m.via }
}

/** A pseudonym without `label: undefined` (the response schema omits absent fields anyway). */
function toPseudonymEntry (p: PseudonymInfo): PseudonymInfo {
  return { key: p.key, gateways: [...p.gateways], ...(p.label !== undefined ? { label: p.label } : {}), createdAt: p.createdAt, online: p.online, gatewayStates: p.gatewayStates.map((g) => ({ ...g })) }
}

/** One open `GET /v1/events` stream. */
interface EventStream {
  /** Ends the response and releases its listeners and timer. Idempotent. */
  end(): void
}

/**
 * The HTTP API over one node (DESIGN.md section 7, issue 2). Built and
 * started by {@link createApiServer}.
 */
class HttpApiServer implements ApiServer {
  readonly #node: UmbraNode
  readonly #init: ResolvedInit
  readonly #app: FastifyInstance
  /** SHA-256 of the token, so comparison is constant-time over equal-length buffers whatever is presented. */
  readonly #tokenDigest: Buffer
  readonly #streams = new Set<EventStream>()
  /** `GET /v1/events` refused over SSE_MAX_STREAMS_PER_TOKEN (reported as `event-streams` by `GET /v1/quotas`). */
  #refusedStreams = 0
  /** Aborted by `close()`: ends every in-flight service call. */
  readonly #shutdown = new AbortController()
  #closing: Promise<void> | undefined
  #url = ''

  constructor (node: UmbraNode, init: ResolvedInit) {
    this.#node = node
    this.#init = init
    this.#tokenDigest = createHash('sha256').update(init.token, 'utf8').digest()
    this.#app = fastify({
      logger: false,
      bodyLimit: API_BODY_LIMIT_BYTES,
      routerOptions: { maxParamLength: MAX_PARAM_CHARS },
      // Reject what does not match instead of coercing (`value: 123` is not
      // the string "123") or silently dropping unknown fields.
      ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: true, allErrors: false } },
      forceCloseConnections: 'idle',
      // Fastify's own 503 body is not our error shape; the onRequest hook answers instead.
      return503OnClosing: false,
      // Slowloris: headers must arrive within API_HEADERS_TIMEOUT_MS, checked every API_TIMEOUT_CHECK_MS (issue 10).
      http: { headersTimeout: API_HEADERS_TIMEOUT_MS, connectionsCheckingInterval: API_TIMEOUT_CHECK_MS },
      requestTimeout: API_REQUEST_TIMEOUT_MS,
      // Malformed HTTP, oversized headers, a request timeout: answered in our error shape, not Fastify's.
      clientErrorHandler: writeClientError,
      // Bad percent-encoding in the path and the like, before routing.
      frameworkErrors: (err, _request, res) => {
        const reply = res as FastifyReply
        const { statusCode, code } = toErrorReply(err)
        void reply.code(statusCode < 500 ? statusCode : 400).send({ error: { code, message: 'Malformed request URL' } })
      }
    })
    this.#configure()
  }

  get url (): string {
    return this.#url
  }

  /** Binds the socket; fills in {@link url}. */
  async listen (): Promise<void> {
    try {
      await this.#app.listen({ host: this.#init.host, port: this.#init.port })
    } catch (err) {
      await this.#app.close().catch(() => {})
      const reason = (err as { code?: unknown }).code ?? (err as Error).message
      throw new UmbraError(`Cannot listen on ${this.#init.host}:${this.#init.port} (${String(reason)})`, API_LISTEN_CODE, { cause: err })
    }
    const address = this.#app.server.address() as AddressInfo
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
    this.#url = `http://${host}:${address.port}`
    log.info({ url: this.#url }, 'API listening')
  }

  close (): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close (): Promise<void> {
    this.#shutdown.abort()
    for (const stream of this.#streams) stream.end()
    const force = setTimeout(() => { this.#app.server.closeAllConnections() }, CLOSE_GRACE_MS)
    try {
      await this.#app.close()
    } finally {
      clearTimeout(force)
    }
    log.info('API closed')
  }

  #configure (): void {
    const app = this.#app
    // Only JSON bodies: a text/plain body is 415, not a string that fails validation.
    app.removeContentTypeParser('text/plain')

    app.addHook('onRequest', async (_request, reply) => {
      void reply.header('cache-control', 'no-store').header('x-content-type-options', 'nosniff')
      if (this.#shutdown.signal.aborted) {
        void reply.header('connection', 'close')
        throw new ApiError(SHUTTING_DOWN_CODE, 'The API server is closing')
      }
    })

    app.setErrorHandler((err, request, reply) => {
      const { statusCode, code, message } = toErrorReply(err)
      if (statusCode === 500) {
        log.error({ err, method: request.method, route: request.routeOptions.url }, 'request failed')
      } else if (statusCode >= 500) {
        log.info({ code, method: request.method, route: request.routeOptions.url }, 'request failed')
      } else {
        log.debug({ code, method: request.method, route: request.routeOptions.url }, 'request rejected')
      }
      if (statusCode === 401) void reply.header('www-authenticate', 'Bearer realm="umbra"')
      void reply.code(statusCode).send({ error: { code, message } })
    })

    app.setNotFoundHandler((request, reply) => {
      const path = request.url.split('?', 1)[0] ?? ''
      void reply.code(404).send({ error: { code: NotFoundError.code, message: `No route ${request.method} ${path}` } })
    })

    // The web page at `/` and the Host check against DNS rebinding on every route (src/web, issue 12).
    registerDashboard(app, { host: this.#init.host })

    this.#route(ROUTES.health, async () => ({ status: 'ok' as const }))

    const openApi = buildOpenApiDocument()
    this.#route(ROUTES.openapi, async () => openApi)

    this.#route(ROUTES.node, async () => {
      const node = this.#startedNode()
      return { peerId: node.peerId, key: node.key, role: node.role, addrs: node.getMultiaddrs(), peers: node.getPeers().length, nat: toNatEntry(node.nat.status()), ...(node.wallet != null ? { wallet: node.wallet } : {}) }
    })

    this.#route(ROUTES.peers, async () => ({ peers: this.#startedNode().getPeers() }))
    this.#route(ROUTES.peerPaths, async (request) => {
      const node = this.#startedNode()
      const paths = await node.messaging.paths(request.params.peer)
      return { peerId: parsePeer(request.params.peer).toString(), paths }
    })

    this.#route(ROUTES.natHolePunch, async (request, reply) => {
      const node = this.#startedNode()
      const { addrs, timeout } = request.body
      // A name resolves to its peer record (src/names).
      const peer = await this.#withSignal(reply, async (signal) => await resolveRecipient(node.names, request.body.peer, 'peer', signal))
      if (addrs !== undefined) checkPeerAddrs(peer, addrs)
      const options: HolePunchOptions = {}
      if (addrs !== undefined) options.addrs = addrs
      if (timeout !== undefined) options.timeout = timeout
      const result = await this.#withSignal(reply, (signal) => node.nat.holePunch(peer, { ...options, signal }))
      return {
        peer: result.peer,
        path: result.path,
        method: result.method,
        rttMs: result.rttMs,
        elapsedMs: result.elapsedMs,
        remoteAddr: result.remoteAddr,
        ...(result.reason !== undefined ? { reason: result.reason } : {})
      }
    })

    this.#route(ROUTES.dhtPut, async (request, reply) => {
      const node = this.#startedNode()
      const key = checkDhtKey(request.params.key)
      const { value, encoding, ttl } = request.body
      const bytes = decodeText('body.value', value, encoding, MAX_DHT_VALUE_BYTES, VALUE_TOO_LARGE_CODE)
      const result = await this.#withSignal(reply, (signal) => node.dht.put(key, bytes, {
        ...(ttl !== undefined ? { ttl: ttl * 1000 } : {}),
        signal
      }))
      return { key: result.key, seq: result.seq, expiresAt: result.expiresAt, storedOn: result.storedOn }
    })

    this.#route(ROUTES.dhtGet, async (request, reply) => {
      const node = this.#startedNode()
      const key = checkDhtKey(request.params.key)
      const fresh = request.query.fresh === 'true'
      const record = await this.#withSignal(reply, (signal) => node.dht.get(key, { fresh, signal }))
      if (record === undefined) throw new NotFoundError('No valid record for this key')
      const { text, encoding } = encodeBytes(record.value)
      return { key: record.key, value: text, encoding, publisher: record.publisher, seq: record.seq, expiresAt: record.expiresAt, source: record.source }
    })

    this.#route(ROUTES.registryLookup, async (request, reply) => {
      const node = this.#startedNode()
      const rec = await this.#withSignal(reply, (signal) => node.registry.lookup(request.params.peer, { fresh: request.query.fresh === 'true', signal }))
      const opened = rec.sealed ? node.registry.openMetadata(rec) : undefined
      const metadata = opened ?? rec.metadata
      return {
        peerId: rec.peerId, key: rec.key, role: rec.role, addrs: rec.addrs, lastSeen: rec.lastSeen, sealed: rec.sealed, seq: rec.seq, expiresAt: rec.expiresAt,
        ...(metadata.byteLength > 0 ? { metadata: Buffer.from(metadata).toString('base64') } : {}),
        ...(rec.queueServers.length > 0 ? { queueServers: rec.queueServers } : {}),
        ...(rec.sealed ? { opened: opened != null } : {})
      }
    })

    this.#route(ROUTES.namesRegister, async (request, reply) => {
      const node = this.#startedNode()
      const { name, records, ttl, cacheTtl, renew } = request.body
      const result = await this.#withSignal(reply, async (signal) => await node.names.register(name, records, {
        ...(ttl !== undefined ? { ttl: ttl * 1000 } : {}),
        ...(cacheTtl !== undefined ? { cacheTtl: cacheTtl * 1000 } : {}),
        ...(renew !== undefined ? { renew } : {}),
        signal
      }))
      void reply.code(result.created ? 201 : 200)
      return { ...toOwnedNameEntry(result.name), storedOn: result.storedOn }
    })

    this.#route(ROUTES.namesList, async () => ({ names: this.#startedNode().names.list().map(toOwnedNameEntry) }))

    this.#route(ROUTES.namesResolve, async (request, reply) => {
      const node = this.#startedNode()
      const answer = await this.#withSignal(reply, async (signal) => await node.names.resolve(request.params.name, { fresh: request.query.fresh === 'true', signal }))
      return { ...answer, cacheTtl: Math.round(answer.cacheTtl / 1000) }
    })

    this.#route(ROUTES.discoveryAdvertise, async (request, reply) => {
      const node = this.#startedNode()
      const pseudonym = request.body.pseudonym
      return await this.#withSignal(reply, (signal) => node.discovery.advertise(request.params.namespace, { ...(pseudonym != null ? { pseudonym } : {}), signal }))
    })

    this.#route(ROUTES.discoveryUnadvertise, async (request, reply) => {
      const node = this.#startedNode()
      const pseudonym = request.query.pseudonym
      await this.#withSignal(reply, (signal) => node.discovery.unadvertise(request.params.namespace, { ...(pseudonym != null ? { pseudonym } : {}), signal }))
      return { namespace: request.params.namespace, removed: true as const }
    })

    this.#route(ROUTES.discoveryFind, async (request, reply) => {
      const node = this.#startedNode()
      const { namespace } = request.params
      const limit = request.query.limit != null ? Number(request.query.limit) : undefined
      if (request.query.anonymous === 'true') {
        const pseudonyms = await this.#withSignal(reply, (signal) => node.discovery.find(namespace, { anonymous: true, ...(limit != null ? { limit } : {}), signal }))
        return { namespace, anonymous: true, pseudonyms }
      }
      const peers = await this.#withSignal(reply, (signal) => node.discovery.find(namespace, { ...(limit != null ? { limit } : {}), signal }))
      return { namespace, anonymous: false, peers }
    })

    this.#route(ROUTES.messageSend, async (request, reply) => {
      const node = this.#startedNode()
      const { body, encoding, anonymous, hops, wait, replySurbs } = request.body
      const bytes = decodeText('body.body', body, encoding, MAX_MESSAGE_BYTES, MESSAGE_TOO_LARGE_CODE)
      // A name resolves to its peer record (direct) or its pseudonym record (anonymous) (src/names).
      const to = await this.#withSignal(reply, async (signal) => await resolveRecipient(node.names, request.body.to, anonymous ? 'pseudonym' : 'peer', signal))
      if (!anonymous) {
        const id = request.body.id
        const receipt = await this.#withSignal(reply, (signal) => node.messaging.send(to, bytes, { signal, ...(id !== undefined ? { id } : {}) }))
        // Issue 11: 200 when the recipient acknowledged it, 202 when it waits in the recipient's offline queue.
        if (receipt.path === 'queued') void reply.code(202)
        return { id: receipt.id, to: receipt.to, anonymous: false, path: receipt.path, ...(receipt.servers !== undefined ? { servers: receipt.servers } : {}), rttMs: receipt.rttMs }
      }
      if (!to.startsWith('key_')) {
        throw new ApiError('UMBRA_ERR_INVALID_RECIPIENT', 'body.to must be a pseudonym (key_…) when "anonymous" is true; a PeerId would name the recipient\'s node')
      }
      const options: AnonymousSendOptions = { timeout: ANONYMOUS_SEND_TIMEOUT_MS }
      if (hops !== undefined) options.hops = hops
      if (wait !== undefined) options.wait = wait
      if (replySurbs !== undefined) options.replySurbs = replySurbs
      const receipt = await this.#withSignal(reply, (signal) => node.mixnet.send(to, bytes, { ...options, signal }))
      return {
        id: receipt.id,
        to: receipt.to,
        anonymous: true,
        fragments: receipt.fragments,
        retransmissions: receipt.retransmissions,
        status: receipt.status,
        rttMs: receipt.rttMs,
        gateways: receipt.gateways,
        gatewayFailovers: receipt.gatewayFailovers,
        ...(receipt.queuedMs != null ? { queuedMs: receipt.queuedMs } : {})
      }
    })

    this.#route(ROUTES.messageReply, async (request, reply) => {
      const node = this.#startedNode()
      const { id } = request.params
      const bytes = decodeText('body.body', request.body.body, request.body.encoding, MAX_REPLY_BYTES, 'UMBRA_ERR_REPLY_TOO_LARGE')
      await this.#withSignal(reply, (signal) => node.mixnet.reply(id, bytes, { signal }))
      const repliesLeft = node.mixnet.inbox().find((m) => m.id === id)?.repliesLeft ?? 0
      return { id, repliesLeft }
    })

    this.#route(ROUTES.messageStatus, async (request) => {
      const outcome = this.#startedNode().mixnet.outcome(request.params.id)
      if (outcome === undefined) throw new NotFoundError(`No anonymous message ${request.params.id} was sent by this node in the last 10 minutes`)
      return outcome
    })

    this.#route(ROUTES.messageList, async (request) => {
      const node = this.#startedNode()
      const { since, limit, before } = request.query
      const page = node.inbox.list({
        ...(since !== undefined ? { since: Number(since) } : {}),
        ...(limit !== undefined ? { limit: Number(limit) } : {}),
        ...(before !== undefined ? { before } : {})
      })
      // Reply blocks are spent through the mixnet: its count is the live one.
      const repliesLeft = new Map(node.mixnet.inbox().map((m) => [m.id, m.repliesLeft]))
      const messages: InboxEntry[] = page.messages.map((m) => m.kind === 'direct'
        ? toMessageEntry(m)
        : m.kind === 'anonymous' ? toAnonymousEntry({ ...m, repliesLeft: repliesLeft.get(m.id) ?? 0 }) : toReplyEntry(m))
      return { messages, ...(page.next !== undefined ? { next: page.next } : {}) }
    })

    this.#route(ROUTES.messageDelete, async (request) => {
      this.#startedNode().inbox.delete(request.params.id)
      return { id: request.params.id, deleted: true as const }
    })

    this.#route(ROUTES.messageAck, async (request) => {
      return this.#startedNode().inbox.ack(request.body.ids)
    })

    // Pub/sub (issue 13, docs/pubsub.md)
    this.#route(ROUTES.pubsubSubscriptions, async () => {
      const { pubsub } = this.#startedNode()
      return { topics: pubsub.topics().map((topic) => ({ topic, peers: pubsub.peers(topic) })) }
    })

    this.#route(ROUTES.pubsubSubscribe, async (request, reply) => {
      const { pubsub } = this.#startedNode()
      const since = request.body?.since
      return await this.#withSignal(reply, async (signal) => await pubsub.subscribe(request.params.topic, { signal, ...(since !== undefined ? { since } : {}) }))
    })

    this.#route(ROUTES.pubsubUnsubscribe, async (request) => {
      await this.#startedNode().pubsub.unsubscribe(request.params.topic)
      return { topic: request.params.topic, removed: true as const }
    })

    this.#route(ROUTES.pubsubPublish, async (request, reply) => {
      const { pubsub } = this.#startedNode()
      const { data, encoding, anonymous, hops, pseudonym } = request.body
      if (hops !== undefined && !anonymous) throw new BadRequestError('body.hops needs "anonymous": true')
      const bytes = decodeText('body.data', data, encoding, DEFAULT_MAX_MESSAGE_BYTES, PubSubMessageTooLargeError.code)
      const res = await this.#withSignal(reply, async (signal) => await pubsub.publish(request.params.topic, bytes, { signal, anonymous, ...(hops !== undefined ? { hops } : {}), ...(pseudonym !== undefined ? { pseudonym } : {}) }))
      return { topic: request.params.topic, ...res }
    })

    this.#route(ROUTES.pubsubMessages, async (request) => {
      const { pubsub } = this.#startedNode()
      const { since, limit } = request.query
      const messages = pubsub.messages(request.params.topic, { since: since !== undefined ? Number(since) : 0, ...(limit !== undefined ? { limit: Number(limit) } : {}) })
      return { topic: request.params.topic, messages: messages.map(toPubSubEntry) }
    })

    this.#route(ROUTES.pseudonymCreate, async (request, reply) => {
      const node = this.#startedNode()
      const label = request.body?.label
      const gateways = request.body?.gateways
      const info = await this.#withSignal(reply, (signal) => node.pseudonyms.create({ ...(label !== undefined ? { label } : {}), ...(gateways !== undefined ? { gateways } : {}), signal }))
      void reply.code(201)
      return toPseudonymEntry(info)
    })

    this.#route(ROUTES.pseudonymList, async () => {
      return { pseudonyms: this.#startedNode().pseudonyms.list().map(toPseudonymEntry) }
    })

    this.#route(ROUTES.pseudonymPurge, async (request) => {
      const node = this.#startedNode()
      return await node.pseudonyms.purgeMailbox(request.params.key, { all: request.body?.all === true })
    })

    this.#route(ROUTES.authChallenge, async (request) => {
      const { purpose, ttlMs } = request.body
      return { challenge: this.#startedNode().auth.challenge({ purpose, ...(ttlMs != null ? { ttlMs } : {}) }) }
    })

    this.#route(ROUTES.authRespond, async (request) => ({ response: await this.#startedNode().auth.respond(request.body.challenge, request.body.key) }))

    this.#route(ROUTES.authVerify, async (request) => {
      const { challenge, response, purpose, key } = request.body
      return await this.#startedNode().auth.verify(challenge, response, { ...(purpose != null ? { purpose } : {}), ...(key != null ? { key } : {}) })
    })

    this.#route(ROUTES.authProve, async (request, reply) => {
      const node = this.#startedNode()
      const peer = parsePeer(request.body.peer)
      return await this.#withSignal(reply, async (signal) => await node.auth.prove(peer, { purpose: request.body.purpose, signal }))
    })

    // Issue 14, item 2: ring signatures with this node's keys (docs/proofs.md)
    this.#route(ROUTES.proofRingSign, async (request) => {
      const { message, encoding, ring, scope } = request.body
      const bytes = decodeText('body.message', message, encoding, MAX_MESSAGE_BYTES, MESSAGE_TOO_LARGE_CODE)
      const { signature, keyImage } = this.#startedNode().proofs.ringSign(bytes, ring, { scope })
      return { signature: Buffer.from(signature).toString('base64'), keyImage: Buffer.from(keyImage).toString('hex') }
    })

    this.#route(ROUTES.proofRingVerify, async (request) => {
      const { message, encoding, ring, scope } = request.body
      const bytes = decodeText('body.message', message, encoding, MAX_MESSAGE_BYTES, MESSAGE_TOO_LARGE_CODE)
      const signature = decodeText('body.signature', request.body.signature, 'base64', MAX_MESSAGE_BYTES, MESSAGE_TOO_LARGE_CODE)
      const { valid, keyImage } = this.#startedNode().proofs.ringVerify(bytes, ring, signature, { scope })
      return { valid, keyImage: Buffer.from(keyImage).toString('hex') }
    })

    this.#route(ROUTES.mixnet, async () => {
      const mixnet = this.#startedNode().mixnet
      const { meanDelayMs, loopRate, dropRate, payloadRate } = mixnet.parameters
      const replyGateway = mixnet.replyGateway()
      const traffic = mixnet.traffic?.()
      return { preset: mixnet.preset, parameters: { meanDelayMs, loopRate, dropRate, payloadRate }, directory: mixnet.directory(), counters: mixnet.counters(), suspects: mixnet.suspects(), ...(replyGateway != null ? { replyGateway } : {}), ...(traffic != null ? { traffic } : {}) }
    })

    this.#route(ROUTES.quotas, async () => {
      const { refused } = this.#startedNode().quotas()
      return { refused: { ...refused, 'event-streams': refused['event-streams'] + this.#refusedStreams } }
    })

    instrumentApi(app, () => this.#node.isStarted ? this.#node.metrics : undefined)
    this.#route(ROUTES.metrics, metricsHandler(() => this.#startedNode().metrics))

    this.#route(ROUTES.events, async (request, reply) => {
      this.#startedNode()
      // HEAD (exposeHeadRoutes): the headers of the stream, then the end; a stream that sends no body would never end.
      if (request.method === 'HEAD') {
        void reply.header('content-type', 'text/event-stream; charset=utf-8')
        return ''
      }
      if (this.#streams.size >= SSE_MAX_STREAMS_PER_TOKEN) {
        this.#refusedStreams++
        throw new ApiError(QUOTA_CODES['event-streams'], `At most ${SSE_MAX_STREAMS_PER_TOKEN} event streams may be open at once; close one first`)
      }
      this.#openEventStream(request, reply)
    })
  }

  /**
   * Registers one route of {@link ROUTES}: its schema, its auth hook and the
   * handler. The handler's return value is the 200 body.
   */
  #route<S extends RouteSpec> (spec: S, handler: (request: FastifyRequest<RouteTypes<S>>, reply: FastifyReply) => Promise<ResponseOf<S> | undefined>): void {
    const auth = spec.auth
    this.#app.route({
      method: spec.method,
      url: spec.url,
      schema: spec.schema,
      ...(auth !== 'none' ? { onRequest: async (request: FastifyRequest) => { this.#authorize(request, auth) } } : {}),
      // No body at all (no Content-Type either) counts as `{}` where the route allows it; a JSON `null` is
      // a body, and not an object: the schema refuses it (400).
      ...(spec.bodyOptional === true ? { preValidation: async (request: FastifyRequest) => { if (request.body === undefined) request.body = {} } } : {}),
      // The 200 body is checked and serialized by the route's response schema.
      handler: handler as unknown as RouteHandlerMethod
    })
  }

  /**
   * Checks the bearer token in constant time (SHA-256 digests compared with
   * `timingSafeEqual`).
   * @throws UnauthorizedError (401 `UMBRA_ERR_UNAUTHORIZED`)
   */
  #authorize (request: FastifyRequest, auth: RouteAuth): void {
    const header = request.headers.authorization
    let presented: string | undefined
    if (header !== undefined) {
      presented = BEARER_RE.exec(header)?.[1]
    } else if (auth === 'bearer-or-query') {
      const token = (request.query as Record<string, unknown> | undefined)?.token
      presented = typeof token === 'string' ? token : undefined
    }
    if (presented === undefined) throw new UnauthorizedError()
    const digest = createHash('sha256').update(presented, 'utf8').digest()
    if (!timingSafeEqual(digest, this.#tokenDigest)) throw new UnauthorizedError()
  }

  /** @throws ApiError 503 `UMBRA_ERR_NOT_STARTED` when the node is not running */
  #startedNode (): UmbraNode {
    if (!this.#node.isStarted) throw new ApiError('UMBRA_ERR_NOT_STARTED', 'The node is not started')
    return this.#node
  }

  /**
   * Runs a service call with a signal that aborts when the client goes away,
   * when the server closes, or after {@link API_OPERATION_TIMEOUT_MS}.
   * @throws ApiError 504 `UMBRA_ERR_TIMEOUT` when the timeout ended the call
   */
  async #withSignal<T> (reply: FastifyReply, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const clientGone = new AbortController()
    const onClose = (): void => { if (!reply.raw.writableFinished) clientGone.abort() }
    reply.raw.once('close', onClose)
    const timeout = AbortSignal.timeout(API_OPERATION_TIMEOUT_MS)
    try {
      return await fn(AbortSignal.any([clientGone.signal, this.#shutdown.signal, timeout]))
    } catch (err) {
      if (timeout.aborted && !this.#shutdown.signal.aborted) {
        throw new ApiError(TIMEOUT_CODE, `The operation did not finish within ${API_OPERATION_TIMEOUT_MS} ms`, { cause: err })
      }
      throw err
    } finally {
      reply.raw.off('close', onClose)
    }
  }

  /**
   * Turns the response into a server-sent event stream of the node's
   * `peer:connect`, `peer:disconnect`, `message`, `anonymous:message`,
   * `anonymous:reply` and `anonymous:delivered` events, with a comment
   * heartbeat. Listeners and the timer go when the client leaves, the client
   * stops reading (more than {@link SSE_MAX_BUFFERED_BYTES} queued) or the
   * server closes.
   */
  #openEventStream (request: FastifyRequest, reply: FastifyReply): void {
    const node = this.#node
    const res = reply.raw
    reply.hijack()
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'x-accel-buffering': 'no',
      // The connection is closed when the stream ends, so close() is not held up by it.
      connection: 'close'
    })
    res.write(': connected\n\n')

    let ended = false
    const write = (chunk: string): void => {
      if (ended) return
      if (res.writableLength > SSE_MAX_BUFFERED_BYTES) {
        log.warn('event stream client is not reading; disconnecting it')
        stream.end()
        return
      }
      res.write(chunk)
    }
    const send = (event: string, data: unknown): void => { write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`) }
    // Each node event and how it is written on the stream; added and removed together.
    const listeners: Array<[keyof UmbraNodeEvents, (evt: CustomEvent<any>) => void]> = [ // eslint-disable-line @typescript-eslint/no-explicit-any
      ['peer:connect', (evt: CustomEvent<PeerEventDetail>) => { send('peer:connect', { peerId: evt.detail.peerId }) }],
      ['peer:disconnect', (evt: CustomEvent<PeerEventDetail>) => { send('peer:disconnect', { peerId: evt.detail.peerId }) }],
      ['message', (evt: CustomEvent<ReceivedMessage>) => { send('message', toMessageEntry(evt.detail)) }],
      ['anonymous:message', (evt: CustomEvent<AnonymousMessage>) => { send('anonymous:message', toAnonymousEntry(evt.detail)) }],
      ['anonymous:reply', (evt: UmbraNodeEvents['anonymous:reply']) => { send('anonymous:reply', toReplyEntry(evt.detail)) }],
      ['anonymous:delivered', (evt: CustomEvent<{ id: string }>) => { send('anonymous:delivered', { id: evt.detail.id }) }],
      ['anonymous:status', (evt: CustomEvent<{ id: string, to: string, status: string }>) => { send('anonymous:status', { id: evt.detail.id, to: evt.detail.to, status: evt.detail.status }) }],
      ['pubsub:message', (evt: CustomEvent<PubSubMessage>) => { send('pubsub:message', toPubSubEntry(evt.detail)) }]
    ]
    const heartbeat = setInterval(() => { write(': heartbeat\n\n') }, this.#init.heartbeatInterval)

    const cleanup = (): void => {
      if (ended) return
      ended = true
      clearInterval(heartbeat)
      for (const [type, fn] of listeners) node.removeEventListener(type, fn)
      this.#streams.delete(stream)
      log.debug({ streams: this.#streams.size }, 'event stream closed')
    }
    const stream: EventStream = {
      end: () => {
        cleanup()
        if (!res.writableEnded) res.end()
      }
    }
    res.once('close', cleanup)
    request.raw.once('error', cleanup)
    for (const [type, fn] of listeners) node.addEventListener(type, fn)
    this.#streams.add(stream)
    log.debug({ streams: this.#streams.size }, 'event stream opened')
  }
}

/**
 * Answers what Node's HTTP parser refused before Fastify saw a request, in
 * the API's error shape (issue 10): 431 `UMBRA_ERR_HEADERS_TOO_LARGE` (headers
 * over Node's 16 KiB), 408 `UMBRA_ERR_REQUEST_TIMEOUT` (headers or body not
 * received in time: slowloris), else 400 `UMBRA_ERR_BAD_REQUEST` (malformed
 * HTTP). The connection is then closed. A reset socket gets nothing.
 */
function writeClientError (err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  let status = 400
  let code: string = BadRequestError.code
  let message = 'Malformed HTTP request'
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    status = 431
    code = HEADERS_TOO_LARGE_CODE
    message = 'The request headers are larger than the server accepts (16 KiB)'
  } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    status = 408
    code = REQUEST_TIMEOUT_CODE
    message = `The request was not received within ${API_HEADERS_TIMEOUT_MS} ms (headers) or ${API_REQUEST_TIMEOUT_MS} ms (whole request)`
  }
  log.debug({ code: err.code, status }, 'client error')
  if (socket.writable) {
    const body = JSON.stringify({ error: { code, message } })
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
  }
  socket.destroy()
}

/** A NAT status without `stunPort: undefined`, copied so the service's arrays are never handed out. */
function toNatEntry (status: NatStatus): NatStatus {
  return {
    reachability: status.reachability,
    reachableAddrs: [...status.reachableAddrs],
    relays: [...status.relays],
    ...(status.stunPort !== undefined ? { stunPort: status.stunPort } : {}),
    stunServers: [...status.stunServers],
    mapping: status.mapping,
    samples: status.samples.map((x) => ({ ...x }))
  }
}

/**
 * Checks the `addrs` of a hole-punch request: each must parse as a multiaddr,
 * and one that ends in `/p2p/<PeerId>` must name `peer` (an address of
 * another peer would be filed under this one). When `peer` itself does not
 * parse, only the syntax is checked: the NAT service answers
 * `UMBRA_ERR_INVALID_RECIPIENT` for it.
 * @throws ApiError 400 `UMBRA_ERR_INVALID_MULTIADDR` naming the entry
 */
function checkPeerAddrs (peer: string, addrs: string[]): void {
  let peerId: string | undefined
  try {
    peerId = parsePeer(peer).toString()
  } catch {
    peerId = undefined
  }
  addrs.forEach((addr, i) => {
    let last: string | undefined
    try {
      last = multiaddr(addr).getComponents().findLast((c) => c.name === 'p2p')?.value
    } catch (err) {
      throw new ApiError(INVALID_MULTIADDR_CODE, `body.addrs[${i}] is not a multiaddr: ${(err as Error).message}`, { cause: err })
    }
    if (peerId !== undefined && last !== undefined && last !== peerId) {
      throw new ApiError(INVALID_MULTIADDR_CODE, `body.addrs[${i}] ends in /p2p/ of another peer than body.peer; give the peer's own addresses`)
    }
  })
}

/**
 * Checks a DHT key taken from the path (already percent-decoded).
 * @throws ApiError 400 `UMBRA_ERR_INVALID_KEY_NAME` unless it is 1 to 256 bytes of valid UTF-8
 */
function checkDhtKey (key: string): string {
  const bytes = Buffer.byteLength(key, 'utf8')
  if (bytes < 1 || bytes > MAX_DHT_KEY_BYTES || LONE_SURROGATE_RE.test(key)) {
    throw new ApiError('UMBRA_ERR_INVALID_KEY_NAME', `params.key must be 1 to ${MAX_DHT_KEY_BYTES} bytes of UTF-8 (got ${bytes})`)
  }
  return key
}

/**
 * Starts the HTTP API of `node` (DESIGN.md section 7, issue 2) and resolves
 * once it listens. The node should be started; routes that need it answer
 * 503 `UMBRA_ERR_NOT_STARTED` otherwise.
 *
 * Errors every route may answer, as `{"error":{"code","message"}}`:
 * 400 `UMBRA_ERR_BAD_REQUEST` / `UMBRA_ERR_BAD_JSON` / `UMBRA_ERR_INVALID_MULTIADDR` / service `UMBRA_ERR_INVALID_*`,
 * 401 `UMBRA_ERR_UNAUTHORIZED`, 404 `UMBRA_ERR_NOT_FOUND` / `UMBRA_ERR_UNKNOWN_PSEUDONYM` /
 * `UMBRA_ERR_NOT_MY_PSEUDONYM`, 409 `UMBRA_ERR_KEY_OWNED` / `UMBRA_ERR_NO_SURB`,
 * 413 `UMBRA_ERR_BODY_TOO_LARGE` / `UMBRA_ERR_VALUE_TOO_LARGE` / `UMBRA_ERR_MESSAGE_TOO_LARGE` /
 * `UMBRA_ERR_REPLY_TOO_LARGE`, 414 `UMBRA_ERR_BAD_REQUEST` (URL parameter over 4 KiB),
 * 415 `UMBRA_ERR_UNSUPPORTED_MEDIA_TYPE`, 500 `UMBRA_ERR_INTERNAL` (a bug: never for bad input),
 * 502 `UMBRA_ERR_DELIVERY_FAILED` / `UMBRA_ERR_ANON_DELIVERY_FAILED` / `UMBRA_ERR_PEER_UNREACHABLE`, 503 `UMBRA_ERR_NOT_STARTED` /
 * `UMBRA_ERR_SHUTTING_DOWN` / `UMBRA_ERR_NOT_ENOUGH_MIXES`, 504 `UMBRA_ERR_ABORTED` / `UMBRA_ERR_TIMEOUT`,
 * 507 `UMBRA_ERR_MAILBOX_FULL`. Before routing, on the raw connection (then closed): 400
 * `UMBRA_ERR_BAD_REQUEST` (malformed HTTP), 408 `UMBRA_ERR_REQUEST_TIMEOUT` (headers not in 10 s,
 * request not in 30 s), 431 `UMBRA_ERR_HEADERS_TOO_LARGE`. Every GET route answers HEAD.
 *
 * @param node - the node whose services the routes call
 * @param init - bind address, port and the bearer token, see {@link ApiServerInit}
 * @returns the running server; `url` holds the bound address
 * @throws InvalidOptionError (`UMBRA_ERR_INVALID_OPTION`) for a bad `init`;
 *   UmbraError `UMBRA_ERR_API_LISTEN` when the address cannot be bound (port in use)
 */
export async function createApiServer (node: UmbraNode, init: ApiServerInit): Promise<ApiServer> {
  const resolved = resolveInit(init)
  const server = new HttpApiServer(node, resolved)
  await server.listen()
  return server
}

/** A name this node owns as the API shows it: times in seconds. */
function toOwnedNameEntry (n: OwnedName): OwnedNameEntry {
  return { name: n.name, kind: n.kind, records: n.records, seq: n.seq, expiresAt: n.expiresAt, ttl: Math.round(n.ttl / 1000), cacheTtl: Math.round(n.cacheTtl / 1000), renew: n.renew }
}
