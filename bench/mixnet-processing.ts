/**
 * Mix relay processing benchmark (issue 3):
 * `node_modules/.bin/node bench/mixnet-processing.ts`.
 *
 * Builds BENCH_PACKETS (default 20,000) valid 3-mix + gateway Sphinx packets
 * whose first node is one relay key, then prints a table of:
 * (a) packets/s through `createSphinxPool` on every core (no network I/O);
 * (b) the floor: the same per-packet libsodium operations alone (2 × X25519,
 *     the 8 KDF calls, the blinding hash, the 16-byte header MAC, ChaCha20
 *     over the 720-byte header stream, LIONESS = 2 × ChaCha20 + 2 × BLAKE2b
 *     over the 3395-byte payload) in as many worker threads, same process;
 * (c) (a) / (b), target >= 70 %;
 * (d) single-thread `processPacket` packets/s.
 * Targets: (c) >= 0.7 and (a) >= 20,000 packets/s on 2 cores. Each figure
 * is the best of BENCH_ROUNDS (default 3) interleaved rounds, since other
 * processes may share the CPU.
 *
 * The measuring functions are exported for other bench scripts; `main` runs
 * only when this file is executed directly. The file is also the floor's
 * worker module (`workerData.umbraBenchFloor`).
 */
import { availableParallelism } from 'node:os'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import sodium from 'sodium-native'
import { createSphinxPool } from '../src/mixnet/worker-pool.ts'
import { createPacket, processPacket, type SphinxHop } from '../src/mixnet/sphinx/index.ts'

/** A throughput measurement. */
export interface Throughput {
  /** Packets processed. */
  packets: number
  /** Wall-clock time, ms. */
  ms: number
  /** Packets per second. */
  packetsPerSecond: number
  /** Threads that did the work. */
  threads: number
}

/** Packets for one relay key. */
export interface BenchPackets {
  /** Valid 4096-byte packets whose first node is the relay. */
  packets: Uint8Array[]
  /** The relay's X25519 onion secret, 32 bytes. */
  secret: Uint8Array
  /** Their key epoch. */
  epoch: number
}

type Bytes = Uint8Array
// sodium-native accepts any Uint8Array; its @types say Buffer and lack the IETF ChaCha20 stream.
const scalarmult = sodium.crypto_scalarmult as unknown as (q: Bytes, n: Bytes, p: Bytes) => void
const kdfDerive = sodium.crypto_kdf_derive_from_key as unknown as (out: Bytes, id: number, ctx: Bytes, key: Bytes) => void
const chachaXor = (sodium as unknown as { crypto_stream_chacha20_ietf_xor: (c: Bytes, m: Bytes, n: Bytes, k: Bytes) => void }).crypto_stream_chacha20_ietf_xor
const generichash = sodium.crypto_generichash as unknown as (out: Bytes, input: Bytes, key?: Bytes) => void

function randomBytes (n: number): Uint8Array {
  const b = new Uint8Array(n)
  sodium.randombytes_buf(b as Buffer)
  return b
}

/**
 * Builds `count` valid packets of `hops` mixes plus a gateway, the first
 * node being one fresh relay key (about 0.5 ms each for 3 hops).
 * @param count - packets
 * @param hops - mix hops before the gateway (1..8)
 * @returns the packets, the relay's secret and the epoch
 */
export function buildPackets (count: number, hops = 3): BenchPackets {
  const keyPair = (): { pk: Buffer, sk: Buffer } => {
    const pk = Buffer.alloc(32)
    const sk = Buffer.alloc(32)
    sodium.crypto_box_keypair(pk, sk)
    return { pk, sk }
  }
  const nodes = Array.from({ length: hops + 1 }, keyPair)
  const epoch = 1
  const path: SphinxHop[] = nodes.map((n, i) => ({
    onionKey: n.pk,
    routing: i < hops ? { type: 'forward', nextNode: randomBytes(32), delayMs: 100 } : { type: 'deliver', mailbox: randomBytes(32) }
  }))
  const body = randomBytes(1000)
  const packets = Array.from({ length: count }, () => createPacket({ epoch, hops: path, body }))
  return { packets, secret: new Uint8Array(nodes[0]?.sk as Buffer), epoch }
}

/**
 * Packets/s of `createSphinxPool` over the given packets, all submitted at
 * once, after a warm-up of 1,000 packets; the pool is closed afterwards.
 * @param input - from `buildPackets`
 * @param opts - `threads` (default every core), `maxBatch` (pool default)
 * @throws Error when a packet does not come back as processed
 */
export async function measureProcessing (input: BenchPackets, opts: { threads?: number, maxBatch?: number } = {}): Promise<Throughput> {
  // maxQueue: every packet is submitted at once (the relay's links bound what they submit instead).
  const pool = createSphinxPool({ threads: opts.threads ?? availableParallelism(), maxQueue: Math.max(4096, input.packets.length), ...(opts.maxBatch === undefined ? {} : { maxBatch: opts.maxBatch }) })
  try {
    pool.setKeys([{ epoch: input.epoch, secret: input.secret }])
    await Promise.all(input.packets.slice(0, 1000).map((p) => pool.process(p)))
    const t0 = performance.now()
    const results = await Promise.all(input.packets.map((p) => pool.process(p)))
    const ms = performance.now() - t0
    const failed = results.filter((r) => !r.ok).length
    if (failed > 0) throw new Error(`${failed} packets were not processed`)
    return { packets: results.length, ms, packetsPerSecond: results.length / (ms / 1000), threads: pool.threads }
  } finally {
    await pool.close()
  }
}

/**
 * Single-thread `processPacket` packets/s on the calling thread, after a
 * warm-up of 500 packets.
 * @param input - from `buildPackets`
 * @param count - packets to process (cycling over `input.packets`)
 */
export function measureSingleThread (input: BenchPackets, count = Math.min(5000, input.packets.length)): Throughput {
  for (let i = 0; i < 500; i++) processPacket(input.packets[i % input.packets.length] as Uint8Array, input.secret)
  const t0 = performance.now()
  for (let i = 0; i < count; i++) {
    const r = processPacket(input.packets[i % input.packets.length] as Uint8Array, input.secret)
    if (!r.ok) throw new Error(`packet ${i} dropped: ${r.reason}`)
  }
  const ms = performance.now() - t0
  return { packets: count, ms, packetsPerSecond: count / (ms / 1000), threads: 1 }
}

/**
 * The crypto floor of relay processing: per packet, exactly the libsodium
 * calls `processPacket` makes for a forwarded packet (2 × crypto_scalarmult;
 * 4 KDF subkeys of s and 4 LIONESS subkeys; BLAKE2b-256 blinding hash over
 * 85 bytes; BLAKE2b-128 MAC over 685 bytes; ChaCha20-IETF over 720 bytes;
 * 2 × ChaCha20-IETF and 2 × BLAKE2b-256 over 3363 bytes), without any
 * parsing, allocation or thread hand-off. Runs in the calling thread.
 * @param count - packets' worth of operations
 * @returns elapsed ms
 */
export function cryptoFloor (count: number): number {
  const secret = randomBytes(32)
  const alpha = new Uint8Array(32)
  sodium.crypto_scalarmult_base(alpha as Buffer, randomBytes(32) as Buffer)
  const s = new Uint8Array(32)
  const key = new Uint8Array(32)
  const tag = new Uint8Array(16)
  const mac = new Uint8Array(16)
  const blindIn = randomBytes(85)
  const blind = new Uint8Array(32)
  const alpha2 = new Uint8Array(32)
  const header = randomBytes(685)
  const stream = new Uint8Array(720)
  const payload = randomBytes(3395)
  const R = payload.subarray(32)
  const h = new Uint8Array(32)
  const ctx = new TextEncoder().encode('umbrasph')
  const ctxLio = new TextEncoder().encode('umbralio')
  const nonce = new Uint8Array(12)
  const t0 = performance.now()
  for (let i = 0; i < count; i++) {
    scalarmult(s, secret, alpha)
    kdfDerive(key, 2, ctx, s)
    generichash(mac, header, key)
    kdfDerive(key, 1, ctx, s)
    chachaXor(stream, stream, nonce, key)
    kdfDerive(key, 3, ctx, s)
    kdfDerive(tag, 4, ctx, s)
    generichash(blind, blindIn)
    scalarmult(alpha2, blind, alpha)
    for (let k = 1; k <= 4; k++) kdfDerive(h, k, ctxLio, key)
    generichash(h, R, key)
    chachaXor(R, R, nonce, key)
    generichash(h, R, key)
    chachaXor(R, R, nonce, key)
  }
  return performance.now() - t0
}

/**
 * Packets/s of `cryptoFloor` split over `threads` worker threads of this
 * process (wall clock from the start signal to the last thread's end,
 * after a warm-up in each thread).
 * @param count - packets' worth of operations, in total
 * @param threads - worker threads (default every core)
 */
export async function measureFloor (count: number, threads = availableParallelism()): Promise<Throughput> {
  const workers = Array.from({ length: threads }, () => new Worker(new URL(import.meta.url), { workerData: { umbraBenchFloor: true } }))
  try {
    const ready = workers.map((w) => new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject) }))
    for (const w of workers) w.postMessage({ warmup: 500 })
    await Promise.all(ready)
    const per = Math.ceil(count / threads)
    const done = workers.map((w) => new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject) }))
    const t0 = performance.now()
    for (const w of workers) w.postMessage({ count: per })
    await Promise.all(done)
    const ms = performance.now() - t0
    return { packets: per * threads, ms, packetsPerSecond: (per * threads) / (ms / 1000), threads }
  } finally {
    await Promise.all(workers.map((w) => w.terminate()))
  }
}

function floorWorker (): void {
  parentPort?.on('message', (msg: { warmup?: number, count?: number }) => {
    const ms = cryptoFloor(msg.warmup ?? msg.count ?? 0)
    parentPort?.postMessage({ ms })
  })
}

async function main (): Promise<void> {
  const count = Number(process.env.BENCH_PACKETS ?? 20_000)
  const threads = Number(process.env.BENCH_THREADS ?? availableParallelism())
  const t0 = performance.now()
  const input = buildPackets(count)
  console.error(`built ${count} 3-hop packets in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${threads} threads; best of BENCH_ROUNDS interleaved rounds; other processes may share the CPU`)
  // Interleaved rounds, best of each: the CPU may be shared with other processes.
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
  const best = (a: Throughput | undefined, b: Throughput): Throughput => a === undefined || b.packetsPerSecond > a.packetsPerSecond ? b : a
  let floor: Throughput | undefined
  let pool: Throughput | undefined
  let single: Throughput | undefined
  for (let r = 0; r < rounds; r++) {
    floor = best(floor, await measureFloor(count, threads))
    pool = best(pool, await measureProcessing(input, { threads }))
    single = best(single, measureSingleThread(input))
  }
  if (floor === undefined || pool === undefined || single === undefined) throw new Error('BENCH_ROUNDS must be at least 1')
  const row = (name: string, t: Throughput, target = ''): Record<string, string | number> =>
    ({ measure: name, threads: t.threads, packets: t.packets, ms: Math.round(t.ms), 'packets/s': Math.round(t.packetsPerSecond), 'µs/packet/thread': +(t.ms * 1000 * t.threads / t.packets).toFixed(1), target })
  console.table([
    row('(a) createSphinxPool', pool, threads === 2 ? '>= 20000 packets/s' : ''),
    row('(b) crypto floor', floor),
    { measure: '(c) ratio a/b', 'packets/s': +(pool.packetsPerSecond / floor.packetsPerSecond).toFixed(3), target: '>= 0.70' },
    row('(d) processPacket, one thread', single)
  ])
}

if (!isMainThread && (workerData as { umbraBenchFloor?: boolean } | null)?.umbraBenchFloor === true) floorWorker()
else if (isMainThread && import.meta.main) await main()
