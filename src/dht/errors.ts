import { UmbraError } from '../errors.ts'

/** A user key is empty, too long or not text. Code `UMBRA_ERR_INVALID_KEY_NAME`. */
export class InvalidKeyNameError extends UmbraError {
  static readonly code = 'UMBRA_ERR_INVALID_KEY_NAME'
  constructor (message = 'A DHT key is 1 to 256 bytes of UTF-8 text', options?: ErrorOptions) {
    super(message, InvalidKeyNameError.code, options)
    this.name = 'InvalidKeyNameError'
  }
}

/** A value is larger than 64 KiB. Code `UMBRA_ERR_VALUE_TOO_LARGE`. */
export class ValueTooLargeError extends UmbraError {
  static readonly code = 'UMBRA_ERR_VALUE_TOO_LARGE'
  constructor (message = 'A DHT value is at most 65536 bytes', options?: ErrorOptions) {
    super(message, ValueTooLargeError.code, options)
    this.name = 'ValueTooLargeError'
  }
}

/** A TTL is outside 1 s … 48 h. Code `UMBRA_ERR_INVALID_TTL`. */
export class InvalidTtlError extends UmbraError {
  static readonly code = 'UMBRA_ERR_INVALID_TTL'
  constructor (message = 'A TTL is between 1 second and 48 hours', options?: ErrorOptions) {
    super(message, InvalidTtlError.code, options)
    this.name = 'InvalidTtlError'
  }
}

/**
 * A record failed validation: malformed, bad signature, expired, too large,
 * or older than the copy already held. Code `UMBRA_ERR_INVALID_RECORD`.
 */
export class InvalidRecordError extends UmbraError {
  static readonly code = 'UMBRA_ERR_INVALID_RECORD'
  constructor (message = 'Invalid DHT record', options?: ErrorOptions) {
    super(message, InvalidRecordError.code, options)
    this.name = 'InvalidRecordError'
  }
}

/**
 * The key is held by another publisher's unexpired record (first writer owns
 * a key until its record expires). Code `UMBRA_ERR_KEY_OWNED`.
 */
export class KeyOwnedError extends UmbraError {
  static readonly code = 'UMBRA_ERR_KEY_OWNED'
  constructor (message = 'The key belongs to another publisher until its record expires', options?: ErrorOptions) {
    super(message, KeyOwnedError.code, options)
    this.name = 'KeyOwnedError'
  }
}
