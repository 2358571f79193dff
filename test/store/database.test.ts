import assert from 'node:assert/strict'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { openStateDatabase, STATE_DB_FILE } from '../../src/store/index.ts'

describe('state database (node:sqlite, one per data directory)', () => {
  let dir: string
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'umbra-statedb-')) })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  it('creates the file with mode 0600 in WAL mode and keeps rows across a reopen', async () => {
    const path = join(dir, STATE_DB_FILE)
    const a = openStateDatabase({ path })
    a.migrate('notes', ['CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL) STRICT'])
    a.db.prepare('INSERT INTO notes (body) VALUES (?)').run('kept')
    assert.equal((a.db.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode, 'wal')
    a.close()
    a.close()
    assert.equal((await stat(path)).mode & 0o777, 0o600)
    const b = openStateDatabase({ path })
    assert.equal(b.version('notes'), 1)
    assert.deepEqual(b.db.prepare('SELECT body FROM notes').all().map((r) => (r as { body: string }).body), ['kept'])
    b.close()
  })

  it('runs only the new migration steps, per component; a failing step is rolled back and reported', () => {
    const path = join(dir, 'migrate.db')
    const v1 = ['CREATE TABLE a (x INTEGER) STRICT']
    const v2 = [...v1, 'ALTER TABLE a ADD COLUMN y INTEGER']
    const db = openStateDatabase({ path })
    assert.equal(db.migrate('a', v1), 1)
    assert.equal(db.migrate('a', v1), 1, 'a second run of the same steps does nothing')
    assert.equal(db.migrate('a', v2), 2)
    assert.equal(db.migrate('b', ['CREATE TABLE b (x INTEGER) STRICT']), 1)
    assert.throws(() => db.migrate('b', ['CREATE TABLE b (x INTEGER) STRICT', 'CREATE TABLE b2 (x INTEGER) STRICT; INSERT INTO nowhere VALUES (1)']), { code: 'UMBRA_ERR_STATE_DB' })
    assert.equal(db.version('b'), 1, 'the failed step left the version where it was')
    assert.equal(db.db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'b2'").get()?.n, 0, 'and its table was rolled back')
    assert.throws(() => db.migrate('a', v1), { code: 'UMBRA_ERR_STATE_DB' }, 'a database at a newer version is refused')
    assert.throws(() => db.migrate('Bad Name', v1), { code: 'UMBRA_ERR_INVALID_OPTION' })
    db.close()
  })

  it('refuses a file that is not a database with UMBRA_ERR_STATE_DB and leaves it untouched', async () => {
    const { writeFile, readFile } = await import('node:fs/promises')
    const path = join(dir, 'garbage.db')
    await writeFile(path, 'not a database at all, just some text that is long enough to look like a header'.repeat(4))
    const before = await readFile(path)
    assert.throws(() => openStateDatabase({ path }), { code: 'UMBRA_ERR_STATE_DB' })
    assert.deepEqual(await readFile(path), before)
  })

  it('transaction() commits on return and rolls back on throw', () => {
    const db = openStateDatabase({ path: ':memory:' })
    db.migrate('t', ['CREATE TABLE t (x INTEGER) STRICT'])
    db.transaction(() => db.db.prepare('INSERT INTO t VALUES (1)').run())
    assert.throws(() => db.transaction(() => { db.db.prepare('INSERT INTO t VALUES (2)').run(); throw new Error('boom') }), /boom/)
    assert.deepEqual(db.db.prepare('SELECT x FROM t').all().map((r) => (r as { x: number }).x), [1])
    db.close()
  })
})
