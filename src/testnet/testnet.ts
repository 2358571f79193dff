import { generateKeyPair } from '@libp2p/crypto/keys'
import { AbortedError, InvalidOptionError } from '../errors.ts'
import { createNode } from '../node/index.ts'
import type { UmbraNode, UmbraNodeInit } from '../node/index.ts'
import { PEER_POLL_INTERVAL_MS, PEER_WAIT_TIMEOUT_MS, TESTNET_LISTEN } from './constants.ts'
import { TestnetStartError } from './errors.ts'

/** Options of {@link createTestnet}: node options applied to every node, plus the wait. */
export interface TestnetInit extends Omit<UmbraNodeInit, 'privateKey' | 'bootstrap' | 'dataDir'> {
  /**
   * Where each node listens.
   * @default ['/ip4/127.0.0.1/tcp/0']
   */
  listen?: string[]
  /** How long to wait until every node has a peer, ms. @default 15_000 */
  timeout?: number
  /** Aborts the start; started nodes are stopped. */
  signal?: AbortSignal
}

/** In-process nodes connected on 127.0.0.1. */
export interface Testnet {
  /** The started nodes; `nodes[0]` is the bootstrap node of the others. */
  readonly nodes: UmbraNode[]
  /** `nodes[0]`'s addresses, to bootstrap more nodes into the testnet. */
  readonly bootstrap: string[]
  /** Stops every node. Idempotent. */
  stop(): Promise<void>
}

/**
 * Starts `n` Umbra nodes in this process on 127.0.0.1 port 0, each with a
 * fresh Ed25519 key and no data directory on disk: the first one, then the
 * rest in parallel bootstrapping from it. Resolves once every node has at
 * least one peer. Model: hyperdht `testnet.js`.
 *
 * @example
 * ```ts
 * import { createTestnet } from 'umbra/testnet'
 * const testnet = await createTestnet(3)
 * const [a, , c] = testnet.nodes
 * await a.dht.put('k', new TextEncoder().encode('v'))
 * console.log(await c.dht.get('k'))
 * await testnet.stop()
 * ```
 * @param n - number of nodes, 1 to 64 @default 3
 * @throws UMBRA_ERR_TESTNET_START (no peer in time), UMBRA_ERR_INVALID_OPTION, UMBRA_ERR_ABORTED
 */
export async function createTestnet (n = 3, init: TestnetInit = {}): Promise<Testnet> {
  if (!Number.isSafeInteger(n) || n < 1 || n > 64) {
    throw new InvalidOptionError(`createTestnet: n must be a whole number from 1 to 64, got ${n}`)
  }
  const { timeout = PEER_WAIT_TIMEOUT_MS, signal, ...nodeInit } = init
  if (!Number.isFinite(timeout) || timeout <= 0) {
    throw new InvalidOptionError(`TestnetInit.timeout must be a positive number of milliseconds, got ${timeout}`)
  }
  checkAborted(signal)
  const listen = nodeInit.listen ?? TESTNET_LISTEN
  const nodes: UmbraNode[] = []
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map(async (node) => { await node.stop() }))
  }

  const startOne = async (bootstrap: string[]): Promise<UmbraNode> => {
    const privateKey = await generateKeyPair('Ed25519')
    // Many server nodes on one host cannot all bind UDP 3478: each STUN server gets a free port unless asked otherwise.
    const nat = { stunPort: 0, ...nodeInit.nat }
    // Every node shares 127.0.0.1: GossipSub's IP co-location penalty would mark them all as Sybils (docs/pubsub.md).
    const pubsub = { ipColocationPenalty: false, ...nodeInit.pubsub }
    const node = await createNode({ ...nodeInit, nat, pubsub, listen, bootstrap, privateKey })
    nodes.push(node)
    await node.start()
    return node
  }

  try {
    const first = await startOne([])
    checkAborted(signal)
    const bootstrap = first.getMultiaddrs()
    await Promise.all(Array.from({ length: n - 1 }, async () => await startOne(bootstrap)))
    checkAborted(signal)
    if (n > 1) await waitForPeers(nodes, timeout, signal)
    // Keep `nodes` in start order for the caller: the first is the bootstrap node.
    const ordered = [first, ...nodes.filter((node) => node !== first)]
    return { nodes: ordered, bootstrap, stop }
  } catch (err) {
    await stop().catch(() => {})
    throw err
  }
}

function checkAborted (signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new AbortedError('createTestnet was aborted')
}

/** Polls until every node has at least one peer. */
async function waitForPeers (nodes: UmbraNode[], timeout: number, signal: AbortSignal | undefined): Promise<void> {
  const deadline = Date.now() + timeout
  for (;;) {
    const lonely = nodes.filter((node) => node.getPeers().length === 0)
    if (lonely.length === 0) return
    checkAborted(signal)
    if (Date.now() > deadline) {
      throw new TestnetStartError(`${lonely.length} of ${nodes.length} testnet nodes had no peer after ${timeout} ms`)
    }
    await new Promise((resolve) => setTimeout(resolve, PEER_POLL_INTERVAL_MS))
  }
}
