import { UmbraError } from '../errors.ts'

/** The state database cannot be opened, is not an Umbra state database, or a migration failed. Code `UMBRA_ERR_STATE_DB`. */
export class StateDatabaseError extends UmbraError {
  static readonly code = 'UMBRA_ERR_STATE_DB'
  constructor (message = 'The state database is not usable', options?: ErrorOptions) {
    super(message, StateDatabaseError.code, options)
    this.name = 'StateDatabaseError'
  }
}

/**
 * Another live node holds the data directory's lock (src/store/data-dir.ts
 * `lockDataDir`). Code `UMBRA_ERR_ALREADY_RUNNING`.
 */
export class AlreadyRunningError extends UmbraError {
  static readonly code = 'UMBRA_ERR_ALREADY_RUNNING'
  constructor (message = 'A node is already running with this data directory', options?: ErrorOptions) {
    super(message, AlreadyRunningError.code, options)
    this.name = 'AlreadyRunningError'
  }
}
