/**
 * Constants of the local test networks. Units are in the names.
 */

/** How long one `umbra start` child may take to print its ready line. A cold start on 2 cores loads libp2p in about 1 s. */
export const NODE_READY_TIMEOUT_MS = 30_000

/** After SIGTERM, how long a child may take to stop before it gets SIGKILL (issue 4). */
export const NODE_STOP_GRACE_MS = 5_000

/** How long {@link createTestnet} waits for every in-process node to have a peer. */
export const PEER_WAIT_TIMEOUT_MS = 15_000

/** Interval between two checks of a node's peer list. */
export const PEER_POLL_INTERVAL_MS = 25

/** Bytes of a child's stderr kept in memory to explain why it died. */
export const STDERR_TAIL_BYTES = 8 * 1024

/** Name of the file `umbra testnet` writes in its directory (mode 0600: it holds API tokens). */
export const TESTNET_FILE = 'testnet.json'

/** Where in-process testnet nodes listen: loopback, a free port each. */
export const TESTNET_LISTEN = ['/ip4/127.0.0.1/tcp/0']

/** Where process testnet nodes listen: loopback TCP and WebSockets, free ports. */
export const PROCESS_TESTNET_LISTEN = ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws']
