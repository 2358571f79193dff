/**
 * HTTP API tests (DESIGN.md section 7, issue 2): real HTTP on 127.0.0.1
 * port 0 through `fetch`, first against an in-test node that implements the
 * `UmbraNode` interface and records what the API asked of it, then over two
 * real nodes on loopback.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createApiServer, buildOpenApiDocument, ROUTES, MAX_DHT_VALUE_BYTES, MAX_HOLEPUNCH_ADDRS, MAX_MESSAGE_BYTES, MAX_REPLY_BYTES, statusOfUmbraCode } from '../../src/api/index.ts'
import type { ApiServer, ErrorBody, RouteResponse } from '../../src/api/index.ts'
import { AbortedError, UmbraError } from '../../src/errors.ts'
import { createNode } from '../../src/node/index.ts'
import type { UmbraNode, PeerSummary } from '../../src/node/index.ts'
import type { DhtGetOptions, DhtGetResult, DhtPutOptions, DhtPutResult, DhtService } from '../../src/dht/types.ts'
import type { MessagingService, ReceivedMessage, SendOptions, SendReceipt } from '../../src/messaging/types.ts'
import type { AnonymousMessage, AnonymousReply, AnonymousSendOptions, AnonymousSendReceipt, MixnetCounters, MixnetService, PseudonymCreateOptions, PseudonymInfo, PseudonymService } from '../../src/mixnet/types.ts'
import type { HolePunchOptions, HolePunchResult, NatService, NatStatus } from '../../src/nat/types.ts'
import { REPLY_DATA_SIZE } from '../../src/mixnet/wire.ts'
import { createInbox, type InboxHandle } from '../../src/messaging/inbox.ts'
import { openStateDatabase } from '../../src/store/index.ts'
import { createTestnet } from '../../src/testnet/index.ts'
import type { Testnet } from '../../src/testnet/index.ts'

type Listener = Parameters<EventTarget['addEventListener']>[1]

const TOKEN = 'test-token-0123456789abcdef'
const AUTH = { authorization: `Bearer ${TOKEN}` }

/**
 * A node that keeps DHT records in a map and messages in arrays, and fails
 * on purpose for some inputs:
 * - DHT key `explode` / recipient `explode`: a plain Error (→ 500)
 * - DHT key `slow`: waits for the signal, then throws AbortedError (→ 504)
 * - recipient `unreachable`: UMBRA_ERR_DELIVERY_FAILED (→ 502)
 * - recipient `bad-recipient`: UMBRA_ERR_INVALID_RECIPIENT (→ 400)
 * - anonymous recipient `key_unknown` / `key_nomixes` / `key_full` / `key_lost`:
 *   UMBRA_ERR_UNKNOWN_PSEUDONYM / _NOT_ENOUGH_MIXES / _MAILBOX_FULL / _ANON_DELIVERY_FAILED
 * - reply to message `ff…ff`: UMBRA_ERR_NO_SURB; pseudonym label `nomixes`: UMBRA_ERR_NOT_ENOUGH_MIXES
 * - hole punch to `unreachable` / `bad-recipient`: UMBRA_ERR_PEER_UNREACHABLE / UMBRA_ERR_INVALID_RECIPIENT;
 *   to `relayed`: a relayed result with a reason
 */
class FakeNode extends EventTarget {
  readonly peerId = '12D3KooWFakeNodeAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
  readonly key = 'key_FakeKeyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
  readonly role = 'server' as const
  readonly dataDir = '/nonexistent'
  readonly libp2p = undefined as unknown as UmbraNode['libp2p']
  isStarted = true
  peers: PeerSummary[] = [{ peerId: '12D3KooWPeerB', addrs: ['/ip4/127.0.0.1/tcp/4001'], path: 'direct' }]
  readonly records = new Map<string, DhtGetResult>()
  readonly puts: Array<{ key: string, value: Uint8Array, options: DhtPutOptions | undefined }> = []
  readonly gets: Array<{ key: string, options: DhtGetOptions | undefined }> = []
  readonly sent: Array<{ to: string, body: Uint8Array }> = []
  /** The real durable inbox on an in-memory state database; a test that needs it empty calls {@link resetInbox}. */
  inbox: InboxHandle = createInbox({ state: openStateDatabase({ path: ':memory:' }) })
  resetInbox (): void { this.inbox = createInbox({ state: openStateDatabase({ path: ':memory:' }) }) }
  readonly anonSent: Array<{ to: string, body: Uint8Array, options: AnonymousSendOptions | undefined }> = []
  readonly anonInbox: AnonymousMessage[] = []
  readonly anonReplies: AnonymousReply[] = []
  readonly repliesSent: Array<{ id: string, body: Uint8Array }> = []
  readonly pseudonymList: PseudonymInfo[] = []
  readonly punches: Array<{ peer: string, options: HolePunchOptions | undefined }> = []
  // Names resolve to themselves here, so the fake services below see the recipient strings they interpret (src/names: test/names).
  readonly names = {
    resolve: async (name: string) => ({ name, kind: 'global', records: [{ type: 'peer', value: name }, { type: 'pseudonym', value: name }], owner: this.key, seq: 1, expiresAt: Date.now() + 60_000, cacheTtl: 0, source: 'network' })
  }
  readonly #listeners = new Map<string, Set<unknown>>()

  readonly dht: DhtService = {
    put: async (key: string, value: Uint8Array, options?: DhtPutOptions): Promise<DhtPutResult> => {
      if (key === 'explode') throw new Error('secret internal detail')
      if (key === 'slow') {
        await new Promise((resolve) => options?.signal?.addEventListener('abort', resolve, { once: true }))
        throw new AbortedError()
      }
      this.puts.push({ key, value, options })
      const seq = (this.records.get(key)?.seq ?? 0) + 1
      const expiresAt = Date.now() + (options?.ttl ?? 86_400_000)
      this.records.set(key, { key, value, publisher: this.key, seq, expiresAt, source: 'local' })
      return { key, seq, expiresAt, storedOn: 3 }
    },
    get: async (key: string, options?: DhtGetOptions): Promise<DhtGetResult | undefined> => {
      this.gets.push({ key, options })
      return this.records.get(key)
    }
  }

  readonly messaging: MessagingService = {
    send: async (to: string, body: Uint8Array, _options?: SendOptions): Promise<SendReceipt> => {
      if (to === 'explode') throw new Error('secret internal detail')
      if (to === 'unreachable') throw new UmbraError('No route to the recipient', 'UMBRA_ERR_DELIVERY_FAILED')
      if (to === 'bad-recipient') throw new UmbraError('Not a PeerId or key', 'UMBRA_ERR_INVALID_RECIPIENT')
      this.sent.push({ to, body })
      if (to === 'offline') return { id: _options?.id ?? 'ab'.repeat(16), to, path: 'queued', servers: ['12D3KooWQueue'], rttMs: 20 }
      return { id: _options?.id ?? 'ab'.repeat(16), to, path: 'direct', rttMs: 12.5 }
    },
    paths: async (to: string) => {
      if (to === 'bad-recipient') throw new UmbraError('Not a PeerId or key', 'UMBRA_ERR_INVALID_RECIPIENT')
      return []
    },
    inbox: (): ReceivedMessage[] => [],
    drainOfflineQueue: async () => 0
  }

  readonly mixnet: MixnetService = {
    preset: 'balanced',
    parameters: { meanDelayMs: 20, loopRate: 0.5, dropRate: 0.5, payloadRate: 2 },
    events: new EventTarget() as unknown as MixnetService['events'],
    send: async (to: string, body: Uint8Array, options?: AnonymousSendOptions): Promise<AnonymousSendReceipt> => {
      const failures: Record<string, [string, string]> = {
        key_unknown: ['UMBRA_ERR_UNKNOWN_PSEUDONYM', 'No contact record was found for this pseudonym'],
        key_nomixes: ['UMBRA_ERR_NOT_ENOUGH_MIXES', 'A 3-hop path needs 3 mix nodes'],
        key_full: ['UMBRA_ERR_MAILBOX_FULL', "The recipient's mailbox is full"],
        key_lost: ['UMBRA_ERR_ANON_DELIVERY_FAILED', 'A fragment was not acknowledged after 4 tries']
      }
      const failure = failures[to]
      if (failure !== undefined) throw new UmbraError(failure[1], failure[0])
      this.anonSent.push({ to, body, options })
      return { id: 'cd'.repeat(16), to, fragments: 1, retransmissions: 0, status: options?.wait ?? 'stored', rttMs: 42.5, gateways: ['12D3KooWGateway'], gatewayFailovers: 0 }
    },
    reply: async (messageId: string, body: Uint8Array): Promise<void> => {
      if (body.byteLength > REPLY_DATA_SIZE) throw new UmbraError('A reply is at most 3358 bytes', 'UMBRA_ERR_REPLY_TOO_LARGE')
      const msg = this.anonInbox.find((m) => m.id === messageId)
      if (msg === undefined || msg.repliesLeft === 0) throw new UmbraError(`No reply block is left for message ${messageId}`, 'UMBRA_ERR_NO_SURB')
      msg.repliesLeft--
      this.repliesSent.push({ id: messageId, body })
    },
    inbox: (): AnonymousMessage[] => this.anonInbox.map((m) => ({ ...m })),
    replies: (): AnonymousReply[] => [...this.anonReplies],
    directory: () => [{ peerId: '12D3KooWMixA', addrs: ['/ip4/127.0.0.1/tcp/4002'], epochs: [7, 8], expiresAt: 9_000 }],
    counters: (): MixnetCounters => ({
      packetsIn: 5, forwarded: 4, forwardFailed: 0, dropped: { mac: 1 }, stored: 2, refused: 0, acksSent: 2, acksFailed: 0,
      fragmentsSent: 3, retransmitted: 1, loopsSent: 0, loopsReturned: 0, dropCoverSent: 0, coverDropped: 0, replyGatewayMoves: 0,
      gatewayFailovers: 0, gatewayReplacements: 0, duplicatesDropped: 0
    }),
    replyGateway: () => '12D3KooWMixA',
    suspects: () => [],
    outcome: () => undefined
  }

  readonly pseudonyms: PseudonymService = {
    create: async (options?: PseudonymCreateOptions): Promise<PseudonymInfo> => {
      if (options?.label === 'nomixes') throw new UmbraError('The mix directory lists no gateway yet', 'UMBRA_ERR_NOT_ENOUGH_MIXES')
      const gateways = Array.from({ length: options?.gateways ?? 1 }, (_, i) => i === 0 ? '12D3KooWGateway' : `12D3KooWGateway${i}`)
      const info: PseudonymInfo = { key: `key_Pseudonym${this.pseudonymList.length}`, gateways, label: options?.label, createdAt: 1234, online: true, gatewayStates: gateways.map((peerId) => ({ peerId, state: 'connected', since: 1234, listed: true })) }
      this.pseudonymList.push(info)
      return info
    },
    list: (): PseudonymInfo[] => [...this.pseudonymList],
    purgeMailbox: async (key: string, options?: { all?: boolean }): Promise<{ deleted: number }> => {
      if (!this.pseudonymList.some((p) => p.key === key)) throw new UmbraError('This node does not hold that pseudonym', 'UMBRA_ERR_NOT_MY_PSEUDONYM')
      return { deleted: options?.all === true ? 7 : 3 }
    }
  }

  readonly natStatus: NatStatus = { reachability: 'public', reachableAddrs: [`/ip4/127.0.0.1/tcp/4000/p2p/${this.peerId}`], relays: [], stunPort: 3478, stunServers: [], mapping: 'consistent', samples: [] }

  readonly nat: NatService = {
    status: (): NatStatus => this.natStatus,
    holePunch: async (peer: string, options?: HolePunchOptions): Promise<HolePunchResult> => {
      if (peer === 'unreachable') throw new UmbraError('No direct or relayed connection to the peer', 'UMBRA_ERR_PEER_UNREACHABLE')
      if (peer === 'bad-recipient') throw new UmbraError('Not a PeerId or key_ key', 'UMBRA_ERR_INVALID_RECIPIENT')
      this.punches.push({ peer, options })
      if (peer === 'relayed') {
        return { peer, path: 'relayed', method: 'circuit-relay', rttMs: 8.25, elapsedMs: 120.5, remoteAddr: '/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWRelay/p2p-circuit', reason: 'no WebRTC address answered' }
      }
      return { peer, path: 'direct', method: 'webrtc', rttMs: 1.25, elapsedMs: 340.5, remoteAddr: '/ip4/127.0.0.1/udp/4002/webrtc' }
    }
  }

  getMultiaddrs (): string[] { return [`/ip4/127.0.0.1/tcp/4000/p2p/${this.peerId}`] }
  getPeers (): PeerSummary[] { return this.peers }
  async start (): Promise<void> { this.isStarted = true }
  async stop (): Promise<void> { this.isStarted = false }

  override addEventListener (type: string, listener: Listener, options?: Parameters<EventTarget['addEventListener']>[2]): void {
    if (listener !== null) {
      const set = this.#listeners.get(type) ?? new Set()
      set.add(listener)
      this.#listeners.set(type, set)
    }
    super.addEventListener(type, listener, options)
  }

  override removeEventListener (type: string, listener: Listener, options?: Parameters<EventTarget['removeEventListener']>[2]): void {
    if (listener !== null) this.#listeners.get(type)?.delete(listener)
    super.removeEventListener(type, listener, options)
  }

  listenerCount (type: string): number { return this.#listeners.get(type)?.size ?? 0 }

  safeDispatchEvent<Detail> (type: string, init?: { detail?: Detail }): boolean {
    return this.dispatchEvent(new CustomEvent(type, init))
  }

  emit<Detail> (type: string, detail: Detail): void {
    this.dispatchEvent(new CustomEvent(type, { detail }))
  }

  asNode (): UmbraNode { return this as unknown as UmbraNode }
}

interface CallOptions {
  headers?: Record<string, string>
  /** JSON-encoded as the body with `content-type: application/json`. */
  json?: unknown
  /** Sent as-is. */
  raw?: string
}

interface CallResult {
  status: number
  headers: Headers
  body: any // eslint-disable-line @typescript-eslint/no-explicit-any
}

async function call (api: ApiServer, method: string, path: string, opts: CallOptions = {}): Promise<CallResult> {
  const headers: Record<string, string> = { ...opts.headers }
  let body: string | undefined
  if (opts.json !== undefined) {
    headers['content-type'] ??= 'application/json'
    body = JSON.stringify(opts.json)
  } else if (opts.raw !== undefined) {
    body = opts.raw
  }
  const res = await fetch(api.url + path, { method, headers, body })
  const text = await res.text()
  let parsed: unknown = text
  try { parsed = JSON.parse(text) } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, body: parsed }
}

function assertError (res: CallResult, status: number, code: string, messageIncludes?: string): void {
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status} ${JSON.stringify(res.body)}`)
  assert.equal(res.body?.error?.code, code)
  assert.equal(typeof res.body.error.message, 'string')
  assert.deepEqual(Object.keys(res.body), ['error'])
  if (messageIncludes !== undefined) {
    assert.ok(res.body.error.message.includes(messageIncludes), `message ${JSON.stringify(res.body.error.message)} should mention ${messageIncludes}`)
  }
}

/** Reads an event stream until `done(text)` is true; returns all text read. */
async function readUntil (reader: ReadableStreamDefaultReader<Uint8Array>, state: { text: string }, done: (text: string) => boolean, timeoutMs = 5000): Promise<string> {
  const decoder = new TextDecoder()
  const deadline = Date.now() + timeoutMs
  while (!done(state.text)) {
    const remaining = deadline - Date.now()
    if (remaining <= 0) throw new Error(`timed out waiting for event stream; got ${JSON.stringify(state.text.slice(-500))}`)
    let timer: NodeJS.Timeout | undefined
    const chunk = await Promise.race([
      reader.read(),
      new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`timed out waiting for event stream; got ${JSON.stringify(state.text.slice(-500))}`)), remaining) })
    ]).finally(() => clearTimeout(timer))
    if (chunk.done) throw new Error('event stream ended')
    state.text += decoder.decode(chunk.value, { stream: true })
  }
  return state.text
}

/** Parses `event:`/`data:` blocks of an event stream. */
function parseEvents (text: string): Array<{ event: string, data: unknown }> {
  const events: Array<{ event: string, data: unknown }> = []
  for (const block of text.split('\n\n')) {
    const lines = block.split('\n')
    const event = lines.find((l) => l.startsWith('event: '))?.slice('event: '.length)
    const data = lines.find((l) => l.startsWith('data: '))?.slice('data: '.length)
    if (event !== undefined && data !== undefined) events.push({ event, data: JSON.parse(data) })
  }
  return events
}

async function waitFor (condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** Every route that needs the token, with a request that would otherwise succeed. */
const PROTECTED: Array<{ method: string, path: string, json?: unknown }> = [
  { method: 'GET', path: '/v1/node' },
  { method: 'GET', path: '/v1/peers' },
  { method: 'POST', path: '/v1/nat/holepunch', json: { peer: '12D3KooWPeerB' } },
  { method: 'PUT', path: '/v1/dht/some-key', json: { value: 'v' } },
  { method: 'GET', path: '/v1/dht/some-key' },
  { method: 'POST', path: '/v1/messages', json: { to: '12D3KooWPeerB', body: 'hi' } },
  { method: 'GET', path: '/v1/messages' },
  { method: 'POST', path: `/v1/messages/${'ee'.repeat(16)}/reply`, json: { body: 'hi' } },
  { method: 'POST', path: '/v1/pseudonyms', json: {} },
  { method: 'GET', path: '/v1/pseudonyms' },
  { method: 'POST', path: '/v1/pseudonyms/key_Pseudonym0/purge', json: {} },
  { method: 'GET', path: '/v1/mixnet' },
  { method: 'GET', path: '/v1/events' }
]

describe('HTTP API over a fake node', () => {
  let node: FakeNode
  let api: ApiServer

  before(async () => {
    node = new FakeNode()
    api = await createApiServer(node.asNode(), { token: TOKEN, port: 0, heartbeatInterval: 50 })
  })

  after(async () => {
    await api.close()
  })

  it('listens on 127.0.0.1 with the real port in url', () => {
    assert.match(api.url, /^http:\/\/127\.0\.0\.1:\d+$/)
    assert.notEqual(api.url, 'http://127.0.0.1:0')
  })

  it('serves /v1/health and /v1/openapi.json without a token', async () => {
    const health = await call(api, 'GET', '/v1/health')
    assert.equal(health.status, 200)
    assert.deepEqual(health.body, { status: 'ok' })
    const doc = await call(api, 'GET', '/v1/openapi.json')
    assert.equal(doc.status, 200)
    assert.equal(doc.body.openapi, '3.1.0')
  })

  it('answers 401 UMBRA_ERR_UNAUTHORIZED on every other route without the right token', async () => {
    const wrong: Array<Record<string, string> | undefined> = [
      undefined,
      { authorization: 'Bearer wrong-token' },
      { authorization: `Bearer ${TOKEN}x` },
      { authorization: `Bearer ${TOKEN.slice(0, -1)}` },
      { authorization: `Basic ${TOKEN}` },
      { authorization: TOKEN },
      { authorization: 'Bearer' }
    ]
    for (const route of PROTECTED) {
      for (const headers of wrong) {
        const res = await call(api, route.method, route.path, { ...(headers !== undefined ? { headers } : {}), ...(route.json !== undefined ? { json: route.json } : {}) })
        assertError(res, 401, 'UMBRA_ERR_UNAUTHORIZED')
        assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="umbra"')
      }
    }
    assert.equal(node.puts.length, 0, 'no unauthorized request reached the DHT')
    assert.equal(node.sent.length, 0, 'no unauthorized request reached messaging')
    assert.equal(node.repliesSent.length, 0, 'no unauthorized request reached the mixnet')
    assert.equal(node.pseudonymList.length, 0, 'no unauthorized request created a pseudonym')
    assert.equal(node.punches.length, 0, 'no unauthorized request reached the NAT service')
    // the bearer scheme name is case-insensitive (RFC 7235)
    assert.equal((await call(api, 'GET', '/v1/node', { headers: { authorization: `bearer ${TOKEN}` } })).status, 200)
  })

  it('accepts ?token= on /v1/events only', async () => {
    assertError(await call(api, 'GET', `/v1/node?token=${TOKEN}`), 401, 'UMBRA_ERR_UNAUTHORIZED')
    assertError(await call(api, 'GET', '/v1/events?token=nope'), 401, 'UMBRA_ERR_UNAUTHORIZED')
    const controller = new AbortController()
    const res = await fetch(`${api.url}/v1/events?token=${TOKEN}`, { signal: controller.signal })
    assert.equal(res.status, 200)
    controller.abort()
  })

  it('GET /v1/node and /v1/peers describe the node', async () => {
    const info = await call(api, 'GET', '/v1/node', { headers: AUTH })
    assert.equal(info.status, 200)
    assert.deepEqual(info.body, { peerId: node.peerId, key: node.key, role: 'server', addrs: node.getMultiaddrs(), peers: 1, nat: node.natStatus })
    const peers = await call(api, 'GET', '/v1/peers', { headers: AUTH })
    assert.equal(peers.status, 200)
    assert.deepEqual(peers.body, { peers: node.peers })
    assert.equal(peers.headers.get('cache-control'), 'no-store')
  })

  it('PUT then GET /v1/dht/:key round-trips text, with ttl in seconds', async () => {
    const put = await call(api, 'PUT', '/v1/dht/greeting', { headers: AUTH, json: { value: 'hello wörld', ttl: 60 } })
    assert.equal(put.status, 200, JSON.stringify(put.body))
    assert.equal(put.body.key, 'greeting')
    assert.equal(put.body.seq, 1)
    assert.equal(put.body.storedOn, 3)
    assert.ok(Math.abs(put.body.expiresAt - (Date.now() + 60_000)) < 5000)
    const last = node.puts.at(-1)
    assert.equal(last?.options?.ttl, 60_000, 'ttl is passed to the service in milliseconds')
    assert.ok(last?.options?.signal instanceof AbortSignal)
    assert.deepEqual(Buffer.from(last.value), Buffer.from('hello wörld', 'utf8'))

    const get = await call(api, 'GET', '/v1/dht/greeting', { headers: AUTH })
    assert.equal(get.status, 200)
    assert.deepEqual(get.body, { key: 'greeting', value: 'hello wörld', encoding: 'utf8', publisher: node.key, seq: 1, expiresAt: put.body.expiresAt, source: 'local' })
    assert.equal(node.gets.at(-1)?.options?.fresh, false)
    await call(api, 'GET', '/v1/dht/greeting?fresh=true', { headers: AUTH })
    assert.equal(node.gets.at(-1)?.options?.fresh, true)

    // without ttl the service default applies
    await call(api, 'PUT', '/v1/dht/greeting', { headers: AUTH, json: { value: 'again' } })
    assert.equal(node.puts.at(-1)?.options?.ttl, undefined)
  })

  it('returns bytes that are not UTF-8 as base64, and keeps a BOM', async () => {
    const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc3])
    const put = await call(api, 'PUT', '/v1/dht/binary', { headers: AUTH, json: { value: bytes.toString('base64'), encoding: 'base64' } })
    assert.equal(put.status, 200)
    assert.deepEqual(Buffer.from(node.puts.at(-1)?.value ?? []), bytes)
    const get = await call(api, 'GET', '/v1/dht/binary', { headers: AUTH })
    assert.equal(get.body.encoding, 'base64')
    assert.deepEqual(Buffer.from(get.body.value, 'base64'), bytes)

    await call(api, 'PUT', '/v1/dht/bom', { headers: AUTH, json: { value: '\ufeffhi' } })
    const bom = await call(api, 'GET', '/v1/dht/bom', { headers: AUTH })
    assert.equal(bom.body.encoding, 'utf8')
    assert.equal(bom.body.value, '\ufeffhi')
  })

  it('percent-decodes the key in the path, including / and non-ASCII', async () => {
    const key = 'dir/sub key/ключ?#'
    const put = await call(api, 'PUT', `/v1/dht/${encodeURIComponent(key)}`, { headers: AUTH, json: { value: 'x' } })
    assert.equal(put.status, 200, JSON.stringify(put.body))
    assert.equal(node.puts.at(-1)?.key, key)
    const get = await call(api, 'GET', `/v1/dht/${encodeURIComponent(key)}`, { headers: AUTH })
    assert.equal(get.body.key, key)
    // 256 bytes is the limit, 257 is refused before the service
    const longest = 'é'.repeat(128)
    assert.equal((await call(api, 'PUT', `/v1/dht/${encodeURIComponent(longest)}`, { headers: AUTH, json: { value: 'x' } })).status, 200)
    const tooLong = await call(api, 'PUT', `/v1/dht/${encodeURIComponent(longest + 'a')}`, { headers: AUTH, json: { value: 'x' } })
    assertError(tooLong, 400, 'UMBRA_ERR_INVALID_KEY_NAME', 'params.key')
    assertError(await call(api, 'GET', '/v1/dht/%E0%A4%A', { headers: AUTH }), 400, 'UMBRA_ERR_BAD_REQUEST')
  })

  it('GET /v1/dht/:key answers 404 UMBRA_ERR_NOT_FOUND for a missing record', async () => {
    assertError(await call(api, 'GET', '/v1/dht/never-stored', { headers: AUTH }), 404, 'UMBRA_ERR_NOT_FOUND')
  })

  it('POST /v1/messages sends the decoded bytes and returns the receipt', async () => {
    const res = await call(api, 'POST', '/v1/messages', { headers: AUTH, json: { to: '12D3KooWPeerB', body: 'hi there' } })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.deepEqual(res.body, { id: 'ab'.repeat(16), to: '12D3KooWPeerB', anonymous: false, path: 'direct', rttMs: 12.5 })
    assert.equal(node.sent.at(-1)?.to, '12D3KooWPeerB')
    assert.equal(Buffer.from(node.sent.at(-1)?.body ?? []).toString(), 'hi there')

    // exactly 1 MiB as base64 fits under the body limit and reaches the service
    const big = Buffer.alloc(MAX_MESSAGE_BYTES, 7)
    const ok = await call(api, 'POST', '/v1/messages', { headers: AUTH, json: { to: '12D3KooWPeerB', body: big.toString('base64'), encoding: 'base64' } })
    assert.equal(ok.status, 200, JSON.stringify(ok.body))
    assert.equal(node.sent.at(-1)?.body.byteLength, MAX_MESSAGE_BYTES)
  })

  it('maps service errors to status codes and hides unexpected errors', async () => {
    assertError(await call(api, 'POST', '/v1/messages', { headers: AUTH, json: { to: 'unreachable', body: 'x' } }), 502, 'UMBRA_ERR_DELIVERY_FAILED', 'No route')
    assertError(await call(api, 'POST', '/v1/messages', { headers: AUTH, json: { to: 'bad-recipient', body: 'x' } }), 400, 'UMBRA_ERR_INVALID_RECIPIENT')
    for (const res of [
      await call(api, 'POST', '/v1/messages', { headers: AUTH, json: { to: 'explode', body: 'x' } }),
      await call(api, 'PUT', '/v1/dht/explode', { headers: AUTH, json: { value: 'x' } })
    ]) {
      assertError(res, 500, 'UMBRA_ERR_INTERNAL')
      assert.ok(!JSON.stringify(res.body).includes('secret'), 'the real error is not sent to the client')
    }
    node.isStarted = false
    try {
      assertError(await call(api, 'GET', '/v1/node', { headers: AUTH }), 503, 'UMBRA_ERR_NOT_STARTED')
    } finally {
      node.isStarted = true
    }
  })

  it('GET /v1/messages lists the inbox, filtered by since', async () => {
    node.resetInbox()
    node.inbox.addDirect({ id: '01'.repeat(16), from: '12D3KooWPeerB', fromKey: 'key_B', body: new TextEncoder().encode('first'), sentAt: 1000, receivedAt: 1100 })
    node.inbox.addDirect({ id: '02'.repeat(16), from: '12D3KooWPeerB', fromKey: 'key_B', body: new Uint8Array([0xff, 0x00]), sentAt: 2000, receivedAt: 2100 })
    const all = await call(api, 'GET', '/v1/messages', { headers: AUTH })
    assert.equal(all.status, 200)
    assert.deepEqual(all.body.messages, [
      { kind: 'direct', anonymous: false, id: '02'.repeat(16), from: '12D3KooWPeerB', fromKey: 'key_B', body: '/wA=', encoding: 'base64', sentAt: 2000, receivedAt: 2100 },
      { kind: 'direct', anonymous: false, id: '01'.repeat(16), from: '12D3KooWPeerB', fromKey: 'key_B', body: 'first', encoding: 'utf8', sentAt: 1000, receivedAt: 1100 }
    ])
    const since = await call(api, 'GET', '/v1/messages?since=2100', { headers: AUTH })
    assert.deepEqual(since.body.messages.map((m: { id: string }) => m.id), ['02'.repeat(16)])
    assert.deepEqual((await call(api, 'GET', '/v1/messages?since=2101', { headers: AUTH })).body.messages, [])
    assertError(await call(api, 'GET', '/v1/messages?since=yesterday', { headers: AUTH }), 400, 'UMBRA_ERR_BAD_REQUEST', 'since')
  })

  it('rejects bad input with the right status and code, and stays up', async () => {
    const put = (json: unknown): Promise<CallResult> => call(api, 'PUT', '/v1/dht/k', { headers: AUTH, json })
    const putsBefore = node.puts.length

    assertError(await call(api, 'PUT', '/v1/dht/k', { headers: { ...AUTH, 'content-type': 'application/json' }, raw: '{"value": "x",' }), 400, 'UMBRA_ERR_BAD_JSON')
    assertError(await call(api, 'POST', '/v1/messages', { headers: { ...AUTH, 'content-type': 'application/json' }, raw: 'not json' }), 400, 'UMBRA_ERR_BAD_JSON')
    assertError(await call(api, 'PUT', '/v1/dht/k', { headers: { ...AUTH, 'content-type': 'application/json' }, raw: '' }), 400, 'UMBRA_ERR_BAD_JSON')
    assertError(await call(api, 'PUT', '/v1/dht/k', { headers: { ...AUTH, 'content-type': 'application/json' }, raw: '{"__proto__": {"x": 1}, "value": "v"}' }), 400, 'UMBRA_ERR_BAD_JSON')

    assertError(await put({ value: 'x', ttl: 'x' }), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.ttl')
    assertError(await put({ value: 'x', ttl: '60' }), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.ttl')
    assertError(await put({ value: 'x', ttl: 1.5 }), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.ttl')
    assertError(await put({ value: 'x', ttl: 0 }), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.ttl')
    assertError(await put({ value: 'x', ttl: 172_801 }), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.ttl')
    assertError(await put({ value: 123 }), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.value')
    assertError(await put({ value: null }), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.value')
    assertError(await put({}), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.value')
    assertError(await put([]), 400, 'UMBRA_ERR_BAD_REQUEST')
    assertError(await put('just a string'), 400, 'UMBRA_ERR_BAD_REQUEST')
    assertError(await put({ value: 'x', colour: 'red' }), 400, 'UMBRA_ERR_BAD_REQUEST', 'colour')
    assertError(await put({ value: 'x', encoding: 'hex' }), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.encoding')
    assertError(await put({ value: 'not base64!', encoding: 'base64' }), 400, 'UMBRA_ERR_BAD_REQUEST', 'base64')
    assertError(await put({ value: 'QR==', encoding: 'base64' }), 400, 'UMBRA_ERR_BAD_REQUEST', 'base64')
    assertError(await put({ value: 'lone \ud800 surrogate' }), 400, 'UMBRA_ERR_BAD_REQUEST', 'surrogate')
    assertError(await call(api, 'PUT', '/v1/dht/k?extra=1', { headers: AUTH, json: { value: 'x' } }), 400, 'UMBRA_ERR_BAD_REQUEST', 'extra')
    assertError(await call(api, 'GET', '/v1/dht/k?fresh=yes', { headers: AUTH }), 400, 'UMBRA_ERR_BAD_REQUEST', 'fresh')
    assertError(await call(api, 'POST', '/v1/messages', { headers: AUTH, json: { to: 'x', body: 'hi', extra: true } }), 400, 'UMBRA_ERR_BAD_REQUEST', 'extra')
    assertError(await call(api, 'POST', '/v1/messages', { headers: AUTH, json: { to: 'x' } }), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.body')
    assertError(await call(api, 'POST', '/v1/messages', { headers: AUTH, json: { to: '', body: 'x' } }), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.to')

    assertError(await call(api, 'PUT', '/v1/dht/k', { headers: { ...AUTH, 'content-type': 'text/plain' }, raw: '{"value":"x"}' }), 415, 'UMBRA_ERR_UNSUPPORTED_MEDIA_TYPE')
    assertError(await call(api, 'POST', '/v1/messages', { headers: { ...AUTH, 'content-type': 'application/x-www-form-urlencoded' }, raw: 'to=x&body=y' }), 415, 'UMBRA_ERR_UNSUPPORTED_MEDIA_TYPE')

    // a body over the 1.5 MiB limit, with and without Content-Length
    const huge = JSON.stringify({ to: 'x', body: 'a'.repeat(2 * 1024 * 1024) })
    assertError(await call(api, 'POST', '/v1/messages', { headers: { ...AUTH, 'content-type': 'application/json' }, raw: huge }), 413, 'UMBRA_ERR_BODY_TOO_LARGE')
    const chunked = await fetch(`${api.url}/v1/messages`, {
      method: 'POST',
      headers: { ...AUTH, 'content-type': 'application/json' },
      body: new Blob([huge]).stream(),
      duplex: 'half'
    } as RequestInit)
    assert.equal(chunked.status, 413)
    assert.equal(((await chunked.json()) as ErrorBody).error.code, 'UMBRA_ERR_BODY_TOO_LARGE')

    // values and messages over the services' limits, as text and as base64
    assertError(await put({ value: 'a'.repeat(MAX_DHT_VALUE_BYTES + 1) }), 413, 'UMBRA_ERR_VALUE_TOO_LARGE', 'body.value')
    assertError(await put({ value: 'é'.repeat(MAX_DHT_VALUE_BYTES / 2 + 1) }), 413, 'UMBRA_ERR_VALUE_TOO_LARGE')
    assertError(await put({ value: Buffer.alloc(MAX_DHT_VALUE_BYTES + 1).toString('base64'), encoding: 'base64' }), 413, 'UMBRA_ERR_VALUE_TOO_LARGE')
    assertError(await call(api, 'POST', '/v1/messages', { headers: AUTH, json: { to: 'x', body: Buffer.alloc(MAX_MESSAGE_BYTES + 1).toString('base64'), encoding: 'base64' } }), 413, 'UMBRA_ERR_MESSAGE_TOO_LARGE', 'body.body')

    assertError(await call(api, 'GET', '/v1/nothing-here', { headers: AUTH }), 404, 'UMBRA_ERR_NOT_FOUND')
    assertError(await call(api, 'GET', '/v2/node'), 404, 'UMBRA_ERR_NOT_FOUND')
    assertError(await call(api, 'DELETE', '/v1/dht/k', { headers: AUTH }), 404, 'UMBRA_ERR_NOT_FOUND')

    assert.equal(node.puts.length, putsBefore, 'no bad request reached the DHT service')

    // still up, and a valid request still works; exactly 64 KiB is accepted
    assert.equal((await call(api, 'GET', '/v1/health')).status, 200)
    const ok = await put({ value: Buffer.alloc(MAX_DHT_VALUE_BYTES, 1).toString('base64'), encoding: 'base64', ttl: 172_800 })
    assert.equal(ok.status, 200, JSON.stringify(ok.body))
    assert.equal(node.puts.at(-1)?.value.byteLength, MAX_DHT_VALUE_BYTES)
    assert.equal(node.puts.at(-1)?.options?.ttl, 172_800_000)
  })

  it('streams message and peer events, heartbeats, and drops listeners when the client leaves', async () => {
    assert.equal(node.listenerCount('message'), 0)
    const controller = new AbortController()
    const res = await fetch(`${api.url}/v1/events?token=${TOKEN}`, { signal: controller.signal })
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/)
    assert.ok(res.body !== null)
    const reader = res.body.getReader()
    const state = { text: '' }
    await readUntil(reader, state, (t) => t.includes(': connected'))
    assert.equal(node.listenerCount('message'), 1)
    assert.equal(node.listenerCount('peer:connect'), 1)

    node.emit('peer:connect', { peerId: '12D3KooWPeerC' })
    const msg: ReceivedMessage = { id: 'cd'.repeat(16), from: '12D3KooWPeerC', fromKey: 'key_C', body: new TextEncoder().encode('over sse\nline 2'), sentAt: 5, receivedAt: 6 }
    node.emit('message', msg)
    node.emit('peer:disconnect', { peerId: '12D3KooWPeerC' })
    await readUntil(reader, state, (t) => parseEvents(t).length >= 3)
    assert.deepEqual(parseEvents(state.text), [
      { event: 'peer:connect', data: { peerId: '12D3KooWPeerC' } },
      { event: 'message', data: { kind: 'direct', anonymous: false, id: 'cd'.repeat(16), from: '12D3KooWPeerC', fromKey: 'key_C', body: 'over sse\nline 2', encoding: 'utf8', sentAt: 5, receivedAt: 6 } },
      { event: 'peer:disconnect', data: { peerId: '12D3KooWPeerC' } }
    ])
    await readUntil(reader, state, (t) => t.includes(': heartbeat\n\n'))

    controller.abort()
    await waitFor(() => node.listenerCount('message') === 0 && node.listenerCount('peer:connect') === 0 && node.listenerCount('peer:disconnect') === 0)
  })

  it('POST /v1/messages with anonymous: true sends through the mixnet with hops, wait and replySurbs', async () => {
    const res = await call(api, 'POST', '/v1/messages', { headers: AUTH, json: { to: 'key_Alice', body: 'psst', anonymous: true, hops: 5, wait: 'delivered', replySurbs: 4 } })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.deepEqual(res.body, { id: 'cd'.repeat(16), to: 'key_Alice', anonymous: true, fragments: 1, retransmissions: 0, status: 'delivered', rttMs: 42.5, gateways: ['12D3KooWGateway'], gatewayFailovers: 0 })
    const sent = node.anonSent.at(-1)
    assert.equal(sent?.to, 'key_Alice')
    assert.equal(Buffer.from(sent.body).toString(), 'psst')
    assert.equal(sent.options?.hops, 5)
    assert.equal(sent.options?.wait, 'delivered')
    assert.equal(sent.options?.replySurbs, 4)
    assert.ok(sent.options?.signal instanceof AbortSignal)

    // defaults are the node's: nothing passed
    const plain = await call(api, 'POST', '/v1/messages', { headers: AUTH, json: { to: 'key_Alice', body: Buffer.from([0xff]).toString('base64'), encoding: 'base64', anonymous: true } })
    assert.equal(plain.status, 200, JSON.stringify(plain.body))
    assert.equal(plain.body.status, 'stored')
    assert.deepEqual(Buffer.from(node.anonSent.at(-1)?.body ?? []), Buffer.from([0xff]))
    assert.equal(node.anonSent.at(-1)?.options?.hops, undefined)
    assert.equal(node.anonSent.at(-1)?.options?.replySurbs, undefined)

    // anonymous: false is a direct send
    const direct = await call(api, 'POST', '/v1/messages', { headers: AUTH, json: { to: '12D3KooWPeerB', body: 'x', anonymous: false } })
    assert.equal(direct.status, 200)
    assert.equal(direct.body.anonymous, false)
    assert.equal(node.sent.at(-1)?.to, '12D3KooWPeerB')
  })

  it('refuses bad anonymous sends before the mixnet, naming the field', async () => {
    const before = node.anonSent.length
    const sendAnon = (json: Record<string, unknown>): Promise<CallResult> => call(api, 'POST', '/v1/messages', { headers: AUTH, json: { to: 'key_Alice', body: 'x', ...json } })
    assertError(await sendAnon({ anonymous: true, hops: 0 }), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.hops')
    assertError(await sendAnon({ anonymous: true, hops: 9 }), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.hops')
    assertError(await sendAnon({ anonymous: true, hops: 2.5 }), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.hops')
    assertError(await sendAnon({ anonymous: true, hops: '3' }), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.hops')
    assertError(await sendAnon({ anonymous: true, replySurbs: 9 }), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.replySurbs')
    assertError(await sendAnon({ anonymous: true, replySurbs: -1 }), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.replySurbs')
    assertError(await sendAnon({ anonymous: true, wait: 'forever' }), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.wait')
    assertError(await sendAnon({ anonymous: 'yes' }), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.anonymous')
    assertError(await sendAnon({ anonymous: true, surbs: 2 }), 400, 'UMBRA_ERR_BAD_REQUEST', 'unknown field "surbs"')
    // the anonymous-only fields without anonymous: true
    for (const [field, value] of [['hops', 3], ['wait', 'delivered'], ['replySurbs', 1]] as const) {
      assertError(await sendAnon({ [field]: value }), 400, 'UMBRA_ERR_BAD_REQUEST', `body.${field} is only allowed with "anonymous": true`)
      assertError(await sendAnon({ anonymous: false, [field]: value }), 400, 'UMBRA_ERR_BAD_REQUEST', `body.${field}`)
    }
    // a PeerId is not a pseudonym
    assertError(await call(api, 'POST', '/v1/messages', { headers: AUTH, json: { to: '12D3KooWPeerB', body: 'x', anonymous: true } }), 400, 'UMBRA_ERR_INVALID_RECIPIENT', 'pseudonym')
    assertError(await sendAnon({ anonymous: true, body: Buffer.alloc(MAX_MESSAGE_BYTES + 1).toString('base64'), encoding: 'base64' }), 413, 'UMBRA_ERR_MESSAGE_TOO_LARGE')
    assert.equal(node.anonSent.length, before, 'no bad request reached the mixnet')
  })

  it('purges a pseudonym\'s mailbox: incomplete rows by default, every row with all', async () => {
    const key = 'key_Purge'
    node.pseudonymList.push({ key, gateways: ['12D3KooWGateway'], createdAt: 1, online: true, gatewayStates: [] })
    const purge = (k: string, json?: unknown): Promise<CallResult> => call(api, 'POST', `/v1/pseudonyms/${k}/purge`, { headers: AUTH, ...(json !== undefined ? { json } : {}) })
    const plain = await purge(key)
    assert.equal(plain.status, 200)
    assert.deepEqual(plain.body, { deleted: 3 })
    assert.deepEqual((await purge(key, { all: true })).body, { deleted: 7 })
    assertError(await purge('key_NotMine'), 404, 'UMBRA_ERR_NOT_MY_PSEUDONYM')
    assertError(await purge('12D3KooWPeerB'), 400, 'UMBRA_ERR_BAD_REQUEST')
    assertError(await purge(key, { all: 'yes' }), 400, 'UMBRA_ERR_BAD_REQUEST')
    node.pseudonymList.pop()
  })

  it('maps mixnet errors to their documented statuses', async () => {
    const anon = (to: string): Promise<CallResult> => call(api, 'POST', '/v1/messages', { headers: AUTH, json: { to, body: 'x', anonymous: true } })
    assertError(await anon('key_unknown'), 404, 'UMBRA_ERR_UNKNOWN_PSEUDONYM', 'contact record')
    assertError(await anon('key_nomixes'), 503, 'UMBRA_ERR_NOT_ENOUGH_MIXES')
    assertError(await anon('key_full'), 507, 'UMBRA_ERR_MAILBOX_FULL')
    assertError(await anon('key_lost'), 502, 'UMBRA_ERR_ANON_DELIVERY_FAILED')
    assertError(await call(api, 'POST', '/v1/pseudonyms', { headers: AUTH, json: { label: 'nomixes' } }), 503, 'UMBRA_ERR_NOT_ENOUGH_MIXES')
    assert.equal(statusOfUmbraCode('UMBRA_ERR_NOT_MY_PSEUDONYM'), 404)
    assert.equal(statusOfUmbraCode('UMBRA_ERR_GATEWAY_UNREACHABLE'), 502)
    assert.equal(statusOfUmbraCode('UMBRA_ERR_INVALID_RECIPIENT'), 400)
    assert.equal(statusOfUmbraCode('UMBRA_ERR_NO_SURB'), 409)
    assert.equal(statusOfUmbraCode('UMBRA_ERR_REPLY_TOO_LARGE'), 413)
    // every status a route answers is documented in the OpenAPI components
    const doc = buildOpenApiDocument() as { components: { responses: Record<string, unknown> } }
    for (const status of [404, 409, 413, 502, 503, 507]) assert.ok(doc.components.responses[`E${status}`], `E${status} documented`)
  })

  it('POST /v1/messages/:id/reply answers through a SURB until none is left', async () => {
    const id = '0a'.repeat(16)
    node.anonInbox.push({ id, from: null, to: 'key_Pseudonym9', body: new TextEncoder().encode('hi, who am I?'), sentAt: 3000, receivedAt: 3100, repliesLeft: 1 })
    const ok = await call(api, 'POST', `/v1/messages/${id}/reply`, { headers: AUTH, json: { body: 'nobody knows' } })
    assert.equal(ok.status, 200, JSON.stringify(ok.body))
    assert.deepEqual(ok.body, { id, repliesLeft: 0 })
    assert.equal(node.repliesSent.at(-1)?.id, id)
    assert.equal(Buffer.from(node.repliesSent.at(-1)?.body ?? []).toString(), 'nobody knows')
    assertError(await call(api, 'POST', `/v1/messages/${id}/reply`, { headers: AUTH, json: { body: 'again' } }), 409, 'UMBRA_ERR_NO_SURB')
    assertError(await call(api, 'POST', `/v1/messages/${'ff'.repeat(16)}/reply`, { headers: AUTH, json: { body: 'x' } }), 409, 'UMBRA_ERR_NO_SURB')

    const replies = node.repliesSent.length
    assert.equal(MAX_REPLY_BYTES, REPLY_DATA_SIZE, 'the API limit is the mixnet\'s')
    assertError(await call(api, 'POST', `/v1/messages/${id}/reply`, { headers: AUTH, json: { body: 'a'.repeat(MAX_REPLY_BYTES + 1) } }), 413, 'UMBRA_ERR_REPLY_TOO_LARGE', 'body.body')
    assertError(await call(api, 'POST', `/v1/messages/${id}/reply`, { headers: AUTH, json: { body: Buffer.alloc(MAX_REPLY_BYTES + 1).toString('base64'), encoding: 'base64' } }), 413, 'UMBRA_ERR_REPLY_TOO_LARGE')
    assertError(await call(api, 'POST', '/v1/messages/not-an-id/reply', { headers: AUTH, json: { body: 'x' } }), 400, 'UMBRA_ERR_BAD_REQUEST', 'params.id')
    assertError(await call(api, 'POST', `/v1/messages/${'AB'.repeat(16)}/reply`, { headers: AUTH, json: { body: 'x' } }), 400, 'UMBRA_ERR_BAD_REQUEST', 'params.id')
    assertError(await call(api, 'POST', `/v1/messages/${id}/reply`, { headers: AUTH, json: { body: 'x', hops: 3 } }), 400, 'UMBRA_ERR_BAD_REQUEST', 'unknown field "hops"')
    assertError(await call(api, 'POST', `/v1/messages/${id}/reply`, { headers: AUTH, json: {} }), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.body')
    assert.equal(node.repliesSent.length, replies, 'no bad reply reached the mixnet')
  })

  it('GET /v1/messages merges direct, anonymous and reply entries newest first, pages them; DELETE and ack remove them (issue 11)', async () => {
    node.resetInbox()
    node.anonInbox.length = 0
    const anon: AnonymousMessage = { id: '02'.repeat(16), from: null, to: 'key_Pseudonym0', body: new TextEncoder().encode('anon'), sentAt: 200, receivedAt: 210, repliesLeft: 2 }
    node.inbox.addDirect({ id: '01'.repeat(16), from: '12D3KooWPeerB', fromKey: 'key_B', body: new TextEncoder().encode('direct 1'), sentAt: 100, receivedAt: 110 })
    node.anonInbox.push(anon)
    node.inbox.addAnonymous(anon)
    const reply = node.inbox.addReply({ inReplyTo: 'cd'.repeat(16), body: new Uint8Array([0xfe]), receivedAt: 250 })
    node.inbox.addDirect({ id: '03'.repeat(16), from: '12D3KooWPeerB', fromKey: 'key_B', body: new TextEncoder().encode('direct 2'), sentAt: 300, receivedAt: 310 })
    const res = await call(api, 'GET', '/v1/messages', { headers: AUTH })
    assert.equal(res.status, 200)
    assert.deepEqual(res.body.messages, [
      { kind: 'direct', anonymous: false, id: '03'.repeat(16), from: '12D3KooWPeerB', fromKey: 'key_B', body: 'direct 2', encoding: 'utf8', sentAt: 300, receivedAt: 310 },
      { kind: 'reply', anonymous: true, id: reply.id, from: null, inReplyTo: 'cd'.repeat(16), body: '/g==', encoding: 'base64', receivedAt: 250 },
      { kind: 'anonymous', anonymous: true, id: '02'.repeat(16), from: null, to: 'key_Pseudonym0', body: 'anon', encoding: 'utf8', sentAt: 200, receivedAt: 210, repliesLeft: 2 },
      { kind: 'direct', anonymous: false, id: '01'.repeat(16), from: '12D3KooWPeerB', fromKey: 'key_B', body: 'direct 1', encoding: 'utf8', sentAt: 100, receivedAt: 110 }
    ])
    assert.equal(res.body.next, undefined)
    const since = await call(api, 'GET', '/v1/messages?since=250', { headers: AUTH })
    assert.deepEqual(since.body.messages.map((m: { kind: string }) => m.kind), ['direct', 'reply'])
    const first = await call(api, 'GET', '/v1/messages?limit=3', { headers: AUTH })
    assert.equal(first.body.messages.length, 3)
    const rest = await call(api, 'GET', `/v1/messages?limit=3&before=${String(first.body.next)}`, { headers: AUTH })
    assert.deepEqual(rest.body.messages.map((m: { id: string }) => m.id), ['01'.repeat(16)])
    assert.equal(rest.body.next, undefined)
    assertError(await call(api, 'GET', '/v1/messages?limit=0', { headers: AUTH }), 400, 'UMBRA_ERR_INVALID_OPTION')
    assertError(await call(api, 'GET', '/v1/messages?before=x', { headers: AUTH }), 400, 'UMBRA_ERR_BAD_REQUEST', 'before')
    assert.deepEqual((await call(api, 'DELETE', `/v1/messages/${'03'.repeat(16)}`, { headers: AUTH })).body, { id: '03'.repeat(16), deleted: true })
    assertError(await call(api, 'DELETE', `/v1/messages/${'03'.repeat(16)}`, { headers: AUTH }), 404, 'UMBRA_ERR_MESSAGE_NOT_FOUND')
    const acked = await call(api, 'POST', '/v1/messages/ack', { headers: AUTH, json: { ids: ['01'.repeat(16), 'ef'.repeat(16)] } })
    assert.deepEqual(acked.body, { acked: 1, unknown: ['ef'.repeat(16)] })
    assertError(await call(api, 'POST', '/v1/messages/ack', { headers: AUTH, json: { ids: ['nope'] } }), 400, 'UMBRA_ERR_BAD_REQUEST')
    assert.deepEqual((await call(api, 'GET', '/v1/messages', { headers: AUTH })).body.messages.map((m: { kind: string }) => m.kind), ['reply', 'anonymous'])
  })

  it('POST /v1/messages answers 202 with path "queued" when the recipient is offline (issue 11)', async () => {
    const res = await call(api, 'POST', '/v1/messages', { headers: AUTH, json: { to: 'offline', body: 'later', id: '0f'.repeat(16) } })
    assert.equal(res.status, 202, JSON.stringify(res.body))
    assert.deepEqual(res.body, { id: '0f'.repeat(16), to: 'offline', anonymous: false, path: 'queued', servers: ['12D3KooWQueue'], rttMs: 20 })
    assertError(await call(api, 'POST', '/v1/messages', { headers: AUTH, json: { to: 'key_x', body: 'x', anonymous: true, id: '0f'.repeat(16) } }), 400, 'UMBRA_ERR_BAD_REQUEST')
  })

  it('POST and GET /v1/pseudonyms create and list pseudonyms', async () => {
    const created = await call(api, 'POST', '/v1/pseudonyms', { headers: AUTH, json: { label: 'for the forum' } })
    assert.equal(created.status, 201, JSON.stringify(created.body))
    assert.deepEqual(created.body, { key: 'key_Pseudonym0', gateways: ['12D3KooWGateway'], label: 'for the forum', createdAt: 1234, online: true, gatewayStates: [{ peerId: '12D3KooWGateway', state: 'connected', since: 1234, listed: true }] })
    const bare = await call(api, 'POST', '/v1/pseudonyms', { headers: AUTH, json: {} })
    assert.equal(bare.status, 201, JSON.stringify(bare.body))
    assert.equal('label' in bare.body, false, 'no label, no field')
    const noBody = await call(api, 'POST', '/v1/pseudonyms', { headers: AUTH })
    assert.equal(noBody.status, 201, JSON.stringify(noBody.body))
    const list = await call(api, 'GET', '/v1/pseudonyms', { headers: AUTH })
    assert.equal(list.status, 200)
    assert.deepEqual(list.body.pseudonyms.map((p: { key: string }) => p.key), ['key_Pseudonym0', 'key_Pseudonym1', 'key_Pseudonym2'])

    const count = node.pseudonymList.length
    assertError(await call(api, 'POST', '/v1/pseudonyms', { headers: AUTH, json: { label: '' } }), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.label')
    assertError(await call(api, 'POST', '/v1/pseudonyms', { headers: AUTH, json: { gateways: 4 } }), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.gateways')
    assertError(await call(api, 'POST', '/v1/pseudonyms', { headers: AUTH, json: { gateways: 0 } }), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.gateways')
    assertError(await call(api, 'POST', '/v1/pseudonyms', { headers: AUTH, json: { label: 'x'.repeat(129) } }), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.label')
    assertError(await call(api, 'POST', '/v1/pseudonyms', { headers: AUTH, json: { label: 'bell\u0007' } }), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.label')
    assertError(await call(api, 'POST', '/v1/pseudonyms', { headers: AUTH, json: { label: 7 } }), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.label')
    assertError(await call(api, 'POST', '/v1/pseudonyms', { headers: AUTH, json: { name: 'x' } }), 400, 'UMBRA_ERR_BAD_REQUEST', 'unknown field "name"')
    assertError(await call(api, 'GET', '/v1/pseudonyms?all=1', { headers: AUTH }), 400, 'UMBRA_ERR_BAD_REQUEST', 'all')
    assert.equal(node.pseudonymList.length, count)
  })

  it('GET /v1/mixnet shows the preset, the directory and the counters', async () => {
    const res = await call(api, 'GET', '/v1/mixnet', { headers: AUTH })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.deepEqual(res.body, {
      preset: 'balanced',
      parameters: { meanDelayMs: 20, loopRate: 0.5, dropRate: 0.5, payloadRate: 2 },
      directory: [{ peerId: '12D3KooWMixA', addrs: ['/ip4/127.0.0.1/tcp/4002'], epochs: [7, 8], expiresAt: 9_000 }],
      counters: node.mixnet.counters(),
      replyGateway: '12D3KooWMixA',
      suspects: []
    })
  })

  it('GET /v1/messages/{id}/status answers the outcome of a sent message, or 404', async () => {
    const id = 'ef'.repeat(16)
    node.mixnet.outcome = (asked) => asked === id ? { id, to: 'key_x', status: 'stored', fragments: 2, storedFragments: 2, retransmissions: 1, startedAt: 1_000, updatedAt: 2_000 } : undefined
    const res = await call(api, 'GET', `/v1/messages/${id}/status`, { headers: AUTH })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.deepEqual(res.body, { id, to: 'key_x', status: 'stored', fragments: 2, storedFragments: 2, retransmissions: 1, startedAt: 1_000, updatedAt: 2_000 })
    const missing = await call(api, 'GET', `/v1/messages/${'00'.repeat(16)}/status`, { headers: AUTH })
    assert.equal(missing.status, 404)
    assert.equal((missing.body as ErrorBody).error.code, 'UMBRA_ERR_NOT_FOUND')
  })

  it('streams anonymous:message, anonymous:reply and anonymous:delivered events', async () => {
    const controller = new AbortController()
    const res = await fetch(`${api.url}/v1/events`, { headers: AUTH, signal: controller.signal })
    assert.ok(res.body !== null)
    const reader = res.body.getReader()
    const state = { text: '' }
    try {
      await readUntil(reader, state, (t) => t.includes(': connected'))
      assert.equal(node.listenerCount('anonymous:message'), 1)
      node.emit('anonymous:message', { id: '0b'.repeat(16), from: null, to: 'key_P', body: new TextEncoder().encode('shh'), sentAt: 1, receivedAt: 2, repliesLeft: 2 } satisfies AnonymousMessage)
      node.emit('anonymous:reply', { inReplyTo: '0c'.repeat(16), body: new TextEncoder().encode('back'), receivedAt: 3 } satisfies AnonymousReply)
      node.emit('anonymous:delivered', { id: '0c'.repeat(16) })
      await readUntil(reader, state, (t) => parseEvents(t).length >= 3)
      assert.deepEqual(parseEvents(state.text), [
        { event: 'anonymous:message', data: { kind: 'anonymous', anonymous: true, id: '0b'.repeat(16), from: null, to: 'key_P', body: 'shh', encoding: 'utf8', sentAt: 1, receivedAt: 2, repliesLeft: 2 } },
        { event: 'anonymous:reply', data: { kind: 'reply', anonymous: true, from: null, inReplyTo: '0c'.repeat(16), body: 'back', encoding: 'utf8', receivedAt: 3 } },
        { event: 'anonymous:delivered', data: { id: '0c'.repeat(16) } }
      ])
    } finally {
      controller.abort()
    }
    await waitFor(() => ['anonymous:message', 'anonymous:reply', 'anonymous:delivered'].every((t) => node.listenerCount(t) === 0))
  })

  it('POST /v1/nat/holepunch passes peer, addrs and timeout to the NAT service and returns its result', async () => {
    const key = await generateKeyPair('Ed25519')
    const peer = peerIdFromPrivateKey(key).toString()
    const relayed = `/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA/p2p-circuit/webrtc/p2p/${peer}`
    const res = await call(api, 'POST', '/v1/nat/holepunch', { headers: AUTH, json: { peer, addrs: [relayed, '/ip4/127.0.0.1/tcp/4003'], timeout: 2500 } })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.deepEqual(res.body, { peer, path: 'direct', method: 'webrtc', rttMs: 1.25, elapsedMs: 340.5, remoteAddr: '/ip4/127.0.0.1/udp/4002/webrtc' })
    const punch = node.punches.at(-1)
    assert.equal(punch?.peer, peer)
    assert.deepEqual(punch?.options?.addrs, [relayed, '/ip4/127.0.0.1/tcp/4003'])
    assert.equal(punch?.options?.timeout, 2500)
    assert.ok(punch?.options?.signal instanceof AbortSignal, 'the service gets the request\'s signal')

    // no addrs and no timeout: the service's defaults
    const bare = await call(api, 'POST', '/v1/nat/holepunch', { headers: AUTH, json: { peer: 'key_SomePeer' } })
    assert.equal(bare.status, 200, JSON.stringify(bare.body))
    assert.equal(node.punches.at(-1)?.options?.addrs, undefined)
    assert.equal(node.punches.at(-1)?.options?.timeout, undefined)

    const fallback = await call(api, 'POST', '/v1/nat/holepunch', { headers: AUTH, json: { peer: 'relayed' } })
    assert.equal(fallback.status, 200, JSON.stringify(fallback.body))
    assert.equal(fallback.body.path, 'relayed')
    assert.equal(fallback.body.method, 'circuit-relay')
    assert.equal(fallback.body.reason, 'no WebRTC address answered')
  })

  it('POST /v1/nat/holepunch refuses bad requests before the NAT service, naming the field', async () => {
    const punch = (json: unknown): Promise<CallResult> => call(api, 'POST', '/v1/nat/holepunch', { headers: AUTH, json })
    const before = node.punches.length
    const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()

    assertError(await punch({}), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.peer is required')
    assertError(await punch({ addrs: [] }), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.peer')
    assertError(await punch({ peer: '' }), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.peer')
    assertError(await punch({ peer: 42 }), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.peer')
    assertError(await punch({ peer, colour: 'red' }), 400, 'UMBRA_ERR_BAD_REQUEST', 'unknown field "colour"')
    for (const timeout of [99, 60_001, 1.5, '1000', null, -1]) {
      assertError(await punch({ peer, timeout }), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.timeout')
    }
    assertError(await punch({ peer, addrs: '/ip4/127.0.0.1/tcp/1' }), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.addrs')
    assertError(await punch({ peer, addrs: [''] }), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.addrs')
    assertError(await punch({ peer, addrs: [7] }), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.addrs')
    assertError(await punch({ peer, addrs: Array.from({ length: MAX_HOLEPUNCH_ADDRS + 1 }, (_, i) => `/ip4/127.0.0.1/tcp/${i + 1}`) }), 400, 'UMBRA_ERR_BAD_REQUEST', 'body.addrs')
    assertError(await punch({ peer, addrs: ['/ip4/127.0.0.1/tcp/1', 'garbage'] }), 400, 'UMBRA_ERR_INVALID_MULTIADDR', 'body.addrs[1]')
    assertError(await punch({ peer, addrs: ['/ip4/999.0.0.1/tcp/1'] }), 400, 'UMBRA_ERR_INVALID_MULTIADDR', 'body.addrs[0]')
    assertError(await punch({ peer, addrs: ['/nope/1'] }), 400, 'UMBRA_ERR_INVALID_MULTIADDR', 'body.addrs[0]')
    assertError(await punch({ peer, addrs: [`/ip4/127.0.0.1/tcp/1/p2p/${other}`] }), 400, 'UMBRA_ERR_INVALID_MULTIADDR', 'another peer')
    assertError(await call(api, 'POST', '/v1/nat/holepunch', { headers: { ...AUTH, 'content-type': 'text/plain' }, raw: JSON.stringify({ peer }) }), 415, 'UMBRA_ERR_UNSUPPORTED_MEDIA_TYPE')
    assertError(await call(api, 'POST', '/v1/nat/holepunch?peer=x', { headers: AUTH, json: { peer } }), 400, 'UMBRA_ERR_BAD_REQUEST', 'peer')
    assert.equal(node.punches.length, before, 'no bad request reached the NAT service')

    // exactly 32 addresses and the timeout bounds are accepted
    const ok = await punch({ peer, addrs: Array.from({ length: MAX_HOLEPUNCH_ADDRS }, (_, i) => `/ip4/127.0.0.1/tcp/${i + 1}/p2p/${peer}`), timeout: 100 })
    assert.equal(ok.status, 200, JSON.stringify(ok.body))
    assert.equal((await punch({ peer, timeout: 60_000 })).status, 200)
  })

  it('POST /v1/nat/holepunch answers the NAT service\'s errors with their codes', async () => {
    assertError(await call(api, 'POST', '/v1/nat/holepunch', { headers: AUTH, json: { peer: 'unreachable' } }), 502, 'UMBRA_ERR_PEER_UNREACHABLE')
    assertError(await call(api, 'POST', '/v1/nat/holepunch', { headers: AUTH, json: { peer: 'bad-recipient' } }), 400, 'UMBRA_ERR_INVALID_RECIPIENT')
    assert.equal(statusOfUmbraCode('UMBRA_ERR_PEER_UNREACHABLE'), 502)
    node.isStarted = false
    try {
      assertError(await call(api, 'POST', '/v1/nat/holepunch', { headers: AUTH, json: { peer: 'x' } }), 503, 'UMBRA_ERR_NOT_STARTED')
    } finally {
      node.isStarted = true
    }
  })

  it('serves an OpenAPI document built from the schemas the server validates with', async () => {
    const doc = (await call(api, 'GET', '/v1/openapi.json')).body
    const paths = doc.paths as Record<string, Record<string, { security?: unknown[], requestBody?: { content: Record<string, { schema: unknown }> } }>>
    for (const route of Object.values(ROUTES)) {
      const path = route.url.replace(/:(\w+)/g, '{$1}')
      assert.ok(paths[path]?.[route.method.toLowerCase()], `${route.method} ${path} is documented`)
    }
    assert.deepEqual(paths['/v1/dht/{key}']?.put?.requestBody?.content['application/json']?.schema, ROUTES.dhtPut.schema.body)
    assert.equal(ROUTES.dhtPut.schema.body.properties.ttl.maximum, 172_800)
    assert.deepEqual(paths['/v1/nat/holepunch']?.post?.requestBody?.content['application/json']?.schema, ROUTES.natHolePunch.schema.body)
    assert.ok(doc.components.schemas.NatStatus && doc.components.schemas.HolePunchResult)
    assert.deepEqual(paths['/v1/health']?.get?.security, [])
    assert.deepEqual(doc.security, [{ bearerAuth: [] }])
    assert.deepEqual(doc, JSON.parse(JSON.stringify(buildOpenApiDocument())))
  })
})

describe('createApiServer options and close()', () => {
  it('refuses bad options with UMBRA_ERR_INVALID_OPTION naming the field', async () => {
    const node = new FakeNode().asNode()
    for (const [init, field] of [
      [{ token: '' }, 'token'],
      [{ token: 'has space' }, 'token'],
      [{ token: 42 }, 'token'],
      [{ token: 't', port: 70000 }, 'port'],
      [{ token: 't', port: 1.5 }, 'port'],
      [{ token: 't', host: '' }, 'host'],
      [{ token: 't', heartbeatInterval: 0 }, 'heartbeatInterval']
    ] as const) {
      await assert.rejects(createApiServer(node, init as never), (err: UmbraError) => {
        assert.equal(err.code, 'UMBRA_ERR_INVALID_OPTION')
        assert.ok(err.message.includes(field), err.message)
        return true
      })
    }
  })

  it('reports a port in use as UMBRA_ERR_API_LISTEN', async () => {
    const node = new FakeNode().asNode()
    const first = await createApiServer(node, { token: TOKEN, port: 0 })
    try {
      const port = Number(new URL(first.url).port)
      await assert.rejects(createApiServer(node, { token: TOKEN, port }), { code: 'UMBRA_ERR_API_LISTEN' })
    } finally {
      await first.close()
    }
  })

  it('close() ends event streams, aborts in-flight calls and releases the port', async () => {
    const node = new FakeNode()
    const api = await createApiServer(node.asNode(), { token: TOKEN, port: 0 })
    const res = await fetch(`${api.url}/v1/events`, { headers: AUTH })
    assert.ok(res.body !== null)
    const reader = res.body.getReader()
    await readUntil(reader, { text: '' }, (t) => t.includes(': connected'))
    const slow = call(api, 'PUT', '/v1/dht/slow', { headers: AUTH, json: { value: 'x' } })
    await waitFor(() => node.listenerCount('message') === 1)
    await new Promise((resolve) => setTimeout(resolve, 50))

    const started = Date.now()
    await Promise.all([api.close(), api.close()])
    assert.ok(Date.now() - started < 1500, `close took ${Date.now() - started} ms`)
    assertError(await slow, 504, 'UMBRA_ERR_ABORTED')
    let chunk = await reader.read()
    while (!chunk.done) chunk = await reader.read()
    assert.equal(node.listenerCount('message'), 0)
    await assert.rejects(fetch(`${api.url}/v1/health`), TypeError)
  })
})

describe('HTTP API over two real nodes', () => {
  let a: UmbraNode
  let b: UmbraNode
  let apiA: ApiServer
  let apiB: ApiServer

  before(async () => {
    // STUN on a free UDP port each: two servers on one host cannot both bind 3478
    a = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], nat: { stunPort: 0 } })
    await a.start()
    b = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: a.getMultiaddrs(), nat: { stunPort: 0 } })
    await b.start()
    apiA = await createApiServer(a, { token: TOKEN, port: 0 })
    apiB = await createApiServer(b, { token: `${TOKEN}-b`, port: 0 })
  })

  after(async () => {
    await apiA?.close()
    await apiB?.close()
    await b?.stop()
    await a?.stop()
  })

  const authB = { authorization: `Bearer ${TOKEN}-b` }

  it('describes each node and its peer', async () => {
    await waitFor(() => a.getPeers().length >= 1 && b.getPeers().length >= 1, 10_000)
    const info = await call(apiA, 'GET', '/v1/node', { headers: AUTH })
    assert.equal(info.status, 200)
    assert.equal(info.body.peerId, a.peerId)
    assert.equal(info.body.key, a.key)
    assert.ok(info.body.peers >= 1)
    const peers = await call(apiB, 'GET', '/v1/peers', { headers: authB })
    assert.ok(peers.body.peers.some((p: PeerSummary) => p.peerId === a.peerId && p.path === 'direct'))
    // each server has its own token
    assertError(await call(apiB, 'GET', '/v1/node', { headers: AUTH }), 401, 'UMBRA_ERR_UNAUTHORIZED')
  })

  it('GET /v1/registry/{peer} answers the other node\'s peer record, 404 for an unknown key, 400 for garbage', async () => {
    let res = await call(apiA, 'GET', `/v1/registry/${b.peerId}`, { headers: AUTH })
    for (let i = 0; i < 40 && res.status === 404; i++) {
      await new Promise((resolve) => setTimeout(resolve, 250))
      res = await call(apiA, 'GET', `/v1/registry/${b.peerId}?fresh=true`, { headers: AUTH })
    }
    assert.equal(res.status, 200, JSON.stringify(res.body))
    const rec = res.body as RouteResponse<'registryLookup'>
    assert.equal(rec.peerId, b.peerId)
    assert.equal(rec.role, 'server')
    assert.deepEqual([...rec.addrs].sort(), [...b.getMultiaddrs()].sort())
    assert.equal(rec.sealed, false)
    const { generateKeyPair } = await import('@libp2p/crypto/keys')
    const { encodeKey } = await import('../../src/identity/index.ts')
    const nobody = encodeKey((await generateKeyPair('Ed25519')).publicKey.raw)
    assertError(await call(apiA, 'GET', `/v1/registry/${nobody}`, { headers: AUTH }), 404, 'UMBRA_ERR_PEER_NOT_FOUND')
    assertError(await call(apiA, 'GET', '/v1/registry/not-a-peer', { headers: AUTH }), 400, 'UMBRA_ERR_INVALID_KEY')
  })

  it('GET /v1/node reports a server as publicly reachable with its STUN port', async () => {
    const info = await call(apiA, 'GET', '/v1/node', { headers: AUTH })
    assert.equal(info.status, 200, JSON.stringify(info.body))
    const nat = info.body.nat
    assert.equal(nat.reachability, 'public')
    assert.deepEqual(nat.relays, [])
    assert.ok(Array.isArray(nat.reachableAddrs) && nat.reachableAddrs.length >= 1, JSON.stringify(nat))
    assert.ok(Array.isArray(nat.stunServers))
    assert.ok(Number.isInteger(nat.stunPort) && nat.stunPort > 0 && nat.stunPort !== 3478, `stunPort 0 picked a free port: ${JSON.stringify(nat)}`)
    assert.deepEqual(nat, JSON.parse(JSON.stringify(a.nat.status())))
  })

  it('POST /v1/nat/holepunch to the other node reports the existing direct connection with a ping', async () => {
    await waitFor(() => a.getPeers().length >= 1, 10_000)
    for (const peer of [b.peerId, b.key]) {
      const res = await call(apiA, 'POST', '/v1/nat/holepunch', { headers: AUTH, json: { peer, timeout: 5000 } })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.equal(res.body.peer, b.peerId)
      assert.equal(res.body.path, 'direct')
      assert.equal(res.body.method, 'existing-direct')
      // @libp2p/ping measures whole milliseconds, so loopback may honestly say 0; -1 would mean the ping failed
      assert.ok(typeof res.body.rttMs === 'number' && res.body.rttMs >= 0, `rttMs ${res.body.rttMs}`)
      assert.ok(res.body.elapsedMs >= 0)
      assert.match(res.body.remoteAddr, /^\/ip4\/127\.0\.0\.1\/tcp\/\d+/)
      assert.equal(res.body.reason, undefined)
    }
    assertError(await call(apiA, 'POST', '/v1/nat/holepunch', { headers: AUTH, json: { peer: a.peerId } }), 400, 'UMBRA_ERR_INVALID_RECIPIENT')
    assertError(await call(apiA, 'POST', '/v1/nat/holepunch', { headers: AUTH, json: { peer: 'not-a-peer' } }), 400, 'UMBRA_ERR_INVALID_RECIPIENT')
    // a peer nobody knows an address of: neither direct nor relayed
    const stranger = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    assertError(await call(apiA, 'POST', '/v1/nat/holepunch', { headers: AUTH, json: { peer: stranger, timeout: 1000 } }), 502, 'UMBRA_ERR_PEER_UNREACHABLE')
  })

  it('a record put through one node is got through the other', async () => {
    const put = await call(apiA, 'PUT', `/v1/dht/${encodeURIComponent('api/real')}`, { headers: AUTH, json: { value: 'from A over HTTP', ttl: 3600 } })
    assert.equal(put.status, 200, JSON.stringify(put.body))
    assert.equal(put.body.seq, 1)
    assert.ok(put.body.storedOn >= 1, `stored on ${put.body.storedOn} nodes`)
    const get = await call(apiB, 'GET', `/v1/dht/${encodeURIComponent('api/real')}?fresh=true`, { headers: authB })
    assert.equal(get.status, 200, JSON.stringify(get.body))
    assert.equal(get.body.value, 'from A over HTTP')
    assert.equal(get.body.encoding, 'utf8')
    assert.equal(get.body.publisher, a.key)
    assert.equal(get.body.source, 'network')
    // the key belongs to A until its record expires
    assertError(await call(apiB, 'PUT', `/v1/dht/${encodeURIComponent('api/real')}`, { headers: authB, json: { value: 'from B' } }), 409, 'UMBRA_ERR_KEY_OWNED')
    assertError(await call(apiB, 'GET', '/v1/dht/api%2Fnever', { headers: authB }), 404, 'UMBRA_ERR_NOT_FOUND')
  })

  it('a message sent through one node arrives in the other, in its inbox and its event stream', async () => {
    const controller = new AbortController()
    const events = await fetch(`${apiB.url}/v1/events?token=${encodeURIComponent(`${TOKEN}-b`)}`, { signal: controller.signal })
    assert.equal(events.status, 200)
    assert.ok(events.body !== null)
    const reader = events.body.getReader()
    const state = { text: '' }
    try {
      await readUntil(reader, state, (t) => t.includes(': connected'))
      const sent = await call(apiA, 'POST', '/v1/messages', { headers: AUTH, json: { to: b.peerId, body: 'hello B, from A' } })
      assert.equal(sent.status, 200, JSON.stringify(sent.body))
      assert.match(sent.body.id, /^[0-9a-f]{32}$/)
      assert.equal(sent.body.to, b.peerId)
      assert.ok(sent.body.rttMs >= 0)

      await readUntil(reader, state, (t) => parseEvents(t).some((e) => e.event === 'message'))
      const event = parseEvents(state.text).find((e) => e.event === 'message')?.data as Record<string, unknown>
      assert.equal(event.id, sent.body.id)
      assert.equal(event.from, a.peerId)
      assert.equal(event.fromKey, a.key)
      assert.equal(event.body, 'hello B, from A')
      assert.equal(event.encoding, 'utf8')

      const inbox = await call(apiB, 'GET', '/v1/messages', { headers: authB })
      assert.deepEqual(inbox.body.messages.find((m: { id: string }) => m.id === sent.body.id), event)

      // binary body, addressed by key_ instead of PeerId
      const bytes = Buffer.from([0, 1, 2, 0xfe, 0xff])
      const binary = await call(apiA, 'POST', '/v1/messages', { headers: AUTH, json: { to: b.key, body: bytes.toString('base64'), encoding: 'base64' } })
      assert.equal(binary.status, 200, JSON.stringify(binary.body))
      const since = await call(apiB, 'GET', `/v1/messages?since=${event.receivedAt as number}`, { headers: authB })
      const got = since.body.messages.find((m: { id: string }) => m.id === binary.body.id)
      assert.equal(got?.encoding, 'base64')
      assert.deepEqual(Buffer.from(got.body, 'base64'), bytes)

      assertError(await call(apiA, 'POST', '/v1/messages', { headers: AUTH, json: { to: 'not-a-peer', body: 'x' } }), 400, 'UMBRA_ERR_INVALID_RECIPIENT')
    } finally {
      controller.abort()
    }
  })
})

describe('anonymous messages through the HTTP API over six real nodes', () => {
  let net: Testnet
  let apiSender: ApiServer
  let apiRecipient: ApiServer
  const authS = { authorization: `Bearer ${TOKEN}-s` }
  const authR = { authorization: `Bearer ${TOKEN}-r` }

  before(async () => {
    net = await createTestnet(6, { mixnet: { preset: 'none', threads: 1 }, nat: { stunPort: 0 } })
    apiSender = await createApiServer(net.nodes[1] as UmbraNode, { token: `${TOKEN}-s`, port: 0 })
    apiRecipient = await createApiServer(net.nodes[5] as UmbraNode, { token: `${TOKEN}-r`, port: 0 })
  })

  after(async () => {
    await apiSender?.close()
    await apiRecipient?.close()
    await net?.stop()
  })

  it('GET /v1/mixnet shows every server node in the directory and the preset', async () => {
    let mix: CallResult | undefined
    const deadline = Date.now() + 20_000
    for (;;) {
      mix = await call(apiSender, 'GET', '/v1/mixnet', { headers: authS })
      const other = await call(apiRecipient, 'GET', '/v1/mixnet', { headers: authR })
      if (mix.body.directory?.length === 6 && other.body.directory?.length === 6) break
      if (Date.now() > deadline) assert.fail(`directories did not fill: ${JSON.stringify(mix.body.directory?.length)}, ${JSON.stringify(other.body.directory?.length)}`)
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    assert.equal(mix.status, 200)
    assert.equal(mix.body.preset, 'none')
    assert.deepEqual(mix.body.parameters, { meanDelayMs: 0, loopRate: 0, dropRate: 0, payloadRate: 0 })
    const peerIds = net.nodes.map((n) => n.peerId).sort()
    assert.deepEqual(mix.body.directory.map((d: { peerId: string }) => d.peerId), peerIds)
    assert.equal(typeof mix.body.counters.packetsIn, 'number')
  })

  it('a pseudonym, an anonymous message through 3 hops, a reply through its SURB, each seen over HTTP', async () => {
    const created = await call(apiRecipient, 'POST', '/v1/pseudonyms', { headers: authR, json: { label: 'api test' } })
    assert.equal(created.status, 201, JSON.stringify(created.body))
    const pseudonym = created.body.key as string
    assert.match(pseudonym, /^key_/)
    assert.equal(created.body.label, 'api test')
    assert.ok(created.body.gateways.length >= 1)
    assert.ok(!created.body.gateways.includes(net.nodes[5]?.peerId), 'the gateway is another node')
    const listed = await call(apiRecipient, 'GET', '/v1/pseudonyms', { headers: authR })
    assert.deepEqual(listed.body.pseudonyms.map((p: { key: string }) => p.key), [pseudonym])

    const controllerR = new AbortController()
    const controllerS = new AbortController()
    const eventsR = await fetch(`${apiRecipient.url}/v1/events`, { headers: authR, signal: controllerR.signal })
    const eventsS = await fetch(`${apiSender.url}/v1/events`, { headers: authS, signal: controllerS.signal })
    assert.ok(eventsR.body !== null && eventsS.body !== null)
    const readerR = eventsR.body.getReader()
    const readerS = eventsS.body.getReader()
    const stateR = { text: '' }
    const stateS = { text: '' }
    try {
      await readUntil(readerR, stateR, (t) => t.includes(': connected'))
      await readUntil(readerS, stateS, (t) => t.includes(': connected'))

      const sent = await call(apiSender, 'POST', '/v1/messages', { headers: authS, json: { to: pseudonym, body: 'hello, whoever you are', anonymous: true, hops: 3, wait: 'delivered', replySurbs: 1 } })
      assert.equal(sent.status, 200, JSON.stringify(sent.body))
      assert.match(sent.body.id, /^[0-9a-f]{32}$/)
      assert.equal(sent.body.to, pseudonym)
      assert.equal(sent.body.anonymous, true)
      assert.equal(sent.body.status, 'delivered')
      assert.equal(sent.body.fragments, 1)
      assert.ok(sent.body.rttMs > 0)

      // the recipient sees it in its inbox and its event stream, without a sender
      await readUntil(readerR, stateR, (t) => parseEvents(t).some((e) => e.event === 'anonymous:message'), 10_000)
      const event = parseEvents(stateR.text).find((e) => e.event === 'anonymous:message')?.data as Record<string, unknown>
      assert.deepEqual({ ...event, receivedAt: 0, sentAt: 0 }, { kind: 'anonymous', anonymous: true, id: sent.body.id, from: null, to: pseudonym, body: 'hello, whoever you are', encoding: 'utf8', sentAt: 0, receivedAt: 0, repliesLeft: 1 })
      const inbox = await call(apiRecipient, 'GET', '/v1/messages', { headers: authR })
      assert.deepEqual(inbox.body.messages.find((m: { id?: string }) => m.id === sent.body.id), event)
      assert.ok(!JSON.stringify(inbox.body).includes(net.nodes[1]?.peerId ?? '?'), 'the sender\'s PeerId appears nowhere')
      await readUntil(readerS, stateS, (t) => parseEvents(t).some((e) => e.event === 'anonymous:delivered'), 10_000)
      assert.deepEqual(parseEvents(stateS.text).find((e) => e.event === 'anonymous:delivered')?.data, { id: sent.body.id })

      // the recipient answers through the SURB; the sender sees the reply
      const replied = await call(apiRecipient, 'POST', `/v1/messages/${sent.body.id as string}/reply`, { headers: authR, json: { body: 'hello back' } })
      assert.equal(replied.status, 200, JSON.stringify(replied.body))
      assert.deepEqual(replied.body, { id: sent.body.id, repliesLeft: 0 })
      await readUntil(readerS, stateS, (t) => parseEvents(t).some((e) => e.event === 'anonymous:reply'), 10_000)
      const replyEvent = parseEvents(stateS.text).find((e) => e.event === 'anonymous:reply')?.data as Record<string, unknown>
      const { id: replyId, ...replyRest } = replyEvent
      assert.match(String(replyId), /^[0-9a-f]{32}$/, 'the event names the reply\'s inbox id (issue 11)')
      assert.deepEqual({ ...replyRest, receivedAt: 0 }, { kind: 'reply', anonymous: true, from: null, inReplyTo: sent.body.id, body: 'hello back', encoding: 'utf8', receivedAt: 0 })
      const senderInbox = await call(apiSender, 'GET', '/v1/messages', { headers: authS })
      assert.deepEqual(senderInbox.body.messages.filter((m: { kind: string }) => m.kind === 'reply'), [replyEvent])

      // its only SURB is used up
      assertError(await call(apiRecipient, 'POST', `/v1/messages/${sent.body.id as string}/reply`, { headers: authR, json: { body: 'again' } }), 409, 'UMBRA_ERR_NO_SURB')
      assert.equal((await call(apiRecipient, 'GET', '/v1/messages', { headers: authR })).body.messages.find((m: { id?: string }) => m.id === sent.body.id)?.repliesLeft, 0)
    } finally {
      controllerR.abort()
      controllerS.abort()
    }
  })

  it('answers the mixnet\'s errors with their codes', async () => {
    const pseudonym = ((await call(apiRecipient, 'GET', '/v1/pseudonyms', { headers: authR })).body.pseudonyms[0]?.key ?? '') as string
    // 8 hops need 8 mixes besides the sender and the gateway; there are 4
    assertError(await call(apiSender, 'POST', '/v1/messages', { headers: authS, json: { to: pseudonym, body: 'x', anonymous: true, hops: 8 } }), 503, 'UMBRA_ERR_NOT_ENOUGH_MIXES')
    // a key_ with a broken checksum, and a well-formed key no pseudonym was made for
    const broken = pseudonym.slice(0, -1) + (pseudonym.endsWith('1') ? '2' : '1')
    assertError(await call(apiSender, 'POST', '/v1/messages', { headers: authS, json: { to: broken, body: 'x', anonymous: true } }), 400, 'UMBRA_ERR_INVALID_RECIPIENT')
    assertError(await call(apiSender, 'POST', '/v1/messages', { headers: authS, json: { to: net.nodes[0]?.key, body: 'x', anonymous: true } }), 404, 'UMBRA_ERR_UNKNOWN_PSEUDONYM')
    assertError(await call(apiSender, 'POST', `/v1/messages/${'ab'.repeat(16)}/reply`, { headers: authS, json: { body: 'x' } }), 409, 'UMBRA_ERR_NO_SURB')
  })
})
