import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import sodium from 'sodium-native'
import { createOnionKeys } from '../../src/mixnet/onion-keys.ts'

const HOUR = 3_600_000
const GRACE = 300_000

/** A settable clock starting `ms` into epoch 100 of hourly epochs. */
function clock (ms = 1000): { now: () => number, set: (t: number) => void } {
  let t = 100 * HOUR + ms
  return { now: () => t, set: (v) => { t = v } }
}

function publicOf (secret: Uint8Array): Uint8Array {
  const pk = Buffer.alloc(32)
  sodium.crypto_scalarmult_base(pk, Buffer.from(secret))
  return new Uint8Array(pk)
}

describe('createOnionKeys', () => {
  it('publishes the current and next epoch keys, matching the secrets', () => {
    const c = clock()
    const keys = createOnionKeys({ now: c.now })
    assert.equal(keys.epochAt(100 * HOUR - 1), 99)
    assert.equal(keys.epochAt(100 * HOUR), 100)
    assert.equal(keys.current(), 100)
    const pub = keys.published()
    assert.deepEqual(pub.map((k) => k.epoch), [100, 101])
    const secrets = keys.secrets()
    assert.deepEqual(secrets.map((k) => k.epoch), [100, 101])
    for (const [i, k] of secrets.entries()) {
      assert.equal(k.secret.byteLength, 32)
      assert.deepEqual(publicOf(k.secret), pub[i]?.publicKey)
    }
    assert.notDeepEqual(pub[0]?.publicKey, pub[1]?.publicKey)
    assert.equal(keys.tick(), false)
  })

  it('rotates at the boundary: next becomes current, a new next appears, tick reports it once', () => {
    const c = clock()
    const keys = createOnionKeys({ now: c.now })
    const [, next] = keys.published()
    c.set(101 * HOUR - 1)
    assert.equal(keys.tick(), false)
    c.set(101 * HOUR)
    assert.equal(keys.tick(), true)
    assert.equal(keys.tick(), false)
    const pub = keys.published()
    assert.deepEqual(pub.map((k) => k.epoch), [101, 102])
    assert.deepEqual(pub[0]?.publicKey, next?.publicKey) // the key published an hour ahead is the one used
  })

  it('accepts the previous key during the grace period only, then zeroes it', () => {
    const c = clock()
    const keys = createOnionKeys({ now: c.now })
    const old = keys.secrets()[0]
    assert.equal(old?.epoch, 100)
    const copy = Uint8Array.from(old?.secret ?? [])
    c.set(101 * HOUR + GRACE - 1)
    keys.tick()
    assert.deepEqual(keys.secrets().map((k) => k.epoch), [100, 101, 102]) // overlap: three keys accepted
    assert.deepEqual(keys.published().map((k) => k.epoch), [101, 102]) // but the old one is not published
    assert.deepEqual(old?.secret, copy) // still live during the grace period
    c.set(101 * HOUR + GRACE)
    assert.equal(keys.tick(), false) // the published set did not change
    assert.deepEqual(keys.secrets().map((k) => k.epoch), [101, 102])
    assert.ok(old?.secret.every((b) => b === 0), 'dropped secret zeroed')
  })

  it('catches up after a long gap (and without tick) and after the clock goes back', () => {
    const c = clock()
    const keys = createOnionKeys({ now: c.now, epochMs: 60_000, graceMs: 5_000 })
    const first = keys.secrets()
    c.set(c.now() + 10 * 60_000)
    assert.deepEqual(keys.secrets().map((k) => k.epoch), [keys.current(), keys.current() + 1])
    assert.ok(first.every((k) => k.secret.every((b) => b === 0)))
    assert.equal(keys.tick(), true)
    c.set(c.now() - 5 * 60_000)
    assert.deepEqual(keys.published().map((k) => k.epoch), [keys.current(), keys.current() + 1])
    assert.equal(keys.secrets().length, 2)
  })

  it('destroy() zeroes every secret; the next use makes fresh keys', () => {
    const c = clock()
    const keys = createOnionKeys({ now: c.now })
    const before = keys.secrets()
    const pub = keys.published()
    keys.destroy()
    assert.ok(before.every((k) => k.secret.every((b) => b === 0)))
    assert.notDeepEqual(keys.published()[0]?.publicKey, pub[0]?.publicKey)
    assert.equal(keys.tick(), true)
  })

  it('validates its options', () => {
    assert.throws(() => createOnionKeys({ epochMs: 0 }), { code: 'UMBRA_ERR_INVALID_OPTION' })
    assert.throws(() => createOnionKeys({ epochMs: 1000, graceMs: 1000 }), { code: 'UMBRA_ERR_INVALID_OPTION' })
    assert.throws(() => createOnionKeys({ graceMs: -1 }), { code: 'UMBRA_ERR_INVALID_OPTION' })
    const keys = createOnionKeys()
    assert.equal(keys.epochMs, HOUR)
    assert.equal(keys.graceMs, GRACE)
    assert.equal(keys.current(), Math.floor(Date.now() / HOUR))
  })
})
