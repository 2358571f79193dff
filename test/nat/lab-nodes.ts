/**
 * Umbra nodes in the NAT lab (test/nat/lab.ts): `umbra start` processes run
 * inside a lab host's namespace and driven through the CLI there. Shared by
 * the *.labtest.ts files.
 */
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { createWriteStream } from 'node:fs'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import type { Host, NatLab, Router } from './lab.ts'

export const CLI = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url))
const NODE = process.execPath

/** An `umbra start` process of the lab. */
export interface Running {
  host: Host
  /** Port of the node's HTTP API on the namespace's loopback. */
  apiPort: number
  dataDir: string
  args: string[]
  child?: ChildProcess
  peerId: string
  addrs: string[]
}

export function median (values: number[]): number {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] as number
}

export async function start (lab: NatLab, node: Running): Promise<void> {
  const child = lab.spawn(node.host, NODE, [CLI, 'start', '--json', '--data-dir', node.dataDir, '--api', `127.0.0.1:${node.apiPort}`, '--mixnet-preset', 'none', '--mixnet-threads', '1', ...node.args], { stdio: ['pipe', 'pipe', 'pipe'] })
  node.child = child
  // UMBRA_LAB_LOG_DIR=<dir> (with e.g. DEBUG=libp2p:auto-nat*) keeps every node's stderr in <dir>/<namespace>-<api port>.log.
  const logDir = process.env.UMBRA_LAB_LOG_DIR
  if (logDir != null && logDir !== '') child.stderr?.pipe(createWriteStream(join(logDir, `${node.host.ns}-${node.apiPort}.log`), { flags: 'a' }))
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`${node.host.ns}: no ready line in 30 s`)) }, 30_000)
    let stderr = ''
    child.stderr?.on('data', (d: Buffer) => { stderr += d.toString() })
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', (l) => { clearTimeout(timer); resolve(l) })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${node.host.ns}: exited ${code}: ${stderr.slice(-2000)}`)) })
  })
  const ready = JSON.parse(line) as { peerId: string, addrs: string[] }
  node.peerId = ready.peerId
  node.addrs = ready.addrs
}

export async function stop (node: Running, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const child = node.child
  if (child == null || child.exitCode != null || child.signalCode != null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill(signal)
  await exited
  node.child = undefined
}

/** Runs `umbra <args> --json` inside the node's namespace against its API and parses the answer (JSON of several shapes). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function cli (lab: NatLab, node: Running, args: string[], timeoutMs = 20_000): Promise<any> {
  const { stdout } = await lab.exec(node.host, NODE, [CLI, ...args, '--data-dir', node.dataDir, '--json'], { timeoutMs })
  return JSON.parse(stdout)
}

export async function until<T> (what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const started = Date.now()
  let last: unknown
  while (Date.now() - started < timeoutMs) {
    try {
      const v = await fn()
      if (v !== undefined) return v
    } catch (err) { last = err }
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last != null ? `: ${(last as Error).message}` : ''}`)
}

/** Waits until a client holds a relay reservation; resolves with its relayed WebRTC address. */
export async function reserved (lab: NatLab, node: Running, timeoutMs = 15_000): Promise<string[]> {
  return await until(`${node.host.ns} to hold a relay reservation`, async () => {
    const id = await cli(lab, node, ['id'])
    const addrs: string[] = id.nat?.reachableAddrs ?? []
    return addrs.some((a) => a.includes('/p2p-circuit')) ? addrs.filter((a) => a.includes('/p2p-circuit')) : undefined
  }, timeoutMs)
}

/** True when `router` holds a replied UDP flow with the other NAT's public address. */
export async function twoWayFlow (lab: NatLab, router: Router, other: Router): Promise<boolean> {
  const flows = await lab.udpFlows(router)
  return flows.some((f) => f.replied && (f.dst === other.addr || f.src === other.addr || f.replySrc === other.addr))
}
