/**
 * The HTTP API under abuse (issue 10, items 5 and 6): a real node with a data
 * directory, bootstrapped into a small in-process testnet, served by
 * `createApiServer`, is sent hostile input:
 * - the inputs that answered 500 before (a PeerId whose key is not an Ed25519
 *   point, a CID-form PeerId, a JSON `null` body, a hole punch to a peer without
 *   ping, a pseudonym whose gateway claim times out);
 * - a property-based fuzz (fast-check, time-bounded) of every route of the
 *   OpenAPI document: random path parameters, query strings, bodies (JSON of
 *   the wrong types, nulls, huge strings, unicode, non-JSON, wrong content
 *   types), with and without the token, while a well-behaved client keeps
 *   calling;
 * - raw sockets: a malformed request line, a 64 KiB header, slowloris headers,
 *   `HEAD /v1/events`;
 * - 20 concurrent `POST /v1/pseudonyms` and concurrent first starts writing the
 *   API token and identity files.
 * Asserted: never 500, 5xx only where the route documents it (502/503/504),
 * every error body `{error:{code:'UMBRA_ERR_…',message}}`, no request hangs.
 */
import { after, before, describe, it } from 'node:test'
import type { TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { base58btc } from 'multiformats/bases/base58'
import { identity } from 'multiformats/hashes/identity'
import type { Libp2p } from '@libp2p/interface'
import { createApiServer, ROUTES } from '../../src/api/index.ts'
import type { ApiServer, RouteSpec } from '../../src/api/index.ts'
import { createNode } from '../../src/node/index.ts'
import type { UmbraNode } from '../../src/node/index.ts'
import { loadOrCreateApiToken, loadOrCreateTransportKey } from '../../src/identity/index.ts'
import { createTestnet } from '../../src/testnet/index.ts'
import { UmbraProcess, freePort, killStragglers } from '../mixnet/process-helpers.ts'
import type { Testnet } from '../../src/testnet/index.ts'
import { waitFor } from '../helpers/wait.ts'

const TOKEN = 'fuzz-token-0123456789abcdef'
const AUTH = { authorization: `Bearer ${TOKEN}` }
const MIXNET = { preset: 'none' as const, threads: 1 }
/** Wall time of the fuzz, ms; `UMBRA_API_FUZZ_MS` runs it longer to hunt. */
const FUZZ_MS = Number(process.env.UMBRA_API_FUZZ_MS ?? 12_000)
/** A request not answered within this is a hang: the API's own operation limit (60 s) plus slack. */
const HANG_MS = 70_000
/** Statuses any route may answer besides its documented ones: auth, bad body, size, media type, unknown route, URL or headers too long. */
const GENERIC = new Set([400, 401, 404, 413, 414, 415, 431])

interface Answer {
  status: number
  body: any // eslint-disable-line @typescript-eslint/no-explicit-any
  ms: number
}

let api: ApiServer
/** Base URL of the API under test: the in-process server, then the `umbra start` process. */
let base = ''

async function call (method: string, path: string, init: { headers?: Record<string, string>, body?: string, json?: unknown, timeout?: number } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...init.headers }
  let body = init.body
  if (init.json !== undefined) {
    body = JSON.stringify(init.json)
    headers['content-type'] ??= 'application/json'
  }
  const started = performance.now()
  const res = await fetch(base + path, { method, headers, ...(body !== undefined ? { body } : {}), signal: AbortSignal.timeout(init.timeout ?? HANG_MS) })
  // An event stream stays open: its headers are the answer.
  if ((res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    await res.body?.cancel()
    return { status: res.status, body: '', ms: performance.now() - started }
  }
  const text = await res.text()
  let parsed: unknown = text
  try { parsed = JSON.parse(text) } catch { /* not JSON: asserted by the caller */ }
  return { status: res.status, body: parsed, ms: performance.now() - started }
}

/** Asserts the error shape `{error:{code:'UMBRA_ERR_…', message}}`. */
function assertErrorShape (a: Answer, what: string): void {
  assert.ok(typeof a.body === 'object' && a.body !== null, `${what}: body is not JSON: ${String(a.body).slice(0, 200)}`)
  const e = a.body.error
  assert.ok(typeof e === 'object' && e !== null, `${what}: no "error" object: ${JSON.stringify(a.body).slice(0, 200)}`)
  assert.match(String(e.code), /^UMBRA_ERR_[A-Z0-9_]+$/, `${what}: code ${String(e.code)}`)
  assert.equal(typeof e.message, 'string', `${what}: message`)
}

/** An Ed25519 PeerId whose 32 key bytes are all 0xff: not a point on the curve. */
function invalidPointPeerId (): string {
  const proto = new Uint8Array([0x08, 0x01, 0x12, 0x20, ...new Array<number>(32).fill(0xff)])
  return base58btc.encode(identity.digest(proto).bytes).slice(1)
}

/** Sends raw bytes, collects what comes back until the server closes or `ms` pass. */
async function raw (bytes: string | Buffer, opts: { ms?: number, slow?: { chunks: string[], intervalMs: number } } = {}): Promise<{ text: string, closedMs: number | undefined }> {
  const url = new URL(base)
  const socket = connect(Number(url.port), url.hostname)
  const started = performance.now()
  let text = ''
  let closedMs: number | undefined
  socket.on('data', (d) => { text += d.toString('latin1') })
  socket.on('error', () => {})
  const closed = new Promise<void>((resolve) => socket.once('close', () => { closedMs = performance.now() - started; resolve() }))
  await new Promise<void>((resolve) => socket.once('connect', resolve))
  socket.write(bytes)
  if (opts.slow !== undefined) {
    for (const chunk of opts.slow.chunks) {
      if (closedMs !== undefined) break
      await new Promise((resolve) => setTimeout(resolve, opts.slow?.intervalMs))
      if (!socket.destroyed) socket.write(chunk)
    }
  }
  await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, opts.ms ?? 5_000))])
  socket.destroy()
  return { text, closedMs }
}

/** The JSON body of a raw HTTP response, or undefined. */
function rawBody (text: string): unknown {
  const i = text.indexOf('\r\n\r\n')
  if (i < 0) return undefined
  try { return JSON.parse(text.slice(i + 4)) } catch { return undefined }
}

describe('HTTP API under abuse', () => {
  let net: Testnet
  let victim: UmbraNode
  let dataDir: string
  let stock: Libp2p

  before(async () => {
    net = await createTestnet(2, { mixnet: MIXNET, nat: { stunPort: 0 } })
    dataDir = await mkdtemp(join(tmpdir(), 'umbra-api-fuzz-'))
    victim = await createNode({ dataDir, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: net.bootstrap, mixnet: MIXNET, nat: { stunPort: 0 } })
    await victim.start()
    api = await createApiServer(victim, { token: TOKEN, port: 0 })
    base = api.url
    await waitFor('the mix directory to list the testnet', () => victim.mixnet.directory().length >= 3, 30_000)
    // A stock libp2p node: no ping, no Umbra protocol.
    stock = await createLibp2p({ addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()], services: { identify: identify() } })
  })

  after(async () => {
    await stock?.stop()
    await api?.close()
    await victim?.stop()
    await net?.stop()
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true })
  })

  it('the inputs that answered 500 before answer a documented 4xx or 502', async (t: TestContext) => {
    const pid = invalidPointPeerId()
    const real = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    await stock.dial(victim.libp2p.getMultiaddrs()[0]!)
    const cases: Array<{ name: string, method: string, path: string, json?: unknown, body?: string, expect: number[] }> = [
      { name: 'message to a PeerId whose key is no Ed25519 point', method: 'POST', path: '/v1/messages', json: { to: pid, body: 'x' }, expect: [400] },
      { name: 'message to a CID-form PeerId', method: 'POST', path: '/v1/messages', json: { to: real.toCID().toString(), body: 'x' }, expect: [202, 400, 502] },
      { name: 'message to a CID-form PeerId whose key is no point', method: 'POST', path: '/v1/messages', json: { to: peerIdFromString(pid).toCID().toString(), body: 'x' }, expect: [400] },
      { name: 'hole punch to a PeerId whose key is no point', method: 'POST', path: '/v1/nat/holepunch', json: { peer: pid }, expect: [400, 502] },
      { name: 'hole punch to a peer without ping', method: 'POST', path: '/v1/nat/holepunch', json: { peer: stock.peerId.toString() }, expect: [200, 502] },
      { name: 'pseudonym with a JSON null body', method: 'POST', path: '/v1/pseudonyms', body: 'null', expect: [400] },
      { name: 'purge with a JSON null body', method: 'POST', path: `/v1/pseudonyms/${victim.key}/purge`, body: 'null', expect: [400] },
      { name: 'DHT put with a JSON null body', method: 'PUT', path: '/v1/dht/k', body: 'null', expect: [400] },
      { name: 'anonymous message to a key that is no point', method: 'POST', path: '/v1/messages', json: { to: 'key_' + 'A'.repeat(40), body: 'x', anonymous: true }, expect: [400] }
    ]
    let internal = 0
    const wrong: string[] = []
    for (const c of cases) {
      const headers: Record<string, string> = { ...AUTH, ...(c.body !== undefined ? { 'content-type': 'application/json' } : {}) }
      const a = await call(c.method, c.path, { headers, ...(c.json !== undefined ? { json: c.json } : {}), ...(c.body !== undefined ? { body: c.body } : {}) })
      t.diagnostic(`${c.name}: ${a.status} ${JSON.stringify(a.body).slice(0, 160)}`)
      if (a.status === 500) internal++
      if (a.status >= 400) assertErrorShape(a, c.name)
      if (!c.expect.includes(a.status)) wrong.push(`${c.name}: ${a.status} ${JSON.stringify(a.body)}`)
    }
    t.diagnostic(`500 answers: ${internal} of ${cases.length}`)
    assert.deepEqual(wrong, [])
  })

  it('20 concurrent POST /v1/pseudonyms: each one created is listed and in the file, none half-kept', async (t: TestContext) => {
    const before = (await call('GET', '/v1/pseudonyms', { headers: AUTH })).body.pseudonyms.length as number
    const answers = await Promise.all(Array.from({ length: 20 }, async (_, i) => await call('POST', '/v1/pseudonyms', { headers: AUTH, json: { label: `p${i}` } })))
    const created = answers.filter((a) => a.status === 201).map((a) => a.body.key as string)
    t.diagnostic(`statuses: ${JSON.stringify(answers.map((a) => a.status))}`)
    for (const a of answers) {
      if (a.status !== 201) {
        assertErrorShape(a, 'create')
        assert.ok([502, 503, 504].includes(a.status), JSON.stringify(a.body))
      }
    }
    // Both gateways take at least 10 claims from one node; the rest may be refused (502), never lost or half-kept.
    assert.ok(created.length >= 10, `only ${created.length} of 20 created`)
    const listed = (await call('GET', '/v1/pseudonyms', { headers: AUTH })).body.pseudonyms.map((p: { key: string }) => p.key) as string[]
    assert.equal(listed.length, before + created.length)
    for (const key of created) assert.ok(listed.includes(key), `${key} not listed`)
    const file = JSON.parse(await readFile(join(dataDir, 'pseudonyms.json'), 'utf8')) as { pseudonyms: Array<{ key: string }> }
    assert.deepEqual(file.pseudonyms.map((p) => p.key).sort(), [...listed].sort())
    t.diagnostic(`created ${created.length}, listed ${listed.length}, in pseudonyms.json ${file.pseudonyms.length}`)
  })

  it('a property-based fuzz of every route: never 500, errors in shape, no hang, a good client still served', async (t: TestContext) => {
    const routes = Object.values(ROUTES) as RouteSpec[]
    const pid = invalidPointPeerId()
    const peers = [net.nodes[0]!.peerId, net.nodes[1]!.peerId, victim.peerId, pid, peerIdFromString(pid).toCID().toString(), stock.peerId.toString(), stock.peerId.toCID().toString(), net.nodes[0]!.key, victim.key]
    const text = fc.oneof(
      fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), fc.constantFrom(...peers),
      fc.constantFrom('', '..', '%', '%zz', '%C0%AF', '%00', '../../etc/passwd', 'key_', '12D3Koo', 'bafzaa', '\u0000', '\ud800', 'a'.repeat(5000)),
      fc.integer().map(String)
    )
    const value: fc.Arbitrary<unknown> = fc.oneof(
      text, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(text, { maxLength: 4 }), fc.jsonValue({ maxDepth: 2 })
    )
    /** A value for one property of a body schema: mostly of the right type and near its bounds, sometimes anything. */
    const valueFor = (schema: { type?: string, enum?: unknown[], minimum?: number, maximum?: number }): fc.Arbitrary<unknown> => {
      const typed: fc.Arbitrary<unknown> = schema.enum !== undefined
        ? fc.constantFrom(...schema.enum)
        : schema.type === 'integer' || schema.type === 'number'
          ? fc.oneof(fc.integer({ min: (schema.minimum ?? -10) - 1, max: (schema.maximum ?? 1_000) + 1 }), fc.integer(), fc.double())
          : schema.type === 'boolean'
            ? fc.boolean()
            : schema.type === 'array'
              ? fc.array(text, { maxLength: 40 })
              : text
      return fc.oneof({ weight: 4, arbitrary: typed }, { weight: 1, arbitrary: value })
    }
    const bodyOf = (route: RouteSpec): fc.Arbitrary<string | undefined> => {
      const properties = (route.schema.body as { properties?: Record<string, object> } | undefined)?.properties ?? {}
      const props = Object.keys(properties)
      const key = fc.oneof(fc.constantFrom(...props, 'extra'), fc.string({ maxLength: 8 }))
      const shaped = fc.record(Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, valueFor(v)])), { requiredKeys: [] })
      return fc.oneof(
        { weight: 4, arbitrary: shaped.map((o) => JSON.stringify(o)) },
        fc.constant(undefined),
        fc.dictionary(key, value, { maxKeys: 5 }).map((o) => JSON.stringify(o)),
        value.map((v) => JSON.stringify(v) ?? 'null'),
        fc.string({ maxLength: 200 }),
        fc.constantFrom('null', '{', '{"a":', '[]', '""', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{}}}', '{}'.padEnd(2_000_000, ' '))
      )
    }
    const requestOf = fc.constantFrom(...routes).chain((route) => fc.record({
      route: fc.constant(route),
      method: fc.oneof({ weight: 6, arbitrary: fc.constant(route.method) }, { weight: 1, arbitrary: fc.constantFrom('GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS') }),
      params: fc.array(text, { minLength: 2, maxLength: 2 }),
      query: fc.oneof(fc.constant(''), fc.dictionary(fc.constantFrom('since', 'fresh', 'token', 'x', ''), text, { maxKeys: 3 }).map((q) => '?' + new URLSearchParams(q as Record<string, string>).toString()), fc.string({ maxLength: 30 }).map((s) => '?' + s)),
      auth: fc.oneof({ weight: 5, arbitrary: fc.constant(AUTH.authorization) }, { weight: 1, arbitrary: fc.constantFrom(undefined, 'Bearer wrong', 'Basic x', 'Bearer', `Bearer ${TOKEN} extra`) }),
      contentType: fc.constantFrom('application/json', 'application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', undefined),
      body: bodyOf(route)
    }))

    // A well-behaved client calling throughout.
    let goodOk = 0
    let goodBad = 0
    let fuzzing = true
    const good = (async () => {
      while (fuzzing) {
        const a = await call('GET', '/v1/node', { headers: AUTH, timeout: 10_000 }).catch(() => ({ status: 0, body: undefined, ms: 0 }))
        if (a.status === 200 && a.body.peerId === victim.peerId) goodOk++
        else goodBad++
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    })()

    const byStatus = new Map<number, number>()
    let sent = 0
    let slowest = 0
    let slowestWhat = ''
    /** Requests sent and not answered yet: any left when the fuzz ends is a hang, named in the failure. */
    const inFlight = new Set<string>()
    try {
      await fc.assert(fc.asyncProperty(fc.array(requestOf, { minLength: 4, maxLength: 4 }), async (batch) => {
      await Promise.all(batch.map(async (r) => {
        let seg = 0
        // Well-formed UTF-8 percent-encoded, except the raw bad escapes, which go as they are.
        const encode = (s: string): string => /^%|^\.\.$/.test(s) ? s : encodeURIComponent(s.replace(/\p{Surrogate}/gu, '\uFFFD'))
        const path = r.route.url.replace(/:[a-z]+/g, () => encode(r.params[seg++] ?? ''))
        const headers: Record<string, string> = {}
        if (r.auth !== undefined) headers.authorization = r.auth
        if (r.contentType !== undefined && r.body !== undefined) headers['content-type'] = r.contentType
        const withBody = r.body !== undefined && r.method !== 'GET' && r.method !== 'HEAD'
        const desc = `${r.method} ${path.slice(0, 80)}${r.query.slice(0, 40)} body ${String(r.body).slice(0, 160)}`
        inFlight.add(desc)
        const a = await call(r.method, path + r.query, { headers, ...(withBody ? { body: r.body } : {}) }).finally(() => inFlight.delete(desc))
        sent++
        if (a.ms > slowest) slowestWhat = `${r.method} ${path.slice(0, 80)} body ${String(r.body).slice(0, 120)} → ${a.status}`
        slowest = Math.max(slowest, a.ms)
        byStatus.set(a.status, (byStatus.get(a.status) ?? 0) + 1)
        const what = `${r.method} ${path}${r.query.slice(0, 60)} body ${String(r.body).slice(0, 100)} → ${a.status} ${JSON.stringify(a.body).slice(0, 200)}`
        assert.notEqual(a.status, 500, what)
        if (a.status >= 400 && r.method !== 'HEAD') assertErrorShape(a, what)
        // A request whose method was changed may reach another route on the same URL (GET → POST /v1/pseudonyms): that route's documented errors apply.
        const answering = routes.find((x) => x.method === r.method && x.url === r.route.url) ?? r.route
        if (a.status >= 500) assert.ok(answering.errors.includes(a.status) && r.method === answering.method, `undocumented ${what}`)
        else if (a.status >= 400) assert.ok(GENERIC.has(a.status) || answering.errors.includes(a.status), `undocumented ${what}`)
      }))
      }), { interruptAfterTimeLimit: FUZZ_MS, numRuns: 1_000_000, endOnFailure: true })
    } finally {
      fuzzing = false
      await good
    }
    t.diagnostic(`fuzz: ${sent} requests in ${FUZZ_MS / 1000} s, statuses ${JSON.stringify(Object.fromEntries([...byStatus].sort((x, y) => x[0] - y[0])))}, slowest ${Math.round(slowest)} ms (${slowestWhat})`)
    t.diagnostic(`well-behaved client meanwhile: ${goodOk} answered 200, ${goodBad} not`)
    assert.deepEqual([...inFlight], [], 'requests still unanswered when the fuzz ended')
    assert.ok(sent > 50, `only ${sent} requests were sent`)
    assert.equal(goodBad, 0)
    assert.ok(goodOk > 10)
  })

  it('raw sockets: malformed request line, 64 KiB header, HEAD /v1/events and slowloris answer in our shape and end', async (t: TestContext) => {
    const bad = await raw('GARBAGE / HTTP/9.9\r\n\r\n')
    t.diagnostic(`malformed request line: ${bad.text.split('\r\n')[0]} ${JSON.stringify(rawBody(bad.text))}`)
    assert.match(bad.text, /^HTTP\/1\.1 400 /)
    assertErrorShape({ status: 400, body: rawBody(bad.text), ms: 0 }, 'malformed request line')

    const big = await raw(`GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`)
    t.diagnostic(`64 KiB header: ${big.text.split('\r\n')[0]} ${JSON.stringify(rawBody(big.text))}`)
    assert.match(big.text, /^HTTP\/1\.1 431 /)
    assertErrorShape({ status: 431, body: rawBody(big.text), ms: 0 }, '64 KiB header')

    const head = await raw(`HEAD /v1/events?token=${TOKEN} HTTP/1.1\r\nHost: ${new URL(base).host}\r\nConnection: close\r\n\r\n`, { ms: 5_000 })
    t.diagnostic(`HEAD /v1/events: ${head.text.split('\r\n')[0]}, closed after ${Math.round(head.closedMs ?? -1)} ms`)
    assert.match(head.text, /^HTTP\/1\.1 200 /)
    assert.match(head.text, /content-type: text\/event-stream/i)
    assert.ok(head.closedMs !== undefined, 'HEAD /v1/events never ended')
    const headNoToken = await call('HEAD', '/v1/events', { timeout: 5_000 })
    assert.equal(headNoToken.status, 401)
    const headNode = await call('HEAD', '/v1/node', { headers: AUTH, timeout: 5_000 })
    assert.equal(headNode.status, 200)

    // Slowloris: one header line every second, never finished; the server must close it.
    const slow = await raw('GET /v1/health HTTP/1.1\r\nHost: x\r\n', { ms: 30_000, slow: { chunks: Array.from({ length: 30 }, (_, i) => `X-${i}: y\r\n`), intervalMs: 1_000 } })
    t.diagnostic(`slowloris headers: closed after ${Math.round(slow.closedMs ?? -1)} ms, answer ${slow.text.split('\r\n')[0] ?? ''} ${JSON.stringify(rawBody(slow.text))}`)
    assert.ok(slow.closedMs !== undefined && slow.closedMs < 25_000, 'a slowloris connection was kept open')
    const health = await call('GET', '/v1/health', { timeout: 5_000 })
    assert.equal(health.status, 200)
  })

  it('concurrent first starts in one data directory share one API token and one identity', async (t: TestContext) => {
    const dir = await mkdtemp(join(tmpdir(), 'umbra-api-fuzz-id-'))
    try {
      const tokens = await Promise.allSettled(Array.from({ length: 10 }, async () => await loadOrCreateApiToken(dir)))
      const keys = await Promise.allSettled(Array.from({ length: 10 }, async () => await loadOrCreateTransportKey(dir)))
      const rejected = [...tokens, ...keys].filter((r) => r.status === 'rejected')
      t.diagnostic(`rejected: ${rejected.length} of 20`)
      assert.equal(rejected.length, 0, String((rejected[0] as PromiseRejectedResult | undefined)?.reason))
      const tokenSet = new Set(tokens.map((r) => (r as PromiseFulfilledResult<string>).value))
      assert.equal(tokenSet.size, 1)
      assert.equal((await readFile(join(dir, 'api-token'), 'utf8')).trim(), [...tokenSet][0])
      const keySet = new Set(keys.map((r) => (r as PromiseFulfilledResult<{ privateKey: { publicKey: { toString(): string } } }>).value.privateKey.publicKey.toString()))
      assert.equal(keySet.size, 1)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('a pseudonym whose gateway claim times out is answered 502 and not kept', async (t: TestContext) => {
    const before = (await call('GET', '/v1/pseudonyms', { headers: AUTH })).body.pseudonyms.length as number
    // Every gateway the victim knows goes away; the directory still lists them.
    await net.stop()
    const a = await call('POST', '/v1/pseudonyms', { headers: AUTH, json: { label: 'doomed' } })
    t.diagnostic(`create with no gateway answering: ${a.status} ${JSON.stringify(a.body)} after ${Math.round(a.ms)} ms`)
    assert.notEqual(a.status, 500)
    assert.ok([502, 503, 504].includes(a.status), String(a.status))
    assertErrorShape(a, 'create')
    // Creates the fuzz left in flight may still be rolled back meanwhile: the count can only shrink.
    const after = (await call('GET', '/v1/pseudonyms', { headers: AUTH })).body.pseudonyms as Array<{ label?: string }>
    assert.ok(after.length <= before, `${after.length} pseudonyms after, ${before} before`)
    assert.ok(!after.some((p) => p.label === 'doomed'))
    const file = JSON.parse(await readFile(join(dataDir, 'pseudonyms.json'), 'utf8')) as { pseudonyms: Array<{ label?: string }> }
    assert.equal(file.pseudonyms.length, after.length)
    assert.ok(!file.pseudonyms.some((p) => p.label === 'doomed'))
  })
})

describe('HTTP API of an `umbra start` process under abuse', () => {
  let dir: string
  let node: UmbraProcess

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'umbra-api-fuzz-proc-'))
    node = new UmbraProcess({ name: 'victim', dataDir: join(dir, 'victim'), role: 'server', port: await freePort(), preset: 'none' })
    await node.start([])
    base = node.id.api
  })

  after(async () => {
    await node?.stop('SIGTERM').catch(() => {})
    await killStragglers()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('hostile HTTP gets our error shape, HEAD /v1/events ends, bad keys and null bodies are 400, a good client is served', async (t: TestContext) => {
    const auth = { authorization: `Bearer ${node.id.token}` }
    const bad = await raw('GARBAGE / HTTP/9.9\r\n\r\n')
    assert.match(bad.text, /^HTTP\/1\.1 400 /)
    assertErrorShape({ status: 400, body: rawBody(bad.text), ms: 0 }, 'malformed request line')
    const big = await raw(`GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`)
    assert.match(big.text, /^HTTP\/1\.1 431 /)
    assertErrorShape({ status: 431, body: rawBody(big.text), ms: 0 }, '64 KiB header')
    const head = await raw(`HEAD /v1/events?token=${node.id.token} HTTP/1.1\r\nHost: ${new URL(base).host}\r\nConnection: close\r\n\r\n`, { ms: 5_000 })
    assert.match(head.text, /^HTTP\/1\.1 200 /)
    assert.ok(head.closedMs !== undefined, 'HEAD /v1/events never ended')
    const json = { ...auth, 'content-type': 'application/json' }
    const answers = [
      await call('POST', '/v1/pseudonyms', { headers: json, body: 'null' }),
      await call('POST', '/v1/messages', { headers: auth, json: { to: invalidPointPeerId(), body: 'x' } }),
      await call('POST', '/v1/messages', { headers: auth, json: { to: peerIdFromString(invalidPointPeerId()).toCID().toString(), body: 'x' } })
    ]
    t.diagnostic(`process: malformed ${bad.text.split('\r\n')[0]}, 64 KiB header ${big.text.split('\r\n')[0]}, HEAD /v1/events closed after ${Math.round(head.closedMs ?? -1)} ms, ` +
      `null body / bad-point PeerId / bad-point CID: ${answers.map((a) => `${a.status} ${String(a.body?.error?.code)}`).join(', ')}`)
    for (const a of answers) {
      assert.equal(a.status, 400, JSON.stringify(a.body))
      assertErrorShape(a, 'process')
    }
    const good = await call('GET', '/v1/node', { headers: auth, timeout: 5_000 })
    assert.equal(good.status, 200)
    assert.equal(good.body.peerId, node.id.peerId)
  })
})
