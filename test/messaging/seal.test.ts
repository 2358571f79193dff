import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { MAX_BODY_BYTES } from '../../src/messaging/constants.ts'
import { openMessage, sealMessage } from '../../src/messaging/seal.ts'

const alice = await generateKeyPair('Ed25519')
const bob = await generateKeyPair('Ed25519')
const carol = await generateKeyPair('Ed25519')

describe('sealed direct messages (X25519 + XChaCha20-Poly1305, signature inside)', () => {
  it('round-trips any body to the recipient, with the sender proven', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), async (body) => {
      const { id, envelope } = await sealMessage(alice, bob.publicKey.raw, body)
      const opened = await openMessage(bob, envelope)
      assert.deepEqual(opened.body, body)
      assert.deepEqual(opened.id, id)
      assert.deepEqual(opened.senderKey, alice.publicKey.raw)
    }), { numRuns: 100 })
  })

  it('does not reveal the body on the wire', async () => {
    const body = new TextEncoder().encode('attack at dawn, attack at dawn')
    const { envelope } = await sealMessage(alice, bob.publicKey.raw, body)
    assert.equal(Buffer.from(envelope).includes(Buffer.from(body)), false)
  })

  it('cannot be opened by anyone but the recipient', async () => {
    const { envelope } = await sealMessage(alice, bob.publicKey.raw, new Uint8Array([1, 2, 3]))
    await assert.rejects(openMessage(carol, envelope), { code: 'UMBRA_ERR_UNREADABLE_MESSAGE' })
  })

  it('detects a change of any bit of the envelope', async () => {
    const { envelope } = await sealMessage(alice, bob.publicKey.raw, new TextEncoder().encode('hello'))
    await fc.assert(fc.asyncProperty(fc.nat({ max: envelope.byteLength * 8 - 1 }), async (bit) => {
      const tampered = envelope.slice()
      tampered[bit >> 3] = (tampered[bit >> 3] as number) ^ (1 << (bit & 7))
      await assert.rejects(openMessage(bob, tampered), (err: { code: string }) => err.code.startsWith('UMBRA_ERR_'))
    }), { numRuns: 300 })
  })

  it('never throws anything but a coded error on random input (fuzz, 3 s)', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), async (junk) => {
      await assert.rejects(openMessage(bob, junk), (err: { code: string }) => typeof err.code === 'string' && err.code.startsWith('UMBRA_ERR_'))
    }), { interruptAfterTimeLimit: 3000, numRuns: 5000 })
  })

  it('refuses a body over 1 MiB with UMBRA_ERR_MESSAGE_TOO_LARGE and accepts exactly 1 MiB', async () => {
    await assert.rejects(sealMessage(alice, bob.publicKey.raw, new Uint8Array(MAX_BODY_BYTES + 1)), { code: 'UMBRA_ERR_MESSAGE_TOO_LARGE' })
    const { envelope } = await sealMessage(alice, bob.publicKey.raw, new Uint8Array(MAX_BODY_BYTES).fill(9))
    assert.equal((await openMessage(bob, envelope)).body.byteLength, MAX_BODY_BYTES)
  })
})
