/**
 * Single-use reply blocks (Danezis & Goldberg 2009 §3.4 "Replies";
 * Katzenpost Sphinx spec §7 "Single Use Reply Block Replies").
 *
 * The creator builds a header to itself and keeps the per-node payload keys;
 * the replier, who learns only the first node, wraps its body with the SURB
 * key; every node LIONESS-decrypts on the way; the creator undoes those
 * layers (encrypting with the node keys, last node first), then decrypts with
 * the SURB key and checks the 16 leading zero bytes.
 */
import { BODY_SIZE, HEADER_SIZE, KEY_SIZE, MAX_PATH_NODES, NODE_ID_SIZE, PACKET_SIZE, PAYLOAD_SIZE, PAYLOAD_TAG_SIZE, SPHINX_VERSION, SURB_SIZE, VERSION_OFFSET } from './constants.ts'
import { InvalidOptionError, SphinxMalformedError, SphinxTamperedError } from './errors.ts'
import { lionessDecrypt, lionessEncrypt } from './lioness.ts'
import { buildHeader, checkEpoch, checkHops, copyBytes, defaultRandom, drawInto } from './sphinx.ts'
import { memcmp } from './sodium.ts'
import type { CreateSurbInit, Surb, SurbSecrets } from './types.ts'

const ZERO_TAG = new Uint8Array(PAYLOAD_TAG_SIZE)
/** SURB wire offsets, bytes. */
const SURB_NODE_OFFSET = 1
const SURB_HEADER_OFFSET = SURB_NODE_OFFSET + NODE_ID_SIZE
const SURB_KEY_OFFSET = SURB_HEADER_OFFSET + HEADER_SIZE

function isBytes (v: unknown, len: number): v is Uint8Array {
  return v instanceof Uint8Array && v.byteLength === len
}

/** @throws UMBRA_ERR_SPHINX_MALFORMED */
function checkSurb (surb: Surb): void {
  if (!isBytes(surb?.firstNode, NODE_ID_SIZE)) throw new SphinxMalformedError('SURB firstNode must be 32 bytes')
  if (!isBytes(surb.header, HEADER_SIZE)) throw new SphinxMalformedError(`SURB header must be ${HEADER_SIZE} bytes`)
  if (surb.header[VERSION_OFFSET] !== SPHINX_VERSION) throw new SphinxMalformedError(`SURB header version must be ${SPHINX_VERSION}, got ${surb.header[VERSION_OFFSET]}`)
  if (!isBytes(surb.surbKey, KEY_SIZE)) throw new SphinxMalformedError('SURB surbKey must be 32 bytes')
}

/**
 * Creates a SURB for a reply along `hops` (the last node's routing is
 * `deliverSurb`, naming the creator's mailbox and a 16-byte SURB id).
 * @param init - epoch (u32), firstNode (Ed25519 key of hops[0], 32 bytes), hops (1..9), optional random
 * @returns `surb` (give to the replier, see {@link encodeSurb}) and `secrets` (keep; open the reply with {@link openSurbReply})
 * @throws UMBRA_ERR_INVALID_OPTION - bad epoch, firstNode, path length, key/id length or routing types
 */
export function createSurb (init: CreateSurbInit): { surb: Surb, secrets: SurbSecrets } {
  const { epoch, firstNode, hops } = init ?? {}
  const random = init?.random ?? defaultRandom
  checkEpoch(epoch)
  if (!isBytes(firstNode, NODE_ID_SIZE)) throw new InvalidOptionError('firstNode must be the 32-byte Ed25519 public key of hops[0]')
  checkHops(hops, 'deliverSurb')
  const header = new Uint8Array(HEADER_SIZE)
  const payloadKeys = buildHeader(header, epoch, hops, random)
  const surbKey = drawInto(random, new Uint8Array(KEY_SIZE))
  return {
    surb: { firstNode: copyBytes(firstNode), header, surbKey },
    secrets: { surbKey: copyBytes(surbKey), payloadKeys }
  }
}

/**
 * Encodes a SURB: version u8 (1) | firstNode 32 | header 701 | surbKey 32 = SURB_SIZE (766) bytes.
 * @throws UMBRA_ERR_SPHINX_MALFORMED - a field has the wrong length or the header the wrong version
 */
export function encodeSurb (surb: Surb): Uint8Array {
  checkSurb(surb)
  const out = new Uint8Array(SURB_SIZE)
  out[0] = SPHINX_VERSION
  out.set(surb.firstNode, SURB_NODE_OFFSET)
  out.set(surb.header, SURB_HEADER_OFFSET)
  out.set(surb.surbKey, SURB_KEY_OFFSET)
  return out
}

/**
 * Decodes a SURB encoded by {@link encodeSurb}; the fields are copies.
 * @param bytes - exactly SURB_SIZE (766) bytes
 * @throws UMBRA_ERR_SPHINX_MALFORMED - wrong length, SURB version or header version
 */
export function decodeSurb (bytes: Uint8Array): Surb {
  if (!(bytes instanceof Uint8Array)) throw new SphinxMalformedError('A SURB must be a Uint8Array')
  if (bytes.byteLength !== SURB_SIZE) throw new SphinxMalformedError(`A SURB is ${SURB_SIZE} bytes, got ${bytes.byteLength}`)
  if (bytes[0] !== SPHINX_VERSION) throw new SphinxMalformedError(`Unsupported SURB version ${bytes[0]}`)
  const surb: Surb = {
    firstNode: copyBytes(bytes, SURB_NODE_OFFSET, SURB_HEADER_OFFSET),
    header: copyBytes(bytes, SURB_HEADER_OFFSET, SURB_KEY_OFFSET),
    surbKey: copyBytes(bytes, SURB_KEY_OFFSET, SURB_SIZE)
  }
  checkSurb(surb)
  return surb
}

/**
 * Builds the reply packet from a SURB: header ‖ LIONESS(surbKey, 0^16 ‖ body).
 * @param surb - from {@link decodeSurb}
 * @param body - at most BODY_SIZE (3379) bytes, zero-padded
 * @returns `firstNode` (send `packet` there) and the PACKET_SIZE (4096) byte packet
 * @throws UMBRA_ERR_SPHINX_MALFORMED (bad SURB), UMBRA_ERR_INVALID_OPTION (body over 3379 bytes)
 */
export function createSurbReply (surb: Surb, body: Uint8Array): { firstNode: Uint8Array, packet: Uint8Array } {
  checkSurb(surb)
  if (!(body instanceof Uint8Array) || body.byteLength > BODY_SIZE) {
    throw new InvalidOptionError(`body must be a Uint8Array of at most ${BODY_SIZE} bytes, got ${body instanceof Uint8Array ? body.byteLength : typeof body}`)
  }
  const packet = new Uint8Array(PACKET_SIZE)
  packet.set(surb.header, 0)
  const payload = packet.subarray(HEADER_SIZE)
  payload.set(body, PAYLOAD_TAG_SIZE)
  lionessEncrypt(payload, surb.surbKey)
  return { firstNode: copyBytes(surb.firstNode), packet }
}

/**
 * Opens a reply delivered by the final (`deliverSurb`) node.
 * @param secrets - from {@link createSurb}
 * @param payload - the `payload` of the deliverSurb result, PAYLOAD_SIZE (3395) bytes (not modified)
 * @returns the body, BODY_SIZE (3379) bytes (zero-padded as sent)
 * @throws UMBRA_ERR_SPHINX_TAMPERED (the payload was modified, or these are not its secrets),
 *   UMBRA_ERR_SPHINX_MALFORMED (payload or secrets of the wrong size)
 */
export function openSurbReply (secrets: SurbSecrets, payload: Uint8Array): Uint8Array {
  if (!isBytes(payload, PAYLOAD_SIZE)) throw new SphinxMalformedError(`A reply payload is ${PAYLOAD_SIZE} bytes`)
  const keys = secrets?.payloadKeys
  if (!isBytes(secrets?.surbKey, KEY_SIZE) || !Array.isArray(keys) || keys.length < 1 || keys.length > MAX_PATH_NODES || !keys.every((k) => isBytes(k, KEY_SIZE))) {
    throw new SphinxMalformedError('SURB secrets must hold a 32-byte surbKey and 1..9 32-byte payload keys')
  }
  const block = copyBytes(payload)
  for (let i = keys.length - 1; i >= 0; i--) lionessEncrypt(block, keys[i] as Uint8Array)
  lionessDecrypt(block, secrets.surbKey)
  if (!memcmp(block.subarray(0, PAYLOAD_TAG_SIZE), ZERO_TAG)) throw new SphinxTamperedError()
  return block.subarray(PAYLOAD_TAG_SIZE)
}
