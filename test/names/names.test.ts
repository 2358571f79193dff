/**
 * Names end to end (issue 9 item 3), on 10 in-process server nodes on
 * loopback with the HTTP API of nodes 3, 5 and 9 (the same "Must show"
 * scenario runs over 10 `umbra start` processes in processes.test.ts; this
 * one also checks status codes, the cache, updates and renewal):
 * node 3 registers a global name pointing to its PeerId and a pseudonym;
 * node 9 resolves it (cold, then cached) and sends to it by name, directly
 * and anonymously; node 5 claiming the same name gets 409; a zone name
 * resolves; an expired name is claimed by another key; a name is renewed
 * before it expires; `umbra --query` and `umbra name resolve` print it.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { createApiServer, type ApiServer } from '../../src/api/index.ts'
import { createTestnet, type Testnet } from '../../src/testnet/index.ts'
import type { UmbraNode } from '../../src/node/index.ts'
import { until } from '../helpers/wait.ts'

const NODES = 10
const TOKEN = 'names-test-token'
const MIXNET = { preset: 'none' as const, threads: 1 }
const run = promisify(execFile)

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers of several routes, checked field by field
interface Reply { status: number, body: any }

async function call (api: ApiServer, method: string, path: string, body?: unknown): Promise<Reply> {
  const res = await fetch(api.url + path, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {})
  })
  return { status: res.status, body: await res.json() }
}

describe(`names on ${NODES} loopback server nodes through the HTTP API`, { timeout: 120_000 }, () => {
  let net: Testnet
  const apis: Record<number, ApiServer> = {}
  let n3: UmbraNode
  let n5: UmbraNode

  before(async () => {
    net = await createTestnet(NODES, { mixnet: MIXNET })
    n3 = net.nodes[3] as UmbraNode
    n5 = net.nodes[5] as UmbraNode
    for (const i of [3, 5, 9]) apis[i] = await createApiServer(net.nodes[i] as UmbraNode, { token: TOKEN, port: 0 })
    await until('every mix directory to list every node', () => net.nodes.every((n) => n.mixnet.directory().length === NODES), 40_000)
  })
  after(async () => {
    for (const api of Object.values(apis)) await api.close().catch(() => {})
    await net?.stop()
  })

  it('node 3 registers a global name; node 9 resolves it and sends to it by name, directly and anonymously; node 5 gets 409', async (t) => {
    const name = 'node-three-umbra'
    const nym = await n3.pseudonyms.create()
    const t0 = performance.now()
    const reg = await call(apis[3] as ApiServer, 'POST', '/v1/names', { name, records: [{ type: 'peer', value: n3.peerId }, { type: 'pseudonym', value: nym.key }, { type: 'text', value: 'hello from node 3' }] })
    t.diagnostic(`register (proof of work for ${name.length} chars included): ${Math.round(performance.now() - t0)} ms, stored on ${reg.body.storedOn}`)
    assert.equal(reg.status, 201, JSON.stringify(reg.body))
    assert.equal(reg.body.kind, 'global')
    assert.ok(reg.body.storedOn >= 1)

    const t1 = performance.now()
    const cold = await call(apis[9] as ApiServer, 'GET', `/v1/names/${name}`)
    const coldMs = performance.now() - t1
    assert.equal(cold.status, 200, JSON.stringify(cold.body))
    assert.equal(cold.body.source, 'network')
    assert.equal(cold.body.owner, n3.key)
    assert.deepEqual(cold.body.records.map((r: { type: string }) => r.type), ['peer', 'pseudonym', 'text'])
    const t2 = performance.now()
    const cached = await call(apis[9] as ApiServer, 'GET', `/v1/names/${name}`)
    t.diagnostic(`node 9 resolves over HTTP: cold ${coldMs.toFixed(1)} ms, cached ${(performance.now() - t2).toFixed(1)} ms`)
    assert.equal(cached.body.source, 'cache')

    const direct = await call(apis[9] as ApiServer, 'POST', '/v1/messages', { to: name, body: 'direct by name' })
    assert.equal(direct.status, 200, JSON.stringify(direct.body))
    assert.equal(direct.body.to, n3.peerId)
    await until('the direct message at node 3', () => n3.messaging.inbox().some((m) => new TextDecoder().decode(m.body) === 'direct by name'), 10_000)

    const anon = await call(apis[9] as ApiServer, 'POST', '/v1/messages', { to: name, body: 'anonymous by name', anonymous: true, hops: 2 })
    assert.equal(anon.status, 200, JSON.stringify(anon.body))
    assert.equal(anon.body.to, nym.key)
    await until('the anonymous message at node 3', () => n3.mixnet.inbox().some((m) => new TextDecoder().decode(m.body) === 'anonymous by name'), 30_000)

    const punch = await call(apis[9] as ApiServer, 'POST', '/v1/nat/holepunch', { peer: name })
    assert.equal(punch.status, 200, JSON.stringify(punch.body))
    assert.equal(punch.body.peer, n3.peerId)

    const clash = await call(apis[5] as ApiServer, 'POST', '/v1/names', { name, records: [{ type: 'peer', value: n5.peerId }] })
    t.diagnostic(`node 5 claiming ${name}: ${clash.status} ${clash.body.error?.code}`)
    assert.equal(clash.status, 409)
    assert.equal(clash.body.error.code, 'UMBRA_ERR_KEY_OWNED')
    assert.equal((await call(apis[9] as ApiServer, 'GET', `/v1/names/${name}?fresh=true`)).body.owner, n3.key)

    // The owner updates its own name: 200, a higher seq, the new records everywhere.
    const update = await call(apis[3] as ApiServer, 'POST', '/v1/names', { name, records: [{ type: 'peer', value: n3.peerId }, { type: 'pseudonym', value: nym.key }] })
    assert.equal(update.status, 200)
    assert.ok(update.body.seq > reg.body.seq)
    const after = await call(apis[9] as ApiServer, 'GET', `/v1/names/${name}?fresh=true`)
    assert.equal(after.body.records.length, 2)
    assert.deepEqual((await call(apis[3] as ApiServer, 'GET', '/v1/names')).body.names.map((n: { name: string }) => n.name), [name])

    // The CLI: seed 003's `umbra --query` and `umbra name resolve`.
    const cli = ['src/cli/main.ts']
    const env = { ...process.env, UMBRA_API_TOKEN: TOKEN }
    const q = await run(process.execPath, [...cli, '--query', name, '--api', (apis[9] as ApiServer).url], { env })
    assert.match(q.stdout, new RegExp(`${name} \\(global, owner ${n3.key}`))
    assert.match(q.stdout, new RegExp(`peer\\s+${n3.peerId}`))
    const r = await run(process.execPath, [...cli, 'name', 'resolve', name, '--json', '--api', (apis[9] as ApiServer).url], { env })
    assert.equal(JSON.parse(r.stdout).owner, n3.key)
    await assert.rejects(run(process.execPath, [...cli, 'name', 'resolve', 'nobody-has-this-name', '--api', (apis[9] as ApiServer).url], { env }), (err: { code: number, stderr: string }) => {
      assert.equal(err.code, 1)
      assert.match(err.stderr, /UMBRA_ERR_NAME_NOT_FOUND/)
      return true
    })
  })

  it('a zone name resolves; only the zone key can register in the zone; a wrong label is 404', async () => {
    const zoneName = `www.${n3.key}`
    const reg = await call(apis[3] as ApiServer, 'POST', '/v1/names', { name: zoneName, records: [{ type: 'multiaddr', value: n3.getMultiaddrs()[0] }, { type: 'text', value: 'zone record' }] })
    assert.equal(reg.status, 201, JSON.stringify(reg.body))
    assert.equal(reg.body.kind, 'zone')
    const res = await call(apis[9] as ApiServer, 'GET', `/v1/names/${zoneName}`)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(res.body.owner, n3.key)
    assert.equal(res.body.records[1].value, 'zone record')
    const foreign = await call(apis[5] as ApiServer, 'POST', '/v1/names', { name: zoneName, records: [{ type: 'text', value: 'mine' }] })
    assert.equal(foreign.status, 403)
    assert.equal(foreign.body.error.code, 'UMBRA_ERR_NOT_ZONE_OWNER')
    assert.equal((await call(apis[9] as ApiServer, 'GET', `/v1/names/ftp.${n3.key}`)).status, 404)
    assert.equal((await call(apis[9] as ApiServer, 'GET', `/v1/names/www.${n5.key}`)).status, 404)
  })

  it('an expired name is claimed by another key; a renewed one stays', async (t) => {
    const name = 'short-lived-umbra-name'
    const reg = await call(apis[3] as ApiServer, 'POST', '/v1/names', { name, records: [{ type: 'text', value: 'three' }], ttl: 3, renew: false })
    assert.equal(reg.status, 201)
    assert.equal((await call(apis[5] as ApiServer, 'POST', '/v1/names', { name, records: [{ type: 'text', value: 'five' }] })).status, 409)
    await new Promise((resolve) => setTimeout(resolve, reg.body.expiresAt - Date.now() + 200))
    const claim = await call(apis[5] as ApiServer, 'POST', '/v1/names', { name, records: [{ type: 'text', value: 'five' }] })
    t.diagnostic(`node 5 claiming ${name} after node 3's record expired: ${claim.status}`)
    assert.equal(claim.status, 201, JSON.stringify(claim.body))
    const res = await call(apis[9] as ApiServer, 'GET', `/v1/names/${name}?fresh=true`)
    assert.equal(res.body.owner, n5.key)
    assert.equal(res.body.records[0].value, 'five')
    // Node 3, whose record lapsed, now gets 409 in turn.
    assert.equal((await call(apis[3] as ApiServer, 'POST', '/v1/names', { name, records: [{ type: 'text', value: 'three again' }] })).status, 409)

    // A 3 s name that node 3 renews (at half its lifetime) is still there after 5 s, with a higher seq.
    const kept = await call(apis[3] as ApiServer, 'POST', '/v1/names', { name: 'renewed-umbra-name', records: [{ type: 'text', value: 'kept' }], ttl: 3 })
    await new Promise((resolve) => setTimeout(resolve, 5000))
    const later = await call(apis[9] as ApiServer, 'GET', '/v1/names/renewed-umbra-name?fresh=true')
    t.diagnostic(`renewed name after 5 s: ${later.status}, seq ${kept.body.seq} -> ${later.body.seq}`)
    assert.equal(later.status, 200)
    assert.ok(later.body.seq > kept.body.seq)
    assert.equal((await call(apis[5] as ApiServer, 'POST', '/v1/names', { name: 'renewed-umbra-name', records: [{ type: 'text', value: 'five' }] })).status, 409)
  })

  it('a claim that gives up while minting its proof of work answers UMBRA_ERR_ABORTED; registering again succeeds', async (t) => {
    // 9 chars: 21 bits, about a million hashes. A proof can still be found
    // within the 20 ms budget by luck (a few % of tries), so a lucky try
    // moves on to a fresh label; five lucky tries in a row would fail.
    let label = ''
    let t0 = 0
    for (let i = 0; i < 5 && label === ''; i++) {
      const candidate = `abortabl${i}`
      t0 = performance.now()
      try {
        await n5.names.register(candidate, [{ type: 'text', value: 'x' }], { signal: AbortSignal.timeout(20) })
        t.diagnostic(`${candidate}: the proof of work was found within 20 ms, trying another label`)
      } catch (err) {
        assert.equal((err as { code?: string }).code, 'UMBRA_ERR_ABORTED', String(err))
        label = candidate
      }
    }
    assert.notEqual(label, '', 'no claim was given up')
    const t1 = performance.now()
    const done = await n5.names.register(label, [{ type: 'text', value: 'x' }])
    t.diagnostic(`gave up after ${Math.round(t1 - t0)} ms, the retry finished ${Math.round(performance.now() - t1)} ms later`)
    assert.equal(done.created, true)
    assert.equal((await n3.names.resolve(label)).owner, n5.key)
  })

  it('bad names and records are 400 with a code; sending to an unknown name, or anonymously to a name without a pseudonym, is 400', async () => {
    const api = apis[9] as ApiServer
    assert.equal((await call(api, 'POST', '/v1/names', { name: 'Alice', records: [{ type: 'text', value: 'x' }] })).status, 400)
    assert.equal((await call(api, 'POST', '/v1/names', { name: 'valid-name-here', records: [] })).status, 400)
    const badPeer = await call(api, 'POST', '/v1/names', { name: 'valid-name-here', records: [{ type: 'peer', value: 'not-a-peer' }] })
    assert.equal(badPeer.status, 400)
    assert.equal(badPeer.body.error.code, 'UMBRA_ERR_INVALID_NAME_RECORD')
    assert.equal((await call(api, 'GET', '/v1/names/-bad')).status, 400)
    const unknown = await call(api, 'POST', '/v1/messages', { to: 'nobody-has-this-name', body: 'x' })
    assert.equal(unknown.status, 400)
    assert.equal(unknown.body.error.code, 'UMBRA_ERR_INVALID_RECIPIENT')
    assert.match(unknown.body.error.message, /UMBRA_ERR_NAME_NOT_FOUND/)
    const noNym = await call(api, 'POST', '/v1/messages', { to: 'short-lived-umbra-name', body: 'x', anonymous: true })
    assert.equal(noNym.status, 400)
    assert.equal(noNym.body.error.code, 'UMBRA_ERR_INVALID_RECIPIENT')
    assert.match(noNym.body.error.message, /no pseudonym record/)
  })
})
