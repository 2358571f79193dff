/**
 * `umbra advertise` and `umbra discover` (service discovery, issue 9 item 4;
 * docs/discovery.md): client commands against a running node's
 * `/v1/discovery/{namespace}` routes.
 */
import { clientFromFlags } from '../config.ts'
import { printable, type ClientCommandFlags } from './client.ts'
import type { RouteResponse } from '../../api/contract.ts'

/** `POST /v1/discovery/{namespace}`: the contract's type (src/api/contract.ts). */
type AdvertiseResponse = RouteResponse<'discoveryAdvertise'>

/** `GET /v1/discovery/{namespace}`: the contract's type. */
type FindResponse = RouteResponse<'discoveryFind'>

/**
 * `umbra advertise NAMESPACE [--pseudonym key_…] [--stop]`: advertise this
 * node (or one of its pseudonyms) under a namespace, or stop.
 * @throws ApiResponseError (exit 1) on a refusal (UMBRA_ERR_INVALID_NAMESPACE, UMBRA_ERR_INVALID_OPTION …)
 */
export async function runAdvertise (namespace: string, flags: ClientCommandFlags & { pseudonym?: string, stop?: boolean }): Promise<number> {
  const api = await clientFromFlags(flags)
  const path = `/v1/discovery/${encodeURIComponent(namespace)}`
  if (flags.stop === true) {
    const query = flags.pseudonym != null ? `?pseudonym=${encodeURIComponent(flags.pseudonym)}` : ''
    const res = await api.request<RouteResponse<'discoveryUnadvertise'>>('DELETE', path + query)
    if (flags.json === true) process.stdout.write(JSON.stringify(res) + '\n')
    else process.stdout.write(`no longer advertised under ${printable(namespace)}\n`)
    return 0
  }
  const res = await api.request<AdvertiseResponse>('POST', path, flags.pseudonym != null ? { pseudonym: flags.pseudonym } : {})
  if (flags.json === true) process.stdout.write(JSON.stringify(res) + '\n')
  else process.stdout.write(`advertised ${res.advertiser} under ${printable(namespace)}${res.anonymous ? ' (anonymous)' : ''}, stored on ${res.storedOn} nodes\n`)
  return 0
}

/**
 * `umbra discover NAMESPACE [--anonymous] [--limit n]`: who advertises a
 * namespace, one per line (PeerId and addresses, or pseudonyms).
 * @returns 0, or 1 when nobody was found
 */
export async function runDiscover (namespace: string, flags: ClientCommandFlags & { anonymous?: boolean, limit?: number }): Promise<number> {
  const api = await clientFromFlags(flags)
  const query = new URLSearchParams()
  if (flags.anonymous === true) query.set('anonymous', 'true')
  if (flags.limit != null) query.set('limit', String(flags.limit))
  const qs = query.size > 0 ? `?${query.toString()}` : ''
  const res = await api.request<FindResponse>('GET', `/v1/discovery/${encodeURIComponent(namespace)}${qs}`)
  const count = (res.peers ?? res.pseudonyms ?? []).length
  if (flags.json === true) {
    process.stdout.write(JSON.stringify(res) + '\n')
  } else if (res.anonymous) {
    for (const p of res.pseudonyms ?? []) process.stdout.write(`${p.pseudonym}\n`)
  } else {
    for (const p of res.peers ?? []) process.stdout.write(`${p.peerId} ${p.addrs.join(' ')}\n`.replace(/ \n$/, '\n'))
  }
  if (count === 0 && flags.json !== true) process.stderr.write(`umbra: nobody advertises ${printable(namespace)}\n`)
  return count === 0 ? 1 : 0
}
