/**
 * The central pub/sub server and its client (issue 13, item 4): relaying,
 * de-duplication on the envelope's message id, bounds (size, rate, malformed
 * frames), and the client's health state across a server restart.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { WebSocket } from 'ws'
import { createCentralServer } from '../../src/pubsub/central/server.ts'
import { createCentralClient, type CentralClient } from '../../src/pubsub/central/client.ts'
import { createDeduplicator } from '../../src/pubsub/dedup.ts'
import { encodeEnvelope, signEnvelope } from '../../src/pubsub/envelope.ts'
import { waitFor } from '../helpers/wait.ts'
import { spawnUmbra, umbra } from '../cli/helpers.ts'

async function envelope (topic: string, text: string): Promise<Uint8Array> {
  return encodeEnvelope(await signEnvelope({ topic, data: new TextEncoder().encode(text) }))
}

function collect (c: CentralClient): string[] {
  const got: string[] = []
  c.addEventListener('message', (e) => { got.push(`${e.detail.topic}:${Buffer.from(e.detail.data).toString('hex')}`) })
  return got
}

test('dedup: an id is new once within the TTL; expiry and the size bound forget it', () => {
  let now = 0
  const d = createDeduplicator({ ttlMs: 1000, max: 3, now: () => now })
  assert.equal(d.firstSeen('a'), true)
  assert.equal(d.firstSeen('a'), false)
  assert.equal(d.firstSeen(new Uint8Array([1, 2])), true)
  assert.equal(d.firstSeen('0102'), false, 'bytes are keyed as hex')
  now = 1001
  assert.equal(d.firstSeen('a'), true, 'forgotten after the TTL')
  for (const k of ['b', 'c', 'd']) d.firstSeen(k)
  assert.equal(d.size(), 3)
  assert.equal(d.has('a'), false, 'the oldest went first over the bound')
  assert.equal(d.duplicates, 2)
  assert.throws(() => createDeduplicator({ ttlMs: 0 }), { code: 'UMBRA_ERR_INVALID_OPTION' })
})

test('central: relays envelopes to the other subscribers once, whatever number of copies arrive', async (t) => {
  const server = await createCentralServer({ port: 0 })
  const a = createCentralClient({ url: server.url })
  const b = createCentralClient({ url: server.url })
  const c = createCentralClient({ url: server.url })
  t.after(async () => { await Promise.all([a.stop(), b.stop(), c.stop()]); await server.close() })
  const gotA = collect(a)
  const gotB = collect(b)
  const gotC = collect(c)
  for (const x of [a, b, c]) await x.start()
  a.subscribe('news')
  b.subscribe('news')
  c.subscribe('other')
  await waitFor('three healthy clients', () => a.healthy() && b.healthy() && c.healthy() && server.stats().topics === 2, 5000, 20)
  const env = await envelope('news', 'one')
  assert.equal(await a.publish('news', env), false)
  // A bridged echo of the same envelope from another client is acknowledged as a duplicate and not relayed.
  assert.equal(await c.publish('news', env), true)
  await waitFor('b got it', () => gotB.length === 1, 5000, 20)
  await new Promise((resolve) => setTimeout(resolve, 100))
  assert.deepEqual(gotB, [`news:${Buffer.from(env).toString('hex')}`])
  assert.equal(gotA.length, 0, 'the publisher does not get its own message back')
  assert.equal(gotC.length, 0, 'a client on another topic gets nothing')
  const s = server.stats()
  assert.equal(s.published, 1)
  assert.equal(s.duplicates, 1)
  await assert.rejects(c.publish('other', env), { code: 'UMBRA_ERR_PUBSUB_CENTRAL_PROTOCOL' }, 'an envelope of another topic is refused')
})

test('central: oversized, malformed and too-fast frames are refused with a code, and counted', async (t) => {
  const server = await createCentralServer({ port: 0, maxMessageBytes: 600, ratePerSec: 1, burst: 4 })
  const ws = new WebSocket(server.url)
  t.after(async () => { ws.terminate(); await server.close() })
  const errors: string[] = []
  ws.on('message', (raw: Buffer) => { const f = JSON.parse(raw.toString()) as { op: string, code?: string }; if (f.op === 'err') errors.push(f.code ?? '') })
  await new Promise((resolve) => ws.once('open', resolve))
  ws.send('not json')
  ws.send(JSON.stringify({ v: 1, op: 'pub', topic: 'news', data: Buffer.alloc(900).toString('base64'), ref: 1 }))
  ws.send(JSON.stringify({ v: 1, op: 'pub', topic: 'news', data: Buffer.from('junk').toString('base64'), ref: 2 }))
  ws.send(JSON.stringify({ v: 1, op: 'sub', topic: 'news' }))
  ws.send(JSON.stringify({ v: 1, op: 'sub', topic: 'news' }))
  await waitFor('five answers', () => errors.length >= 4, 5000, 20)
  t.diagnostic(`errors: ${errors.join(', ')}; stats ${JSON.stringify(server.stats().refused)}`)
  assert.deepEqual(errors, ['UMBRA_ERR_PUBSUB_CENTRAL_PROTOCOL', 'UMBRA_ERR_PUBSUB_CENTRAL_PROTOCOL', 'UMBRA_ERR_PUBSUB_CENTRAL_PROTOCOL', 'UMBRA_ERR_PUBSUB_CENTRAL_RATE_LIMITED'])
  assert.equal(server.stats().refused.UMBRA_ERR_PUBSUB_CENTRAL_RATE_LIMITED, 1)
  assert.equal(server.stats().connections, 1, 'the connection stays open')
})

test('central client: unhealthy when the server dies, reconnects and re-subscribes when it returns', async (t) => {
  let server = await createCentralServer({ port: 0 })
  const port = server.port
  const sub = createCentralClient({ url: server.url, pingIntervalMs: 100, healthTimeoutMs: 500 })
  const pub = createCentralClient({ url: server.url, pingIntervalMs: 100, healthTimeoutMs: 500 })
  t.after(async () => { await Promise.all([sub.stop(), pub.stop()]); await server.close() })
  const got = collect(sub)
  const health: boolean[] = []
  sub.addEventListener('health', (e) => { health.push(e.detail.healthy) })
  await sub.start()
  await pub.start()
  sub.subscribe('news')
  await waitFor('healthy', () => sub.healthy() && pub.healthy(), 5000, 20)
  const killedAt = Date.now()
  await server.close()
  const downMs = await waitFor('unhealthy', () => !sub.healthy(), 5000, 10)
  await assert.rejects(pub.publish('news', await envelope('news', 'x')), { code: 'UMBRA_ERR_PUBSUB_CENTRAL_UNAVAILABLE' })
  server = await createCentralServer({ port })
  const upMs = await waitFor('healthy again', () => sub.healthy() && pub.healthy() && server.stats().topics === 1, 10_000, 20)
  t.diagnostic(`unhealthy ${downMs} ms after the server closed; healthy again ${upMs} ms after it returned (${Date.now() - killedAt} ms in all)`)
  await pub.publish('news', await envelope('news', 'after'))
  await waitFor('message after the restart', () => got.length === 1, 5000, 20)
  assert.deepEqual(health, [true, false, true])
})

test('umbra central: serves until SIGTERM and exits 0; umbra start refuses hybrid mode without a central server with a code', async (t) => {
  const central = spawnUmbra(['central', '--listen', '127.0.0.1:0', '--json'])
  t.after(async () => { if (central.child.exitCode == null) await central.stop('SIGKILL', 1000) })
  const ready = JSON.parse(await central.waitForLine((l) => l.includes('"ready"'), 10_000)) as { url: string }
  const client = createCentralClient({ url: ready.url })
  await client.start()
  await waitFor('connected to the CLI server', () => client.healthy(), 5_000, 20)
  await client.stop()
  assert.deepEqual(await central.stop('SIGTERM', 5_000), { code: 0, signal: null })

  const dataDir = mkdtempSync(join(tmpdir(), 'umbra-hybrid-'))
  t.after(() => { rmSync(dataDir, { recursive: true, force: true }) })
  const refused = await umbra(['start', '--data-dir', dataDir, '--api', '127.0.0.1:0', '--pubsub-mode', 'hybrid'])
  assert.equal(refused.code, 1)
  assert.match(refused.stderr, /pubsub\.central.*\(UMBRA_ERR_INVALID_OPTION\)/)
  const bad = await umbra(['start', '--data-dir', dataDir, '--pubsub-central', 'http://x'])
  assert.equal(bad.code, 2, 'a URL that is not ws:// is a usage error')
})
