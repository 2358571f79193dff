/**
 * Constants of the `umbra` command line. Units are in the names.
 */
import { API_OPERATION_TIMEOUT_MS, DEFAULT_API_HOST, DEFAULT_API_PORT } from '../api/constants.ts'
import { DATA_DIR_FILES } from '../store/data-dir.ts'

/** URL client commands use when neither `--api` nor `<dataDir>/api.json` names one. */
export const DEFAULT_API_URL = `http://${DEFAULT_API_HOST}:${DEFAULT_API_PORT}`

/** File in the data directory where a running node writes `{ url, pid }` (mode 0600). */
export const API_INFO_FILE = DATA_DIR_FILES.apiInfo

/**
 * How long a client waits for one HTTP response before giving up: the API's
 * own operation timeout plus a margin, so the server's timeout error (with
 * its code) arrives first.
 */
export const API_REQUEST_TIMEOUT_MS = API_OPERATION_TIMEOUT_MS + 15_000

/** How long `umbra start` waits for the API and the node to stop after a signal before exiting anyway. */
export const SHUTDOWN_TIMEOUT_MS = 10_000

/** Exit code of a command that failed. */
export const EXIT_FAILURE = 1

/** Exit code of a command given bad flags or arguments (commander's parse errors). */
export const EXIT_USAGE = 2

/** Exit code after SIGINT interrupted a command that has no clean "done" state (`umbra demo`); 128 + 2. */
export const EXIT_INTERRUPTED = 130

/** Environment variable naming the API URL for client commands (after `--api`). */
export const ENV_API_URL = 'UMBRA_API_URL'

/** Environment variable holding the API token for client commands (after `--token`). */
export const ENV_API_TOKEN = 'UMBRA_API_TOKEN'

/** Environment variable naming the mixnet preset of `umbra start` and `umbra testnet` (after `--mixnet-preset`). */
export const ENV_MIXNET_PRESET = 'UMBRA_MIXNET_PRESET'

/** The mixnet presets `--mixnet-preset` accepts (src/mixnet/types.ts `MixnetPreset`). */
export const MIXNET_PRESETS = ['none', 'balanced', 'strong'] as const

/** Nodes `umbra demo` starts unless `--nodes` says otherwise. */
export const DEMO_DEFAULT_NODES = 6

/** Nodes `umbra testnet` starts unless `--nodes` says otherwise. */
export const TESTNET_DEFAULT_NODES = 3

/** Fewest nodes the demo can run with: a publisher, a sender and a distinct recipient. */
export const DEMO_MIN_NODES = 3

/** Most nodes `umbra testnet` and `umbra demo` start on one machine. */
export const MAX_LOCAL_NODES = 64

/**
 * Mixnet preset of the demo's nodes: `none` (no per-hop delays, no cover
 * traffic), so the anonymous step takes well under a second. The demo says so.
 */
export const DEMO_MIXNET_PRESET = 'none'

/** Mix hops of the demo's anonymous message (the node default); fewer with `--nodes` under 5. */
export const DEMO_ANONYMOUS_HOPS = 3

/** How long the demo waits for discovery, DHT propagation and inbox delivery, each. */
export const DEMO_STEP_TIMEOUT_MS = 30_000

/** Interval between two polls of the HTTP API while the demo waits for something. */
export const DEMO_POLL_INTERVAL_MS = 100

/**
 * How long `umbra testnet` waits, once its nodes are up, for every node's mix
 * directory to list every server node, so the first `send --anonymous` finds
 * its mixes (issue 12). After this it says so on stderr and runs anyway.
 */
export const TESTNET_DIRECTORY_TIMEOUT_MS = 30_000

/** Interval between two polls of the nodes' APIs while a command waits for something (the testnet's directory, a send's fragments). */
export const CLI_POLL_INTERVAL_MS = 250

/** A progress line appears only after an operation took this long, so quick commands print nothing extra. */
export const PROGRESS_DELAY_MS = 500
