/** Options of {@link DhtService.put}. */
export interface DhtPutOptions {
  /**
   * Lifetime of the record in milliseconds, from now. Every storing node
   * refuses the record after it; the owner re-publishes until then.
   * Between 1 s and 48 h.
   * @default 86_400_000 (24 h, issue 2)
   */
  ttl?: number
  /** Aborts the network part of the put; the local copy is kept. */
  signal?: AbortSignal
}

/** What {@link DhtService.put} reports. */
export interface DhtPutResult {
  /** The user key as given. */
  key: string
  /** Sequence number of the stored record (starts at 1, +1 per put of the same key by this node). */
  seq: number
  /** Expiry, milliseconds since the Unix epoch. */
  expiresAt: number
  /** How many remote nodes acknowledged storing the record (0 when the node is alone). */
  storedOn: number
}

/** Options of {@link DhtService.get}. */
export interface DhtGetOptions {
  /** Skip the local copy and ask the network. @default false */
  fresh?: boolean
  /** Stop the network query after this many valid remote copies (1 to 20). @default 3 */
  quorum?: number
  /** Aborts the network query. */
  signal?: AbortSignal
}

/** A record found by {@link DhtService.get}. */
export interface DhtGetResult {
  key: string
  /** The stored value, at most 64 KiB. */
  value: Uint8Array
  /** Publisher's signing key, `key_<base58btc>`. */
  publisher: string
  seq: number
  /** Expiry, milliseconds since the Unix epoch. */
  expiresAt: number
  /** Where the record came from: this node's store or a network query. */
  source: 'local' | 'network'
}

/** Signed key/value storage in the DHT. */
export interface DhtService {
  /**
   * Signs `value` under `key` with the node's key and stores it on the k (20)
   * closest nodes and locally.
   * @param key - 1 to 256 bytes of UTF-8
   * @param value - at most 65,536 bytes
   * @throws UMBRA_ERR_INVALID_KEY_NAME, UMBRA_ERR_VALUE_TOO_LARGE, UMBRA_ERR_INVALID_TTL, UMBRA_ERR_ABORTED
   */
  put(key: string, value: Uint8Array, options?: DhtPutOptions): Promise<DhtPutResult>
  /**
   * Finds the newest valid record for `key`: local store first, then the network.
   * @returns the record, or `undefined` when no node has a valid one
   * @throws UMBRA_ERR_INVALID_KEY_NAME, UMBRA_ERR_INVALID_OPTION (quorum), UMBRA_ERR_ABORTED
   */
  get(key: string, options?: DhtGetOptions): Promise<DhtGetResult | undefined>
}
