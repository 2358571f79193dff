/**
 * The node's state database: one SQLite file per data directory (Node's
 * built-in `node:sqlite`), in WAL mode, shared by every subsystem that keeps
 * durable state (issue 11, item 1). Each subsystem owns its tables and
 * declares them as a list of migration steps under its own component name;
 * the database records, per component, how many steps have run, so a newer
 * Umbra adds steps and an older one refuses a database it cannot read.
 *
 * @example
 * ```ts
 * const state = openStateDatabase({ path: join(dataDir, STATE_DB_FILE) })
 * state.migrate('inbox', [
 *   'CREATE TABLE inbox (id TEXT PRIMARY KEY, body BLOB NOT NULL, received_at INTEGER NOT NULL) STRICT',
 *   'CREATE INDEX inbox_by_time ON inbox (received_at)'
 * ])
 * state.db.prepare('INSERT INTO inbox VALUES (?, ?, ?)').run(id, body, Date.now())
 * state.close()
 * ```
 */
import { closeSync, openSync } from 'node:fs'
import { DatabaseSync } from 'node:sqlite'
import { DATA_DIR_FILES } from './data-dir.ts'
import { StateDatabaseError } from './errors.ts'
import { InvalidOptionError } from '../errors.ts'

/** The state database's file name inside a data directory. */
export const STATE_DB_FILE = DATA_DIR_FILES.state
/** File mode of the database (and, by inheritance, its WAL and shm files): owner read/write only. */
export const STATE_DB_FILE_MODE = 0o600
/** How long a statement waits for another connection's lock before failing, ms. */
export const STATE_DB_BUSY_TIMEOUT_MS = 5_000
/** A component name: lower-case letters, digits, `-` and `_`, 1-64 characters. */
const COMPONENT = /^[a-z0-9_-]{1,64}$/

/** Options of {@link openStateDatabase}. */
export interface StateDatabaseInit {
  /** The database file (usually `<dataDir>/umbra.db`), or `':memory:'` for a node without a data directory. */
  path: string
  /**
   * `'FULL'` (default: a committed transaction survives a power loss) or
   * `'NORMAL'` (survives a process crash such as SIGKILL, not a power loss;
   * faster). Source: https://sqlite.org/pragma.html#pragma_synchronous
   */
  synchronous?: 'FULL' | 'NORMAL'
}

/** An open state database. */
export interface StateDatabase {
  /** The file it lives in, or `':memory:'`. */
  readonly path: string
  /** The connection; subsystems prepare their statements on it. */
  readonly db: DatabaseSync
  /**
   * Brings `component`'s tables up to date: runs, in one transaction each,
   * the steps of `steps` that have not run yet (a step is one or more SQL
   * statements; never edit or reorder a shipped step, only append). Returns
   * the component's schema version afterwards (= `steps.length`).
   * @throws UMBRA_ERR_INVALID_OPTION (bad component name or steps),
   *   UMBRA_ERR_STATE_DB (a step failed: that step is rolled back and the
   *   earlier ones stay; or the database is at a newer version than
   *   `steps` knows, written by a newer Umbra)
   */
  migrate: (component: string, steps: readonly string[]) => number
  /** The schema version of `component` (0 when it never migrated). */
  version: (component: string) => number
  /** Runs `fn` inside `BEGIN IMMEDIATE … COMMIT` (rolled back if it throws) and returns its result. */
  transaction: <T>(fn: () => T) => T
  /** Closes the connection; idempotent. */
  close: () => void
}

/**
 * Opens (creating if needed) a state database.
 * @throws UMBRA_ERR_INVALID_OPTION (bad options), UMBRA_ERR_STATE_DB (the
 *   file cannot be created or opened, is not a SQLite database, or cannot
 *   switch to WAL mode; it is left untouched)
 */
export function openStateDatabase (init: StateDatabaseInit): StateDatabase {
  if (init == null || typeof init !== 'object') throw new InvalidOptionError('openStateDatabase needs an options object with a path')
  const { path } = init
  if (typeof path !== 'string' || path.length === 0) throw new InvalidOptionError('path must be the database file name (or ":memory:")')
  const synchronous = init.synchronous ?? 'FULL'
  if (synchronous !== 'FULL' && synchronous !== 'NORMAL') throw new InvalidOptionError('synchronous must be "FULL" or "NORMAL"')
  const memory = path === ':memory:'
  if (!memory) {
    try {
      closeSync(openSync(path, 'a', STATE_DB_FILE_MODE)) // the WAL and shm files take the database file's mode
    } catch (err) {
      throw new StateDatabaseError(`Cannot create the state database ${path}: ${(err as Error).message}`, { cause: err })
    }
  }
  let db: DatabaseSync
  try {
    db = new DatabaseSync(path)
  } catch (err) {
    throw new StateDatabaseError(`Cannot open the state database ${path}: ${(err as Error).message}`, { cause: err })
  }
  try {
    db.exec(`PRAGMA busy_timeout = ${STATE_DB_BUSY_TIMEOUT_MS}`)
    const mode = (db.prepare('PRAGMA journal_mode = WAL').get() as { journal_mode: string }).journal_mode
    if (mode !== 'wal' && !memory) throw new StateDatabaseError(`${path}: cannot switch to WAL mode (got ${mode})`)
    db.exec(`PRAGMA synchronous = ${synchronous}`)
    db.exec('CREATE TABLE IF NOT EXISTS schema_version (component TEXT PRIMARY KEY, version INTEGER NOT NULL) STRICT, WITHOUT ROWID')
  } catch (err) {
    try { db.close() } catch { /* already failing */ }
    if (err instanceof StateDatabaseError) throw err
    throw new StateDatabaseError(`${path} is not a usable Umbra state database (it was left untouched): ${(err as Error).message}`, { cause: err })
  }

  const readVersion = db.prepare('SELECT version FROM schema_version WHERE component = ?')
  const writeVersion = db.prepare('INSERT INTO schema_version (component, version) VALUES (?, ?) ON CONFLICT (component) DO UPDATE SET version = excluded.version')
  let closed = false

  const version = (component: string): number => (readVersion.get(component) as { version: number } | undefined)?.version ?? 0

  const transaction = <T>(fn: () => T): T => {
    db.exec('BEGIN IMMEDIATE')
    try {
      const out = fn()
      db.exec('COMMIT')
      return out
    } catch (err) {
      try { db.exec('ROLLBACK') } catch { /* the failure already ended it */ }
      throw err
    }
  }

  const migrate = (component: string, steps: readonly string[]): number => {
    if (typeof component !== 'string' || !COMPONENT.test(component)) throw new InvalidOptionError(`component must match ${String(COMPONENT)}, got ${JSON.stringify(component)}`)
    if (!Array.isArray(steps) || steps.some((s) => typeof s !== 'string' || s.trim().length === 0)) throw new InvalidOptionError('steps must be an array of non-empty SQL strings')
    const have = version(component)
    if (have > steps.length) {
      throw new StateDatabaseError(`${path}: ${component} is at schema version ${have}, written by a newer Umbra; this one knows ${steps.length}`)
    }
    for (let v = have; v < steps.length; v++) {
      try {
        transaction(() => {
          db.exec(steps[v] as string)
          writeVersion.run(component, v + 1)
        })
      } catch (err) {
        throw new StateDatabaseError(`${path}: migrating ${component} to schema version ${v + 1} failed (left at ${v}): ${(err as Error).message}`, { cause: err })
      }
    }
    return steps.length
  }

  return {
    path,
    db,
    migrate,
    version,
    transaction,
    close () {
      if (closed) return
      closed = true
      db.close()
    }
  }
}
