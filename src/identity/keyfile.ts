/**
 * Encrypted key files (issue 14, item 4): `identity.key` and
 * `pseudonyms.json` sealed under a passphrase. The key is derived with
 * libsodium `crypto_pwhash` (Argon2id 1.3) from the passphrase and a random
 * 16-byte salt; the file's text is sealed with `crypto_secretbox_easy`
 * (XSalsa20-Poly1305), so a wrong passphrase or a changed byte fails
 * authentication and nothing is written. No primitive is written here.
 *
 * Cost: OPSLIMIT_INTERACTIVE / MEMLIMIT_INTERACTIVE (2 passes, 64 MiB),
 * libsodium's setting for a key derived while someone waits; a node derives
 * one key per file at start. The parameters are stored in each file, so a
 * later version can raise them (MODERATE: 3 passes, 256 MiB, about 4× slower)
 * without breaking old files. docs/auth.md "Encrypted key files".
 *
 * Sealed file (JSON, mode 0600):
 * `{"umbraSealed":1,"kdf":"argon2id13","opslimit":2,"memlimit":67108864,"salt":b64,"nonce":b64,"box":b64}`
 */
import { readFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import sodium from 'sodium-native'
import { DATA_DIR_FILES, writeFileSafely } from '../store/data-dir.ts'
import { BadPassphraseError, IdentityFileError, PassphraseRequiredError } from './errors.ts'

/** Version marker of a sealed file. */
export const SEALED_FILE_VERSION = 1
/** Argon2id passes (libsodium OPSLIMIT_INTERACTIVE = 2). */
export const PASSPHRASE_OPSLIMIT = sodium.crypto_pwhash_OPSLIMIT_INTERACTIVE
/** Argon2id memory, bytes (libsodium MEMLIMIT_INTERACTIVE = 64 MiB). */
export const PASSPHRASE_MEMLIMIT = sodium.crypto_pwhash_MEMLIMIT_INTERACTIVE
/** Most memory a file may ask for, bytes (1 GiB, SENSITIVE): a forged file cannot make start-up allocate more. */
const MAX_MEMLIMIT = sodium.crypto_pwhash_MEMLIMIT_SENSITIVE
/** Most passes a file may ask for (SENSITIVE = 4). */
const MAX_OPSLIMIT = sodium.crypto_pwhash_OPSLIMIT_SENSITIVE
/** The secret files of a data directory that a passphrase protects. */
export const SEALED_FILES = [DATA_DIR_FILES.identity, DATA_DIR_FILES.pseudonyms] as const

interface SealedFile {
  umbraSealed: number
  kdf: 'argon2id13'
  opslimit: number
  memlimit: number
  salt: string
  nonce: string
  box: string
}

/** Passphrases of unlocked data directories in this process, by absolute path. */
const passphrases = new Map<string, string>()
/** Derived keys by file path, salt and passphrase: one Argon2id run per file per process. */
const derived = new Map<string, { salt: string, passphrase: string, key: Buffer }>()

/**
 * Registers the passphrase of a data directory for this process: the key
 * files in it are opened with it and written sealed. `undefined` forgets it.
 */
export function setDataDirPassphrase (dataDir: string, passphrase: string | undefined): void {
  if (passphrase == null) passphrases.delete(resolve(dataDir))
  else passphrases.set(resolve(dataDir), passphrase)
}

/** `true` when `text` is a sealed key file. */
export function isSealed (text: string): boolean {
  try {
    return (JSON.parse(text) as Partial<SealedFile>)?.umbraSealed === SEALED_FILE_VERSION
  } catch {
    return false
  }
}

async function deriveKey (path: string, passphrase: string, salt: Buffer, opslimit: number, memlimit: number): Promise<Buffer> {
  const id = salt.toString('base64')
  const hit = derived.get(path)
  if (hit != null && hit.salt === id && hit.passphrase === passphrase) return hit.key
  const key = sodium.sodium_malloc(sodium.crypto_secretbox_KEYBYTES) as unknown as Buffer
  await new Promise<void>((resolve, reject) => {
    sodium.crypto_pwhash_async(key, Buffer.from(passphrase, 'utf8'), salt, opslimit, memlimit, sodium.crypto_pwhash_ALG_ARGON2ID13, (err) => { if (err != null) reject(err); else resolve() })
  })
  derived.set(path, { salt: id, passphrase, key })
  return key
}

/**
 * Seals `plain` under `passphrase` (a fresh nonce; the salt and derived key of
 * the file's last open are reused, else a new salt).
 * @returns the sealed file's text
 */
export async function sealText (path: string, plain: string, passphrase: string): Promise<string> {
  const hit = derived.get(path)
  const salt = hit != null && hit.passphrase === passphrase ? Buffer.from(hit.salt, 'base64') : randomBuffer(sodium.crypto_pwhash_SALTBYTES)
  const key = await deriveKey(path, passphrase, salt, PASSPHRASE_OPSLIMIT, PASSPHRASE_MEMLIMIT)
  const nonce = randomBuffer(sodium.crypto_secretbox_NONCEBYTES)
  const message = Buffer.from(plain, 'utf8')
  const box = Buffer.alloc(message.byteLength + sodium.crypto_secretbox_MACBYTES)
  sodium.crypto_secretbox_easy(box, message, nonce, key)
  const file: SealedFile = { umbraSealed: SEALED_FILE_VERSION, kdf: 'argon2id13', opslimit: PASSPHRASE_OPSLIMIT, memlimit: PASSPHRASE_MEMLIMIT, salt: salt.toString('base64'), nonce: nonce.toString('base64'), box: box.toString('base64') }
  return JSON.stringify(file) + '\n'
}

function randomBuffer (n: number): Buffer {
  const b = Buffer.alloc(n)
  sodium.randombytes_buf(b)
  return b
}

/**
 * Opens a sealed file's text.
 * @throws UMBRA_ERR_PASSPHRASE_REQUIRED (no passphrase), UMBRA_ERR_BAD_PASSPHRASE
 *   (wrong passphrase, or the file was changed), UMBRA_ERR_IDENTITY_FILE (malformed)
 */
export async function openText (path: string, text: string, passphrase: string | undefined): Promise<string> {
  let f: Partial<SealedFile>
  try {
    f = JSON.parse(text) as Partial<SealedFile>
  } catch {
    throw new IdentityFileError(`${path} is not a sealed key file`)
  }
  if (passphrase == null) throw new PassphraseRequiredError(`${path} is encrypted: give the passphrase in UMBRA_PASSPHRASE, with --passphrase-file, or at the prompt`)
  const salt = Buffer.from(String(f.salt), 'base64')
  const nonce = Buffer.from(String(f.nonce), 'base64')
  const box = Buffer.from(String(f.box), 'base64')
  if (f.kdf !== 'argon2id13' || salt.byteLength !== sodium.crypto_pwhash_SALTBYTES || nonce.byteLength !== sodium.crypto_secretbox_NONCEBYTES ||
    box.byteLength < sodium.crypto_secretbox_MACBYTES || !Number.isInteger(f.opslimit) || !Number.isInteger(f.memlimit) ||
    (f.opslimit as number) < sodium.crypto_pwhash_OPSLIMIT_MIN || (f.opslimit as number) > MAX_OPSLIMIT ||
    (f.memlimit as number) < sodium.crypto_pwhash_MEMLIMIT_MIN || (f.memlimit as number) > MAX_MEMLIMIT) {
    throw new IdentityFileError(`${path} is a damaged sealed key file: restore it from a backup (it was not changed)`)
  }
  const key = await deriveKey(path, passphrase, salt, f.opslimit as number, f.memlimit as number)
  const plain = Buffer.alloc(box.byteLength - sodium.crypto_secretbox_MACBYTES)
  if (!sodium.crypto_secretbox_open_easy(plain, box, nonce, key)) {
    derived.delete(path)
    throw new BadPassphraseError(`Wrong passphrase for ${path} (the file was not changed)`)
  }
  return plain.toString('utf8')
}

/**
 * The plain text of a key file read from `path`: opened with the passphrase
 * registered for its directory when it is sealed.
 * @throws the codes of {@link openText}
 */
export async function readKeyFileText (path: string, text: string): Promise<string> {
  if (!isSealed(text)) {
    if (passphrases.has(resolve(dirname(path)))) throw new IdentityFileError(`${path} is not encrypted, but a passphrase was given: run "umbra passphrase set" on the stopped node first, or start without a passphrase`)
    return text
  }
  return await openText(resolve(path), text, passphrases.get(resolve(dirname(path))))
}

/** What to write for a key file at `path`: sealed when its directory has a passphrase, else `plain`. */
export async function keyFileContent (path: string, plain: string): Promise<string> {
  const passphrase = passphrases.get(resolve(dirname(path)))
  return passphrase == null ? plain : await sealText(resolve(path), plain, passphrase)
}

/**
 * Sets, changes or removes the passphrase of a stopped node's data directory
 * (`umbra passphrase set|change|remove`): every key file present is opened
 * with `oldPassphrase` (`undefined`: it must be plain) before any is written,
 * then each is replaced atomically, sealed under `newPassphrase` or plain
 * (`undefined`). A wrong passphrase changes nothing.
 * @returns the files rewritten
 * @throws UMBRA_ERR_BAD_PASSPHRASE, UMBRA_ERR_PASSPHRASE_REQUIRED, UMBRA_ERR_IDENTITY_FILE
 */
export async function rekeyDataDir (dataDir: string, oldPassphrase: string | undefined, newPassphrase: string | undefined): Promise<string[]> {
  const opened: Array<{ path: string, plain: string }> = []
  for (const name of SEALED_FILES) {
    const path = resolve(join(dataDir, name))
    let text: string
    try {
      text = await readFile(path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue
      throw new IdentityFileError(`Cannot read ${path}: ${(err as Error).message}`, { cause: err })
    }
    if (isSealed(text)) opened.push({ path, plain: await openText(path, text, oldPassphrase) })
    else if (oldPassphrase != null) throw new IdentityFileError(`${path} is not encrypted: use "umbra passphrase set"`)
    else opened.push({ path, plain: text })
  }
  if (opened.length === 0) throw new IdentityFileError(`${dataDir} holds no identity.key or pseudonyms.json`)
  for (const { path, plain } of opened) {
    derived.delete(path)
    await writeFileSafely(path, newPassphrase == null ? plain : await sealText(path, plain, newPassphrase))
  }
  return opened.map((o) => o.path)
}
