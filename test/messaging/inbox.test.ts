import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { createInbox, type InboxHandle } from '../../src/messaging/inbox.ts'
import { openStateDatabase, STATE_DB_FILE, type StateDatabase } from '../../src/store/index.ts'
import type { ReceivedMessage } from '../../src/messaging/types.ts'

/** A direct message with id `n` as 32 hex characters. */
function direct (n: number, from = '12D3KooWSender'): ReceivedMessage {
  return { id: n.toString(16).padStart(32, '0'), from, fromKey: 'key_Sender', body: new TextEncoder().encode(`message ${n}`), sentAt: n, receivedAt: 1000 + n }
}

describe('durable inbox (issue 11: paging, delete, ack, survives reopen)', () => {
  let dir: string
  let state: StateDatabase
  let inbox: InboxHandle
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'umbra-inbox-'))
    state = openStateDatabase({ path: join(dir, STATE_DB_FILE) })
    inbox = createInbox({ state })
  })
  after(async () => {
    state.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('pages newest first with a cursor that new arrivals do not shift', () => {
    for (let n = 1; n <= 250; n++) assert.equal(inbox.addDirect(direct(n)), true)
    const first = inbox.list()
    assert.equal(first.messages.length, 100, 'default page is 100')
    assert.equal(first.messages[0]?.id, direct(250).id)
    assert.equal(first.messages[99]?.id, direct(151).id)
    // 5 messages arrive between two page reads: the next page continues exactly where the first stopped.
    for (let n = 251; n <= 255; n++) inbox.addDirect(direct(n))
    const second = inbox.list({ before: first.next })
    assert.deepEqual(second.messages.map((m) => m.id), Array.from({ length: 100 }, (_, i) => direct(150 - i).id))
    const third = inbox.list({ before: second.next })
    assert.equal(third.messages.length, 50)
    assert.equal(third.next, undefined, 'the last page has no cursor')
    assert.equal(inbox.list({ limit: 5 }).messages[0]?.id, direct(255).id, 'the new ones are on a fresh first page')
    assert.throws(() => inbox.list({ limit: 0 }), { code: 'UMBRA_ERR_INVALID_OPTION' })
    assert.throws(() => inbox.list({ limit: 1001 }), { code: 'UMBRA_ERR_INVALID_OPTION' })
    assert.throws(() => inbox.list({ before: 'abc' }), { code: 'UMBRA_ERR_INVALID_OPTION' })
  })

  it('reads a page of 100 from 255 entries fast', (t) => {
    const rounds = 200
    const started = performance.now()
    for (let i = 0; i < rounds; i++) inbox.list()
    const ms = (performance.now() - started) / rounds
    t.diagnostic(`page of 100 read in ${ms.toFixed(3)} ms`)
    assert.ok(ms < 50, `a page read took ${ms} ms`)
  })

  it('deletes one entry by id, and refuses an unknown id with UMBRA_ERR_MESSAGE_NOT_FOUND', () => {
    const before = inbox.size()
    inbox.delete(direct(1).id)
    assert.equal(inbox.size(), before - 1)
    assert.throws(() => inbox.delete(direct(1).id), { code: 'UMBRA_ERR_MESSAGE_NOT_FOUND' })
    assert.throws(() => inbox.delete('f'.repeat(32)), { code: 'UMBRA_ERR_MESSAGE_NOT_FOUND' })
  })

  it('ack deletes processed entries and lists the ids it did not know', () => {
    const res = inbox.ack([direct(2).id, direct(3).id, direct(3).id, 'e'.repeat(32)])
    assert.deepEqual(res, { acked: 2, unknown: ['e'.repeat(32)] })
    const ids = new Set(inbox.list({ limit: 1000 }).messages.map((m) => m.id))
    assert.equal(ids.has(direct(2).id) || ids.has(direct(3).id), false)
    assert.throws(() => inbox.ack('x' as unknown as string[]), { code: 'UMBRA_ERR_INVALID_OPTION' })
  })

  it('keeps one copy per sender and id, also after the first was acknowledged', () => {
    assert.equal(inbox.addDirect(direct(4)), false, 'a second copy is dropped')
    assert.equal(inbox.addDirect(direct(2)), false, 'a late copy of an acknowledged message does not come back')
    assert.equal(inbox.addDirect(direct(4, '12D3KooWOther')), true, 'another sender may use the same id')
  })

  it('stores anonymous messages and replies beside direct ones', () => {
    assert.equal(inbox.addAnonymous({ id: 'a'.repeat(32), from: null, to: 'key_Pseud', body: new Uint8Array([1]), sentAt: 5, receivedAt: 6, repliesLeft: 2 }), true)
    const reply = inbox.addReply({ inReplyTo: 'b'.repeat(32), body: new Uint8Array([2]), receivedAt: 7 })
    const [newest, second] = inbox.list({ limit: 2 }).messages
    assert.deepEqual(newest, reply)
    assert.equal(second?.kind, 'anonymous')
    assert.deepEqual(second?.body, new Uint8Array([1]))
  })

  it('survives closing and reopening the database file', (t) => {
    const before = inbox.list({ limit: 1000 })
    state.close()
    state = openStateDatabase({ path: join(dir, STATE_DB_FILE) })
    inbox = createInbox({ state })
    const reopened = inbox.list({ limit: 1000 })
    assert.deepEqual(reopened, before)
    assert.equal(inbox.size(), before.messages.length)
    assert.equal(inbox.addDirect(direct(4)), false, 'de-duplication survives the reopen')
    t.diagnostic(`${reopened.messages.length} entries read back after reopen`)
  })

  it('drops the oldest past its cap', () => {
    const small = createInbox({ state: openStateDatabase({ path: ':memory:' }), maxMessages: 3 })
    for (let n = 1; n <= 5; n++) small.addDirect(direct(n))
    assert.equal(small.size(), 3)
    assert.deepEqual(small.list().messages.map((m) => m.id), [direct(5).id, direct(4).id, direct(3).id])
  })

  it('inserts at a rate worth quoting', (t) => {
    const bench = createInbox({ state: openStateDatabase({ path: join(dir, 'bench.db') }) })
    const n = 500
    const started = performance.now()
    for (let i = 0; i < n; i++) bench.addDirect(direct(10_000 + i))
    const perSecond = n / ((performance.now() - started) / 1000)
    t.diagnostic(`${n} durable inserts (synchronous=FULL, one transaction each): ${perSecond.toFixed(0)}/s`)
    assert.equal(bench.size(), n)
  })
})
