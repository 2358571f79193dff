/**
 * Path selection as the anonymity simulator sees it (issue 16, item 4): one
 * small adapter, so the simulator runs whatever rule the node runs.
 *
 * Today's rule is `pickMixes` in src/mixnet/mixnet-service.ts: `hops`
 * distinct mixes, uniformly at random from the directory, never the sender
 * itself nor the path's gateway. It lives inside the service's closure (it
 * reads the live directory), so {@link uniformPathSelector} restates it over
 * node indices. When the layered topology with guards (issue 16, item 2)
 * lands as pure functions, a second selector built on them replaces this one
 * in the simulator's `select` option and nothing else changes.
 */

/** What a selector is told about one path to build. */
export interface PathRequest {
  /** Index of the node that builds the path (a client or a mix that sends cover). */
  sender: number
  /** Index of the path's gateway (the node after the last mix). */
  gateway: number
  /** Mix hops wanted (DEFAULT_HOPS = 3 in the node). */
  hops: number
}

/**
 * Builds one path: the indices of the mixes, first hop first.
 * `random(n)` is a uniform integer in [0, n).
 */
export type PathSelector = (request: PathRequest, random: (n: number) => number) => number[]

/**
 * Today's path selection (mixnet-service.ts `pickMixes`) over mixes
 * `0 … mixes − 1`: `hops` distinct mixes, uniform, excluding the sender and
 * the gateway. Draws a partial Fisher–Yates prefix of `hops + 2` positions
 * of a random permutation and keeps the first `hops` that are not excluded:
 * a uniform permutation restricted to the allowed mixes is a uniform
 * permutation of them, so the result has the same distribution as
 * shuffling the filtered list (what `pickMixes` does) at O(hops) cost.
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
