import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { loadOrCreateApiToken, loadOrCreateTransportKey, resolveDataDir } from '../../src/identity/index.ts'
import { createNode } from '../../src/node/index.ts'

const dirs: string[] = []
async function tempDir (): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'umbra-id-'))
  dirs.push(d)
  return d
}
after(async () => { await Promise.all(dirs.map(async (d) => await rm(d, { recursive: true, force: true }))) })

describe('identity files', () => {
  it('creates the key at first start with mode 0600 and loads the same key afterwards', async () => {
    const dir = join(await tempDir(), 'nested', 'data')
    const first = await loadOrCreateTransportKey(dir)
    assert.equal(first.created, true)
    assert.equal((await stat(join(dir, 'identity.key'))).mode & 0o777, 0o600)
    assert.equal((await stat(dir)).mode & 0o777, 0o700)
    const second = await loadOrCreateTransportKey(dir)
    assert.equal(second.created, false)
    assert.ok(second.privateKey.equals(first.privateKey))
  })

  it('keeps the same PeerId across node restarts', async () => {
    const dir = await tempDir()
    const a = await createNode({ dataDir: dir, listen: ['/ip4/127.0.0.1/tcp/0'] })
    await a.start()
    const id = a.peerId
    await a.stop()
    const b = await createNode({ dataDir: dir, listen: ['/ip4/127.0.0.1/tcp/0'] })
    await b.start()
    assert.equal(b.peerId, id)
    await b.stop()
  })

  for (const [name, content] of [
    ['truncated', '{"version":1,"type":"Ed25519","privateKey":"CAESQ'],
    ['empty', ''],
    ['wrong type', '{"version":1,"type":"RSA","privateKey":"AAAA"}'],
    ['damaged key bytes', '{"version":1,"type":"Ed25519","privateKey":"AAAA"}']
  ] as const) {
    it(`stops start-up on a ${name} key file and never overwrites it`, async () => {
      const dir = await tempDir()
      const path = join(dir, 'identity.key')
      await writeFile(path, content, { mode: 0o600 })
      await assert.rejects(loadOrCreateTransportKey(dir), (err: Error & { code: string }) => {
        assert.equal(err.code, 'UMBRA_ERR_IDENTITY_FILE')
        assert.match(err.message, /identity\.key/)
        return true
      })
      const node = await createNode({ dataDir: dir })
      await assert.rejects(node.start(), { code: 'UMBRA_ERR_IDENTITY_FILE' })
      assert.equal(await readFile(path, 'utf8'), content)
    })
  }

  it('creates an API token once (0600) and rejects a malformed token file', async () => {
    const dir = await tempDir()
    const token = await loadOrCreateApiToken(dir)
    assert.match(token, /^[A-Za-z0-9_-]{43}$/)
    assert.equal(await loadOrCreateApiToken(dir), token)
    assert.equal((await stat(join(dir, 'api-token'))).mode & 0o777, 0o600)
    const bad = await tempDir()
    await writeFile(join(bad, 'api-token'), 'x\n')
    await assert.rejects(loadOrCreateApiToken(bad), { code: 'UMBRA_ERR_IDENTITY_FILE' })
  })

  it('resolves the data directory from the argument, then UMBRA_HOME', () => {
    const saved = process.env.UMBRA_HOME
    try {
      process.env.UMBRA_HOME = '/tmp/umbra-home-test'
      assert.equal(resolveDataDir(), '/tmp/umbra-home-test')
      assert.equal(resolveDataDir('/tmp/explicit'), '/tmp/explicit')
    } finally {
      if (saved == null) delete process.env.UMBRA_HOME
      else process.env.UMBRA_HOME = saved
    }
  })
})
