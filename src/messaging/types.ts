import type { RankedPath } from './path-ranking.ts'
/** A message this node received and decrypted. */
export interface ReceivedMessage {
  /** Message id chosen by the sender, 32 lowercase hex characters (16 bytes). */
  id: string
  /** Sender's PeerId (base58btc), proven by the signature inside the encryption. */
  from: string
  /** Sender's transport key, `key_<base58btc>`. */
  fromKey: string
  /** Plaintext body, at most 1 MiB. */
  body: Uint8Array
  /** Sender's clock at sending, ms since the Unix epoch (not trusted). */
  sentAt: number
  /** This node's clock at receipt, ms since the Unix epoch. */
  receivedAt: number
}

/** Options of {@link MessagingService.send}. */
export interface SendOptions {
  /** Aborts dialing and waiting for the acknowledgement. */
  signal?: AbortSignal
  /** Gives up after this many milliseconds. @default 30_000 */
  timeout?: number
  /**
   * Message id, 32 hex characters: pass the id of an earlier attempt to retry
   * it (the recipient de-duplicates by id, so a retry after a lost
   * acknowledgement never yields two copies). Random when absent.
   */
  id?: string
}

/** Which of seed 001's paths carried a direct message. */
export type DeliveryPath = 'direct' | 'relayed' | 'queued'

/** Proof of delivery returned by {@link MessagingService.send}. */
export interface SendReceipt {
  /** Message id, 32 hex characters. */
  id: string
  /** Recipient's PeerId. */
  to: string
  /**
   * `direct`: acknowledged by the recipient over a direct connection;
   * `relayed`: acknowledged over a circuit-relay connection; `queued`: the
   * recipient was unreachable, the sealed message waits in its offline queue
   * at `servers` (delivered when it comes back, within 72 h).
   */
  path: DeliveryPath
  /** PeerIds of the queue servers that stored the message (`queued` only). */
  servers?: string[]
  /** Time from the start of `send` until the recipient's (or, queued, the first queue server's) acknowledgement, ms. */
  rttMs: number
}

/** Direct, end-to-end encrypted messages. */
export interface MessagingService {
  /**
   * Encrypts `body` to the recipient's key and delivers it on the first of
   * seed 001's paths that works (issue 11): the peer's open connections and
   * known direct and relayed addresses, best ranked first (`paths`; the NAT
   * service upgrades a relayed connection by hole punching), and when the
   * recipient is unreachable the recipient's offline queue at the servers
   * its peer record names, else its 3 closest server nodes. The receipt says which path carried it. `timeout` bounds
   * the direct attempt (the dial alone at most 10 s); queuing then has 15 s
   * of its own.
   * @param to - PeerId string (`12D3Koo…`) or transport key (`key_…`)
   * @param body - at most 1,048,576 bytes
   * @throws UMBRA_ERR_MESSAGE_TOO_LARGE, UMBRA_ERR_INVALID_RECIPIENT, UMBRA_ERR_INVALID_OPTION (bad id),
   *   UMBRA_ERR_DELIVERY_FAILED (the recipient refused it, or it is unreachable and no queue server stored it),
   *   UMBRA_ERR_OFFLINE_QUEUE_FULL, UMBRA_ERR_OFFLINE_QUEUE_BYTES (unreachable and its queue is full), UMBRA_ERR_ABORTED
   */
  send(to: string, body: Uint8Array, options?: SendOptions): Promise<SendReceipt>
  /**
   * The paths to `to` (PeerId or `key_…`), best first, with their measurements
   * (seed 002's path ranking, issue 11): open connections, addresses the peer
   * store knows, each with what was measured over it. `send` tries them in this order.
   * @throws UMBRA_ERR_INVALID_RECIPIENT
   */
  paths(to: string): Promise<RankedPath[]>
  /** Direct messages in the durable inbox, oldest first (at most the newest 1,000); `node.inbox` pages all kinds. */
  inbox(): ReceivedMessage[]
  /**
   * Asks this node's queue servers for messages left while it was away, stores
   * them in the inbox (dropping ids already received) and acknowledges them.
   * Runs by itself when a queue server connects (at most every 5 s) and every 30 s. Resolves with the number of new messages.
   */
  drainOfflineQueue(options?: { signal?: AbortSignal }): Promise<number>
}
