/**
 * NAT mapping classification (issue 17, item 1): does this node's NAT map
 * one UDP socket to the same public port whatever the destination
 * (endpoint-independent mapping, `consistent`: a cone NAT, or no NAT at all)
 * or to a new port per destination (`random`: `MASQUERADE --random-fully`, a
 * symmetric NAT)?
 *
 * From ONE socket the node asks several STUN endpoints (every STUN server it
 * knows, each on its port and on the second port server nodes answer on,
 * {@link STUN_SECOND_PORT_OFFSET}) for its mapped address, and compares. The
 * rules follow hyperdht's `lib/nat.js` (holepunchto/hyperdht, `Nat#_updateFirewall`),
 * adapted to the few endpoints of a small Umbra network: two agreeing
 * samples from two endpoints are enough for `consistent`.
 */
import { createSocket } from 'node:dgram'
import { isIP } from 'node:net'
import { stunBinding } from './stun-client.ts'
import type { StunAddress } from './stun.ts'

/** A server node answers STUN on its STUN port and on this port plus this offset (issue 17 item 1). */
export const STUN_SECOND_PORT_OFFSET = 1
/** Time allowed for one endpoint's Binding transaction during classification, ms (3 transmissions at 250, 500 ms RTO). */
const SAMPLE_TIMEOUT_MS = 2_000
/** Initial retransmission timeout of a classification transaction, ms (RFC 5389 §7.2.1 allows a smaller RTO on a known path). */
const SAMPLE_RTO_MS = 250
/**
 * Most STUN hosts one classification learns from OTHER-ADDRESS answers,
 * besides those it was given: it bounds where a server can aim a client's
 * requests (two ports each, one request round each).
 */
export const MAX_LEARNED_STUN_HOSTS = 2

/** How the NAT maps one socket's packets to different destinations: see the module comment. */
export type MappingBehaviour = 'consistent' | 'random' | 'unknown'

/** One STUN answer: which endpoint was asked (`host:port`) and the mapped address it saw (`host:port`). */
export interface MappingSample {
  server: string
  mapped: string
}

/** The verdict and the samples it rests on (`GET /v1/node`, `nat.mapping` and `nat.samples`). */
export interface MappingReport {
  mapping: MappingBehaviour
  samples: MappingSample[]
}

/**
 * The STUN endpoints to sample for `stunServers` (`host:port`): each on its
 * port and on the port {@link STUN_SECOND_PORT_OFFSET} above it, de-duplicated.
 */
export function mappingEndpoints (stunServers: readonly string[]): Array<{ host: string, port: number }> {
  const out = new Map<string, { host: string, port: number }>()
  for (const s of stunServers) {
    const i = s.lastIndexOf(':')
    const host = s.slice(0, i).replace(/^\[|\]$/g, '')
    const port = Number(s.slice(i + 1))
    if (isIP(host) !== 4 || !Number.isInteger(port) || port < 1 || port + STUN_SECOND_PORT_OFFSET > 0xffff) continue
    for (const p of [port, port + STUN_SECOND_PORT_OFFSET]) out.set(`${host}:${p}`, { host, port: p })
  }
  return [...out.values()]
}

/**
 * The OTHER-ADDRESS (RFC 5780 §7.4: the alternate IP and port) a server
 * node's STUN socket at `local` names, when the node binds two or more
 * IPv4 addresses: the next of `hosts`, on the other of its two ports
 * (`basePort` and `basePort + STUN_SECOND_PORT_OFFSET`). A wildcard bind
 * cannot tell which address a request reached, so it names none.
 * @param hosts - the IPs the STUN server binds
 * @param basePort - its STUN port (the second is one above)
 * @returns the function {@link createStunServer}'s `otherAddress` takes
 */
export function otherStunAddress (hosts: readonly string[], basePort: number): (local: { address: string, port: number }) => StunAddress | undefined {
  const ips = [...new Set(hosts)].filter((h) => isIP(h) === 4 && h !== '0.0.0.0')
  return (local) => {
    const i = ips.indexOf(local.address)
    const next = ips[(i + 1) % ips.length]
    if (ips.length < 2 || i < 0 || next == null) return undefined
    return { address: next, port: local.port === basePort ? basePort + STUN_SECOND_PORT_OFFSET : basePort, family: 'IPv4' }
  }
}

/**
 * Classifies samples taken from one socket (hyperdht `lib/nat.js` rules):
 * - fewer than 2 samples: `unknown`;
 * - the most frequent mapped address seen 3 times or more, or by every sample: `consistent`;
 * - every sample a different mapped address: `random`;
 * - otherwise (seen twice among more samples): `consistent` when a second
 *   mapped IP is also seen twice (a multi-homed NAT), `random` when all share
 *   one IP and more than 3 samples disagree, else `unknown`.
 */
export function classifyMapping (samples: readonly MappingSample[]): MappingBehaviour {
  if (samples.length < 2) return 'unknown'
  const hits = new Map<string, number>()
  const hosts = new Map<string, number>()
  for (const s of samples) {
    hits.set(s.mapped, (hits.get(s.mapped) ?? 0) + 1)
    const host = s.mapped.slice(0, s.mapped.lastIndexOf(':'))
    hosts.set(host, (hosts.get(host) ?? 0) + 1)
  }
  const ranked = [...hits.values()].sort((a, b) => b - a)
  const max = ranked[0] ?? 0
  if (max >= 3 || max === samples.length) return 'consistent'
  if (max === 1) return 'random'
  if (hosts.size > 1 && (ranked[1] ?? 0) > 1) return 'consistent'
  if (hosts.size === 1 && samples.length > 3) return 'random'
  return 'unknown'
}

/**
 * Asks every endpoint for the mapped address of ONE fresh UDP socket
 * (bound to `0.0.0.0`, any port) and classifies the answers. Endpoints that
 * do not answer within 2 s are left out of the samples. An answer naming
 * the server's other address (OTHER-ADDRESS) adds that IP, on the port
 * asked and the port named, to the endpoints (at most
 * {@link MAX_LEARNED_STUN_HOSTS} IPs learnt so), so a client told one
 * address of a two-address server samples both.
 * When exactly two samples disagree (`random` on the least evidence), the
 * sampling runs once more from another fresh socket and a `consistent`
 * answer there wins (a cone NAT's port clash with an older flow).
 * @param endpoints - STUN endpoints, IPv4 (see {@link mappingEndpoints})
 * @returns the verdict and its samples; `unknown` with no samples when nothing answered
 */
export async function sampleMapping (endpoints: ReadonlyArray<{ host: string, port: number }>, signal?: AbortSignal): Promise<MappingReport> {
  if (endpoints.length === 0) return { mapping: 'unknown', samples: [] }
  const first = await sampleOnce(endpoints, signal)
  if (first.mapping !== 'random' || first.samples.length > 2) return first
  // Two samples that disagree are weak evidence: a cone NAT gives one destination another port when the port it
  // would keep is taken for that destination by an older flow (a conntrack clash, seen once in the lab under load).
  // A fresh socket (another local port) decides: `consistent` there wins; otherwise the first verdict stands.
  const second = await sampleOnce(endpoints, signal)
  return second.mapping === 'consistent' ? second : first
}

/** One classification from one fresh socket (see {@link sampleMapping}). */
async function sampleOnce (endpoints: ReadonlyArray<{ host: string, port: number }>, signal?: AbortSignal): Promise<MappingReport> {
  const socket = createSocket('udp4')
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.bind(0, '0.0.0.0', () => { socket.off('error', reject); resolve() })
    })
    socket.on('error', () => {})
    // One at a time: each transaction opens its own mapping on the NAT from the same socket.
    const samples: MappingSample[] = []
    const queue = [...endpoints]
    const queued = new Set(queue.map((ep) => `${ep.host}:${ep.port}`))
    const hosts = new Set(queue.map((ep) => ep.host))
    let learned = 0
    for (let i = 0; i < queue.length; i++) {
      const ep = queue[i] as { host: string, port: number }
      try {
        const got = await stunBinding(ep, { socket, signal, timeout: SAMPLE_TIMEOUT_MS, rto: SAMPLE_RTO_MS, maxTransmissions: 3 })
        samples.push({ server: `${ep.host}:${ep.port}`, mapped: `${got.address}:${got.port}` })
        const other = got.other
        if (other?.family === 'IPv4' && !hosts.has(other.address) && learned < MAX_LEARNED_STUN_HOSTS) {
          hosts.add(other.address)
          learned++
          for (const port of [ep.port, other.port]) {
            if (port < 1 || queued.has(`${other.address}:${port}`)) continue
            queued.add(`${other.address}:${port}`)
            queue.push({ host: other.address, port })
          }
        }
      } catch {
        // An endpoint that does not answer (an older server without the second port) is no sample.
      }
    }
    return { mapping: classifyMapping(samples), samples }
  } finally {
    socket.close()
  }
}
