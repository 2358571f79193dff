import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { API_TOKEN_BYTES, API_TOKEN_FILE, IDENTITY_FILE, IDENTITY_FILE_VERSION, UMBRA_HOME_ENV } from './constants.ts'
import { ensureDataDir as mkDataDir, writeFileSafely } from '../store/data-dir.ts'
import { IdentityFileError } from './errors.ts'
import { keyFileContent, readKeyFileText } from './keyfile.ts'
import { parseWalletKey } from './wallet.ts'
import type { PrivateKey } from '@libp2p/interface'

/**
 * The data directory to use: `dir` if given, else `$UMBRA_HOME`, else `~/.umbra`.
 * @returns an absolute path (not created)
 */
export function resolveDataDir (dir?: string): string {
  const chosen = dir ?? process.env[UMBRA_HOME_ENV] ?? join(homedir(), '.umbra')
  return resolve(chosen)
}

/**
 * Creates the data directory (mode 0700) if it does not exist.
 * @throws UMBRA_ERR_IDENTITY_FILE when it cannot be created
 */
export async function ensureDataDir (dataDir: string): Promise<void> {
  try {
    await mkDataDir(dataDir)
  } catch (err) {
    throw new IdentityFileError(`Cannot create the data directory ${dataDir}: ${(err as Error).message}`, { cause: err })
  }
}

/** Reads a file, `undefined` when it does not exist; other failures throw UMBRA_ERR_IDENTITY_FILE. */
async function readIfExists (path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new IdentityFileError(`Cannot read ${path}: ${(err as Error).message}`, { cause: err })
  }
}

/** The tail of each file's queue of load-or-create calls in this process, by absolute path. */
const fileQueues = new Map<string, Promise<unknown>>()

/**
 * Runs `fn` after every earlier call for the same `path` in this process has
 * settled: a per-file async mutex (issue 10), so concurrent first starts or
 * requests that create the same file do not race.
 * @returns what `fn` returns; its error is rethrown and does not block later calls
 */
export async function serialisePerFile<T> (path: string, fn: () => Promise<T>): Promise<T> {
  const key = resolve(path)
  const run = (fileQueues.get(key) ?? Promise.resolve()).then(fn, fn)
  const tail = run.then(() => {}, () => {})
  fileQueues.set(key, tail)
  try {
    return await run
  } finally {
    if (fileQueues.get(key) === tail) fileQueues.delete(key)
  }
}

/** Shape of `identity.key` (JSON, mode 0600). */
interface IdentityFile {
  version: number
  /** Ed25519 (created by Umbra) or secp256k1 (an imported wallet key, issue 14 item 3). */
  type: 'Ed25519' | 'secp256k1'
  /** libp2p protobuf-encoded private key, base64. */
  privateKey: string
  /** secp256k1 only: the wallet's addresses hash the uncompressed public key (imported from a WIF `5…`). @default false */
  uncompressed?: boolean
}

/** A loaded transport identity. */
export interface TransportIdentity {
  privateKey: PrivateKey
  /** Whether the key was created now. */
  created: boolean
  /** secp256k1 only: the address form of the imported wallet key (true unless imported from an uncompressed WIF). */
  compressed: boolean
}

/**
 * Loads the transport key from `<dataDir>/identity.key` (Ed25519, or an
 * imported secp256k1 wallet key: {@link importSecp256k1}), or creates a new
 * Ed25519 key there (file mode 0600, directory 0700) on first start.
 * Concurrent calls for one directory run one at a time and all get the same
 * key; when another process creates the file first, its key is used.
 * A malformed or truncated file is never overwritten: start-up stops with
 * a message that names the file.
 * @returns the key and whether it was created now
 * A file sealed under a passphrase (src/identity/keyfile.ts) is opened with
 * the one registered for `dataDir`; a new one is written sealed when one is.
 * @throws UMBRA_ERR_IDENTITY_FILE (unreadable, malformed or truncated file),
 *   UMBRA_ERR_BAD_PASSPHRASE, UMBRA_ERR_PASSPHRASE_REQUIRED (file unchanged)
 */
export async function loadOrCreateTransportKey (dataDir: string): Promise<TransportIdentity> {
  const path = join(dataDir, IDENTITY_FILE)
  return await serialisePerFile(path, async () => {
    const text = await readIfExists(path)
    if (text != null) {
      return { ...parseIdentityFile(path, await readKeyFileText(path, text)), created: false }
    }
    await ensureDataDir(dataDir)
    const privateKey = await generateKeyPair('Ed25519')
    const file: IdentityFile = {
      version: IDENTITY_FILE_VERSION,
      type: 'Ed25519',
      privateKey: Buffer.from(privateKeyToProtobuf(privateKey)).toString('base64')
    }
    if (await writeFileSafely(path, await keyFileContent(path, JSON.stringify(file) + '\n'), { replace: false })) return { privateKey, created: true, compressed: true }
    // Another process created it first: use that one.
    return { ...parseIdentityFile(path, await readKeyFileText(path, await readIfExists(path) ?? '')), created: false }
  })
}

/**
 * Imports a secp256k1 wallet key as the transport identity of `dataDir`
 * (issue 14, item 3; `umbra start --import-key FILE`): writes
 * `identity.key` (mode 0600; sealed when a passphrase is registered for the
 * directory) unless one exists. Importing the key the directory already
 * holds is a no-op, so the same command works on every start.
 * @param keyText - WIF (compressed or uncompressed) or 64 hex digits (src/identity/wallet.ts)
 * @returns the identity, `created` true when the file was written now
 * @throws UMBRA_ERR_INVALID_KEY (not a wallet key), UMBRA_ERR_IDENTITY_FILE (the
 *   directory holds another identity: it is never replaced), the codes of {@link loadOrCreateTransportKey}
 */
export async function importSecp256k1 (dataDir: string, keyText: string): Promise<TransportIdentity> {
  const wallet = parseWalletKey(keyText)
  const path = join(dataDir, IDENTITY_FILE)
  return await serialisePerFile(path, async () => {
    const text = await readIfExists(path)
    if (text != null) {
      const held = parseIdentityFile(path, await readKeyFileText(path, text))
      if (!held.privateKey.equals(wallet.privateKey)) {
        throw new IdentityFileError(`${path} holds another identity (${held.privateKey.type}); it is never replaced: move it away (or use another data directory) to import this key`)
      }
      return { ...held, created: false }
    }
    await ensureDataDir(dataDir)
    const file: IdentityFile = {
      version: IDENTITY_FILE_VERSION,
      type: 'secp256k1',
      privateKey: Buffer.from(privateKeyToProtobuf(wallet.privateKey)).toString('base64'),
      ...(wallet.compressed ? {} : { uncompressed: true })
    }
    if (!await writeFileSafely(path, await keyFileContent(path, JSON.stringify(file) + '\n'), { replace: false })) {
      throw new IdentityFileError(`${path} was created by another process while importing; try again`)
    }
    return { privateKey: wallet.privateKey, created: true, compressed: wallet.compressed }
  })
}

function parseIdentityFile (path: string, text: string): { privateKey: PrivateKey, compressed: boolean } {
  const fix = `move it away to create a new identity, or restore it from a backup (it was not changed)`
  let parsed: Partial<IdentityFile>
  try {
    parsed = JSON.parse(text) as Partial<IdentityFile>
  } catch {
    throw new IdentityFileError(`The identity file ${path} is not valid JSON (truncated?): ${fix}`)
  }
  if (parsed == null || typeof parsed !== 'object' || parsed.version !== IDENTITY_FILE_VERSION || (parsed.type !== 'Ed25519' && parsed.type !== 'secp256k1') ||
    typeof parsed.privateKey !== 'string' || (parsed.uncompressed != null && typeof parsed.uncompressed !== 'boolean')) {
    throw new IdentityFileError(`The identity file ${path} is not an Umbra v${IDENTITY_FILE_VERSION} Ed25519 or secp256k1 identity: ${fix}`)
  }
  try {
    const key = privateKeyFromProtobuf(Buffer.from(parsed.privateKey, 'base64'))
    if (key.type !== parsed.type) throw new Error(`key type ${key.type}, file says ${parsed.type}`)
    return { privateKey: key, compressed: parsed.uncompressed !== true }
  } catch (err) {
    throw new IdentityFileError(`The identity file ${path} holds a damaged key: ${fix}`, { cause: err })
  }
}

/**
 * Loads the HTTP API bearer token from `<dataDir>/api-token`, or creates one
 * (256 random bits, base64url, file mode 0600) on first start. Concurrent
 * calls for one directory run one at a time and all get the same token.
 * @returns the token, 43 characters
 * @throws UMBRA_ERR_IDENTITY_FILE (unreadable or empty file; never overwritten)
 */
export async function loadOrCreateApiToken (dataDir: string): Promise<string> {
  const path = join(dataDir, API_TOKEN_FILE)
  const parse = (text: string): string => {
    const token = text.trim()
    if (!/^[A-Za-z0-9_-]{16,}$/.test(token)) {
      throw new IdentityFileError(`The API token file ${path} is empty or malformed: delete it to create a new token`)
    }
    return token
  }
  return await serialisePerFile(path, async () => {
    const text = await readIfExists(path)
    if (text != null) return parse(text)
    await ensureDataDir(dataDir)
    const token = randomBytes(API_TOKEN_BYTES).toString('base64url')
    if (await writeFileSafely(path, token + '\n', { replace: false })) return token
    // Another process created it first: use that one.
    return parse(await readIfExists(path) ?? '')
  })
}
