/**
 * Proofs (issue 14, item 2): linkable ring signatures over `key_` ids —
 * "one of these keys signed", without saying which, with a per-scope key
 * image that links two signatures by the same member (docs/proofs.md).
 *
 * @example
 * ```ts
 * const { signature, keyImage } = proofs.ringSign('vote: yes', ring, myKey, { scope: 'poll-7' })
 * proofs.ringVerify('vote: yes', ring, signature, { scope: 'poll-7' })  // { valid: true, keyImage }
 * ```
 */
export { checkRing, ringSign, ringVerify } from './ring.ts'
export { createProofService } from './service.ts'
export type { ProofService, ProofServiceInit } from './service.ts'
export type { RingOptions, RingSignOptions, RingSignature, RingVerification, RingSignerKey } from './ring.ts'
export * from './constants.ts'
export * from './errors.ts'
