import { spawn, type ChildProcessByStdio } from 'node:child_process'
import { createWriteStream, type WriteStream } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import type { Readable, Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { AbortedError, InvalidOptionError } from '../errors.ts'
import { API_TOKEN_FILE } from '../identity/constants.ts'
import type { ReadyEvent } from '../cli/commands/start.ts'
import type { Role } from '../node/types.ts'
import type { MixnetPreset } from '../mixnet/types.ts'
import { NODE_READY_TIMEOUT_MS, NODE_STOP_GRACE_MS, PROCESS_TESTNET_LISTEN, STDERR_TAIL_BYTES, TESTNET_FILE } from './constants.ts'
import { TestnetStartError } from './errors.ts'

/** One node of a {@link ProcessTestnet}: an `umbra start` child process. */
export interface ProcessTestnetNode {
  /** `node-1` … `node-N`; `node-1` is the bootstrap node of the others. */
  name: string
  /** Base URL of the node's HTTP API. */
  api: string
  /** Bearer token of the node's HTTP API. */
  token: string
  peerId: string
  /** Transport key, `key_<base58btc>`. */
  key: string
  role: Role
  /** Listening addresses including `/p2p/<PeerId>`. */
  addrs: string[]
  /** Process id of the child. */
  pid: number
  /** The node's data directory (`<dir>/node-i`); its stderr is in `node.log` there. */
  dataDir: string
  /** UDP port of the node's STUN server, when it runs one (server nodes). */
  stunPort?: number
}

/** Options of {@link startProcessTestnet}. */
export interface ProcessTestnetInit {
  /** Number of nodes, 1 to 64. @default 3 */
  nodes?: number
  /**
   * How many of the nodes, counted from the last, run as clients (`--role
   * client`: no DHT storage for others, no mix or gateway duty); the others
   * are servers. `node-1`, the bootstrap node, is always a server.
   * @default 0
   */
  clients?: number
  /** Mixnet options of every node: `preset` (`--mixnet-preset`) and `threads` (`--mixnet-threads`). @default the node's (balanced, one thread per core) */
  mixnet?: { preset?: MixnetPreset, threads?: number }
  /**
   * UDP port of every server node's STUN server (`--stun-port`), `false` for
   * none. Several servers on one host cannot all bind 3478, so the default
   * gives each a free port; a fixed port suits a testnet with one server.
   * Client nodes are pointed at node-1's STUN server (`--stun-server`).
   * @default 0
   */
  stunPort?: number | false
  /**
   * Directory holding one data directory per node (`node-1` …). Given: kept
   * after `stop()`, so nodes keep their identities across runs. Not given: a
   * fresh directory under `os.tmpdir()`, removed by `stop()`.
   */
  dir?: string
  /** The CLI entry the children run with `process.execPath`. @default this package's `cli/main` (`.ts` from source, `.js` from `dist/`) */
  cliEntry?: string | URL
  /** Aborting during start kills the children and rejects; aborting later stops the testnet. */
  signal?: AbortSignal
  /** How long each child may take to print its ready line, ms. @default 30_000 */
  readyTimeout?: number
  /** Extra environment variables of the children. @default none */
  env?: Record<string, string | undefined>
  /** Called when a node becomes ready (progress reporting). */
  onNodeReady?: (node: ProcessTestnetNode) => void
  /** Called when a node's process exits while the testnet runs (not during `stop()`). */
  onNodeExit?: (node: ProcessTestnetNode, code: number | null, signal: NodeJS.Signals | null) => void
}

/** A local network of `umbra start` processes on 127.0.0.1. */
export interface ProcessTestnet {
  /** The nodes, `node-1` first. */
  readonly nodes: ProcessTestnetNode[]
  /** The directory holding the nodes' data directories and `testnet.json`. */
  readonly dir: string
  /** Sends SIGTERM to every child, SIGKILL after 5 s, and waits for all to exit. Idempotent. */
  stop(): Promise<void>
}

/**
 * Starts `nodes` `umbra start --json` processes on 127.0.0.1 with their HTTP
 * APIs and STUN servers on free ports, servers (mix nodes and gateways) except the last
 * `clients`: `node-1` first as a bootstrap server, then the others
 * in parallel with `--bootstrap <node-1's addrs>`. Resolves once every child
 * printed its ready line; writes `<dir>/testnet.json` (mode 0600, it holds the
 * API tokens). If any child fails to start, stops the others and rejects.
 * Children also stop when this process dies (their stdin closes).
 *
 * @example
 * ```ts
 * const testnet = await startProcessTestnet({ nodes: 6 })
 * const api = new ApiClient({ url: testnet.nodes[0].api, token: testnet.nodes[0].token })
 * console.log(await api.peers())
 * await testnet.stop()
 * ```
 * @throws UMBRA_ERR_TESTNET_START, UMBRA_ERR_INVALID_OPTION, UMBRA_ERR_ABORTED
 */
export async function startProcessTestnet (init: ProcessTestnetInit = {}): Promise<ProcessTestnet> {
  const count = init.nodes ?? 3
  if (!Number.isSafeInteger(count) || count < 1 || count > 64) {
    throw new InvalidOptionError(`ProcessTestnetInit.nodes must be a whole number from 1 to 64, got ${count}`)
  }
  const clients = init.clients ?? 0
  if (!Number.isSafeInteger(clients) || clients < 0 || clients >= count) {
    throw new InvalidOptionError(`ProcessTestnetInit.clients must be a whole number from 0 to ${count - 1} (nodes - 1: node-1 is a server), got ${clients}`)
  }
  const preset = init.mixnet?.preset
  if (preset != null && !['none', 'balanced', 'strong'].includes(preset)) {
    throw new InvalidOptionError(`ProcessTestnetInit.mixnet.preset must be "none", "balanced" or "strong", got ${JSON.stringify(preset)}`)
  }
  const threads = init.mixnet?.threads
  if (threads != null && (!Number.isSafeInteger(threads) || threads < 1 || threads > 64)) {
    throw new InvalidOptionError(`ProcessTestnetInit.mixnet.threads must be a whole number from 1 to 64, got ${threads}`)
  }
  const stunPort = init.stunPort ?? 0
  if (stunPort !== false && (!Number.isSafeInteger(stunPort) || stunPort < 0 || stunPort > 65_535)) {
    throw new InvalidOptionError(`ProcessTestnetInit.stunPort must be a UDP port from 0 to 65535 (0 picks a free one) or false, got ${String(stunPort)}`)
  }
  const readyTimeout = init.readyTimeout ?? NODE_READY_TIMEOUT_MS
  if (!Number.isFinite(readyTimeout) || readyTimeout <= 0) {
    throw new InvalidOptionError(`ProcessTestnetInit.readyTimeout must be a positive number of milliseconds, got ${readyTimeout}`)
  }
  if (isAborted(init.signal)) throw new AbortedError('startProcessTestnet was aborted')
  const entry = resolveCliEntry(init.cliEntry)
  const ownsDir = init.dir == null
  const dir = init.dir == null ? await mkdtemp(join(tmpdir(), 'umbra-testnet-')) : resolve(init.dir)
  await mkdir(dir, { recursive: true, mode: 0o700 })

  const children: NodeProcess[] = []
  const launch = (index: number, bootstrap: string[], stunServer: string | undefined): NodeProcess => {
    const role: Role = index >= count - clients ? 'client' : 'server'
    const stun = role === 'server' ? { stunPort } : stunServer != null ? { stunServer } : {}
    const child = new NodeProcess({ name: `node-${index + 1}`, dataDir: join(dir, `node-${index + 1}`), entry, bootstrap, role, preset, threads, env: init.env, ...stun })
    children.push(child)
    return child
  }
  const waitReady = async (child: NodeProcess): Promise<ProcessTestnetNode> => {
    const node = await child.waitReady(readyTimeout, init.signal)
    init.onNodeReady?.(node)
    return node
  }

  let nodes: ProcessTestnetNode[]
  try {
    const first = await waitReady(launch(0, [], undefined))
    // Clients' ICE asks node-1's STUN server (the node's default, bootstrap host port 3478, is not served here).
    const stunServer = first.stunPort != null ? `127.0.0.1:${first.stunPort}` : undefined
    const rest = await Promise.allSettled(Array.from({ length: count - 1 }, async (_, i) => await waitReady(launch(i + 1, first.addrs, stunServer))))
    const failed = rest.find((r) => r.status === 'rejected')
    if (failed != null) throw failed.reason
    nodes = [first, ...rest.map((r) => (r as PromiseFulfilledResult<ProcessTestnetNode>).value)]
    await writeFile(join(dir, TESTNET_FILE), JSON.stringify({ nodes }, null, 2) + '\n', { mode: 0o600 })
  } catch (err) {
    await Promise.all(children.map(async (c) => { await c.stop() }))
    if (ownsDir) await rm(dir, { recursive: true, force: true })
    if (isAborted(init.signal) && !(err instanceof AbortedError)) throw new AbortedError('startProcessTestnet was aborted', { cause: err })
    throw err
  }

  let stopping: Promise<void> | undefined
  const stop = async (): Promise<void> => {
    stopping ??= (async () => {
      init.signal?.removeEventListener('abort', onAbort)
      await Promise.all(children.map(async (c) => { await c.stop() }))
      if (ownsDir) await rm(dir, { recursive: true, force: true })
    })()
    await stopping
  }
  const onAbort = (): void => { stop().catch(() => {}) }
  init.signal?.addEventListener('abort', onAbort, { once: true })
  children.forEach((child, i) => {
    const node = nodes[i]
    if (node == null) return
    child.exited.then(({ code, signal }) => {
      if (stopping == null) init.onNodeExit?.(node, code, signal)
    }, () => {})
  })
  return { nodes, dir, stop }
}

function isAborted (signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true
}

/** `cli/main.ts` next to this module when running from source, `cli/main.js` when running from `dist/`. */
function resolveCliEntry (entry: string | URL | undefined): string {
  if (entry instanceof URL) return fileURLToPath(entry)
  if (entry != null) return resolve(entry)
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js'
  return fileURLToPath(new URL(`../cli/main${ext}`, import.meta.url))
}

interface NodeProcessInit {
  name: string
  dataDir: string
  entry: string
  bootstrap: string[]
  role: Role
  preset: MixnetPreset | undefined
  threads: number | undefined
  env: Record<string, string | undefined> | undefined
  /** `--stun-port` of a server. */
  stunPort?: number | false
  /** `--stun-server` of a client. */
  stunServer?: string
}

/** One `umbra start --json` child: its ready line, its exit, its stop. */
class NodeProcess {
  readonly name: string
  readonly dataDir: string
  readonly exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  #child: ChildProcessByStdio<Writable, Readable, Readable>
  #ready: Promise<ReadyEvent>
  #stderrTail = ''
  #log: WriteStream | undefined
  #hasExited = false
  #stopping: Promise<void> | undefined

  constructor (init: NodeProcessInit) {
    this.name = init.name
    this.dataDir = init.dataDir
    const args = [init.entry, 'start', '--json', '--data-dir', init.dataDir, '--api', '127.0.0.1:0', '--role', init.role, '--stop-on-stdin-close']
    if (init.preset != null) args.push('--mixnet-preset', init.preset)
    if (init.threads != null) args.push('--mixnet-threads', String(init.threads))
    if (init.stunPort != null) args.push('--stun-port', init.stunPort === false ? 'off' : String(init.stunPort))
    if (init.stunServer != null) args.push('--stun-server', init.stunServer)
    // Every node on 127.0.0.1: GossipSub's IP co-location penalty would mark them all as Sybils (docs/pubsub.md).
    args.push('--no-pubsub-ip-penalty')
    for (const addr of PROCESS_TESTNET_LISTEN) args.push('--listen', addr)
    for (const addr of init.bootstrap) args.push('--bootstrap', addr)
    const execArgv = init.entry.endsWith('.ts') && process.features.typescript == null ? ['--experimental-strip-types'] : []
    const env: Record<string, string | undefined> = { ...process.env, ...init.env }
    delete env.NODE_TEST_CONTEXT
    this.#child = spawn(process.execPath, [...execArgv, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env })
    this.#child.stdin.on('error', () => {})

    this.exited = new Promise((resolve) => {
      this.#child.once('exit', (code, signal) => {
        this.#hasExited = true
        resolve({ code, signal })
      })
      this.#child.once('error', () => {
        // spawn failed (ENOENT, EACCES): no 'exit' follows
        if (this.#child.pid == null) {
          this.#hasExited = true
          resolve({ code: null, signal: null })
        }
      })
    })

    this.#child.stderr.on('data', (chunk: Buffer) => {
      this.#stderrTail = (this.#stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES)
      this.#log?.write(chunk)
    })
    mkdir(init.dataDir, { recursive: true, mode: 0o700 }).then(() => {
      if (this.#hasExited) return
      this.#log = createWriteStream(join(init.dataDir, 'node.log'), { flags: 'a', mode: 0o600 })
      this.#log.on('error', () => {})
    }, () => {})

    this.#ready = new Promise<ReadyEvent>((resolve, reject) => {
      const lines = createInterface({ input: this.#child.stdout })
      lines.on('line', (line) => {
        let event: Partial<ReadyEvent>
        try {
          event = JSON.parse(line) as Partial<ReadyEvent>
        } catch {
          return
        }
        if (event?.event === 'ready') resolve(event as ReadyEvent)
      })
      this.exited.then(({ code, signal }) => {
        reject(new TestnetStartError(`${this.name} exited (${signal ?? `code ${code}`}) before it was ready: ${this.#lastError()}`))
      }, () => {})
    })
    this.#ready.catch(() => {})
    this.exited.then(() => { this.#log?.end() }, () => {})
  }

  /** Resolves with the node's details once its ready line arrived and its API token is readable. */
  async waitReady (timeout: number, signal?: AbortSignal): Promise<ProcessTestnetNode> {
    let timer: NodeJS.Timeout | undefined
    let onAbort: (() => void) | undefined
    try {
      const ready = await Promise.race([
        this.#ready,
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => { reject(new TestnetStartError(`${this.name} printed no ready line within ${timeout} ms: ${this.#lastError()}`)) }, timeout)
          onAbort = () => { reject(new AbortedError(`starting ${this.name} was aborted`)) }
          if (signal?.aborted === true) onAbort()
          signal?.addEventListener('abort', onAbort, { once: true })
        })
      ])
      const token = (await readFile(join(this.dataDir, API_TOKEN_FILE), 'utf8')).trim()
      return {
        name: this.name,
        api: ready.api,
        token,
        peerId: ready.peerId,
        key: ready.key,
        role: ready.role,
        addrs: ready.addrs,
        pid: this.#child.pid ?? 0,
        dataDir: this.dataDir,
        ...(ready.stunPort != null ? { stunPort: ready.stunPort } : {})
      }
    } finally {
      clearTimeout(timer)
      if (onAbort != null) signal?.removeEventListener('abort', onAbort)
    }
  }

  /** SIGTERM, then SIGKILL after {@link NODE_STOP_GRACE_MS}; resolves when the process is gone. Idempotent. */
  async stop (): Promise<void> {
    this.#stopping ??= (async () => {
      if (this.#hasExited) return
      this.#child.kill('SIGTERM')
      let timer: NodeJS.Timeout | undefined
      const killed = await Promise.race([
        this.exited.then(() => false),
        new Promise<boolean>((resolve) => { timer = setTimeout(() => { resolve(true) }, NODE_STOP_GRACE_MS) })
      ])
      clearTimeout(timer)
      if (killed && !this.#hasExited) {
        this.#child.kill('SIGKILL')
        await this.exited
      }
    })()
    await this.#stopping
  }

  /** The most telling line of the child's stderr: its `umbra: …` error line, else the last line. */
  #lastError (): string {
    const lines = this.#stderrTail.split('\n').map((l) => l.trim()).filter((l) => l !== '')
    const umbraLine = [...lines].reverse().find((l) => l.startsWith('umbra: '))
    const line = umbraLine?.slice('umbra: '.length) ?? lines.at(-1)
    if (line == null) return 'no output on stderr'
    return line.length > 300 ? line.slice(0, 300) + '…' : line
  }
}
