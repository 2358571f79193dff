import { UmbraError } from '../errors.ts'

/**
 * The error classes of the HTTP API (issue 2). Their HTTP status is not here:
 * src/error-registry.ts lists every code once with its class, default message
 * and status, and src/api/errors.ts reads the status from it. This file must
 * not import the registry (the registry imports it).
 */

/**
 * An error the API layer raises with a code that has no class of its own
 * (`UMBRA_ERR_SHUTTING_DOWN`, `UMBRA_ERR_TIMEOUT`, `UMBRA_ERR_INVALID_MULTIADDR`, …);
 * its HTTP status is the registry's for `code`. `message` is for people.
 */
export class ApiError extends UmbraError {
  /**
   * @param code - stable error code, `UMBRA_ERR_…`, listed in src/error-registry.ts
   * @param message - human-readable description naming the field at fault, if any
   * @param options - standard `ErrorOptions` (`cause`)
   */
  constructor (code: string, message: string, options?: ErrorOptions) {
    super(message, code, options)
    this.name = 'ApiError'
  }
}

/**
 * Makes an {@link ApiError} subclass with a fixed code and default message
 * (the six API classes below differ only in those). `name` is the class name
 * shown in stack traces.
 */
function apiErrorClass<C extends string> (name: string, code: C, defaultMessage: string): {
  readonly code: C
  new (message?: string, options?: ErrorOptions): ApiError
} {
  const cls = class extends ApiError {
    static readonly code = code
    constructor (message = defaultMessage, options?: ErrorOptions) {
      super(code, message, options)
      this.name = name
    }
  }
  Object.defineProperty(cls, 'name', { value: name })
  return cls
}

/** Missing or wrong bearer token. HTTP 401, code `UMBRA_ERR_UNAUTHORIZED`. */
export const UnauthorizedError = apiErrorClass('UnauthorizedError', 'UMBRA_ERR_UNAUTHORIZED', 'Missing or invalid bearer token (send "Authorization: Bearer <token>")')

/** A parameter, query or body field is missing, of the wrong type or out of range. HTTP 400, code `UMBRA_ERR_BAD_REQUEST`. */
export const BadRequestError = apiErrorClass('BadRequestError', 'UMBRA_ERR_BAD_REQUEST', 'Bad request')

/** The request body is not valid JSON (or is empty). HTTP 400, code `UMBRA_ERR_BAD_JSON`. */
export const BadJsonError = apiErrorClass('BadJsonError', 'UMBRA_ERR_BAD_JSON', 'The request body is not valid JSON')

/**
 * The resource (route, DHT record, anonymous message) does not exist; also
 * `umbra get` when no node has the record. HTTP 404, code `UMBRA_ERR_NOT_FOUND`.
 */
export const NotFoundError = apiErrorClass('NotFoundError', 'UMBRA_ERR_NOT_FOUND', 'Not found')

/** The request body is larger than the server accepts. HTTP 413, code `UMBRA_ERR_BODY_TOO_LARGE`. */
export const BodyTooLargeError = apiErrorClass('BodyTooLargeError', 'UMBRA_ERR_BODY_TOO_LARGE', 'The request body is too large')

/** The request body is not `application/json`. HTTP 415, code `UMBRA_ERR_UNSUPPORTED_MEDIA_TYPE`. */
export const UnsupportedMediaTypeError = apiErrorClass('UnsupportedMediaTypeError', 'UMBRA_ERR_UNSUPPORTED_MEDIA_TYPE', 'The request body must be JSON (Content-Type: application/json)')

/** Code of a DHT value over 64 KiB; the DHT service uses the same code. HTTP 413. */
export const VALUE_TOO_LARGE_CODE = 'UMBRA_ERR_VALUE_TOO_LARGE'

/** Code of a message body over 1 MiB; the messaging service uses the same code. HTTP 413. */
export const MESSAGE_TOO_LARGE_CODE = 'UMBRA_ERR_MESSAGE_TOO_LARGE'

/** Code of a request field that is not a multiaddr, or names another peer than the request is about. HTTP 400. */
export const INVALID_MULTIADDR_CODE = 'UMBRA_ERR_INVALID_MULTIADDR'

/** Code of an unexpected failure; the real error is logged, never sent. HTTP 500. */
export const INTERNAL_CODE = 'UMBRA_ERR_INTERNAL'

/** Code of request headers larger than Node's HTTP parser accepts (16 KiB). HTTP 431; the connection is closed. */
export const HEADERS_TOO_LARGE_CODE = 'UMBRA_ERR_HEADERS_TOO_LARGE'

/** Code of a request whose headers or body did not arrive in time (slowloris). HTTP 408; the connection is closed. */
export const REQUEST_TIMEOUT_CODE = 'UMBRA_ERR_REQUEST_TIMEOUT'

/** Code of a request that ran past the API's operation timeout. HTTP 504. */
export const TIMEOUT_CODE = 'UMBRA_ERR_TIMEOUT'

/** Code of a request that arrived while the API server closes. HTTP 503. */
export const SHUTTING_DOWN_CODE = 'UMBRA_ERR_SHUTTING_DOWN'

/** Code of an API server that cannot bind its host and port. Not an HTTP answer (500 in the registry). */
export const API_LISTEN_CODE = 'UMBRA_ERR_API_LISTEN'
