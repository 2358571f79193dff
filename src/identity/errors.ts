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

/**
 * A key of a type this use does not accept: a secp256k1 (wallet) key where
 * only Ed25519 keys work (pseudonyms, ring members, zones, mix nodes and
 * gateways), or an unknown type. Code `UMBRA_ERR_KEY_TYPE_UNSUPPORTED`.
 */
export class KeyTypeUnsupportedError extends UmbraError {
  static readonly code = 'UMBRA_ERR_KEY_TYPE_UNSUPPORTED'
  constructor (message = 'This key type is not supported here (only Ed25519 keys are)', options?: ErrorOptions) {
    super(message, KeyTypeUnsupportedError.code, options)
    this.name = 'KeyTypeUnsupportedError'
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

/** The passphrase does not open an encrypted key file; the file was not changed. Code `UMBRA_ERR_BAD_PASSPHRASE`. */
export class BadPassphraseError extends UmbraError {
  static readonly code = 'UMBRA_ERR_BAD_PASSPHRASE'
  constructor (message = 'Wrong passphrase: the key file does not open with it (it was not changed)', options?: ErrorOptions) {
    super(message, BadPassphraseError.code, options)
    this.name = 'BadPassphraseError'
  }
}

/** A key file is encrypted and no passphrase was given (UMBRA_PASSPHRASE, --passphrase-file or a terminal prompt). Code `UMBRA_ERR_PASSPHRASE_REQUIRED`. */
export class PassphraseRequiredError extends UmbraError {
  static readonly code = 'UMBRA_ERR_PASSPHRASE_REQUIRED'
  constructor (message = 'The key files are encrypted: give the passphrase in UMBRA_PASSPHRASE, with --passphrase-file, or at the prompt', options?: ErrorOptions) {
    super(message, PassphraseRequiredError.code, options)
    this.name = 'PassphraseRequiredError'
  }
}
