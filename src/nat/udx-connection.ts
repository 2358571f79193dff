/**
 * A libp2p connection over a punched UDP socket pair (issue 17 item 3): a
 * udx-native reliable stream (congestion-controlled, ordered; the transport
 * under hyperdht) on the local port the birthday punch won, wrapped as a
 * libp2p `MultiaddrConnection` and upgraded with Noise and Yamux by the
 * node's own upgrader, exactly as `@libp2p/tcp` and `@libp2p/webrtc` hand
 * theirs over (`upgrader.upgradeOutbound` / `upgradeInbound`). The remote
 * address carries `/p2p/<peer>`, so the upgrader checks that the Noise
 * handshake proved that PeerId, on both sides.
 *
 * Why udx-native (docs/nat.md "Birthday punching"): prebuilt N-API binaries,
 * reliable streams that share one UDP socket with raw datagrams, per-send
 * TTL and keep-alives; Node's dgram has no reliable stream, and QUIC in Node
 * is still experimental.
 */
import { AbstractMultiaddrConnection } from '@libp2p/utils'
import { defaultLogger } from '@libp2p/logger'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import UDX, { type UdxSocket, type UdxStream } from 'udx-native'
import type { AbortOptions, Connection, Libp2p, MessageStreamDirection, PeerId, Upgrader } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'
import type { Endpoint } from './birthday.ts'

/**
 * Keep-alive interval of the udx stream, ms: below the 30 s after which
 * Linux conntrack (and many home routers) drop an idle UDP mapping
 * (`nf_conntrack_udp_timeout`; RFC 4787 REQ-5 asks for 2 min, not all obey).
 */
export const UDX_KEEPALIVE_MS = 15_000
/** udx stream id of the side that sent the offer (the Noise initiator); the other side is 2. */
export const UDX_INITIATOR_STREAM_ID = 1
export const UDX_RESPONDER_STREAM_ID = 2

let udx: UDX | undefined

class UdxMultiaddrConnection extends AbstractMultiaddrConnection {
  readonly #stream: UdxStream
  readonly #socket: UdxSocket

  constructor (init: { stream: UdxStream, socket: UdxSocket, remoteAddr: Multiaddr, direction: MessageStreamDirection }) {
    super({ remoteAddr: init.remoteAddr, direction: init.direction, log: defaultLogger().forComponent('umbra:nat:udx') })
    this.#stream = init.stream
    this.#socket = init.socket
    this.#stream.on('data', (buf: Uint8Array) => { this.onData(buf) })
    this.#stream.on('error', (err: Error) => { this.abort(err) })
    this.#stream.on('end', () => { this.onTransportClosed() })
    this.#stream.on('close', () => {
      this.onTransportClosed()
      void this.#socket.close()
    })
    this.#stream.on('drain', () => { this.safeDispatchEvent('drain') })
  }

  sendData (data: Uint8ArrayList): { sentBytes: number, canSendMore: boolean } {
    let sentBytes = 0
    let canSendMore = true
    for (const buf of data) {
      sentBytes += buf.byteLength
      canSendMore = this.#stream.write(buf)
      if (!canSendMore) break
    }
    return { sentBytes, canSendMore }
  }

  async sendClose (_options?: AbortOptions): Promise<void> {
    if (this.#stream.destroyed) return
    await new Promise<void>((resolve) => {
      this.#stream.once('close', () => { resolve() })
      this.#stream.end()
      // A peer that is gone never acks the end: do not hang.
      setTimeout(() => { this.#stream.destroy(); resolve() }, 2_000).unref()
    })
  }

  sendReset (): void {
    this.#stream.destroy()
  }

  sendPause (): void {
    this.#stream.pause()
  }

  sendResume (): void {
    this.#stream.resume()
  }
}

/** What {@link upgradeUdx} needs. */
export interface UdxUpgradeInit {
  libp2p: Libp2p
  upgrader: Upgrader
  /** This side's local UDP port (the punched one; the caller closed its dgram socket on it). */
  localPort: number
  /** The peer's public endpoint on the punched pair. */
  remote: Endpoint
  /** The peer the Noise handshake must prove. */
  peer: PeerId
  /** `outbound`: this side sent the offer and runs the Noise initiator. */
  direction: MessageStreamDirection
  signal: AbortSignal
}

/**
 * Binds a udx socket on `localPort`, connects a stream to the peer's and
 * upgrades it (Noise, Yamux) to a libp2p connection with `/ip4/<ip>/udp/<port>/p2p/<peer>`
 * as its remote address; keep-alives every {@link UDX_KEEPALIVE_MS}.
 * @throws whatever the upgrader throws (the peer proved another PeerId, the upgrade timed out), or Error when the port is taken
 */
export async function upgradeUdx (init: UdxUpgradeInit): Promise<Connection> {
  udx ??= new UDX()
  const socket = udx.createSocket()
  socket.bind(init.localPort, '0.0.0.0')
  const outbound = init.direction === 'outbound'
  const stream = udx.createStream(outbound ? UDX_INITIATOR_STREAM_ID : UDX_RESPONDER_STREAM_ID)
  stream.connect(socket, outbound ? UDX_RESPONDER_STREAM_ID : UDX_INITIATOR_STREAM_ID, init.remote.port, init.remote.host)
  stream.setKeepalive(UDX_KEEPALIVE_MS)
  const remoteAddr = multiaddr(`/ip4/${init.remote.host}/udp/${init.remote.port}/p2p/${init.peer.toString()}`)
  const maConn = new UdxMultiaddrConnection({ stream, socket, remoteAddr, direction: init.direction })
  try {
    if (outbound) return await init.upgrader.upgradeOutbound(maConn, { signal: init.signal })
    await init.upgrader.upgradeInbound(maConn, { signal: init.signal })
    const conn = init.libp2p.getConnections(init.peer).find((c) => c.remoteAddr.equals(remoteAddr) && c.status === 'open')
    if (conn == null) throw new Error('the inbound udx connection closed right after its upgrade')
    return conn
  } catch (err) {
    maConn.abort(err as Error)
    stream.destroy()
    await socket.close()
    throw err
  }
}
