/**
 * Terminal output of the `umbra` command: waiting until stdout and stderr
 * are written out before the process exits, and progress lines on stderr
 * (issue 12, "A CLI and README that work as typed").
 */

/**
 * Resolves once everything written to `stream` so far has been handed to
 * the operating system. `process.exit()` right after a large write to a
 * pipe drops what the pipe did not take yet (a 64 KiB pipe buffer: `umbra
 * inbox --json | head -c 100000` got 65,536 bytes; issue 12); waiting for the
 * callback of an empty write, which runs after every earlier chunk, fixes
 * that. Resolves at once when the stream is closed or failed (a reader that
 * went away: EPIPE), never rejects.
 */
export async function flushed (stream: NodeJS.WriteStream): Promise<void> {
  if (stream.destroyed || stream.writableEnded || stream.writableLength === 0) return
  await new Promise<void>((resolve) => {
    const done = (): void => {
      stream.off('error', done)
      stream.off('close', done)
      resolve()
    }
    stream.once('error', done)
    stream.once('close', done)
    stream.write('', done)
  })
}

/**
 * Ignores EPIPE on `stream`: the reader of a pipe went away (`umbra inbox |
 * head -n 1`), which is not an error of the command. Without a listener the
 * stream's 'error' event would crash the process with a stack trace.
 */
export function ignoreBrokenPipe (stream: NodeJS.WriteStream): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err
  })
}

/** A progress line: {@link Progress.update} rewrites it, {@link Progress.done} ends it. */
export interface Progress {
  /** `true` when the line is shown (a terminal): only then is it worth polling for what to show. */
  readonly active: boolean
  /** Shows `text` (one line, no newline) in place of the previous one. */
  update: (text: string) => void
  /** Erases the line so other output can be printed; the next update or redraw shows it again. */
  clear: () => void
  /** Clears the line, or replaces it with `text` and a newline. */
  done: (text?: string) => void
}

/** How often a progress line's elapsed-time counter is redrawn, ms. Fast enough to look alive, slow enough to cost nothing. */
export const PROGRESS_REDRAW_MS = 250

/** Options of {@link createProgress}. */
export interface ProgressInit {
  /** Where the line goes. @default process.stderr */
  stream?: NodeJS.WriteStream
  /** Draw nothing until this many ms passed, so a quick operation leaves no flicker. @default 0 */
  delayMs?: number
}

/**
 * A progress line on stderr that exists only when stderr is a terminal:
 * piped or redirected output gets nothing, so scripts and logs see only the
 * command's real output. The line shows `text` and the seconds elapsed since
 * it was created, redrawn every {@link PROGRESS_REDRAW_MS}; the timer does
 * not keep the process alive.
 *
 * @example
 * ```ts
 * const progress = createProgress()
 * progress.update('starting 6 nodes: 2 ready')
 * progress.done()
 * ```
 */
export function createProgress (init: ProgressInit = {}): Progress {
  const stream = init.stream ?? process.stderr
  const delayMs = init.delayMs ?? 0
  if (stream.isTTY !== true) return { active: false, update: () => {}, clear: () => {}, done: () => {} }
  const started = performance.now()
  let text = ''
  let open = true
  let drawn = false
  const draw = (): void => {
    if (performance.now() - started < delayMs) return
    drawn = true
    const seconds = ((performance.now() - started) / 1000).toFixed(1)
    const line = `${text} (${seconds} s)`
    const width = stream.columns > 0 ? stream.columns : 80
    stream.write(`\r\u001b[K${line.length >= width ? line.slice(0, Math.max(0, width - 2)) + '…' : line}`)
  }
  const timer = setInterval(draw, PROGRESS_REDRAW_MS)
  timer.unref()
  return {
    active: true,
    update: (next) => {
      if (!open) return
      text = next
      draw()
    },
    clear: () => {
      if (open && drawn) stream.write('\r\u001b[K')
    },
    done: (last) => {
      if (!open) return
      open = false
      clearInterval(timer)
      if (drawn || last != null) stream.write('\r\u001b[K' + (last == null ? '' : `${last}\n`))
    }
  }
}
