import { UmbraError } from '../errors.ts'

/** A discovery namespace is empty, not a string, or longer than 256 UTF-8 bytes. Code `UMBRA_ERR_INVALID_NAMESPACE` (HTTP 400). */
export class InvalidNamespaceError extends UmbraError {
  static readonly code = 'UMBRA_ERR_INVALID_NAMESPACE'
  constructor (message = 'A discovery namespace is 1 to 256 bytes of UTF-8', options?: ErrorOptions) {
    super(message, InvalidNamespaceError.code, options)
    this.name = 'InvalidNamespaceError'
  }
}

/** The anonymous set of a namespace is full of unexpired entries. Code `UMBRA_ERR_DISCOVERY_SET_FULL` (HTTP 507). */
export class DiscoverySetFullError extends UmbraError {
  static readonly code = 'UMBRA_ERR_DISCOVERY_SET_FULL'
  constructor (message = 'The anonymous set of this namespace is full', options?: ErrorOptions) {
    super(message, DiscoverySetFullError.code, options)
    this.name = 'DiscoverySetFullError'
  }
}
