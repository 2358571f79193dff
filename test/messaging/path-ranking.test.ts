import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { PATH_RETRY_MS, PATH_WINDOW, PathRanker, comparePaths, pathKey, pathKind } from '../../src/messaging/path-ranking.ts'

const PEER = '12D3KooWPeer'
const DIRECT = '/ip4/10.0.0.2/tcp/4001'
const DIRECT2 = '/ip4/10.0.0.3/tcp/4001'
const RELAYED = '/ip4/10.0.0.9/tcp/4001/p2p/12D3KooWRelay/p2p-circuit'
const WEBRTC = `${RELAYED}/webrtc`

describe('path ranking (seed 002, issue 11)', () => {
  it('classifies paths by hop count and strips the peer\'s own /p2p/', () => {
    assert.equal(pathKind(DIRECT), 'direct')
    assert.equal(pathKind(RELAYED), 'relayed')
    assert.equal(pathKind(WEBRTC), 'direct', 'a WebRTC connection set up over a relay carries data directly')
    assert.equal(pathKey(`${RELAYED}/p2p/${PEER}`, PEER), RELAYED)
    assert.equal(pathKey(DIRECT, PEER), DIRECT)
  })

  it('ranks unmeasured paths by hop count, direct first', () => {
    const r = new PathRanker()
    const ranked = r.rank(PEER, [{ addr: `${RELAYED}/p2p/${PEER}`, connected: true }, { addr: DIRECT, connected: false }])
    assert.deepEqual(ranked.map((p) => [p.addr, p.hops, p.connected]), [[DIRECT, 0, false], [RELAYED, 1, true]])
    assert.equal(ranked[0]?.attempts, 0)
    assert.equal(ranked[0]?.rttMs, undefined)
  })

  it('smooths the RTT as an EWMA and ranks the faster of two direct paths first', () => {
    const r = new PathRanker({ alpha: 0.5 })
    r.record(PEER, DIRECT, 100)
    r.record(PEER, DIRECT, 20)
    r.record(PEER, DIRECT2, 50)
    const ranked = r.rank(PEER)
    assert.deepEqual(ranked.map((p) => [p.addr, p.rttMs]), [[DIRECT2, 50], [DIRECT, 60]])
    assert.equal(ranked[1]?.successRate, 1)
  })

  it('keeps a measured direct path above a faster relayed one while it works', () => {
    const r = new PathRanker()
    r.record(PEER, DIRECT, 80)
    r.record(PEER, RELAYED, 5)
    assert.deepEqual(r.rank(PEER).map((p) => p.kind), ['direct', 'relayed'])
  })

  it('moves a relayed path above a direct one that fails repeatedly, and back once it works again', () => {
    const r = new PathRanker()
    r.record(PEER, DIRECT, 2)
    r.record(PEER, DIRECT, 2)
    r.record(PEER, RELAYED, 9)
    r.record(PEER, DIRECT, undefined)
    r.record(PEER, DIRECT, undefined)
    assert.equal(r.rank(PEER)[0]?.addr, DIRECT, '2 of 4 is still healthy')
    r.record(PEER, DIRECT, undefined)
    const ranked = r.rank(PEER)
    assert.deepEqual(ranked.map((p) => p.addr), [RELAYED, DIRECT])
    assert.equal(ranked[1]?.successRate, 2 / 5)
    assert.equal(ranked[1]?.attempts, 5)
    // the window forgets old failures: PATH_WINDOW successes later the direct path is first again
    for (let i = 0; i < PATH_WINDOW; i++) r.record(PEER, DIRECT, 2)
    assert.equal(r.rank(PEER)[0]?.addr, DIRECT)
    assert.equal(r.rank(PEER)[0]?.attempts, PATH_WINDOW)
  })

  it('tries an unhealthy path again once it has not been used for PATH_RETRY_MS', () => {
    const r = new PathRanker()
    const long = Date.now() - PATH_RETRY_MS - 1
    r.record(PEER, DIRECT, undefined, long)
    r.record(PEER, RELAYED, 9)
    const [direct, relayed] = r.rank(PEER)
    assert.equal(direct?.addr, DIRECT, 'a minute after it failed, the direct path is probed first again')
    assert.equal(direct?.successRate, 0)
    assert.ok(direct != null && relayed != null)
    assert.equal(comparePaths(direct, relayed, long + 1), 1, 'but not right after it failed')
  })

  it('ranks unhealthy paths by success rate, and a connected path first among equals', () => {
    const r = new PathRanker()
    r.record(PEER, DIRECT, undefined)
    r.record(PEER, RELAYED, 3)
    r.record(PEER, RELAYED, undefined)
    r.record(PEER, RELAYED, undefined)
    assert.deepEqual(r.rank(PEER).map((p) => p.addr), [RELAYED, DIRECT], '1/3 beats 0/1')
    const fresh = new PathRanker()
    assert.deepEqual(fresh.rank(PEER, [{ addr: DIRECT, connected: false }, { addr: DIRECT2, connected: true }]).map((p) => p.addr), [DIRECT2, DIRECT])
  })

  it('merges a candidate with the path measured under the same key and forgets a peer', () => {
    const r = new PathRanker()
    r.record(PEER, `${DIRECT}/p2p/${PEER}`, 7)
    const ranked = r.rank(PEER, [{ addr: DIRECT, connected: true }])
    assert.equal(ranked.length, 1)
    assert.deepEqual([ranked[0]?.rttMs, ranked[0]?.connected], [7, true])
    r.forget(PEER)
    assert.deepEqual(r.rank(PEER), [])
  })
})
