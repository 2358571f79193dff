/**
 * The peer registry (seed 002's public-key registry, DESIGN.md section 4):
 * every node publishes a signed peer record under its `key_…`; any node
 * looks one up by PeerId or key, and dialling by PeerId resolves through it.
 *
 * @example
 * ```ts
 * const node = await createNode({ role: 'client', bootstrap })
 * await node.start()                                   // publishes its record (relayed addresses only)
 * const rec = await node.registry.lookup('12D3KooW…')  // { peerId, key, role, addrs, lastSeen, … }
 * await node.messaging.send(rec.peerId, bytes)         // dialled through the registry if no address is known
 * ```
 */
export type { Registry, RegistryHandle, RegistryInit } from './registry-service.ts'
export type { PeerRecordInfo } from './peer-record.ts'
export { createRegistry, publishableAddrs } from './registry-service.ts'
export { openMetadata, peerNamespace, peerRecordKey, signPeerRecord, verifyPeerRecord } from './peer-record.ts'
export * from './constants.ts'
export * from './errors.ts'
