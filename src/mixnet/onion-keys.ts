/**
 * A relay's X25519 onion keys, one per epoch, rotated as time passes.
 *
 * The relay publishes the keys of the current and the next epoch (so that
 * senders near a boundary already know the next one) and accepts packets
 * for the current epoch, the next one, and the previous one for `graceMs`
 * after the boundary (packets built just before the boundary are still in
 * flight). A key that leaves that window is zeroed (`sodium_memzero`),
 * which gives forward secrecy per epoch: a later compromise of the relay
 * does not reveal keys of past epochs (Danezis & Goldberg 2009 §6, key
 * rotation; Katzenpost mix key rotation).
 *
 * @example
 * ```ts
 * const keys = createOnionKeys()
 * pool.setKeys(keys.secrets())
 * setInterval(() => {
 *   if (keys.tick()) publishDescriptor(keys.published())
 *   pool.setKeys(keys.secrets())
 * }, 10_000)
 * ```
 */
import sodium from 'sodium-native'
import { InvalidOptionError } from '../errors.ts'
import { DEFAULT_EPOCH_GRACE_MS, DEFAULT_EPOCH_MS } from './constants.ts'

/** Options of `createOnionKeys`. */
export interface OnionKeysInit {
  /**
   * Epoch length, ms: epoch e covers [e·epochMs, (e+1)·epochMs). A positive
   * integer; the wire carries the epoch as a u32.
   * @default 3_600_000 (seed 001: hourly rotation)
   */
  epochMs?: number
  /**
   * How long after a boundary the previous epoch's key is still accepted,
   * ms; an integer in [0, epochMs).
   * @default 300_000
   */
  graceMs?: number
  /**
   * Clock, ms since the Unix epoch. Inject one in tests.
   * @default Date.now
   */
  now?: () => number
  /**
   * Where the keys persist, so a restarted relay (even after a SIGKILL)
   * still opens packets and SURBs built for its current and next epoch
   * (issue 11; src/mixnet/mix-state.ts keeps them in the state database).
   * A missing key is read from here before a new one is generated; every new
   * key is written here; keys leaving the window are removed here too.
   * @default none: memory only
   */
  store?: OnionKeyStore
}

/** Persistent storage of onion key pairs by epoch (see `OnionKeysInit.store`). */
export interface OnionKeyStore {
  /** The stored pair of `epoch`, or undefined. The caller copies `secret` and zeroes the returned array. */
  get: (epoch: number) => { publicKey: Uint8Array, secret: Uint8Array } | undefined
  /** Stores a new pair (X25519, 32-byte keys). */
  put: (epoch: number, publicKey: Uint8Array, secret: Uint8Array) => void
  /** Overwrites and deletes every stored pair whose epoch is not in `epochs`. */
  retain: (epochs: number[]) => void
}

/** A published onion key. */
export interface PublishedOnionKey {
  /** Key epoch, u32. */
  epoch: number
  /** X25519 public key, 32 bytes. */
  publicKey: Uint8Array
}

/** An onion secret key accepted now. */
export interface OnionSecret {
  /** Key epoch, u32. */
  epoch: number
  /** X25519 secret key, 32 bytes, in `sodium_malloc` memory; zeroed when the key is dropped, so copy it if kept. */
  secret: Uint8Array
}

/** A relay's rotating onion keys. */
export interface OnionKeys {
  /** Epoch length, ms. */
  readonly epochMs: number
  /** Grace period of the previous epoch's key, ms. */
  readonly graceMs: number
  /** The epoch of time `ms` (ms since the Unix epoch): `Math.floor(ms / epochMs)`. */
  epochAt: (ms: number) => number
  /** The epoch of the clock's current time. */
  current: () => number
  /** The keys to publish: current and next epoch, in that order. Brings the set up to date first. */
  published: () => PublishedOnionKey[]
  /**
   * The secret keys accepted now: current, next, and previous while the
   * clock is less than `graceMs` past the boundary, ascending by epoch.
   * Brings the set up to date first.
   */
  secrets: () => OnionSecret[]
  /**
   * Brings the set up to date: creates missing keys, zeroes and drops keys
   * outside the accepted window. Call on a timer (every few seconds).
   * @returns true when the published keys differ from those at the
   *   previous `tick` (or creation): republish the descriptor
   */
  tick: () => boolean
  /** Zeroes and drops every key (relay shutdown). Later calls create fresh keys. */
  destroy: () => void
}

interface KeyPair {
  publicKey: Uint8Array
  secret: Buffer
  /** Plain `Uint8Array` view of `secret` (what `secrets()` hands out). */
  view: Uint8Array
}

/**
 * Creates a relay's onion key set; the current and next epoch keys exist
 * at once. Key pairs are libsodium `crypto_box_keypair` (X25519, RFC 7748).
 * @param init - see `OnionKeysInit`
 * @returns the key set
 * @throws InvalidOptionError `UMBRA_ERR_INVALID_OPTION` when `epochMs`,
 *   `graceMs` or `now` is invalid
 */
export function createOnionKeys (init: OnionKeysInit = {}): OnionKeys {
  const epochMs = init.epochMs ?? DEFAULT_EPOCH_MS
  const graceMs = init.graceMs ?? DEFAULT_EPOCH_GRACE_MS
  const now = init.now ?? Date.now
  if (!Number.isSafeInteger(epochMs) || epochMs < 1) {
    throw new InvalidOptionError(`epochMs must be a positive integer (ms), got ${String(init.epochMs)}`)
  }
  if (!Number.isSafeInteger(graceMs) || graceMs < 0 || graceMs >= epochMs) {
    throw new InvalidOptionError(`graceMs must be an integer from 0 to epochMs - 1 (ms), got ${String(init.graceMs)}`)
  }
  if (typeof now !== 'function') throw new InvalidOptionError('now must be a function returning ms since the Unix epoch')

  const keys = new Map<number, KeyPair>()
  /** False until the first `sync`, which also loads the previous epoch's stored key and prunes the store. */
  let synced = false
  const epochAt = (ms: number): number => Math.floor(ms / epochMs)

  const store = init.store

  function allocate (): Pick<KeyPair, 'secret' | 'view'> {
    const secret = sodium.sodium_malloc(sodium.crypto_box_SECRETKEYBYTES)
    return { secret, view: new Uint8Array(secret.buffer, secret.byteOffset, secret.byteLength) }
  }

  /** The stored pair of `epoch`, copied into `sodium_malloc` memory, or undefined. */
  function load (epoch: number): KeyPair | undefined {
    const stored = store?.get(epoch)
    if (stored == null) return undefined
    const ok = stored.publicKey.byteLength === sodium.crypto_box_PUBLICKEYBYTES && stored.secret.byteLength === sodium.crypto_box_SECRETKEYBYTES
    const pair = ok ? { ...allocate(), publicKey: new Uint8Array(stored.publicKey) } : undefined
    pair?.secret.set(stored.secret)
    stored.secret.fill(0)
    return pair
  }

  /** The stored pair of `epoch`, else a new one, stored. */
  function obtain (epoch: number): KeyPair {
    const loaded = load(epoch)
    if (loaded != null) return loaded
    const publicKey = Buffer.alloc(sodium.crypto_box_PUBLICKEYBYTES)
    const pair = { ...allocate(), publicKey: new Uint8Array(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength) }
    sodium.crypto_box_keypair(publicKey, pair.secret)
    store?.put(epoch, pair.publicKey, pair.view)
    return pair
  }

  /** Makes the map hold exactly the accepted window; returns the current epoch. */
  function sync (): number {
    const t = now()
    const cur = epochAt(t)
    if (cur < 0 || cur + 1 > 0xffffffff) throw new InvalidOptionError(`the clock (${t} ms) gives epoch ${cur}, outside u32`)
    const keepPrevious = t - cur * epochMs < graceMs
    let dropped = !synced
    for (const [epoch, pair] of keys) {
      if (epoch === cur || epoch === cur + 1 || (keepPrevious && epoch === cur - 1)) continue
      sodium.sodium_memzero(pair.secret)
      keys.delete(epoch)
      dropped = true
    }
    const previous = !synced && keepPrevious && cur > 0 ? load(cur - 1) : undefined // a relay restarted within the grace period
    if (previous != null) keys.set(cur - 1, previous)
    for (const epoch of [cur, cur + 1]) if (!keys.has(epoch)) keys.set(epoch, obtain(epoch))
    if (dropped) store?.retain([...keys.keys()])
    synced = true
    return cur
  }

  const publishedPairs = (cur: number): [KeyPair | undefined, KeyPair | undefined] => [keys.get(cur), keys.get(cur + 1)]
  let lastPublished = publishedPairs(sync())

  return {
    epochMs,
    graceMs,
    epochAt,
    current: () => epochAt(now()),
    published () {
      const cur = sync()
      return [cur, cur + 1].map((epoch) => ({ epoch, publicKey: (keys.get(epoch) as KeyPair).publicKey.slice() }))
    },
    secrets () {
      sync()
      return [...keys].sort((a, b) => a[0] - b[0]).map(([epoch, pair]) => ({ epoch, secret: pair.view }))
    },
    tick () {
      const pairs = publishedPairs(sync())
      const changed = pairs[0] !== lastPublished[0] || pairs[1] !== lastPublished[1]
      lastPublished = pairs
      return changed
    },
    destroy () {
      for (const pair of keys.values()) sodium.sodium_memzero(pair.secret)
      keys.clear()
    }
  }
}
