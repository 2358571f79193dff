/**
 * The owner's side of a mailbox (DESIGN.md section 5): keeps one
 * `/umbra/gateway/1.0.0` stream open to the gateway, claims the mailbox
 * with a signature of the mailbox key, receives deliveries and
 * acknowledges them once they are safe (a fragment only when its whole
 * message was reassembled, so a restart mid-message loses nothing: the
 * gateway re-delivers what was not acknowledged). Re-dials after a lost
 * connection with a backoff of 250 ms doubling to GATEWAY_RECONNECT_MAX_MS.
 * The owner can purge its mailbox at the gateway (issue 8, item 3).
 */
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { withTimeout } from '../signals.ts'
import { GatewayUnreachableError } from './errors.ts'
import { GATEWAY_PROTOCOL, GATEWAY_RECONNECT_MAX_MS, MAX_GATEWAY_FRAME_BYTES } from './constants.ts'
import {
  FRAME_CLAIM, FRAME_CLAIM_OK, FRAME_DELIVERY, FRAME_DELIVERY_ACK, FRAME_PUBLISH, FRAME_PUBLISH_OK, FRAME_PURGE, FRAME_PURGE_OK, PURGE_ALL, PURGE_INCOMPLETE,
  claimSignable, frameWriter, gatewayFrame
} from './gateway.ts'
import { peerIdOfNodeKey } from './links.ts'
import { GatewayFrame } from './pb/mixnet.ts'
import type { Logger } from '../logger.ts'
import type { Libp2p, PrivateKey } from '@libp2p/interface'

/** How long dialing and claiming may take, ms. */
const CLAIM_TIMEOUT_MS = 15_000
/** How long the gateway may take to answer a purge, ms. */
const PURGE_TIMEOUT_MS = 15_000

/** One delivery from the gateway. */
export interface Delivery {
  /** Id to acknowledge (0: nothing to acknowledge). */
  id: number
  /** 1 fragment, 2 SURB reply. */
  kind: number
  data: Uint8Array
}

/** What {@link createMailboxClient} needs. */
export interface MailboxClientInit {
  libp2p: Libp2p
  log: Logger
  /** Gateway's Ed25519 node key, 32 bytes. */
  gateway: Uint8Array
  /** Addresses of the gateway (from the directory). */
  gatewayAddrs(): string[]
  /** The mailbox key (its public key is the mailbox id). */
  mailboxKey: PrivateKey
  /** Signed contact record for the gateway to publish, if any. */
  contact?: Uint8Array
  onDelivery(delivery: Delivery): void
}

/** A live mailbox connection. */
export interface MailboxClient {
  /**
   * Resolves once the gateway accepted the claim (first time).
   * @throws UMBRA_ERR_GATEWAY_UNREACHABLE at once when the gateway refuses the first claim (its reason in the message, e.g. a claim quota)
   *   or is this node itself, or after 15 s without an answer
   */
  ready(): Promise<void>
  /** True while the claim stands on an open stream. */
  readonly connected: boolean
  /** When the claim was last lost (ms since the Unix epoch); undefined while connected and before the first claim. */
  readonly disconnectedSince: number | undefined
  /** When the current claim was accepted (ms since the Unix epoch); undefined while not connected. */
  readonly connectedSince: number | undefined
  /** Acknowledges delivery ids; the gateway deletes them. */
  ack(ids: number[]): void
  /**
   * Has the gateway delete the mailbox's rows: those of incomplete messages
   * (default), or with `all` every row, delivered or not.
   * @returns how many rows the gateway deleted
   * @throws Error when the mailbox is not connected, the session ends or the gateway does not answer within 15 s
   */
  purge(options?: { all?: boolean }): Promise<number>
  /**
   * Has the gateway publish a DHT record signed by the mailbox key (service
   * discovery's anonymous sets), so storing nodes never see this node's PeerId.
   * @returns how many nodes acknowledged it
   * @throws Error when the mailbox is not connected, the gateway refuses, or it does not answer within 15 s
   */
  publish(dhtKey: Uint8Array, record: Uint8Array): Promise<number>
  stop(): void
}

/** Connects to a gateway and keeps the mailbox claimed; see the module comment. */
export function createMailboxClient (init: MailboxClientInit): MailboxClient {
  const { libp2p, log } = init
  let running = true
  let connected = false
  let disconnectedSince: number | undefined
  let connectedSince: number | undefined
  let send: ((frame: GatewayFrame) => Promise<void>) | undefined
  let abortCurrent: (() => void) | undefined
  /** Purges waiting for their answer, in the order sent (the gateway answers in order). */
  let purges: Array<{ resolve(n: number): void, reject(err: Error): void }> = []
  /** Publishes waiting for their answer, by request id (answered out of order). */
  const publishes = new Map<bigint, { resolve(n: number): void, reject(err: Error): void }>()
  let nextPublishId = 1n
  let resolveReady!: () => void
  let rejectReady!: (err: Error) => void
  const readyPromise = new Promise<void>((resolve, reject) => { resolveReady = resolve; rejectReady = reject })
  readyPromise.catch(() => {}) // read through ready(); a refusal nobody waits for is not an unhandled rejection
  /** Whether the gateway ever accepted the claim: a first refusal ends the client, a later one (e.g. after a gateway restart) is retried. */
  let claimed = false

  async function session (): Promise<void> {
    const peer = peerIdOfNodeKey(init.gateway)
    const addrs = init.gatewayAddrs()
    if (addrs.length > 0) await libp2p.peerStore.merge(peer, { multiaddrs: addrs.map((a) => multiaddr(a)) }).catch(() => {})
    const signal = withTimeout(undefined, CLAIM_TIMEOUT_MS)
    const stream = await libp2p.dialProtocol(peer, GATEWAY_PROTOCOL, { signal })
    abortCurrent = () => { stream.abort(new Error('mailbox client stopping')) }
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_GATEWAY_FRAME_BYTES })
      send = frameWriter(lp)
      const mailbox = init.mailboxKey.publicKey.raw
      const timestamp = Date.now()
      const client = libp2p.peerId.publicKey?.raw ?? new Uint8Array()
      const signature = await init.mailboxKey.sign(claimSignable(init.gateway, client, mailbox, timestamp))
      await send(gatewayFrame({ type: FRAME_CLAIM, mailbox: mailbox as Uint8Array<ArrayBuffer>, timestamp: BigInt(timestamp), signature: signature as Uint8Array<ArrayBuffer>, contact: (init.contact ?? new Uint8Array(0)) as Uint8Array<ArrayBuffer> }))
      const ok = GatewayFrame.decode((await lp.read({ signal })).subarray())
      if (ok.type !== FRAME_CLAIM_OK) {
        if (!claimed) {
          // A first refusal (a quota, a claim the gateway does not accept) is final: the caller learns it now instead of after CLAIM_TIMEOUT_MS.
          running = false
          rejectReady(new GatewayUnreachableError(`The gateway refused the mailbox claim: ${ok.reason.slice(0, 200)}`))
        }
        throw new Error(`gateway refused the claim: ${ok.reason}`)
      }
      claimed = true
      connected = true
      disconnectedSince = undefined
      connectedSince = Date.now()
      resolveReady()
      while (running) {
        const f = GatewayFrame.decode((await lp.read()).subarray())
        if (f.type === FRAME_PURGE_OK) { purges.shift()?.resolve(Number(f.id)); continue }
        if (f.type === FRAME_PUBLISH_OK) {
          const p = publishes.get(f.id)
          publishes.delete(f.id)
          if (f.status === 0) p?.resolve(f.kind)
          else p?.reject(new Error(`the gateway refused to publish: ${f.reason}`))
          continue
        }
        if (f.type !== FRAME_DELIVERY) throw new Error(`unexpected gateway frame ${f.type}`)
        init.onDelivery({ id: Number(f.id), kind: f.kind, data: f.data })
      }
    } finally {
      if (connected) disconnectedSince = Date.now()
      connected = false
      connectedSince = undefined
      send = undefined
      const waiting = purges
      purges = []
      for (const p of waiting) p.reject(new Error('the gateway connection ended before the purge was answered'))
      for (const p of publishes.values()) p.reject(new Error('the gateway connection ended before the publish was answered'))
      publishes.clear()
      stream.abort(new Error('mailbox session ended'))
    }
  }

  if (peerIdOfNodeKey(init.gateway).equals(libp2p.peerId)) {
    // A node cannot dial itself: without this the first claim would be re-dialled until CLAIM_TIMEOUT_MS (issue 15 follow-up).
    running = false
    rejectReady(new GatewayUnreachableError('A mailbox cannot be claimed at this node itself; pick another gateway'))
  }

  void (async () => {
    let backoff = 250
    while (running) {
      try {
        await session()
        backoff = 250
      } catch (err) {
        if (!running) break
        log.debug({ err: (err as Error).message }, 'gateway connection lost; re-dialing')
      }
      if (!running) break
      await new Promise((resolve) => setTimeout(resolve, backoff).unref())
      backoff = Math.min(backoff * 2, GATEWAY_RECONNECT_MAX_MS)
    }
  })()

  return {
    async ready () {
      await Promise.race([
        readyPromise,
        new Promise<never>((_resolve, reject) => setTimeout(() => { reject(new GatewayUnreachableError(`The gateway did not accept the mailbox claim within ${CLAIM_TIMEOUT_MS} ms`)) }, CLAIM_TIMEOUT_MS).unref())
      ])
    },
    get connected () { return connected },
    get disconnectedSince () { return disconnectedSince },
    get connectedSince () { return connectedSince },
    ack (ids) {
      const real = ids.filter((id) => id > 0)
      if (real.length === 0 || send == null) return
      send(gatewayFrame({ type: FRAME_DELIVERY_ACK, ids: real.map((id) => BigInt(id)) })).catch(() => {})
    },
    async purge (options = {}) {
      const write = send
      if (write == null) throw new Error('the mailbox is not connected to its gateway')
      const answered = new Promise<number>((resolve, reject) => { purges.push({ resolve, reject }) })
      answered.catch(() => {}) // awaited below unless the write fails; the session's end rejects it either way
      await write(gatewayFrame({ type: FRAME_PURGE, kind: options.all === true ? PURGE_ALL : PURGE_INCOMPLETE }))
      let timer: ReturnType<typeof setTimeout> | undefined
      try {
        return await Promise.race([
          answered,
          new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error('the gateway did not answer the purge in time')) }, PURGE_TIMEOUT_MS) })
        ])
      } finally {
        clearTimeout(timer)
      }
    },
    async publish (dhtKey, record) {
      const write = send
      if (write == null) throw new Error('the mailbox is not connected to its gateway')
      const id = nextPublishId++
      const answered = new Promise<number>((resolve, reject) => { publishes.set(id, { resolve, reject }) })
      answered.catch(() => {})
      await write(gatewayFrame({ type: FRAME_PUBLISH, id, key: dhtKey as Uint8Array<ArrayBuffer>, data: record as Uint8Array<ArrayBuffer> }))
      let timer: ReturnType<typeof setTimeout> | undefined
      try {
        return await Promise.race([
          answered,
          new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error('the gateway did not answer the publish in time')) }, PURGE_TIMEOUT_MS) })
        ])
      } finally {
        clearTimeout(timer)
        publishes.delete(id)
      }
    },
    stop () {
      running = false
      abortCurrent?.()
    }
  }
}
