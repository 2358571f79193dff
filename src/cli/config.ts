import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { resolveDataDir } from '../identity/index.ts'
import { ApiClient } from './api-client.ts'
import { API_TOKEN_FILE } from '../identity/constants.ts'
import { API_INFO_FILE, DEFAULT_API_URL, ENV_API_TOKEN, ENV_API_URL } from './constants.ts'
import { writeFileSafely } from '../store/data-dir.ts'

/** What a running node writes to `<dataDir>/api.json` so client commands find it. */
export interface ApiInfo {
  /** Base URL of the node's HTTP API. */
  url: string
  /** Process id of the node. */
  pid: number
}

/** Flags every client command shares. */
export interface ClientFlags {
  api?: string
  token?: string
  dataDir?: string
}

/**
 * Reads `<dataDir>/api.json`.
 * @returns the file's content, or `undefined` when it is missing or malformed
 */
export async function readApiInfo (dataDir: string): Promise<ApiInfo | undefined> {
  let text: string
  try {
    text = await readFile(join(dataDir, API_INFO_FILE), 'utf8')
  } catch {
    return undefined
  }
  try {
    const info = JSON.parse(text) as Partial<ApiInfo>
    if (typeof info.url !== 'string' || typeof info.pid !== 'number') return undefined
    return { url: info.url, pid: info.pid }
  } catch {
    return undefined
  }
}

/** Writes `<dataDir>/api.json` (mode 0600) atomically (src/store/data-dir.ts `writeFileSafely`). */
export async function writeApiInfo (dataDir: string, info: ApiInfo): Promise<void> {
  await writeFileSafely(join(dataDir, API_INFO_FILE), JSON.stringify(info) + '\n')
}

/** Removes `<dataDir>/api.json` when it still names process `pid`. */
export async function removeApiInfo (dataDir: string, pid: number): Promise<void> {
  const info = await readApiInfo(dataDir)
  if (info != null && info.pid !== pid) return
  await rm(join(dataDir, API_INFO_FILE), { force: true })
}

/** Reads `<dataDir>/api-token`, or `undefined` when there is none. */
export async function readApiToken (dataDir: string): Promise<string | undefined> {
  try {
    const token = (await readFile(join(dataDir, API_TOKEN_FILE), 'utf8')).trim()
    return token === '' ? undefined : token
  } catch {
    return undefined
  }
}

/**
 * The API client of a client command. URL: `--api`, else `$UMBRA_API_URL`,
 * else `<dataDir>/api.json`, else http://127.0.0.1:7450. Token: `--token`,
 * else `$UMBRA_API_TOKEN`, else `<dataDir>/api-token`. The data directory is
 * `--data-dir`, else `$UMBRA_HOME`, else `~/.umbra`.
 */
export async function clientFromFlags (flags: ClientFlags): Promise<ApiClient> {
  const dataDir = resolveDataDir(flags.dataDir)
  const envUrl = nonEmpty(process.env[ENV_API_URL])
  const url = flags.api ?? envUrl ?? (await readApiInfo(dataDir))?.url ?? DEFAULT_API_URL
  const token = flags.token ?? nonEmpty(process.env[ENV_API_TOKEN]) ?? await readApiToken(dataDir)
  return new ApiClient({ url, token })
}

function nonEmpty (value: string | undefined): string | undefined {
  return value == null || value === '' ? undefined : value
}
