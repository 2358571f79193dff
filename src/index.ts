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
export { createApiServer } from './api/index.ts'
export type { ApiServer, ApiServerInit } from './api/index.ts'
export { HostNotAllowedError } from './web/index.ts'
export { createTestnet, startProcessTestnet } from './testnet/index.ts'
export type { Testnet, TestnetInit, ProcessTestnet, ProcessTestnetInit, ProcessTestnetNode } from './testnet/index.ts'
export * as identity from './identity/index.ts'
export type * from './dht/index.ts'
export type * from './messaging/index.ts'
export type * from './mixnet/types.ts'
export { QUOTA_CODES, QUOTA_KINDS, QuotaExceededError } from './quota.ts'
export type { QuotaKind, QuotaSnapshot } from './quota.ts'
export type { NodeMetrics, MetricsRecorder } from './metrics/index.ts'
export type * from './discovery/index.ts'
