/**
 * Service discovery and rendezvous of a node (DESIGN.md section 4
 * "Discovery", seeds 002 and 004, issue 9 item 4). See index.ts for the API
 * and docs/discovery.md for the protocol.
 *
 * - `advertise(ns)`: a kad-dht provider record for CID v1 raw
 *   sha256(domain ‖ ns) on the 20 closest nodes; kad-dht re-provides it
 *   before it expires (PROVIDER_TTL_MS) until `unadvertise` cancels it.
 * - `advertise(ns, { pseudonym })`: the pseudonym's signed entry in the
 *   namespace's anonymous set (anon-set.ts), re-signed every half of
 *   ENTRY_TTL_MS until `unadvertise`.
 * - `find(ns)`: kad-dht findProviders; a provider without addresses is
 *   looked up in the peer registry. `find(ns, { anonymous: true })`: the
 *   union of the valid entries of every copy of the set.
 */
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { AbortedError, InvalidOptionError } from '../errors.ts'
import { decodeKey, encodeKey } from '../identity/index.ts'
import { withTimeout } from '../signals.ts'
import { anonSetKey, checkNamespace, signEntry, signSet, topicOf, verifyEntry, verifySet, type AnonEntry } from './anon-set.ts'
import { ADDRESS_LOOKUP_TIMEOUT_MS, DEFAULT_FIND_LIMIT, DISCOVERY_TIMEOUT_MS, ENTRY_TTL_MS, MAX_FIND_LIMIT, MAX_SET_ENTRIES, TOPIC_DOMAIN } from './constants.ts'
import { DiscoverySetFullError } from './errors.ts'
import type { AdvertiseOptions, AdvertiseResult, DiscoveredPeer, DiscoveredPseudonym, Discovery, FindOptions } from './index.ts'
import type { Logger } from '../logger.ts'
import type { Registry } from '../registry/index.ts'
import type { KadDHT, QueryEvent } from '@libp2p/kad-dht'
import type { Libp2p, PrivateKey } from '@libp2p/interface'

/** What the discovery service needs from the node. */
export interface DiscoveryComponents {
  libp2p: Libp2p
  kad: KadDHT
  registry: () => Registry | undefined
  /** The signing key of one of this node's pseudonyms, or undefined. */
  pseudonymKey: (key: string) => PrivateKey | undefined
  /**
   * Has the pseudonym's gateway publish a record it signed (mixnet
   * `publishThroughGateway`), so storing nodes never see this node's PeerId.
   * @returns how many nodes acknowledged it
   */
  publishThroughGateway: (pseudonym: string, dhtKey: Uint8Array, record: Uint8Array) => Promise<number>
  log: Logger
}

/** The discovery service with its lifecycle, as held by the node. */
export interface DiscoveryHandle extends Discovery {
  stop(): Promise<void>
}

const encoder = new TextEncoder()

/**
 * The provider CID of a namespace: CID v1, codec raw, multihash
 * sha256(TOPIC_DOMAIN ‖ namespace).
 * @throws UMBRA_ERR_INVALID_NAMESPACE
 */
export async function namespaceCid (namespace: string): Promise<CID> {
  checkNamespace(namespace)
  return CID.createV1(raw.code, await sha256.digest(encoder.encode(TOPIC_DOMAIN + namespace)))
}

/**
 * Every copy of a record, without kad-dht `get`'s "correction": after a
 * `get`, kad-dht overwrites this node's own copy with the selector's best one
 * WITHOUT running the validator (content-fetching `sendCorrectionRecord`),
 * which would drop entries of an anonymous set that only the local copy holds.
 * kad-dht 16's `getMany` (the same query, no correction) is used when present.
 */
function getAllCopies (kad: KadDHT, dhtKey: Uint8Array, signal: AbortSignal): AsyncIterable<QueryEvent> {
  const fetching = (kad as unknown as { contentFetching?: { getMany?: (key: Uint8Array, options: { signal: AbortSignal }) => AsyncIterable<QueryEvent> } }).contentFetching
  if (typeof fetching?.getMany === 'function') return fetching.getMany(dhtKey, { signal })
  return kad.get(dhtKey, { signal })
}

function isAbort (err: unknown, signal: AbortSignal): boolean {
  return signal.aborted || (err as Error)?.name === 'AbortError' || (err as Error)?.name === 'TimeoutError'
}

/** Read-merge-write attempts of an anonymous advertise when a concurrent writer got in first. */
const WRITE_ATTEMPTS = 5
/** Early read-back checks after an anonymous advertise, and their spacing (ms, plus up to as much again at random). */
const SETTLE_CHECKS = 6
const SETTLE_CHECK_MS = 2000

/** Creates the discovery service of a node; see the module comment. */
export function createDiscovery (components: DiscoveryComponents): DiscoveryHandle {
  const { libp2p, kad, log } = components
  /** Bad network input dropped, by reason (invalid set copies from storing nodes). */
  const dropped: Record<string, number> = {}
  /** Namespaces advertised by PeerId. */
  const provided = new Set<string>()
  /** Anonymous advertisements: `${namespace}\n${pseudonym}` → refresh timer. */
  const anon = new Map<string, ReturnType<typeof setTimeout>>()
  let stopped = false

  /**
   * Calls `fn` with the entries of every valid copy of a set the network
   * returns; invalid copies are dropped and counted (`invalid-set`).
   * @throws what the DHT query throws (abort, not found, …)
   */
  async function eachValidCopy (dhtKey: Uint8Array, signal: AbortSignal, fn: (entries: AnonEntry[]) => void): Promise<void> {
    const consider = async (bytes: Uint8Array): Promise<void> => {
      try {
        fn((await verifySet(dhtKey, bytes)).decoded.entries)
      } catch {
        dropped['invalid-set'] = (dropped['invalid-set'] ?? 0) + 1 // an invalid copy is dropped and counted
      }
    }
    for await (const event of getAllCopies(kad, dhtKey, signal)) {
      if (event.name === 'PEER_RESPONSE' && event.record != null) await consider(event.record.value)
      else if (event.name === 'VALUE') await consider(event.value)
    }
  }

  /** Every valid entry of every copy of a set, unexpired, newest expiry per pseudonym. */
  async function readSet (dhtKey: Uint8Array, signal: AbortSignal): Promise<Map<string, AnonEntry>> {
    const out = new Map<string, AnonEntry>()
    try {
      await eachValidCopy(dhtKey, signal, (entries) => {
        for (const e of entries) {
          const held = out.get(e.key)
          if (held == null || e.expiresAt > held.expiresAt) out.set(e.key, e)
        }
      })
    } catch (err) {
      if (isAbort(err, signal) && out.size === 0) throw new AbortedError('Discovery query aborted or timed out', { cause: err })
      if (!isAbort(err, signal) && (err as Error)?.name !== 'NotFoundError' && out.size === 0) throw err
    }
    return out
  }

  /** True when some valid copy of the set in the network lacks `pseudonym` (or none was found): a concurrent writer's copy replaced ours there. */
  async function missingSomewhere (dhtKey: Uint8Array, pseudonym: string, signal: AbortSignal): Promise<boolean> {
    let copies = 0
    let missing = false
    await eachValidCopy(dhtKey, signal, (entries) => {
      copies++
      if (!entries.some((e) => e.key === pseudonym)) missing = true
    }).catch(() => {}) // what was read decides
    return missing || copies === 0
  }

  /**
   * Reads, merges and writes the set with this pseudonym's entry added (`add`)
   * or removed, then reads it back. Storing nodes refuse a copy that misses an
   * entry they hold (a concurrent writer got in first), and two concurrent
   * puts can both pass kad-dht's validator at one node, the later overwriting
   * the earlier: when no node stored it, or the read-back misses it, it is
   * read, merged and written again (at most 5 attempts, random 0-500 ms × attempt apart;
   * still contended after them: 0 is returned and the settle checks retry).
   */
  async function writeEntry (namespace: string, pseudonym: PrivateKey, add: boolean, signal: AbortSignal): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      let storedOn = 0
      try {
        storedOn = await writeEntryOnce(namespace, pseudonym, add, signal)
      } catch (err) {
        // The gateway refuses a set that misses an entry its own copy holds (a concurrent writer): read and merge again.
        const contention = (err as { code?: string }).code === 'UMBRA_ERR_GATEWAY_UNREACHABLE' && /drops the unexpired entry/.test((err as Error).message)
        if (!contention || signal.aborted) throw err
        if (attempt >= WRITE_ATTEMPTS) return 0 // still contended: the settle checks and the refresh write it again
      }
      if (signal.aborted || attempt >= WRITE_ATTEMPTS) return storedOn
      if (storedOn > 0) {
        // kad-dht validates a PUT_VALUE then stores it, so two concurrent puts can both pass
        // against the same held copy and the later one overwrite the other: read our write back.
        const me = encodeKey(pseudonym.publicKey.raw)
        const seen = await readSet(anonSetKey(namespace), signal).catch(() => undefined)
        if (seen == null || seen.has(me) === add) return storedOn
      }
      log.debug({ attempt }, 'the anonymous set was not accepted or was overwritten by a concurrent writer; reading and merging again')
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 500 * attempt))
    }
  }

  async function writeEntryOnce (namespace: string, pseudonym: PrivateKey, add: boolean, signal: AbortSignal): Promise<number> {
    const dhtKey = anonSetKey(namespace)
    const topic = topicOf(namespace, true)
    const me = encodeKey(pseudonym.publicKey.raw)
    const entries = await readSet(dhtKey, signal).catch((err) => {
      if (err instanceof AbortedError) throw err
      return new Map<string, AnonEntry>()
    })
    entries.delete(me)
    const now = Date.now()
    if (add) {
      if (entries.size >= MAX_SET_ENTRIES) {
        // A full set may evict: drop the entries that expire first.
        const sorted = [...entries.values()].sort((a, b) => a.expiresAt - b.expiresAt)
        if ((sorted[0]?.expiresAt ?? Infinity) > now + ENTRY_TTL_MS / 2) throw new DiscoverySetFullError(`The anonymous set of ${namespace} holds ${MAX_SET_ENTRIES} fresh entries`)
        for (const e of sorted.slice(0, entries.size - MAX_SET_ENTRIES + 1)) entries.delete(e.key)
      }
      const mine = await signEntry(pseudonym, topic, now + ENTRY_TTL_MS)
      entries.set(me, verifyEntry(topic, mine, now))
    }
    const list = [...entries.values()].sort((a, b) => a.key < b.key ? -1 : 1).map((e) => e.bytes)
    const bytes = await signSet(pseudonym, dhtKey, list, now, now + ENTRY_TTL_MS)
    // Published by the pseudonym's gateway: the storing nodes see its PeerId, not this node's.
    if (signal.aborted) throw new AbortedError('Advertise aborted or timed out')
    return await components.publishThroughGateway(me, dhtKey, bytes)
  }

  /**
   * Re-signs the pseudonym's entry every half of its lifetime. After an
   * advertise, `settleChecks` early checks (2 to 4 s apart) read every copy
   * of the set and write the entry again (merged) if any copy lacks it: a
   * concurrent writer's copy replaced it on that node. After a rewrite at
   * least 2 more checks follow, so the checks end only once the entry stayed.
   */
  function scheduleRefresh (namespace: string, pseudonym: string, settleChecks = 0): void {
    const id = `${namespace}\n${pseudonym}`
    clearTimeout(anon.get(id))
    const settle = settleChecks > 0
    const timer = setTimeout(() => {
      const key = components.pseudonymKey(pseudonym)
      if (stopped || key == null || !anon.has(id)) return
      const signal = withTimeout(undefined, DISCOVERY_TIMEOUT_MS)
      // A settle check that had to re-add the entry keeps the checks going (a later concurrent write may drop it again).
      let rewrote = false
      const run = settle
        ? missingSomewhere(anonSetKey(namespace), pseudonym, signal).then(async (missing) => { if (missing) { rewrote = true; await writeEntry(namespace, key, true, signal) } })
        : writeEntry(namespace, key, true, signal)
      void run
        .catch((err) => { log.debug({ err: (err as Error).message }, 'anonymous re-advertise failed; retried next period') })
        .finally(() => { if (anon.has(id) && !stopped) scheduleRefresh(namespace, pseudonym, rewrote ? Math.max(settleChecks, 2) : settleChecks - 1) })
    }, settle ? SETTLE_CHECK_MS + Math.random() * SETTLE_CHECK_MS : ENTRY_TTL_MS / 2)
    timer.unref()
    anon.set(id, timer)
  }

  function ownPseudonym (pseudonym: string): PrivateKey {
    decodeKey(pseudonym)
    const key = components.pseudonymKey(pseudonym)
    if (key == null) throw new InvalidOptionError(`options.pseudonym: this node holds no pseudonym ${pseudonym} (create one with umbra pseudonym create)`)
    return key
  }

  async function findPeers (namespace: string, limit: number, signal: AbortSignal): Promise<DiscoveredPeer[]> {
    const cid = await namespaceCid(namespace)
    const found = new Map<string, DiscoveredPeer>()
    try {
      for await (const event of kad.findProviders(cid, { signal })) {
        if (event.name !== 'PROVIDER') continue
        for (const p of event.providers) {
          const id = p.id.toString()
          const held = found.get(id)
          const addrs = p.multiaddrs.map((a) => a.toString())
          if (held == null) found.set(id, { peerId: id, key: encodeKey(p.id.publicKey?.raw ?? new Uint8Array()), addrs })
          else held.addrs = [...new Set([...held.addrs, ...addrs])]
        }
        if (found.size >= limit) break
      }
    } catch (err) {
      if (!isAbort(err, signal) && (err as Error)?.name !== 'NotFoundError') throw err
      if (found.size === 0 && isAbort(err, signal)) throw new AbortedError('Discovery query aborted or timed out', { cause: err })
    }
    const peers = [...found.values()].slice(0, limit)
    const registry = components.registry()
    await Promise.all(peers.map(async (p) => {
      if (p.addrs.length > 0 || registry == null || p.peerId === libp2p.peerId.toString()) return
      try {
        p.addrs = (await registry.lookup(p.peerId, { signal: withTimeout(signal, ADDRESS_LOOKUP_TIMEOUT_MS) })).addrs
      } catch {
        // no record: the peer is listed without addresses
      }
    }))
    return peers
  }

  const discovery: DiscoveryHandle = {
    async advertise (namespace: string, options: AdvertiseOptions = {}): Promise<AdvertiseResult> {
      checkNamespace(namespace)
      const signal = withTimeout(options.signal, DISCOVERY_TIMEOUT_MS)
      if (options.pseudonym != null) {
        const key = ownPseudonym(options.pseudonym)
        const storedOn = await writeEntry(namespace, key, true, signal)
        scheduleRefresh(namespace, options.pseudonym, SETTLE_CHECKS)
        return { namespace, anonymous: true, advertiser: options.pseudonym, storedOn }
      }
      const cid = await namespaceCid(namespace)
      let storedOn = 0
      provided.add(namespace)
      try {
        for await (const event of kad.provide(cid, { signal })) {
          if (event.name === 'PEER_RESPONSE' && event.messageName === 'ADD_PROVIDER') storedOn++
        }
      } catch (err) {
        if (isAbort(err, signal)) throw new AbortedError('Advertise aborted or timed out; kad-dht re-provides it later', { cause: err })
        throw err
      }
      return { namespace, anonymous: false, advertiser: libp2p.peerId.toString(), storedOn }
    },

    async unadvertise (namespace: string, options: AdvertiseOptions = {}): Promise<void> {
      checkNamespace(namespace)
      if (options.pseudonym != null) {
        const key = ownPseudonym(options.pseudonym)
        const id = `${namespace}\n${options.pseudonym}`
        clearTimeout(anon.get(id))
        anon.delete(id)
        await writeEntry(namespace, key, false, withTimeout(options.signal, DISCOVERY_TIMEOUT_MS))
        return
      }
      provided.delete(namespace)
      await kad.cancelReprovide(await namespaceCid(namespace))
    },

    async find (namespace: string, options: FindOptions = {}): Promise<never> {
      checkNamespace(namespace)
      const limit = options.limit ?? DEFAULT_FIND_LIMIT
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_FIND_LIMIT) throw new InvalidOptionError(`options.limit must be an integer from 1 to ${MAX_FIND_LIMIT}`)
      const signal = withTimeout(options.signal, DISCOVERY_TIMEOUT_MS)
      if (options.anonymous === true) {
        const entries = await readSet(anonSetKey(namespace), signal)
        const out: DiscoveredPseudonym[] = [...entries.values()].map((e) => ({ pseudonym: e.key, expiresAt: e.expiresAt }))
        return shuffle(out).slice(0, limit) as never
      }
      return await findPeers(namespace, limit, signal) as never
    },

    advertised () {
      return {
        namespaces: [...provided],
        anonymous: [...anon.keys()].map((id) => { const [namespace, pseudonym] = id.split('\n') as [string, string]; return { namespace, pseudonym } })
      }
    },

    counters () {
      return { dropped: { ...dropped } }
    },

    async stop () {
      stopped = true
      for (const t of anon.values()) clearTimeout(t)
      anon.clear()
    }
  }
  return discovery
}

function shuffle<T> (list: T[]): T[] {
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    const tmp = list[i] as T
    list[i] = list[j] as T
    list[j] = tmp
  }
  return list
}
