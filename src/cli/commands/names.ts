/**
 * `umbra name register|resolve|list` and `umbra --query NAME` (seed 003's
 * CLI `--query <domain>`): names through the node's HTTP API (src/names,
 * docs/names.md).
 */
import { InvalidOptionError } from '../../errors.ts'
import { clientFromFlags } from '../config.ts'
import type { NameRecordEntry, NameResolutionResponse } from '../api-client.ts'
import type { ClientCommandFlags } from './client.ts'

/** Flags of `umbra name register`. */
export interface NameRegisterFlags extends ClientCommandFlags {
  peer?: string[]
  pseudonym?: string[]
  multiaddr?: string[]
  text?: string[]
  /** seconds */
  ttl?: number
  /** seconds */
  cacheTtl?: number
  renew?: boolean
}

function recordLines (records: NameRecordEntry[]): string[] {
  return records.map((r) => `  ${r.type.padEnd(10)} ${r.value}`)
}

/**
 * `umbra name register NAME --peer P --pseudonym K --multiaddr M --text T [--ttl S]`.
 * @throws InvalidOptionError when no record is given; ApiResponseError (409 UMBRA_ERR_KEY_OWNED)
 */
export async function runNameRegister (name: string, flags: NameRegisterFlags): Promise<number> {
  const records: NameRecordEntry[] = [
    ...(flags.peer ?? []).map((value) => ({ type: 'peer' as const, value })),
    ...(flags.pseudonym ?? []).map((value) => ({ type: 'pseudonym' as const, value })),
    ...(flags.multiaddr ?? []).map((value) => ({ type: 'multiaddr' as const, value })),
    ...(flags.text ?? []).map((value) => ({ type: 'text' as const, value }))
  ]
  if (records.length === 0) throw new InvalidOptionError('give at least one record: --peer, --pseudonym, --multiaddr or --text')
  const api = await clientFromFlags(flags)
  const res = await api.registerName(name, records, {
    ...(flags.ttl != null ? { ttl: flags.ttl } : {}),
    ...(flags.cacheTtl != null ? { cacheTtl: flags.cacheTtl } : {}),
    ...(flags.renew === false ? { renew: false } : {})
  })
  if (flags.json === true) {
    process.stdout.write(JSON.stringify(res, null, 2) + '\n')
    return 0
  }
  process.stdout.write([`registered ${res.name} (${res.kind}) until ${new Date(res.expiresAt).toISOString()}${res.renew ? ', renewed before it expires' : ''}; stored on ${res.storedOn ?? 0} nodes`, ...recordLines(res.records)].join('\n') + '\n')
  return 0
}

function printResolution (res: NameResolutionResponse, json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify(res, null, 2) + '\n')
    return
  }
  process.stdout.write([`${res.name} (${res.kind}, owner ${res.owner}, until ${new Date(res.expiresAt).toISOString()}, ${res.source})`, ...recordLines(res.records)].join('\n') + '\n')
}

/** `umbra name resolve NAME` and `umbra --query NAME`. @throws ApiResponseError (exit 1, 404 UMBRA_ERR_NAME_NOT_FOUND) */
export async function runNameResolve (name: string, flags: ClientCommandFlags & { fresh?: boolean }): Promise<number> {
  const api = await clientFromFlags(flags)
  printResolution(await api.resolveName(name, { fresh: flags.fresh === true }), flags.json === true)
  return 0
}

/** `umbra name list`: the names the node owns. */
export async function runNameList (flags: ClientCommandFlags): Promise<number> {
  const api = await clientFromFlags(flags)
  const res = await api.names()
  if (flags.json === true) {
    process.stdout.write(JSON.stringify(res, null, 2) + '\n')
    return 0
  }
  const lines = res.names.flatMap((n) => [`${n.name} (${n.kind}) until ${new Date(n.expiresAt).toISOString()}${n.renew ? ', renewed' : ''}`, ...recordLines(n.records)])
  process.stdout.write(lines.length === 0 ? 'no names\n' : lines.join('\n') + '\n')
  return 0
}
