import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { after, describe, it } from 'node:test'
import { importLegacyClaims } from '../../src/mixnet/gateway.ts'
import { logger } from '../../src/logger.ts'
import { openStateDatabase } from '../../src/store/index.ts'

const dirs: string[] = []
after(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }) })

describe('gateway claims in the state database', () => {
  for (const withClient of [false, true]) {
    it(`imports a gateway.db from before issue 11 (${withClient ? 'with' : 'without'} the client column) once, then renames it`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'umbra-gwstate-'))
      dirs.push(dir)
      const legacy = new DatabaseSync(join(dir, 'gateway.db'))
      legacy.exec('PRAGMA journal_mode = WAL')
      legacy.exec('CREATE TABLE claims (mailbox BLOB PRIMARY KEY, contact BLOB, claimed_at INTEGER NOT NULL)')
      if (withClient) legacy.exec("ALTER TABLE claims ADD COLUMN client TEXT NOT NULL DEFAULT ''")
      legacy.prepare(`INSERT INTO claims (mailbox, contact, claimed_at${withClient ? ', client' : ''}) VALUES (?, ?, ?${withClient ? ', ?' : ''})`)
        .run(...[new Uint8Array([1, 2]), new Uint8Array([9]), 1234, ...(withClient ? ['12D3KooWClient'] : [])])
      legacy.prepare('INSERT INTO claims (mailbox, contact, claimed_at) VALUES (?, NULL, ?)').run(new Uint8Array([3]), 99)
      legacy.close()

      const state = openStateDatabase({ path: join(dir, 'umbra.db') })
      state.migrate('gateway', ["CREATE TABLE gateway_claims (mailbox BLOB PRIMARY KEY, contact BLOB, claimed_at INTEGER NOT NULL, client TEXT NOT NULL DEFAULT '') STRICT"])
      importLegacyClaims(state, join(dir, 'gateway.db'), logger('test'))
      const rows = state.db.prepare('SELECT hex(mailbox) AS m, CASE WHEN contact IS NULL THEN NULL ELSE hex(contact) END AS c, claimed_at AS t, client FROM gateway_claims ORDER BY m').all()
      assert.deepEqual(rows.map((r) => ({ ...r })), [
        { m: '0102', c: '09', t: 1234, client: withClient ? '12D3KooWClient' : '' },
        { m: '03', c: null, t: 99, client: '' }
      ])
      assert.equal(existsSync(join(dir, 'gateway.db')), false)
      assert.equal(existsSync(join(dir, 'gateway.db.imported')), true)
      importLegacyClaims(state, join(dir, 'gateway.db'), logger('test')) // nothing left to import
      assert.equal((state.db.prepare('SELECT count(*) AS n FROM gateway_claims').get() as { n: number }).n, 2)
      state.close()
    })
  }
})
