import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { after, describe, it } from 'node:test'
import sodium from 'sodium-native'
import { createLazySphinxPool } from '../../src/mixnet/lazy-pool.ts'
import { createPacket, processPacket } from '../../src/mixnet/sphinx/index.ts'
import type { SphinxPool } from '../../src/mixnet/worker-pool.ts'
import { until } from '../helpers/wait.ts'

const EPOCH = 3
const publicKey = Buffer.alloc(32)
const secret = Buffer.alloc(32)
sodium.crypto_box_keypair(publicKey, secret)

/** A one-hop packet for the relay's key (result: deliver). */
function packet (): Uint8Array {
  const mailbox = Buffer.alloc(32)
  sodium.randombytes_buf(mailbox)
  return createPacket({ epoch: EPOCH, hops: [{ onionKey: new Uint8Array(publicKey), routing: { type: 'deliver', mailbox: new Uint8Array(mailbox) } }], body: new Uint8Array(64).fill(9) })
}

/** OS threads of this process (Linux): every worker is one. */
function threads (): number {
  return Number(/Threads:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1])
}

const pools: SphinxPool[] = []
after(async () => { await Promise.all(pools.map(async (p) => { await p.close() })) })

describe('createLazySphinxPool (issue 15: workers on demand)', () => {
  it('starts no worker until a packet comes, processes it like processPacket, and stops the workers when idle', async (t) => {
    const before = threads()
    const pool = createLazySphinxPool({ threads: 2, idleMs: 300 })
    pools.push(pool)
    pool.setKeys([{ epoch: EPOCH, secret: new Uint8Array(secret) }])
    assert.equal(threads(), before, 'no worker thread before the first packet')
    const p = packet()
    const started = performance.now()
    const r = await pool.process(p)
    const firstMs = performance.now() - started
    const expected = processPacket(p, new Uint8Array(secret))
    assert.equal(r.ok, true)
    assert.equal(expected.ok, true)
    if (r.ok && expected.ok) assert.deepEqual(r.kind, expected.kind)
    const busy = threads()
    assert.ok(busy >= before + 2, `2 worker threads while busy (${before} -> ${busy})`)
    await until('the workers stop after 300 ms idle', () => threads() <= before, 5000, 50)
    const again = await pool.process(packet())
    assert.equal(again.ok, true, 'a packet after the idle stop starts the workers again')
    t.diagnostic(`threads idle ${before}, busy ${busy}; first packet (worker start) ${firstMs.toFixed(0)} ms`)
  })

  it('refuses bad options when built and answers closed after close', async () => {
    assert.throws(() => createLazySphinxPool({ idleMs: 0 }), { code: 'UMBRA_ERR_INVALID_OPTION' })
    assert.throws(() => createLazySphinxPool({ threads: 0 }), { code: 'UMBRA_ERR_INVALID_OPTION' })
    const pool = createLazySphinxPool({ threads: 1 })
    await pool.close()
    assert.deepEqual(await pool.process(packet()), { ok: false, reason: 'closed' })
  })
})
