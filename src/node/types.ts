import type { DhtService } from '../dht/index.ts'
import type { MessagingService, ReceivedMessage } from '../messaging/index.ts'
import type { Inbox } from '../messaging/inbox.ts'
import type { AnonymousMessage, AnonymousReply, MixnetInit, MixnetService, PseudonymService } from '../mixnet/types.ts'
import type { Registry, RegistryInit } from '../registry/index.ts'
import type { Names } from '../names/index.ts'
import type { Discovery } from '../discovery/index.ts'
import type { Auth } from '../auth/index.ts'
import type { NatInit, NatService } from '../nat/types.ts'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import type { QuotaSnapshot } from '../quota.ts'
import type { TypedEventTarget } from 'main-event'
import type { NodeMetrics } from '../metrics/node-metrics.ts'
import type { ProofService } from '../proofs/service.ts'
import type { PubSubInit, PubSubMessage, PubSubService } from '../pubsub/index.ts'

/** A node's role (DESIGN.md section 2). */
export type Role = 'server' | 'client'

/** Options of {@link createNode}. Every field is optional. */
export interface UmbraNodeInit {
  /**
   * Data directory holding the identity key and API token (created mode 0700).
   * @default `$UMBRA_HOME`, else `~/.umbra`
   */
  dataDir?: string
  /**
   * `server`: DHT server mode, answers queries and stores records.
   * `client`: DHT client mode, never stores other people's records.
   * @default 'server'
   */
  role?: Role
  /**
   * Multiaddrs to listen on.
   * @default ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws']
   */
  listen?: string[]
  /** Multiaddrs (with `/p2p/<PeerId>`) of nodes to join through. @default [] */
  bootstrap?: string[]
  /**
   * Bootstrap endpoints to join through (src/bootstrap, docs/bootstrap.md):
   * at start the node dials the live peers each URL lists; then it registers
   * its peer record there and heartbeats every minute (not with
   * `registry.publish: false`). @default []
   */
  bootstrapUrls?: string[]
  /**
   * Use this transport key instead of the one in the data directory (tests,
   * embedded use). When set, nothing is read from or written to `dataDir`.
   */
  privateKey?: PrivateKey
  /**
   * Passphrase of the data directory's key files (`identity.key`,
   * `pseudonyms.json`; issue 14 item 4, src/identity/keyfile.ts): sealed
   * files are opened with it and new ones written sealed. A wrong one stops
   * `start()` with UMBRA_ERR_BAD_PASSPHRASE and changes no file.
   */
  passphrase?: string
  /** Anonymity layer options (preset, default hops, key epoch, worker threads). */
  mixnet?: MixnetInit
  /** NAT traversal options (STUN port of a server, STUN servers of a client, UPnP). */
  nat?: NatInit
  /** Peer registry options: whether to publish this node's peer record, and its metadata. */
  registry?: RegistryInit
  /**
   * Announce private and loopback addresses (identify, peer record, DHT).
   * Only a server's own listen addresses are concerned: a client announces
   * its relayed addresses alone, whatever this says (docs/nat.md "Who can
   * learn a client's IP address").
   * @default true when every `listen` address is an explicit private or
   * loopback IP (a testnet or a LAN); false when any is public or a wildcard
   * (`0.0.0.0`, `::`)
   */
  announcePrivateAddresses?: boolean
  /** Service discovery options (src/discovery). */
  discovery?: DiscoveryInit
  /** Pub/sub options (src/pubsub, docs/pubsub.md): message size and age limits, the message store, GossipSub's co-location penalty. */
  pubsub?: PubSubInit
}

/** Options of service discovery, `createNode({ discovery })`. */
export interface DiscoveryInit {
  /** Lifetime of this node's provider records on the storing nodes, ms; re-provided when half is left. @default 21_600_000 (6 h) */
  providerTtl?: number
  /** How often kad-dht re-provides and drops expired provider records, ms. @default 600_000 (10 min) */
  reprovideInterval?: number
}

/** Event detail of `peer:connect` and `peer:disconnect`. */
export interface PeerEventDetail {
  /** Remote PeerId, base58btc. */
  peerId: string
}

/**
 * Events a node emits (seed 000's `peerConnected` and friends).
 * - `peer:connect`: a first connection to a peer opened
 * - `peer:disconnect`: the last connection to a peer closed
 * - `message`: a direct message arrived and was decrypted and verified
 */
export interface UmbraNodeEvents {
  'peer:connect': CustomEvent<PeerEventDetail>
  'peer:disconnect': CustomEvent<PeerEventDetail>
  'message': CustomEvent<ReceivedMessage>
  /** An anonymous message for one of this node's pseudonyms was reassembled and decrypted. */
  'anonymous:message': CustomEvent<AnonymousMessage>
  /** A reply came back through a SURB of a message this node sent; `id` is its inbox entry's id (issue 11). */
  'anonymous:reply': CustomEvent<AnonymousReply & { id: string }>
  /** The recipient acknowledged an anonymous message end to end. */
  'anonymous:delivered': CustomEvent<{ id: string }>
  /** A message this node sent reached a final status, or a late acknowledgement changed it. */
  'anonymous:status': CustomEvent<{ id: string, to: string, status: 'stored' | 'delivered' | 'failed' }>
  /** A verified message on a subscribed topic (src/pubsub), once per message id whichever path brought it. */
  'pubsub:message': CustomEvent<PubSubMessage>
}

/** One connected peer, as listed by {@link UmbraNode.getPeers}. */
export interface PeerSummary {
  /** PeerId, base58btc. */
  peerId: string
  /** Remote addresses of the open connections. */
  addrs: string[]
  /** `direct` or `relayed` (through a circuit relay). */
  path: 'direct' | 'relayed'
}

/** An Umbra node. Create with {@link createNode}; call `start()`. */
export interface UmbraNode extends TypedEventTarget<UmbraNodeEvents> {
  /** PeerId (base58btc), valid after `start()`. */
  readonly peerId: string
  /** Transport public key as `key_<base58btc>`, valid after `start()`. */
  readonly key: string
  readonly role: Role
  /** Data directory in use (absolute path). */
  readonly dataDir: string
  /** Signed key/value storage. */
  readonly dht: DhtService
  /** Direct encrypted messages. */
  readonly messaging: MessagingService
  /** The durable inbox of direct and anonymous messages and replies: paged list, delete, ack (src/messaging/inbox.ts). */
  readonly inbox: Inbox
  /** Anonymous messages through the Sphinx mix network. */
  readonly mixnet: MixnetService
  /** Peer records: this node's, and others' by PeerId or key (dialling by PeerId resolves through it). */
  readonly registry: Registry
  /** Global and zone names: register, resolve, list (src/names). */
  readonly names: Names
  /** Service discovery: advertise and find a namespace, by PeerId or by pseudonym. */
  readonly discovery: Discovery
  /** Challenge-response: issue, answer and verify proofs of a key; ask a peer to prove its node key (src/auth). */
  readonly auth: Auth
  /** This node's pseudonyms. */
  readonly pseudonyms: PseudonymService
  /** Ring-signature membership proofs with this node's keys (docs/proofs.md). */
  readonly proofs: ProofService
  /** Publish/subscribe over GossipSub with signed envelopes and a message store (src/pubsub, docs/pubsub.md). */
  readonly pubsub: PubSubService
  /** NAT status and hole punching. */
  readonly nat: NatService
  /** The underlying libp2p node (valid after `start()`), for advanced use. */
  readonly libp2p: Libp2p
  /** `true` between `start()` and `stop()`. */
  readonly isStarted: boolean
  /**
   * Loads or creates the identity, starts libp2p and the services, dials the
   * bootstrap list. Idempotent.
   * @throws UMBRA_ERR_IDENTITY_FILE (bad key file), UMBRA_ERR_INVALID_OPTION
   */
  start(): Promise<void>
  /** Stops every service and closes every socket and timer. Idempotent. */
  stop(): Promise<void>
  /** Listening addresses including `/p2p/<PeerId>`. */
  getMultiaddrs(): string[]
  /** Currently connected peers. */
  getPeers(): PeerSummary[]
  /** Per-peer quota refusals since start, by kind (docs/quotas.md); works before start too. */
  quotas(): QuotaSnapshot
  /**
   * This node's Prometheus metrics (docs/metrics.md): its own registry, new at each start.
   * @throws UMBRA_ERR_NOT_STARTED
   */
  readonly metrics: NodeMetrics
}
