/**
 * Names (seed 003's names resolved through the DHT, issue 9 item 3): global
 * names (`alice`, first-come, a claim costs a proof of work that grows as the
 * label gets shorter) and zone names (`alice.key_…`, only the zone key can
 * publish, storing nodes learn neither zone nor label). A name points to
 * typed records: `peer` (direct messages, hole punching), `pseudonym`
 * (anonymous messages), `multiaddr`, `text`. Answers are cached for their
 * record's cache TTL. docs/names.md has the layouts and the limits.
 *
 * @example
 * ```ts
 * const node = await createNode({ bootstrap })
 * await node.start()
 * const nym = await node.pseudonyms.create()
 * await node.names.register('alice-example', [
 *   { type: 'peer', value: node.peerId },
 *   { type: 'pseudonym', value: nym.key }
 * ], { ttl: 24 * 3600_000 })                               // renewed before it expires
 * await node.names.register(`home.${node.key}`, [{ type: 'text', value: 'hello' }])
 *
 * const answer = await other.names.resolve('alice-example') // { records, owner, expiresAt, source: 'network' }
 * await other.names.resolve('alice-example')                // source: 'cache' for the record's cache TTL
 * ```
 */
export type { Names, NamesHandle, NameResolution, OwnedName, RegisterNameOptions } from './names-service.ts'
export type { NameRecord, NameRecordType, ParsedName } from './name-record.ts'
export { createNames, resolveRecipient } from './names-service.ts'
export {
  checkPow, formatName, globalNameKey, globalNameNamespace, looksLikeName, mintPow, normaliseRecords, openZoneName, parseName,
  signGlobalName, signZoneName, zoneNameKey, zoneNameNamespace, zoneStorageKey
} from './name-record.ts'
export * from './constants.ts'
export * from './errors.ts'
