import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { openMixState, REPLAY_FLUSH_INTERVAL_MS } from '../../src/mixnet/mix-state.ts'
import { createOnionKeys } from '../../src/mixnet/onion-keys.ts'
import { createReplayFilter } from '../../src/mixnet/replay-filter.ts'
import { openStateDatabase } from '../../src/store/index.ts'

const HOUR = 3_600_000
const dirs: string[] = []
after(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }) })

async function dbPath (): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'umbra-mixstate-'))
  dirs.push(dir)
  return join(dir, 'umbra.db')
}

const tag = (i: number): Uint8Array => { const t = new Uint8Array(16); new DataView(t.buffer).setUint32(0, i * 2654435761 >>> 0); t[8] = i & 0xff; return t }

describe('a relay\'s durable state (onion keys, replay tags)', () => {
  it('a reopened relay has the same onion keys; keys leaving the window are removed from the database', async () => {
    const path = await dbPath()
    let t = 100 * HOUR + 1000
    const now = (): number => t
    let state = openStateDatabase({ path })
    const first = createOnionKeys({ now, store: openMixState(state).onionKeys })
    const before = first.published()
    const secretsBefore = first.secrets().map((s) => Buffer.from(s.secret).toString('hex'))
    state.close() // a crash: nothing else is written

    state = openStateDatabase({ path })
    const again = createOnionKeys({ now, store: openMixState(state).onionKeys })
    assert.deepEqual(again.published(), before)
    assert.deepEqual(again.secrets().map((s) => Buffer.from(s.secret).toString('hex')), secretsBefore)
    // Two epochs later (past the grace period) both old keys are dropped, in memory and on disk.
    t = 102 * HOUR + 600_000
    again.tick()
    const rows = state.db.prepare('SELECT epoch FROM mix_onion_key ORDER BY epoch').all().map((r) => (r as { epoch: number }).epoch)
    assert.deepEqual(rows, [102, 103])
    state.close()
  })

  it('a restarted relay restored within the grace period still accepts the previous epoch\'s key', async () => {
    const path = await dbPath()
    let t = 100 * HOUR + 1000
    const now = (): number => t
    let state = openStateDatabase({ path })
    const keys = createOnionKeys({ now, graceMs: 300_000, store: openMixState(state).onionKeys })
    const e101 = keys.published()[1]
    state.close()
    t = 101 * HOUR + 1000 // epoch 101, inside the grace of 100
    state = openStateDatabase({ path })
    const again = createOnionKeys({ now, graceMs: 300_000, store: openMixState(state).onionKeys })
    assert.deepEqual(again.secrets().map((s) => s.epoch), [100, 101, 102])
    assert.deepEqual(again.published()[0], e101)
    state.close()
  })

  it('a reopened replay filter refuses the tags seen before (batched writes), per epoch', async (t) => {
    const path = await dbPath()
    let state = openStateDatabase({ path })
    let mix = openMixState(state)
    const filter = createReplayFilter({ store: mix.replayTags })
    const n = 20_000
    const t0 = performance.now()
    for (let i = 0; i < n; i++) assert.equal(filter.seen(7, tag(i)), false)
    const seenMs = performance.now() - t0
    const memory = createReplayFilter()
    const tm = performance.now()
    for (let i = 0; i < n; i++) memory.seen(7, tag(i))
    const memoryMs = performance.now() - tm
    await new Promise((resolve) => setTimeout(resolve, REPLAY_FLUSH_INTERVAL_MS * 4))
    assert.equal(filter.seen(8, tag(n)), false)
    const t1 = performance.now()
    mix.close()
    const flushMs = performance.now() - t1
    state.close()

    state = openStateDatabase({ path })
    mix = openMixState(state)
    const t2 = performance.now()
    const reopened = createReplayFilter({ store: mix.replayTags })
    const loadMs = performance.now() - t2
    assert.equal(reopened.size(), n + 1)
    for (let i = 0; i < n; i += 997) assert.equal(reopened.seen(7, tag(i)), true, `tag ${i} is a replay`)
    assert.equal(reopened.seen(8, tag(n)), true)
    assert.equal(reopened.seen(7, tag(n + 1)), false, 'a new tag is not')
    reopened.dropBefore(8)
    mix.close()
    assert.equal((state.db.prepare('SELECT count(*) AS n FROM mix_replay WHERE epoch = 7').get() as { n: number }).n, 0)
    assert.equal((state.db.prepare('SELECT count(*) AS n FROM mix_replay_log WHERE epoch = 7').get() as { n: number }).n, 0)
    assert.ok((state.db.prepare('SELECT count(*) AS n FROM mix_replay_log WHERE epoch = 8').get() as { n: number }).n > 0)
    state.close()
    t.diagnostic(`${n} tags: seen() ${(n / seenMs * 1000).toFixed(0)}/s with persistence (batched), ${(n / memoryMs * 1000).toFixed(0)}/s in memory only; final flush ${flushMs.toFixed(1)} ms, reload ${loadMs.toFixed(1)} ms`)
  })
})
