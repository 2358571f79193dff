/**
 * Base class of every error Umbra throws on purpose.
 *
 * Callers (and the HTTP API) match on `code`, a stable string of the form
 * `UMBRA_ERR_…`; `message` is for people and may change between versions.
 * Model: undici `lib/core/errors.js`, hyperdht `lib/errors.js` (STYLE.md, Errors).
 */
export class UmbraError extends Error {
  /** Stable machine-readable code, `UMBRA_ERR_…`. */
  readonly code: string

  /**
   * @param message - human-readable description
   * @param code - stable error code, `UMBRA_ERR_…`
   * @param options - standard `ErrorOptions` (`cause`)
   */
  constructor (message: string, code: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'UmbraError'
    this.code = code
  }
}

/** An option passed to a constructor or factory is out of range or of the wrong type. Code `UMBRA_ERR_INVALID_OPTION`. */
export class InvalidOptionError extends UmbraError {
  static readonly code = 'UMBRA_ERR_INVALID_OPTION'
  constructor (message = 'Invalid option', options?: ErrorOptions) {
    super(message, InvalidOptionError.code, options)
    this.name = 'InvalidOptionError'
  }
}

/** The operation was aborted through its `AbortSignal`. Code `UMBRA_ERR_ABORTED`. */
export class AbortedError extends UmbraError {
  static readonly code = 'UMBRA_ERR_ABORTED'
  constructor (message = 'The operation was aborted', options?: ErrorOptions) {
    super(message, AbortedError.code, options)
    this.name = 'AbortedError'
  }
}

/** The node is not started (or already stopped). Code `UMBRA_ERR_NOT_STARTED`. */
export class NotStartedError extends UmbraError {
  static readonly code = 'UMBRA_ERR_NOT_STARTED'
  constructor (message = 'The node is not started', options?: ErrorOptions) {
    super(message, NotStartedError.code, options)
    this.name = 'NotStartedError'
  }
}
