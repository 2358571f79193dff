/**
 * Directory scale simulation table (issue 15, item 4): `npm run bench:scale`.
 *
 * Runs the mix directory's protocol (src/mixnet/sim/directory-scale.ts: real
 * constants and frame sizes, modelled state machine; the sync of
 * `/umbra/mixdir/2.0.0`, and for comparison the paged pull of 1.0.0) at
 * 1,000 and 10,000 nodes over a simulated network (20–150 ms one-way links,
 * 8 connections per node): a cold start (every node starts within 30 s with
 * an empty directory) and a warm network (every node holds every descriptor)
 * under 1 % churn per minute (half crash, half withdraw). Prints convergence,
 * directory upkeep per node, Ed25519 verifications per node (with their CPU
 * share from the real `verifyDescriptor`), stale paths and modelled Kademlia
 * hops. Results: docs/scale.md. Environment: BENCH_SIZES (comma list),
 * BENCH_SEED, BENCH_COLD_10K=1 to also cold-start 10,000 nodes (slow),
 * BENCH_ONLY (a regular expression: run only the scenarios whose name matches
 * it, e.g. `cold` or `^warm, 1 %/min churn$`).
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { DESCRIPTOR_LIFETIME_MS, DESCRIPTOR_REFRESH_MS } from '../src/mixnet/constants.ts'
import { ROLE_MIX, signDescriptor, verifyDescriptor } from '../src/mixnet/descriptor.ts'
import { measureFrames, simulateDirectory, type ScaleSimInit } from '../src/mixnet/sim/directory-scale.ts'
import { kademliaHops } from '../src/mixnet/sim/kademlia-hops.ts'

const SIZES = (process.env.BENCH_SIZES ?? '1000,10000').split(',').map(Number)
const SEED = Number(process.env.BENCH_SEED ?? 1)
const COLD_10K = process.env.BENCH_COLD_10K === '1'
const ONLY = process.env.BENCH_ONLY == null ? undefined : new RegExp(process.env.BENCH_ONLY)

/** Real cost of one `verifyDescriptor` on this machine, µs. */
async function verifyMicros (): Promise<number> {
  const key = await generateKeyPair('Ed25519')
  const t = Date.now()
  const bytes = await signDescriptor(key, { seq: 1, issuedAt: t, expiresAt: t + DESCRIPTOR_LIFETIME_MS, addrs: ['/ip4/203.0.113.47/tcp/4001'], roles: ROLE_MIX, onionKeys: [{ epoch: 1, key: new Uint8Array(32) }] })
  for (let i = 0; i < 50; i++) await verifyDescriptor(bytes, t)
  const runs = 500
  const start = performance.now()
  for (let i = 0; i < runs; i++) await verifyDescriptor(bytes, t)
  return (performance.now() - start) * 1000 / runs
}

const frames = await measureFrames()
const verifyUs = await verifyMicros()
console.log(`descriptor ${frames.descriptor} B; full page (64) ${frames.frame(64, false, false, true)} B; verifyDescriptor ${verifyUs.toFixed(0)} µs (real, this machine)`)

const kib = (b: number): string => (b / 1024).toFixed(1)
const pct = (x: number | undefined): string => x == null ? '-' : `${(x * 100).toFixed(1)} %`
const header = ['nodes', 'scenario', 'simulated', 'converged (>=99 % of nodes list >=99 % of live mixes)', 'coverage at end', 'joiners converged (median)', 'directory rx / tx per node, KiB/s', 'descriptors verified per node/s (CPU)', 'stale paths', 'DHT hops mean/max (modelled)', 'bench CPU']
const rows: string[][] = []
for (const nodes of SIZES) {
  const hops = kademliaHops(nodes, 100, SEED)
  const scenarios: Array<[string, Omit<ScaleSimInit, 'frames' | 'nodes'>]> = []
  const small = nodes <= 1000
  // Warm runs: churn stops 180 s before the end, so the last joiners have the time a joiner needs (n / (32 × 8) min at the per-peer cap).
  // At 10,000 nodes descriptors live 120 s (descriptorTiming): the run lasts 180 s so every warm copy had to be
  // replaced by a re-signed one, and upkeep is measured over the last 50 s.
  const warm = { warm: true, churnPerMin: 0.01, durationMs: small ? 300_000 : 180_000, churnUntilMs: small ? 120_000 : undefined, measureFromMs: small ? 30_000 : 130_000, sampleNodes: small ? 200 : 100 }
  if (small || COLD_10K) scenarios.push(['cold start', { durationMs: small ? 300_000 : 40_000 }])
  scenarios.push(['warm, 1 %/min churn', warm])
  // Beyond 1,000 nodes: the fixed 25 s / 8 s timing every size used before descriptorTiming (40 s: it breaks within it).
  if (!small) scenarios.push(['warm, 1 %/min churn, fixed 25 s / 8 s timing (before)', { ...warm, lifetimeMs: DESCRIPTOR_LIFETIME_MS, refreshMs: DESCRIPTOR_REFRESH_MS, durationMs: 40_000, measureFromMs: 27_000 }])
  if (small) {
    scenarios.push(['warm, 1 %/min churn, paged pull of 1.0.0 (before)', { ...warm, protocol: 'paged', durationMs: 120_000, churnUntilMs: undefined }])
    scenarios.push(['warm, 1 %/min churn, what-if: descriptors live 60 s, re-signed every 20 s', { ...warm, lifetimeMs: 60_000, refreshMs: 20_000, durationMs: 120_000, churnUntilMs: undefined }])
    // What-if: issue 8's per-peer cap of new nodes waived for a node that 2 distinct peers listed (joiners' speed, docs/scale.md).
    scenarios.push(['warm, 1 %/min churn, what-if: no per-peer cap for a node 2 peers listed', { ...warm, corroboration: 2 }])
  }
  for (const [name, opts] of scenarios) {
    if (ONLY?.test(name) === false) continue
    const cpu = process.cpuUsage()
    const r = simulateDirectory({ nodes, seed: SEED, frames, ...opts })
    const used = process.cpuUsage(cpu)
    const verifies = r.verifiesPerNodeSec
    rows.push([
      nodes.toLocaleString('en-US'),
      name,
      `${(opts.durationMs ?? 0) / 1000} s`,
      r.convergedAtMs == null ? 'never' : `${(r.convergedAtMs / 1000).toFixed(0)} s`,
      pct(r.finalCoverage),
      r.joiners === 0 ? '-' : `${r.joinersConverged}/${r.joiners}${r.joinMedianMs == null ? '' : ` (${(r.joinMedianMs / 1000).toFixed(0)} s)`}`,
      `${kib(r.rxBytesPerNodeSec)} / ${kib(r.txBytesPerNodeSec)}`,
      `${verifies.toFixed(0)} (${(verifies * verifyUs / 1e4).toFixed(1)} % of a core)`,
      `${(r.stalePathShare * 100).toFixed(2)} % of ${r.paths}`,
      `${hops.meanHops.toFixed(2)} / ${hops.maxHops}`,
      `${((used.user + used.system) / 1e6).toFixed(0)} s`
    ])
    const joinerRx = r.joinerRxBytesPerSec == null ? 'no joiner up 30 s' : `joiners received ${kib(r.joinerRxBytesPerSec)} KiB/s (mean from join)`
    console.error(`${nodes} ${name}: coverage at end ${pct(r.finalCoverageSettled)} for nodes up since the start, ${pct(r.finalCoverageJoiners)} for live joiners; ${joinerRx}; transport ${r.transportBytes} B in ${r.transportMessages} frames (nodes sent ${r.nodeTxBytes}, received ${r.nodeRxBytes}); refused ${JSON.stringify(r.refused)}; ${r.events} events`)
  }
}
console.log(`| ${header.join(' | ')} |`)
console.log(`|${header.map(() => '---').join('|')}|`)
for (const r of rows) console.log(`| ${r.join(' | ')} |`)
