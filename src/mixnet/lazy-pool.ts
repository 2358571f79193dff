/**
 * A {@link SphinxPool} whose worker threads exist only while packets flow
 * (issue 15 item 2, memory): the pool of src/mixnet/worker-pool.ts is
 * created at the first `process` call and closed once `idleMs` passed
 * without one and no packet is in a worker. An idle relay thus holds no
 * worker isolate (about 10 MB each); the first packet after a pause waits
 * for the workers to start (tens of ms). The onion secrets given to
 * `setKeys` are kept in `sodium_malloc` memory for the next pool and zeroed
 * when replaced or at `close`.
 *
 * @example
 * ```ts
 * const pool = createLazySphinxPool({ idleMs: 30_000 })
 * pool.setKeys(onionKeys.secrets())   // no worker yet
 * const r = await pool.process(packet) // starts the workers
 * await pool.close()
 * ```
 */
import { availableParallelism } from 'node:os'
import sodium from 'sodium-native'
import { InvalidOptionError } from '../errors.ts'
import { logger } from '../logger.ts'
import { SPHINX_POOL_IDLE_MS } from './constants.ts'
import { createSphinxPool, type PoolKey, type PoolProcessResult, type SphinxPool, type SphinxPoolInit } from './worker-pool.ts'

/** Options of {@link createLazySphinxPool}: those of `createSphinxPool`, and when to stop. */
export interface LazySphinxPoolInit extends SphinxPoolInit {
  /** The workers stop after this long without a packet, ms, 1..2^31-1. @default SPHINX_POOL_IDLE_MS (30 s) */
  idleMs?: number
}

const CLOSED: PoolProcessResult = Object.freeze({ ok: false, reason: 'closed' }) as PoolProcessResult
const WORKER_FAILED: PoolProcessResult = Object.freeze({ ok: false, reason: 'worker' }) as PoolProcessResult
const log = logger('mixnet:pool')

/**
 * Creates a pool that starts its workers on demand and stops them when idle
 * (see the module comment). Same calls and results as `createSphinxPool`.
 * @throws InvalidOptionError `UMBRA_ERR_INVALID_OPTION` for `idleMs` or
 *   `threads` out of range; `maxBatch`, `maxQueue` and the keys are checked
 *   by `createSphinxPool` when the workers start: a refusal then resolves
 *   the packet `{ ok: false, reason: 'worker' }` and is logged
 */
export function createLazySphinxPool (init: LazySphinxPoolInit = {}): SphinxPool {
  const { idleMs = SPHINX_POOL_IDLE_MS, ...poolInit } = init
  if (!Number.isInteger(idleMs) || idleMs < 1 || idleMs > 2 ** 31 - 1) throw new InvalidOptionError(`idleMs must be a whole number of ms from 1 to 2^31-1, got ${String(idleMs)}`)
  const threads = poolInit.threads ?? availableParallelism()
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) throw new InvalidOptionError(`threads must be an integer from 1 to 256, got ${String(poolInit.threads)}`)
  let keys: Array<{ epoch: number, secret: Buffer }> = []
  let pool: SphinxPool | undefined
  let closed = false
  let inflight = 0
  let lastUse = 0
  let timer: ReturnType<typeof setTimeout> | undefined

  function checkIdle (): void {
    timer = undefined
    if (pool == null) return
    const wait = lastUse + idleMs - Date.now()
    if (inflight > 0 || wait > 0) {
      timer = setTimeout(checkIdle, Math.max(wait, 1))
      timer.unref()
      return
    }
    const idle = pool
    pool = undefined
    void idle.close()
  }

  return {
    threads,
    setKeys (next) {
      if (closed) return
      pool?.setKeys(next) // validates: throws before the held copies change
      const copies = next.map((k: PoolKey) => {
        const secret = sodium.sodium_malloc(k.secret.byteLength)
        secret.set(k.secret)
        return { epoch: k.epoch, secret }
      })
      for (const k of keys) sodium.sodium_memzero(k.secret)
      keys = copies
    },
    async process (packet) {
      if (closed) return CLOSED
      if (pool == null) {
        try {
          pool = createSphinxPool({ ...poolInit, threads })
          pool.setKeys(keys)
        } catch (err) {
          log.warn({ err: (err as Error).message }, 'Sphinx workers could not start')
          void pool?.close()
          pool = undefined
          return WORKER_FAILED
        }
      }
      lastUse = Date.now()
      if (timer == null) {
        timer = setTimeout(checkIdle, idleMs)
        timer.unref()
      }
      inflight++
      try {
        return await pool.process(packet)
      } finally {
        inflight--
      }
    },
    async close () {
      closed = true
      clearTimeout(timer)
      timer = undefined
      for (const k of keys) sodium.sodium_memzero(k.secret)
      keys = []
      const p = pool
      pool = undefined
      await p?.close()
    }
  }
}
