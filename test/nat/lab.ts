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
 *  (and .11: secondServerAddr)
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
 * Needs root, iproute2 (`ip`) and iptables; {@link NatLab.udpFlows} needs
 * `conntrack`, a `upnp` router `miniupnpd` (Debian's nftables backend) and
 * `nft`. {@link natLabSkipReason} tells when they are missing.
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
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * How a router maps LAN sources to its WAN address: `upnp` is `cone` plus a
 * real UPnP IGD / NAT-PMP daemon (Debian's miniupnpd, nftables backend)
 * listening on the LAN (issue 17 item 4).
 */
export type NatKind = 'cone' | 'random' | 'upnp'

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
  /**
   * First three octets of the public segment (a /24): the server is `.10`,
   * the routers' WAN `.1` and `.2`. The default is TEST-NET-3, which
   * libp2p (and its UPnP client, which then refuses to map: "double NAT")
   * counts as a private range; a UPnP lab needs a prefix it counts as public.
   * The lab has no route out of it either way.
   * @default '203.0.113'
   */
  publicNet?: string
  /**
   * Give the server a second address on the public segment, `.11` (issue
   * 17 item 1: a server with two addresses answers STUN on both, so a client
   * can compare mapped ports seen from two IPs as well as two ports).
   * @default false
   */
  secondServerAddr?: boolean
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
  /** Every address of the server: `server.addr`, then 203.0.113.11 with {@link NatLabInit.secondServerAddr}. */
  readonly serverAddrs: readonly string[]
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
  /**
   * The port mappings the UPnP daemon of a `upnp` router installed now: one
   * line of its nftables DNAT chain each (`nft list chain inet miniupnpd
   * prerouting_miniupnpd`). Empty for other routers.
   */
  upnpMappings: (router: Router, opts?: { signal?: AbortSignal }) => Promise<string[]>
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
/** Destinations a lab packet may have besides its public segment: both LANs, loopback. */
const LAB_PREFIXES = ['192.168.1.0/24', '192.168.2.0/24', '127.0.0.0/8'] as const
const DEFAULT_PUBLIC_NET = '203.0.113'
const PUBLIC_NET_PATTERN = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/
/** The nftables table (inet) and chains the lab's miniupnpd writes to (its config names them). */
const UPNP_TABLE = 'miniupnpd'
const UPNP_NAT_CHAIN = 'prerouting_miniupnpd'
/** How long a lab router's miniupnpd may take to listen, ms. */
const UPNP_START_MS = 5_000
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
  /** Temporary directories (a UPnP daemon's config and lease file), removed with the lab. */
  tmpDirs: string[]
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

/** Optional tools a lab test may need, with the Debian package that has them. */
const OPTIONAL_TOOLS = { conntrack: 'conntrack', miniupnpd: 'miniupnpd-nftables', nft: 'nftables' } as const

/**
 * Why the lab cannot run here, or undefined when it can.
 * @param tools - optional tools this test also needs: `conntrack` ({@link NatLab.udpFlows}), `miniupnpd` and `nft` (a `upnp` router)
 */
export async function natLabSkipReason (tools: ReadonlyArray<keyof typeof OPTIONAL_TOOLS> = []): Promise<string | undefined> {
  if (process.platform !== 'linux') return 'the NAT lab needs Linux network namespaces'
  if (process.getuid?.() !== 0) return 'the NAT lab needs root (ip netns, iptables)'
  const checks: Array<[string, string[], string]> = [['ip', ['-V'], 'iproute2'], ['iptables', ['-V'], 'iptables'], ['iptables-restore', ['-V'], 'iptables'], ...tools.map((t): [string, string[], string] => [t, ['--version'], OPTIONAL_TOOLS[t]])]
  for (const [cmd, args, pkg] of checks) {
    try {
      await run(cmd, args)
    } catch {
      return `the NAT lab needs \`${cmd}\` (Debian: ${pkg})`
    }
  }
  return undefined
}

/** The `raw` table of every host namespace: count and drop packets for destinations outside the lab. */
function leakRules (publicPrefix: string): string {
  return [
    '*raw',
    ':PREROUTING ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':UMBRA_LEAK - [0:0]',
    '-A PREROUTING -j UMBRA_LEAK',
    '-A OUTPUT -j UMBRA_LEAK',
    ...[publicPrefix, ...LAB_PREFIXES].map((p) => `-A UMBRA_LEAK -d ${p} -j RETURN`),
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
    // A UPnP router forwards what its daemon's DNAT rules let in (only those rewrite a WAN packet's destination).
    ...(nat === 'upnp' ? ['-A FORWARD -i wan -o lan -m conntrack --ctstate DNAT -j ACCEPT'] : []),
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

/**
 * The nftables structure a miniupnpd (nftables backend) writes its rules to,
 * as Debian's `nft_init.sh` makes it but with an accepting forward policy:
 * the router's own iptables FORWARD chain (policy DROP) stays the firewall
 * and accepts what the daemon's DNAT let in (`--ctstate DNAT`).
 */
function upnpTables (): string {
  return [
    `table inet ${UPNP_TABLE} {`,
    '  chain forward { type filter hook forward priority 0; policy accept; jump miniupnpd; }',
    '  chain miniupnpd { }',
    `  chain prerouting { type nat hook prerouting priority -100; policy accept; jump ${UPNP_NAT_CHAIN}; }`,
    '  chain postrouting { type nat hook postrouting priority 100; policy accept; jump postrouting_miniupnpd; }',
    `  chain ${UPNP_NAT_CHAIN} { }`,
    '  chain postrouting_miniupnpd { }',
    '}',
    ''
  ].join('\n')
}

/** miniupnpd's config for `router`: UPnP IGD and NAT-PMP on the LAN only, mappings only for a LAN host's own address (secure mode). */
function upnpConfig (router: Router, dir: string): string {
  return [
    'ext_ifname=wan',
    'listening_ip=lan',
    'http_port=5555',
    'enable_natpmp=yes',
    'enable_upnp=yes',
    'secure_mode=yes',
    'system_uptime=yes',
    'notify_interval=60',
    'clean_ruleset_interval=600',
    'uuid=3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b',
    `lease_file=${join(dir, 'leases')}`,
    `upnp_table_name=${UPNP_TABLE}`,
    `upnp_nat_table_name=${UPNP_TABLE}`,
    'upnp_forward_chain=miniupnpd',
    `upnp_nat_chain=${UPNP_NAT_CHAIN}`,
    'upnp_nat_postrouting_chain=postrouting_miniupnpd',
    `allow 1024-65535 ${router.lanPrefix} 1024-65535`,
    'deny 0-65535 0.0.0.0/0 0-65535',
    ''
  ].join('\n')
}

/** Sets up a `upnp` router's nftables chains and starts its miniupnpd (killed with the lab); resolves once it listens. */
async function startUpnpDaemon (state: LabState, router: Router, signal?: AbortSignal): Promise<void> {
  await run('ip', ['netns', 'exec', router.ns, 'nft', '-f', '-'], { signal, input: upnpTables() })
  const dir = mkdtempSync(join(tmpdir(), 'umbra-lab-upnp-'))
  state.tmpDirs.push(dir)
  const conf = join(dir, 'miniupnpd.conf')
  writeFileSync(conf, upnpConfig(router, dir))
  const child = spawnChild('ip', ['netns', 'exec', router.ns, 'miniupnpd', '-f', conf, '-d', '-P', join(dir, 'pid')], { stdio: ['ignore', 'pipe', 'pipe'] })
  state.children.add(child)
  child.once('exit', () => { state.children.delete(child) })
  let log = ''
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new NatLabError(`miniupnpd in ${router.ns} did not listen within ${UPNP_START_MS} ms: ${log.slice(-1000)}`)) }, UPNP_START_MS)
    const onData = (d: Buffer): void => {
      log += d.toString()
      if (/HTTP listening on port/.test(log)) { clearTimeout(timer); resolve() }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('error', (err) => { clearTimeout(timer); reject(new NatLabError(`miniupnpd could not start: ${err.message}`, { cause: err })) })
    child.once('exit', (code) => { clearTimeout(timer); reject(new NatLabError(`miniupnpd in ${router.ns} exited ${String(code)}: ${log.slice(-1000)}`)) })
  })
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

function validate (init: NatLabInit): { natA: NatKind, natB: NatKind, id: string, publicNet: string, secondServerAddr: boolean } {
  const natA = init.natA ?? 'cone'
  const natB = init.natB ?? 'cone'
  for (const [field, value] of [['natA', natA], ['natB', natB]] as const) {
    if (value !== 'cone' && value !== 'random' && value !== 'upnp') throw new NatLabError(`${field} must be 'cone', 'random' or 'upnp', got ${JSON.stringify(value)}`)
  }
  const id = init.id ?? String(nextId++)
  if (!ID_PATTERN.test(id)) throw new NatLabError(`id must match ${ID_PATTERN.source} (it is part of namespace names), got ${JSON.stringify(id)}`)
  if (live.size >= MAX_LIVE_LABS) throw new NatLabError(`at most ${MAX_LIVE_LABS} NAT labs may be alive at once; destroy() one first`)
  const publicNet = init.publicNet ?? DEFAULT_PUBLIC_NET
  const octets = PUBLIC_NET_PATTERN.exec(publicNet)
  if (octets == null || octets.slice(1).some((o) => Number(o) > 255) || publicNet.startsWith('192.168.')) {
    throw new NatLabError(`publicNet must be three octets such as '203.0.113' (not in 192.168/16, the lab's LANs), got ${JSON.stringify(publicNet)}`)
  }
  if (init.secondServerAddr != null && typeof init.secondServerAddr !== 'boolean') throw new NatLabError(`secondServerAddr must be a boolean, got ${JSON.stringify(init.secondServerAddr)}`)
  return { natA, natB, id, publicNet, secondServerAddr: init.secondServerAddr ?? false }
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
  removeTmpDirs(state)
  if (live.size === 0) uninstallExitHooks()
}

function removeTmpDirs (state: LabState): void {
  for (const dir of state.tmpDirs.splice(0)) rmSync(dir, { recursive: true, force: true })
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
  const { natA, natB, id, publicNet, secondServerAddr } = validate(init)
  const { signal } = init
  signal?.throwIfAborted()
  const prefix = `umbra-${process.pid}-${id}-`
  const name = (role: string): string => prefix + role
  const pub = name('pub')
  const server: Host = { ns: name('srv'), addr: `${publicNet}.10` }
  const serverAddrs = secondServerAddr ? [server.addr, `${publicNet}.11`] : [server.addr]
  const routerA: Router = { ns: name('ra'), addr: `${publicNet}.1`, lanAddr: '192.168.1.1', lanPrefix: '192.168.1.0/24', nat: natA }
  const routerB: Router = { ns: name('rb'), addr: `${publicNet}.2`, lanAddr: '192.168.2.1', lanPrefix: '192.168.2.0/24', nat: natB }
  const clientA: Host = { ns: name('ca'), addr: '192.168.1.10' }
  const clientB: Host = { ns: name('cb'), addr: '192.168.2.10' }
  const hosts = [server, routerA, routerB, clientA, clientB]
  const state: LabState = { namespaces: [pub, ...hosts.map((h) => h.ns)], children: new Set(), destroyed: false, tmpDirs: [] }

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
    for (const extra of serverAddrs.slice(1)) await ip('-n', server.ns, 'addr', 'add', `${extra}/24`, 'dev', 'eth0')
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
    for (const host of hosts) await inNs(host.ns, 'iptables-restore', ['--noflush'], leakRules(`${publicNet}.0/24`))
    for (const router of [routerA, routerB]) {
      if (router.nat === 'upnp') await startUpnpDaemon(state, router, signal)
    }
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
    serverAddrs,
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
    async upnpMappings (router, opts = {}) {
      if (router.nat !== 'upnp') return []
      const { stdout } = await run('ip', ['netns', 'exec', router.ns, 'nft', 'list', 'chain', 'inet', UPNP_TABLE, UPNP_NAT_CHAIN], opts)
      return stdout.split('\n').map((l) => l.trim()).filter((l) => l.includes('dnat'))
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
  removeTmpDirs(state)
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
