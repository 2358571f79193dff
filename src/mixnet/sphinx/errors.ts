import { UmbraError } from '../../errors.ts'

export { InvalidOptionError } from '../../errors.ts'

/** An encoded SURB, a SURB object or a reply payload has the wrong size or version. Code `UMBRA_ERR_SPHINX_MALFORMED`. */
export class SphinxMalformedError extends UmbraError {
  static readonly code = 'UMBRA_ERR_SPHINX_MALFORMED'
  constructor (message = 'Malformed Sphinx SURB or payload', options?: ErrorOptions) {
    super(message, SphinxMalformedError.code, options)
    this.name = 'SphinxMalformedError'
  }
}

/** A SURB reply payload was modified on its way back (its 16 leading zero bytes do not check). Code `UMBRA_ERR_SPHINX_TAMPERED`. */
export class SphinxTamperedError extends UmbraError {
  static readonly code = 'UMBRA_ERR_SPHINX_TAMPERED'
  constructor (message = 'The Sphinx reply payload was tampered with', options?: ErrorOptions) {
    super(message, SphinxTamperedError.code, options)
    this.name = 'SphinxTamperedError'
  }
}
