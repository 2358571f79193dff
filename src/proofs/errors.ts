import { UmbraError } from '../errors.ts'

/**
 * A ring is not usable: not a list, fewer than 2 or more than 256 members, a
 * member that is not a `key_` Ed25519 key (or one whose point has a torsion
 * component), or the same member twice. Code `UMBRA_ERR_RING_INVALID`.
 */
export class RingInvalidError extends UmbraError {
  static readonly code = 'UMBRA_ERR_RING_INVALID'
  constructor (message = 'The ring is not a list of 2 to 256 distinct key_ keys', options?: ErrorOptions) {
    super(message, RingInvalidError.code, options)
    this.name = 'RingInvalidError'
  }
}

/** The signing key (or, over the API, none of this node's keys) is a member of the ring. Code `UMBRA_ERR_NOT_RING_MEMBER`. */
export class NotRingMemberError extends UmbraError {
  static readonly code = 'UMBRA_ERR_NOT_RING_MEMBER'
  constructor (message = 'The signing key is not a member of the ring', options?: ErrorOptions) {
    super(message, NotRingMemberError.code, options)
    this.name = 'NotRingMemberError'
  }
}

/**
 * A ring signature cannot be decoded: wrong length for its ring, unknown
 * version, a non-canonical scalar or a key image that is not a ristretto255
 * element. Code `UMBRA_ERR_RING_SIGNATURE_MALFORMED`.
 */
export class RingSignatureMalformedError extends UmbraError {
  static readonly code = 'UMBRA_ERR_RING_SIGNATURE_MALFORMED'
  constructor (message = 'The ring signature is malformed', options?: ErrorOptions) {
    super(message, RingSignatureMalformedError.code, options)
    this.name = 'RingSignatureMalformedError'
  }
}
