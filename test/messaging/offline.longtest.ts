/**
 * Offline queues for direct messages (issue 11, item 3).
 *
 * Over real `umbra start` processes (4: two servers, a sender and a
 * recipient, both clients): recipient SIGKILLed (its inbox survives),
 * message sent (202, `queued`),
 * both storing servers SIGKILLed and restarted on their data directories,
 * recipient started: the message arrives exactly once.
 *
 * In process (a 3-server testnet): seed 001's limits give the sender coded
 * refusals (101st message, over 1 MB), and a stock libp2p peer speaking
 * `/umbra/offline/1.0.0` can neither read nor delete another peer's queue,
 * nor fill it beyond its limits.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { createNode, type UmbraNode } from '../../src/node/index.ts'
import { createTestnet, type Testnet } from '../../src/testnet/index.ts'
import {
  MAX_OFFLINE_RESPONSE_BYTES, OFFLINE_FULL_BYTES, OFFLINE_FULL_MESSAGES, OFFLINE_FULL_SERVER, OFFLINE_MALFORMED, OFFLINE_MAX_BYTES, OFFLINE_MAX_BYTES_PER_SENDER, OFFLINE_MAX_MESSAGES,
  OFFLINE_OK, OFFLINE_OP_ACK, OFFLINE_OP_FETCH, OFFLINE_OP_STORE, OFFLINE_PROTOCOL, OFFLINE_VERSION
} from '../../src/messaging/constants.ts'
import { OfflineRequest, OfflineResponse } from '../../src/messaging/pb/offline.ts'
import { createOfflineQueue, type OfflineQueue } from '../../src/messaging/offline-queue.ts'
import { openStateDatabase } from '../../src/store/index.ts'
import { logger } from '../../src/logger.ts'
import { eventually, killStragglers, serverProcesses, UmbraProcess } from '../mixnet/process-helpers.ts'
import type { PrivateKey } from '@libp2p/interface'

/** `POST /v1/messages` (direct) with its HTTP status. */
async function send (from: UmbraProcess, to: string, body: string): Promise<{ status: number, json: Record<string, unknown> }> {
  const res = await fetch(`${from.id.api}/v1/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${from.id.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ to, body }),
    signal: AbortSignal.timeout(40_000)
  })
  return { status: res.status, json: await res.json() as Record<string, unknown> }
}

describe('offline delivery of a direct message over real processes (issue 11)', { timeout: 120_000 }, () => {
  let dir: string
  let servers: UmbraProcess[]
  let sender: UmbraProcess
  let recipient: UmbraProcess

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'umbra-offline-'))
    servers = await serverProcesses(dir, 2, { preset: 'none' })
    sender = new UmbraProcess({ name: 'sender', dataDir: join(dir, 'sender'), role: 'client', port: 0, preset: 'none' })
    recipient = new UmbraProcess({ name: 'recipient', dataDir: join(dir, 'recipient'), role: 'client', port: 0, preset: 'none' })
  })
  after(async () => {
    await Promise.all([...servers, sender, recipient].map(async (p) => await p.stop('SIGTERM').catch(() => {})))
    await killStragglers()
    await rm(dir, { recursive: true, force: true })
  })

  it('recipient SIGKILLed: 202 queued; storing servers SIGKILLed and restarted; recipient back: delivered exactly once', async (t) => {
    const [s1, s2] = servers as [UmbraProcess, UmbraProcess]
    const t0 = performance.now()
    const phase = (what: string): void => { t.diagnostic(`${what} at ${((performance.now() - t0) / 1000).toFixed(1)} s`) }
    await s1.start([])
    // The clients find s2 through s1 (kad); starting all three at once saves a process start.
    await Promise.all([s2.start(s1.id.addrs), sender.start(s1.id.addrs), recipient.start(s1.id.addrs)])
    phase('4 processes up')
    // Online: delivered with an acknowledgement (200).
    const online = await eventually('a direct message to the online recipient', async () => {
      const r = await send(sender, recipient.id.peerId, 'while online').catch(() => undefined)
      return r?.status === 200 ? r : undefined
    }, 20_000, 500)
    assert.notEqual(online.json.path, 'queued')
    t.diagnostic(`online: HTTP ${online.status}, path ${String(online.json.path)}, ${Number(online.json.rttMs).toFixed(0)} ms`)

    // Killed, not stopped: what it received so far must be in its inbox after the restart (WAL).
    await recipient.stop('SIGKILL')
    const text = `while away ${randomBytes(4).toString('hex')}`
    const queued = await send(sender, recipient.id.peerId, text)
    assert.equal(queued.status, 202, JSON.stringify(queued.json))
    assert.equal(queued.json.path, 'queued')
    const holders = queued.json.servers as string[]
    assert.ok(holders.length >= 1 && holders.every((p) => [s1.id.peerId, s2.id.peerId].includes(p)), `held by ${holders.join(', ')}`)
    t.diagnostic(`offline: HTTP 202 queued at ${holders.length} servers in ${Number(queued.json.rttMs).toFixed(0)} ms`)

    // Every server holding it dies without a chance to flush anything, then comes back on the same data directory.
    await Promise.all([s1.stop('SIGKILL'), s2.stop('SIGKILL')])
    await Promise.all([s1.start(s2.id.addrs), s2.start(s1.id.addrs)])
    phase('servers SIGKILLed and restarted')

    const started = performance.now()
    await recipient.start([...s1.id.addrs, ...s2.id.addrs])
    type Entry = { kind: string, id?: string, from?: string, body: string }
    const copies = await eventually('the queued message in the recipient\'s inbox', async () => {
      const { messages } = await recipient.call<{ messages: Entry[] }>('GET', '/v1/messages')
      const found = messages.filter((m) => m.body === text)
      return found.length > 0 ? found : undefined
    }, 40_000, 250)
    t.diagnostic(`delivered ${(performance.now() - started).toFixed(0)} ms after the recipient's start began`)
    assert.equal(copies.length, 1)
    assert.equal(copies[0]?.id, queued.json.id)
    assert.equal(copies[0]?.from, sender.id.peerId)
    // The other server's copy (if any) is fetched too, and de-duplicated by id: still one entry after the next fetch.
    await new Promise((resolve) => setTimeout(resolve, 2_000))
    const { messages } = await recipient.call<{ messages: Entry[] }>('GET', '/v1/messages')
    assert.equal(messages.filter((m) => m.body === text).length, 1, 'exactly one copy')
    assert.equal(messages.filter((m) => m.id === online.json.id).length, 1, 'the message received before the SIGKILL survived it')
  })
})

describe('offline queue limits and a stock libp2p peer (in process)', { timeout: 60_000 }, () => {
  let net: Testnet
  let a: UmbraNode, b: UmbraNode
  let ghostKey: PrivateKey
  let ghost: string
  let stock: Libp2p
  const stockStore = async (server: UmbraNode, req: Partial<OfflineRequest>, more?: Partial<OfflineRequest>): Promise<OfflineResponse[]> => {
    const stream = await stock.dialProtocol(multiaddr(server.getMultiaddrs()[0] as string), OFFLINE_PROTOCOL)
    const lp = lpStream(stream, { maxDataLength: MAX_OFFLINE_RESPONSE_BYTES })
    const out: OfflineResponse[] = []
    await lp.write(OfflineRequest.encode({ version: OFFLINE_VERSION, ...req }))
    out.push(OfflineResponse.decode((await lp.read()).subarray()))
    if (more != null) {
      await lp.write(OfflineRequest.encode({ version: OFFLINE_VERSION, ...more }))
      out.push(OfflineResponse.decode((await lp.read()).subarray()))
    }
    await stream.close()
    return out
  }

  before(async () => {
    net = await createTestnet(3, { mixnet: { preset: 'none' } })
    ;[a, b] = net.nodes as [UmbraNode, UmbraNode]
    ghostKey = await generateKeyPair('Ed25519')
    ghost = peerIdFromPrivateKey(ghostKey).toString()
    stock = await createLibp2p({ transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
  })
  after(async () => {
    await stock?.stop()
    await net?.stop()
  })

  it('queues 100 messages for an offline recipient and refuses the 101st with UMBRA_ERR_OFFLINE_QUEUE_FULL', async (t) => {
    const started = performance.now()
    const ids: string[] = []
    // 10 senders' worth at once: the server counts within one transaction per store, so concurrency cannot overshoot.
    for (let i = 0; i < OFFLINE_MAX_MESSAGES; i += 10) {
      const batch = await Promise.all(Array.from({ length: 10 }, async (_, j) => await a.messaging.send(ghost, new TextEncoder().encode(`queued ${i + j}`))))
      for (const r of batch) assert.equal(r.path, 'queued')
      ids.push(...batch.map((r) => r.id))
    }
    t.diagnostic(`${OFFLINE_MAX_MESSAGES} messages queued in ${(performance.now() - started).toFixed(0)} ms`)
    await assert.rejects(a.messaging.send(ghost, new TextEncoder().encode('one too many')), { code: 'UMBRA_ERR_OFFLINE_QUEUE_FULL' })
    // A retry of a queued message (same id) is not a new message: accepted, not counted.
    const retry = await a.messaging.send(ghost, new TextEncoder().encode('queued 0'), { id: ids[0] })
    assert.equal(retry.path, 'queued')
    assert.equal(retry.id, ids[0])
  })

  it('refuses a message that does not fit in the recipient\'s 1 MB with UMBRA_ERR_OFFLINE_QUEUE_BYTES', async () => {
    const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const first = await a.messaging.send(other, new Uint8Array(600_000))
    assert.equal(first.path, 'queued')
    await assert.rejects(a.messaging.send(other, new Uint8Array(600_000)), { code: 'UMBRA_ERR_OFFLINE_QUEUE_BYTES' })
  })

  it('a stock peer gets nothing of another peer\'s queue, deletes nothing, cannot overfill one, nor the server with made-up recipients', async () => {
    // Fetch: the stock peer's own (empty) queue, whatever it asks for.
    const [fetched] = await stockStore(b, { op: OFFLINE_OP_FETCH, recipient: peerIdFromPrivateKey(ghostKey).toMultihash().bytes })
    assert.equal(fetched?.status, OFFLINE_OK)
    assert.equal(fetched?.items.length, 0)
    // Ack with ids of the ghost's queue: nothing deleted.
    const ghostIds = (await a.messaging.send(ghost, new Uint8Array(1)).catch((err) => err as Error))
    assert.equal((ghostIds as { code?: string }).code, 'UMBRA_ERR_OFFLINE_QUEUE_FULL', 'the ghost\'s queue is still full')
    const [acked] = await stockStore(b, { op: OFFLINE_OP_ACK, ids: [randomBytes(16)] })
    assert.equal(acked?.deleted, 0)
    // Store for a victim: 100 accepted, the 101st refused; bytes past 1 MB refused; malformed refused; the server stays up.
    const victim = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const store = async (bytes: number): Promise<number | undefined> => (await stockStore(b, { op: OFFLINE_OP_STORE, recipient: victim.toMultihash().bytes, id: randomBytes(16), envelope: randomBytes(bytes) }))[0]?.status
    for (let i = 0; i < OFFLINE_MAX_MESSAGES - 1; i++) assert.equal(await store(100), OFFLINE_OK)
    assert.equal(await store(OFFLINE_MAX_BYTES), OFFLINE_FULL_BYTES)
    assert.equal(await store(100), OFFLINE_OK)
    assert.equal(await store(100), OFFLINE_FULL_MESSAGES)
    const [bad] = await stockStore(b, { op: OFFLINE_OP_STORE, recipient: uint8ArrayFromString('not a peer id'), id: randomBytes(16), envelope: randomBytes(10) })
    assert.equal(bad?.status, OFFLINE_MALFORMED)
    // Making up recipients does not fill the server: one storing peer keeps at most 8 MB queued in all.
    const statuses: number[] = []
    for (let i = 0; i < 9; i++) {
      const made = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
      statuses.push((await stockStore(b, { op: OFFLINE_OP_STORE, recipient: made.toMultihash().bytes, id: randomBytes(16), envelope: randomBytes(990_000) }))[0]?.status ?? -1)
    }
    assert.deepEqual(statuses, [...Array(8).fill(OFFLINE_OK), OFFLINE_FULL_SERVER], `${OFFLINE_MAX_BYTES_PER_SENDER} bytes per storing peer`)
  })

  it('the recipient, once online, receives every queued message exactly once and empties its queue', async (t) => {
    const started = performance.now()
    const bootstrap = a.getMultiaddrs().slice(0, 1)
    const node = await createNode({ role: 'client', privateKey: ghostKey, bootstrap, listen: ['/ip4/127.0.0.1/tcp/0'], nat: { stunPort: false }, mixnet: { preset: 'none' } })
    try {
      await node.start()
      await eventually('100 queued messages in the inbox', async () => node.inbox.size() >= OFFLINE_MAX_MESSAGES ? true : undefined, 30_000, 200)
      t.diagnostic(`${node.inbox.size()} messages fetched ${(performance.now() - started).toFixed(0)} ms after start`)
      await node.messaging.drainOfflineQueue()
      assert.equal(node.inbox.size(), OFFLINE_MAX_MESSAGES, 'no message twice (both servers held a copy)')
      const bodies = new Set(node.inbox.list({ limit: 1000 }).messages.map((m) => new TextDecoder().decode(m.body)))
      assert.equal(bodies.size, OFFLINE_MAX_MESSAGES)
      const online = await a.messaging.send(node.peerId, new TextEncoder().encode('now online'))
      assert.notEqual(online.path, 'queued')
    } finally {
      await node.stop()
    }
    // Acknowledged end to end: the servers deleted the 100, so the full queue has room again.
    const after = await a.messaging.send(ghost, new TextEncoder().encode('after the drain'))
    assert.equal(after.path, 'queued')
  })
})

describe('offline queue expiry and server-wide cap (createOfflineQueue with small limits)', { timeout: 30_000 }, () => {
  const TTL_MS = 400
  let server: Libp2p, sender: Libp2p, recipient: Libp2p
  let serverQueue: OfflineQueue, senderQueue: OfflineQueue, recipientQueue: OfflineQueue
  const bare = async (): Promise<Libp2p> => await createLibp2p({ addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()], services: { identify: identify() } })
  const queueOf = (libp2p: Libp2p, isServer: boolean): OfflineQueue => createOfflineQueue({ libp2p, state: openStateDatabase({ path: ':memory:' }), server: isServer, log: logger('test'), limits: { ttl: TTL_MS, totalBytes: 3_000 } })

  before(async () => {
    ;[server, sender, recipient] = await Promise.all([bare(), bare(), bare()])
    serverQueue = queueOf(server, true)
    senderQueue = queueOf(sender, false)
    recipientQueue = queueOf(recipient, false)
    await serverQueue.start()
    for (const peer of [sender, recipient]) {
      await peer.dial(server.getMultiaddrs()[0] as never)
      await eventually('the server identified', async () => (await peer.peerStore.get(server.peerId)).protocols.includes(OFFLINE_PROTOCOL) ? true : undefined, 5_000, 50)
    }
  })
  after(async () => { await Promise.all([server, sender, recipient].map(async (n) => await n?.stop())) })

  it('refuses past the server-wide cap, and forgets a message after its TTL (72 h by default)', async () => {
    const signal = AbortSignal.timeout(10_000)
    const envelope = randomBytes(1_400)
    assert.deepEqual(await senderQueue.store(recipient.peerId, randomBytes(16), envelope, signal), [server.peerId.toString()])
    await senderQueue.store(recipient.peerId, randomBytes(16), envelope, signal)
    await assert.rejects(senderQueue.store(recipient.peerId, randomBytes(16), envelope, signal), { code: 'UMBRA_ERR_OFFLINE_QUEUE_SERVER_FULL' })
    assert.equal(serverQueue.totalBytes(), 2_800)
    await new Promise((resolve) => setTimeout(resolve, TTL_MS + 100))
    let fetched = 0
    await recipientQueue.drain(async (items) => { fetched += items.length; return items.map((i) => i.id) }, signal)
    assert.equal(fetched, 0, 'expired messages are not handed out')
    // The next store sweeps them, which frees the room.
    await senderQueue.store(recipient.peerId, randomBytes(16), envelope, signal)
    assert.equal(serverQueue.totalBytes(), 1_400)
    await recipientQueue.drain(async (items) => { fetched += items.length; return items.map((i) => i.id) }, signal)
    assert.equal(fetched, 1)
    assert.equal(serverQueue.totalBytes(), 0, 'acknowledged, deleted')
  })
})
