/**
 * The mix directory (DESIGN.md section 5, "Directory"): every server node
 * publishes a signed descriptor (node key, onion keys per epoch, addresses,
 * roles) and every node, server or client, keeps the set of valid ones.
 *
 * Convergence (issue 3: within 30 s of a join or leave):
 * - a new, changed or withdrawn descriptor is pushed at once to every
 *   connected peer, which pushes it on only if it was news to it (a flood
 *   of rare events);
 * - every DIRECTORY_PULL_INTERVAL_MS a node pulls the whole directory from
 *   up to DIRECTORY_PULL_FANOUT random connected peers (anti-entropy, which
 *   also spreads the periodic re-signing);
 * - a descriptor lives DESCRIPTOR_LIFETIME_MS (25 s) and is re-signed every
 *   DESCRIPTOR_REFRESH_MS (8 s), so a node that crashes leaves every
 *   directory within 25 s; one that stops cleanly pushes a signed withdrawal.
 *
 * Paths are drawn uniformly from this set, never from DHT neighbours.
 */
import { lpStream } from '@libp2p/utils'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { withTimeout } from '../signals.ts'
import { DESCRIPTOR_LIFETIME_MS, DESCRIPTOR_REFRESH_MS, DIRECTORY_PROTOCOL, DIRECTORY_PULL_FANOUT, DIRECTORY_PULL_INTERVAL_MS, MAX_DIRECTORY_BYTES, WIRE_VERSION } from './constants.ts'
import { ROLE_GATEWAY, ROLE_MIX, signDescriptor, verifyDescriptor, type VerifiedDescriptor } from './descriptor.ts'
import { DirectoryMessage } from './pb/mixnet.ts'
import type { Logger } from '../logger.ts'
import type { Connection, Libp2p, PeerId, PrivateKey, Stream } from '@libp2p/interface'

/** How long one directory exchange may take, ms. */
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
}

interface Entry {
  info: VerifiedDescriptor
  bytes: Uint8Array
}

/** What {@link createDirectory} needs. */
export interface DirectoryInit {
  libp2p: Libp2p
  privateKey: PrivateKey
  log: Logger
  /** Server nodes publish a descriptor; clients only listen. */
  publish: boolean
  /** Current onion public keys to announce (ascending epochs). */
  onionKeys(): Array<{ epoch: number, publicKey: Uint8Array }>
  now?: () => number
}

/** A node's view of the mix directory. */
export interface Directory {
  /** Valid, not withdrawn descriptors (this node's own included), sorted by PeerId. */
  list(): MixNodeInfo[]
  /** The entry of one node key (32 bytes), if valid. */
  get(nodeKey: Uint8Array): MixNodeInfo | undefined
  /** Tells the directory that `nodeKey` (32 bytes) failed as a first hop (optional: the directory may evict it). */
  reportFailure?(nodeKey: Uint8Array): void
  /** Re-signs and pushes this node's descriptor now (after an onion key change). */
  republish(): Promise<void>
  start(): Promise<void>
  /** Pushes a withdrawal (best effort, bounded) and stops every timer. */
  stop(): Promise<void>
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
    expiresAt: d.expiresAt
  }
}

function sameKeys (a: VerifiedDescriptor, b: VerifiedDescriptor): boolean {
  if (a.onionKeys.length !== b.onionKeys.length || a.withdrawn !== b.withdrawn) return false
  return a.onionKeys.every((k, i) => k.epoch === b.onionKeys[i]?.epoch)
}

/** Creates a node's directory; see the module comment. */
export function createDirectory (init: DirectoryInit): Directory {
  const { libp2p, privateKey, log } = init
  const now = init.now ?? Date.now
  const entries = new Map<string, Entry>()
  const ownKey = libp2p.peerId.publicKey?.raw ?? new Uint8Array()
  const ownId = keyId(ownKey)
  let seq = 0
  let timers: Array<ReturnType<typeof setInterval>> = []
  let running = false

  function prune (): void {
    const t = now()
    for (const [id, e] of entries) if (e.info.expiresAt <= t) entries.delete(id)
  }

  /** Verifies and stores a descriptor; returns true when it was news. */
  async function accept (bytes: Uint8Array): Promise<boolean> {
    let info: VerifiedDescriptor
    try {
      info = await verifyDescriptor(bytes, now())
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'refused a mix descriptor')
      return false
    }
    const id = keyId(info.nodeKey)
    if (id === ownId && init.publish) return false
    const held = entries.get(id)
    if (held != null && held.info.seq >= info.seq) return false
    entries.set(id, { info, bytes })
    return held == null || !sameKeys(held.info, info)
  }

  async function sign (withdrawn: boolean): Promise<void> {
    const t = now()
    seq = Math.max(seq + 1, t)
    const bytes = await signDescriptor(privateKey, {
      seq,
      issuedAt: t,
      expiresAt: t + DESCRIPTOR_LIFETIME_MS,
      addrs: libp2p.getMultiaddrs().map((ma) => ma.toString()).filter((a) => !a.includes('/p2p-circuit')).map((a) => a.replace(/\/p2p\/[^/]+$/, '')),
      roles: ROLE_MIX | ROLE_GATEWAY,
      onionKeys: init.onionKeys().map((k) => ({ epoch: k.epoch, key: k.publicKey })),
      withdrawn
    })
    const info = await verifyDescriptor(bytes, t)
    entries.set(ownId, { info, bytes })
  }

  function peers (): PeerId[] {
    const seen = new Map<string, PeerId>()
    for (const c of libp2p.getConnections()) if (c.status === 'open') seen.set(c.remotePeer.toString(), c.remotePeer)
    return [...seen.values()]
  }

  /** One exchange: send `descriptors`; if `pull`, read the peer's directory back. */
  async function exchange (peer: PeerId, descriptors: Uint8Array[], pull: boolean): Promise<void> {
    const signal = withTimeout(undefined, EXCHANGE_TIMEOUT_MS)
    let stream: Stream | undefined
    try {
      stream = await libp2p.dialProtocol(peer, DIRECTORY_PROTOCOL, { signal })
      const lp = lpStream(stream, { maxDataLength: MAX_DIRECTORY_BYTES })
      await lp.write(DirectoryMessage.encode({ version: WIRE_VERSION, descriptors: descriptors as Array<Uint8Array<ArrayBuffer>>, pull }), { signal })
      if (pull) {
        const answer = DirectoryMessage.decode((await lp.read({ signal })).subarray())
        const news: Uint8Array[] = []
        for (const d of answer.descriptors) if (await accept(d)) news.push(d)
        if (news.length > 0) flood(news, peer)
      }
      await stream.close({ signal }).catch(() => {})
    } catch (err) {
      stream?.abort(err as Error)
      log.trace({ err: (err as Error).message }, 'directory exchange failed')
    }
  }

  function flood (descriptors: Uint8Array[], except?: PeerId): void {
    for (const p of peers()) {
      if (except?.equals(p) === true) continue
      void exchange(p, descriptors, false)
    }
  }

  async function handle (stream: Stream, connection: Connection): Promise<void> {
    const signal = withTimeout(undefined, EXCHANGE_TIMEOUT_MS)
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_DIRECTORY_BYTES })
      const msg = DirectoryMessage.decode((await lp.read({ signal })).subarray())
      if (msg.version !== WIRE_VERSION) throw new Error(`directory version ${msg.version}`)
      const news: Uint8Array[] = []
      for (const d of msg.descriptors) if (await accept(d)) news.push(d)
      if (news.length > 0) flood(news, connection.remotePeer)
      if (msg.pull) {
        prune()
        await lp.write(DirectoryMessage.encode({ version: WIRE_VERSION, descriptors: [...entries.values()].map((e) => e.bytes) as Array<Uint8Array<ArrayBuffer>>, pull: false }), { signal })
      }
      await stream.close({ signal }).catch(() => {})
    } catch (err) {
      stream.abort(err as Error)
      log.debug({ err: (err as Error).message }, 'refused a directory exchange')
    }
  }

  async function pullRound (): Promise<void> {
    prune()
    const all = peers()
    for (let i = all.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1))
      const t = all[i] as PeerId
      all[i] = all[j] as PeerId
      all[j] = t
    }
    await Promise.allSettled(all.slice(0, DIRECTORY_PULL_FANOUT).map(async (p) => { await exchange(p, [], true) }))
  }

  function onConnect (evt: CustomEvent<PeerId>): void {
    if (!running) return
    const own = entries.get(ownId)
    void exchange(evt.detail, init.publish && own != null ? [own.bytes] : [], true)
  }

  return {
    list () {
      prune()
      return [...entries.values()]
        .filter((e) => !e.info.withdrawn)
        .map((e) => toInfo(e.info))
        .sort((a, b) => a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0)
    },

    get (nodeKey) {
      const e = entries.get(keyId(nodeKey))
      if (e == null || e.info.withdrawn || e.info.expiresAt <= now()) return undefined
      return toInfo(e.info)
    },

    async republish () {
      if (!init.publish || !running) return
      await sign(false)
      const own = entries.get(ownId)
      if (own != null) flood([own.bytes])
    },

    async start () {
      running = true
      await libp2p.handle(DIRECTORY_PROTOCOL, handle, { maxInboundStreams: 64, maxOutboundStreams: 64 })
      libp2p.addEventListener('peer:connect', onConnect)
      if (init.publish) {
        await sign(false)
        const own = entries.get(ownId)
        if (own != null) flood([own.bytes])
        timers.push(setInterval(() => { void sign(false).catch((err) => log.warn({ err: err.message }, 'could not re-sign the mix descriptor')) }, DESCRIPTOR_REFRESH_MS))
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
      libp2p.removeEventListener('peer:connect', onConnect)
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
      entries.clear()
    }
  }
}
