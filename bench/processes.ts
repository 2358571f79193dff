/**
 * A network of `umbra start` processes on this machine (issue 15, item 4,
 * first half): `npm run bench:processes -- --nodes 100`.
 *
 * Starts `--nodes` (100) separate `umbra start` processes (the built CLI,
 * dist/src/cli/main.js) on 127.0.0.1 through test/mixnet/process-helpers.ts,
 * `--servers` of them (default 30 %, at least 5) as servers (mix nodes,
 * gateways, DHT servers) and the rest as clients, the mix of a deployment
 * where most users sit behind NATs. server-1 starts alone; then the other
 * servers, then the clients, in batches of `--batch` (10): a batch starts
 * when the previous one printed its ready lines, since a cold start costs
 * about 1.5 s of CPU and 100 at once on 2 cores would time out. Each node
 * bootstraps to the first 3 servers. Every node runs `--preset` (balanced).
 *
 * Measures, through each node's HTTP API and /proc:
 * 1. directory convergence: from the first spawn, every node's
 *    `GET /v1/mixnet` polled each second; converged when every node lists all
 *    servers; prints the time and the share converged 30 s after the first
 *    spawn and 30 s after the last node was ready;
 * 2. idle: `--idle` (30) s without requests: per-node bytes/s received and
 *    sent (libp2p_data_transfer_bytes_total "global received"/"global sent"
 *    from /metrics: cover traffic, directory pulls, DHT, identify, ping), CPU
 *    (utime+stime of /proc/<pid>/stat) and RSS (VmRSS);
 * 3. `--gets` (1,000) DHT puts from random nodes, then a `fresh` get of each
 *    key from another random node; success = the value put (DHT first: it
 *    does not need the mix directory, so it is measured even when the
 *    directory never converged);
 * 4. one pseudonym per node (`POST /v1/pseudonyms`), then `--messages`
 *    (1,000) anonymous messages between random pairs of distinct nodes
 *    (`POST /v1/messages`, `anonymous: true`, default hops and `wait:
 *    "stored"`), `--concurrency` (8) in flight; delivered = the id is in the
 *    recipient's inbox within DELIVERY_GRACE_MS after the last send; latency
 *    = the recipient's `receivedAt` − the time just before the POST (one
 *    host, one clock);
 * each load phase also as a bandwidth/CPU/RSS window; the load average at
 * the end. Prints markdown tables (bench/processes-report.ts).
 *
 * Bounded: after `--limit` (2,400) s the run stops where it is and prints
 * what it measured; `--converge-timeout` (180) s after the last ready line
 * it stops waiting for convergence and measures anyway; each load phase
 * starts no new operation after `--phase-limit` (300) s (the rest count as
 * `not-started` failures), since a failing send waits up to 55 s. Every child is
 * stopped on exit (SIGTERM, SIGKILL after 5 s), also on SIGINT/SIGTERM and on
 * failure, and the children stop by themselves when this process dies (their
 * stdin closes: `--stop-on-stdin-close`). The temporary directory is removed.
 */
import { mkdtemp, readFile } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ApiClient } from '../src/api/client.ts'
import { seeded } from '../src/mixnet/sim/random.ts'
import { stopAllAndClean, UmbraProcess } from '../test/mixnet/process-helpers.ts'
import {
  countError, convergenceSummary, emptyStats, formatResult, parseBenchArgs, windowStats,
  type BenchOptions, type BenchResult, type ConvergencePoll, type NodeSample, type OpStats
} from './processes-report.ts'

/** The built CLI: starts in ~1.1 s and 125 MB, against ~1.6 s and 147 MB from source (measured on this machine). `npm run bench:processes` builds it first. */
const CLI = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url))
/** Bootstrap nodes of every node after server-1: the first this many servers. */
const BOOTSTRAP_SERVERS = 3
/** How long one node may take to print its ready line, ms (one batch starts at a time, so this is per batch). */
const READY_TIMEOUT_MS = 90_000
/** Interval between two convergence polls of every node, ms. */
const CONVERGENCE_POLL_MS = 1_000
/** Timeout of one poll request (directory, metrics, inbox), ms. */
const POLL_TIMEOUT_MS = 10_000
/** After the last send, how long the bench waits for the remaining messages to reach their recipients' inboxes, ms. */
const DELIVERY_GRACE_MS = 60_000
/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ; `getconf CLK_TCK` is 100 on Linux x86-64 and arm64). */
const CLOCK_TICKS_PER_S = 100
/** Pseudonyms created at once (each publishes a contact record and claims a mailbox). */
const PSEUDONYM_CONCURRENCY = 8

interface BenchNode {
  proc: UmbraProcess
  api?: ApiClient
}

/** Errors as counted in the table: the `UMBRA_ERR_…` code when there is one. */
function codeOf (err: unknown): string {
  const code = (err as { code?: unknown })?.code
  if (typeof code === 'string') return code
  return (err as Error)?.name ?? 'error'
}

async function sleep (ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms)
    function done (): void {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
  })
}

/**
 * Runs `task(i)` for i in [0, count) with at most `limit` at once and
 * resolves with how many it started: it starts no more once `signal` aborts
 * or `phaseS` seconds passed (tasks already running finish). Prints progress
 * every tenth of `count`.
 */
async function pool (what: string, count: number, limit: number, phaseS: number, signal: AbortSignal, task: (i: number) => Promise<void>): Promise<number> {
  const stopAt = performance.now() + phaseS * 1000
  let next = 0
  let done = 0
  const step = Math.max(1, Math.ceil(count / 10))
  await Promise.all(Array.from({ length: Math.min(limit, count) }, async () => {
    while (!signal.aborted && next < count && performance.now() < stopAt) {
      await task(next++)
      if (++done % step === 0) process.stderr.write(`  ${what}: ${done}/${count}\n`)
    }
  }))
  if (next < count) process.stderr.write(`  ${what}: ${count - next} not started (${signal.aborted ? 'run stopped' : `phase limit of ${phaseS} s`})\n`)
  return next
}

/** Counts the operations a phase never started (phase limit or stop) as failures `not-started`, so shares are of all requested. */
function notStarted (stats: OpStats, requested: number, started: number): void {
  stats.attempted = requested
  for (let k = started; k < requested; k++) countError(stats, 'not-started')
}

/** A node's counters now (see {@link NodeSample}); missing parts stay undefined. */
async function sample (node: BenchNode): Promise<NodeSample> {
  const out: NodeSample = { role: node.proc.role }
  const pid = node.proc.pid
  if (pid != null && node.proc.running) {
    try {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      out.cpuS = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S
      const status = await readFile(`/proc/${pid}/status`, 'utf8')
      const rss = /VmRSS:\s+(\d+) kB/.exec(status)
      if (rss != null) out.rssBytes = Number(rss[1]) * 1024
    } catch { /* gone */ }
  }
  if (node.api == null) return out
  try {
    const res = await fetch(`${node.proc.id.api}/metrics`, {
      headers: { authorization: `Bearer ${node.proc.id.token}` },
      // Not the run's signal: the last window of a stopped run is still sampled.
      signal: AbortSignal.timeout(POLL_TIMEOUT_MS)
    })
    const text = await res.text()
    const read = (label: string): number | undefined => {
      const line = text.split('\n').find((l) => l.startsWith(`libp2p_data_transfer_bytes_total{protocol="${label}"}`))
      return line == null ? undefined : Number(line.split(' ').at(-1))
    }
    const rx = read('global received')
    const tx = read('global sent')
    if (rx != null) out.rxBytes = rx
    if (tx != null) out.txBytes = tx
  } catch { /* no answer: left out of the rates */ }
  return out
}

async function sampleAll (nodes: BenchNode[]): Promise<{ at: number, samples: NodeSample[] }> {
  const at = performance.now()
  return { at, samples: await Promise.all(nodes.map(async (n) => await sample(n))) }
}

/** Runs the whole bench; resolves with what it measured (partial when `signal` aborted or a phase failed). */
export async function runBench (o: BenchOptions, signal: AbortSignal): Promise<BenchResult> {
  const wallStart = performance.now()
  const cpuStart = process.cpuUsage()
  const random = seeded(o.seed)
  const pick = (n: number): number => Math.floor(random() * n)
  const dir = await mkdtemp(join(tmpdir(), 'umbra-bench-processes-'))
  const common = ['--no-pubsub-ip-penalty']
  const procs: UmbraProcess[] = Array.from({ length: o.nodes }, (_, i) => {
    const server = i < o.servers
    const name = server ? `server-${i + 1}` : `client-${i - o.servers + 1}`
    // Servers: a free STUN port each (several servers on one host cannot all bind 3478), as `umbra testnet` does.
    return new UmbraProcess({ name, dataDir: join(dir, name), role: server ? 'server' : 'client', port: 0, preset: o.preset, cli: CLI, extraArgs: server ? [...common, '--stun-port', '0'] : common })
  })
  // All nodes while starting; then only those that started (a node that failed to start is counted, stopped and left out).
  let nodes: BenchNode[] = procs.map((proc) => ({ proc }))
  const result: BenchResult = { options: o, started: 0, loadavg: [], driverCpuS: 0, wallS: 0 }
  const polls: ConvergencePoll[] = []
  let serverIds: string[] | undefined
  let convergedAll = false
  const t0 = performance.now()
  const sinceStart = (): number => (performance.now() - t0) / 1000
  try {
    // 1. Start, and poll the directories from the first spawn on.
    const poller = (async () => {
      while (!signal.aborted && !convergedAll) {
        const started = performance.now()
        const ids = serverIds
        if (ids != null) {
          const flags = await Promise.all(nodes.map(async (n) => {
            if (n.api == null) return false
            try {
              const dirIds = new Set((await n.api.mixnet({ signal: AbortSignal.any([signal, AbortSignal.timeout(POLL_TIMEOUT_MS)]) })).directory.map((d) => d.peerId))
              return ids.every((id) => dirIds.has(id))
            } catch {
              return false
            }
          }))
          const converged = flags.filter(Boolean).length
          polls.push({ atS: sinceStart(), converged })
          if (converged === nodes.length) convergedAll = true
        }
        await sleep(Math.max(0, CONVERGENCE_POLL_MS - (performance.now() - started)), signal)
      }
    })()
    const start = async (n: BenchNode, bootstrap: string[]): Promise<void> => {
      try {
        const id = await n.proc.start(bootstrap, READY_TIMEOUT_MS)
        n.api = new ApiClient({ url: id.api, token: id.token })
        result.started++
      } catch (err) {
        (result.startFailures ??= []).push(`${n.proc.name}: ${(err as Error).message.split('\n')[0]?.slice(0, 200) ?? ''}`)
        await n.proc.stop('SIGKILL')
      }
    }
    const startedServerIds = (): string[] => nodes.slice(0, o.servers).filter((n) => n.api != null).map((n) => n.proc.id.peerId)
    const [first, ...rest] = nodes
    if (first == null) throw new Error('no nodes')
    await start(first, [])
    if (first.api == null) throw new Error(`server-1 did not start: ${result.startFailures?.[0] ?? ''}`)
    for (let i = 0; i < rest.length && !signal.aborted; i += o.batch) {
      const bootstrap = nodes.slice(0, BOOTSTRAP_SERVERS).filter((n) => n.api != null).flatMap((n) => n.proc.id.addrs)
      await Promise.all(rest.slice(i, i + o.batch).map(async (n) => { await start(n, bootstrap) }))
      if (i + o.batch >= o.servers - 1 && serverIds == null) serverIds = startedServerIds()
      process.stderr.write(`  ${result.started}/${o.nodes} ready at ${sinceStart().toFixed(1)} s\n`)
    }
    if (signal.aborted) return result
    result.readyS = sinceStart()
    serverIds ??= startedServerIds()
    nodes = nodes.filter((n) => n.api != null)

    // Wait for convergence (bounded), then stop polling.
    const convergeDeadline = performance.now() + o.convergeTimeoutS * 1000
    while (!signal.aborted && !convergedAll && performance.now() < convergeDeadline) await sleep(250, signal)
    convergedAll = true
    await poller
    result.convergence = convergenceSummary(polls, nodes.length, result.readyS)
    const c = result.convergence
    process.stderr.write(`  directory: ${c.allAtS == null ? `not converged after ${o.convergeTimeoutS} s (${(c.shareLast * 100).toFixed(1)} % of nodes)` : `converged at ${c.allAtS.toFixed(1)} s`}\n`)
    if (signal.aborted) return result

    // 2. Idle window.
    if (o.idleS > 0) {
      const a = await sampleAll(nodes)
      await sleep(o.idleS * 1000, signal)
      if (signal.aborted) return result
      const b = await sampleAll(nodes)
      result.idle = windowStats(a.samples, b.samples, (b.at - a.at) / 1000)
      process.stderr.write(`  idle window done (${o.idleS} s)\n`)
    }

    // 3. DHT puts from random nodes, then a fresh get of each key from another random node.
    if (o.gets > 0) {
      const run = `${o.seed}-${Date.now().toString(36)}`
      const puts: OpStats = emptyStats()
      result.puts = puts
      const stored: Array<{ key: string, value: string, from: number } | undefined> = new Array(o.gets).fill(undefined)
      let a = await sampleAll(nodes)
      const putsStarted = await pool('puts', o.gets, o.concurrency, o.phaseLimitS, signal, async (i) => {
        const from = pick(nodes.length)
        const key = `bench-processes/${run}/${i}`
        const value = `value ${i} of run ${run}`
        const t = performance.now()
        try {
          await (nodes[from]?.api as ApiClient).put(key, value, { signal })
          puts.ok++
          puts.latenciesMs.push(performance.now() - t)
          stored[i] = { key, value, from }
        } catch (err) {
          countError(puts, codeOf(err))
        }
      })
      notStarted(puts, o.gets, putsStarted)
      let b = await sampleAll(nodes)
      puts.window = windowStats(a.samples, b.samples, (b.at - a.at) / 1000)
      if (signal.aborted) return result

      const gets: OpStats = emptyStats()
      result.gets = gets
      a = b
      const getsStarted = await pool('gets', o.gets, o.concurrency, o.phaseLimitS, signal, async (i) => {
        const record = stored[i]
        // A key whose put failed is asked for anyway: its get counts as a failure ("put-failed"), so the share is of all 1,000.
        if (record == null) { countError(gets, 'put-failed'); return }
        let from = pick(nodes.length - 1)
        if (from >= record.from) from++
        const t = performance.now()
        try {
          const got = await (nodes[from]?.api as ApiClient).get(record.key, { fresh: true, signal })
          if (got == null) countError(gets, 'UMBRA_ERR_NOT_FOUND')
          else if (got.value !== record.value) countError(gets, 'wrong-value')
          else {
            gets.ok++
            gets.latenciesMs.push(performance.now() - t)
          }
        } catch (err) {
          countError(gets, codeOf(err))
        }
      })
      notStarted(gets, o.gets, getsStarted)
      b = await sampleAll(nodes)
      gets.window = windowStats(a.samples, b.samples, (b.at - a.at) / 1000)
      if (signal.aborted) return result
    }

    // 4. Pseudonyms, then anonymous messages between random distinct pairs.
    if (o.messages > 0) {
      const pseudonymStart = performance.now()
      const pseudonyms: Array<string | undefined> = new Array(nodes.length).fill(undefined)
      await pool('pseudonyms', nodes.length, PSEUDONYM_CONCURRENCY, o.phaseLimitS, signal, async (i) => {
        try {
          pseudonyms[i] = (await nodes[i]?.api?.createPseudonym({ label: 'bench', signal }))?.key
        } catch (err) {
          process.stderr.write(`  pseudonym of ${nodes[i]?.proc.name}: ${codeOf(err)} ${(err as Error).message}\n`)
        }
      })
      const recipients = pseudonyms.flatMap((p, i) => p == null ? [] : [i])
      result.pseudonyms = { created: recipients.length, seconds: (performance.now() - pseudonymStart) / 1000 }
      process.stderr.write(`  ${recipients.length} pseudonyms in ${result.pseudonyms.seconds.toFixed(1)} s\n`)
      if (signal.aborted || recipients.length === 0) return result

      const stats: OpStats & { sendLatenciesMs: number[] } = { ...emptyStats(), sendLatenciesMs: [] }
      result.messages = stats
      const pending = new Map<string, { to: number, sentAt: number }>()
      const a = await sampleAll(nodes)
      const sent = await pool('messages sent', o.messages, o.concurrency, o.phaseLimitS, signal, async (i) => {
        const to = recipients[pick(recipients.length)] as number
        let from = pick(nodes.length - 1)
        if (from >= to) from++
        const key = pseudonyms[to] as string
        const sentAt = Date.now()
        const t = performance.now()
        try {
          const receipt = await (nodes[from]?.api as ApiClient).send(key, `bench ${o.seed} message ${i}`, { anonymous: true, signal })
          stats.sendLatenciesMs.push(performance.now() - t)
          pending.set(receipt.id, { to, sentAt })
        } catch (err) {
          countError(stats, codeOf(err))
        }
      })
      notStarted(stats, o.messages, sent)
      const graceEnd = performance.now() + DELIVERY_GRACE_MS
      while (pending.size > 0 && !signal.aborted) {
        const byRecipient = new Set([...pending.values()].map((p) => p.to))
        await Promise.all([...byRecipient].map(async (to) => {
          try {
            const inbox = await (nodes[to]?.api as ApiClient).inbox({ limit: 1000, signal: AbortSignal.any([signal, AbortSignal.timeout(POLL_TIMEOUT_MS)]) })
            for (const m of inbox.messages) {
              if (m.kind !== 'anonymous' || m.id == null) continue
              const p = pending.get(m.id)
              if (p == null || p.to !== to) continue
              pending.delete(m.id)
              stats.ok++
              stats.latenciesMs.push(m.receivedAt - p.sentAt)
            }
          } catch { /* asked again next round */ }
        }))
        if (pending.size === 0 || performance.now() > graceEnd) break
        await sleep(1000, signal)
      }
      for (let k = 0; k < pending.size; k++) countError(stats, 'not-delivered')
      const b = await sampleAll(nodes)
      stats.window = windowStats(a.samples, b.samples, (b.at - a.at) / 1000)
      process.stderr.write(`  messages: ${stats.ok}/${stats.attempted} delivered\n`)
    }

    return result
  } catch (err) {
    result.aborted = `${codeOf(err)}: ${(err as Error).message.split('\n')[0]?.slice(0, 300)}`
    return result
  } finally {
    convergedAll = true
    if (signal.aborted && result.aborted == null) result.aborted = (signal.reason as Error)?.message ?? 'aborted'
    if (result.convergence == null && result.started > 0) result.convergence = convergenceSummary(polls, result.started, result.readyS ?? sinceStart())
    // Nodes that started and then died (a start failure was stopped by the bench and is listed apart).
    const exited = nodes.filter((n) => n.api != null && !n.proc.running).length
    if (exited > 0) result.aborted = `${result.aborted ?? ''}${result.aborted == null ? '' : '; '}${exited} node process(es) exited during the run`
    result.loadavg = loadavg()
    const cpu = process.cpuUsage(cpuStart)
    result.driverCpuS = (cpu.user + cpu.system) / 1e6
    result.wallS = (performance.now() - wallStart) / 1000
    process.stdout.write(formatResult(result))
    process.stderr.write('  stopping every node …\n')
    await stopAllAndClean(procs, dir)
  }
}

async function main (): Promise<void> {
  let options: BenchOptions
  try {
    options = parseBenchArgs(process.argv.slice(2))
  } catch (err) {
    process.stderr.write(`bench:processes: ${(err as Error).message}\n`)
    process.exitCode = 2
    return
  }
  const stop = new AbortController()
  let interrupted = false
  const end = (reason: string): void => {
    if (stop.signal.aborted) return
    process.stderr.write(`  ${reason}: stopping\n`)
    stop.abort(new Error(reason))
  }
  const limit = setTimeout(() => { end(`time limit of ${options.limitS} s reached`) }, options.limitS * 1000)
  const onSignal = (sig: NodeJS.Signals): void => {
    interrupted = true
    end(`${sig} received`)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  process.stderr.write(`bench:processes: ${options.nodes} nodes (${options.servers} servers), preset ${options.preset}, limit ${options.limitS} s\n`)
  try {
    await runBench(options, stop.signal)
  } finally {
    clearTimeout(limit)
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
  if (interrupted) process.exitCode = 130
}

if (import.meta.main) await main()
