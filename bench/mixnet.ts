/**
 * Mixnet benchmark (issue 3, "Must show"): `npm run bench:mixnet`.
 *
 * Prints, in one run:
 * 1. packets/s one relay processes with all its cores (worker pool, no network I/O);
 * 2. the floor: the same per-packet libsodium operations alone, same threads, same process;
 * 3. their ratio;
 * 4. packets/s forwarded by a real relay process (`umbra start`) over loopback;
 * 5. end-to-end latency of a 3-hop anonymous message with delays off (preset `none`),
 *    beside a direct message, on loopback nodes.
 * Targets: >= 20,000 packets/s on two cores, >= 70 % of the floor, 3-hop p50 <= 10 ms above direct.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import sodium from 'sodium-native'
import { buildPackets, measureFloor, measureProcessing } from './mixnet-processing.ts'
import { MIX_PROTOCOL } from '../src/mixnet/constants.ts'
import { createDirectory } from '../src/mixnet/directory.ts'
import { createPacket } from '../src/mixnet/sphinx/index.ts'
import { encodeFragment, encodeGatewayLayer } from '../src/mixnet/wire.ts'
import { logger } from '../src/logger.ts'
import { createTestnet } from '../src/testnet/index.ts'
import type { UmbraNode } from '../src/node/index.ts'

const PROCESS_PACKETS = Number(process.env.BENCH_PACKETS ?? 20_000)
const FORWARD_PACKETS = Number(process.env.BENCH_FORWARD_PACKETS ?? 10_000)
const LATENCY_ROUNDS = Number(process.env.BENCH_ROUNDS ?? 100)

function pct (values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number
}

function fmt (n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
}

/** Starts `umbra start` as a relay (server node, preset none) and resolves with its addresses. */
async function startRelay (dataDir: string): Promise<{ addrs: string[], stop: () => Promise<void> }> {
  const cli = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url))
  const child = spawn(process.execPath, [cli, 'start', '--json', '--data-dir', dataDir, '--api', '127.0.0.1:0', '--listen', '/ip4/127.0.0.1/tcp/0', '--mixnet-preset', 'none'], { stdio: ['pipe', 'pipe', 'inherit'] })
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout })
    rl.once('line', resolve)
    child.once('exit', (code) => { reject(new Error(`relay exited with ${code}`)) })
  })
  const ready = JSON.parse(line) as { addrs: string[] }
  return {
    addrs: ready.addrs,
    stop: async () => {
      child.kill('SIGTERM')
      await new Promise((resolve) => child.once('exit', resolve))
    }
  }
}

/** Forwarding through a real relay process: the bench node sends packets whose next hop is itself, and counts what comes back. */
async function measureForwarding (): Promise<{ sent: number, received: number, ms: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'umbra-bench-relay-'))
  const relay = await startRelay(dir)
  const privateKey = await generateKeyPair('Ed25519')
  const node = await createLibp2p({
    privateKey,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() }
  })
  let received = 0
  let buffered = 0
  let done: () => void = () => {}
  await node.handle(MIX_PROTOCOL, (stream) => {
    void (async () => {
      for await (const chunk of stream) {
        buffered += chunk.byteLength
        while (buffered >= 4096) { buffered -= 4096; received++ }
        if (received >= FORWARD_PACKETS) done()
      }
    })()
  }, { maxInboundStreams: 16 })
  try {
    const relayAddr = multiaddr(relay.addrs[0] as string)
    await node.dial(relayAddr)
    const directory = createDirectory({ libp2p: node, privateKey, log: logger('bench'), publish: false, onionKeys: () => [] })
    await directory.start()
    const entry = directory.list()[0]
    await directory.stop()
    if (entry == null) throw new Error('the relay\'s descriptor did not arrive')
    const epoch = Math.floor(Date.now() / 3_600_000)
    const onionKey = entry.onionKeys.get(epoch)
    if (onionKey == null) throw new Error('no onion key for this epoch')
    const sinkOnion = Buffer.alloc(32)
    sodium.crypto_scalarmult_base(sinkOnion, Buffer.alloc(32, 9))
    const body = encodeGatewayLayer(0, undefined, encodeFragment({ messageId: new Uint8Array(16), index: 0, total: 1, data: new Uint8Array(100) }))
    const packets: Uint8Array[] = []
    for (let i = 0; i < FORWARD_PACKETS; i++) {
      packets.push(createPacket({
        epoch,
        hops: [
          { onionKey, routing: { type: 'forward', nextNode: privateKey.publicKey.raw, delayMs: 0 } },
          { onionKey: sinkOnion, routing: { type: 'deliver', mailbox: new Uint8Array(32) } }
        ],
        body
      }))
    }
    const all = new Promise<void>((resolve) => { done = resolve })
    const stream = await node.dialProtocol(relayAddr, MIX_PROTOCOL)
    const started = performance.now()
    for (const p of packets) {
      if (!stream.send(p)) await stream.onDrain()
    }
    await Promise.race([all, new Promise((resolve) => setTimeout(resolve, 30_000))])
    const ms = performance.now() - started
    stream.abort(new Error('done'))
    return { sent: FORWARD_PACKETS, received, ms }
  } finally {
    await node.stop()
    await relay.stop()
    await rm(dir, { recursive: true, force: true })
  }
}

/** p50/p95 of a 3-hop anonymous message and of a direct message between the same two nodes. */
async function measureLatency (): Promise<{ anon: number[], direct: number[] }> {
  const net = await createTestnet(6, { mixnet: { preset: 'none', threads: 1 } })
  try {
    const nodes = net.nodes
    const deadline = Date.now() + 30_000
    while (nodes.some((n) => n.mixnet.directory().length < nodes.length) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
    const sender = nodes[0] as UmbraNode
    const recipient = nodes[5] as UmbraNode
    const p = await recipient.pseudonyms.create()
    const body = new Uint8Array(100)
    const anon: number[] = []
    const direct: number[] = []
    const once = async (type: 'anonymous:message' | 'message', send: () => Promise<unknown>): Promise<number> => {
      const started = performance.now()
      const arrived = new Promise<number>((resolve) => { recipient.addEventListener(type, () => { resolve(performance.now() - started) }, { once: true }) })
      await send()
      return await arrived
    }
    for (let i = 0; i < 5; i++) {
      await once('anonymous:message', async () => await sender.mixnet.send(p.key, body, { hops: 3, replySurbs: 0 }))
      await once('message', async () => await sender.messaging.send(recipient.peerId, body))
    }
    for (let i = 0; i < LATENCY_ROUNDS; i++) {
      anon.push(await once('anonymous:message', async () => await sender.mixnet.send(p.key, body, { hops: 3, replySurbs: 0 })))
      direct.push(await once('message', async () => await sender.messaging.send(recipient.peerId, body)))
    }
    return { anon, direct }
  } finally {
    await net.stop()
  }
}

async function main (): Promise<void> {
  const threads = availableParallelism()
  console.log(`umbra mixnet bench: ${threads} cores, Node ${process.version}`)
  console.log(`building ${fmt(PROCESS_PACKETS)} 3-hop packets…`)
  const input = buildPackets(PROCESS_PACKETS, 3)
  const processing = await measureProcessing(input, { threads })
  const floor = await measureFloor(PROCESS_PACKETS, threads)
  const forwarding = await measureForwarding()
  const latency = await measureLatency()
  const anon50 = pct(latency.anon, 0.5)
  const direct50 = pct(latency.direct, 0.5)
  const rows: Array<[string, string, string]> = [
    ['relay processing, worker pool (no network I/O)', `${fmt(processing.packetsPerSecond)} packets/s on ${processing.threads} threads`, '>= 20,000/s'],
    ['floor: the same libsodium operations alone', `${fmt(floor.packetsPerSecond)} packets/s on ${floor.threads} threads`, ''],
    ['processing / floor', `${fmt(100 * processing.packetsPerSecond / floor.packetsPerSecond, 1)} %`, '>= 70 %'],
    ['forwarded by a relay process over loopback', `${fmt(forwarding.received / (forwarding.ms / 1000))} packets/s (${fmt(forwarding.received)} of ${fmt(forwarding.sent)} back in ${fmt(forwarding.ms)} ms)`, ''],
    ['3-hop anonymous message, delays off', `p50 ${fmt(anon50, 2)} ms, p95 ${fmt(pct(latency.anon, 0.95), 2)} ms`, ''],
    ['direct message, same nodes', `p50 ${fmt(direct50, 2)} ms, p95 ${fmt(pct(latency.direct, 0.95), 2)} ms`, ''],
    ['3-hop minus direct (p50)', `${fmt(anon50 - direct50, 2)} ms`, '<= 10 ms']
  ]
  const w0 = Math.max(...rows.map((r) => r[0].length))
  const w1 = Math.max(...rows.map((r) => r[1].length))
  console.log(`\n${'measure'.padEnd(w0)} | ${'result'.padEnd(w1)} | target`)
  console.log(`${'-'.repeat(w0)}-|-${'-'.repeat(w1)}-|-------`)
  for (const [a, b, c] of rows) console.log(`${a.padEnd(w0)} | ${b.padEnd(w1)} | ${c}`)
}

await main()
process.exit(0)
