import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { bootstrap } from '@libp2p/bootstrap'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { kadDHT, type KadDHT, type SingleKadDHT } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { uPnPNAT } from '@libp2p/upnp-nat'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { TypedEventEmitter } from 'main-event'
import { createDhtService, readLocalRecord, type DhtServiceHandle } from '../dht/dht-service.ts'
import { K, KAD_PROTOCOL } from '../dht/constants.ts'
import { dataNamespace } from '../dht/record.ts'
import { InvalidOptionError, NotStartedError } from '../errors.ts'
import { checkIdentityFits, keyFromPeerId, loadOrCreateTransportKey, resolveDataDir, walletInfo, type WalletInfo } from '../identity/index.ts'
import { logger } from '../logger.ts'
import { createMessagingService, type MessagingServiceHandle } from '../messaging/messaging-service.ts'
import type { Inbox } from '../messaging/inbox.ts'
import { contactNamespace } from '../mixnet/contact.ts'
import { createRegistry, peerNamespace, type Registry, type RegistryHandle } from '../registry/index.ts'
import { createNames, globalNameNamespace, zoneNameNamespace, type Names, type NamesHandle } from '../names/index.ts'
import { createDiscovery, discoveryNamespace, type Discovery, type DiscoveryHandle } from '../discovery/index.ts'
import { setDataDirPassphrase } from '../identity/keyfile.ts'
import { createAuth, type Auth, type AuthHandle } from '../auth/index.ts'
import { PROVIDER_TTL_MS, REPROVIDE_INTERVAL_MS } from '../discovery/constants.ts'
import { createBootstrapRegistration, normalizeBootstrapUrl, type BootstrapRegistration } from '../bootstrap/index.ts'
import { createMixnet, validateMixnetInit, type MixnetHandle } from '../mixnet/mixnet-service.ts'
import { createProofService, type ProofService } from '../proofs/service.ts'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { createPubSub, createValidator, gossipsubOptions, validatePubSubInit, type PubSubHandle, type PubSubService } from '../pubsub/index.ts'
import { attachAnonymous, attachHybrid } from '../pubsub/hybrid-node.ts'
import type { Hybrid } from '../pubsub/hybrid.ts'
import { createAddressPolicy, defaultAnnouncePrivate } from '../nat/address-policy.ts'
import {
  DEFAULT_STUN_PORT,
  INBOUND_UPGRADE_TIMEOUT_MS,
  MAX_PENDING_INBOUND_CONNECTIONS,
  RELAY_MAX_RESERVATIONS,
  UPNP_DESCRIPTION
} from '../nat/constants.ts'
import { createNatService, type NatServiceHandle } from '../nat/nat-service.ts'
import { connectionPath } from '../nat/path.ts'
import { stunHostsForListen } from '../nat/stun-server.ts'
import { createAutoNat } from '../nat/autonat.ts'
import { QuotaDatastore } from '../dht/quota-datastore.ts'
import { dataDirPaths, lockDataDir, openStateDatabase, type DataDirLock, type StateDatabase } from '../store/index.ts'
import { QuotaCounters, type QuotaSnapshot } from '../quota.ts'
import { createRelayPolicy, type RelayPolicy } from '../nat/relay-policy.ts'
import { createNodeMetrics, type NodeMetrics } from '../metrics/node-metrics.ts'
import { AGENT_VERSION, STATE_DB_SYNCHRONOUS, BOOTSTRAP_DIAL_TIMEOUT_MS, REJOIN_INTERVAL_MS, DEFAULT_LISTEN, DEFAULT_ROLE, LOOPBACK_ALLOW } from './constants.ts'
import type { PeerSummary, Role, UmbraNode, UmbraNodeEvents, UmbraNodeInit } from './types.ts'
import type { DhtService } from '../dht/types.ts'
import type { MessagingService } from '../messaging/types.ts'
import type { MixnetService, PseudonymService } from '../mixnet/types.ts'
import type { NatService } from '../nat/types.ts'
import { peerRoutingSymbol } from '@libp2p/interface'
import type { AbortOptions, Libp2p, PeerId, PeerInfo, PrivateKey, Upgrader } from '@libp2p/interface'

/** Every DHT record namespace this node validates and stores (DESIGN.md section 4). */
const NAMESPACES = [dataNamespace, contactNamespace, peerNamespace, globalNameNamespace, zoneNameNamespace, discoveryNamespace] as const

function validateInit (init: UmbraNodeInit): { role: Role, listen: string[], bootstrap: string[], bootstrapUrls: string[], stunPort: number | false, stunServers: string[] } {
  if (init == null || typeof init !== 'object') throw new InvalidOptionError('createNode(init): init must be an object')
  const role = init.role ?? DEFAULT_ROLE
  if (role !== 'server' && role !== 'client') {
    throw new InvalidOptionError(`init.role must be "server" or "client", got ${JSON.stringify(role)}`)
  }
  const listen = init.listen ?? DEFAULT_LISTEN
  const boot = init.bootstrap ?? []
  for (const [field, list] of [['listen', listen], ['bootstrap', boot]] as const) {
    if (!Array.isArray(list)) throw new InvalidOptionError(`init.${field} must be an array of multiaddr strings`)
    for (const addr of list) {
      try {
        multiaddr(addr)
      } catch (err) {
        throw new InvalidOptionError(`init.${field}: ${JSON.stringify(addr)} is not a multiaddr (e.g. /ip4/127.0.0.1/tcp/4001)`, { cause: err })
      }
    }
  }
  for (const addr of boot) {
    if (!addr.includes('/p2p/')) throw new InvalidOptionError(`init.bootstrap: ${addr} lacks /p2p/<PeerId>; copy the full address a node prints`)
  }
  if (init.bootstrapUrls !== undefined && !Array.isArray(init.bootstrapUrls)) throw new InvalidOptionError('init.bootstrapUrls must be an array of http(s) URLs')
  const bootstrapUrls = (init.bootstrapUrls ?? []).map((url) => {
    try {
      return normalizeBootstrapUrl(url)
    } catch (err) {
      throw new InvalidOptionError(`init.bootstrapUrls: ${JSON.stringify(url)} is not an http(s) URL without credentials or query (e.g. http://seed.example:4100)`, { cause: err })
    }
  })
  validateMixnetInit(init.mixnet)
  validatePubSubInit(init.pubsub)
  for (const field of ['providerTtl', 'reprovideInterval'] as const) {
    const v = init.discovery?.[field]
    if (v !== undefined && (!Number.isInteger(v) || v < 1000)) throw new InvalidOptionError(`init.discovery.${field} must be an integer number of ms, at least 1000`)
  }
  const stunPort = init.nat?.stunPort ?? DEFAULT_STUN_PORT
  if (stunPort !== false && (!Number.isInteger(stunPort) || stunPort < 0 || stunPort > 65535)) {
    throw new InvalidOptionError(`init.nat.stunPort must be a UDP port (0 to 65535) or false, got ${String(stunPort)}`)
  }
  const allow = init.nat?.allow
  if (allow != null && (!Array.isArray(allow) || allow.some((a) => typeof a !== 'string' || !/^\/ip[46]\/[^/]+(\/ipcidr\/\d{1,3})?$/.test(a)))) {
    throw new InvalidOptionError('init.nat.allow must be an array of CIDR multiaddrs such as "/ip4/10.0.0.0/ipcidr/8"')
  }
  // A bootstrap URL's host is a server node too: its STUN server is asked as well.
  const stunServers = init.nat?.stunServers ?? [...new Set([...defaultStunServers(boot), ...bootstrapUrls.map((u) => `${new URL(u).hostname}:${DEFAULT_STUN_PORT}`)])]
  if (!Array.isArray(stunServers) || stunServers.some((h) => typeof h !== 'string' || !/^[^\s/]+:\d{1,5}$/.test(h))) {
    throw new InvalidOptionError('init.nat.stunServers must be an array of "host:port" strings')
  }
  return { role, listen, bootstrap: boot, bootstrapUrls, stunPort, stunServers }
}

/** The STUN servers of a client by default: every bootstrap node's IP on the default STUN port (issue 4: only this network's servers). */
function defaultStunServers (boot: string[]): string[] {
  const out = new Set<string>()
  for (const addr of boot) {
    const m = /^\/(ip4|ip6|dns4|dns6|dns)\/([^/]+)\//.exec(addr)
    if (m?.[2] == null) continue
    out.add(m[1] === 'ip6' ? `[${m[2]}]:${DEFAULT_STUN_PORT}` : `${m[2]}:${DEFAULT_STUN_PORT}`)
  }
  return [...out]
}

class Node extends TypedEventEmitter<UmbraNodeEvents> implements UmbraNode {
  readonly role: Role
  readonly dataDir: string
  #init: UmbraNodeInit
  #listen: string[]
  #bootstrap: string[]
  #bootstrapUrls: string[]
  #bootstrapRegistration?: BootstrapRegistration
  #stunPort: number | false
  #stunServers: string[]
  #nat?: NatServiceHandle
  #registry?: RegistryHandle
  #relayPolicy?: RelayPolicy
  #rejoinTimer?: ReturnType<typeof setInterval>
  #names?: NamesHandle
  #proofs?: ProofService
  #discovery?: DiscoveryHandle
  #auth?: AuthHandle
  #wallet?: WalletInfo
  #libp2p?: Libp2p<{ dht: KadDHT, pubsub: GossipSub }>
  #dht?: DhtServiceHandle
  #messaging?: MessagingServiceHandle
  #mixnet?: MixnetHandle
  #pubsub?: PubSubHandle
  #hybrid?: Hybrid
  #starting?: Promise<void>
  /** The data directory's lock and state database (issue 11); ':memory:' and no lock without a data directory. */
  #lock?: DataDirLock
  #state?: StateDatabase
  #datastore?: QuotaDatastore
  #metrics?: NodeMetrics
  #log = logger('node')
  readonly #quotas = new QuotaCounters()

  constructor (init: UmbraNodeInit) {
    super()
    const v = validateInit(init)
    this.#init = init
    this.role = v.role
    this.#listen = v.listen
    this.#bootstrap = v.bootstrap
    this.#bootstrapUrls = v.bootstrapUrls
    this.#stunPort = v.stunPort
    this.#stunServers = v.stunServers
    this.dataDir = resolveDataDir(init.dataDir)
  }

  get isStarted (): boolean {
    return this.#libp2p != null && this.#starting == null
  }

  get libp2p (): Libp2p {
    if (this.#libp2p == null) throw new NotStartedError()
    return this.#libp2p
  }

  get peerId (): string {
    return this.libp2p.peerId.toString()
  }

  get key (): string {
    return keyFromPeerId(this.libp2p.peerId)
  }

  get wallet (): WalletInfo | undefined {
    return this.#wallet
  }

  get dht (): DhtService {
    if (this.#dht == null) throw new NotStartedError()
    return this.#dht
  }

  get messaging (): MessagingService {
    if (this.#messaging == null) throw new NotStartedError()
    return this.#messaging
  }

  get inbox (): Inbox {
    if (this.#messaging == null) throw new NotStartedError()
    return this.#messaging.store
  }

  get registry (): Registry {
    if (this.#registry == null) throw new NotStartedError()
    return this.#registry
  }

  get names (): Names {
    if (this.#names == null) throw new NotStartedError()
    return this.#names
  }

  /** Challenge-response authentication (src/auth, issue 14 item 1). @throws UMBRA_ERR_NOT_STARTED */
  get auth (): Auth {
    if (this.#auth == null) throw new NotStartedError()
    return this.#auth
  }

  get discovery (): Discovery {
    if (this.#discovery == null) throw new NotStartedError()
    return this.#discovery
  }

  get mixnet (): MixnetService {
    if (this.#mixnet == null) throw new NotStartedError()
    return this.#mixnet
  }

  /** Topics over GossipSub with signed envelopes (src/pubsub, issue 13). @throws UMBRA_ERR_NOT_STARTED */
  get pubsub (): PubSubService {
    if (this.#pubsub == null) throw new NotStartedError()
    return this.#pubsub
  }

  get nat (): NatService {
    if (this.#nat == null) throw new NotStartedError()
    return this.#nat
  }

  get metrics (): NodeMetrics {
    if (this.#metrics == null) throw new NotStartedError()
    return this.#metrics
  }

  get proofs (): ProofService {
    if (this.#proofs == null) throw new NotStartedError()
    return this.#proofs
  }

  get pseudonyms (): PseudonymService {
    if (this.#mixnet == null) throw new NotStartedError()
    return this.#mixnet.pseudonyms
  }

  async start (): Promise<void> {
    if (this.#libp2p != null && this.#starting == null) return
    this.#starting ??= this.#start().finally(() => { this.#starting = undefined })
    return this.#starting
  }

  async #start (): Promise<void> {
    // With a data directory (no injected key): one live node per directory, one state database in it (src/store).
    const persistent = this.#init.privateKey == null
    this.#lock = persistent ? lockDataDir(this.dataDir) : undefined
    try {
      if (persistent && this.#init.passphrase != null) setDataDirPassphrase(this.dataDir, this.#init.passphrase)
      this.#state = openStateDatabase({ path: persistent ? dataDirPaths(this.dataDir).state : ':memory:', synchronous: STATE_DB_SYNCHRONOUS })
      await this.#startWith(this.#state)
    } catch (err) {
      this.#closeState()
      throw err
    }
  }

  /** Closes the state database and releases the data directory's lock. */
  #closeState (): void {
    this.#datastore?.stop()
    this.#datastore = undefined
    this.#state?.close()
    this.#state = undefined
    this.#lock?.release()
    this.#lock = undefined
  }

  async #startWith (state: StateDatabase): Promise<void> {
    const identity = this.#init.privateKey != null ? { privateKey: this.#init.privateKey, compressed: true } : await loadOrCreateTransportKey(this.dataDir)
    const privateKey: PrivateKey = identity.privateKey
    checkIdentityFits(privateKey, this.role)
    this.#wallet = walletInfo(privateKey, identity.compressed)
    // kad-dht stores other peers' records and provider records here, within per-owner quotas (docs/quotas.md), written through to `state`.
    const datastore = new QuotaDatastore({ quotas: this.#quotas, state })
    this.#datastore = datastore
    const client = this.role === 'client'
    // A client behind a NAT listens through relay reservations and accepts WebRTC upgrades.
    const listen = client ? [...new Set([...this.#listen, '/p2p-circuit', '/webrtc'])] : this.#listen
    // ICE only ever asks this network's STUN servers (an explicit list, so @libp2p/webrtc's public defaults are never used).
    const iceServers = this.#stunServers.map((h) => ({ urls: [`stun:${h}`] }))
    // The registry needs the started libp2p's kad-dht; the router is wired before it exists.
    const registryRef: { current?: RegistryHandle } = {}
    const findPeerByRecord = async (id: PeerId, options?: AbortOptions): Promise<PeerInfo> => {
      if (registryRef.current == null) throw new NotStartedError()
      return await registryRef.current.findPeer(id, options)
    }
    // Hosts exempt from the inbound limits: loopback by default (local testnets), none when a test attacks over loopback.
    const allow = this.#init.nat?.allow ?? LOOPBACK_ALLOW
    // Issue 10: who gets relay slots and circuits, and one host's share of the handshake slots (src/nat/relay-policy.ts).
    const relayPolicy = createRelayPolicy({ allow, log: logger('relay') })
    // What this node announces and what its kad answers say about others (docs/nat.md "Who can learn a client's IP address").
    const addressPolicy = createAddressPolicy({
      role: this.role,
      announcePrivate: this.#init.announcePrivateAddresses ?? defaultAnnouncePrivate(this.#listen),
      kadProtocol: KAD_PROTOCOL
    })
    // AutoNAT whose dial-backs never reuse (and close) the asker's connection, and which checks a new UPnP mapping at once (src/nat/autonat.ts).
    const autonat = createAutoNat({ log: logger('autonat') })
    // A registry of this node's own, also for libp2p's metrics (src/metrics).
    const metrics = await createNodeMetrics()
    // Pub/sub (issue 13): GossipSub's message ids come from the envelope validator, so it exists before libp2p.
    const pubsubValidator = createValidator(this.#init.pubsub)
    const libp2p = await createLibp2p({
      privateKey,
      metrics: metrics.libp2p,
      datastore,
      nodeInfo: { userAgent: AGENT_VERSION },
      addresses: { listen, announceFilter: addressPolicy.announceFilter },
      connectionManager: {
        allow,
        maxIncomingPendingConnections: MAX_PENDING_INBOUND_CONNECTIONS,
        inboundUpgradeTimeout: INBOUND_UPGRADE_TIMEOUT_MS
      },
      connectionGater: relayPolicy.gater,
      // webRTC before the circuit transport: a `/p2p-circuit/webrtc` address must be dialled by WebRTC, not as a plain circuit.
      transports: [tcp(), webSockets(), webRTC({ rtcConfiguration: { iceServers } }), circuitRelayTransport()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      peerDiscovery: this.#bootstrap.length > 0 ? [bootstrap({ list: this.#bootstrap })] : [],
      services: {
        identify: identify(),
        // Dialling a PeerId with no known address looks up its peer record (src/registry).
        registryRouting: () => ({ [peerRoutingSymbol]: { findPeer: async (id: PeerId, options?: AbortOptions) => await findPeerByRecord(id, options) } }),
        ping: ping({ runOnLimitedConnection: true }),
        autoNAT: autonat.service,
        // The upgrader (Noise, Yamux) for connections on birthday-punched UDP sockets (src/nat/udx-connection.ts).
        upgraderRef: (components: { upgrader: Upgrader }) => ({ upgrader: components.upgrader }),
        ...(client && this.#init.nat?.upnp !== false ? { upnp: uPnPNAT({ portMappingDescription: UPNP_DESCRIPTION }) } : {}),
        // Umbra relays carry Umbra messages for clients behind NATs. The per-circuit byte and time budgets are enforced by the relay
        // policy, not announced as libp2p limits: js-libp2p never reuses a "limited" connection, so every message to a relayed client
        // would open a new circuit that is then closed as a duplicate (docs/nat.md "Relay limits").
        ...(!client ? { relay: circuitRelayServer({ reservations: { maxReservations: RELAY_MAX_RESERVATIONS, applyDefaultLimit: false } }) } : {}),
        pubsub: gossipsub(gossipsubOptions({
          validator: pubsubValidator,
          maxMessageBytes: pubsubValidator.maxBytes,
          ipColocationPenalty: this.#init.pubsub?.ipColocationPenalty,
          seenTtl: this.#init.pubsub?.seenTtl
        })),
        dht: kadDHT({
          protocol: KAD_PROTOCOL,
          kBucketSize: K,
          clientMode: this.role === 'client',
          // DHT servers are handed out as they announced themselves (loopback and private networks included:
          // kad-dht's default mapper would drop those); any other peer, a client, by its relayed addresses only.
          peerInfoMapper: addressPolicy.peerInfoMapper,
          // A client with no peers must not spin: the relay transport's random walk would re-query an empty table in a tight loop.
          allowQueryWithZeroPeers: this.role === 'server',
          // Every record namespace, declared once (src/dht/namespace.ts), brings its validator and selector.
          validators: Object.fromEntries(NAMESPACES.map((ns) => [ns.name, ns.validator(async (k) => await readLocalRecord(datastore, k))])),
          selectors: Object.fromEntries(NAMESPACES.map((ns) => [ns.name, ns.selector])),
          // Provider records (service discovery, src/discovery) live 6 h, re-provided at half-life; an unadvertised one is gone within that.
          reprovide: {
            validity: this.#init.discovery?.providerTtl ?? PROVIDER_TTL_MS,
            threshold: (this.#init.discovery?.providerTtl ?? PROVIDER_TTL_MS) / 2,
            interval: this.#init.discovery?.reprovideInterval ?? REPROVIDE_INTERVAL_MS
          }
        })
      },
      start: false
    })
    relayPolicy.attach(libp2p)
    addressPolicy.setSelf(libp2p.peerId)
    libp2p.addEventListener('peer:update', (evt) => { addressPolicy.onPeerProtocols(evt.detail.peer.id, evt.detail.peer.protocols) })
    libp2p.addEventListener('peer:connect', (evt) => {
      this.safeDispatchEvent('peer:connect', { detail: { peerId: evt.detail.toString() } })
    })
    libp2p.addEventListener('peer:disconnect', (evt) => {
      this.safeDispatchEvent('peer:disconnect', { detail: { peerId: evt.detail.toString() } })
    })
    const dht = createDhtService({ kad: libp2p.services.dht, datastore, privateKey, log: logger('dht'), metrics, state })
    const messaging = createMessagingService({
      libp2p,
      privateKey,
      log: logger('messaging'),
      quotas: this.#quotas,
      state,
      kad: libp2p.services.dht,
      server: this.role === 'server',
      metrics,
      // Issue 11: where a recipient's offline queue lives, from its peer record (src/registry).
      queueServersOf: async (peer, signal) => await registryRef.current?.lookup(peer.toString(), { signal }).then((r) => r.queueServers) ?? [],
      publishedQueueServers: () => registryRef.current?.own()?.queueServers ?? [],
      // Issue 14: a wallet (secp256k1) recipient's X25519 key, from its peer record.
      encryptionKeyOf: async (peer, signal) => await registryRef.current?.lookup(peer.toString(), { signal }).then((r) => r.encryptionKey),
      onMessage: (msg) => this.safeDispatchEvent('message', { detail: msg })
    })
    const nat = createNatService({
      libp2p,
      role: this.role,
      log: logger('nat'),
      autonat,
      bootstrap: this.#bootstrap,
      stunPort: this.#stunPort,
      stunHost: this.#init.nat?.stunHost ?? stunHostsForListen(this.#listen),
      stunServers: this.#stunServers,
      ownAddrs: addressPolicy.unfiltered,
      metrics,
      birthday: { privateKey, upgrader: () => libp2p.services.upgraderRef.upgrader },
      lookupAddrs: async (peer, signal, fresh) => {
        if (registryRef.current == null) return []
        const rec = await registryRef.current.lookup(peer.toString(), { signal, fresh })
        return rec.addrs.map((a) => a.includes(`/p2p/${rec.peerId}`) ? a : `${a}/p2p/${rec.peerId}`)
      }
    })
    const mixnet = createMixnet({
      libp2p,
      kad: libp2p.services.dht,
      privateKey,
      server: this.role === 'server',
      dataDir: this.#init.privateKey != null ? undefined : this.dataDir,
      state,
      log: logger('mixnet'),
      quotas: this.#quotas,
      metrics,
      // As a gateway, publish the anonymous discovery sets of the pseudonyms it serves (src/discovery).
      gatewayNamespaces: [{ namespace: discoveryNamespace as never, validate: discoveryNamespace.validator(async (k) => await readLocalRecord(datastore, k)) }]
    }, this.#init.mixnet)
    mixnet.events.addEventListener('anonymous:message', (evt) => { if (messaging.store.addAnonymous(evt.detail)) this.safeDispatchEvent('anonymous:message', { detail: evt.detail }) })
    mixnet.events.addEventListener('anonymous:reply', (evt) => { const { id } = messaging.store.addReply(evt.detail); this.safeDispatchEvent('anonymous:reply', { detail: { ...evt.detail, id } }) })
    mixnet.events.addEventListener('anonymous:delivered', (evt) => { this.safeDispatchEvent('anonymous:delivered', { detail: evt.detail }) })
    mixnet.events.addEventListener('anonymous:status', (evt) => { this.safeDispatchEvent('anonymous:status', { detail: evt.detail }) })
    const registry = createRegistry({ libp2p, kad: libp2p.services.dht, privateKey, role: this.role, log: logger('registry'), queueServers: messaging.ownQueueServers }, this.#init.registry)
    registryRef.current = registry
    const names = createNames({ kad: libp2p.services.dht, privateKey, log: logger('names') })
    const discovery = createDiscovery({
      libp2p,
      kad: libp2p.services.dht,
      registry: () => this.#registry,
      pseudonymKey: (key) => mixnet.pseudonymSignKey(key),
      publishThroughGateway: async (pseudonym, dhtKey, record) => await mixnet.publishThroughGateway(pseudonym, dhtKey, record),
      log: logger('discovery')
    })
    const pubsub = createPubSub({
      libp2p,
      gossipsub: libp2p.services.pubsub,
      privateKey,
      validator: pubsubValidator,
      state,
      server: this.role === 'server',
      log: logger('pubsub'),
      pseudonymKey: (key) => mixnet.pseudonymSignKey(key)
    }, this.#init.pubsub)
    pubsub.events.addEventListener('message', (evt) => { this.safeDispatchEvent('pubsub:message', { detail: evt.detail }) })
    attachAnonymous(pubsub, mixnet)
    const hybrid = attachHybrid(pubsub, libp2p.services.pubsub, this.#init.pubsub, logger('pubsub-hybrid'))
    const auth = createAuth({ libp2p, privateKey, pseudonymKey: (key) => mixnet.pseudonymSignKey(key), log: logger('auth') })
    const bootstrapRegistration = this.#bootstrapUrls.length === 0
      ? undefined
      : createBootstrapRegistration({ libp2p, privateKey, role: this.role, urls: this.#bootstrapUrls, register: this.#init.registry?.publish ?? true, log: logger('bootstrap') })
    this.#bootstrapRegistration = bootstrapRegistration
    await libp2p.start()
    try {
      if (this.role === 'server') await libp2p.services.dht.setMode('server')
      await messaging.start()
      dht.start()
      await this.#join(libp2p)
      this.#watchIsolation(libp2p)
      await mixnet.start()
      await nat.start()
      registry.start()
      names.start()
      await auth.start()
      await pubsub.start()
      await hybrid?.start()
      bootstrapRegistration?.start()
    } catch (err) {
      await hybrid?.stop()
      await pubsub.stop()
      await auth.stop()
      names.stop()
      await bootstrapRegistration?.stop()
      registry.stop()
      relayPolicy.detach()
      await nat.stop().catch(() => {})
      await mixnet.stop().catch(() => {})
      await messaging.stop().catch(() => {})
      await libp2p.stop()
      state.close()
      throw err
    }
    this.#mixnet = mixnet
    this.#nat = nat
    this.#registry = registry
    this.#relayPolicy = relayPolicy
    this.#names = names
    this.#proofs = createProofService({ keyFor: (key) => key === keyFromPeerId(libp2p.peerId) ? privateKey : mixnet.pseudonymSignKey(key) })
    this.#discovery = discovery
    this.#auth = auth
    this.#pubsub = pubsub
    this.#hybrid = hybrid
    this.#libp2p = libp2p
    this.#dht = dht
    this.#messaging = messaging
    metrics.attach({ connections: () => libp2p.getConnections(), mixnet, quotas: this.#quotas, pubsub })
    this.#metrics = metrics
    this.#log.info({ peerId: libp2p.peerId.toString(), role: this.role }, 'node started')
  }

  /**
   * Dials the bootstrap list and waits until kad-dht's routing table holds at
   * least one peer, so that a put or get right after `start()` reaches the
   * network. Bounded by BOOTSTRAP_DIAL_TIMEOUT_MS; a node that cannot join
   * still starts (it may be the first of a network) and logs a warning.
   */
  async #join (libp2p: Libp2p<{ dht: KadDHT }>): Promise<void> {
    if (this.#bootstrap.length === 0 && this.#bootstrapUrls.length === 0) return
    const signal = AbortSignal.timeout(BOOTSTRAP_DIAL_TIMEOUT_MS)
    // Bootstrap URLs (src/bootstrap): their live peers are dialled with the multiaddrs.
    const fromUrls = await this.#bootstrapRegistration?.peerAddrs(signal).catch(() => []) ?? []
    const targets = [...this.#bootstrap.map((a) => multiaddr(a)), ...fromUrls]
    if (targets.length === 0) {
      this.#log.warn({ urls: this.#bootstrapUrls.length }, 'the bootstrap URLs list no peer yet; running alone until peers appear')
      return
    }
    const results = await Promise.allSettled(targets.map(async (addr) => await libp2p.dial(addr, { signal })))
    if (results.every((r) => r.status === 'rejected')) {
      this.#log.warn({ bootstrap: this.#bootstrap.length }, 'no bootstrap node answered; running alone until peers appear')
      return
    }
    const table = (libp2p.services.dht as unknown as SingleKadDHT).routingTable
    while (table.size === 0 && !signal.aborted) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }

  /**
   * A node whose bootstrap dials all failed (a slow or loaded network at
   * start), or that later lost every connection, would otherwise stay alone:
   * nothing else dials for it. While it has no open connection it dials its
   * bootstrap list again every REJOIN_INTERVAL_MS.
   */
  #watchIsolation (libp2p: Libp2p<{ dht: KadDHT }>): void {
    if (this.#bootstrap.length === 0) return
    let dialling = false
    this.#rejoinTimer = setInterval(() => {
      if (dialling || libp2p.getConnections().some((c) => c.status === 'open')) return
      dialling = true
      this.#log.info({ bootstrap: this.#bootstrap.length }, 'no open connection; dialling the bootstrap list again')
      const signal = AbortSignal.timeout(BOOTSTRAP_DIAL_TIMEOUT_MS)
      void Promise.allSettled(this.#bootstrap.map(async (addr) => await libp2p.dial(multiaddr(addr), { signal }))).finally(() => { dialling = false })
    }, REJOIN_INTERVAL_MS)
    this.#rejoinTimer.unref()
  }

  async stop (): Promise<void> {
    if (this.#starting != null) await this.#starting.catch(() => {})
    const libp2p = this.#libp2p
    if (libp2p == null) return
    clearInterval(this.#rejoinTimer)
    this.#rejoinTimer = undefined
    this.#libp2p = undefined
    this.#metrics?.detach()
    this.#metrics = undefined
    await this.#bootstrapRegistration?.stop()
    this.#bootstrapRegistration = undefined
    await this.#discovery?.stop()
    this.#discovery = undefined
    await this.#hybrid?.stop()
    this.#hybrid = undefined
    await this.#pubsub?.stop()
    this.#pubsub = undefined
    await this.#auth?.stop()
    this.#auth = undefined
    this.#registry?.stop()
    this.#registry = undefined
    this.#names?.stop()
    this.#names = undefined
    this.#proofs = undefined
    await this.#nat?.stop().catch(() => {})
    this.#nat = undefined
    await this.#mixnet?.stop().catch((err) => { this.#log.warn({ err: err.message }, 'mixnet stop failed') })
    this.#mixnet = undefined
    this.#dht?.stop()
    await this.#messaging?.stop().catch(() => {})
    this.#dht = undefined
    this.#messaging = undefined
    await libp2p.stop()
    this.#relayPolicy?.detach()
    this.#relayPolicy = undefined
    this.#closeState()
  }

  getMultiaddrs (): string[] {
    return this.libp2p.getMultiaddrs().map((ma) => ma.toString())
  }

  quotas (): QuotaSnapshot {
    return this.#quotas.snapshot()
  }

  getPeers (): PeerSummary[] {
    const byPeer = new Map<string, PeerSummary>()
    for (const conn of this.libp2p.getConnections()) {
      // The path of the connection itself (open, its PeerId, limited or circuit: src/nat/path.ts), never of an address alone.
      const path = connectionPath(conn, conn.remotePeer)
      if (path == null) continue
      const id = conn.remotePeer.toString()
      const entry = byPeer.get(id) ?? { peerId: id, addrs: [], path: 'relayed' }
      entry.addrs.push(conn.remoteAddr.toString())
      if (path === 'direct') entry.path = 'direct'
      byPeer.set(id, entry)
    }
    return [...byPeer.values()]
  }
}

/**
 * Creates an Umbra node (not started: call `start()`). Options are checked
 * here; see {@link UmbraNodeInit} for each field and its default.
 * @throws UMBRA_ERR_INVALID_OPTION naming the field and the fix
 */
export async function createNode (init: UmbraNodeInit = {}): Promise<UmbraNode> {
  return new Node(init)
}
