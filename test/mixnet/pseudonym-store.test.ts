import assert from 'node:assert/strict'
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import sodium from 'sodium-native'
import { dhtKeyFor, signRecord, verifyRecord } from '../../src/dht/record.ts'
import { decodeKey, encodeKey, loadOrCreateTransportKey } from '../../src/identity/index.ts'
import { createPseudonymStore } from '../../src/mixnet/pseudonym-store.ts'

const dirs: string[] = []
async function tempDir (): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'umbra-pseudonym-'))
  dirs.push(d)
  return d
}
after(async () => { await Promise.all(dirs.map(async (d) => await rm(d, { recursive: true, force: true }))) })

function expectCode (code: string): (err: unknown) => boolean {
  return (err) => (err as { code?: string }).code === code
}
async function gatewayIds (n: number): Promise<string[]> {
  return await Promise.all(Array.from({ length: n }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()))
}

describe('pseudonym store', () => {
  it('creates pseudonyms with an Ed25519 key_ and a working X25519 box key pair', async () => {
    const store = await createPseudonymStore(undefined)
    const p = await store.create({ label: 'work' })
    assert.match(p.key, /^key_/)
    assert.deepEqual(decodeKey(p.key), p.signKey.publicKey.raw)
    assert.equal(p.signKey.type, 'Ed25519')
    assert.equal(p.label, 'work')
    assert.deepEqual(p.gateways, [])
    assert.ok(Math.abs(p.createdAt - Date.now()) < 10_000)
    assert.equal(p.boxPublicKey.byteLength, 32)
    assert.equal(p.boxSecretKey.byteLength, 32)

    const sealed = Buffer.alloc(5 + sodium.crypto_box_SEALBYTES)
    sodium.crypto_box_seal(sealed, Buffer.from('hello'), Buffer.from(p.boxPublicKey))
    const opened = Buffer.alloc(5)
    assert.ok(sodium.crypto_box_seal_open(opened, sealed, Buffer.from(p.boxPublicKey), Buffer.from(p.boxSecretKey)))
    assert.equal(opened.toString(), 'hello')

    const dhtKey = dhtKeyFor('x')
    const rec = await signRecord({ privateKey: p.signKey, dhtKey, seq: 1, expiresAt: Date.now() + 60_000, value: new Uint8Array([1]) })
    assert.equal(encodeKey((await verifyRecord(dhtKey, rec)).publisher), p.key)

    const q = await store.create()
    assert.equal(q.label, undefined)
    assert.notEqual(q.key, p.key)
    assert.notDeepEqual(q.boxPublicKey, p.boxPublicKey)
    assert.deepEqual(store.list().map((x) => x.key), [p.key, q.key])
    assert.equal(store.get(q.key), q)
    assert.equal(store.get('key_nope'), undefined)
  })

  it('persists to pseudonyms.json (mode 0600) and reloads the same keys', async () => {
    const dir = join(await tempDir(), 'data')
    const store = await createPseudonymStore(dir)
    const a = await store.create({ label: 'a' })
    const b = await store.create()
    const gws = await gatewayIds(2)
    await store.setGateways(a.key, gws)
    const path = join(dir, 'pseudonyms.json')
    assert.equal((await stat(path)).mode & 0o777, 0o600)
    assert.equal((await stat(dir)).mode & 0o777, 0o700)
    assert.deepEqual(await readdir(dir), ['pseudonyms.json'], 'no temporary file is left behind')
    const json = JSON.parse(await readFile(path, 'utf8')) as { version: number, pseudonyms: unknown[] }
    assert.equal(json.version, 1)
    assert.equal(json.pseudonyms.length, 2)

    const again = await createPseudonymStore(dir)
    const [a2, b2] = again.list()
    assert.equal(a2?.key, a.key)
    assert.ok(a2?.signKey.equals(a.signKey))
    assert.deepEqual(a2?.boxPublicKey, a.boxPublicKey)
    assert.deepEqual(a2?.boxSecretKey, a.boxSecretKey)
    assert.deepEqual(a2?.gateways, gws)
    assert.equal(a2?.label, 'a')
    assert.equal(a2?.createdAt, a.createdAt)
    assert.equal(b2?.key, b.key)
    assert.equal(b2?.label, undefined)
  })

  it('concurrent changes are all persisted', async () => {
    const dir = await tempDir()
    const store = await createPseudonymStore(dir)
    const made = await Promise.all(Array.from({ length: 8 }, async (_, i) => await store.create({ label: `p${i}` })))
    const again = await createPseudonymStore(dir)
    assert.deepEqual(again.list().map((p) => p.key).sort(), made.map((p) => p.key).sort())
  })

  it('is not derived from, and does not contain, the node\'s PeerId', async () => {
    const dir = await tempDir()
    const { privateKey } = await loadOrCreateTransportKey(dir)
    const store = await createPseudonymStore(dir)
    const p = await store.create()
    const transport = encodeKey(privateKey.publicKey.raw)
    const peerId = peerIdFromPrivateKey(privateKey).toString()
    assert.notEqual(p.key, transport)
    const text = await readFile(join(dir, 'pseudonyms.json'), 'utf8')
    assert.ok(!text.includes(peerId) && !text.includes(transport))
    assert.ok(!text.includes(Buffer.from(privateKey.publicKey.raw).toString('base64')))
  })

  it('setGateways validates its input and names unknown pseudonyms', async () => {
    const store = await createPseudonymStore(undefined)
    const p = await store.create()
    const [g1, g2, g3, g4] = await gatewayIds(4) as [string, string, string, string]
    await store.setGateways(p.key, [g1, g2, g3])
    assert.deepEqual(store.get(p.key)?.gateways, [g1, g2, g3])
    await assert.rejects(store.setGateways(p.key, [g1, g2, g3, g4]), expectCode('UMBRA_ERR_INVALID_OPTION'))
    await assert.rejects(store.setGateways(p.key, [g1, g1]), expectCode('UMBRA_ERR_INVALID_OPTION'))
    await assert.rejects(store.setGateways(p.key, ['not-a-peer-id']), expectCode('UMBRA_ERR_INVALID_OPTION'))
    const secp = peerIdFromPrivateKey(await generateKeyPair('secp256k1')).toString()
    await assert.rejects(store.setGateways(p.key, [secp]), expectCode('UMBRA_ERR_INVALID_OPTION'))
    await assert.rejects(store.setGateways('key_unknown', [g1]), expectCode('UMBRA_ERR_UNKNOWN_PSEUDONYM'))
    assert.deepEqual(store.get(p.key)?.gateways, [g1, g2, g3], 'a refused change leaves the pseudonym as it was')
    await store.setGateways(p.key, [])
    assert.deepEqual(store.get(p.key)?.gateways, [])
    await assert.rejects(store.create({ label: 'a\nb' }), expectCode('UMBRA_ERR_INVALID_OPTION'))
    await assert.rejects(store.create({ label: 'x'.repeat(129) }), expectCode('UMBRA_ERR_INVALID_OPTION'))
    assert.equal(store.list().length, 1)
  })

  it('refuses a damaged file with UMBRA_ERR_PSEUDONYM_FILE naming it, and never overwrites it', async () => {
    const dir = await tempDir()
    const store = await createPseudonymStore(dir)
    await store.create()
    const path = join(dir, 'pseudonyms.json')
    const good = await readFile(path, 'utf8')
    const entry = (JSON.parse(good) as { pseudonyms: Array<Record<string, unknown>> }).pseudonyms[0] as Record<string, unknown>
    const otherKey = encodeKey((await generateKeyPair('Ed25519')).publicKey.raw)
    const damaged = [
      good.slice(0, good.length / 2), // torn
      '',
      JSON.stringify({ version: 2, pseudonyms: [] }),
      JSON.stringify({ version: 1, pseudonyms: [{ ...entry, key: otherKey }] }),
      JSON.stringify({ version: 1, pseudonyms: [{ ...entry, boxSecretKey: Buffer.alloc(32, 1).toString('base64') }] }),
      JSON.stringify({ version: 1, pseudonyms: [{ ...entry, boxPublicKey: 'AAAA' }] }),
      JSON.stringify({ version: 1, pseudonyms: [{ ...entry, signKey: 'AAAA' }] }),
      JSON.stringify({ version: 1, pseudonyms: [entry, entry] }),
      JSON.stringify({ version: 1, pseudonyms: [null] })
    ]
    for (const text of damaged) {
      await writeFile(path, text)
      await assert.rejects(createPseudonymStore(dir), (err: Error & { code?: string }) => err.code === 'UMBRA_ERR_PSEUDONYM_FILE' && err.message.includes(path))
      assert.equal(await readFile(path, 'utf8'), text, 'the damaged file is left as it was')
    }
  })

  it('a failed write changes nothing in memory', async () => {
    const dir = await tempDir()
    const store = await createPseudonymStore(dir)
    await store.create()
    await rm(dir, { recursive: true })
    await writeFile(dir, 'a file where the directory was')
    await assert.rejects(store.create(), expectCode('UMBRA_ERR_PSEUDONYM_FILE'))
    assert.equal(store.list().length, 1)
  })

  it('memory-only stores write nothing', async () => {
    const store = await createPseudonymStore(undefined)
    await store.create()
    assert.equal(store.list().length, 1)
    assert.equal((await createPseudonymStore(undefined)).list().length, 0)
  })
})
