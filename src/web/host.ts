import { isIP } from 'node:net'
import { LOCALHOST_NAME } from './constants.ts'

/** Where the API listens, as the `Host` check needs it. */
export interface ListenTarget {
  /** The host the API was asked to bind, e.g. `127.0.0.1`, `::1`, `localhost` or a DNS name. */
  host: string
  /** The TCP port it is bound to (the real one when asked for port 0). */
  port: number
}

/**
 * Splits a `Host` header value into a lower-case host name (IPv6 without
 * brackets, no trailing dot) and its port.
 * @returns undefined when the value is not `name`, `name:port`, `[v6]` or `[v6]:port`
 */
export function parseHostHeader (value: string): { hostname: string, port: number | undefined } | undefined {
  let hostname: string
  let portText: string | undefined
  if (value.startsWith('[')) {
    const close = value.indexOf(']')
    if (close < 0) return undefined
    hostname = value.slice(1, close)
    const rest = value.slice(close + 1)
    if (rest !== '' && !rest.startsWith(':')) return undefined
    portText = rest === '' ? undefined : rest.slice(1)
    if (isIP(hostname) !== 6) return undefined
  } else {
    const colon = value.indexOf(':')
    if (colon !== value.lastIndexOf(':')) return undefined
    hostname = colon < 0 ? value : value.slice(0, colon)
    portText = colon < 0 ? undefined : value.slice(colon + 1)
  }
  hostname = hostname.toLowerCase().replace(/\.$/, '')
  if (hostname === '' || !/^[a-z0-9.\-:_]+$/.test(hostname)) return undefined
  if (portText === undefined) return { hostname, port: undefined }
  if (!/^[0-9]{1,5}$/.test(portText)) return undefined
  const port = Number(portText)
  return port <= 65535 ? { hostname, port } : undefined
}

/**
 * Whether a request's `Host` header may reach the API: the defence against
 * DNS rebinding (issue 12, item 2). A browser page of another site that
 * re-points its DNS name at this node still sends that name as `Host`; only
 * names that cannot be re-pointed from outside pass:
 * - the host the API was told to bind (`ApiServerInit.host`),
 * - `localhost` and `*.localhost` (RFC 6761 section 6.3: always loopback),
 * - an IPv4 or IPv6 literal (no DNS involved),
 * and the port, when given, must be the port the API listens on (without a
 * port only when that is 80). No `Host` at all (HTTP/1.0 tools) passes: every
 * browser sends one.
 * @param header - the `Host` header value, undefined when absent
 * @param target - where the API listens
 */
export function isAllowedHost (header: string | undefined, target: ListenTarget): boolean {
  if (header === undefined) return true
  const parsed = parseHostHeader(header)
  if (parsed === undefined) return false
  if (parsed.port !== undefined ? parsed.port !== target.port : target.port !== 80) return false
  const own = target.host.toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '')
  const { hostname } = parsed
  return hostname === own ||
    hostname === LOCALHOST_NAME ||
    hostname.endsWith(`.${LOCALHOST_NAME}`) ||
    isIP(hostname) !== 0
}
