/**
 * Directory sync (issue 15, item 4: the redesign where the scale simulation
 * showed the directory breaking; docs/scale.md, docs/mixnet.md "Directory
 * sync"). In process: 4 real directories converge over
 * `/umbra/mixdir/2.0.0`, and a pull that finds nothing new costs the SINCE
 * frame and an empty SUMMARY frame, counted by the directory's own byte
 * counters, instead of the whole directory. In the simulator (the same state
 * machine over node indices): nodes that join a converged 300-node network
 * list every mix, which the paged pull of /umbra/mixdir/1.0.0 never reached.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { measureFrames, simulateDirectory } from '../../src/mixnet/sim/directory-scale.ts'
import { waitFor } from '../helpers/wait.ts'
import { dirStar, stopDirNodes, type DirNode } from './directory-helpers.ts'

describe('directory sync in process (issue 15)', { timeout: 40_000 }, () => {
  const nodes: DirNode[] = []

  before(async () => {
    // A star: the leaves know only the hub and learn each other through its sync answers.
    nodes.push(...await dirStar(4))
  })

  after(async () => { await stopDirNodes(nodes) })

  it('converges, and an up-to-date pull costs a few dozen bytes instead of the whole directory', async (t) => {
    const ms = await waitFor('every directory to list the 4 nodes', () => nodes.every((n) => n.directory.list().length === 4), 20_000)
    const before = nodes.map((n) => n.directory.stats())
    // Three pull rounds (3 s each) and one re-signing of every descriptor (every 8 s).
    await new Promise((resolve) => setTimeout(resolve, 9_000))
    const delta = nodes.map((n, i) => {
      const s = n.directory.stats()
      const b = before[i] as typeof s
      return { pulls: s.syncPulls - b.syncPulls, upToDate: s.syncUpToDate - b.syncUpToDate, bytes: s.syncBytes - b.syncBytes, upToDateBytes: s.syncUpToDateBytes - b.syncUpToDateBytes, fetched: s.syncFetched - b.syncFetched }
    })
    const sum = (k: keyof (typeof delta)[number]): number => delta.reduce((a, d) => a + d[k], 0)
    const perUpToDate = sum('upToDateBytes') / Math.max(1, sum('upToDate'))
    // What the paged pull of /umbra/mixdir/1.0.0 moved each time: every descriptor (4 of them here), whatever changed.
    const fullAnswer = nodes.reduce((a, n) => a + n.directory.list().length, 0) / nodes.length * 300
    t.diagnostic(`converged in ${ms} ms; in 9 s: ${sum('pulls')} sync pulls, ${sum('upToDate')} found nothing new at ${perUpToDate.toFixed(1)} bytes each (sent + received); ${sum('fetched')} descriptors fetched by the others, ${sum('bytes')} bytes in all; a whole-directory answer is about ${fullAnswer.toFixed(0)} bytes`)
    assert.ok(sum('upToDate') >= 4, `up-to-date pulls: ${sum('upToDate')}`)
    assert.ok(perUpToDate <= 80, `an up-to-date pull moved ${perUpToDate} bytes`)
    assert.ok(sum('fetched') >= 1, 're-signed descriptors arrive by sync')
    assert.ok(sum('bytes') < sum('pulls') * fullAnswer / 4, `${sum('bytes')} bytes for ${sum('pulls')} pulls`)
  })
})

describe('directory sync in the scale simulator (issue 15)', () => {
  it('nodes joining a converged 300-node network list every mix, at a quarter of the paged pull\'s upkeep', async (t) => {
    const frames = await measureFrames()
    // Joins (2 %/min) during the first 60 s, then 90 s more: 300 new nodes at 32 per peer and minute take a joiner about 70 s.
    const run = (protocol: 'sync' | 'paged'): ReturnType<typeof simulateDirectory> => simulateDirectory({ nodes: 300, warm: true, churnPerMin: 0.02, churnUntilMs: 60_000, durationMs: 150_000, measureFromMs: 30_000, sampleNodes: 100, pathsPerSecond: 20, frames, seed: 7, protocol })
    const sync = run('sync')
    const paged = run('paged')
    for (const [name, r] of [['sync', sync], ['paged', paged]] as const) {
      t.diagnostic(`${name}: joiners converged ${r.joinersConverged}/${r.joiners} (median ${r.joinMedianMs ?? '-'} ms); coverage at end ${(r.finalCoverage * 100).toFixed(1)} %; rx ${(r.rxBytesPerNodeSec / 1024).toFixed(1)} KiB/s per node; ${r.verifiesPerNodeSec.toFixed(0)} verifications/s per node`)
    }
    assert.ok(sync.joiners >= 2, `joiners: ${sync.joiners}`)
    assert.ok(sync.joinersConverged >= sync.joiners - 1, `${sync.joinersConverged}/${sync.joiners} joiners converged`)
    assert.ok(sync.finalCoverage >= 0.99, `coverage ${sync.finalCoverage}`)
    assert.ok(sync.rxBytesPerNodeSec < paged.rxBytesPerNodeSec / 4, `sync ${sync.rxBytesPerNodeSec} B/s vs paged ${paged.rxBytesPerNodeSec} B/s`)
    assert.equal(sync.nodeRxBytes, sync.transportBytes, 'every byte went through the simulated transport')
  })
})
