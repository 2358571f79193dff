/**
 * Umbra: anonymous peer-to-peer networking for TypeScript.
 *
 * @example
 * ```ts
 * import { createNode } from 'umbra'
 * const node = await createNode({ dataDir: './alice' })
 * await node.start()
 * console.log(node.peerId, node.key, node.getMultiaddrs())
 * ```
 */
export { createNode } from './node/index.ts'
export type * from './node/index.ts'
export * from './errors.ts'
// Every error class as a value, and the registry of codes (issue 12, item 5; src/error-registry.ts).
export { ERROR_REGISTRY, errorEntry, isErrorCode } from './error-registry.ts'
export type { ErrorCode, ErrorClass, ErrorEntry, ErrorStatus } from './error-registry.ts'
export { ApiError, BadJsonError, BadRequestError, BodyTooLargeError, NotFoundError, UnauthorizedError, UnsupportedMediaTypeError } from './api/error-classes.ts'
export * from './auth/errors.ts'
export * from './bootstrap/errors.ts'
export { AlreadyRunningError, ApiResponseError, ApiUnreachableError, DemoFailedError } from './cli/errors.ts'
export * from './dht/errors.ts'
export * from './discovery/errors.ts'
export * from './identity/errors.ts'
export * from './messaging/errors.ts'
export * from './mixnet/errors.ts'
export * from './mixnet/sphinx/errors.ts'
export * from './names/errors.ts'
export * from './proofs/errors.ts'
export * from './pubsub/errors.ts'
export * from './pubsub/central/errors.ts'
export * from './nat/errors.ts'
export { PeerUnreachableError } from './nat/nat-service.ts'
export * from './registry/errors.ts'
export * from './store/errors.ts'
export * from './testnet/errors.ts'
export * from './web/errors.ts'
export { createApiServer } from './api/index.ts'
export type { ApiServer, ApiServerInit } from './api/index.ts'
export { HostNotAllowedError } from './web/index.ts'
export { createTestnet, startProcessTestnet } from './testnet/index.ts'
export { createCentralServer, createCentralClient } from './pubsub/central/index.ts'
export type { CentralServer, CentralServerInit, CentralServerStats, CentralClient, CentralClientInit } from './pubsub/central/index.ts'
export type { Testnet, TestnetInit, ProcessTestnet, ProcessTestnetInit, ProcessTestnetNode } from './testnet/index.ts'
export * as identity from './identity/index.ts'
export * as proofs from './proofs/index.ts'
export type * from './dht/index.ts'
export type * from './messaging/index.ts'
export type * from './mixnet/types.ts'
export { QUOTA_CODES, QUOTA_KINDS, QuotaExceededError } from './quota.ts'
export type { QuotaKind, QuotaSnapshot } from './quota.ts'
export type { NodeMetrics, MetricsRecorder } from './metrics/index.ts'
export type * from './discovery/index.ts'
export type { Auth, Challenge, ChallengeResponse, ChallengeOptions, VerifyOptions, Verified } from './auth/index.ts'
