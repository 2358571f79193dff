import { UmbraError } from '../errors.ts'

/** The mix directory does not hold enough nodes for the requested path. Code `UMBRA_ERR_NOT_ENOUGH_MIXES`. */
export class NotEnoughMixesError extends UmbraError {
  static readonly code = 'UMBRA_ERR_NOT_ENOUGH_MIXES'
  constructor (message = 'The mix directory holds too few nodes for this path', options?: ErrorOptions) {
    super(message, NotEnoughMixesError.code, options)
    this.name = 'NotEnoughMixesError'
  }
}

/** No contact record could be found for a pseudonym. Code `UMBRA_ERR_UNKNOWN_PSEUDONYM`. */
export class UnknownPseudonymError extends UmbraError {
  static readonly code = 'UMBRA_ERR_UNKNOWN_PSEUDONYM'
  constructor (message = 'No contact record was found for this pseudonym', options?: ErrorOptions) {
    super(message, UnknownPseudonymError.code, options)
    this.name = 'UnknownPseudonymError'
  }
}

/** The recipient's gateway refused a fragment because the mailbox is full. Code `UMBRA_ERR_MAILBOX_FULL`. */
export class MailboxFullError extends UmbraError {
  static readonly code = 'UMBRA_ERR_MAILBOX_FULL'
  constructor (message = 'The recipient\'s mailbox is full', options?: ErrorOptions) {
    super(message, MailboxFullError.code, options)
    this.name = 'MailboxFullError'
  }
}

/** Fragments were not acknowledged after every retransmission, or the gateway refused them. Code `UMBRA_ERR_ANON_DELIVERY_FAILED`. */
export class AnonymousDeliveryError extends UmbraError {
  static readonly code = 'UMBRA_ERR_ANON_DELIVERY_FAILED'
  constructor (message = 'The anonymous message was not acknowledged', options?: ErrorOptions) {
    super(message, AnonymousDeliveryError.code, options)
    this.name = 'AnonymousDeliveryError'
  }
}

/** A reply names a message that has no unused SURB left (or never had one). Code `UMBRA_ERR_NO_SURB`. */
export class NoSurbError extends UmbraError {
  static readonly code = 'UMBRA_ERR_NO_SURB'
  constructor (message = 'No reply block is left for this message', options?: ErrorOptions) {
    super(message, NoSurbError.code, options)
    this.name = 'NoSurbError'
  }
}

/** A reply is larger than one packet can carry. Code `UMBRA_ERR_REPLY_TOO_LARGE`. */
export class ReplyTooLargeError extends UmbraError {
  static readonly code = 'UMBRA_ERR_REPLY_TOO_LARGE'
  constructor (message = 'A reply fits in one packet', options?: ErrorOptions) {
    super(message, ReplyTooLargeError.code, options)
    this.name = 'ReplyTooLargeError'
  }
}

/** A gateway protocol or payload-layer frame is malformed. Code `UMBRA_ERR_MIXNET_MALFORMED`. */
export class MixnetMalformedError extends UmbraError {
  static readonly code = 'UMBRA_ERR_MIXNET_MALFORMED'
  constructor (message = 'Malformed mixnet frame', options?: ErrorOptions) {
    super(message, MixnetMalformedError.code, options)
    this.name = 'MixnetMalformedError'
  }
}

/** A pseudonym named by the caller is not held by this node. Code `UMBRA_ERR_NOT_MY_PSEUDONYM`. */
export class NotMyPseudonymError extends UmbraError {
  static readonly code = 'UMBRA_ERR_NOT_MY_PSEUDONYM'
  constructor (message = 'This node does not hold that pseudonym', options?: ErrorOptions) {
    super(message, NotMyPseudonymError.code, options)
    this.name = 'NotMyPseudonymError'
  }
}

/** A pseudonym's gateway is not connected or did not answer (e.g. a purge). Code `UMBRA_ERR_GATEWAY_UNREACHABLE`. */
export class GatewayUnreachableError extends UmbraError {
  static readonly code = 'UMBRA_ERR_GATEWAY_UNREACHABLE'
  constructor (message = 'The pseudonym\'s gateway is not reachable', options?: ErrorOptions) {
    super(message, GatewayUnreachableError.code, options)
    this.name = 'GatewayUnreachableError'
  }
}

/**
 * The gateway's mailbox database cannot be opened or used: the file is
 * damaged or of another schema (it is left untouched), the disk failed, or
 * the store was closed. Code `UMBRA_ERR_MAILBOX_STORE`.
 */
export class MailboxStoreError extends UmbraError {
  static readonly code = 'UMBRA_ERR_MAILBOX_STORE'
  constructor (message = 'The mailbox store is unusable', options?: ErrorOptions) {
    super(message, MailboxStoreError.code, options)
    this.name = 'MailboxStoreError'
  }
}

/**
 * `pseudonyms.json` exists but cannot be read, parsed or written. A damaged
 * file is never overwritten; the message names it. Code `UMBRA_ERR_PSEUDONYM_FILE`.
 */
export class PseudonymFileError extends UmbraError {
  static readonly code = 'UMBRA_ERR_PSEUDONYM_FILE'
  constructor (message = 'The pseudonym file is unreadable', options?: ErrorOptions) {
    super(message, PseudonymFileError.code, options)
    this.name = 'PseudonymFileError'
  }
}

/**
 * A mix descriptor failed validation: too large, malformed, not canonical,
 * wrong field lengths, expired, issued in the future, or a bad signature.
 * Code `UMBRA_ERR_INVALID_DESCRIPTOR`.
 */
export class InvalidDescriptorError extends UmbraError {
  static readonly code = 'UMBRA_ERR_INVALID_DESCRIPTOR'
  constructor (message = 'Invalid mix descriptor', options?: ErrorOptions) {
    super(message, InvalidDescriptorError.code, options)
    this.name = 'InvalidDescriptorError'
  }
}

/**
 * Constant-rate sending (issue 16, item 1): the send queue has no room for
 * the message's packets now. `retryAfterMs` is the expected time until it
 * has (the queue drains at the preset's rate). Code `UMBRA_ERR_SEND_QUEUE_FULL`.
 */
export class SendQueueFullError extends UmbraError {
  static readonly code = 'UMBRA_ERR_SEND_QUEUE_FULL'
  /** Expected wait until the message fits, ms. */
  readonly retryAfterMs: number
  constructor (message = 'The send queue is full; retry later', options?: ErrorOptions & { retryAfterMs?: number }) {
    super(message, SendQueueFullError.code, options)
    this.name = 'SendQueueFullError'
    this.retryAfterMs = options?.retryAfterMs ?? 0
  }
}

/** Why a packet link failed (docs/mixnet.md "Packet links"). */
export type MixLinkFailure = 'connect' | 'handshake' | 'wrong-key' | 'garbage' | 'truncated' | 'closed' | 'limit'

/**
 * A packet link (a mix node's own TCP channel for Sphinx packets, issue 16
 * item 3) failed: the TCP connection could not be made or closed
 * (`connect`, `closed`), the Noise handshake failed or timed out
 * (`handshake`), the responder did not hold the key its descriptor names
 * (`wrong-key`), bytes arrived that are not a whole authenticated frame
 * (`garbage`, `truncated`), or the listener is full (`limit`).
 * Code `UMBRA_ERR_MIX_LINK`.
 */
export class MixLinkError extends UmbraError {
  static readonly code = 'UMBRA_ERR_MIX_LINK'
  /** What failed. */
  readonly reason: MixLinkFailure
  constructor (message = 'The packet link to the next hop failed', options?: ErrorOptions & { reason?: MixLinkFailure }) {
    super(message, MixLinkError.code, options)
    this.name = 'MixLinkError'
    this.reason = options?.reason ?? 'closed'
  }
}
