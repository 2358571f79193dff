import { once } from 'node:events'
import { join } from 'node:path'
import { AbortedError, InvalidOptionError } from '../../errors.ts'
import { TESTNET_FILE } from '../../testnet/constants.ts'
import { startProcessTestnet, type ProcessTestnet, type ProcessTestnetNode } from '../../testnet/process-testnet.ts'
import type { MixnetPreset } from '../../mixnet/types.ts'
import { ApiClient } from '../api-client.ts'
import { CLI_POLL_INTERVAL_MS, TESTNET_DIRECTORY_TIMEOUT_MS } from '../constants.ts'
import { createProgress, type Progress } from '../output.ts'

/** Flags of `umbra testnet`. */
export interface TestnetFlags {
  nodes: number
  /** How many of the nodes (the last ones) run as clients. @default 0 */
  clients?: number
  mixnetPreset?: MixnetPreset
  mixnetThreads?: number
  dir?: string
  /** `--stun-port`: STUN port of every server node, `false` for `off`. @default 0 (a free port each) */
  stunPort?: number | false
  json?: boolean
}

/**
 * `umbra testnet`: runs `nodes` `umbra start` processes on 127.0.0.1 until
 * SIGINT or SIGTERM, then stops them all and resolves with exit code 0.
 */
export async function runTestnet (flags: TestnetFlags): Promise<number> {
  const json = flags.json === true
  const stopping = new AbortController()
  const onSignal = (): void => { stopping.abort() }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    const clients = flags.clients ?? 0
    if (clients >= flags.nodes) {
      throw new InvalidOptionError(`--clients must be smaller than --nodes (${flags.nodes}): node-1, the bootstrap node, is a server`)
    }
    const roles = clients === 0 ? 'servers' : `${flags.nodes - clients} servers and ${clients} ${clients === 1 ? 'client' : 'clients'}`
    const preset = flags.mixnetPreset == null ? '' : `, mixnet preset ${flags.mixnetPreset}`
    if (!json) process.stdout.write(`starting ${flags.nodes} ${flags.nodes === 1 ? 'node' : 'nodes'} (${roles}${preset}) on 127.0.0.1${flags.dir == null ? '' : ` in ${flags.dir}`} …\n`)
    const progress = createProgress()
    let ready = 0
    progress.update(`starting ${flags.nodes} ${flags.nodes === 1 ? 'node' : 'nodes'}: 0 ready`)
    let testnet: ProcessTestnet
    try {
      testnet = await startProcessTestnet({
        nodes: flags.nodes,
        clients,
        ...(flags.mixnetPreset != null || flags.mixnetThreads != null
          ? { mixnet: { ...(flags.mixnetPreset != null ? { preset: flags.mixnetPreset } : {}), ...(flags.mixnetThreads != null ? { threads: flags.mixnetThreads } : {}) } }
          : {}),
        dir: flags.dir,
        stunPort: flags.stunPort ?? 0,
        signal: stopping.signal,
        onNodeReady: (node) => {
          ready++
          progress.clear()
          if (!json) process.stdout.write(`  ${node.name} ready  ${node.role.padEnd(6)}  ${node.peerId}  api ${node.api}\n`)
          progress.update(`starting ${flags.nodes} ${flags.nodes === 1 ? 'node' : 'nodes'}: ${ready} ready`)
        },
        onNodeExit: (node, code, signal) => {
          process.stderr.write(`umbra: ${node.name} (pid ${node.pid}) exited unexpectedly (${signal ?? `code ${code}`}); its log is ${join(node.dataDir, 'node.log')}\n`)
        }
      })
    } catch (err) {
      progress.done()
      // Interrupted while starting: the children are already stopped.
      if (err instanceof AbortedError && stopping.signal.aborted) return 0
      throw err
    }
    await waitForDirectories(testnet, flags.nodes - clients, progress, stopping.signal)
    progress.done()

    if (json) {
      const nodes = testnet.nodes.map(({ token: _token, ...node }) => node)
      process.stdout.write(JSON.stringify({ event: 'ready', dir: testnet.dir, file: join(testnet.dir, TESTNET_FILE), nodes }) + '\n')
    } else {
      process.stdout.write(summary(testnet))
    }

    if (!stopping.signal.aborted) await once(stopping.signal, 'abort')
    if (!json) process.stdout.write('stopping the testnet …\n')
    await testnet.stop()
    if (!json) process.stdout.write('testnet stopped\n')
    return 0
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

/**
 * Waits until every node's mix directory lists all `servers` server nodes,
 * so that `umbra send --anonymous` works as soon as the testnet says it is
 * up, showing the smallest directory on `progress`. After
 * {@link TESTNET_DIRECTORY_TIMEOUT_MS} it writes one line on stderr and
 * returns: the testnet still runs, and the directories may still fill.
 */
async function waitForDirectories (testnet: ProcessTestnet, servers: number, progress: Progress, signal: AbortSignal): Promise<void> {
  const clients = testnet.nodes.map((n) => new ApiClient({ url: n.api, token: n.token }))
  const deadline = performance.now() + TESTNET_DIRECTORY_TIMEOUT_MS
  while (!signal.aborted) {
    const sizes = await Promise.all(clients.map(async (c) => {
      try {
        return (await c.mixnet({ signal })).directory.length
      } catch {
        return 0
      }
    }))
    const smallest = Math.min(...sizes)
    if (smallest >= servers) return
    progress.update(`waiting for the mix directory: every node lists at least ${smallest} of ${servers} mix nodes`)
    if (performance.now() > deadline) {
      progress.clear()
      process.stderr.write(`umbra: after ${TESTNET_DIRECTORY_TIMEOUT_MS / 1000} s some node's mix directory lists only ${smallest} of ${servers} mix nodes; anonymous messages may fail with UMBRA_ERR_NOT_ENOUGH_MIXES until it fills\n`)
      return
    }
    await new Promise((resolve) => setTimeout(resolve, CLI_POLL_INTERVAL_MS))
  }
}

function summary (testnet: ProcessTestnet): string {
  const rows: string[][] = [['name', 'role', 'pid', 'api', 'peerId'], ...testnet.nodes.map((n: ProcessTestnetNode) => [n.name, n.role, String(n.pid), n.api, n.peerId])]
  const widths = rows[0]?.map((_, col) => Math.max(...rows.map((r) => (r[col] ?? '').length))) ?? []
  const lines = rows.map((r) => '  ' + r.map((cell, col) => cell.padEnd(widths[col] ?? 0)).join('  ').trimEnd())
  return [
    '',
    `testnet of ${testnet.nodes.length} ${testnet.nodes.length === 1 ? 'node' : 'nodes'} is up`,
    ...lines,
    '',
    `details and API tokens: ${join(testnet.dir, TESTNET_FILE)}`,
    `bootstrap: ${testnet.nodes[0]?.addrs[0] ?? ''}`,
    `try: umbra peers --data-dir ${testnet.nodes[0]?.dataDir ?? ''}`,
    'press Ctrl-C to stop',
    ''
  ].join('\n')
}
