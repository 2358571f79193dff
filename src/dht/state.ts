/**
 * The DHT's tables in the node's state database (issue 11, item 1;
 * docs/ARCHITECTURE.md "Durable state"), component `dht`:
 *
 * - `dht_store`: what kad-dht keeps for other peers (records under
 *   `/dht/record/…`, provider records under `/dht/provider/…`), written
 *   through by `QuotaDatastore` (src/dht/quota-datastore.ts), each with
 *   the record's own expiry (ms since the Unix epoch) so expired rows are
 *   swept.
 * - `dht_owned`: the records this node published and re-publishes
 *   (src/dht/dht-service.ts), as signed.
 */
import type { StateDatabase } from '../store/index.ts'

/** Migration steps of component `dht`; append only, never edit a shipped step. */
export const DHT_STATE_STEPS: readonly string[] = [
  `CREATE TABLE dht_store (key TEXT PRIMARY KEY, value BLOB NOT NULL, expires_at INTEGER NOT NULL) STRICT;
   CREATE INDEX dht_store_by_expiry ON dht_store (expires_at);
   CREATE TABLE dht_owned (key TEXT PRIMARY KEY, dht_key BLOB NOT NULL, record BLOB NOT NULL, seq INTEGER NOT NULL, expires_at INTEGER NOT NULL) STRICT`
]

/**
 * Brings the DHT's tables up to date (idempotent; both the datastore and the
 * DHT service call it).
 * @throws UMBRA_ERR_STATE_DB
 */
export function migrateDhtState (state: StateDatabase): void {
  state.migrate('dht', DHT_STATE_STEPS)
}
