import { AbortedError } from '../errors.ts'
import { errorEntry } from '../error-registry.ts'
import { ANONYMOUS_ONLY_FIELDS } from './constants.ts'
import { BadJsonError, BadRequestError, BodyTooLargeError, INTERNAL_CODE, TIMEOUT_CODE, UnsupportedMediaTypeError } from './error-classes.ts'

/**
 * Errors of the HTTP API and the mapping from any thrown value to an HTTP
 * status and the body `{ "error": { "code": "UMBRA_ERR_…", "message": "…" } }`
 * (DESIGN.md section 7, issue 2). The status of a code is the one
 * src/error-registry.ts lists for it (issue 12, item 5).
 */

export * from './error-classes.ts'

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
 * HTTP status for an `UmbraError` code: the one src/error-registry.ts lists;
 * 500 for a code that is not listed (a bug: test/api/error-registry.test.ts
 * checks every code in src/ is listed).
 */
export function statusOfUmbraCode (code: string): number {
  return errorEntry(code)?.status ?? 500
}

/** Fastify's own error codes (content-type parser, validation) and what the API answers for them. */
function fromFastifyError (err: { code: string, statusCode?: number, message: string }): ErrorReply | undefined {
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { statusCode: statusOfUmbraCode(BadJsonError.code), code: BadJsonError.code, message: 'The request body is not valid JSON' }
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { statusCode: statusOfUmbraCode(BadJsonError.code), code: BadJsonError.code, message: 'The request body is empty but Content-Type is application/json' }
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { statusCode: statusOfUmbraCode(BodyTooLargeError.code), code: BodyTooLargeError.code, message: new BodyTooLargeError().message }
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { statusCode: statusOfUmbraCode(UnsupportedMediaTypeError.code), code: UnsupportedMediaTypeError.code, message: new UnsupportedMediaTypeError().message }
    default:
      break
  }
  if (err.code.startsWith('FST_ERR_') && typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    // Fastify's own 4xx (e.g. 414 URI too long) keeps its status; the code is ours.
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
 * - an error whose `code` is in src/error-registry.ts → the registry's status
 *   (e.g. `UMBRA_ERR_KEY_OWNED` → 409, `UMBRA_ERR_DELIVERY_FAILED` → 502, `UMBRA_ERR_NOT_ENOUGH_MIXES` → 503,
 *   `UMBRA_ERR_MAILBOX_FULL` → 507, `UMBRA_ERR_PEER_UNREACHABLE` → 502)
 * - `AbortError` / `TimeoutError` → 504 `UMBRA_ERR_ABORTED` / `UMBRA_ERR_TIMEOUT`
 * - anything else (an `UmbraError` with an unlisted code included) → 500 `UMBRA_ERR_INTERNAL` with a generic message
 * @returns the reply; `statusCode >= 500` with code `UMBRA_ERR_INTERNAL` means the caller should log `err`
 */
export function toErrorReply (err: unknown): ErrorReply {
  if (err instanceof Error) {
    const e = err as Error & { code?: unknown, statusCode?: unknown, validation?: unknown, validationContext?: unknown }
    if (Array.isArray(e.validation)) {
      const context = typeof e.validationContext === 'string' ? e.validationContext : 'request'
      return { statusCode: statusOfUmbraCode(BadRequestError.code), code: BadRequestError.code, message: validationMessage(context, e.validation[0] as ValidationIssue | undefined) }
    }
    if (typeof e.code === 'string') {
      const entry = errorEntry(e.code)
      if (entry !== undefined) return { statusCode: entry.status, code: entry.code, message: err.message }
      const fromFastify = fromFastifyError({ code: e.code, statusCode: typeof e.statusCode === 'number' ? e.statusCode : undefined, message: err.message })
      if (fromFastify !== undefined) return fromFastify
    }
    if (err.name === 'TimeoutError') {
      return { statusCode: statusOfUmbraCode(TIMEOUT_CODE), code: TIMEOUT_CODE, message: 'The operation timed out' }
    }
    if (err.name === 'AbortError') {
      return { statusCode: statusOfUmbraCode(AbortedError.code), code: AbortedError.code, message: new AbortedError().message }
    }
  }
  return { statusCode: statusOfUmbraCode(INTERNAL_CODE), code: INTERNAL_CODE, message: 'Internal error; see the node log' }
}
