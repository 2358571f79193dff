/**
 * DHT storage: signed, expiring key/value records in Umbra's private Kademlia
 * DHT (`/umbra/kad/1.0.0`), the seed 000 `storeData` / `retrieveData` pair.
 *
 * @example
 * ```ts
 * const node = await createNode({ dataDir: './data' })
 * await node.start()
 * await node.dht.put('greeting', new TextEncoder().encode('hello'), { ttl: 60 * 60_000 })
 * const rec = await node.dht.get('greeting')
 * console.log(rec?.value) // Uint8Array
 * ```
 */
export type { DhtService, DhtPutOptions, DhtPutResult, DhtGetOptions, DhtGetResult } from './types.ts'
export { createDhtService } from './dht-service.ts'
export * from './constants.ts'
export * from './errors.ts'
