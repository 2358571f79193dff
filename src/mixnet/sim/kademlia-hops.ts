/**
 * Kademlia lookup hops at scale (issue 15, item 4), MODELLED: kad-dht's
 * routing table is bound to libp2p components, so this restates its math
 * over 32-bit ids: XOR distance, one k-bucket per common-prefix length
 * holding up to K = 20 nodes (src/dht/constants.ts, `kBucketSize`), and an
 * iterative lookup querying ALPHA = 10 of the closest unqueried nodes per
 * round (kad-dht's default `alpha`, node_modules/@libp2p/kad-dht
 * constants.js), each answering its K closest. Not modelled: disjoint paths,
 * bucket splitting near the own id, stale entries, timeouts.
 */
import { K } from '../../dht/constants.ts'

/** kad-dht's default query concurrency (`ALPHA` in @libp2p/kad-dht constants.js). */
export const KAD_ALPHA = 10

/** Hops of sampled lookups in a network of `nodes`. */
export interface HopsResult {
  nodes: number
  lookups: number
  /** Rounds of parallel queries until the node closest to the key was queried: mean and max. */
  meanHops: number
  maxHops: number
}

/**
 * Runs `lookups` lookups for random keys from random nodes.
 * @param nodes - network size, >= 2
 * @param lookups - lookups to sample
 * @param seed - deterministic randomness
 */
export function kademliaHops (nodes: number, lookups = 200, seed = 1): HopsResult {
  let s = seed >>> 0
  const next32 = (): number => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0
    let x = s ^ (s >>> 16)
    x = Math.imul(x, 0x7feb352d) >>> 0
    return (x ^ (x >>> 15)) >>> 0
  }
  const ids = new Uint32Array(nodes)
  const seen = new Set<number>()
  for (let i = 0; i < nodes; i++) {
    let id = next32()
    while (seen.has(id)) id = next32()
    seen.add(id); ids[i] = id
  }
  const tables = new Map<number, number[]>()
  /** Node i's routing table: up to K random members per bucket (common-prefix length). */
  const table = (i: number): number[] => {
    let t = tables.get(i)
    if (t != null) return t
    const buckets: number[][] = Array.from({ length: 33 }, () => [])
    const me = ids[i] as number
    for (let j = 0; j < nodes; j++) if (j !== i) (buckets[Math.clz32((me ^ (ids[j] as number)) >>> 0)] as number[]).push(j)
    t = []
    for (const b of buckets) {
      for (let k = b.length - 1; k > 0; k--) { const r = next32() % (k + 1); const x = b[k] as number; b[k] = b[r] as number; b[r] = x }
      t.push(...b.slice(0, K))
    }
    tables.set(i, t)
    return t
  }
  let total = 0
  let max = 0
  for (let l = 0; l < lookups; l++) {
    const key = next32()
    const dist = (j: number): number => ((ids[j] as number) ^ key) >>> 0
    let best = 0
    for (let j = 1; j < nodes; j++) if (dist(j) < dist(best)) best = j
    const source = next32() % nodes
    const queried = new Set<number>([source])
    let shortlist = [...new Set(table(source))].sort((a, b) => dist(a) - dist(b)).slice(0, K)
    let hops = 0
    while (!queried.has(best) && hops < 64) {
      const round = shortlist.filter((j) => !queried.has(j)).slice(0, KAD_ALPHA)
      if (round.length === 0) break
      hops++
      const found = new Set(shortlist)
      for (const j of round) {
        queried.add(j)
        for (const c of [...table(j)].sort((a, b) => dist(a) - dist(b)).slice(0, K)) found.add(c)
      }
      shortlist = [...found].sort((a, b) => dist(a) - dist(b)).slice(0, K)
    }
    total += hops
    max = Math.max(max, hops)
  }
  return { nodes, lookups, meanHops: total / lookups, maxHops: max }
}
