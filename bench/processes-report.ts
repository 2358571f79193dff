/**
 * Arguments, summary arithmetic and the printed table of
 * `npm run bench:processes` (bench/processes.ts; issue 15, item 4: "a
 * 100-process network on this machine"). Pure functions, no processes, so
 * test/bench/processes.test.ts can check them on fixture data.
 */
import { parseArgs } from 'node:util'
import type { MixnetPreset } from '../src/mixnet/types.ts'

/** Share of the nodes that run as servers (mix nodes, gateways, DHT servers) unless `--servers` says otherwise: a third-ish, the rest clients (issue 15 item 4's brief: "e.g. 30 % servers"). */
export const DEFAULT_SERVER_SHARE = 0.3
/** Fewest servers: a 3-hop path plus a distinct gateway, and one spare so a path never has to reuse the sender's own mix. */
export const MIN_SERVERS = 5
/** The issue's convergence bound, s: "directory converged within 30 s". */
export const CONVERGENCE_TARGET_S = 30

/** Options of one run, from the command line. */
export interface BenchOptions {
  /** Processes in all (`--nodes`). */
  nodes: number
  /** Of them servers (`--servers`); the rest are clients. */
  servers: number
  /** `--mixnet-preset` of every node (`--preset`). */
  preset: MixnetPreset
  /** Anonymous messages between random pairs (`--messages`). */
  messages: number
  /** DHT puts, then as many gets of the same keys from other nodes (`--gets`). */
  gets: number
  /** Nodes started at once; the next batch starts when the batch printed its ready lines (`--batch`). */
  batch: number
  /** Requests in flight at once during the message and DHT phases (`--concurrency`). */
  concurrency: number
  /** Length of the idle window (bandwidth, CPU without load), s (`--idle`). */
  idleS: number
  /** Each load phase (pseudonyms, messages, puts, gets) starts no new operation after this many seconds; the rest count as `not-started` failures, s (`--phase-limit`). */
  phaseLimitS: number
  /** After this many seconds from the start of the directory wait, the bench measures the load anyway, s (`--converge-timeout`). */
  convergeTimeoutS: number
  /** The whole run ends (children killed, partial table printed) after this many seconds, s (`--limit`). */
  limitS: number
  /** Seed of the random pairs and keys (`--seed`). */
  seed: number
}

/** Usage line printed with a bad argument. */
export const USAGE = 'usage: node bench/processes.ts [--nodes 100] [--servers <n>] [--preset balanced|none|strong] [--messages 1000] [--gets 1000] [--batch 10] [--concurrency 8] [--idle 30] [--converge-timeout 180] [--phase-limit 300] [--limit 2400] [--seed 1]'

/**
 * Parses the bench's command line (`process.argv.slice(2)`).
 * @throws Error with a one-line message (and {@link USAGE}) for an unknown flag or a value out of range
 */
export function parseBenchArgs (argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      nodes: { type: 'string' },
      servers: { type: 'string' },
      preset: { type: 'string' },
      messages: { type: 'string' },
      gets: { type: 'string' },
      batch: { type: 'string' },
      concurrency: { type: 'string' },
      idle: { type: 'string' },
      'converge-timeout': { type: 'string' },
      'phase-limit': { type: 'string' },
      limit: { type: 'string' },
      seed: { type: 'string' }
    }
  })
  const int = (name: string, raw: string | undefined, fallback: number, min: number, max: number): number => {
    if (raw == null) return fallback
    const n = Number(raw)
    if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) throw new Error(`--${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}\n${USAGE}`)
    return n
  }
  const nodes = int('nodes', values.nodes, 100, MIN_SERVERS + 1, 500)
  const servers = int('servers', values.servers, Math.max(MIN_SERVERS, Math.round(nodes * DEFAULT_SERVER_SHARE)), MIN_SERVERS, nodes)
  const preset = values.preset ?? 'balanced'
  if (preset !== 'none' && preset !== 'balanced' && preset !== 'strong') throw new Error(`--preset must be none, balanced or strong, got ${JSON.stringify(preset)}\n${USAGE}`)
  return {
    nodes,
    servers,
    preset,
    messages: int('messages', values.messages, 1000, 0, 100_000),
    gets: int('gets', values.gets, 1000, 0, 100_000),
    batch: int('batch', values.batch, 10, 1, 500),
    concurrency: int('concurrency', values.concurrency, 8, 1, 256),
    idleS: int('idle', values.idle, 30, 0, 3600),
    convergeTimeoutS: int('converge-timeout', values['converge-timeout'], 180, 1, 3600),
    phaseLimitS: int('phase-limit', values['phase-limit'], 300, 1, 86_400),
    limitS: int('limit', values.limit, 2400, 10, 86_400),
    seed: int('seed', values.seed, 1, 0, 2 ** 31 - 1)
  }
}

/** The nearest-rank percentile `p` (0 to 1) of `values`; undefined for none. */
export function percentile (values: number[], p: number): number | undefined {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]
}

/** Outcome of one kind of operation (anonymous message, DHT put, DHT get). */
export interface OpStats {
  /** Operations started. */
  attempted: number
  /** Of them succeeded (a message: found in the recipient's inbox; a get: the value put). */
  ok: number
  /** Latencies of the successful ones, ms. */
  latenciesMs: number[]
  /** Failures by error code (`UMBRA_ERR_…`, `not-delivered`, `wrong-value`, …). */
  errors: Record<string, number>
  /** Bandwidth, CPU and RSS of the nodes while these operations ran. */
  window?: WindowStats
}

/** An empty {@link OpStats}. */
export function emptyStats (): OpStats {
  return { attempted: 0, ok: 0, latenciesMs: [], errors: {} }
}

/** Counts one failure of `code` in `stats`. */
export function countError (stats: OpStats, code: string): void {
  stats.errors[code] = (stats.errors[code] ?? 0) + 1
}

/** One node's counters at one instant: libp2p bytes since start, CPU time since start, resident memory. */
export interface NodeSample {
  role: 'server' | 'client'
  /** `libp2p_data_transfer_bytes_total{protocol="global received"}`, bytes; undefined when /metrics did not answer. */
  rxBytes?: number
  /** `…{protocol="global sent"}`, bytes. */
  txBytes?: number
  /** utime + stime of the process (all its threads), s; undefined when /proc had no entry. */
  cpuS?: number
  /** VmRSS, bytes. */
  rssBytes?: number
}

/** Per-node rates over a window, summarised by role. */
export interface WindowStats {
  /** Window length, s. */
  seconds: number
  /** Mean and max per node, by role and over all nodes: received and sent bytes/s, CPU share of one core (0 to 1). */
  byRole: Record<'server' | 'client' | 'all', { nodes: number, rxMean: number, rxMax: number, txMean: number, txMax: number, cpuMean: number, cpuMax: number }>
  /** RSS at the end of the window: sum and mean over nodes, and mean by role, bytes. */
  rssSum: number
  rssMean: number
  rssMeanServer: number
  rssMeanClient: number
}

/**
 * Rates of each node between two samples of the same nodes (same order),
 * summarised by role. Nodes missing a counter in either sample are left out
 * of that counter's figures.
 */
export function windowStats (before: NodeSample[], after: NodeSample[], seconds: number): WindowStats {
  const roles = ['server', 'client', 'all'] as const
  const byRole = {} as WindowStats['byRole']
  for (const role of roles) {
    const rx: number[] = []
    const tx: number[] = []
    const cpu: number[] = []
    let nodes = 0
    before.forEach((b, i) => {
      const a = after[i]
      if (a == null || (role !== 'all' && b.role !== role)) return
      nodes++
      if (a.rxBytes != null && b.rxBytes != null) rx.push((a.rxBytes - b.rxBytes) / seconds)
      if (a.txBytes != null && b.txBytes != null) tx.push((a.txBytes - b.txBytes) / seconds)
      if (a.cpuS != null && b.cpuS != null) cpu.push((a.cpuS - b.cpuS) / seconds)
    })
    byRole[role] = { nodes, rxMean: mean(rx), rxMax: max(rx), txMean: mean(tx), txMax: max(tx), cpuMean: mean(cpu), cpuMax: max(cpu) }
  }
  const rss = (role?: 'server' | 'client'): number[] => after.filter((s) => role == null || s.role === role).flatMap((s) => s.rssBytes ?? [])
  const all = rss()
  return { seconds, byRole, rssSum: all.reduce((x, y) => x + y, 0), rssMean: mean(all), rssMeanServer: mean(rss('server')), rssMeanClient: mean(rss('client')) }
}

function mean (values: number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((x, y) => x + y, 0) / values.length
}

function max (values: number[]): number {
  return values.length === 0 ? Number.NaN : Math.max(...values)
}

/** Directory convergence over the run: one entry per poll of every started node. */
export interface ConvergencePoll {
  /** s since the first spawn. */
  atS: number
  /** Nodes whose directory listed every server, of all `nodes` (not-yet-started nodes count as not converged). */
  converged: number
}

/** What {@link convergenceSummary} reads off the polls. */
export interface ConvergenceSummary {
  /** First poll where every node listed every server, s since the first spawn; undefined: never. */
  allAtS?: number
  /** Share of the nodes converged at the last poll at or before {@link CONVERGENCE_TARGET_S} after the first spawn (0 to 1). */
  shareAtTarget: number
  /** Same, {@link CONVERGENCE_TARGET_S} after the last node was ready. */
  shareAtTargetAfterReady: number
  /** Share at the last poll. */
  shareLast: number
}

/** Summarises convergence polls of `nodes` nodes; `readyS` is when the last node was ready, s since the first spawn. */
export function convergenceSummary (polls: ConvergencePoll[], nodes: number, readyS: number): ConvergenceSummary {
  const shareAt = (t: number): number => {
    const last = polls.filter((p) => p.atS <= t).at(-1)
    return last == null ? 0 : last.converged / nodes
  }
  const all = polls.find((p) => p.converged >= nodes)
  return {
    ...(all != null ? { allAtS: all.atS } : {}),
    shareAtTarget: shareAt(CONVERGENCE_TARGET_S),
    shareAtTargetAfterReady: shareAt(readyS + CONVERGENCE_TARGET_S),
    shareLast: (polls.at(-1)?.converged ?? 0) / nodes
  }
}

/** Everything one run measured; optional parts are missing when the run ended before them. */
export interface BenchResult {
  options: BenchOptions
  /** s from the first spawn until every node printed its ready line. */
  readyS?: number
  /** Nodes that started. */
  started: number
  /** Nodes that did not print their ready line in time (left out of the rest of the run), with the reason. */
  startFailures?: string[]
  convergence?: ConvergenceSummary
  idle?: WindowStats
  /** Pseudonyms created (one per node that can be a recipient) and how long it took, s. */
  pseudonyms?: { created: number, seconds: number }
  /** `sendLatenciesMs`: until the POST answered (every fragment stored at the gateway), ms. */
  messages?: OpStats & { sendLatenciesMs: number[] }
  puts?: OpStats
  gets?: OpStats
  /** os.loadavg() at the end: 1, 5, 15 min. */
  loadavg: number[]
  /** CPU the bench driver itself used, s. */
  driverCpuS: number
  /** Wall time of the run, s. */
  wallS: number
  /** Why the run ended early, when it did. */
  aborted?: string
}

const kib = (bps: number): string => Number.isNaN(bps) ? '-' : (bps / 1024).toFixed(1)
const pctOf = (x: number): string => Number.isNaN(x) ? '-' : `${(x * 100).toFixed(1)} %`
const ms = (x: number | undefined): string => x == null ? '-' : `${Math.round(x)}`
const mib = (bytes: number): string => Number.isNaN(bytes) ? '-' : (bytes / 2 ** 20).toFixed(0)
const sec = (x: number | undefined): string => x == null ? '-' : x.toFixed(1)

/** `ok/attempted (xx.x %)`. */
function rate (s: OpStats): string {
  return s.attempted === 0 ? '0/0' : `${s.ok}/${s.attempted} (${(100 * s.ok / s.attempted).toFixed(1)} %)`
}

function errorsOf (s: OpStats): string {
  const entries = Object.entries(s.errors).sort((a, b) => b[1] - a[1])
  return entries.length === 0 ? '' : ` — failures: ${entries.map(([code, n]) => `${code} ${n}`).join(', ')}`
}

/** The printed summary: markdown tables (one for the run, one per bandwidth window). */
export function formatResult (r: BenchResult): string {
  const o = r.options
  const lines: string[] = []
  lines.push(`${o.nodes} processes (${o.servers} servers, ${o.nodes - o.servers} clients), preset ${o.preset}, started in batches of ${o.batch}; ${o.messages} messages, ${o.gets} puts + gets, ${o.concurrency} in flight; seed ${o.seed}`)
  if (r.aborted != null) lines.push(`ENDED EARLY: ${r.aborted}`)
  lines.push('', '| measure | value |', '|---|---|')
  lines.push(`| nodes started | ${r.started}/${o.nodes}${r.startFailures == null ? '' : ` (${r.startFailures.length} failed, left out; first: ${r.startFailures[0] ?? ''})`} |`)
  lines.push(`| all ready (first spawn → last ready line) | ${sec(r.readyS)} s |`)
  const c = r.convergence
  if (c != null) {
    lines.push(`| directory converged (every started node lists every started mix node), from first spawn | ${c.allAtS == null ? 'never' : `${c.allAtS.toFixed(1)} s`} |`)
    if (c.allAtS != null && r.readyS != null) lines.push(`| … from last ready | ${(c.allAtS - r.readyS).toFixed(1)} s |`)
    lines.push(`| share converged ${CONVERGENCE_TARGET_S} s after first spawn | ${pctOf(c.shareAtTarget)} |`)
    lines.push(`| share converged ${CONVERGENCE_TARGET_S} s after last ready | ${pctOf(c.shareAtTargetAfterReady)} |`)
  }
  if (r.puts != null) lines.push(`| DHT puts | ${rate(r.puts)}, p50 / p99 ${ms(percentile(r.puts.latenciesMs, 0.5))} / ${ms(percentile(r.puts.latenciesMs, 0.99))} ms${errorsOf(r.puts)} |`)
  if (r.gets != null) lines.push(`| DHT gets (fresh, from another node) | ${rate(r.gets)}, p50 / p99 ${ms(percentile(r.gets.latenciesMs, 0.5))} / ${ms(percentile(r.gets.latenciesMs, 0.99))} ms${errorsOf(r.gets)} |`)
  if (r.pseudonyms != null) lines.push(`| pseudonyms created (recipients) | ${r.pseudonyms.created} in ${r.pseudonyms.seconds.toFixed(1)} s |`)
  if (r.messages != null) {
    const m = r.messages
    lines.push(`| anonymous messages delivered | ${rate(m)}${errorsOf(m)} |`)
    lines.push(`| … send → delivery p50 / p99, ms | ${ms(percentile(m.latenciesMs, 0.5))} / ${ms(percentile(m.latenciesMs, 0.99))} |`)
    lines.push(`| … POST answered (stored at gateway) p50 / p99, ms | ${ms(percentile(m.sendLatenciesMs, 0.5))} / ${ms(percentile(m.sendLatenciesMs, 0.99))} |`)
  }
  lines.push(`| load average 1/5/15 min (end) | ${r.loadavg.map((x) => x.toFixed(2)).join(' / ')} |`)
  lines.push(`| bench driver CPU / wall | ${r.driverCpuS.toFixed(1)} s / ${r.wallS.toFixed(0)} s |`)
  const windows: Array<[string, WindowStats | undefined]> = [['idle', r.idle], ['DHT puts', r.puts?.window], ['DHT gets', r.gets?.window], ['messages', r.messages?.window]]
  const present = windows.filter((w): w is [string, WindowStats] => w[1] != null)
  if (present.length > 0) {
    lines.push('', 'Per node (libp2p_data_transfer_bytes_total "global received"/"global sent" from /metrics; CPU = utime+stime from /proc, share of one core; RSS = VmRSS at the end of the window):', '')
    lines.push('| window | s | role | nodes | rx KiB/s mean / max | tx KiB/s mean / max | CPU mean / max | RSS mean MiB | RSS sum MiB |')
    lines.push('|---|---|---|---|---|---|---|---|---|')
    for (const [name, w] of present) {
      for (const role of ['server', 'client', 'all'] as const) {
        const s = w.byRole[role]
        if (s.nodes === 0) continue
        const rssMean = role === 'server' ? w.rssMeanServer : role === 'client' ? w.rssMeanClient : w.rssMean
        lines.push(`| ${name} | ${w.seconds.toFixed(0)} | ${role} | ${s.nodes} | ${kib(s.rxMean)} / ${kib(s.rxMax)} | ${kib(s.txMean)} / ${kib(s.txMax)} | ${pctOf(s.cpuMean)} / ${pctOf(s.cpuMax)} | ${mib(rssMean)} | ${role === 'all' ? mib(w.rssSum) : ''} |`)
      }
    }
  }
  return lines.join('\n') + '\n'
}
