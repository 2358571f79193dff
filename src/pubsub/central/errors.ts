import { UmbraError } from '../../errors.ts'

/**
 * A frame sent to or by the central pub/sub server is not valid JSON, has an
 * unknown op or version, or a field out of range (topic longer than 256
 * bytes, data over the size limit, too many topics). Code
 * `UMBRA_ERR_PUBSUB_CENTRAL_PROTOCOL`.
 */
export class CentralProtocolError extends UmbraError {
  static readonly code = 'UMBRA_ERR_PUBSUB_CENTRAL_PROTOCOL'
  constructor (message = 'Malformed central pub/sub frame', options?: ErrorOptions) {
    super(message, CentralProtocolError.code, options)
    this.name = 'CentralProtocolError'
  }
}

/** A connection to the central pub/sub server sent frames faster than its rate limit; the frame was refused. Code `UMBRA_ERR_PUBSUB_CENTRAL_RATE_LIMITED`. */
export class CentralRateLimitedError extends UmbraError {
  static readonly code = 'UMBRA_ERR_PUBSUB_CENTRAL_RATE_LIMITED'
  constructor (message = 'Too many frames to the central pub/sub server', options?: ErrorOptions) {
    super(message, CentralRateLimitedError.code, options)
    this.name = 'CentralRateLimitedError'
  }
}

/** The central pub/sub server is not connected, or did not acknowledge a publish in time. Code `UMBRA_ERR_PUBSUB_CENTRAL_UNAVAILABLE`. */
export class CentralUnavailableError extends UmbraError {
  static readonly code = 'UMBRA_ERR_PUBSUB_CENTRAL_UNAVAILABLE'
  constructor (message = 'The central pub/sub server is not available', options?: ErrorOptions) {
    super(message, CentralUnavailableError.code, options)
    this.name = 'CentralUnavailableError'
  }
}

/**
 * Hybrid mode (src/pubsub/hybrid.ts): neither GossipSub nor the central
 * server is healthy and the publish queue is full, so the message was not
 * accepted. Code `UMBRA_ERR_PUBSUB_QUEUE_FULL`.
 */
export class PubSubQueueFullError extends UmbraError {
  static readonly code = 'UMBRA_ERR_PUBSUB_QUEUE_FULL'
  constructor (message = 'Neither pub/sub side is healthy and the publish queue is full', options?: ErrorOptions) {
    super(message, PubSubQueueFullError.code, options)
    this.name = 'PubSubQueueFullError'
  }
}
