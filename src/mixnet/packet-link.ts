/**
 * Packet links (issue 16 item 3, docs/mixnet.md "Packet links"): a mix
 * node's own TCP connections that carry Sphinx packets and nothing else,
 * so that an observer of one link sees only whole frames of one size.
 *
 * A link is a plain TCP socket (TCP_NODELAY) secured with the Noise IK
 * handshake (Noise protocol framework rev. 34, §7.5,
 * `Noise_IK_Ed25519_ChaChaPoly_BLAKE2b`, holepunch's `noise-handshake` with
 * `noise-curve-ed`; prologue `umbra/mix-link/v1`). Both static keys are the
 * nodes' Ed25519 transport keys (their PeerId keys): the initiator takes
 * the responder's key from its signed mix descriptor, so only the holder of
 * that key can complete the handshake (a link cannot be hijacked), and the
 * responder learns the initiator's key, its predecessor's PeerId.
 *
 * Wire: the initiator sends one 96-byte handshake message, the responder
 * one 48-byte answer; after that only the initiator writes, and every write
 * is one or more whole frames of {@link LINK_FRAME_BYTES} (4,112) bytes: a
 * 4,096-byte Sphinx packet encrypted with the initiator's Noise transport
 * key (ChaCha20-Poly1305, counter nonce) and its 16-byte tag, no length
 * field. The responder never writes after its answer; a byte from it, a
 * frame whose tag fails, or a connection that ends inside a frame closes
 * the link with a reason (`MixLinkFailure`), never a crash.
 */
import net from 'node:net'
import NoiseState from 'noise-handshake'
import CipherState from 'noise-handshake/cipher.js'
import curve from 'noise-curve-ed'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { Uint8ArrayList } from 'uint8arraylist'
import { MixLinkError, type MixLinkFailure } from './errors.ts'
import { PACKET_SIZE } from './sphinx/index.ts'
import type { Logger } from '../logger.ts'
import type { PeerId, PrivateKey } from '@libp2p/interface'

/** ChaCha20-Poly1305 tag, bytes (RFC 8439; Noise rev. 34 §5.1 `ENCRYPT`). */
export const LINK_TAG_BYTES = 16
/** One frame on a link: a Sphinx packet and its tag, 4,112 bytes. */
export const LINK_FRAME_BYTES = PACKET_SIZE + LINK_TAG_BYTES
/** IK message 1: e (32), encrypted s (32 + 16), encrypted empty payload (16), bytes (Noise rev. 34 §7.5). */
export const LINK_HANDSHAKE_INIT_BYTES = 96
/** IK message 2: e (32), encrypted empty payload (16), bytes. */
export const LINK_HANDSHAKE_REPLY_BYTES = 48
/** How long the TCP connect and the handshake may take together, ms. */
export const LINK_HANDSHAKE_TIMEOUT_MS = 5_000
/**
 * An outbound link with no packet to send for this long is closed, ms; an
 * inbound one that receives nothing for twice as long is closed by the
 * responder (docs/mixnet.md "Packet links"). Cover traffic keeps the links
 * of a busy node open.
 */
export const LINK_IDLE_MS = 60_000
/**
 * Frames one link sends before it is closed and re-dialled with fresh keys:
 * noise-handshake's CipherState writes a 32-bit nonce counter, so a key
 * must encrypt fewer than 2^32 frames (Noise rev. 34 §5.1: a nonce is never
 * reused with a key).
 */
export const LINK_MAX_FRAMES = 2 ** 31
/** Inbound links (and handshakes) one node holds at most. */
export const LINK_MAX_INBOUND = 1024
/** Noise prologue: domain separation of this protocol (STYLE.md, "Wire and crypto"). */
const LINK_PROLOGUE = new TextEncoder().encode('umbra/mix-link/v1')

/** A node's Noise static key pair: its Ed25519 transport key as libsodium stores it. */
export interface LinkKeys {
  /** Ed25519 public key, 32 bytes. */
  publicKey: Buffer
  /** Seed and public key, 64 bytes. */
  secretKey: Buffer
}

/**
 * The Noise static key pair of a node: its Ed25519 transport key.
 * @throws UMBRA_ERR_MIX_LINK (`handshake`) when the key is not Ed25519
 */
export function linkKeysOf (privateKey: PrivateKey): LinkKeys {
  if (privateKey.type !== 'Ed25519' || privateKey.raw.byteLength !== 64) throw new MixLinkError('Packet links need an Ed25519 node key', { reason: 'handshake' })
  return { publicKey: Buffer.from(privateKey.publicKey.raw), secretKey: Buffer.from(privateKey.raw) }
}

/** Where a next hop takes packet links, from its descriptor. */
export interface LinkTarget {
  /** IP address (from the descriptor's addrs). */
  host: string
  /** TCP port (the descriptor's `linkPort`). */
  port: number
  /** The node's Ed25519 key, 32 bytes: the Noise static key it must prove. */
  nodeKey: Uint8Array
}

/** `/ip4/<host>/tcp/…` or `/ip6/<host>/tcp/…` at the start of a multiaddr string (not a relayed one). */
const TCP_ADDR = /^\/(ip4|ip6)\/([^/]+)\/tcp\/\d+(\/|$)/

/** The IP hosts of the direct TCP addresses in `addrs` (multiaddr strings), in order, without repeats. */
function tcpHosts (addrs: string[]): Array<{ family: 'ip4' | 'ip6', host: string }> {
  const out = new Map<string, { family: 'ip4' | 'ip6', host: string }>()
  for (const a of addrs) {
    if (a.includes('/p2p-circuit')) continue
    const m = TCP_ADDR.exec(a)
    if (m != null) out.set(m[2] as string, { family: m[1] as 'ip4' | 'ip6', host: m[2] as string })
  }
  return [...out.values()]
}

/**
 * Where a next hop takes packet links: the host of the first direct TCP
 * address its descriptor lists and the descriptor's link port.
 * @returns `undefined` when it announces no link port or no TCP address
 *   (then the libp2p mix stream carries its packets)
 */
export function linkTarget (node: { nodeKey: Uint8Array, addrs: string[], linkPort?: number } | undefined): LinkTarget | undefined {
  if (node?.linkPort === undefined) return undefined
  const first = tcpHosts(node.addrs)[0]
  return first === undefined ? undefined : { host: first.host, port: node.linkPort, nodeKey: node.nodeKey }
}

/**
 * The address a node's link listener binds so that every host its
 * descriptor announces reaches it: that host when the node's TCP addresses
 * name one, else the unspecified address (`::` when one is IPv6, else
 * `0.0.0.0`).
 */
export function linkListenHost (addrs: string[]): string {
  const hosts = tcpHosts(addrs)
  if (hosts.length === 1) return (hosts[0] as { host: string }).host
  return hosts.some((h) => h.family === 'ip6') ? '::' : '0.0.0.0'
}

/** A Buffer view of a Uint8Array, no copy. */
function view (bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** Reads a socket through one async iterator: whole byte counts on demand, the rest kept for the next call. */
class SocketReader {
  readonly #chunks: AsyncIterator<Buffer>
  readonly buffered = new Uint8ArrayList()
  constructor (socket: net.Socket) {
    this.#chunks = socket[Symbol.asyncIterator]()
  }

  /** Pulls the next chunk into `buffered`; false at the end of the stream. @throws the socket's error */
  async pull (): Promise<boolean> {
    const next = await this.#chunks.next()
    if (next.done === true) return false
    this.buffered.append(next.value)
    return true
  }

  /** Exactly `n` bytes. @throws UMBRA_ERR_MIX_LINK (`handshake`) when the stream ends first */
  async exactly (n: number): Promise<Uint8Array> {
    while (this.buffered.byteLength < n) {
      if (!await this.pull()) throw new MixLinkError('The link closed during the handshake', { reason: 'handshake' })
    }
    const out = this.buffered.subarray(0, n)
    this.buffered.consume(n)
    return out
  }
}

/** Destroys `socket` after `ms` unless cleared; the error names the handshake. */
function handshakeTimer (socket: net.Socket, ms: number): NodeJS.Timeout {
  return setTimeout(() => { socket.destroy(new MixLinkError(`Packet link handshake took longer than ${ms} ms`, { reason: 'handshake' })) }, ms)
}

/** An open outbound link: frames packets to one next hop. */
export interface OutboundLink {
  /**
   * Encrypts the packets (each exactly 4,096 bytes) into frames and writes
   * them in one `socket.write`; resolves when the socket takes more (after
   * its drain when its buffer was full).
   * @throws UMBRA_ERR_MIX_LINK (`closed`) when the link is closed
   */
  send(packets: Uint8Array[]): Promise<void>
  /** Whether `send` may be called. */
  readonly open: boolean
  /** Frames sent so far. */
  readonly frames: number
  /** Ends the link (a TCP FIN after what was written). */
  close(): void
}

/** Options of {@link dialLink}. */
export interface DialLinkOptions {
  signal?: AbortSignal
  /** @default LINK_HANDSHAKE_TIMEOUT_MS (5 s) */
  handshakeTimeoutMs?: number
  /** @default LINK_IDLE_MS (60 s) */
  idleMs?: number
  /** Called once when the link's socket has closed, with the failure if it was one. */
  onClose?: (failure?: MixLinkFailure) => void
}

/**
 * Opens a packet link to a next hop: TCP connect (TCP_NODELAY), Noise IK as
 * initiator with `target.nodeKey` as the responder's static key.
 * @param target - host, port and node key from the next hop's descriptor
 * @param keys - this node's {@link linkKeysOf}
 * @throws UMBRA_ERR_MIX_LINK: `connect` (refused, unreachable, aborted),
 *   `handshake` (timeout, closed), `wrong-key` (the answer does not
 *   authenticate: the responder does not hold `target.nodeKey`)
 */
export async function dialLink (target: LinkTarget, keys: LinkKeys, options: DialLinkOptions = {}): Promise<OutboundLink> {
  const socket = net.connect({ host: target.host, port: target.port, noDelay: true })
  socket.setNoDelay(true)
  const timer = handshakeTimer(socket, options.handshakeTimeoutMs ?? LINK_HANDSHAKE_TIMEOUT_MS)
  const onAbort = (): void => { socket.destroy(new MixLinkError('Packet link dial aborted', { reason: 'connect' })) }
  options.signal?.addEventListener('abort', onAbort, { once: true })
  let failure: MixLinkFailure | undefined
  socket.on('error', () => {}) // reported through the reader or `close`
  const reader = new SocketReader(socket)
  let cipher: CipherState
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', (err) => { reject(err instanceof MixLinkError ? err : new MixLinkError(`Packet link to ${target.host}:${target.port} failed: ${err.message}`, { reason: 'connect', cause: err })) })
    })
    const noise = new NoiseState('IK', true, keys, { curve })
    noise.initialise(LINK_PROLOGUE, view(target.nodeKey))
    socket.write(noise.send())
    const reply = await reader.exactly(LINK_HANDSHAKE_REPLY_BYTES)
    try {
      noise.recv(view(reply))
    } catch (err) {
      throw new MixLinkError('The next hop does not hold the key its descriptor names (Noise handshake failed)', { reason: 'wrong-key', cause: err })
    }
    if (!noise.complete || noise.tx == null) throw new MixLinkError('Noise handshake did not complete', { reason: 'handshake' })
    if (reader.buffered.byteLength > 0) throw new MixLinkError('The responder sent bytes after its handshake answer', { reason: 'garbage' })
    cipher = new CipherState(noise.tx)
  } catch (err) {
    socket.destroy()
    if (err instanceof MixLinkError) throw err
    throw new MixLinkError(`Packet link handshake failed: ${(err as Error).message}`, { reason: 'handshake', cause: err })
  } finally {
    clearTimeout(timer)
    options.signal?.removeEventListener('abort', onAbort)
  }
  let open = true
  let frames = 0
  const idleMs = options.idleMs ?? LINK_IDLE_MS
  socket.setTimeout(idleMs, () => { socket.end() })
  socket.once('close', () => {
    open = false
    options.onClose?.(failure)
  })
  // The responder never writes after its answer: any byte from it is a protocol violation.
  void (async () => {
    try {
      if (await reader.pull()) {
        failure = 'garbage'
        socket.destroy()
      }
    } catch { /* closed */ }
  })()
  return {
    get open () { return open && !socket.destroyed && socket.writable },
    get frames () { return frames },
    async send (packets) {
      if (!open || socket.destroyed || !socket.writable) throw new MixLinkError('The packet link is closed', { reason: 'closed' })
      const out = Buffer.allocUnsafe(packets.length * LINK_FRAME_BYTES)
      for (let i = 0; i < packets.length; i++) {
        const packet = packets[i] as Uint8Array
        if (packet.byteLength !== PACKET_SIZE) throw new MixLinkError(`A packet link carries ${PACKET_SIZE}-byte packets, got ${packet.byteLength}`, { reason: 'garbage' })
        out.set(cipher.encrypt(view(packet)), i * LINK_FRAME_BYTES)
      }
      frames += packets.length
      const more = socket.write(out)
      if (frames >= LINK_MAX_FRAMES) {
        open = false
        socket.end()
      }
      if (more) return
      await new Promise<void>((resolve, reject) => {
        const done = (): void => { socket.off('drain', done); socket.off('close', closed); resolve() }
        const closed = (): void => { socket.off('drain', done); reject(new MixLinkError('The packet link closed while its buffer was full', { reason: 'closed' })) }
        socket.once('drain', done)
        socket.once('close', closed)
      })
    },
    close () {
      open = false
      socket.end()
    }
  }
}

/**
 * An authenticated inbound link: an async iterable of 4,096-byte packets,
 * in the shape links.ts reads libp2p mix streams with. Reading is
 * backpressure: while nobody pulls, the socket's buffer fills and TCP's
 * window closes (`pause`/`resume` have nothing more to do).
 */
export class InboundLink {
  /** The predecessor (the initiator's static key is its PeerId key). */
  readonly remotePeer: PeerId
  status: 'open' | 'aborted' | 'closed' = 'open'
  readonly readStatus = 'readable' as const
  readonly #socket: net.Socket
  readonly #reader: SocketReader
  readonly #cipher: CipherState
  readonly #onFailure: (reason: MixLinkFailure, message: string) => void

  constructor (socket: net.Socket, reader: SocketReader, cipher: CipherState, remotePeer: PeerId, onFailure: (reason: MixLinkFailure, message: string) => void) {
    this.#socket = socket
    this.#reader = reader
    this.#cipher = cipher
    this.remotePeer = remotePeer
    this.#onFailure = onFailure
  }

  pause (): void {}
  resume (): void {}

  /** Closes the link at once (a penalty, or the node stopping). */
  abort (err: Error): void {
    if (this.status !== 'open') return
    this.status = 'aborted'
    this.#socket.destroy(err)
  }

  async * [Symbol.asyncIterator] (): AsyncGenerator<Uint8Array> {
    const buf = this.#reader.buffered
    try {
      while (true) {
        while (buf.byteLength >= LINK_FRAME_BYTES && this.status === 'open') {
          const frame = buf.subarray(0, LINK_FRAME_BYTES)
          buf.consume(LINK_FRAME_BYTES)
          let packet: Uint8Array
          try {
            packet = this.#cipher.decrypt(view(frame))
          } catch {
            this.#fail('garbage', 'a frame did not authenticate')
            return
          }
          yield packet
        }
        if (this.status !== 'open') return
        if (!await this.#reader.pull()) break
      }
      if (buf.byteLength > 0) this.#fail('truncated', `the link ended inside a frame (${buf.byteLength} bytes)`)
      this.status = 'closed'
    } catch (err) {
      if (this.status === 'open') this.#fail('closed', (err as Error).message)
    }
  }

  #fail (reason: MixLinkFailure, message: string): void {
    if (this.status !== 'open') return
    this.status = 'aborted'
    this.#onFailure(reason, message)
    this.#socket.destroy()
  }
}

/** What {@link listenLinks} needs. */
export interface LinkListenerInit {
  keys: LinkKeys
  /** Address to bind. */
  host: string
  /** TCP port; 0 lets the OS choose. */
  port: number
  log: Logger
  /** Called with every link whose handshake succeeded. */
  onLink(link: InboundLink): void
  /** Counts a refused or failed inbound link (after logging it). */
  onFailure(reason: MixLinkFailure): void
  /** @default LINK_MAX_INBOUND (1,024) */
  maxLinks?: number
  /** @default LINK_HANDSHAKE_TIMEOUT_MS (5 s) */
  handshakeTimeoutMs?: number
  /** Inbound links idle for twice this are closed. @default LINK_IDLE_MS (60 s) */
  idleMs?: number
}

/** A listening packet-link server. */
export interface LinkListener {
  /** The bound TCP port (the one to announce). */
  readonly port: number
  /** Stops listening and closes every inbound link. */
  close(): Promise<void>
}

/**
 * Listens for packet links: accepts TCP connections, runs Noise IK as
 * responder with this node's key, and hands each authenticated link to
 * `onLink`. A connection that fails the handshake (timeout, wrong
 * length, a message that does not authenticate, or an unusable key) is
 * closed, logged and counted; past `maxLinks` new ones are refused
 * (`limit`).
 * @throws the listen error (e.g. EADDRINUSE)
 */
export async function listenLinks (init: LinkListenerInit): Promise<LinkListener> {
  const { log } = init
  const sockets = new Set<net.Socket>()
  const idleMs = init.idleMs ?? LINK_IDLE_MS
  const fail = (socket: net.Socket, reason: MixLinkFailure, message: string): void => {
    log.info({ reason, message, remote: socket.remotePort }, 'packet link closed')
    init.onFailure(reason)
    socket.destroy()
  }
  const server = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    socket.setNoDelay(true)
    void accept(socket)
  })
  server.maxConnections = init.maxLinks ?? LINK_MAX_INBOUND
  server.on('drop', () => {
    log.info({ reason: 'limit' }, 'packet link refused: too many inbound links')
    init.onFailure('limit')
  })

  async function accept (socket: net.Socket): Promise<void> {
    const timer = handshakeTimer(socket, init.handshakeTimeoutMs ?? LINK_HANDSHAKE_TIMEOUT_MS)
    const reader = new SocketReader(socket)
    let link: InboundLink
    try {
      const hello = await reader.exactly(LINK_HANDSHAKE_INIT_BYTES)
      const noise = new NoiseState('IK', false, init.keys, { curve })
      noise.initialise(LINK_PROLOGUE)
      let remotePeer: PeerId
      try {
        noise.recv(view(hello))
        if (noise.rs == null) throw new Error('no remote static key')
        remotePeer = peerIdFromPublicKey(publicKeyFromRaw(noise.rs))
      } catch (err) {
        clearTimeout(timer)
        fail(socket, 'handshake', `the first handshake message did not authenticate: ${(err as Error).message}`)
        return
      }
      const answer = noise.send()
      if (!noise.complete || noise.rx == null) throw new Error('Noise handshake did not complete')
      socket.write(answer)
      clearTimeout(timer)
      socket.setTimeout(2 * idleMs, () => { socket.destroy() })
      link = new InboundLink(socket, reader, new CipherState(noise.rx), remotePeer, (reason, message) => {
        log.info({ reason, message, peer: remotePeer.toString() }, 'packet link closed')
        init.onFailure(reason)
      })
    } catch (err) {
      clearTimeout(timer)
      if (!socket.destroyed) fail(socket, 'handshake', (err as Error).message)
      else { log.debug({ err: (err as Error).message }, 'packet link closed during its handshake'); init.onFailure('handshake') }
      return
    }
    init.onLink(link)
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ host: init.host, port: init.port }, () => { server.off('error', reject); resolve() })
  })
  server.on('error', (err) => { log.warn({ err: err.message }, 'packet link listener error') })
  const address = server.address()
  const port = typeof address === 'object' && address != null ? address.port : init.port
  return {
    port,
    async close () {
      const closed = new Promise<void>((resolve) => { server.close(() => { resolve() }) })
      for (const s of sockets) s.destroy()
      sockets.clear()
      await closed
    }
  }
}
