import { UmbraError } from '../errors.ts'

/** The challenge is malformed, was not issued by this node (process), or the response answers another challenge. Code `UMBRA_ERR_AUTH_CHALLENGE`. */
export class AuthChallengeError extends UmbraError {
  static readonly code = 'UMBRA_ERR_AUTH_CHALLENGE'
  constructor (message = 'Not a challenge this node issued, or the response answers another one', options?: ErrorOptions) {
    super(message, AuthChallengeError.code, options)
    this.name = 'AuthChallengeError'
  }
}

/** The challenge expired before the response was verified. Code `UMBRA_ERR_AUTH_EXPIRED`. */
export class AuthExpiredError extends UmbraError {
  static readonly code = 'UMBRA_ERR_AUTH_EXPIRED'
  constructor (message = 'The challenge expired', options?: ErrorOptions) {
    super(message, AuthExpiredError.code, options)
    this.name = 'AuthExpiredError'
  }
}

/** The response was made for another purpose than the challenge (or than the verifier expects). Code `UMBRA_ERR_AUTH_PURPOSE`. */
export class AuthPurposeError extends UmbraError {
  static readonly code = 'UMBRA_ERR_AUTH_PURPOSE'
  constructor (message = 'The response was made for another purpose', options?: ErrorOptions) {
    super(message, AuthPurposeError.code, options)
    this.name = 'AuthPurposeError'
  }
}

/** The signature does not verify under the key the response names, or another key than the one asked for answered. Code `UMBRA_ERR_AUTH_SIGNATURE`. */
export class AuthSignatureError extends UmbraError {
  static readonly code = 'UMBRA_ERR_AUTH_SIGNATURE'
  constructor (message = 'The signature does not verify under the named key', options?: ErrorOptions) {
    super(message, AuthSignatureError.code, options)
    this.name = 'AuthSignatureError'
  }
}

/** The challenge's nonce was already accepted once (a replayed response). Code `UMBRA_ERR_AUTH_REPLAY`. */
export class AuthReplayError extends UmbraError {
  static readonly code = 'UMBRA_ERR_AUTH_REPLAY'
  constructor (message = 'This challenge was already answered and accepted', options?: ErrorOptions) {
    super(message, AuthReplayError.code, options)
    this.name = 'AuthReplayError'
  }
}

/** The peer asked to prove its key did not answer on `/umbra/auth/1.0.0`, or answered with an error. Code `UMBRA_ERR_AUTH_PEER`. */
export class AuthPeerError extends UmbraError {
  static readonly code = 'UMBRA_ERR_AUTH_PEER'
  constructor (message = 'The peer did not answer the challenge', options?: ErrorOptions) {
    super(message, AuthPeerError.code, options)
    this.name = 'AuthPeerError'
  }
}
