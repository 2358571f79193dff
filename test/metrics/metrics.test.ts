/**
 * Prometheus metrics (issue 12 item 1, docs/metrics.md) on real loopback
 * nodes with the mixnet: `GET /metrics` over real HTTP with the bearer
 * token, the text checked by a strict Prometheus text parser
 * (test/metrics/prom-text.ts), mix counters non-zero on the nodes that
 * relayed anonymous messages, no PeerId, key or address as a label value,
 * and every node of the process with its own registry.
 */
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { readFile } from 'node:fs/promises'
import { after, before, describe, it } from 'node:test'
import { register as globalRegister } from 'prom-client'
import { createApiServer, type ApiServer } from '../../src/api/index.ts'
import { createTestnet, type Testnet } from '../../src/testnet/index.ts'
import type { UmbraNode } from '../../src/node/index.ts'
import { waitFor } from '../helpers/wait.ts'
import { parsePrometheusText, valueOf, type Family } from './prom-text.ts'

const NODES = 4
const TOKEN = 'metrics-test-token-0123456789'
const MESSAGES = 3

/** GETs `/metrics` of `api`; `token` null sends no Authorization header. */
async function scrape (api: ApiServer, token: string | null = TOKEN): Promise<Response> {
  return await fetch(`${api.url}/metrics`, { headers: token === null ? {} : { authorization: `Bearer ${token}` } })
}

/** Scrapes and parses; asserts 200 and the content type first. */
async function families (api: ApiServer): Promise<Map<string, Family>> {
  const res = await scrape(api)
  assert.equal(res.status, 200)
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
  return parsePrometheusText(await res.text())
}

describe('GET /metrics on real loopback nodes with the mixnet', () => {
  let net: Testnet
  let nodes: UmbraNode[]
  const apis = new Map<UmbraNode, ApiServer>()
  let sender: UmbraNode
  let recipient: UmbraNode
  let gatewayNode: UmbraNode

  before(async () => {
    net = await createTestnet(NODES, { mixnet: { preset: 'none', threads: 1 } })
    nodes = net.nodes
    await waitFor('every directory to list every node', () => nodes.every((n) => n.mixnet.directory().length === NODES), 30_000)
    for (const node of nodes) apis.set(node, await createApiServer(node, { token: TOKEN, port: 0 }))
    recipient = nodes[NODES - 1] as UmbraNode
    const p = await recipient.pseudonyms.create()
    gatewayNode = nodes.find((n) => n.peerId === p.gateways[0]) as UmbraNode
    sender = nodes.find((n) => n !== recipient && n !== gatewayNode) as UmbraNode
    for (let i = 0; i < MESSAGES; i++) {
      const receipt = await sender.mixnet.send(p.key, new TextEncoder().encode(`hello ${i}`), { hops: 1, replySurbs: 0 })
      assert.equal(receipt.status, 'stored')
    }
  })
  after(async () => {
    for (const api of apis.values()) await api.close()
    await net?.stop()
  })

  it('answers 401 without the token or with a wrong one, and 200 in Prometheus text with it', async () => {
    const api = apis.get(sender) as ApiServer
    const none = await scrape(api, null)
    assert.equal(none.status, 401)
    assert.equal((await none.json() as { error: { code: string } }).error.code, 'UMBRA_ERR_UNAUTHORIZED')
    assert.doesNotMatch(await (await scrape(api, 'wrong-token')).text(), /umbra_/)
    assert.equal((await scrape(api, 'wrong-token')).status, 401)
    const fams = await families(api)
    assert.ok(fams.size > 20, `${fams.size} metric families`)
  })

  it('the nodes that relayed the anonymous messages show non-zero mix counters at /metrics, equal to the mixnet\'s own', async (t) => {
    // With 1 hop every message crossed one mix (any node but the sender may be picked) and the recipient's gateway.
    const relayed = nodes.filter((n) => n.mixnet.counters().forwarded > 0)
    assert.ok(relayed.length > 0, 'some node forwarded a packet')
    let forwarded = 0
    for (const node of relayed) {
      const fams = await families(apis.get(node) as ApiServer)
      const counters = node.mixnet.counters()
      const received = valueOf(fams, 'umbra_mix_packets_received_total')
      const ok = valueOf(fams, 'umbra_mix_packets_forwarded_total', { result: 'ok' })
      const sphinx = valueOf(fams, 'umbra_mix_sphinx_processing_seconds_count', {}, 'umbra_mix_sphinx_processing_seconds')
      t.diagnostic(`relay: received ${received}, forwarded ${ok}, Sphinx processed ${sphinx} (sum ${valueOf(fams, 'umbra_mix_sphinx_processing_seconds_sum', {}, 'umbra_mix_sphinx_processing_seconds').toFixed(4)} s)`)
      assert.ok(received > 0 && ok > 0 && sphinx > 0)
      // Cover traffic is off (preset none): nothing else moves these between the two reads.
      assert.equal(received, counters.packetsIn)
      assert.equal(ok, counters.forwarded)
      assert.ok(sphinx <= received)
      forwarded += ok
    }
    assert.ok(forwarded >= MESSAGES, `${forwarded} packets forwarded for ${MESSAGES} messages`)

    const gw = await families(apis.get(gatewayNode) as ApiServer)
    const stored = valueOf(gw, 'umbra_gateway_packets_total', { result: 'stored' })
    const claimed = valueOf(gw, 'umbra_gateway_mailboxes', { state: 'claimed' })
    t.diagnostic(`gateway: stored ${stored}, mailboxes claimed ${claimed}, messages held ${valueOf(gw, 'umbra_gateway_mailbox_messages')}, bytes ${valueOf(gw, 'umbra_gateway_mailbox_bytes')}`)
    assert.ok(stored >= MESSAGES)
    assert.ok(claimed >= 1)

    const out = await families(apis.get(sender) as ApiServer)
    assert.equal(valueOf(out, 'umbra_messages_sent_total', { path: 'anonymous' }), MESSAGES)
    assert.ok(valueOf(out, 'umbra_mix_fragments_sent_total', { attempt: 'first' }) >= MESSAGES)
    assert.equal(valueOf(out, 'umbra_mix_cover_packets_sent_total', { kind: 'loop' }), 0)
  })

  it('counts direct sends, DHT puts and gets, hole punches, connections and API requests by route pattern', async (t) => {
    const [a, b] = nodes as [UmbraNode, UmbraNode]
    const api = apis.get(a) as ApiServer
    await a.messaging.send(b.peerId, new TextEncoder().encode('direct'))
    // An unreachable recipient: the message waits in its offline queue (issue 11), counted as `queued`.
    const ghost = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    assert.equal((await a.messaging.send(ghost, new TextEncoder().encode('queued'))).path, 'queued')
    await a.dht.put('metrics-key', new TextEncoder().encode('v'))
    assert.ok(await a.dht.get('metrics-key') !== undefined)
    assert.equal(await a.dht.get('no-such-key-for-metrics'), undefined)
    const punch = await a.nat.holePunch(b.peerId)
    await fetch(`${api.url}/v1/dht/metrics-key`, { headers: { authorization: `Bearer ${TOKEN}` } })
    await fetch(`${api.url}/no/such/route/12D3KooWnotalabel`, { headers: { authorization: `Bearer ${TOKEN}` } })
    const fams = await families(api)
    assert.equal(valueOf(fams, 'umbra_messages_sent_total', { path: 'direct' }), 1)
    assert.equal(valueOf(fams, 'umbra_messages_sent_total', { path: 'relayed' }), 0)
    assert.equal(valueOf(fams, 'umbra_messages_sent_total', { path: 'queued' }), 1)
    const dht = 'umbra_dht_operation_seconds'
    assert.equal(valueOf(fams, `${dht}_count`, { op: 'put', outcome: 'ok' }, dht), 1)
    // The API's GET /v1/dht/:key above is a third get.
    assert.equal(valueOf(fams, `${dht}_count`, { op: 'get', outcome: 'ok' }, dht), 2)
    assert.equal(valueOf(fams, `${dht}_count`, { op: 'get', outcome: 'not-found' }, dht), 1)
    t.diagnostic(`DHT put ${(valueOf(fams, `${dht}_sum`, { op: 'put', outcome: 'ok' }, dht) * 1000).toFixed(1)} ms; not-found get ${(valueOf(fams, `${dht}_sum`, { op: 'get', outcome: 'not-found' }, dht) * 1000).toFixed(1)} ms`)
    assert.equal(valueOf(fams, 'umbra_hole_punch_total', { result: punch.method }), 1)
    assert.equal(valueOf(fams, 'umbra_connections', { path: 'direct' }), a.libp2p.getConnections().length)
    assert.equal(valueOf(fams, 'umbra_connections', { path: 'relayed' }), 0)
    assert.equal(valueOf(fams, 'umbra_api_requests_total', { method: 'GET', route: '/v1/dht/:key', status: '200' }), 1)
    assert.equal(valueOf(fams, 'umbra_api_requests_total', { method: 'GET', route: 'unmatched', status: '404' }), 1)
    assert.ok(valueOf(fams, 'umbra_api_requests_total', { method: 'GET', route: '/metrics', status: '200' }) >= 1)
  })

  it('no label value is a PeerId, a key, an address or a raw URL (libp2p\'s metrics included)', async (t) => {
    const peerIds = nodes.map((n) => n.peerId)
    const keys = nodes.map((n) => n.key)
    let labels = 0
    for (const api of apis.values()) {
      for (const f of (await families(api)).values()) {
        for (const s of f.samples) {
          for (const [name, value] of Object.entries(s.labels)) {
            labels++
            const where = `${s.name}{${name}="${value}"}`
            assert.ok(!peerIds.some((id) => value.includes(id)), `${where} holds a PeerId`)
            assert.ok(!keys.some((k) => value.includes(k)), `${where} holds a node key`)
            assert.doesNotMatch(value, /12D3Koo|key_[1-9A-HJ-NP-Za-km-z]{20,}|\/ip[46]\/|\/no\/such/, where)
          }
        }
      }
    }
    t.diagnostic(`${labels} label values over ${apis.size} nodes checked`)
    assert.ok(labels > 100)
  })

  it('two nodes in one process keep their own registries, libp2p\'s metrics included; prom-client\'s global register stays empty', async () => {
    const [a, b] = nodes as [UmbraNode, UmbraNode]
    assert.notEqual(a.metrics.registry, b.metrics.registry)
    const fa = await families(apis.get(a) as ApiServer)
    const fb = await families(apis.get(b) as ApiServer)
    // a sent one direct message to b (previous test): each node counts its own side only.
    assert.equal(valueOf(fa, 'umbra_messages_sent_total', { path: 'direct' }), 1)
    assert.equal(valueOf(fb, 'umbra_messages_sent_total', { path: 'direct' }), 0)
    const msg = (f: Map<string, Family>, dir: 'sent' | 'received'): number => {
      const s = f.get('libp2p_data_transfer_bytes_total')?.samples.find((x) => x.labels.protocol === `/umbra/msg/1.0.0 ${dir}`)
      return s?.value ?? 0
    }
    // The message went a → b and its acknowledgement b → a: mirrored byte counts, each in its node's registry.
    assert.ok(msg(fa, 'sent') > msg(fa, 'received') && msg(fa, 'received') > 0, `a sent ${msg(fa, 'sent')} B, received ${msg(fa, 'received')} B`)
    assert.equal(msg(fb, 'received'), msg(fa, 'sent'))
    assert.equal(msg(fb, 'sent'), msg(fa, 'received'))
    // Every libp2p family is an object of its own registry.
    const names = [...fa.keys()].filter((n) => n.startsWith('libp2p_'))
    assert.ok(names.length > 5, `${names.length} libp2p families`)
    for (const name of names) assert.notEqual(a.metrics.registry.getSingleMetric(name), b.metrics.registry.getSingleMetric(name), name)
    assert.equal(globalRegister.getMetricsAsArray().length, 0)
  })

  it('docs/metrics.md lists every umbra_ metric a node serves, and the Grafana dashboard queries only metrics that exist', async (t) => {
    const fams = await families(apis.get(gatewayNode) as ApiServer)
    const served = [...fams.keys()].filter((n) => n.startsWith('umbra_'))
    const doc = await readFile(new URL('../../docs/metrics.md', import.meta.url), 'utf8')
    const documented = new Set([...doc.matchAll(/^\| `(umbra_[a-z_]+)`/gm)].map((m) => m[1]))
    assert.deepEqual([...documented].sort(), served.sort())
    const dashboard = JSON.parse(await readFile(new URL('../../docs/grafana-dashboard.json', import.meta.url), 'utf8')) as { panels: Array<{ targets?: Array<{ expr: string }> }> }
    const queried = new Set<string>()
    for (const panel of dashboard.panels) {
      for (const target of panel.targets ?? []) {
        for (const m of target.expr.matchAll(/\b((?:umbra|libp2p|process)_[a-z_]+)/g)) queried.add((m[1] as string).replace(/_(bucket|count|sum)$/, ''))
      }
    }
    t.diagnostic(`${served.length} umbra_ families served and documented; dashboard queries ${queried.size} families`)
    for (const name of queried) assert.ok(fams.has(name), `the dashboard queries ${name}, which the node does not serve`)
    assert.deepEqual(served.filter((n) => !queried.has(n)), [], 'every umbra_ family is on the dashboard')
  })
})
