/**
 * Peer records (DESIGN.md section 4, seed 002's public-key registry, issue 9
 * item 2): what others need to reach a node, signed by its transport key and
 * stored in the DHT under `/umbra-peer/<key_…>` of that key. The namespace is
 * self-certifying: only the node whose key the DHT key names can publish
 * there. Declared once with `defineNamespace` (src/dht/namespace.ts).
 */
import { peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import sodium from 'sodium-native'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { InvalidRecordError } from '../dht/errors.ts'
import { defineNamespace, type Namespace, type VerifiedRecord } from '../dht/namespace.ts'
import { InvalidOptionError } from '../errors.ts'
import { decodeKey, decodeTypedKey, encodeKey, walletEncryptionKeyPair } from '../identity/index.ts'
import {
  MAX_CLOCK_SKEW_MS, MAX_METADATA_BYTES, MAX_PEER_ADDR_BYTES, MAX_PEER_ADDRS, MAX_PEER_RECORD_BYTES, MAX_QUEUE_SERVERS, PEER_NAMESPACE,
  PEER_RECORD_VERSION, ROLE_CLIENT, ROLE_SERVER
} from './constants.ts'
import { MetadataTooLargeError } from './errors.ts'
import { PeerRecordValue } from './pb/peer-record.ts'
import type { PrivateKey } from '@libp2p/interface'

const encoder = new TextEncoder()

/** A peer record as a node publishes it or a lookup returns it. */
export interface PeerRecordInfo {
  /** The node's PeerId string. */
  peerId: string
  /** The node's transport key, `key_…`. */
  key: string
  role: 'server' | 'client'
  /** Multiaddrs others can dial; a client lists relayed (`/p2p-circuit`) ones only. */
  addrs: string[]
  /** When the node signed the record, ms since the Unix epoch. */
  lastSeen: number
  /** Application metadata, at most 1,024 bytes (sealed bytes when `sealed`). */
  metadata: Uint8Array
  /** `metadata` is sealed to one recipient (open it with {@link openMetadata}). */
  sealed: boolean
  /**
   * PeerIds of the server nodes holding this node's offline queue, at most 3
   * (issue 11); senders queue there when it is unreachable. Empty in records
   * of older nodes: senders then use the 3 servers closest to its key.
   */
  queueServers: string[]
  /**
   * X25519 public key (32 bytes) to seal direct messages to: published by
   * nodes whose transport key is a secp256k1 wallet key (issue 14, item 3),
   * which has no X25519 form. Absent for Ed25519 nodes and in older records.
   */
  encryptionKey?: Uint8Array
  seq: number
  /** ms since the Unix epoch. */
  expiresAt: number
}

type Fields = Omit<PeerRecordInfo, 'seq' | 'expiresAt'>

function decodeValue (value: Uint8Array, rec: VerifiedRecord, now: number): Fields {
  let v: PeerRecordValue
  try {
    v = PeerRecordValue.decode(value, { limits: { addrs: MAX_PEER_ADDRS, queueServers: MAX_QUEUE_SERVERS } })
  } catch (err) {
    throw new InvalidRecordError('Peer record value is not a valid PeerRecordValue', { cause: err })
  }
  if (!uint8ArrayEquals(PeerRecordValue.encode(v), value)) throw new InvalidRecordError('Peer record is not canonically encoded')
  if (v.version !== PEER_RECORD_VERSION) throw new InvalidRecordError(`Unsupported peer record version ${v.version}`)
  if (v.role !== ROLE_SERVER && v.role !== ROLE_CLIENT) throw new InvalidRecordError(`Unknown peer role ${v.role}`)
  for (const a of v.addrs) {
    const n = encoder.encode(a).byteLength
    if (n === 0 || n > MAX_PEER_ADDR_BYTES) throw new InvalidRecordError(`A peer address is not 1 to ${MAX_PEER_ADDR_BYTES} bytes`)
    try {
      multiaddr(a)
    } catch (err) {
      throw new InvalidRecordError('A peer address is not a multiaddr', { cause: err })
    }
  }
  for (const q of v.queueServers) {
    try {
      if (peerIdFromString(q).toString() !== q) throw new Error('not in canonical form')
    } catch (err) {
      throw new InvalidRecordError('A queue server is not a PeerId', { cause: err })
    }
  }
  if (v.metadata.byteLength > MAX_METADATA_BYTES + sodium.crypto_box_SEALBYTES) throw new InvalidRecordError(`Peer metadata exceeds ${MAX_METADATA_BYTES} bytes`)
  if (v.encryptionKey.byteLength !== 0 && v.encryptionKey.byteLength !== sodium.crypto_box_PUBLICKEYBYTES) throw new InvalidRecordError(`A peer record's encryption key is ${sodium.crypto_box_PUBLICKEYBYTES} bytes`)
  const lastSeen = Number(v.lastSeen)
  if (lastSeen < 1 || lastSeen > now + MAX_CLOCK_SKEW_MS || lastSeen > rec.expiresAt) throw new InvalidRecordError('Peer record lastSeen is missing, in the future or after the expiry')
  return {
    peerId: peerIdFromPublicKey(publicKeyFromRaw(rec.publisher)).toString(),
    key: encodeKey(rec.publisher),
    role: v.role === ROLE_SERVER ? 'server' : 'client',
    addrs: v.addrs,
    lastSeen,
    metadata: v.metadata,
    sealed: v.sealed,
    queueServers: v.queueServers,
    ...(v.encryptionKey.byteLength > 0 ? { encryptionKey: v.encryptionKey } : {})
  }
}

/** The `umbra-peer` namespace: self-certifying under the node's transport key. */
export const peerNamespace: Namespace<Fields> = defineNamespace<Fields>({
  name: PEER_NAMESPACE,
  maxRecordBytes: MAX_PEER_RECORD_BYTES,
  maxValueBytes: MAX_PEER_RECORD_BYTES,
  parseSuffix: (suffix) => {
    const publicKey = decodeTypedKey(suffix).publicKey
    if (encodeKey(publicKey) !== suffix) throw new InvalidRecordError('DHT key is not in canonical key_ form')
    return { owner: publicKey }
  },
  decodeValue
})

/**
 * The DHT key of a node's peer record: the bytes of `/umbra-peer/<key_…>`.
 * @param key - the node's transport key, `key_…`
 * @throws UMBRA_ERR_INVALID_KEY, UMBRA_ERR_KEY_CHECKSUM
 */
export function peerRecordKey (key: string): Uint8Array {
  return peerNamespace.key(encodeKey(decodeTypedKey(key).publicKey))
}

/**
 * Builds and signs a node's peer record.
 * @param init.privateKey - the node's transport key: Ed25519, or secp256k1 (a
 *   wallet identity, issue 14 item 3), whose record then carries its X25519
 *   encryption key ({@link walletEncryptionKeyPair})
 * @param init.addrs - at most 16 multiaddrs of at most 256 bytes
 * @param init.metadata - at most 1,024 bytes @default empty
 * @param init.sealTo - seal the metadata to this `key_…` (libsodium `crypto_box_seal` to its X25519 form), so only it can read them
 * @param init.lastSeen - ms since the Unix epoch @default Date.now()
 * @param init.queueServers - PeerIds of the servers holding the node's offline queue, at most 3 @default none
 * @returns the encoded signed record
 * @throws UMBRA_ERR_INVALID_OPTION (a bad field), UMBRA_ERR_METADATA_TOO_LARGE
 */
export async function signPeerRecord (init: {
  privateKey: PrivateKey
  role: 'server' | 'client'
  addrs: string[]
  metadata?: Uint8Array
  sealTo?: string
  seq: number
  expiresAt: number
  lastSeen?: number
  queueServers?: string[]
}): Promise<Uint8Array> {
  const type = init?.privateKey?.type
  if (type !== 'Ed25519' && type !== 'secp256k1') throw new InvalidOptionError('privateKey must be the node\'s Ed25519 or secp256k1 transport key')
  if (init.role !== 'server' && init.role !== 'client') throw new InvalidOptionError('role must be "server" or "client"')
  if (!Array.isArray(init.addrs) || init.addrs.length > MAX_PEER_ADDRS) throw new InvalidOptionError(`addrs must be at most ${MAX_PEER_ADDRS} multiaddrs`)
  const queueServers = init.queueServers ?? []
  if (!Array.isArray(queueServers) || queueServers.length > MAX_QUEUE_SERVERS) throw new InvalidOptionError(`queueServers must be at most ${MAX_QUEUE_SERVERS} PeerIds`)
  let metadata = init.metadata ?? new Uint8Array(0)
  if (!(metadata instanceof Uint8Array) || metadata.byteLength > MAX_METADATA_BYTES) throw new MetadataTooLargeError(`Peer record metadata is at most ${MAX_METADATA_BYTES} bytes`)
  if (init.sealTo != null) metadata = sealMetadata(metadata, init.sealTo)
  const lastSeen = init.lastSeen ?? Date.now()
  const value = PeerRecordValue.encode({
    version: PEER_RECORD_VERSION,
    role: init.role === 'server' ? ROLE_SERVER : ROLE_CLIENT,
    addrs: init.addrs,
    lastSeen: BigInt(lastSeen),
    metadata: metadata as Uint8Array<ArrayBuffer>,
    sealed: init.sealTo != null,
    queueServers,
    ...(type === 'secp256k1' ? { encryptionKey: walletEncryptionPublicKey(init.privateKey) } : {})
  })
  const dhtKey = peerNamespace.key(encodeKey(init.privateKey.publicKey.raw))
  return await peerNamespace.sign({ privateKey: init.privateKey, dhtKey, seq: init.seq, expiresAt: init.expiresAt, value })
}

/**
 * Verifies a peer record fetched under `dhtKey` (envelope, owner = the key
 * the DHT key names, then version, role, addresses, metadata size, lastSeen).
 * @throws UMBRA_ERR_INVALID_RECORD with the reason
 */
export async function verifyPeerRecord (dhtKey: Uint8Array, bytes: Uint8Array, now = Date.now()): Promise<PeerRecordInfo> {
  const rec = await peerNamespace.verify(dhtKey, bytes, now)
  return { ...rec.decoded, seq: rec.seq, expiresAt: rec.expiresAt }
}

/** The X25519 public key of a secp256k1 node key (the secret is zeroed at once). */
function walletEncryptionPublicKey (privateKey: PrivateKey): Uint8Array<ArrayBuffer> {
  const pair = walletEncryptionKeyPair(privateKey)
  sodium.sodium_memzero(pair.secretKey)
  return pair.publicKey as Uint8Array<ArrayBuffer>
}

function x25519Public (edKey: Uint8Array): Buffer {
  const out = Buffer.alloc(sodium.crypto_box_PUBLICKEYBYTES)
  sodium.crypto_sign_ed25519_pk_to_curve25519(out, Buffer.from(edKey))
  return out
}

/**
 * Seals `metadata` to the X25519 form of `key_…` (libsodium `crypto_box_seal`).
 * @throws UMBRA_ERR_INVALID_KEY, UMBRA_ERR_KEY_TYPE_UNSUPPORTED (a secp256k1 key has no X25519 form)
 */
function sealMetadata (metadata: Uint8Array, recipient: string): Uint8Array {
  const out = Buffer.alloc(metadata.byteLength + sodium.crypto_box_SEALBYTES)
  sodium.crypto_box_seal(out, Buffer.from(metadata), x25519Public(decodeKey(recipient)))
  return new Uint8Array(out)
}

/**
 * Opens metadata sealed to `privateKey`'s `key_…`.
 * @param privateKey - the recipient's Ed25519 key (a node or pseudonym key)
 * @returns the metadata, or undefined when it was not sealed to this key
 */
export function openMetadata (record: PeerRecordInfo, privateKey: PrivateKey): Uint8Array | undefined {
  if (!record.sealed || record.metadata.byteLength < sodium.crypto_box_SEALBYTES || privateKey.type !== 'Ed25519') return undefined
  const edSecret = Buffer.from(privateKey.raw)
  const secret = sodium.sodium_malloc(sodium.crypto_box_SECRETKEYBYTES)
  try {
    sodium.crypto_sign_ed25519_sk_to_curve25519(secret, edSecret)
    const out = Buffer.alloc(record.metadata.byteLength - sodium.crypto_box_SEALBYTES)
    const ok = sodium.crypto_box_seal_open(out, Buffer.from(record.metadata), x25519Public(privateKey.publicKey.raw), secret)
    return ok ? new Uint8Array(out) : undefined
  } finally {
    sodium.sodium_memzero(secret)
    edSecret.fill(0)
  }
}
