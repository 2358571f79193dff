/**
 * The central WebSocket pub/sub server Umbra ships for hybrid mode, and its
 * reconnecting client (issue 13, item 4; seed 004). Off by default: a central
 * server sees who publishes what (docs/pubsub-hybrid.md).
 *
 * @example
 * ```ts
 * import { createCentralServer } from 'umbra'
 * const central = await createCentralServer({ host: '127.0.0.1', port: 7460 })
 * // nodes: createNode({ pubsub: { mode: 'hybrid', central: central.url } })
 * await central.close()
 * ```
 */
export { createCentralServer } from './server.ts'
export type { CentralServer, CentralServerInit, CentralServerStats } from './server.ts'
export { createCentralClient } from './client.ts'
export type { CentralClient, CentralClientEvents, CentralClientInit } from './client.ts'
export { CentralProtocolError, CentralRateLimitedError, CentralUnavailableError, PubSubQueueFullError } from './errors.ts'
