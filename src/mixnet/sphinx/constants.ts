/**
 * Sphinx v1 geometry and domain-separation strings (docs/sphinx.md, issue 3;
 * docs/sphinx.md has the byte layouts). Sizes are bytes.
 */

/** Wire version of a packet header and of an encoded SURB. */
export const SPHINX_VERSION = 1
/** Every packet is this long at every hop, for every path length 1..9, bytes. */
export const PACKET_SIZE = 4096
/** Most Sphinx nodes in a path (up to 8 mixes + the gateway). */
export const MAX_PATH_NODES = 9
/** One per-hop routing block, bytes: type 1 | flags 1 | delayMs 4 | node 32 | id 16 | reserved 2 | nextGamma 16. */
export const HOP_SIZE = 72
/** Routing information beta, bytes: MAX_PATH_NODES × HOP_SIZE. */
export const BETA_SIZE = MAX_PATH_NODES * HOP_SIZE
/** Group element alpha (X25519 public key), bytes. */
export const ALPHA_SIZE = 32
/** Header MAC gamma (BLAKE2b-128), bytes. */
export const GAMMA_SIZE = 16
/** Header, bytes: version 1 | epoch 4 | alpha 32 | beta 648 | gamma 16. */
export const HEADER_SIZE = 1 + 4 + ALPHA_SIZE + BETA_SIZE + GAMMA_SIZE
/** Payload delta (LIONESS block), bytes: PACKET_SIZE − HEADER_SIZE. */
export const PAYLOAD_SIZE = PACKET_SIZE - HEADER_SIZE
/** Zero bytes leading a payload, checked at the final hop or by the SURB creator. */
export const PAYLOAD_TAG_SIZE = 16
/** Body carried by one packet, bytes: PAYLOAD_SIZE − PAYLOAD_TAG_SIZE. */
export const BODY_SIZE = PAYLOAD_SIZE - PAYLOAD_TAG_SIZE
/** Node field of a routing block (Ed25519 key or mailbox id), bytes. */
export const NODE_ID_SIZE = 32
/** SURB id, bytes. */
export const SURB_ID_SIZE = 16
/** Replay tag returned by processPacket, bytes. */
export const REPLAY_TAG_SIZE = 16
/** X25519 public or secret key, bytes. */
export const KEY_SIZE = 32
/** Encoded SURB, bytes: version 1 | firstNode 32 | header 701 | surbKey 32. */
export const SURB_SIZE = 1 + NODE_ID_SIZE + HEADER_SIZE + KEY_SIZE
/** Largest delayMs a routing block can carry (u32), ms. */
export const MAX_DELAY_MS = 0xffff_ffff

/** Header offsets, bytes. */
export const VERSION_OFFSET = 0
export const EPOCH_OFFSET = 1
export const ALPHA_OFFSET = 5
export const BETA_OFFSET = ALPHA_OFFSET + ALPHA_SIZE
export const GAMMA_OFFSET = BETA_OFFSET + BETA_SIZE
/** The MAC covers header[0..GAMMA_OFFSET): version ‖ epoch ‖ alpha ‖ beta. */
export const MAC_INPUT_SIZE = GAMMA_OFFSET

/** Routing block offsets, bytes. */
export const HOP_TYPE_OFFSET = 0
export const HOP_FLAGS_OFFSET = 1
export const HOP_DELAY_OFFSET = 2
export const HOP_NODE_OFFSET = 6
export const HOP_ID_OFFSET = 38
export const HOP_RESERVED_OFFSET = 54
export const HOP_NEXT_GAMMA_OFFSET = 56

/** Routing block types (docs/sphinx.md: other values are dropped with reason 'routing'). */
export const HOP_TYPE_FORWARD = 1
export const HOP_TYPE_DELIVER = 2
export const HOP_TYPE_DELIVER_SURB = 3

/** crypto_kdf context of the per-hop keys (8 bytes). */
export const KDF_CONTEXT_SPHINX = 'umbrasph'
/** crypto_kdf context of the LIONESS subkeys (8 bytes). */
export const KDF_CONTEXT_LIONESS = 'umbralio'
/** crypto_kdf subkey ids under KDF_CONTEXT_SPHINX. */
export const KDF_ID_HEADER_STREAM = 1
export const KDF_ID_HEADER_MAC = 2
export const KDF_ID_PAYLOAD = 3
export const KDF_ID_REPLAY_TAG = 4
/** BLAKE2b-256 prefix of the blinding factor b_i = H(prefix ‖ alpha_i ‖ s_i). */
export const BLIND_DOMAIN = 'umbra/sphinx/v1/blind'
