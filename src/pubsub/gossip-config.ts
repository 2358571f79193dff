/**
 * GossipSub's options for Umbra topics (issue 13 item 1; seed 004's
 * parameters), shared by the node (src/node/node.ts) and the benchmark
 * (bench/pubsub.ts) so both run the same configuration.
 */
import { DEFAULT_MAX_MESSAGE_BYTES, HEARTBEAT_INTERVAL_MS, MCACHE_GOSSIP, MCACHE_LENGTH, MESH_D, MESH_D_HIGH, MESH_D_LOW } from './constants.ts'
import type { EnvelopeValidator } from './validator.ts'
import type { GossipsubOpts } from '@libp2p/gossipsub'

/** GossipSub's inbound RPC frame limit (it-length-prefixed default), bytes. */
const GOSSIPSUB_DEFAULT_FRAME_BYTES = 4 * 1024 * 1024
/** Room for the RPC framing around the largest message, bytes. */
const RPC_FRAME_SLACK_BYTES = 64 * 1024

/** What {@link gossipsubOptions} needs. */
export interface GossipConfigInit {
  /** Umbra's validator; `msgIdFn` comes from it. Omitted: plain GossipSub ids (hash of the data), for the benchmark's baseline. */
  validator?: EnvelopeValidator
  /** Largest message, bytes (sizes GossipSub's inbound frame limit). @default 1 MiB */
  maxMessageBytes?: number
  /**
   * Keep GossipSub's IP co-location penalty (peer score P6: more than 10
   * peers from one IP lower every one's score). Testnets on 127.0.0.1 turn it
   * off; a real network keeps it against Sybils on one host. @default true
   */
  ipColocationPenalty?: boolean
  /** GossipSub's seen-message cache, ms. @default 120_000 (GossipSub's default) */
  seenTtl?: number
}

/**
 * The `gossipsub()` options of an Umbra node: `StrictNoSign` (no PeerId,
 * sequence number or GossipSub signature in a message: the publisher signs
 * inside the envelope), mesh D 6 (4 to 12), 1 s heartbeat, a message cache
 * of 300 heartbeats (5 minutes, seed 004), publishing allowed with no topic
 * peer yet (the message store keeps it), peer scoring with GossipSub's
 * default parameters.
 */
export function gossipsubOptions (init: GossipConfigInit = {}): Partial<GossipsubOpts> {
  const validator = init.validator
  const maxBytes = init.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES
  return {
    globalSignaturePolicy: 'StrictNoSign',
    D: MESH_D,
    Dlo: MESH_D_LOW,
    Dhi: MESH_D_HIGH,
    heartbeatInterval: HEARTBEAT_INTERVAL_MS,
    mcacheLength: MCACHE_LENGTH,
    mcacheGossip: MCACHE_GOSSIP,
    ...(init.seenTtl != null ? { seenTTL: init.seenTtl } : {}),
    ...(validator != null ? { msgIdFn: (msg) => validator.msgId(msg.data) } : {}),
    allowPublishToZeroTopicPeers: true,
    emitSelf: false,
    maxInboundDataLength: Math.max(GOSSIPSUB_DEFAULT_FRAME_BYTES, maxBytes + RPC_FRAME_SLACK_BYTES),
    ...(init.ipColocationPenalty === false ? { scoreParams: { IPColocationFactorWeight: 0 } } : {})
  }
}
