import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { decodeKey, encodeKey, isKey, keyFromPeerId, parsePeer, peerIdFromKey } from '../../src/identity/index.ts'

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'

describe('key_ format (seed 002)', () => {
  it('round-trips any 32-byte public key', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (pub) => {
      const key = encodeKey(pub)
      assert.match(key, /^key_[1-9A-HJ-NP-Za-km-z]+$/)
      assert.deepEqual(decodeKey(key), pub)
    }), { numRuns: 500 })
  })

  it('rejects a key with one character changed (a typo) with a clear code', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.nat(), fc.nat(), (pub, pos, pick) => {
      const key = encodeKey(pub)
      const i = 4 + (pos % (key.length - 4))
      const replacement = BASE58[pick % BASE58.length] as string
      fc.pre(replacement !== key[i])
      const typo = key.slice(0, i) + replacement + key.slice(i + 1)
      assert.throws(() => decodeKey(typo), (err: { code: string }) => err.code === 'UMBRA_ERR_KEY_CHECKSUM' || err.code === 'UMBRA_ERR_INVALID_KEY')
      assert.equal(isKey(typo), false)
    }), { numRuns: 1000 })
  })

  it('names the checksum in the error for a transposed checksum character', () => {
    const key = encodeKey(new Uint8Array(32).fill(7))
    const last = key.at(-1) === '2' ? '3' : '2'
    assert.throws(() => decodeKey(key.slice(0, -1) + last), { code: /UMBRA_ERR_(KEY_CHECKSUM|INVALID_KEY)/ })
  })

  it('rejects a truncated key, a missing prefix and non-base58 characters', () => {
    const key = encodeKey(new Uint8Array(32).fill(1))
    assert.throws(() => decodeKey(key.slice(0, -3)), { code: 'UMBRA_ERR_INVALID_KEY' })
    assert.throws(() => decodeKey(key.slice(4)), { code: 'UMBRA_ERR_INVALID_KEY' })
    assert.throws(() => decodeKey('key_0OIl'), { code: 'UMBRA_ERR_INVALID_KEY' })
    assert.throws(() => encodeKey(new Uint8Array(31)), { code: 'UMBRA_ERR_INVALID_KEY' })
  })

  it('maps between PeerIds and keys in both directions', async () => {
    const pk = await generateKeyPair('Ed25519')
    const peerId = peerIdFromPrivateKey(pk)
    const key = keyFromPeerId(peerId)
    assert.ok(peerIdFromKey(key).equals(peerId))
    assert.ok(parsePeer(key).equals(peerId))
    assert.ok(parsePeer(peerId.toString()).equals(peerId))
    assert.throws(() => parsePeer('not-a-peer'), { code: 'UMBRA_ERR_INVALID_KEY' })
  })
})
