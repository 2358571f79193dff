/**
 * Anonymity simulator table (issue 16, item 4): `npm run bench:anonymity`.
 *
 * For each preset (none, balanced, strong), network size (10, 100, 1,000
 * mix nodes), hostile share (0, 10, 20 % of the mixes) and traffic load
 * (100 and 1,000 clients, each sending one real message every 10 s besides
 * its cover traffic), prints the mean sender entropy (bits) of a global
 * passive observer's posterior, the probability that it names the sender,
 * the share of clients it names in at least half of their messages, and the
 * probability of naming a sender whose first hop (guard) was hostile.
 * Model and limits: src/mixnet/sim/anonymity.ts, docs/mixnet.md "Measured
 * anonymity". Environment: BENCH_CLIENTS (comma list), BENCH_SEED,
 * BENCH_PATHS (`layered`, the node's layers and guards, the default; or
 * `uniform`, paths uniform over all mixes, for comparison).
 */
import { PRESETS } from '../src/mixnet/mixnet-service.ts'
import { analyseTrace, hostileMixes, simulate, DEFAULT_MESSAGE_RATE } from '../src/mixnet/sim/anonymity.ts'
import { layeredPathSelector, uniformPathSelector } from '../src/mixnet/sim/paths.ts'
import type { MixnetPreset } from '../src/mixnet/types.ts'

const PRESET_NAMES: MixnetPreset[] = ['none', 'balanced', 'strong']
const SIZES = [10, 100, 1000]
const HOSTILE = [0, 0.1, 0.2]
const CLIENTS = (process.env.BENCH_CLIENTS ?? '100,1000').split(',').map(Number)
const SEED = Number(process.env.BENCH_SEED ?? 1)
const PATHS = process.env.BENCH_PATHS ?? 'layered'
if (PATHS !== 'layered' && PATHS !== 'uniform') throw new Error(`BENCH_PATHS must be layered or uniform, got ${PATHS}`)

const started = performance.now()
const cpuStarted = process.cpuUsage()
const count = (c: number): string => `${c.toLocaleString('en-US')} clients`
const header = ['preset', 'mixes', 'hostile', ...CLIENTS.flatMap((c) => [`H, ${count(c)} (bits)`, `P(named), ${count(c)}`, `clients named, ${count(c)}`, `P(named), hostile 1st hop, ${count(c)}`])]
const rows: string[][] = []
for (const preset of PRESET_NAMES) {
  for (const mixes of SIZES) {
    const cells = HOSTILE.map(() => [] as string[])
    for (const clients of CLIENTS) {
      const select = PATHS === 'uniform' ? uniformPathSelector(mixes) : layeredPathSelector({ mixes, seed: SEED })
      const trace = simulate({ preset: PRESETS[preset], mixes, clients, seed: SEED, select })
      HOSTILE.forEach((share, i) => {
        const r = analyseTrace(trace, { hostile: hostileMixes(mixes, share, SEED) })
        const hostileFirst = Number.isNaN(r.namedHostileFirst) ? '–' : `${r.namedHostileFirst.toFixed(2)} (${(r.hostileFirst * 100).toFixed(0)} %)`
        cells[i]?.push(r.entropyBits.toFixed(2), r.named.toFixed(2), r.clientsNamed.toFixed(2), hostileFirst)
      })
    }
    HOSTILE.forEach((share, i) => { rows.push([`\`${preset}\``, mixes.toLocaleString('en-US'), `${share * 100} %`, ...(cells[i] ?? [])]) })
  }
}
console.log(`| ${header.join(' | ')} |`)
console.log(`|${header.map(() => '---').join('|')}|`)
for (const r of rows) console.log(`| ${r.join(' | ')} |`)
const cpu = process.cpuUsage(cpuStarted)
console.log(`\n${PATHS} paths, 3 hops, ${DEFAULT_MESSAGE_RATE} real messages/s per client, seed ${SEED}; H at most log2(clients + mixes). ${((performance.now() - started) / 1000).toFixed(1)} s wall, ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s CPU`)
