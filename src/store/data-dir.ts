/**
 * The data directory (DESIGN.md section 3, issue 11 item 1): the one module
 * that knows its files, their modes, and how a file in it is written safely.
 * Every other module asks here for a path ({@link dataDirPaths}), creates the
 * directory with {@link ensureDataDir} and writes with {@link writeFileSafely};
 * the single-node lock is {@link lockDataDir}.
 *
 * @example
 * ```ts
 * const paths = dataDirPaths('/home/me/.umbra')
 * await ensureDataDir(paths.dir)
 * await writeFileSafely(paths.apiInfo, '{"url":"…","pid":1}\n')                 // replace atomically
 * const created = await writeFileSafely(paths.identity, json, { replace: false }) // never overwrite
 * const lock = lockDataDir(paths.dir)   // throws UMBRA_ERR_ALREADY_RUNNING while another node holds it
 * lock.release()
 * ```
 */
import { randomBytes } from 'node:crypto'
import { closeSync, mkdirSync, openSync } from 'node:fs'
import { chmod, link, mkdir, open, rename, unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { AlreadyRunningError, StateDatabaseError } from './errors.ts'

/** Mode of the data directory: owner only. */
export const DATA_DIR_MODE = 0o700
/** Mode of every file Umbra writes in it (all hold secrets or metadata about them): owner read/write only. */
export const SECRET_FILE_MODE = 0o600

/** File names inside a data directory (docs/ARCHITECTURE.md "Data directory"). */
export const DATA_DIR_FILES = {
  /** Transport key (src/identity). */
  identity: 'identity.key',
  /** HTTP API bearer token (src/identity). */
  apiToken: 'api-token',
  /** URL and pid of the running node's API (src/cli). */
  apiInfo: 'api.json',
  /** Pseudonyms and their keys (src/mixnet/pseudonym-store.ts). */
  pseudonyms: 'pseudonyms.json',
  /** The state database (src/store/database.ts). */
  state: 'umbra.db',
  /** The single-node lock (see {@link lockDataDir}). */
  lock: 'umbra.lock',
  /** A gateway's stored mailbox packets (src/mixnet/mailbox-store.ts). */
  mailbox: 'mailbox.db',
  /** A gateway's claims before issue 11; imported into the state database and renamed (src/mixnet/gateway.ts). */
  gateway: 'gateway.db'
} as const

/** Absolute paths of a data directory's files. */
export type DataDirPaths = { readonly dir: string } & { readonly [K in keyof typeof DATA_DIR_FILES]: string }

/** The paths of every file in `dir` (nothing is created). */
export function dataDirPaths (dir: string): DataDirPaths {
  const out: Record<string, string> = { dir }
  for (const [name, file] of Object.entries(DATA_DIR_FILES)) out[name] = join(dir, file)
  return out as DataDirPaths
}

/**
 * Creates the data directory (mode 0700, parents too) if it does not exist.
 * @throws the file system error (e.g. EACCES, ENOTDIR)
 */
export async function ensureDataDir (dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: DATA_DIR_MODE })
}

/** Options of {@link writeFileSafely}. */
export interface SafeWriteOptions {
  /**
   * `true` (default): replace `path` atomically (rename over it). `false`:
   * create it only if it does not exist (hard link, which fails atomically
   * when the name is taken); an existing file is never touched.
   */
  replace?: boolean
  /** File mode. @default SECRET_FILE_MODE (0600) */
  mode?: number
}

/**
 * Writes a file in the data directory so that a reader, or a restart after a
 * crash at any point, sees the old content or the new one, never a torn
 * file: the content goes to a temporary file beside `path` (created with
 * `mode`, synced), which is then renamed over `path` (`replace`) or
 * hard-linked to it (`replace: false`); the directory is synced after. The
 * temporary file is removed whatever happens.
 * @param content - text (UTF-8) or bytes
 * @returns `false` only with `replace: false` when `path` already existed (left untouched); else `true`
 * @throws the file system error (e.g. EACCES, ENOSPC)
 */
export async function writeFileSafely (path: string, content: string | Uint8Array, options: SafeWriteOptions = {}): Promise<boolean> {
  const mode = options.mode ?? SECRET_FILE_MODE
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  let placed = false
  try {
    const fh = await open(tmp, 'wx', mode)
    try {
      await fh.writeFile(content)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await chmod(tmp, mode) // the umask may have narrowed it (never widened)
    if (options.replace ?? true) {
      await rename(tmp, path)
      placed = true
    } else {
      try {
        await link(tmp, path)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
        throw err
      }
    }
  } finally {
    if (!placed) await unlink(tmp).catch(() => {})
  }
  await syncDir(dirname(path))
  return true
}

/** fsyncs a directory so a rename or link in it survives a power loss; not supported everywhere, where the rename alone is atomic. */
async function syncDir (dir: string): Promise<void> {
  try {
    const dh = await open(dir, 'r')
    try { await dh.sync() } finally { await dh.close() }
  } catch {
    // EISDIR/EINVAL on some platforms: nothing more can be done
  }
}

/** A held data-directory lock. */
export interface DataDirLock {
  /** The lock file, `<dir>/umbra.lock`. */
  readonly path: string
  /** Releases the lock; idempotent. */
  release: () => void
}

/**
 * Takes the data directory's single-node lock: an exclusive SQLite lock
 * (`PRAGMA locking_mode = EXCLUSIVE` and an open write transaction, i.e. a
 * POSIX `fcntl` lock) on `<dir>/umbra.lock`. The kernel drops it when the
 * holding process dies, however it dies (SIGKILL included) and before the
 * process is reaped, so a restart after a crash takes it at once; unlike a
 * PID file, a reused PID never keeps it (issue 11, item 1). Works across
 * processes and across connections of one process. Creates the directory
 * (0700) and the file (0600) if needed.
 * @returns the held lock; call `release()` on a clean stop
 * @throws UMBRA_ERR_ALREADY_RUNNING (a live node holds it),
 *   UMBRA_ERR_STATE_DB (the lock file cannot be created or opened)
 */
export function lockDataDir (dir: string): DataDirLock {
  const path = join(dir, DATA_DIR_FILES.lock)
  let db: DatabaseSync
  try {
    mkdirSync(dir, { recursive: true, mode: DATA_DIR_MODE })
    closeSync(openSync(path, 'a', SECRET_FILE_MODE))
    db = new DatabaseSync(path)
  } catch (err) {
    throw new StateDatabaseError(`Cannot open the lock file ${path}: ${(err as Error).message}`, { cause: err })
  }
  try {
    db.exec('PRAGMA busy_timeout = 0')
    db.exec('PRAGMA locking_mode = EXCLUSIVE')
    db.exec('BEGIN EXCLUSIVE')
  } catch (err) {
    try { db.close() } catch { /* already failing */ }
    if (/locked|busy/i.test((err as Error).message)) {
      throw new AlreadyRunningError(`a node is already running with data dir ${dir} (it holds ${path}); stop it or choose another --data-dir`, { cause: err })
    }
    throw new StateDatabaseError(`Cannot lock ${path}: ${(err as Error).message}`, { cause: err })
  }
  let held = true
  return {
    path,
    release () {
      if (!held) return
      held = false
      try { db.exec('ROLLBACK') } catch { /* nothing to end */ }
      db.close()
    }
  }
}
