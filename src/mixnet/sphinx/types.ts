/** What one Sphinx node does with a packet, as encoded in its 72-byte routing block. */
export type RoutingCommand =
  /** Relay to the next node after holding the packet `delayMs` ms. `nextNode`: the successor's Ed25519 public key (libp2p PeerId key), 32 bytes. */
  | { type: 'forward', nextNode: Uint8Array, delayMs: number }
  /** Final hop of a forward packet: hand the body to mailbox `mailbox` (32 bytes). */
  | { type: 'deliver', mailbox: Uint8Array }
  /** Final hop of a SURB reply: hand the still-wrapped payload to `mailbox` (32 bytes), labelled `surbId` (16 bytes). */
  | { type: 'deliverSurb', mailbox: Uint8Array, surbId: Uint8Array }

/** One node of a Sphinx path. */
export interface SphinxHop {
  /** The node's X25519 onion public key for the packet's epoch, 32 bytes. */
  onionKey: Uint8Array
  /** What this node does: `forward` for every node but the last; `deliver` (packet) or `deliverSurb` (SURB) for the last. */
  routing: RoutingCommand
}

/** Source of randomness: returns `n` fresh bytes. Inject a deterministic one only for test vectors. */
export type RandomSource = (n: number) => Uint8Array

/** Arguments of {@link createPacket}. */
export interface CreatePacketInit {
  /** Key epoch of the onion keys, u32; visible in clear and covered by every hop's MAC. */
  epoch: number
  /** 1..9 nodes; the last one's routing is `deliver`. */
  hops: SphinxHop[]
  /** At most BODY_SIZE (3379) bytes; zero-padded to 3379. */
  body: Uint8Array
  /**
   * Randomness, drawn in this order: the ephemeral secret x (32 bytes), then the
   * beta padding (648 − 72·n bytes, skipped when 0).
   * @default libsodium randombytes_buf
   */
  random?: RandomSource
}

/** Arguments of {@link createSurb}. */
export interface CreateSurbInit {
  /** Key epoch of the onion keys, u32. */
  epoch: number
  /** Ed25519 public key of hops[0], where the replier sends the reply, 32 bytes. */
  firstNode: Uint8Array
  /** 1..9 nodes; the last one's routing is `deliverSurb`. */
  hops: SphinxHop[]
  /**
   * Randomness, drawn in this order: x (32), beta padding (648 − 72·n, skipped when 0), surbKey (32).
   * @default libsodium randombytes_buf
   */
  random?: RandomSource
}

/** A single-use reply block, given to the replier (encode with {@link encodeSurb}). */
export interface Surb {
  /** Ed25519 public key of the first node, 32 bytes. */
  firstNode: Uint8Array
  /** Complete Sphinx header, HEADER_SIZE (701) bytes. */
  header: Uint8Array
  /** LIONESS key the replier encrypts the payload with, 32 bytes. */
  surbKey: Uint8Array
}

/** What the SURB creator keeps to open the reply ({@link openSurbReply}). Secret. */
export interface SurbSecrets {
  /** 32 bytes, the same as the SURB's. */
  surbKey: Uint8Array
  /** One LIONESS key per node, in path order, 32 bytes each. */
  payloadKeys: Uint8Array[]
}

/** Why {@link processPacket} dropped a packet. */
export type DropReason = 'size' | 'version' | 'point' | 'mac' | 'routing' | 'payload'

/** Result of {@link processPacket}: what to do next, or why the packet is dropped. */
export type ProcessResult =
  /** Relay `packet` (PACKET_SIZE bytes, newly allocated) to `nextNode` after `delayMs` ms. */
  | { ok: true, tag: Uint8Array, kind: 'forward', nextNode: Uint8Array, delayMs: number, packet: Uint8Array }
  /** Final hop: `body` (BODY_SIZE bytes) for `mailbox`; its 16 zero bytes checked. */
  | { ok: true, tag: Uint8Array, kind: 'deliver', mailbox: Uint8Array, body: Uint8Array }
  /** Final hop of a reply: `payload` (PAYLOAD_SIZE bytes, still wrapped for the SURB creator) for `mailbox`. */
  | { ok: true, tag: Uint8Array, kind: 'deliverSurb', mailbox: Uint8Array, surbId: Uint8Array, payload: Uint8Array }
  | { readonly ok: false, readonly reason: DropReason }
