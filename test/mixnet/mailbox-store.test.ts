import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { DatabaseSync } from 'node:sqlite'
import { fileURLToPath } from 'node:url'
import { openMailboxStore } from '../../src/mixnet/mailbox-store.ts'
import type { MailboxStore } from '../../src/mixnet/mailbox-store.ts'

const HOUR = 3_600_000
const NODE = fileURLToPath(new URL('../../node_modules/.bin/node', import.meta.url))
const WRITER = fileURLToPath(new URL('./fixtures/mailbox-writer.ts', import.meta.url))

const dirs: string[] = []
async function tempDir (): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'umbra-mailbox-'))
  dirs.push(d)
  return d
}
after(async () => { await Promise.all(dirs.map(async (d) => await rm(d, { recursive: true, force: true }))) })

const mailboxA = new Uint8Array(32).fill(0xa)
const mailboxB = new Uint8Array(32).fill(0xb)
function msgId (n: number): Uint8Array {
  const id = new Uint8Array(16)
  new DataView(id.buffer).setUint32(12, n)
  return id
}
function bytes (n: number, fill = 1): Uint8Array { return new Uint8Array(n).fill(fill) }
/** usage() of a mailbox holding only complete messages. */
function full (messages: number, bytes: number): unknown {
  return { messages, bytes, incomplete: { messages: 0, bytes: 0 } }
}
function expectCode (code: string): (err: unknown) => boolean {
  return (err) => (err as { code?: string }).code === code
}

describe('mailbox store', () => {
  it('refuses the 101st distinct message, but not a fragment of a message it holds', async () => {
    const store = openMailboxStore({ path: join(await tempDir(), 'm.db') })
    for (let i = 0; i < 100; i++) assert.equal(store.put(mailboxA, msgId(i), bytes(10)).ok, true)
    assert.deepEqual(store.put(mailboxA, msgId(100), bytes(10)), { ok: false, reason: 'messages' })
    assert.equal(store.put(mailboxA, msgId(42), bytes(10)).ok, true, 'a second fragment of message 42 is not a new message')
    assert.deepEqual(store.usage(mailboxA), full(100, 1010))
    assert.equal(store.put(mailboxB, msgId(100), bytes(10)).ok, true, 'quotas are per mailbox')
    assert.equal(store.list(mailboxA).length, 101, 'nothing was dropped')
    store.close()
  })

  it('refuses a put past 1 MB (1,000,000 bytes) and keeps what it holds', async () => {
    const store = openMailboxStore({ path: ':memory:' })
    assert.equal(store.put(mailboxA, msgId(1), bytes(600_000)).ok, true)
    assert.equal(store.put(mailboxA, msgId(1), bytes(399_999)).ok, true, 'fragments of the same message add bytes')
    assert.deepEqual(store.usage(mailboxA), full(1, 999_999))
    assert.deepEqual(store.put(mailboxA, msgId(1), bytes(2)), { ok: false, reason: 'bytes' })
    assert.deepEqual(store.put(mailboxA, msgId(2), bytes(2)), { ok: false, reason: 'bytes' })
    assert.equal(store.put(mailboxA, msgId(2), bytes(1)).ok, true, 'exactly 1,000,000 bytes fits')
    assert.deepEqual(store.put(mailboxB, msgId(3), bytes(1_000_001)), { ok: false, reason: 'bytes' })
    assert.deepEqual(store.usage(mailboxA), full(2, 1_000_000))
    store.delete(mailboxA, [store.list(mailboxA)[0]?.id ?? 0])
    assert.equal(store.put(mailboxA, msgId(3), bytes(600_000)).ok, true, 'deleting frees quota')
    store.close()
  })

  it('lists oldest first, deletes by id only within the mailbox, and never reuses ids', async () => {
    let t = 1_000_000
    const store = openMailboxStore({ path: join(await tempDir(), 'm.db'), now: () => t })
    const ids: number[] = []
    for (let i = 0; i < 5; i++) {
      const r = store.put(mailboxA, msgId(i), bytes(3, i))
      assert.ok(r.ok)
      ids.push(r.id)
      t += 10
    }
    const other = store.put(mailboxB, msgId(9), bytes(3))
    assert.ok(other.ok)
    const listed = store.list(mailboxA)
    assert.deepEqual(listed.map((e) => e.id), ids)
    assert.deepEqual(listed.map((e) => e.storedAt), [1_000_000, 1_000_010, 1_000_020, 1_000_030, 1_000_040])
    assert.deepEqual(listed[3]?.messageId, msgId(3))
    assert.deepEqual(listed[3]?.data, bytes(3, 3))
    assert.deepEqual(store.list(mailboxA, 2).map((e) => e.id), ids.slice(0, 2))

    assert.equal(store.delete(mailboxA, [other.id]), 0, 'a row of another mailbox is not deleted')
    assert.equal(store.list(mailboxB).length, 1)
    assert.equal(store.delete(mailboxA, [ids[4] as number, ids[1] as number, ids[1] as number, 999_999]), 2)
    assert.deepEqual(store.list(mailboxA).map((e) => e.id), [ids[0], ids[2], ids[3]])
    assert.equal(store.delete(mailboxA, []), 0)
    const next = store.put(mailboxA, msgId(7), bytes(1))
    assert.ok(next.ok)
    assert.ok(next.id > other.id, 'a deleted id is never handed out again')
    store.close()
  })

  it('expires rows after the TTL (72 h by default) on the injected clock', async () => {
    let t = 5 * HOUR
    const store = openMailboxStore({ path: join(await tempDir(), 'm.db'), now: () => t })
    assert.ok(store.put(mailboxA, msgId(1), bytes(100)).ok)
    t += 1 * HOUR
    assert.ok(store.put(mailboxA, msgId(2), bytes(100)).ok)
    assert.ok(store.put(mailboxB, msgId(3), bytes(100)).ok)
    t += 71 * HOUR - 1 // first row is 1 ms short of 72 h old
    assert.equal(store.list(mailboxA).length, 2)
    assert.equal(store.expire(), 0)
    t += 1
    assert.deepEqual(store.list(mailboxA).map((e) => e.messageId), [msgId(2)], 'an expired row is no longer listed')
    assert.deepEqual(store.usage(mailboxA), full(1, 100))
    assert.equal(store.expire(), 1)
    t += 1 * HOUR
    assert.equal(store.mailboxes().length, 0, 'no mailbox has unexpired rows')
    assert.equal(store.expire(), 2)
    store.close()
  })

  it('expired rows do not count against the quota', async () => {
    let t = 0
    const store = openMailboxStore({ path: ':memory:', ttlMs: 1000, maxMessages: 2, now: () => t })
    assert.ok(store.put(mailboxA, msgId(1), bytes(1)).ok)
    assert.ok(store.put(mailboxA, msgId(2), bytes(1)).ok)
    assert.deepEqual(store.put(mailboxA, msgId(3), bytes(1)), { ok: false, reason: 'messages' })
    t = 1000
    assert.ok(store.put(mailboxA, msgId(3), bytes(1)).ok)
    store.close()
  })

  it('100 incomplete 2-fragment messages take 8 slots of their own budget; complete messages still fit 100', async (t) => {
    const store = openMailboxStore({ path: ':memory:' })
    let stored = 0
    const refused: string[] = []
    for (let i = 0; i < 100; i++) {
      const r = store.put(mailboxA, msgId(i), bytes(2611), { index: 0, total: 2 })
      if (r.ok) stored++
      else refused.push(r.reason)
    }
    assert.equal(stored, 8, 'the incomplete budget holds 8 messages')
    assert.deepEqual(new Set(refused), new Set(['incomplete']))
    let complete = 0
    for (let i = 1000; i < 1100; i++) if (store.put(mailboxA, msgId(i), bytes(300)).ok) complete++
    t.diagnostic(`incomplete 2-fragment messages stored: ${stored}/100; then 1-fragment messages stored: ${complete}/100`)
    assert.equal(complete, 100, 'the complete budget is untouched by incomplete messages')
    assert.deepEqual(store.usage(mailboxA), { messages: 100, bytes: 30_000, incomplete: { messages: 8, bytes: 8 * 2611 } })
    assert.deepEqual(store.put(mailboxA, msgId(2000), bytes(1)), { ok: false, reason: 'messages' }, 'the 101st complete message is refused as before')
    assert.deepEqual(store.put(mailboxA, msgId(2001), bytes(1), { index: 0, total: 2 }), { ok: false, reason: 'messages' }, 'a new multi-fragment message too: it could never complete')
    store.close()
  })

  it('a message moves from the incomplete to the complete budget when its last index arrives', async () => {
    const store = openMailboxStore({ path: ':memory:', maxIncompleteMessages: 1 })
    assert.ok(store.put(mailboxA, msgId(1), bytes(10), { index: 2, total: 3 }).ok)
    assert.ok(store.put(mailboxA, msgId(1), bytes(10), { index: 2, total: 3 }).ok, 'a repeated index is stored (a retransmission) ...')
    assert.deepEqual(store.usage(mailboxA), { messages: 0, bytes: 0, incomplete: { messages: 1, bytes: 20 } })
    assert.ok(store.put(mailboxA, msgId(1), bytes(10), { index: 0, total: 3 }).ok)
    assert.deepEqual(store.usage(mailboxA).incomplete, { messages: 1, bytes: 30 }, '... but does not count as a second index')
    assert.deepEqual(store.put(mailboxA, msgId(2), bytes(10), { index: 0, total: 2 }), { ok: false, reason: 'incomplete' }, 'the incomplete budget (1 here) is full')
    assert.deepEqual(store.put(mailboxA, msgId(1), bytes(10), { index: 1, total: 4 }), { ok: false, reason: 'conflict' }, 'another total for a held message id')
    assert.ok(store.put(mailboxA, msgId(1), bytes(10), { index: 1, total: 3 }).ok)
    assert.deepEqual(store.usage(mailboxA), full(1, 40))
    assert.ok(store.put(mailboxA, msgId(2), bytes(10), { index: 0, total: 2 }).ok, 'the incomplete slot is free again')
    assert.ok(store.put(mailboxA, msgId(3), bytes(10), { index: 0, total: 1 }).ok, 'a 1-fragment message is complete at once')
    assert.deepEqual(store.usage(mailboxA), { messages: 2, bytes: 50, incomplete: { messages: 1, bytes: 10 } })
    assert.equal(store.list(mailboxA).length, 6)
    store.close()
  })

  it('incomplete messages expire 10 min after their last fragment, complete ones after 72 h (injected clock)', async () => {
    let t = 1_000_000
    const MIN = 60_000
    const store = openMailboxStore({ path: join(await tempDir(), 'm.db'), now: () => t })
    assert.ok(store.put(mailboxA, msgId(1), bytes(10), { index: 0, total: 3 }).ok)
    assert.ok(store.put(mailboxA, msgId(2), bytes(10)).ok)
    t += 5 * MIN
    assert.ok(store.put(mailboxA, msgId(1), bytes(10), { index: 1, total: 3 }).ok, 'a later fragment restarts the 10 min')
    t += 10 * MIN - 1
    assert.equal(store.list(mailboxA).length, 3)
    assert.equal(store.expire(), 0)
    t += 1
    assert.deepEqual(store.list(mailboxA).map((e) => e.messageId), [msgId(2)], 'the incomplete message is invisible at once')
    assert.deepEqual(store.usage(mailboxA), full(1, 10))
    assert.equal(store.expire(), 2, 'its two rows are deleted')
    assert.ok(store.put(mailboxA, msgId(1), bytes(10), { index: 2, total: 3 }).ok, 'a late fragment starts a new incomplete message')
    assert.deepEqual(store.usage(mailboxA).incomplete, { messages: 1, bytes: 10 })
    t += 72 * 60 * MIN - 15 * MIN
    assert.equal(store.mailboxes().length, 0, 'the complete message is 72 h old')
    assert.equal(store.expire(), 2)
    store.close()
  })

  it('the owner purges incomplete messages or everything, and deleting acknowledged rows frees both budgets', async () => {
    const store = openMailboxStore({ path: ':memory:', maxMessages: 3, maxIncompleteMessages: 2 })
    const ids: number[] = []
    for (let i = 0; i < 2; i++) {
      const r = store.put(mailboxA, msgId(i), bytes(10), { index: 0, total: 2 })
      assert.ok(r.ok)
      ids.push(r.id)
    }
    for (let i = 10; i < 13; i++) assert.ok(store.put(mailboxA, msgId(i), bytes(10)).ok)
    assert.ok(store.put(mailboxB, msgId(0), bytes(10), { index: 0, total: 2 }).ok)
    assert.deepEqual(store.put(mailboxA, msgId(5), bytes(10), { index: 0, total: 2 }), { ok: false, reason: 'messages' })
    assert.equal(store.delete(mailboxA, [ids[0] as number]), 1)
    assert.deepEqual(store.usage(mailboxA).incomplete, { messages: 1, bytes: 10 }, 'a deleted message leaves the budget')
    assert.equal(store.purge(mailboxA, { incompleteOnly: true }), 1)
    assert.deepEqual(store.usage(mailboxA), full(3, 30))
    assert.equal(store.purge(mailboxA), 3)
    assert.deepEqual(store.usage(mailboxA), full(0, 0))
    assert.equal(store.list(mailboxB).length, 1, 'another mailbox is untouched')
    assert.ok(store.put(mailboxA, msgId(5), bytes(10), { index: 0, total: 2 }).ok)
    assert.throws(() => store.purge(mailboxA, { incompleteOnly: 1 as unknown as boolean }), expectCode('UMBRA_ERR_INVALID_OPTION'))
    store.close()
  })

  it('random puts, deletes, purges and clock steps never exceed a budget and usage() always matches list()', async () => {
    let t = 0
    let seed = 12345
    const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n }
    const store = openMailboxStore({ path: ':memory:', maxMessages: 5, maxBytes: 400, maxIncompleteMessages: 3, maxIncompleteBytes: 200, ttlMs: 50_000, incompleteTtlMs: 5_000, now: () => t })
    const totals = new Map<number, number>()
    let ok = 0
    for (let step = 0; step < 3000; step++) {
      const op = rand(20)
      if (op < 14) {
        const m = rand(12)
        const total = totals.get(m) ?? 1 + rand(4)
        const r = store.put(mailboxA, msgId(m), bytes(1 + rand(60)), { index: rand(total), total })
        if (r.ok) { ok++; totals.set(m, total) }
      } else if (op < 17) {
        const rows = store.list(mailboxA)
        store.delete(mailboxA, rows.filter(() => rand(3) === 0).map((e) => e.id))
      } else if (op === 17) {
        store.purge(mailboxA, { incompleteOnly: rand(2) === 0 })
      } else {
        t += rand(3000)
        if (rand(4) === 0) store.expire()
      }
      const u = store.usage(mailboxA)
      const rows = store.list(mailboxA)
      if (rows.length === 0) totals.clear()
      assert.ok(u.messages <= 5 && u.bytes <= 400 && u.incomplete.messages <= 3 && u.incomplete.bytes <= 200, `step ${step}: ${JSON.stringify(u)}`)
      assert.equal(u.messages + u.incomplete.messages, new Set(rows.map((e) => Buffer.from(e.messageId).toString('hex'))).size, `step ${step}`)
      assert.equal(u.bytes + u.incomplete.bytes, rows.reduce((n, e) => n + e.data.byteLength, 0), `step ${step}`)
    }
    assert.ok(ok > 300, `enough puts were stored to exercise the budgets (${ok})`)
    store.close()
  })

  it('migrates a version 1 database in place: its rows count as complete messages', async () => {
    const path = join(await tempDir(), 'v1.db')
    const v1 = new DatabaseSync(path)
    v1.exec(`CREATE TABLE message (id INTEGER PRIMARY KEY AUTOINCREMENT, mailbox BLOB NOT NULL, message_id BLOB NOT NULL, data BLOB NOT NULL, stored_at INTEGER NOT NULL) STRICT;
      CREATE INDEX message_by_mailbox ON message (mailbox, id);
      CREATE INDEX message_by_message_id ON message (mailbox, message_id);
      CREATE INDEX message_by_time ON message (stored_at);
      PRAGMA user_version = 1;`)
    const insert = v1.prepare('INSERT INTO message (mailbox, message_id, data, stored_at) VALUES (?, ?, ?, ?)')
    const now = Date.now()
    insert.run(mailboxA, msgId(1), bytes(10), now - 1000)
    insert.run(mailboxA, msgId(1), bytes(20), now - 500)
    insert.run(mailboxA, msgId(2), bytes(30), now - 100)
    insert.run(mailboxB, msgId(3), bytes(40), now - 73 * HOUR)
    v1.close()
    const store = openMailboxStore({ path })
    assert.deepEqual(store.usage(mailboxA), full(2, 60))
    assert.deepEqual(store.list(mailboxA).map((e) => e.data.byteLength), [10, 20, 30])
    assert.equal(store.list(mailboxB).length, 0, 'a row older than 72 h is expired as before')
    assert.ok(store.put(mailboxA, msgId(4), bytes(10), { index: 0, total: 2 }).ok)
    assert.deepEqual(store.usage(mailboxA).incomplete, { messages: 1, bytes: 10 })
    store.close()
    const again = openMailboxStore({ path })
    assert.equal(again.list(mailboxA).length, 4, 'version 2 reopens as is')
    again.close()
  })

  it('lists the mailboxes that hold rows', async () => {
    const store = openMailboxStore({ path: ':memory:' })
    assert.deepEqual(store.mailboxes(), [])
    store.put(mailboxA, msgId(1), bytes(1))
    store.put(mailboxB, msgId(1), bytes(1))
    store.put(mailboxB, msgId(2), bytes(1))
    const got = store.mailboxes().map((m) => Buffer.from(m).toString('hex')).sort()
    assert.deepEqual(got, [mailboxA, mailboxB].map((m) => Buffer.from(m).toString('hex')).sort())
    store.close()
  })

  it('throws UMBRA_ERR_INVALID_OPTION on bad sizes and options, and the store stays intact', async () => {
    const path = join(await tempDir(), 'm.db')
    const store = openMailboxStore({ path })
    assert.ok(store.put(mailboxA, msgId(1), bytes(5)).ok)
    const bad: Array<() => unknown> = [
      () => store.put(new Uint8Array(31), msgId(1), bytes(1)),
      () => store.put(new Uint8Array(33), msgId(1), bytes(1)),
      () => store.put(mailboxA, new Uint8Array(15), bytes(1)),
      () => store.put(mailboxA, new Uint8Array(17), bytes(1)),
      () => store.put(mailboxA, msgId(1), new Uint8Array(0)),
      () => store.put(mailboxA, msgId(1), 'text' as unknown as Uint8Array),
      () => store.put('a'.repeat(32) as unknown as Uint8Array, msgId(1), bytes(1)),
      () => store.list(mailboxA, 0),
      () => store.list(mailboxA, 1.5),
      () => store.list(new Uint8Array(0)),
      () => store.delete(mailboxA, [0]),
      () => store.delete(mailboxA, [1.5]),
      () => store.delete(mailboxA, 'x' as unknown as number[]),
      () => store.usage(new Uint8Array(64)),
      () => store.put(mailboxA, msgId(1), bytes(1), { index: 2, total: 2 }),
      () => store.put(mailboxA, msgId(1), bytes(1), { index: 0, total: 0 }),
      () => store.put(mailboxA, msgId(1), bytes(1), { index: 0, total: 1025 }),
      () => store.put(mailboxA, msgId(1), bytes(1), { index: -1, total: 2 }),
      () => store.purge(new Uint8Array(3)),
      () => openMailboxStore({ path: ':memory:', incompleteTtlMs: 0 }),
      () => openMailboxStore({ path: ':memory:', maxIncompleteMessages: 1.5 }),
      () => openMailboxStore({ path: ':memory:', ttlMs: 0 }),
      () => openMailboxStore({ path: ':memory:', maxMessages: -1 }),
      () => openMailboxStore({ path: ':memory:', maxBytes: Number.NaN }),
      () => openMailboxStore({ path: '' })
    ]
    for (const f of bad) assert.throws(f, expectCode('UMBRA_ERR_INVALID_OPTION'))
    assert.deepEqual(store.usage(mailboxA), full(1, 5))
    store.close()
    store.close() // idempotent
    assert.throws(() => store.list(mailboxA), expectCode('UMBRA_ERR_MAILBOX_STORE'))
    assert.throws(() => store.put(mailboxA, msgId(2), bytes(1)), expectCode('UMBRA_ERR_MAILBOX_STORE'))
    const again = openMailboxStore({ path })
    assert.equal(again.list(mailboxA).length, 1)
    again.close()
  })

  it('refuses a damaged database file with UMBRA_ERR_MAILBOX_STORE and leaves it untouched', async () => {
    const path = join(await tempDir(), 'm.db')
    const junk = 'this is not a SQLite database, but it is somebody\'s file\n'.repeat(100)
    await writeFile(path, junk)
    assert.throws(() => openMailboxStore({ path }), (err: Error & { code?: string }) => err.code === 'UMBRA_ERR_MAILBOX_STORE' && err.message.includes(path))
    assert.equal((await stat(path)).size, junk.length)
  })

  it('creates the database with mode 0600 and keeps rows across a clean reopen', async () => {
    const path = join(await tempDir(), 'm.db')
    const store = openMailboxStore({ path })
    const r = store.put(mailboxA, msgId(1), bytes(7, 9))
    assert.ok(r.ok)
    assert.equal((await stat(path)).mode & 0o777, 0o600)
    assert.equal((await stat(`${path}-wal`)).mode & 0o777, 0o600)
    store.close()
    const again = openMailboxStore({ path })
    assert.deepEqual(again.list(mailboxA).map((e) => [e.id, e.data]), [[r.id, bytes(7, 9)]])
    again.close()
  })

  it('every row acknowledged before a SIGKILL is there after reopening', { timeout: 60_000 }, async () => {
    const path = join(await tempDir(), 'crash.db')
    const child = spawn(NODE, [WRITER, path], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const acked: Array<{ id: number, messageId: string }> = []
    let partial = ''
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => { resolve(signal) }))
    await new Promise<void>((resolve, reject) => {
      child.on('exit', () => { reject(new Error(`writer exited before it was killed: ${stderr}`)) })
      child.stdout.on('data', (d: Buffer) => {
        const lines = (partial + d.toString()).split('\n')
        partial = lines.pop() ?? ''
        for (const line of lines) {
          const [id, messageId] = line.split(' ')
          acked.push({ id: Number(id), messageId: messageId ?? '' })
        }
        // kill mid-stream, while puts are in flight
        if (acked.length >= 300 && child.exitCode == null && child.signalCode == null) {
          child.kill('SIGKILL')
          resolve()
        }
      })
    })
    assert.equal(await exited, 'SIGKILL')
    assert.ok(acked.length >= 300)

    const store: MailboxStore = openMailboxStore({ path, maxMessages: 1_000_000, maxBytes: 1_000_000_000 })
    const mailbox = new Uint8Array(32).fill(7)
    const rows = new Map(store.list(mailbox, 100_000).map((e) => [e.id, e]))
    for (const { id, messageId } of acked) {
      const row = rows.get(id)
      assert.ok(row != null, `acknowledged row ${id} is missing after the crash`)
      assert.equal(Buffer.from(row.messageId).toString('hex'), messageId)
      assert.equal(row.data.byteLength, 512)
    }
    assert.ok(rows.size >= acked.length)
    store.close()
  })
})
