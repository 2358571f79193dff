/**
 * Wallet keys (issue 14, item 3): published Bitcoin test vectors give the
 * expected addresses and a secp256k1 PeerId (`16Uiu2HA…`); the secp256k1
 * `key_` type round-trips and Ed25519-only uses refuse it with a code; an
 * imported key survives a restart, also sealed under a passphrase.
 *
 * Vectors (committed here, named after their source):
 * - Bitcoin wiki "Wallet import format" (en.bitcoin.it/wiki/Wallet_import_format):
 *   WIF 5HueCGU8rMjxEXxiPuD5BDku4MkFqeZyd4dZ1jvhTVqvbTLvyTJ is private key
 *   0C28FCA386C7A227600B2FE50B7CAE11EC86D3BF1FBE471BE89827E19D72AA1D (mainnet, uncompressed).
 *   Its P2PKH address 1GAehh7TsJAHuUAeKZcXf5CnwuGuGgyX2S (uncompressed public key) and, for the
 *   compressed WIF KwdMAjGmerYanjeui5SHS7JkmpZvVipYvB2LJGU1ZxJwYvP98617, 1LoVGDgRs9hTfTNJNuXKSpywcbdvwRXpmK,
 *   are the values that bitcoin libraries' tests pin for this key (e.g. pycoin's CoinAddress doctest).
 * - Private key 1 (the generator G): compressed address 1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH,
 *   uncompressed 1EHNa6Q4Jz2uvNExL497mE43ikXhwF6kZm (bitcoinjs-lib fixtures; BIP 173's example key).
 * Evrmore addresses have no published vector: they are checked to carry the same HASH160 under
 * version byte 0x21 and to start with `E`.
 */
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { sha256 } from '@noble/hashes/sha2.js'
import { createBase58check } from '@scure/base'
import {
  decodeKey, decodeTypedKey, encodeKey, hash160, importSecp256k1, keyFromPeerId, loadOrCreateTransportKey, parsePeer,
  parseWalletKey, peerIdFromKey, walletAddresses, walletInfo
} from '../../src/identity/index.ts'
import { setDataDirPassphrase } from '../../src/identity/keyfile.ts'
import { parseName } from '../../src/names/name-record.ts'
import { ringSign } from '../../src/proofs/index.ts'
import { peerRecordKey, signPeerRecord, verifyPeerRecord } from '../../src/registry/index.ts'

const WIKI_WIF = '5HueCGU8rMjxEXxiPuD5BDku4MkFqeZyd4dZ1jvhTVqvbTLvyTJ'
const WIKI_WIF_COMPRESSED = 'KwdMAjGmerYanjeui5SHS7JkmpZvVipYvB2LJGU1ZxJwYvP98617'
const WIKI_HEX = '0C28FCA386C7A227600B2FE50B7CAE11EC86D3BF1FBE471BE89827E19D72AA1D'
const WIKI_ADDRESS_UNCOMPRESSED = '1GAehh7TsJAHuUAeKZcXf5CnwuGuGgyX2S'
const WIKI_ADDRESS_COMPRESSED = '1LoVGDgRs9hTfTNJNuXKSpywcbdvwRXpmK'
const ONE_HEX = '0000000000000000000000000000000000000000000000000000000000000001'
const ONE_ADDRESS_COMPRESSED = '1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH'
const ONE_ADDRESS_UNCOMPRESSED = '1EHNa6Q4Jz2uvNExL497mE43ikXhwF6kZm'

const base58check = createBase58check(sha256)

describe('wallet keys (issue 14, item 3)', () => {
  const dirs: string[] = []
  after(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }) })

  it('a published WIF vector yields its private key, the expected addresses and a 16Uiu2HA PeerId', (t) => {
    const u = parseWalletKey(WIKI_WIF)
    assert.equal(Buffer.from(u.privateKey.raw).toString('hex').toUpperCase(), WIKI_HEX)
    assert.equal(u.compressed, false)
    const c = parseWalletKey(WIKI_WIF_COMPRESSED)
    assert.ok(c.privateKey.equals(u.privateKey), 'the compressed and uncompressed WIF are one key')
    assert.equal(c.compressed, true)
    const hex = parseWalletKey(`0x${WIKI_HEX.toLowerCase()}\n`)
    assert.ok(hex.privateKey.equals(u.privateKey))

    const uncompressed = walletAddresses(u.privateKey.publicKey.raw, false)
    const compressed = walletAddresses(c.privateKey.publicKey.raw, true)
    assert.equal(uncompressed.bitcoin, WIKI_ADDRESS_UNCOMPRESSED)
    assert.equal(compressed.bitcoin, WIKI_ADDRESS_COMPRESSED)
    assert.deepEqual(walletInfo(u.privateKey, false)?.addresses, uncompressed)

    const peerId = peerIdFromPrivateKey(u.privateKey)
    assert.equal(peerId.type, 'secp256k1')
    assert.match(peerId.toString(), /^16Uiu2HA/)
    for (const [bitcoin, evrmore] of [[uncompressed.bitcoin, uncompressed.evrmore], [compressed.bitcoin, compressed.evrmore]] as const) {
      assert.match(evrmore, /^E/)
      const b = base58check.decode(bitcoin)
      const e = base58check.decode(evrmore)
      assert.equal(b[0], 0x00)
      assert.equal(e[0], 0x21)
      assert.deepEqual(e.subarray(1), b.subarray(1), 'same HASH160 on both chains')
    }
    assert.deepEqual(base58check.decode(compressed.bitcoin).subarray(1), hash160(c.privateKey.publicKey.raw))
    t.diagnostic(`${WIKI_WIF.slice(0, 8)}… → PeerId ${peerId.toString()}; bitcoin ${uncompressed.bitcoin} (uncompressed), ${compressed.bitcoin} (compressed); evrmore ${compressed.evrmore}`)
  })

  it('private key 1 gives the well-known compressed and uncompressed addresses', () => {
    const one = parseWalletKey(ONE_HEX)
    assert.equal(walletAddresses(one.privateKey.publicKey.raw).bitcoin, ONE_ADDRESS_COMPRESSED)
    assert.equal(walletAddresses(one.privateKey.publicKey.raw, false).bitcoin, ONE_ADDRESS_UNCOMPRESSED)
  })

  it('refuses malformed wallet keys with UMBRA_ERR_INVALID_KEY, never echoing them', () => {
    const bad = [
      '', 'hello', WIKI_WIF.slice(0, -1) + (WIKI_WIF.endsWith('J') ? 'K' : 'J'), // checksum
      '00'.repeat(32), // zero is not a private key
      'FF'.repeat(32), // above the curve order
      base58check.encode(Uint8Array.of(0x00, ...new Uint8Array(32).fill(1))), // an address-like version byte
      base58check.encode(Uint8Array.of(0x80, ...new Uint8Array(31).fill(1))) // 31 bytes
    ]
    for (const text of bad) {
      assert.throws(() => parseWalletKey(text), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'UMBRA_ERR_INVALID_KEY')
        if (text.length > 8) assert.ok(!err.message.includes(text), 'the message does not echo the key')
        return true
      })
    }
  })

  it('a secp256k1 key_ has its own type byte, round-trips, and Ed25519-only uses refuse it with UMBRA_ERR_KEY_TYPE_UNSUPPORTED', async () => {
    const { privateKey } = parseWalletKey(WIKI_WIF_COMPRESSED)
    const peerId = peerIdFromPrivateKey(privateKey)
    const key = keyFromPeerId(peerId)
    assert.equal(key, encodeKey(privateKey.publicKey.raw))
    const typed = decodeTypedKey(key)
    assert.equal(typed.type, 'secp256k1')
    assert.equal(typed.publicKey.byteLength, 33)
    assert.ok(peerIdFromKey(key).equals(peerId))
    assert.ok(parsePeer(key).equals(peerId))
    assert.ok(parsePeer(peerId.toString()).equals(peerId))
    // One changed character is caught by the checksum, as for Ed25519 keys.
    const typo = key.slice(0, 10) + (key[10] === 'a' ? 'b' : 'a') + key.slice(11)
    assert.throws(() => decodeTypedKey(typo), { code: /UMBRA_ERR_(KEY_CHECKSUM|INVALID_KEY)/ })
    // Ed25519-only: pseudonym-style decoding, ring members and signers, zones, sealing metadata to the key.
    assert.throws(() => decodeKey(key), { code: 'UMBRA_ERR_KEY_TYPE_UNSUPPORTED' })
    const ed = await generateKeyPair('Ed25519')
    const edKey = keyFromPeerId(peerIdFromPrivateKey(ed))
    assert.throws(() => ringSign('vote', [edKey, key], ed), { code: 'UMBRA_ERR_KEY_TYPE_UNSUPPORTED' })
    const other = keyFromPeerId(peerIdFromPrivateKey(await generateKeyPair('Ed25519')))
    assert.throws(() => ringSign('vote', [edKey, other], privateKey), { code: 'UMBRA_ERR_KEY_TYPE_UNSUPPORTED' })
    await assert.rejects(signPeerRecord({ privateKey: ed, role: 'client', addrs: [], seq: 1, expiresAt: Date.now() + 60_000, metadata: new Uint8Array([1]), sealTo: key }), { code: 'UMBRA_ERR_KEY_TYPE_UNSUPPORTED' })
    assert.throws(() => parseName(`home.${key}`), { code: 'UMBRA_ERR_KEY_TYPE_UNSUPPORTED' }, 'a wallet key is no zone')
    // A 33-byte key that is not compressed SEC 1 has no key_ form.
    assert.throws(() => encodeKey(new Uint8Array(33).fill(4)), { code: 'UMBRA_ERR_INVALID_KEY' })
  })

  it('a secp256k1 node signs a peer record carrying an X25519 encryption key; an Ed25519 record carries none', async () => {
    const { privateKey } = parseWalletKey(WIKI_WIF_COMPRESSED)
    const key = keyFromPeerId(peerIdFromPrivateKey(privateKey))
    const now = Date.now()
    const bytes = await signPeerRecord({ privateKey, role: 'client', addrs: [], seq: now, expiresAt: now + 60_000 })
    const info = await verifyPeerRecord(peerRecordKey(key), bytes)
    assert.equal(info.key, key)
    assert.equal(info.peerId, peerIdFromPrivateKey(privateKey).toString())
    assert.equal(info.encryptionKey?.byteLength, 32)
    const ed = await generateKeyPair('Ed25519')
    const edInfo = await verifyPeerRecord(peerRecordKey(keyFromPeerId(peerIdFromPrivateKey(ed))), await signPeerRecord({ privateKey: ed, role: 'client', addrs: [], seq: now, expiresAt: now + 60_000 }))
    assert.equal(edInfo.encryptionKey, undefined)
  })

  it('importSecp256k1 writes identity.key once (also sealed under a passphrase) and never replaces another identity', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'umbra-wallet-'))
    dirs.push(dir)
    const first = await importSecp256k1(dir, WIKI_WIF)
    assert.equal(first.created, true)
    assert.equal(first.compressed, false)
    const again = await importSecp256k1(dir, WIKI_WIF_COMPRESSED) // the same key: a no-op
    assert.equal(again.created, false)
    const loaded = await loadOrCreateTransportKey(dir)
    assert.ok(loaded.privateKey.equals(first.privateKey))
    assert.equal(loaded.privateKey.type, 'secp256k1')
    assert.equal(loaded.compressed, false, 'the address form of the imported WIF is kept')
    await assert.rejects(importSecp256k1(dir, ONE_HEX), { code: 'UMBRA_ERR_IDENTITY_FILE' })

    const sealedDir = await mkdtemp(join(tmpdir(), 'umbra-wallet-sealed-'))
    dirs.push(sealedDir)
    setDataDirPassphrase(sealedDir, 'correct horse')
    try {
      await importSecp256k1(sealedDir, WIKI_WIF_COMPRESSED)
      const text = await readFile(join(sealedDir, 'identity.key'), 'utf8')
      assert.ok(!text.includes('secp256k1'), 'the file is sealed: not even the key type shows')
      assert.ok(JSON.parse(text).umbraSealed === 1)
      const opened = await loadOrCreateTransportKey(sealedDir)
      assert.ok(opened.privateKey.equals(first.privateKey))
      setDataDirPassphrase(sealedDir, 'wrong')
      await assert.rejects(loadOrCreateTransportKey(sealedDir), { code: 'UMBRA_ERR_BAD_PASSPHRASE' })
      assert.equal(await readFile(join(sealedDir, 'identity.key'), 'utf8'), text, 'a wrong passphrase leaves the file unchanged')
    } finally {
      setDataDirPassphrase(sealedDir, undefined)
    }
    t.diagnostic('import, re-import (no-op), restart load, refusal of a second key, sealed import and wrong passphrase all as expected')
  })
})
