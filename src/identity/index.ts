/**
 * Identity: the node's transport key (the libp2p PeerId, Ed25519), its
 * `key_<base58btc>` form with checksum (seed 002), and the secret files in
 * the data directory (DESIGN.md section 3).
 *
 * @example
 * ```ts
 * const dir = resolveDataDir()            // $UMBRA_HOME or ~/.umbra
 * const { privateKey } = await loadOrCreateTransportKey(dir)
 * const key = encodeKey(privateKey.publicKey.raw)   // 'key_…'
 * decodeKey(key)                          // 32 bytes; throws on a typo
 * ```
 */
export { encodeKey, decodeKey, isKey, keyFromPeerId, peerIdFromKey, parsePeer } from './keys.ts'
export { resolveDataDir, ensureDataDir, loadOrCreateTransportKey, loadOrCreateApiToken } from './store.ts'
export { setDataDirPassphrase, rekeyDataDir, isSealed, PASSPHRASE_OPSLIMIT, PASSPHRASE_MEMLIMIT } from './keyfile.ts'
export * from './constants.ts'
export * from './errors.ts'
