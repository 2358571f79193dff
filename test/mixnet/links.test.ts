/**
 * Packet links' admission rules (src/mixnet/links.ts) on fake streams: the
 * bounds, round robin between predecessors, pausing, the replay penalty and
 * the no-dial rule for next hops outside the directory. The same rules over
 * real processes: relay-hygiene.longtest.ts.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createLinks, type LinksInit } from '../../src/mixnet/links.ts'
import { PACKET_SIZE } from '../../src/mixnet/sphinx/index.ts'
import { logger } from '../../src/logger.ts'
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'

/** A fake inbound stream that yields the chunks it is given, with pause/resume/abort bookkeeping. */
class FakeStream {
  status = 'open'
  readStatus = 'readable'
  pauses = 0
  #chunks: Uint8Array[] = []
  #wake: (() => void) | undefined
  push (chunk: Uint8Array): void { this.#chunks.push(chunk); this.#wake?.() }
  pause (): void { this.readStatus = 'paused'; this.pauses++ }
  resume (): void { this.readStatus = 'readable' }
  abort (): void { this.status = 'aborted'; this.readStatus = 'closed'; this.#wake?.() }
  async * [Symbol.asyncIterator] (): AsyncGenerator<Uint8Array> {
    for (;;) {
      const next = this.#chunks.shift()
      if (next !== undefined) { yield next; continue }
      if (this.status !== 'open') return
      await new Promise<void>((resolve) => { this.#wake = resolve })
    }
  }
}

/** Packets tagged with their sender (byte 0) and number (bytes 1-2). */
function packets (sender: number, from: number, count: number): Uint8Array {
  const out = new Uint8Array(PACKET_SIZE * count)
  for (let i = 0; i < count; i++) {
    out[i * PACKET_SIZE] = sender
    out[i * PACKET_SIZE + 1] = (from + i) >> 8
    out[i * PACKET_SIZE + 2] = (from + i) & 0xff
  }
  return out
}

async function tick (): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
}

interface Harness {
  /** Packets handed to onPacket, as "sender:number", in order. */
  started: string[]
  /** Resolves the oldest unfinished packet (of `sender`, if given). */
  finish: (sender?: number) => void
  drops: string[]
  dials: number
  open: (peer: PeerId) => FakeStream
  links: ReturnType<typeof createLinks>
}

async function harness (init: Partial<LinksInit> = {}, verdict?: (packet: Uint8Array) => 'replay' | undefined): Promise<Harness> {
  const self = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  let handler: ((stream: Stream, connection: { remotePeer: PeerId }) => void) | undefined
  const h: Harness = {
    started: [],
    finish: () => {},
    drops: [],
    dials: 0,
    open: (peer) => {
      const s = new FakeStream()
      handler?.(s as unknown as Stream, { remotePeer: peer })
      return s
    },
    links: undefined as unknown as ReturnType<typeof createLinks>
  }
  const pending: Array<{ sender: number, resolve: () => void }> = []
  h.finish = (sender) => {
    const i = pending.findIndex((p) => sender === undefined || p.sender === sender)
    const [p] = pending.splice(i, 1)
    p?.resolve()
  }
  const libp2p = {
    peerId: self,
    async handle (_protocol: string, fn: typeof handler) { handler = fn },
    async unhandle () {},
    async dialProtocol () { h.dials++; throw new Error('no network in this test') }
  } as unknown as Libp2p
  h.links = createLinks({
    libp2p,
    log: logger('test:links'),
    inbound: true,
    addrsFor: () => [],
    drop: (reason) => { h.drops.push(reason) },
    onPacket: (packet) => {
      const v = verdict?.(packet)
      if (v !== undefined) return v
      const sender = packet[0] as number
      h.started.push(`${sender}:${((packet[1] as number) << 8) | (packet[2] as number)}`)
      return new Promise<undefined>((resolve) => { pending.push({ sender, resolve: () => { resolve(undefined) } }) })
    },
    ...init
  })
  await h.links.start()
  return h
}

describe('packet links: admission', () => {
  it('bounds one predecessor: processing, then its queue, then its stream waits (paused): no packet is dropped', async () => {
    const h = await harness({ maxInflight: 100, maxInflightPerPeer: 4, maxQueuedPerPeer: 8 })
    const a = h.open(peerIdFromPrivateKey(await generateKeyPair('Ed25519')))
    a.push(packets(1, 0, 20))
    await tick()
    assert.deepEqual(h.started, ['1:0', '1:1', '1:2', '1:3'])
    assert.equal(h.drops.length, 0, '20 - 4 processing - 8 waiting: the other 8 stay in the stream')
    assert.equal(a.readStatus, 'paused', 'a peer with packets waiting is not read')
    for (let i = 0; i < 20; i++) { h.finish(1); await tick() }
    assert.deepEqual(h.started, Array.from({ length: 20 }, (_, i) => `1:${i}`), 'every packet, in order')
    assert.equal(h.drops.length, 0)
    assert.equal(a.readStatus, 'readable', 'read again once its queue is empty')
    await h.links.stop()
  })

  it('a flooding peer does not delay another: free slots go round robin', async () => {
    const h = await harness({ maxInflight: 4, maxInflightPerPeer: 4, maxQueuedPerPeer: 64 })
    const a = h.open(peerIdFromPrivateKey(await generateKeyPair('Ed25519')))
    const b = h.open(peerIdFromPrivateKey(await generateKeyPair('Ed25519')))
    a.push(packets(1, 0, 50))
    await tick()
    b.push(packets(2, 0, 3))
    await tick()
    assert.equal(h.started.length, 4)
    for (let i = 0; i < 6; i++) { h.finish(); await tick() }
    // After A's first 4, slots alternate between A's and B's queues, though A has 46 waiting.
    assert.deepEqual(h.started.slice(4), ['1:4', '2:0', '1:5', '2:1', '1:6', '2:2'])
    await h.links.stop()
  })

  it('resets and refuses a predecessor that sends more than its replay budget', async () => {
    const h = await harness({ maxReplaysPerSecond: 10, penaltyMs: 60_000 }, () => 'replay')
    const peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const a = h.open(peer)
    a.push(packets(1, 0, 30))
    await tick()
    assert.equal(a.status, 'aborted')
    assert.equal(h.drops.filter((d) => d === 'penalized').length, 1)
    const again = h.open(peer)
    assert.equal(again.status, 'aborted', 'a new stream of the penalized peer is refused')
    const other = h.open(peerIdFromPrivateKey(await generateKeyPair('Ed25519')))
    assert.equal(other.status, 'open', 'other peers are not affected')
    await h.links.stop()
  })

  it('never dials a next hop the directory does not list', async () => {
    const h = await harness()
    const stranger = (await generateKeyPair('Ed25519')).publicKey.raw
    await assert.rejects(h.links.send(stranger, new Uint8Array(PACKET_SIZE)), /not in the mix directory/)
    assert.equal(h.dials, 0)
    await h.links.stop()
  })

  it('sends the packets of one macrotask to one next hop in one stream write, in order', async () => {
    const self = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const next = await generateKeyPair('Ed25519')
    const writes: Uint8Array[] = []
    const out = {
      status: 'open',
      writeStatus: 'writable',
      send: (data: Uint8Array | { subarray: () => Uint8Array }) => { writes.push(data instanceof Uint8Array ? data : data.subarray()); return true },
      addEventListener: () => {},
      abort: () => {}
    }
    let dials = 0
    const libp2p = {
      peerId: self,
      async handle () {},
      async unhandle () {},
      async dialProtocol () { dials++; return out }
    } as unknown as Libp2p
    const links = createLinks({ libp2p, log: logger('test:links'), inbound: false, addrsFor: () => ['/ip4/127.0.0.1/tcp/1'], drop: () => {}, onPacket: () => undefined })
    await links.start()
    const all = packets(3, 0, 10)
    await Promise.all(Array.from({ length: 10 }, async (_, i) => { await links.send(next.publicKey.raw, all.subarray(i * PACKET_SIZE, (i + 1) * PACKET_SIZE)) }))
    assert.equal(dials, 1)
    assert.equal(writes.length, 1, 'one write for the 10 packets')
    assert.deepEqual(writes[0], all, 'the packets back to back, in order')
    await links.send(next.publicKey.raw, all.subarray(0, PACKET_SIZE))
    assert.equal(writes.length, 2, 'a later macrotask: a new write')
    await links.stop()
  })
})
