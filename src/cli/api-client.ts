/**
 * The client of a node's HTTP API moved to src/api/client.ts (`umbra/api`,
 * issue 12); its types come from the route schemas. Re-exported here so the
 * CLI's imports keep working.
 */
export * from '../api/client.ts'
