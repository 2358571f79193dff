/**
 * Issue 11 benchmark: `npm run bench:inbox` (builds first).
 *
 * Prints:
 * - durable inbox insert rate (one transaction per message, as a receiving
 *   node does it) on a file with synchronous=FULL, on a file with NORMAL
 *   (the node's setting, STATE_DB_SYNCHRONOUS), and in memory;
 * - page read rate (`inbox.list()`, 100 newest first) from 10,000 entries,
 *   first page and a page deep in the inbox;
 * - the cost of durability on the direct-message round trip, same run: two
 *   in-process nodes given their keys (state in memory) against two nodes
 *   with data directories (state in `<dataDir>/umbra.db`).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInbox } from '../src/messaging/inbox.ts'
import { openStateDatabase } from '../src/store/index.ts'
import { createNode, type UmbraNode } from '../src/node/index.ts'
import { createTestnet } from '../src/testnet/index.ts'

const INSERTS = Number(process.env.BENCH_INSERTS ?? 2_000)
const ENTRIES = Number(process.env.BENCH_ENTRIES ?? 10_000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 200)

function quantile (sorted: number[], q: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[i] as number
}

function message (n: number): { id: string, from: string, fromKey: string, body: Uint8Array, sentAt: number, receivedAt: number } {
  return { id: n.toString(16).padStart(32, '0'), from: '12D3KooWBench', fromKey: 'key_Bench', body: new Uint8Array(256), sentAt: n, receivedAt: Date.now() }
}

/** Inserts `INSERTS` messages one transaction each; returns messages per second. */
function insertRate (path: string, synchronous: 'FULL' | 'NORMAL'): number {
  const state = openStateDatabase({ path, synchronous })
  const inbox = createInbox({ state })
  const started = performance.now()
  for (let i = 0; i < INSERTS; i++) inbox.addDirect(message(i))
  const rate = INSERTS / ((performance.now() - started) / 1000)
  state.close()
  return rate
}

/** Round trips of `ROUNDS` direct messages a → b, ms (p50, p95). */
async function roundTrips (a: UmbraNode, b: UmbraNode): Promise<{ p50: number, p95: number }> {
  const samples: number[] = []
  for (let i = 0; i < ROUNDS; i++) samples.push((await a.messaging.send(b.peerId, new TextEncoder().encode(`bench ${i}`))).rttMs)
  samples.sort((x, y) => x - y)
  return { p50: +quantile(samples, 0.5).toFixed(2), p95: +quantile(samples, 0.95).toFixed(2) }
}

const dir = await mkdtemp(join(tmpdir(), 'umbra-bench-inbox-'))
try {
  const rows: Array<Record<string, string | number>> = []
  rows.push({ measure: 'inbox insert, file, synchronous=FULL', per_second: Math.round(insertRate(join(dir, 'full.db'), 'FULL')) })
  rows.push({ measure: 'inbox insert, file, synchronous=NORMAL', per_second: Math.round(insertRate(join(dir, 'normal.db'), 'NORMAL')) })
  rows.push({ measure: 'inbox insert, in memory', per_second: Math.round(insertRate(':memory:', 'FULL')) })

  const state = openStateDatabase({ path: join(dir, 'pages.db'), synchronous: 'NORMAL' })
  const inbox = createInbox({ state })
  for (let i = 0; i < ENTRIES; i++) inbox.addDirect(message(1_000_000 + i))
  const reads = 500
  let started = performance.now()
  for (let i = 0; i < reads; i++) inbox.list()
  rows.push({ measure: `page of 100 from ${ENTRIES}, first page`, per_second: Math.round(reads / ((performance.now() - started) / 1000)) })
  let cursor: string | undefined
  for (let i = 0; i < ENTRIES / 200; i++) cursor = inbox.list({ before: cursor }).next
  started = performance.now()
  for (let i = 0; i < reads; i++) inbox.list({ before: cursor })
  rows.push({ measure: `page of 100 from ${ENTRIES}, half way (cursor)`, per_second: Math.round(reads / ((performance.now() - started) / 1000)) })
  state.close()
  console.table(rows)

  // The direct-message round trip with the inbox in memory and on disk, same run.
  const memory = await createTestnet(2)
  const [ma, mb] = memory.nodes as [UmbraNode, UmbraNode]
  const inMemory = await roundTrips(ma, mb)
  await memory.stop()
  const disk = await Promise.all([0, 1].map(async (i) => await createNode({ dataDir: join(dir, `node-${i}`), listen: ['/ip4/127.0.0.1/tcp/0'], nat: { stunPort: 0 } })))
  const [da, db] = disk as [UmbraNode, UmbraNode]
  await db.start()
  await da.start()
  await da.libp2p.dial(db.libp2p.getMultiaddrs()[0] as never)
  const onDisk = await roundTrips(da, db)
  await Promise.all([da.stop(), db.stop()])
  console.table([
    { measure: 'direct message round trip, inbox in memory', n: ROUNDS, ...inMemory },
    { measure: 'direct message round trip, inbox in umbra.db (NORMAL)', n: ROUNDS, ...onDisk },
    { measure: 'cost of durability, p50', n: ROUNDS, p50: +(onDisk.p50 - inMemory.p50).toFixed(2), p95: +(onDisk.p95 - inMemory.p95).toFixed(2) }
  ])
} finally {
  await rm(dir, { recursive: true, force: true })
}
