/**
 * Local test networks on 127.0.0.1 (STYLE.md, Tests; model: hyperdht
 * `testnet.js`).
 *
 * - {@link createTestnet}: n nodes inside this process, for unit and
 *   integration tests of code that embeds Umbra.
 * - {@link startProcessTestnet}: n `umbra start` processes with their HTTP
 *   APIs, as `umbra testnet` and `umbra demo` run them; talk to them with
 *   {@link ApiClient}.
 *
 * @example
 * ```ts
 * const testnet = await createTestnet(4)
 * const [alice, , , bob] = testnet.nodes
 * bob.addEventListener('message', (evt) => console.log(evt.detail.body))
 * await alice.messaging.send(bob.peerId, new TextEncoder().encode('hi'))
 * await testnet.stop()
 * ```
 */
export { createTestnet } from './testnet.ts'
export type { Testnet, TestnetInit } from './testnet.ts'
export { startProcessTestnet } from './process-testnet.ts'
export type { ProcessTestnet, ProcessTestnetInit, ProcessTestnetNode } from './process-testnet.ts'
export { ApiClient } from '../cli/api-client.ts'
export type { ApiClientInit } from '../cli/api-client.ts'
export * from './constants.ts'
export * from './errors.ts'
