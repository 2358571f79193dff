/**
 * Issue 13 benchmark: `npm run bench:pubsub` (builds first).
 *
 * Two networks of 20 in-process libp2p nodes on 127.0.0.1 (TCP, Noise,
 * Yamux, GossipSub with Umbra's mesh parameters; each node dials the one
 * before it and 2 random earlier ones, the same graph for both), all
 * subscribed to one topic; node 0 publishes 1 KiB messages:
 * - `plain GossipSub`: GossipSub alone, StrictNoSign, its default message id
 *   (SHA-256 of the data), no validator;
 * - `GossipSub + Umbra validator`: messages signed in Umbra's envelope,
 *   GossipSub's message id and topic validator from src/pubsub (Ed25519
 *   signature, size, age, replay on every hop), nothing else;
 * - `Umbra service`: the node's pub/sub service (src/pubsub): the same plus
 *   the message store (SQLite in memory) and once-per-id delivery.
 *
 * Prints per network: latency p50/p99 from publish to each subscriber's
 * delivery event (paced publishing, one message every 20 ms), and
 * throughput (messages/s delivered to all 19 subscribers, node 0 keeping
 * at most 50 messages in flight), and how many messages the validators
 * rejected (0 expected: nothing here is forged).
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { gossipsub, TopicValidatorResult, type GossipSub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2p } from 'libp2p'
import { createPubSub, createValidator, encodeEnvelope, gossipsubOptions, signEnvelope, type EnvelopeValidator, type PubSubHandle } from '../src/pubsub/index.ts'
import type { PrivateKey } from '@libp2p/interface'
import { openStateDatabase } from '../src/store/index.ts'
import { logger } from '../src/logger.ts'

const NODES = Number(process.env.BENCH_NODES ?? 20)
const LATENCY_MESSAGES = Number(process.env.BENCH_LATENCY_MESSAGES ?? 200)
const THROUGHPUT_MESSAGES = Number(process.env.BENCH_THROUGHPUT_MESSAGES ?? 1000)
const MESSAGE_BYTES = 1024
const PACE_MS = 20
/**
 * Throughput: at most this many messages in flight (published, not yet at
 * every subscriber). GossipSub has no backpressure: publishing 1,000 back
 * to back overflows stream buffers and measures the collapse, not a rate.
 */
const WINDOW = Number(process.env.BENCH_WINDOW ?? 50)
const TOPIC = 'bench'

interface Net {
  name: string
  nodes: Array<Libp2p<{ pubsub: GossipSub }>>
  /** Publishes message `seq` from node 0. */
  publish: (seq: number) => Promise<void>
  /** Messages the validators rejected, all nodes (0 for plain GossipSub: it has none). */
  rejected: () => number
  /** Called with (node index, seq) at each delivery. */
  onDeliver: (fn: (node: number, seq: number) => void) => void
  stop: () => Promise<void>
}

function quantile (sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN
}

/** Deterministic pseudo-random graph: node i dials i-1 and 2 random earlier nodes. */
function edges (n: number): Array<[number, number]> {
  let x = 12345
  const rnd = (k: number): number => { x = (x * 1103515245 + 12345) % 2 ** 31; return x % k }
  const out: Array<[number, number]> = []
  for (let i = 1; i < n; i++) {
    const targets = new Set([i - 1, rnd(i), rnd(i)])
    for (const j of targets) out.push([i, j])
  }
  return out
}

function payload (seq: number): Uint8Array {
  const data = new Uint8Array(MESSAGE_BYTES)
  new DataView(data.buffer).setUint32(0, seq)
  return data
}

function seqOf (data: Uint8Array): number {
  return new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0)
}

/** The three networks compared. */
type Variant = 'plain' | 'validator' | 'service'

const NAMES: Record<Variant, string> = { plain: 'plain GossipSub', validator: 'GossipSub + Umbra validator', service: 'Umbra service (validator + store)' }

interface BenchNode {
  libp2p: Libp2p<{ pubsub: GossipSub }>
  pubsub?: PubSubHandle
  validator?: EnvelopeValidator
  privateKey: PrivateKey
}

async function startNodes (variant: Variant): Promise<BenchNode[]> {
  const out: BenchNode[] = []
  for (let i = 0; i < NODES; i++) {
    const validator = variant !== 'plain' ? createValidator() : undefined
    const privateKey = await generateKeyPair('Ed25519')
    const libp2p = await createLibp2p({
      privateKey,
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionManager: { allow: ['/ip4/127.0.0.1/ipcidr/32'] },
      services: { identify: identify(), pubsub: gossipsub(gossipsubOptions({ validator, ipColocationPenalty: false })) }
    })
    let pubsub: PubSubHandle | undefined
    if (variant === 'service' && validator != null) {
      pubsub = createPubSub({
        libp2p,
        gossipsub: libp2p.services.pubsub,
        privateKey,
        validator,
        state: openStateDatabase({ path: ':memory:' }),
        server: false,
        log: logger('bench'),
        pseudonymKey: () => undefined
      })
      await pubsub.start()
    }
    out.push({ libp2p, pubsub, validator, privateKey })
  }
  for (const [i, j] of edges(NODES)) await out[i]?.libp2p.dial((out[j] as { libp2p: Libp2p }).libp2p.getMultiaddrs())
  return out
}

async function makeNet (variant: Variant): Promise<Net> {
  const started = await startNodes(variant)
  const listeners: Array<(node: number, seq: number) => void> = []
  const emit = (node: number, seq: number): void => { for (const fn of listeners) fn(node, seq) }
  for (const [i, n] of started.entries()) {
    const validator = n.validator
    if (n.pubsub != null) {
      n.pubsub.events.addEventListener('message', (evt) => { emit(i, seqOf(evt.detail.data)) })
      await n.pubsub.subscribe(TOPIC)
    } else if (validator != null) {
      const gs = n.libp2p.services.pubsub
      gs.topicValidators.set(TOPIC, async (_peer, msg) => (await validator.check(TOPIC, msg.data, 'p2p')).ok ? TopicValidatorResult.Accept : TopicValidatorResult.Reject)
      gs.addEventListener('message', (evt) => {
        const e = validator.decode(evt.detail.data)
        if (evt.detail.topic === TOPIC && !(e instanceof Error)) emit(i, seqOf(e.data))
      })
      gs.subscribe(TOPIC)
    } else {
      n.libp2p.services.pubsub.addEventListener('message', (evt) => { if (evt.detail.topic === TOPIC) emit(i, seqOf(evt.detail.data)) })
      n.libp2p.services.pubsub.subscribe(TOPIC)
    }
  }
  const first = started[0] as BenchNode
  return {
    name: NAMES[variant],
    rejected: () => started.reduce((n, s) => n + Object.values(s.validator?.rejected ?? {}).reduce((a, b) => a + b, 0), 0),
    nodes: started.map((s) => s.libp2p),
    publish: async (seq) => {
      if (first.pubsub != null) await first.pubsub.publish(TOPIC, payload(seq))
      else if (first.validator != null) await first.libp2p.services.pubsub.publish(TOPIC, encodeEnvelope(await signEnvelope({ topic: TOPIC, data: payload(seq), privateKey: first.privateKey })))
      else await first.libp2p.services.pubsub.publish(TOPIC, payload(seq))
    },
    onDeliver: (fn) => { listeners.push(fn) },
    stop: async () => {
      for (const s of started) {
        await s.pubsub?.stop()
        await s.libp2p.stop()
      }
    }
  }
}

/** Publishes until one message reaches every subscriber (the mesh formed). */
async function warmUp (net: Net, seqBase: number): Promise<number> {
  const got = new Map<number, Set<number>>()
  net.onDeliver((node, seq) => { if (seq >= seqBase) got.set(seq, (got.get(seq) ?? new Set()).add(node)) })
  for (let seq = seqBase; ; seq++) {
    await net.publish(seq)
    await new Promise((resolve) => setTimeout(resolve, 500))
    if ([...got.values()].some((s) => s.size === NODES - 1)) return seq + 1
    if (seq - seqBase > 60) throw new Error(`${net.name}: the mesh did not form`)
  }
}

async function measure (net: Net): Promise<Record<string, string | number>> {
  const sentAt = new Map<number, number>()
  const latencies: number[] = []
  const deliveredTo = new Map<number, number>()
  net.onDeliver((_node, seq) => {
    const at = sentAt.get(seq)
    if (at != null) latencies.push(performance.now() - at)
    deliveredTo.set(seq, (deliveredTo.get(seq) ?? 0) + 1)
  })
  let seq = await warmUp(net, 1_000_000)
  // Latency: paced.
  const latencyFirst = seq
  for (let i = 0; i < LATENCY_MESSAGES; i++, seq++) {
    sentAt.set(seq, performance.now())
    await net.publish(seq)
    await new Promise((resolve) => setTimeout(resolve, PACE_MS))
  }
  await waitAll(deliveredTo, latencyFirst, seq, 30_000)
  const lat = [...latencies].sort((a, b) => a - b)
  const latencyCount = lat.length
  // Throughput: as fast as the network takes them, WINDOW in flight.
  sentAt.clear()
  const tpFirst = seq
  const started = performance.now()
  for (let i = 0; i < THROUGHPUT_MESSAGES; i++, seq++) {
    while (seq - WINDOW >= tpFirst && (deliveredTo.get(seq - WINDOW) ?? 0) < NODES - 1 && performance.now() - started < 120_000) {
      await new Promise((resolve) => setTimeout(resolve, 1))
    }
    await net.publish(seq)
  }
  const complete = await waitAll(deliveredTo, tpFirst, seq, 120_000)
  const seconds = (performance.now() - started) / 1000
  return {
    network: net.name,
    nodes: NODES,
    'latency p50 ms': +quantile(lat, 0.5).toFixed(1),
    'latency p99 ms': +quantile(lat, 0.99).toFixed(1),
    'latency samples': latencyCount,
    'messages/s (to all 19)': Math.round(complete / seconds),
    'delivered %': +(100 * sumRange(deliveredTo, tpFirst, seq) / (THROUGHPUT_MESSAGES * (NODES - 1))).toFixed(2),
    rejected: net.rejected()
  }
}

function sumRange (m: Map<number, number>, from: number, to: number): number {
  let n = 0
  for (let s = from; s < to; s++) n += m.get(s) ?? 0
  return n
}

/** Waits until every message in [from, to) reached every subscriber, or the timeout; returns how many did. */
async function waitAll (deliveredTo: Map<number, number>, from: number, to: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    let complete = 0
    for (let s = from; s < to; s++) if ((deliveredTo.get(s) ?? 0) >= NODES - 1) complete++
    if (complete === to - from || Date.now() > deadline) return complete
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

const rows: Array<Record<string, string | number>> = []
for (const variant of ['plain', 'validator', 'service'] as const) {
  const net = await makeNet(variant)
  try {
    rows.push(await measure(net))
  } finally {
    await net.stop()
  }
}
console.log(`pub/sub, ${NODES} nodes on 127.0.0.1, ${MESSAGE_BYTES}-byte messages from node 0 (latency: ${LATENCY_MESSAGES} messages every ${PACE_MS} ms; throughput: ${THROUGHPUT_MESSAGES} messages, at most ${WINDOW} in flight)`)
console.table(rows)
