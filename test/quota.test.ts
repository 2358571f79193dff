import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { KeyedCounter, QuotaCounters, QuotaExceededError, QUOTA_CODES, QUOTA_KINDS, RateLimiter } from '../src/quota.ts'

describe('quota building blocks', () => {
  it('a token bucket allows the burst, then the rate, per key', () => {
    const r = new RateLimiter({ ratePerSecond: 10, burst: 5 })
    const t0 = 1_000_000
    let ok = 0
    for (let i = 0; i < 20; i++) if (r.take('a', 1, t0)) ok++
    assert.equal(ok, 5)
    assert.equal(r.take('b', 1, t0), true, 'another key has its own bucket')
    assert.equal(r.take('a', 1, t0 + 100), true, '100 ms refill one token at 10/s')
    assert.equal(r.take('a', 1, t0 + 100), false)
  })

  it('the key table is bounded: the least recently used key is forgotten', () => {
    const r = new RateLimiter({ ratePerSecond: 1, burst: 1, maxKeys: 100 })
    for (let i = 0; i < 10_000; i++) r.take(`peer-${i}`, 1, 0)
    assert.equal(r.size, 100)
  })

  it('a keyed counter refuses beyond its limit and frees on release', () => {
    const c = new KeyedCounter(2)
    assert.equal(c.add('p'), true)
    assert.equal(c.add('p'), true)
    assert.equal(c.add('p'), false)
    c.release('p')
    assert.equal(c.add('p'), true)
    assert.equal(c.get('q'), 0)
  })

  it('counters snapshot every kind; errors carry the documented code', () => {
    const q = new QuotaCounters()
    q.refuse('mailbox-claims')
    q.refuse('mailbox-claims', 2)
    const s = q.snapshot()
    assert.deepEqual(Object.keys(s.refused).sort(), [...QUOTA_KINDS].sort())
    assert.equal(s.refused['mailbox-claims'], 3)
    s.refused['mailbox-claims'] = 0
    assert.equal(q.snapshot().refused['mailbox-claims'], 3, 'a snapshot is a copy')
    const err = new QuotaExceededError('dht-records')
    assert.equal(err.code, QUOTA_CODES['dht-records'])
    for (const k of QUOTA_KINDS) assert.match(QUOTA_CODES[k], /^UMBRA_ERR_QUOTA_/)
  })
})
