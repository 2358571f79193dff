import { UmbraError } from '../errors.ts'
import { ANONYMOUS_ONLY_FIELDS } from './constants.ts'

/**
 * Errors of the HTTP API and the mapping from any thrown value to an HTTP
 * status and the body `{ "error": { "code": "UMBRA_ERR_…", "message": "…" } }`
 * (DESIGN.md section 7, issue 2).
 */

/**
 * An error the API answers with a given HTTP status. `code` is stable
 * (`UMBRA_ERR_…`); `message` is for people.
 */
export class ApiError extends UmbraError {
  /** HTTP status code sent with this error, 400 to 599. */
  readonly statusCode: number

  /**
   * @param statusCode - HTTP status, 400 to 599
   * @param code - stable error code, `UMBRA_ERR_…`
   * @param message - human-readable description naming the field at fault, if any
   */
  constructor (statusCode: number, code: string, message: string, options?: ErrorOptions) {
    super(message, code, options)
    this.name = 'ApiError'
    this.statusCode = statusCode
  }
}

/** Missing or wrong bearer token. HTTP 401, code `UMBRA_ERR_UNAUTHORIZED`. */
export class UnauthorizedError extends ApiError {
  static readonly code = 'UMBRA_ERR_UNAUTHORIZED'
  constructor (message = 'Missing or invalid bearer token (send "Authorization: Bearer <token>")') {
    super(401, UnauthorizedError.code, message)
    this.name = 'UnauthorizedError'
  }
}

/** A parameter, query or body field is missing, of the wrong type or out of range. HTTP 400, code `UMBRA_ERR_BAD_REQUEST`. */
export class BadRequestError extends ApiError {
  static readonly code = 'UMBRA_ERR_BAD_REQUEST'
  constructor (message = 'Bad request', options?: ErrorOptions) {
    super(400, BadRequestError.code, message, options)
    this.name = 'BadRequestError'
  }
}

/** The request body is not valid JSON (or is empty). HTTP 400, code `UMBRA_ERR_BAD_JSON`. */
export class BadJsonError extends ApiError {
  static readonly code = 'UMBRA_ERR_BAD_JSON'
  constructor (message = 'The request body is not valid JSON') {
    super(400, BadJsonError.code, message)
    this.name = 'BadJsonError'
  }
}

/** The resource (route, DHT record) does not exist. HTTP 404, code `UMBRA_ERR_NOT_FOUND`. */
export class NotFoundError extends ApiError {
  static readonly code = 'UMBRA_ERR_NOT_FOUND'
  constructor (message = 'Not found') {
    super(404, NotFoundError.code, message)
    this.name = 'NotFoundError'
  }
}

/** The request body is larger than the server accepts. HTTP 413, code `UMBRA_ERR_BODY_TOO_LARGE`. */
export class BodyTooLargeError extends ApiError {
  static readonly code = 'UMBRA_ERR_BODY_TOO_LARGE'
  constructor (message = 'The request body is too large') {
    super(413, BodyTooLargeError.code, message)
    this.name = 'BodyTooLargeError'
  }
}

/** The request body is not `application/json`. HTTP 415, code `UMBRA_ERR_UNSUPPORTED_MEDIA_TYPE`. */
export class UnsupportedMediaTypeError extends ApiError {
  static readonly code = 'UMBRA_ERR_UNSUPPORTED_MEDIA_TYPE'
  constructor (message = 'The request body must be JSON (Content-Type: application/json)') {
    super(415, UnsupportedMediaTypeError.code, message)
    this.name = 'UnsupportedMediaTypeError'
  }
}

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

/** What the API sends for an error: status plus the `error` object of the body. */
export interface ErrorReply {
  /** HTTP status, 400 to 599. */
  statusCode: number
  /** Stable code, `UMBRA_ERR_…`. */
  code: string
  /** Human-readable message; generic for 500. */
  message: string
}

/**
 * HTTP status of the error codes the services throw (src/dht, src/messaging,
 * src/mixnet, src/identity, src/errors.ts). Codes not listed fall back to
 * {@link statusOfUmbraCode}'s pattern rules.
 *
 * Mixnet choices: a full recipient mailbox is 507 Insufficient Storage, not
 * 409: nothing in the request conflicts with anything the caller controls,
 * the storage on the far side is out of room for now and the same request may
 * succeed later (RFC 4918 section 11.5). An unacknowledged anonymous message
 * is 502 like an undelivered direct one: the network past this node failed.
 *
 * NAT choice: a hole punch that found neither a direct nor a relayed path
 * (`UMBRA_ERR_PEER_UNREACHABLE`, src/nat/nat-service.ts) is 502, not 504:
 * the attempt ran to its end and the network past this node answered "no";
 * 504 stays for this node's own time limit running out (`UMBRA_ERR_TIMEOUT`,
 * `UMBRA_ERR_ABORTED`).
 */
const STATUS_OF_CODE: ReadonlyMap<string, number> = new Map([
  [VALUE_TOO_LARGE_CODE, 413],
  [MESSAGE_TOO_LARGE_CODE, 413],
  ['UMBRA_ERR_KEY_CHECKSUM', 400],
  ['UMBRA_ERR_NOT_FOUND', 404],
  ['UMBRA_ERR_KEY_OWNED', 409],
  // src/names/errors.ts
  ['UMBRA_ERR_NOT_ZONE_OWNER', 403],
  ['UMBRA_ERR_DELIVERY_FAILED', 502],
  ['UMBRA_ERR_ABORTED', 504],
  [TIMEOUT_CODE, 504],
  ['UMBRA_ERR_NOT_STARTED', 503],
  // src/mixnet/errors.ts, src/mixnet/store-errors.ts, src/mixnet/sphinx/errors.ts
  ['UMBRA_ERR_INVALID_RECIPIENT', 400],
  ['UMBRA_ERR_UNKNOWN_PSEUDONYM', 404],
  ['UMBRA_ERR_NOT_MY_PSEUDONYM', 404],
  ['UMBRA_ERR_NO_SURB', 409],
  ['UMBRA_ERR_REPLY_TOO_LARGE', 413],
  ['UMBRA_ERR_ANON_DELIVERY_FAILED', 502],
  ['UMBRA_ERR_GATEWAY_UNREACHABLE', 502],
  ['UMBRA_ERR_MIXNET_MALFORMED', 502],
  ['UMBRA_ERR_SPHINX_MALFORMED', 502],
  ['UMBRA_ERR_SPHINX_TAMPERED', 502],
  ['UMBRA_ERR_NOT_ENOUGH_MIXES', 503],
  ['UMBRA_ERR_MAILBOX_FULL', 507],
  // src/messaging/errors.ts: a direct message's recipient is offline and its offline queue is full (issue 11)
  ['UMBRA_ERR_OFFLINE_QUEUE_FULL', 507],
  ['UMBRA_ERR_OFFLINE_QUEUE_BYTES', 507],
  ['UMBRA_ERR_OFFLINE_QUEUE_SERVER_FULL', 507],
  // src/discovery/errors.ts
  ['UMBRA_ERR_DISCOVERY_SET_FULL', 507],
  // src/nat/nat-service.ts
  ['UMBRA_ERR_PEER_UNREACHABLE', 502],
  [INVALID_MULTIADDR_CODE, 400]
])

/**
 * HTTP status for an `UmbraError` code: the table above, then `…_INVALID_…`
 * → 400, `…_TOO_LARGE` → 413, `…_NOT_FOUND` → 404, `…_TIMEOUT` → 504,
 * anything else → 500.
 */
export function statusOfUmbraCode (code: string): number {
  const known = STATUS_OF_CODE.get(code)
  if (known !== undefined) return known
  if (code.startsWith('UMBRA_ERR_INVALID_')) return 400
  if (code.startsWith('UMBRA_ERR_QUOTA_')) return 429
  if (code.endsWith('_TOO_LARGE')) return 413
  if (code.endsWith('_NOT_FOUND')) return 404
  if (code.endsWith('_TIMEOUT')) return 504
  return 500
}

/** Fastify's own error codes (content-type parser, validation) and what the API answers for them. */
function fromFastifyError (err: { code: string, statusCode?: number, message: string }): ErrorReply | undefined {
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { statusCode: 400, code: BadJsonError.code, message: 'The request body is not valid JSON' }
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { statusCode: 400, code: BadJsonError.code, message: 'The request body is empty but Content-Type is application/json' }
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { statusCode: 413, code: BodyTooLargeError.code, message: new BodyTooLargeError().message }
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { statusCode: 415, code: UnsupportedMediaTypeError.code, message: new UnsupportedMediaTypeError().message }
    default:
      break
  }
  if (err.code.startsWith('FST_ERR_') && typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    return { statusCode: err.statusCode, code: BadRequestError.code, message: err.message }
  }
  return undefined
}

/** One Ajv error as Fastify attaches it to a validation error. */
interface ValidationIssue {
  keyword?: string
  instancePath?: string
  message?: string
  params?: Record<string, unknown>
}

/**
 * A message naming the field: `body.ttl must be integer`,
 * `body has unknown field "colour"`, `body.value is required`.
 */
function validationMessage (context: string, issue: ValidationIssue | undefined): string {
  const where = context + (issue?.instancePath ?? '').replaceAll('/', '.')
  const params = issue?.params ?? {}
  if (issue?.keyword === 'additionalProperties' && typeof params.additionalProperty === 'string') {
    return `${where} has unknown field "${params.additionalProperty}"`
  }
  if (issue?.keyword === 'required' && typeof params.missingProperty === 'string') {
    return `${where}.${params.missingProperty} is required`
  }
  if (issue?.keyword === 'false schema') {
    const field = (issue.instancePath ?? '').split('/').at(-1) ?? ''
    if (ANONYMOUS_ONLY_FIELDS.includes(field)) return `${where} is only allowed with "anonymous": true`
    return `${where} is not allowed here`
  }
  if (issue?.keyword === 'enum' && Array.isArray(params.allowedValues)) {
    return `${where} must be one of ${params.allowedValues.map((v) => JSON.stringify(v)).join(', ')}`
  }
  return `${where} ${issue?.message ?? 'is invalid'}`
}

/**
 * Maps anything thrown while handling a request to the reply the API sends:
 * - Fastify validation errors → 400 `UMBRA_ERR_BAD_REQUEST`, message naming the field
 * - malformed or empty JSON → 400 `UMBRA_ERR_BAD_JSON`
 * - body over the limit → 413 `UMBRA_ERR_BODY_TOO_LARGE`
 * - body not JSON → 415 `UMBRA_ERR_UNSUPPORTED_MEDIA_TYPE`
 * - `UmbraError` (or any error whose `code` starts `UMBRA_ERR_`) → status by code, see {@link statusOfUmbraCode}
 *   (e.g. `UMBRA_ERR_KEY_OWNED` → 409, `UMBRA_ERR_DELIVERY_FAILED` → 502, `UMBRA_ERR_NOT_ENOUGH_MIXES` → 503,
 *   `UMBRA_ERR_MAILBOX_FULL` → 507, `UMBRA_ERR_PEER_UNREACHABLE` → 502)
 * - `AbortError` / `TimeoutError` → 504 `UMBRA_ERR_ABORTED` / `UMBRA_ERR_TIMEOUT`
 * - anything else → 500 `UMBRA_ERR_INTERNAL` with a generic message
 * @returns the reply; `statusCode >= 500` with code `UMBRA_ERR_INTERNAL` means the caller should log `err`
 */
export function toErrorReply (err: unknown): ErrorReply {
  if (err instanceof ApiError) {
    return { statusCode: err.statusCode, code: err.code, message: err.message }
  }
  if (err instanceof Error) {
    const e = err as Error & { code?: unknown, statusCode?: unknown, validation?: unknown, validationContext?: unknown }
    if (Array.isArray(e.validation)) {
      const context = typeof e.validationContext === 'string' ? e.validationContext : 'request'
      return { statusCode: 400, code: BadRequestError.code, message: validationMessage(context, e.validation[0] as ValidationIssue | undefined) }
    }
    if (typeof e.code === 'string') {
      if (err instanceof UmbraError || e.code.startsWith('UMBRA_ERR_')) {
        return { statusCode: statusOfUmbraCode(e.code), code: e.code, message: err.message }
      }
      const fromFastify = fromFastifyError({ code: e.code, statusCode: typeof e.statusCode === 'number' ? e.statusCode : undefined, message: err.message })
      if (fromFastify !== undefined) return fromFastify
    }
    if (err.name === 'TimeoutError') {
      return { statusCode: 504, code: TIMEOUT_CODE, message: 'The operation timed out' }
    }
    if (err.name === 'AbortError') {
      return { statusCode: 504, code: 'UMBRA_ERR_ABORTED', message: 'The operation was aborted' }
    }
  }
  return { statusCode: 500, code: INTERNAL_CODE, message: 'Internal error; see the node log' }
}
