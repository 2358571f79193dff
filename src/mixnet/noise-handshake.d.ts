/**
 * Types of the parts of holepunch's `noise-handshake` (Noise protocol
 * framework, revision 34) and `noise-curve-ed` (Ed25519 keys as Noise DH
 * keys) that src/mixnet/packet-link.ts uses; the packages ship none.
 */
declare module 'noise-handshake' {
  /** An Ed25519 key pair as libsodium stores it: 32-byte public key, 64-byte secret key (seed ‖ public key). */
  interface KeyPair { publicKey: Uint8Array, secretKey: Uint8Array }
  /** One side of a Noise handshake; `send`/`recv` throw on any failure (AEAD, bad point, wrong order). */
  export default class NoiseState {
    constructor (pattern: 'IK' | 'XX' | 'NN' | 'XK', initiator: boolean, staticKeypair: KeyPair, opts?: { curve?: unknown })
    initialise (prologue: Uint8Array, remoteStatic?: Uint8Array): void
    send (payload?: Uint8Array): Uint8Array
    recv (message: Uint8Array): Uint8Array
    /** The handshake is done; `tx`, `rx` (32-byte keys) and `rs` are set. */
    complete: boolean
    tx: Uint8Array | null
    rx: Uint8Array | null
    /** The remote static public key. */
    rs: Uint8Array | null
  }
}

declare module 'noise-handshake/cipher.js' {
  /** Noise CipherState: ChaCha20-Poly1305 (IETF) with a counter nonce; each call moves the nonce on. */
  export default class CipherState {
    constructor (key: Uint8Array)
    encrypt (plaintext: Uint8Array, ad?: Uint8Array): Uint8Array
    /** @throws when the tag does not verify */
    decrypt (ciphertext: Uint8Array, ad?: Uint8Array): Uint8Array
  }
}

declare module 'noise-curve-ed' {
  const curve: { PKLEN: number, SKLEN: number, ALG: string }
  export default curve
}
