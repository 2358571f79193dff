/**
 * AutoNAT (v1, `@libp2p/autonat` 3) as an Umbra node runs it (issue 17
 * item 4; docs/nat.md "AutoNAT and UPnP"). Two things are added to the stock
 * service:
 *
 * 1. **A dial-back is always a new connection.** The stock server dials the
 *    address it was asked about with `connectionManager.openConnection`,
 *    which hands back the connection that already exists to the asking
 *    peer (the one the request came over), then closes whatever it got. So
 *    every request from a peer already connected either tore down that
 *    peer's only connection (a client's link to its relay, or the direct TCP
 *    connection just dialled to a UPnP-mapped client: it died within about
 *    a second) or failed with "Unexpected remote address". Measured in the
 *    NAT lab with `DEBUG=libp2p:auto-nat*`. Here the service's dial-back
 *    (its only dial of one multiaddr) is forced onto a fresh connection,
 *    which alone proves the address reachable and is the only one closed.
 * 2. **A new public address is checked at once.** The stock client asks a
 *    peer only when that peer connects (its topology callback). A UPnP
 *    mapping appears seconds after the node dialled its servers, so nobody
 *    was ever asked and a mapped client stayed `private`. Every
 *    {@link AUTONAT_RECHECK_MS}, while an unverified public address exists,
 *    each directly connected peer that serves AutoNAT is asked once about it.
 *
 * @example
 * ```ts
 * const autonat = createAutoNat({ log: logger('autonat') })
 * const libp2p = await createLibp2p({ services: { autoNAT: autonat.service, … } })
 * await libp2p.start()
 * autonat.attach(libp2p)   // … autonat.detach() before libp2p.stop()
 * ```
 */
import { autoNAT, type AutoNATComponents, type AutoNATServiceInit } from '@libp2p/autonat'
import { isPrivate } from '@libp2p/utils'
import { isMultiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { AUTONAT_PROTOCOL, AUTONAT_RECHECK_MS } from './constants.ts'
import { connectionPath } from './path.ts'
import { isCircuitAddr } from './address-policy.ts'
import type { Logger } from '../logger.ts'
import type { Connection, Libp2p } from '@libp2p/interface'

type AddressManager = AutoNATComponents['addressManager']
type ConnectionManager = AutoNATComponents['connectionManager']

/** Options of {@link createAutoNat}. */
export interface AutoNatInit {
  log: Logger
  /** Passed to `@libp2p/autonat`. @default its defaults */
  autonat?: AutoNATServiceInit
  /**
   * How often unverified public addresses are looked for, ms.
   * @default AUTONAT_RECHECK_MS (2000)
   */
  recheckMs?: number
}

/** The AutoNAT service of one node and its re-check loop. */
export interface AutoNat {
  /** The libp2p service factory (`services.autoNAT`). */
  service: (components: AutoNATComponents) => unknown
  /** This node's public, non-relayed addresses that no dial-back has confirmed yet (a fresh UPnP mapping, say). */
  unverified(): Multiaddr[]
  /** Starts the re-check loop on the started node. Idempotent. */
  attach(libp2p: Libp2p): void
  /** Stops the re-check loop. Idempotent. */
  detach(): void
}

/** The method of the stock service this module calls (public in its class declaration, `verifyExternalAddresses`). */
interface Verifier {
  verifyExternalAddresses(connection: Connection): Promise<void>
}

function isVerifier (x: unknown): x is Verifier {
  return typeof (x as Partial<Verifier> | undefined)?.verifyExternalAddresses === 'function'
}

/**
 * `connectionManager` as the AutoNAT service sees it: a dial of ONE
 * multiaddr (the dial-back; its random walk dials arrays) always opens a
 * new connection (`force`), never returns the asker's existing one. Every
 * other call goes to `cm` unchanged.
 * @param cm - the node's connection manager (libp2p components)
 * @returns a proxy of `cm`
 */
export function freshDialBacks (cm: ConnectionManager): ConnectionManager {
  return new Proxy(cm, {
    get (target, prop) {
      if (prop === 'openConnection') {
        return async (peer: Parameters<ConnectionManager['openConnection']>[0], options: Parameters<ConnectionManager['openConnection']>[1] = {}) =>
          await target.openConnection(peer, isMultiaddr(peer) ? { ...options, force: true } : options)
      }
      const value: unknown = Reflect.get(target, prop)
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
}

/**
 * Creates the AutoNAT service of one node; see the module comment.
 * @param init - see {@link AutoNatInit}
 */
export function createAutoNat (init: AutoNatInit): AutoNat {
  const { log } = init
  const recheckMs = init.recheckMs ?? AUTONAT_RECHECK_MS
  let addressManager: AddressManager | undefined
  let verifier: Verifier | undefined
  let timer: ReturnType<typeof setInterval> | undefined
  /** Connections already asked about the current set of unverified addresses (reset when the set changes). */
  const asked = new Set<string>()
  let lastPending = ''
  let checking = false

  const unverified = (): Multiaddr[] => (addressManager?.getAddressesWithMetadata() ?? [])
    .filter((a) => !a.verified && a.expires < Date.now() && (a.type === 'ip-mapping' || a.type === 'transport'))
    .map((a) => a.multiaddr)
    .filter((ma) => !isCircuitAddr(ma) && isPrivate(ma) === false)

  async function recheck (libp2p: Libp2p): Promise<void> {
    if (checking || verifier == null) return
    checking = true
    try {
      const pending = unverified().map((ma) => ma.toString()).sort().join(' ')
      if (pending !== lastPending) { asked.clear(); lastPending = pending }
      if (pending === '') return
      const connections = libp2p.getConnections()
      // Forget closed connections, so the set stays as small as the connection list.
      const open = new Set(connections.map((c) => c.id))
      for (const id of asked) if (!open.has(id)) asked.delete(id)
      for (const conn of connections) {
        if (asked.has(conn.id) || connectionPath(conn, conn.remotePeer) !== 'direct') continue
        const protocols = (await libp2p.peerStore.get(conn.remotePeer).catch(() => undefined))?.protocols ?? []
        if (!protocols.includes(AUTONAT_PROTOCOL)) continue
        asked.add(conn.id)
        log.debug({ addrs: pending, peer: conn.remotePeer.toString() }, 'asking a connected peer to dial back an unverified public address')
        await verifier.verifyExternalAddresses(conn).catch((err: Error) => { log.debug({ err: err.message }, 'AutoNAT check failed') })
      }
    } finally {
      checking = false
    }
  }

  return {
    service (components) {
      addressManager = components.addressManager
      const connectionManager = freshDialBacks(components.connectionManager)
      const wrapped = new Proxy(components, {
        get: (target, prop, receiver) => prop === 'connectionManager' ? connectionManager : Reflect.get(target, prop, receiver)
      })
      const service = autoNAT(init.autonat)(wrapped)
      if (isVerifier(service)) verifier = service
      else log.warn('@libp2p/autonat has no verifyExternalAddresses: new public addresses are checked only when a peer connects')
      return service
    },

    unverified,

    attach (libp2p) {
      if (timer != null) return
      timer = setInterval(() => { void recheck(libp2p) }, recheckMs)
      timer.unref()
    },

    detach () {
      clearInterval(timer)
      timer = undefined
      asked.clear()
      lastPending = ''
    }
  }
}
