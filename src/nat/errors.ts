import { UmbraError } from '../errors.ts'

/**
 * A datagram is not a well-formed STUN message (RFC 5389 §6, §15): too short
 * or too long, wrong magic cookie, a length that disagrees with the datagram,
 * a truncated or ill-sized attribute, a bad FINGERPRINT; or a response lacks
 * the attribute it must carry. Code `UMBRA_ERR_STUN_MALFORMED`.
 */
export class StunMalformedError extends UmbraError {
  static readonly code = 'UMBRA_ERR_STUN_MALFORMED'
  constructor (message = 'Malformed STUN message', options?: ErrorOptions) {
    super(message, StunMalformedError.code, options)
    this.name = 'StunMalformedError'
  }
}

/**
 * A STUN transaction got no response: every retransmission (RFC 5389
 * §7.2.1) went unanswered, or the time limit passed first. Code
 * `UMBRA_ERR_STUN_TIMEOUT`.
 */
export class StunTimeoutError extends UmbraError {
  static readonly code = 'UMBRA_ERR_STUN_TIMEOUT'
  constructor (message = 'The STUN server did not answer', options?: ErrorOptions) {
    super(message, StunTimeoutError.code, options)
    this.name = 'StunTimeoutError'
  }
}

/**
 * The STUN server answered with an error response (RFC 5389 §7.3.4); its
 * ERROR-CODE is in `stunCode` (300–699, e.g. 420 Unknown Attribute) and
 * `reason`. Code `UMBRA_ERR_STUN_ERROR_RESPONSE`.
 */
export class StunErrorResponseError extends UmbraError {
  static readonly code = 'UMBRA_ERR_STUN_ERROR_RESPONSE'
  /** The STUN error code, class × 100 + number (RFC 5389 §15.6). */
  readonly stunCode: number
  /** The server's reason phrase (untrusted text from the network). */
  readonly reason: string

  /**
   * @param stunCode - STUN error code, 300–699
   * @param reason - the server's reason phrase
   * @param options - standard `ErrorOptions`
   */
  constructor (stunCode: number, reason: string, options?: ErrorOptions) {
    super(`The STUN server answered with error ${stunCode}`, StunErrorResponseError.code, options)
    this.name = 'StunErrorResponseError'
    this.stunCode = stunCode
    this.reason = reason
  }
}

/**
 * A STUN message to encode has an invalid field: a transaction id that is
 * not 12 bytes, a port outside 0–65535, an address that is not IPv4 or IPv6
 * text, an error code outside 300–699, an over-long SOFTWARE or reason.
 * Code `UMBRA_ERR_STUN_ENCODE`.
 */
export class StunEncodeError extends UmbraError {
  static readonly code = 'UMBRA_ERR_STUN_ENCODE'
  constructor (message = 'Invalid STUN message to encode', options?: ErrorOptions) {
    super(message, StunEncodeError.code, options)
    this.name = 'StunEncodeError'
  }
}

/**
 * A birthday-paradox punch sent its last probe (1,750 at most, issue 17
 * item 2) and no ack came back: the peer's NAT did not open one of the
 * probed ports, or it filters more strictly than a port-restricted cone.
 * Code `UMBRA_ERR_BIRTHDAY_EXHAUSTED`.
 */
export class BirthdayExhaustedError extends UmbraError {
  static readonly code = 'UMBRA_ERR_BIRTHDAY_EXHAUSTED'
  constructor (message = 'Birthday punch found no open port of the peer', options?: ErrorOptions) {
    super(message, BirthdayExhaustedError.code, options)
    this.name = 'BirthdayExhaustedError'
  }
}

/**
 * A birthday-paradox punch was refused by this node's safety rules or by
 * the peer (issue 17 item 2): the address to probe was not vouched for by a
 * server node, another birthday punch is running, the back-off after a
 * failed one has not passed, or the two NATs are not one consistent and one
 * randomising. Code `UMBRA_ERR_BIRTHDAY_REFUSED`.
 */
export class BirthdayRefusedError extends UmbraError {
  static readonly code = 'UMBRA_ERR_BIRTHDAY_REFUSED'
  constructor (message = 'Birthday punch refused', options?: ErrorOptions) {
    super(message, BirthdayRefusedError.code, options)
    this.name = 'BirthdayRefusedError'
  }
}
