import type { DeliveryPath, DhtOp, DhtOutcome, HolePunchOutcome, SendKind } from './constants.ts'

/**
 * What the subsystems report to the node's metrics where they keep no
 * counter of their own (issue 12 item 1): timings and outcomes. Every
 * component takes it as an optional `metrics` field, so a subsystem built
 * without a node (tests, benchmarks) reports nothing. Implemented by
 * {@link NodeMetrics} (src/metrics/node-metrics.ts); every label is one of
 * the fixed lists of src/metrics/constants.ts.
 */
export interface MetricsRecorder {
  /** A relay's `pool.process` of one Sphinx packet took `ms` (queueing in the worker pool included), ms. */
  sphinxProcessed(ms: number): void
  /** A DHT `put` or `get` ended with `outcome` after `ms`, ms. */
  dhtOperation(op: DhtOp, outcome: DhtOutcome, ms: number): void
  /** A message was accepted on `path` (direct or relayed: acknowledged by the recipient; anonymous: stored at the gateway; queued: stored by a queue server). */
  messageSent(path: DeliveryPath): void
  /** A send of `kind` failed (direct: no acknowledgement; anonymous: fragments not stored after every retransmission). */
  sendFailed(kind: SendKind): void
  /** `nat.holePunch` ended with `outcome` (its `method`, or `failed` when it threw). */
  holePunch(outcome: HolePunchOutcome): void
}

/**
 * Wraps an async function so that each call reports how it ended and how
 * long it took: `report(result, undefined, ms)` when it resolved,
 * `report(undefined, err, ms)` when it threw (the error is re-thrown). One
 * place for every return and throw of a subsystem method (DHT put and get,
 * hole punch), instead of an increment before each.
 * @param report - called once per call, after it settled; `ms` in ms
 */
export function observed<A extends unknown[], R> (fn: (...args: A) => Promise<R>, report: (result: R | undefined, err: unknown, ms: number) => void): (...args: A) => Promise<R> {
  return async (...args: A): Promise<R> => {
    const started = performance.now()
    try {
      const result = await fn(...args)
      report(result, undefined, performance.now() - started)
      return result
    } catch (err) {
      report(undefined, err ?? new Error('undefined was thrown'), performance.now() - started)
      throw err
    }
  }
}
