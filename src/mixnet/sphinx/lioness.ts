/**
 * LIONESS wide-block cipher over the Sphinx payload (Anderson & Biham 1996,
 * "Two Practical and Provably Secure Block Ciphers: BEAR and LION", §3 LIONESS),
 * instantiated as in the Katzenpost Sphinx spec (SPRP over the payload) with
 * libsodium primitives: the stream cipher is ChaCha20-IETF with a zero nonce,
 * the hash is keyed BLAKE2b-256. Used as the payload SPRP of Sphinx
 * (Danezis & Goldberg 2009, §3.3), so that any change of the payload turns
 * the whole block into noise at the next decryption.
 *
 * The block is split L = first 32 bytes, R = the rest; subkeys K1..K4 (32 bytes)
 * = crypto_kdf_derive_from_key(id 1..4, ctx 'umbralio', key).
 *   encrypt: R ^= S(L ⊕ K1); L ^= H(K2, R); R ^= S(L ⊕ K3); L ^= H(K4, R)
 *   decrypt: the same four steps in reverse order.
 * Both work in place and allocate nothing (module scratch buffers; Node runs
 * this single-threaded per worker and nothing here awaits).
 */
import { KDF_CONTEXT_LIONESS } from './constants.ts'
import { chachaXor, generichash, kdfDerive, memzero, NONCE_SIZE } from './sodium.ts'

/** L half and subkey length, bytes. */
const HALF = 32
const CTX = new TextEncoder().encode(KDF_CONTEXT_LIONESS)
const ZERO_NONCE = new Uint8Array(NONCE_SIZE)
/** K1..K4, then a 32-byte temporary (L ⊕ K or H(K, R)). */
const scratch = new Uint8Array(5 * HALF)
const K1 = scratch.subarray(0, 32)
const K2 = scratch.subarray(32, 64)
const K3 = scratch.subarray(64, 96)
const K4 = scratch.subarray(96, 128)
const tmp = scratch.subarray(128, 160)

function subkeys (key: Uint8Array): void {
  kdfDerive(K1, 1, CTX, key)
  kdfDerive(K2, 2, CTX, key)
  kdfDerive(K3, 3, CTX, key)
  kdfDerive(K4, 4, CTX, key)
}

/** R ^= ChaCha20-IETF(key L ⊕ k, nonce 0). */
function streamRound (L: Uint8Array, R: Uint8Array, k: Uint8Array): void {
  for (let i = 0; i < HALF; i++) tmp[i] = (L[i] as number) ^ (k[i] as number)
  chachaXor(R, R, ZERO_NONCE, tmp)
}

/** L ^= BLAKE2b-256(key k, R). */
function hashRound (L: Uint8Array, R: Uint8Array, k: Uint8Array): void {
  generichash(tmp, R, k)
  for (let i = 0; i < HALF; i++) L[i] = (L[i] as number) ^ (tmp[i] as number)
}

/**
 * Encrypts `block` in place with LIONESS.
 * @param block - more than 32 bytes (Sphinx: the 3395-byte payload)
 * @param key - 32 bytes (a hop's payload key or a SURB key)
 */
export function lionessEncrypt (block: Uint8Array, key: Uint8Array): void {
  const L = block.subarray(0, HALF)
  const R = block.subarray(HALF)
  subkeys(key)
  streamRound(L, R, K1)
  hashRound(L, R, K2)
  streamRound(L, R, K3)
  hashRound(L, R, K4)
  memzero(scratch)
}

/**
 * Decrypts `block` in place with LIONESS (inverse of {@link lionessEncrypt}).
 * @param block - more than 32 bytes
 * @param key - 32 bytes
 */
export function lionessDecrypt (block: Uint8Array, key: Uint8Array): void {
  const L = block.subarray(0, HALF)
  const R = block.subarray(HALF)
  subkeys(key)
  hashRound(L, R, K4)
  streamRound(L, R, K3)
  hashRound(L, R, K2)
  streamRound(L, R, K1)
  memzero(scratch)
}
