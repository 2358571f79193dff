/**
 * Seeded randomness for the simulators and benches (src/mixnet/sim,
 * bench/): reproducible runs from a seed. Never for keys or nonces.
 */

/**
 * A small seeded generator (mulberry32): uniform in [0, 1).
 * @param seed - any number; its low 32 bits are used
 * @returns a function giving the next draw on each call
 */
export function seeded (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
