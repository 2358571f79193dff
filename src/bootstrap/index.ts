/**
 * Bootstrap endpoints (seed 001's bootstrap server, issue 9 item 5): a
 * public HTTP service on a server node that lists live peers, and a node's
 * client side of it (`--bootstrap-url`). docs/bootstrap.md has the protocol.
 *
 * @example
 * ```ts
 * const server = await createBootstrapServer({ host: '0.0.0.0', port: 4100 })
 * const node = await createNode({ bootstrapUrls: [server.url] }) // fetches /peers, dials them, registers and heartbeats
 * await node.start()
 * const { peers } = await fetchBootstrapPeers('http://seed.example:4100')
 * ```
 */
export { createBootstrapServer, bootstrapPurpose, type BootstrapAction, type BootstrapPeer, type BootstrapServer, type BootstrapServerInit } from './server.ts'
export { createBootstrapRegistration, type BootstrapRegistration, type BootstrapRegistrationComponents } from './registration.ts'
export { answerBootstrapChallenge, fetchBootstrapPeers, normalizeBootstrapUrl, signedBootstrapCall } from './client.ts'
export { BadChallengeError, BadSignatureError, BootstrapFailedError, RateLimitedError } from './errors.ts'
export * as bootstrapConstants from './constants.ts'
