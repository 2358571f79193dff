/**
 * Worker thread of the Sphinx processing pool (src/mixnet/worker-pool.ts).
 *
 * Runs `processPacket` (src/mixnet/sphinx/) over batches of packets that the
 * pool sends in one transferred `ArrayBuffer`, writes the results back into
 * the same buffer and transfers it back, so a batch costs two `postMessage`
 * calls and no structured cloning of packet bytes.
 *
 * Batch buffer layout (`count` packets; every slot has a fixed size):
 *
 *   [count × PACKET_SIZE data slots][count × RESULT_META_SIZE meta records]
 *
 * In: data slot i holds packet i (4096 bytes). Out: data slot i holds the
 * result's bytes (the forwarded packet, the delivered body or the SURB
 * payload) and meta record i, 72 bytes:
 *
 *   kind u8 | reason u8 | dataLen u16 BE | delayMs u32 BE | tag 16 | node 32 | surbId 16
 *
 * `kind` is one of RESULT_KIND; `reason` indexes FAILURE_REASONS when
 * `kind` is RESULT_KIND.fail. `node` is `nextNode` or `mailbox`.
 *
 * Onion secrets arrive in a transferred buffer, are copied into
 * `sodium_malloc` memory, and the transferred copy is zeroed; replaced
 * secrets are zeroed with `sodium_memzero`.
 *
 * The module only starts listening when it is loaded as a pool worker
 * (`workerData.umbraMixWorker === true`), so the pool can import its
 * layout constants from it on the main thread.
 */
import { parentPort, workerData } from 'node:worker_threads'
import sodium from 'sodium-native'
import { packetEpoch, processPacket } from './sphinx/index.ts'
import type { ProcessResult } from './sphinx/index.ts'

/** Bytes of one packet, and of one data slot of a batch buffer (Sphinx v1, PACKET_SIZE). */
export const SLOT_SIZE = 4096
/** Bytes of one result meta record of a batch buffer (layout in the module comment). */
export const RESULT_META_SIZE = 72
/** Bytes of an X25519 onion secret key. */
export const ONION_SECRET_SIZE = 32

/** `kind` byte of a result meta record. */
export const RESULT_KIND = { fail: 0, forward: 1, deliver: 2, deliverSurb: 3 } as const

/**
 * Failure reasons, indexed by the `reason` byte of a result meta record:
 * the Sphinx ones (docs/sphinx.md), then the pool's own: `epoch` (no key
 * for the packet's epoch), `worker` (the worker crashed or `processPacket`
 * threw), `closed` (the pool was closed first).
 */
export const FAILURE_REASONS = ['size', 'version', 'point', 'mac', 'routing', 'payload', 'epoch', 'worker', 'closed'] as const

/** A failure reason of the pool: a Sphinx reason or `epoch`, `worker`, `closed`. */
export type FailureReason = typeof FAILURE_REASONS[number]

/** Main thread → worker: replace the key set. `secrets` holds `epochs.length` × 32 bytes, transferred. */
export interface KeysMessage { type: 'keys', epochs: number[], secrets: ArrayBuffer }
/** Main thread → worker: process `count` packets held in `buf` (layout above), transferred. */
export interface BatchMessage { type: 'batch', id: number, count: number, buf: ArrayBuffer }
/** Worker → main thread: the results of batch `id` in `buf`, transferred; `errors` packets threw (first message in `error`). */
export interface DoneMessage { type: 'done', id: number, count: number, buf: ArrayBuffer, errors: number, error?: string }

/** The `workerData` a pool passes so that this module starts listening. */
export interface MixWorkerData { umbraMixWorker: true }

const ZERO_SECRET = new Uint8Array(ONION_SECRET_SIZE)
const REASON_INDEX = new Map<string, number>(FAILURE_REASONS.map((r, i) => [r, i]))
const EPOCH_REASON = REASON_INDEX.get('epoch') as number
const WORKER_REASON = REASON_INDEX.get('worker') as number

/**
 * Processes one batch buffer in place (layout in the module comment).
 * Never throws: a packet whose processing throws gets reason `worker`.
 * Exported for tests; the worker calls it for every `batch` message.
 * @param buf - `count` × (4096 + 72) bytes, packets in the data slots
 * @param count - packets in the batch
 * @param keys - onion secrets (32 bytes) by epoch
 * @returns how many packets threw, and the first error's message
 */
export function processBatch (buf: ArrayBuffer, count: number, keys: ReadonlyMap<number, Uint8Array>): { errors: number, error?: string } {
  const u8 = new Uint8Array(buf)
  const metaBase = count * SLOT_SIZE
  let errors = 0
  let error: string | undefined
  for (let i = 0; i < count; i++) {
    const at = i * SLOT_SIZE
    const m = metaBase + i * RESULT_META_SIZE
    const packet = u8.subarray(at, at + SLOT_SIZE)
    let r: ProcessResult | undefined
    let failure = -1
    try {
      const epoch = packetEpoch(packet)
      // No epoch means a wrong size or version: processPacket reports which without using the key.
      const key = epoch === undefined ? ZERO_SECRET : keys.get(epoch)
      if (key === undefined) failure = EPOCH_REASON
      else r = processPacket(packet, key)
    } catch (err) {
      errors++
      error ??= err instanceof Error ? `${err.name}: ${err.message}` : 'non-Error thrown'
      failure = WORKER_REASON
    }
    u8.fill(0, m, m + RESULT_META_SIZE)
    if (r === undefined || !r.ok) {
      u8[m] = RESULT_KIND.fail
      u8[m + 1] = r === undefined ? failure : (REASON_INDEX.get(r.reason) ?? WORKER_REASON)
      continue
    }
    let data: Uint8Array
    if (r.kind === 'forward') {
      u8[m] = RESULT_KIND.forward
      writeU32(u8, m + 4, r.delayMs)
      u8.set(r.nextNode, m + 24)
      data = r.packet
    } else if (r.kind === 'deliver') {
      u8[m] = RESULT_KIND.deliver
      u8.set(r.mailbox, m + 24)
      data = r.body
    } else {
      u8[m] = RESULT_KIND.deliverSurb
      u8.set(r.mailbox, m + 24)
      u8.set(r.surbId, m + 56)
      data = r.payload
    }
    if (data.byteLength > SLOT_SIZE) {
      errors++
      error ??= `result of ${data.byteLength} bytes does not fit a ${SLOT_SIZE}-byte slot`
      u8.fill(0, m, m + RESULT_META_SIZE)
      u8[m] = RESULT_KIND.fail
      u8[m + 1] = WORKER_REASON
      continue
    }
    u8.set(r.tag, m + 8)
    u8[m + 2] = data.byteLength >>> 8
    u8[m + 3] = data.byteLength & 0xff
    u8.set(data, at)
  }
  return error === undefined ? { errors } : { errors, error }
}

function writeU32 (u8: Uint8Array, at: number, v: number): void {
  u8[at] = v >>> 24
  u8[at + 1] = (v >>> 16) & 0xff
  u8[at + 2] = (v >>> 8) & 0xff
  u8[at + 3] = v & 0xff
}

function startWorker (): void {
  const port = parentPort
  if (port === null) return
  const keys = new Map<number, Buffer>()
  port.on('message', (msg: KeysMessage | BatchMessage) => {
    if (msg.type === 'keys') {
      for (const secret of keys.values()) sodium.sodium_memzero(secret)
      keys.clear()
      const all = Buffer.from(msg.secrets)
      msg.epochs.forEach((epoch, i) => {
        const secret = sodium.sodium_malloc(ONION_SECRET_SIZE)
        all.copy(secret, 0, i * ONION_SECRET_SIZE, (i + 1) * ONION_SECRET_SIZE)
        keys.set(epoch, secret)
      })
      sodium.sodium_memzero(all)
    } else if (msg.type === 'batch') {
      const { errors, error } = processBatch(msg.buf, msg.count, keys)
      const done: DoneMessage = { type: 'done', id: msg.id, count: msg.count, buf: msg.buf, errors }
      if (error !== undefined) done.error = error
      port.postMessage(done, [msg.buf])
    }
  })
}

if ((workerData as Partial<MixWorkerData> | null)?.umbraMixWorker === true) startWorker()
