import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
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
function expectCode (code: string): (err: unknown) => boolean {
  return (err) => (err as { code?: string }).code === code
}

describe('mailbox store', () => {
  it('refuses the 101st distinct message, but not a fragment of a message it holds', async () => {
    const store = openMailboxStore({ path: join(await tempDir(), 'm.db') })
    for (let i = 0; i < 100; i++) assert.equal(store.put(mailboxA, msgId(i), bytes(10)).ok, true)
    assert.deepEqual(store.put(mailboxA, msgId(100), bytes(10)), { ok: false, reason: 'messages' })
    assert.equal(store.put(mailboxA, msgId(42), bytes(10)).ok, true, 'a second fragment of message 42 is not a new message')
    assert.deepEqual(store.usage(mailboxA), { messages: 100, bytes: 1010 })
    assert.equal(store.put(mailboxB, msgId(100), bytes(10)).ok, true, 'quotas are per mailbox')
    assert.equal(store.list(mailboxA).length, 101, 'nothing was dropped')
    store.close()
  })

  it('refuses a put past 1 MB (1,000,000 bytes) and keeps what it holds', async () => {
    const store = openMailboxStore({ path: ':memory:' })
    assert.equal(store.put(mailboxA, msgId(1), bytes(600_000)).ok, true)
    assert.equal(store.put(mailboxA, msgId(1), bytes(399_999)).ok, true, 'fragments of the same message add bytes')
    assert.deepEqual(store.usage(mailboxA), { messages: 1, bytes: 999_999 })
    assert.deepEqual(store.put(mailboxA, msgId(1), bytes(2)), { ok: false, reason: 'bytes' })
    assert.deepEqual(store.put(mailboxA, msgId(2), bytes(2)), { ok: false, reason: 'bytes' })
    assert.equal(store.put(mailboxA, msgId(2), bytes(1)).ok, true, 'exactly 1,000,000 bytes fits')
    assert.deepEqual(store.put(mailboxB, msgId(3), bytes(1_000_001)), { ok: false, reason: 'bytes' })
    assert.deepEqual(store.usage(mailboxA), { messages: 2, bytes: 1_000_000 })
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
    assert.deepEqual(store.usage(mailboxA), { messages: 1, bytes: 100 })
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
      () => openMailboxStore({ path: ':memory:', ttlMs: 0 }),
      () => openMailboxStore({ path: ':memory:', maxMessages: -1 }),
      () => openMailboxStore({ path: ':memory:', maxBytes: Number.NaN }),
      () => openMailboxStore({ path: '' })
    ]
    for (const f of bad) assert.throws(f, expectCode('UMBRA_ERR_INVALID_OPTION'))
    assert.deepEqual(store.usage(mailboxA), { messages: 1, bytes: 5 })
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
