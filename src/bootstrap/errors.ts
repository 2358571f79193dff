import { UmbraError } from '../errors.ts'

/** The challenge is unknown, expired or already used. Code `UMBRA_ERR_BAD_CHALLENGE` (HTTP 401). */
export class BadChallengeError extends UmbraError {
  static readonly code = 'UMBRA_ERR_BAD_CHALLENGE'
  constructor (message = 'The challenge is unknown, expired or already used; GET /challenge for a fresh one', options?: ErrorOptions) {
    super(message, BadChallengeError.code, options)
    this.name = 'BadChallengeError'
  }
}

/** The signature over the challenge is not by the key the request names. Code `UMBRA_ERR_BAD_SIGNATURE` (HTTP 401). */
export class BadSignatureError extends UmbraError {
  static readonly code = 'UMBRA_ERR_BAD_SIGNATURE'
  constructor (message = 'The challenge signature does not verify under the key the request names', options?: ErrorOptions) {
    super(message, BadSignatureError.code, options)
    this.name = 'BadSignatureError'
  }
}

/** Too many requests from one source address. Code `UMBRA_ERR_RATE_LIMITED` (HTTP 429). */
export class RateLimitedError extends UmbraError {
  static readonly code = 'UMBRA_ERR_RATE_LIMITED'
  constructor (message = 'Too many requests from this address; retry later', options?: ErrorOptions) {
    super(message, RateLimitedError.code, options)
    this.name = 'RateLimitedError'
  }
}

/** A bootstrap server answered with an error or something unreadable. Code `UMBRA_ERR_BOOTSTRAP_FAILED`. */
export class BootstrapFailedError extends UmbraError {
  /** HTTP status of the answer, when there was one. */
  readonly status?: number
  static readonly code = 'UMBRA_ERR_BOOTSTRAP_FAILED'
  constructor (message = 'The bootstrap server refused or did not answer', options?: ErrorOptions & { status?: number }) {
    super(message, BootstrapFailedError.code, options)
    this.name = 'BootstrapFailedError'
    if (options?.status != null) this.status = options.status
  }
}
