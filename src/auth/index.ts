/**
 * Challenge-response authentication (issue 14, item 1; seed 002;
 * docs/auth.md): prove that you hold a key (the node key or a pseudonym) to
 * a verifier, once, for one purpose, before an expiry.
 *
 * @example
 * ```ts
 * const challenge = node.auth.challenge({ purpose: 'login' })   // verifier
 * const response = await other.auth.respond(challenge, pseudonymKey) // prover
 * const { key } = await node.auth.verify(challenge, response)   // verifier; a replay: UMBRA_ERR_AUTH_REPLAY
 * const proven = await node.auth.prove(peerId, { purpose: 'peer-check' }) // over /umbra/auth/1.0.0
 * ```
 */
export { createAuth, type Auth, type AuthHandle, type AuthComponents, type ChallengeOptions, type VerifyOptions, type Verified } from './auth-service.ts'
export { parseChallenge, parseResponse, signedBytes, type Challenge, type ChallengeResponse } from './wire.ts'
export * from './constants.ts'
export * from './errors.ts'
