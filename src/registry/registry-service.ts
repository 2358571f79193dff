/**
 * The peer registry of a node (DESIGN.md section 4, seed 002, issue 9 item
 * 2): publishes this node's peer record and looks up others'. Every node,
 * clients included, publishes under its own `key_…` the addresses others can
 * dial (a client: its relayed `/p2p-circuit` ones only, never its LAN or
 * direct addresses), its role, when it was last seen and optional metadata.
 * The record is re-published when the node's addresses change (a new relay
 * reservation, an AutoNAT result) and every 30 min. Dialling by PeerId
 * resolves through {@link Registry.findPeer}, a libp2p peer router, so a
 * NAT'd client is reachable by its id alone. docs/registry.md has what a
 * record reveals.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { AbortedError, InvalidOptionError } from '../errors.ts'
import { keyFromPeerId, parsePeer } from '../identity/index.ts'
import { withTimeout } from '../signals.ts'
import {
  LOOKUP_CACHE_MS, LOOKUP_TIMEOUT_MS, MAX_METADATA_BYTES, MAX_PEER_ADDR_BYTES, MAX_PEER_ADDRS, PEER_RECORD_TTL_MS,
  PEER_REPUBLISH_DEBOUNCE_MS, PEER_REPUBLISH_MS, PUBLISH_TIMEOUT_MS, MAX_QUEUE_SERVERS
} from './constants.ts'
import { MetadataTooLargeError, PeerNotFoundError } from './errors.ts'
import { openMetadata, peerNamespace, peerRecordKey, signPeerRecord, verifyPeerRecord, type PeerRecordInfo } from './peer-record.ts'
import type { Logger } from '../logger.ts'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Libp2p, PeerId, PeerInfo, PrivateKey } from '@libp2p/interface'

/** Options of the registry, `createNode({ registry })`. */
export interface RegistryInit {
  /**
   * Publish this node's peer record. `false` keeps the node out of the
   * registry: others can then reach it only at addresses they already know.
   * @default true
   */
  publish?: boolean
  /** Application metadata published with the record, at most 1,024 bytes. @default none */
  metadata?: Uint8Array
}

/** The registry as the node exposes it (`node.registry`). */
export interface Registry {
  /**
   * The peer record of a node, from the network (cached 60 s unless `fresh`).
   * @param peer - PeerId string or `key_…`
   * @throws UMBRA_ERR_INVALID_KEY (not a PeerId or key), UMBRA_ERR_PEER_NOT_FOUND, UMBRA_ERR_ABORTED
   */
  lookup(peer: string, options?: { signal?: AbortSignal, fresh?: boolean }): Promise<PeerRecordInfo>
  /**
   * Publishes this node's record now (signed again with a higher seq).
   * @returns how many storing nodes acknowledged it
   * @throws UMBRA_ERR_ABORTED
   */
  publish(options?: { signal?: AbortSignal }): Promise<{ record: PeerRecordInfo, storedOn: number }>
  /**
   * Sets the metadata of this node's record and publishes it.
   * @param metadata - at most 1,024 bytes; undefined clears it
   * @param options.sealTo - only this `key_…` can read it
   * @throws UMBRA_ERR_METADATA_TOO_LARGE, UMBRA_ERR_INVALID_KEY
   */
  setMetadata(metadata: Uint8Array | undefined, options?: { sealTo?: string, signal?: AbortSignal }): Promise<PeerRecordInfo>
  /** The record this node last published, if any. */
  own(): PeerRecordInfo | undefined
  /** Opens metadata sealed to this node's key; undefined when it is not sealed to it. */
  openMetadata(record: PeerRecordInfo): Uint8Array | undefined
}

/** What the registry needs from the node. */
export interface RegistryComponents {
  libp2p: Libp2p
  kad: KadDHT
  privateKey: PrivateKey
  role: 'server' | 'client'
  log: Logger
  /**
   * The PeerIds of the servers holding this node's offline queue (issue 11),
   * named in each record it publishes; none when absent or when it fails.
   */
  queueServers?: (signal: AbortSignal) => Promise<string[]>
}

/** The registry with its lifecycle and the peer-routing hook, as held by the node. */
export interface RegistryHandle extends Registry {
  /** libp2p peer routing: the addresses of a peer from its record. @throws UMBRA_ERR_PEER_NOT_FOUND */
  findPeer(peerId: PeerId, options?: { signal?: AbortSignal }): Promise<PeerInfo>
  start(): void
  stop(): void
}

/** The addresses a node publishes: a client its relayed ones only; a server what it announces. */
export function publishableAddrs (addrs: string[], role: 'server' | 'client'): string[] {
  const out = addrs.filter((a) => role === 'server' || a.includes('/p2p-circuit'))
  return [...new Set(out)].filter((a) => new TextEncoder().encode(a).byteLength <= MAX_PEER_ADDR_BYTES).slice(0, MAX_PEER_ADDRS)
}

/** Creates the registry of a node; see the module comment. */
export function createRegistry (components: RegistryComponents, init: RegistryInit = {}): RegistryHandle {
  const { libp2p, kad, privateKey, role, log } = components
  const enabled = init.publish ?? true
  if (init.metadata != null && (!(init.metadata instanceof Uint8Array) || init.metadata.byteLength > MAX_METADATA_BYTES)) {
    throw new InvalidOptionError(`init.registry.metadata must be at most ${MAX_METADATA_BYTES} bytes`)
  }
  let metadata = init.metadata
  let sealTo: string | undefined
  const me = privateKey.publicKey.raw
  const myKey = keyFromPeerId(libp2p.peerId)
  const cache = new Map<string, { rec: PeerRecordInfo, at: number }>()
  let own: PeerRecordInfo | undefined
  let seq = 0
  let lastAddrs = ''
  let running = false
  let periodic: ReturnType<typeof setInterval> | undefined
  let debounce: ReturnType<typeof setTimeout> | undefined

  async function publish (signal?: AbortSignal): Promise<{ record: PeerRecordInfo, storedOn: number }> {
    const now = Date.now()
    seq = Math.max(seq + 1, now)
    const addrs = publishableAddrs(libp2p.getMultiaddrs().map((a) => a.toString()), role)
    lastAddrs = addrs.join(' ')
    const queueServers = await components.queueServers?.(withTimeout(signal, PUBLISH_TIMEOUT_MS)).then((q) => q.slice(0, MAX_QUEUE_SERVERS), (err: Error) => {
      log.debug({ err: err.message }, 'could not find this node\'s queue servers; the record names none')
      return []
    }) ?? []
    const bytes = await signPeerRecord({ privateKey, role, addrs, metadata, sealTo, seq, expiresAt: now + PEER_RECORD_TTL_MS, lastSeen: now, queueServers })
    const dhtKey = peerRecordKey(myKey)
    const record = await verifyPeerRecord(dhtKey, bytes)
    own = record
    const storedOn = await peerNamespace.publish(kad, dhtKey, bytes, withTimeout(signal, PUBLISH_TIMEOUT_MS))
    log.debug({ addrs: addrs.length, storedOn }, 'peer record published')
    return { record, storedOn }
  }

  function publishSoon (): void {
    if (!running || !enabled) return
    clearTimeout(debounce)
    debounce = setTimeout(() => {
      void publish().catch((err) => { log.debug({ err: (err as Error).message }, 'peer record publish failed; retried on the next change or period') })
    }, PEER_REPUBLISH_DEBOUNCE_MS)
    debounce.unref()
  }

  function onSelfUpdate (): void {
    const addrs = publishableAddrs(libp2p.getMultiaddrs().map((a) => a.toString()), role).join(' ')
    if (addrs !== lastAddrs) publishSoon()
  }

  async function lookup (peer: string, options: { signal?: AbortSignal, fresh?: boolean } = {}): Promise<PeerRecordInfo> {
    const id = parsePeer(peer)
    const key = keyFromPeerId(id)
    if (key === myKey && own != null) return own
    const cached = cache.get(key)
    if (options.fresh !== true && cached != null && Date.now() - cached.at < LOOKUP_CACHE_MS && cached.rec.expiresAt > Date.now()) return cached.rec
    const dhtKey = peerRecordKey(key)
    const found = await peerNamespace.query(kad, dhtKey, { signal: withTimeout(options.signal, LOOKUP_TIMEOUT_MS), quorum: 1, me })
    if (found == null) throw new PeerNotFoundError(`No peer record for ${key} was found in the DHT`)
    const rec: PeerRecordInfo = { ...found.rec.decoded, seq: found.rec.seq, expiresAt: found.rec.expiresAt }
    cache.set(key, { rec, at: Date.now() })
    if (cache.size > 1000) cache.delete(cache.keys().next().value as string)
    return rec
  }

  return {
    lookup,

    async publish (options = {}) {
      return await publish(options.signal)
    },

    async setMetadata (value, options = {}) {
      if (value != null && (!(value instanceof Uint8Array) || value.byteLength > MAX_METADATA_BYTES)) {
        throw new MetadataTooLargeError(`Peer record metadata is at most ${MAX_METADATA_BYTES} bytes`)
      }
      if (options.sealTo != null) parsePeer(options.sealTo)
      metadata = value
      sealTo = value == null ? undefined : options.sealTo
      return (await publish(options.signal)).record
    },

    own () {
      return own
    },

    openMetadata (record) {
      return openMetadata(record, privateKey)
    },

    async findPeer (peerId, options = {}) {
      if (peerId.equals(libp2p.peerId)) throw new PeerNotFoundError('This node does not look itself up')
      let rec: PeerRecordInfo
      try {
        rec = await lookup(peerId.toString(), { signal: options.signal })
      } catch (err) {
        if (err instanceof AbortedError) throw err
        throw new PeerNotFoundError(`No usable peer record for ${peerId.toString()}`, { cause: err })
      }
      const multiaddrs = rec.addrs.flatMap((a) => {
        try {
          const ma = multiaddr(a)
          return ma.getComponents().at(-1)?.value === rec.peerId ? [ma] : [ma.encapsulate(`/p2p/${rec.peerId}`)]
        } catch {
          return []
        }
      })
      return { id: peerIdFromString(rec.peerId), multiaddrs }
    },

    start () {
      if (running) return
      running = true
      if (!enabled) return
      libp2p.addEventListener('self:peer:update', onSelfUpdate)
      periodic = setInterval(() => { publishSoon() }, PEER_REPUBLISH_MS)
      periodic.unref()
      publishSoon()
    },

    stop () {
      running = false
      clearTimeout(debounce)
      clearInterval(periodic)
      libp2p.removeEventListener('self:peer:update', onSelfUpdate)
    }
  }
}
