export { openStateDatabase, STATE_DB_FILE, STATE_DB_FILE_MODE, STATE_DB_BUSY_TIMEOUT_MS } from './database.ts'
export type { StateDatabase, StateDatabaseInit } from './database.ts'
export { StateDatabaseError } from './errors.ts'
