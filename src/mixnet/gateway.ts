/**
 * The gateway role of a server node (DESIGN.md section 5, "Addressing" and
 * "Mailbox"; delivery paths 2 and 4 of seed 001).
 *
 * A gateway is the last Sphinx hop of a path. For a DELIVER hop it
 * 1. stores the fragment durably in its mailbox store (SQLite, survives
 *    SIGKILL), or refuses it over quota: complete messages 100 / 1 MB / 72 h
 *    (seed 001), incomplete ones (not every fragment index held yet) a
 *    separate 8 / 1 MB / 10 min since their last fragment (issue 8);
 * 2. sends the fragment acknowledgement (stored or refused, with the reason)
 *    back through the SURB the sender put in the gateway layer;
 * 3. pushes the fragment to the mailbox owner if it is connected, and deletes
 *    it when the owner acknowledges the delivery.
 * A DELIVER_SURB hop (replies and acknowledgements) is pushed at once when the
 * owner is connected, else stored the same way. The owner may PURGE its
 * mailbox (every row, or the incomplete messages' rows).
 * A DELIVER hop whose gateway layer has FLAG_LOOKUP is a contact lookup
 * (issue 8): the gateway runs the DHT query for the pseudonym's contact
 * record itself and answers through the request's SURB, so storing nodes see
 * the gateway's PeerId, not the sender's. Its mailbox field is ignored.
 *
 * A DELIVER hop whose gateway layer has FLAG_PUBSUB is an anonymous publish
 * (issue 13, item 2): this node is the exit and hands the envelope to its
 * pub/sub service, which checks and publishes it on GossipSub; the answer
 * (REPLY_PUBLISHED) goes back through the SURB when there is one. The exit
 * never learns the publisher (Sphinx), and logs nothing of the envelope.
 *
 * Only mailboxes claimed by their key (an Ed25519 signature over the
 * gateway's key, the client's key and a timestamp) receive anything; the
 * gateway publishes and re-publishes the claimant's signed contact record in
 * the DHT, so the record never travels from the owner's PeerId to a storing
 * node. The claimed mailboxes persist in the node's state database (table
 * `gateway_claims`, component `gateway`; a `<dataDir>/gateway.db` of an
 * earlier version is imported once and renamed `gateway.db.imported`).
 *
 * Quotas (issue 10; docs/quotas.md): one client PeerId holds at most
 * MAX_CLAIMS_PER_PEER mailboxes here and the gateway at most
 * MAX_GATEWAY_CLAIMS in all; a claim beyond is answered FRAME_ERROR with
 * reason `UMBRA_ERR_QUOTA_MAILBOX_CLAIMS` and counted (`mailbox-claims`).
 * Re-claiming a held mailbox renews it and never counts again; a mailbox
 * claimed by another PeerId moves to it. A claim not renewed for CLAIM_TTL_MS
 * while its owner is not connected is dropped with its stored rows.
 */
import { existsSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { DATA_DIR_FILES, openStateDatabase, type StateDatabase } from '../store/index.ts'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { lpStream } from '@libp2p/utils'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { CLAIM_DOMAIN, CLAIM_MAX_SKEW_MS, CLAIM_RENEW_WRITE_MS, CLAIM_TTL_MS, MAX_CLAIMS_PER_PEER, MAX_GATEWAY_CLAIMS, CONTACT_REPUBLISH_MS, GATEWAY_PROTOCOL, MAX_GATEWAY_FRAME_BYTES, MAX_GATEWAY_LOOKUPS, WIRE_VERSION } from './constants.ts'
import { ClaimSignable, GatewayFrame } from './pb/mixnet.ts'
import { PAYLOAD_SIZE, createSurbReply, decodeSurb } from './sphinx/index.ts'
import {
  ACK_REFUSED_BYTES, ACK_REFUSED_CONFLICT, ACK_REFUSED_INCOMPLETE, ACK_REFUSED_MESSAGES, ACK_STORED, ACK_UNKNOWN_MAILBOX, FLAG_DROP_COVER, FLAG_LOOKUP,
  LOOKUP_FOUND, LOOKUP_NOT_FOUND, REPLY_FRAGMENT_ACK, REPLY_LOOKUP, decodeFragment, decodeGatewayLayer, decodeLookupRequest, encodeReplyLayer
} from './wire.ts'
import { FLAG_PUBSUB, PUBLISH_OK, PUBLISH_REFUSED, REPLY_PUBLISHED, decodePubsubPublish } from './wire.ts'
import { QUOTA_CODES, type QuotaCounters } from '../quota.ts'
import type { MailboxPutResult, MailboxStore } from './mailbox-store.ts'
import type { MixnetCounters } from './types.ts'
import type { Logger } from '../logger.ts'
import type { Connection, Libp2p, Stream } from '@libp2p/interface'

/** Gateway frame types (pb/mixnet.proto). */
export const FRAME_CLAIM = 1
export const FRAME_CLAIM_OK = 2
export const FRAME_DELIVERY = 3
export const FRAME_DELIVERY_ACK = 4
export const FRAME_ERROR = 5
/** Owner → gateway: delete the mailbox's rows; `kind` {@link PURGE_INCOMPLETE} or {@link PURGE_ALL} (issue 8). */
export const FRAME_PURGE = 6
/** Gateway → owner: the purge is done; `id` is how many rows were deleted. */
export const FRAME_PURGE_OK = 7
/**
 * Owner → gateway: publish a DHT record signed by the mailbox key (`key`: its DHT key, `data`: the record,
 * `id`: a request id), so storing nodes see the gateway's PeerId, not the owner's (service discovery's
 * anonymous sets, src/discovery).
 */
export const FRAME_PUBLISH = 8
/** Gateway → owner: `id` of the PUBLISH; `status` 0 stored on `kind` nodes, else refused with `reason`. */
export const FRAME_PUBLISH_OK = 9
/** Most PUBLISH requests a gateway runs at once for one mailbox; more are refused. */
const MAX_PUBLISHES_IN_FLIGHT = 4
/** Purge scopes (`kind` of a PURGE frame). */
export const PURGE_INCOMPLETE = 1
export const PURGE_ALL = 2
/** Delivery kinds. */
export const DELIVERY_FRAGMENT = 1
export const DELIVERY_SURB = 2

/** A gateway frame with every field not given at its empty value. */
export function gatewayFrame (fields: Partial<GatewayFrame>): GatewayFrame {
  return { version: WIRE_VERSION, type: 0, mailbox: new Uint8Array(0), timestamp: 0n, signature: new Uint8Array(0), contact: new Uint8Array(0), ids: [], id: 0n, kind: 0, data: new Uint8Array(0), status: 0, reason: '', key: new Uint8Array(0), ...fields }
}

/**
 * Writes gateway frames on one length-prefixed stream one after another:
 * both ends write from several places (deliveries and acknowledgements).
 * A failed write rejects its own call only.
 */
export function frameWriter (lp: { write(data: Uint8Array): Promise<void> }): (frame: GatewayFrame) => Promise<void> {
  let writing = Promise.resolve()
  return async (frame) => {
    const p = writing.then(async () => { await lp.write(GatewayFrame.encode(frame)) })
    writing = p.catch(() => {})
    await p
  }
}

/** The fragment acknowledgement status for each reason the mailbox store refuses a put (wire.ts). */
const REFUSAL_STATUS: Record<(MailboxPutResult & { ok: false })['reason'], number> = {
  messages: ACK_REFUSED_MESSAGES,
  bytes: ACK_REFUSED_BYTES,
  incomplete: ACK_REFUSED_INCOMPLETE,
  conflict: ACK_REFUSED_CONFLICT
}

/** How long a client may take to send its claim, ms. */
const CLAIM_TIMEOUT_MS = 10_000

/** The bytes a mailbox key signs to claim its mailbox at one gateway over one connection. */
export function claimSignable (gateway: Uint8Array, client: Uint8Array, mailbox: Uint8Array, timestamp: number): Uint8Array {
  return ClaimSignable.encode({ domain: CLAIM_DOMAIN, gateway: gateway as Uint8Array<ArrayBuffer>, client: client as Uint8Array<ArrayBuffer>, mailbox: mailbox as Uint8Array<ArrayBuffer>, timestamp: BigInt(timestamp) })
}

/** What {@link createGateway} needs. */
export interface GatewayInit {
  libp2p: Libp2p
  store: MailboxStore
  /** The node's state database, where the claims persist. @default a `:memory:` one of its own */
  state?: StateDatabase
  /** Data directory: a `gateway.db` there (from before issue 11) is imported into `state` once. @default none */
  dataDir?: string
  log: Logger
  counters: MixnetCounters
  /** Counts a dropped packet by reason (the mixnet's `dropped` counters). */
  drop(reason: string): void
  /** Sends a packet to the first hop of a SURB. */
  sendPacket(nodeKey: Uint8Array, packet: Uint8Array): Promise<void>
  /** Checks a claimant's signed contact record against its mailbox key and stores it in the DHT. */
  publishContact(mailbox: Uint8Array, contact: Uint8Array): Promise<void>
  /**
   * Looks up the contact record of a pseudonym (raw Ed25519 key, 32 bytes) in
   * the DHT from this node, bounded in time; resolves the verified record
   * bytes (≤ 1 KiB), or undefined when none was found. Never rejects.
   */
  lookupContact(key: Uint8Array): Promise<Uint8Array | undefined>
  /** Refused claims are counted here (`mailbox-claims`). */
  quotas?: QuotaCounters
  /**
   * Publishes an anonymous pub/sub envelope this node exits (FLAG_PUBSUB);
   * resolves the envelope's 16-byte message id, rejects when the envelope is
   * refused. Absent: every one is refused (PUBLISH_REFUSED).
   */
  publishPubsub?(envelope: Uint8Array): Promise<Uint8Array>
  /** Mailboxes one client PeerId may hold. @default MAX_CLAIMS_PER_PEER (16) */
  maxClaimsPerPeer?: number
  /** Mailboxes held in all. @default MAX_GATEWAY_CLAIMS (20,000) */
  maxClaims?: number
  /** A claim not renewed for this long, ms, with its owner away, is dropped. @default CLAIM_TTL_MS (7 days) */
  claimTtlMs?: number
  /**
   * Checks a record a mailbox owner asks this gateway to publish (a namespace
   * this node publishes for others, signed by the mailbox key) and stores it in
   * the DHT. Absent: PUBLISH frames are refused.
   * @returns how many nodes acknowledged it
   * @throws any error: the request is refused with its message
   */
  publishRecord?(mailbox: Uint8Array, dhtKey: Uint8Array, record: Uint8Array): Promise<number>
}

/** One claimed mailbox. */
interface Claim {
  contact: Uint8Array | undefined
  /** Client PeerId (string) that claimed it last, '' for claims made before quotas (issue 10). */
  client: string
  /** When it was last claimed or renewed in gateway.db, ms since the epoch. */
  claimedAt: number
}

/** The gateway role as the mixnet service drives it. */
export interface Gateway {
  /** A DELIVER hop's body for `mailbox` (32 bytes). */
  deliver(mailbox: Uint8Array, body: Uint8Array): Promise<void>
  /** A DELIVER_SURB hop: `surbId` (16 bytes) and the still-wrapped payload. */
  deliverSurb(mailbox: Uint8Array, surbId: Uint8Array, payload: Uint8Array): void
  /** Number of claimed mailboxes. */
  mailboxCount(): number
  /** Drops expired claims now (also run every minute); `now` in ms, for tests. */
  expireClaims(now?: number): void
  start(): Promise<void>
  stop(): Promise<void>
}

interface Session {
  stream: Stream
  send(frame: GatewayFrame): Promise<void>
}

function hex (b: Uint8Array): string {
  return uint8ArrayToString(b, 'base16')
}

/** Migration steps of component `gateway` (docs/ARCHITECTURE.md "Durable state"); append only. */
const GATEWAY_STATE_STEPS: readonly string[] = [
  "CREATE TABLE gateway_claims (mailbox BLOB PRIMARY KEY, contact BLOB, claimed_at INTEGER NOT NULL, client TEXT NOT NULL DEFAULT '') STRICT"
]

/**
 * Copies the claims of a `gateway.db` written before issue 11 into
 * `gateway_claims` (claims already there win), then renames the file
 * `gateway.db.imported`. A file that cannot be read is left where it is and
 * logged; the gateway starts without its claims (clients claim again on
 * reconnect).
 */
export function importLegacyClaims (state: StateDatabase, path: string, log: Logger): void {
  if (!existsSync(path)) return
  try {
    state.db.prepare('ATTACH DATABASE ? AS legacy').run(path)
    try {
      // Files from before issue 10 have no client column.
      const hasClient = state.db.prepare('PRAGMA legacy.table_info(claims)').all().some((c) => c.name === 'client')
      state.db.exec(`INSERT OR IGNORE INTO gateway_claims (mailbox, contact, claimed_at, client)
        SELECT mailbox, contact, CAST(claimed_at AS INTEGER), ${hasClient ? 'CAST(client AS TEXT)' : "''"} FROM legacy.claims`)
    } finally {
      state.db.exec('DETACH DATABASE legacy')
    }
    renameSync(path, `${path}.imported`)
    for (const suffix of ['-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true })
  } catch (err) {
    log.warn({ err: (err as Error).message, path }, 'could not import the claims of an old gateway.db; clients claim again when they reconnect')
  }
}

/** Creates the gateway role; see the module comment. */
export function createGateway (init: GatewayInit): Gateway {
  const { libp2p, store, log, counters } = init
  const state = init.state ?? openStateDatabase({ path: ':memory:' })
  const ownState = init.state == null
  state.migrate('gateway', GATEWAY_STATE_STEPS)
  if (init.state != null && init.dataDir != null) importLegacyClaims(state, join(init.dataDir, DATA_DIR_FILES.gateway), log)
  const { db } = state
  const maxPerPeer = init.maxClaimsPerPeer ?? MAX_CLAIMS_PER_PEER
  const maxClaims = init.maxClaims ?? MAX_GATEWAY_CLAIMS
  const claimTtlMs = init.claimTtlMs ?? CLAIM_TTL_MS
  const claims = new Map<string, Claim>()
  /** Mailboxes held per client PeerId. */
  const perClient = new Map<string, number>()
  const holdClaim = (mailboxHex: string, claim: Claim): void => {
    const old = claims.get(mailboxHex)
    if (old != null) releaseClient(old.client)
    claims.set(mailboxHex, claim)
    perClient.set(claim.client, (perClient.get(claim.client) ?? 0) + 1)
  }
  const releaseClient = (client: string): void => {
    const n = (perClient.get(client) ?? 1) - 1
    if (n <= 0) perClient.delete(client)
    else perClient.set(client, n)
  }
  for (const row of db.prepare('SELECT mailbox, contact, claimed_at, client FROM gateway_claims').all()) {
    holdClaim(hex(row.mailbox as Uint8Array), { contact: row.contact == null ? undefined : new Uint8Array(row.contact as Uint8Array), client: String(row.client), claimedAt: Number(row.claimed_at) })
  }
  const sessions = new Map<string, Session>()
  let republishTimer: ReturnType<typeof setInterval> | undefined
  let expireTimer: ReturnType<typeof setInterval> | undefined
  const ownKey = libp2p.peerId.publicKey?.raw ?? new Uint8Array()
  let lookupsRunning = 0

  async function ack (ackSurb: Uint8Array | undefined, messageId: Uint8Array, status: number): Promise<void> {
    if (ackSurb == null) return
    try {
      const surb = decodeSurb(ackSurb)
      const { firstNode, packet } = createSurbReply(surb, encodeReplyLayer({ kind: REPLY_FRAGMENT_ACK, messageId, status, data: new Uint8Array(0) }))
      await init.sendPacket(firstNode, packet)
      counters.acksSent++
    } catch (err) {
      counters.acksFailed++
      log.debug({ err: (err as Error).message }, 'could not send a fragment acknowledgement')
    }
  }

  /**
   * Answers a contact lookup (FLAG_LOOKUP) through its SURB: REPLY_LOOKUP
   * with the verified record, or LOOKUP_NOT_FOUND. At most
   * MAX_GATEWAY_LOOKUPS run at once; more are dropped (`lookup-busy`).
   */
  async function answerLookup (ackSurb: Uint8Array | undefined, slot: Uint8Array): Promise<void> {
    let request
    let surb
    try {
      request = decodeLookupRequest(slot)
      if (ackSurb == null) throw new Error('no SURB')
      surb = decodeSurb(ackSurb)
    } catch {
      init.drop('malformed')
      return
    }
    if (lookupsRunning >= MAX_GATEWAY_LOOKUPS) {
      init.drop('lookup-busy')
      return
    }
    lookupsRunning++
    let record: Uint8Array | undefined
    try {
      record = await init.lookupContact(request.key)
    } catch {
      record = undefined
    } finally {
      lookupsRunning--
    }
    try {
      const data = record ?? new Uint8Array(0)
      const { firstNode, packet } = createSurbReply(surb, encodeReplyLayer({ kind: REPLY_LOOKUP, messageId: request.requestId, status: record != null ? LOOKUP_FOUND : LOOKUP_NOT_FOUND, data }))
      await init.sendPacket(firstNode, packet)
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'could not answer a contact lookup')
    }
  }

  /**
   * Exits an anonymous publish (FLAG_PUBSUB): hands the envelope to
   * `init.publishPubsub` and answers REPLY_PUBLISHED through the SURB, if
   * any. Refusals are counted (`pubsub-refused`); the log line names the
   * outcome only, nothing about the envelope or the packet.
   */
  async function exitPublish (ackSurb: Uint8Array | undefined, slot: Uint8Array): Promise<void> {
    let envelope: Uint8Array
    try {
      envelope = decodePubsubPublish(slot)
    } catch {
      init.drop('malformed')
      return
    }
    let status = PUBLISH_OK
    // The answer names the envelope's message id; zeros when it was refused (the publisher matches on its SURB as well).
    let id: Uint8Array = new Uint8Array(16)
    try {
      if (init.publishPubsub == null) throw new Error('no pub/sub')
      id = await init.publishPubsub(envelope)
    } catch {
      status = PUBLISH_REFUSED
      init.drop('pubsub-refused')
    }
    // Only the outcome: never the topic, the envelope, or the predecessor.
    log.debug({ status: status === PUBLISH_OK ? 'published' : 'refused' }, 'anonymous pub/sub publish exited')
    if (ackSurb == null) return
    try {
      const { firstNode, packet } = createSurbReply(decodeSurb(ackSurb), encodeReplyLayer({ kind: REPLY_PUBLISHED, messageId: id, status, data: new Uint8Array(0) }))
      await init.sendPacket(firstNode, packet)
    } catch {
      counters.acksFailed++
    }
  }

  function push (mailboxHex: string, id: number, kind: number, data: Uint8Array): void {
    const session = sessions.get(mailboxHex)
    if (session == null) return
    session.send(gatewayFrame({ type: FRAME_DELIVERY, id: BigInt(id), kind, data: data as Uint8Array<ArrayBuffer> }))
      .catch((err) => { log.debug({ err: err.message }, 'push to a mailbox owner failed; kept in the mailbox') })
  }

  async function handle (stream: Stream, connection: Connection): Promise<void> {
    const lp = lpStream(stream, { maxDataLength: MAX_GATEWAY_FRAME_BYTES })
    let mailboxHex: string | undefined
    const send = frameWriter(lp)
    try {
      const claim = GatewayFrame.decode((await lp.read({ signal: AbortSignal.timeout(CLAIM_TIMEOUT_MS) })).subarray())
      if (claim.version !== WIRE_VERSION || claim.type !== FRAME_CLAIM || claim.mailbox.byteLength !== 32) throw new Error('expected a claim')
      const skew = Math.abs(Number(claim.timestamp) - Date.now())
      const clientKey = connection.remotePeer.publicKey?.raw
      if (clientKey == null || skew > CLAIM_MAX_SKEW_MS) throw new Error('claim timestamp or client key')
      const ok = await publicKeyFromRaw(claim.mailbox).verify(claimSignable(ownKey, clientKey, claim.mailbox, Number(claim.timestamp)), claim.signature)
      if (!ok) throw new Error('claim signature')
      const claimHex = hex(claim.mailbox)
      const client = connection.remotePeer.toString()
      const contact = claim.contact.byteLength > 0 ? claim.contact : undefined
      const held = claims.get(claimHex)
      const known = held?.contact
      // Quota: a mailbox this peer already holds never counts again.
      if (held?.client !== client && ((perClient.get(client) ?? 0) >= maxPerPeer || (held == null && claims.size >= maxClaims))) {
        init.quotas?.refuse('mailbox-claims')
        const limit = held == null && claims.size >= maxClaims ? `${maxClaims} mailboxes at this gateway` : `${maxPerPeer} mailboxes per peer`
        log.debug({ claims: claims.size }, 'refused a mailbox claim over quota')
        await send(gatewayFrame({ type: FRAME_ERROR, reason: `${QUOTA_CODES['mailbox-claims']}: at most ${limit}` }))
        await stream.close({ signal: AbortSignal.timeout(CLAIM_TIMEOUT_MS) }).catch((err) => { stream.abort(err) })
        return
      }
      mailboxHex = claimHex
      const contactChanged = contact != null && (known == null || !uint8ArrayEquals(known, contact))
      const now = Date.now()
      if (held == null || contactChanged || held.client !== client || now - held.claimedAt > CLAIM_RENEW_WRITE_MS) {
        db.prepare('INSERT INTO gateway_claims (mailbox, contact, claimed_at, client) VALUES (?, ?, ?, ?) ON CONFLICT(mailbox) DO UPDATE SET contact = excluded.contact, claimed_at = excluded.claimed_at, client = excluded.client')
          .run(claim.mailbox, contact ?? known ?? null, now, client)
        holdClaim(mailboxHex, { contact: contact ?? known, client, claimedAt: now })
      }
      if (contactChanged && contact != null) {
        // Published before CLAIM_OK, so a sender can find the pseudonym once create() resolves.
        await init.publishContact(claim.mailbox, contact).catch((err) => { log.warn({ err: err.message }, 'could not publish a contact record') })
      }
      sessions.get(mailboxHex)?.stream.abort(new Error('mailbox claimed by a newer connection'))
      const session: Session = { stream, send }
      sessions.set(mailboxHex, session)
      await send(gatewayFrame({ type: FRAME_CLAIM_OK }))
      // A stored SURB delivery is surbId || Sphinx payload; a fragment is always shorter.
      for (const e of store.list(claim.mailbox)) {
        push(mailboxHex, e.id, e.data.byteLength === 16 + PAYLOAD_SIZE ? DELIVERY_SURB : DELIVERY_FRAGMENT, e.data)
      }
      let publishing = 0
      while (true) {
        const frame = GatewayFrame.decode((await lp.read()).subarray())
        if (frame.type === FRAME_PUBLISH) {
          // Answered when the DHT put ends; deliveries and acks keep flowing meanwhile.
          const id = frame.id
          if (init.publishRecord == null || publishing >= MAX_PUBLISHES_IN_FLIGHT) {
            await send(gatewayFrame({ type: FRAME_PUBLISH_OK, id, status: 1, reason: init.publishRecord == null ? 'this gateway publishes no records' : 'too many publishes in flight' }))
            continue
          }
          publishing++
          void init.publishRecord(claim.mailbox, frame.key, frame.data)
            .then(async (storedOn) => { await send(gatewayFrame({ type: FRAME_PUBLISH_OK, id, status: 0, kind: storedOn })) })
            .catch(async (err) => { await send(gatewayFrame({ type: FRAME_PUBLISH_OK, id, status: 1, reason: String((err as Error)?.message ?? err).slice(0, 200) })).catch(() => {}) })
            .finally(() => { publishing-- })
          continue
        }
        if (frame.type === FRAME_PURGE && (frame.kind === PURGE_INCOMPLETE || frame.kind === PURGE_ALL)) {
          const deleted = store.purge(claim.mailbox, { incompleteOnly: frame.kind === PURGE_INCOMPLETE })
          log.debug({ deleted }, 'mailbox purged by its owner')
          await send(gatewayFrame({ type: FRAME_PURGE_OK, id: BigInt(deleted) }))
          continue
        }
        if (frame.type !== FRAME_DELIVERY_ACK) throw new Error(`unexpected frame ${frame.type}`)
        store.delete(claim.mailbox, frame.ids.map((id) => Number(id)))
      }
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'gateway session ended')
      stream.abort(err as Error)
    } finally {
      if (mailboxHex != null && sessions.get(mailboxHex)?.stream === stream) sessions.delete(mailboxHex)
    }
  }

  /** Drops claims not renewed for claimTtlMs whose owner is not connected, with their stored rows. */
  function expireClaims (now: number): void {
    for (const [mailboxHex, c] of claims) {
      if (now - c.claimedAt <= claimTtlMs || sessions.has(mailboxHex)) continue
      const mailbox = uint8ArrayFromString(mailboxHex, 'base16')
      store.purge(mailbox)
      db.prepare('DELETE FROM gateway_claims WHERE mailbox = ?').run(mailbox)
      claims.delete(mailboxHex)
      releaseClient(c.client)
      log.debug('dropped a mailbox claim not renewed in time')
    }
  }

  return {
    async deliver (mailbox, body) {
      let layer
      try {
        layer = decodeGatewayLayer(body)
      } catch {
        init.drop('malformed')
        return
      }
      if ((layer.flags & FLAG_DROP_COVER) !== 0) {
        counters.coverDropped++
        return
      }
      if ((layer.flags & FLAG_LOOKUP) !== 0) {
        // Not awaited: the DHT query takes up to GATEWAY_LOOKUP_DHT_TIMEOUT_MS and must not hold up the packet loop.
        void answerLookup(layer.ackSurb, layer.fragment)
        return
      }
      if ((layer.flags & FLAG_PUBSUB) !== 0) {
        void exitPublish(layer.ackSurb, layer.fragment)
        return
      }
      let fragment
      try {
        fragment = decodeFragment(layer.fragment)
      } catch {
        init.drop('malformed')
        return
      }
      const mailboxHex = hex(mailbox)
      if (!claims.has(mailboxHex)) {
        counters.refused++
        await ack(layer.ackSurb, fragment.messageId, ACK_UNKNOWN_MAILBOX)
        return
      }
      const result = store.put(mailbox, fragment.messageId, layer.fragment, fragment)
      if (!result.ok) {
        counters.refused++
        await ack(layer.ackSurb, fragment.messageId, REFUSAL_STATUS[result.reason])
        return
      }
      counters.stored++
      await ack(layer.ackSurb, fragment.messageId, ACK_STORED)
      push(mailboxHex, result.id, DELIVERY_FRAGMENT, layer.fragment)
    },

    deliverSurb (mailbox, surbId, payload) {
      const mailboxHex = hex(mailbox)
      if (!claims.has(mailboxHex)) {
        counters.refused++
        return
      }
      const data = new Uint8Array(16 + payload.byteLength)
      data.set(surbId, 0)
      data.set(payload, 16)
      if (sessions.has(mailboxHex)) {
        push(mailboxHex, 0, DELIVERY_SURB, data)
        return
      }
      const result = store.put(mailbox, surbId, data)
      if (result.ok) counters.stored++
      else counters.refused++
    },

    mailboxCount () {
      return claims.size
    },

    expireClaims (now = Date.now()) {
      expireClaims(now)
    },

    async start () {
      // One long-lived stream per held mailbox, plus room for reconnects (docs/quotas.md); the same bound for this
      // node's own claims at another gateway, whose per-peer claim quota is the limit that answers with a code.
      await libp2p.handle(GATEWAY_PROTOCOL, handle, { maxInboundStreams: 4 * maxPerPeer, maxOutboundStreams: 4 * maxPerPeer })
      republishTimer = setInterval(() => {
        for (const [mailboxHex, { contact }] of claims) {
          if (contact != null) void init.publishContact(uint8ArrayFromString(mailboxHex, 'base16'), contact).catch(() => {})
        }
      }, CONTACT_REPUBLISH_MS)
      republishTimer.unref()
      expireTimer = setInterval(() => {
        try { store.expire() } catch (err) { log.warn({ err: (err as Error).message }, 'mailbox expiry failed') }
        try { expireClaims(Date.now()) } catch (err) { log.warn({ err: (err as Error).message }, 'claim expiry failed') }
      }, 60_000)
      expireTimer.unref()
    },

    async stop () {
      clearInterval(republishTimer)
      clearInterval(expireTimer)
      await libp2p.unhandle(GATEWAY_PROTOCOL).catch(() => {})
      for (const s of sessions.values()) s.stream.abort(new Error('gateway stopping'))
      sessions.clear()
      if (ownState) state.close()
    }
  }
}
