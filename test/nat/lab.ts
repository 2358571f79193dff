/**
 * The NAT lab: real Linux NAT routers in network namespaces, for testing
 * Umbra's NAT traversal (issue 4) against the kernel's own MASQUERADE and a
 * stateful firewall instead of a simulation.
 *
 * Topology of one lab (every name below is prefixed `umbra-<pid>-<id>-`):
 *
 * ```
 *                        pub: bridge br0, no address, no route (the "internet")
 *          ┌──────────────────────┼──────────────────────┐
 *   srv 203.0.113.10       ra wan 203.0.113.1      rb wan 203.0.113.2
 *                          ra lan 192.168.1.1      rb lan 192.168.2.1
 *                                 │                       │
 *                          ca 192.168.1.10         cb 192.168.2.10
 * ```
 *
 * - `srv` is a public server; it reaches both routers' WAN addresses directly
 *   on the public segment and has no default route.
 * - `ra` and `rb` forward (`net.ipv4.ip_forward=1`) and masquerade what leaves
 *   their WAN (`MASQUERADE`, which keeps the source port when it is free: a
 *   port-preserving, endpoint-dependent-filtering "cone"; or
 *   `MASQUERADE --random-fully`, a new random port for every connection:
 *   symmetric). Their firewall forwards LAN→WAN and ESTABLISHED,RELATED only,
 *   and drops everything else that arrives on the WAN, so the router itself
 *   never answers a stray packet.
 * - `ca` and `cb` are clients whose default route is their router.
 * - Nothing is connected to the host's own namespace: the lab has no path to
 *   the host's network. On top of that every host namespace has a `raw`
 *   table chain `UMBRA_LEAK` that drops, and counts, any packet for a
 *   destination outside the lab's prefixes; {@link NatLab.leaks} reads it.
 * - IPv6 is disabled in every lab namespace.
 *
 * Needs root, iproute2 (`ip`) and iptables; {@link natLabSkipReason} tells
 * when they are missing.
 *
 * @example
 * ```ts
 * const lab = await createNatLab({ natA: 'cone', natB: 'random' })
 * after(async () => { await lab.destroy() })
 * // A UDP/TCP echo on the public server (see fixtures/echo-server.ts), killed by destroy().
 * lab.spawn(lab.server, process.execPath, ['test/nat/fixtures/echo-server.ts', '3478', '3479'], { stdio: 'pipe' })
 * const { stdout } = await lab.exec(lab.clientA, 'ip', ['route'])  // "default via 192.168.1.1 dev eth0 …"
 * // … run Umbra nodes in lab.clientA / lab.clientB / lab.server the same way …
 * for (const [ns, n] of Object.entries(await lab.leaks())) assert.equal(n, 0, ns)
 * ```
 */
import { execFile, execFileSync, spawn as spawnChild, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { once } from 'node:events'

/** How a router maps LAN sources to its WAN address. */
export type NatKind = 'cone' | 'random'

/** A host of the lab: its network namespace and its own IPv4 address. */
export interface Host {
  /** The network namespace the host lives in (`ip netns exec <ns> …`). */
  readonly ns: string
  /** The host's address: public (203.0.113.0/24) for the server and the routers' WAN, private for clients. */
  readonly addr: string
}

/** A NAT router; `addr` is its public WAN address. */
export interface Router extends Host {
  /** The router's address on its LAN (the clients' gateway). */
  readonly lanAddr: string
  /** The LAN prefix behind the router, e.g. `192.168.1.0/24`. */
  readonly lanPrefix: string
  /** How the router translates. */
  readonly nat: NatKind
}

/** Packet counters of a router's firewall. */
export interface RouterCounters {
  /** Packets that arrived on the WAN for the router itself and were dropped (unsolicited). */
  wanInputDropped: number
  /** Packets the router refused to forward (unsolicited WAN→LAN, or anything not LAN→WAN). */
  forwardDropped: number
  /** Packets the router itself sent out of its WAN (ICMP errors, RSTs): 0 when it stays silent. */
  wanOutput: number
}

/** One UDP flow in a router's connection tracking table (`conntrack -L -p udp`). */
export interface UdpFlow {
  /** Original direction, as the first packet had it (before NAT). */
  src: string
  dst: string
  sport: number
  dport: number
  /** The reply direction the router expects (after NAT: its WAN address and mapped port for an outgoing flow). */
  replySrc: string
  replyDst: string
  replySport: number
  replyDport: number
  /** A packet came back in the reply direction (the entry is not `[UNREPLIED]`). */
  replied: boolean
  /** The kernel saw traffic both ways and keeps the entry (`[ASSURED]`). */
  assured: boolean
}

/** Options of {@link createNatLab}. */
export interface NatLabInit {
  /**
   * NAT of router A (in front of `clientA`).
   * @default 'cone'
   */
  natA?: NatKind
  /**
   * NAT of router B (in front of `clientB`).
   * @default 'cone'
   */
  natB?: NatKind
  /**
   * Part of every namespace name, `[a-z0-9]{1,12}`; unique within this
   * process.
   * @default a counter
   */
  id?: string
  /** Aborts the set-up (what was made is removed). */
  signal?: AbortSignal
}

/** Options of {@link NatLab.exec}. */
export interface ExecOptions {
  /** Written to the command's stdin, which is then closed. */
  input?: string
  /**
   * The command is killed after this many milliseconds.
   * @default 10000
   */
  timeoutMs?: number
  /** Kills the command. */
  signal?: AbortSignal
}

/** Output of a command run by {@link NatLab.exec}. */
export interface ExecResult {
  stdout: string
  stderr: string
}

/** A running lab. */
export interface NatLab {
  /** The prefix of every namespace of this lab, `umbra-<pid>-<id>-`. */
  readonly prefix: string
  /** Every namespace of this lab, the public segment first. */
  readonly namespaces: readonly string[]
  /** The public segment's namespace (a bridge only; not a host). */
  readonly pub: string
  /** The public server, 203.0.113.10. */
  readonly server: Host
  /** The client behind router A, 192.168.1.10. */
  readonly clientA: Host
  /** The client behind router B, 192.168.2.10. */
  readonly clientB: Host
  /** Router A: WAN 203.0.113.1, LAN 192.168.1.1. */
  readonly routerA: Router
  /** Router B: WAN 203.0.113.2, LAN 192.168.2.1. */
  readonly routerB: Router
  /**
   * Runs `cmd args` inside `host`'s namespace to completion; rejects with the
   * command's stderr when it exits non-zero or times out.
   */
  exec: (host: Host, cmd: string, args: readonly string[], opts?: ExecOptions) => Promise<ExecResult>
  /**
   * Starts `cmd args` inside `host`'s namespace (`ip netns exec <ns> cmd …`).
   * The lab kills it on {@link NatLab.destroy}.
   */
  spawn: (host: Host, cmd: string, args: readonly string[], opts?: SpawnOptions) => ChildProcess
  /**
   * Packets, per host namespace, that were addressed outside the lab's
   * prefixes (and dropped before leaving it). All zero in a sound run.
   */
  leaks: (opts?: { signal?: AbortSignal }) => Promise<Record<string, number>>
  /** The firewall counters of a router. */
  counters: (router: Router, opts?: { signal?: AbortSignal }) => Promise<RouterCounters>
  /** The UDP flows a router's connection tracking holds now (`conntrack -L -p udp` inside its namespace). */
  udpFlows: (router: Router, opts?: { signal?: AbortSignal }) => Promise<UdpFlow[]>
  /**
   * Kills every process in the lab's namespaces and deletes the namespaces,
   * which takes their veths, routes and iptables rules with them.
   * Idempotent; also run on process exit, SIGINT and SIGTERM.
   */
  destroy: () => Promise<void>
}

/** Error of the lab's set-up or of a command it ran. */
export class NatLabError extends Error {
  readonly code = 'UMBRA_ERR_NAT_LAB'
  override readonly name = 'NatLabError'
  constructor (message = 'NAT lab failure', options?: ErrorOptions) {
    super(message, options)
  }
}

/** Every lab namespace is named `umbra-<pid>-<id>-<role>`. */
const NS_PATTERN = /^umbra-(\d+)-([a-z0-9]{1,12})-(pub|srv|ra|rb|ca|cb)$/
const ID_PATTERN = /^[a-z0-9]{1,12}$/
/** Destinations a lab packet may have: the public segment, both LANs, loopback. */
const LAB_PREFIXES = ['203.0.113.0/24', '192.168.1.0/24', '192.168.2.0/24', '127.0.0.0/8'] as const
/** Guard against a runaway test: labs alive at once in one process. */
const MAX_LIVE_LABS = 4
const DEFAULT_EXEC_TIMEOUT_MS = 10_000
/** How long destroy() waits for killed processes to exit. */
const KILL_WAIT_MS = 2_000
/** The comments that name the counted rules. */
const COUNTER = { wanInputDropped: 'umbra-wan-in-drop', forwardDropped: 'umbra-fwd-drop', wanOutput: 'umbra-wan-out', leak: 'umbra-leak' } as const

const live = new Set<LabState>()
let nextId = 0

interface LabState {
  namespaces: string[]
  children: Set<ChildProcess>
  /** Set at the start of destroy(): exec() and spawn() refuse from then on. */
  destroyed: boolean
  /** The one clean-up that every destroy() call awaits. */
  destroying?: Promise<void>
}

/** Runs a command on the host (not in a namespace). */
async function run (cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const timeout = opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS
  return await new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout, signal: opts.signal, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err != null) reject(new NatLabError(`${cmd} ${args.join(' ')} failed: ${stderr.trim() || err.message}`, { cause: err }))
      else resolve({ stdout, stderr })
    })
    // A command that exits without reading its stdin must not crash us with EPIPE.
    child.stdin?.on('error', () => {})
    if (opts.input != null) child.stdin?.end(opts.input)
    else child.stdin?.end()
  })
}

/** Why the lab cannot run here, or undefined when it can. */
export async function natLabSkipReason (): Promise<string | undefined> {
  if (process.platform !== 'linux') return 'the NAT lab needs Linux network namespaces'
  if (process.getuid?.() !== 0) return 'the NAT lab needs root (ip netns, iptables)'
  for (const [cmd, args] of [['ip', ['-V']], ['iptables', ['-V']], ['iptables-restore', ['-V']]] as const) {
    try {
      await run(cmd, args)
    } catch {
      return `the NAT lab needs \`${cmd}\` (Debian: ${cmd === 'ip' ? 'iproute2' : 'iptables'})`
    }
  }
  return undefined
}

/** The `raw` table of every host namespace: count and drop packets for destinations outside the lab. */
function leakRules (): string {
  return [
    '*raw',
    ':PREROUTING ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':UMBRA_LEAK - [0:0]',
    '-A PREROUTING -j UMBRA_LEAK',
    '-A OUTPUT -j UMBRA_LEAK',
    ...LAB_PREFIXES.map((p) => `-A UMBRA_LEAK -d ${p} -j RETURN`),
    // Multicast (e.g. a UPnP client's SSDP search, 239.255.255.250) stays on its own link: the lab has no
    // multicast routing, and a router's FORWARD policy drops (and counts) anything it would pass on.
    '-A UMBRA_LEAK -d 224.0.0.0/4 -j RETURN',
    `-A UMBRA_LEAK -m comment --comment ${COUNTER.leak} -j DROP`,
    'COMMIT',
    ''
  ].join('\n')
}

/** A router's firewall and NAT. */
function routerRules (nat: NatKind): string {
  return [
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD DROP [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    '-A INPUT -i lo -j ACCEPT',
    '-A INPUT -i wan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT',
    `-A INPUT -i wan -m comment --comment ${COUNTER.wanInputDropped} -j DROP`,
    '-A FORWARD -i wan -o lan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT',
    '-A FORWARD -i lan -o wan -j ACCEPT',
    `-A FORWARD -m comment --comment ${COUNTER.forwardDropped} -j DROP`,
    `-A OUTPUT -o wan -m comment --comment ${COUNTER.wanOutput} -j ACCEPT`,
    'COMMIT',
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':INPUT ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    `-A POSTROUTING -o wan -j MASQUERADE${nat === 'random' ? ' --random-fully' : ''}`,
    'COMMIT',
    ''
  ].join('\n')
}

/** Parses `conntrack -L -p udp` output (one flow a line: two `src= dst= sport= dport=` tuples, flags in brackets). */
export function parseUdpFlows (text: string): UdpFlow[] {
  const flows: UdpFlow[] = []
  for (const line of text.split('\n')) {
    if (!line.startsWith('udp')) continue
    const field = (name: string): string[] => [...line.matchAll(new RegExp(`\\b${name}=(\\S+)`, 'g'))].map((m) => m[1] as string)
    const [src, replySrc] = field('src')
    const [dst, replyDst] = field('dst')
    const [sport, replySport] = field('sport').map(Number)
    const [dport, replyDport] = field('dport').map(Number)
    if (src == null || dst == null || replySrc == null || replyDst == null) continue
    flows.push({ src, dst, sport: sport ?? 0, dport: dport ?? 0, replySrc, replyDst, replySport: replySport ?? 0, replyDport: replyDport ?? 0, replied: !line.includes('[UNREPLIED]'), assured: line.includes('[ASSURED]') })
  }
  return flows
}

/** Packet counts of the rules named by `--comment`, from `iptables-save -c`. */
function commentCounts (save: string): Map<string, number> {
  const counts = new Map<string, number>()
  for (const line of save.split('\n')) {
    const m = /^\[(\d+):\d+\] .*--comment "?([\w-]+)"?/.exec(line)
    if (m?.[1] != null && m[2] != null) counts.set(m[2], (counts.get(m[2]) ?? 0) + Number(m[1]))
  }
  return counts
}

function validate (init: NatLabInit): { natA: NatKind, natB: NatKind, id: string } {
  const natA = init.natA ?? 'cone'
  const natB = init.natB ?? 'cone'
  for (const [field, value] of [['natA', natA], ['natB', natB]] as const) {
    if (value !== 'cone' && value !== 'random') throw new NatLabError(`${field} must be 'cone' or 'random', got ${JSON.stringify(value)}`)
  }
  const id = init.id ?? String(nextId++)
  if (!ID_PATTERN.test(id)) throw new NatLabError(`id must match ${ID_PATTERN.source} (it is part of namespace names), got ${JSON.stringify(id)}`)
  if (live.size >= MAX_LIVE_LABS) throw new NatLabError(`at most ${MAX_LIVE_LABS} NAT labs may be alive at once; destroy() one first`)
  return { natA, natB, id }
}

/** Kills the lab's processes and deletes its namespaces, synchronously (for process exit). */
function destroySync (state: LabState): void {
  // `live` (not `destroyed`): an async destroy() cut short by exit still has namespaces to remove.
  if (!live.has(state)) return
  state.destroyed = true
  live.delete(state)
  for (const child of state.children) child.kill('SIGKILL')
  for (const ns of state.namespaces) {
    try {
      const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      for (const pid of pids.split(/\s+/).filter(Boolean)) {
        try { process.kill(Number(pid), 'SIGKILL') } catch { /* already gone */ }
      }
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' })
    } catch { /* already gone */ }
  }
  if (live.size === 0) uninstallExitHooks()
}

function onExit (): void {
  for (const state of [...live]) destroySync(state)
}

function onSignal (signal: NodeJS.Signals): void {
  onExit()
  process.removeListener(signal, onSignal)
  // Without other listeners, die of the signal as the default handler would.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
}

let hooksInstalled = false
function installExitHooks (): void {
  if (hooksInstalled) return
  hooksInstalled = true
  process.on('exit', onExit)
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
}
function uninstallExitHooks (): void {
  if (!hooksInstalled) return
  hooksInstalled = false
  process.removeListener('exit', onExit)
  process.removeListener('SIGINT', onSignal)
  process.removeListener('SIGTERM', onSignal)
}

/** Kills every process in the namespace and deletes it; false when it did not exist. */
async function deleteNamespace (ns: string): Promise<boolean> {
  let pids: string
  try {
    pids = (await run('ip', ['netns', 'pids', ns])).stdout
  } catch {
    return false
  }
  const alive = pids.split(/\s+/).filter(Boolean).map(Number)
  for (const pid of alive) {
    try { process.kill(pid, 'SIGKILL') } catch { /* already gone */ }
  }
  await run('ip', ['netns', 'del', ns])
  return true
}

/**
 * Builds a lab with the given NAT on each router. On failure (or abort)
 * whatever was built is removed before the promise rejects.
 */
export async function createNatLab (init: NatLabInit = {}): Promise<NatLab> {
  const { natA, natB, id } = validate(init)
  const { signal } = init
  signal?.throwIfAborted()
  const prefix = `umbra-${process.pid}-${id}-`
  const name = (role: string): string => prefix + role
  const pub = name('pub')
  const server: Host = { ns: name('srv'), addr: '203.0.113.10' }
  const routerA: Router = { ns: name('ra'), addr: '203.0.113.1', lanAddr: '192.168.1.1', lanPrefix: '192.168.1.0/24', nat: natA }
  const routerB: Router = { ns: name('rb'), addr: '203.0.113.2', lanAddr: '192.168.2.1', lanPrefix: '192.168.2.0/24', nat: natB }
  const clientA: Host = { ns: name('ca'), addr: '192.168.1.10' }
  const clientB: Host = { ns: name('cb'), addr: '192.168.2.10' }
  const hosts = [server, routerA, routerB, clientA, clientB]
  const state: LabState = { namespaces: [pub, ...hosts.map((h) => h.ns)], children: new Set(), destroyed: false }

  const ip = async (...args: string[]): Promise<unknown> => await run('ip', args, { signal })
  const inNs = async (ns: string, cmd: string, args: string[], input?: string): Promise<ExecResult> =>
    await run('ip', ['netns', 'exec', ns, cmd, ...args], { signal, input })

  live.add(state)
  installExitHooks()
  try {
    for (const ns of state.namespaces) {
      await ip('netns', 'add', ns)
      // No IPv6 at all (no router solicitations or MLD on the segment), then loopback up.
      await inNs(ns, 'sysctl', ['-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'])
      await ip('-n', ns, 'link', 'set', 'lo', 'up')
    }
    // The public segment: a bridge with no address; every public interface is a veth whose peer is a bridge port.
    // `mcast_snooping 0`: with snooping on, the bridge itself floods an IGMPv3 report (0.0.0.0 → 224.0.0.22)
    // to every port a second or so after it comes up, which the leak guard rightly counts.
    await ip('-n', pub, 'link', 'add', 'br0', 'type', 'bridge', 'mcast_snooping', '0')
    await ip('-n', pub, 'link', 'set', 'br0', 'up')
    const wire = async (ns: string, dev: string, peerNs: string, peer: string, addr: string): Promise<void> => {
      // Created inside `ns` with its peer placed straight into `peerNs`: nothing ever exists in the host's namespace.
      await ip('-n', ns, 'link', 'add', dev, 'type', 'veth', 'peer', 'name', peer, 'netns', peerNs)
      await ip('-n', ns, 'addr', 'add', addr, 'dev', dev)
      await ip('-n', ns, 'link', 'set', dev, 'up')
    }
    const port = async (peer: string): Promise<void> => { await ip('-n', pub, 'link', 'set', peer, 'master', 'br0', 'up') }
    await wire(server.ns, 'eth0', pub, 'srv', `${server.addr}/24`)
    await port('srv')
    for (const [router, client, tag] of [[routerA, clientA, 'a'], [routerB, clientB, 'b']] as const) {
      await wire(router.ns, 'wan', pub, `r${tag}`, `${router.addr}/24`)
      await port(`r${tag}`)
      await wire(router.ns, 'lan', client.ns, 'eth0', `${router.lanAddr}/24`)
      await ip('-n', client.ns, 'addr', 'add', `${client.addr}/24`, 'dev', 'eth0')
      await ip('-n', client.ns, 'link', 'set', 'eth0', 'up')
      await ip('-n', client.ns, 'route', 'add', 'default', 'via', router.lanAddr)
      await inNs(router.ns, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1'])
      await inNs(router.ns, 'iptables-restore', [], routerRules(router.nat))
    }
    for (const host of hosts) await inNs(host.ns, 'iptables-restore', ['--noflush'], leakRules())
  } catch (err) {
    destroySync(state)
    throw err instanceof NatLabError ? err : new NatLabError('NAT lab set-up failed', { cause: err })
  }

  const saveCounts = async (ns: string, table: string, opts: { signal?: AbortSignal }): Promise<Map<string, number>> =>
    commentCounts((await run('ip', ['netns', 'exec', ns, 'iptables-save', '-c', '-t', table], opts)).stdout)

  return {
    prefix,
    namespaces: [...state.namespaces],
    pub,
    server,
    clientA,
    clientB,
    routerA,
    routerB,
    async exec (host, cmd, args, opts = {}) {
      if (state.destroyed) throw new NatLabError('the NAT lab is destroyed')
      return await run('ip', ['netns', 'exec', host.ns, cmd, ...args], opts)
    },
    spawn (host, cmd, args, opts = {}) {
      if (state.destroyed) throw new NatLabError('the NAT lab is destroyed')
      const child = spawnChild('ip', ['netns', 'exec', host.ns, cmd, ...args], opts)
      state.children.add(child)
      child.once('exit', () => { state.children.delete(child) })
      child.once('error', () => { state.children.delete(child) })
      return child
    },
    async leaks (opts = {}) {
      const out: Record<string, number> = {}
      for (const host of hosts) out[host.ns] = (await saveCounts(host.ns, 'raw', opts)).get(COUNTER.leak) ?? 0
      return out
    },
    async counters (router, opts = {}) {
      const counts = await saveCounts(router.ns, 'filter', opts)
      return {
        wanInputDropped: counts.get(COUNTER.wanInputDropped) ?? 0,
        forwardDropped: counts.get(COUNTER.forwardDropped) ?? 0,
        wanOutput: counts.get(COUNTER.wanOutput) ?? 0
      }
    },
    async udpFlows (router, opts = {}) {
      return parseUdpFlows((await run('ip', ['netns', 'exec', router.ns, 'conntrack', '-L', '-p', 'udp'], opts)).stdout)
    },
    async destroy () {
      state.destroying ??= destroyAsync(state)
      await state.destroying
    }
  }
}

/** Kills the lab's processes, waits (bounded) for them, and deletes its namespaces. */
async function destroyAsync (state: LabState): Promise<void> {
  state.destroyed = true
  if (!live.has(state)) return
  const exits = [...state.children].filter((c) => c.exitCode == null && c.signalCode == null).map(async (c) => await once(c, 'exit'))
  for (const child of state.children) child.kill('SIGKILL')
  await Promise.race([Promise.all(exits), new Promise((resolve) => setTimeout(resolve, KILL_WAIT_MS).unref())])
  const errors: unknown[] = []
  for (const ns of state.namespaces) {
    try { await deleteNamespace(ns) } catch (err) { errors.push(err) }
  }
  live.delete(state)
  if (live.size === 0) uninstallExitHooks()
  if (errors.length > 0) throw new NatLabError('NAT lab clean-up failed', { cause: new AggregateError(errors) })
}

/** Options of {@link cleanupStaleNatLabs}. */
export interface CleanupInit {
  /**
   * Also remove labs whose process is still alive (never this process's).
   * @default false
   */
  all?: boolean
  signal?: AbortSignal
}

/**
 * Removes namespaces left by crashed lab runs: only names of the lab's own
 * form `umbra-<pid>-<id>-<role>`, and only when process `<pid>` is gone
 * (or with `all`, any but this process's). Returns the names removed.
 */
export async function cleanupStaleNatLabs (init: CleanupInit = {}): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list'], { signal: init.signal })
  const removed: string[] = []
  for (const line of stdout.split('\n')) {
    const ns = line.split(' ')[0] ?? ''
    const m = NS_PATTERN.exec(ns)
    if (m?.[1] == null) continue
    const pid = Number(m[1])
    if (pid === process.pid) continue
    if (init.all !== true && isAlive(pid)) continue
    if (await deleteNamespace(ns)) removed.push(ns)
  }
  return removed
}

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
