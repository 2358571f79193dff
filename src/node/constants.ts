/** Default listen addresses: loopback TCP and WebSockets on free ports (DESIGN.md section 7: bound to 127.0.0.1 unless told). */
export const DEFAULT_LISTEN = ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws']
/** Default role (DESIGN.md section 2). */
export const DEFAULT_ROLE = 'server'
/** Time allowed for dialling one bootstrap node, ms. */
export const BOOTSTRAP_DIAL_TIMEOUT_MS = 10_000
/** A node with no open connection dials its bootstrap list again this often, ms. */
export const REJOIN_INTERVAL_MS = 5_000
/**
 * libp2p agent version announced through identify: the project name only, no
 * version (an exact version tells a remote peer which known bugs a node has,
 * and splits the anonymity set by release; issue 10).
 */
export const AGENT_VERSION = 'umbra'
/**
 * Hosts exempt from libp2p's inbound connection limits (5 new connections per
 * second per host, 10 pending): this machine itself, so that a local testnet
 * of many nodes can join one bootstrap node at once. Remote hosts keep the limits.
 */
export const LOOPBACK_ALLOW = ['/ip4/127.0.0.0/ipcidr/8', '/ip6/::1/ipcidr/128']
/**
 * `PRAGMA synchronous` of the node's state database (src/store/database.ts).
 * NORMAL in WAL mode: a committed transaction survives a process crash
 * (SIGKILL: issue 11's requirement) but the last ones may roll back on a
 * power loss; FULL would fsync every commit, measured 1.7-6.5 ms of blocked
 * event loop per DHT record stored for others vs 0.14 ms
 * (test/dht/quota-datastore.test.ts). Source: https://sqlite.org/pragma.html#pragma_synchronous
 */
export const STATE_DB_SYNCHRONOUS = 'NORMAL'
