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
    assert.equal(f.refusals(), 1)
    assert.equal(f.seen(10, tag()), false) // other epochs are not affected
    f.dropBefore(10)
    assert.equal(f.seen(9, tag()), false)
  })

  it('validates options and arguments', () => {
    assert.throws(() => createReplayFilter({ maxPerEpoch: 0 }), { code: 'UMBRA_ERR_INVALID_OPTION' })
    assert.throws(() => createReplayFilter({ maxPerEpoch: 2 ** 29 }), { code: 'UMBRA_ERR_INVALID_OPTION' })
    assert.throws(() => createReplayFilter({ whenFull: 'drop' as 'forget' }), { code: 'UMBRA_ERR_INVALID_OPTION' })
    const f = createReplayFilter()
    assert.throws(() => f.seen(1, new Uint8Array(15)), { code: 'UMBRA_ERR_INVALID_OPTION' })
    assert.throws(() => f.seen(-1, tag()), { code: 'UMBRA_ERR_INVALID_OPTION' })
  })

  it('whenFull forget: past the bound new tags are neither recorded nor refused', () => {
    const f = createReplayFilter({ maxPerEpoch: 2, whenFull: 'forget' })
    const a = tag()
    f.seen(1, a)
    f.seen(1, tag())
    const late = tag()
    assert.equal(f.seen(1, late), false)
    assert.equal(f.seen(1, late), false)
    assert.equal(f.seen(1, a), true)
    assert.equal(f.refusals(), 0)
  })

  it('holds 500,000 tags over its growing segments with no refusal and no false positive in 500,000 fresh lookups', (t) => {
    // The bench (npm run bench:mixnet) fills a whole epoch at 12,000 packets/s; this is a bounded slice of it.
    const n = 500_000
    const f = createReplayFilter({ maxPerEpoch: n })
    const buf = Buffer.alloc(16 * 65_536)
    let refused = 0
    const t0 = performance.now()
    for (let done = 0; done < n; done += 65_536) {
      sodium.randombytes_buf(buf)
      for (let i = 0; i < 65_536 && done + i < n; i++) if (f.seen(3, buf.subarray(16 * i, 16 * i + 16))) refused++
    }
    const ms = performance.now() - t0
    // A fresh tag is taken for a replay with probability ≤ 9 × segments × 2^-32 (about 1e-8 here), so over 10^6
    // lookups the expected count is about 0.01: 3 or more (probability < 1e-6) means the bound does not hold.
    assert.ok(refused <= 2, `${refused} fresh tags taken for replays while filling`)
    assert.equal(f.size(), n - refused)
    assert.equal(f.refusals(), 0)
    let falsePositives = 0
    for (let done = 0; done < n; done += 65_536) {
      sodium.randombytes_buf(buf)
      for (let i = 0; i < 65_536; i++) if (f.has(3, buf.subarray(16 * i, 16 * i + 16))) falsePositives++
    }
    assert.ok(falsePositives + refused <= 2, `${falsePositives} false positives in ${n} fresh lookups`) // expected ≈ 0.01 at ≤ 1e-8 per lookup
    const bytesPerTag = f.memoryBytes() / n
    assert.ok(bytesPerTag < 6, `${bytesPerTag} bytes per tag`)
    t.diagnostic(`${n} tags in ${ms.toFixed(0)} ms (${(n / ms * 1000).toFixed(0)}/s); ${(f.memoryBytes() / 2 ** 20).toFixed(1)} MiB, ${bytesPerTag.toFixed(2)} bytes/tag; false positives ${falsePositives}`)
  })
})
