/**
 * A relay's own anonymity estimate (issue 16, item 4; docs/mixnet.md
 * "Measured anonymity", metric `umbra_mixnet_anonymity_bits`).
 *
 * Model: Loopix's Poisson mix (Piotrowska et al. 2017, §4.1.3, Theorem 2).
 * When a mix holding k packets (the departing one included) emits one, an
 * observer of its links gives each of the k probability μ/(kμ + λ_M) and the
 * mix's own cover λ_M/(kμ + λ_M), μ = 1 / mean delay, λ_M the mix's cover
 * rate. The estimate is the Shannon entropy of that distribution (bits) at
 * each departure, averaged exponentially over recent departures; μ comes
 * from the mean of the delays the relay was asked to hold packets for. A
 * packet forwarded with delay 0 is linked exactly (0 bits).
 *
 * Limits: one honest mix against an observer of its links only; it knows
 * nothing of the other hops, hostile neighbours, the sender's link or
 * long-term intersection; end-to-end figures come from the simulator
 * (./anonymity.ts).
 */

/** Weight of the newest departure in the moving averages (about the last 256 departures count). */
const EWMA_WEIGHT = 1 / 256
const MS_PER_S = 1000

/** What {@link createPoolEntropy} takes. */
export interface PoolEntropyInit {
  /** This node's own cover rate (loop + drop), packets/s. */
  coverRate: number
}

/** The running estimate of one relay. */
export interface PoolEntropy {
  /** A relayed packet left: `pool` packets were held at that moment, itself included (1 for a zero-delay packet); `delayMs` its requested delay, ms. */
  departed(pool: number, delayMs: number): void
  /** Mean entropy of recent departures, bits (0 before the first). */
  bits(): number
  /** Departures seen. */
  departures(): number
}

/**
 * Entropy (bits) of Loopix Theorem 2's distribution: `k` pooled packets
 * each μ/(kμ + λ), own cover λ/(kμ + λ); rates in the same unit.
 */
export function poissonMixEntropy (k: number, mu: number, lambda: number): number {
  if (k <= 0) return 0
  if (!(mu > 0) || !Number.isFinite(mu)) return k === 1 && lambda <= 0 ? 0 : Math.log2(k)
  const denom = k * mu + lambda
  const p = mu / denom
  const q = lambda / denom
  return -k * p * Math.log2(p) - (q > 0 ? q * Math.log2(q) : 0)
}

/** Creates a relay's estimator; see the module comment. */
export function createPoolEntropy (init: PoolEntropyInit): PoolEntropy {
  const lambdaPerMs = Math.max(0, init.coverRate) / MS_PER_S
  let meanDelay = 0
  let bits = 0
  let n = 0
  return {
    departed (pool, delayMs) {
      const w = n === 0 ? 1 : EWMA_WEIGHT
      n++
      meanDelay += w * (delayMs - meanDelay)
      const h = delayMs <= 0 || meanDelay <= 0 ? 0 : poissonMixEntropy(pool, 1 / meanDelay, lambdaPerMs)
      bits += w * (h - bits)
    },
    bits: () => bits,
    departures: () => n
  }
}
