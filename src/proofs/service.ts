import { checkRing, ringSign, ringVerify, type RingOptions, type RingSignature, type RingVerification } from './ring.ts'
import { NotRingMemberError, RingInvalidError } from './errors.ts'
import type { PrivateKey } from '@libp2p/interface'

/**
 * A node's proofs (issue 14, item 2; docs/proofs.md): ring signatures made
 * with whichever of the node's keys (transport key or a pseudonym) is in the
 * ring, and verification.
 */
export interface ProofService {
  /**
   * Signs `message` for `ring` with the first ring member (in ring order)
   * whose private key this node holds.
   * @returns `{ signature, keyImage }` (see {@link ringSign})
   * @throws UMBRA_ERR_NOT_RING_MEMBER (this node holds none of the ring's keys),
   *   UMBRA_ERR_RING_INVALID, UMBRA_ERR_INVALID_OPTION
   */
  ringSign: (message: Uint8Array | string, ring: readonly string[], options?: RingOptions) => RingSignature
  /** {@link ringVerify}: anyone's signature, no key of this node needed. */
  ringVerify: (message: Uint8Array | string, ring: readonly string[], signature: Uint8Array, options?: RingOptions) => RingVerification
}

/** What {@link createProofService} needs from the node. */
export interface ProofServiceInit {
  /** The private key of `key_…` id `key` when this node holds it (its transport key or one of its pseudonyms), else undefined. */
  keyFor: (key: string) => PrivateKey | undefined
}

/** Creates a node's {@link ProofService}. */
export function createProofService (init: ProofServiceInit): ProofService {
  return {
    ringSign (message, ring, options = {}) {
      if (!Array.isArray(ring)) throw new RingInvalidError('A ring is a list of key_ keys')
      for (const member of ring) {
        const key = typeof member === 'string' ? init.keyFor(member) : undefined
        if (key !== undefined) return ringSign(message, ring, key, { scope: options.scope })
      }
      // A bad ring is reported as such before "not a member".
      checkRing(ring)
      throw new NotRingMemberError('This node holds none of the ring\'s keys (neither its node key nor one of its pseudonyms)')
    },
    ringVerify
  }
}
