/**
 * Wires the hybrid modes (issue 13, item 4) and anonymous publishing
 * (issue 13, item 2) into a node: what src/node/node.ts calls after it built
 * the pub/sub service and the mixnet, so that the node holds two lines per
 * feature and the logic stays in src/pubsub.
 */
import { createCentralClient } from './central/client.ts'
import { decodeEnvelope, messageIdText } from './envelope.ts'
import { PubSubMessageTooLargeError } from './errors.ts'
import { createHybrid, type Hybrid } from './hybrid.ts'
import { MAX_ANONYMOUS_ENVELOPE_BYTES } from '../mixnet/wire.ts'
import type { PubSubHandle, PubSubInit } from './pubsub-service.ts'
import type { MixnetHandle } from '../mixnet/mixnet-service.ts'
import type { Logger } from '../logger.ts'
import type { GossipSub } from '@libp2p/gossipsub'

/**
 * Builds the hybrid manager of `init.mode` `hybrid` or `central` and routes
 * the service's publishes and subscriptions through it; nothing for `p2p`.
 * The P2P side is healthy for a topic while GossipSub has mesh peers for it
 * (or, for a topic this node does not join, peers subscribed to it: GossipSub
 * publishes to those).
 * @returns the hybrid (start it after the service, stop it before), or undefined in `p2p` mode
 */
export function attachHybrid (pubsub: PubSubHandle, gossipsub: GossipSub, init: PubSubInit | undefined, log: Logger): Hybrid | undefined {
  const mode = init?.mode ?? 'p2p'
  if (mode === 'p2p' || init?.central == null) return undefined
  const central = createCentralClient({ url: init.central, maxMessageBytes: pubsub.validator.maxBytes, log })
  const hybrid = createHybrid({
    mode,
    strategy: init.strategy,
    bridge: init.bridge,
    failbackMs: init.failbackMs,
    central,
    log,
    local: { ingest: async (envelope, via) => await pubsub.ingest(envelope, via) },
    p2p: {
      publish: async (_topic, envelope) => await pubsub.publishEnvelope(envelope),
      meshPeers: (topic) => meshOf(gossipsub, topic) || (pubsub.topics().includes(topic) ? 0 : gossipsub.getSubscribers(topic).length),
      onMessage: (handler) => {
        const listener = (evt: CustomEvent<{ topic: string, data: Uint8Array }>): void => { handler(evt.detail.topic, evt.detail.data) }
        gossipsub.addEventListener('message', listener)
        return () => { gossipsub.removeEventListener('message', listener) }
      }
    }
  })
  pubsub.setRoute(hybrid)
  return hybrid
}

/**
 * Anonymous publishing: `pubsub.publish(topic, data, { anonymous: true })`
 * goes through the mixnet to a random exit; and this node, as an exit,
 * checks what it receives with the pub/sub validator, delivers it to its own
 * subscribers and publishes it on GossipSub. The exit refuses an envelope the
 * validator rejects (the publisher then tries no other exit: the envelope
 * itself is bad). Nothing here logs.
 */
export function attachAnonymous (pubsub: PubSubHandle, mixnet: MixnetHandle): void {
  pubsub.setAnonymousPublisher(async (envelope, options) => {
    if (envelope.byteLength > MAX_ANONYMOUS_ENVELOPE_BYTES) throw new PubSubMessageTooLargeError(`An anonymous publish is one mix packet: the envelope is ${envelope.byteLength} bytes, over ${MAX_ANONYMOUS_ENVELOPE_BYTES}`)
    await mixnet.publishAnonymous(envelope, { hops: options.hops, signal: options.signal })
    return { id: messageIdText(decodeEnvelope(envelope).id), recipients: 0 }
  })
  mixnet.setPubsubExit(async (envelope) => {
    const e = decodeEnvelope(envelope, pubsub.validator.maxBytes)
    const rejectedBefore = rejections(pubsub)
    // Delivered here when this node subscribes; undefined for a duplicate or a rejection (which the counters tell apart).
    await pubsub.ingest(envelope, 'mixnet')
    if (rejections(pubsub) !== rejectedBefore) throw new Error('rejected by the validator')
    await pubsub.publishEnvelope(envelope)
    return e.id
  })
}

/** GossipSub mesh peers of `topic` (the implementation's `getMeshPeers`, which the exported `GossipSub` interface of 17.x does not list). */
function meshOf (gossipsub: GossipSub, topic: string): number {
  const impl = gossipsub as GossipSub & { getMeshPeers?: (topic: string) => string[] }
  return impl.getMeshPeers?.(topic).length ?? gossipsub.getSubscribers(topic).length
}

function rejections (pubsub: PubSubHandle): number {
  return Object.values(pubsub.validator.rejected).reduce((a, b) => a + b, 0)
}
