import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { InvalidOptionError } from '../errors.ts'
import { DESCRIPTOR_LIFETIME_MS, DESCRIPTOR_REFRESH_MS } from './constants.ts'
import { MixDescriptor, MixDescriptorSignable } from './pb/directory.ts'
import { InvalidDescriptorError } from './errors.ts'
import type { PrivateKey } from '@libp2p/interface'

const SECOND = 1000
const MINUTE = 60 * SECOND

/** Role bit: the node relays Sphinx packets as a mix (DESIGN.md section 2). */
export const ROLE_MIX = 1
/** Role bit: the node holds mailboxes for pseudonyms as a gateway (DESIGN.md section 2). */
export const ROLE_GATEWAY = 2
/** Every role bit version 1 defines. */
const KNOWN_ROLES = ROLE_MIX | ROLE_GATEWAY
/** Wire version of {@link MixDescriptor}. */
const DESCRIPTOR_VERSION = 1
/** Domain-separation prefix of the descriptor signature (STYLE.md, "Wire and crypto"). */
const DESCRIPTOR_SIGNATURE_DOMAIN = 'umbra/mix-descriptor/v1'
/** Largest encoded descriptor, checked before decoding, bytes (mixnet brief). */
const MAX_DESCRIPTOR_BYTES = 4096
/** Most addresses a descriptor lists, and the longest one, bytes of UTF-8 (mixnet brief). */
const MAX_ADDRS = 16
const MAX_ADDR_BYTES = 256
/** Onion keys a descriptor carries: current epoch plus overlap (DESIGN.md section 5, key rotation). */
const MIN_ONION_KEYS = 1
const MAX_ONION_KEYS = 3
/** Lengths, bytes: Ed25519 public key, Ed25519 signature, X25519 public key. */
const NODE_KEY_BYTES = 32
const SIGNATURE_BYTES = 64
const ONION_KEY_BYTES = 32
/** How far `issuedAt` may be ahead of the verifier's clock, ms (same as DHT records, src/dht/constants.ts). */
const MAX_CLOCK_SKEW_MS = 5 * MINUTE
/**
 * Longest lifetime `expiresAt - issuedAt`, ms (issue 8: minutes, not days).
 * Nodes sign for 25 s (DESCRIPTOR_LIFETIME_MS) and re-sign every 8 s up to
 * 1,000 listed nodes, longer in larger directories ({@link descriptorTiming}),
 * never beyond this: a stolen or forged-then-admitted descriptor outlives
 * its node by at most 2 min (it was 48 h).
 */
export const MAX_DESCRIPTOR_LIFETIME_MS = 2 * MINUTE
/** Re-signatures per second the whole network may cost each node, at most: what 1,000 nodes re-signing every 8 s cost (docs/scale.md). */
export const DESCRIPTOR_RESIGN_BUDGET_PER_SEC = 1000 / (DESCRIPTOR_REFRESH_MS / 1000)
/** Longest re-sign interval, ms: a third of {@link MAX_DESCRIPTOR_LIFETIME_MS}, so a copy has two intervals to spread. */
export const MAX_DESCRIPTOR_REFRESH_MS = 40 * SECOND

/**
 * How often this node re-signs its descriptor and how long each signature
 * lives, for a directory of `listed` nodes (issue 15; docs/scale.md
 * "10,000 nodes"). Every node fetches and verifies every re-signature, so
 * the interval grows with the directory to keep the network's re-signing
 * rate at most {@link DESCRIPTOR_RESIGN_BUDGET_PER_SEC}: 8 s / 25 s up to
 * 1,000 nodes, 16 s / 50 s at 2,000, and 40 s / 120 s (the longest
 * accepted) from 5,000 on, where the rate grows again (250/s at 10,000).
 * The lifetime stays 25/8 of the interval. A crashed node is therefore
 * listed up to the lifetime (a clean stop pushes a withdrawal at once).
 * @param listed - nodes in the directory (this node's view), >= 0
 * @returns refreshMs and lifetimeMs, ms
 */
export function descriptorTiming (listed: number): { refreshMs: number, lifetimeMs: number } {
  const refreshMs = Math.min(MAX_DESCRIPTOR_REFRESH_MS, Math.max(DESCRIPTOR_REFRESH_MS, Math.ceil(Math.max(0, listed) / DESCRIPTOR_RESIGN_BUDGET_PER_SEC) * 1000))
  const lifetimeMs = Math.min(MAX_DESCRIPTOR_LIFETIME_MS, Math.round(refreshMs * DESCRIPTOR_LIFETIME_MS / DESCRIPTOR_REFRESH_MS))
  return { refreshMs, lifetimeMs }
}
const MAX_UINT32 = 0xffff_ffff
/** Largest TCP port. */
const MAX_PORT = 65_535

const encoder = new TextEncoder()

/** One onion (Sphinx) public key and the key epoch it serves. */
export interface OnionKey {
  /** Key epoch number (uint32), as in the Sphinx header. */
  epoch: number
  /** X25519 public key, 32 bytes. */
  key: Uint8Array
}

/** What a node puts in its descriptor; {@link signDescriptor} adds the node key and signature. */
export interface DescriptorFields {
  /** Sequence number, positive safe integer; a higher one replaces a lower one. */
  seq: number
  /** ms since the Unix epoch. @default Date.now() */
  issuedAt?: number
  /** ms since the Unix epoch, after `issuedAt` and at most 2 min later ({@link MAX_DESCRIPTOR_LIFETIME_MS}). */
  expiresAt: number
  /** Multiaddr strings, at most 16, each 1 to 256 bytes. */
  addrs: string[]
  /** Bit flags: {@link ROLE_MIX}, {@link ROLE_GATEWAY}; at least one unless `withdrawn`. */
  roles: number
  /** 1 to 3 onion keys, epochs strictly ascending. */
  onionKeys: OnionKey[]
  /** The node is leaving the directory. @default false */
  withdrawn?: boolean
  /**
   * TCP port (1 to 65535) where the node accepts packet links (docs/mixnet.md
   * "Packet links"), on the hosts of its `addrs`. Absent: it has none, and
   * its predecessors use the libp2p mix stream.
   */
  linkPort?: number
}

/** A descriptor that passed {@link verifyDescriptor}. */
export interface VerifiedDescriptor {
  /** The node's PeerId string (`12D3Koo…`), from its key. */
  peerId: string
  /** The node's Ed25519 public key (its PeerId key), 32 bytes. */
  nodeKey: Uint8Array
  seq: number
  /** ms since the Unix epoch. */
  issuedAt: number
  /** ms since the Unix epoch. */
  expiresAt: number
  addrs: string[]
  /** Raw role bits. */
  roles: number
  /** `roles` has {@link ROLE_MIX}. */
  mix: boolean
  /** `roles` has {@link ROLE_GATEWAY}. */
  gateway: boolean
  /** Epochs strictly ascending. */
  onionKeys: OnionKey[]
  withdrawn: boolean
  /** TCP port of its packet links; `undefined` when the descriptor announces none (older nodes). */
  linkPort: number | undefined
  /** 64 bytes. */
  signature: Uint8Array
  /** The encoded descriptor, as sent. */
  bytes: Uint8Array
}

/**
 * The structural rules shared by signing and verifying (everything but the
 * clock and the signature). Returns a reason, or `undefined` when valid.
 */
function structuralProblem (d: MixDescriptor): string | undefined {
  if (d.version !== DESCRIPTOR_VERSION) return `unsupported version ${d.version}`
  if (d.nodeKey.byteLength !== NODE_KEY_BYTES) return `node key is not ${NODE_KEY_BYTES} bytes`
  if (d.seq < 1n || d.seq > BigInt(Number.MAX_SAFE_INTEGER)) return 'seq out of range'
  if (d.issuedAt < 1n || d.issuedAt > BigInt(Number.MAX_SAFE_INTEGER)) return 'issuedAt out of range'
  if (d.expiresAt <= d.issuedAt) return 'expiresAt is not after issuedAt'
  if (d.expiresAt - d.issuedAt > BigInt(MAX_DESCRIPTOR_LIFETIME_MS)) return 'lifetime is longer than 2 min'
  if (d.addrs.length > MAX_ADDRS) return `more than ${MAX_ADDRS} addresses`
  for (const a of d.addrs) {
    const n = encoder.encode(a).byteLength
    if (n === 0 || n > MAX_ADDR_BYTES) return `an address is not 1 to ${MAX_ADDR_BYTES} bytes`
    try {
      multiaddr(a)
    } catch {
      return 'an address is not a multiaddr'
    }
  }
  if ((d.roles & ~KNOWN_ROLES) !== 0 || d.roles > KNOWN_ROLES) return `unknown role bits ${d.roles}`
  if (d.roles === 0 && !d.withdrawn) return 'no role'
  if (d.onionKeys.length !== d.onionEpochs.length) return 'onion keys and epochs differ in count'
  if (d.onionKeys.length < MIN_ONION_KEYS || d.onionKeys.length > MAX_ONION_KEYS) return `not ${MIN_ONION_KEYS} to ${MAX_ONION_KEYS} onion keys`
  if (!d.onionKeys.every((k) => k.byteLength === ONION_KEY_BYTES)) return `an onion key is not ${ONION_KEY_BYTES} bytes`
  if (!d.onionEpochs.every((e, i) => i === 0 || e > (d.onionEpochs[i - 1] ?? MAX_UINT32))) return 'onion epochs are not strictly ascending'
  if (d.linkPort > MAX_PORT) return `link port ${d.linkPort} is above ${MAX_PORT}`
  return undefined
}

function signable (d: MixDescriptor): Uint8Array {
  return MixDescriptorSignable.encode({
    domain: DESCRIPTOR_SIGNATURE_DOMAIN,
    version: d.version,
    nodeKey: d.nodeKey,
    seq: d.seq,
    issuedAt: d.issuedAt,
    expiresAt: d.expiresAt,
    addrs: d.addrs,
    roles: d.roles,
    onionEpochs: d.onionEpochs,
    onionKeys: d.onionKeys,
    withdrawn: d.withdrawn,
    linkPort: d.linkPort
  })
}

/**
 * Builds and signs a node's mix descriptor, its directory entry
 * (DESIGN.md section 5, "Directory"): a {@link MixDescriptor} (protobuf,
 * version 1; `link_port`, field 12, is absent when 0, so a descriptor
 * without a packet link encodes and signs exactly as before it existed;
 * a node older than the field refuses a descriptor that carries it, as not
 * canonically encoded) whose signature is the node's transport key (the libp2p PeerId
 * key) over a {@link MixDescriptorSignable} that starts with the domain
 * `umbra/mix-descriptor/v1`. Model: Tor's server descriptors
 * (dir-spec §2.1) and Katzenpost's mix descriptors, signed by the node.
 * @param privateKey - the node's Ed25519 transport key
 * @param fields - see {@link DescriptorFields}
 * @returns the encoded descriptor, at most 4,096 bytes
 * @throws UMBRA_ERR_INVALID_OPTION naming the problem (bad field, or larger than 4 KiB)
 */
export async function signDescriptor (privateKey: PrivateKey, fields: DescriptorFields): Promise<Uint8Array> {
  if (privateKey?.type !== 'Ed25519') throw new InvalidOptionError('privateKey must be the node\'s Ed25519 transport key')
  if (fields == null || typeof fields !== 'object') throw new InvalidOptionError('fields must be an object')
  const issuedAt = fields.issuedAt ?? Date.now()
  for (const [name, v] of [['seq', fields.seq], ['issuedAt', issuedAt], ['expiresAt', fields.expiresAt]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new InvalidOptionError(`${name} must be a positive integer, got ${String(v)}`)
  }
  if (fields.linkPort !== undefined && (!Number.isInteger(fields.linkPort) || fields.linkPort < 1 || fields.linkPort > MAX_PORT)) {
    throw new InvalidOptionError(`linkPort must be a TCP port 1 to ${MAX_PORT}, got ${String(fields.linkPort)}`)
  }
  if (!Number.isInteger(fields.roles) || fields.roles < 0 || fields.roles > MAX_UINT32) throw new InvalidOptionError('roles must be a uint32 of role bits')
  if (!Array.isArray(fields.addrs) || !fields.addrs.every((a) => typeof a === 'string')) throw new InvalidOptionError('addrs must be an array of multiaddr strings')
  if (!Array.isArray(fields.onionKeys) || !fields.onionKeys.every((k) => k != null && Number.isInteger(k.epoch) && k.epoch >= 0 && k.epoch <= MAX_UINT32 && k.key instanceof Uint8Array)) {
    throw new InvalidOptionError('onionKeys must be an array of { epoch: uint32, key: Uint8Array }')
  }
  const d: MixDescriptor = {
    version: DESCRIPTOR_VERSION,
    nodeKey: privateKey.publicKey.raw as Uint8Array<ArrayBuffer>,
    seq: BigInt(fields.seq),
    issuedAt: BigInt(issuedAt),
    expiresAt: BigInt(fields.expiresAt),
    addrs: [...fields.addrs],
    roles: fields.roles,
    onionEpochs: fields.onionKeys.map((k) => k.epoch),
    onionKeys: fields.onionKeys.map((k) => k.key as Uint8Array<ArrayBuffer>),
    withdrawn: fields.withdrawn ?? false,
    signature: new Uint8Array(0),
    linkPort: fields.linkPort ?? 0
  }
  const problem = structuralProblem(d)
  if (problem != null) throw new InvalidOptionError(`Mix descriptor: ${problem}`)
  d.signature = (await privateKey.sign(signable(d))) as Uint8Array<ArrayBuffer>
  const bytes = MixDescriptor.encode(d)
  if (bytes.byteLength > MAX_DESCRIPTOR_BYTES) throw new InvalidOptionError(`Mix descriptor of ${bytes.byteLength} bytes exceeds ${MAX_DESCRIPTOR_BYTES}: list fewer or shorter addresses`)
  return bytes
}

/**
 * Decodes and checks a mix descriptor: encoded size (≤ 4 KiB, before
 * decoding), repeated-field counts (while decoding), canonical encoding,
 * version 1, field lengths (node key 32, signature 64, onion keys 32 each,
 * 1 to 3 with strictly ascending epochs, ≤ 16 multiaddrs of ≤ 256 bytes),
 * role bits, lifetime ≤ 2 min, not expired, issued at most 5 min ahead of
 * `now`, and the Ed25519 signature of the node key over the domain-separated
 * signable. Trust in the node itself is the directory's business.
 * @param bytes - as produced by {@link signDescriptor}
 * @param now - ms since the Unix epoch
 * @returns the descriptor with the node's PeerId string
 * @throws UMBRA_ERR_INVALID_DESCRIPTOR with the reason
 */
export async function verifyDescriptor (bytes: Uint8Array, now = Date.now()): Promise<VerifiedDescriptor> {
  if (!(bytes instanceof Uint8Array)) throw new InvalidDescriptorError('A mix descriptor is a Uint8Array')
  if (bytes.byteLength > MAX_DESCRIPTOR_BYTES) throw new InvalidDescriptorError(`Mix descriptor of ${bytes.byteLength} bytes exceeds ${MAX_DESCRIPTOR_BYTES}`)
  let d: MixDescriptor
  try {
    d = MixDescriptor.decode(bytes, { limits: { addrs: MAX_ADDRS, onionEpochs: MAX_ONION_KEYS, onionKeys: MAX_ONION_KEYS } })
  } catch (err) {
    throw new InvalidDescriptorError('Not a valid MixDescriptor', { cause: err })
  }
  if (!uint8ArrayEquals(MixDescriptor.encode(d), bytes)) throw new InvalidDescriptorError('Mix descriptor is not canonically encoded')
  const problem = structuralProblem(d)
  if (problem != null) throw new InvalidDescriptorError(`Mix descriptor: ${problem}`)
  if (d.signature.byteLength !== SIGNATURE_BYTES) throw new InvalidDescriptorError(`Mix descriptor signature is not ${SIGNATURE_BYTES} bytes`)
  const issuedAt = Number(d.issuedAt)
  const expiresAt = Number(d.expiresAt)
  if (expiresAt <= now) throw new InvalidDescriptorError('Mix descriptor has expired')
  if (issuedAt > now + MAX_CLOCK_SKEW_MS) throw new InvalidDescriptorError('Mix descriptor is issued more than 5 min in the future')
  let ok: boolean
  let peerId: string
  try {
    const publicKey = publicKeyFromRaw(d.nodeKey)
    ok = await publicKey.verify(signable(d), d.signature)
    peerId = peerIdFromPublicKey(publicKey).toString()
  } catch (err) {
    throw new InvalidDescriptorError('Mix descriptor node key is unusable', { cause: err })
  }
  if (!ok) throw new InvalidDescriptorError('Mix descriptor signature does not verify')
  return {
    peerId,
    nodeKey: d.nodeKey,
    seq: Number(d.seq),
    issuedAt,
    expiresAt,
    addrs: d.addrs,
    roles: d.roles,
    mix: (d.roles & ROLE_MIX) !== 0,
    gateway: (d.roles & ROLE_GATEWAY) !== 0,
    onionKeys: d.onionEpochs.map((epoch, i) => ({ epoch, key: d.onionKeys[i] as Uint8Array })),
    withdrawn: d.withdrawn,
    linkPort: d.linkPort === 0 ? undefined : d.linkPort,
    signature: d.signature,
    bytes
  }
}
