/**
 * A pool of worker threads that run Sphinx packet processing
 * (`processPacket`, src/mixnet/sphinx/) for a mix relay, so that the
 * public-key work (two X25519 per packet) uses every core and never blocks
 * the event loop that moves packets.
 *
 * Packets are collected until `maxBatch` are waiting or the current
 * macrotask ends (`setImmediate`), then sent to the least-loaded worker as
 * one transferred `ArrayBuffer`; results come back the same way (layout in
 * src/mixnet/mix-worker.ts) and are handed out as views into it, with no
 * copy (issue 15).
 *
 * @example
 * ```ts
 * const pool = createSphinxPool()
 * pool.setKeys(onionKeys.secrets())
 * const r = await pool.process(packet)
 * if (r.ok && r.kind === 'forward') schedule(r.nextNode, r.packet, r.delayMs)
 * await pool.close()
 * ```
 */
import { availableParallelism } from 'node:os'
import { setImmediate } from 'node:timers'
import { Worker } from 'node:worker_threads'
import sodium from 'sodium-native'
import { InvalidOptionError } from '../errors.ts'
import { logger } from '../logger.ts'
import {
  FAILURE_REASONS, ONION_SECRET_SIZE, RESULT_KIND, RESULT_META_SIZE, SLOT_SIZE,
  type BatchMessage, type DoneMessage, type KeysMessage, type MixWorkerData
} from './mix-worker.ts'
import type { ProcessResult } from './sphinx/index.ts'

/** Options of `createSphinxPool`. */
export interface SphinxPoolInit {
  /**
   * Worker threads, 1..256.
   * @default os.availableParallelism()
   */
  threads?: number
  /**
   * Most packets sent to a worker in one message, 1..4096. A batch is sent
   * when this many packets wait or when the current macrotask ends.
   * @default 64
   */
  maxBatch?: number
  /**
   * Most packets queued for or held by the workers at once, 1..1,048,576.
   * A packet beyond resolves `{ ok: false, reason: 'overload' }` at once, so
   * the pool's memory stays bounded (maxQueue × 4 KiB) whatever its callers do.
   * @default 4096 (16 MiB)
   */
  maxQueue?: number
  /**
   * The worker module. For tests and custom builds only.
   * @default ./mix-worker.ts from src, ./mix-worker.js from dist
   */
  workerUrl?: URL
}

/** An onion secret key the pool accepts, for one epoch. */
export interface PoolKey {
  /** Key epoch, the u32 in the packet header (docs/sphinx.md "Packet layout"). */
  epoch: number
  /** X25519 secret key, 32 bytes. */
  secret: Uint8Array
}

/**
 * What `process` resolves to: the Sphinx `ProcessResult`, or a pool failure:
 * `epoch` (no key for the packet's epoch), `worker` (the worker crashed
 * while holding the packet, or `processPacket` threw), `closed` (the pool
 * was closed before the packet was processed), `overload` (`maxQueue`
 * packets were already queued or in the workers).
 */
export type PoolProcessResult = ProcessResult | { ok: false, reason: 'epoch' | 'worker' | 'closed' | 'overload' }

/** A pool of Sphinx processing workers. */
export interface SphinxPool {
  /** Worker threads of the pool. */
  readonly threads: number
  /**
   * Replaces the onion secret keys of every worker (the pool keeps a copy
   * in `sodium_malloc` memory for workers it restarts). Packets passed to
   * `process` before the call still use the old set, later ones the new
   * set; the pool's old copies are zeroed, and each worker zeroes its own.
   * A no-op after `close`.
   * @throws InvalidOptionError `UMBRA_ERR_INVALID_OPTION` when an epoch is
   *   not a u32 or appears twice, or a secret is not 32 bytes
   */
  setKeys: (keys: ReadonlyArray<PoolKey>) => void
  /**
   * Processes one packet (4096 bytes) with the key of its epoch. Never
   * rejects. A forward result's byte arrays are views into the batch's
   * result buffer, which the pool never reuses: the caller owns them, but a
   * view keeps its whole batch (at most `maxBatch` × 4,168 bytes) alive, so
   * copy what is held for long (a delayed packet). Deliver results are
   * fresh copies.
   * A packet of the wrong size resolves `{ ok: false, reason: 'size' }`
   * at once, and one beyond `maxQueue` `{ ok: false, reason: 'overload' }`.
   */
  process: (packet: Uint8Array) => Promise<PoolProcessResult>
  /**
   * Terminates the workers and zeroes the keys; packets not yet processed
   * resolve `{ ok: false, reason: 'closed' }`, and so do later calls to
   * `process`. Idempotent.
   */
  close: () => Promise<void>
}

type Resolve = (r: PoolProcessResult) => void

interface Slot {
  worker: Worker | undefined
  /** Resolvers of the batches the worker holds, by batch id. */
  inflight: Map<number, Resolve[]>
  /** Packets the worker holds. */
  load: number
  /** Consecutive crashes without a completed batch in between (restart backoff). */
  crashes: number
  restartTimer: ReturnType<typeof setTimeout> | undefined
}

const DEFAULT_MAX_BATCH = 64
/** Default `maxQueue`: 4,096 packets of 4 KiB = 16 MiB. */
const DEFAULT_MAX_QUEUE = 4096
const MAX_QUEUE_LIMIT = 2 ** 20
const MAX_THREADS = 256
const MAX_BATCH_LIMIT = 4096
/** Restart delay after the 2nd, 3rd … consecutive crash, ms, doubling up to the cap. */
const RESTART_BACKOFF_MS = 100
const RESTART_BACKOFF_MAX_MS = 5_000
const CLOSED: PoolProcessResult = Object.freeze({ ok: false, reason: 'closed' }) as PoolProcessResult
const WORKER_FAILED: PoolProcessResult = Object.freeze({ ok: false, reason: 'worker' }) as PoolProcessResult
const SIZE_FAILED: PoolProcessResult = Object.freeze({ ok: false, reason: 'size' }) as PoolProcessResult
const OVERLOAD: PoolProcessResult = Object.freeze({ ok: false, reason: 'overload' }) as PoolProcessResult
const FAILURES = FAILURE_REASONS.map((reason) => Object.freeze({ ok: false, reason }) as PoolProcessResult)

const log = logger('mixnet:pool')

/**
 * Creates a pool of worker threads that process Sphinx packets
 * (Sphinx: Danezis & Goldberg 2009 §3.3; wire format docs/sphinx.md).
 * An idle pool does not keep the process alive; a busy one does. A worker
 * that exits unexpectedly is restarted (after the second consecutive crash
 * with a backoff of 100 ms doubling to 5 s) and the packets it held resolve
 * `{ ok: false, reason: 'worker' }`.
 * @param init - see `SphinxPoolInit`
 * @returns the pool; call `setKeys` before `process`, `close` when done
 * @throws InvalidOptionError `UMBRA_ERR_INVALID_OPTION` for `threads`,
 *   `maxBatch` or `maxQueue` out of range
 */
export function createSphinxPool (init: SphinxPoolInit = {}): SphinxPool {
  const threads = init.threads ?? availableParallelism()
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) {
    throw new InvalidOptionError(`threads must be an integer from 1 to ${MAX_THREADS}, got ${String(init.threads)}`)
  }
  const maxBatch = init.maxBatch ?? DEFAULT_MAX_BATCH
  if (!Number.isInteger(maxBatch) || maxBatch < 1 || maxBatch > MAX_BATCH_LIMIT) {
    throw new InvalidOptionError(`maxBatch must be an integer from 1 to ${MAX_BATCH_LIMIT}, got ${String(init.maxBatch)}`)
  }
  const maxQueue = init.maxQueue ?? DEFAULT_MAX_QUEUE
  if (!Number.isInteger(maxQueue) || maxQueue < 1 || maxQueue > MAX_QUEUE_LIMIT) {
    throw new InvalidOptionError(`maxQueue must be an integer from 1 to ${MAX_QUEUE_LIMIT}, got ${String(init.maxQueue)}`)
  }
  const workerUrl = init.workerUrl ?? new URL('./mix-worker' + (import.meta.url.endsWith('.ts') ? '.ts' : '.js'), import.meta.url)
  const workerData: MixWorkerData = { umbraMixWorker: true }

  let keys: Array<{ epoch: number, secret: Buffer }> = []
  let closed = false
  let closing: Promise<void> | undefined
  let nextBatchId = 0
  let pendingPackets: Uint8Array[] = []
  let pendingResolves: Resolve[] = []
  /** Packets queued or in a worker: `process` calls not yet resolved. */
  let queued = 0
  let flushScheduled = false
  const slots: Slot[] = []

  function keysMessage (): [KeysMessage, ArrayBuffer] {
    const secrets = new ArrayBuffer(keys.length * ONION_SECRET_SIZE)
    const u8 = new Uint8Array(secrets)
    keys.forEach((k, i) => u8.set(k.secret, i * ONION_SECRET_SIZE))
    return [{ type: 'keys', epochs: keys.map((k) => k.epoch), secrets }, secrets]
  }

  function startWorker (slot: Slot): void {
    slot.restartTimer = undefined
    if (closed) return
    const worker = new Worker(workerUrl, { workerData })
    slot.worker = worker
    worker.unref()
    const [msg, buf] = keysMessage()
    worker.postMessage(msg, [buf])
    worker.on('message', (done: DoneMessage) => { if (slot.worker === worker) onDone(slot, done) })
    worker.on('error', (err) => { log.warn({ err }, 'Sphinx worker failed') })
    worker.on('messageerror', (err) => { log.warn({ err }, 'Sphinx worker message could not be read') })
    worker.on('exit', (code) => {
      if (slot.worker !== worker) return
      slot.worker = undefined
      failInflight(slot, closed ? CLOSED : WORKER_FAILED)
      if (closed) return
      slot.crashes++
      const delay = slot.crashes < 2 ? 0 : Math.min(RESTART_BACKOFF_MAX_MS, RESTART_BACKOFF_MS * 2 ** (slot.crashes - 2))
      log.warn({ code, restartInMs: delay }, 'Sphinx worker exited; restarting it')
      slot.restartTimer = setTimeout(() => {
        startWorker(slot)
        if (pendingPackets.length > 0) schedule()
      }, delay)
      slot.restartTimer.unref()
    })
  }

  function failInflight (slot: Slot, result: PoolProcessResult): void {
    for (const resolves of slot.inflight.values()) for (const resolve of resolves) resolve(result)
    slot.inflight.clear()
    slot.load = 0
  }

  function onDone (slot: Slot, done: DoneMessage): void {
    const resolves = slot.inflight.get(done.id)
    if (resolves === undefined) return
    slot.inflight.delete(done.id)
    slot.load -= done.count
    slot.crashes = 0
    if (slot.load === 0) slot.worker?.unref()
    if (done.errors > 0) log.warn({ errors: done.errors, error: done.error }, 'processPacket threw')
    const u8 = new Uint8Array(done.buf)
    const metaBase = done.count * SLOT_SIZE
    for (let i = 0; i < done.count; i++) {
      (resolves[i] as Resolve)(decode(u8, i * SLOT_SIZE, metaBase + i * RESULT_META_SIZE))
    }
  }

  function schedule (): void {
    if (flushScheduled) return
    flushScheduled = true
    setImmediate(() => {
      flushScheduled = false
      flush()
    })
  }

  /** Sends the waiting packets, in batches of at most `maxBatch`, spread over idle workers. */
  function flush (): void {
    let live = 0
    for (const slot of slots) if (slot.worker !== undefined) live++
    if (live === 0) return // a restart timer calls schedule() again
    const packets = pendingPackets
    const resolves = pendingResolves
    pendingPackets = []
    pendingResolves = []
    const chunk = Math.min(maxBatch, Math.ceil(packets.length / live))
    for (let from = 0; from < packets.length; from += chunk) {
      send(packets.slice(from, from + chunk), resolves.slice(from, from + chunk))
    }
  }

  function send (packets: Uint8Array[], resolves: Resolve[]): void {
    let slot: Slot | undefined
    for (const s of slots) if (s.worker !== undefined && (slot === undefined || s.load < slot.load)) slot = s
    if (slot === undefined || slot.worker === undefined) {
      for (const resolve of resolves) resolve(WORKER_FAILED)
      return
    }
    const count = packets.length
    const buf = new ArrayBuffer(count * (SLOT_SIZE + RESULT_META_SIZE))
    const u8 = new Uint8Array(buf)
    for (let i = 0; i < count; i++) u8.set(packets[i] as Uint8Array, i * SLOT_SIZE)
    const id = nextBatchId++
    slot.inflight.set(id, resolves)
    if (slot.load === 0) slot.worker.ref()
    slot.load += count
    const msg: BatchMessage = { type: 'batch', id, count, buf }
    slot.worker.postMessage(msg, [buf])
  }

  for (let i = 0; i < threads; i++) {
    const slot: Slot = { worker: undefined, inflight: new Map(), load: 0, crashes: 0, restartTimer: undefined }
    slots.push(slot)
    startWorker(slot)
  }

  return {
    threads,
    setKeys (next) {
      const seen = new Set<number>()
      for (const k of next) {
        if (!Number.isInteger(k.epoch) || k.epoch < 0 || k.epoch > 0xffffffff || seen.has(k.epoch)) {
          throw new InvalidOptionError(`setKeys: epoch must be a distinct u32, got ${String(k.epoch)}`)
        }
        if (!(k.secret instanceof Uint8Array) || k.secret.byteLength !== ONION_SECRET_SIZE) {
          throw new InvalidOptionError(`setKeys: secret of epoch ${k.epoch} must be ${ONION_SECRET_SIZE} bytes`)
        }
        seen.add(k.epoch)
      }
      if (closed) return
      const copies = next.map((k) => {
        const secret = sodium.sodium_malloc(ONION_SECRET_SIZE)
        secret.set(k.secret)
        return { epoch: k.epoch, secret }
      })
      for (const k of keys) sodium.sodium_memzero(k.secret)
      keys = copies
      // Waiting packets were submitted under the old keys: send them first.
      if (pendingPackets.length > 0) flush()
      for (const slot of slots) {
        if (slot.worker === undefined) continue
        const [msg, buf] = keysMessage()
        slot.worker.postMessage(msg, [buf])
      }
    },
    process (packet) {
      if (closed) return Promise.resolve(CLOSED)
      if (packet.byteLength !== SLOT_SIZE) return Promise.resolve(SIZE_FAILED)
      if (queued >= maxQueue) return Promise.resolve(OVERLOAD)
      queued++
      return new Promise<PoolProcessResult>((resolve) => {
        pendingPackets.push(packet)
        let settled = false
        pendingResolves.push((r) => {
          if (settled) return
          settled = true
          queued--
          resolve(r)
        })
        if (pendingPackets.length >= maxBatch) {
          const live = slots.some((s) => s.worker !== undefined)
          if (live) {
            const packets = pendingPackets
            const resolves = pendingResolves
            pendingPackets = []
            pendingResolves = []
            send(packets, resolves)
            return
          }
        }
        schedule()
      })
    },
    close () {
      closing ??= (async () => {
        closed = true
        for (const resolve of pendingResolves) resolve(CLOSED)
        pendingPackets = []
        pendingResolves = []
        const exits: Array<Promise<number>> = []
        for (const slot of slots) {
          if (slot.restartTimer !== undefined) clearTimeout(slot.restartTimer)
          slot.restartTimer = undefined
          failInflight(slot, CLOSED)
          if (slot.worker !== undefined) exits.push(slot.worker.terminate())
        }
        for (const k of keys) sodium.sodium_memzero(k.secret)
        keys = []
        await Promise.all(exits)
      })()
      return closing
    }
  }
}

function decode (u8: Uint8Array, at: number, m: number): PoolProcessResult {
  const kind = u8[m]
  if (kind === RESULT_KIND.fail) return FAILURES[u8[m + 1] as number] ?? WORKER_FAILED
  // Forwards get views, not copies (issue 15): the batch buffer came back transferred and is never reused.
  const tag = u8.subarray(m + 8, m + 24)
  const node = u8.subarray(m + 24, m + 56)
  const data = u8.subarray(at, at + (((u8[m + 2] as number) << 8) | (u8[m + 3] as number)))
  if (kind === RESULT_KIND.forward) {
    const delayMs = (((u8[m + 4] as number) << 24) | ((u8[m + 5] as number) << 16) | ((u8[m + 6] as number) << 8) | (u8[m + 7] as number)) >>> 0
    return { ok: true, tag, kind: 'forward', nextNode: node, delayMs, packet: data }
  }
  // Delivered bodies may be held (a gateway's lookups, pushes): copies, so they do not pin the batch.
  if (kind === RESULT_KIND.deliver) return { ok: true, tag, kind: 'deliver', mailbox: node.slice(), body: data.slice() }
  return { ok: true, tag, kind: 'deliverSurb', mailbox: node.slice(), surbId: u8.slice(m + 56, m + 72), payload: data.slice() }
}
