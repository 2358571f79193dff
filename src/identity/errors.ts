import { UmbraError } from '../errors.ts'

/** A string is not a well-formed `key_<base58btc>` key. Code `UMBRA_ERR_INVALID_KEY`. */
export class InvalidKeyError extends UmbraError {
  static readonly code = 'UMBRA_ERR_INVALID_KEY'
  constructor (message = 'Not a valid key_ key', options?: ErrorOptions) {
    super(message, InvalidKeyError.code, options)
    this.name = 'InvalidKeyError'
  }
}

/** A `key_` key is well formed but its checksum does not match (a typo). Code `UMBRA_ERR_KEY_CHECKSUM`. */
export class KeyChecksumError extends UmbraError {
  static readonly code = 'UMBRA_ERR_KEY_CHECKSUM'
  constructor (message = 'Key checksum mismatch: the key was mistyped or truncated', options?: ErrorOptions) {
    super(message, KeyChecksumError.code, options)
    this.name = 'KeyChecksumError'
  }
}

/** The identity or token file exists but cannot be read or parsed. It is left untouched. Code `UMBRA_ERR_IDENTITY_FILE`. */
export class IdentityFileError extends UmbraError {
  static readonly code = 'UMBRA_ERR_IDENTITY_FILE'
  constructor (message = 'The identity file is unreadable', options?: ErrorOptions) {
    super(message, IdentityFileError.code, options)
    this.name = 'IdentityFileError'
  }
}
