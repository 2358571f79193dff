/**
 * Passphrases of the key files (issue 14, item 4; docs/auth.md "Encrypted
 * key files"): where `umbra start` and `umbra passphrase set|change|remove`
 * read them, and the `umbra passphrase` commands, which work on a stopped
 * node's data directory (they take its lock: UMBRA_ERR_ALREADY_RUNNING while
 * a node runs on it).
 */
import { readFile } from 'node:fs/promises'
import { createInterface } from 'node:readline/promises'
import { Writable } from 'node:stream'
import { join } from 'node:path'
import { InvalidOptionError } from '../../errors.ts'
import { isSealed, rekeyDataDir, resolveDataDir } from '../../identity/index.ts'
import { DATA_DIR_FILES, lockDataDir } from '../../store/data-dir.ts'

/** Environment variable holding the (current) passphrase. */
export const ENV_PASSPHRASE = 'UMBRA_PASSPHRASE'
/** Environment variable holding the new passphrase of `umbra passphrase set|change`. */
export const ENV_NEW_PASSPHRASE = 'UMBRA_NEW_PASSPHRASE'

/** Where one passphrase may come from, in this order: a file, an environment variable, a terminal prompt. */
export interface PassphraseSource {
  file?: string | undefined
  env: string
  /** The prompt shown on a terminal; left out: no prompt. */
  prompt?: string
}

/**
 * Reads a passphrase from `--…-passphrase-file` (one trailing newline
 * dropped), else the environment variable, else a prompt without echo when
 * stdin is a terminal.
 * @returns the passphrase, or `undefined` when no source has one
 * @throws UMBRA_ERR_INVALID_OPTION (unreadable or empty file, empty answer)
 */
export async function readPassphrase (source: PassphraseSource): Promise<string | undefined> {
  if (source.file != null) {
    let text: string
    try {
      text = await readFile(source.file, 'utf8')
    } catch (err) {
      throw new InvalidOptionError(`cannot read the passphrase file ${source.file}: ${(err as Error).message}`)
    }
    const passphrase = text.replace(/\r?\n$/, '')
    if (passphrase.length === 0) throw new InvalidOptionError(`the passphrase file ${source.file} is empty`)
    return passphrase
  }
  const fromEnv = process.env[source.env]
  if (fromEnv != null && fromEnv !== '') return fromEnv
  if (source.prompt == null || process.stdin.isTTY !== true) return undefined
  process.stderr.write(source.prompt)
  // Echo off: readline writes what is typed to a sink, not the terminal.
  const rl = createInterface({ input: process.stdin, output: new Writable({ write (_c, _e, cb) { cb() } }), terminal: true })
  try {
    const answer = await rl.question('')
    process.stderr.write('\n')
    if (answer.length === 0) throw new InvalidOptionError('an empty passphrase')
    return answer
  } finally {
    rl.close()
  }
}

/**
 * The passphrase `umbra start` uses: `--passphrase-file`, `$UMBRA_PASSPHRASE`,
 * or a prompt on a terminal when the data directory's identity.key is sealed.
 */
export async function startPassphrase (dataDir: string, file: string | undefined): Promise<string | undefined> {
  let sealed = false
  try {
    sealed = isSealed(await readFile(join(dataDir, DATA_DIR_FILES.identity), 'utf8'))
  } catch {
    // No identity yet (a first start) or unreadable: the node reports the latter itself.
  }
  return await readPassphrase({ file, env: ENV_PASSPHRASE, ...(sealed ? { prompt: 'Passphrase of the key files: ' } : {}) })
}

/** Flags of `umbra passphrase set|change|remove`. */
export interface PassphraseFlags {
  dataDir?: string
  /** The current passphrase, from a file. */
  passphraseFile?: string
  /** The new passphrase, from a file. */
  newPassphraseFile?: string
  json?: boolean
}

/**
 * `umbra passphrase set|change|remove`: seals the key files of a stopped
 * node, changes their passphrase, or opens them for good.
 * @throws UMBRA_ERR_INVALID_OPTION (a passphrase missing), UMBRA_ERR_ALREADY_RUNNING,
 *   UMBRA_ERR_BAD_PASSPHRASE (nothing changed), UMBRA_ERR_IDENTITY_FILE
 */
export async function runPassphrase (action: 'set' | 'change' | 'remove', flags: PassphraseFlags): Promise<number> {
  const dataDir = resolveDataDir(flags.dataDir)
  const lock = lockDataDir(dataDir)
  try {
    const current = action === 'set'
      ? undefined
      : await readPassphrase({ file: flags.passphraseFile, env: ENV_PASSPHRASE, prompt: 'Current passphrase: ' })
    if (action !== 'set' && current == null) throw new InvalidOptionError(`give the current passphrase: --passphrase-file, $${ENV_PASSPHRASE} or a terminal`)
    let next: string | undefined
    if (action !== 'remove') {
      next = await readPassphrase({ file: flags.newPassphraseFile, env: ENV_NEW_PASSPHRASE, prompt: 'New passphrase: ' })
      if (next == null) throw new InvalidOptionError(`give the new passphrase: --new-passphrase-file, $${ENV_NEW_PASSPHRASE} or a terminal`)
      if (flags.newPassphraseFile == null && process.env[ENV_NEW_PASSPHRASE] == null && process.stdin.isTTY === true) {
        const again = await readPassphrase({ env: '', prompt: 'New passphrase again: ' })
        if (again !== next) throw new InvalidOptionError('the two new passphrases differ')
      }
    }
    const files = await rekeyDataDir(dataDir, current, next)
    const verb = action === 'remove' ? 'decrypted' : 'encrypted'
    process.stdout.write(flags.json === true ? JSON.stringify({ action, files }) + '\n' : `${verb} ${files.join(', ')}\n`)
    return 0
  } finally {
    lock.release()
  }
}
