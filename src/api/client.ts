import { withTimeout } from '../signals.ts'
import { AbortedError, InvalidOptionError } from '../errors.ts'
import { ApiResponseError, ApiUnreachableError } from '../cli/errors.ts'
import { API_REQUEST_TIMEOUT_MS } from '../cli/constants.ts'
import { ROUTES, type RouteName, type RouteSpec } from './openapi.ts'
import type { NameRecordEntry } from './contract.ts'
import type {
  AnonymousMessageEntry,
  ErrorBody,
  DirectMessageEntry,
  HolePunchEntry,
  InboxEntry,
  NatStatusEntry,
  OwnedNameEntry,
  PeerSummaryEntry,
  PseudonymEntry,
  PubSubMessageEntry,
  ReplyMessageEntry,
  RouteBody,
  RouteInput,
  RouteResponse
} from './contract.ts'

/**
 * A typed client of a node's HTTP API (`/v1`; issue 12, item 4), exported as
 * `umbra/api`. Every request and response type comes from the route schemas
 * (src/api/contract.ts); {@link ApiClient.call} reaches any route of
 * `ROUTES` by name, the named methods are short forms of it. Moved here from
 * src/cli/api-client.ts, which re-exports it.
 *
 * @example
 * ```ts
 * import { ApiClient } from 'umbra/api'
 * const api = new ApiClient({ url: 'http://127.0.0.1:7450', token })
 * await api.put('greeting', 'hello')
 * console.log((await api.get('greeting'))?.value)
 * const found = await api.call('discoveryFind', { params: { namespace: 'chat' }, query: { anonymous: 'true' } })
 * ```
 */

/** How a value or body travels in JSON: text as is, or bytes as base64. */
export type BodyEncoding = NonNullable<RouteBody<'dhtPut'>['encoding']>

// The response types under the names the CLI has used since issue 2; all derived from the contract.
/** The `nat` object of `GET /v1/node`. */
export type NatInfo = NatStatusEntry
/** `GET /v1/node`. */
export type NodeInfo = RouteResponse<'node'>
/** `POST /v1/nat/holepunch`. */
export type HolePunchResponse = HolePunchEntry
/** One entry of `GET /v1/peers`. */
export type PeerInfo = PeerSummaryEntry
/** `GET /v1/peers`. */
export type PeersResponse = RouteResponse<'peers'>
/** `GET /v1/peers/:peer`: the ranked paths to a peer. */
export type PeerPathsResponse = RouteResponse<'peerPaths'>
/** `PUT /v1/dht/:key`. */
export type DhtPutResponse = RouteResponse<'dhtPut'>
/** `GET /v1/dht/:key`. */
export type DhtGetResponse = RouteResponse<'dhtGet'>
/** `GET /v1/registry/:peer`. */
export type PeerRecordResponse = RouteResponse<'registryLookup'>
/** One typed record of a name. */
export type { NameRecordEntry } from './contract.ts'
/** A name the node owns (`POST /v1/names`, `GET /v1/names`). */
export type OwnedNameResponse = OwnedNameEntry
/** `GET /v1/names/:name`. */
export type NameResolutionResponse = RouteResponse<'namesResolve'>
/** `POST /v1/messages`. */
export type SendResponse = RouteResponse<'messageSend'>
/** A direct message in `GET /v1/messages`. */
export type DirectInboxMessage = DirectMessageEntry
/** An anonymous message to one of the node's pseudonyms in `GET /v1/messages`. */
export type AnonymousInboxMessage = AnonymousMessageEntry
/** An anonymous reply to a message the node sent, in `GET /v1/messages`. */
export type ReplyInboxMessage = ReplyMessageEntry
/** One entry of `GET /v1/messages`; `kind` tells which. */
export type InboxMessage = InboxEntry
/** `GET /v1/messages`: one page, newest first, entries narrowed by `kind`; `next` is the cursor of the older page (issue 11). */
export interface InboxResponse { messages: InboxMessage[], next?: string }

/** Options of {@link ApiClient.inbox} (issue 11). */
export interface InboxOptions extends RequestOptions {
  /** Entries per page, 1 to 1,000 (the node's default: 100). */
  limit?: number
  /** The `next` cursor of the previous page. */
  before?: string
}
/** `POST /v1/messages/:id/reply`. */
export type ReplyResponse = RouteResponse<'messageReply'>
/** A pseudonym, `POST /v1/pseudonyms` and `GET /v1/pseudonyms`. */
export type PseudonymInfo = PseudonymEntry
/** `GET /v1/pseudonyms`. */
export type PseudonymsResponse = RouteResponse<'pseudonymList'>
/** `GET /v1/mixnet`. */
export type MixnetResponse = RouteResponse<'mixnet'>
/** One pub/sub message (`GET /v1/pubsub/{topic}/messages`, event `pubsub:message`). */
export type PubSubMessageInfo = PubSubMessageEntry
/** Options of {@link ApiClient.publish}: `encoding`, `anonymous`, `hops`, `pseudonym`. */
export type PublishRequestOptions = RequestOptions & Omit<RouteBody<'pubsubPublish'>, 'data'>
/** One event of `GET /v1/events`: its name and its parsed `data`. */
export interface ApiEvent { event: string, data: unknown }

/** Options of {@link ApiClient}. */
export interface ApiClientInit {
  /** Base URL of the node's API, e.g. `http://127.0.0.1:7450` (a trailing `/v1` is accepted). */
  url: string
  /** Bearer token (`<dataDir>/api-token`). Every route but `/v1/health` needs it. @default none */
  token?: string
  /** Give up on one request after this many milliseconds. @default 75_000 (`API_REQUEST_TIMEOUT_MS`: the API's 60 s operation timeout + 15 s) */
  timeout?: number
}

/** Options every request takes. */
export interface RequestOptions {
  signal?: AbortSignal
}

/** Options of {@link ApiClient.put}: the optional fields of the `PUT /v1/dht/:key` body. */
export type PutOptions = RequestOptions & Omit<RouteBody<'dhtPut'>, 'value'>

/** Options of {@link ApiClient.get}, {@link ApiClient.lookup}, {@link ApiClient.resolveName}. */
export interface GetOptions extends RequestOptions {
  /** Skip the node's local copy or cache and ask the network. @default false */
  fresh?: boolean
}

/** Options of {@link ApiClient.send}: the optional fields of the `POST /v1/messages` body. */
export type SendOptions = RequestOptions & Omit<RouteBody<'messageSend'>, 'to' | 'body'>

/** Options of {@link ApiClient.holePunch}: the optional fields of the `POST /v1/nat/holepunch` body. */
export type HolePunchRequestOptions = RequestOptions & Omit<RouteBody<'natHolePunch'>, 'peer'>

/** Options of {@link ApiClient.reply}: the optional fields of the `POST /v1/messages/:id/reply` body. */
export type ReplyOptions = RequestOptions & Omit<RouteBody<'messageReply'>, 'body'>

/** Options of {@link ApiClient.registerName}: the optional fields of the `POST /v1/names` body. */
export type RegisterNameOptions = RequestOptions & Omit<RouteBody<'namesRegister'>, 'name' | 'records'>

/** The fields of `options` named in `keys` whose value is set (`signal` and unknown keys never reach a body). */
function fieldsOf<T extends object, K extends keyof T> (options: T, keys: readonly K[]): Pick<T, K> {
  const out: Partial<Pick<T, K>> = {}
  for (const key of keys) if (options[key] != null) out[key] = options[key]
  return out as Pick<T, K>
}

/** `?fresh=true` when asked. */
function freshQuery (options: GetOptions): { fresh?: 'true' } {
  return options.fresh === true ? { fresh: 'true' } : {}
}

/**
 * A client of a node's HTTP API: global `fetch`, bearer token, and
 * `{ error: { code, message } }` answers turned into thrown
 * {@link ApiResponseError}s carrying the server's code. Used by the CLI's
 * client commands, `umbra demo` and the tests.
 */
export class ApiClient {
  /** Base URL, without a trailing slash or `/v1`. */
  readonly url: string
  #token: string | undefined
  #timeout: number

  /** @throws InvalidOptionError (`UMBRA_ERR_INVALID_OPTION`) for a URL that is not http(s) or a timeout that is not a positive number */
  constructor (init: ApiClientInit) {
    let parsed: URL
    try {
      parsed = new URL(init.url)
    } catch {
      throw new InvalidOptionError(`ApiClientInit.url must be an http(s) URL such as http://127.0.0.1:7450, got "${init.url}"`)
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new InvalidOptionError(`ApiClientInit.url must be an http(s) URL such as http://127.0.0.1:7450, got "${init.url}"`)
    }
    const timeout = init.timeout ?? API_REQUEST_TIMEOUT_MS
    if (!Number.isFinite(timeout) || timeout <= 0) {
      throw new InvalidOptionError(`ApiClientInit.timeout must be a positive number of milliseconds, got ${timeout}`)
    }
    this.url = parsed.href.replace(/\/+$/, '').replace(/\/v1$/, '')
    this.#token = init.token
    this.#timeout = timeout
  }

  /** `true` when a token was given. */
  get hasToken (): boolean {
    return this.#token != null && this.#token !== ''
  }

  /**
   * Calls route `route` of `ROUTES`: fills its path parameters
   * (percent-encoded), adds the query fields that are set and sends `body`
   * as JSON. Types come from the route's schemas.
   * @throws ApiUnreachableError (no answer), ApiResponseError (4xx/5xx with the server's code, or not JSON), AbortedError
   */
  async call<N extends RouteName> (route: N, input: RouteInput<N>, options: RequestOptions = {}): Promise<RouteResponse<N>> {
    const spec: RouteSpec = ROUTES[route]
    const params = (input.params ?? {}) as Record<string, string>
    const path = spec.url.replace(/:([A-Za-z0-9_]+)/g, (_match, name: string) => encodeURIComponent(params[name] ?? ''))
    const query = new URLSearchParams()
    for (const [key, value] of Object.entries((input.query ?? {}) as Record<string, string | undefined>)) {
      if (value != null) query.set(key, value)
    }
    const qs = query.size > 0 ? `?${query.toString()}` : ''
    return await this.request<RouteResponse<N>>(spec.method, path + qs, input.body, options)
  }

  /** `GET /v1/health`: resolves when the node answers. */
  async health (options: RequestOptions = {}): Promise<RouteResponse<'health'>> {
    return await this.call('health', {}, options)
  }

  /** `GET /v1/node`: the node's identity, addresses and peer count. */
  async node (options: RequestOptions = {}): Promise<NodeInfo> {
    return await this.call('node', {}, options)
  }

  /** `GET /v1/peers`: connected peers. */
  async peers (options: RequestOptions = {}): Promise<PeersResponse> {
    return await this.call('peers', {}, options)
  }

  /**
   * `GET /v1/peers/:peer`: the paths to `peer` (PeerId or `key_…`), best first,
   * with hop count, EWMA RTT (ms) and recent success rate (issue 11).
   * @throws ApiResponseError (400 `UMBRA_ERR_INVALID_RECIPIENT`)
   */
  async peerPaths (peer: string, options: RequestOptions = {}): Promise<PeerPathsResponse> {
    return await this.call('peerPaths', { params: { peer } }, options)
  }

  /**
   * `POST /v1/nat/holepunch`: has the node make its connection to `peer`
   * (PeerId or `key_…`) direct if it can, and reports the path it got.
   */
  async holePunch (peer: string, options: HolePunchRequestOptions = {}): Promise<HolePunchResponse> {
    const fields = fieldsOf(options, ['addrs', 'timeout'])
    if (fields.addrs?.length === 0) delete fields.addrs
    return await this.call('natHolePunch', { body: { peer, ...fields } }, options)
  }

  /** `PUT /v1/dht/:key`: stores `value` under `key`, signed by the node. */
  async put (key: string, value: string, options: PutOptions = {}): Promise<DhtPutResponse> {
    return await this.call('dhtPut', { params: { key }, body: { value, ...fieldsOf(options, ['encoding', 'ttl']) } }, options)
  }

  /**
   * `GET /v1/dht/:key`: the newest record under `key`.
   * @returns the record, or `undefined` when no node has one (HTTP 404)
   */
  async get (key: string, options: GetOptions = {}): Promise<DhtGetResponse | undefined> {
    try {
      return await this.call('dhtGet', { params: { key }, query: freshQuery(options) }, options)
    } catch (err) {
      if (err instanceof ApiResponseError && err.status === 404) return undefined
      throw err
    }
  }

  /** `GET /v1/registry/:peer`: a node's peer record. @throws ApiResponseError (404 `UMBRA_ERR_PEER_NOT_FOUND`) */
  async lookup (peer: string, options: GetOptions = {}): Promise<PeerRecordResponse> {
    return await this.call('registryLookup', { params: { peer }, query: freshQuery(options) }, options)
  }

  /**
   * `POST /v1/names`: registers or updates a name (`ttl`, `cacheTtl` in seconds).
   * @returns the owned name (HTTP 201 when it was new)
   * @throws ApiResponseError (409 `UMBRA_ERR_KEY_OWNED`, 400 `UMBRA_ERR_INVALID_NAME`, 403 `UMBRA_ERR_NOT_ZONE_OWNER`)
   */
  async registerName (name: string, records: NameRecordEntry[], options: RegisterNameOptions = {}): Promise<OwnedNameResponse> {
    return await this.call('namesRegister', { body: { name, records, ...fieldsOf(options, ['ttl', 'cacheTtl', 'renew']) } }, options)
  }

  /** `GET /v1/names/:name`: resolves a name. @throws ApiResponseError (404 `UMBRA_ERR_NAME_NOT_FOUND`) */
  async resolveName (name: string, options: GetOptions = {}): Promise<NameResolutionResponse> {
    return await this.call('namesResolve', { params: { name }, query: freshQuery(options) }, options)
  }

  /** `POST /v1/auth/challenge`: a challenge issued by the node for `purpose` (`ttlMs` 1,000-600,000, default 60,000). */
  async authChallenge (purpose: string, options: RequestOptions & { ttlMs?: number } = {}): Promise<RouteResponse<'authChallenge'>> {
    return await this.call('authChallenge', { body: { purpose, ...fieldsOf(options, ['ttlMs']) } }, options)
  }

  /** `POST /v1/auth/respond`: the node answers `challenge` with its node key or the pseudonym `key`. @throws ApiResponseError (400 `UMBRA_ERR_AUTH_EXPIRED`, 404 `UMBRA_ERR_NOT_MY_PSEUDONYM`) */
  async authRespond (challenge: RouteBody<'authRespond'>['challenge'], key?: string, options: RequestOptions = {}): Promise<RouteResponse<'authRespond'>> {
    return await this.call('authRespond', { body: { challenge, ...(key != null ? { key } : {}) } }, options)
  }

  /** `POST /v1/auth/verify`: the node verifies a response to a challenge it issued (once). @throws ApiResponseError (400 `UMBRA_ERR_AUTH_…`, docs/auth.md) */
  async authVerify (challenge: RouteBody<'authVerify'>['challenge'], response: RouteBody<'authVerify'>['response'], options: RequestOptions & { purpose?: string, key?: string } = {}): Promise<RouteResponse<'authVerify'>> {
    return await this.call('authVerify', { body: { challenge, response, ...fieldsOf(options, ['purpose', 'key']) } }, options)
  }

  /** `POST /v1/auth/prove`: the node asks `peer` to prove its node key over /umbra/auth/1.0.0. @throws ApiResponseError (502 `UMBRA_ERR_AUTH_PEER`) */
  async authProve (peer: string, purpose: string, options: RequestOptions = {}): Promise<RouteResponse<'authProve'>> {
    return await this.call('authProve', { body: { peer, purpose } }, options)
  }

  /** `GET /v1/names`: the names the node owns. */
  async names (options: RequestOptions = {}): Promise<RouteResponse<'namesList'>> {
    return await this.call('namesList', {}, options)
  }

  /**
   * `POST /v1/messages`: sends an end-to-end encrypted message and waits for
   * the acknowledgement; with `anonymous`, through the mix network to a pseudonym.
   */
  async send (to: string, body: string, options: SendOptions = {}): Promise<SendResponse> {
    const fields = fieldsOf(options, ['encoding', 'anonymous', 'hops', 'wait', 'replySurbs', 'id'])
    if (fields.anonymous !== true) delete fields.anonymous
    return await this.call('messageSend', { body: { to, body, ...fields } }, options)
  }

  /** `POST /v1/messages/:id/reply`: answers anonymous message `id` through one of its reply blocks. */
  async reply (id: string, body: string, options: ReplyOptions = {}): Promise<ReplyResponse> {
    return await this.call('messageReply', { params: { id }, body: { body, ...fieldsOf(options, ['encoding']) } }, options)
  }

  /** `GET /v1/messages`: one page of the durable inbox (direct and anonymous messages and replies), newest first. */
  async inbox (options: InboxOptions = {}): Promise<InboxResponse> {
    const query = { ...(options.limit != null ? { limit: String(options.limit) } : {}), ...(options.before != null ? { before: options.before } : {}) }
    // The schema has one MessageEntry shape for three kinds; `kind` narrows it (src/api/contract.ts).
    return await this.call('messageList', { query }, options) as InboxResponse
  }

  /** `DELETE /v1/messages/:id`: deletes one inbox entry. @throws ApiResponseError (404 `UMBRA_ERR_MESSAGE_NOT_FOUND`) */
  async deleteMessage (id: string, options: RequestOptions = {}): Promise<RouteResponse<'messageDelete'>> {
    return await this.call('messageDelete', { params: { id } }, options)
  }

  /** `POST /v1/messages/ack`: the application processed these entries; they are deleted. */
  async ackMessages (ids: string[], options: RequestOptions = {}): Promise<RouteResponse<'messageAck'>> {
    return await this.call('messageAck', { body: { ids } }, options)
  }

  /** `POST /v1/pseudonyms`: creates a pseudonym; resolves once senders can find it. */
  async createPseudonym (options: RequestOptions & RouteBody<'pseudonymCreate'> = {}): Promise<PseudonymInfo> {
    return await this.call('pseudonymCreate', { body: fieldsOf(options, ['label', 'gateways']) }, options)
  }

  /** `GET /v1/pseudonyms`: the node's pseudonyms, oldest first. */
  async pseudonyms (options: RequestOptions = {}): Promise<PseudonymsResponse> {
    return await this.call('pseudonymList', {}, options)
  }

  /** `POST /v1/pseudonyms/:key/purge`: has the pseudonym's gateway delete incomplete messages (or with `all` every row); resolves with how many rows it deleted. */
  async purgePseudonymMailbox (key: string, options: RequestOptions & RouteBody<'pseudonymPurge'> = {}): Promise<RouteResponse<'pseudonymPurge'>> {
    return await this.call('pseudonymPurge', { params: { key }, body: options.all === true ? { all: true } : {} }, options)
  }

  /**
   * `POST /v1/proofs/ring`: a ring signature over `message` by whichever of the node's keys is in `ring` (docs/proofs.md).
   * @returns `{ signature (base64), keyImage (hex) }`
   */
  async ringSign (message: string, ring: string[], options: RequestOptions & Omit<RouteBody<'proofRingSign'>, 'message' | 'ring'> = {}): Promise<RouteResponse<'proofRingSign'>> {
    return await this.call('proofRingSign', { body: { message, ring, ...fieldsOf(options, ['encoding', 'scope']) } }, options)
  }

  /** `POST /v1/proofs/ring/verify`: whether one member of `ring` made `signature` (base64) over `message`; `{ valid, keyImage (hex) }`. */
  async ringVerify (message: string, ring: string[], signature: string, options: RequestOptions & Omit<RouteBody<'proofRingVerify'>, 'message' | 'ring' | 'signature'> = {}): Promise<RouteResponse<'proofRingVerify'>> {
    return await this.call('proofRingVerify', { body: { message, ring, signature, ...fieldsOf(options, ['encoding', 'scope']) } }, options)
  }

  /** `PUT /v1/pubsub/subscriptions/:topic`: subscribes; with `since` (ms), fetches history from server nodes. */
  async subscribe (topic: string, options: RequestOptions & { since?: number } = {}): Promise<RouteResponse<'pubsubSubscribe'>> {
    return await this.call('pubsubSubscribe', { params: { topic }, body: fieldsOf(options, ['since']) }, options)
  }

  /** `DELETE /v1/pubsub/subscriptions/:topic`: unsubscribes. */
  async unsubscribe (topic: string, options: RequestOptions = {}): Promise<RouteResponse<'pubsubUnsubscribe'>> {
    return await this.call('pubsubUnsubscribe', { params: { topic } }, options)
  }

  /** `GET /v1/pubsub/subscriptions`: the node's topics and their connected subscribers. */
  async subscriptions (options: RequestOptions = {}): Promise<RouteResponse<'pubsubSubscriptions'>> {
    return await this.call('pubsubSubscriptions', {}, options)
  }

  /**
   * `POST /v1/pubsub/:topic`: publishes `data` signed by the node.
   * @throws ApiResponseError (413 `UMBRA_ERR_PUBSUB_MESSAGE_TOO_LARGE`, 501 `UMBRA_ERR_PUBSUB_UNSUPPORTED`)
   */
  async publish (topic: string, data: string, options: PublishRequestOptions = {}): Promise<RouteResponse<'pubsubPublish'>> {
    const fields = fieldsOf(options, ['encoding', 'anonymous', 'hops', 'pseudonym'])
    if (fields.anonymous !== true) delete fields.anonymous
    return await this.call('pubsubPublish', { params: { topic }, body: { data, ...fields } }, options)
  }

  /** `GET /v1/pubsub/:topic/messages`: what the node holds of `topic` since `since` (ms), oldest first. */
  async topicMessages (topic: string, options: RequestOptions & { since?: number, limit?: number } = {}): Promise<RouteResponse<'pubsubMessages'>> {
    const query = { ...(options.since != null ? { since: String(options.since) } : {}), ...(options.limit != null ? { limit: String(options.limit) } : {}) }
    return await this.call('pubsubMessages', { params: { topic }, query }, options)
  }

  /**
   * `GET /v1/events`: the node's server-sent events, parsed, until `signal`
   * aborts (then the iteration ends quietly) or the node closes the stream.
   * @throws ApiUnreachableError, ApiResponseError (429 over the stream quota)
   */
  async * events (options: { signal?: AbortSignal } = {}): AsyncGenerator<ApiEvent> {
    const headers: Record<string, string> = { accept: 'text/event-stream' }
    if (this.hasToken) headers.authorization = `Bearer ${this.#token}`
    let res: Response
    try {
      res = await fetch(`${this.url}${ROUTES.events.url}`, { headers, signal: options.signal })
    } catch (err) {
      if (options.signal?.aborted === true) return
      throw new ApiUnreachableError(`cannot reach the node API at ${this.url}: ${describeNetworkError(err)}`, { cause: err })
    }
    if (!res.ok || res.body == null) {
      const error = readErrorBody(await res.json().catch(() => undefined))
      throw new ApiResponseError(error?.message ?? `GET /v1/events answered HTTP ${res.status}`, error?.code ?? ApiResponseError.code, res.status)
    }
    const decoder = new TextDecoder()
    let buffer = ''
    try {
      for await (const chunk of res.body) {
        buffer += decoder.decode(chunk, { stream: true })
        let end: number
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const event = /^event: (.*)$/m.exec(block)?.[1]
          const data = /^data: (.*)$/m.exec(block)?.[1]
          if (event != null && data != null) yield { event, data: JSON.parse(data) }
        }
      }
    } catch (err) {
      if (options.signal?.aborted === true) return
      throw new ApiUnreachableError(`the event stream of ${this.url} broke: ${describeNetworkError(err)}`, { cause: err })
    }
  }

  /** `GET /v1/mixnet`: preset, mix directory and counters. */
  async mixnet (options: RequestOptions = {}): Promise<MixnetResponse> {
    return await this.call('mixnet', {}, options)
  }

  /**
   * Sends one request and parses the JSON answer. Prefer {@link ApiClient.call},
   * whose types come from the route's schemas.
   * @throws ApiUnreachableError (no answer), ApiResponseError (4xx/5xx or not JSON), AbortedError
   */
  async request<T = unknown> (method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
    const url = this.url + path
    const headers: Record<string, string> = { accept: 'application/json' }
    if (this.hasToken) headers.authorization = `Bearer ${this.#token}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    const signal = withTimeout(options.signal, this.#timeout)

    let res: Response
    let text: string
    try {
      res = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal
      })
      text = await res.text()
    } catch (err) {
      if (options.signal?.aborted === true) throw new AbortedError(undefined, { cause: err })
      if (signal.aborted) { // the caller did not abort (checked above), so the timeout did
        throw new ApiUnreachableError(`the node API at ${this.url} did not answer ${method} ${path} within ${this.#timeout} ms`, { cause: err })
      }
      throw new ApiUnreachableError(`cannot reach the node API at ${this.url}: ${describeNetworkError(err)}`, { cause: err })
    }

    let parsed: unknown
    let isJson = true
    try {
      parsed = text === '' ? undefined : JSON.parse(text)
    } catch {
      isJson = false
    }

    if (!res.ok) {
      const error = isJson ? readErrorBody(parsed) : undefined
      if (error != null) {
        let message = error.message
        if (res.status === 401 && !this.hasToken) message += ' (no API token given: pass --token, or --data-dir of the node)'
        throw new ApiResponseError(message, error.code, res.status)
      }
      throw new ApiResponseError(`the node API at ${this.url} answered ${method} ${path} with HTTP ${res.status} ${res.statusText}`.trimEnd(), ApiResponseError.code, res.status)
    }
    if (!isJson) {
      throw new ApiResponseError(`the node API at ${this.url} answered ${method} ${path} with something that is not JSON; is ${this.url} an umbra node?`, ApiResponseError.code, res.status)
    }
    return parsed as T
  }
}

/** `{ error: { code, message } }` or `undefined` when the body has another shape. */
function readErrorBody (body: unknown): ErrorBody['error'] | undefined {
  if (body == null || typeof body !== 'object') return undefined
  const error = (body as { error?: unknown }).error
  if (error == null || typeof error !== 'object') return undefined
  const { code, message } = error as { code?: unknown, message?: unknown }
  if (typeof code !== 'string' || typeof message !== 'string') return undefined
  return { code, message }
}

/** `connection refused`, `host not found`, … from undici's `fetch failed` and its cause. */
function describeNetworkError (err: unknown): string {
  const cause = (err as { cause?: unknown } | undefined)?.cause
  const code = (cause as { code?: unknown } | undefined)?.code ?? (err as { code?: unknown } | undefined)?.code
  switch (code) {
    case 'ECONNREFUSED': return 'connection refused'
    case 'ECONNRESET': return 'connection reset'
    case 'ENOTFOUND': return 'host not found'
    case 'EAI_AGAIN': return 'host name lookup failed'
    case 'EHOSTUNREACH': return 'host unreachable'
    case 'ENETUNREACH': return 'network unreachable'
    case 'ETIMEDOUT': return 'connection timed out'
    case 'UND_ERR_SOCKET': return 'connection closed by the server'
    default: {
      const message = cause instanceof Error ? cause.message : err instanceof Error ? err.message : String(err)
      return typeof code === 'string' ? `${message} (${code})` : message
    }
  }
}
