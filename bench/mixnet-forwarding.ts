/**
 * Forwarding by a real relay process, with the sender and the receiver in
 * two other processes (issue 15, "Must show"): the relay is `umbra start`
 * (server node, preset `none`); the sender and the receiver are small
 * libp2p nodes started from this file (`node bench/mixnet-forwarding.ts
 * sender|receiver`), so no Sphinx work and no event loop is shared with the
 * relay. The sender pre-builds 2-hop packets (relay → receiver) on its
 * worker threads before the clock starts, then writes them to one mix
 * stream as fast as backpressure allows; the receiver publishes a mix
 * descriptor (so the relay may forward to it) and counts whole packets.
 *
 * Measured: packets/s from the sender's first write to the receiver's last
 * packet, and the relay's CPU time (user + system, all its threads, from
 * /proc/<pid>/stat: what `process.cpuUsage()` reports inside it) per
 * forwarded packet; the relay's `dropped` counters over its HTTP API.
 *
 * The children talk to the parent by JSON lines: on stdout they print
 * `{ "ready": … }`, then the parent writes `go <n>` (sender) or `expect <n>`
 * (receiver) on their stdin.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import sodium from 'sodium-native'
import { ApiClient } from '../src/api/client.ts'
import { API_TOKEN_FILE } from '../src/identity/constants.ts'
import { logger } from '../src/logger.ts'
import { MIX_PROTOCOL } from '../src/mixnet/constants.ts'
import { createDirectory, type Directory } from '../src/mixnet/directory.ts'
import { createPacket, PACKET_SIZE } from '../src/mixnet/sphinx/index.ts'
import { encodeFragment, encodeGatewayLayer } from '../src/mixnet/wire.ts'

/** What one forwarding run measured. */
export interface ForwardingResult {
  /** Packets the sender wrote. */
  sent: number
  /** Packets the receiver got back. */
  received: number
  /** From the sender's first write to the receiver's last packet, ms. */
  ms: number
  /** Relay CPU time (user + system, every thread) during the run, ms. */
  relayCpuMs: number
  /** The relay's resident set size after the run, bytes. */
  relayRssBytes: number
  /** The relay's `dropped` counters after the run (by reason). */
  dropped: Record<string, number>
  /** The relay's `forwarded` counter after the run. */
  forwarded: number
  /** Mix streams the sender had to open again during the run because the relay's side closed (0 expected). */
  reopened: number
}

/** Options of {@link measureForwarding}. */
export interface ForwardingOptions {
  /** Packets per run. */
  packets: number
  /** Runs against the same relay (fresh packets each). @default 1 */
  runs?: number
  /** `--mixnet-epoch` of the relay, ms. @default the node's (1 h) */
  epochMs?: number
  /** Sender pacing, packets/s (0: as fast as backpressure allows). @default 0 */
  rate?: number
}

const SELF = fileURLToPath(import.meta.url)
/** The relay's CLI; BENCH_UMBRA_CLI points at another build (e.g. main's dist/src/cli/main.js) to compare. */
const CLI = process.env.BENCH_UMBRA_CLI ?? fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url))

/** Next JSON line a child prints on stdout. */
function nextLine (child: ChildProcess): () => Promise<Record<string, unknown>> {
  const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream })
  const lines: string[] = []
  let wake: (() => void) | undefined
  rl.on('line', (l) => { lines.push(l); wake?.() })
  let exited = false
  child.once('exit', () => { exited = true; wake?.() })
  return async () => {
    for (;;) {
      const l = lines.shift()
      if (l !== undefined) {
        try { return JSON.parse(l) as Record<string, unknown> } catch { continue }
      }
      if (exited) throw new Error('child exited')
      await new Promise<void>((resolve) => { wake = resolve })
    }
  }
}

/** CPU time of a process and all its threads (utime + stime), ms, and its RSS, bytes. */
async function procStat (pid: number): Promise<{ cpuMs: number, rssBytes: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const ticks = Number(fields[11]) + Number(fields[12]) // utime, stime (fields 14, 15)
  const rssPages = Number(fields[21]) // field 24
  return { cpuMs: ticks * 10, rssBytes: rssPages * 4096 } // CLK_TCK 100, 4 KiB pages (Linux defaults)
}

function child (role: 'sender' | 'receiver', args: string[]): ChildProcess {
  return spawn(process.execPath, [SELF, role, ...args], { stdio: ['pipe', 'pipe', 'inherit'] })
}

/**
 * Starts a relay process, a receiver and a sender process, and measures
 * `runs` forwarding runs of `packets` packets (see the module comment).
 * Stops every process before it resolves.
 * @throws Error when a process fails to start or the relay's descriptor does not arrive
 */
export async function measureForwarding (opts: ForwardingOptions): Promise<ForwardingResult[]> {
  const dataDir = await mkdtemp(join(tmpdir(), 'umbra-bench-relay-'))
  const epochArgs = opts.epochMs === undefined ? [] : ['--mixnet-epoch', String(opts.epochMs)]
  // BENCH_RELAY_NODE_ARGS: extra Node flags for the relay, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile it.
  const nodeArgs = (process.env.BENCH_RELAY_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')
  const relay = spawn(process.execPath, [...nodeArgs, CLI, 'start', '--json', '--data-dir', dataDir, '--api', '127.0.0.1:0', '--listen', '/ip4/127.0.0.1/tcp/0', '--mixnet-preset', 'none', ...epochArgs], { stdio: ['ignore', 'pipe', 'inherit'] })
  const children: ChildProcess[] = [relay]
  try {
    const ready = await nextLine(relay)() as { addrs: string[], api: string }
    const api = new ApiClient({ url: ready.api, token: (await readFile(join(dataDir, API_TOKEN_FILE), 'utf8')).trim() })
    const relayAddr = ready.addrs[0] as string
    const receiver = child('receiver', [relayAddr, String(opts.epochMs ?? 3_600_000)])
    children.push(receiver)
    const fromReceiver = nextLine(receiver)
    const { key: receiverKey } = await fromReceiver() as { key: string }
    const sender = child('sender', [relayAddr, receiverKey, String(opts.epochMs ?? 3_600_000), String(opts.rate ?? 0)])
    children.push(sender)
    const fromSender = nextLine(sender)
    await fromSender() // ready: connected, the relay and the receiver are in its directory
    const results: ForwardingResult[] = []
    for (let run = 0; run < (opts.runs ?? 1); run++) {
      sender.stdin?.write(`build ${opts.packets}\n`)
      await fromSender() // built
      receiver.stdin?.write(`expect ${opts.packets}\n`)
      await fromReceiver()
      const before = await procStat(relay.pid as number)
      sender.stdin?.write('go\n')
      const started = await fromSender() as { startedAt: number }
      const got = await fromReceiver() as { received: number, lastAt: number }
      const { reopened } = await fromSender() as { reopened: number }
      const after = await procStat(relay.pid as number)
      const counters = (await api.mixnet()).counters
      results.push({
        sent: opts.packets,
        received: got.received,
        ms: got.lastAt - started.startedAt,
        relayCpuMs: after.cpuMs - before.cpuMs,
        relayRssBytes: after.rssBytes,
        dropped: counters.dropped,
        forwarded: counters.forwarded,
        reopened
      })
    }
    return results
  } finally {
    for (const c of children.reverse()) {
      if (c.exitCode === null) {
        const exited = new Promise((resolve) => c.once('exit', resolve))
        c.kill('SIGTERM')
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))])
        if (c.exitCode === null) c.kill('SIGKILL')
      }
    }
    await rm(dataDir, { recursive: true, force: true })
  }
}

async function node (): Promise<{ libp2p: Libp2p, privateKey: Awaited<ReturnType<typeof generateKeyPair>> }> {
  const privateKey = await generateKeyPair('Ed25519')
  const libp2p = await createLibp2p({
    privateKey,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() }
  })
  return { libp2p, privateKey }
}

function print (o: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(o) + '\n')
}

function stdinLines (): AsyncIterableIterator<string> {
  return createInterface({ input: process.stdin })[Symbol.asyncIterator]()
}

/** Waits until the directory lists every key in `keys` (30 s at most). */
async function awaitDirectory (directory: Directory, keys: Uint8Array[]): Promise<void> {
  const deadline = Date.now() + 30_000
  const has = (): boolean => keys.every((k) => directory.get(k) != null)
  while (!has()) {
    if (Date.now() > deadline) throw new Error('the mix directory did not converge')
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** Receiver: publishes a descriptor (a dummy onion key: it never processes), counts packets, reports when it has the expected number. */
async function receiverMain (relayAddr: string, epochMs: number): Promise<void> {
  const { libp2p, privateKey } = await node()
  const onion = Buffer.alloc(32)
  sodium.crypto_scalarmult_base(onion, Buffer.alloc(32, 9))
  let received = 0
  let expect = Infinity
  let report: (() => void) | undefined
  await libp2p.handle(MIX_PROTOCOL, (stream) => {
    void (async () => {
      let buffered = 0
      for await (const chunk of stream) {
        buffered += chunk.byteLength
        while (buffered >= PACKET_SIZE) { buffered -= PACKET_SIZE; received++ }
        if (received >= expect) report?.()
      }
    })().catch(() => {})
  }, { maxInboundStreams: 16 })
  const directory = createDirectory({
    libp2p, privateKey, log: logger('bench:receiver'), publish: true,
    onionKeys: () => { const e = Math.floor(Date.now() / epochMs); return [e, e + 1].map((epoch) => ({ epoch, publicKey: onion })) }
  })
  await directory.start()
  await libp2p.dial(multiaddr(relayAddr))
  print({ key: Buffer.from(privateKey.publicKey.raw).toString('hex') })
  for await (const line of stdinLines()) {
    const [cmd, n] = line.split(' ')
    if (cmd !== 'expect') continue
    const target = received + Number(n)
    const start = received
    let timer: ReturnType<typeof setTimeout> | undefined
    const done = new Promise<void>((resolve) => {
      report = resolve
      // Packets lost on the way: report what arrived after 5 s without progress.
      let last = received
      const check = (): void => {
        if (received === last) { resolve(); return }
        last = received
        timer = setTimeout(check, 5_000)
      }
      timer = setTimeout(check, 60_000)
    })
    expect = target
    print({ expecting: target })
    await done
    clearTimeout(timer)
    expect = Infinity
    report = undefined
    print({ received: received - start, lastAt: performance.timeOrigin + performance.now() })
  }
}

/** Builder thread of the sender: `createPacket` for its share of the packets. */
function builderThread (): void {
  const d = workerData as { onionKey: Uint8Array, next: Uint8Array, epoch: number, count: number }
  const sink = Buffer.alloc(32)
  sodium.crypto_scalarmult_base(sink, Buffer.alloc(32, 9))
  const body = encodeGatewayLayer(0, undefined, encodeFragment({ messageId: new Uint8Array(16), index: 0, total: 1, data: new Uint8Array(100) }))
  const out = new Uint8Array(new SharedArrayBuffer(d.count * PACKET_SIZE))
  for (let i = 0; i < d.count; i++) {
    out.set(createPacket({
      epoch: d.epoch,
      hops: [
        { onionKey: d.onionKey, routing: { type: 'forward', nextNode: d.next, delayMs: 0 } },
        { onionKey: sink, routing: { type: 'deliver', mailbox: new Uint8Array(32) } }
      ],
      body
    }), i * PACKET_SIZE)
  }
  parentPort?.postMessage(out)
}

/** Sender: builds packets relay → receiver on every core, then writes them on one mix stream on `go`. */
async function senderMain (relayAddr: string, receiverHex: string, epochMs: number, rate: number): Promise<void> {
  const { libp2p, privateKey } = await node()
  const ma = multiaddr(relayAddr)
  await libp2p.dial(ma)
  const directory = createDirectory({ libp2p, privateKey, log: logger('bench:sender'), publish: false, onionKeys: () => [] })
  await directory.start()
  const receiverKey = new Uint8Array(Buffer.from(receiverHex, 'hex'))
  const relayPeer = ma.getComponents().at(-1)?.value
  const deadline = Date.now() + 30_000
  let relayKey: Uint8Array | undefined
  while (relayKey === undefined || directory.get(receiverKey) == null) {
    if (Date.now() > deadline) throw new Error('the relay or the receiver did not reach the sender\'s directory')
    relayKey = directory.list().find((e) => e.peerId === relayPeer)?.nodeKey
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  await awaitDirectory(directory, [relayKey, receiverKey])
  let stream = await libp2p.dialProtocol(ma, MIX_PROTOCOL)
  let reopened = 0
  print({ ready: true })
  let packets: Uint8Array[] = []
  for await (const line of stdinLines()) {
    const [cmd, n] = line.split(' ')
    if (cmd === 'build') {
      const epoch = Math.floor(Date.now() / epochMs)
      const entry = directory.get(relayKey)
      // Near the end of a short epoch, build for the next one (the relay accepts it; its key is published ahead).
      const useEpoch = (Date.now() % epochMs) > epochMs * 0.7 && entry?.onionKeys.has(epoch + 1) === true ? epoch + 1 : epoch
      const onionKey = entry?.onionKeys.get(useEpoch)
      if (onionKey == null) throw new Error(`no onion key of the relay for epoch ${useEpoch}`)
      const threads = availableParallelism()
      const per = Math.ceil(Number(n) / threads)
      const parts = await Promise.all(Array.from({ length: threads }, async () => await new Promise<Uint8Array>((resolve, reject) => {
        const w = new Worker(SELF, { workerData: { umbraBenchBuilder: true, onionKey, next: receiverKey, epoch: useEpoch, count: per } })
        w.once('message', (m: Uint8Array) => { resolve(m); void w.terminate() })
        w.once('error', reject)
      })))
      packets = parts.flatMap((p) => Array.from({ length: p.byteLength / PACKET_SIZE }, (_, i) => p.subarray(i * PACKET_SIZE, (i + 1) * PACKET_SIZE))).slice(0, Number(n))
      print({ built: packets.length, epoch: useEpoch })
    } else if (cmd === 'go') {
      print({ startedAt: performance.timeOrigin + performance.now() })
      const t0 = performance.now()
      for (let i = 0; i < packets.length; i++) {
        if (stream.status !== 'open' || stream.writeStatus !== 'writable') {
          // Counted and reported: the relay (or the connection) closed the stream; go on with a new one.
          stream = await libp2p.dialProtocol(ma, MIX_PROTOCOL)
          reopened++
        }
        try {
          if (!stream.send(packets[i] as Uint8Array)) await stream.onDrain()
        } catch {
          i--
          continue
        }
        if (rate > 0 && i % 64 === 63) {
          const ahead = t0 + (i + 1) * 1000 / rate - performance.now()
          if (ahead > 0) await new Promise((resolve) => setTimeout(resolve, ahead))
        }
      }
      packets = []
      print({ finished: true, reopened })
    }
  }
}

if (!isMainThread && (workerData as { umbraBenchBuilder?: boolean } | null)?.umbraBenchBuilder === true) builderThread()
else if (isMainThread && import.meta.main) {
  const [role, ...args] = process.argv.slice(2)
  if (role === 'receiver') await receiverMain(args[0] as string, Number(args[1]))
  else if (role === 'sender') await senderMain(args[0] as string, args[1] as string, Number(args[2]), Number(args[3]))
  else {
    const results = await measureForwarding({ packets: Number(process.env.BENCH_FORWARD_PACKETS ?? 30_000), runs: Number(process.env.BENCH_RUNS ?? 2), rate: Number(process.env.BENCH_RATE ?? 0) })
    for (const r of results) console.log(JSON.stringify({ ...r, packetsPerSecond: Math.round(r.received / (r.ms / 1000)), relayCpuUsPerPacket: +(1000 * r.relayCpuMs / r.received).toFixed(1) }))
  }
}
