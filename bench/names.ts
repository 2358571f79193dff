/**
 * Issue 9 benchmark for names: `npm run bench:names` (builds first).
 *
 * Prints, on a loopback testnet of 20 in-process server nodes:
 * - name resolution, cold (a DHT query: each name resolved once by a node
 *   that never saw it) and cached (the same node again, within the cache TTL);
 * - zone name resolution, cold (query + opening the seal + zone signature);
 * - peer-record lookup (`node.registry.lookup(peer, { fresh: true })`);
 * and, without the network, the time to mint a global name's proof of work
 * by label length (measured for 8+ chars and down to BENCH_POW_MIN_LEN,
 * estimated from the measured hash rate below it).
 * Targets (issue 9): cached resolve <= 1 ms, cold resolve p50 <= 60 ms on loopback.
 */
import { createTestnet } from '../src/testnet/index.ts'
import { mintPow, powBits } from '../src/names/index.ts'
import type { UmbraNode } from '../src/node/index.ts'

const NODES = Number(process.env.BENCH_NODES ?? 20)
const NAMES = Number(process.env.BENCH_NAMES ?? 60)
const POW_MIN_LEN = Number(process.env.BENCH_POW_MIN_LEN ?? 7)

function quantile (sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[i] as number
}

function summary (name: string, samples: number[], target = ''): Record<string, string | number> {
  const s = [...samples].sort((x, y) => x - y)
  return { measure: name, n: s.length, p50_ms: +quantile(s, 0.5).toFixed(3), p95_ms: +quantile(s, 0.95).toFixed(3), max_ms: +(s.at(-1) ?? NaN).toFixed(3), target }
}

async function time (fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now()
  await fn()
  return performance.now() - t
}

async function powTable (): Promise<Array<Record<string, string | number>>> {
  const owner = new Uint8Array(32).fill(1)
  const rows: Array<Record<string, string | number>> = []
  let hashes = 0
  let seconds = 0
  for (const len of [63, 18, 16, 12, 10, 8, 7, 6, 5, 4, 3, 2, 1]) {
    const bits = powBits(len)
    if (len < POW_MIN_LEN) {
      const rate = hashes / seconds
      rows.push({ label_chars: len, bits, mean_s: +(2 ** bits / rate).toFixed(1), runs: 'estimate', max_s: '' })
      continue
    }
    const runs = bits <= 22 ? 10 : 3
    const samples: number[] = []
    for (let i = 0; i < runs; i++) {
      const label = `${'a'.repeat(len - 1)}${i % 10}`
      samples.push(await time(async () => await mintPow(label, owner)) / 1000)
    }
    const mean = samples.reduce((a, b) => a + b, 0) / runs
    hashes += runs * 2 ** bits
    seconds += mean * runs
    rows.push({ label_chars: len, bits, mean_s: +mean.toFixed(3), runs, max_s: +Math.max(...samples).toFixed(3) })
  }
  console.log(`BLAKE2b proof-of-work hash rate: ${(hashes / seconds / 1e6).toFixed(2)} M hashes/s (one core)`)
  return rows
}

async function main (): Promise<void> {
  console.log(`names bench: ${NODES} in-process server nodes on 127.0.0.1, ${NAMES} names`)
  const net = await createTestnet(NODES, { mixnet: { preset: 'none', threads: 1 } })
  try {
    const nodes = net.nodes
    const pick = (i: number): UmbraNode => nodes[i % nodes.length] as UmbraNode
    // Let every peer record get published before the lookups.
    await new Promise((resolve) => setTimeout(resolve, 3000))
    const labels: string[] = []
    for (let i = 0; i < NAMES; i++) {
      const label = `bench-name-${String(i).padStart(5, '0')}`
      await pick(i).names.register(label, [{ type: 'peer', value: pick(i).peerId }, { type: 'text', value: `name ${i}` }], { cacheTtl: 60_000 })
      labels.push(label)
    }
    const zones: string[] = []
    for (let i = 0; i < Math.min(NAMES, 30); i++) {
      const name = `www${i}.${pick(i).key}`
      await pick(i).names.register(name, [{ type: 'text', value: `zone ${i}` }])
      zones.push(name)
    }
    const cold: number[] = []
    const cached: number[] = []
    for (let i = 0; i < labels.length; i++) {
      const resolver = pick(i + 1 + (i % (nodes.length - 1)))
      cold.push(await time(async () => {
        const a = await resolver.names.resolve(labels[i] as string)
        if (a.source !== 'network') throw new Error(`expected a network answer, got ${a.source}`)
      }))
      for (let k = 0; k < 20; k++) {
        cached.push(await time(async () => {
          const a = await resolver.names.resolve(labels[i] as string)
          if (a.source !== 'cache') throw new Error(`expected a cached answer, got ${a.source}`)
        }))
      }
    }
    const zoneCold: number[] = []
    for (let i = 0; i < zones.length; i++) {
      const resolver = pick(i + 3)
      zoneCold.push(await time(async () => await resolver.names.resolve(zones[i] as string)))
    }
    const lookups: number[] = []
    for (let i = 0; i < 100; i++) {
      const from = pick(i)
      const to = pick(i + 1 + (i % (nodes.length - 1)))
      lookups.push(await time(async () => await from.registry.lookup(to.peerId, { fresh: true })))
    }
    console.table([
      summary('global name resolve, cold (DHT)', cold, 'p50 <= 60 ms'),
      summary('global name resolve, cached', cached, '<= 1 ms'),
      summary('zone name resolve, cold (DHT + open)', zoneCold),
      summary('peer record lookup (fresh)', lookups)
    ])
  } finally {
    await net.stop()
  }
  console.log('proof of work of a global name claim, by label length (docs/names.md):')
  console.table(await powTable())
}

await main()
