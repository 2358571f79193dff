/**
 * The hybrid failover manager against a real central server and a
 * scripted GossipSub side (issue 13, item 4): the bounded queue while no
 * side is healthy, failback after `failbackMs` (hysteresis), a publish that
 * fails on the active side going to the other, and `central` mode.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createCentralClient } from '../../src/pubsub/central/client.ts'
import { createCentralServer, type CentralServer } from '../../src/pubsub/central/server.ts'
import { encodeEnvelope, signEnvelope } from '../../src/pubsub/envelope.ts'
import { createHybrid, type HybridInit, type HybridP2P } from '../../src/pubsub/hybrid.ts'
import { waitFor } from '../helpers/wait.ts'

const TOPIC = 't'

/** A GossipSub side whose mesh size the test sets; it records what it sent. */
function fakeP2P (): HybridP2P & { mesh: number, sent: Uint8Array[] } {
  const p = {
    mesh: 1,
    sent: [] as Uint8Array[],
    async publish (_topic: string, envelope: Uint8Array) {
      if (p.mesh === 0) return 0
      p.sent.push(envelope)
      return p.mesh
    },
    meshPeers: () => p.mesh,
    onMessage: () => () => {}
  }
  return p
}

async function env (i: number): Promise<Uint8Array> {
  return encodeEnvelope(await signEnvelope({ topic: TOPIC, data: new Uint8Array([i]) }))
}

async function setup (t: { after(fn: () => Promise<void>): void }, init: Partial<HybridInit>): Promise<{ server: CentralServer, p2p: ReturnType<typeof fakeP2P>, hybrid: ReturnType<typeof createHybrid>, relayed: () => number }> {
  const server = await createCentralServer({ port: 0 })
  const p2p = fakeP2P()
  const central = createCentralClient({ url: server.url, pingIntervalMs: 50, healthTimeoutMs: 300 })
  const hybrid = createHybrid({ mode: 'hybrid', p2p, central, local: { ingest: async () => undefined }, checkIntervalMs: 50, ...init })
  t.after(async () => { await hybrid.stop(); await server.close() })
  await hybrid.start()
  await waitFor('central healthy', () => central.healthy(), 5_000, 10)
  return { server, p2p, hybrid, relayed: () => server.stats().published }
}

test('prefer-p2p fails over at once, fails back only after failbackMs, and replays the last messages on the new side', async (t) => {
  const { p2p, hybrid, relayed } = await setup(t, { strategy: 'prefer-p2p', failbackMs: 600, replayMs: 10_000 })
  await hybrid.publish(TOPIC, await env(1))
  assert.deepEqual(hybrid.activeSides(TOPIC), ['p2p'])
  p2p.mesh = 0
  await hybrid.publish(TOPIC, await env(2)) // fails over in the publish itself
  await waitFor('on central', () => hybrid.activeSides(TOPIC)[0] === 'central' && relayed() === 2, 5_000, 10)
  p2p.mesh = 3
  const back = Date.now()
  await new Promise((resolve) => setTimeout(resolve, 300))
  assert.deepEqual(hybrid.activeSides(TOPIC), ['central'], 'no failback before failbackMs')
  await waitFor('failed back', () => hybrid.activeSides(TOPIC)[0] === 'p2p', 5_000, 10)
  const failback = Date.now() - back
  t.diagnostic(`failback after ${failback} ms (failbackMs 600); replayed ${hybrid.stats().replayed}`)
  assert.ok(failback >= 600)
  // Both earlier envelopes were replayed on the central side when it took over, and on P2P when it came back.
  assert.equal(relayed(), 2)
  assert.ok(p2p.sent.length >= 3, `P2P sent ${p2p.sent.length}`)
})

test('no side healthy: publishes queue (bounded) and are sent when a side returns', async (t) => {
  const { server, p2p, hybrid, relayed } = await setup(t, { strategy: 'prefer-central', maxQueue: 3 })
  p2p.mesh = 0
  await server.close()
  await waitFor('nothing healthy', () => hybrid.activeSides(TOPIC).length === 0, 5_000, 10)
  for (let i = 0; i < 3; i++) assert.equal(await hybrid.publish(TOPIC, await env(i)), 0)
  await assert.rejects(hybrid.publish(TOPIC, await env(9)), { code: 'UMBRA_ERR_PUBSUB_QUEUE_FULL' })
  assert.equal(hybrid.stats().queued, 3)
  p2p.mesh = 2
  await waitFor('queue flushed to P2P', () => hybrid.stats().queued === 0 && p2p.sent.length === 3, 5_000, 10)
  assert.equal(relayed(), 0)
})

test('central mode publishes on the central server only', async (t) => {
  const { p2p, hybrid, relayed } = await setup(t, { mode: 'central' })
  for (let i = 0; i < 3; i++) await hybrid.publish(TOPIC, await env(i))
  await waitFor('relayed', () => relayed() === 3, 5_000, 10)
  assert.equal(p2p.sent.length, 0)
  assert.throws(() => createHybrid({ mode: 'p2p' as 'hybrid', p2p, central: createCentralClient({ url: 'ws://127.0.0.1:1' }), local: { ingest: async () => undefined } }), { code: 'UMBRA_ERR_INVALID_OPTION' })
})
