/**
 * Packet links (src/mixnet/packet-link.ts, issue 16 item 3) on loopback:
 * packets arrive whole and in order over Noise IK, every write after the
 * handshake is a whole number of 4,112-byte frames, the responder's key is
 * bound to the node key a descriptor names, and bad input (a wrong key, a
 * garbage handshake, a forged frame, a frame cut short) closes the socket
 * with a counted reason instead of a crash.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import { after, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import NoiseState from 'noise-handshake'
import curve from 'noise-curve-ed'
import { MixLinkError, type MixLinkFailure } from '../../src/mixnet/errors.ts'
import { createLinks } from '../../src/mixnet/links.ts'
import {
  dialLink, linkKeysOf, linkListenHost, linkTarget, listenLinks, LINK_FRAME_BYTES, LINK_HANDSHAKE_INIT_BYTES, LINK_HANDSHAKE_REPLY_BYTES,
  type InboundLink, type LinkListener
} from '../../src/mixnet/packet-link.ts'
import { PACKET_SIZE } from '../../src/mixnet/sphinx/index.ts'
import { logger } from '../../src/logger.ts'
import { waitFor } from '../helpers/wait.ts'
import type { Libp2p } from '@libp2p/interface'

const log = logger('test:packet-link')

/** A listener that collects its links' packets and its failures. */
async function listener (): Promise<{ l: LinkListener, key: Awaited<ReturnType<typeof generateKeyPair>>, received: Uint8Array[], links: InboundLink[], failures: MixLinkFailure[] }> {
  const key = await generateKeyPair('Ed25519')
  const received: Uint8Array[] = []
  const links: InboundLink[] = []
  const failures: MixLinkFailure[] = []
  const l = await listenLinks({
    keys: linkKeysOf(key),
    host: '127.0.0.1',
    port: 0,
    log,
    onFailure: (r) => failures.push(r),
    onLink: (link) => {
      links.push(link)
      void (async () => { for await (const p of link) received.push(p) })()
    }
  })
  return { l, key, received, links, failures }
}

/** Runs the initiator's side of the handshake by hand on a raw socket; returns the socket, ready for frames. */
async function rawLink (port: number, responderKey: Uint8Array): Promise<net.Socket> {
  const mine = linkKeysOf(await generateKeyPair('Ed25519'))
  const socket = net.connect({ host: '127.0.0.1', port })
  await new Promise((resolve) => socket.once('connect', resolve))
  const noise = new NoiseState('IK', true, mine, { curve })
  noise.initialise(new TextEncoder().encode('umbra/mix-link/v1'), Buffer.from(responderKey))
  socket.write(noise.send())
  const reply = await new Promise<Buffer>((resolve) => socket.once('data', resolve))
  assert.equal(reply.byteLength, LINK_HANDSHAKE_REPLY_BYTES)
  noise.recv(reply)
  assert.ok(noise.complete)
  return socket
}

const open: LinkListener[] = []
after(async () => { for (const l of open) await l.close() })

describe('packet links (issue 16 item 3)', () => {
  it('carries packets whole and in order, one write per batch, each write whole 4,112-byte frames', async (t) => {
    const { l, key, received, links } = await listener()
    open.push(l)
    const sender = await generateKeyPair('Ed25519')
    const writes: number[] = []
    const original = net.Socket.prototype.write
    const link = await dialLink({ host: '127.0.0.1', port: l.port, nodeKey: key.publicKey.raw }, linkKeysOf(sender))
    net.Socket.prototype.write = function (this: net.Socket, chunk: unknown, ...rest: unknown[]) {
      if (chunk instanceof Uint8Array && this.remotePort === l.port) writes.push(chunk.byteLength)
      return (original as (...a: unknown[]) => boolean).call(this, chunk, ...rest)
    } as typeof net.Socket.prototype.write
    const sent = Array.from({ length: 20 }, () => randomBytes(PACKET_SIZE))
    try {
      await link.send(sent.slice(0, 1))
      await link.send(sent.slice(1, 8))
      for (const p of sent.slice(8)) await link.send([p])
    } finally {
      net.Socket.prototype.write = original
    }
    await waitFor('20 packets at the responder', () => received.length === 20, 5_000)
    t.diagnostic(`writes after the handshake: ${writes.join(', ')} bytes`)
    assert.deepEqual(received.map((p) => Buffer.from(p).toString('hex')), sent.map((p) => p.toString('hex')))
    assert.equal(writes.length, 14)
    assert.ok(writes.every((n) => n > 0 && n % LINK_FRAME_BYTES === 0), `writes ${writes.join(', ')}`)
    assert.equal(links[0]?.remotePeer.toString(), peerIdFromPrivateKey(sender).toString(), 'the responder learns its predecessor\'s PeerId')
    assert.equal(link.frames, 20)
    link.close()
  })

  it('refuses a responder that does not hold the node key the descriptor names', async () => {
    const { l, links, failures } = await listener()
    open.push(l)
    const named = await generateKeyPair('Ed25519') // what the (forged) descriptor names; the listener holds another key
    await assert.rejects(dialLink({ host: '127.0.0.1', port: l.port, nodeKey: named.publicKey.raw }, linkKeysOf(await generateKeyPair('Ed25519'))), (err: unknown) => {
      assert.ok(err instanceof MixLinkError)
      assert.equal(err.code, 'UMBRA_ERR_MIX_LINK')
      assert.ok(['handshake', 'wrong-key'].includes(err.reason), err.reason)
      return true
    })
    await waitFor('the listener to count the failed handshake', () => failures.length === 1, 5_000)
    assert.deepEqual(failures, ['handshake'])
    assert.equal(links.length, 0, 'no link was accepted')
  })

  it('closes a socket that sends a garbage handshake, a forged frame or half a frame, and counts each', async () => {
    const { l, key, received, failures } = await listener()
    open.push(l)
    // Garbage instead of the handshake.
    const junk = net.connect({ host: '127.0.0.1', port: l.port })
    await new Promise((resolve) => junk.once('connect', resolve))
    junk.write(randomBytes(LINK_HANDSHAKE_INIT_BYTES + 10))
    await new Promise((resolve) => junk.once('close', resolve))
    // A frame that does not authenticate after a good handshake.
    const forged = await rawLink(l.port, key.publicKey.raw)
    forged.write(randomBytes(LINK_FRAME_BYTES))
    await new Promise((resolve) => forged.once('close', resolve))
    // Half a frame, then the end of the connection.
    const cut = await rawLink(l.port, key.publicKey.raw)
    cut.end(randomBytes(LINK_FRAME_BYTES / 2))
    await waitFor('three failures counted', () => failures.length === 3, 5_000)
    assert.deepEqual(failures.sort(), ['garbage', 'handshake', 'truncated'])
    assert.equal(received.length, 0, 'nothing was delivered')
    // The listener still serves good links.
    const good = await dialLink({ host: '127.0.0.1', port: l.port, nodeKey: key.publicKey.raw }, linkKeysOf(await generateKeyPair('Ed25519')))
    await good.send([randomBytes(PACKET_SIZE)])
    await waitFor('a packet on a good link', () => received.length === 1, 5_000)
    good.close()
  })

  it('links.ts over a real link: the relay sees its predecessor, applies backpressure without a drop, caps links per predecessor', async (t) => {
    const relayKey = await generateKeyPair('Ed25519')
    const senderKey = await generateKeyPair('Ed25519')
    const fakeLibp2p = (key: typeof relayKey): Libp2p => ({
      peerId: peerIdFromPrivateKey(key),
      getMultiaddrs: () => [{ toString: () => '/ip4/127.0.0.1/tcp/1' }],
      async handle () {},
      async unhandle () {},
      async dialProtocol () { throw new Error('no libp2p stream in this test') }
    }) as unknown as Libp2p
    const from: string[] = []
    const waiting: Array<() => void> = []
    const drops: string[] = []
    const failures: string[] = []
    const relay = createLinks({
      libp2p: fakeLibp2p(relayKey),
      log,
      inbound: true,
      privateKey: relayKey,
      linkListen: { port: 0 },
      addrsFor: () => [],
      drop: (r) => drops.push(r),
      linkFailure: (r) => failures.push(r),
      // Every packet stays in processing until the test lets it go: 1 at a time, 1 waiting, the rest must wait in TCP.
      onPacket: (_p, peer) => { from.push(peer.toString()); return new Promise((resolve) => { waiting.push(() => { resolve(undefined) }) }) },
      maxInflightPerPeer: 1,
      maxQueuedPerPeer: 1
    })
    await relay.start()
    const port = relay.linkPort()
    assert.ok(port !== undefined && port > 0)
    const sender = createLinks({
      libp2p: fakeLibp2p(senderKey),
      log,
      inbound: false,
      privateKey: senderKey,
      linkFor: (nodeKey) => ({ host: '127.0.0.1', port, nodeKey }),
      addrsFor: () => [],
      drop: (r) => drops.push(r),
      onPacket: () => undefined
    })
    await sender.start()
    try {
      const COUNT = 40
      const sends = Array.from({ length: COUNT }, async () => { await sender.send(relayKey.publicKey.raw, randomBytes(PACKET_SIZE)) })
      await Promise.all(sends)
      await waitFor('the first packet in processing', () => from.length === 1, 5_000)
      await new Promise((resolve) => setTimeout(resolve, 300))
      assert.equal(from.length, 1, 'one in processing; the next waits in the queue, the rest in the socket')
      let released = 0
      while (released < COUNT) {
        await waitFor(`packet ${released + 1}`, () => waiting.length > 0, 5_000, 5)
        waiting.shift()?.()
        released++
      }
      t.diagnostic(`${COUNT} packets through 1 processing slot and a queue of 1: ${from.length} arrived, drops ${drops.length}`)
      assert.equal(from.length, COUNT)
      assert.deepEqual(drops, [])
      assert.ok(from.every((p) => p === peerIdFromPrivateKey(senderKey).toString()))
      assert.deepEqual(relay.linkCount(), { outbound: 0, inbound: 1 })
      assert.deepEqual(sender.linkCount(), { outbound: 1, inbound: 0 })
      // The same predecessor may hold 8 links; the 9th is refused and counted.
      const extra = await Promise.all(Array.from({ length: 8 }, async () => await dialLink({ host: '127.0.0.1', port, nodeKey: relayKey.publicKey.raw }, linkKeysOf(senderKey))))
      await waitFor('the 9th link refused', () => failures.includes('limit'), 5_000)
      assert.equal(relay.linkCount().inbound, 8)
      for (const l of extra) l.close()
    } finally {
      await sender.stop()
      await relay.stop()
    }
  })

  it('a link port that is taken leaves the node running without a listener (predecessors use the libp2p stream)', async () => {
    const { l } = await listener()
    open.push(l)
    const key = await generateKeyPair('Ed25519')
    const links = createLinks({
      libp2p: { peerId: peerIdFromPrivateKey(key), getMultiaddrs: () => [], async handle () {}, async unhandle () {} } as unknown as Libp2p,
      log,
      inbound: true,
      privateKey: key,
      linkListen: { host: '127.0.0.1', port: l.port },
      addrsFor: () => [],
      drop: () => {},
      onPacket: () => undefined
    })
    await links.start()
    assert.equal(links.linkPort(), undefined)
    await links.stop()
  })

  it('reads the link target from a descriptor and picks the bind address', () => {
    const nodeKey = new Uint8Array(32)
    assert.equal(linkTarget({ nodeKey, addrs: ['/ip4/10.0.0.1/tcp/4001'] }), undefined, 'no link port: the libp2p stream')
    assert.deepEqual(linkTarget({ nodeKey, addrs: ['/ip4/1.2.3.4/tcp/4001/p2p/x/p2p-circuit', '/ip4/10.0.0.1/tcp/4001/ws', '/ip6/::1/tcp/5'], linkPort: 4100 }), { host: '10.0.0.1', port: 4100, nodeKey })
    assert.equal(linkTarget({ nodeKey, addrs: ['/ip4/10.0.0.1/udp/4001/quic-v1'], linkPort: 4100 }), undefined)
    assert.equal(linkListenHost(['/ip4/127.0.0.1/tcp/1', '/ip4/127.0.0.1/tcp/2/ws']), '127.0.0.1')
    assert.equal(linkListenHost(['/ip4/127.0.0.1/tcp/1', '/ip4/10.0.0.1/tcp/1']), '0.0.0.0')
    assert.equal(linkListenHost(['/ip4/127.0.0.1/tcp/1', '/ip6/::1/tcp/1']), '::')
  })
})
