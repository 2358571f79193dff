import { isIP } from 'node:net'
import { InvalidArgumentError } from 'commander'
import { multiaddr } from '@multiformats/multiaddr'

/** A `HOST:PORT` pair as given to `umbra start --api`. */
export interface HostPort {
  host: string
  port: number
}

/**
 * Parses `HOST:PORT` (`127.0.0.1:7450`, `localhost:0`, `[::1]:7450`).
 * @throws InvalidArgumentError, which commander prints as one line (exit 2)
 */
export function parseHostPort (value: string): HostPort {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(value)
  const port = match == null ? NaN : Number(match[3])
  if (match == null || port > 65_535) {
    throw new InvalidArgumentError('Expected HOST:PORT with a port from 0 to 65535, e.g. 127.0.0.1:7450 (port 0 picks a free port).')
  }
  return { host: match[1] ?? match[2] ?? '', port }
}

/** Parses an http(s) URL given to a client command's `--api`. */
export function parseApiUrl (value: string): string {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new InvalidArgumentError('Expected the URL of a node API, e.g. http://127.0.0.1:7450.')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidArgumentError('Expected an http:// or https:// URL, e.g. http://127.0.0.1:7450.')
  }
  return value
}

/** Parses a ws:// or wss:// URL (`umbra start --pubsub-central`). @throws InvalidArgumentError */
export function parseWsUrl (value: string): string {
  const url = URL.canParse(value) ? new URL(value) : undefined
  if (url == null || (url.protocol !== 'ws:' && url.protocol !== 'wss:')) throw new InvalidArgumentError('Expected a ws:// or wss:// URL, e.g. ws://127.0.0.1:7460 (umbra central).')
  return value
}

/**
 * Parses the global `--api`: an http(s) URL (`http://127.0.0.1:7450`) or
 * `HOST:PORT` (`127.0.0.1:7450`, `[::1]:0`), the form `umbra start` takes.
 * @returns the address as a URL, `http://HOST:PORT` for the second form
 * @throws InvalidArgumentError, which commander prints as one line (exit 2)
 */
export function parseApiAddress (value: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return parseApiUrl(value)
  let hostPort: HostPort
  try {
    hostPort = parseHostPort(value)
  } catch {
    throw new InvalidArgumentError('Expected HOST:PORT (127.0.0.1:7450; port 0 picks a free port for start) or the URL of a node API (http://127.0.0.1:7450).')
  }
  return `http://${hostPort.host.includes(':') ? `[${hostPort.host}]` : hostPort.host}:${hostPort.port}`
}

/**
 * Where `umbra start` serves its API: the host and port of the global
 * `--api` (as parsed by {@link parseApiAddress}), else `fallback`. A URL
 * without a port means its scheme's default port (80, 443).
 */
export function apiListenAddress (api: string | undefined, fallback: HostPort): HostPort {
  if (api == null) return fallback
  const url = new URL(api)
  const port = url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port }
}

/** Parses a multiaddr; collects repeated values into an array (for variadic options). */
export function multiaddrCollector (requirePeerId: boolean): (value: string, previous: string[] | undefined) => string[] {
  return (value, previous) => {
    let components
    try {
      components = multiaddr(value).getComponents()
    } catch (err) {
      throw new InvalidArgumentError(`Not a multiaddr: ${(err as Error).message}; expected e.g. /ip4/127.0.0.1/tcp/4001${requirePeerId ? '/p2p/12D3KooW…' : ''}.`)
    }
    if (requirePeerId && !components.some((c) => c.name === 'p2p')) {
      throw new InvalidArgumentError('A bootstrap multiaddr must end with /p2p/<PeerId>, e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW….')
    }
    return [...(previous ?? []), value]
  }
}

/** Returns a parser of an integer between `min` and `max`. */
export function integerIn (min: number, max: number): (value: string) => number {
  return (value) => {
    const n = /^\d+$/.test(value) ? Number(value) : NaN
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`Expected a whole number from ${min} to ${max}.`)
    }
    return n
  }
}

/** `--stun-port`: `off` (no STUN server), else a UDP port from 0 to 65535 (0 picks a free port). */
export function parseStunPort (value: string): number | false {
  return parsePortOrOff(value, 'UDP')
}

/** Parses `--mix-link-port`: a TCP port 0 to 65535 (0 picks a free one), or `off` (false: no packet links). */
export function parseLinkPort (value: string): number | false {
  return parsePortOrOff(value, 'TCP')
}

/** A port 0 to 65535, or `off` (false). @throws InvalidArgumentError naming the protocol */
function parsePortOrOff (value: string, protocol: 'UDP' | 'TCP'): number | false {
  if (value === 'off') return false
  const n = /^\d{1,5}$/.test(value) ? Number(value) : NaN
  if (!Number.isSafeInteger(n) || n > 65_535) {
    throw new InvalidArgumentError(`Expected a ${protocol} port from 0 to 65535 (0 picks a free port), or "off".`)
  }
  return n
}

/** Parses `HOST:PORT` of a STUN server (port 1 to 65535); collects repeated values into an array, as given. */
export function stunServerCollector (value: string, previous: string[] | undefined): string[] {
  let parsed: HostPort | undefined
  try {
    parsed = parseHostPort(value)
  } catch {
    parsed = undefined
  }
  if (parsed == null || parsed.port === 0) {
    throw new InvalidArgumentError('Expected a STUN server as HOST:PORT with a port from 1 to 65535, e.g. 203.0.113.7:3478.')
  }
  return [...(previous ?? []), value]
}

/** `--stun-host`: an IPv4 or IPv6 address (`::` for every interface of both families); collects repeated values into an array. */
export function ipCollector (value: string, previous: string[] | undefined): string[] {
  if (isIP(value) === 0) throw new InvalidArgumentError('Expected an IP address such as 203.0.113.7, 2001:db8::7, 0.0.0.0 or ::.')
  return [...(previous ?? []), value]
}

/** Parses a bootstrap endpoint URL (`--bootstrap-url`); collects repeated values. */
export function bootstrapUrlCollector (value: string, previous: string[] | undefined): string[] {
  parseApiUrl(value)
  return [...(previous ?? []), value]
}
