import { UmbraError } from '../errors.ts'

/** A body is larger than 1 MiB. Code `UMBRA_ERR_MESSAGE_TOO_LARGE`. */
export class MessageTooLargeError extends UmbraError {
  static readonly code = 'UMBRA_ERR_MESSAGE_TOO_LARGE'
  constructor (message = 'A message body is at most 1048576 bytes', options?: ErrorOptions) {
    super(message, MessageTooLargeError.code, options)
    this.name = 'MessageTooLargeError'
  }
}

/** The recipient is not a PeerId or key, or not an Ed25519 one. Code `UMBRA_ERR_INVALID_RECIPIENT`. */
export class InvalidRecipientError extends UmbraError {
  static readonly code = 'UMBRA_ERR_INVALID_RECIPIENT'
  constructor (message = 'The recipient must be an Ed25519 PeerId or a key_ key', options?: ErrorOptions) {
    super(message, InvalidRecipientError.code, options)
    this.name = 'InvalidRecipientError'
  }
}

/** The recipient could not be reached or did not acknowledge. Code `UMBRA_ERR_DELIVERY_FAILED`. */
export class DeliveryFailedError extends UmbraError {
  static readonly code = 'UMBRA_ERR_DELIVERY_FAILED'
  constructor (message = 'The message was not delivered', options?: ErrorOptions) {
    super(message, DeliveryFailedError.code, options)
    this.name = 'DeliveryFailedError'
  }
}

/** An envelope could not be decrypted or its signature did not verify. Code `UMBRA_ERR_UNREADABLE_MESSAGE`. */
export class UnreadableMessageError extends UmbraError {
  static readonly code = 'UMBRA_ERR_UNREADABLE_MESSAGE'
  constructor (message = 'The message could not be decrypted or verified', options?: ErrorOptions) {
    super(message, UnreadableMessageError.code, options)
    this.name = 'UnreadableMessageError'
  }
}

/** No inbox entry has this id. Code `UMBRA_ERR_MESSAGE_NOT_FOUND` (HTTP 404). */
export class MessageNotFoundError extends UmbraError {
  static readonly code = 'UMBRA_ERR_MESSAGE_NOT_FOUND'
  constructor (message = 'No message with this id is in the inbox', options?: ErrorOptions) {
    super(message, MessageNotFoundError.code, options)
    this.name = 'MessageNotFoundError'
  }
}

/** The recipient's offline queue holds 100 messages already (seed 001). Code `UMBRA_ERR_OFFLINE_QUEUE_FULL` (HTTP 507). */
export class OfflineQueueFullError extends UmbraError {
  static readonly code = 'UMBRA_ERR_OFFLINE_QUEUE_FULL'
  constructor (message = 'The recipient is offline and its offline queue holds 100 messages already', options?: ErrorOptions) {
    super(message, OfflineQueueFullError.code, options)
    this.name = 'OfflineQueueFullError'
  }
}

/** The message does not fit in the recipient's offline queue (1 MB per recipient, seed 001). Code `UMBRA_ERR_OFFLINE_QUEUE_BYTES` (HTTP 507). */
export class OfflineQueueBytesError extends UmbraError {
  static readonly code = 'UMBRA_ERR_OFFLINE_QUEUE_BYTES'
  constructor (message = 'The recipient is offline and the message does not fit in its offline queue (1 MB)', options?: ErrorOptions) {
    super(message, OfflineQueueBytesError.code, options)
    this.name = 'OfflineQueueBytesError'
  }
}

/** Every queue server that answered is out of room for this sender's messages or in all (per-sender and total quotas). Code `UMBRA_ERR_OFFLINE_QUEUE_SERVER_FULL` (HTTP 507). */
export class OfflineQueueServerFullError extends UmbraError {
  static readonly code = 'UMBRA_ERR_OFFLINE_QUEUE_SERVER_FULL'
  constructor (message = 'The recipient is offline and its queue servers have no room left for this sender', options?: ErrorOptions) {
    super(message, OfflineQueueServerFullError.code, options)
    this.name = 'OfflineQueueServerFullError'
  }
}
