/**
 * Presets measured (issue 16, item 5): `npm run bench:presets`.
 *
 * For each preset (none, balanced, strong) starts 5 server processes
 * (`umbra start`, mixes and gateways) and 2 client processes (a sender and a
 * recipient holding a pseudonym) on 127.0.0.1, and measures:
 * 1. one-way latency of a 3-hop anonymous message, p50 and p95: from just
 *    before the sender's `POST /v1/messages` to the recipient's `receivedAt`
 *    (one host, one clock), BENCH_MESSAGES (20) messages one after another
 *    after one uncounted warm-up (the first send also looks up the contact);
 * 2. bandwidth of the idle sender: bytes/s it sends and receives over
 *    BENCH_IDLE_S (30) s without sending (libp2p_data_transfer_bytes_total
 *    "global sent"/"global received" from its /metrics: every byte on its
 *    connections, cover, directory gossip, DHT, identify and ping);
 * 3. the simulated sender entropy and the observer's chance of naming the
 *    sender at 100 mixes and 1,000 clients (src/mixnet/sim, docs/mixnet.md
 *    "Measured anonymity").
 * BENCH_PRESETS (comma list) measures only some presets. Processes get
 * 120 s to start (a loaded shared host). Prints one markdown table (the
 * README's "Presets" table) and the host's
 * load average at the start and the end (the machine may be shared).
 */
import { mkdtemp } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { PRESETS } from '../src/mixnet/mixnet-service.ts'
import { analyseTrace, hostileMixes, simulate } from '../src/mixnet/sim/anonymity.ts'
import type { MixnetPreset, PseudonymInfo } from '../src/mixnet/types.ts'
import { percentile } from './processes-report.ts'
import { awaitDirectories, eventually, killStragglers, serverProcesses, startNetwork, stopAllAndClean, UmbraProcess } from '../test/mixnet/process-helpers.ts'

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 20)
const IDLE_S = Number(process.env.BENCH_IDLE_S ?? 30)
/** Presets to measure (comma list), all three by default. */
const ONLY = (process.env.BENCH_PRESETS ?? 'none,balanced,strong').split(',')
/** How long a process may take to print its ready line, ms (a loaded shared host starts processes slowly). */
const READY_TIMEOUT_MS = 120_000
const SERVERS = 5
const HOPS = 3
const SIM = { mixes: 100, clients: 1000 }

/** libp2p's byte counters of a node: "global sent" and "global received", bytes since start. */
async function transferred (node: UmbraProcess): Promise<{ sent: number, received: number }> {
  const res = await fetch(`${node.id.api}/metrics`, { headers: { authorization: `Bearer ${node.id.token}` } })
  const text = await res.text()
  const read = (label: string): number => {
    const line = text.split('\n').find((l) => l.startsWith(`libp2p_data_transfer_bytes_total{protocol="${label}"}`))
    if (line === undefined) throw new Error(`no libp2p_data_transfer_bytes_total{protocol="${label}"} in /metrics`)
    return Number(line.split(' ').at(-1))
  }
  return { sent: read('global sent'), received: read('global received') }
}

interface Row { preset: MixnetPreset, p50: number, p95: number, sentBps: number, receivedBps: number }

async function measure (preset: MixnetPreset): Promise<Row> {
  const dir = await mkdtemp(join(tmpdir(), `umbra-bench-presets-${preset}-`))
  const servers = await serverProcesses(dir, SERVERS, { preset })
  const sender = new UmbraProcess({ name: 'sender', dataDir: join(dir, 'sender'), role: 'client', port: 0, preset })
  const recipient = new UmbraProcess({ name: 'recipient', dataDir: join(dir, 'recipient'), role: 'client', port: 0, preset })
  const all = [...servers, sender, recipient]
  try {
    await startNetwork(servers, [sender, recipient], READY_TIMEOUT_MS)
    await awaitDirectories(all, servers.map((s) => s.id.peerId), READY_TIMEOUT_MS)
    const p = await recipient.call<PseudonymInfo>('POST', '/v1/pseudonyms', { label: 'bench' })
    // Idle bandwidth first, before any message (cover traffic, gossip and keep-alives only).
    const t0 = await transferred(sender)
    const started = Date.now()
    await new Promise((resolve) => setTimeout(resolve, IDLE_S * 1000))
    const t1 = await transferred(sender)
    const seconds = (Date.now() - started) / 1000
    const latencies: number[] = []
    // Message −1 is a warm-up, not counted: the first send to a pseudonym also looks up its contact through the mixnet.
    for (let i = -1; i < MESSAGES; i++) {
      const since = Date.now()
      const receipt = await sender.call<{ id: string }>('POST', '/v1/messages', { to: p.key, body: `bench ${i}`, anonymous: true, hops: HOPS })
      const msg = await eventually(`message ${i} at the recipient`, async () => {
        const list = await recipient.call<{ messages: Array<{ id?: string, receivedAt: number }> }>('GET', `/v1/messages?since=${since}&limit=100`)
        return list.messages.find((m) => m.id === receipt.id)
      }, 30_000, 50)
      if (i >= 0) latencies.push(msg.receivedAt - since)
    }
    return { preset, p50: percentile(latencies, 0.5) as number, p95: percentile(latencies, 0.95) as number, sentBps: (t1.sent - t0.sent) / seconds, receivedBps: (t1.received - t0.received) / seconds }
  } finally {
    await stopAllAndClean(all, dir)
  }
}

const began = Date.now()
const load = (): string => loadavg().map((l) => l.toFixed(1)).join(', ')
const loadAtStart = load()
const rows: string[] = []
try {
  for (const preset of (['none', 'balanced', 'strong'] as const).filter((p) => ONLY.includes(p))) {
    const r = await measure(preset)
    const trace = simulate({ preset: PRESETS[preset], ...SIM })
    const honest = analyseTrace(trace)
    const hostile = analyseTrace(trace, { hostile: hostileMixes(SIM.mixes, 0.2) })
    const { meanDelayMs, loopRate, dropRate, payloadRate } = PRESETS[preset]
    rows.push(`| \`${preset}\` | ${meanDelayMs} ms, ${payloadRate} + ${loopRate} + ${dropRate}/s | ${Math.round(r.p50)} ms | ${Math.round(r.p95)} ms | ${(r.sentBps / 1024).toFixed(1)} / ${(r.receivedBps / 1024).toFixed(1)} KiB/s | ${honest.entropyBits.toFixed(1)} bits (${Math.round(honest.named * 100)} %) | ${hostile.entropyBits.toFixed(1)} bits (${Math.round(hostile.named * 100)} %) |`)
    process.stderr.write(`${preset} done after ${Math.round((Date.now() - began) / 1000)} s (load ${load()}): ${rows.at(-1) ?? ''}\n`)
  }
} finally {
  await killStragglers()
}
console.log('| preset | delay per mix, packets (payload + loop + drop) | latency p50, 3 hops | latency p95 | idle client sent / received | entropy, 0 % hostile (named) | entropy, 20 % hostile (named) |')
console.log('|---|---|---|---|---|---|---|')
for (const r of rows) console.log(r)
console.log(`\n${SERVERS} servers + 2 clients per preset on 127.0.0.1, ${MESSAGES} messages one after another, idle ${IDLE_S} s; entropy: simulated, ${SIM.mixes} mixes, ${SIM.clients.toLocaleString('en-US')} clients (npm run bench:anonymity). ${Math.round((Date.now() - began) / 1000)} s; load average (1, 5, 15 min) ${loadAtStart} at the start, ${load()} at the end`)
