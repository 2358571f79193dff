import { UmbraError } from '../errors.ts'

/** A topic name is empty, too long or not a string. Code `UMBRA_ERR_PUBSUB_INVALID_TOPIC` (HTTP 400). */
export class InvalidTopicError extends UmbraError {
  static readonly code = 'UMBRA_ERR_PUBSUB_INVALID_TOPIC'
  constructor (message = 'A topic is 1 to 256 bytes of UTF-8', options?: ErrorOptions) {
    super(message, InvalidTopicError.code, options)
    this.name = 'InvalidTopicError'
  }
}

/** A message is larger than the node's pub/sub limit (default 1 MiB). Code `UMBRA_ERR_PUBSUB_MESSAGE_TOO_LARGE` (HTTP 413). */
export class PubSubMessageTooLargeError extends UmbraError {
  static readonly code = 'UMBRA_ERR_PUBSUB_MESSAGE_TOO_LARGE'
  constructor (message = 'The message is larger than the pub/sub limit (default 1 MiB)', options?: ErrorOptions) {
    super(message, PubSubMessageTooLargeError.code, options)
    this.name = 'PubSubMessageTooLargeError'
  }
}

/**
 * An envelope does not decode, or its signature, topic or timestamp is
 * wrong (src/pubsub/envelope.ts). Code `UMBRA_ERR_PUBSUB_INVALID_ENVELOPE` (HTTP 400).
 */
export class InvalidEnvelopeError extends UmbraError {
  static readonly code = 'UMBRA_ERR_PUBSUB_INVALID_ENVELOPE'
  constructor (message = 'The pub/sub envelope is malformed or its signature does not verify', options?: ErrorOptions) {
    super(message, InvalidEnvelopeError.code, options)
    this.name = 'InvalidEnvelopeError'
  }
}

/**
 * A pub/sub feature this node does not offer (yet), such as anonymous
 * publishing before the mixnet bridge is wired. Code `UMBRA_ERR_PUBSUB_UNSUPPORTED` (HTTP 501).
 */
export class PubSubUnsupportedError extends UmbraError {
  static readonly code = 'UMBRA_ERR_PUBSUB_UNSUPPORTED'
  constructor (message = 'This pub/sub feature is not available on this node', options?: ErrorOptions) {
    super(message, PubSubUnsupportedError.code, options)
    this.name = 'PubSubUnsupportedError'
  }
}

/** No server answered a history request for a topic. Code `UMBRA_ERR_PUBSUB_HISTORY` (HTTP 502). */
export class PubSubHistoryError extends UmbraError {
  static readonly code = 'UMBRA_ERR_PUBSUB_HISTORY'
  constructor (message = 'No server answered the history request for this topic', options?: ErrorOptions) {
    super(message, PubSubHistoryError.code, options)
    this.name = 'PubSubHistoryError'
  }
}
