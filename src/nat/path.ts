/**
 * Which path a connection to a peer really is (issue 17, item 0: an honest
 * report). `holePunch` and `getPeers` both ask {@link connectionPath} and
 * {@link pingOver}, so a report of `direct` always names a connection that
 * (a) ends at the PeerId asked about, (b) is neither limited nor carried by a
 * circuit relay, and (c) for `holePunch`, has just carried a ping itself.
 */
import { randomBytes } from 'node:crypto'
import { byteStream } from '@libp2p/utils'
import type { Connection, PeerId } from '@libp2p/interface'

/** Protocol of @libp2p/ping (its default prefix, as the node configures it). */
const PING_PROTOCOL = '/ipfs/ping/1.0.0'
/** Bytes of one ping payload (the ping protocol's fixed size). */
const PING_BYTES = 32

/**
 * True when the circuit-relay transport carries a connection at this remote
 * address: a `/p2p-circuit` hop that is the last transport of the address.
 * A private-to-private WebRTC connection keeps the `/p2p-circuit/webrtc`
 * address it was dialled at (the relay carried only its signalling), so it
 * is not relayed by this test; {@link connectionPath} adds what the address
 * cannot tell.
 */
export function isRelayedAddr (addr: string): boolean {
  return addr.includes('/p2p-circuit') && !addr.includes('/webrtc')
}

/**
 * The relay's PeerId in a circuit address (`…/p2p/<relay>/p2p-circuit…`),
 * or undefined when `addr` names no relay.
 */
export function relayPeerOf (addr: string): string | undefined {
  return /\/p2p\/([^/]+)\/p2p-circuit/.exec(addr)?.[1]
}

/**
 * The path of `conn` to `peer`: `direct`, `relayed`, or undefined when the
 * connection is not open or does not end at `peer` (its remote PeerId is
 * what the Noise or DTLS handshake proved, not what an address claimed).
 * `relayed` when libp2p marks it limited (a relay's announced limits), when
 * libp2p's own `direct` flag is false, or when its remote address is a
 * circuit ({@link isRelayedAddr}).
 */
export function connectionPath (conn: Connection, peer: PeerId): 'direct' | 'relayed' | undefined {
  if (conn.status !== 'open' || !conn.remotePeer.equals(peer)) return undefined
  if (conn.limits != null || !conn.direct || isRelayedAddr(conn.remoteAddr.toString())) return 'relayed'
  return 'direct'
}

/** The open direct connections to `peer`, newest first (the one a new stream is most likely to use is libp2p's first unlimited direct one). */
export function directConnections (connections: Connection[], peer: PeerId): Connection[] {
  return connections.filter((c) => connectionPath(c, peer) === 'direct').sort((a, b) => b.timeline.open - a.timeline.open)
}

/**
 * Round-trip time of one ping (`/ipfs/ping/1.0.0`, 32 random bytes echoed)
 * over this very connection, ms; rejects when the connection does not carry
 * it (closed, the peer does not speak ping, the path died), so a caller can
 * tell a connection that exists from one that works.
 * @throws whatever libp2p throws for the stream, or Error('ping echo mismatch')
 */
export async function pingOver (conn: Connection, signal: AbortSignal): Promise<number> {
  const started = performance.now()
  const stream = await conn.newStream(PING_PROTOCOL, { signal, runOnLimitedConnection: true })
  try {
    const bytes = byteStream(stream)
    const data = randomBytes(PING_BYTES)
    await bytes.write(data, { signal })
    const echo = await bytes.read({ bytes: PING_BYTES, signal })
    if (!Buffer.from(echo.subarray()).equals(data)) throw new Error('ping echo mismatch')
    await stream.close({ signal }).catch(() => {})
    return performance.now() - started
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}
