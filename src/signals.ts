/**
 * A signal that aborts when `signal` does or after `timeoutMs`, whichever
 * comes first ("a timeout is a signal", STYLE.md). The timeout's reason is a
 * `TimeoutError` DOMException; the caller's reason is kept as it is.
 * @param signal - the caller's signal, if any
 * @param timeoutMs - time limit, ms
 */
export function withTimeout (signal: AbortSignal | undefined, timeoutMs: number): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs)
  return signal == null ? timeout : AbortSignal.any([signal, timeout])
}
