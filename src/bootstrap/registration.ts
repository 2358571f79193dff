/**
 * A node's use of bootstrap URLs (`createNode({ bootstrapUrls })`,
 * `umbra start --bootstrap-url`; docs/bootstrap.md): at start, the live
 * peers of each URL become dial targets; once started, the node registers
 * its signed peer record at each URL and heartbeats every minute (with a
 * fresh record, so a new relay address shows at once), registering again
 * when a server forgot it; at stop it unregisters. Servers and clients both
 * register — a client's record lists only its relayed addresses, the same
 * it publishes in the DHT — unless the node opted out of publishing a peer
 * record (`registry.publish: false`).
 */
import { multiaddr } from '@multiformats/multiaddr'
import { PEER_RECORD_TTL_MS, publishableAddrs, signPeerRecord } from '../registry/index.ts'
import { withTimeout } from '../signals.ts'
import { fetchBootstrapPeers, signedBootstrapCall } from './client.ts'
import { CLIENT_TIMEOUT_MS, HEARTBEAT_INTERVAL_MS } from './constants.ts'
import { BootstrapFailedError } from './errors.ts'
import type { Logger } from '../logger.ts'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** What the registration needs from the node. */
export interface BootstrapRegistrationComponents {
  libp2p: Libp2p
  privateKey: PrivateKey
  role: 'server' | 'client'
  urls: string[]
  /** Register and heartbeat (false: only read the peer lists). */
  register: boolean
  log: Logger
  /** Heartbeat period, ms. @default 60_000 */
  heartbeatMs?: number
}

/** The registration of a node at its bootstrap URLs. */
export interface BootstrapRegistration {
  /**
   * The multiaddrs (with `/p2p/<PeerId>`) of the live peers every URL lists,
   * this node excluded; an unreachable URL is logged and skipped.
   */
  peerAddrs(signal?: AbortSignal): Promise<Multiaddr[]>
  /** Registers at every URL (in the background) and starts the heartbeats. */
  start(): void
  /** Stops the heartbeats and unregisters (best effort, bounded by 2 s). */
  stop(): Promise<void>
}

/** Creates the registration; see the module comment. */
export function createBootstrapRegistration (c: BootstrapRegistrationComponents): BootstrapRegistration {
  const heartbeatMs = c.heartbeatMs ?? HEARTBEAT_INTERVAL_MS
  const me = c.libp2p.peerId.toString()
  let timer: ReturnType<typeof setInterval> | undefined
  const registered = new Set<string>()
  let stopping = new AbortController()

  async function ownRecord (): Promise<Uint8Array> {
    const now = Date.now()
    const addrs = publishableAddrs(c.libp2p.getMultiaddrs().map((a) => a.toString()), c.role)
    return await signPeerRecord({ privateKey: c.privateKey, role: c.role, addrs, seq: now, expiresAt: now + PEER_RECORD_TTL_MS, lastSeen: now })
  }

  async function beat (url: string): Promise<void> {
    const signal = withTimeout(stopping.signal, CLIENT_TIMEOUT_MS)
    const record = await ownRecord()
    if (registered.has(url)) {
      try {
        await signedBootstrapCall(url, 'heartbeat', { privateKey: c.privateKey, record, signal })
        return
      } catch (err) {
        if (!(err instanceof BootstrapFailedError && err.status === 404)) throw err
        registered.delete(url) // the server forgot us (restart, lapsed heartbeat): register again
      }
    }
    await signedBootstrapCall(url, 'register', { privateKey: c.privateKey, record: await ownRecord(), signal })
    registered.add(url)
  }

  function beatAll (): void {
    for (const url of c.urls) {
      void beat(url).catch((err) => { c.log.debug({ url, err: (err as Error).message }, 'bootstrap register/heartbeat failed; retried next period') })
    }
  }

  return {
    async peerAddrs (signal) {
      const lists = await Promise.allSettled(c.urls.map(async (url) => await fetchBootstrapPeers(url, { signal })))
      const out: Multiaddr[] = []
      lists.forEach((r, i) => {
        if (r.status === 'rejected') {
          c.log.warn({ url: c.urls[i], err: (r.reason as Error).message }, 'bootstrap URL did not answer')
          return
        }
        if (r.value.dropped > 0) c.log.warn({ url: c.urls[i], dropped: r.value.dropped }, 'bootstrap URL listed peers whose records do not verify; dropped')
        for (const p of r.value.peers) {
          if (p.peerId === me) continue
          for (const a of p.addrs) {
            try {
              const ma = multiaddr(a)
              out.push(ma.getComponents().at(-1)?.value === p.peerId ? ma : ma.encapsulate(`/p2p/${p.peerId}`))
            } catch {
              // an address that does not parse is skipped
            }
          }
        }
      })
      return out
    },

    start () {
      if (!c.register || timer != null) return
      stopping = new AbortController()
      beatAll()
      timer = setInterval(beatAll, heartbeatMs)
      timer.unref()
    },

    async stop () {
      clearInterval(timer)
      timer = undefined
      stopping.abort()
      const signal = AbortSignal.timeout(2000)
      await Promise.allSettled([...registered].map(async (url) => await signedBootstrapCall(url, 'unregister', { privateKey: c.privateKey, signal })))
      registered.clear()
    }
  }
}
