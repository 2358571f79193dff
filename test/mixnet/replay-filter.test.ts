import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import sodium from 'sodium-native'
import { createReplayFilter } from '../../src/mixnet/replay-filter.ts'

function tag (): Uint8Array {
  const b = Buffer.alloc(16)
  sodium.randombytes_buf(b)
  return new Uint8Array(b)
}

describe('createReplayFilter', () => {
  it('reports a replay of the same tag in the same epoch only', () => {
    const f = createReplayFilter()
    const t = tag()
    assert.equal(f.seen(5, t), false)
    assert.equal(f.seen(5, t), true)
    assert.equal(f.seen(5, t.slice()), true)
    assert.equal(f.seen(6, t), false) // another epoch: another key, so another packet
    assert.equal(f.size(), 2)
    const zero = new Uint8Array(16) // the all-zero fingerprint is stored too
    assert.equal(f.seen(5, zero), false)
    assert.equal(f.seen(5, zero), true)
  })

  it('has() looks a tag up without recording it', () => {
    const f = createReplayFilter()
    const t = tag()
    assert.equal(f.has(5, t), false)
    assert.equal(f.has(5, t), false)
    assert.equal(f.size(), 0)
    assert.equal(f.seen(5, t), false)
    assert.equal(f.has(5, t), true)
    assert.equal(f.has(6, t), false)
    assert.throws(() => f.has(5, new Uint8Array(15)), { code: 'UMBRA_ERR_INVALID_OPTION' })
  })

  it('remembers every tag across table growth (100,000 tags)', () => {
    const f = createReplayFilter()
    const tags = Array.from({ length: 100_000 }, tag)
    for (const t of tags) assert.equal(f.seen(1, t), false)
    assert.equal(f.size(), 100_000)
    let replays = 0
    for (const t of tags) if (f.seen(1, t)) replays++
    assert.equal(replays, 100_000)
    assert.equal(f.size(), 100_000)
  })

  it('dropBefore forgets older epochs only', () => {
    const f = createReplayFilter()
    const t = tag()
    for (const e of [1, 2, 3]) f.seen(e, t)
    f.dropBefore(3)
    assert.equal(f.size(), 1)
    assert.equal(f.seen(3, t), true)
    assert.equal(f.seen(2, t), false) // forgotten (its key would be gone too)
  })

  it('at maxPerEpoch refuses: every further tag of that epoch counts as a replay', () => {
    const f = createReplayFilter({ maxPerEpoch: 3 })
    const kept = [tag(), tag(), tag()]
    for (const t of kept) assert.equal(f.seen(9, t), false)
    assert.equal(f.seen(9, tag()), true)
    assert.equal(f.seen(9, kept[0] as Uint8Array), true)
    assert.equal(f.size(), 3)
    assert.equal(f.seen(10, tag()), false) // other epochs are not affected
    f.dropBefore(10)
    assert.equal(f.seen(9, tag()), false)
  })

  it('validates options and arguments', () => {
    assert.throws(() => createReplayFilter({ maxPerEpoch: 0 }), { code: 'UMBRA_ERR_INVALID_OPTION' })
    assert.throws(() => createReplayFilter({ maxPerEpoch: 2 ** 27 }), { code: 'UMBRA_ERR_INVALID_OPTION' })
    const f = createReplayFilter()
    assert.throws(() => f.seen(1, new Uint8Array(15)), { code: 'UMBRA_ERR_INVALID_OPTION' })
    assert.throws(() => f.seen(-1, tag()), { code: 'UMBRA_ERR_INVALID_OPTION' })
  })
})
