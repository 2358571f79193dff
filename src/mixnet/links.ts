/**
 * Packet links: long-lived `/umbra/mix/1.0.0` streams that carry fixed-size
 * Sphinx packets back to back, with no framing (every packet is exactly
 * PACKET_SIZE bytes, docs/mixnet.md). One outbound stream per next hop is
 * opened on first use and re-opened after a failure; backpressure follows
 * the stream's `drain` event. Next hops are dialled only at the addresses
 * the mix directory lists for them, never through peer routing (a node
 * outside the directory is refused without a dial).
 *
 * Inbound bytes are cut into packets and handed to `onPacket` with the
 * sending peer (the relay's predecessor), under bounds (docs/mixnet.md
 * "Relaying"): at most `maxInflight` packets in processing, at most
 * `maxInflightPerPeer` of them from one predecessor; a packet that finds no
 * slot waits in its predecessor's queue (at most `maxQueuedPerPeer`, and
 * `maxQueued` in all), and free slots go to the waiting predecessors in
 * turn (round robin), so a flooding peer waits behind its own packets, not
 * others'. When a predecessor's queue (or the total) is full its stream
 * stops reading: the packet and the bytes after it stay in the stream's
 * buffer and the stream is paused (yamux grants no more window, so its
 * sender's writes wait for drain), until a slot frees (issue 15:
 * backpressure without drops). What a paused stream still receives is
 * bounded by the yamux window (16 MiB at most; the stream's read buffer
 * limit is raised to {@link MIX_READ_BUFFER_BYTES} so the window fits).
 * Outbound packets are batched per next hop: packets sent to one next hop
 * in the same macrotask go out in one stream write (at most
 * {@link MAX_WRITE_PACKETS} packets). A predecessor whose packets
 * `onPacket` refuses as replays more than `maxReplaysPerSecond` times in a
 * second has its mix streams reset and new ones refused for `penaltyMs`.
 *
 * Packet links (issue 16 item 3, packet-link.ts): a next hop whose
 * descriptor announces a link port gets its packets on a TCP connection of
 * its own (Noise IK, one 4,112-byte frame per packet, nothing else) instead
 * of the libp2p stream; one link per next hop, opened on first use, re-opened
 * after a failure, closed after packet-link.ts `LINK_IDLE_MS` (60 s) without packets. A server
 * node listens for links and reads them exactly like inbound mix streams:
 * same admission, quotas, round robin, replay penalty (which closes the
 * predecessor's links too) and backpressure (a link that is not read fills
 * its socket buffer and closes TCP's window; nothing is dropped).
 */
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { Uint8ArrayList } from 'uint8arraylist'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { withTimeout } from '../signals.ts'
import {
  MIX_PROTOCOL, RELAY_MAX_INFLIGHT, RELAY_MAX_INFLIGHT_PER_PEER, RELAY_MAX_QUEUED, RELAY_MAX_QUEUED_PER_PEER, RELAY_MAX_REPLAYS_PER_SECOND, RELAY_PENALTY_MS
} from './constants.ts'
import { dialLink, InboundLink, linkKeysOf, linkListenHost, listenLinks, type LinkKeys, type LinkListener, type LinkTarget, type OutboundLink } from './packet-link.ts'
import { PACKET_SIZE } from './sphinx/index.ts'
import type { MixLinkError, MixLinkFailure } from './errors.ts'
import type { Logger } from '../logger.ts'
import type { Libp2p, PeerId, PrivateKey, Stream } from '@libp2p/interface'

/** How long a dial of the next hop may take, ms. */
const LINK_DIAL_TIMEOUT_MS = 10_000
/** Most packets in one outbound stream write (256 KiB). */
export const MAX_WRITE_PACKETS = 64
/**
 * Read buffer limit of an inbound mix stream, bytes: the largest yamux
 * window (16 MiB, @chainsafe/libp2p-yamux MAX_STREAM_WINDOW) and a frame
 * more, so a paused stream is not aborted for what its window allowed
 * (the libp2p default, 4 MiB, is below the window).
 */
export const MIX_READ_BUFFER_BYTES = 16 * 1024 * 1024 + 256 * 1024
/** Inbound mix streams per connection (a predecessor needs one; each may buffer a window while paused). */
const MAX_INBOUND_MIX_STREAMS = 8

/** What `read` needs of an inbound packet source: a libp2p mix stream or a packet link ({@link InboundLink}). */
type PacketSource = Pick<Stream, 'pause' | 'resume' | 'abort'> & { readonly status: string, readonly readStatus: string } & AsyncIterable<Uint8Array | Uint8ArrayList>

/** What {@link createLinks} needs. */
export interface LinksInit {
  libp2p: Libp2p
  log: Logger
  /** The node's Ed25519 transport key: its Noise static key on packet links. Without it no packet link is opened or accepted. */
  privateKey?: PrivateKey
  /**
   * Where a next hop takes packet links (from its descriptor's `linkPort`
   * and addrs); `undefined`: it announces none, use the libp2p mix stream.
   */
  linkFor?: (nodeKey: Uint8Array) => LinkTarget | undefined
  /**
   * Where this node listens for packet links (server nodes with
   * `privateKey`); port 0 lets the OS choose; `host` defaults to
   * packet-link.ts `linkListenHost` of the node's addresses at start.
   * `undefined`: no listener.
   */
  linkListen?: { host?: string, port: number }
  /** Counts a packet link that failed or was refused (after it was logged). */
  linkFailure?: (reason: MixLinkFailure) => void
  /**
   * Called for every complete inbound packet (exactly PACKET_SIZE bytes).
   * The packet counts as in processing until the returned promise settles;
   * `undefined`: it was handled (dropped) at once; `'replay'` (returned or
   * resolved): dropped as a replay, which only a misbehaving predecessor
   * sends.
   */
  onPacket(packet: Uint8Array, from: PeerId): Promise<'replay' | undefined> | 'replay' | undefined
  /**
   * Counts a drop: `overload`, one of this node's own packets (it is its
   * next hop) that found the queues full (inbound streams wait instead);
   * `penalized`, one mix stream of a penalized predecessor reset or refused;
   * `truncated`, an inbound stream that ended inside a packet.
   */
  drop(reason: 'overload' | 'penalized' | 'truncated'): void
  /**
   * Multiaddrs the mix directory lists for a node key. The only addresses a
   * next hop is dialled at; an empty list refuses the send without a dial.
   */
  addrsFor(nodeKey: Uint8Array): string[]
  /** Whether this node accepts inbound packets (server nodes only). */
  inbound: boolean
  /**
   * Most inbound packets in processing at once, over all predecessors.
   * @default RELAY_MAX_INFLIGHT (1,024)
   */
  maxInflight?: number
  /**
   * Most inbound packets of one predecessor in processing at once.
   * @default RELAY_MAX_INFLIGHT_PER_PEER (256)
   */
  maxInflightPerPeer?: number
  /**
   * Replays one predecessor may send in one second; beyond, its mix streams
   * are reset and new ones refused for `penaltyMs`.
   * @default RELAY_MAX_REPLAYS_PER_SECOND (100)
   */
  maxReplaysPerSecond?: number
  /** @default RELAY_PENALTY_MS (10 s) */
  penaltyMs?: number
  /**
   * Most inbound packets waiting for a processing slot, over all predecessors.
   * @default RELAY_MAX_QUEUED (4,096)
   */
  maxQueued?: number
  /**
   * Most inbound packets of one predecessor waiting for a processing slot.
   * @default RELAY_MAX_QUEUED_PER_PEER (256)
   */
  maxQueuedPerPeer?: number
}

/** Packet links held by one node. */
export interface Links {
  /**
   * Sends one packet to the node with Ed25519 key `nodeKey` (32 bytes).
   * Packets sent to one node in the same macrotask share one stream write.
   * Resolves when the bytes are queued on the stream (after its drain when
   * its buffer was full), so awaiting callers feel backpressure.
   * @throws Error when the node is not in the mix directory (no dial is
   *   made), or the dial or stream error (the caller counts and drops)
   */
  send(nodeKey: Uint8Array, packet: Uint8Array): Promise<void>
  /** The TCP port of this node's packet-link listener, once started; `undefined` when it has none. */
  linkPort(): number | undefined
  /** Open packet links now: outbound (to next hops) and inbound (from predecessors). */
  linkCount(): { outbound: number, inbound: number }
  start(): Promise<void>
  stop(): Promise<void>
}

/** PeerId of an Ed25519 node key (32 bytes). */
export function peerIdOfNodeKey (nodeKey: Uint8Array): PeerId {
  return peerIdFromPublicKey(publicKeyFromRaw(nodeKey))
}

/** Packets of one predecessor: in processing, and waiting for a processing slot (oldest first). */
interface PeerLoad {
  inflight: number
  queue: Array<{ packet: Uint8Array, from: PeerId }>
}

/** Creates the packet links of a node; see the module comment. */
export function createLinks (init: LinksInit): Links {
  const { libp2p, log } = init
  const maxInflight = init.maxInflight ?? RELAY_MAX_INFLIGHT
  const maxPerPeer = init.maxInflightPerPeer ?? RELAY_MAX_INFLIGHT_PER_PEER
  const maxQueued = init.maxQueued ?? RELAY_MAX_QUEUED
  const maxQueuedPerPeer = init.maxQueuedPerPeer ?? RELAY_MAX_QUEUED_PER_PEER
  const outbound = new Map<string, Promise<Stream>>()
  /** Inbound mix streams and packet links (`InboundLink`), until they end; linkCount counts the links among them. */
  const inboundStreams = new Set<PacketSource>()
  /** Packet links: outbound by next hop (base64 node key), the listener, and the inbound ones. */
  const outLinks = new Map<string, Promise<OutboundLink>>()
  // A node whose identity is not Ed25519 (an imported secp256k1 wallet key, clients only) sends on libp2p mix streams.
  const keys = init.privateKey?.type === 'Ed25519' ? linkKeysOf(init.privateKey) : undefined
  let listener: LinkListener | undefined
  const loads = new Map<string, PeerLoad>()
  /** Predecessors with waiting packets, in round-robin order (served from the front, re-added at the back). */
  const waiting = new Set<string>()
  /** Inbound streams by predecessor, and the predecessors whose streams are paused. */
  const streamsOf = new Map<string, Set<PacketSource>>()
  const paused = new Set<string>()
  const maxReplays = init.maxReplaysPerSecond ?? RELAY_MAX_REPLAYS_PER_SECOND
  const penaltyMs = init.penaltyMs ?? RELAY_PENALTY_MS
  /** Replays per predecessor in the current second, and penalized predecessors with the end of their penalty (ms since epoch). */
  const replays = new Map<string, { second: number, count: number }>()
  const penalized = new Map<string, number>()
  let inflight = 0
  let queued = 0
  let running = false
  /** Readers waiting for queue room (woken whenever a queued packet leaves its queue, and at stop). */
  let roomWaiters: Array<() => void> = []
  /** Per next hop: the batch collecting this macrotask's packets, and the last write (writes stay in order). */
  const outboxes = new Map<string, { packets: Uint8Array[], sent: Promise<void> }>()
  const lastWrite = new Map<string, Promise<void>>()
  const ownKey = libp2p.peerId.publicKey?.raw ?? new Uint8Array()

  async function open (nodeKey: Uint8Array, peer: PeerId): Promise<Stream> {
    // Only the directory's addresses: dialling a bare PeerId would fall back to
    // DHT peer routing, which a packet naming any key could make this node do.
    const addrs = init.addrsFor(nodeKey)
    if (addrs.length === 0) throw new Error(`next hop ${peer.toString()} is not in the mix directory`)
    const id = peer.toString()
    const targets = addrs.map((a) => {
      const ma = multiaddr(a)
      return ma.getComponents().at(-1)?.value === id ? ma : ma.encapsulate(`/p2p/${id}`)
    })
    const stream = await libp2p.dialProtocol(targets, MIX_PROTOCOL, { signal: withTimeout(undefined, LINK_DIAL_TIMEOUT_MS) })
    return stream
  }

  /** Hands a packet to `onPacket`; it holds a processing slot of `load` until the returned promise settles. */
  function start (packet: Uint8Array, from: PeerId, key: string, load: PeerLoad): void {
    inflight++
    load.inflight++
    let released = false
    const release = (): void => {
      if (released) return
      released = true
      inflight--
      load.inflight--
      if (load.inflight === 0 && load.queue.length === 0 && loads.get(key) === load) loads.delete(key)
      serve()
    }
    try {
      const done = init.onPacket(packet, from)
      if (done === 'replay') { release(); replayed(key); return }
      if (done != null) {
        done.then((verdict) => {
          release()
          if (verdict === 'replay') replayed(key)
        }, release)
      } else release()
    } catch (err) {
      release()
      log.warn({ err: (err as Error).message }, 'packet handler threw')
    }
  }

  /** Fills free processing slots from the waiting packets, one per predecessor in turn (round robin). */
  function serve (): void {
    while (inflight < maxInflight && waiting.size > 0) {
      let served = false
      // Live iteration: a served peer with more waiting is re-added at the back, so it comes round again after the others.
      for (const key of waiting) {
        if (inflight >= maxInflight) break
        const load = loads.get(key)
        const next = load?.queue.shift()
        if (load === undefined || next === undefined) { waiting.delete(key); setPaused(key, false); continue }
        if (load.inflight >= maxPerPeer) { load.queue.unshift(next); continue }
        queued--
        wakeReaders()
        waiting.delete(key)
        if (load.queue.length > 0) waiting.add(key)
        else setPaused(key, false)
        start(next.packet, next.from, key, load)
        served = true
      }
      if (!served) return
    }
  }

  function wakeReaders (): void {
    if (roomWaiters.length === 0) return
    const waiters = roomWaiters
    roomWaiters = []
    for (const wake of waiters) wake()
  }

  /**
   * Admits one inbound packet from predecessor `key`: processes it now if
   * both bounds allow and nothing of this peer waits, else queues it, else
   * (queues full) returns false: the caller keeps the packet and waits for
   * room (`roomWaiters`).
   */
  function admit (packet: Uint8Array, from: PeerId, key: string): boolean {
    let load = loads.get(key)
    if (load === undefined) {
      load = { inflight: 0, queue: [] }
      loads.set(key, load)
    }
    if (inflight < maxInflight && load.inflight < maxPerPeer && load.queue.length === 0) {
      start(packet, from, key, load)
      return true
    }
    if (queued >= maxQueued || load.queue.length >= maxQueuedPerPeer) {
      if (load.inflight === 0 && load.queue.length === 0) loads.delete(key)
      return false
    }
    // A copy: the packet may be a view into a large chunk, which must not stay alive while it waits.
    load.queue.push({ packet: packet.slice(), from })
    queued++
    waiting.add(key)
    setPaused(key, true)
    return true
  }

  /** Counts a replay from `key`; past the budget the predecessor is penalized. */
  function replayed (key: string): void {
    if (key === '') return // this node's own packets
    const second = Math.floor(Date.now() / 1000)
    let r = replays.get(key)
    if (r === undefined || r.second !== second) {
      if (replays.size > 1024) replays.clear() // stale seconds of many peers: start over
      r = { second, count: 0 }
      replays.set(key, r)
    }
    if (++r.count <= maxReplays) return
    replays.delete(key)
    if (penalized.size > 1024) for (const [k, until] of penalized) if (until <= Date.now()) penalized.delete(k)
    penalized.set(key, Date.now() + penaltyMs)
    log.info({ peer: key, penaltyMs }, 'predecessor sent too many replays; its mix streams are refused for a while')
    for (const stream of streamsOf.get(key) ?? []) {
      init.drop('penalized')
      stream.abort(new Error('too many replayed packets'))
    }
  }

  function isPenalized (key: string): boolean {
    const until = penalized.get(key)
    if (until === undefined) return false
    if (until > Date.now()) return true
    penalized.delete(key)
    return false
  }

  /**
   * Pauses (or resumes) reading every stream of a predecessor: while paused,
   * yamux grants it no more window, so its sender's writes wait for drain.
   * What it already had leave to send still arrives and is queued or dropped.
   */
  function setPaused (key: string, pause: boolean): void {
    if (paused.has(key) === pause) return
    if (pause) paused.add(key)
    else paused.delete(key)
    for (const stream of streamsOf.get(key) ?? []) {
      try {
        if (pause && stream.readStatus === 'readable') stream.pause()
        if (!pause && stream.readStatus === 'paused') stream.resume()
      } catch { /* closing: nothing to pause or resume */ }
    }
  }

  async function read (stream: PacketSource, from: PeerId): Promise<void> {
    const buf = new Uint8ArrayList()
    const key = from.toString()
    let waited = false
    let mine = streamsOf.get(key)
    if (mine === undefined) {
      mine = new Set()
      streamsOf.set(key, mine)
    }
    mine.add(stream)
    if (paused.has(key)) stream.pause()
    try {
      for await (const chunk of stream) {
        buf.append(chunk)
        // Not after this node aborted the stream (a penalty); a stream the sender closed is still read to its end.
        while (buf.byteLength >= PACKET_SIZE && stream.status !== 'aborted' && running) {
          // A view where it can be (admit copies it only if it has to wait; the pool copies it at its next flush).
          const packet = buf.subarray(0, PACKET_SIZE)
          if (!admit(packet, from, key)) {
            // Queues full: keep the packet (and what follows) here, stop reading, and wait for room.
            setPaused(key, true)
            await new Promise<void>((resolve) => { roomWaiters.push(resolve) })
            waited = true
            continue
          }
          buf.consume(PACKET_SIZE)
          if (waited) {
            waited = false
            // Room came from the total bound: this peer has no queue that would resume it when it empties.
            if ((loads.get(key)?.queue.length ?? 0) === 0) setPaused(key, false)
          }
        }
      }
      // A stream that ended inside a packet: the partial packet is dropped and counted, never admitted.
      if (buf.byteLength > 0) init.drop('truncated')
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'inbound mix stream ended')
    } finally {
      inboundStreams.delete(stream)
      mine.delete(stream)
      if (mine.size === 0 && streamsOf.get(key) === mine) streamsOf.delete(key)
    }
  }

  /** Counts and logs a packet link that failed. */
  function linkFailed (reason: MixLinkFailure, message: string): void {
    log.info({ reason, message }, 'packet link failed')
    init.linkFailure?.(reason)
  }

  /** The packet link to one next hop: the open or opening one, else a new dial. */
  function linkTo (id: string, target: LinkTarget, keys: LinkKeys): Promise<OutboundLink> {
    let pending = outLinks.get(id)
    if (pending == null) {
      const dialling: Promise<OutboundLink> = dialLink(target, keys, {
        signal: withTimeout(undefined, LINK_DIAL_TIMEOUT_MS),
        onClose: (failure) => {
          if (outLinks.get(id) === dialling) outLinks.delete(id)
          if (failure !== undefined) linkFailed(failure, 'the next hop broke the protocol')
        }
      })
      pending = dialling
      outLinks.set(id, dialling)
      dialling.catch((err: MixLinkError) => {
        if (outLinks.get(id) === dialling) outLinks.delete(id)
        linkFailed(err.reason ?? 'connect', err.message)
      })
    }
    return pending
  }

  /** Writes a batch of packets to one next hop on its packet link (dialling it first if needed, and again once if it had closed). */
  async function writeLink (id: string, target: LinkTarget, keys: LinkKeys, packets: Uint8Array[]): Promise<void> {
    let pending = linkTo(id, target, keys)
    let link = await pending
    if (!link.open) {
      // Closed since it was last used (idle, its frame budget spent, the next hop restarted): one fresh dial.
      if (outLinks.get(id) === pending) outLinks.delete(id)
      pending = linkTo(id, target, keys)
      link = await pending
    }
    if (!running) { link.close(); throw new Error('links stopped') }
    if (!link.open) throw new Error('packet link closed')
    await link.send(packets)
  }

  /** Writes a batch of packets for one next hop: on its packet link when it announces one, else in one stream write (opening the stream first if needed). */
  async function write (nodeKey: Uint8Array, id: string, packets: Uint8Array[]): Promise<void> {
    if (!running) throw new Error('links stopped')
    const target = keys !== undefined ? init.linkFor?.(nodeKey) : undefined
    if (keys !== undefined && target !== undefined) {
      await writeLink(id, target, keys, packets)
      return
    }
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
    // One write of the packets without concatenating them (the encrypter frames the list as a whole).
    const bytes = packets.length === 1 ? packets[0] as Uint8Array : new Uint8ArrayList(...packets)
    if (!stream.send(bytes)) await stream.onDrain({ signal: withTimeout(undefined, LINK_DIAL_TIMEOUT_MS) })
  }

  /** Accepts an authenticated inbound link, or refuses it (stopping, a penalized predecessor, too many links from it). */
  function accept (link: InboundLink): void {
    const key = link.remotePeer.toString()
    if (!running) { link.abort(new Error('node stopping')); return }
    if (isPenalized(key)) {
      init.drop('penalized')
      link.abort(new Error('penalized for replayed packets'))
      return
    }
    // As many links per predecessor as mix streams per connection: one is all it needs.
    if ([...streamsOf.get(key) ?? []].filter((s) => s instanceof InboundLink).length >= MAX_INBOUND_MIX_STREAMS) {
      log.info({ peer: key, reason: 'limit' }, 'packet link refused: too many links from one predecessor')
      init.linkFailure?.('limit')
      link.abort(new Error('too many packet links'))
      return
    }
    inboundStreams.add(link)
    void read(link, link.remotePeer)
  }

  /**
   * Starts the link listener. A host that cannot be bound (an announced
   * address that is not local) is retried on the unspecified address; a port
   * that cannot be had leaves the node without packet links (logged): its
   * descriptor announces none and predecessors use the libp2p mix stream.
   */
  async function listen (keys: LinkKeys, where: { host?: string, port: number }): Promise<LinkListener | undefined> {
    const host = where.host ?? linkListenHost(libp2p.getMultiaddrs().map((ma) => ma.toString()))
    const attempt = async (h: string): Promise<LinkListener> => await listenLinks({ keys, host: h, port: where.port, log, onFailure: (reason) => init.linkFailure?.(reason), onLink: accept })
    let failure: Error
    try {
      return await attempt(host)
    } catch (err) {
      failure = err as Error
    }
    if ((failure as NodeJS.ErrnoException).code === 'EADDRNOTAVAIL' && host !== '0.0.0.0') {
      try { return await attempt('0.0.0.0') } catch (err) { failure = err as Error }
    }
    log.warn({ err: failure.message, port: where.port }, 'packet link listener could not start; predecessors will use the libp2p mix stream')
    return undefined
  }

  return {
    async send (nodeKey, packet) {
      if (!running) throw new Error('links stopped')
      if (init.inbound && uint8ArrayEquals(nodeKey, ownKey)) {
        // This node is the next hop of a path (e.g. a gateway that is also the first mix of a SURB): no socket needed.
        queueMicrotask(() => { if (!admit(packet, libp2p.peerId, '')) init.drop('overload') })
        return
      }
      const id = uint8ArrayToString(nodeKey, 'base64')
      const box = outboxes.get(id)
      if (box !== undefined && box.packets.length < MAX_WRITE_PACKETS) {
        box.packets.push(packet)
        await box.sent
        return
      }
      const packets = [packet]
      const previous = lastWrite.get(id)
      const sent = (async () => {
        await new Promise((resolve) => setImmediate(resolve)) // collect this macrotask's packets for the same hop
        if (outboxes.get(id)?.packets === packets) outboxes.delete(id)
        await previous
        await write(nodeKey, id, packets)
      })()
      outboxes.set(id, { packets, sent })
      const settled = sent.catch(() => {})
      lastWrite.set(id, settled)
      void settled.then(() => { if (lastWrite.get(id) === settled) lastWrite.delete(id) })
      await sent
    },

    linkPort () {
      return listener?.port
    },

    linkCount () {
      let inbound = 0
      for (const s of inboundStreams) if (s instanceof InboundLink) inbound++
      return { outbound: outLinks.size, inbound }
    },

    async start () {
      running = true
      if (!init.inbound) return
      if (keys !== undefined && init.linkListen !== undefined) {
        listener = await listen(keys, init.linkListen)
      }
      await libp2p.handle(MIX_PROTOCOL, (stream, connection) => {
        if (isPenalized(connection.remotePeer.toString())) {
          init.drop('penalized')
          stream.abort(new Error('penalized for replayed packets'))
          return
        }
        inboundStreams.add(stream)
        stream.maxReadBufferLength = MIX_READ_BUFFER_BYTES
        void read(stream, connection.remotePeer)
      }, { maxInboundStreams: MAX_INBOUND_MIX_STREAMS, maxOutboundStreams: 256 })
    },

    async stop () {
      running = false
      wakeReaders()
      outboxes.clear()
      lastWrite.clear()
      loads.clear()
      waiting.clear()
      paused.clear()
      streamsOf.clear()
      replays.clear()
      penalized.clear()
      queued = 0
      if (init.inbound) await libp2p.unhandle(MIX_PROTOCOL).catch(() => {})
      const streams = await Promise.allSettled([...outbound.values()])
      outbound.clear()
      for (const r of streams) if (r.status === 'fulfilled') r.value.abort(new Error('node stopping'))
      for (const s of inboundStreams) s.abort(new Error('node stopping'))
      inboundStreams.clear()
      const links = await Promise.allSettled([...outLinks.values()])
      outLinks.clear()
      for (const r of links) if (r.status === 'fulfilled') r.value.close()
      await listener?.close()
      listener = undefined
    }
  }
}
