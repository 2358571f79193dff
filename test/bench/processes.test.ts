/**
 * `npm run bench:processes` (bench/processes.ts, issue 15 item 4) without
 * processes: its command line, its summary arithmetic on fixture samples and
 * the table it prints. The run itself takes minutes and is measured, not
 * asserted (docs/scale.md, "100 processes on one machine").
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  convergenceSummary, countError, emptyStats, formatResult, parseBenchArgs, percentile, windowStats,
  type BenchResult, type NodeSample
} from '../../bench/processes-report.ts'

describe('bench:processes arguments', () => {
  it('defaults to 100 nodes, 30 % servers, balanced, 1,000 messages and gets', () => {
    const o = parseBenchArgs([])
    assert.deepEqual([o.nodes, o.servers, o.preset, o.messages, o.gets], [100, 30, 'balanced', 1000, 1000])
  })

  it('takes --nodes and derives the servers, at least 5', () => {
    assert.equal(parseBenchArgs(['--nodes', '50']).servers, 15)
    assert.equal(parseBenchArgs(['--nodes', '8']).servers, 5)
    assert.equal(parseBenchArgs(['--nodes', '20', '--servers', '10', '--preset', 'none']).servers, 10)
  })

  it('refuses bad values and unknown flags with a one-line reason', () => {
    assert.throws(() => parseBenchArgs(['--nodes', '3']), /--nodes must be a whole number from 6 to 500, got "3"/)
    assert.throws(() => parseBenchArgs(['--nodes', '1e2']), /--nodes must be a whole number/)
    assert.throws(() => parseBenchArgs(['--servers', '200']), /--servers must be a whole number from 5 to 100/)
    assert.throws(() => parseBenchArgs(['--preset', 'fast']), /--preset must be none, balanced or strong/)
    assert.throws(() => parseBenchArgs(['--bogus']), /bogus/)
  })
})

describe('bench:processes summary', () => {
  it('percentiles are nearest-rank', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i)
    assert.equal(percentile(values, 0.5), 50)
    assert.equal(percentile(values, 0.99), 99)
    assert.equal(percentile([7], 0.99), 7)
    assert.equal(percentile([], 0.5), undefined)
  })

  it('per-node rates by role, leaving out a node that did not answer', () => {
    const before: NodeSample[] = [
      { role: 'server', rxBytes: 0, txBytes: 0, cpuS: 1, rssBytes: 100 },
      { role: 'server', rxBytes: 1000, txBytes: 1000, cpuS: 2, rssBytes: 100 },
      { role: 'client', rxBytes: 0, txBytes: 0, cpuS: 0, rssBytes: 50 },
      { role: 'client', cpuS: 0 }
    ]
    const after: NodeSample[] = [
      { role: 'server', rxBytes: 10_000, txBytes: 20_000, cpuS: 2, rssBytes: 200 },
      { role: 'server', rxBytes: 31_000, txBytes: 1000, cpuS: 4, rssBytes: 400 },
      { role: 'client', rxBytes: 5000, txBytes: 10_000, cpuS: 0.5, rssBytes: 60 },
      { role: 'client', cpuS: 1, rssBytes: 80 }
    ]
    const w = windowStats(before, after, 10)
    const { cpuMean, cpuMax, ...bytes } = w.byRole.server
    assert.deepEqual(bytes, { nodes: 2, rxMean: 2000, rxMax: 3000, txMean: 1000, txMax: 2000 })
    assert.ok(Math.abs(cpuMean - 0.15) < 1e-9 && Math.abs(cpuMax - 0.2) < 1e-9, `CPU ${cpuMean} / ${cpuMax}`)
    assert.equal(w.byRole.client.rxMean, 500)
    assert.ok(Math.abs(w.byRole.client.cpuMean - 0.075) < 1e-9)
    assert.equal(w.byRole.all.nodes, 4)
    assert.equal(w.rssSum, 740)
    assert.equal(w.rssMeanServer, 300)
    assert.equal(w.rssMeanClient, 70)
  })

  it('convergence: first poll with every node, and the shares 30 s after the first spawn and after the last ready', () => {
    const polls = [{ atS: 10, converged: 2 }, { atS: 29, converged: 5 }, { atS: 31, converged: 8 }, { atS: 50, converged: 9 }, { atS: 61, converged: 10 }]
    assert.deepEqual(convergenceSummary(polls, 10, 20), { allAtS: 61, shareAtTarget: 0.5, shareAtTargetAfterReady: 0.9, shareLast: 1 })
    assert.equal(convergenceSummary(polls.slice(0, 2), 10, 20).allAtS, undefined)
  })

  it('prints the table with success shares, percentiles, failures by code and an early end', () => {
    const messages = { ...emptyStats(), attempted: 4, ok: 3, latenciesMs: [100, 200, 300], sendLatenciesMs: [50, 60, 70] }
    countError(messages, 'not-delivered')
    const result: BenchResult = {
      options: parseBenchArgs(['--nodes', '10']),
      started: 10,
      readyS: 12.5,
      convergence: { allAtS: 20, shareAtTarget: 1, shareAtTargetAfterReady: 1, shareLast: 1 },
      messages,
      loadavg: [1, 2, 3],
      driverCpuS: 1.5,
      wallS: 100,
      aborted: 'time limit of 10 s reached'
    }
    const text = formatResult(result)
    assert.match(text, /ENDED EARLY: time limit of 10 s reached/)
    assert.match(text, /\| anonymous messages delivered \| 3\/4 \(75\.0 %\) — failures: not-delivered 1 \|/)
    assert.match(text, /\| … send → delivery p50 \/ p99, ms \| 200 \/ 300 \|/)
    assert.match(text, /\| … from last ready \| 7\.5 s \|/)
    assert.doesNotMatch(text, /DHT gets/)
  })
})
