/**
 * `umbra auth challenge|respond|verify|prove`: challenge-response through the
 * node's HTTP API (src/auth, docs/auth.md; issue 14, item 1). Challenges and
 * responses are printed as one line of JSON so they can be passed on as an
 * argument, or with `@FILE` from a file (`@-`: stdin).
 */
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { InvalidOptionError } from '../../errors.ts'
import { clientFromFlags } from '../config.ts'
import type { ClientCommandFlags } from './client.ts'

/** Flags of the `umbra auth` commands. */
export interface AuthFlags extends ClientCommandFlags {
  purpose?: string
  /** ms */
  ttl?: number
  key?: string
}

/**
 * A JSON argument: the JSON itself, `@FILE`, or `@-` for stdin.
 * @throws UMBRA_ERR_INVALID_OPTION (unreadable file, not a JSON object)
 */
async function jsonArg<T> (value: string, what: string): Promise<T> {
  let text = value
  try {
    if (value === '@-') text = readFileSync(0, 'utf8')
    else if (value.startsWith('@')) text = await readFile(value.slice(1), 'utf8')
  } catch (err) {
    throw new InvalidOptionError(`cannot read the ${what} from ${value.slice(1)}: ${(err as Error).message}`)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new InvalidOptionError(`the ${what} is not JSON (give the line "umbra auth" printed, or @FILE)`)
  }
  if (parsed == null || typeof parsed !== 'object') throw new InvalidOptionError(`the ${what} is a JSON object`)
  // `umbra auth challenge --json` prints {challenge}; accept both that and the bare object.
  const inner = (parsed as Record<string, unknown>)[what]
  return (inner != null && typeof inner === 'object' ? inner : parsed) as T
}

/** `umbra auth challenge --purpose P [--ttl MS]`: prints the challenge (one JSON line). */
export async function runAuthChallenge (flags: AuthFlags): Promise<number> {
  if (flags.purpose == null) throw new InvalidOptionError('give --purpose')
  const api = await clientFromFlags(flags)
  const { challenge } = await api.authChallenge(flags.purpose, flags.ttl != null ? { ttlMs: flags.ttl } : {})
  process.stdout.write(JSON.stringify(challenge) + '\n')
  return 0
}

/** `umbra auth respond CHALLENGE [--key K]`: prints the response (one JSON line). */
export async function runAuthRespond (challengeArg: string, flags: AuthFlags): Promise<number> {
  const api = await clientFromFlags(flags)
  const { response } = await api.authRespond(await jsonArg(challengeArg, 'challenge'), flags.key)
  process.stdout.write(JSON.stringify(response) + '\n')
  return 0
}

/** `umbra auth verify CHALLENGE RESPONSE [--purpose P] [--key K]`: `valid key_…` and exit 0, or the refusal's code and exit 1. */
export async function runAuthVerify (challengeArg: string, responseArg: string, flags: AuthFlags): Promise<number> {
  const api = await clientFromFlags(flags)
  const res = await api.authVerify(await jsonArg(challengeArg, 'challenge'), await jsonArg(responseArg, 'response'), {
    ...(flags.purpose != null ? { purpose: flags.purpose } : {}),
    ...(flags.key != null ? { key: flags.key } : {})
  })
  process.stdout.write(flags.json === true ? JSON.stringify(res) + '\n' : `valid ${res.key} (${res.purpose})\n`)
  return 0
}

/** `umbra auth prove PEER --purpose P`: the node asks PEER to prove its node key over /umbra/auth/1.0.0. */
export async function runAuthProve (peer: string, flags: AuthFlags): Promise<number> {
  if (flags.purpose == null) throw new InvalidOptionError('give --purpose')
  const api = await clientFromFlags(flags)
  const res = await api.authProve(peer, flags.purpose)
  process.stdout.write(flags.json === true ? JSON.stringify(res) + '\n' : `valid ${res.key} (${res.purpose})\n`)
  return 0
}
