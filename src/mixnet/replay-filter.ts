/**
 * The relay's replay filter: remembers the replay tag of every packet it
 * processed, per key epoch, so that a packet seen again is dropped
 * (Danezis & Goldberg 2009 §3.3: "the mix must also check that the tag has
 * not been seen before"; the tag is Sphinx KDF subkey 4,
 * docs/sphinx.md "Key derivation"). Without it an adversary replays a packet and watches where the
 * copy goes. Tags only need to be kept while their epoch's key is accepted:
 * a packet of a dropped epoch cannot be processed any more.
 *
 * Structure: one open-addressing hash table (linear probing) per epoch in a
 * `Uint32Array`, keyed by the first 8 bytes of the tag, which are
 * uniformly random to anyone without the onion secret (KDF output), so
 * they are both the hash and the stored fingerprint; no attacker can aim
 * at one bucket. Memory: 8 bytes per slot, load factor kept in
 * (0.375, 0.75] by doubling from 1,024 slots, so 11–22 bytes per tag; at
 * the default bound of 2,000,000 tags an epoch holds 2^22 slots = 32 MiB.
 * A fresh packet is taken for a replay only if its 64-bit fingerprint
 * equals a stored one: probability ≤ n / 2^64 (about 1e-13 at 2,000,000).
 */
import { InvalidOptionError } from '../errors.ts'
import { logger } from '../logger.ts'

/** Options of `createReplayFilter`. */
export interface ReplayFilterInit {
  /**
   * Most tags remembered per epoch, 1..67,108,864 (2^26). When an epoch
   * holds this many, every further packet of that epoch counts as a replay
   * (see `seen`). Size it as the relay's packet rate × epoch length.
   * @default 2_000_000 (555 packets/s sustained over an hourly epoch)
   */
  maxPerEpoch?: number
  /**
   * Where the tags persist, so a restarted relay (even after a SIGKILL)
   * still refuses a replay within the epoch (issue 11; src/mixnet/mix-state.ts
   * keeps them in the state database, written in batches). Its tags are
   * loaded at creation; every new tag and every `dropBefore` is passed on.
   * @default none: memory only
   */
  store?: ReplayTagStore
}

/** Persistent storage of replay fingerprints (see `ReplayFilterInit.store`). */
export interface ReplayTagStore {
  /** Every stored fingerprint: epoch (u32) and the tag's first 8 bytes as two u32 words (lo, hi). */
  load: () => Iterable<[epoch: number, lo: number, hi: number]>
  /** Records a new fingerprint (may be buffered; see the store). */
  add: (epoch: number, lo: number, hi: number) => void
  /** Forgets the fingerprints of every epoch lower than `epoch`. */
  dropBefore: (epoch: number) => void
}

/** A per-epoch set of seen replay tags. */
export interface ReplayFilter {
  /**
   * Checks a packet's replay tag and records it.
   *
   * At the bound (`maxPerEpoch` tags in this epoch) the filter refuses:
   * it returns true — treat as a replay — for every tag not already
   * recorded too, until the epoch is dropped. It fails closed because a
   * filter that fails open (or evicts old tags) lets an adversary who can
   * send `maxPerEpoch` packets replay any packet afterwards, which is the
   * attack it exists to stop; refusing costs availability for the rest of
   * the epoch only, and a warning is logged once per epoch.
   * @param epoch - key epoch of the packet, u32
   * @param tag - replay tag, 16 bytes (ProcessResult `tag`)
   * @returns true for a replay (drop the packet); false when the tag is new, now recorded
   * @throws InvalidOptionError `UMBRA_ERR_INVALID_OPTION` when `epoch` is not a u32 or `tag` is not 16 bytes
   */
  seen: (epoch: number, tag: Uint8Array) => boolean
  /**
   * Whether a tag is recorded for `epoch`, without recording it (a
   * pre-check; `seen` stays the check that counts).
   * @param epoch - key epoch, u32
   * @param tag - 16 bytes
   * @returns true when `seen` recorded this tag for this epoch
   * @throws InvalidOptionError `UMBRA_ERR_INVALID_OPTION` when `epoch` is not a u32 or `tag` is not 16 bytes
   */
  has: (epoch: number, tag: Uint8Array) => boolean
  /** Forgets the tags of every epoch lower than `epoch` (their keys are gone). */
  dropBefore: (epoch: number) => void
  /** Tags recorded, over all epochs held. */
  size: () => number
}

/** Replay tag length, bytes (docs/sphinx.md: KDF subkey 4). */
const TAG_SIZE = 16
const DEFAULT_MAX_PER_EPOCH = 2_000_000
const MAX_PER_EPOCH_LIMIT = 2 ** 26
const INITIAL_SLOTS = 1024
const MAX_LOAD = 0.75

const log = logger('mixnet:replay')

interface Table {
  /** Two u32 words per slot (fingerprint low, high); 0,0 = empty. */
  words: Uint32Array
  mask: number
  count: number
  warned: boolean
}

function check (epoch: number, tag: Uint8Array): void {
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > 0xffffffff) throw new InvalidOptionError(`epoch must be a u32, got ${String(epoch)}`)
  if (!(tag instanceof Uint8Array) || tag.byteLength !== TAG_SIZE) throw new InvalidOptionError(`tag must be ${TAG_SIZE} bytes`)
}

/** The stored 64-bit fingerprint of a tag: its first 8 bytes as two u32 (0,0 marks an empty slot, so it becomes 1,0). */
function fingerprint (tag: Uint8Array): [number, number] {
  let lo = ((tag[0] as number) | ((tag[1] as number) << 8) | ((tag[2] as number) << 16) | ((tag[3] as number) << 24)) >>> 0
  const hi = ((tag[4] as number) | ((tag[5] as number) << 8) | ((tag[6] as number) << 16) | ((tag[7] as number) << 24)) >>> 0
  if (lo === 0 && hi === 0) lo = 1
  return [lo, hi]
}

/**
 * Creates an empty replay filter (structure, memory bound and the
 * behaviour at the bound in the module comment and at `seen`).
 * @param init - see `ReplayFilterInit`
 * @returns the filter
 * @throws InvalidOptionError `UMBRA_ERR_INVALID_OPTION` when `maxPerEpoch` is out of range
 */
export function createReplayFilter (init: ReplayFilterInit = {}): ReplayFilter {
  const maxPerEpoch = init.maxPerEpoch ?? DEFAULT_MAX_PER_EPOCH
  if (!Number.isInteger(maxPerEpoch) || maxPerEpoch < 1 || maxPerEpoch > MAX_PER_EPOCH_LIMIT) {
    throw new InvalidOptionError(`maxPerEpoch must be an integer from 1 to ${MAX_PER_EPOCH_LIMIT}, got ${String(init.maxPerEpoch)}`)
  }
  const tables = new Map<number, Table>()

  function grow (t: Table): void {
    const old = t.words
    const slots = (t.mask + 1) * 2
    const words = new Uint32Array(slots * 2)
    const mask = slots - 1
    for (let j = 0; j < old.length; j += 2) {
      const lo = old[j] as number
      const hi = old[j + 1] as number
      if (lo === 0 && hi === 0) continue
      let i = lo & mask
      while (words[2 * i] !== 0 || words[2 * i + 1] !== 0) i = (i + 1) & mask
      words[2 * i] = lo
      words[2 * i + 1] = hi
    }
    t.words = words
    t.mask = mask
  }

  /** The slot holding this fingerprint as ~slot (negative), or the empty slot where it would go. */
  function find (t: Table, lo: number, hi: number): number {
    const words = t.words
    const mask = t.mask
    let i = lo & mask
    for (;;) {
      const a = words[2 * i]
      const b = words[2 * i + 1]
      if (a === 0 && b === 0) return i
      if (a === lo && b === hi) return ~i
      i = (i + 1) & mask
    }
  }

  function table (epoch: number): Table {
    let t = tables.get(epoch)
    if (t === undefined) {
      t = { words: new Uint32Array(INITIAL_SLOTS * 2), mask: INITIAL_SLOTS - 1, count: 0, warned: false }
      tables.set(epoch, t)
    }
    return t
  }

  /** Records a fingerprint; false when it was there already. */
  function insert (t: Table, lo: number, hi: number): boolean {
    const i = find(t, lo, hi)
    if (i < 0) return false
    t.words[2 * i] = lo
    t.words[2 * i + 1] = hi
    t.count++
    if (t.count > MAX_LOAD * (t.mask + 1)) grow(t)
    return true
  }

  const store = init.store
  for (const [epoch, lo, hi] of store?.load() ?? []) {
    const t = table(epoch)
    if (t.count < maxPerEpoch) insert(t, lo, hi)
  }

  return {
    seen (epoch, tag) {
      check(epoch, tag)
      const t = table(epoch)
      if (t.count >= maxPerEpoch) {
        if (!t.warned) {
          t.warned = true
          log.warn({ epoch, maxPerEpoch }, 'replay filter full for this epoch: dropping its packets until the epoch is dropped')
        }
        return true
      }
      const [lo, hi] = fingerprint(tag)
      if (!insert(t, lo, hi)) return true
      store?.add(epoch, lo, hi)
      return false
    },
    has (epoch, tag) {
      check(epoch, tag)
      const t = tables.get(epoch)
      if (t === undefined) return false
      const [lo, hi] = fingerprint(tag)
      return find(t, lo, hi) < 0
    },
    dropBefore (epoch) {
      let dropped = false
      for (const e of tables.keys()) {
        if (e < epoch) {
          tables.delete(e)
          dropped = true
        }
      }
      if (dropped) store?.dropBefore(epoch)
    },
    size () {
      let n = 0
      for (const t of tables.values()) n += t.count
      return n
    }
  }
}
