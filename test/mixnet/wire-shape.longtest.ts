/**
 * Traffic shape on the wire (issue 16, item 3): what an observer of a mix
 * link sees. Mix packets travel on packet links (src/mixnet/packet-link.ts),
 * TCP connections of their own, so every TCP payload on such a link after
 * its handshake is a whole number of 4,112-byte frames.
 *
 * Captures are taps on net.Socket#write: the bytes handed to the kernel, as
 * a capture would see them before segmentation. In process, the tap patches
 * the prototype; in `umbra start` processes, test/mixnet/fixtures/socket-tap.ts
 * is loaded with `node --import` and writes one line per write.
 */
import assert from 'node:assert/strict'
import { mkdtemp, readdir, readFile } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { pathToFileURL } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createNode, type UmbraNode } from '../../src/node/index.ts'
import { LINK_FRAME_BYTES, LINK_HANDSHAKE_INIT_BYTES, LINK_HANDSHAKE_REPLY_BYTES } from '../../src/mixnet/packet-link.ts'
import { PACKET_SIZE } from '../../src/mixnet/sphinx/index.ts'
import { createTestnet, type Testnet } from '../../src/testnet/index.ts'
import type { MixNodeSummary, MixnetCounters, MixnetPreset, PseudonymInfo } from '../../src/mixnet/types.ts'
import { waitFor } from '../helpers/wait.ts'
import { awaitDirectories, eventually, serverProcesses, startNetwork, stopAllAndClean, UmbraProcess } from './process-helpers.ts'

/** Yamux frame header, bytes (yamux spec). */
const YAMUX_HEADER = 12
/** Noise transport message on a libp2p connection: 2-byte length prefix in clear plus a 16-byte ChaChaPoly tag (libp2p noise spec). */
const NOISE_OVERHEAD = 2 + 16
/** What one Sphinx packet was on a libp2p connection (one yamux data frame in one Noise message): 4,126 bytes. */
const LIBP2P_PACKET_MESSAGE = PACKET_SIZE + YAMUX_HEADER + NOISE_OVERHEAD
const SERVERS = 4
const WATCH_MS = 20_000
const MESSAGES = 10

/** Cuts a libp2p connection's outbound byte stream into multistream-select lines and then length-prefixed Noise messages; returns the message sizes. */
function noiseMessages (stream: Buffer): number[] {
  let off = 0
  // multistream-select: varint length (< 128 here), '/…\n'
  while (off < stream.length && stream[off + 1] === 0x2f && stream[off + (stream[off] as number)] === 0x0a) off += 1 + (stream[off] as number)
  const sizes: number[] = []
  while (off + 2 <= stream.length) {
    const len = stream.readUInt16BE(off)
    if (off + 2 + len > stream.length) break
    sizes.push(2 + len)
    off += 2 + len
  }
  return sizes
}

/** Sphinx packets a node sent (cover, fragments, retransmissions) by its counters. */
function packetsSent (c: MixnetCounters): number {
  return c.loopsSent + c.dropCoverSent + c.fragmentsSent + c.retransmitted
}

/** A histogram `size B ×count` of the most common sizes. */
function histogram (sizes: number[], top = 8): string {
  const counts = new Map<number, number>()
  for (const n of sizes) counts.set(n, (counts.get(n) ?? 0) + 1)
  return [...counts].sort((a, b) => b[1] - a[1]).slice(0, top).map(([n, c]) => `${n} B ×${c}`).join(', ')
}

/**
 * The writes of one link socket, initiator side: the 96-byte handshake
 * message, then frames. Returns the writes after the handshake.
 */
function afterHandshake (writes: number[]): number[] {
  assert.equal(writes[0], LINK_HANDSHAKE_INIT_BYTES, `a link starts with the ${LINK_HANDSHAKE_INIT_BYTES}-byte handshake message, got ${writes.slice(0, 3).join(', ')}`)
  return writes.slice(1)
}

describe('traffic shape on a client\'s first link, in process (issue 16, item 3)', () => {
  let net4: Testnet
  let client: UmbraNode
  /** Writes per socket, in order. */
  const writes = new Map<net.Socket, Buffer[]>()
  const originalWrite = net.Socket.prototype.write
  before(async () => {
    net.Socket.prototype.write = function (this: net.Socket, chunk: unknown, ...rest: unknown[]) {
      if (chunk instanceof Uint8Array) {
        let list = writes.get(this)
        if (list === undefined) { list = []; writes.set(this, list) }
        list.push(Buffer.from(chunk))
      }
      return (originalWrite as (...a: unknown[]) => boolean).call(this, chunk, ...rest)
    } as typeof net.Socket.prototype.write
    net4 = await createTestnet(SERVERS, { mixnet: { preset: 'balanced', threads: 1 } })
    client = await createNode({ privateKey: await generateKeyPair('Ed25519'), role: 'client', bootstrap: net4.bootstrap, mixnet: { preset: 'balanced', threads: 1 } })
    await client.start()
    await waitFor('every directory to list every server', () => [...net4.nodes, client].every((n) => n.mixnet.directory().length === SERVERS), 30_000)
  })
  after(async () => {
    net.Socket.prototype.write = originalWrite
    await client?.stop()
    await net4?.stop()
  })

  it('the client\'s packets travel on packet links in whole 4,112-byte frames, none on the libp2p connection', async (t) => {
    const recipient = net4.nodes[SERVERS - 1] as UmbraNode
    const p = await recipient.pseudonyms.create()
    const linkPorts = new Set(client.mixnet.directory().map((d) => d.linkPort))
    assert.equal(linkPorts.size, SERVERS, 'every server announces its own link port')
    assert.ok(!linkPorts.has(undefined))
    const known = new Map([...writes].map(([s, w]) => [s, w.length]))
    const before = client.mixnet.counters()
    const started = Date.now()
    for (let i = 0; i < MESSAGES; i++) {
      await client.mixnet.send(p.key, new TextEncoder().encode(`message ${i}`))
      await new Promise((resolve) => setTimeout(resolve, WATCH_MS / MESSAGES))
    }
    const elapsed = Date.now() - started
    const packets = packetsSent(client.mixnet.counters()) - packetsSent(before)
    // The client's libp2p connections: their local ports are the remote ports the servers see on their connections to the client.
    const libp2pPorts = new Set(net4.nodes.flatMap((n) => n.libp2p.getConnections(client.libp2p.peerId).map((c) => Number(c.remoteAddr.toString().split('/tcp/')[1]?.split('/')[0]))))
    const libp2pSockets = [...writes].filter(([s]) => libp2pPorts.has(s.localPort ?? -1)).map(([s, w]) => w.slice(known.get(s) ?? 0))
    const libp2pMessages = libp2pSockets.flatMap((w) => noiseMessages(Buffer.concat(w)))
    // Every packet link in the testnet (the client's and the servers'): the initiator's socket goes to a link port, the responder's is on one.
    // The tap ran from before the nodes started, so each initiator's first write is its handshake message.
    const initiators = [...writes].filter(([s]) => linkPorts.has(s.remotePort)).map(([, w]) => w.map((b) => b.length))
    const responders = [...writes].filter(([s]) => linkPorts.has(s.localPort)).map(([, w]) => w.map((b) => b.length))
    const frameWrites = initiators.flatMap(afterHandshake)
    const frames = frameWrites.reduce((sum, n) => sum + n / LINK_FRAME_BYTES, 0)
    t.diagnostic(`${elapsed} ms: the client sent ${packets} Sphinx packets; ${initiators.length} packet links in the testnet; the client kept ${libp2pSockets.length} libp2p connection(s)`)
    t.diagnostic(`link writes after the handshake: ${frameWrites.length} (${histogram(frameWrites)}), ${frames} frames`)
    t.diagnostic(`libp2p Noise messages from the client: ${libp2pMessages.length} (${histogram(libp2pMessages, 12)})`)
    assert.ok(packets >= MESSAGES, `${packets} packets sent`)
    assert.ok(initiators.length >= 1, 'packet links were opened')
    assert.ok(responders.every((w) => w.length === 1 && w[0] === LINK_HANDSHAKE_REPLY_BYTES), `a responder writes its ${LINK_HANDSHAKE_REPLY_BYTES}-byte answer and nothing else: ${histogram(responders.flat())}`)
    const bad = frameWrites.filter((n) => n === 0 || n % LINK_FRAME_BYTES !== 0)
    assert.equal(bad.length, 0, `${bad.length} link writes are not whole ${LINK_FRAME_BYTES}-byte frames, e.g. ${bad.slice(0, 8).join(', ')} B`)
    assert.ok(frames >= packets, `${frames} frames on the testnet's links for the client's ${packets} packets`)
    assert.equal(libp2pMessages.filter((n) => n === LIBP2P_PACKET_MESSAGE).length, 0, 'no Sphinx packet on the libp2p connection any more')
  })
})

describe('packet links between umbra start processes, preset balanced (issue 16, item 3)', { timeout: 180_000 }, () => {
  let dir: string
  let servers: UmbraProcess[] = []
  let client: UmbraProcess
  const all = (): UmbraProcess[] => client == null ? servers : [...servers, client]
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'umbra-wire-shape-'))
    // Every child loads the socket tap (childEnv copies process.env at spawn); restored once they run.
    const saved = { options: process.env.NODE_OPTIONS, tap: process.env.UMBRA_SOCKET_TAP_DIR }
    process.env.NODE_OPTIONS = `${saved.options ?? ''} --import=${pathToFileURL(join(import.meta.dirname, 'fixtures', 'socket-tap.ts')).href}`.trim()
    process.env.UMBRA_SOCKET_TAP_DIR = dir
    try {
      servers = await serverProcesses(dir, SERVERS)
      client = new UmbraProcess({ name: 'client', dataDir: join(dir, 'client'), role: 'client', port: 0 })
      await startNetwork(servers, [client])
    } finally {
      if (saved.options === undefined) delete process.env.NODE_OPTIONS
      else process.env.NODE_OPTIONS = saved.options
      if (saved.tap === undefined) delete process.env.UMBRA_SOCKET_TAP_DIR
      else process.env.UMBRA_SOCKET_TAP_DIR = saved.tap
    }
    await awaitDirectories(all(), servers.map((s) => s.id.peerId))
  })
  after(async () => { await stopAllAndClean(all(), dir) })

  it('delivers messages and a reply with the default preset, and every link write is whole frames', async (t) => {
    const view = await client.call<{ preset: MixnetPreset, directory: MixNodeSummary[], counters: MixnetCounters }>('GET', '/v1/mixnet')
    assert.equal(view.preset, 'balanced', 'the default preset')
    const linkPorts = new Set(view.directory.map((d) => d.linkPort))
    assert.equal(linkPorts.size, SERVERS, `every server announces a link port: ${[...linkPorts].join(', ')}`)
    assert.ok(!linkPorts.has(undefined))
    const recipient = servers[SERVERS - 1] as UmbraProcess
    const pseudonym = await recipient.call<PseudonymInfo>('POST', '/v1/pseudonyms', { label: 'wire' })
    const started = Date.now()
    const ids: string[] = []
    for (let i = 0; i < 5; i++) {
      const receipt = await client.call<{ id: string, status: string }>('POST', '/v1/messages', { to: pseudonym.key, body: `message ${i}`, encoding: 'utf8', anonymous: true, replySurbs: 1 })
      ids.push(receipt.id)
    }
    type Entry = { kind: string, id?: string, inReplyTo?: string, body: string }
    const listed = async (node: UmbraProcess): Promise<Entry[]> => (await node.call<{ messages: Entry[] }>('GET', `/v1/messages?since=${started}&limit=1000`)).messages
    await eventually('5 messages at the recipient', async () => (await listed(recipient)).filter((m) => m.kind === 'anonymous' && ids.includes(m.id ?? '')).length === ids.length ? true : undefined, 60_000)
    await recipient.call('POST', `/v1/messages/${ids[0] as string}/reply`, { body: 'pong', encoding: 'utf8' })
    const reply = await eventually('the reply at the client', async () => (await listed(client)).find((m) => m.kind === 'reply' && m.inReplyTo === ids[0]), 60_000)
    assert.equal(reply.body, 'pong')
    const deliveredMs = Date.now() - started
    // Let the taps flush (every 250 ms), then read every process's writes.
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    const counters = (await client.call<{ counters: MixnetCounters }>('GET', '/v1/mixnet')).counters
    const bySocket = new Map<string, { pid: number, local: number, remote: number, sizes: number[] }>()
    for (const file of (await readdir(dir)).filter((f) => f.endsWith('.tap'))) {
      const pid = Number(file.split('.')[0])
      for (const line of (await readFile(join(dir, file), 'utf8')).split('\n')) {
        if (line === '') continue
        const [id, local, remote, size] = line.split(' ').map(Number) as [number, number, number, number]
        const key = `${pid}:${id}`
        let s = bySocket.get(key)
        if (s === undefined) { s = { pid, local, remote, sizes: [] }; bySocket.set(key, s) }
        s.sizes.push(size)
      }
    }
    const initiators = [...bySocket.values()].filter((s) => linkPorts.has(s.remote))
    const responders = [...bySocket.values()].filter((s) => linkPorts.has(s.local))
    const frameWrites = initiators.flatMap((s) => afterHandshake(s.sizes))
    const clientFrames = initiators.filter((s) => s.pid === client.pid).flatMap((s) => s.sizes.slice(1)).reduce((sum, n) => sum + n / LINK_FRAME_BYTES, 0)
    t.diagnostic(`5 messages and a reply delivered in ${deliveredMs} ms; ${initiators.length} packet links among ${SERVERS} servers and the client`)
    t.diagnostic(`link writes after the handshake: ${frameWrites.length} (${histogram(frameWrites)}); the client wrote ${clientFrames} frames for the ${packetsSent(counters)} packets its counters show`)
    assert.ok(initiators.some((s) => s.pid === client.pid), 'the client sends to its first hop on a packet link')
    const bad = frameWrites.filter((n) => n === 0 || n % LINK_FRAME_BYTES !== 0)
    assert.equal(bad.length, 0, `${bad.length} link writes are not whole ${LINK_FRAME_BYTES}-byte frames, e.g. ${bad.slice(0, 8).join(', ')} B`)
    assert.ok(responders.every((s) => s.sizes.length === 1 && s.sizes[0] === LINK_HANDSHAKE_REPLY_BYTES), `a responder writes its answer and nothing else: ${histogram(responders.flatMap((s) => s.sizes))}`)
    // Every packet the client sent went out as a frame on a link (the counters are read after the last tap flush, so they may be a little ahead).
    assert.ok(clientFrames >= packetsSent(counters) - 5, `${clientFrames} frames for ${packetsSent(counters)} packets`)
  })
})
