/**
 * Issue 2 benchmark: `npm run bench` (builds first).
 *
 * Prints, on a loopback testnet of real nodes:
 * - DHT put latency and get latency (median, p95) on 20 in-process nodes,
 *   for gets answered from the local store (the default path) and for
 *   `fresh` gets that always query the network;
 * - direct-message round trip (send until the recipient's acknowledgement);
 * - RSS of one idle `umbra start` process (the built CLI), after it settles.
 * Targets (issue 2): get p50 <= 50 ms; idle RSS <= 90 MB.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { createTestnet } from '../src/testnet/index.ts'
import type { UmbraNode } from '../src/node/index.ts'

const NODES = Number(process.env.BENCH_NODES ?? 20)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 100)
const IDLE_SETTLE_MS = Number(process.env.BENCH_IDLE_MS ?? 10_000)

function quantile (sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[i] as number
}

function summary (name: string, samples: number[], target?: string): Record<string, string | number> {
  const s = [...samples].sort((x, y) => x - y)
  return { measure: name, n: s.length, p50_ms: +quantile(s, 0.5).toFixed(2), p95_ms: +quantile(s, 0.95).toFixed(2), max_ms: +(s.at(-1) ?? NaN).toFixed(2), target: target ?? '' }
}

async function time (fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now()
  await fn()
  return performance.now() - t
}

/** RSS of the idle process, and the part that is its own (anonymous) vs clean pages shared with every other process (the Node binary), MB. */
async function idleRss (): Promise<{ rss: number, anonymous: number, sharedClean: number }> {
  const entry = new URL('../dist/src/cli/main.js', import.meta.url)
  const dir = await mkdtemp(join(tmpdir(), 'umbra-bench-'))
  const child = spawn(process.execPath, [entry.pathname, 'start', '--json', '--data-dir', dir, '--api', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'] })
  try {
    const lines = createInterface({ input: child.stdout })
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`umbra start exited with ${code}; run npm run build first`)))
      lines.on('line', (line) => { if (line.includes('"ready"')) resolve() })
    })
    await new Promise((resolve) => setTimeout(resolve, IDLE_SETTLE_MS))
    const status = await readFile(`/proc/${child.pid}/status`, 'utf8')
    const rollup = await readFile(`/proc/${child.pid}/smaps_rollup`, 'utf8')
    const mb = (re: RegExp, text: string): number => Number(re.exec(text)?.[1]) / 1024
    return { rss: mb(/VmRSS:\s+(\d+) kB/, status), anonymous: mb(/Anonymous:\s+(\d+) kB/, rollup), sharedClean: mb(/Shared_Clean:\s+(\d+) kB/, rollup) }
  } finally {
    if (child.exitCode == null && child.signalCode == null) {
      child.kill('SIGTERM')
      await new Promise((resolve) => child.once('exit', resolve))
    }
    await rm(dir, { recursive: true, force: true })
  }
}

const rows: Array<Record<string, string | number>> = []
const t0 = performance.now()
const net = await createTestnet(NODES, { timeout: 60_000 })
console.error(`started ${NODES} nodes in ${(performance.now() - t0).toFixed(0)} ms; ${ROUNDS} rounds each`)
try {
  const nodes = net.nodes
  const pick = (i: number): UmbraNode => nodes[i % nodes.length] as UmbraNode
  const value = new Uint8Array(1024).fill(42)
  const puts: number[] = []
  const getsLocal: number[] = []
  const getsFresh: number[] = []
  const rtts: number[] = []
  let storedOn = 0
  for (let i = 0; i < ROUNDS; i++) {
    const key = `bench-${i}`
    puts.push(await time(async () => { storedOn += (await pick(i).dht.put(key, value)).storedOn }))
  }
  for (let i = 0; i < ROUNDS; i++) {
    const reader = pick(i + 7)
    getsLocal.push(await time(async () => {
      const r = await reader.dht.get(`bench-${i}`)
      if (r == null) throw new Error(`bench-${i} not found`)
    }))
    getsFresh.push(await time(async () => {
      const r = await reader.dht.get(`bench-${i}`, { fresh: true })
      if (r == null) throw new Error(`bench-${i} not found (fresh)`)
    }))
  }
  const body = new TextEncoder().encode('ping')
  for (let i = 0; i < ROUNDS; i++) {
    const from = pick(i)
    const to = pick(i + 1 + (i % (nodes.length - 1)))
    if (from === to) continue
    rtts.push((await from.messaging.send(to.peerId, body)).rttMs)
  }
  rows.push(summary(`dht put 1 KiB (${NODES} nodes; mean stored on ${(storedOn / ROUNDS).toFixed(1)})`, puts))
  rows.push(summary('dht get (default: local store first)', getsLocal, 'p50 <= 50 ms'))
  rows.push(summary('dht get { fresh: true } (network query)', getsFresh, 'p50 <= 50 ms'))
  rows.push(summary('direct message round trip (4 B, ack)', rtts))
} finally {
  await net.stop()
}
console.table(rows)
rows.length = 0
const mem = await idleRss()
rows.push({ measure: `idle RSS of one umbra start process after ${IDLE_SETTLE_MS / 1000} s`, MB: +mem.rss.toFixed(1), target: '<= 90 MB' })
rows.push({ measure: '  of which private (anonymous) memory', MB: +mem.anonymous.toFixed(1), target: '' })
rows.push({ measure: '  of which clean pages shared with other processes (Node binary)', MB: +mem.sharedClean.toFixed(1), target: '' })
console.table(rows)
