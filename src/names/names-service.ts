/**
 * The names of a node (seed 003's names resolved through the DHT and its
 * resource-map cache, issue 9 item 3): registers global names (`alice`,
 * first-come with a proof of work) and zone names (`alice.key_…` of this
 * node's key), renews them before they expire, and resolves names with a
 * cache that keeps each answer for its record's cache TTL (at most 1 h,
 * never past the expiry). docs/names.md has the record layouts.
 */
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { KeyOwnedError } from '../dht/errors.ts'
import { encodeKey } from '../identity/index.ts'
import { AbortedError, InvalidOptionError } from '../errors.ts'
import { withTimeout } from '../signals.ts'
import {
  DEFAULT_CACHE_TTL_MS, DEFAULT_NAME_TTL_MS, MAX_CACHE_TTL_MS, MAX_CACHED_NAMES, MAX_NAME_TTL_MS, MIN_NAME_TTL_MS, NAME_PUBLISH_TIMEOUT_MS,
  NAME_QUORUM, NAME_REPUBLISH_MS, RENEW_AT_FRACTION_LEFT, RESOLVE_TIMEOUT_MS
} from './constants.ts'
import { InvalidNameError, NameNotFoundError, NotZoneOwnerError } from './errors.ts'
import { InvalidRecipientError } from '../messaging/errors.ts'
import {
  formatName, globalNameKey, globalNameNamespace, looksLikeName, mintPow, normaliseRecords, openZoneName, parseName, signGlobalName,
  signZoneName, zoneNameKey, zoneNameNamespace, type NameRecord, type ParsedName
} from './name-record.ts'
import type { Logger } from '../logger.ts'
import type { KadDHT } from '@libp2p/kad-dht'
import type { PrivateKey } from '@libp2p/interface'

/** Options of {@link Names.register}. */
export interface RegisterNameOptions {
  /** Lifetime of the record, ms, 1 s to 48 h; the node renews it before it ends unless `renew` is false. @default 24 h */
  ttl?: number
  /** How long resolvers may cache the answer, ms, at most 1 h (and never past the expiry). @default 5 min */
  cacheTtl?: number
  /** Renew the record before it expires (and re-publish it hourly). `false` lets it lapse after `ttl`. @default true */
  renew?: boolean
  signal?: AbortSignal
}

/** A name this node owns (`names.list()`, `names.register()`). */
export interface OwnedName {
  /** Canonical name: `label` or `label.key_…`. */
  name: string
  kind: 'global' | 'zone'
  records: NameRecord[]
  seq: number
  /** ms since the Unix epoch. */
  expiresAt: number
  /** Record lifetime, ms. */
  ttl: number
  /** ms */
  cacheTtl: number
  renew: boolean
}

/** The answer of {@link Names.resolve}. */
export interface NameResolution {
  /** Canonical name. */
  name: string
  kind: 'global' | 'zone'
  records: NameRecord[]
  /** The key that owns the name: the global claimant, or the zone key. `key_…`. */
  owner: string
  seq: number
  /** ms since the Unix epoch. */
  expiresAt: number
  /** How long this answer is cached, ms. */
  cacheTtl: number
  /** `cache`: answered from the resolution cache; `network`: from a DHT query; `own`: a name this node owns. */
  source: 'cache' | 'network' | 'own'
}

/** Names as the node exposes them (`node.names`). */
export interface Names {
  /**
   * Registers (or updates) a name: a global `label` (first-come; mints the
   * proof of work the label's length needs) or `label.key_…` in this node's
   * zone (its transport key).
   * @param records - 1 to 8 typed records
   * @returns the owned name, whether it was new to this node, and how many storing nodes acknowledged it
   * @throws UMBRA_ERR_INVALID_NAME, UMBRA_ERR_INVALID_NAME_RECORD, UMBRA_ERR_INVALID_OPTION (ttl),
   *   UMBRA_ERR_KEY_OWNED (another key holds the global name), UMBRA_ERR_NOT_ZONE_OWNER, UMBRA_ERR_ABORTED
   */
  register(name: string, records: NameRecord[], options?: RegisterNameOptions): Promise<{ name: OwnedName, created: boolean, storedOn: number }>
  /**
   * Resolves a name: from the cache while its answer is fresh, else from the DHT.
   * @param options.fresh - skip the cache
   * @throws UMBRA_ERR_INVALID_NAME, UMBRA_ERR_NAME_NOT_FOUND, UMBRA_ERR_ABORTED
   */
  resolve(name: string, options?: { signal?: AbortSignal, fresh?: boolean }): Promise<NameResolution>
  /** The names this node owns and keeps published. */
  list(): OwnedName[]
}

/** What names need from the node. */
export interface NamesComponents {
  kad: KadDHT
  /** The node's transport key: the claimant of its global names and its zone key. */
  privateKey: PrivateKey
  log: Logger
}

/** Names with their lifecycle, as held by the node. */
export interface NamesHandle extends Names {
  start(): void
  stop(): void
}

interface Owned extends OwnedName {
  parsed: ParsedName
  powNonce?: Uint8Array
  timer?: ReturnType<typeof setTimeout>
}

function checkMs (field: string, value: number | undefined, min: number, max: number, fallback: number): number {
  const v = value ?? fallback
  if (!Number.isInteger(v) || v < min || v > max) throw new InvalidOptionError(`${field} must be an integer number of ms from ${min} to ${max}`)
  return v
}

/**
 * Resolves `to` for a send or a hole punch when it is written as a name:
 * its first `peer` record (direct messages, hole punching) or `pseudonym`
 * record (anonymous messages). A PeerId or `key_…` is returned unchanged.
 * A name that does not resolve, or has no record of that type, is not a
 * usable recipient: UMBRA_ERR_INVALID_RECIPIENT (400), as any other bad `to`.
 * @throws UMBRA_ERR_INVALID_RECIPIENT, UMBRA_ERR_ABORTED
 */
export async function resolveRecipient (names: Names, to: string, type: 'peer' | 'pseudonym', signal?: AbortSignal): Promise<string> {
  if (!looksLikeName(to)) return to
  let answer: NameResolution
  try {
    answer = await names.resolve(to, { signal })
  } catch (err) {
    if (err instanceof NameNotFoundError || err instanceof InvalidNameError) {
      throw new InvalidRecipientError(`"${to.slice(0, 140)}" is not a PeerId, a key_… or a registered name (${err.code}: ${err.message})`, { cause: err })
    }
    throw err
  }
  const rec = answer.records.find((r) => r.type === type)
  if (rec == null) throw new InvalidRecipientError(`The name ${answer.name} has no ${type} record${type === 'pseudonym' ? ' to send anonymously to' : ''}`)
  return rec.value
}

/** Creates the names of a node; see the module comment. */
export function createNames (components: NamesComponents): NamesHandle {
  const { kad, privateKey, log } = components
  const me = privateKey.publicKey.raw
  const myKey = encodeKey(me)
  const owned = new Map<string, Owned>()
  const cache = new Map<string, { answer: NameResolution, until: number }>()
  let running = false
  // Proofs of work being minted, by label: a request that gives up (the API's 60 s limit) leaves the work running, and a retry picks it up.
  const minting = new Map<string, Promise<Uint8Array>>()
  let lifetime = new AbortController()

  async function work (label: string, signal?: AbortSignal): Promise<Uint8Array> {
    let pending = minting.get(label)
    if (pending == null) {
      pending = mintPow(label, me, { signal: lifetime.signal })
      minting.set(label, pending)
      pending.catch(() => { minting.delete(label) })
    }
    if (signal == null) return await pending
    signal.throwIfAborted()
    const aborted = signal
    return await new Promise<Uint8Array>((resolve, reject) => {
      const onAbort = (): void => { reject(new AbortedError(`Stopped waiting for the proof of work of "${label}"; it goes on, and registering again picks it up`)) }
      aborted.addEventListener('abort', onAbort, { once: true })
      pending.then((nonce) => {
        aborted.removeEventListener('abort', onAbort)
        resolve(nonce)
      }, (err) => {
        aborted.removeEventListener('abort', onAbort)
        reject(err)
      })
    })
  }

  async function publish (entry: Owned, signal?: AbortSignal): Promise<number> {
    const now = Date.now()
    entry.seq = Math.max(entry.seq + 1, now)
    entry.expiresAt = now + entry.ttl
    const p = entry.parsed
    let bytes: Uint8Array
    let dhtKey: Uint8Array
    if (p.kind === 'global') {
      dhtKey = globalNameKey(p.label)
      bytes = await signGlobalName({ privateKey, label: p.label, powNonce: entry.powNonce as Uint8Array, records: entry.records, seq: entry.seq, expiresAt: entry.expiresAt, cacheTtl: entry.cacheTtl })
      await globalNameNamespace.verify(dhtKey, bytes)
    } else {
      dhtKey = zoneNameKey(p.zone, p.label)
      bytes = await signZoneName({ zonePrivateKey: privateKey, label: p.label, records: entry.records, seq: entry.seq, expiresAt: entry.expiresAt, cacheTtl: entry.cacheTtl })
      await zoneNameNamespace.verify(dhtKey, bytes)
    }
    const ns = p.kind === 'global' ? globalNameNamespace : zoneNameNamespace
    const storedOn = await ns.publish(kad, dhtKey, bytes, withTimeout(signal, NAME_PUBLISH_TIMEOUT_MS))
    cache.delete(entry.name)
    schedule(entry)
    log.debug({ name: entry.name, storedOn, seq: entry.seq }, 'name published')
    return storedOn
  }

  function schedule (entry: Owned): void {
    clearTimeout(entry.timer)
    entry.timer = undefined
    if (!running || !entry.renew) return
    const delay = Math.min(Math.max(0, entry.expiresAt - entry.ttl * RENEW_AT_FRACTION_LEFT - Date.now()), NAME_REPUBLISH_MS)
    entry.timer = setTimeout(() => {
      void publish(entry).catch((err) => {
        log.debug({ name: entry.name, err: (err as Error).message }, 'name renewal failed; retried in a minute')
        clearTimeout(entry.timer)
        entry.timer = setTimeout(() => { schedule(entry) }, Math.min(60_000, Math.max(1000, entry.ttl / 10)))
        entry.timer.unref()
      })
    }, delay)
    entry.timer.unref()
  }

  /** The best valid record of a global name in the network, or undefined. */
  async function queryGlobal (label: string, signal?: AbortSignal): Promise<NameResolution | undefined> {
    const found = await globalNameNamespace.query(kad, globalNameKey(label), { signal: withTimeout(signal, RESOLVE_TIMEOUT_MS), quorum: NAME_QUORUM, me })
    if (found == null) return undefined
    const r = found.rec
    return { name: label, kind: 'global', records: r.decoded.records, owner: encodeKey(r.publisher), seq: r.seq, expiresAt: r.expiresAt, cacheTtl: r.decoded.cacheTtl, source: 'network' }
  }

  async function queryZone (p: Extract<ParsedName, { kind: 'zone' }>, signal?: AbortSignal): Promise<NameResolution | undefined> {
    const found = await zoneNameNamespace.query(kad, zoneNameKey(p.zone, p.label), { signal: withTimeout(signal, RESOLVE_TIMEOUT_MS), quorum: NAME_QUORUM, me })
    if (found == null) return undefined
    let opened
    try {
      opened = await openZoneName(p.zone, p.label, found.rec)
    } catch (err) {
      throw new NameNotFoundError(`The record found for ${formatName(p)} is not the zone's: ${(err as Error).message}`, { cause: err })
    }
    return { name: formatName(p), kind: 'zone', records: opened.records, owner: p.zoneKey, seq: opened.seq, expiresAt: opened.expiresAt, cacheTtl: opened.cacheTtl, source: 'network' }
  }

  return {
    async register (name, records, options = {}) {
      const parsed = parseName(name)
      const canonical = formatName(parsed)
      const normalised = normaliseRecords(records)
      const ttl = checkMs('ttl', options.ttl, MIN_NAME_TTL_MS, MAX_NAME_TTL_MS, DEFAULT_NAME_TTL_MS)
      const cacheTtl = Math.min(checkMs('cacheTtl', options.cacheTtl, 0, MAX_CACHE_TTL_MS, DEFAULT_CACHE_TTL_MS), ttl)
      const renew = options.renew ?? true
      if (parsed.kind === 'zone' && !uint8ArrayEquals(parsed.zone, me)) {
        throw new NotZoneOwnerError(`${canonical} is in the zone of ${parsed.zoneKey}; this node's zone key is ${myKey}`)
      }
      let entry = owned.get(canonical)
      const created = entry == null || entry.expiresAt <= Date.now()
      if (entry == null || created) {
        if (entry != null) clearTimeout(entry.timer)
        entry = { name: canonical, kind: parsed.kind, parsed, records: normalised, seq: 0, expiresAt: 0, ttl, cacheTtl, renew }
        if (parsed.kind === 'global') {
          // First-come: refuse early (409) rather than mint work for a label another key holds.
          const held = await queryGlobal(parsed.label, options.signal)
          if (held != null && held.owner !== myKey) {
            throw new KeyOwnedError(`The name ${canonical} is held by ${held.owner} until ${new Date(held.expiresAt).toISOString()}`)
          }
          if (held != null) entry.seq = held.seq
          entry.powNonce = await work(parsed.label, options.signal)
          minting.delete(parsed.label)
        }
      }
      Object.assign(entry, { records: normalised, ttl, cacheTtl, renew })
      const storedOn = await publish(entry, options.signal)
      owned.set(canonical, entry)
      const { parsed: _p, powNonce: _n, timer: _t, ...view } = entry
      return { name: { ...view, records: [...view.records] }, created, storedOn }
    },

    async resolve (name, options = {}) {
      const parsed = parseName(name)
      const canonical = formatName(parsed)
      const now = Date.now()
      const mine = owned.get(canonical)
      if (mine != null && mine.expiresAt > now) {
        return { name: canonical, kind: mine.kind, records: [...mine.records], owner: myKey, seq: mine.seq, expiresAt: mine.expiresAt, cacheTtl: mine.cacheTtl, source: 'own' }
      }
      const hit = cache.get(canonical)
      if (options.fresh !== true && hit != null && hit.until > now) return { ...hit.answer, source: 'cache' }
      const answer = parsed.kind === 'global' ? await queryGlobal(parsed.label, options.signal) : await queryZone(parsed, options.signal)
      if (answer == null) throw new NameNotFoundError(`No record for the name ${canonical} was found in the DHT`)
      const until = Math.min(Date.now() + Math.min(answer.cacheTtl, MAX_CACHE_TTL_MS), answer.expiresAt)
      cache.delete(canonical)
      cache.set(canonical, { answer, until })
      if (cache.size > MAX_CACHED_NAMES) cache.delete(cache.keys().next().value as string)
      return answer
    },

    list () {
      const now = Date.now()
      return [...owned.values()].filter((e) => e.expiresAt > now || e.renew).map(({ parsed: _p, powNonce: _n, timer: _t, ...view }) => ({ ...view, records: [...view.records] }))
    },

    start () {
      if (running) return
      running = true
      lifetime = new AbortController()
      for (const entry of owned.values()) schedule(entry)
    },

    stop () {
      running = false
      lifetime.abort()
      minting.clear()
      for (const entry of owned.values()) {
        clearTimeout(entry.timer)
        entry.timer = undefined
      }
    }
  }
}
