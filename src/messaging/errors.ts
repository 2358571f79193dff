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
