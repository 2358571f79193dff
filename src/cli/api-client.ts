import { withTimeout } from '../signals.ts'
import { AbortedError, InvalidOptionError } from '../errors.ts'
import { API_REQUEST_TIMEOUT_MS } from './constants.ts'
import { ApiResponseError, ApiUnreachableError } from './errors.ts'

/** How a value or body travels in JSON: text as is, or bytes as base64. */
export type BodyEncoding = 'utf8' | 'base64'

/** The `nat` object of `GET /v1/node` (`NatStatus` of src/nat/types.ts). */
export interface NatInfo {
  /** `public` (a server node), `private` (behind a NAT, reachable through relays) or `unknown` (no relay reservation yet). */
  reachability: 'public' | 'private' | 'unknown'
  /** Addresses other nodes can dial the node at, relayed ones included. */
  reachableAddrs: string[]
  /** PeerIds of the relays the node holds a reservation on. */
  relays: string[]
  /** UDP port of the node's STUN server, when it runs one. */
  stunPort?: number
  /** STUN servers (`host:port`) the node's ICE asks. */
  stunServers: string[]
}

/** `GET /v1/node`. */
export interface NodeInfo {
  peerId: string
  key: string
  role: 'server' | 'client'
  /** Listening addresses including `/p2p/<PeerId>`. */
  addrs: string[]
  /** Number of connected peers. */
  peers: number
  nat: NatInfo
}

/** `POST /v1/nat/holepunch` (`HolePunchResult` of src/nat/types.ts). */
export interface HolePunchResponse {
  /** PeerId of the peer. */
  peer: string
  /** `direct`: no relay in between now; `relayed`: only through a circuit relay. */
  path: 'direct' | 'relayed'
  /** `existing-direct` (was already direct), `webrtc` (upgraded through the NATs) or `circuit-relay` (the upgrade failed). */
  method: 'existing-direct' | 'webrtc' | 'circuit-relay'
  /** Ping round trip over the path, ms; -1 when the ping failed. */
  rttMs: number
  /** Time the attempt took, ms. */
  elapsedMs: number
  /** Remote multiaddr of the connection reported. */
  remoteAddr: string
  /** Why the direct upgrade failed, when `path` is `relayed`. */
  reason?: string
}

/** One entry of `GET /v1/peers`. */
export interface PeerInfo {
  peerId: string
  addrs: string[]
  path: 'direct' | 'relayed'
}

/** `GET /v1/peers`. */
export interface PeersResponse {
  peers: PeerInfo[]
}

/** `PUT /v1/dht/:key`. */
export interface DhtPutResponse {
  key: string
  seq: number
  /** Milliseconds since the Unix epoch. */
  expiresAt: number
  /** Remote nodes that acknowledged storing the record. */
  storedOn: number
}

/** `GET /v1/dht/:key`. */
export interface DhtGetResponse {
  key: string
  value: string
  encoding: BodyEncoding
  /** Publisher's key, `key_<base58btc>`. */
  publisher: string
  seq: number
  expiresAt: number
  source: 'local' | 'network'
}

/** `GET /v1/registry/:peer`. */
export interface PeerRecordResponse {
  peerId: string
  key: string
  role: 'server' | 'client'
  addrs: string[]
  /** ms since the Unix epoch. */
  lastSeen: number
  /** base64, absent when empty. */
  metadata?: string
  sealed: boolean
  opened?: boolean
  seq: number
  expiresAt: number
}

/** One typed record of a name (`POST`/`GET /v1/names`). */
export interface NameRecordEntry {
  type: 'peer' | 'pseudonym' | 'multiaddr' | 'text'
  value: string
}

/** A name the node owns (`POST /v1/names`, `GET /v1/names`); times in seconds except `expiresAt` (ms since the Unix epoch). */
export interface OwnedNameResponse {
  name: string
  kind: 'global' | 'zone'
  records: NameRecordEntry[]
  seq: number
  expiresAt: number
  ttl: number
  cacheTtl: number
  renew: boolean
  storedOn?: number
}

/** `GET /v1/names/:name`. */
export interface NameResolutionResponse {
  name: string
  kind: 'global' | 'zone'
  records: NameRecordEntry[]
  owner: string
  seq: number
  expiresAt: number
  /** seconds */
  cacheTtl: number
  source: 'cache' | 'network' | 'own'
}

/** `POST /v1/messages`. */
export interface SendResponse {
  id: string
  /** Recipient PeerId (direct) or pseudonym (anonymous). */
  to: string
  anonymous: boolean
  /** Sphinx packets the message took (anonymous only). */
  fragments?: number
  /** Fragments sent again on a new path (anonymous only). */
  retransmissions?: number
  /** `stored` at the gateway or `delivered` to the recipient (anonymous only). */
  status?: 'stored' | 'delivered'
  /** Direct only: the path that carried it; `queued` (HTTP 202) waits in the recipient's offline queue (issue 11). */
  path?: 'direct' | 'relayed' | 'queued'
  /** PeerIds of the queue servers holding it (`queued` only). */
  servers?: string[]
  rttMs: number
}

/** A direct message in `GET /v1/messages`. */
export interface DirectInboxMessage {
  kind: 'direct'
  anonymous: false
  id: string
  from: string
  fromKey: string
  body: string
  encoding: BodyEncoding
  sentAt: number
  receivedAt: number
}

/** An anonymous message to one of the node's pseudonyms in `GET /v1/messages`. */
export interface AnonymousInboxMessage {
  kind: 'anonymous'
  anonymous: true
  id: string
  from: null
  /** The pseudonym it was sent to. */
  to: string
  body: string
  encoding: BodyEncoding
  sentAt: number
  receivedAt: number
  /** Unused reply blocks: how many times `reply` can still answer it. */
  repliesLeft: number
}

/** An anonymous reply to a message the node sent, in `GET /v1/messages`. */
export interface ReplyInboxMessage {
  kind: 'reply'
  anonymous: true
  from: null
  /** Inbox entry id, chosen at receipt (issue 11). */
  id?: string
  /** Id of the message it answers. */
  inReplyTo: string
  body: string
  encoding: BodyEncoding
  receivedAt: number
}

/** One entry of `GET /v1/messages`; `kind` tells which. */
export type InboxMessage = DirectInboxMessage | AnonymousInboxMessage | ReplyInboxMessage

/** `POST /v1/messages/:id/reply`. */
export interface ReplyResponse {
  /** The message answered. */
  id: string
  repliesLeft: number
}

/** A pseudonym, `POST /v1/pseudonyms` and `GET /v1/pseudonyms`. */
export interface PseudonymInfo {
  /** The address to hand out, `key_…`. */
  key: string
  /** PeerIds of the gateways holding its mailbox. */
  gateways: string[]
  label?: string
  /** ms since the Unix epoch. */
  createdAt: number
  online: boolean
}

/** `GET /v1/pseudonyms`. */
export interface PseudonymsResponse {
  pseudonyms: PseudonymInfo[]
}

/** `GET /v1/mixnet`. */
export interface MixnetResponse {
  preset: 'none' | 'balanced' | 'strong'
  parameters: { meanDelayMs: number, loopRate: number, dropRate: number }
  directory: Array<{ peerId: string, addrs: string[], epochs: number[], expiresAt: number }>
  counters: Record<string, number | Record<string, number>>
}

/** `GET /v1/messages`: one page, newest first. */
export interface InboxResponse {
  messages: InboxMessage[]
  /** Cursor of the next (older) page, for `before`; absent on the last page. */
  next?: string
}

/** Options of {@link ApiClient.inbox} (issue 11). */
export interface InboxOptions extends RequestOptions {
  /** Entries per page, 1 to 1,000 (the node's default: 100). */
  limit?: number
  /** The `next` cursor of the previous page. */
  before?: string
}

/** Options of {@link ApiClient}. */
export interface ApiClientInit {
  /** Base URL of the node's API, e.g. `http://127.0.0.1:7450` (a trailing `/v1` is accepted). */
  url: string
  /** Bearer token (`<dataDir>/api-token`). Every route but `/v1/health` needs it. @default none */
  token?: string
  /** Give up on one request after this many milliseconds. @default 75_000 (the API's 60 s operation timeout + 15 s) */
  timeout?: number
}

/** Options every request takes. */
export interface RequestOptions {
  signal?: AbortSignal
}

/** Options of {@link ApiClient.put}. */
export interface PutOptions extends RequestOptions {
  /** `utf8` (the value is text) or `base64`. @default 'utf8' */
  encoding?: BodyEncoding
  /** Lifetime of the record in seconds. @default the node's (24 h) */
  ttl?: number
}

/** Options of {@link ApiClient.get}. */
export interface GetOptions extends RequestOptions {
  /** Skip the node's local copy and ask the network. @default false */
  fresh?: boolean
}

/** Options of {@link ApiClient.send}. */
export interface SendOptions extends RequestOptions {
  /** `utf8` (the body is text) or `base64`. @default 'utf8' */
  encoding?: BodyEncoding
  /** Send through the mix network to a pseudonym (`key_…`). @default false */
  anonymous?: boolean
  /** Mix hops, 1 to 8 (anonymous only). @default the node's (3) */
  hops?: number
  /** `stored` at the gateway, or `delivered` to the recipient (anonymous only). @default 'stored' */
  wait?: 'stored' | 'delivered'
  /** Reply blocks the message carries, 0 to 8 (anonymous only). @default 2 */
  replySurbs?: number
}

/** Options of {@link ApiClient.holePunch}. */
export interface HolePunchRequestOptions extends RequestOptions {
  /** Multiaddrs of the peer to try besides those the node knows, at most 32. @default none */
  addrs?: string[]
  /** Give up on the direct upgrade after this many ms, 100 to 60,000. @default the node's (10,000) */
  timeout?: number
}

/** Options of {@link ApiClient.reply}. */
export interface ReplyOptions extends RequestOptions {
  /** `utf8` (the body is text) or `base64`. @default 'utf8' */
  encoding?: BodyEncoding
}

/**
 * A small client of a node's HTTP API (`/v1`): global `fetch`, bearer token,
 * and `{ error: { code, message } }` answers turned into thrown
 * {@link ApiResponseError}s carrying the server's code. Used by the CLI's
 * client commands, `umbra demo` and the tests.
 *
 * @example
 * ```ts
 * const api = new ApiClient({ url: 'http://127.0.0.1:7450', token })
 * await api.put('greeting', 'hello')
 * console.log((await api.get('greeting'))?.value)
 * ```
 */
export class ApiClient {
  /** Base URL, without a trailing slash or `/v1`. */
  readonly url: string
  #token: string | undefined
  #timeout: number

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

  /** `GET /v1/health`: resolves when the node answers. */
  async health (options: RequestOptions = {}): Promise<unknown> {
    return await this.request('GET', '/v1/health', undefined, options)
  }

  /** `GET /v1/node`: the node's identity, addresses and peer count. */
  async node (options: RequestOptions = {}): Promise<NodeInfo> {
    return await this.request<NodeInfo>('GET', '/v1/node', undefined, options)
  }

  /** `GET /v1/peers`: connected peers. */
  async peers (options: RequestOptions = {}): Promise<PeersResponse> {
    return await this.request<PeersResponse>('GET', '/v1/peers', undefined, options)
  }

  /**
   * `POST /v1/nat/holepunch`: has the node make its connection to `peer`
   * (PeerId or `key_…`) direct if it can, and reports the path it got.
   */
  async holePunch (peer: string, options: HolePunchRequestOptions = {}): Promise<HolePunchResponse> {
    const payload: Record<string, unknown> = { peer }
    if (options.addrs != null && options.addrs.length > 0) payload.addrs = options.addrs
    if (options.timeout != null) payload.timeout = options.timeout
    return await this.request<HolePunchResponse>('POST', '/v1/nat/holepunch', payload, options)
  }

  /** `PUT /v1/dht/:key`: stores `value` under `key`, signed by the node. */
  async put (key: string, value: string, options: PutOptions = {}): Promise<DhtPutResponse> {
    const body: Record<string, unknown> = { value }
    if (options.encoding != null) body.encoding = options.encoding
    if (options.ttl != null) body.ttl = options.ttl
    return await this.request<DhtPutResponse>('PUT', `/v1/dht/${encodeURIComponent(key)}`, body, options)
  }

  /**
   * `GET /v1/dht/:key`: the newest record under `key`.
   * @returns the record, or `undefined` when no node has one (HTTP 404)
   */
  /** `GET /v1/registry/:peer`: a node's peer record. @throws ApiResponseError (404 `UMBRA_ERR_PEER_NOT_FOUND`) */
  async lookup (peer: string, options: GetOptions = {}): Promise<PeerRecordResponse> {
    const query = options.fresh === true ? '?fresh=true' : ''
    return await this.request<PeerRecordResponse>('GET', `/v1/registry/${encodeURIComponent(peer)}${query}`, undefined, options)
  }

  /**
   * `POST /v1/names`: registers or updates a name.
   * @param options.ttl - record lifetime, seconds; options.cacheTtl - resolver cache time, seconds
   * @returns the owned name and whether it was new (201)
   * @throws ApiResponseError (409 `UMBRA_ERR_KEY_OWNED`, 400 `UMBRA_ERR_INVALID_NAME`, 403 `UMBRA_ERR_NOT_ZONE_OWNER`)
   */
  async registerName (name: string, records: NameRecordEntry[], options: RequestOptions & { ttl?: number, cacheTtl?: number, renew?: boolean } = {}): Promise<OwnedNameResponse> {
    const body: Record<string, unknown> = { name, records }
    if (options.ttl != null) body.ttl = options.ttl
    if (options.cacheTtl != null) body.cacheTtl = options.cacheTtl
    if (options.renew != null) body.renew = options.renew
    return await this.request<OwnedNameResponse>('POST', '/v1/names', body, options)
  }

  /** `GET /v1/names/:name`: resolves a name. @throws ApiResponseError (404 `UMBRA_ERR_NAME_NOT_FOUND`) */
  async resolveName (name: string, options: GetOptions = {}): Promise<NameResolutionResponse> {
    const query = options.fresh === true ? '?fresh=true' : ''
    return await this.request<NameResolutionResponse>('GET', `/v1/names/${encodeURIComponent(name)}${query}`, undefined, options)
  }

  /** `GET /v1/names`: the names the node owns. */
  async names (options: RequestOptions = {}): Promise<{ names: OwnedNameResponse[] }> {
    return await this.request<{ names: OwnedNameResponse[] }>('GET', '/v1/names', undefined, options)
  }

  async get (key: string, options: GetOptions = {}): Promise<DhtGetResponse | undefined> {
    const query = options.fresh === true ? '?fresh=true' : ''
    try {
      return await this.request<DhtGetResponse>('GET', `/v1/dht/${encodeURIComponent(key)}${query}`, undefined, options)
    } catch (err) {
      if (err instanceof ApiResponseError && err.status === 404) return undefined
      throw err
    }
  }

  /**
   * `POST /v1/messages`: sends an end-to-end encrypted message and waits for
   * the acknowledgement; with `anonymous`, through the mix network to a pseudonym.
   */
  async send (to: string, body: string, options: SendOptions = {}): Promise<SendResponse> {
    const payload: Record<string, unknown> = { to, body }
    if (options.encoding != null) payload.encoding = options.encoding
    if (options.anonymous === true) payload.anonymous = true
    if (options.hops != null) payload.hops = options.hops
    if (options.wait != null) payload.wait = options.wait
    if (options.replySurbs != null) payload.replySurbs = options.replySurbs
    return await this.request<SendResponse>('POST', '/v1/messages', payload, options)
  }

  /** `POST /v1/messages/:id/reply`: answers anonymous message `id` through one of its reply blocks. */
  async reply (id: string, body: string, options: ReplyOptions = {}): Promise<ReplyResponse> {
    const payload: Record<string, unknown> = { body }
    if (options.encoding != null) payload.encoding = options.encoding
    return await this.request<ReplyResponse>('POST', `/v1/messages/${encodeURIComponent(id)}/reply`, payload, options)
  }

  /** `GET /v1/messages`: one page of the durable inbox (direct and anonymous messages and replies), newest first. */
  async inbox (options: InboxOptions = {}): Promise<InboxResponse> {
    const query = new URLSearchParams()
    if (options.limit != null) query.set('limit', String(options.limit))
    if (options.before != null) query.set('before', options.before)
    const qs = query.size > 0 ? `?${query.toString()}` : ''
    return await this.request<InboxResponse>('GET', `/v1/messages${qs}`, undefined, options)
  }

  /** `DELETE /v1/messages/:id`: deletes one inbox entry (404 `UMBRA_ERR_MESSAGE_NOT_FOUND` when unknown). */
  async deleteMessage (id: string, options: RequestOptions = {}): Promise<{ id: string, deleted: true }> {
    return await this.request<{ id: string, deleted: true }>('DELETE', `/v1/messages/${encodeURIComponent(id)}`, undefined, options)
  }

  /** `POST /v1/messages/ack`: the application processed these entries; they are deleted. */
  async ackMessages (ids: string[], options: RequestOptions = {}): Promise<{ acked: number, unknown: string[] }> {
    return await this.request<{ acked: number, unknown: string[] }>('POST', '/v1/messages/ack', { ids }, options)
  }

  /** `POST /v1/pseudonyms`: creates a pseudonym; resolves once senders can find it. */
  async createPseudonym (options: RequestOptions & { label?: string } = {}): Promise<PseudonymInfo> {
    return await this.request<PseudonymInfo>('POST', '/v1/pseudonyms', options.label == null ? {} : { label: options.label }, options)
  }

  /** `GET /v1/pseudonyms`: the node's pseudonyms, oldest first. */
  async pseudonyms (options: RequestOptions = {}): Promise<PseudonymsResponse> {
    return await this.request<PseudonymsResponse>('GET', '/v1/pseudonyms', undefined, options)
  }

  /** `POST /v1/pseudonyms/:key/purge`: has the pseudonym's gateway delete incomplete messages (or with `all` every row); resolves with how many rows it deleted. */
  async purgePseudonymMailbox (key: string, options: RequestOptions & { all?: boolean } = {}): Promise<{ deleted: number }> {
    return await this.request<{ deleted: number }>('POST', `/v1/pseudonyms/${encodeURIComponent(key)}/purge`, options.all === true ? { all: true } : {}, options)
  }

  /** `GET /v1/mixnet`: preset, mix directory and counters. */
  async mixnet (options: RequestOptions = {}): Promise<MixnetResponse> {
    return await this.request<MixnetResponse>('GET', '/v1/mixnet', undefined, options)
  }

  /**
   * Sends one request and parses the JSON answer.
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
function readErrorBody (body: unknown): { code: string, message: string } | undefined {
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
