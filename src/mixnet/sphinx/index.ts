/**
 * Sphinx v1 packet format (Danezis & Goldberg 2009; Katzenpost Sphinx spec;
 * LIONESS payload, Anderson & Biham 1996): fixed 4096-byte packets through
 * up to 9 nodes, single-use reply blocks, and the relay's `processPacket`.
 * Byte layouts and the threat model: docs/sphinx.md.
 *
 * @example
 * ```ts
 * import { createPacket, processPacket } from './mixnet/sphinx/index.ts'
 *
 * const packet = createPacket({ epoch, body, hops: [
 *   { onionKey: mix.onionPub, routing: { type: 'forward', nextNode: gateway.peerKey, delayMs: 50 } },
 *   { onionKey: gateway.onionPub, routing: { type: 'deliver', mailbox } }
 * ] })
 * // at the mix:
 * const r = processPacket(packet, mixOnionSecret)
 * if (r.ok && r.kind === 'forward' && !replayFilter.has(r.tag)) send(r.nextNode, r.packet, r.delayMs)
 * ```
 */
export type {
  CreatePacketInit, CreateSurbInit, DropReason, ProcessResult, RandomSource, RoutingCommand, SphinxHop, Surb, SurbSecrets
} from './types.ts'
export { createPacket, packetEpoch, processPacket } from './sphinx.ts'
export { createSurb, createSurbReply, decodeSurb, encodeSurb, openSurbReply } from './surb.ts'
export {
  BODY_SIZE, HEADER_SIZE, HOP_SIZE, MAX_PATH_NODES, PACKET_SIZE, PAYLOAD_SIZE, REPLAY_TAG_SIZE, SPHINX_VERSION, SURB_ID_SIZE, SURB_SIZE
} from './constants.ts'
export { SphinxMalformedError, SphinxTamperedError } from './errors.ts'
