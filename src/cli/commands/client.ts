import type { ClientFlags } from '../config.ts'
import { clientFromFlags } from '../config.ts'
import { NotFoundError } from '../errors.ts'
import type { BodyEncoding } from '../api-client.ts'

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

/** `umbra id`: the node's PeerId, key, role, addresses and peer count. */
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
    `api     ${api.url}`
  ]
  process.stdout.write(lines.join('\n') + '\n')
  return 0
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

/** `umbra send TO MESSAGE`: a direct end-to-end encrypted message, acknowledged by the recipient. */
export async function runSend (to: string, message: string, flags: ClientCommandFlags): Promise<number> {
  const api = await clientFromFlags(flags)
  const res = await api.send(to, message)
  if (flags.json === true) {
    printJson(res)
    return 0
  }
  process.stdout.write(`sent message ${res.id} to ${res.to}, acknowledged in ${Math.round(res.rttMs)} ms\n`)
  return 0
}

/** `umbra inbox`: messages received since the node started, oldest first. */
export async function runInbox (flags: ClientCommandFlags): Promise<number> {
  const api = await clientFromFlags(flags)
  const { messages } = await api.inbox()
  if (flags.json === true) {
    printJson({ messages })
    return 0
  }
  if (messages.length === 0) {
    process.stdout.write('inbox is empty\n')
    return 0
  }
  const lines = [`${messages.length} ${messages.length === 1 ? 'message' : 'messages'}`]
  for (const m of messages) {
    lines.push(`${new Date(m.receivedAt).toISOString()}  from ${m.from}  ${showBody(m.body, m.encoding)}`)
  }
  process.stdout.write(lines.join('\n') + '\n')
  return 0
}
