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
}

/** Proof of delivery returned by {@link MessagingService.send}. */
export interface SendReceipt {
  /** Message id, 32 hex characters. */
  id: string
  /** Recipient's PeerId. */
  to: string
  /** Time from the start of `send` until the recipient's acknowledgement, ms. */
  rttMs: number
}

/** Direct, end-to-end encrypted messages. */
export interface MessagingService {
  /**
   * Encrypts `body` to the recipient's key, sends it on `/umbra/msg/1.0.0`
   * and waits for the recipient's acknowledgement.
   * @param to - PeerId string (`12D3Koo…`) or transport key (`key_…`)
   * @param body - at most 1,048,576 bytes
   * @throws UMBRA_ERR_MESSAGE_TOO_LARGE, UMBRA_ERR_INVALID_RECIPIENT, UMBRA_ERR_DELIVERY_FAILED, UMBRA_ERR_ABORTED
   */
  send(to: string, body: Uint8Array, options?: SendOptions): Promise<SendReceipt>
  /** Messages received since start, oldest first (at most the newest 1,000). */
  inbox(): ReceivedMessage[]
}
