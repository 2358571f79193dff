/**
 * A fixture process in a NAT lab host (test/nat/fixtures/*.ts), driven by
 * JSON lines on its stdin and reporting JSON-line events on its stdout.
 * Shared by the *.labtest.ts files.
 */
import assert from 'node:assert/strict'
import type { ChildProcessByStdio } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { Readable, Writable } from 'node:stream'
import type { Host, NatLab } from './lab.ts'

export const FIXTURES = join(import.meta.dirname, 'fixtures')

/** One event line of a fixture: `ev` names it, the other fields depend on the fixture. */
export interface AgentEvent {
  ev: string
  addr?: string
  port?: number
  data?: string
  line?: string
  code?: string
  op?: string
  [field: string]: unknown
}

/** A fixture process in a lab host. */
export class LabAgent {
  readonly events: AgentEvent[] = []
  readonly child: ChildProcessByStdio<Writable, Readable, Readable>
  #waiters = new Set<() => void>()

  constructor (lab: NatLab, host: Host, fixture: string, args: string[]) {
    // NODE_TEST_CONTEXT would make a child node think it is a test file of this run.
    const env = { ...process.env, NODE_TEST_CONTEXT: undefined }
    this.child = lab.spawn(host, process.execPath, [join(FIXTURES, fixture), ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] }) as ChildProcessByStdio<Writable, Readable, Readable>
    this.child.stdin.on('error', () => {})
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      this.events.push(JSON.parse(line) as AgentEvent)
      for (const wake of this.#waiters) wake()
    })
  }

  /** Waits for the agent's `ready` event (5 s). */
  async ready (fixture: string, host: Host): Promise<void> {
    const ready = await this.waitFor((e) => e.ev === 'ready', 5_000)
    assert.ok(ready != null, `${fixture} started in ${host.ns}`)
  }

  /** The agent's UDP port (from its `ready` event). */
  get port (): number {
    return this.events.find((e) => e.ev === 'ready')?.port ?? 0
  }

  send (cmd: Record<string, unknown>): void {
    this.child.stdin.write(JSON.stringify(cmd) + '\n')
  }

  /** The first event (from index `from`) that matches, or undefined after `ms`. */
  async waitFor (match: (e: AgentEvent) => boolean, ms: number, from = 0): Promise<AgentEvent | undefined> {
    const deadline = Date.now() + ms
    while (true) {
      const found = this.events.slice(from).find(match)
      if (found != null || Date.now() >= deadline) return found
      await new Promise<void>((resolve) => {
        const wake = (): void => { clearTimeout(timer); this.#waiters.delete(wake); resolve() }
        const timer = setTimeout(wake, deadline - Date.now())
        this.#waiters.add(wake)
      })
    }
  }
}
