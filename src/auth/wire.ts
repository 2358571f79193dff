/**
 * The one schema module of challenge-response (issue 14, item 1): the
 * challenge and response objects, their validation, the domain-separated
 * bytes a response signs and a challenge's tag covers, and the messages of
 * `/umbra/auth/1.0.0` (JSON, one length-prefixed frame each way, at most
 * {@link MAX_AUTH_MESSAGE_BYTES}).
 */
import { decodeTypedKey, isKey } from '../identity/keys.ts'
import {
  AUTH_NONCE_BYTES,
  AUTH_RESPONSE_CONTEXT,
  AUTH_TAG_BYTES,
  AUTH_TAG_CONTEXT,
  AUTH_VERSION,
  MAX_AUTH_MESSAGE_BYTES,
  MAX_PURPOSE_LENGTH,
  PURPOSE_PATTERN
} from './constants.ts'
import { AuthChallengeError } from './errors.ts'
import { InvalidOptionError } from '../errors.ts'

/**
 * A challenge: a random nonce bound to a purpose, the issuing node and an
 * expiry. `tag` (HMAC-SHA256 under a secret of the issuing process) lets the
 * issuer recognise its own challenges without storing them.
 */
export interface Challenge {
  version: typeof AUTH_VERSION
  /** What the proof is for (`login`, `bootstrap-register`, …), 1-64 characters of `[A-Za-z0-9._:/-]`. */
  purpose: string
  /** The issuing node's key, `key_…`. */
  issuer: string
  /** 32 random bytes, base64url. */
  nonce: string
  /** Expiry, ms since the Unix epoch. */
  expiresAt: number
  /** HMAC tag of the issuer, 32 bytes base64url. */
  tag: string
}

/** A response: the signature of a key over a challenge's domain-separated fields. */
export interface ChallengeResponse {
  version: typeof AUTH_VERSION
  /** The key that signed (the node key or a pseudonym), `key_…`. */
  key: string
  /** The purpose the signer saw in the challenge. */
  purpose: string
  /** The nonce of the challenge answered, base64url. */
  nonce: string
  /** base64url signature: Ed25519, 64 bytes; or ECDSA secp256k1 (a wallet node key, issue 14 item 3), DER, 8-72 bytes. */
  signature: string
}

const B64URL = /^[A-Za-z0-9_-]+$/

function b64 (value: unknown, bytes: number, field: string, maxBytes = bytes): Uint8Array {
  if (typeof value !== 'string' || !B64URL.test(value)) throw new AuthChallengeError(`${field} must be base64url`)
  const raw = Buffer.from(value, 'base64url')
  if (raw.byteLength < bytes || raw.byteLength > maxBytes) throw new AuthChallengeError(`${field} must be ${bytes === maxBytes ? bytes : `${bytes}-${maxBytes}`} bytes, got ${raw.byteLength}`)
  return raw
}

/**
 * Checks a purpose string.
 * @throws UMBRA_ERR_INVALID_OPTION naming the rule
 */
export function checkPurpose (purpose: unknown): string {
  if (typeof purpose !== 'string' || purpose.length < 1 || purpose.length > MAX_PURPOSE_LENGTH || !PURPOSE_PATTERN.test(purpose)) {
    throw new InvalidOptionError(`purpose must be 1-${MAX_PURPOSE_LENGTH} characters of A-Z a-z 0-9 . _ : / - (starting with a letter or digit)`)
  }
  return purpose
}

/**
 * Validates an untrusted challenge object (from the API, the CLI or the network).
 * @throws UMBRA_ERR_AUTH_CHALLENGE (malformed)
 */
export function parseChallenge (value: unknown): Challenge {
  if (value == null || typeof value !== 'object') throw new AuthChallengeError('A challenge is an object')
  const c = value as Record<string, unknown>
  if (c.version !== AUTH_VERSION) throw new AuthChallengeError(`Unknown challenge version ${String(c.version)}`)
  try { checkPurpose(c.purpose) } catch (err) { throw new AuthChallengeError((err as Error).message) }
  if (typeof c.issuer !== 'string' || !isKey(c.issuer)) throw new AuthChallengeError('issuer must be a key_ key')
  b64(c.nonce, AUTH_NONCE_BYTES, 'nonce')
  b64(c.tag, AUTH_TAG_BYTES, 'tag')
  if (!Number.isSafeInteger(c.expiresAt) || (c.expiresAt as number) < 0) throw new AuthChallengeError('expiresAt must be ms since the Unix epoch')
  return { version: AUTH_VERSION, purpose: c.purpose as string, issuer: c.issuer, nonce: c.nonce as string, expiresAt: c.expiresAt as number, tag: c.tag as string }
}

/**
 * Validates an untrusted response object.
 * @throws UMBRA_ERR_AUTH_CHALLENGE (malformed)
 */
export function parseResponse (value: unknown): ChallengeResponse {
  if (value == null || typeof value !== 'object') throw new AuthChallengeError('A response is an object')
  const r = value as Record<string, unknown>
  if (r.version !== AUTH_VERSION) throw new AuthChallengeError(`Unknown response version ${String(r.version)}`)
  if (typeof r.key !== 'string' || !isKey(r.key)) throw new AuthChallengeError('key must be a key_ key')
  try { checkPurpose(r.purpose) } catch (err) { throw new AuthChallengeError((err as Error).message) }
  b64(r.nonce, AUTH_NONCE_BYTES, 'nonce')
  if (decodeTypedKey(r.key).type === 'Ed25519') b64(r.signature, 64, 'signature')
  else b64(r.signature, 8, 'signature', 72)
  return { version: AUTH_VERSION, key: r.key, purpose: r.purpose as string, nonce: r.nonce as string, signature: r.signature as string }
}

/** `context ‖ (u32be length ‖ field)…`: unambiguous concatenation of the fields. */
function framed (context: string, fields: Array<string | Uint8Array>): Uint8Array {
  const parts: Buffer[] = [Buffer.from(context, 'utf8')]
  for (const f of fields) {
    const bytes = typeof f === 'string' ? Buffer.from(f, 'utf8') : Buffer.from(f)
    const len = Buffer.alloc(4)
    len.writeUInt32BE(bytes.byteLength)
    parts.push(len, bytes)
  }
  return Buffer.concat(parts)
}

/**
 * The bytes a response signs: {@link AUTH_RESPONSE_CONTEXT} then, length-prefixed,
 * purpose, issuer, nonce (raw 32 bytes), expiry (decimal ms) and the signer's
 * key. Never the raw nonce: a signature made here cannot be replayed as any
 * other Umbra signature, nor for another issuer, purpose or key.
 */
export function signedBytes (challenge: Challenge, signer: string): Uint8Array {
  return framed(AUTH_RESPONSE_CONTEXT, [challenge.purpose, challenge.issuer, Buffer.from(challenge.nonce, 'base64url'), String(challenge.expiresAt), signer])
}

/** The bytes a challenge's HMAC tag covers: {@link AUTH_TAG_CONTEXT} then purpose, issuer, nonce and expiry, length-prefixed. */
export function tagBytes (c: Omit<Challenge, 'tag' | 'version'>): Uint8Array {
  return framed(AUTH_TAG_CONTEXT, [c.purpose, c.issuer, Buffer.from(c.nonce, 'base64url'), String(c.expiresAt)])
}

/** A request on `/umbra/auth/1.0.0`: prove your node key by answering this challenge. */
export interface AuthRequestMessage { version: number, challenge: Challenge }
/** The answer on `/umbra/auth/1.0.0`: a response, or a coded refusal. */
export type AuthAnswerMessage = { version: number, response: ChallengeResponse } | { version: number, error: { code: string, message: string } }

/** Encodes one protocol message (JSON, UTF-8). */
export function encodeMessage (msg: AuthRequestMessage | AuthAnswerMessage): Uint8Array {
  return Buffer.from(JSON.stringify(msg), 'utf8')
}

/**
 * Decodes one protocol message; the frame length was bounded by the reader.
 * @throws UMBRA_ERR_AUTH_CHALLENGE (not JSON, oversized, wrong version)
 */
export function decodeMessage (bytes: Uint8Array): Record<string, unknown> {
  if (bytes.byteLength > MAX_AUTH_MESSAGE_BYTES) throw new AuthChallengeError('Auth message too large')
  let msg: unknown
  try {
    msg = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch {
    throw new AuthChallengeError('Auth message is not JSON')
  }
  if (msg == null || typeof msg !== 'object' || (msg as { version?: unknown }).version !== AUTH_VERSION) throw new AuthChallengeError('Unknown auth message version')
  return msg as Record<string, unknown>
}
