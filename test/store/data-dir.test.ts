import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { dataDirPaths, ensureDataDir, lockDataDir, writeFileSafely } from '../../src/store/index.ts'

const dirs: string[] = []
async function tempDir (): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'umbra-datadir-'))
  dirs.push(dir)
  return dir
}
after(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }) })

/** A child process that takes the lock of `dir`, prints `locked` and waits to be killed. */
function lockHolder (dir: string): Promise<{ pid: number, kill: (signal: NodeJS.Signals) => Promise<void> }> {
  const src = `import { lockDataDir } from ${JSON.stringify(new URL('../../src/store/data-dir.ts', import.meta.url).pathname)}
lockDataDir(${JSON.stringify(dir)}); process.stdout.write('locked\\n'); setInterval(() => {}, 1000)`
  const child = spawn(process.execPath, ['--input-type=module', '-e', src], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve() }))
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.stdout.once('data', () => {
      resolve({ pid: child.pid as number, kill: async (signal) => { child.kill(signal); await exited } })
    })
  })
}

describe('data directory', () => {
  it('lists every file under the directory', async () => {
    const p = dataDirPaths('/d')
    assert.equal(p.dir, '/d')
    assert.equal(p.state, '/d/umbra.db')
    assert.equal(p.lock, '/d/umbra.lock')
    assert.equal(p.identity, '/d/identity.key')
  })

  it('replaces a file atomically, mode 0600, and leaves no temporary file', async () => {
    const dir = join(await tempDir(), 'a', 'b')
    await ensureDataDir(dir)
    assert.equal((await stat(dir)).mode & 0o777, 0o700)
    const path = join(dir, 'api.json')
    assert.equal(await writeFileSafely(path, 'one\n'), true)
    assert.equal(await writeFileSafely(path, 'two\n'), true)
    assert.equal(await readFile(path, 'utf8'), 'two\n')
    assert.equal((await stat(path)).mode & 0o777, 0o600)
    assert.deepEqual(await readdir(dir), ['api.json'])
  })

  it('create-once never replaces an existing file', async () => {
    const dir = await tempDir()
    const path = join(dir, 'identity.key')
    await writeFile(path, 'original')
    assert.equal(await writeFileSafely(path, 'other', { replace: false }), false)
    assert.equal(await readFile(path, 'utf8'), 'original')
    assert.deepEqual(await readdir(dir), ['identity.key'])
    const fresh = join(dir, 'api-token')
    assert.equal(await writeFileSafely(fresh, new Uint8Array([1, 2]), { replace: false }), true)
    assert.deepEqual([...await readFile(fresh)], [1, 2])
  })

  it('the lock refuses a second holder in this process and frees on release', async () => {
    const dir = await tempDir()
    const lock = lockDataDir(dir)
    assert.throws(() => lockDataDir(dir), { code: 'UMBRA_ERR_ALREADY_RUNNING' })
    lock.release()
    lock.release()
    lockDataDir(dir).release()
  })

  it('the lock of a live process refuses; after its SIGKILL it is taken at once, before the parent reaps the child', async (t) => {
    const dir = await tempDir()
    const holder = await lockHolder(dir)
    assert.throws(() => lockDataDir(dir), { code: 'UMBRA_ERR_ALREADY_RUNNING' })
    const t0 = performance.now()
    process.kill(holder.pid, 'SIGKILL') // the exit event (reaping) is not awaited: the kernel frees the lock at exit
    let lock: ReturnType<typeof lockDataDir> | undefined
    let tries = 0
    while (lock == null && performance.now() - t0 < 5_000) {
      try { lock = lockDataDir(dir) } catch { tries++; await new Promise((resolve) => setImmediate(resolve)) }
    }
    const ms = performance.now() - t0
    assert.ok(lock != null, 'the lock was taken')
    lock.release()
    await holder.kill('SIGKILL')
    t.diagnostic(`lock taken ${ms.toFixed(1)} ms after SIGKILL of the holder (pid ${holder.pid}; ${tries} refused tries while it was dying)`)
    assert.ok(ms < 2_000, `took ${ms} ms`)
  })
})
