/**
 * Direct messages (seed 001, delivery path 1): end-to-end encrypted libp2p
 * streams on `/umbra/msg/1.0.0`, acknowledged by the recipient.
 *
 * @example
 * ```ts
 * const receipt = await node.messaging.send(otherPeerId, new TextEncoder().encode('hi'))
 * other.addEventListener('message', (evt) => console.log(evt.detail.from, evt.detail.body))
 * ```
 */
export type { DeliveryPath, MessagingService, ReceivedMessage, SendOptions, SendReceipt } from './types.ts'
export type { Inbox, InboxEntry, InboxListOptions, InboxPage } from './inbox.ts'
export { createInbox } from './inbox.ts'
export { createOfflineQueue } from './offline-queue.ts'
export { PathRanker, comparePaths, pathKey, pathKind } from './path-ranking.ts'
export type { PathCandidate, PathKind, RankedPath } from './path-ranking.ts'
export { createMessagingService } from './messaging-service.ts'
export * from './constants.ts'
export * from './errors.ts'
