import { InvalidOptionError } from '../../errors.ts'
import type { ClientFlags } from '../config.ts'
import { clientFromFlags } from '../config.ts'
import { NotFoundError } from '../errors.ts'
import type { ApiClient, BodyEncoding, HolePunchRequestOptions, HolePunchResponse, InboxMessage, NatInfo, PseudonymInfo, SendOptions } from '../api-client.ts'
import { CLI_POLL_INTERVAL_MS, PROGRESS_DELAY_MS } from '../constants.ts'
import { createProgress } from '../output.ts'

/** Flags of every client command. */
export interface ClientCommandFlags extends ClientFlags {
  json?: boolean
}

function printJson (value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n')
}

/**
 * Text from the network made safe for one terminal line: control characters
 * (newlines, escape sequences that could rewrite the screen) are shown as
 * `\n`, `\u001b`, … instead of being interpreted.
 */
export function printable (text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    if (c === '\n') return '\\n'
    if (c === '\t') return '\\t'
    if (c === '\r') return '\\r'
    return '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0')
  })
}

/** A message body for one terminal line: UTF-8 made printable, base64 shown as a byte count plus the base64. */
function showBody (body: string, encoding: BodyEncoding): string {
  if (encoding === 'base64') return `[${Buffer.from(body, 'base64').length} bytes, base64] ${body}`
  return printable(body)
}

/** `umbra id`: the node's PeerId, key, role, addresses, peer count, NAT reachability and, for a wallet identity, its addresses. */
export async function runId (flags: ClientCommandFlags): Promise<number> {
  const api = await clientFromFlags(flags)
  const info = await api.node()
  if (flags.json === true) {
    printJson(info)
    return 0
  }
  const [first, ...rest] = info.addrs
  const lines = [
    `peerId  ${info.peerId}`,
    `key     ${info.key}`,
    `role    ${info.role}`,
    `addrs   ${first ?? '(none)'}`,
    ...rest.map((a) => `        ${a}`),
    `peers   ${info.peers}`,
    `nat     ${natLine(info.nat)}`,
    // A wallet identity (issue 14): anyone who sees the PeerId can derive these addresses (docs/wallet-keys.md).
    ...(info.wallet != null ? [`wallet  bitcoin ${info.wallet.addresses.bitcoin}  evrmore ${info.wallet.addresses.evrmore}`] : []),
    `api     ${api.url}`
  ]
  process.stdout.write(lines.join('\n') + '\n')
  return 0
}

/**
 * The `nat` line of `umbra id`: reachability, then what it rests on.
 * `public; STUN server on UDP 3478`, `private via relay 12D3…; STUN servers 10.0.0.1:3478`,
 * `unknown (no relay reservation yet)`.
 */
export function natLine (nat: NatInfo): string {
  const parts: string[] = []
  if (nat.reachability === 'private') {
    parts.push(`private via ${nat.relays.length === 1 ? 'relay' : 'relays'} ${nat.relays.join(', ')}`)
  } else if (nat.reachability === 'unknown') {
    parts.push('unknown (no relay reservation yet)')
  } else {
    parts.push(nat.reachability)
  }
  if (nat.stunPort != null) parts.push(`STUN server on UDP ${nat.stunPort}`)
  else if (nat.reachability === 'public') parts.push('no STUN server')
  if (nat.reachability !== 'public' && nat.stunServers.length > 0) parts.push(`STUN servers ${nat.stunServers.join(', ')}`)
  return parts.join('; ')
}

/** `umbra peers`: connected peers, one a line. */
export async function runPeers (flags: ClientCommandFlags): Promise<number> {
  const api = await clientFromFlags(flags)
  const { peers } = await api.peers()
  if (flags.json === true) {
    printJson({ peers })
    return 0
  }
  if (peers.length === 0) {
    process.stdout.write('no peers connected\n')
    return 0
  }
  const lines = [`${peers.length} ${peers.length === 1 ? 'peer' : 'peers'} connected`]
  for (const p of peers) lines.push(`${p.peerId}  ${p.path.padEnd(7)}  ${p.addrs.join(' ')}`)
  process.stdout.write(lines.join('\n') + '\n')
  return 0
}

/** Flags of `umbra punch`. */
export interface PunchFlags extends ClientCommandFlags {
  /** `--addr`: multiaddrs of the peer to try. */
  addr?: string[]
  /** `--timeout`: ms allowed for the direct upgrade. */
  timeout?: number
}

/**
 * The line `umbra punch` prints:
 * `direct via webrtc to <peer>, rtt 1.2 ms (upgrade took 340 ms)`,
 * `direct via existing-direct to <peer>, rtt 0.4 ms (already direct)` or
 * `relayed via circuit-relay to <peer>, rtt 8.1 ms; direct upgrade failed: <reason>`.
 */
export function punchLine (res: HolePunchResponse): string {
  const rtt = res.rttMs >= 0 ? `rtt ${res.rttMs.toFixed(1)} ms` : 'rtt unknown (ping failed)'
  const head = `${res.path} via ${res.method} to ${res.peer}, ${rtt}`
  if (res.path === 'relayed') return `${head}; direct upgrade failed: ${printable(res.reason ?? 'no reason given')}`
  if (res.method === 'existing-direct') return `${head} (already direct)`
  return `${head} (upgrade took ${Math.round(res.elapsedMs)} ms)`
}

/**
 * `umbra punch PEER [--addr MA...] [--timeout MS]`: has the node make its
 * connection to PEER direct (seed 000's `attemptNATHolePunch`). Exit 0 when a
 * direct or relayed path exists (the line says which); the API's
 * `UMBRA_ERR_PEER_UNREACHABLE` (exit 1) when there is none.
 */
export async function runPunch (peer: string, flags: PunchFlags): Promise<number> {
  const api = await clientFromFlags(flags)
  const options: HolePunchRequestOptions = {}
  if (flags.addr != null) options.addrs = flags.addr
  if (flags.timeout != null) options.timeout = flags.timeout
  const res = await api.holePunch(peer, options)
  if (flags.json === true) {
    printJson(res)
    return 0
  }
  process.stdout.write(punchLine(res) + '\n')
  return 0
}

/** `umbra put KEY VALUE [--ttl S]`: signs and stores a text value in the DHT. */
export async function runPut (key: string, value: string, flags: ClientCommandFlags & { ttl?: number }): Promise<number> {
  const api = await clientFromFlags(flags)
  const res = await api.put(key, value, flags.ttl == null ? {} : { ttl: flags.ttl })
  if (flags.json === true) {
    printJson(res)
    return 0
  }
  const nodes = `${res.storedOn} other ${res.storedOn === 1 ? 'node' : 'nodes'}`
  process.stdout.write(`stored ${JSON.stringify(res.key)} (seq ${res.seq}) locally and on ${nodes}, expires ${new Date(res.expiresAt).toISOString()}\n`)
  return 0
}

/** `umbra get KEY`: prints the value (raw bytes for binary values); exit 1 when there is none. */
export async function runGet (key: string, flags: ClientCommandFlags & { fresh?: boolean }): Promise<number> {
  const api = await clientFromFlags(flags)
  const rec = await api.get(key, { fresh: flags.fresh === true })
  if (rec == null) throw new NotFoundError(`no record found for key ${JSON.stringify(key)}`)
  if (flags.json === true) {
    printJson(rec)
  } else if (rec.encoding === 'base64') {
    process.stdout.write(Buffer.from(rec.value, 'base64'))
  } else {
    // Raw when piped (scripts get the exact value), made printable on a terminal.
    process.stdout.write((process.stdout.isTTY ? printable(rec.value) : rec.value) + '\n')
  }
  return 0
}

/**
 * `umbra lookup PEER`: a node's peer record from the registry (role,
 * addresses others can dial, last seen, metadata).
 * @throws ApiResponseError (exit 1, UMBRA_ERR_PEER_NOT_FOUND) when no record exists
 */
export async function runLookup (peer: string, flags: ClientCommandFlags & { fresh?: boolean }): Promise<number> {
  const api = await clientFromFlags(flags)
  const rec = await api.lookup(peer, { fresh: flags.fresh === true })
  if (flags.json === true) {
    printJson(rec)
    return 0
  }
  const lines = [
    `peer      ${rec.peerId}`,
    `key       ${rec.key}`,
    `role      ${rec.role}`,
    `last seen ${new Date(rec.lastSeen).toISOString()}`,
    ...rec.addrs.map((a, i) => `${i === 0 ? 'addrs    ' : '         '} ${a}`),
    ...(rec.metadata != null ? [`metadata  ${rec.sealed && rec.opened !== true ? '(sealed to another key)' : printable(Buffer.from(rec.metadata, 'base64').toString('utf8'))}`] : [])
  ]
  process.stdout.write(lines.join('\n') + '\n')
  return 0
}

/** Flags of `umbra send`. */
export interface SendFlags extends ClientCommandFlags {
  anonymous?: boolean
  hops?: number
  wait?: 'stored' | 'delivered'
  replySurbs?: number
}

/**
 * `umbra send TO MESSAGE`: a direct end-to-end encrypted message, acknowledged
 * by the recipient; with `--anonymous`, through the mix network to a pseudonym.
 * @throws InvalidOptionError when `--hops`, `--wait` or `--reply-surbs` come without `--anonymous`
 */
export async function runSend (to: string, message: string, flags: SendFlags): Promise<number> {
  const anonymous = flags.anonymous === true
  if (!anonymous) {
    const given = [['--hops', flags.hops], ['--wait', flags.wait], ['--reply-surbs', flags.replySurbs]].filter(([, v]) => v != null).map(([name]) => name)
    if (given.length > 0) throw new InvalidOptionError(`${given.join(', ')} only ${given.length === 1 ? 'applies' : 'apply'} to anonymous messages; add --anonymous`)
  }
  const api = await clientFromFlags(flags)
  const options: SendOptions = {}
  if (anonymous) {
    options.anonymous = true
    if (flags.hops != null) options.hops = flags.hops
    if (flags.wait != null) options.wait = flags.wait
    if (flags.replySurbs != null) options.replySurbs = flags.replySurbs
  }
  // A large message takes a while (an anonymous one goes out fragment by
  // fragment): a progress line on a terminal, nothing when piped.
  const progress = createProgress({ delayMs: PROGRESS_DELAY_MS })
  const what = `sending ${formatBytes(Buffer.byteLength(message))}${anonymous ? ' anonymously' : ''}`
  progress.update(what)
  const stopWatching = anonymous && progress.active ? watchFragments(api, (sent) => { progress.update(`${what}: ${sent} Sphinx ${sent === 1 ? 'packet' : 'packets'} out`) }) : () => {}
  let res
  try {
    res = await api.send(to, message, options)
  } finally {
    stopWatching()
    progress.done()
  }
  if (flags.json === true) {
    printJson(res)
    return 0
  }
  if (res.anonymous) {
    const where = res.status === 'delivered' ? 'delivered to the recipient' : 'stored at the recipient\'s gateway'
    const packets = `${res.fragments ?? 0} ${res.fragments === 1 ? 'packet' : 'packets'}, ${res.retransmissions ?? 0} resent`
    process.stdout.write(`sent anonymous message ${res.id} to ${res.to}: ${where} in ${Math.round(res.rttMs)} ms (${packets})\n`)
    return 0
  }
  if (res.path === 'queued') {
    process.stdout.write(`queued message ${res.id} for ${res.to} (offline) at ${res.servers?.length ?? 0} queue ${res.servers?.length === 1 ? 'server' : 'servers'} in ${Math.round(res.rttMs)} ms; delivered when it comes back (72 h)\n`)
    return 0
  }
  process.stdout.write(`sent message ${res.id} to ${res.to} (${res.path ?? 'direct'}), acknowledged in ${Math.round(res.rttMs)} ms\n`)
  return 0
}

/** `812 B`, `64.0 KiB`, `1.0 MiB`. */
export function formatBytes (bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}

/**
 * Polls the node's mixnet counters every {@link CLI_POLL_INTERVAL_MS} and
 * reports how many fragments (`fragmentsSent`, first tries) it sent since
 * the call: the progress of an anonymous send, as near as the API shows it
 * (other sends of the same node at the same time count too).
 * @returns a function that stops the polling
 */
function watchFragments (api: ApiClient, report: (sent: number) => void): () => void {
  const stop = new AbortController()
  const read = async (): Promise<number | undefined> => {
    const { counters } = await api.mixnet({ signal: stop.signal })
    return typeof counters.fragmentsSent === 'number' ? counters.fragmentsSent : undefined
  }
  void (async () => {
    const base = await read()
    while (base != null && !stop.signal.aborted) {
      await new Promise((resolve) => setTimeout(resolve, CLI_POLL_INTERVAL_MS).unref())
      const now = await read()
      if (now != null && !stop.signal.aborted) report(now - base)
    }
  })().catch(() => {})
  return () => { stop.abort() }
}

/** `umbra reply ID MESSAGE`: answers an anonymous message through one of its reply blocks. */
export async function runReply (id: string, message: string, flags: ClientCommandFlags): Promise<number> {
  const api = await clientFromFlags(flags)
  const res = await api.reply(id, message)
  if (flags.json === true) {
    printJson(res)
    return 0
  }
  process.stdout.write(`replied to anonymous message ${res.id} (${res.repliesLeft} ${res.repliesLeft === 1 ? 'reply' : 'replies'} left)\n`)
  return 0
}

/** One inbox line: time, who (or `(anonymous)`), and the body. */
function inboxLine (m: InboxMessage): string {
  const at = new Date(m.receivedAt).toISOString()
  switch (m.kind) {
    case 'anonymous':
      return `${at}  from (anonymous) to ${m.to}  id ${m.id}, ${m.repliesLeft} ${m.repliesLeft === 1 ? 'reply' : 'replies'} left  ${showBody(m.body, m.encoding)}`
    case 'reply':
      return `${at}  from (anonymous) reply to ${m.inReplyTo}  id ${m.id}  ${showBody(m.body, m.encoding)}`
    default:
      return `${at}  from ${m.from}  id ${m.id}  ${showBody(m.body, m.encoding)}`
  }
}

/**
 * `umbra inbox [--limit N] [--before CURSOR] [--wait S] [--delete ID] [--ack ID...]`:
 * one page of the durable inbox, newest first (issue 11); or deletes one
 * entry; or acknowledges entries (the app processed them: they are deleted).
 * With `--wait`, an empty inbox is polled every {@link CLI_POLL_INTERVAL_MS}
 * for up to S seconds (a progress line on a terminal).
 * @throws NotFoundError (exit 1, UMBRA_ERR_NOT_FOUND) when `--wait` passed with no message
 */
export async function runInbox (flags: ClientCommandFlags & { limit?: number, before?: string, wait?: number, delete?: string, ack?: string[] }): Promise<number> {
  const api = await clientFromFlags(flags)
  if (flags.delete != null) {
    const res = await api.deleteMessage(flags.delete)
    if (flags.json === true) printJson(res)
    else process.stdout.write(`deleted message ${res.id}\n`)
    return 0
  }
  if (flags.ack != null) {
    const res = await api.ackMessages(flags.ack)
    if (flags.json === true) printJson(res)
    else process.stdout.write(`acknowledged ${res.acked} ${res.acked === 1 ? 'message' : 'messages'}${res.unknown.length > 0 ? `; not in the inbox: ${res.unknown.join(', ')}` : ''}\n`)
    return 0
  }
  const query = { ...(flags.limit != null ? { limit: flags.limit } : {}), ...(flags.before != null ? { before: flags.before } : {}) }
  let page = await api.inbox(query)
  if (flags.wait != null && page.messages.length === 0) {
    const progress = createProgress({ delayMs: PROGRESS_DELAY_MS })
    progress.update(`waiting up to ${flags.wait} s for a message`)
    const deadline = performance.now() + flags.wait * 1000
    try {
      while (page.messages.length === 0 && performance.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, CLI_POLL_INTERVAL_MS))
        page = await api.inbox(query)
      }
    } finally {
      progress.done()
    }
    if (page.messages.length === 0) throw new NotFoundError(`no message arrived within ${flags.wait} s`)
  }
  if (flags.json === true) {
    printJson(page)
    return 0
  }
  if (page.messages.length === 0) {
    process.stdout.write('inbox is empty\n')
    return 0
  }
  const { messages } = page
  const lines = [`${messages.length} ${messages.length === 1 ? 'message' : 'messages'}, newest first`]
  for (const m of messages) lines.push(inboxLine(m))
  if (page.next != null) lines.push(`older messages: umbra inbox --before ${page.next}`)
  process.stdout.write(lines.join('\n') + '\n')
  return 0
}

/** `umbra pseudonym new [--label L] [--gateways N]`: creates a pseudonym and prints its key (the address to hand out). */
export async function runPseudonymNew (flags: ClientCommandFlags & { label?: string, gateways?: number }): Promise<number> {
  const api = await clientFromFlags(flags)
  const info = await api.createPseudonym({ ...(flags.label != null ? { label: flags.label } : {}), ...(flags.gateways != null ? { gateways: flags.gateways } : {}) })
  if (flags.json === true) {
    printJson(info)
    return 0
  }
  process.stdout.write(info.key + '\n')
  return 0
}

/** `umbra pseudonym purge <key> [--all]`: has the pseudonym's gateway delete its incomplete messages (or every row) and prints how many rows went. */
export async function runPseudonymPurge (key: string, flags: ClientCommandFlags & { all?: boolean }): Promise<number> {
  const api = await clientFromFlags(flags)
  const result = await api.purgePseudonymMailbox(key, { all: flags.all === true })
  if (flags.json === true) {
    printJson(result)
    return 0
  }
  process.stdout.write(`${result.deleted} ${result.deleted === 1 ? 'row' : 'rows'} deleted at the gateway\n`)
  return 0
}

function pseudonymLine (p: PseudonymInfo): string {
  const label = p.label == null ? '' : `  ${JSON.stringify(printable(p.label))}`
  const gateways = (p.gatewayStates ?? []).map((g) => `${g.peerId} ${g.state}`).join(', ') || p.gateways.join(', ') || '(none)'
  return `${p.key}  ${p.online ? 'online ' : 'offline'}  created ${new Date(p.createdAt).toISOString()}  gateways ${gateways}${label}`
}

/** `umbra pseudonym list`: the node's pseudonyms, oldest first. */
export async function runPseudonymList (flags: ClientCommandFlags): Promise<number> {
  const api = await clientFromFlags(flags)
  const { pseudonyms } = await api.pseudonyms()
  if (flags.json === true) {
    printJson({ pseudonyms })
    return 0
  }
  if (pseudonyms.length === 0) {
    process.stdout.write('no pseudonyms; create one with: umbra pseudonym new\n')
    return 0
  }
  process.stdout.write([`${pseudonyms.length} ${pseudonyms.length === 1 ? 'pseudonym' : 'pseudonyms'}`, ...pseudonyms.map(pseudonymLine)].join('\n') + '\n')
  return 0
}
