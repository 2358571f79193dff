/**
 * `umbra start` children for the end-to-end mixnet tests: each node has its
 * own data directory and, for server nodes, a fixed TCP port, so a test can
 * SIGKILL any node and start it again at the same address with the same
 * identity. `startProcessTestnet` cannot restart a node, hence this helper.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process'
import { once } from 'node:events'
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs'
import { mkdir, readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { Readable, Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import type { ReadyEvent } from '../../src/cli/commands/start.ts'
import { API_TOKEN_FILE } from '../../src/identity/constants.ts'
import type { MixnetPreset } from '../../src/mixnet/types.ts'
import { until } from '../helpers/wait.ts'

/** The CLI entry, run from source by Node's type stripping. */
export const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url))

/** Every child ever spawned here, so `after` can kill stragglers even when a test failed midway. */
const children = new Set<ChildProcessByStdio<Writable, Readable, Readable>>()

/** Environment of the children: no test runner context, no API settings of the user. */
function childEnv (): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env, UMBRA_API_URL: undefined, UMBRA_API_TOKEN: undefined }
  delete env.NODE_TEST_CONTEXT
  return env
}

/** Lowest port {@link freePort} hands out: above the registered services a test machine may run. */
const FIXED_PORT_MIN = 20_000
/** Ports {@link freePort} handed out in this test process, never handed out twice. */
const handedOut = new Set<number>()

/** The first port of the kernel's ephemeral range (where `listen(0)` and outgoing connections take ports), 32768 if unknown. */
function ephemeralPortMin (): number {
  try {
    const lo = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0])
    return Number.isInteger(lo) && lo > FIXED_PORT_MIN + 1_000 ? lo : 32_768
  } catch {
    return 32_768
  }
}

/** Whether a TCP listener can bind `port` on 127.0.0.1 right now (bound, then released). */
async function canListen (port: number): Promise<boolean> {
  const server = createServer()
  server.listen(port, '127.0.0.1')
  try {
    await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => { throw err })])
  } catch {
    return false
  }
  server.close()
  await once(server, 'close')
  return true
}

/**
 * A TCP port on 127.0.0.1 nothing listens on, for a node that must keep its
 * address across restarts. Drawn below the kernel's ephemeral range: every
 * node binds more ports with port 0 (packet links, WebRTC, STUN clients), and
 * a port taken from the ephemeral range could be handed by the kernel to one
 * of those between this call and the node's own listen (a fresh-clone CI run
 * failed so: EADDRINUSE). Never returns a port twice in one test process.
 * @throws Error when no port could be bound in 200 draws
 */
export async function freePort (): Promise<number> {
  const max = ephemeralPortMin()
  for (let i = 0; i < 200; i++) {
    const port = FIXED_PORT_MIN + Math.floor(Math.random() * (max - FIXED_PORT_MIN))
    if (handedOut.has(port)) continue
    if (await canListen(port)) {
      handedOut.add(port)
      return port
    }
  }
  throw new Error('no free TCP port below the ephemeral range')
}

/** An error answer of a node's HTTP API, with its `UMBRA_ERR_…` code. */
export class ApiCallError extends Error {
  readonly status: number
  readonly code: string
  constructor (message: string, status: number, code: string) {
    super(message)
    this.name = 'ApiCallError'
    this.status = status
    this.code = code
  }
}

export interface UmbraProcessInit {
  /** For messages and logs. */
  name: string
  /** Kept across restarts: the node's identity, API token, pseudonyms, mailboxes. */
  dataDir: string
  role: 'server' | 'client'
  /** Fixed TCP port on 127.0.0.1; 0 picks a free one on every start. */
  port: number
  /** Passed as `--mixnet-preset`; undefined: the node's default. */
  preset?: MixnetPreset
  /** More `umbra start` flags, e.g. `['--mixnet-epoch', '10000']`. */
  extraArgs?: string[]
  /** The CLI entry the child runs, e.g. the built `dist/src/cli/main.js` (starts faster, smaller). @default {@link CLI} (source) */
  cli?: string
}

/** What a running node printed in its ready line, plus its API token. */
export interface NodeIdentity {
  peerId: string
  key: string
  api: string
  token: string
  addrs: string[]
}

/**
 * One `umbra start --json` node that can be stopped and started again. Its
 * stderr is appended to `<dataDir>/node.log` across restarts.
 */
export class UmbraProcess {
  readonly name: string
  readonly dataDir: string
  readonly role: 'server' | 'client'
  readonly port: number
  readonly preset: MixnetPreset | undefined
  readonly extraArgs: string[]
  readonly cli: string
  #child: ChildProcessByStdio<Writable, Readable, Readable> | undefined
  #exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }> | undefined
  #identity: NodeIdentity | undefined
  #stderrTail = ''

  constructor (init: UmbraProcessInit) {
    this.name = init.name
    this.dataDir = init.dataDir
    this.role = init.role
    this.port = init.port
    this.preset = init.preset
    this.extraArgs = init.extraArgs ?? []
    this.cli = init.cli ?? CLI
  }

  /** Ready-line details of the current (or last) run. */
  get id (): NodeIdentity {
    if (this.#identity == null) throw new Error(`${this.name} never started`)
    return this.#identity
  }

  get running (): boolean {
    return this.#child != null && this.#child.exitCode == null && this.#child.signalCode == null
  }

  get pid (): number | undefined {
    return this.#child?.pid
  }

  /** Spawns the node and resolves once it printed its ready line (rejects with its stderr tail if it exits first). */
  async start (bootstrap: string[], timeoutMs = 45_000): Promise<NodeIdentity> {
    if (this.running) throw new Error(`${this.name} is already running`)
    await mkdir(this.dataDir, { recursive: true, mode: 0o700 })
    const args = [this.cli, 'start', '--json', '--data-dir', this.dataDir, '--api', '127.0.0.1:0', '--role', this.role, '--stop-on-stdin-close',
      '--listen', `/ip4/127.0.0.1/tcp/${this.port}`]
    for (const addr of bootstrap) args.push('--bootstrap', addr)
    if (this.preset != null) args.push('--mixnet-preset', this.preset)
    args.push(...this.extraArgs)
    const child = spawn(process.execPath, args, { env: childEnv(), stdio: ['pipe', 'pipe', 'pipe'] })
    children.add(child)
    child.stdin.on('error', () => {})
    this.#child = child
    this.#stderrTail = ''
    const log: WriteStream = createWriteStream(join(this.dataDir, 'node.log'), { flags: 'a', mode: 0o600 })
    log.on('error', () => {})
    log.write(`--- ${new Date().toISOString()} start ${args.slice(1).join(' ')}\n`)
    child.stderr.on('data', (chunk: Buffer) => {
      log.write(chunk)
      this.#stderrTail = (this.#stderrTail + chunk.toString('utf8')).slice(-4096)
    })
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        children.delete(child)
        log.end(`--- exit ${signal ?? code}\n`)
        resolve({ code, signal })
      })
    })
    const exited = this.#exited
    const ready = await new Promise<ReadyEvent>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`${this.name}: no ready line within ${timeoutMs} ms; stderr: ${this.#stderrTail}`)) }, timeoutMs)
      const lines = createInterface({ input: child.stdout })
      lines.on('line', (line) => {
        try {
          const event = JSON.parse(line) as Partial<ReadyEvent>
          if (event.event === 'ready') { clearTimeout(timer); resolve(event as ReadyEvent) }
        } catch { /* not a JSON line */ }
      })
      void exited.then(({ code, signal }) => {
        clearTimeout(timer)
        reject(new Error(`${this.name} exited (${signal ?? code}) before it was ready; stderr: ${this.#stderrTail}`))
      })
    })
    const token = (await readFile(join(this.dataDir, API_TOKEN_FILE), 'utf8')).trim()
    this.#identity = { peerId: ready.peerId, key: ready.key, api: ready.api, token, addrs: ready.addrs }
    return this.#identity
  }

  /**
   * Sends `signal` and resolves once the process is gone. After SIGTERM it
   * gets `graceMs` for a clean stop, then SIGKILL.
   */
  async stop (signal: 'SIGTERM' | 'SIGKILL', graceMs = 10_000): Promise<{ code: number | null, signal: NodeJS.Signals | null }> {
    const child = this.#child
    const exited = this.#exited
    if (child == null || exited == null) return { code: null, signal: null }
    if (!this.running) return await exited
    child.kill(signal)
    const timer = setTimeout(() => { child.kill('SIGKILL') }, graceMs)
    try {
      return await exited
    } finally {
      clearTimeout(timer)
    }
  }

  /** One call of the node's HTTP API (bearer token); throws {@link ApiCallError} on an error answer. */
  async call<T> (method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown, timeoutMs = 70_000): Promise<T> {
    const { api, token } = this.id
    const headers: Record<string, string> = { authorization: `Bearer ${token}` }
    if (body !== undefined) headers['content-type'] = 'application/json'
    const res = await fetch(`${api}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs)
    })
    const text = await res.text()
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      throw new ApiCallError(`${this.name} ${method} ${path}: HTTP ${res.status}, not JSON: ${text.slice(0, 200)}`, res.status, 'NOT_JSON')
    }
    if (!res.ok) {
      const error = (parsed as { error?: { code?: string, message?: string } }).error
      throw new ApiCallError(`${this.name} ${method} ${path}: HTTP ${res.status} ${error?.code ?? ''} ${error?.message ?? text.slice(0, 200)}`, res.status, error?.code ?? 'UNKNOWN')
    }
    return parsed as T
  }
}

/** SIGKILLs every child still alive (cleanup after a failed test) and waits for them to go. */
export async function killStragglers (): Promise<void> {
  const alive = [...children].filter((c) => c.exitCode == null && c.signalCode == null)
  await Promise.all(alive.map(async (c) => {
    const gone = once(c, 'exit')
    c.kill('SIGKILL')
    await Promise.race([gone, new Promise((resolve) => setTimeout(resolve, 5_000).unref())])
  }))
  children.clear()
}

/**
 * Cleanup for `after`: stops `nodes` (SIGTERM, SIGKILL after 5 s), kills any
 * other child left, then removes `dir`, or keeps it with UMBRA_E2E_KEEP=1
 * (each node's stderr is in its node.log).
 */
export async function stopAllAndClean (nodes: UmbraProcess[], dir: string | undefined): Promise<void> {
  await Promise.all(nodes.map(async (p) => await p.stop('SIGTERM', 5_000).catch(() => {})))
  await killStragglers()
  if (process.env.UMBRA_E2E_KEEP === '1') process.stderr.write(`kept ${dir}\n`)
  else if (dir != null) await rm(dir, { recursive: true, force: true })
}

/** Polls `check` every `intervalMs` until it returns something other than undefined; throws after `timeoutMs` (test/helpers/wait.ts). */
export async function eventually<T> (what: string, check: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 250): Promise<T> {
  return await until(what, check, timeoutMs, intervalMs)
}

/** `n` server processes named `server-1` … `server-n` on distinct free ports, each with a data directory under `dir` (not started). */
export async function serverProcesses (dir: string, n: number, init: Pick<UmbraProcessInit, 'preset' | 'extraArgs'> = {}): Promise<UmbraProcess[]> {
  const ports = new Set<number>()
  while (ports.size < n) ports.add(await freePort())
  return [...ports].map((port, i) => new UmbraProcess({ ...init, name: `server-${i + 1}`, dataDir: join(dir, `server-${i + 1}`), role: 'server', port }))
}

/** Starts the first server alone, the other servers bootstrapped to it, then `clients` bootstrapped to up to 3 servers. */
export async function startNetwork (servers: UmbraProcess[], clients: UmbraProcess[] = [], readyTimeoutMs?: number): Promise<void> {
  const first = servers[0]
  if (first == null) throw new Error('startNetwork needs a server')
  await first.start([], readyTimeoutMs)
  await Promise.all(servers.slice(1).map(async (s) => await s.start(first.id.addrs, readyTimeoutMs)))
  const boot = servers.slice(0, 3).flatMap((s) => s.id.addrs)
  await Promise.all(clients.map(async (c) => await c.start(boot, readyTimeoutMs)))
}

/** PeerIds in a node's mix directory (`GET /v1/mixnet`). */
export async function directoryOf (node: UmbraProcess): Promise<string[]> {
  return (await node.call<{ directory: Array<{ peerId: string }> }>('GET', '/v1/mixnet')).directory.map((d) => d.peerId)
}

/** Waits until the mix directory of every node in `nodes` lists every PeerId in `expected`. */
export async function awaitDirectories (nodes: UmbraProcess[], expected: string[], timeoutMs = 45_000): Promise<void> {
  let sizes: number[] = []
  await eventually('every directory to list every server', async () => {
    const dirs = await Promise.all(nodes.map(directoryOf))
    sizes = dirs.map((d) => d.length)
    return dirs.every((d) => expected.every((p) => d.includes(p))) ? true : undefined
  }, timeoutMs, 500).catch((err) => { throw new Error(`${(err as Error).message}; directory sizes ${sizes.join(' ')}`) })
}
