/**
 * Polling helpers shared by the tests (one copy instead of one per file).
 */

/**
 * Calls `check` every `intervalMs` until it returns something other than
 * `undefined` or `false`, and resolves with that. A throw counts as "not
 * yet" and its message is kept for the timeout error.
 * @throws Error naming `what` (and the last error) after `timeoutMs`
 */
export async function until<T> (what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs: number, intervalMs = 250): Promise<T> {
  const started = Date.now()
  let lastError: unknown
  for (;;) {
    try {
      const r = await check()
      if (r !== undefined && r !== false) return r
    } catch (err) {
      lastError = err
    }
    if (Date.now() - started > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError != null ? `; last error: ${(lastError as Error).message}` : ''}`)
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}

/**
 * Waits until the synchronous `check` holds, polling every `intervalMs`.
 * @returns how long it took, ms
 * @throws Error naming `what` after `timeoutMs`
 */
export async function waitFor (what: string, check: () => boolean, timeoutMs: number, intervalMs = 100): Promise<number> {
  const started = Date.now()
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
  return Date.now() - started
}
