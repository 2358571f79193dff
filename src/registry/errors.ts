import { UmbraError } from '../errors.ts'

/** No valid peer record was found for a PeerId or key. Code `UMBRA_ERR_PEER_NOT_FOUND` (HTTP 404). */
export class PeerNotFoundError extends UmbraError {
  static readonly code = 'UMBRA_ERR_PEER_NOT_FOUND'
  constructor (message = 'No peer record was found', options?: ErrorOptions) {
    super(message, PeerNotFoundError.code, options)
    this.name = 'PeerNotFoundError'
  }
}

/** Metadata is larger than 1 KiB or not bytes. Code `UMBRA_ERR_METADATA_TOO_LARGE` (HTTP 413). */
export class MetadataTooLargeError extends UmbraError {
  static readonly code = 'UMBRA_ERR_METADATA_TOO_LARGE'
  constructor (message = 'Peer record metadata is at most 1024 bytes', options?: ErrorOptions) {
    super(message, MetadataTooLargeError.code, options)
    this.name = 'MetadataTooLargeError'
  }
}
