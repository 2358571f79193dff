import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import fc from 'fast-check'
import { encodeKey } from '../../src/identity/keys.ts'
import { decodeEnvelope, encodeEnvelope, publisherKey, signEnvelope, verifyEnvelope } from '../../src/pubsub/envelope.ts'

test('a signed envelope round-trips and verifies; any altered field fails', async () => {
  const key = await generateKeyPair('Ed25519')
  const env = await signEnvelope({ topic: 'news', data: new TextEncoder().encode('hello'), privateKey: key })
  const back = decodeEnvelope(encodeEnvelope(env))
  assert.deepEqual(back, env)
  assert.equal(await verifyEnvelope(back), true)
  assert.equal(publisherKey(back), encodeKey(key.publicKey.raw))
  assert.equal(await verifyEnvelope({ ...back, topic: 'other' }), false)
  assert.equal(await verifyEnvelope({ ...back, data: new TextEncoder().encode('hellO') }), false)
  assert.equal(await verifyEnvelope({ ...back, timestamp: back.timestamp + 1n }), false)
  const other = await generateKeyPair('Ed25519')
  assert.equal(await verifyEnvelope({ ...back, publisher: other.publicKey.raw as Uint8Array<ArrayBuffer> }), false)
})

test('an unsigned envelope has no publisher; size and shape limits are coded errors', async () => {
  const env = await signEnvelope({ topic: 't', data: new Uint8Array(10) })
  assert.equal(publisherKey(env), undefined)
  assert.equal(await verifyEnvelope(decodeEnvelope(encodeEnvelope(env))), true)
  await assert.rejects(signEnvelope({ topic: 't', data: new Uint8Array(2000), maxBytes: 1000 }), { code: 'UMBRA_ERR_PUBSUB_MESSAGE_TOO_LARGE' })
  await assert.rejects(signEnvelope({ topic: '', data: new Uint8Array(1) }), { code: 'UMBRA_ERR_PUBSUB_INVALID_TOPIC' })
  assert.throws(() => decodeEnvelope(new Uint8Array(2000), 1000), { code: 'UMBRA_ERR_PUBSUB_MESSAGE_TOO_LARGE' })
  assert.throws(() => decodeEnvelope(encodeEnvelope({ ...env, id: new Uint8Array(3) })), { code: 'UMBRA_ERR_PUBSUB_INVALID_ENVELOPE' })
  assert.throws(() => decodeEnvelope(encodeEnvelope({ ...env, signature: new Uint8Array(64) })), { code: 'UMBRA_ERR_PUBSUB_INVALID_ENVELOPE' })
})

test('decodeEnvelope never throws anything but its coded errors on random bytes', { timeout: 20_000 }, () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
    try {
      decodeEnvelope(bytes)
    } catch (err) {
      assert.match((err as { code?: string }).code ?? '', /^UMBRA_ERR_PUBSUB_/)
    }
  }), { numRuns: 2000 })
})
