/**
 * Identity: the node's transport key (the libp2p PeerId: Ed25519, or an
 * imported secp256k1 wallet key, issue 14 item 3), its
 * `key_<base58btc>` form with checksum (seed 002), and the secret files in
 * the data directory (DESIGN.md section 3).
 *
 * @example
 * ```ts
 * const dir = resolveDataDir()            // $UMBRA_HOME or ~/.umbra
 * const { privateKey } = await loadOrCreateTransportKey(dir)
 * const key = encodeKey(privateKey.publicKey.raw)   // 'key_…'
 * decodeKey(key)                          // 32 bytes; throws on a typo
 * await importSecp256k1(dir, wif)         // a wallet key as the identity: PeerId 16Uiu2HA…
 * ```
 */
export { encodeKey, decodeKey, decodeTypedKey, publicKeyFromKey, isKey, keyFromPeerId, peerIdFromKey, parsePeer, type KeyType, type TypedKey } from './keys.ts'
export { resolveDataDir, ensureDataDir, loadOrCreateTransportKey, loadOrCreateApiToken, importSecp256k1, type TransportIdentity } from './store.ts'
export {
  parseWalletKey, checkIdentityFits, walletAddresses, walletInfo, walletEncryptionKeyPair, hash160,
  BITCOIN_P2PKH_VERSION, EVRMORE_P2PKH_VERSION, type WalletKey, type WalletAddresses, type WalletInfo
} from './wallet.ts'
export { setDataDirPassphrase, rekeyDataDir, isSealed, PASSPHRASE_OPSLIMIT, PASSPHRASE_MEMLIMIT } from './keyfile.ts'
export * from './constants.ts'
export * from './errors.ts'
