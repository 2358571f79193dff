/**
 * The Umbra node: libp2p 3 (TCP, WebSockets, Noise, Yamux, identify, ping,
 * Kad-DHT on `/umbra/kad/1.0.0`) plus Umbra's services.
 *
 * @example
 * ```ts
 * const a = await createNode({ dataDir: './a' })
 * await a.start()
 * const b = await createNode({ dataDir: './b', bootstrap: a.getMultiaddrs() })
 * await b.start()
 * b.addEventListener('message', (evt) => console.log(new TextDecoder().decode(evt.detail.body)))
 * await a.messaging.send(b.peerId, new TextEncoder().encode('hello'))
 * ```
 */
export type { UmbraNode, UmbraNodeInit, UmbraNodeEvents, PeerEventDetail, PeerSummary, Role } from './types.ts'
export { createNode } from './node.ts'
export * from './constants.ts'
