/**
 * The `umbra` command line (DESIGN.md section 7): `start` runs a node,
 * `testnet` runs several on loopback, `demo` runs the main job end to end,
 * and `id`, `peers`, `put`, `get`, `send` (`--anonymous`), `reply`, `inbox`,
 * `pseudonym new|list` talk to a running node's HTTP API through {@link ApiClient}.
 *
 * @example
 * ```ts
 * import { ApiClient } from 'umbra/cli'
 * const api = new ApiClient({ url: 'http://127.0.0.1:7450', token })
 * await api.send(peerId, 'hello')
 * console.log((await api.inbox()).messages)
 * ```
 */
export { ApiClient } from './api-client.ts'
export type * from './api-client.ts'
export { run, createProgram, errorLine } from './program.ts'
export * from './constants.ts'
export * from './errors.ts'
