/**
 * Issue 2 and issue 15 benchmark: `npm run bench` (builds first).
 *
 * Prints, on loopback networks of real nodes:
 * - DHT put latency and get latency (p50, p95) on 20 in-process nodes, for
 *   gets answered from the local store (the default path) and for `fresh`
 *   gets that always query the network;
 * - direct-message round trip (send until the recipient's acknowledgement);
 * - the same DHT put and fresh get across processes: a testnet of separate
 *   `umbra start` processes (the built CLI; 5 servers and a client), driven
 *   over their HTTP APIs, so no event loop is shared;
 * - how long after that testnet is up (every mix directory full, as
 *   `umbra testnet` waits for) the first anonymous send is accepted;
 * - RSS of a lone idle `umbra start` process, server and client, after it
 *   settles; then RSS of a server and the client of the testnet under load
 *   (anonymous messages from the client at the rate it manages, packets
 *   forwarded per second through the busiest relay printed next to it).
 * Targets (issue 15): fresh get p50 <= 25 ms; put p50 <= 100 ms; idle RSS
 * server <= 90 MB, client <= 70 MB.
 * Knobs (environment): BENCH_NODES (20), BENCH_ROUNDS (100), BENCH_IDLE_MS
 * (10000), BENCH_PROCESS_ROUNDS (40), BENCH_LOAD_MS (15000).
 */
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { ApiClient, createTestnet, startProcessTestnet, type ProcessTestnet } from '../src/testnet/index.ts'
import type { UmbraNode } from '../src/node/index.ts'

const NODES = Number(process.env.BENCH_NODES ?? 20)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 100)
const IDLE_SETTLE_MS = Number(process.env.BENCH_IDLE_MS ?? 10_000)
const PROCESS_ROUNDS = Number(process.env.BENCH_PROCESS_ROUNDS ?? 40)
const LOAD_MS = Number(process.env.BENCH_LOAD_MS ?? 15_000)
const CLI = new URL('../dist/src/cli/main.js', import.meta.url)

function quantile (sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[i] as number
}

function summary (name: string, samples: number[], target?: string): Record<string, string | number> {
  const s = [...samples].sort((x, y) => x - y)
  return { measure: name, n: s.length, p50_ms: +quantile(s, 0.5).toFixed(2), p95_ms: +quantile(s, 0.95).toFixed(2), max_ms: +(s.at(-1) ?? NaN).toFixed(2), target: target ?? '' }
}

/** Failed operations by measure: a put or get that throws (e.g. UMBRA_ERR_ABORTED after 15 s) is timed and counted, not fatal. */
const failures = new Map<string, number>()

async function time (fn: () => Promise<unknown>, measure = ''): Promise<number> {
  const t = performance.now()
  try {
    await fn()
  } catch (err) {
    if (measure === '') throw err
    failures.set(measure, (failures.get(measure) ?? 0) + 1)
    console.error(`${measure}: ${(err as Error).message}`)
  }
  return performance.now() - t
}

/** ", n failed" when some operations of `measure` failed. */
function failed (measure: string): string {
  const n = failures.get(measure) ?? 0
  return n === 0 ? '' : `, ${n} failed`
}

interface Memory { rss: number, anonymous: number, shared: number }

/** RSS of process `pid`, and the part that is its own (anonymous) vs file pages (the Node binary, shared with every other node process), MB. */
async function memoryOf (pid: number): Promise<Memory> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8')
  const mb = (re: RegExp, text: string): number => Number(re.exec(text)?.[1]) / 1024
  const rss = mb(/VmRSS:\s+(\d+) kB/, status)
  const anonymous = mb(/Anonymous:\s+(\d+) kB/, rollup)
  return { rss, anonymous, shared: rss - anonymous }
}

/** Memory of one lone `umbra start` process of `role` after it printed ready and settled for IDLE_SETTLE_MS. */
async function idleRss (role: 'server' | 'client'): Promise<Memory> {
  const dir = await mkdtemp(join(tmpdir(), 'umbra-bench-'))
  const child = spawn(process.execPath, [CLI.pathname, 'start', '--json', '--data-dir', dir, '--api', '127.0.0.1:0', '--role', role, '--stun-port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] })
  try {
    const lines = createInterface({ input: child.stdout })
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`umbra start exited with ${code}; run npm run build first`)))
      lines.on('line', (line) => { if (line.includes('"ready"')) resolve() })
    })
    await new Promise((resolve) => setTimeout(resolve, IDLE_SETTLE_MS))
    return await memoryOf(child.pid as number)
  } finally {
    if (child.exitCode == null && child.signalCode == null) {
      child.kill('SIGTERM')
      await new Promise((resolve) => child.once('exit', resolve))
    }
    await rm(dir, { recursive: true, force: true })
  }
}

/** Polls until every node's mix directory lists every server, as `umbra testnet` does before it reports ready (src/cli/commands/testnet.ts). */
async function directoriesFull (apis: ApiClient[], servers: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (performance.now() < deadline) {
    const sizes = await Promise.all(apis.map(async (a) => await a.mixnet().then((m) => m.directory.length, () => 0)))
    if (Math.min(...sizes) >= servers) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`mix directories not full after ${timeoutMs} ms`)
}

/** Forwarded packets summed over `apis` (mixnet counters). */
async function forwarded (apis: ApiClient[]): Promise<number[]> {
  return await Promise.all(apis.map(async (a) => (await a.mixnet()).counters.forwarded))
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
    puts.push(await time(async () => { storedOn += (await pick(i).dht.put(key, value)).storedOn }, 'put'))
  }
  for (let i = 0; i < ROUNDS; i++) {
    const reader = pick(i + 7)
    getsLocal.push(await time(async () => {
      const r = await reader.dht.get(`bench-${i}`)
      if (r == null) throw new Error(`bench-${i} not found`)
    }, 'get'))
    getsFresh.push(await time(async () => {
      const r = await reader.dht.get(`bench-${i}`, { fresh: true })
      if (r == null) throw new Error(`bench-${i} not found (fresh)`)
    }, 'fresh get'))
  }
  const body = new TextEncoder().encode('ping')
  for (let i = 0; i < ROUNDS; i++) {
    const from = pick(i)
    const to = pick(i + 1 + (i % (nodes.length - 1)))
    if (from === to) continue
    rtts.push((await from.messaging.send(to.peerId, body)).rttMs)
  }
  rows.push(summary(`dht put 1 KiB (${NODES} nodes; mean stored on ${(storedOn / ROUNDS).toFixed(1)}${failed('put')})`, puts, 'p50 <= 100 ms'))
  rows.push(summary(`dht get (default: local store first${failed('get')})`, getsLocal, 'p50 <= 50 ms'))
  rows.push(summary(`dht get { fresh: true } (network query${failed('fresh get')})`, getsFresh, 'p50 <= 25 ms'))
  rows.push(summary('direct message round trip (4 B, ack)', rtts))
} finally {
  await net.stop()
}
console.table(rows)
rows.length = 0

// ---- separate processes -----------------------------------------------------
const SERVERS = 5
const testnet: ProcessTestnet = await startProcessTestnet({ nodes: SERVERS + 1, clients: 1, mixnet: { preset: 'none' }, cliEntry: CLI })
const mem: Array<Record<string, string | number>> = []
try {
  const apis = testnet.nodes.map((n) => new ApiClient({ url: n.api, token: n.token }))
  await directoriesFull(apis, SERVERS, 60_000)
  // First anonymous send once the testnet is up (issue 15: it was refused for about 10 s).
  const upAt = performance.now()
  const recipient = apis[SERVERS - 1] as ApiClient
  const sender = apis[SERVERS] as ApiClient
  const pseudonym = (await recipient.createPseudonym({ label: 'bench' })).key
  const pseudonymMs = performance.now() - upAt
  let tries = 0
  let refusal = ''
  for (;;) {
    tries++
    try {
      await sender.send(pseudonym, 'first', { anonymous: true, hops: 3 })
      break
    } catch (err) {
      refusal ||= (err as { code?: string }).code ?? (err as Error).message
      if (performance.now() - upAt > 60_000) throw err
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
  }
  const firstSendMs = performance.now() - upAt
  const puts: number[] = []
  const gets: number[] = []
  let storedOn = 0
  const value = Buffer.alloc(1024, 42).toString('base64')
  const servers = apis.slice(0, SERVERS)
  for (let i = 0; i < PROCESS_ROUNDS; i++) {
    puts.push(await time(async () => { storedOn += (await (servers[i % SERVERS] as ApiClient).put(`pbench-${i}`, value, { encoding: 'base64' })).storedOn }, 'process put'))
  }
  for (let i = 0; i < PROCESS_ROUNDS; i++) {
    gets.push(await time(async () => {
      if (await (apis[(i + 2) % apis.length] as ApiClient).get(`pbench-${i}`, { fresh: true }) == null) throw new Error(`pbench-${i} not found (fresh, across processes)`)
    }, 'process get'))
  }
  rows.push(summary(`dht put 1 KiB, ${SERVERS + 1} processes over HTTP (mean stored on ${(storedOn / PROCESS_ROUNDS).toFixed(1)}${failed('process put')})`, puts, 'p50 <= 100 ms'))
  rows.push(summary(`dht get { fresh: true }, across processes over HTTP${failed('process get')}`, gets, 'p50 <= 25 ms'))
  rows.push({ measure: `first anonymous send after the directories were full: accepted after ${tries} ${tries === 1 ? 'try' : 'tries'}${refusal === '' ? '' : ` (first refusal ${refusal})`}`, n: 1, p50_ms: +firstSendMs.toFixed(0), p95_ms: NaN, max_ms: NaN, target: `accepted at once (pseudonym creation ${pseudonymMs.toFixed(0)} ms of it)` })
  console.table(rows)

  // Memory: lone idle processes, then the testnet's client and busiest relay under anonymous load.
  for (const role of ['server', 'client'] as const) {
    const m = await idleRss(role)
    mem.push({ measure: `idle lone ${role} after ${IDLE_SETTLE_MS / 1000} s`, rss_MB: +m.rss.toFixed(1), private_MB: +m.anonymous.toFixed(1), file_MB: +m.shared.toFixed(1), target: role === 'server' ? '<= 90 MB' : '<= 70 MB' })
  }
  const serverNode = testnet.nodes[1]
  const clientNode = testnet.nodes[SERVERS]
  const before = await forwarded(servers)
  const peak = { server: await memoryOf(serverNode?.pid as number), client: await memoryOf(clientNode?.pid as number) }
  const sampler = setInterval(() => {
    void Promise.all([memoryOf(serverNode?.pid as number), memoryOf(clientNode?.pid as number)]).then(([s, c]) => {
      if (s.rss > peak.server.rss) peak.server = s
      if (c.rss > peak.client.rss) peak.client = c
    }, () => {})
  }, 250)
  const body = 'x'.repeat(1000)
  let sent = 0
  let sendFailures = 0
  const failureCodes = new Map<string, number>()
  const loadStart = performance.now()
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (performance.now() - loadStart < LOAD_MS) {
      try {
        await sender.send(pseudonym, body, { anonymous: true, hops: 3 })
        sent++
      } catch (err) {
        sendFailures++
        const code = (err as { code?: string }).code ?? (err as Error).name
        failureCodes.set(code, (failureCodes.get(code) ?? 0) + 1)
      }
    }
  }))
  const loadSeconds = (performance.now() - loadStart) / 1000
  clearInterval(sampler)
  const after = await forwarded(servers)
  const perRelay = after.map((a, i) => (a - (before[i] as number)) / loadSeconds)
  const busiest = Math.max(...perRelay)
  const total = perRelay.reduce((a, b) => a + b, 0)
  const load = `${(sent / loadSeconds).toFixed(0)} msg/s sent (${sendFailures} failed${failureCodes.size === 0 ? '' : `: ${[...failureCodes].map(([c, n]) => `${c} ${n}`).join(', ')}`}); relays forwarded ${total.toFixed(0)} pkt/s, busiest ${busiest.toFixed(0)} pkt/s`
  mem.push({ measure: `server (relay) of the testnet under load, peak: ${load}`, rss_MB: +peak.server.rss.toFixed(1), private_MB: +peak.server.anonymous.toFixed(1), file_MB: +peak.server.shared.toFixed(1), target: '' })
  mem.push({ measure: 'client of the testnet under load (the sender), peak', rss_MB: +peak.client.rss.toFixed(1), private_MB: +peak.client.anonymous.toFixed(1), file_MB: +peak.client.shared.toFixed(1), target: '' })
} finally {
  await testnet.stop()
}
console.table(mem)
