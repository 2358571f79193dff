import { UmbraError } from '../errors.ts'

/** A name or label breaks the rules (docs/names.md "Labels"). Code `UMBRA_ERR_INVALID_NAME` (HTTP 400). */
export class InvalidNameError extends UmbraError {
  static readonly code = 'UMBRA_ERR_INVALID_NAME'
  constructor (message = 'A name is a label (a-z, 0-9, \'-\', 1 to 63 chars) or label.key_…', options?: ErrorOptions) {
    super(message, InvalidNameError.code, options)
    this.name = 'InvalidNameError'
  }
}

/** A typed record of a name is malformed. Code `UMBRA_ERR_INVALID_NAME_RECORD` (HTTP 400). */
export class InvalidNameRecordError extends UmbraError {
  static readonly code = 'UMBRA_ERR_INVALID_NAME_RECORD'
  constructor (message = 'A name record is {type: peer|pseudonym|multiaddr|text, value}', options?: ErrorOptions) {
    super(message, InvalidNameRecordError.code, options)
    this.name = 'InvalidNameRecordError'
  }
}

/** No valid record for a name was found. Code `UMBRA_ERR_NAME_NOT_FOUND` (HTTP 404). */
export class NameNotFoundError extends UmbraError {
  static readonly code = 'UMBRA_ERR_NAME_NOT_FOUND'
  constructor (message = 'No record for this name was found', options?: ErrorOptions) {
    super(message, NameNotFoundError.code, options)
    this.name = 'NameNotFoundError'
  }
}

/** This node does not hold the zone key of a zone name it was asked to register. Code `UMBRA_ERR_NOT_ZONE_OWNER` (HTTP 403). */
export class NotZoneOwnerError extends UmbraError {
  static readonly code = 'UMBRA_ERR_NOT_ZONE_OWNER'
  constructor (message = 'Only the zone key can publish under label.key_…; this node holds another key', options?: ErrorOptions) {
    super(message, NotZoneOwnerError.code, options)
    this.name = 'NotZoneOwnerError'
  }
}
