import { ApiError } from '../api/error-classes.ts'

/**
 * Errors of the dashboard and of the `Host` check that guards the whole HTTP
 * API against DNS rebinding (issue 12, item 2).
 */

/**
 * The request's `Host` header names neither this API's own host, a localhost
 * name nor an IP literal, or names another port: a page of another origin
 * that had its DNS name re-pointed at this node (DNS rebinding). HTTP 421
 * Misdirected Request, code `UMBRA_ERR_HOST_NOT_ALLOWED`.
 */
export class HostNotAllowedError extends ApiError {
  static readonly code = 'UMBRA_ERR_HOST_NOT_ALLOWED'
  constructor (message = 'The Host header does not name this node; open the API at its own address (127.0.0.1, localhost or an IP address and its port)') {
    super(HostNotAllowedError.code, message)
    this.name = 'HostNotAllowedError'
  }
}
