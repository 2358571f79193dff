/**
 * Offline queues for direct messages (seed 001, delivery path 4; issue 11,
 * item 3) on `/umbra/offline/1.0.0`. Server nodes keep, in the state database
 * (component `offline-queue`), sealed messages for recipients that could not
 * be reached, within seed 001's limits per recipient (72 h, 100 messages,
 * 1 MB). A recipient fetches its own queue (the caller is the PeerId its Noise
 * handshake proved; the server hands nobody else's messages out) and
 * acknowledges the ids it stored, which the server then deletes. The server
 * never sees a plaintext: envelopes are sealed to the recipient
 * (src/messaging/seal.ts). docs/messaging.md "Offline queue" has the exchange.
 */
import { createHash } from 'node:crypto'
import { peerIdFromMultihash, peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import * as Digest from 'multiformats/hashes/digest'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { EventTypes, type KadDHT } from '@libp2p/kad-dht'
import {
  MAX_ENVELOPE_BYTES, MAX_OFFLINE_REQUEST_BYTES, MAX_OFFLINE_RESPONSE_BYTES, MESSAGE_ID_BYTES, OFFLINE_FULL_BYTES, OFFLINE_FULL_MESSAGES, OFFLINE_FULL_SERVER,
  OFFLINE_MALFORMED, OFFLINE_MAX_BYTES, OFFLINE_MAX_BYTES_PER_SENDER, OFFLINE_MAX_MESSAGES, OFFLINE_MAX_TOTAL_BYTES, OFFLINE_OK, OFFLINE_OP_ACK, OFFLINE_OP_FETCH, OFFLINE_OP_STORE, OFFLINE_PROTOCOL,
  OFFLINE_REPLICAS, OFFLINE_STREAM_TIMEOUT_MS, OFFLINE_TTL_MS, OFFLINE_VERSION
} from './constants.ts'
import { DeliveryFailedError, OfflineQueueBytesError, OfflineQueueFullError, OfflineQueueServerFullError } from './errors.ts'
import { OfflineRequest, OfflineResponse, type OfflineItem } from './pb/offline.ts'
import type { StateDatabase } from '../store/database.ts'
import type { Logger } from '../logger.ts'
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface'

/** Per-recipient limits of a queue server (seed 001 defaults). */
export interface OfflineQueueLimits {
  /** ms, default 72 h */
  ttl: number
  /** default 100 */
  messages: number
  /** envelope bytes, default 1,000,000 */
  bytes: number
  /** envelope bytes one storing peer may have queued, all recipients together; default 8,000,000 */
  senderBytes: number
  /** envelope bytes the server holds in all; default 256 MiB */
  totalBytes: number
}

/** Options of {@link createOfflineQueue}. */
export interface OfflineQueueInit {
  libp2p: Libp2p
  /** Finds the k closest server nodes to a recipient; without it, only connected peers serving the protocol are asked. */
  kad?: KadDHT
  /** Where a server keeps the queues (`':memory:'` for a node without a data directory). */
  state: StateDatabase
  /** Serve `/umbra/offline/1.0.0` (server nodes). */
  server: boolean
  log: Logger
  limits?: Partial<OfflineQueueLimits>
}

/** A message a recipient fetched from one of its queue servers. */
export interface QueuedItem {
  /** 16 bytes. */
  id: Uint8Array
  envelope: Uint8Array
  /** PeerId of the server it came from. */
  server: string
}

/** The offline queue: the server side and the sender's and recipient's client side. */
export interface OfflineQueue {
  /** Registers the protocol handler (server nodes only). */
  start(): Promise<void>
  stop(): Promise<void>
  /**
   * Stores a sealed message for `recipient` at the servers its peer record
   * names (`named`, PeerId strings; issue 11), or at its k (3) closest server
   * nodes when it names none (an older record, or no record).
   * Resolves with the PeerIds of the servers that stored it (at least one).
   * @throws UMBRA_ERR_OFFLINE_QUEUE_FULL (every server that answered holds 100
   *   messages for the recipient), UMBRA_ERR_OFFLINE_QUEUE_BYTES (the message
   *   does not fit in 1 MB), UMBRA_ERR_DELIVERY_FAILED (no server stored it)
   */
  store(recipient: PeerId, id: Uint8Array, envelope: Uint8Array, signal: AbortSignal, named?: string[]): Promise<string[]>
  /**
   * Fetches this node's queued messages from its k closest server nodes and
   * the servers in `named` (those its published peer record names), hands each server's batch to `accept`, which returns the ids it has
   * durably stored or will never accept (those are acknowledged and deleted
   * at the server). Resolves with the number of messages fetched.
   */
  drain(accept: (items: QueuedItem[]) => Promise<Uint8Array[]>, signal: AbortSignal, named?: string[]): Promise<number>
  /** The k (3) closest server nodes to this node serving the protocol, nearest first: where its own queue lives (PeerId strings). */
  ownServers(signal: AbortSignal): Promise<string[]>
  /** What this server holds for `recipient` (tests, metrics). */
  held(recipient: string): { messages: number, bytes: number }
  /** Envelope bytes this server holds in all. */
  totalBytes(): number
}

/** Schema of component `offline-queue`; append only (src/store/database.ts). */
const MIGRATIONS = [
  `CREATE TABLE offline_queue (
     recipient TEXT NOT NULL,
     sender TEXT NOT NULL,
     id BLOB NOT NULL,
     envelope BLOB NOT NULL,
     bytes INTEGER NOT NULL,
     stored_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     UNIQUE (recipient, id)
   ) STRICT;
   CREATE INDEX offline_queue_by_expiry ON offline_queue (expires_at);
   CREATE INDEX offline_queue_by_sender ON offline_queue (sender);`
]

const STATUS_TEXT: Record<number, string> = {
  [OFFLINE_MALFORMED]: 'the queue server could not parse the request',
  [OFFLINE_FULL_MESSAGES]: 'the recipient\'s offline queue is full',
  [OFFLINE_FULL_BYTES]: 'the message does not fit in the recipient\'s offline queue',
  [OFFLINE_FULL_SERVER]: 'the queue server has no room left for this sender'
}

function sha256 (bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest()
}

/** XOR distance of two 32-byte Kademlia ids, as a comparable hex string. */
function distance (a: Buffer, b: Buffer): string {
  const out = Buffer.alloc(a.length)
  for (let i = 0; i < a.length; i++) out[i] = (a[i] as number) ^ (b[i] as number)
  return out.toString('hex')
}

/** Decodes a request strictly (canonical encoding, version 1); undefined when malformed. */
function decodeRequest (bytes: Uint8Array): OfflineRequest | undefined {
  try {
    const req = OfflineRequest.decode(bytes, { limits: { ids: OFFLINE_MAX_MESSAGES * 10 } })
    if (req.version !== OFFLINE_VERSION || !uint8ArrayEquals(OfflineRequest.encode(req), bytes)) return undefined
    return req
  } catch {
    return undefined
  }
}

/** PeerIds from strings (a verified peer record's `queueServers`), at most OFFLINE_REPLICAS; malformed ones are skipped. */
function parseServers (named: string[] | undefined): PeerId[] {
  const out: PeerId[] = []
  for (const s of (named ?? []).slice(0, OFFLINE_REPLICAS)) {
    try {
      out.push(peerIdFromString(s))
    } catch {
      // A verified record holds PeerIds only; nothing else to do with a bad one.
    }
  }
  return out
}

/**
 * Creates the offline queue service.
 * @throws UMBRA_ERR_STATE_DB (migration failed)
 */
export function createOfflineQueue (init: OfflineQueueInit): OfflineQueue {
  const { libp2p, kad, state, log } = init
  const limits: OfflineQueueLimits = {
    ttl: init.limits?.ttl ?? OFFLINE_TTL_MS,
    messages: init.limits?.messages ?? OFFLINE_MAX_MESSAGES,
    bytes: init.limits?.bytes ?? OFFLINE_MAX_BYTES,
    senderBytes: init.limits?.senderBytes ?? OFFLINE_MAX_BYTES_PER_SENDER,
    totalBytes: init.limits?.totalBytes ?? OFFLINE_MAX_TOTAL_BYTES
  }
  state.migrate('offline-queue', MIGRATIONS)
  const { db } = state
  const expired = db.prepare('SELECT COALESCE(SUM(bytes), 0) AS bytes FROM offline_queue WHERE expires_at <= ?')
  const sweep = db.prepare('DELETE FROM offline_queue WHERE expires_at <= ?')
  const senderUsage = db.prepare('SELECT COALESCE(SUM(bytes), 0) AS bytes FROM offline_queue WHERE sender = ?')
  const rowBytes = db.prepare('SELECT bytes FROM offline_queue WHERE recipient = ? AND id = ?')
  const usage = db.prepare('SELECT COUNT(*) AS messages, COALESCE(SUM(bytes), 0) AS bytes FROM offline_queue WHERE recipient = ? AND expires_at > ?')
  const insert = db.prepare('INSERT INTO offline_queue (recipient, sender, id, envelope, bytes, stored_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
  const select = db.prepare('SELECT id, envelope, stored_at FROM offline_queue WHERE recipient = ? AND expires_at > ? ORDER BY stored_at, rowid')
  const remove = db.prepare('DELETE FROM offline_queue WHERE recipient = ? AND id = ?')
  // Bytes held in all, kept in memory so a store does not sum the whole table.
  let totalBytes = (db.prepare('SELECT COALESCE(SUM(bytes), 0) AS bytes FROM offline_queue').get() as { bytes: number }).bytes

  /** Stores one envelope within the limits (per recipient, per storing peer, in all); idempotent per (recipient, id). */
  function storeLocal (recipient: string, sender: string, id: Uint8Array, envelope: Uint8Array): number {
    const now = Date.now()
    return state.transaction(() => {
      totalBytes -= (expired.get(now) as { bytes: number }).bytes
      sweep.run(now)
      if (rowBytes.get(recipient, id) !== undefined) return OFFLINE_OK // a retry of a stored message
      const used = usage.get(recipient, now) as { messages: number, bytes: number }
      if (used.messages >= limits.messages) return OFFLINE_FULL_MESSAGES
      if (used.bytes + envelope.byteLength > limits.bytes) return OFFLINE_FULL_BYTES
      if (totalBytes + envelope.byteLength > limits.totalBytes) return OFFLINE_FULL_SERVER
      if ((senderUsage.get(sender) as { bytes: number }).bytes + envelope.byteLength > limits.senderBytes) return OFFLINE_FULL_SERVER
      insert.run(recipient, sender, id, envelope, envelope.byteLength, now, now + limits.ttl)
      totalBytes += envelope.byteLength
      return OFFLINE_OK
    })
  }

  function deleteLocal (recipient: string, ids: Uint8Array[]): number {
    return state.transaction(() => ids.reduce((n, id) => {
      const bytes = (rowBytes.get(recipient, id) as { bytes: number } | undefined)?.bytes
      if (bytes === undefined) return n
      remove.run(recipient, id)
      totalBytes -= bytes
      return n + 1
    }, 0))
  }

  async function handle (stream: Stream, connection: Connection): Promise<void> {
    const signal = AbortSignal.timeout(OFFLINE_STREAM_TIMEOUT_MS)
    const lp = lpStream(stream, { maxDataLength: MAX_OFFLINE_REQUEST_BYTES })
    // The caller is whoever the Noise handshake authenticated: fetch and ack only ever touch the caller's own queue.
    const caller = connection.remotePeer.toString()
    const answer = async (res: Partial<OfflineResponse>): Promise<void> => { await lp.write(OfflineResponse.encode({ version: OFFLINE_VERSION, ...res }), { signal }) }
    try {
      const req = decodeRequest((await lp.read({ signal })).subarray())
      if (req == null) {
        await answer({ status: OFFLINE_MALFORMED })
      } else if (req.op === OFFLINE_OP_STORE) {
        let recipient: string | undefined
        try {
          const peer = peerIdFromMultihash(Digest.decode(req.recipient))
          if (peer.type === 'Ed25519' || peer.type === 'secp256k1') recipient = peer.toString()
        } catch { /* malformed below */ }
        const ok = recipient != null && req.id.byteLength === MESSAGE_ID_BYTES && req.envelope.byteLength > 0 && req.envelope.byteLength <= MAX_ENVELOPE_BYTES
        const status = ok ? storeLocal(recipient as string, caller, req.id, req.envelope) : OFFLINE_MALFORMED
        if (status !== OFFLINE_OK) log.debug({ status }, 'refused to queue a message')
        await answer({ status })
      } else if (req.op === OFFLINE_OP_FETCH) {
        const rows = select.all(caller, Date.now()) as Array<{ id: Uint8Array, envelope: Uint8Array, stored_at: number }>
        await answer({ status: OFFLINE_OK, items: rows.map((r) => ({ id: new Uint8Array(r.id), envelope: new Uint8Array(r.envelope), storedAt: BigInt(r.stored_at) })) })
        if (rows.length > 0) {
          const ack = decodeRequest((await lp.read({ signal })).subarray())
          if (ack?.op !== OFFLINE_OP_ACK) await answer({ status: OFFLINE_MALFORMED })
          else await answer({ status: OFFLINE_OK, deleted: deleteLocal(caller, ack.ids) })
        }
      } else if (req.op === OFFLINE_OP_ACK) {
        await answer({ status: OFFLINE_OK, deleted: deleteLocal(caller, req.ids) })
      } else {
        await answer({ status: OFFLINE_MALFORMED })
      }
      await stream.close({ signal })
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'offline queue stream failed')
      stream.abort(err as Error)
    }
  }

  /** The k closest server nodes to `target` serving the protocol (kad lookup plus connected servers), nearest first. */
  async function serversFor (target: PeerId, signal: AbortSignal): Promise<PeerId[]> {
    const found = new Map<string, PeerId>()
    const self = libp2p.peerId.toString()
    if (kad != null) {
      try {
        for await (const evt of kad.getClosestPeers(target.toMultihash().bytes, { signal })) {
          if (evt.type === EventTypes.FINAL_PEER) found.set(evt.peer.id.toString(), evt.peer.id)
        }
      } catch (err) {
        log.debug({ err: (err as Error).message }, 'closest-peers lookup for the offline queue failed; using connected servers')
      }
    }
    for (const conn of libp2p.getConnections()) found.set(conn.remotePeer.toString(), conn.remotePeer)
    found.delete(self)
    found.delete(target.toString())
    const candidates: PeerId[] = []
    for (const peer of found.values()) {
      const protocols = await libp2p.peerStore.get(peer).then((p) => p.protocols, () => [] as string[])
      if (protocols.includes(OFFLINE_PROTOCOL)) candidates.push(peer)
    }
    const key = sha256(target.toMultihash().bytes)
    return candidates
      .map((p) => ({ p, d: distance(key, sha256(p.toMultihash().bytes)) }))
      .sort((x, y) => x.d < y.d ? -1 : x.d > y.d ? 1 : 0)
      .slice(0, OFFLINE_REPLICAS)
      .map((x) => x.p)
  }

  /** One request/response exchange on a fresh stream; `more` continues on the same stream. */
  async function exchange (server: PeerId, req: Partial<OfflineRequest>, signal: AbortSignal, more?: (res: OfflineResponse, send: (r: Partial<OfflineRequest>) => Promise<OfflineResponse>) => Promise<void>): Promise<OfflineResponse> {
    const stream = await libp2p.dialProtocol(server, OFFLINE_PROTOCOL, { signal, runOnLimitedConnection: true })
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_OFFLINE_RESPONSE_BYTES })
      const send = async (r: Partial<OfflineRequest>): Promise<OfflineResponse> => {
        await lp.write(OfflineRequest.encode({ version: OFFLINE_VERSION, ...r }), { signal })
        const res = OfflineResponse.decode((await lp.read({ signal })).subarray(), { limits: { items: OFFLINE_MAX_MESSAGES * 10 } })
        if (res.version !== OFFLINE_VERSION) throw new DeliveryFailedError(`Queue server answered wire version ${res.version}`)
        return res
      }
      const res = await send(req)
      await more?.(res, send)
      await stream.close({ signal }).catch(() => {})
      return res
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
  }

  return {
    async start () {
      if (init.server) await libp2p.handle(OFFLINE_PROTOCOL, handle, { maxInboundStreams: 32, maxOutboundStreams: 32, runOnLimitedConnection: true })
    },

    async stop () {
      if (init.server) await libp2p.unhandle(OFFLINE_PROTOCOL)
    },

    async store (recipient, id, envelope, signal, named) {
      const self = libp2p.peerId.toString()
      const listed = parseServers(named).filter((p) => p.toString() !== self && !p.equals(recipient))
      const servers = listed.length > 0 ? listed : await serversFor(recipient, signal)
      if (servers.length === 0) throw new DeliveryFailedError(`${recipient.toString()} is unreachable and no queue server is known to hold its offline queue`)
      const storeAt = async (at: PeerId[]): Promise<Array<PromiseSettledResult<{ server: string, status: number }>>> => await Promise.allSettled(at.map(async (server) => {
        const res = await exchange(server, { op: OFFLINE_OP_STORE, recipient: recipient.toMultihash().bytes, id: id as Uint8Array<ArrayBuffer>, envelope: envelope as Uint8Array<ArrayBuffer> }, signal)
        return { server: server.toString(), status: res.status }
      }))
      let results = await storeAt(servers)
      // None of the servers the record names answered (gone since it was published): the closest ones instead.
      if (listed.length > 0 && results.every((r) => r.status === 'rejected')) {
        log.debug({ to: recipient.toString() }, 'no queue server named in the peer record answered; trying the closest servers')
        const closest = await serversFor(recipient, signal)
        if (closest.length > 0) results = await storeAt(closest)
      }
      const stored = results.flatMap((r) => r.status === 'fulfilled' && r.value.status === OFFLINE_OK ? [r.value.server] : [])
      if (stored.length > 0) return stored
      const statuses = results.flatMap((r) => r.status === 'fulfilled' ? [r.value.status] : [])
      if (statuses.includes(OFFLINE_FULL_BYTES)) throw new OfflineQueueBytesError(`${recipient.toString()} is unreachable and the message (${envelope.byteLength} bytes sealed) does not fit in its offline queue (${limits.bytes} bytes per recipient)`)
      if (statuses.includes(OFFLINE_FULL_SERVER) && !statuses.includes(OFFLINE_FULL_MESSAGES)) throw new OfflineQueueServerFullError(`${recipient.toString()} is unreachable and its queue servers have no room left for this node's messages (${limits.senderBytes} bytes per sender, ${limits.totalBytes} in all)`)
      if (statuses.includes(OFFLINE_FULL_MESSAGES)) throw new OfflineQueueFullError(`${recipient.toString()} is unreachable and its offline queue holds ${limits.messages} messages already`)
      const why = results.map((r) => r.status === 'rejected' ? (r.reason as Error).message : STATUS_TEXT[r.value.status] ?? `status ${r.value.status}`)
      throw new DeliveryFailedError(`${recipient.toString()} is unreachable and no queue server stored the message: ${why.join('; ')}`)
    },

    async drain (accept, signal, named) {
      const servers = [...new Map([...await serversFor(libp2p.peerId, signal), ...parseServers(named)].map((p) => [p.toString(), p])).values()]
        .filter((p) => !p.equals(libp2p.peerId))
      let fetched = 0
      await Promise.allSettled(servers.map(async (server) => {
        try {
          await exchange(server, { op: OFFLINE_OP_FETCH }, signal, async (res, send) => {
            if (res.items.length === 0) return
            fetched += res.items.length
            const items = res.items.map((it: OfflineItem) => ({ id: it.id, envelope: it.envelope, server: server.toString() }))
            const done = await accept(items)
            await send({ op: OFFLINE_OP_ACK, ids: done as Array<Uint8Array<ArrayBuffer>> })
          })
        } catch (err) {
          log.debug({ server: server.toString(), err: (err as Error).message }, 'could not fetch the offline queue')
        }
      }))
      return fetched
    },

    async ownServers (signal) {
      return (await serversFor(libp2p.peerId, signal)).map((p) => p.toString())
    },

    held (recipient) {
      return usage.get(recipient, Date.now()) as { messages: number, bytes: number }
    },

    totalBytes () {
      return totalBytes
    }
  }
}

/** Hex form of a message id (16 bytes → 32 characters). */
export function idHex (id: Uint8Array): string {
  return uint8ArrayToString(id, 'base16')
}
