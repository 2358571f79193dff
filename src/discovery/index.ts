/**
 * Service discovery and rendezvous (DESIGN.md section 4 "Discovery", seeds
 * 002 and 004, issue 9 item 4): a node advertises that it offers a service
 * under a namespace string, and others find who does. Two variants:
 *
 * - by PeerId: kad-dht provider records under CID v1 raw sha256(domain ‖ namespace);
 *   the finder gets PeerIds with addresses (from the provider record, else the peer registry);
 * - anonymous: a pseudonym `key_…` is listed instead, in a bounded signed set
 *   under `/umbra-disc/<topic>`; the finder gets pseudonyms, to reach through the mixnet.
 *
 * docs/discovery.md has the record layouts and what each party learns.
 *
 * @example
 * ```ts
 * const node = await createNode({ bootstrap: [addr] })
 * await node.start()
 * await node.discovery.advertise('chat/lobby')                       // PeerId in the DHT
 * const peers = await node.discovery.find('chat/lobby', { limit: 5 }) // [{ peerId, key, addrs }]
 * const p = await node.pseudonyms.create()
 * await node.discovery.advertise('chat/lobby', { pseudonym: p.key }) // pseudonym only
 * const anon = await node.discovery.find('chat/lobby', { anonymous: true }) // [{ pseudonym, expiresAt }]
 * await node.mixnet.send(anon[0].pseudonym, bytes)
 * ```
 */
export { createDiscovery, namespaceCid, type DiscoveryComponents, type DiscoveryHandle } from './discovery-service.ts'
export { anonSetKey, checkNamespace, discoveryNamespace, signEntry, signSet, topicOf, verifyEntry, verifySet, type AnonEntry, type AnonSet } from './anon-set.ts'
export { DiscoverySetFullError, InvalidNamespaceError } from './errors.ts'
export * as discoveryConstants from './constants.ts'

/** Options of {@link Discovery.advertise} and {@link Discovery.unadvertise}. */
export interface AdvertiseOptions {
  /**
   * Advertise (or withdraw) this pseudonym of the node, `key_…`, instead of
   * the PeerId. @default undefined (the PeerId, as a provider record)
   */
  pseudonym?: string
  signal?: AbortSignal
}

/** What {@link Discovery.advertise} reports. */
export interface AdvertiseResult {
  namespace: string
  anonymous: boolean
  /** The PeerId, or the pseudonym `key_…`, that is now listed. */
  advertiser: string
  /** How many DHT nodes acknowledged the provider record or the set (0 when alone). */
  storedOn: number
}

/** Options of {@link Discovery.find}. */
export interface FindOptions {
  /** Most results, 1 to 100. @default 20 */
  limit?: number
  /** List the pseudonyms of the anonymous set instead of provider PeerIds. @default false */
  anonymous?: boolean
  signal?: AbortSignal
}

/** A node found by {@link Discovery.find}. */
export interface DiscoveredPeer {
  /** PeerId, base58btc. */
  peerId: string
  /** Its transport key, `key_…`. */
  key: string
  /** Multiaddrs from the provider record, else from its peer record; may be empty. */
  addrs: string[]
}

/** A pseudonym found by {@link Discovery.find} with `anonymous: true`. */
export interface DiscoveredPseudonym {
  /** The pseudonym, `key_…`: send to it with `mixnet.send`. */
  pseudonym: string
  /** When its entry expires unless re-advertised, ms since the Unix epoch. */
  expiresAt: number
}

/** Service discovery as the node exposes it (`node.discovery`). */
export interface Discovery {
  /**
   * Advertises this node (or one of its pseudonyms) under `namespace` and
   * keeps it advertised (re-provided / re-signed before expiry) until
   * {@link unadvertise} or `stop()`.
   * @param namespace - 1 to 256 bytes of UTF-8, no control characters
   * @throws UMBRA_ERR_INVALID_NAMESPACE, UMBRA_ERR_INVALID_OPTION (not this node's pseudonym),
   *   UMBRA_ERR_DISCOVERY_SET_FULL (anonymous, 32 fresh entries), UMBRA_ERR_ABORTED
   */
  advertise(namespace: string, options?: AdvertiseOptions): Promise<AdvertiseResult>
  /**
   * Stops advertising. By PeerId: no more re-provides; copies on the storing
   * nodes are dropped when they expire (at most PROVIDER_TTL_MS, 6 h).
   * Anonymous: the set is re-written without the pseudonym's entry at once.
   * @throws UMBRA_ERR_INVALID_NAMESPACE, UMBRA_ERR_INVALID_OPTION, UMBRA_ERR_ABORTED
   */
  unadvertise(namespace: string, options?: AdvertiseOptions): Promise<void>
  /**
   * Finds who advertises `namespace`: nodes (PeerIds with addresses), or,
   * with `anonymous: true`, pseudonyms (random order).
   * @throws UMBRA_ERR_INVALID_NAMESPACE, UMBRA_ERR_INVALID_OPTION (limit), UMBRA_ERR_ABORTED
   */
  find(namespace: string, options: FindOptions & { anonymous: true }): Promise<DiscoveredPseudonym[]>
  find(namespace: string, options?: FindOptions & { anonymous?: false }): Promise<DiscoveredPeer[]>
  find(namespace: string, options?: FindOptions): Promise<DiscoveredPeer[] | DiscoveredPseudonym[]>
  /** What this node advertises now. */
  advertised(): { namespaces: string[], anonymous: Array<{ namespace: string, pseudonym: string }> }
  /** Bad network input dropped since start, by reason (`invalid-set`: a copy of an anonymous set that did not verify). */
  counters(): { dropped: Record<string, number> }
}
