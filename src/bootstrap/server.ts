/**
 * The bootstrap endpoints of a server node (seed 001's bootstrap server,
 * issue 9 item 5; docs/bootstrap.md): a small public HTTP service, off by
 * default, that lists live peers to nodes joining the network. No bearer
 * token: anyone may read it; only the holder of a key may register,
 * heartbeat or unregister it, by answering a fresh single-use challenge of
 * src/auth (issue 14 item 1: purpose `umbra/bootstrap-<action>`, signed
 * with src/auth's domain-separated response) with that key and presenting
 * a peer record signed by it (src/registry). Ed25519 and secp256k1 (wallet)
 * keys both register. Rate-limited per source address (token bucket).
 *
 * Routes (JSON; errors are `{ error: { code, message } }`):
 * - `GET /challenge[?action=register|heartbeat|unregister]` → `{ challenge, expiresAt, issued }`:
 *   `challenge` is the nonce a request names, `issued` the src/auth challenge object to answer
 *   (answerBootstrapChallenge in client.ts); the action defaults to `register`
 * - `POST /register` `{ key, challenge, signature, record }` → 201 `{ peer }` (`signature`: the src/auth response's, base64url)
 * - `POST /heartbeat` `{ key, challenge, signature, record? }` → `{ peer }`
 * - `GET /peers` → `{ peers }`: at most 20 live peers, random order
 * - `GET /peer/:id` (PeerId or `key_…`) → `{ peer }`
 * - `DELETE /unregister` `{ key, challenge, signature }` → `{ removed: true }`
 */
import type { AddressInfo } from 'node:net'
import { fastify, type FastifyInstance } from 'fastify'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { AUTH_VERSION, AuthChallengeError, AuthExpiredError, AuthPurposeError, AuthReplayError, AuthSignatureError, createAuth, type Challenge } from '../auth/index.ts'
import { UmbraError, InvalidOptionError } from '../errors.ts'
import { InvalidKeyError, KeyChecksumError, keyFromPeerId, parsePeer } from '../identity/index.ts'
import { logger } from '../logger.ts'
import { peerRecordKey, verifyPeerRecord, type PeerRecordInfo } from '../registry/index.ts'
import {
  BODY_LIMIT_BYTES, BOOTSTRAP_PURPOSE_PREFIX, CHALLENGE_TTL_MS, MAX_CHALLENGES, MAX_PEERS_ANSWER,
  MAX_RATE_BUCKETS, MAX_REGISTERED, PEER_LIVE_MS, RATE_BURST, RATE_PER_SECOND
} from './constants.ts'
import { BadChallengeError, BadSignatureError, RateLimitedError } from './errors.ts'
import type { PrivateKey } from '@libp2p/interface'

const log = logger('bootstrap')

/** The three signed actions; each signs its own name, so a signature for one is no good for another. */
export type BootstrapAction = 'register' | 'heartbeat' | 'unregister'

/** Options of {@link createBootstrapServer}. */
export interface BootstrapServerInit {
  /** Address to listen on. @default '127.0.0.1' */
  host?: string
  /** TCP port; 0 picks a free one. @default 0 */
  port?: number
  /** Token bucket per source address: burst, requests. @default 30 */
  rateBurst?: number
  /** Token bucket per source address: refill, requests per second. @default 2 */
  ratePerSecond?: number
  /** A peer is listed until its last register or heartbeat is older than this, ms. @default 300_000 (5 min) */
  liveMs?: number
  /** The key named as issuer in the challenges (src/auth). @default a fresh Ed25519 key per server */
  privateKey?: PrivateKey
}

/** A running bootstrap server. */
export interface BootstrapServer {
  /** Base URL, e.g. `http://127.0.0.1:4100`. */
  readonly url: string
  /** How many peers are registered and live now. */
  size(): number
  /** Stops listening and forgets every peer and challenge. Idempotent. */
  close(): Promise<void>
}

/** A peer as the endpoints answer it. */
export interface BootstrapPeer {
  peerId: string
  key: string
  role: 'server' | 'client'
  addrs: string[]
  /** From the signed record, ms since the Unix epoch. */
  lastSeen: number
  /** Last register or heartbeat, ms since the Unix epoch. */
  heartbeatAt: number
  /** The signed peer record (base64), for the reader to verify itself. */
  record: string
}

/** The src/auth purpose of a challenge for `action`. */
export function bootstrapPurpose (action: BootstrapAction): string {
  return BOOTSTRAP_PURPOSE_PREFIX + action
}

/** The actions, in the order `GET /challenge?action=` accepts them. */
const ACTIONS: readonly BootstrapAction[] = ['register', 'heartbeat', 'unregister']

const STATUS: ReadonlyMap<string, number> = new Map([
  [BadChallengeError.code, 401],
  [BadSignatureError.code, 401],
  [RateLimitedError.code, 429],
  ['UMBRA_ERR_INVALID_RECORD', 400],
  ['UMBRA_ERR_INVALID_KEY', 400],
  ['UMBRA_ERR_KEY_CHECKSUM', 400],
  ['UMBRA_ERR_BAD_REQUEST', 400],
  ['UMBRA_ERR_PEER_NOT_FOUND', 404],
  ['UMBRA_ERR_STALE_RECORD', 409],
  ['UMBRA_ERR_BOOTSTRAP_FULL', 503]
])

class HttpError extends UmbraError {}

const keyPattern = '^key_[1-9A-HJ-NP-Za-km-z]{20,80}$'
const signedBody = (recordRequired: boolean): Record<string, unknown> => ({
  type: 'object',
  required: ['key', 'challenge', 'signature', ...(recordRequired ? ['record'] : [])],
  additionalProperties: false,
  properties: {
    key: { type: 'string', pattern: keyPattern },
    challenge: { type: 'string', pattern: '^[A-Za-z0-9_-]{43}$' }, // the nonce of a src/auth challenge (32 bytes, base64url)
    signature: { type: 'string', minLength: 1, maxLength: 128 },
    record: { type: 'string', minLength: 1, maxLength: 12_000 }
  }
})

/**
 * Starts the bootstrap endpoints (see the module comment).
 * @throws UMBRA_ERR_INVALID_OPTION (a bad field), the listen error (EADDRINUSE…)
 */
export async function createBootstrapServer (init: BootstrapServerInit = {}): Promise<BootstrapServer> {
  const host = init.host ?? '127.0.0.1'
  const port = init.port ?? 0
  const burst = init.rateBurst ?? RATE_BURST
  const perSecond = init.ratePerSecond ?? RATE_PER_SECOND
  const liveMs = init.liveMs ?? PEER_LIVE_MS
  if (typeof host !== 'string' || host.length === 0) throw new InvalidOptionError('bootstrapApi.host must be a host name or IP address')
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidOptionError('bootstrapApi.port must be a TCP port, 0 to 65535')
  if (!(burst >= 1) || !(perSecond > 0)) throw new InvalidOptionError('rateBurst must be at least 1 and ratePerSecond above 0')
  if (!Number.isInteger(liveMs) || liveMs < 1000) throw new InvalidOptionError('liveMs must be an integer number of ms, at least 1000')

  const auth = createAuth({ privateKey: init.privateKey ?? await generateKeyPair('Ed25519') })
  /** nonce → the src/auth challenge issued with it (single use); insertion order is age order. */
  const challenges = new Map<string, Challenge>()
  /** key_… → registration. */
  const peers = new Map<string, { info: PeerRecordInfo, record: string, heartbeatAt: number }>()
  /** source address → token bucket. */
  const buckets = new Map<string, { tokens: number, at: number }>()

  function take (ip: string): boolean {
    const now = Date.now()
    const b = buckets.get(ip) ?? { tokens: burst, at: now }
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * perSecond)
    b.at = now
    buckets.delete(ip)
    buckets.set(ip, b)
    if (buckets.size > MAX_RATE_BUCKETS) buckets.delete(buckets.keys().next().value as string)
    if (b.tokens < 1) return false
    b.tokens -= 1
    return true
  }

  function live (now = Date.now()): Array<[string, { info: PeerRecordInfo, record: string, heartbeatAt: number }]> {
    const out: Array<[string, { info: PeerRecordInfo, record: string, heartbeatAt: number }]> = []
    for (const [k, p] of peers) {
      if (now - p.heartbeatAt > liveMs || p.info.expiresAt <= now) peers.delete(k)
      else out.push([k, p])
    }
    return out
  }

  function show (p: { info: PeerRecordInfo, record: string, heartbeatAt: number }): BootstrapPeer {
    return { peerId: p.info.peerId, key: p.info.key, role: p.info.role, addrs: p.info.addrs, lastSeen: p.info.lastSeen, heartbeatAt: p.heartbeatAt, record: p.record }
  }

  /**
   * Consumes the challenge (whatever the outcome) and checks, with src/auth,
   * that `key` answered it for `action`: an unknown, used or expired challenge
   * is UMBRA_ERR_BAD_CHALLENGE; a signature by another key or for another
   * action is UMBRA_ERR_BAD_SIGNATURE (both 401).
   */
  async function proveKey (action: BootstrapAction, body: { key: string, challenge: string, signature: string }): Promise<void> {
    const issued = challenges.get(body.challenge)
    challenges.delete(body.challenge)
    if (issued == null) throw new BadChallengeError()
    try {
      await auth.verify(issued, { version: AUTH_VERSION, key: body.key, purpose: issued.purpose, nonce: issued.nonce, signature: body.signature }, { purpose: bootstrapPurpose(action) })
    } catch (err) {
      const code = (err as UmbraError).code
      if (code === AuthSignatureError.code || code === AuthPurposeError.code) throw new BadSignatureError(undefined, { cause: err })
      if (code === AuthExpiredError.code || code === AuthReplayError.code) throw new BadChallengeError(undefined, { cause: err })
      if (code === AuthChallengeError.code || code === InvalidKeyError.code || code === KeyChecksumError.code) throw new HttpError(`Malformed answer: ${(err as Error).message}`, 'UMBRA_ERR_BAD_REQUEST')
      throw err
    }
  }

  async function readRecord (key: string, record: string): Promise<PeerRecordInfo> {
    return await verifyPeerRecord(peerRecordKey(key), new Uint8Array(Buffer.from(record, 'base64')))
  }

  const app: FastifyInstance = fastify({ logger: false, bodyLimit: BODY_LIMIT_BYTES, return503OnClosing: true })

  app.addHook('onRequest', async (request, reply) => {
    void reply.header('cache-control', 'no-store').header('x-content-type-options', 'nosniff')
    if (!take(request.ip)) {
      void reply.header('retry-after', String(Math.ceil(1 / perSecond)))
      throw new RateLimitedError()
    }
  })

  app.setErrorHandler((err: Error & { code?: string, statusCode?: number, validation?: unknown }, _request, reply) => {
    let status = err instanceof UmbraError ? STATUS.get(err.code) ?? (err instanceof HttpError ? 400 : 500) : undefined
    let code = err instanceof UmbraError ? err.code : 'UMBRA_ERR_BAD_REQUEST'
    let message = err.message
    if (status == null) {
      status = err.validation != null ? 400 : (err.statusCode != null && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500)
      if (status === 413) code = 'UMBRA_ERR_BODY_TOO_LARGE'
      if (status === 500) {
        code = 'UMBRA_ERR_INTERNAL'
        message = 'Internal error'
        log.error({ err }, 'bootstrap request failed')
      }
    }
    void reply.code(status).send({ error: { code, message } })
  })

  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ error: { code: 'UMBRA_ERR_NOT_FOUND', message: `No route ${request.method} ${request.url.split('?', 1)[0] ?? ''}` } })
  })

  app.get<{ Querystring: { action?: BootstrapAction } }>('/challenge', {
    schema: { querystring: { type: 'object', additionalProperties: false, properties: { action: { type: 'string', enum: [...ACTIONS] } } } }
  }, async (request) => {
    const now = Date.now()
    for (const [nonce, c] of challenges) {
      if (c.expiresAt >= now && challenges.size < MAX_CHALLENGES) break
      challenges.delete(nonce)
    }
    const issued = auth.challenge({ purpose: bootstrapPurpose(request.query.action ?? 'register'), ttlMs: CHALLENGE_TTL_MS })
    challenges.set(issued.nonce, issued)
    return { challenge: issued.nonce, expiresAt: issued.expiresAt, issued }
  })

  app.post<{ Body: { key: string, challenge: string, signature: string, record: string } }>('/register', { schema: { body: signedBody(true) } }, async (request, reply) => {
    const body = request.body
    await proveKey('register', body)
    const info = await readRecord(body.key, body.record)
    const held = peers.get(info.key)
    if (held != null && held.info.seq > info.seq) throw new HttpError(`A newer record (seq ${held.info.seq}) is registered`, 'UMBRA_ERR_STALE_RECORD')
    if (held == null && live().length >= MAX_REGISTERED) throw new HttpError('This bootstrap server is full', 'UMBRA_ERR_BOOTSTRAP_FULL')
    const entry = { info, record: body.record, heartbeatAt: Date.now() }
    peers.set(info.key, entry)
    log.debug({ role: info.role }, 'peer registered')
    void reply.code(201)
    return { peer: show(entry) }
  })

  app.post<{ Body: { key: string, challenge: string, signature: string, record?: string } }>('/heartbeat', { schema: { body: signedBody(false) } }, async (request) => {
    const body = request.body
    await proveKey('heartbeat', body)
    const key = keyFromPeerId(parsePeer(body.key))
    live()
    const held = peers.get(key)
    if (held == null) throw new HttpError('This key is not registered (or its heartbeat lapsed); POST /register', 'UMBRA_ERR_PEER_NOT_FOUND')
    if (body.record != null) {
      const info = await readRecord(key, body.record)
      if (info.seq < held.info.seq) throw new HttpError(`A newer record (seq ${held.info.seq}) is registered`, 'UMBRA_ERR_STALE_RECORD')
      held.info = info
      held.record = body.record
    }
    held.heartbeatAt = Date.now()
    return { peer: show(held) }
  })

  app.get('/peers', async () => {
    const list = live()
    for (let i = list.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1))
      const tmp = list[i] as (typeof list)[number]
      list[i] = list[j] as (typeof list)[number]
      list[j] = tmp
    }
    return { peers: list.slice(0, MAX_PEERS_ANSWER).map(([, p]) => show(p)) }
  })

  app.get<{ Params: { id: string } }>('/peer/:id', { schema: { params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 128 } } } } }, async (request) => {
    const key = keyFromPeerId(parsePeer(request.params.id))
    live()
    const held = peers.get(key)
    if (held == null) throw new HttpError('No live peer with this id is registered', 'UMBRA_ERR_PEER_NOT_FOUND')
    return { peer: show(held) }
  })

  app.delete<{ Body: { key: string, challenge: string, signature: string } }>('/unregister', { schema: { body: signedBody(false) } }, async (request) => {
    const body = request.body
    await proveKey('unregister', body)
    const key = keyFromPeerId(parsePeer(body.key))
    if (!peers.delete(key)) throw new HttpError('This key is not registered', 'UMBRA_ERR_PEER_NOT_FOUND')
    return { removed: true }
  })

  await app.listen({ host, port })
  const addr = app.server.address() as AddressInfo
  const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`
  log.info({ url }, 'bootstrap endpoints listening')
  let closed = false
  return {
    url,
    size: () => live().length,
    async close () {
      if (closed) return
      closed = true
      await app.close()
      peers.clear()
      challenges.clear()
      buckets.clear()
    }
  }
}
