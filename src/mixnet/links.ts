/**
 * Packet links: long-lived `/umbra/mix/1.0.0` streams that carry fixed-size
 * Sphinx packets back to back, with no framing (every packet is exactly
 * PACKET_SIZE bytes, docs/mixnet.md). One outbound stream per next hop is
 * opened on first use and re-opened after a failure; backpressure follows
 * the stream's `drain` event. Inbound bytes are cut into packets and handed
 * to `onPacket` with the sending peer (the relay's predecessor).
 */
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { Uint8ArrayList } from 'uint8arraylist'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { withTimeout } from '../signals.ts'
import { MIX_PROTOCOL } from './constants.ts'
import { PACKET_SIZE } from './sphinx/index.ts'
import type { Logger } from '../logger.ts'
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'

/** How long a dial of the next hop may take, ms. */
const LINK_DIAL_TIMEOUT_MS = 10_000

/** What {@link createLinks} needs. */
export interface LinksInit {
  libp2p: Libp2p
  log: Logger
  /** Called for every complete inbound packet (exactly PACKET_SIZE bytes). */
  onPacket(packet: Uint8Array, from: PeerId): void
  /** Returns multiaddrs known for a node key (from the directory), to add before dialing. */
  addrsFor(nodeKey: Uint8Array): string[]
  /** Whether this node accepts inbound packets (server nodes only). */
  inbound: boolean
}

/** Packet links held by one node. */
export interface Links {
  /**
   * Sends one packet to the node with Ed25519 key `nodeKey` (32 bytes).
   * Resolves when the bytes are queued on the stream.
   * @throws the dial or stream error (the caller counts and drops)
   */
  send(nodeKey: Uint8Array, packet: Uint8Array): Promise<void>
  start(): Promise<void>
  stop(): Promise<void>
}

/** PeerId of an Ed25519 node key (32 bytes). */
export function peerIdOfNodeKey (nodeKey: Uint8Array): PeerId {
  return peerIdFromPublicKey(publicKeyFromRaw(nodeKey))
}

/** Creates the packet links of a node; see the module comment. */
export function createLinks (init: LinksInit): Links {
  const { libp2p, log } = init
  const outbound = new Map<string, Promise<Stream>>()
  const inboundStreams = new Set<Stream>()
  let running = false
  const ownKey = libp2p.peerId.publicKey?.raw ?? new Uint8Array()

  async function open (nodeKey: Uint8Array, peer: PeerId): Promise<Stream> {
    const addrs = init.addrsFor(nodeKey)
    if (addrs.length > 0) {
      await libp2p.peerStore.merge(peer, { multiaddrs: addrs.map((a) => multiaddr(a)) }).catch(() => {})
    }
    const stream = await libp2p.dialProtocol(peer, MIX_PROTOCOL, { signal: withTimeout(undefined, LINK_DIAL_TIMEOUT_MS) })
    return stream
  }

  async function read (stream: Stream, from: PeerId): Promise<void> {
    const buf = new Uint8ArrayList()
    try {
      for await (const chunk of stream) {
        buf.append(chunk)
        while (buf.byteLength >= PACKET_SIZE) {
          const packet = buf.subarray(0, PACKET_SIZE)
          buf.consume(PACKET_SIZE)
          init.onPacket(packet, from)
        }
      }
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'inbound mix stream ended')
    } finally {
      inboundStreams.delete(stream)
    }
  }

  return {
    async send (nodeKey, packet) {
      if (!running) throw new Error('links stopped')
      if (init.inbound && uint8ArrayEquals(nodeKey, ownKey)) {
        // This node is the next hop of a path (e.g. a gateway that is also the first mix of a SURB): no socket needed.
        queueMicrotask(() => { init.onPacket(packet, libp2p.peerId) })
        return
      }
      const id = uint8ArrayToString(nodeKey, 'base64')
      let pending = outbound.get(id)
      if (pending == null) {
        const peer = peerIdOfNodeKey(nodeKey)
        pending = open(nodeKey, peer)
        outbound.set(id, pending)
        pending.then((s) => {
          const drop = (): void => { if (outbound.get(id) === pending) outbound.delete(id) }
          s.addEventListener('close', drop, { once: true })
        }, () => { if (outbound.get(id) === pending) outbound.delete(id) })
      }
      const stream = await pending
      if (stream.status !== 'open' || stream.writeStatus !== 'writable') {
        if (outbound.get(id) === pending) outbound.delete(id)
        throw new Error('mix stream closed')
      }
      if (!stream.send(packet)) await stream.onDrain({ signal: withTimeout(undefined, LINK_DIAL_TIMEOUT_MS) })
    },

    async start () {
      running = true
      if (!init.inbound) return
      await libp2p.handle(MIX_PROTOCOL, (stream, connection) => {
        inboundStreams.add(stream)
        void read(stream, connection.remotePeer)
      }, { maxInboundStreams: 256, maxOutboundStreams: 256 })
    },

    async stop () {
      running = false
      if (init.inbound) await libp2p.unhandle(MIX_PROTOCOL).catch(() => {})
      const streams = await Promise.allSettled([...outbound.values()])
      outbound.clear()
      for (const r of streams) if (r.status === 'fulfilled') r.value.abort(new Error('node stopping'))
      for (const s of inboundStreams) s.abort(new Error('node stopping'))
      inboundStreams.clear()
    }
  }
}
