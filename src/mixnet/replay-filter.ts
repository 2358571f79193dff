/**
 * The relay's replay filter: remembers the replay tag of every packet it
 * processed, per key epoch, so that a packet seen again is dropped
 * (Danezis & Goldberg 2009 §3.3: "the mix must also check that the tag has
 * not been seen before"; the tag is Sphinx KDF subkey 4,
 * docs/sphinx.md "Key derivation"). Without it an adversary replays a packet and watches where the
 * copy goes. Tags only need to be kept while their epoch's key is accepted:
 * a packet of a dropped epoch cannot be processed any more.
 *
 * Structure (issue 15, docs/sphinx.md "Replay filter"): per epoch, a chain
 * of cuckoo filters (Fan, Andersen, Kaminsky & Mitzenmacher, "Cuckoo
 * Filter: Practically Better Than Bloom", CoNEXT 2014: partial-key cuckoo
 * hashing, buckets of 4 slots, one stash slot) holding a 32-bit fingerprint
 * per tag in a `Uint32Array`. A new segment is added when the newest one
 * reaches {@link SEGMENT_LOAD} of its slots (or a cuckoo insertion runs out
 * of kicks); segments double in size from {@link FIRST_SEGMENT_BUCKETS} up to
 * {@link MAX_SEGMENT_BUCKETS} and the last one is cut to the room left under
 * `maxPerEpoch`, so memory follows the tags actually seen (an idle relay
 * holds 64 KiB per epoch) and is bounded by the capacity.
 *
 * Hashing: the tag's first 8 bytes are hashed with SipHash-2-4
 * (libsodium `crypto_shorthash`) under a random key of this filter, so a
 * sender — who knows the tags of the packets it builds — cannot aim tags
 * at one bucket pair; 32 bits of the hash pick the bucket, the other 32
 * are the fingerprint.
 *
 * False positives: a lookup compares its fingerprint with at most 9 slots
 * per segment (two buckets and the stash), each equal by chance with
 * probability 2^-32, so a fresh packet is taken for a replay with
 * probability ≤ 9 × S × 2^-32 for S segments: ≤ 6e-8 at the 28 segments
 * of the default capacity (target ≤ 1e-6).
 *
 * Memory: 4 bytes per slot, 90 % of them used, plus the unused part of the
 * last segment (< 16 MiB): 46.8M tags (12,000 packets/s for an hour plus
 * its grace period) take 208 MiB, and the default capacity of 78M tags
 * (20,000 packets/s) at most 331 MiB. `memoryBytes()` reports the bytes held.
 */
import sodium from 'sodium-native'
import { InvalidOptionError } from '../errors.ts'
import { logger } from '../logger.ts'
import { DEFAULT_EPOCH_GRACE_MS, DEFAULT_EPOCH_MS, RELAY_DESIGN_RATE } from './constants.ts'

/** Options of `createReplayFilter`. */
export interface ReplayFilterInit {
  /**
   * Most tags remembered per epoch, 1..268,435,456 (2^28). When an epoch
   * holds this many, every further packet of that epoch counts as a replay
   * (see `seen`). Size it with `replayCapacity(rate, epochMs, graceMs)`.
   * @default replayCapacity(RELAY_DESIGN_RATE, DEFAULT_EPOCH_MS, DEFAULT_EPOCH_GRACE_MS) = 78,000,000
   */
  maxPerEpoch?: number
  /**
   * What `seen` answers for a new tag once an epoch holds `maxPerEpoch`:
   * `'refuse'` (fail closed: it counts as a replay) or `'forget'` (fail
   * open: not recorded, not a replay; only for a filter that is an
   * optimisation in front of a refusing one).
   * @default 'refuse'
   */
  whenFull?: 'refuse' | 'forget'
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
   * At the bound (`maxPerEpoch` tags in this epoch) a `'refuse'` filter
   * returns true — treat as a replay — for every tag not already
   * recorded too, until the epoch is dropped. It fails closed because a
   * filter that fails open (or evicts old tags) lets an adversary who can
   * send `maxPerEpoch` packets replay any packet afterwards, which is the
   * attack it exists to stop; refusing costs availability for the rest of
   * the epoch only, and a warning is logged once per epoch. With the
   * default capacity this needs 20,000 new packets/s for the whole epoch.
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
   * @returns true when `seen` recorded this tag for this epoch (or, with probability ≤ 6e-8, a false positive)
   * @throws InvalidOptionError `UMBRA_ERR_INVALID_OPTION` when `epoch` is not a u32 or `tag` is not 16 bytes
   */
  has: (epoch: number, tag: Uint8Array) => boolean
  /** Forgets the tags of every epoch lower than `epoch` (their keys are gone). */
  dropBefore: (epoch: number) => void
  /** Tags recorded, over all epochs held. */
  size: () => number
  /** Bytes of fingerprint tables held, over all epochs. */
  memoryBytes: () => number
  /** New tags refused because their epoch was full (`'refuse'`), since creation. */
  refusals: () => number
}

/** Replay tag length, bytes (docs/sphinx.md: KDF subkey 4). */
const TAG_SIZE = 16
/** Slots per cuckoo bucket (Fan et al. 2014 §5: b = 4 reaches 95 % load). */
const BUCKET_SLOTS = 4
/** Buckets of an epoch's first segment: 16,384 slots, 64 KiB. */
export const FIRST_SEGMENT_BUCKETS = 4096
/** Largest segment, buckets: 2^20 × 4 slots × 4 bytes = 16 MiB (bounds the part of the last segment not yet used). */
export const MAX_SEGMENT_BUCKETS = 2 ** 20
/** Share of a segment's slots filled before the next segment is started (Fan et al. 2014 §5: inserts stay short below 95 %). */
export const SEGMENT_LOAD = 0.9
/** Cuckoo kicks before an insertion gives up and the segment counts as full (Fan et al. 2014, Algorithm 1: MaxNumKicks = 500). */
const MAX_KICKS = 500
const MAX_PER_EPOCH_LIMIT = 2 ** 28

/**
 * Tags an epoch's filter must hold for a relay forwarding `rate` new
 * packets/s: every packet of the epoch, and of its grace period after it.
 * @param rate - packets/s, > 0
 * @param epochMs - key epoch, ms
 * @param graceMs - how long an ended epoch's key is still accepted, ms
 * @returns tags per epoch (rounded up)
 */
export function replayCapacity (rate: number, epochMs: number, graceMs: number): number {
  return Math.ceil(rate * (epochMs + graceMs) / 1000)
}

const DEFAULT_MAX_PER_EPOCH = replayCapacity(RELAY_DESIGN_RATE, DEFAULT_EPOCH_MS, DEFAULT_EPOCH_GRACE_MS)

const log = logger('mixnet:replay')

/** One cuckoo filter of an epoch's chain. */
interface Segment {
  /** BUCKET_SLOTS fingerprints per bucket; 0 = empty. */
  slots: Uint32Array
  buckets: number
  /** Fingerprints held, stash included. */
  count: number
  /** Fill at which the next segment starts. */
  limit: number
  /** The stash: a fingerprint whose insertion ran out of kicks, and its bucket (0 when empty). */
  stashFp: number
  stashBucket: number
}

interface Epoch {
  segments: Segment[]
  count: number
  warned: boolean
}

function check (epoch: number, tag: Uint8Array): void {
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > 0xffffffff) throw new InvalidOptionError(`epoch must be a u32, got ${String(epoch)}`)
  if (!(tag instanceof Uint8Array) || tag.byteLength !== TAG_SIZE) throw new InvalidOptionError(`tag must be ${TAG_SIZE} bytes`)
}

/** The tag's first 8 bytes as two u32 (what the store keeps). */
function words (tag: Uint8Array): [number, number] {
  const lo = ((tag[0] as number) | ((tag[1] as number) << 8) | ((tag[2] as number) << 16) | ((tag[3] as number) << 24)) >>> 0
  const hi = ((tag[4] as number) | ((tag[5] as number) << 8) | ((tag[6] as number) << 16) | ((tag[7] as number) << 24)) >>> 0
  return [lo, hi]
}

/** The other bucket of a fingerprint: an involution, (h(fp) − i) mod m, so any bucket count works. */
function alt (bucket: number, fp: number, buckets: number): number {
  const h = (Math.imul(fp, 0x9e3779b1) >>> 0) % buckets
  const j = h - bucket
  return j < 0 ? j + buckets : j
}

function bucketHas (slots: Uint32Array, bucket: number, fp: number): boolean {
  const b = bucket * BUCKET_SLOTS
  return slots[b] === fp || slots[b + 1] === fp || slots[b + 2] === fp || slots[b + 3] === fp
}

/** Puts `fp` in a free slot of `bucket`; false when the bucket is full. */
function bucketPut (slots: Uint32Array, bucket: number, fp: number): boolean {
  const b = bucket * BUCKET_SLOTS
  for (let k = 0; k < BUCKET_SLOTS; k++) {
    if (slots[b + k] === 0) {
      slots[b + k] = fp
      return true
    }
  }
  return false
}

function segmentHas (s: Segment, i1: number, fp: number): boolean {
  const i = i1 % s.buckets
  const j = alt(i, fp, s.buckets)
  if (bucketHas(s.slots, i, fp) || bucketHas(s.slots, j, fp)) return true
  return s.stashFp === fp && (s.stashBucket === i || s.stashBucket === j)
}

/**
 * Creates an empty replay filter (structure, memory bound and the
 * behaviour at the bound in the module comment and at `seen`).
 * @param init - see `ReplayFilterInit`
 * @returns the filter
 * @throws InvalidOptionError `UMBRA_ERR_INVALID_OPTION` when `maxPerEpoch` or `whenFull` is invalid
 */
export function createReplayFilter (init: ReplayFilterInit = {}): ReplayFilter {
  const maxPerEpoch = init.maxPerEpoch ?? DEFAULT_MAX_PER_EPOCH
  if (!Number.isInteger(maxPerEpoch) || maxPerEpoch < 1 || maxPerEpoch > MAX_PER_EPOCH_LIMIT) {
    throw new InvalidOptionError(`maxPerEpoch must be an integer from 1 to ${MAX_PER_EPOCH_LIMIT}, got ${String(init.maxPerEpoch)}`)
  }
  const whenFull = init.whenFull ?? 'refuse'
  if (whenFull !== 'refuse' && whenFull !== 'forget') throw new InvalidOptionError(`whenFull must be 'refuse' or 'forget', got ${String(init.whenFull)}`)
  const epochs = new Map<number, Epoch>()
  const key = sodium.sodium_malloc(sodium.crypto_shorthash_KEYBYTES)
  sodium.randombytes_buf(key)
  const input = Buffer.alloc(8)
  const hash = Buffer.alloc(sodium.crypto_shorthash_BYTES)
  const hashWords = new Uint32Array(hash.buffer, hash.byteOffset, 2)
  let refused = 0
  /** xorshift32 state for picking the slot to kick (not a secret: buckets are keyed). */
  let rng = 0x2545f491

  /** Keyed hash of a tag's first 8 bytes: [bucket index source, fingerprint ≠ 0]. */
  function keyed (lo: number, hi: number): [number, number] {
    input.writeUInt32LE(lo, 0)
    input.writeUInt32LE(hi, 4)
    sodium.crypto_shorthash(hash, input, key)
    const fp = hashWords[1] as number
    return [hashWords[0] as number, fp === 0 ? 1 : fp]
  }

  function newSegment (e: Epoch): Segment {
    const last = e.segments.at(-1)
    const room = Math.max(1, maxPerEpoch - e.count)
    const want = Math.ceil(room / (BUCKET_SLOTS * SEGMENT_LOAD))
    const buckets = Math.max(1, Math.min(want, last === undefined ? FIRST_SEGMENT_BUCKETS : Math.min(MAX_SEGMENT_BUCKETS, last.buckets * 2)))
    const s: Segment = {
      slots: new Uint32Array(buckets * BUCKET_SLOTS),
      buckets,
      count: 0,
      limit: Math.max(1, Math.floor(buckets * BUCKET_SLOTS * SEGMENT_LOAD)),
      stashFp: 0,
      stashBucket: 0
    }
    e.segments.push(s)
    return s
  }

  /** Inserts a fingerprint known to be absent into the epoch's newest segment (cuckoo insertion, Fan et al. 2014 Algorithm 1). */
  function insert (e: Epoch, i1: number, fp: number): void {
    let s = e.segments.at(-1)
    if (s === undefined || s.count >= s.limit || s.stashFp !== 0) s = newSegment(e)
    e.count++
    s.count++
    const m = s.buckets
    let i = i1 % m
    if (bucketPut(s.slots, i, fp)) return
    i = alt(i, fp, m)
    if (bucketPut(s.slots, i, fp)) return
    let cur = fp
    for (let n = 0; n < MAX_KICKS; n++) {
      rng ^= rng << 13
      rng ^= rng >>> 17
      rng ^= rng << 5
      const at = i * BUCKET_SLOTS + ((rng >>> 0) & (BUCKET_SLOTS - 1))
      const victim = s.slots[at] as number
      s.slots[at] = cur
      cur = victim
      i = alt(i, cur, m)
      if (bucketPut(s.slots, i, cur)) return
    }
    // Out of kicks: the homeless fingerprint waits in the stash, and the next tag opens a new segment.
    s.stashFp = cur
    s.stashBucket = i
  }

  function epochOf (epoch: number): Epoch {
    let e = epochs.get(epoch)
    if (e === undefined) {
      e = { segments: [], count: 0, warned: false }
      epochs.set(epoch, e)
    }
    return e
  }

  function lookup (e: Epoch, i1: number, fp: number): boolean {
    for (const s of e.segments) if (segmentHas(s, i1, fp)) return true
    return false
  }

  /** Records (epoch, lo, hi); true when it is new and was recorded. */
  function record (epoch: number, lo: number, hi: number): boolean | 'full' {
    const e = epochOf(epoch)
    const [i1, fp] = keyed(lo, hi)
    if (lookup(e, i1, fp)) return false
    if (e.count >= maxPerEpoch) return 'full'
    insert(e, i1, fp)
    return true
  }

  const store = init.store
  for (const [epoch, lo, hi] of store?.load() ?? []) record(epoch, lo, hi)

  return {
    seen (epoch, tag) {
      check(epoch, tag)
      const [lo, hi] = words(tag)
      const r = record(epoch, lo, hi)
      if (r === 'full') {
        const e = epochOf(epoch)
        if (whenFull === 'forget') return false
        refused++
        if (!e.warned) {
          e.warned = true
          log.warn({ epoch, maxPerEpoch }, 'replay filter full for this epoch: dropping its new packets until the epoch is dropped')
        }
        return true
      }
      if (!r) return true
      store?.add(epoch, lo, hi)
      return false
    },
    has (epoch, tag) {
      check(epoch, tag)
      const e = epochs.get(epoch)
      if (e === undefined) return false
      const [lo, hi] = words(tag)
      const [i1, fp] = keyed(lo, hi)
      return lookup(e, i1, fp)
    },
    dropBefore (epoch) {
      let dropped = false
      for (const e of epochs.keys()) {
        if (e < epoch) {
          epochs.delete(e)
          dropped = true
        }
      }
      if (dropped) store?.dropBefore(epoch)
    },
    size () {
      let n = 0
      for (const e of epochs.values()) n += e.count
      return n
    },
    memoryBytes () {
      let n = 0
      for (const e of epochs.values()) for (const s of e.segments) n += s.slots.byteLength
      return n
    },
    refusals () {
      return refused
    }
  }
}
