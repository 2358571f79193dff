/**
 * Sphinx v1 packets: creation by the sender and processing by a relay.
 *
 * Construction: Danezis & Goldberg 2009, "Sphinx: A Compact and Provably
 * Secure Mix Format" (§3.2 header and filler, §3.3 payload, §3.4 replies),
 * with the blinding and key schedule of the Katzenpost Sphinx spec
 * (§4 "Sphinx Cryptographic Primitives", §5 "Sphinx Packet Creation",
 * §6 "Sphinx Packet Processing") and LIONESS (Anderson & Biham 1996) as the
 * payload SPRP. Only libsodium primitives, through sodium-native.
 * docs/sphinx.md has the byte layouts and the reasoning.
 */
import {
  ALPHA_OFFSET, ALPHA_SIZE, BETA_OFFSET, BETA_SIZE, BLIND_DOMAIN, BODY_SIZE, EPOCH_OFFSET, GAMMA_OFFSET, GAMMA_SIZE,
  HEADER_SIZE, HOP_DELAY_OFFSET, HOP_FLAGS_OFFSET, HOP_ID_OFFSET, HOP_NEXT_GAMMA_OFFSET, HOP_NODE_OFFSET,
  HOP_RESERVED_OFFSET, HOP_SIZE, HOP_TYPE_DELIVER, HOP_TYPE_DELIVER_SURB, HOP_TYPE_FORWARD, HOP_TYPE_OFFSET,
  KDF_CONTEXT_SPHINX, KDF_ID_HEADER_MAC, KDF_ID_HEADER_STREAM, KDF_ID_PAYLOAD, KDF_ID_REPLAY_TAG, KEY_SIZE,
  MAC_INPUT_SIZE, MAX_DELAY_MS, MAX_PATH_NODES, NODE_ID_SIZE, PACKET_SIZE, PAYLOAD_TAG_SIZE, REPLAY_TAG_SIZE,
  SPHINX_VERSION, SURB_ID_SIZE, VERSION_OFFSET
} from './constants.ts'
import { InvalidOptionError } from './errors.ts'
import { lionessDecrypt, lionessEncrypt } from './lioness.ts'
import { chachaXor, generichash, kdfDerive, memcmp, memzero, NONCE_SIZE, randombytes, scalarmult, scalarmultBase } from './sodium.ts'
import type { CreatePacketInit, DropReason, ProcessResult, RandomSource, RoutingCommand, SphinxHop } from './types.ts'

const encoder = new TextEncoder()
const SPHINX_CTX = encoder.encode(KDF_CONTEXT_SPHINX)
const BLIND_PREFIX = encoder.encode(BLIND_DOMAIN)
const ZERO_NONCE = new Uint8Array(NONCE_SIZE)
const ZERO_TAG = new Uint8Array(PAYLOAD_TAG_SIZE)
/** Keystream per hop: beta plus one routing block, bytes. */
const STREAM_SIZE = BETA_SIZE + HOP_SIZE

/** libsodium's CSPRNG as a {@link RandomSource}. */
export const defaultRandom: RandomSource = (n) => {
  const out = new Uint8Array(n)
  randombytes(out)
  return out
}

/** Draws `n` bytes from `random`, checking that it returned exactly `n`. @throws UMBRA_ERR_INVALID_OPTION */
export function draw (random: RandomSource, n: number): Uint8Array {
  const out = random(n)
  if (!(out instanceof Uint8Array) || out.byteLength !== n) throw new InvalidOptionError(`random(${n}) must return a Uint8Array of ${n} bytes`)
  return out
}

/** Fills `dst` from `random` (libsodium directly when it is the default, so no copy of the secret is left behind). */
export function drawInto (random: RandomSource, dst: Uint8Array): Uint8Array {
  if (random === defaultRandom) randombytes(dst)
  else dst.set(draw(random, dst.byteLength))
  return dst
}

/**
 * A plain Uint8Array copy of src[start..end). Not `slice`: on a Node Buffer
 * `slice` returns a view, and the caller's bytes would then be changed in place.
 */
export function copyBytes (src: Uint8Array, start = 0, end = src.byteLength): Uint8Array {
  const out = new Uint8Array(end - start)
  out.set(src.subarray(start, end))
  return out
}

function readU32 (b: Uint8Array, off: number): number {
  return (((b[off] as number) << 24) >>> 0) + ((b[off + 1] as number) << 16) + ((b[off + 2] as number) << 8) + (b[off + 3] as number)
}

function writeU32 (b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 24
  b[off + 1] = (v >>> 16) & 0xff
  b[off + 2] = (v >>> 8) & 0xff
  b[off + 3] = v & 0xff
}

function isBytes (v: unknown, len: number): v is Uint8Array {
  return v instanceof Uint8Array && v.byteLength === len
}

/** Checks a u32 option. @throws UMBRA_ERR_INVALID_OPTION */
export function checkEpoch (epoch: unknown): asserts epoch is number {
  if (!Number.isInteger(epoch) || (epoch as number) < 0 || (epoch as number) > 0xffff_ffff) {
    throw new InvalidOptionError(`epoch must be an integer in 0..4294967295, got ${String(epoch)}`)
  }
}

/**
 * Checks a path: 1..9 nodes, 32-byte onion keys, `forward` everywhere but the
 * last node, `final` at the last.
 * @throws UMBRA_ERR_INVALID_OPTION
 */
export function checkHops (hops: unknown, final: 'deliver' | 'deliverSurb'): asserts hops is SphinxHop[] {
  if (!Array.isArray(hops) || hops.length < 1 || hops.length > MAX_PATH_NODES) {
    throw new InvalidOptionError(`hops must list 1 to ${MAX_PATH_NODES} nodes, got ${Array.isArray(hops) ? hops.length : typeof hops}`)
  }
  hops.forEach((hop: SphinxHop, i) => {
    if (!isBytes(hop?.onionKey, KEY_SIZE)) throw new InvalidOptionError(`hops[${i}].onionKey must be a 32-byte X25519 public key`)
    const r = hop.routing as RoutingCommand | undefined
    const last = i === hops.length - 1
    const want = last ? final : 'forward'
    if (r?.type !== want) {
      throw new InvalidOptionError(`hops[${i}].routing.type must be '${want}' (${last ? 'the last node' : 'every node but the last forwards'}), got ${String(r?.type)}`)
    }
    if (r.type === 'forward') {
      if (!isBytes(r.nextNode, NODE_ID_SIZE)) throw new InvalidOptionError(`hops[${i}].routing.nextNode must be a 32-byte Ed25519 public key`)
      if (!Number.isInteger(r.delayMs) || r.delayMs < 0 || r.delayMs > MAX_DELAY_MS) {
        throw new InvalidOptionError(`hops[${i}].routing.delayMs must be an integer in 0..${MAX_DELAY_MS} ms, got ${String(r.delayMs)}`)
      }
    } else {
      if (!isBytes(r.mailbox, NODE_ID_SIZE)) throw new InvalidOptionError(`hops[${i}].routing.mailbox must be 32 bytes`)
      if (r.type === 'deliverSurb' && !isBytes(r.surbId, SURB_ID_SIZE)) throw new InvalidOptionError(`hops[${i}].routing.surbId must be 16 bytes`)
    }
  })
}

/** Writes the plaintext routing block of `r` (72 bytes, zeroed first); `nextGamma` is the next hop's MAC. */
function encodeRouting (block: Uint8Array, r: RoutingCommand, nextGamma: Uint8Array | undefined): void {
  block.fill(0)
  if (r.type === 'forward') {
    block[HOP_TYPE_OFFSET] = HOP_TYPE_FORWARD
    writeU32(block, HOP_DELAY_OFFSET, r.delayMs)
    block.set(r.nextNode, HOP_NODE_OFFSET)
  } else if (r.type === 'deliver') {
    block[HOP_TYPE_OFFSET] = HOP_TYPE_DELIVER
    block.set(r.mailbox, HOP_NODE_OFFSET)
  } else {
    block[HOP_TYPE_OFFSET] = HOP_TYPE_DELIVER_SURB
    block.set(r.mailbox, HOP_NODE_OFFSET)
    block.set(r.surbId, HOP_ID_OFFSET)
  }
  if (nextGamma !== undefined) block.set(nextGamma, HOP_NEXT_GAMMA_OFFSET)
}

/** dst ^= src over dst's length. */
function xorInto (dst: Uint8Array, src: Uint8Array): void {
  for (let i = 0; i < dst.length; i++) dst[i] = (dst[i] as number) ^ (src[i] as number)
}

/**
 * Writes a complete Sphinx header for `hops` into `header` (HEADER_SIZE bytes)
 * and returns the per-node payload keys, in path order.
 *
 * Danezis & Goldberg 2009 §3.2 with Katzenpost-style blinding (spec §5.1):
 * alpha_0 = X25519_base(x); s_i = X25519(b_{i-1}, … X25519(b_0, X25519(x, y_i)));
 * b_i = BLAKE2b-256(BLIND_DOMAIN ‖ alpha_i ‖ s_i); alpha_{i+1} = X25519(b_i, alpha_i).
 * Filler phi_{i+1} = (phi_i ‖ 0^72) ⊕ stream_i[648 − 72·i ..720], so each relay's
 * appended zero block decrypts to what the next MAC expects. The last beta is
 * (block_{n-1} ‖ random padding) ⊕ stream_{n-1} ‖ phi_{n-1}; then, from the last
 * node back, beta_i = (block_i ‖ beta_{i+1}[0..576]) ⊕ stream_i[0..648] and
 * gamma_i = BLAKE2b-128(key macKey_i, version ‖ epoch ‖ alpha_i ‖ beta_i).
 * @throws UMBRA_ERR_INVALID_OPTION - an onion key is a low-order point, or `random` misbehaves
 */
export function buildHeader (header: Uint8Array, epoch: number, hops: SphinxHop[], random: RandomSource): Uint8Array[] {
  const n = hops.length
  // Secret material of the whole path lives in one buffer, wiped at the end.
  const blindInSize = BLIND_PREFIX.length + ALPHA_SIZE + KEY_SIZE
  const work = new Uint8Array(n * (ALPHA_SIZE + 2 * KEY_SIZE + STREAM_SIZE) + 3 * KEY_SIZE + blindInSize)
  let off = 0
  const take = (len: number): Uint8Array => { const v = work.subarray(off, off + len); off += len; return v }
  const x = drawInto(random, take(KEY_SIZE))
  const padding = n < MAX_PATH_NODES ? draw(random, BETA_SIZE - n * HOP_SIZE) : new Uint8Array(0)
  const alphas = Array.from({ length: n }, () => take(ALPHA_SIZE))
  const macKeys = Array.from({ length: n }, () => take(KEY_SIZE))
  const blinds = Array.from({ length: n }, () => take(KEY_SIZE))
  const streams = Array.from({ length: n }, () => take(STREAM_SIZE))
  const streamKey = take(KEY_SIZE)
  const tmp = take(KEY_SIZE)
  const blindIn = take(blindInSize)
  const blindAlpha = blindIn.subarray(BLIND_PREFIX.length, BLIND_PREFIX.length + ALPHA_SIZE)
  const s = blindIn.subarray(BLIND_PREFIX.length + ALPHA_SIZE)
  blindIn.set(BLIND_PREFIX, 0)
  const payloadKeys: Uint8Array[] = []

  try {
    scalarmultBase(alphas[0] as Uint8Array, x)
    for (let i = 0; i < n; i++) {
      const alpha = alphas[i] as Uint8Array
      try {
        scalarmult(s, x, (hops[i] as SphinxHop).onionKey)
        for (let j = 0; j < i; j++) {
          scalarmult(tmp, blinds[j] as Uint8Array, s)
          s.set(tmp)
        }
      } catch (err) {
        throw new InvalidOptionError(`hops[${i}].onionKey is not a usable X25519 public key (low-order point)`, { cause: err })
      }
      kdfDerive(streamKey, KDF_ID_HEADER_STREAM, SPHINX_CTX, s)
      kdfDerive(macKeys[i] as Uint8Array, KDF_ID_HEADER_MAC, SPHINX_CTX, s)
      const pk = new Uint8Array(KEY_SIZE)
      kdfDerive(pk, KDF_ID_PAYLOAD, SPHINX_CTX, s)
      payloadKeys.push(pk)
      const stream = streams[i] as Uint8Array
      chachaXor(stream, stream, ZERO_NONCE, streamKey)
      if (i + 1 < n) {
        blindAlpha.set(alpha)
        generichash(blinds[i] as Uint8Array, blindIn)
        scalarmult(alphas[i + 1] as Uint8Array, blinds[i] as Uint8Array, alpha)
      }
    }

    // Filler: what relays 0..n-2 append, as seen encrypted by the last node's beta.
    const filler = new Uint8Array((n - 1) * HOP_SIZE)
    for (let i = 0; i < n - 1; i++) {
      const len = (i + 1) * HOP_SIZE
      xorInto(filler.subarray(0, len), (streams[i] as Uint8Array).subarray(STREAM_SIZE - len))
    }

    header[VERSION_OFFSET] = SPHINX_VERSION
    writeU32(header, EPOCH_OFFSET, epoch)
    const beta = header.subarray(BETA_OFFSET, GAMMA_OFFSET)
    const gamma = header.subarray(GAMMA_OFFSET, HEADER_SIZE)
    const macInput = header.subarray(0, MAC_INPUT_SIZE)
    const alphaField = header.subarray(ALPHA_OFFSET, BETA_OFFSET)
    const block = beta.subarray(0, HOP_SIZE)
    for (let i = n - 1; i >= 0; i--) {
      const stream = streams[i] as Uint8Array
      if (i === n - 1) {
        encodeRouting(block, (hops[i] as SphinxHop).routing, undefined)
        const head = BETA_SIZE - filler.length
        beta.set(padding, HOP_SIZE)
        xorInto(beta.subarray(0, head), stream)
        beta.set(filler, head)
      } else {
        beta.copyWithin(HOP_SIZE, 0, BETA_SIZE - HOP_SIZE)
        encodeRouting(block, (hops[i] as SphinxHop).routing, gamma)
        xorInto(beta, stream)
      }
      alphaField.set(alphas[i] as Uint8Array)
      generichash(gamma, macInput, macKeys[i] as Uint8Array)
    }
    return payloadKeys
  } finally {
    memzero(work)
  }
}

/**
 * Creates a forward Sphinx packet (Danezis & Goldberg 2009 §3.2–3.3;
 * Katzenpost Sphinx spec §5).
 *
 * The payload is 0^16 ‖ body (zero-padded to 3379 bytes), LIONESS-encrypted
 * with the last node's payload key first and the first node's last, so each
 * relay peels one layer and the final (`deliver`) node checks the 16 zero bytes.
 * @param init - epoch (u32), hops (1..9; last `deliver`), body (≤ 3379 bytes), optional random
 * @returns the packet, PACKET_SIZE (4096) bytes, to send to hops[0]
 * @throws UMBRA_ERR_INVALID_OPTION - bad epoch, 0 or more than 9 hops, a key or id of the wrong
 *   length, a non-forward middle hop or a non-deliver last hop, a body over 3379 bytes
 * @example
 * ```ts
 * const packet = createPacket({ epoch, hops: [
 *   { onionKey: mix1.onionKey, routing: { type: 'forward', nextNode: gateway.peerKey, delayMs: 40 } },
 *   { onionKey: gateway.onionKey, routing: { type: 'deliver', mailbox } }
 * ], body })
 * ```
 */
export function createPacket (init: CreatePacketInit): Uint8Array {
  const { epoch, hops, body } = init ?? {}
  const random = init?.random ?? defaultRandom
  checkEpoch(epoch)
  checkHops(hops, 'deliver')
  if (!(body instanceof Uint8Array) || body.byteLength > BODY_SIZE) {
    throw new InvalidOptionError(`body must be a Uint8Array of at most ${BODY_SIZE} bytes, got ${body instanceof Uint8Array ? body.byteLength : typeof body}`)
  }
  const packet = new Uint8Array(PACKET_SIZE)
  const keys = buildHeader(packet.subarray(0, HEADER_SIZE), epoch, hops, random)
  const payload = packet.subarray(HEADER_SIZE)
  payload.set(body, PAYLOAD_TAG_SIZE)
  for (let i = keys.length - 1; i >= 0; i--) lionessEncrypt(payload, keys[i] as Uint8Array)
  for (const k of keys) memzero(k)
  return packet
}

/**
 * The key epoch a packet claims, so a relay can pick the onion secret to
 * process it with.
 * @param packet - PACKET_SIZE bytes
 * @returns the epoch (u32), or undefined if the size or version is wrong
 */
export function packetEpoch (packet: Uint8Array): number | undefined {
  if (!(packet instanceof Uint8Array) || packet.byteLength !== PACKET_SIZE || packet[VERSION_OFFSET] !== SPHINX_VERSION) return undefined
  return readU32(packet, EPOCH_OFFSET)
}

// ---- relay hot path: module scratch, reused by every call (synchronous, one thread per worker) ----

/** BLAKE2b input of the blinding factor: prefix ‖ alpha ‖ s. The shared secret s is written in place. */
const relayBlindIn = new Uint8Array(BLIND_PREFIX.length + ALPHA_SIZE + KEY_SIZE)
relayBlindIn.set(BLIND_PREFIX, 0)
const relayAlpha = relayBlindIn.subarray(BLIND_PREFIX.length, BLIND_PREFIX.length + ALPHA_SIZE)
const relayS = relayBlindIn.subarray(BLIND_PREFIX.length + ALPHA_SIZE)
/** Everything secret the relay computes: s, keys, MAC, blinding factor, decrypted routing info. Wiped after every call. */
const relaySecret = new Uint8Array(4 * KEY_SIZE + GAMMA_SIZE + STREAM_SIZE)
const relayStreamKey = relaySecret.subarray(0, 32)
const relayMacKey = relaySecret.subarray(32, 64)
const relayPayloadKey = relaySecret.subarray(64, 96)
const relayBlind = relaySecret.subarray(96, 128)
const relayMac = relaySecret.subarray(128, 128 + GAMMA_SIZE)
const relayB = relaySecret.subarray(128 + GAMMA_SIZE)
const relaySecretInBlind = relayBlindIn.subarray(BLIND_PREFIX.length)

const DROPS: { [R in DropReason]: ProcessResult } = {
  size: Object.freeze({ ok: false, reason: 'size' }),
  version: Object.freeze({ ok: false, reason: 'version' }),
  point: Object.freeze({ ok: false, reason: 'point' }),
  mac: Object.freeze({ ok: false, reason: 'mac' }),
  routing: Object.freeze({ ok: false, reason: 'routing' }),
  payload: Object.freeze({ ok: false, reason: 'payload' })
}

/**
 * Processes a packet at a relay (mix or gateway): Danezis & Goldberg 2009 §3.2
 * "processing", Katzenpost Sphinx spec §6.
 *
 * Steps, dropping at the first failure: size (4096) and version; s =
 * X25519(onionSecret, alpha) ('point' for a low-order alpha); MAC over
 * version ‖ epoch ‖ alpha ‖ beta with sodium_memcmp ('mac'); decrypt
 * (beta ‖ 0^72) with the header keystream, parse the 72-byte routing block
 * ('routing' for an unknown type or non-zero flags/reserved bytes); LIONESS-
 * decrypt the payload; for `deliver`, check its 16 leading zero bytes ('payload').
 * A `forward` result carries the re-blinded packet, alpha' = X25519(b, alpha).
 *
 * The replay tag (16 bytes, KDF id 4 of s) is the same every time the same
 * packet reaches the same node with the same key, and unrelated across packets
 * and hops: the caller keeps a filter of tags per epoch and drops repeats.
 * The caller also chooses `onionSecret` by {@link packetEpoch}.
 *
 * Cost: two X25519, six BLAKE2b-based KDF/hash calls, ChaCha20 over 720 + 2×3363
 * bytes; allocates the output packet once (plus tag and node id).
 * @param packet - received bytes, any length (only PACKET_SIZE is accepted)
 * @param onionSecret - this node's X25519 onion secret for the packet's epoch, 32 bytes
 * @returns what to do, or `{ ok: false, reason }`; never throws on packet content
 * @throws UMBRA_ERR_INVALID_OPTION - `onionSecret` is not 32 bytes (a caller bug, not packet content)
 */
export function processPacket (packet: Uint8Array, onionSecret: Uint8Array): ProcessResult {
  if (!isBytes(onionSecret, KEY_SIZE)) throw new InvalidOptionError('onionSecret must be a 32-byte X25519 secret key')
  if (!(packet instanceof Uint8Array) || packet.byteLength !== PACKET_SIZE) return DROPS.size
  if (packet[VERSION_OFFSET] !== SPHINX_VERSION) return DROPS.version
  try {
    return unwrap(packet, onionSecret)
  } finally {
    memzero(relaySecret)
    memzero(relaySecretInBlind)
  }
}

function unwrap (packet: Uint8Array, onionSecret: Uint8Array): ProcessResult {
  const alpha = packet.subarray(ALPHA_OFFSET, BETA_OFFSET)
  try {
    scalarmult(relayS, onionSecret, alpha)
  } catch {
    return DROPS.point
  }
  kdfDerive(relayMacKey, KDF_ID_HEADER_MAC, SPHINX_CTX, relayS)
  generichash(relayMac, packet.subarray(0, MAC_INPUT_SIZE), relayMacKey)
  if (!memcmp(relayMac, packet.subarray(GAMMA_OFFSET, HEADER_SIZE))) return DROPS.mac

  kdfDerive(relayStreamKey, KDF_ID_HEADER_STREAM, SPHINX_CTX, relayS)
  relayB.set(packet.subarray(BETA_OFFSET, GAMMA_OFFSET), 0)
  relayB.fill(0, BETA_SIZE)
  chachaXor(relayB, relayB, ZERO_NONCE, relayStreamKey)
  const type = relayB[HOP_TYPE_OFFSET]
  if (relayB[HOP_FLAGS_OFFSET] !== 0 || relayB[HOP_RESERVED_OFFSET] !== 0 || relayB[HOP_RESERVED_OFFSET + 1] !== 0) return DROPS.routing
  if (type !== HOP_TYPE_FORWARD && type !== HOP_TYPE_DELIVER && type !== HOP_TYPE_DELIVER_SURB) return DROPS.routing

  kdfDerive(relayPayloadKey, KDF_ID_PAYLOAD, SPHINX_CTX, relayS)
  const tag = new Uint8Array(REPLAY_TAG_SIZE)
  kdfDerive(tag, KDF_ID_REPLAY_TAG, SPHINX_CTX, relayS)
  const node = relayB.slice(HOP_NODE_OFFSET, HOP_NODE_OFFSET + NODE_ID_SIZE)

  if (type === HOP_TYPE_FORWARD) {
    const out = new Uint8Array(PACKET_SIZE)
    out[VERSION_OFFSET] = SPHINX_VERSION
    out.set(packet.subarray(EPOCH_OFFSET, ALPHA_OFFSET), EPOCH_OFFSET)
    relayAlpha.set(alpha)
    generichash(relayBlind, relayBlindIn)
    try {
      scalarmult(out.subarray(ALPHA_OFFSET, BETA_OFFSET), relayBlind, alpha)
    } catch {
      return DROPS.point // unreachable: alpha already passed the first X25519
    }
    out.set(relayB.subarray(HOP_SIZE), BETA_OFFSET)
    out.set(relayB.subarray(HOP_NEXT_GAMMA_OFFSET, HOP_SIZE), GAMMA_OFFSET)
    const payload = out.subarray(HEADER_SIZE)
    payload.set(packet.subarray(HEADER_SIZE))
    lionessDecrypt(payload, relayPayloadKey)
    return { ok: true, tag, kind: 'forward', nextNode: node, delayMs: readU32(relayB, HOP_DELAY_OFFSET), packet: out }
  }

  const payload = copyBytes(packet, HEADER_SIZE)
  lionessDecrypt(payload, relayPayloadKey)
  if (type === HOP_TYPE_DELIVER) {
    if (!memcmp(payload.subarray(0, PAYLOAD_TAG_SIZE), ZERO_TAG)) return DROPS.payload
    return { ok: true, tag, kind: 'deliver', mailbox: node, body: payload.subarray(PAYLOAD_TAG_SIZE) }
  }
  const surbId = relayB.slice(HOP_ID_OFFSET, HOP_ID_OFFSET + SURB_ID_SIZE)
  return { ok: true, tag, kind: 'deliverSurb', mailbox: node, surbId, payload }
}
