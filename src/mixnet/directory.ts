/**
 * The mix directory (DESIGN.md section 5, "Directory"; docs/mixnet.md): every
 * server node publishes a signed descriptor (node key, onion keys per epoch,
 * addresses, roles) and every node, server or client, keeps the set of
 * admitted, valid ones.
 *
 * Convergence (issue 3: within 30 s of a join or leave):
 * - a new, changed or withdrawn descriptor is pushed at once to every
 *   connected peer, which pushes it on only once it admitted it (a flood of
 *   rare events);
 * - every DIRECTORY_PULL_INTERVAL_MS a node pulls from up to
 *   DIRECTORY_PULL_FANOUT random connected peers (anti-entropy, which also
 *   spreads the periodic re-signing). The pull is the sync of
 *   `/umbra/mixdir/2.0.0` (issue 15): the peer lists only the entries that
 *   changed since this node's last sync with it (8-byte key prefix and seq
 *   each; nothing changed: a few dozen bytes) and this node fetches what it
 *   lacks. Refreshes of held nodes are always fetched; new nodes only within
 *   the per-peer cap. A peer without the sync is pulled the old way, in
 *   pages of DIRECTORY_PAGE_DESCRIPTORS over `/umbra/mixdir/1.0.0`, which
 *   this node still answers;
 * - a descriptor lives DESCRIPTOR_LIFETIME_MS (25 s) and is re-signed every
 *   DESCRIPTOR_REFRESH_MS (8 s) up to 1,000 listed nodes; in larger
 *   directories both grow with the directory, up to 120 s / 40 s
 *   (`descriptorTiming`); one that stops cleanly pushes a signed withdrawal.
 *
 * Admission (issue 8, item 2): a descriptor of a node this directory does not
 * hold is admitted only after this node dialled the node's PeerId at one of
 * the listed addresses (Noise authenticates the key) and it answered on the
 * directory protocol. Checks are bounded (concurrency, queue, a per-peer and
 * a per-/24 or /48 rate) and failures are cached, so a flood of fakes costs
 * little and never reaches a path. Re-signed descriptors of an admitted node
 * need no new check; it is re-checked every DIRECTORY_RECHECK_MS, when its
 * connection closes (so a crashed node leaves within about a second on the
 * nodes connected to it) and when the mixnet reports it failing
 * ({@link Directory.reportFailure}).
 *
 * Paths are drawn uniformly from this set, never from DHT neighbours.
 */
import { randomBytes } from 'node:crypto'
import { isIPv4, isIPv6 } from 'node:net'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { concat as uint8ArrayConcat } from 'uint8arrays/concat'
import { InvalidOptionError } from '../errors.ts'
import { withTimeout } from '../signals.ts'
import {
  DIRECTORY_ADMISSION_CONCURRENCY, DIRECTORY_ADMISSION_QUEUE, DIRECTORY_CHECK_TIMEOUT_MS,
  DIRECTORY_DISCONNECT_RECHECK_MIN_MS, DIRECTORY_FAILURE_WINDOW_MS, DIRECTORY_FAILURES_TO_EXCLUDE, DIRECTORY_MAX_NEW_PER_PEER, DIRECTORY_MAX_NEW_PER_SUBNET,
  DIRECTORY_MAX_PAGES, DIRECTORY_NEGATIVE_CACHE_MS, DIRECTORY_NEGATIVE_CACHE_SIZE, DIRECTORY_PAGE_DESCRIPTORS, DIRECTORY_PEER_WINDOW_MS, DIRECTORY_PROTOCOL,
  DIRECTORY_PULL_FANOUT, DIRECTORY_PULL_INTERVAL_MS, DIRECTORY_RECHECK_MS, DIRECTORY_SUBNET_WINDOW_MS, MAX_DIRECTORY_MESSAGE_BYTES, WIRE_VERSION,
  DIRECTORY_KEY_PREFIX_BYTES, DIRECTORY_MAX_NODES, DIRECTORY_SUMMARY_PAGE, DIRECTORY_SYNC_CURSORS, DIRECTORY_SYNC_PROTOCOL,
  SYNC_DESCRIPTORS, SYNC_INSTANCE_BYTES, SYNC_MAX_SUMMARY_PAGES, SYNC_SINCE, SYNC_SUMMARY, SYNC_WANT
} from './constants.ts'
import { descriptorTiming, ROLE_GATEWAY, ROLE_MIX, signDescriptor, verifyDescriptor, type VerifiedDescriptor } from './descriptor.ts'
import { DirectoryMessage, DirectorySync } from './pb/mixnet.ts'
import type { Logger } from '../logger.ts'
import type { Connection, Libp2p, PeerId, PrivateKey, Stream } from '@libp2p/interface'

/** How long one push or one pull page may take, ms. */
const EXCHANGE_TIMEOUT_MS = 5_000

/** One mix node as the directory knows it. */
export interface MixNodeInfo {
  /** PeerId, base58btc. */
  peerId: string
  /** Ed25519 transport key, 32 bytes (what Sphinx routing names). */
  nodeKey: Uint8Array
  /** Multiaddrs it announced. */
  addrs: string[]
  /** Bit flags: 1 mix, 2 gateway. */
  roles: number
  /** X25519 onion public keys by epoch number. */
  onionKeys: Map<number, Uint8Array>
  /** Descriptor expiry, ms since the Unix epoch. */
  expiresAt: number
  /** TCP port of its packet links (on the hosts of `addrs`); `undefined`: none announced, use the libp2p mix stream. */
  linkPort?: number
}

/** What a directory did with the descriptors it was offered, since it started. */
export interface DirectoryStats {
  /** Nodes admitted after a successful reachability check. */
  admitted: number
  /** Admitted nodes dropped again because a re-check failed. */
  evicted: number
  /** Nodes held now (this node's own included, withdrawn and excluded ones included). */
  held: number
  /** Held nodes excluded from paths after reported failures, waiting for a re-check. */
  excluded: number
  /** Checks running and queued now. */
  checking: number
  /** Descriptors refused, by reason (the same reasons as the mixnet's `dropped` counters, without the `directory-` prefix). */
  refused: Record<string, number>
  /** Pulls this node made over the sync protocol (`/umbra/mixdir/2.0.0`), and how many found nothing to fetch. */
  syncPulls: number
  syncUpToDate: number
  /** Bytes of those pulls, sent and received, frames with their length prefixes; and of the up-to-date ones alone. */
  syncBytes: number
  syncUpToDateBytes: number
  /** Descriptors those pulls fetched. */
  syncFetched: number
}

/** What {@link createDirectory} needs, and its limits (every limit optional). */
export interface DirectoryInit {
  libp2p: Libp2p
  privateKey: PrivateKey
  log: Logger
  /** Server nodes publish a descriptor; clients only listen. */
  publish: boolean
  /** Current onion public keys to announce (ascending epochs). */
  onionKeys(): Array<{ epoch: number, publicKey: Uint8Array }>
  /** The TCP port of this node's packet-link listener to announce, read at every signing; `undefined`: none. */
  linkPort?: () => number | undefined
  /** Counts a refused descriptor (the mixnet's `dropped` counters); the reason starts with `directory-`. */
  drop?: (reason: string) => void
  now?: () => number
  /** Reachability checks running at once. @default 8 (DIRECTORY_ADMISSION_CONCURRENCY) */
  admissionConcurrency?: number
  /** Checks waiting at most; more are dropped and counted. @default 256 (DIRECTORY_ADMISSION_QUEUE) */
  admissionQueue?: number
  /** New nodes one peer may introduce per `peerWindowMs`. @default 32 (DIRECTORY_MAX_NEW_PER_PEER) */
  maxNewPerPeer?: number
  /** @default 60_000 (DIRECTORY_PEER_WINDOW_MS) */
  peerWindowMs?: number
  /** Nodes admitted per /24 (IPv4) or /48 (IPv6) per `subnetWindowMs`. @default 32 (DIRECTORY_MAX_NEW_PER_SUBNET) */
  maxNewPerSubnet?: number
  /** @default 600_000 (DIRECTORY_SUBNET_WINDOW_MS) */
  subnetWindowMs?: number
  /**
   * Whether nodes admitted at a loopback address (127.0.0.0/8, ::1) count
   * against the subnet cap. Loopback only reaches this node's own host, so
   * local testnets of up to 64 nodes on 127.0.0.1 are exempt by default.
   * @default false
   */
  subnetCapLoopback?: boolean
  /** Descriptors per page of a pull answer, 1 to 64. @default 64 (DIRECTORY_PAGE_DESCRIPTORS) */
  pageSize?: number
  /** A failed check is remembered this long, ms. @default 60_000 (DIRECTORY_NEGATIVE_CACHE_MS) */
  negativeCacheMs?: number
  /** One reachability check gives up after this, ms. @default 5_000 (DIRECTORY_CHECK_TIMEOUT_MS) */
  checkTimeoutMs?: number
}

/** A node's view of the mix directory. */
export interface Directory {
  /** Admitted, valid, not withdrawn and not excluded descriptors (this node's own included), sorted by PeerId. */
  list(): MixNodeInfo[]
  /** The entry of one node key (32 bytes), if admitted, valid and not excluded. */
  get(nodeKey: Uint8Array): MixNodeInfo | undefined
  /**
   * Reports that a node failed this node: its dial as a first hop failed, or
   * a path probe through it was lost (issue 8, item 6). After 2 failures
   * within 1 min (DIRECTORY_FAILURES_TO_EXCLUDE, DIRECTORY_FAILURE_WINDOW_MS)
   * the node is excluded from {@link list} and {@link get} and re-checked at
   * once: it returns when the check succeeds and is dropped when it fails.
   * Unknown keys are ignored.
   * @param nodeKey - Ed25519 transport key, 32 bytes
   */
  reportFailure(nodeKey: Uint8Array): void
  /** Reports that a node worked (a dial or a probe through it succeeded): forgets its failures. */
  reportSuccess(nodeKey: Uint8Array): void
  /** Counters of admission, eviction and refusals. */
  stats(): DirectoryStats
  /** Re-signs and pushes this node's descriptor now (after an onion key change). */
  republish(): Promise<void>
  start(): Promise<void>
  /** Pushes a withdrawal (best effort, bounded) and stops every timer. */
  stop(): Promise<void>
}

interface Entry {
  info: VerifiedDescriptor
  bytes: Uint8Array
  /** Last successful reachability check, ms. */
  checkedAt: number
  /** Last re-check started because the connection closed, ms. */
  disconnectCheckAt: number
  /** Times of reported failures within the window, ms. */
  failures: number[]
  excluded: boolean
  /** This directory's change counter when the entry was stored or last changed (what a sync lists "since"). */
  version: number
}

/** One queued reachability check: a new node to admit, or an admitted one to confirm. */
interface Check {
  id: string
  info: VerifiedDescriptor
  bytes: Uint8Array
  /** The peer that introduced it (new nodes only), not flooded back to it. */
  from?: PeerId
  /** A new node must be reached at a listed address, not through a connection it opened to us. */
  admit: boolean
}

function keyId (nodeKey: Uint8Array): string {
  return uint8ArrayToString(nodeKey, 'base64')
}

function toInfo (d: VerifiedDescriptor): MixNodeInfo {
  return {
    peerId: d.peerId,
    nodeKey: d.nodeKey,
    addrs: d.addrs,
    roles: d.roles,
    onionKeys: new Map(d.onionKeys.map((k) => [k.epoch, k.key])),
    expiresAt: d.expiresAt,
    ...(d.linkPort !== undefined ? { linkPort: d.linkPort } : {})
  }
}

function sameKeys (a: VerifiedDescriptor, b: VerifiedDescriptor): boolean {
  if (a.onionKeys.length !== b.onionKeys.length || a.withdrawn !== b.withdrawn) return false
  return a.onionKeys.every((k, i) => k.epoch === b.onionKeys[i]?.epoch)
}

/** A multiaddr string without a trailing `/p2p/<id>`. */
function bare (addr: string): string {
  return addr.replace(/\/p2p\/[^/]+$/, '')
}

/**
 * The network block an address counts against: `4:a.b.c` (/24) or
 * `6:xxxx:xxxx:xxxx` (/48), or the host name for DNS addresses; `loopback`
 * for 127.0.0.0/8 and ::1. Undefined when the address names no host.
 */
export function subnetOf (addr: string): string | undefined {
  const m = /^\/(ip4|ip6|dns4|dns6|dns)\/([^/]+)/.exec(addr)
  if (m == null) return undefined
  const [, proto, host] = m as unknown as [string, string, string]
  if (proto === 'ip4' && isIPv4(host)) return host.startsWith('127.') ? 'loopback' : `4:${host.split('.').slice(0, 3).join('.')}`
  if (proto === 'ip6' && isIPv6(host)) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host)
    if (mapped != null) return subnetOf(`/ip4/${mapped[1] ?? ''}`)
    const [head = '', tail] = host.toLowerCase().split('::')
    const h = head === '' ? [] : head.split(':')
    const t = tail == null || tail === '' ? [] : tail.split(':')
    const groups = [...h, ...Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t]
    if (groups.every((g, i) => Number.parseInt(g, 16) === (i === 7 ? 1 : 0))) return 'loopback'
    return `6:${groups.slice(0, 3).map((g) => Number.parseInt(g, 16).toString(16)).join(':')}`
  }
  return `dns:${host.toLowerCase()}`
}

/** Counts events per key in a sliding window. */
class WindowCounter {
  readonly #windowMs: number
  readonly #times = new Map<string, number[]>()
  constructor (windowMs: number) { this.#windowMs = windowMs }
  count (key: string, now: number): number {
    const kept = (this.#times.get(key) ?? []).filter((t) => t > now - this.#windowMs)
    if (kept.length === 0) this.#times.delete(key)
    else this.#times.set(key, kept)
    return kept.length
  }

  add (key: string, now: number): void {
    const list = this.#times.get(key) ?? []
    list.push(now)
    this.#times.set(key, list)
    if (this.#times.size > 4 * DIRECTORY_NEGATIVE_CACHE_SIZE) for (const k of [...this.#times.keys()]) this.count(k, now)
  }
}

/** Bytes of the unsigned varint length prefix of a `length`-byte frame (also used by src/mixnet/sim/directory-scale.ts). */
export function varintLength (length: number): number {
  let bytes = 1
  while (length >= 0x80) { length = Math.floor(length / 0x80); bytes++ }
  return bytes
}

function positiveInt (name: string, value: number | undefined, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = value ?? fallback
  if (!Number.isSafeInteger(v) || v < 1 || v > max) throw new InvalidOptionError(`Directory option ${name} must be an integer from 1 to ${max}, got ${String(value)}`)
  return v
}

/**
 * Creates a node's directory; see the module comment and docs/mixnet.md,
 * "Directory".
 * @throws UMBRA_ERR_INVALID_OPTION when a limit is not a positive integer (naming it)
 */
export function createDirectory (init: DirectoryInit): Directory {
  const { libp2p, privateKey, log } = init
  const now = init.now ?? Date.now
  const concurrency = positiveInt('admissionConcurrency', init.admissionConcurrency, DIRECTORY_ADMISSION_CONCURRENCY)
  const queueMax = positiveInt('admissionQueue', init.admissionQueue, DIRECTORY_ADMISSION_QUEUE)
  const maxPerPeer = positiveInt('maxNewPerPeer', init.maxNewPerPeer, DIRECTORY_MAX_NEW_PER_PEER)
  const maxPerSubnet = positiveInt('maxNewPerSubnet', init.maxNewPerSubnet, DIRECTORY_MAX_NEW_PER_SUBNET)
  const pageSize = positiveInt('pageSize', init.pageSize, DIRECTORY_PAGE_DESCRIPTORS, DIRECTORY_PAGE_DESCRIPTORS)
  const negativeMs = positiveInt('negativeCacheMs', init.negativeCacheMs, DIRECTORY_NEGATIVE_CACHE_MS)
  const checkTimeoutMs = positiveInt('checkTimeoutMs', init.checkTimeoutMs, DIRECTORY_CHECK_TIMEOUT_MS)
  const perPeer = new WindowCounter(positiveInt('peerWindowMs', init.peerWindowMs, DIRECTORY_PEER_WINDOW_MS))
  const perSubnet = new WindowCounter(positiveInt('subnetWindowMs', init.subnetWindowMs, DIRECTORY_SUBNET_WINDOW_MS))
  const subnetCapLoopback = init.subnetCapLoopback ?? false

  const entries = new Map<string, Entry>()
  /** Failed checks: node key id → until when, and the highest seq that failed. */
  const negative = new Map<string, { until: number, seq: number }>()
  const queue: Check[] = []
  /** Checks queued or running, by node key id. */
  const queued = new Map<string, Check>()
  let inFlight = 0
  const stats = { admitted: 0, evicted: 0, refused: {} as Record<string, number>, syncPulls: 0, syncUpToDate: 0, syncBytes: 0, syncUpToDateBytes: 0, syncFetched: 0 }
  /** Change counter: every stored or changed entry takes the next value (issue 15, the sync's "since"). */
  let clock = 0
  /** This directory's instance id: pullers' cursors from an earlier start mean nothing now. */
  const instance: Uint8Array = randomBytes(SYNC_INSTANCE_BYTES)
  /** Per peer (PeerId string): the answerer instance and change counter this node synced up to. */
  const cursors = new Map<string, { instance: Uint8Array, since: number }>()
  /** Key prefix → the highest seq a running sync is fetching: concurrent syncs (3 per round) fetch each new copy once. */
  const fetching = new Map<string, number>()
  const ownKey = libp2p.peerId.publicKey?.raw ?? new Uint8Array()
  const ownId = keyId(ownKey)
  let seq = 0
  let timers: Array<ReturnType<typeof setInterval>> = []
  /** The next re-signing of this node's descriptor (publishing nodes only). */
  let resignTimer: ReturnType<typeof setTimeout> | undefined
  let running = false

  function refuse (reason: string): void {
    stats.refused[reason] = (stats.refused[reason] ?? 0) + 1
    init.drop?.(`directory-${reason}`)
  }

  function prune (): void {
    const t = now()
    for (const [id, e] of entries) if (e.info.expiresAt <= t) entries.delete(id)
    for (const [id, n] of negative) if (n.until <= t) negative.delete(id)
  }

  function remember (id: string, failedSeq: number): void {
    negative.delete(id)
    negative.set(id, { until: now() + negativeMs, seq: failedSeq })
    if (negative.size > DIRECTORY_NEGATIVE_CACHE_SIZE) negative.delete(negative.keys().next().value as string)
  }

  /** Admitted and usable for paths. */
  function usable (e: Entry | undefined): e is Entry {
    return e != null && !e.info.withdrawn && !e.excluded && e.info.expiresAt > now()
  }

  /**
   * Takes one descriptor from the network. An update of an admitted node is
   * stored at once (and flooded if it is news); a new node goes through the
   * caps into the admission queue. Returns the descriptor when it is news to
   * flood now.
   */
  async function offer (bytes: Uint8Array, from: PeerId): Promise<Uint8Array | undefined> {
    let info: VerifiedDescriptor
    try {
      info = await verifyDescriptor(bytes, now())
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'refused a mix descriptor')
      refuse('invalid')
      return undefined
    }
    const id = keyId(info.nodeKey)
    if (id === ownId) return undefined
    const held = entries.get(id)
    if (held != null) {
      if (held.info.seq >= info.seq) return undefined
      const news = !sameKeys(held.info, info)
      held.info = info
      held.bytes = bytes
      held.version = ++clock
      return news ? bytes : undefined
    }
    const waiting = queued.get(id)
    if (waiting != null) {
      // A newer signature of a node waiting for its check replaces the copy the check will admit (never capped: issue 15).
      if (waiting.admit && !info.withdrawn && waiting.info.seq < info.seq) { waiting.info = info; waiting.bytes = bytes }
      return undefined
    }
    if (info.withdrawn) return undefined
    const bad = negative.get(id)
    if (bad != null && bad.until > now() && info.seq <= bad.seq) { refuse('recently-refused'); return undefined }
    const peerKey = from.toString()
    if (perPeer.count(peerKey, now()) >= maxPerPeer) { refuse('peer-cap'); return undefined }
    perPeer.add(peerKey, now())
    enqueue({ id, info, bytes, from, admit: true })
    return undefined
  }

  function enqueue (check: Check): void {
    if (queued.has(check.id)) return
    // New nodes are bounded by the queue; re-checks of held ones are bounded by the directory itself.
    if (check.admit && queue.length >= queueMax) { refuse('queue-full'); return }
    queued.set(check.id, check)
    if (check.admit) queue.push(check)
    else queue.unshift(check) // confirming a held node comes first: it may be on paths now
    pump()
  }

  function pump (): void {
    while (running && inFlight < concurrency && queue.length > 0) {
      const check = queue.shift() as Check
      inFlight++
      void run(check).finally(() => {
        inFlight--
        queued.delete(check.id)
        pump()
      })
    }
  }

  /** The descriptor's addresses this node may dial for the check: direct ones, each ending in the node's PeerId. */
  function dialable (info: VerifiedDescriptor): Multiaddr[] {
    const out: Multiaddr[] = []
    for (const a of info.addrs) {
      if (a.includes('/p2p-circuit')) continue
      const p2p = /\/p2p\/([^/]+)$/.exec(a)
      if (p2p != null && p2p[1] !== info.peerId) continue
      try {
        out.push(multiaddr(p2p != null ? a : `${a}/p2p/${info.peerId}`))
      } catch { /* verified as a multiaddr; the suffix cannot break it */ }
    }
    return out
  }

  /**
   * The check: dial the node at its listed addresses (never through a peer
   * routing lookup: only the given addresses are dialled), which
   * authenticates its key through Noise, then a directory hello on that
   * connection. For a new node (`admit`), a connection the node opened to us
   * does not count: it must be reached at a listed address.
   * @returns the address that answered
   */
  async function reach (check: Check, signal: AbortSignal): Promise<string> {
    const addrs = dialable(check.info)
    if (addrs.length === 0) throw new Error('no directly dialable address')
    const listed = new Set(check.info.addrs.map(bare))
    let conn: Connection = await libp2p.dial(addrs, { signal })
    if (check.admit && (conn.direction !== 'outbound' || !listed.has(bare(conn.remoteAddr.toString())))) {
      conn = await libp2p.dial(addrs, { signal, force: true })
    }
    if (conn.remotePeer.toString() !== check.info.peerId) throw new Error('another key answered')
    const stream = await conn.newStream(DIRECTORY_PROTOCOL, { signal })
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_DIRECTORY_MESSAGE_BYTES })
      await lp.write(DirectoryMessage.encode({ version: WIRE_VERSION }), { signal })
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
    // A second connection opened to prove the address is left open: closing it
    // would kill any stream another service (messaging, mix links) opened on
    // it meanwhile; libp2p's connection manager trims spare connections.
    return bare(conn.remoteAddr.toString())
  }

  async function run (check: Check): Promise<void> {
    const signal = withTimeout(undefined, checkTimeoutMs)
    let addr: string
    try {
      addr = await reach(check, signal)
    } catch (err) {
      if (!running) return
      log.debug({ peer: check.info.peerId, err: (err as Error).message }, check.admit ? 'mix node unreachable at its addresses: not admitted' : 'mix node unreachable: dropped from the directory')
      remember(check.id, Math.max(check.info.seq, entries.get(check.id)?.info.seq ?? 0))
      if (check.admit) {
        refuse('unreachable')
        // Forget what the failed dial taught the peer store about a node that may not exist.
        const peer = libp2p.getConnections().find((c) => c.remotePeer.toString() === check.info.peerId)?.remotePeer
        if (peer == null) await libp2p.peerStore.delete(peerIdFromString(check.info.peerId)).catch(() => {})
      } else if (entries.delete(check.id)) stats.evicted++
      return
    }
    if (!running) return
    const t = now()
    if (!check.admit) {
      const e = entries.get(check.id)
      if (e != null) {
        // Served again after an exclusion: list it to pullers again.
        if (e.excluded) e.version = ++clock
        e.checkedAt = t; e.excluded = false; e.failures = []
      }
      return
    }
    const subnet = subnetOf(addr) ?? addr
    if (subnet !== 'loopback' || subnetCapLoopback) {
      if (perSubnet.count(subnet, t) >= maxPerSubnet) { refuse('subnet-cap'); remember(check.id, check.info.seq); return }
      perSubnet.add(subnet, t)
    }
    if (entries.has(check.id) || check.info.expiresAt <= t) return
    entries.set(check.id, { info: check.info, bytes: check.bytes, checkedAt: t, disconnectCheckAt: 0, failures: [], excluded: false, version: ++clock })
    negative.delete(check.id)
    stats.admitted++
    log.debug({ peer: check.info.peerId }, 'mix node admitted to the directory')
    flood([check.bytes], check.from)
  }

  /** Queues a re-check of a held node (not this node's own). */
  function recheck (id: string): void {
    const e = entries.get(id)
    if (e == null || id === ownId) return
    enqueue({ id, info: e.info, bytes: e.bytes, admit: false })
  }

  async function sign (withdrawn: boolean): Promise<void> {
    const t = now()
    seq = Math.max(seq + 1, t)
    const bytes = await signDescriptor(privateKey, {
      seq,
      issuedAt: t,
      expiresAt: t + descriptorTiming(entries.size).lifetimeMs,
      addrs: libp2p.getMultiaddrs().map((ma) => ma.toString()).filter((a) => !a.includes('/p2p-circuit')).map(bare),
      roles: ROLE_MIX | ROLE_GATEWAY,
      onionKeys: init.onionKeys().map((k) => ({ epoch: k.epoch, key: k.publicKey })),
      withdrawn,
      linkPort: init.linkPort?.()
    })
    const info = await verifyDescriptor(bytes, t)
    entries.set(ownId, { info, bytes, checkedAt: t, disconnectCheckAt: 0, failures: [], excluded: false, version: ++clock })
  }

  function peers (): PeerId[] {
    const seen = new Map<string, PeerId>()
    for (const c of libp2p.getConnections()) if (c.status === 'open') seen.set(c.remotePeer.toString(), c.remotePeer)
    return [...seen.values()]
  }

  /** Admitted, not excluded entries in cursor order (what is flooded and served). */
  function served (): Array<[string, Entry]> {
    prune()
    return [...entries].filter(([, e]) => !e.excluded).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
  }

  /** One answer page: the served entries after `after` (a node key), and the cursor of the next page. */
  function page (after: Uint8Array): { descriptors: Uint8Array[], next: Uint8Array } {
    const all = served()
    const cursor = after.byteLength > 0 ? keyId(after) : undefined
    const rest = cursor == null ? all : all.filter(([id]) => id > cursor)
    const chunk = rest.slice(0, pageSize)
    const last = chunk.at(-1)
    return {
      descriptors: chunk.map(([, e]) => e.bytes),
      next: rest.length > chunk.length && last != null ? uint8ArrayFromString(last[0], 'base64') : new Uint8Array(0)
    }
  }

  function decode (bytes: Uint8Array): DirectoryMessage {
    const msg = DirectoryMessage.decode(bytes, { limits: { descriptors: DIRECTORY_PAGE_DESCRIPTORS } })
    if (msg.version !== WIRE_VERSION) throw new Error(`directory version ${msg.version}`)
    return msg
  }

  async function offerAll (descriptors: Uint8Array[], from: PeerId): Promise<void> {
    const news: Uint8Array[] = []
    for (const d of descriptors) {
      const n = await offer(d, from)
      if (n != null) news.push(n)
    }
    if (news.length > 0) flood(news, from)
  }

  /** Ends a failed exchange or sync: aborts the stream and counts an oversized frame. */
  function failed (stream: Stream | undefined, err: Error, what: string): void {
    stream?.abort(err)
    if (/too long|too many|overflow/i.test(err.message)) refuse('oversized')
    log.trace({ err: err.message }, what)
  }

  /** One exchange over `/umbra/mixdir/1.0.0`: send `descriptors` (a push); the pull of an older peer is {@link pull}. */
  async function exchange (peer: PeerId, descriptors: Uint8Array[], pull: boolean): Promise<void> {
    let stream: Stream | undefined
    try {
      stream = await libp2p.dialProtocol(peer, DIRECTORY_PROTOCOL, { signal: withTimeout(undefined, EXCHANGE_TIMEOUT_MS) })
      await exchangeOn(peer, stream, descriptors, pull)
    } catch (err) {
      failed(stream, err as Error, 'directory exchange failed')
    }
  }

  /**
   * The `/umbra/mixdir/1.0.0` exchange on an open stream: send `descriptors`;
   * if `pull`, read the peer's directory back page by page (at most 64 pages;
   * an older peer's pull stops once the peer reached its cap of new nodes,
   * since every page costs one verification per descriptor).
   */
  async function exchangeOn (peer: PeerId, stream: Stream, descriptors: Uint8Array[], pull: boolean): Promise<void> {
    const signal = withTimeout(undefined, EXCHANGE_TIMEOUT_MS)
    const lp = lpStream(stream, { maxDataLength: MAX_DIRECTORY_MESSAGE_BYTES })
    await lp.write(DirectoryMessage.encode({ version: WIRE_VERSION, descriptors: descriptors as Array<Uint8Array<ArrayBuffer>>, pull }), { signal })
    for (let pages = 0; pull && pages < DIRECTORY_MAX_PAGES; pages++) {
      const pageSignal = withTimeout(undefined, EXCHANGE_TIMEOUT_MS)
      const answer = decode((await lp.read({ signal: pageSignal })).subarray())
      await offerAll(answer.descriptors, peer)
      if (answer.next.byteLength === 0 || perPeer.count(peer.toString(), now()) >= maxPerPeer) break
      await lp.write(DirectoryMessage.encode({ version: WIRE_VERSION, pull: true, after: answer.next }), { signal: pageSignal })
    }
    await stream.close({ signal: withTimeout(undefined, EXCHANGE_TIMEOUT_MS) }).catch(() => {})
  }

  /**
   * Pulls from one peer: the sync (`/umbra/mixdir/2.0.0`, {@link syncOn})
   * when the peer speaks it, else the paged pull of `/umbra/mixdir/1.0.0`.
   */
  async function pull (peer: PeerId): Promise<void> {
    let stream: Stream | undefined
    try {
      stream = await libp2p.dialProtocol(peer, [DIRECTORY_SYNC_PROTOCOL, DIRECTORY_PROTOCOL], { signal: withTimeout(undefined, EXCHANGE_TIMEOUT_MS) })
      if (stream.protocol === DIRECTORY_SYNC_PROTOCOL) await syncOn(peer, stream)
      else await exchangeOn(peer, stream, [], true)
    } catch (err) {
      failed(stream, err as Error, 'directory pull failed')
    }
  }

  /** Hex of a node key's first DIRECTORY_KEY_PREFIX_BYTES (how sync frames name nodes). */
  function prefixOf (key: Uint8Array): string {
    return uint8ArrayToString(key.subarray(0, DIRECTORY_KEY_PREFIX_BYTES), 'base16')
  }

  /** The 8-byte prefixes of a `keys` field. @throws Error when its length is not a multiple of 8 or names more than `max` keys */
  function prefixes (keys: Uint8Array, max: number): Uint8Array[] {
    if (keys.byteLength % DIRECTORY_KEY_PREFIX_BYTES !== 0 || keys.byteLength / DIRECTORY_KEY_PREFIX_BYTES > max) throw new Error(`directory sync: ${keys.byteLength} key bytes`)
    const out: Uint8Array[] = []
    for (let i = 0; i < keys.byteLength; i += DIRECTORY_KEY_PREFIX_BYTES) out.push(keys.subarray(i, i + DIRECTORY_KEY_PREFIX_BYTES))
    return out
  }

  /**
   * Decodes one sync frame and checks its version and type (one of
   * `expect`); `limits` caps its repeated fields (a puller's frames carry
   * none: the answerer decodes them with zero).
   */
  function decodeSync (bytes: Uint8Array, expect: readonly number[], limits = { descriptors: DIRECTORY_PAGE_DESCRIPTORS, seqs: DIRECTORY_SUMMARY_PAGE }): DirectorySync {
    const msg = DirectorySync.decode(bytes, { limits })
    if (msg.version !== WIRE_VERSION) throw new Error(`directory sync version ${msg.version}`)
    if (!expect.includes(msg.type)) throw new Error(`directory sync frame type ${msg.type}, expected ${expect.join(' or ')}`)
    return msg
  }

  /** Writes one sync frame; returns its bytes on the wire (length prefix included). */
  async function writeSync (lp: ReturnType<typeof lpStream>, frame: Partial<DirectorySync>, signal: AbortSignal): Promise<number> {
    const body = DirectorySync.encode({ version: WIRE_VERSION, ...frame })
    await lp.write(body, { signal })
    return body.byteLength + varintLength(body.byteLength)
  }

  /**
   * Serves one sync stream (issue 15): answers SINCE with the summaries
   * (8-byte key prefix, seq) of the served entries changed after the
   * puller's counter, oldest change first, 1,024 per frame; answers WANT
   * with those descriptors, at most `pageSize` per frame. Ends when the
   * puller closes, after a frame of another type, or after as many frames as
   * a directory of DIRECTORY_MAX_NODES needs.
   */
  async function handleSync (stream: Stream): Promise<void> {
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_DIRECTORY_MESSAGE_BYTES })
      const maxFrames = 2 * (SYNC_MAX_SUMMARY_PAGES + DIRECTORY_MAX_NODES)
      let byPrefix: Map<string, Entry> | undefined
      for (let frames = 0; frames < maxFrames; frames++) {
        let raw
        try {
          raw = await lp.read({ signal: withTimeout(undefined, EXCHANGE_TIMEOUT_MS) })
        } catch {
          break // the puller closed its side: done
        }
        const signal = withTimeout(undefined, EXCHANGE_TIMEOUT_MS)
        const msg = decodeSync(raw.subarray(), [SYNC_SINCE, SYNC_WANT], { descriptors: 0, seqs: 0 })
        if (msg.type === SYNC_SINCE) {
          const since = uint8ArrayEquals(msg.instance, instance) ? Number(msg.since) : 0
          const changed = served().map(([, e]) => e).filter((e) => e.version > since).sort((a, b) => a.version - b.version)
          const chunk = changed.slice(0, DIRECTORY_SUMMARY_PAGE)
          const more = changed.length > chunk.length
          await writeSync(lp, {
            type: SYNC_SUMMARY,
            instance: instance as Uint8Array<ArrayBuffer>,
            upto: BigInt(more ? (chunk.at(-1) as Entry).version : clock),
            more,
            keys: uint8ArrayConcat(chunk.map((e) => e.info.nodeKey.subarray(0, DIRECTORY_KEY_PREFIX_BYTES))) as Uint8Array<ArrayBuffer>,
            seqs: chunk.map((e) => BigInt(e.info.seq))
          }, signal)
        } else { // SYNC_WANT
          byPrefix ??= new Map(served().map(([, e]) => [prefixOf(e.info.nodeKey), e]))
          const want = prefixes(msg.keys, DIRECTORY_PAGE_DESCRIPTORS)
          const descriptors = want.map((k) => byPrefix?.get(prefixOf(k))?.bytes).filter((b) => b != null)
          await writeSync(lp, { type: SYNC_DESCRIPTORS, descriptors: descriptors as Array<Uint8Array<ArrayBuffer>> }, signal)
        }
      }
      await stream.close({ signal: withTimeout(undefined, EXCHANGE_TIMEOUT_MS) }).catch(() => {})
    } catch (err) {
      failed(stream, err as Error, 'refused a directory sync')
    }
  }

  /**
   * The puller's side of a sync (issue 15; docs/mixnet.md, "Directory
   * sync"). Sends the cursor it holds for this peer; for each summary frame
   * it asks for the descriptors it lacks: every newer seq of a held node (a
   * refresh: never capped, never ends the sync) and new nodes while the
   * peer's cap of new nodes and the admission queue have room. Every
   * descriptor received goes through {@link offer} (signature, caps,
   * admission check) as a pushed one does. When a new node had to be left
   * out for the cap, the cursor stays before that summary frame, so the next
   * sync with this peer lists it again.
   */
  async function syncOn (peer: PeerId, stream: Stream): Promise<void> {
    const key = peer.toString()
    const lp = lpStream(stream, { maxDataLength: MAX_DIRECTORY_MESSAGE_BYTES })
    const held = new Map([...entries].map(([id, e]) => [prefixOf(e.info.nodeKey), id]))
    const waiting = new Map([...queued.values()].map((c) => [prefixOf(c.info.nodeKey), c]))
    const refusedBefore = new Map([...negative].map(([id, n]) => [prefixOf(uint8ArrayFromString(id, 'base64')), n]))
    let budget = Math.min(maxPerPeer - perPeer.count(key, now()), queueMax - queue.length)
    let cursor = cursors.get(key) ?? { instance: new Uint8Array(0), since: 0 }
    let keep: typeof cursor | undefined
    let bytes = 0
    let fetched = 0
    const claimed = new Map<string, number>()
    /** Wants `k` at `seq` unless another sync is fetching that copy or a newer one already. */
    const claim = (k: Uint8Array, p: string, seq: number, want: Uint8Array[]): boolean => {
      if ((fetching.get(p) ?? -1) >= seq) return false
      fetching.set(p, seq)
      claimed.set(p, seq)
      want.push(k)
      return true
    }
    try {
      for (let pages = 0; pages < SYNC_MAX_SUMMARY_PAGES; pages++) {
        const signal = withTimeout(undefined, EXCHANGE_TIMEOUT_MS)
        bytes += await writeSync(lp, { type: SYNC_SINCE, instance: cursor.instance as Uint8Array<ArrayBuffer>, since: BigInt(cursor.since) }, signal)
        const raw = (await lp.read({ signal })).subarray()
        bytes += raw.byteLength + varintLength(raw.byteLength)
        const summary = decodeSync(raw, [SYNC_SUMMARY])
        const keys = prefixes(summary.keys, DIRECTORY_SUMMARY_PAGE)
        if (keys.length !== summary.seqs.length || summary.instance.byteLength !== SYNC_INSTANCE_BYTES) throw new Error('directory sync: malformed summary')
        const pageStart = uint8ArrayEquals(summary.instance, cursor.instance) ? cursor : { instance: summary.instance, since: 0 }
        const want: Uint8Array[] = []
        keys.forEach((k, i) => {
          const p = prefixOf(k)
          const seqOffered = Number(summary.seqs[i])
          const id = held.get(p)
          if (id === ownId) return
          if (id != null) {
            if ((entries.get(id)?.info.seq ?? Infinity) < seqOffered) claim(k, p, seqOffered, want)
            return
          }
          const check = waiting.get(p)
        // A node waiting for its check: a newer copy is a refresh (it replaces the queued copy, uncapped).
        if (check != null) { if (check.info.seq < seqOffered) claim(k, p, seqOffered, want); return }
        if ((fetching.get(p) ?? -1) >= seqOffered) return
          const bad = refusedBefore.get(p)
          if (bad != null && bad.until > now() && seqOffered <= bad.seq) return
          if (budget <= 0) { keep ??= pageStart; return }
          if (claim(k, p, seqOffered, want)) budget--
        })
        for (let i = 0; i < want.length; i += pageSize) {
          const chunk = want.slice(i, i + pageSize)
          bytes += await writeSync(lp, { type: SYNC_WANT, keys: uint8ArrayConcat(chunk) as Uint8Array<ArrayBuffer> }, signal)
          const answer = (await lp.read({ signal })).subarray()
          bytes += answer.byteLength + varintLength(answer.byteLength)
          const got = decodeSync(answer, [SYNC_DESCRIPTORS]).descriptors
          if (got.length > chunk.length) throw new Error('directory sync: more descriptors than asked for')
          fetched += got.length
          await offerAll(got, peer)
        }
        cursor = { instance: summary.instance, since: Number(summary.upto) }
        if (!summary.more) break
      }
    } finally {
      for (const [p, seq] of claimed) if (fetching.get(p) === seq) fetching.delete(p)
    }
    await stream.close({ signal: withTimeout(undefined, EXCHANGE_TIMEOUT_MS) }).catch(() => {})
    cursors.delete(key)
    cursors.set(key, keep ?? cursor)
    if (cursors.size > DIRECTORY_SYNC_CURSORS) cursors.delete(cursors.keys().next().value as string)
    stats.syncPulls++
    stats.syncBytes += bytes
    stats.syncFetched += fetched
    if (fetched === 0) { stats.syncUpToDate++; stats.syncUpToDateBytes += bytes }
  }

  function flood (descriptors: Uint8Array[], except?: PeerId): void {
    for (let i = 0; i < descriptors.length; i += DIRECTORY_PAGE_DESCRIPTORS) {
      const chunk = descriptors.slice(i, i + DIRECTORY_PAGE_DESCRIPTORS)
      for (const p of peers()) {
        if (except?.equals(p) === true) continue
        void exchange(p, chunk, false)
      }
    }
  }

  async function handle (stream: Stream, connection: Connection): Promise<void> {
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_DIRECTORY_MESSAGE_BYTES })
      let msg = decode((await lp.read({ signal: withTimeout(undefined, EXCHANGE_TIMEOUT_MS) })).subarray())
      await offerAll(msg.descriptors, connection.remotePeer)
      for (let pages = 0; msg.pull && pages < DIRECTORY_MAX_PAGES; pages++) {
        const signal = withTimeout(undefined, EXCHANGE_TIMEOUT_MS)
        const answer = page(msg.after)
        await lp.write(DirectoryMessage.encode({ version: WIRE_VERSION, descriptors: answer.descriptors as Array<Uint8Array<ArrayBuffer>>, next: answer.next as Uint8Array<ArrayBuffer> }), { signal })
        if (answer.next.byteLength === 0) break
        // The puller asks for the next page, or closes its side when it has enough.
        let raw
        try {
          raw = await lp.read({ signal })
        } catch {
          break
        }
        msg = decode(raw.subarray())
      }
      await stream.close({ signal: withTimeout(undefined, EXCHANGE_TIMEOUT_MS) }).catch(() => {})
    } catch (err) {
      stream.abort(err as Error)
      if (/too long|too many|overflow/i.test((err as Error).message)) refuse('oversized')
      log.debug({ err: (err as Error).message }, 'refused a directory exchange')
    }
  }

  async function pullRound (): Promise<void> {
    prune()
    const t = now()
    for (const [id, e] of entries) if (id !== ownId && t - e.checkedAt >= DIRECTORY_RECHECK_MS) recheck(id)
    const all = peers()
    for (let i = all.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1))
      const x = all[i] as PeerId
      all[i] = all[j] as PeerId
      all[j] = x
    }
    await Promise.allSettled(all.slice(0, DIRECTORY_PULL_FANOUT).map(async (p) => { await pull(p) }))
  }

  function onConnect (evt: CustomEvent<PeerId>): void {
    if (!running) return
    const own = entries.get(ownId)
    if (init.publish && own != null) void exchange(evt.detail, [own.bytes], false)
    void pull(evt.detail)
  }

  /** A directory node's last connection closed: re-check it now, so a crashed node leaves within a dial (at most once per 10 s per node). */
  function onDisconnect (evt: CustomEvent<PeerId>): void {
    if (!running) return
    const peer = evt.detail.toString()
    const t = now()
    for (const [id, e] of entries) {
      if (e.info.peerId !== peer || id === ownId || e.info.withdrawn) continue
      if (t - e.disconnectCheckAt < DIRECTORY_DISCONNECT_RECHECK_MIN_MS) continue
      e.disconnectCheckAt = t
      recheck(id)
    }
  }

  return {
    list () {
      prune()
      return [...entries.values()]
        .filter(usable)
        .map((e) => toInfo(e.info))
        .sort((a, b) => a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0)
    },

    get (nodeKey) {
      const e = entries.get(keyId(nodeKey))
      return usable(e) ? toInfo(e.info) : undefined
    },

    reportFailure (nodeKey) {
      const id = keyId(nodeKey)
      const e = entries.get(id)
      if (e == null || id === ownId) return
      const t = now()
      e.failures = [...e.failures.filter((f) => f > t - DIRECTORY_FAILURE_WINDOW_MS), t]
      if (e.failures.length >= DIRECTORY_FAILURES_TO_EXCLUDE && !e.excluded) {
        e.excluded = true
        log.debug({ peer: e.info.peerId }, 'mix node excluded from paths after reported failures; re-checking')
        recheck(id)
      }
    },

    reportSuccess (nodeKey) {
      const e = entries.get(keyId(nodeKey))
      if (e != null) e.failures = []
    },

    stats () {
      const all = [...entries.values()]
      return {
        admitted: stats.admitted,
        evicted: stats.evicted,
        held: all.length,
        excluded: all.filter((e) => e.excluded).length,
        checking: inFlight + queue.length,
        refused: { ...stats.refused },
        syncPulls: stats.syncPulls,
        syncUpToDate: stats.syncUpToDate,
        syncBytes: stats.syncBytes,
        syncUpToDateBytes: stats.syncUpToDateBytes,
        syncFetched: stats.syncFetched
      }
    },

    async republish () {
      if (!init.publish || !running) return
      await sign(false)
      const own = entries.get(ownId)
      if (own != null) flood([own.bytes])
    },

    async start () {
      if (running) return
      running = true
      await libp2p.handle(DIRECTORY_PROTOCOL, handle, { maxInboundStreams: 64, maxOutboundStreams: 64 })
      await libp2p.handle(DIRECTORY_SYNC_PROTOCOL, handleSync, { maxInboundStreams: 64, maxOutboundStreams: 64 })
      libp2p.addEventListener('peer:connect', onConnect)
      libp2p.addEventListener('peer:disconnect', onDisconnect)
      if (init.publish) {
        await sign(false)
        const own = entries.get(ownId)
        if (own != null) flood([own.bytes])
        // Re-signs on a timer re-armed each time: the interval follows the directory's size (descriptorTiming).
        const resign = (): void => {
          if (!running) return
          void sign(false).catch((err) => log.warn({ err: err.message }, 'could not re-sign the mix descriptor'))
          resignTimer = setTimeout(resign, descriptorTiming(entries.size).refreshMs).unref()
        }
        resignTimer = setTimeout(resign, descriptorTiming(entries.size).refreshMs).unref()
      }
      await pullRound()
      timers.push(setInterval(() => { void pullRound() }, DIRECTORY_PULL_INTERVAL_MS))
      for (const t of timers) t.unref()
    },

    async stop () {
      if (!running) return
      running = false
      for (const t of timers) clearInterval(t)
      timers = []
      clearTimeout(resignTimer)
      resignTimer = undefined
      libp2p.removeEventListener('peer:connect', onConnect)
      libp2p.removeEventListener('peer:disconnect', onDisconnect)
      queue.length = 0
      queued.clear()
      if (init.publish) {
        try {
          await sign(true)
          const own = entries.get(ownId)
          if (own != null) {
            await Promise.race([
              Promise.allSettled(peers().map(async (p) => { await exchange(p, [own.bytes], false) })),
              new Promise((resolve) => setTimeout(resolve, 1000).unref())
            ])
          }
        } catch (err) {
          log.debug({ err: (err as Error).message }, 'could not push the withdrawal')
        }
      }
      await libp2p.unhandle(DIRECTORY_PROTOCOL).catch(() => {})
      await libp2p.unhandle(DIRECTORY_SYNC_PROTOCOL).catch(() => {})
      cursors.clear()
      entries.clear()
      negative.clear()
    }
  }
}
