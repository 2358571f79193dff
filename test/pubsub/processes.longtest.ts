/**
 * Pub/sub over 10 real `umbra start` processes on 127.0.0.1, driven through
 * their HTTP APIs only (issue 13 "Must show"):
 * - a message published on node 1 reaches every subscriber (nodes 2 to 10)
 *   exactly once, counted on each subscriber's `/v1/events` stream;
 * - a subscriber stopped for 60 s gets the messages it missed from the
 *   message store of the server nodes when it starts again.
 * Runs about 2.5 minutes (`npm run test:long`).
 */
import assert from 'node:assert/strict'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ApiClient, type PubSubMessageInfo } from '../../src/api/client.ts'
import { eventually, serverProcesses, stopAllAndClean, type UmbraProcess } from '../mixnet/process-helpers.ts'

const NODES = 10
const TOPIC = 'processes/news'
/** Messages node 1 publishes in the delivery test. */
const MESSAGES = 20
/** How long the subscriber stays stopped (issue 13: 1 minute). */
const AWAY_MS = 60_000
/** A node's ready line may take long on a loaded 2-core machine. */
const START_TIMEOUT_MS = 150_000

let dir: string
let nodes: UmbraProcess[] = []

function clientOf (p: UmbraProcess): ApiClient {
  return new ApiClient({ url: p.id.api, token: p.id.token })
}

function percentile (sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'umbra-pubsub-processes-'))
  nodes = await serverProcesses(dir, NODES, { preset: 'none', extraArgs: ['--stun-port', 'off'] })
  // Node 1 alone, then the others bootstrapped to it, three at a time (gentler on a loaded machine than startNetwork's all at once).
  const [first, ...rest] = nodes as [UmbraProcess, ...UmbraProcess[]]
  await first.start([], START_TIMEOUT_MS)
  for (let i = 0; i < rest.length; i += 3) await Promise.all(rest.slice(i, i + 3).map(async (p) => await p.start(first.id.addrs, START_TIMEOUT_MS)))
}, { timeout: 600_000 })

after(async () => {
  await stopAllAndClean(nodes, dir)
}, { timeout: 60_000 })

describe('pub/sub over 10 processes', { timeout: 400_000 }, () => {
  it('a message published on node 1 reaches nodes 2 to 10 exactly once each', async (t) => {
    const [publisher, ...subscribers] = nodes as [UmbraProcess, ...UmbraProcess[]]
    const stop = new AbortController()
    /** Arrival time (ms, this process's clock) of each message id, per subscriber. */
    const arrivals = subscribers.map(() => new Map<string, number[]>())
    const readers = subscribers.map(async (s, i) => {
      for await (const e of clientOf(s).events({ signal: stop.signal })) {
        if (e.event !== 'pubsub:message') continue
        const m = e.data as PubSubMessageInfo
        const list = arrivals[i]?.get(m.id) ?? []
        list.push(Date.now())
        arrivals[i]?.set(m.id, list)
      }
    })
    try {
      await new Promise((resolve) => setTimeout(resolve, 500)) // the event streams are open
      for (const s of subscribers) await clientOf(s).subscribe(TOPIC)
      // Node 1 serves the topic once a peer subscribes; wait until a warm-up message reaches everyone.
      await eventually('a warm-up message on every subscriber', async () => {
        const { id } = await clientOf(publisher).publish(TOPIC, 'warm-up', { signal: AbortSignal.timeout(15_000) })
        await new Promise((resolve) => setTimeout(resolve, 1000))
        return arrivals.every((a) => a.has(id)) ? true : undefined
      }, 120_000, 0)
      const sent = new Map<string, number>()
      for (let i = 0; i < MESSAGES; i++) {
        const at = Date.now()
        const { id } = await clientOf(publisher).publish(TOPIC, `message ${i}`)
        sent.set(id, at)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      await eventually('every message on every subscriber', async () => [...sent.keys()].every((id) => arrivals.every((a) => a.has(id))) ? true : undefined, 30_000, 250)
      await new Promise((resolve) => setTimeout(resolve, 3000)) // a duplicate (gossip, IWANT) would have come by now
      const latencies: number[] = []
      for (const [i, a] of arrivals.entries()) {
        for (const [id, at] of sent) {
          const got = a.get(id) ?? []
          assert.equal(got.length, 1, `node ${i + 2} received ${id} ${got.length} times`)
          latencies.push((got[0] ?? NaN) - at)
        }
      }
      latencies.sort((x, y) => x - y)
      t.diagnostic(`${MESSAGES} messages x ${subscribers.length} subscribers: each received exactly once; publish call to SSE event p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms`)
    } finally {
      stop.abort()
      await Promise.allSettled(readers)
    }
  })

  it('a subscriber stopped for 60 s gets what it missed from the message store', async (t) => {
    const publisher = nodes[0] as UmbraProcess
    const away = nodes[NODES - 1] as UmbraProcess
    const earlier = await clientOf(publisher).publish(TOPIC, 'before the stop')
    await eventually('the subscriber got the message before the stop', async () => (await clientOf(away).topicMessages(TOPIC)).messages.some((m) => m.id === earlier.id) ? true : undefined, 15_000)
    await away.stop('SIGTERM')
    const missed: string[] = []
    for (let i = 0; i < 3; i++) {
      missed.push((await clientOf(publisher).publish(TOPIC, `while away ${i}`)).id)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    await new Promise((resolve) => setTimeout(resolve, AWAY_MS))
    const started = Date.now()
    await away.start((nodes[0] as UmbraProcess).id.addrs, START_TIMEOUT_MS)
    const held = await eventually('the missed messages in the restarted subscriber\'s store', async () => {
      const { messages } = await clientOf(away).topicMessages(TOPIC)
      return missed.every((id) => messages.some((m) => m.id === id)) ? messages : undefined
    }, 60_000, 250)
    t.diagnostic(`stopped ${AWAY_MS / 1000} s; the ${missed.length} missed messages were back ${Date.now() - started} ms after the restart began`)
    assert.deepEqual((await clientOf(away).subscriptions()).topics.map((x) => x.topic), [TOPIC], 'the subscription survived the restart')
    const ids = held.map((m) => m.id)
    assert.equal(new Set(ids).size, ids.length, 'each message once')
    assert.ok(ids.includes(earlier.id))
  })
})
