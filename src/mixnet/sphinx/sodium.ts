/**
 * The libsodium functions Sphinx uses, from sodium-native, typed for plain
 * `Uint8Array` views. sodium-native accepts any ArrayBufferView at run time;
 * its @types declare `Buffer`, which would force a `Buffer` view per call on
 * the relay's hot path. These are the same functions, re-typed, nothing more:
 * no primitive is implemented here (STYLE.md, Wire and crypto).
 */
import sodium from 'sodium-native'

type Bytes = Uint8Array
/** The IETF ChaCha20 functions exist in sodium-native but are missing from @types/sodium-native. */
const ietf = sodium as unknown as {
  crypto_stream_chacha20_ietf_xor: (c: Bytes, m: Bytes, n: Bytes, k: Bytes) => void
  crypto_stream_chacha20_ietf_NONCEBYTES: number
}

/** X25519(n, p) into q (32 bytes each); clamps n; throws if the result is all zero (p of low order). */
export const scalarmult = sodium.crypto_scalarmult as unknown as (q: Bytes, n: Bytes, p: Bytes) => void
/** X25519(n, base point) into q. */
export const scalarmultBase = sodium.crypto_scalarmult_base as unknown as (q: Bytes, n: Bytes) => void
/** BLAKE2b subkey: out (16..64 bytes) = crypto_kdf_derive_from_key(id, ctx 8 bytes, key 32 bytes). */
export const kdfDerive = sodium.crypto_kdf_derive_from_key as unknown as (out: Bytes, id: number, ctx: Bytes, key: Bytes) => void
/** c = m XOR ChaCha20-IETF(key k, nonce n 12 bytes, counter 0); c may equal m. */
export const chachaXor = ietf.crypto_stream_chacha20_ietf_xor
/** out (16..64 bytes) = BLAKE2b(input, optional key 16..64 bytes). */
export const generichash = sodium.crypto_generichash as unknown as (out: Bytes, input: Bytes, key?: Bytes) => void
/** Constant-time equality of two equal-length arrays. */
export const memcmp = sodium.sodium_memcmp as unknown as (a: Bytes, b: Bytes) => boolean
/** Overwrites with zeros (not optimised away). */
export const memzero = sodium.sodium_memzero as unknown as (b: Bytes) => void
/** Fills with CSPRNG bytes. */
export const randombytes = sodium.randombytes_buf as unknown as (b: Bytes) => void

/** ChaCha20-IETF nonce length, bytes. */
export const NONCE_SIZE: number = ietf.crypto_stream_chacha20_ietf_NONCEBYTES
