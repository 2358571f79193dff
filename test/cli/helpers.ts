import { spawn, type ChildProcessByStdio } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'

/** The CLI entry, run from source by Node's type stripping. */
export const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url))

/** An empty UMBRA_HOME, so no test ever reads or writes ~/.umbra. */
export const HOME = mkdtempSync(join(tmpdir(), 'umbra-cli-home-'))
// Removed when the test process exits (each test file that imports this module made one).
process.once('exit', () => { rmSync(HOME, { recursive: true, force: true }) })

/** Environment of every CLI child. */
export const ENV: Record<string, string | undefined> = { ...process.env, UMBRA_HOME: HOME, UMBRA_API_URL: undefined, UMBRA_API_TOKEN: undefined, NODE_TEST_CONTEXT: undefined }

export interface RunResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Options of {@link runToEnd}. */
export interface RunInit {
  env?: Record<string, string | undefined>
  cwd?: string
  /** Written to the child's stdin, which is then closed. @default nothing: stdin is closed at once */
  input?: string
  /** The child is killed (its whole process group when `detached`) after this many ms. @default 30_000 */
  timeout?: number
  /** Run the child in its own process group, so a timeout kills what it started too (`bash -c`). @default false */
  detached?: boolean
}

/**
 * Runs `file args` to its end without blocking this process's event loop
 * (nodes the child talks to may live in this process), collecting its output.
 */
export async function runToEnd (file: string, args: string[], init: RunInit = {}): Promise<RunResult> {
  const child = spawn(file, args, { env: init.env ?? ENV, cwd: init.cwd, detached: init.detached === true, stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  child.stdin.on('error', () => {}).end(init.input ?? '')
  const timer = setTimeout(() => {
    try {
      if (init.detached === true && child.pid != null) process.kill(-child.pid, 'SIGKILL')
      else child.kill('SIGKILL')
    } catch { /* gone meanwhile */ }
  }, init.timeout ?? 30_000)
  const [code, signal] = await once(child, 'exit') as [number | null, NodeJS.Signals | null]
  clearTimeout(timer)
  if (!child.stdout.readableEnded) await once(child.stdout, 'end').catch(() => {})
  if (!child.stderr.readableEnded) await once(child.stderr, 'end').catch(() => {})
  return { code, signal, stdout, stderr }
}

/** Runs `umbra <args>` to completion (killed after `timeout` ms). */
export async function umbra (args: string[], timeout = 30_000): Promise<RunResult> {
  return await runToEnd(process.execPath, [CLI, ...args], { timeout })
}

export interface LongRunning {
  child: ChildProcessByStdio<null, Readable, Readable>
  /** stdout so far. */
  stdout: () => string
  /** stderr so far. */
  stderr: () => string
  /** Resolves with the first stdout line matching, rejects on exit or after `timeout` ms. */
  waitForLine: (match: (line: string) => boolean, timeout: number) => Promise<string>
  /** Sends `signal` and resolves with the exit code; SIGKILL after `timeout` ms. */
  stop: (signal: NodeJS.Signals, timeout: number) => Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

/** Starts a long-running `umbra <args>` (start, testnet). */
export function spawnUmbra (args: string[]): LongRunning {
  const child = spawn(process.execPath, [CLI, ...args], { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  let exit: { code: number | null, signal: NodeJS.Signals | null } | undefined
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => { exit = { code, signal }; resolve(exit) })
  })
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    waitForLine: async (match, timeout) => {
      const deadline = Date.now() + timeout
      for (;;) {
        const line = stdout.split('\n').find(match)
        if (line != null) return line
        if (exit != null) throw new Error(`umbra ${args.join(' ')} exited (${exit.signal ?? exit.code}) before the line; stderr: ${stderr}`)
        if (Date.now() > deadline) throw new Error(`umbra ${args.join(' ')}: no matching line within ${timeout} ms; stdout: ${stdout}; stderr: ${stderr}`)
        await new Promise((resolve) => setTimeout(resolve, 25))
      }
    },
    stop: async (signal, timeout) => {
      if (exit != null) return exit
      child.kill(signal)
      const timer = setTimeout(() => { child.kill('SIGKILL') }, timeout)
      const result = await exited
      clearTimeout(timer)
      return result
    }
  }
}

/** `true` while process `pid` exists. */
export function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Kills the processes of these ids that are still alive (cleanup after a failed test). */
export function killAll (pids: number[]): void {
  for (const pid of pids) {
    if (isAlive(pid)) {
      try { process.kill(pid, 'SIGKILL') } catch { /* gone meanwhile */ }
    }
  }
}

/** Processes whose command line mentions `text` (Linux /proc; empty elsewhere). */
export function processesMentioning (text: string): number[] {
  if (!existsSync('/proc')) return []
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) pids.push(Number(entry))
    } catch { /* exited meanwhile */ }
  }
  return pids
}

/** A TCP port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function deadPort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  if (address == null || typeof address === 'string') throw new Error('no port')
  server.close()
  await once(server, 'close')
  return address.port
}

/** Asserts helper: the lines of `text` without the empty last one. */
export function lines (text: string): string[] {
  return text.split('\n').filter((l) => l !== '')
}

/** Polls `check` until it returns something, or throws after `timeout` ms. */
export async function eventually<T> (check: () => Promise<T | undefined>, timeout: number, what: string): Promise<T> {
  const deadline = Date.now() + timeout
  for (;;) {
    const result = await check()
    if (result !== undefined) return result
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
