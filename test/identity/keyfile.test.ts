import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isSealed, loadOrCreateTransportKey, rekeyDataDir, setDataDirPassphrase } from '../../src/identity/index.ts'
import { createPseudonymStore } from '../../src/mixnet/pseudonym-store.ts'

const dirs: string[] = []
async function tempDir (): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'umbra-keyfile-'))
  dirs.push(dir)
  return dir
}
after(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }) })

const codeOf = async (p: Promise<unknown>): Promise<string> => await p.then(() => 'accepted', (err: { code?: string }) => err.code ?? String(err))

describe('encrypted key files (issue 14, item 4)', () => {
  it('a first start with a passphrase writes a sealed identity.key that opens with it only; wrong or missing passphrase: coded, bytes unchanged', async (t) => {
    const dir = await tempDir()
    setDataDirPassphrase(dir, 'correct horse')
    let started = performance.now()
    const { privateKey, created } = await loadOrCreateTransportKey(dir)
    const sealMs = performance.now() - started
    assert.equal(created, true)
    const path = join(dir, 'identity.key')
    const bytes = await readFile(path)
    assert.equal(isSealed(bytes.toString('utf8')), true)
    assert.ok(!bytes.toString('utf8').includes(Buffer.from(privateKey.raw).toString('base64')))

    setDataDirPassphrase(dir, 'wrong horse')
    started = performance.now()
    assert.equal(await codeOf(loadOrCreateTransportKey(dir)), 'UMBRA_ERR_BAD_PASSPHRASE')
    const openMs = performance.now() - started
    setDataDirPassphrase(dir, undefined)
    assert.equal(await codeOf(loadOrCreateTransportKey(dir)), 'UMBRA_ERR_PASSPHRASE_REQUIRED')
    assert.deepEqual(await readFile(path), bytes)

    setDataDirPassphrase(dir, 'correct horse')
    const again = await loadOrCreateTransportKey(dir)
    assert.equal(again.created, false)
    assert.ok(again.privateKey.equals(privateKey))
    setDataDirPassphrase(dir, undefined)
    t.diagnostic(`Argon2id INTERACTIVE (2 passes, 64 MiB): create+seal ${sealMs.toFixed(0)} ms, a wrong passphrase refused in ${openMs.toFixed(0)} ms`)
  })

  it('set, change and remove rewrite identity.key and pseudonyms.json; a wrong current passphrase changes no byte', async () => {
    const dir = await tempDir()
    const { privateKey } = await loadOrCreateTransportKey(dir)
    const store = await createPseudonymStore(dir)
    const p = await store.create()
    const plainId = await readFile(join(dir, 'identity.key'))
    assert.equal(await codeOf(rekeyDataDir(dir, 'nope', 'x')), 'UMBRA_ERR_IDENTITY_FILE') // not encrypted yet
    assert.equal((await rekeyDataDir(dir, undefined, 'one')).length, 2)
    const sealed = [await readFile(join(dir, 'identity.key')), await readFile(join(dir, 'pseudonyms.json'))]
    assert.ok(sealed.every((b) => isSealed(b.toString('utf8'))))
    assert.equal(await codeOf(rekeyDataDir(dir, 'two', 'three')), 'UMBRA_ERR_BAD_PASSPHRASE')
    assert.equal(await codeOf(rekeyDataDir(dir, undefined, 'three')), 'UMBRA_ERR_PASSPHRASE_REQUIRED')
    assert.deepEqual([await readFile(join(dir, 'identity.key')), await readFile(join(dir, 'pseudonyms.json'))], sealed)

    await rekeyDataDir(dir, 'one', 'two')
    setDataDirPassphrase(dir, 'two')
    assert.ok((await loadOrCreateTransportKey(dir)).privateKey.equals(privateKey))
    const reopened = await createPseudonymStore(dir)
    assert.equal(reopened.get(p.key)?.key, p.key)
    // A new pseudonym is written sealed under the directory's passphrase.
    await reopened.create()
    assert.equal(isSealed(await readFile(join(dir, 'pseudonyms.json'), 'utf8')), true)
    setDataDirPassphrase(dir, undefined)

    await rekeyDataDir(dir, 'two', undefined)
    assert.deepEqual(await readFile(join(dir, 'identity.key')), plainId)
    assert.equal((await createPseudonymStore(dir)).list().length, 2)
  })

  it('a damaged sealed file is refused with a code and left alone', async () => {
    const dir = await tempDir()
    await writeFile(join(dir, 'identity.key'), JSON.stringify({ umbraSealed: 1, kdf: 'argon2id13', opslimit: 2, memlimit: 2 ** 40, salt: '', nonce: '', box: '' }))
    const before = await readFile(join(dir, 'identity.key'))
    setDataDirPassphrase(dir, 'x')
    assert.equal(await codeOf(loadOrCreateTransportKey(dir)), 'UMBRA_ERR_IDENTITY_FILE')
    setDataDirPassphrase(dir, undefined)
    assert.deepEqual(await readFile(join(dir, 'identity.key')), before)
  })
})
