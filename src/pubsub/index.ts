/**
 * Publish/subscribe over GossipSub with signed envelopes, a message store
 * and history (issue 13; DESIGN.md section 5b; docs/pubsub.md).
 *
 * @example
 * ```ts
 * const node = await createNode({ dataDir: './alice' })
 * await node.start()
 * node.addEventListener('pubsub:message', (evt) => {
 *   console.log(evt.detail.topic, evt.detail.from, new TextDecoder().decode(evt.detail.data))
 * })
 * await node.pubsub.subscribe('news', { since: Date.now() - 60_000 }) // with the last minute from the store
 * await node.pubsub.publish('news', new TextEncoder().encode('hello'))
 * ```
 */
export * from './envelope.ts'
export * from './errors.ts'
export type * from './types.ts'
export { createPubSub, createValidator, validatePubSubInit, MAX_SERVED_TOPICS, PUBSUB_VIAS, REJECT_REASONS } from './pubsub-service.ts'
export type { AnonymousPublisher, PubSubComponents, PubSubEvents, PubSubHandle, PubSubInit, PubSubService, PubSubStats, SubscribeResult } from './pubsub-service.ts'
export { EnvelopeValidator } from './validator.ts'
export type { CheckResult, ValidatorInit } from './validator.ts'
export { gossipsubOptions } from './gossip-config.ts'
export type { GossipConfigInit } from './gossip-config.ts'
export { MessageStore, PUBSUB_STATE_STEPS } from './store.ts'
export { requestHistory, serveHistory } from './history.ts'
