import { AbortedError, InvalidOptionError, NotStartedError, UmbraError } from './errors.ts'
import {
  API_LISTEN_CODE,
  ApiError,
  BadJsonError,
  BadRequestError,
  BodyTooLargeError,
  HEADERS_TOO_LARGE_CODE,
  INTERNAL_CODE,
  INVALID_MULTIADDR_CODE,
  NotFoundError,
  REQUEST_TIMEOUT_CODE,
  SHUTTING_DOWN_CODE,
  TIMEOUT_CODE,
  UnauthorizedError,
  UnsupportedMediaTypeError
} from './api/error-classes.ts'
import { AuthChallengeError, AuthExpiredError, AuthPeerError, AuthPurposeError, AuthReplayError, AuthSignatureError } from './auth/errors.ts'
import { BadChallengeError, BadSignatureError, BootstrapFailedError, RateLimitedError } from './bootstrap/errors.ts'
import { AlreadyRunningError, ApiResponseError, ApiUnreachableError, DemoFailedError } from './cli/errors.ts'
import { InvalidKeyNameError, InvalidRecordError, InvalidTtlError, KeyOwnedError, ValueTooLargeError } from './dht/errors.ts'
import { DiscoverySetFullError, InvalidNamespaceError } from './discovery/errors.ts'
import { BadPassphraseError, IdentityFileError, InvalidKeyError, KeyChecksumError, KeyTypeUnsupportedError, PassphraseRequiredError } from './identity/errors.ts'
import { DeliveryFailedError, InvalidRecipientError, MessageNotFoundError, MessageTooLargeError, OfflineQueueBytesError, OfflineQueueFullError, OfflineQueueServerFullError, UnreadableMessageError } from './messaging/errors.ts'
import {
  AnonymousDeliveryError,
  GatewayUnreachableError,
  InvalidDescriptorError,
  MailboxFullError,
  MailboxStoreError,
  MixLinkError,
  MixnetMalformedError,
  NoSurbError,
  NotEnoughMixesError,
  NotMyPseudonymError,
  PseudonymFileError,
  ReplyTooLargeError,
  SendQueueFullError,
  UnknownPseudonymError
} from './mixnet/errors.ts'
import { SphinxMalformedError, SphinxTamperedError } from './mixnet/sphinx/errors.ts'
import { NotRingMemberError, RingInvalidError, RingSignatureMalformedError } from './proofs/errors.ts'
import { InvalidNameError, InvalidNameRecordError, NameNotFoundError, NotZoneOwnerError } from './names/errors.ts'
import { InvalidEnvelopeError, InvalidTopicError, PubSubHistoryError, PubSubMessageTooLargeError, PubSubUnsupportedError } from './pubsub/errors.ts'
import { CentralProtocolError, CentralRateLimitedError, CentralUnavailableError, PubSubQueueFullError } from './pubsub/central/errors.ts'
import { BirthdayExhaustedError, BirthdayRefusedError, StunEncodeError, StunErrorResponseError, StunMalformedError, StunTimeoutError } from './nat/errors.ts'
import { PeerUnreachableError } from './nat/nat-service.ts'
import { MetadataTooLargeError, PeerNotFoundError } from './registry/errors.ts'
import { StateDatabaseError } from './store/errors.ts'
import { TestnetStartError } from './testnet/errors.ts'
import { HostNotAllowedError } from './web/errors.ts'
import { QUOTA_CODES, QUOTA_KINDS, QuotaExceededError } from './quota.ts'

/**
 * The error registry (issue 12, item 5): every `UMBRA_ERR_…` code Umbra
 * raises, listed once with the class that carries it, its default message
 * and the HTTP status the API answers for it. src/api/errors.ts reads the
 * status from here; nothing maps codes to statuses by pattern.
 * test/api/error-registry.test.ts checks that every code written anywhere in
 * src/ and every code a route documents is listed, and that every class is a
 * value export of `'umbra'`.
 *
 * Status choices (kept from issue 2 to 11): a full recipient mailbox is 507
 * Insufficient Storage, not 409: nothing in the request conflicts with
 * anything the caller controls, the storage on the far side is out of room
 * for now and the same request may succeed later (RFC 4918 section 11.5). An
 * unacknowledged anonymous message is 502 like an undelivered direct one, and
 * so is a hole punch that found neither a direct nor a relayed path: the
 * attempt ran to its end and the network past this node answered "no"; 504
 * stays for this node's own time limit running out (`UMBRA_ERR_TIMEOUT`,
 * `UMBRA_ERR_ABORTED`). Codes the API never answers (CLI, STUN, bootstrap,
 * storage) carry the status their own servers use, else 500.
 */

/** An HTTP status the API answers errors with. */
export type ErrorStatus = 400 | 401 | 403 | 404 | 408 | 409 | 413 | 415 | 421 | 429 | 431 | 500 | 501 | 502 | 503 | 504 | 507

/** A class of error in the registry: an `UmbraError` subclass (constructor arguments vary). */
export type ErrorClass = abstract new (...args: any[]) => UmbraError // eslint-disable-line @typescript-eslint/no-explicit-any

/** One registry entry. */
export interface ErrorEntry<C extends string = string> {
  /** Stable code, `UMBRA_ERR_…`. */
  readonly code: C
  /** The class thrown with this code (`UmbraError`/`ApiError` itself for a code without a class of its own). */
  readonly class: ErrorClass
  /** The message the class uses when none is given (for people; may change between versions). */
  readonly message: string
  /** HTTP status of the API answer carrying this code. */
  readonly status: ErrorStatus
}

/** An entry for a class with a `static code` and a no-argument constructor; the message is its default. */
function entry<C extends string> (cls: { readonly code: C, new (): UmbraError }, status: ErrorStatus): ErrorEntry<C> {
  return { code: cls.code, class: cls, message: new cls().message, status }
}

/** An entry for a code whose class takes arguments, or that has no class of its own. */
function codeEntry<C extends string> (code: C, cls: ErrorClass, status: ErrorStatus, message: string): ErrorEntry<C> {
  return { code, class: cls, message, status }
}

const ENTRIES = [
  // src/errors.ts
  entry(InvalidOptionError, 400),
  entry(AbortedError, 504),
  entry(NotStartedError, 503),
  // src/api
  entry(UnauthorizedError, 401),
  entry(BadRequestError, 400),
  entry(BadJsonError, 400),
  entry(NotFoundError, 404),
  entry(BodyTooLargeError, 413),
  entry(UnsupportedMediaTypeError, 415),
  codeEntry(INVALID_MULTIADDR_CODE, ApiError, 400, 'A field is not a multiaddr, or names another peer'),
  codeEntry(INTERNAL_CODE, ApiError, 500, 'Internal error; see the node log'),
  codeEntry(HEADERS_TOO_LARGE_CODE, ApiError, 431, 'The request headers are larger than the server accepts (16 KiB)'),
  codeEntry(REQUEST_TIMEOUT_CODE, ApiError, 408, 'The request was not received in time'),
  codeEntry(TIMEOUT_CODE, ApiError, 504, 'The operation timed out'),
  codeEntry(SHUTTING_DOWN_CODE, ApiError, 503, 'The API server is closing'),
  codeEntry(API_LISTEN_CODE, UmbraError, 500, 'The API server cannot listen on its host and port'),
  // src/identity
  entry(InvalidKeyError, 400),
  entry(KeyChecksumError, 400),
  entry(KeyTypeUnsupportedError, 400),
  entry(IdentityFileError, 500),
  entry(BadPassphraseError, 401),
  entry(PassphraseRequiredError, 401),
  // src/dht
  entry(InvalidKeyNameError, 400),
  entry(ValueTooLargeError, 413),
  entry(InvalidTtlError, 400),
  entry(InvalidRecordError, 400),
  entry(KeyOwnedError, 409),
  // src/messaging
  entry(MessageTooLargeError, 413),
  entry(InvalidRecipientError, 400),
  entry(DeliveryFailedError, 502),
  entry(UnreadableMessageError, 500),
  // issue 11: the inbox, and a direct message's offline recipient whose queue is out of room (507 like a full mailbox)
  entry(MessageNotFoundError, 404),
  entry(OfflineQueueFullError, 507),
  entry(OfflineQueueBytesError, 507),
  entry(OfflineQueueServerFullError, 507),
  // src/mixnet
  entry(NotEnoughMixesError, 503),
  entry(UnknownPseudonymError, 404),
  entry(MailboxFullError, 507),
  entry(AnonymousDeliveryError, 502),
  entry(NoSurbError, 409),
  entry(ReplyTooLargeError, 413),
  entry(MixnetMalformedError, 502),
  entry(NotMyPseudonymError, 404),
  entry(GatewayUnreachableError, 502),
  entry(MailboxStoreError, 500),
  entry(PseudonymFileError, 500),
  entry(InvalidDescriptorError, 400),
  // issue 16: constant-rate sending; the message says how long until the queue has room
  entry(SendQueueFullError, 503),
  // issue 16 item 3: a packet link to a next hop failed
  entry(MixLinkError, 502),
  entry(SphinxMalformedError, 502),
  entry(SphinxTamperedError, 502),
  // src/names
  entry(InvalidNameError, 400),
  entry(InvalidNameRecordError, 400),
  entry(NameNotFoundError, 404),
  entry(NotZoneOwnerError, 403),
  // src/pubsub (issue 13: a feature this build lacks, such as anonymous publishing before the mixnet bridge, is 501 Not Implemented)
  entry(InvalidTopicError, 400),
  entry(PubSubMessageTooLargeError, 413),
  entry(InvalidEnvelopeError, 400),
  entry(PubSubUnsupportedError, 501),
  entry(PubSubHistoryError, 502),
  // src/pubsub/central (hybrid modes: the central server unreachable or the publish queue full is 503, like a node shutting down)
  entry(CentralProtocolError, 400),
  entry(CentralRateLimitedError, 429),
  entry(CentralUnavailableError, 503),
  entry(PubSubQueueFullError, 503),
  // src/proofs (issue 14: a node holding none of the ring's keys cannot sign for it, 403 like a zone it does not own)
  entry(RingInvalidError, 400),
  entry(NotRingMemberError, 403),
  entry(RingSignatureMalformedError, 400),
  // src/discovery
  entry(InvalidNamespaceError, 400),
  entry(DiscoverySetFullError, 507),
  // src/nat
  entry(StunMalformedError, 500),
  entry(StunTimeoutError, 504),
  codeEntry(StunErrorResponseError.code, StunErrorResponseError, 500, 'The STUN server answered with an error response'),
  entry(StunEncodeError, 500),
  entry(PeerUnreachableError, 502),
  entry(BirthdayExhaustedError, 504),
  entry(BirthdayRefusedError, 409),
  // src/registry
  entry(PeerNotFoundError, 404),
  entry(MetadataTooLargeError, 413),
  // src/bootstrap (statuses of its own HTTP server, src/bootstrap/server.ts)
  entry(BadChallengeError, 401),
  entry(BadSignatureError, 401),
  entry(RateLimitedError, 429),
  entry(BootstrapFailedError, 500),
  codeEntry('UMBRA_ERR_STALE_RECORD', UmbraError, 409, 'An older record than the one the server holds'),
  codeEntry('UMBRA_ERR_BOOTSTRAP_FULL', UmbraError, 503, 'The bootstrap server holds as many records as it may'),
  // src/auth (issue 14, item 1): a refused proof is the caller's input, 400; a peer that would not answer is 502 like an undelivered message
  entry(AuthChallengeError, 400),
  entry(AuthExpiredError, 400),
  entry(AuthPurposeError, 400),
  entry(AuthSignatureError, 400),
  entry(AuthReplayError, 400),
  entry(AuthPeerError, 502),
  codeEntry('UMBRA_ERR_AUTH_BUSY', UmbraError, 503, 'Too many challenges answered at once; try again when some expired'),
  // src/store
  entry(StateDatabaseError, 500),
  // src/testnet
  entry(TestnetStartError, 500),
  // src/web (421 Misdirected Request: a Host header of another origin, DNS rebinding)
  entry(HostNotAllowedError, 421),
  // src/cli
  entry(ApiUnreachableError, 500),
  codeEntry(ApiResponseError.code, ApiResponseError, 500, 'The node API returned an error'),
  entry(AlreadyRunningError, 500),
  entry(DemoFailedError, 500),
  codeEntry('UMBRA_ERR_SHUTDOWN_TIMEOUT', UmbraError, 500, 'The node did not stop in time'),
  // src/quota.ts: one class, a code per quota kind (docs/quotas.md)
  ...QUOTA_KINDS.map((kind) => codeEntry(QUOTA_CODES[kind], QuotaExceededError, 429, `Over the ${kind} quota (docs/quotas.md)`))
] as const

/** Every error code Umbra raises: the union of the registry's codes. */
export type ErrorCode = typeof ENTRIES[number]['code']

/** The registry: every {@link ErrorCode} and its entry, in the order above. */
export const ERROR_REGISTRY: ReadonlyMap<ErrorCode, ErrorEntry<ErrorCode>> = new Map(ENTRIES.map((e) => [e.code, e]))

/** `true` when `code` is in the registry. */
export function isErrorCode (code: string): code is ErrorCode {
  return ERROR_REGISTRY.has(code as ErrorCode)
}

/** The registry entry of `code`, or `undefined` for a code Umbra does not raise. */
export function errorEntry (code: string): ErrorEntry<ErrorCode> | undefined {
  return ERROR_REGISTRY.get(code as ErrorCode)
}
