/**
 * Anonymous messaging (DESIGN.md section 5, seed 001 delivery paths 2 and 4):
 * Sphinx packets through a mix network to a pseudonym's gateway, offline
 * mailboxes, SURB replies and cover traffic. docs/mixnet.md and
 * docs/sphinx.md describe the protocols.
 *
 * @example
 * ```ts
 * const p = await bob.pseudonyms.create()
 * bob.addEventListener('anonymous:message', (evt) => { void bob.mixnet.reply(evt.detail.id, pong) })
 * const receipt = await alice.mixnet.send(p.key, ping, { hops: 3, wait: 'delivered' })
 * ```
 */
export type * from './types.ts'
export { createMixnet, PRESETS } from './mixnet-service.ts'
export type { MixnetHandle, MixnetComponents, GatewayUsage } from './mixnet-service.ts'
export * from './constants.ts'
export * from './errors.ts'
export * from './topology.ts'
