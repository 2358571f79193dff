/**
 * Wallet keys as the node identity (issue 14, item 3; seed 004's wallet
 * bridge): a secp256k1 private key from a Bitcoin-family wallet (WIF,
 * compressed or uncompressed, or 32 bytes of hex) becomes the node's
 * transport key, so one key gives both a wallet address and the PeerId
 * (`16Uiu2HA…`). docs/wallet-keys.md has the formats and the privacy cost.
 *
 * Nothing here is a primitive: keys are @libp2p/crypto's secp256k1 keys
 * (@noble/curves underneath), HASH160 is RIPEMD-160(SHA-256(·)) from
 * @noble/hashes, base58check is @scure/base's, the X25519 key is libsodium's.
 *
 * @example
 * ```ts
 * const wallet = parseWalletKey('KwdMAjGmerYanjeui5SHS7JkmpZvVipYvB2LJGU1ZxJwYvP98617')
 * walletAddresses(wallet.privateKey.publicKey.raw)  // { bitcoin: '1LoVGD…', evrmore: 'E…' }
 * await importSecp256k1(dataDir, text)                 // writes identity.key; `umbra start --import-key FILE`
 * ```
 */
import { privateKeyFromRaw } from '@libp2p/crypto/keys'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { ripemd160 } from '@noble/hashes/legacy.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { createBase58check } from '@scure/base'
import sodium from 'sodium-native'
import { InvalidKeyError, KeyTypeUnsupportedError } from './errors.ts'
import type { PrivateKey } from '@libp2p/interface'

/** P2PKH address version byte of Bitcoin mainnet (addresses start with `1`). Bitcoin Core `chainparams.cpp` PUBKEY_ADDRESS. */
export const BITCOIN_P2PKH_VERSION = 0x00
/** P2PKH address version byte of Evrmore mainnet, 33 (addresses start with `E`). Evrmore `chainparams.cpp` PUBKEY_ADDRESS; seed 004. */
export const EVRMORE_P2PKH_VERSION = 0x21
/** WIF version bytes accepted: 0x80 mainnet (Bitcoin, Evrmore, Ravencoin), 0xef testnet (Bitcoin wiki "Wallet import format"). */
export const WIF_VERSIONS: readonly number[] = [0x80, 0xef]
/** WIF suffix marking a key whose addresses use the compressed public key (Bitcoin wiki "Wallet import format"). */
export const WIF_COMPRESSED_FLAG = 0x01
/** secp256k1 private key length, bytes (SEC 1). */
export const SECP256K1_PRIVATE_KEY_BYTES = 32
/** Domain-separation context of the X25519 key derived from a wallet key (BLAKE2b-256 of context ‖ secret). */
export const WALLET_X25519_CONTEXT = 'umbra/wallet-x25519/v1'

const base58check = createBase58check(sha256)

/** A parsed wallet key. */
export interface WalletKey {
  /** The libp2p secp256k1 private key (its PeerId is `16Uiu2HA…`). */
  privateKey: PrivateKey
  /** The wallet's addresses use the compressed public key (WIF `K…`/`L…`, and hex); false for WIF `5…`. */
  compressed: boolean
}

/** The addresses of a secp256k1 key on the two chains Umbra shows. */
export interface WalletAddresses {
  /** Bitcoin P2PKH, base58check with version 0x00 (`1…`). */
  bitcoin: string
  /** Evrmore P2PKH, base58check with version 0x21 (`E…`). */
  evrmore: string
}

/** What `GET /v1/node`, `umbra id` and `umbra status` show of a wallet identity. */
export interface WalletInfo {
  type: 'secp256k1'
  /** The public key form the addresses hash. */
  compressed: boolean
  addresses: WalletAddresses
}

/**
 * Parses a wallet private key: WIF (base58check, version 0x80 or 0xef, 32
 * bytes, then 0x01 when compressed) or 64 hex digits (optionally `0x`,
 * taken as compressed). Surrounding white space is ignored.
 * @throws UMBRA_ERR_INVALID_KEY naming what is wrong (never echoing the key)
 */
export function parseWalletKey (text: string): WalletKey {
  if (typeof text !== 'string') throw new InvalidKeyError('A wallet key is text: WIF or 64 hex digits')
  const s = text.trim()
  let raw: Uint8Array
  let compressed = true
  if (/^(0x)?[0-9a-fA-F]{64}$/.test(s)) {
    raw = Uint8Array.from(Buffer.from(s.replace(/^0x/, ''), 'hex'))
  } else {
    let payload: Uint8Array
    try {
      payload = base58check.decode(s)
    } catch (err) {
      throw new InvalidKeyError('Not a wallet key: expected WIF (base58check, checksum included) or 64 hex digits', { cause: err })
    }
    if (!WIF_VERSIONS.includes(payload[0] ?? -1)) throw new InvalidKeyError(`Not a WIF private key: version byte 0x${(payload[0] ?? 0).toString(16)} (expected 0x80 or 0xef)`)
    if (payload.byteLength === 2 + SECP256K1_PRIVATE_KEY_BYTES && payload[payload.byteLength - 1] === WIF_COMPRESSED_FLAG) {
      compressed = true
    } else if (payload.byteLength === 1 + SECP256K1_PRIVATE_KEY_BYTES) {
      compressed = false
    } else {
      throw new InvalidKeyError(`A WIF key holds ${SECP256K1_PRIVATE_KEY_BYTES} bytes (then 0x01 when compressed), this one ${payload.byteLength - 1}`)
    }
    raw = payload.slice(1, 1 + SECP256K1_PRIVATE_KEY_BYTES)
  }
  if (!secp256k1.utils.isValidSecretKey(raw)) throw new InvalidKeyError('Not a secp256k1 private key: zero or not below the curve order')
  return { privateKey: privateKeyFromRaw(raw), compressed }
}

/**
 * HASH160 of a public key: RIPEMD-160(SHA-256(key)) (Bitcoin P2PKH).
 * @param publicKey - SEC 1 encoded, 33 (compressed) or 65 bytes
 * @returns 20 bytes
 */
export function hash160 (publicKey: Uint8Array): Uint8Array {
  return ripemd160(sha256(publicKey))
}

/**
 * The P2PKH addresses of a secp256k1 public key: base58check(version ‖ HASH160(key)).
 * @param publicKey - compressed, 33 bytes (libp2p's `publicKey.raw`)
 * @param compressed - hash the compressed form (true) or the 65-byte uncompressed form @default true
 * @throws UMBRA_ERR_INVALID_KEY when `publicKey` is not a secp256k1 point
 */
export function walletAddresses (publicKey: Uint8Array, compressed = true): WalletAddresses {
  let sec: Uint8Array
  try {
    sec = secp256k1.Point.fromBytes(publicKey).toBytes(compressed)
  } catch (err) {
    throw new InvalidKeyError('Not a secp256k1 public key', { cause: err })
  }
  const h = hash160(sec)
  const address = (version: number): string => base58check.encode(Uint8Array.of(version, ...h))
  return { bitcoin: address(BITCOIN_P2PKH_VERSION), evrmore: address(EVRMORE_P2PKH_VERSION) }
}

/**
 * The wallet view of a node key: its addresses when it is secp256k1, else undefined.
 * @param compressed - the address form recorded at import @default true
 */
export function walletInfo (privateKey: PrivateKey, compressed = true): WalletInfo | undefined {
  if (privateKey.type !== 'secp256k1') return undefined
  return { type: 'secp256k1', compressed, addresses: walletAddresses(privateKey.publicKey.raw, compressed) }
}

/**
 * The X25519 key pair a secp256k1 node publishes in its peer record so that
 * others can seal to it (issue 14, item 3): the secret is
 * BLAKE2b-256({@link WALLET_X25519_CONTEXT} ‖ secp256k1 secret), libsodium
 * `crypto_generichash` (a KDF over a uniformly random secret), the public key
 * `crypto_scalarmult_base`. Deterministic, so it needs no file of its own and
 * a passphrase-sealed identity.key protects it too. An Ed25519 key has its
 * X25519 form already (crypto_sign_ed25519_*_to_curve25519), so it is refused.
 * @returns secret (sodium-allocated, 32 bytes; zero it after use) and public key (32 bytes)
 * @throws UMBRA_ERR_KEY_TYPE_UNSUPPORTED for a key other than secp256k1
 */
export function walletEncryptionKeyPair (privateKey: PrivateKey): { secretKey: Buffer, publicKey: Uint8Array } {
  if (privateKey.type !== 'secp256k1') throw new KeyTypeUnsupportedError(`Only secp256k1 node keys derive a separate X25519 key, this one is ${privateKey.type}`)
  const secretKey = sodium.sodium_malloc(sodium.crypto_box_SECRETKEYBYTES) as unknown as Buffer
  sodium.crypto_generichash_batch(secretKey, [Buffer.from(WALLET_X25519_CONTEXT), Buffer.from(privateKey.raw)])
  const publicKey = Buffer.alloc(sodium.crypto_box_PUBLICKEYBYTES)
  sodium.crypto_scalarmult_base(publicKey, secretKey)
  return { secretKey, publicKey: new Uint8Array(publicKey) }
}

/**
 * Checks that a node key fits the node's role before anything starts: a
 * client may be Ed25519 or secp256k1; a server must be Ed25519, because a
 * server is a mix node and gateway, and the mix directory's descriptors,
 * Sphinx routing and pseudonym contact records name a 32-byte Ed25519 node
 * key (DESIGN.md section 5; docs/wallet-keys.md "Limits").
 * @throws UMBRA_ERR_KEY_TYPE_UNSUPPORTED (a secp256k1 server, or an RSA/ECDSA key)
 */
export function checkIdentityFits (privateKey: PrivateKey, role: 'server' | 'client'): void {
  if (privateKey.type === 'Ed25519') return
  if (privateKey.type !== 'secp256k1') throw new KeyTypeUnsupportedError(`A node key is Ed25519 or secp256k1, this one is ${privateKey.type}`)
  if (role === 'server') {
    throw new KeyTypeUnsupportedError('A secp256k1 (wallet) identity can run a client node only: server nodes relay Sphinx packets and serve as gateways, which name a 32-byte Ed25519 node key; start with --role client or another data directory')
  }
}
