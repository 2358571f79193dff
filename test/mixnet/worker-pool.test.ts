import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import sodium from 'sodium-native'
import { createSphinxPool, type PoolProcessResult, type SphinxPool } from '../../src/mixnet/worker-pool.ts'
import {
  createPacket, createSurb, createSurbReply, processPacket, PACKET_SIZE, type SphinxHop
} from '../../src/mixnet/sphinx/index.ts'

function keyPair (): { publicKey: Uint8Array, secret: Uint8Array } {
  const publicKey = Buffer.alloc(32)
  const secret = Buffer.alloc(32)
  sodium.crypto_box_keypair(publicKey, secret)
  return { publicKey: new Uint8Array(publicKey), secret: new Uint8Array(secret) }
}

function random (n: number): Uint8Array {
  const b = Buffer.alloc(n)
  sodium.randombytes_buf(b)
  return new Uint8Array(b)
}

const relay = keyPair()
const others = [keyPair(), keyPair(), keyPair()]
const EPOCH = 7

/** A 3-mix + gateway packet whose first node is the relay (relay result: forward). */
function forwardPacket (epoch = EPOCH, onionKey = relay.publicKey): Uint8Array {
  const hops: SphinxHop[] = [onionKey, ...others.map((k) => k.publicKey)].map((key, i, all) => ({
    onionKey: key,
    routing: i < all.length - 1
      ? { type: 'forward', nextNode: random(32), delayMs: 1000 * i + 17 }
      : { type: 'deliver', mailbox: random(32) }
  }))
  return createPacket({ epoch, hops, body: random(100) })
}

/** A one-node packet for the relay as gateway (relay result: deliver). */
function deliverPacket (): Uint8Array {
  return createPacket({ epoch: EPOCH, hops: [{ onionKey: relay.publicKey, routing: { type: 'deliver', mailbox: random(32) } }], body: random(3379) })
}

/** A SURB reply whose only node is the relay (relay result: deliverSurb). */
function surbReplyPacket (): Uint8Array {
  const { surb } = createSurb({ epoch: EPOCH, firstNode: random(32), hops: [{ onionKey: relay.publicKey, routing: { type: 'deliverSurb', mailbox: random(32), surbId: random(16) } }] })
  return createSurbReply(surb, random(50)).packet
}

const pools: SphinxPool[] = []
function pool (init: Parameters<typeof createSphinxPool>[0] = {}): SphinxPool {
  const p = createSphinxPool({ threads: 2, ...init })
  pools.push(p)
  return p
}
after(async () => { await Promise.all(pools.map((p) => p.close())) })

describe('createSphinxPool', () => {
  it('returns what single-threaded processPacket returns, for every result kind', async () => {
    const p = pool({ maxBatch: 16 })
    p.setKeys([{ epoch: EPOCH, secret: relay.secret }])
    const packets = [
      ...Array.from({ length: 60 }, () => forwardPacket()),
      ...Array.from({ length: 10 }, deliverPacket),
      ...Array.from({ length: 10 }, surbReplyPacket)
    ]
    const results = await Promise.all(packets.map((x) => p.process(x)))
    const kinds = new Set<string>()
    results.forEach((r, i) => {
      assert.deepEqual(r, processPacket(packets[i] as Uint8Array, relay.secret), `packet ${i}`)
      if (r.ok) kinds.add(r.kind)
    })
    assert.deepEqual([...kinds].sort(), ['deliver', 'deliverSurb', 'forward'])
    const first = results[0] as PoolProcessResult
    assert.ok(first.ok && first.kind === 'forward' && first.packet.byteLength === PACKET_SIZE && first.delayMs === 17)
  })

  it('gives each garbage packet the reason processPacket gives, next to valid ones', async () => {
    const p = pool({ maxBatch: 8 })
    p.setKeys([{ epoch: EPOCH, secret: relay.secret }])
    const flipped = forwardPacket()
    flipped[800] = (flipped[800] as number) ^ 1 // header MAC still right, payload changed: the relay forwards garbage
    const badMac = forwardPacket()
    badMac[100] = (badMac[100] as number) ^ 1
    const badVersion = forwardPacket()
    badVersion[0] = 9
    const noise = random(PACKET_SIZE)
    noise.set([1, 0, 0, 0, EPOCH])
    const lowOrder = forwardPacket()
    lowOrder.fill(0, 5, 37) // alpha = 0, a low-order point
    const packets = [forwardPacket(), badMac, new Uint8Array(100), badVersion, noise, lowOrder, flipped, forwardPacket(), new Uint8Array(PACKET_SIZE + 1)]
    const results = await Promise.all(packets.map((x) => p.process(x)))
    results.forEach((r, i) => assert.deepEqual(r, processPacket(packets[i] as Uint8Array, relay.secret), `packet ${i}`))
    assert.deepEqual(results.map((r) => r.ok ? 'ok' : r.reason), ['ok', 'mac', 'size', 'version', 'mac', 'point', 'ok', 'ok', 'size'])
  })

  it('answers epoch for a packet whose epoch has no key', async () => {
    const p = pool()
    p.setKeys([{ epoch: EPOCH, secret: relay.secret }])
    assert.deepEqual(await p.process(forwardPacket(EPOCH + 1)), { ok: false, reason: 'epoch' })
    assert.equal((await p.process(forwardPacket())).ok, true)
  })

  it('keeps working after setKeys replaces the key set', async () => {
    const p = pool()
    const next = keyPair()
    p.setKeys([{ epoch: EPOCH, secret: relay.secret }])
    const before = forwardPacket()
    const queued = p.process(before) // submitted before setKeys: processed with the old set
    p.setKeys([{ epoch: EPOCH + 1, secret: next.secret }])
    assert.equal((await queued).ok, true)
    assert.deepEqual(await p.process(forwardPacket()), { ok: false, reason: 'epoch' })
    const fresh = forwardPacket(EPOCH + 1, next.publicKey)
    const r = await p.process(fresh)
    assert.equal(r.ok, true)
    assert.deepEqual(r, processPacket(fresh, next.secret))
    p.setKeys([{ epoch: EPOCH, secret: relay.secret }, { epoch: EPOCH + 1, secret: next.secret }])
    const both = await Promise.all([p.process(forwardPacket()), p.process(forwardPacket(EPOCH + 1, next.publicKey))])
    assert.deepEqual(both.map((x) => x.ok), [true, true])
  })

  it('close() settles in-flight packets, is idempotent, and later packets resolve closed', async () => {
    const p = pool({ maxBatch: 4 })
    p.setKeys([{ epoch: EPOCH, secret: relay.secret }])
    const packet = forwardPacket()
    const inflight = Array.from({ length: 2000 }, () => p.process(packet))
    await new Promise((resolve) => setTimeout(resolve, 20))
    const closing = p.close()
    assert.equal(p.close(), closing)
    await closing
    const results = await Promise.all(inflight)
    assert.ok(results.every((r) => r.ok || r.reason === 'closed'))
    assert.ok(results.some((r) => !r.ok), 'close() waited for all 2000 packets')
    assert.deepEqual(await p.process(packet), { ok: false, reason: 'closed' })
  })

  it('restarts a crashed worker; the packets it held resolve worker', async () => {
    // A worker that exits (as on a crash) on a batch whose first packet starts with 0xee, else is the real one.
    const real = new URL('../../src/mixnet/mix-worker.ts', import.meta.url).href
    const code = `import { parentPort } from 'node:worker_threads'
parentPort.on('message', (m) => { if (m.type === 'batch' && new Uint8Array(m.buf)[0] === 0xee) process.exit(1) })
await import(${JSON.stringify(real)})`
    const p = pool({ threads: 1, maxBatch: 4, workerUrl: new URL('data:text/javascript,' + encodeURIComponent(code)) })
    p.setKeys([{ epoch: EPOCH, secret: relay.secret }])
    assert.equal((await p.process(forwardPacket())).ok, true)
    const crash = new Uint8Array(PACKET_SIZE).fill(0xee)
    const lost = await Promise.all([crash, forwardPacket(), forwardPacket()].map((x) => p.process(x)))
    assert.deepEqual(lost, Array.from({ length: 3 }, () => ({ ok: false, reason: 'worker' })))
    const again = await Promise.all([forwardPacket(), forwardPacket()].map((x) => p.process(x)))
    assert.deepEqual(again.map((r) => r.ok), [true, true]) // the restarted worker got the keys
  })

  it('never hangs when the worker cannot even start', async () => {
    const p = pool({ threads: 1, workerUrl: new URL('data:text/javascript,' + encodeURIComponent('throw new Error("broken build")')) })
    p.setKeys([{ epoch: EPOCH, secret: relay.secret }])
    const results = await Promise.all([p.process(forwardPacket()), p.process(forwardPacket())])
    assert.deepEqual(results, [{ ok: false, reason: 'worker' }, { ok: false, reason: 'worker' }])
    await p.close()
  })

  it('answers overload beyond maxQueue packets at once and takes packets again once they are done', async () => {
    const p = pool({ threads: 1, maxQueue: 8 })
    p.setKeys([{ epoch: EPOCH, secret: relay.secret }])
    const packets = Array.from({ length: 12 }, () => forwardPacket())
    const results = await Promise.all(packets.map(async (packet) => await p.process(packet)))
    assert.deepEqual(results.map((r) => r.ok ? 'ok' : r.reason), [...Array<string>(8).fill('ok'), ...Array<string>(4).fill('overload')])
    const again = await Promise.all(packets.slice(8).map(async (packet) => await p.process(packet)))
    assert.ok(again.every((r) => r.ok), 'the queue is free again')
  })

  it('validates its options and keys', () => {
    assert.throws(() => createSphinxPool({ threads: 0 }), { code: 'UMBRA_ERR_INVALID_OPTION' })
    assert.throws(() => createSphinxPool({ maxBatch: 1.5 }), { code: 'UMBRA_ERR_INVALID_OPTION' })
    assert.throws(() => createSphinxPool({ maxQueue: 0 }), { code: 'UMBRA_ERR_INVALID_OPTION' })
    const p = pool({ threads: 1 })
    assert.equal(p.threads, 1)
    assert.throws(() => p.setKeys([{ epoch: 1, secret: new Uint8Array(31) }]), { code: 'UMBRA_ERR_INVALID_OPTION' })
    assert.throws(() => p.setKeys([{ epoch: 1, secret: relay.secret }, { epoch: 1, secret: relay.secret }]), { code: 'UMBRA_ERR_INVALID_OPTION' })
    assert.throws(() => p.setKeys([{ epoch: -1, secret: relay.secret }]), { code: 'UMBRA_ERR_INVALID_OPTION' })
  })
})
