import { UmbraError } from '../errors.ts'

/**
 * The node's HTTP API could not be reached: connection refused, host not
 * found, timed out. Code `UMBRA_ERR_API_UNREACHABLE`.
 */
export class ApiUnreachableError extends UmbraError {
  static readonly code = 'UMBRA_ERR_API_UNREACHABLE'
  constructor (message = 'Cannot reach the node API', options?: ErrorOptions) {
    super(message, ApiUnreachableError.code, options)
    this.name = 'ApiUnreachableError'
  }
}

/**
 * The node's HTTP API answered with an error (`{ error: { code, message } }`,
 * 4xx or 5xx) or with something that is not the API's JSON. `code` is the
 * server's code when it sent one, else `UMBRA_ERR_API_RESPONSE`.
 */
export class ApiResponseError extends UmbraError {
  static readonly code = 'UMBRA_ERR_API_RESPONSE'
  /** HTTP status of the response. */
  readonly status: number
  constructor (message = 'The node API returned an error', code = ApiResponseError.code, status = 0, options?: ErrorOptions) {
    super(message, code, options)
    this.name = 'ApiResponseError'
    this.status = status
  }
}

/** `umbra get` found no record under the key: the API's class of code `UMBRA_ERR_NOT_FOUND` (one class per code, src/error-registry.ts). */
export { NotFoundError } from '../api/error-classes.ts'

/** `umbra start` found a live node already using the data directory (its lock, src/store/data-dir.ts). Code `UMBRA_ERR_ALREADY_RUNNING`. */
export { AlreadyRunningError } from '../store/errors.ts'

/** A step of `umbra demo` did not reach its goal in time. Code `UMBRA_ERR_DEMO_FAILED`. */
export class DemoFailedError extends UmbraError {
  static readonly code = 'UMBRA_ERR_DEMO_FAILED'
  constructor (message = 'The demo failed', options?: ErrorOptions) {
    super(message, DemoFailedError.code, options)
    this.name = 'DemoFailedError'
  }
}
