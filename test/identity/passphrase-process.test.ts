/**
 * Encrypted key files over real `umbra start` processes (issue 14, item 4,
 * "Must show"): a start with the right passphrase works; a wrong one, or
 * none, stops start-up with its code and identity.key keeps every byte.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, stopAllAndClean, UmbraProcess } from '../mixnet/process-helpers.ts'
import { umbra } from '../cli/helpers.ts'
import { isSealed } from '../../src/identity/index.ts'

describe('passphrase-protected key files over processes (issue 14, item 4)', { timeout: 90_000 }, () => {
  let dir: string
  let dataDir: string
  const nodes: UmbraProcess[] = []
  const files: Record<string, string> = {}

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'umbra-passphrase-'))
    dataDir = join(dir, 'node')
    for (const [name, text] of Object.entries({ right: 'correct horse battery\n', wrong: 'correct horse battery staple\n', next: 'a new one\n' })) {
      files[name] = join(dir, name)
      await writeFile(files[name], text, { mode: 0o600 })
    }
  })
  after(async () => { await stopAllAndClean(nodes, dir) })

  async function node (args: string[]): Promise<UmbraProcess> {
    const p = new UmbraProcess({ name: `node-${nodes.length + 1}`, dataDir, role: 'server', port: await freePort(), preset: 'none', extraArgs: args })
    nodes.push(p)
    return p
  }

  it('right passphrase starts; wrong or missing is refused with its code and the file keeps its bytes', async (t) => {
    const first = await node(['--passphrase-file', files.right!])
    let started = performance.now()
    const { key } = await first.start([])
    const firstStartMs = performance.now() - started
    await first.stop('SIGTERM')
    const path = join(dataDir, 'identity.key')
    const bytes = await readFile(path)
    assert.equal(isSealed(bytes.toString('utf8')), true)

    const wrong = await node(['--passphrase-file', files.wrong!])
    await assert.rejects(wrong.start([], 30_000), /UMBRA_ERR_BAD_PASSPHRASE/)
    assert.deepEqual(await readFile(path), bytes)
    const none = await node([])
    await assert.rejects(none.start([], 30_000), /UMBRA_ERR_PASSPHRASE_REQUIRED/)
    assert.deepEqual(await readFile(path), bytes)

    const again = await node(['--passphrase-file', files.right!])
    started = performance.now()
    assert.equal((await again.start([])).key, key)
    const restartMs = performance.now() - started
    await again.stop('SIGTERM')
    assert.deepEqual(await readFile(path), bytes)
    t.diagnostic(`first start (creates and seals identity.key) ${firstStartMs.toFixed(0)} ms, restart with the passphrase ${restartMs.toFixed(0)} ms`)
  })

  it('umbra passphrase change: a wrong current passphrase exits 1 and changes nothing; the right one re-seals', async () => {
    const path = join(dataDir, 'identity.key')
    const bytes = await readFile(path)
    const bad = await umbra(['passphrase', 'change', '--data-dir', dataDir, '--passphrase-file', files.wrong!, '--new-passphrase-file', files.next!])
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /UMBRA_ERR_BAD_PASSPHRASE/)
    assert.deepEqual(await readFile(path), bytes)
    const ok = await umbra(['passphrase', 'change', '--data-dir', dataDir, '--passphrase-file', files.right!, '--new-passphrase-file', files.next!])
    assert.equal(ok.code, 0, ok.stderr)
    assert.notDeepEqual(await readFile(path), bytes)
    const off = await umbra(['passphrase', 'remove', '--data-dir', dataDir, '--passphrase-file', files.next!])
    assert.equal(off.code, 0, off.stderr)
    assert.equal(isSealed(await readFile(path, 'utf8')), false)
  })
})
