/**
 * Path selection as the anonymity simulator sees it (issue 16, item 4): one
 * small adapter, so the simulator runs whatever rule the node runs.
 *
 * {@link layeredPathSelector} is the node's rule (issue 16, item 2): it
 * calls the pure functions of src/mixnet/topology.ts that `pickMixes` in
 * src/mixnet/mixnet-service.ts calls (layers per epoch, a guard sample per
 * node, the first usable primary guard as first hop). {@link
 * uniformPathSelector} is the rule before layers and guards (uniform over
 * all mixes), kept for comparison (`BENCH_PATHS=uniform`).
 */

import { createHash } from 'node:crypto'
import { DEFAULT_EPOCH_MS } from '../constants.ts'
import { assignLayers, maintainGuards, MIX_LAYERS, nodeKeyHex, pickGuard, selectLayeredPath, type GuardEntry, type TopologyNode } from '../topology.ts'

/** What a selector is told about one path to build. */
export interface PathRequest {
  /** Index of the node that builds the path (a client or a mix that sends cover). */
  sender: number
  /** Index of the path's gateway (the node after the last mix). */
  gateway: number
  /** Mix hops wanted (DEFAULT_HOPS = 3 in the node). */
  hops: number
  /** Simulated time of the send, ms (the layered selector's epoch). @default 0 */
  timeMs?: number
  /** A loop cover packet (the node shifts its layers after the guard). */
  loop?: boolean
}

/**
 * Builds one path: the indices of the mixes, first hop first.
 * `random(n)` is a uniform integer in [0, n).
 */
export type PathSelector = (request: PathRequest, random: (n: number) => number) => number[]

/**
 * The path selection before layers and guards (issue 16 item 2) over mixes
 * `0 … mixes − 1`: `hops` distinct mixes, uniform, excluding the sender and
 * the gateway. Draws a partial Fisher–Yates prefix of `hops + 2` positions
 * of a random permutation and keeps the first `hops` that are not excluded:
 * a uniform permutation restricted to the allowed mixes is a uniform
 * permutation of them, so the result has the same distribution as
 * shuffling the filtered list (what `pickMixes` did) at O(hops) cost.
 * @throws Error when fewer than `hops` mixes are allowed (the node throws UMBRA_ERR_NOT_ENOUGH_MIXES)
 */
export function uniformPathSelector (mixes: number): PathSelector {
  return ({ sender, gateway, hops }, random) => {
    const swapped = new Map<number, number>()
    const out: number[] = []
    const draws = Math.min(mixes, hops + 2)
    for (let i = 0; i < draws && out.length < hops; i++) {
      const j = i + random(mixes - i)
      const picked = swapped.get(j) ?? j
      swapped.set(j, swapped.get(i) ?? i)
      if (picked !== sender && picked !== gateway) out.push(picked)
    }
    if (out.length < hops) throw new Error(`a ${hops}-hop path needs ${hops} mixes besides the sender and the gateway; there are ${mixes}`)
    return out
  }
}

/** Options of {@link layeredPathSelector}. */
export interface LayeredSelectorInit {
  /** Mix nodes `0 … mixes − 1` (every other index is a client). */
  mixes: number
  /** Seed of the simulated node keys (so layer hashes differ between seeds). @default 1 */
  seed?: number
  /** Epoch length, ms of simulated time: layers are recomputed per epoch. @default DEFAULT_EPOCH_MS (1 h) */
  epochMs?: number
}

/** A {@link PathSelector} that also tells which first hop (guard) a node uses toward a gateway. */
export interface LayeredPathSelector extends PathSelector {
  /** The node's guard sample as the real guard code chose it (keys hex, sample order); sampled on first use. */
  guards: (node: number, random: (n: number) => number) => GuardEntry[]
}

/** A simulated mix as topology.ts sees it. */
interface SimMix extends TopologyNode {
  index: number
  hex: string
}

/**
 * The node's path selection (docs/mixnet.md "Layers and guards") over mixes
 * `0 … mixes − 1`, calling the real pure functions of src/mixnet/topology.ts:
 * layers per epoch from {@link assignLayers} (simulated node keys, one
 * SHA-256 each, seeded), each sending node's own guard sample from
 * {@link maintainGuards} (every node keeps one, clients and mixes alike, as
 * the node does; sampled the first time it sends, with the simulation's
 * random numbers), the first hop from {@link pickGuard} (first usable
 * primary guard that is not the packet's gateway), and the other hops from
 * {@link selectLayeredPath} (hop i from layer i mod 3, never the sender or
 * the gateway). Loop cover shifts the layers after the guard by a random
 * 0 to 2, as `makeSurb` does for the node's loops. Not modelled: guard
 * failure and back-off (no simulated mix fails), path-probe suspects, and
 * the payload stream's guard lanes (src/mixnet/send-schedule.ts), which
 * spread slots over the first two primary guards.
 * @throws UMBRA_ERR_NOT_ENOUGH_MIXES when fewer than `hops` mixes are left besides the sender and the gateway
 */
export function layeredPathSelector (init: LayeredSelectorInit): LayeredPathSelector {
  const epochMs = init.epochMs ?? DEFAULT_EPOCH_MS
  const seed = init.seed ?? 1
  const nodes: SimMix[] = Array.from({ length: init.mixes }, (_, index) => {
    const nodeKey = new Uint8Array(createHash('sha256').update(`umbra/sim-mix/${seed}/${index}`).digest())
    return { nodeKey, index, hex: nodeKeyHex(nodeKey) }
  })
  const byHex = new Map(nodes.map((n) => [n.hex, n]))
  const listed = new Set(byHex.keys())
  const samples = new Map<number, GuardEntry[]>()
  let layersEpoch = -1
  let layers: SimMix[][] = []
  const guards = (node: number, random: (n: number) => number): GuardEntry[] => {
    let sample = samples.get(node)
    if (sample == null) {
      const candidates = node < init.mixes ? nodes.filter((n) => n.index !== node) : nodes
      sample = maintainGuards({ sample: [], candidates, now: 0, rng: random }).sample
      samples.set(node, sample)
    }
    return sample
  }
  const select = (({ sender, gateway, hops, timeMs, loop }: PathRequest, random: (n: number) => number): number[] => {
    const epoch = Math.floor((timeMs ?? 0) / epochMs)
    if (epoch !== layersEpoch) { layers = assignLayers(nodes, epoch); layersEpoch = epoch }
    const gatewayHex = nodes[gateway]?.hex
    const firstHex = pickGuard(guards(sender, random), listed, timeMs ?? 0, (k) => k === gatewayHex)
    const path = selectLayeredPath({
      layers,
      hops,
      first: firstHex == null ? undefined : byHex.get(firstHex),
      exclude: (n) => n.index === sender || n.index === gateway,
      layerOffset: loop === true ? random(MIX_LAYERS) : 0,
      rng: random
    })
    return path.map((n) => n.index)
  }) as LayeredPathSelector
  select.guards = guards
  return select
}
