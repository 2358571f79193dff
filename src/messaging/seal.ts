import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import sodium from 'sodium-native'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { AEAD_DOMAIN, KDF_DOMAIN, MAX_BODY_BYTES, MESSAGE_ID_BYTES, MESSAGE_VERSION, SIGNATURE_DOMAIN } from './constants.ts'
import { MessageTooLargeError, UnreadableMessageError } from './errors.ts'
import { MessageEnvelope, MessagePlaintext, MessageSignable } from './pb/message.ts'
import { InvalidOptionError } from '../errors.ts'
import { KeyTypeUnsupportedError } from '../identity/errors.ts'
import { walletEncryptionKeyPair } from '../identity/wallet.ts'
import type { PrivateKey } from '@libp2p/interface'

/** A message opened by {@link openMessage}. */
export interface OpenedMessage {
  /** 16 bytes. */
  id: Uint8Array
  /** Sender's public key (signature verified): Ed25519, 32 bytes, or compressed secp256k1 (a wallet identity), 33 bytes. */
  senderKey: Uint8Array
  /** ms since the Unix epoch, sender's clock. */
  sentAt: number
  body: Uint8Array
}

function x25519FromEd25519Public (edPub: Uint8Array): Buffer {
  const out = Buffer.alloc(sodium.crypto_box_PUBLICKEYBYTES)
  sodium.crypto_sign_ed25519_pk_to_curve25519(out, Buffer.from(edPub))
  return out
}

/** The X25519 key pair a node opens messages with: its Ed25519 key's X25519 form, or a secp256k1 node's derived key (src/identity/wallet.ts). */
function x25519KeyPair (privateKey: PrivateKey): { secret: Buffer, publicKey: Buffer } {
  if (privateKey.type === 'secp256k1') {
    const pair = walletEncryptionKeyPair(privateKey)
    return { secret: pair.secretKey, publicKey: Buffer.from(pair.publicKey) }
  }
  if (privateKey.type !== 'Ed25519') throw new KeyTypeUnsupportedError(`A ${privateKey.type} node key cannot open messages`)
  // libp2p's Ed25519 raw private key is libsodium's 64-byte form: seed ‖ public key.
  const secret = sodium.sodium_malloc(sodium.crypto_box_SECRETKEYBYTES)
  sodium.crypto_sign_ed25519_sk_to_curve25519(secret, Buffer.from(privateKey.raw))
  return { secret, publicKey: x25519FromEd25519Public(privateKey.publicKey.raw) }
}

/** Signature lengths by signer key length: Ed25519 (32-byte key) signs 64 bytes, secp256k1 (33) a DER signature of 8 to 72 bytes. */
function signatureFits (senderKey: Uint8Array, signature: Uint8Array): boolean {
  if (senderKey.byteLength === 32) return signature.byteLength === 64
  return senderKey.byteLength === 33 && signature.byteLength >= 8 && signature.byteLength <= 72
}

/** BLAKE2b-256(KDF_DOMAIN ‖ X25519(sk, pk) ‖ ephemeral pk ‖ recipient pk), as in libsodium's sealed boxes and crypto_kx. */
function deriveKey (secret: Buffer, remotePub: Buffer, ephemeralPub: Buffer, recipientPub: Buffer): Buffer {
  const shared = sodium.sodium_malloc(sodium.crypto_scalarmult_BYTES)
  sodium.crypto_scalarmult(shared, secret, remotePub)
  const key = sodium.sodium_malloc(sodium.crypto_aead_xchacha20poly1305_ietf_KEYBYTES)
  sodium.crypto_generichash_batch(key, [Buffer.from(KDF_DOMAIN), shared, ephemeralPub, recipientPub])
  sodium.sodium_memzero(shared)
  return key
}

function associatedData (ephemeralPub: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(AEAD_DOMAIN), Buffer.from([MESSAGE_VERSION]), ephemeralPub])
}

function signable (id: Uint8Array, senderKey: Uint8Array, recipientKey: Uint8Array, sentAt: number, body: Uint8Array): Uint8Array {
  return MessageSignable.encode({
    domain: SIGNATURE_DOMAIN,
    id: id as Uint8Array<ArrayBuffer>,
    senderKey: senderKey as Uint8Array<ArrayBuffer>,
    recipientKey: recipientKey as Uint8Array<ArrayBuffer>,
    sentAt: BigInt(sentAt),
    body: body as Uint8Array<ArrayBuffer>
  })
}

/**
 * Seals a direct message to a recipient (seed 001: X25519 + XChaCha20-Poly1305,
 * sender signature inside the encryption). Composition, all libsodium:
 * an ephemeral X25519 key pair; the recipient's X25519 key converted from its
 * Ed25519 transport key (crypto_sign_ed25519_pk_to_curve25519); key =
 * BLAKE2b-256 over the shared secret and both public keys; a random 24-byte
 * nonce. The plaintext carries the sender's Ed25519 key and its signature over
 * (domain, id, sender, recipient, time, body), so only the recipient can read
 * it and the recipient can prove who wrote it. docs/messaging.md has the layout.
 *
 * A secp256k1 (wallet) recipient has no X25519 form: the message is sealed
 * to the X25519 key its signed peer record publishes (`sealTo`, issue 14
 * item 3); a secp256k1 sender signs with ECDSA (DER) instead of Ed25519.
 * @param recipientKey - recipient's transport public key: Ed25519 (32 bytes) or compressed secp256k1 (33)
 * @param body - at most 1 MiB
 * @param givenId - the message id, 16 bytes (a retry of an earlier send keeps its id); random when absent
 * @param sealTo - the X25519 key (32 bytes) to seal to; required for a secp256k1 recipient, ignored for Ed25519
 * @returns the id (16 bytes) and the encoded envelope
 * @throws UMBRA_ERR_MESSAGE_TOO_LARGE, UMBRA_ERR_INVALID_OPTION (givenId not 16 bytes),
 *   UMBRA_ERR_KEY_TYPE_UNSUPPORTED (a secp256k1 recipient without `sealTo`, or another key type)
 */
export async function sealMessage (sender: PrivateKey, recipientKey: Uint8Array, body: Uint8Array, sentAt = Date.now(), givenId?: Uint8Array, sealTo?: Uint8Array): Promise<{ id: Uint8Array, envelope: Uint8Array }> {
  if (body.byteLength > MAX_BODY_BYTES) {
    throw new MessageTooLargeError(`A message body is at most ${MAX_BODY_BYTES} bytes, got ${body.byteLength}`)
  }
  let recipientX: Buffer
  if (recipientKey.byteLength === 32) recipientX = x25519FromEd25519Public(recipientKey)
  else if (recipientKey.byteLength === 33 && sealTo?.byteLength === sodium.crypto_box_PUBLICKEYBYTES) recipientX = Buffer.from(sealTo)
  else throw new KeyTypeUnsupportedError('A secp256k1 (wallet) recipient is sealed to the X25519 key of its peer record, and none was found')
  const id = Buffer.alloc(MESSAGE_ID_BYTES)
  if (givenId == null) sodium.randombytes_buf(id)
  else if (givenId.byteLength === MESSAGE_ID_BYTES) id.set(givenId)
  else throw new InvalidOptionError(`A message id is ${MESSAGE_ID_BYTES} bytes, got ${givenId.byteLength}`)
  const senderKey = sender.publicKey.raw
  const signature = await sender.sign(signable(id, senderKey, recipientKey, sentAt, body))
  const plaintext = MessagePlaintext.encode({
    id, senderKey: senderKey as Uint8Array<ArrayBuffer>, sentAt: BigInt(sentAt), body: body as Uint8Array<ArrayBuffer>, signature: signature as Uint8Array<ArrayBuffer>
  })

  const ephPub = Buffer.alloc(sodium.crypto_box_PUBLICKEYBYTES)
  const ephSec = sodium.sodium_malloc(sodium.crypto_box_SECRETKEYBYTES)
  sodium.crypto_box_keypair(ephPub, ephSec)
  const key = deriveKey(ephSec, recipientX, ephPub, recipientX)
  sodium.sodium_memzero(ephSec)
  const nonce = Buffer.alloc(sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
  sodium.randombytes_buf(nonce)
  const ciphertext = Buffer.alloc(plaintext.byteLength + sodium.crypto_aead_xchacha20poly1305_ietf_ABYTES)
  sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(ciphertext, Buffer.from(plaintext), associatedData(ephPub), null, nonce, key)
  sodium.sodium_memzero(key)
  const envelope = MessageEnvelope.encode({ version: MESSAGE_VERSION, ephemeralKey: ephPub, nonce, ciphertext })
  return { id: new Uint8Array(id), envelope }
}

/**
 * Opens an envelope sealed by {@link sealMessage} to `recipient`.
 * @param envelope - encoded MessageEnvelope
 * Decoding is strict: an envelope must be the canonical protobuf encoding of
 * its fields, so no two byte strings open to the same message.
 * @throws UMBRA_ERR_UNREADABLE_MESSAGE (malformed or non-canonical, wrong version, not for us,
 *   tampered, bad signature), UMBRA_ERR_MESSAGE_TOO_LARGE (body over 1 MiB)
 */
export async function openMessage (recipient: PrivateKey, envelope: Uint8Array): Promise<OpenedMessage> {
  let env: MessageEnvelope
  try {
    env = MessageEnvelope.decode(envelope)
  } catch (err) {
    throw new UnreadableMessageError('Malformed message envelope', { cause: err })
  }
  if (!uint8ArrayEquals(MessageEnvelope.encode(env), envelope)) throw new UnreadableMessageError('Message envelope is not canonically encoded')
  if (env.version !== MESSAGE_VERSION) throw new UnreadableMessageError(`Unsupported message version ${env.version}`)
  if (env.ephemeralKey.byteLength !== sodium.crypto_box_PUBLICKEYBYTES) throw new UnreadableMessageError('Ephemeral key is not 32 bytes')
  if (env.nonce.byteLength !== sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES) throw new UnreadableMessageError('Nonce is not 24 bytes')
  if (env.ciphertext.byteLength < sodium.crypto_aead_xchacha20poly1305_ietf_ABYTES) throw new UnreadableMessageError('Ciphertext is shorter than its tag')

  const { secret: recipientSecret, publicKey: recipientX } = x25519KeyPair(recipient)
  const ephPub = Buffer.from(env.ephemeralKey)
  let key: Buffer
  try {
    key = deriveKey(recipientSecret, ephPub, ephPub, recipientX)
  } catch (err) {
    throw new UnreadableMessageError('Invalid ephemeral key', { cause: err })
  } finally {
    sodium.sodium_memzero(recipientSecret)
  }
  const plaintext = Buffer.alloc(env.ciphertext.byteLength - sodium.crypto_aead_xchacha20poly1305_ietf_ABYTES)
  try {
    sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(plaintext, null, Buffer.from(env.ciphertext), associatedData(ephPub), Buffer.from(env.nonce), key)
  } catch (err) {
    throw new UnreadableMessageError('Message does not decrypt (not for this node, or modified)', { cause: err })
  } finally {
    sodium.sodium_memzero(key)
  }
  let pt: MessagePlaintext
  try {
    // decode from a plain Uint8Array view so the returned fields are not Buffers
    pt = MessagePlaintext.decode(new Uint8Array(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength))
  } catch (err) {
    throw new UnreadableMessageError('Malformed message plaintext', { cause: err })
  }
  if (!uint8ArrayEquals(MessagePlaintext.encode(pt), plaintext)) throw new UnreadableMessageError('Message plaintext is not canonically encoded')
  if (pt.id.byteLength !== MESSAGE_ID_BYTES || !signatureFits(pt.senderKey, pt.signature)) {
    throw new UnreadableMessageError('Message fields have wrong lengths')
  }
  if (pt.body.byteLength > MAX_BODY_BYTES) throw new MessageTooLargeError()
  const sentAt = Number(pt.sentAt)
  let ok: boolean
  try {
    ok = await publicKeyFromRaw(pt.senderKey).verify(signable(pt.id, pt.senderKey, recipient.publicKey.raw, sentAt, pt.body), pt.signature)
  } catch {
    ok = false // a 33-byte sender key that is not a secp256k1 point, or a malformed DER signature
  }
  if (!ok) throw new UnreadableMessageError('Sender signature does not verify')
  return { id: pt.id, senderKey: pt.senderKey, sentAt, body: pt.body }
}
