/**
 * The node's use of its data directory (issue 11, item 1), in process: one
 * live node per directory, and what it owns survives a stop and a new start.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { createNode } from '../../src/node/index.ts'
import { openStateDatabase } from '../../src/store/index.ts'
import type { DhtServiceHandle } from '../../src/dht/dht-service.ts'

const dirs: string[] = []
after(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }) })

const init = (dataDir: string): Parameters<typeof createNode>[0] => ({ dataDir, listen: ['/ip4/127.0.0.1/tcp/0'], nat: { stunPort: false, upnp: false } })

describe('a node with a data directory', { timeout: 60_000 }, () => {
  it('refuses a second live node on the directory, keeps its owned records across a restart, and frees the lock on stop', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'umbra-node-state-'))
    dirs.push(dir)
    const node = await createNode(init(dir))
    await node.start()
    try {
      const twin = await createNode(init(dir))
      await assert.rejects(twin.start(), { code: 'UMBRA_ERR_ALREADY_RUNNING' })
      await node.dht.put('owned-1', new TextEncoder().encode('one'))
      await node.dht.put('owned-2', new TextEncoder().encode('two'))
    } finally {
      await node.stop()
    }
    assert.equal((await stat(join(dir, 'umbra.db'))).mode & 0o777, 0o600)
    const state = openStateDatabase({ path: join(dir, 'umbra.db') })
    const rows = state.db.prepare('SELECT key FROM dht_owned ORDER BY key').all().map((r) => (r as { key: string }).key)
    state.close()
    assert.deepEqual(rows, ['owned-1', 'owned-2'])

    const again = await createNode(init(dir))
    const t0 = performance.now()
    await again.start()
    const startMs = performance.now() - t0
    try {
      // A lone node's re-publish reaches no peer but counts every owned record it sends: both came back from the database.
      assert.equal(await (again.dht as DhtServiceHandle).republish(), 2)
      const got = await again.dht.get('owned-1')
      assert.equal(new TextDecoder().decode(got?.value), 'one')
      assert.equal(got?.source, 'local')
    } finally {
      await again.stop()
    }
    t.diagnostic(`restart on the same directory: start() in ${Math.round(startMs)} ms`)
  })
})
