/**
 * Service discovery through the HTTP API and the CLI (issue 9 item 4):
 * `POST|GET|DELETE /v1/discovery/{namespace}` on in-process loopback nodes,
 * and `umbra advertise` / `umbra discover [--anonymous]` against them.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { createApiServer, type ApiServer } from '../../src/api/index.ts'
import { createTestnet, type Testnet } from '../../src/testnet/index.ts'
import { umbra } from '../cli/helpers.ts'
import type { UmbraNode } from '../../src/node/index.ts'

const NODES = 4

describe('discovery over the API and the CLI', { timeout: 90_000 }, () => {
  let net: Testnet
  const apis: ApiServer[] = []
  const token = randomBytes(16).toString('hex')
  const flags = (i: number): string[] => ['--api', apis[i]?.url ?? '', '--token', token]
  const call = async (i: number, method: string, path: string, body?: unknown): Promise<{ status: number, json: Record<string, unknown> }> => {
    const res = await fetch(`${apis[i]?.url ?? ''}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {})
    })
    return { status: res.status, json: await res.json() as Record<string, unknown> }
  }

  before(async () => {
    net = await createTestnet(NODES, { mixnet: { preset: 'none', threads: 1 } })
    for (const n of net.nodes.slice(1, 3)) apis.push(await createApiServer(n, { port: 0, token }))
  })
  after(async () => {
    for (const a of apis) await a.close()
    await net?.stop()
  })

  it('POST advertises, GET finds (namespace with a slash, URL-encoded), DELETE stops; bad input is a 400', async (t) => {
    const [, a, b] = net.nodes as [UmbraNode, UmbraNode, UmbraNode]
    const adv = await call(0, 'POST', '/v1/discovery/game%2Fchess')
    assert.equal(adv.status, 200, JSON.stringify(adv.json))
    assert.equal(adv.json.advertiser, a.peerId)
    assert.equal(adv.json.namespace, 'game/chess')
    const found = await call(1, 'GET', '/v1/discovery/game%2Fchess?limit=5')
    assert.equal(found.status, 200)
    const peers = found.json.peers as Array<{ peerId: string, addrs: string[] }>
    t.diagnostic(`GET /v1/discovery/game%2Fchess from node ${b.peerId.slice(-6)}: ${peers.length} peer(s)`)
    assert.ok(peers.some((p) => p.peerId === a.peerId && p.addrs.length > 0))
    const del = await call(0, "DELETE", "/v1/discovery/game%2Fchess")
    assert.equal(del.status, 200, JSON.stringify(del.json))
    assert.deepEqual(a.discovery.advertised().namespaces, [])
    const bad = await call(1, 'GET', '/v1/discovery/x?limit=0')
    assert.equal(bad.status, 400)
    const ctl = await call(1, 'POST', '/v1/discovery/bad%01name')
    assert.equal(ctl.status, 400)
    assert.equal((ctl.json.error as { code: string }).code, 'UMBRA_ERR_INVALID_NAMESPACE')
  })

  it('umbra advertise / discover, and --pseudonym / --anonymous', async (t) => {
    const b = net.nodes[2] as UmbraNode
    let res = await umbra(['advertise', 'cli/room', ...flags(1)])
    assert.equal(res.code, 0, res.stderr)
    assert.match(res.stdout, new RegExp(`advertised ${b.peerId} under cli/room`))
    res = await umbra(['discover', 'cli/room', ...flags(0)])
    assert.equal(res.code, 0, res.stderr)
    assert.ok(res.stdout.split('\n').some((l) => l.startsWith(b.peerId + ' ')), res.stdout)
    const none = await umbra(['discover', 'cli/empty-room', ...flags(0)])
    assert.equal(none.code, 1)
    // Anonymous: the pseudonym is listed, the PeerId is not.
    await (async () => { while (!net.nodes.every((n) => n.mixnet.directory().length === NODES)) await new Promise((resolve) => setTimeout(resolve, 200)) })()
    const p = await b.pseudonyms.create()
    res = await umbra(['advertise', 'cli/anon', '--pseudonym', p.key, ...flags(1)])
    assert.equal(res.code, 0, res.stderr)
    res = await umbra(['discover', 'cli/anon', '--anonymous', '--json', ...flags(0)])
    assert.equal(res.code, 0, res.stderr)
    const out = JSON.parse(res.stdout) as { pseudonyms: Array<{ pseudonym: string }> }
    t.diagnostic(`umbra discover --anonymous: ${out.pseudonyms.map((x) => x.pseudonym.slice(0, 12)).join(', ')}`)
    assert.deepEqual(out.pseudonyms.map((x) => x.pseudonym), [p.key])
    assert.ok(!res.stdout.includes(b.peerId) && !res.stdout.includes(b.key))
    res = await umbra(['advertise', 'cli/anon', '--pseudonym', p.key, '--stop', ...flags(1)])
    assert.equal(res.code, 0, res.stderr)
    assert.equal((await umbra(['discover', 'cli/anon', '--anonymous', ...flags(0)])).code, 1)
  })
})
