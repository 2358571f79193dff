import { randomBytes } from 'node:crypto'
import { AbortedError, UmbraError } from '../../errors.ts'
import { startProcessTestnet, type ProcessTestnet, type ProcessTestnetNode } from '../../testnet/process-testnet.ts'
import { ApiClient, type AnonymousInboxMessage, type DirectInboxMessage, type ReplyInboxMessage } from '../api-client.ts'
import { DEMO_ANONYMOUS_HOPS, DEMO_MIXNET_PRESET, DEMO_POLL_INTERVAL_MS, DEMO_STEP_TIMEOUT_MS, EXIT_FAILURE, EXIT_INTERRUPTED } from '../constants.ts'
import { DemoFailedError } from '../errors.ts'
import { printable } from './client.ts'

/** Flags of `umbra demo`. */
export interface DemoFlags {
  nodes: number
  json?: boolean
}

/** State the steps share. */
export interface DemoContext {
  /** Number of nodes the demo runs. */
  readonly size: number
  /** Aborted on SIGINT / SIGTERM. */
  readonly signal: AbortSignal
  /** Set by the `start` step. */
  testnet?: ProcessTestnet
  /** One API client per node, in node order; set by the `start` step. */
  clients: ApiClient[]
}

/** What a step reports. */
export interface StepOutcome {
  /** One short line for the summary table. */
  summary: string
  /** Lines printed under the progress line. */
  details?: string[]
  /** Machine-readable results for `--json`. */
  data?: Record<string, unknown>
}

/**
 * One step of the demo. Steps run in order; the first failure ends the demo
 * (the nodes are always stopped). Later issues append steps (anonymous
 * messaging, mailboxes, names) to {@link demoSteps}.
 */
export interface DemoStep {
  /** Short machine name: `start`, `discovery`, … */
  name: string
  /** Progress text, e.g. `starting 6 nodes`. */
  title: (ctx: DemoContext) => string
  run: (ctx: DemoContext) => Promise<StepOutcome>
}

interface StepRecord {
  name: string
  title: string
  ok: boolean
  ms: number
  summary: string
  data?: Record<string, unknown>
  error?: { code: string, message: string }
}

/** The steps of `umbra demo`, in order (the final stop is not a step: it always runs). */
export function demoSteps (): DemoStep[] {
  return [startStep, discoveryStep, dhtStep, messageStep, anonymousStep]
}

/**
 * `umbra demo`: the main job end to end on a local process testnet, with
 * progress, a summary table and timings.
 * @returns 0 when every step passed, 1 when one failed, 130 when interrupted
 */
export async function runDemo (flags: DemoFlags): Promise<number> {
  const json = flags.json === true
  const out = (text: string): void => { if (!json) process.stdout.write(text) }
  const interrupt = new AbortController()
  const onSignal = (): void => { interrupt.abort() }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  const ctx: DemoContext = { size: flags.nodes, signal: interrupt.signal, clients: [] }
  const steps = demoSteps()
  const total = steps.length + 1
  const records: StepRecord[] = []
  const started = performance.now()
  let failure: { step: DemoStep, index: number, error: unknown } | undefined

  try {
    out(`umbra demo: ${flags.nodes} nodes on 127.0.0.1, each a separate \`umbra start\` process with its HTTP API\n`)
    out(`mixnet preset "${DEMO_MIXNET_PRESET}": no mixing delays and no cover traffic, so the demo is fast; real networks use "balanced" or "strong"\n\n`)
    for (const [index, step] of steps.entries()) {
      const title = step.title(ctx)
      out(`[${index + 1}/${total}] ${title} … `)
      const t0 = performance.now()
      try {
        interrupt.signal.throwIfAborted()
        const outcome = await step.run(ctx)
        const ms = performance.now() - t0
        records.push({ name: step.name, title, ok: true, ms, summary: outcome.summary, data: outcome.data })
        out(`done in ${formatMs(ms)}\n${(outcome.details ?? []).map((l) => `      ${l}\n`).join('')}`)
      } catch (err) {
        const ms = performance.now() - t0
        const error = interrupt.signal.aborted ? new AbortedError('the demo was interrupted', { cause: err }) : err
        records.push({ name: step.name, title, ok: false, ms, summary: 'failed', error: describe(error) })
        out(`failed after ${formatMs(ms)}\n`)
        failure = { step, index, error }
        break
      }
    }
  } finally {
    if (ctx.testnet != null) {
      out(`[${total}/${total}] stopping ${ctx.testnet.nodes.length} nodes … `)
      const t0 = performance.now()
      await ctx.testnet.stop()
      const ms = performance.now() - t0
      records.push({ name: 'stop', title: 'stopping nodes', ok: true, ms, summary: `${ctx.testnet.nodes.length} nodes stopped, temporary directory removed` })
      out(`done in ${formatMs(ms)}\n`)
    }
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }

  const totalMs = performance.now() - started
  if (json) {
    process.stdout.write(JSON.stringify({ ok: failure == null, nodes: flags.nodes, totalMs: Math.round(totalMs), steps: records.map((r) => ({ ...r, ms: Math.round(r.ms) })) }) + '\n')
  }
  if (failure != null) {
    if (interrupt.signal.aborted) {
      process.stderr.write('umbra: the demo was interrupted; every node was stopped (UMBRA_ERR_ABORTED)\n')
      return EXIT_INTERRUPTED
    }
    const { code, message } = describe(failure.error)
    process.stderr.write(`umbra: demo step ${failure.index + 1} (${failure.step.name}) failed: ${message} (${code})\n`)
    return EXIT_FAILURE
  }
  out('\n' + summaryTable(records, totalMs) + '\n')
  return 0
}

const startStep: DemoStep = {
  name: 'start',
  title: (ctx) => `starting ${ctx.size} nodes`,
  run: async (ctx) => {
    // One Sphinx worker thread per node: six processes share the machine's cores.
    ctx.testnet = await startProcessTestnet({ nodes: ctx.size, mixnet: { preset: DEMO_MIXNET_PRESET, threads: 1 }, signal: ctx.signal })
    ctx.clients = ctx.testnet.nodes.map((n) => new ApiClient({ url: n.api, token: n.token }))
    const first = ctx.testnet.nodes[0]
    return {
      summary: `${ctx.size} node processes up, HTTP APIs on free ports`,
      details: [`bootstrap: node-1 ${first?.peerId ?? ''}`, `data directories under ${ctx.testnet.dir}`],
      data: { nodes: ctx.testnet.nodes.map(({ token: _token, ...n }) => n) }
    }
  }
}

const discoveryStep: DemoStep = {
  name: 'discovery',
  title: () => 'discovering peers',
  run: async (ctx) => {
    const others = ctx.size - 1
    let counts: number[] = []
    await poll(ctx, async () => {
      counts = await Promise.all(ctx.clients.map(async (c) => (await c.peers({ signal: ctx.signal })).peers.length))
      return counts.every((c) => c >= 1) && (counts[0] ?? 0) >= others ? true : undefined
    }, () => `every node to have a peer and node-1 to see the other ${others}; peer counts are ${counts.join(', ') || 'unknown'}`)
    return {
      summary: `every node has a peer; node-1 sees ${counts[0] ?? 0}`,
      details: [`peers per node: ${counts.map((c, i) => `node-${i + 1} ${c}`).join(', ')}`],
      data: { peers: counts }
    }
  }
}

const dhtStep: DemoStep = {
  name: 'dht',
  title: (ctx) => `DHT put on node-1, network get on node-${ctx.size}`,
  run: async (ctx) => {
    const [publisher, reader] = pick(ctx, 0, ctx.size - 1)
    const key = `umbra-demo/${randomBytes(4).toString('hex')}`
    const value = `hello from node-1 at ${new Date().toISOString()}`
    const put = await client(ctx, 0).put(key, value, { signal: ctx.signal })
    const t0 = performance.now()
    // fresh: skip node-N's own replica, so the value really comes through a DHT query
    const rec = await poll(ctx, async () => {
      const found = await client(ctx, ctx.size - 1).get(key, { fresh: true, signal: ctx.signal })
      return found != null && found.value === value ? found : undefined
    }, () => `${reader.name} to find the record ${JSON.stringify(key)} in the network`)
    const getMs = performance.now() - t0
    const by = rec.publisher === publisher.key ? 'node-1' : rec.publisher
    return {
      summary: `${reader.name} read node-1's record (source ${rec.source}), stored on ${put.storedOn} other nodes`,
      details: [
        `put ${JSON.stringify(key)} on node-1: seq ${put.seq}, stored on ${put.storedOn} other ${put.storedOn === 1 ? 'node' : 'nodes'}`,
        `get on ${reader.name}: ${JSON.stringify(printable(rec.value))} (source: ${rec.source}; publisher: ${by}; ${formatMs(getMs)})`
      ],
      data: { key, value: rec.value, seq: put.seq, storedOn: put.storedOn, source: rec.source, publisher: rec.publisher, getMs: Math.round(getMs) }
    }
  }
}

const messageStep: DemoStep = {
  name: 'message',
  title: (ctx) => `encrypted direct message node-2 → node-${ctx.size}`,
  run: async (ctx) => {
    const [sender, recipient] = pick(ctx, 1, ctx.size - 1)
    const text = `hello ${recipient.name}, this is node-2 (${randomBytes(4).toString('hex')})`
    const sent = await client(ctx, 1).send(recipient.peerId, text, { signal: ctx.signal })
    const received = await poll(ctx, async () => {
      const { messages } = await client(ctx, ctx.size - 1).inbox({ signal: ctx.signal })
      return messages.find((m): m is DirectInboxMessage => m.kind === 'direct' && m.id === sent.id)
    }, () => `message ${sent.id} to appear in ${recipient.name}'s inbox`)
    if (received.body !== text || received.encoding !== 'utf8') {
      throw new DemoFailedError(`${recipient.name} received message ${sent.id} with a different body than node-2 sent`)
    }
    if (received.from !== sender.peerId) {
      throw new DemoFailedError(`${recipient.name} received message ${sent.id} from ${received.from}, not from node-2 (${sender.peerId})`)
    }
    return {
      summary: `delivered and acknowledged in ${Math.round(sent.rttMs)} ms, found in ${recipient.name}'s inbox`,
      details: [
        `node-2 sent ${sent.id} to ${recipient.name} (${recipient.peerId}), acknowledged in ${Math.round(sent.rttMs)} ms`,
        `${recipient.name}'s inbox: ${JSON.stringify(printable(received.body))} from node-2, signature verified`
      ],
      data: { id: sent.id, rttMs: sent.rttMs, from: received.from, to: recipient.peerId }
    }
  }
}

/**
 * The anonymous exchange: node-N creates a pseudonym, node-2 sends it a
 * message through {@link DEMO_ANONYMOUS_HOPS} mixes (fewer when the network
 * is too small: a path needs that many nodes besides the sender and the
 * gateway), node-N answers through the reply block the message carried, and
 * node-2 shows the reply.
 */
const anonymousStep: DemoStep = {
  name: 'anonymous',
  title: (ctx) => `anonymous message node-2 → a pseudonym of node-${ctx.size} through ${anonymousHops(ctx)} ${anonymousHops(ctx) === 1 ? 'mix' : 'mixes'}, and a reply`,
  run: async (ctx) => {
    const [, recipient] = pick(ctx, 1, ctx.size - 1)
    const sender = client(ctx, 1)
    const receiver = client(ctx, ctx.size - 1)
    const hops = anonymousHops(ctx)
    // Every node is a mix node and a gateway; wait until both ends see them all.
    let sizes: number[] = []
    await poll(ctx, async () => {
      sizes = await Promise.all([sender, receiver].map(async (c) => (await c.mixnet({ signal: ctx.signal })).directory.length))
      return sizes.every((n) => n >= ctx.size) ? true : undefined
    }, () => `the mix directories of node-2 and ${recipient.name} to list all ${ctx.size} nodes; they list ${sizes.join(' and ') || 'none'}`)

    const pseudonym = await receiver.createPseudonym({ label: 'umbra demo', signal: ctx.signal })
    const text = `hello whoever you are (${randomBytes(4).toString('hex')})`
    const sent = await sender.send(pseudonym.key, text, { anonymous: true, hops, wait: 'delivered', replySurbs: 1, signal: ctx.signal })
    const received = await poll(ctx, async () => {
      const { messages } = await receiver.inbox({ signal: ctx.signal })
      return messages.find((m): m is AnonymousInboxMessage => m.kind === 'anonymous' && m.id === sent.id)
    }, () => `anonymous message ${sent.id} to appear in ${recipient.name}'s inbox`)
    if (received.body !== text || received.from !== null || received.to !== pseudonym.key) {
      throw new DemoFailedError(`${recipient.name} received anonymous message ${sent.id} with a different body or recipient than node-2 sent`)
    }

    const answer = `hello back from ${recipient.name}'s pseudonym`
    const t0 = performance.now()
    await receiver.reply(sent.id, answer, { signal: ctx.signal })
    const reply = await poll(ctx, async () => {
      const { messages } = await sender.inbox({ signal: ctx.signal })
      return messages.find((m): m is ReplyInboxMessage => m.kind === 'reply' && m.inReplyTo === sent.id)
    }, () => `the reply to ${sent.id} to reach node-2`)
    const replyMs = performance.now() - t0
    if (reply.body !== answer) throw new DemoFailedError(`node-2 received a reply to ${sent.id} with a different body than ${recipient.name} sent`)

    return {
      summary: `${sent.status} through ${hops} ${hops === 1 ? 'mix' : 'mixes'} in ${Math.round(sent.rttMs)} ms, reply back in ${Math.round(replyMs)} ms`,
      details: [
        `${recipient.name} created pseudonym ${pseudonym.key} (gateway ${pseudonym.gateways.join(', ')})`,
        `node-2 sent ${sent.id} through ${hops} ${hops === 1 ? 'mix' : 'mixes'}: ${sent.status}, acknowledged end to end in ${Math.round(sent.rttMs)} ms (${sent.fragments ?? 0} Sphinx ${sent.fragments === 1 ? 'packet' : 'packets'})`,
        `${recipient.name}'s inbox: ${JSON.stringify(printable(received.body))} from (anonymous): no PeerId or key of node-2 in it`,
        `${recipient.name} replied through the message's reply block; node-2's inbox: ${JSON.stringify(printable(reply.body))} in reply to ${sent.id}`
      ],
      data: { pseudonym: pseudonym.key, id: sent.id, hops, status: sent.status, rttMs: sent.rttMs, fragments: sent.fragments, replyMs: Math.round(replyMs), preset: DEMO_MIXNET_PRESET }
    }
  }
}

/** Mix hops of the anonymous step: 3, or fewer when the network is too small (nodes minus sender and gateway). */
function anonymousHops (ctx: DemoContext): number {
  return Math.max(1, Math.min(DEMO_ANONYMOUS_HOPS, ctx.size - 2))
}

function client (ctx: DemoContext, index: number): ApiClient {
  const c = ctx.clients[index]
  if (c == null) throw new DemoFailedError(`node-${index + 1} is not running`)
  return c
}

function pick (ctx: DemoContext, a: number, b: number): [ProcessTestnetNode, ProcessTestnetNode] {
  const x = ctx.testnet?.nodes[a]
  const y = ctx.testnet?.nodes[b]
  if (x == null || y == null) throw new DemoFailedError('the testnet is not running')
  return [x, y]
}

/**
 * Calls `check` until it returns something, every {@link DEMO_POLL_INTERVAL_MS}.
 * @throws DemoFailedError after {@link DEMO_STEP_TIMEOUT_MS}, naming what was awaited
 */
async function poll<T> (ctx: DemoContext, check: () => Promise<T | undefined>, awaited: () => string): Promise<T> {
  const deadline = performance.now() + DEMO_STEP_TIMEOUT_MS
  for (;;) {
    if (ctx.signal.aborted) throw new AbortedError('the demo was interrupted')
    const result = await check()
    if (result !== undefined) return result
    if (performance.now() > deadline) {
      throw new DemoFailedError(`gave up after ${formatMs(DEMO_STEP_TIMEOUT_MS)} waiting for ${awaited()}`)
    }
    await new Promise((resolve) => setTimeout(resolve, DEMO_POLL_INTERVAL_MS))
  }
}

function describe (err: unknown): { code: string, message: string } {
  if (err instanceof UmbraError) return { code: err.code, message: err.message }
  return { code: 'UMBRA_ERR_INTERNAL', message: err instanceof Error ? err.message : String(err) }
}

/** `812 ms`, `1.7 s`. */
export function formatMs (ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`
}

function summaryTable (records: StepRecord[], totalMs: number): string {
  const rows = [
    ['step', 'result', 'time'],
    ...records.map((r) => [r.name, r.summary, formatMs(r.ms)]),
    ['total', '', formatMs(totalMs)]
  ]
  const w0 = Math.max(...rows.map((r) => r[0]?.length ?? 0))
  const w1 = Math.max(...rows.map((r) => r[1]?.length ?? 0))
  const w2 = Math.max(...rows.map((r) => r[2]?.length ?? 0))
  const line = (r: string[]): string => `  ${(r[0] ?? '').padEnd(w0)}  ${(r[1] ?? '').padEnd(w1)}  ${(r[2] ?? '').padStart(w2)}`
  const rule = `  ${'─'.repeat(w0)}  ${'─'.repeat(w1)}  ${'─'.repeat(w2)}`
  const [head, ...body] = rows
  const last = body.pop() ?? []
  return ['summary', line(head ?? []), rule, ...body.map(line), rule, line(last)].join('\n')
}
