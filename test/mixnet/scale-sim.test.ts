import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DESCRIPTOR_REFRESH_MS, DIRECTORY_PULL_FANOUT, DIRECTORY_PULL_INTERVAL_MS } from '../../src/mixnet/constants.ts'
import { measureFrames, simulateDirectory } from '../../src/mixnet/sim/directory-scale.ts'
import { kademliaHops } from '../../src/mixnet/sim/kademlia-hops.ts'

describe('directory scale simulator (issue 15, item 4)', () => {
  it('a 50-node cold start converges, and every reported byte went through the simulated transport', async (t) => {
    const frames = await measureFrames()
    const r = simulateDirectory({ nodes: 50, durationMs: 60_000, startWindowMs: 10_000, frames, seed: 3 })
    t.diagnostic(`converged at ${r.convergedAtMs} ms; ${r.transportBytes} B in ${r.transportMessages} frames; rx ${r.rxBytesPerNodeSec.toFixed(0)} B/s per node`)
    assert.ok(r.convergedAtMs != null && r.convergedAtMs <= 60_000, 'converged within the run')
    assert.equal(r.finalConvergedShare, 1)
    assert.ok(r.transportBytes > 0)
    assert.equal(r.nodeTxBytes, r.transportBytes, 'bytes sent by nodes = bytes the transport carried')
    assert.equal(r.nodeRxBytes, r.transportBytes, 'bytes received by nodes = bytes the transport carried')
  })

  it('steady upkeep of the paged pull (/umbra/mixdir/1.0.0) matches its arithmetic: 3 peers every 3 s, each answering the whole directory', async (t) => {
    const frames = await measureFrames()
    const nodes = 50
    const r = simulateDirectory({ nodes, warm: true, durationMs: 30_000, measureFromMs: 10_000, frames, seed: 5, protocol: 'paged' })
    // Each pull: one request frame and one answer page holding every descriptor (50 < 64: one page).
    const expected = DIRECTORY_PULL_FANOUT * 1000 / DIRECTORY_PULL_INTERVAL_MS * (frames.frame(nodes, false, false, false) + frames.frame(0, true, false, false))
    t.diagnostic(`descriptor ${frames.descriptor} B; rx ${r.rxBytesPerNodeSec.toFixed(0)} B/s per node, expected about ${expected.toFixed(0)}`)
    assert.ok(frames.descriptor > 100 && frames.descriptor < 4096)
    assert.ok(Math.abs(r.rxBytesPerNodeSec - expected) / expected < 0.15, `rx ${r.rxBytesPerNodeSec} vs ${expected}`)
    assert.equal(r.nodeRxBytes, r.transportBytes)
    assert.equal(r.stalePathShare, 0, 'no churn, no stale path')
  })

  it('steady upkeep of the sync (/umbra/mixdir/2.0.0) follows the re-signing rate, not the directory size', async (t) => {
    const frames = await measureFrames()
    const nodes = 50
    const r = simulateDirectory({ nodes, warm: true, durationMs: 40_000, measureFromMs: 10_000, frames, seed: 5 })
    // Each node re-signs every DESCRIPTOR_REFRESH_MS: nodes / 8 s new copies, each fetched at least once (one verification).
    const resigned = nodes * 1000 / DESCRIPTOR_REFRESH_MS
    const floor = resigned * frames.descriptor
    const pulls = DIRECTORY_PULL_FANOUT * 1000 / DIRECTORY_PULL_INTERVAL_MS
    const paged = pulls * frames.frame(nodes, false, false, false)
    t.diagnostic(`rx ${r.rxBytesPerNodeSec.toFixed(0)} B/s per node (re-signed descriptors alone ${floor.toFixed(0)}, the paged pull ${paged.toFixed(0)}); ${r.verifiesPerNodeSec.toFixed(1)} verifications/s (re-signed ${resigned.toFixed(1)}/s)`)
    assert.ok(r.verifiesPerNodeSec >= resigned * 0.9 && r.verifiesPerNodeSec <= resigned * 1.5, `${r.verifiesPerNodeSec} verifications/s`)
    assert.ok(r.rxBytesPerNodeSec >= floor * 0.9 && r.rxBytesPerNodeSec < paged / 2, `rx ${r.rxBytesPerNodeSec}`)
    assert.equal(r.finalConvergedShare, 1)
  })

  it('modelled Kademlia lookups take a few hops at 1,000 nodes', () => {
    const h = kademliaHops(1000, 50)
    assert.ok(h.meanHops >= 1 && h.maxHops <= 6, JSON.stringify(h))
  })
})
