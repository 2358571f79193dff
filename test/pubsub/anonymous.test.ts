/**
 * Anonymous publishing through the mixnet (issue 13, item 2; must show):
 * an anonymous publish reaches every subscriber, and no field of what the
 * subscribers receive, and nothing the exit mix logs or observes, names the
 * publisher. Every node's log lines are captured at level trace (in-process
 * testnet, one root logger) while the messages travel.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { pino } from 'pino'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { waitFor } from '../helpers/wait.ts'
import type { Testnet } from '../../src/testnet/index.ts'
import type { MixnetHandle } from '../../src/mixnet/mixnet-service.ts'
import type { RelayObservation } from '../../src/mixnet/types.ts'
import type { UmbraNode } from '../../src/node/index.ts'
import type { PubSubMessage } from '../../src/pubsub/index.ts'

// Every logger of every node at trace level, created after this line (so the Umbra modules load below).
process.env.UMBRA_LOG_LEVEL = 'trace'
const { rootLogger } = await import('../../src/logger.ts')
const { MAX_ANONYMOUS_ENVELOPE_BYTES } = await import('../../src/mixnet/wire.ts')
const { createTestnet } = await import('../../src/testnet/index.ts')

const NODES = 5
const TOPIC = 'anon-news'
const MESSAGES = 6

describe('anonymous publishing through the mixnet', { timeout: 60_000 }, () => {
  let net: Testnet
  let nodes: UmbraNode[]
  const logLines: string[] = []
  const stream = (rootLogger as unknown as Record<symbol, { write(chunk: string): boolean }>)[pino.symbols.streamSym]
  let capturing = false

  before(async () => {
    // Log lines are kept while the anonymous messages travel, and dropped (not printed) the rest of the run.
    if (stream != null) stream.write = (chunk: string) => { if (capturing) logLines.push(String(chunk)); return true }
    net = await createTestnet(NODES, { mixnet: { preset: 'none', threads: 1 } })
    nodes = net.nodes
    await waitFor('directories', () => nodes.every((n) => n.mixnet.directory().length === NODES), 30_000)
    for (const n of nodes.slice(1)) await n.pubsub.subscribe(TOPIC)
    await waitFor('GossipSub meshes', () => nodes.slice(1).every((n) => n.pubsub.peers(TOPIC).length > 0), 15_000)
  })
  after(async () => {
    await net?.stop()
  })

  it('reaches every subscriber once; nothing subscribers get and nothing the exit logs or sees names the publisher', async (t) => {
    const publisher = nodes[0] as UmbraNode
    const subscribers = nodes.slice(1)
    const got = new Map<UmbraNode, PubSubMessage[]>(subscribers.map((n) => [n, []]))
    for (const n of subscribers) n.addEventListener('pubsub:message', (e) => { got.get(n)?.push(e.detail) })
    const observed = new Map<UmbraNode, RelayObservation[]>(nodes.map((n) => [n, []]))
    for (const n of nodes) (n.mixnet as MixnetHandle).events.addEventListener('relay:packet', (e) => { observed.get(n)?.push(e.detail) })
    assert.ok(stream != null, 'the root logger has a stream')
    capturing = true

    const started = Date.now()
    const ids: string[] = []
    for (let i = 0; i < MESSAGES; i++) {
      const r = await publisher.pubsub.publish(TOPIC, new TextEncoder().encode(`anonymous ${i}`), { anonymous: true, hops: 2 })
      ids.push(r.id)
    }
    const sentMs = Date.now() - started
    const deliveredMs = await waitFor('every subscriber got every message', () => subscribers.every((n) => (got.get(n)?.length ?? 0) >= MESSAGES), 20_000, 20)
    await new Promise((resolve) => setTimeout(resolve, 500))
    capturing = false
    t.diagnostic(`${MESSAGES} anonymous publishes (2 hops) confirmed by their exits in ${sentMs} ms; all ${subscribers.length} subscribers had all of them ${deliveredMs} ms later; ${logLines.length} log lines captured`)

    for (const n of subscribers) {
      const msgs = got.get(n) ?? []
      assert.deepEqual(msgs.map((m) => m.id).sort(), [...ids].sort(), 'each message exactly once')
      for (const m of msgs) assert.equal(m.from, undefined, 'no publisher on an anonymous message')
    }

    const pub = publisher.libp2p.peerId
    const names = [pub.toString(), publisher.key, uint8ArrayToString(pub.publicKey?.raw ?? new Uint8Array(), 'base16'), uint8ArrayToString(pub.publicKey?.raw ?? new Uint8Array(), 'base64')]
    const received = JSON.stringify([...got.values()].flat().map((m) => ({ ...m, data: uint8ArrayToString(m.data, 'base64') })))
    for (const name of names) assert.ok(!received.includes(name), `what subscribers received names the publisher (${name.slice(0, 12)}…)`)

    // The exits: nodes where a message arrived through the mixnet (the final Sphinx hop).
    const exits = subscribers.filter((n) => got.get(n)?.some((m) => m.via === 'mixnet'))
    assert.ok(exits.length > 0, 'some node exited the messages')
    // What an exit observes of the packets it exits (final hop, kind 'deliver'): its predecessor is a mix, never the publisher.
    const exited = exits.flatMap((n) => (observed.get(n) ?? []).filter((o) => o.kind === 'deliver'))
    assert.ok(exited.length >= MESSAGES, `the exits observed ${exited.length} final hops`)
    for (const name of names) assert.ok(!JSON.stringify(exited).includes(name), 'an exit observed the publisher as its predecessor')
    const exitLines = logLines.filter((l) => l.includes('anonymous pub/sub publish exited'))
    assert.ok(exitLines.length >= MESSAGES, `the exits logged ${exitLines.length} publishes (the capture works)`)
    const logs = logLines.join('')
    for (const name of names) assert.ok(!logs.includes(name), `a log line names the publisher (${name.slice(0, 12)}…)`)
    t.diagnostic(`exits: ${exits.length}; deliveries by path: ${JSON.stringify(subscribers.map((n) => n.pubsub.stats().delivered))}`)
  })

  it('signed by a pseudonym: readers see the pseudonym on every message, never the node', async (t) => {
    const publisher = nodes[0] as UmbraNode
    const pseudonym = await publisher.pseudonyms.create()
    const reader = nodes[1] as UmbraNode
    const got: PubSubMessage[] = []
    reader.addEventListener('pubsub:message', (e) => { if (e.detail.topic === TOPIC) got.push(e.detail) })
    for (let i = 0; i < 2; i++) await publisher.pubsub.publish(TOPIC, new TextEncoder().encode(`pseudonymous ${i}`), { anonymous: true, hops: 2, pseudonym: pseudonym.key })
    await waitFor('both messages', () => got.length >= 2, 20_000, 20)
    t.diagnostic(`two messages from ${pseudonym.key.slice(0, 16)}…`)
    assert.deepEqual(got.map((m) => m.from), [pseudonym.key, pseudonym.key], 'linkable to the pseudonym')
    const seen = JSON.stringify(got.map((m) => ({ ...m, data: uint8ArrayToString(m.data, 'base64') })))
    assert.ok(!seen.includes(publisher.key) && !seen.includes(publisher.peerId), 'not to the node')
  })

  it('refuses an envelope too large for one packet with a code', async () => {
    await assert.rejects(
      (nodes[0] as UmbraNode).pubsub.publish(TOPIC, new Uint8Array(MAX_ANONYMOUS_ENVELOPE_BYTES), { anonymous: true }),
      { code: 'UMBRA_ERR_PUBSUB_MESSAGE_TOO_LARGE' }
    )
  })
})
