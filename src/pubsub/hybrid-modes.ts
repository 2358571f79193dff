/**
 * The names of seed 004's pub/sub modes and hybrid strategies (issue 13,
 * item 4), in a module without imports so that the CLI can list them
 * without loading pub/sub. src/pubsub/hybrid.ts has what they do.
 */

/** Pub/sub modes (seed 004: P2P_ONLY, HYBRID, CENTRAL_ONLY). */
export type PubSubMode = 'p2p' | 'hybrid' | 'central'
/** Hybrid strategies (seed 004: PREFER_P2P, PREFER_CENTRAL, PARALLEL). */
export type HybridStrategy = 'prefer-p2p' | 'prefer-central' | 'parallel'

export const PUBSUB_MODES: readonly PubSubMode[] = ['p2p', 'hybrid', 'central']
export const HYBRID_STRATEGIES: readonly HybridStrategy[] = ['prefer-p2p', 'prefer-central', 'parallel']
