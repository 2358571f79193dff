import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import sodium from 'sodium-native'
import { InvalidOptionError } from '../errors.ts'
import { encodeKey } from '../identity/index.ts'
import { DATA_DIR_FILES, ensureDataDir, writeFileSafely } from '../store/data-dir.ts'
import { keyFileContent, readKeyFileText } from '../identity/keyfile.ts'
import { PseudonymFileError, UnknownPseudonymError } from './errors.ts'
import type { PrivateKey } from '@libp2p/interface'

/** File holding the pseudonyms, in the data directory (DESIGN.md section 3). */
const PSEUDONYM_FILE = DATA_DIR_FILES.pseudonyms
/** Format version of {@link PSEUDONYM_FILE}. */
const PSEUDONYM_FILE_VERSION = 1
/** Most gateways a pseudonym names: the contact record carries 1 to 3 (src/mixnet/contact.ts). */
const MAX_GATEWAYS = 3
/** Longest label, UTF-16 code units. */
const MAX_LABEL_LENGTH = 128
/** X25519 key sizes, bytes (libsodium crypto_box). */
const BOX_KEY_BYTES = 32

/**
 * A pseudonym: an Ed25519 signing key, unrelated to the node's PeerId, plus
 * a separate X25519 key pair that senders encrypt to (DESIGN.md section 3).
 */
export interface Pseudonym {
  /** `key_…` form of the Ed25519 public key (src/identity encodeKey). */
  key: string
  /** Ed25519 private key (libp2p); signs the contact record with signRecord. */
  signKey: PrivateKey
  /** X25519 public key, 32 bytes (crypto_box). */
  boxPublicKey: Uint8Array
  /** X25519 secret key, 32 bytes (crypto_box). */
  boxSecretKey: Uint8Array
  /** PeerId strings of the gateways this pseudonym receives through, 0 to 3. */
  gateways: string[]
  /** Owner's note, not published; `undefined` when none. */
  label: string | undefined
  /** Creation time, ms since the Unix epoch. */
  createdAt: number
}

/** The pseudonyms a node holds. Returned objects are frozen snapshots. */
export interface PseudonymStore {
  /**
   * Creates a pseudonym with fresh keys and persists it before returning.
   * @param init.label - optional note, at most 128 characters, no control characters
   * @throws UMBRA_ERR_INVALID_OPTION, UMBRA_ERR_PSEUDONYM_FILE (write failed; nothing changed)
   */
  create: (init?: { label?: string }) => Promise<Pseudonym>
  /** Every pseudonym, oldest first. */
  list: () => Pseudonym[]
  /** The pseudonym with this `key_…`, or `undefined`. */
  get: (key: string) => Pseudonym | undefined
  /**
   * Replaces a pseudonym's gateways and persists the change before returning.
   * @param gateways - 0 to 3 distinct Ed25519 PeerId strings (`12D3Koo…`)
   * @throws UMBRA_ERR_UNKNOWN_PSEUDONYM, UMBRA_ERR_INVALID_OPTION, UMBRA_ERR_PSEUDONYM_FILE
   */
  setGateways: (key: string, gateways: string[]) => Promise<void>
  /**
   * Forgets a pseudonym and persists the change before returning; used to
   * roll back a creation whose gateway claim failed (issue 10). A key not
   * held is a no-op.
   * @throws UMBRA_ERR_PSEUDONYM_FILE (write failed; nothing changed)
   */
  remove: (key: string) => Promise<void>
}

/** One entry of `pseudonyms.json`; binary fields are base64. */
interface PseudonymEntry {
  key: string
  /** libp2p protobuf-encoded Ed25519 private key. */
  signKey: string
  boxPublicKey: string
  boxSecretKey: string
  gateways: string[]
  label?: string
  createdAt: number
}

/** Shape of `pseudonyms.json` (JSON, mode 0600). */
interface PseudonymFile {
  version: number
  pseudonyms: PseudonymEntry[]
}

function checkLabel (label: unknown): string | undefined {
  if (label === undefined) return undefined
  // eslint-disable-next-line no-control-regex
  if (typeof label !== 'string' || label.length === 0 || label.length > MAX_LABEL_LENGTH || /[\u0000-\u001f\u007f]/.test(label)) {
    throw new InvalidOptionError(`label must be 1 to ${MAX_LABEL_LENGTH} characters without control characters`)
  }
  return label
}

/** Canonical PeerId strings of 0 to 3 distinct Ed25519 gateways. */
function checkGateways (gateways: unknown): string[] {
  if (!Array.isArray(gateways) || gateways.length > MAX_GATEWAYS) {
    throw new InvalidOptionError(`gateways must be an array of 0 to ${MAX_GATEWAYS} PeerId strings`)
  }
  const out = gateways.map((g) => {
    let id
    try {
      id = peerIdFromString(String(g))
    } catch (err) {
      throw new InvalidOptionError(`gateways: ${String(g)} is not a PeerId`, { cause: err })
    }
    if (id.type !== 'Ed25519') throw new InvalidOptionError(`gateways: ${String(g)} is a ${id.type} PeerId; a gateway has an Ed25519 key`)
    return id.toString()
  })
  if (new Set(out).size !== out.length) throw new InvalidOptionError('gateways must not repeat a PeerId')
  return out
}

function freeze (p: Pseudonym): Pseudonym {
  return Object.freeze({ ...p, gateways: Object.freeze([...p.gateways]) as string[] })
}

function toEntry (p: Pseudonym): PseudonymEntry {
  const entry: PseudonymEntry = {
    key: p.key,
    signKey: Buffer.from(privateKeyToProtobuf(p.signKey)).toString('base64'),
    boxPublicKey: Buffer.from(p.boxPublicKey).toString('base64'),
    boxSecretKey: Buffer.from(p.boxSecretKey).toString('base64'),
    gateways: [...p.gateways],
    createdAt: p.createdAt
  }
  if (p.label !== undefined) entry.label = p.label
  return entry
}

function fromEntry (path: string, index: number, e: unknown): Pseudonym {
  const bad = (why: string, cause?: unknown): PseudonymFileError =>
    new PseudonymFileError(`The pseudonym file ${path} has a damaged entry ${index} (${why}); restore it from a backup (it was not changed)`, cause == null ? undefined : { cause })
  if (e == null || typeof e !== 'object') throw bad('not an object')
  const entry = e as Partial<PseudonymEntry>
  if (typeof entry.key !== 'string' || typeof entry.signKey !== 'string' || typeof entry.boxPublicKey !== 'string' ||
      typeof entry.boxSecretKey !== 'string' || !Array.isArray(entry.gateways) || !Number.isSafeInteger(entry.createdAt)) {
    throw bad('missing fields')
  }
  let signKey: PrivateKey
  try {
    signKey = privateKeyFromProtobuf(Buffer.from(entry.signKey, 'base64'))
  } catch (err) {
    throw bad('signing key', err)
  }
  if (signKey.type !== 'Ed25519' || encodeKey(signKey.publicKey.raw) !== entry.key) throw bad('signing key does not match the key')
  const boxPublicKey = new Uint8Array(Buffer.from(entry.boxPublicKey, 'base64'))
  const boxSecretKey = new Uint8Array(Buffer.from(entry.boxSecretKey, 'base64'))
  if (boxPublicKey.byteLength !== BOX_KEY_BYTES || boxSecretKey.byteLength !== BOX_KEY_BYTES) throw bad('box key length')
  const derived = Buffer.alloc(BOX_KEY_BYTES)
  sodium.crypto_scalarmult_base(derived, Buffer.from(boxSecretKey))
  if (!derived.equals(boxPublicKey)) throw bad('box keys do not match')
  let gateways: string[]
  let label: string | undefined
  try {
    gateways = checkGateways(entry.gateways)
    label = checkLabel(entry.label)
  } catch (err) {
    throw bad('gateways or label', err)
  }
  return { key: entry.key, signKey, boxPublicKey, boxSecretKey, gateways, label, createdAt: entry.createdAt as number }
}

async function load (path: string): Promise<Pseudonym[]> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw new PseudonymFileError(`Cannot read ${path}: ${(err as Error).message}`, { cause: err })
  }
  // Sealed under the data directory's passphrase (issue 14, item 4): opened here, never rewritten on failure.
  text = await readKeyFileText(path, text)
  let parsed: Partial<PseudonymFile>
  try {
    parsed = JSON.parse(text) as Partial<PseudonymFile>
  } catch (err) {
    throw new PseudonymFileError(`The pseudonym file ${path} is not valid JSON (truncated?): restore it from a backup (it was not changed)`, { cause: err })
  }
  if (parsed == null || typeof parsed !== 'object' || parsed.version !== PSEUDONYM_FILE_VERSION || !Array.isArray(parsed.pseudonyms)) {
    throw new PseudonymFileError(`The pseudonym file ${path} is not an Umbra v${PSEUDONYM_FILE_VERSION} pseudonym file: restore it from a backup (it was not changed)`)
  }
  const list = parsed.pseudonyms.map((e, i) => fromEntry(path, i, e))
  if (new Set(list.map((p) => p.key)).size !== list.length) {
    throw new PseudonymFileError(`The pseudonym file ${path} lists a key twice: restore it from a backup (it was not changed)`)
  }
  return list
}

/**
 * Replaces `path` atomically (src/store/data-dir.ts `writeFileSafely`):
 * a reader sees the old file or the new one, never a torn one.
 * @throws UMBRA_ERR_PSEUDONYM_FILE
 */
async function writeAtomic (path: string, content: string): Promise<void> {
  try {
    await writeFileSafely(path, await keyFileContent(path, content))
  } catch (err) {
    throw new PseudonymFileError(`Cannot write ${path}: ${(err as Error).message}`, { cause: err })
  }
}

/**
 * Opens the pseudonyms of a node (DESIGN.md section 3). With a `dataDir`
 * they persist in `<dataDir>/pseudonyms.json` (JSON v1, mode 0600, replaced
 * atomically by write-then-rename on every change); without one they live in
 * memory only. A pseudonym's keys are generated fresh: an Ed25519 key from
 * `@libp2p/crypto` and an X25519 key pair from libsodium `crypto_box_keypair`;
 * nothing is derived from the node's transport key (PeerId).
 *
 * @example
 * ```ts
 * const store = await createPseudonymStore(dataDir)
 * const p = await store.create({ label: 'work' })   // p.key === 'key_…'
 * await store.setGateways(p.key, [gatewayPeerId])
 * ```
 * @param dataDir - data directory (created with mode 0700 on first write), or `undefined` for memory only
 * @throws UMBRA_ERR_PSEUDONYM_FILE (the file is unreadable, not JSON, or has a
 *   damaged entry; the message names it and it is never overwritten)
 */
export async function createPseudonymStore (dataDir: string | undefined): Promise<PseudonymStore> {
  if (dataDir !== undefined && (typeof dataDir !== 'string' || dataDir.length === 0)) {
    throw new InvalidOptionError('dataDir must be a directory path, or undefined for a memory-only store')
  }
  const path = dataDir === undefined ? undefined : join(dataDir, PSEUDONYM_FILE)
  let pseudonyms: Pseudonym[] = path === undefined ? [] : (await load(path)).map(freeze)
  let queue: Promise<unknown> = Promise.resolve()

  /** Persists `next`, then makes it current; writes run one at a time, in call order. */
  const commit = async (build: () => Pseudonym[]): Promise<void> => {
    const run = queue.then(async () => {
      const next = build()
      if (dataDir !== undefined && path !== undefined) {
        try {
          await ensureDataDir(dataDir)
        } catch (err) {
          throw new PseudonymFileError(`Cannot create the data directory ${dataDir}: ${(err as Error).message}`, { cause: err })
        }
        const file: PseudonymFile = { version: PSEUDONYM_FILE_VERSION, pseudonyms: next.map(toEntry) }
        await writeAtomic(path, JSON.stringify(file, null, 2) + '\n')
      }
      pseudonyms = next
    })
    queue = run.catch(() => {})
    await run
  }

  return {
    async create (init = {}) {
      const label = checkLabel(init?.label)
      const signKey = await generateKeyPair('Ed25519')
      const boxPublicKey = Buffer.alloc(BOX_KEY_BYTES)
      const boxSecretKey = Buffer.alloc(BOX_KEY_BYTES)
      sodium.crypto_box_keypair(boxPublicKey, boxSecretKey)
      const p = freeze({
        key: encodeKey(signKey.publicKey.raw),
        signKey,
        boxPublicKey: new Uint8Array(boxPublicKey),
        boxSecretKey: new Uint8Array(boxSecretKey),
        gateways: [],
        label,
        createdAt: Date.now()
      })
      sodium.sodium_memzero(boxSecretKey)
      await commit(() => [...pseudonyms, p])
      return p
    },

    list () {
      return [...pseudonyms]
    },

    get (key) {
      return pseudonyms.find((p) => p.key === key)
    },

    async setGateways (key, gateways) {
      const checked = checkGateways(gateways)
      await commit(() => {
        const i = pseudonyms.findIndex((p) => p.key === key)
        const old = pseudonyms[i]
        if (old === undefined) throw new UnknownPseudonymError(`No pseudonym ${String(key)} on this node`)
        const next = [...pseudonyms]
        next[i] = freeze({ ...old, gateways: checked })
        return next
      })
    },

    async remove (key) {
      await commit(() => pseudonyms.filter((p) => p.key !== key))
    }
  }
}
