/**
 * Layered topology and guards (issue 16, item 2; docs/mixnet.md "Layers and
 * guards"): the pure policy functions of src/mixnet/topology.ts, the guard
 * set persisted in a state database across a reopen, and in-process nodes
 * whose every originated packet leaves through one of their guards, also
 * after their first guard left the network.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { openGuards } from '../../src/mixnet/guards.ts'
import { createPathProbes } from '../../src/mixnet/path-probes.ts'
import {
  GUARD_LIFETIME_MAX_MS, GUARD_LIFETIME_MIN_MS, GUARD_PRIMARY, GUARD_REMOVE_UNLISTED_MS, assignLayers, guardFailed, guardRetryDelayMs, guardSucceeded,
  maintainGuards, nodeKeyHex, pickGuard, primaryGuards, selectLayeredPath, type GuardEntry, type Rng, type TopologyNode
} from '../../src/mixnet/topology.ts'
import type { UmbraNode } from '../../src/node/index.ts'
import { openStateDatabase } from '../../src/store/index.ts'
import { createTestnet, type Testnet } from '../../src/testnet/index.ts'
import { until } from '../helpers/wait.ts'

const DAY = 24 * 3600_000

function nodes (n: number, capacity?: (i: number) => number): TopologyNode[] {
  return Array.from({ length: n }, (_, i) => ({ nodeKey: new Uint8Array(randomBytes(32)), ...(capacity != null ? { capacity: capacity(i) } : {}) }))
}

/** A seeded integer source (mulberry32), so a failing draw can be replayed. */
function seeded (seed: number): Rng {
  let a = seed >>> 0
  return (n) => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n)
  }
}

const keysOf = (ns: TopologyNode[]): Set<string> => new Set(ns.map((n) => nodeKeyHex(n.nodeKey)))

describe('layered topology', () => {
  it('assigns the same balanced layers whatever the directory order, and new ones per epoch', () => {
    const mixes = nodes(31)
    const a = assignLayers(mixes, 1000)
    const b = assignLayers([...mixes].reverse(), 1000)
    assert.deepEqual(a.map((l) => l.map((n) => nodeKeyHex(n.nodeKey))), b.map((l) => l.map((n) => nodeKeyHex(n.nodeKey))), 'deterministic from the epoch and the set')
    assert.deepEqual(a.map((l) => l.length).sort(), [10, 10, 11], 'balanced by count (± 1)')
    const c = assignLayers(mixes, 1001)
    assert.notDeepEqual(a.map((l) => l.map((n) => nodeKeyHex(n.nodeKey))), c.map((l) => l.map((n) => nodeKeyHex(n.nodeKey))), 'another epoch, other layers')
  })

  it('balances by capacity when descriptors carry one', () => {
    const mixes = nodes(60, (i) => i % 10 === 0 ? 10 : 1)
    const load = assignLayers(mixes, 7).map((l) => l.reduce((s, n) => s + (n.capacity ?? 1), 0))
    const total = load.reduce((x, y) => x + y, 0)
    assert.ok(Math.max(...load) - Math.min(...load) <= 10, `capacity per layer ${load.join(' ')} of ${total}`)
  })

  it('builds paths with one node per layer, the guard first, none excluded', () => {
    const mixes = nodes(12)
    const layers = assignLayers(mixes, 3)
    const layerOf = new Map(layers.flatMap((l, i) => l.map((n) => [n, i] as const)))
    const rng = seeded(1)
    const gw = layers[1]?.[0] as TopologyNode
    for (let k = 0; k < 200; k++) {
      const path = selectLayeredPath({ layers, hops: 3, rng, exclude: (n) => n === gw })
      assert.deepEqual(path.map((n) => layerOf.get(n)), [0, 1, 2])
      assert.ok(!path.includes(gw))
    }
    const guard = layers[2]?.[1] as TopologyNode
    const path = selectLayeredPath({ layers, hops: 3, first: guard, rng })
    assert.equal(path[0], guard)
    assert.deepEqual(path.slice(1).map((n) => layerOf.get(n)), [1, 2])
    assert.equal(new Set(path).size, 3, 'distinct nodes')
  })

  it('borrows from other layers in a small network and refuses a path it cannot build', () => {
    const mixes = nodes(4)
    const layers = assignLayers(mixes, 9)
    const path = selectLayeredPath({ layers, hops: 3, rng: seeded(2), exclude: (n) => (layers[1] ?? []).includes(n) })
    assert.equal(new Set(path).size, 3)
    assert.throws(() => selectLayeredPath({ layers, hops: 5, rng: seeded(3) }), { code: 'UMBRA_ERR_NOT_ENOUGH_MIXES' })
  })
})

describe('guard policy (Tor guard-spec)', () => {
  it('samples 3 guards with lifetimes of 30 to 60 days and keeps them', () => {
    const mixes = nodes(30)
    const now = 1_000 * DAY
    const { sample, changed } = maintainGuards({ sample: [], candidates: mixes, now, rng: seeded(4) })
    assert.ok(changed)
    assert.equal(sample.length, GUARD_PRIMARY)
    for (const g of sample) assert.ok(g.expiresAt - now >= GUARD_LIFETIME_MIN_MS && g.expiresAt - now <= GUARD_LIFETIME_MAX_MS)
    const again = maintainGuards({ sample, candidates: mixes, now: now + 20 * DAY, rng: seeded(5) })
    assert.equal(again.changed, false, 'nothing changes while the guards are listed and alive')
    const expired = maintainGuards({ sample, candidates: mixes, now: now + 61 * DAY, rng: seeded(6) })
    assert.equal(expired.sample.filter((g) => sample.some((s) => s.key === g.key)).length, 0, 'all rotated after their lifetime')
  })

  it('replaces a guard that left the directory by the next one and forgets it after 20 days unlisted', () => {
    const mixes = nodes(10)
    let now = 500 * DAY
    let { sample } = maintainGuards({ sample: [], candidates: mixes, now, rng: seeded(7) })
    const first = sample[0] as GuardEntry
    const without = mixes.filter((n) => nodeKeyHex(n.nodeKey) !== first.key)
    ;({ sample } = maintainGuards({ sample, candidates: without, now, rng: seeded(8) }))
    assert.equal(sample.length, 4, 'a fourth guard sampled')
    assert.equal(sample[0]?.unlistedSince, now)
    const listed = keysOf(without)
    assert.deepEqual(primaryGuards(sample, listed).map((g) => g.key), sample.slice(1).map((g) => g.key), 'the next guards move up')
    assert.equal(pickGuard(sample, listed, now), sample[1]?.key)
    // It comes back within 20 days: it is the first guard again (Tor keeps the order).
    const back = maintainGuards({ sample, candidates: mixes, now: now + DAY, rng: seeded(9) }).sample
    assert.equal(pickGuard(back, keysOf(mixes), now + DAY), first.key)
    now += GUARD_REMOVE_UNLISTED_MS
    ;({ sample } = maintainGuards({ sample, candidates: without, now, rng: seeded(10) }))
    assert.ok(!sample.some((g) => g.key === first.key), 'removed after 20 days unlisted')
  })

  it('backs off a failing guard on the retry schedule and returns to it', () => {
    assert.equal(guardRetryDelayMs(0, true), 10 * 60_000)
    assert.equal(guardRetryDelayMs(7 * 3600_000, true), 90 * 60_000)
    assert.equal(guardRetryDelayMs(5 * DAY, true), 4 * 3600_000)
    assert.equal(guardRetryDelayMs(8 * DAY, true), 9 * 3600_000)
    assert.equal(guardRetryDelayMs(0, false), 3600_000)
    const mixes = nodes(6)
    const listed = keysOf(mixes)
    const now = 100 * DAY
    let { sample } = maintainGuards({ sample: [], candidates: mixes, now, rng: seeded(11) })
    const g0 = sample[0]?.key as string
    sample = guardFailed(sample, g0, listed, now)
    assert.equal(sample[0]?.retryAt, now + 10 * 60_000)
    assert.equal(pickGuard(sample, listed, now + 1000), sample[1]?.key, 'the next primary guard meanwhile')
    assert.equal(pickGuard(sample, listed, now + 10 * 60_000), g0, 'retried after 10 min')
    sample = guardSucceeded(sample, g0)
    assert.equal(sample[0]?.retryAt, undefined)
  })

  it('persists the guard set in the state database across a reopen', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'umbra-guards-'))
    try {
      const mixes = nodes(8)
      const path = join(dir, 'umbra.db')
      const db1 = openStateDatabase({ path })
      const g1 = openGuards(db1)
      const picked = g1.pick(mixes)
      assert.ok(picked != null)
      g1.failed(picked.nodeKey)
      const before = g1.sample()
      db1.close()
      const db2 = openStateDatabase({ path })
      const g2 = openGuards(db2)
      assert.deepEqual(g2.sample(), before, 'same guards, same order, same failure record')
      assert.equal(db2.version('mixnet-guards'), 1)
      const next = g2.pick(mixes)
      assert.equal(nodeKeyHex(next?.nodeKey as Uint8Array), before[1]?.key, 'the failed guard is still backed off')
      db2.close()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('path probes with a guard', () => {
  it('blames a guard that loses every loop, not the mixes behind it', () => {
    let t = 0
    const probes = createPathProbes({ timeoutMs: 1000, now: () => t })
    const mixes = nodes(6).map((n) => n.nodeKey)
    const guard = mixes[0] as Uint8Array
    for (let i = 0; i < 12; i++) probes.sent(`l${i}`, [guard, mixes[1 + (i % 5)] as Uint8Array, mixes[1 + ((i + 2) % 5)] as Uint8Array])
    t = 2000
    probes.sweep()
    assert.deepEqual(probes.suspects().map(nodeKeyHex), [nodeKeyHex(guard)])
  })
})

describe('guards on in-process nodes', { timeout: 60_000 }, () => {
  const N = 7
  let net: Testnet

  before(async () => {
    net = await createTestnet(N, { mixnet: { preset: 'none', threads: 1 } })
    await until('full directories', async () => net.nodes.every((n) => n.mixnet.directory().length === N) ? true : undefined, 30_000, 200)
  })
  after(async () => { await net?.stop() })

  it('sends every packet through a guard, and through the next guard once the first one left', async (t) => {
    const recipient = net.nodes[N - 1] as UmbraNode
    const p = await recipient.pseudonyms.create({ gateways: 1 })
    const peerOf = (n: UmbraNode): string => n.peerId.toString()
    // A sender whose first guard is neither the recipient nor its gateway (so stopping the guard stops neither).
    let sender: UmbraNode | undefined
    for (const candidate of net.nodes.slice(0, N - 1)) {
      if (p.gateways.includes(peerOf(candidate))) continue
      await candidate.mixnet.send(p.key, randomBytes(100), { timeout: 20_000 })
      const g = candidate.mixnet.traffic?.().guards[0]
      if (g != null && g !== peerOf(recipient) && !p.gateways.includes(g)) { sender = candidate; break }
    }
    assert.ok(sender != null, 'a sender with a suitable guard')
    for (let i = 0; i < 4; i++) await sender.mixnet.send(p.key, randomBytes(100), { timeout: 20_000 })
    const before = sender.mixnet.traffic?.()
    assert.ok(before != null)
    assert.equal(before.guards.length, 3)
    const firstHops = Object.keys(before.packetsOutByLink)
    t.diagnostic(`guards ${before.guards.join(' ')}; first hops ${JSON.stringify(before.packetsOutByLink)}`)
    // The first guard, except for a packet whose gateway it is (a path never names a node twice): then the next guard.
    assert.ok(firstHops.every((h) => before.guards.includes(h)), 'every originated packet went to a guard')
    assert.ok((before.packetsOutByLink[before.guards[0] as string] ?? 0) >= 5, 'the first guard carried the messages')

    const dead = net.nodes.find((n) => peerOf(n) === before.guards[0]) as UmbraNode
    const deadId = peerOf(dead)
    const stoppedAt = Date.now()
    await dead.stop()
    await until('the guard to leave the directory', async () => sender?.mixnet.directory().some((d) => d.peerId === deadId) === false ? true : undefined, 15_000, 100)
    t.diagnostic(`the first guard left the sender's directory ${Date.now() - stoppedAt} ms after it stopped`)
    for (let i = 0; i < 3; i++) await sender.mixnet.send(p.key, randomBytes(100), { timeout: 20_000 })
    const later = sender.mixnet.traffic?.()
    assert.ok(later != null)
    t.diagnostic(`after ${deadId} left: guards ${later.guards.join(' ')}; first hops ${JSON.stringify(later.packetsOutByLink)}`)
    assert.ok(!later.guards.includes(deadId), 'the dead guard is no longer primary')
    assert.deepEqual(later.guards.slice(0, 2), before.guards.slice(1), 'the next guards moved up, in order')
    assert.equal(later.guards.length, 3, 'a new guard was sampled')
    const added = Object.entries(later.packetsOutByLink).filter(([k, v]) => v !== before.packetsOutByLink[k]).map(([k]) => k)
    // The next guard carries them, unless it is the pseudonym's gateway: then the one after it (a path never names a node twice).
    const next = later.guards.find((g) => !p.gateways.includes(g)) as string
    assert.ok(added.includes(next) && added.every((h) => later.guards.includes(h)), 'the later packets went to the next guards')
    await until('the messages to arrive', async () => recipient.mixnet.inbox().length >= 8 ? true : undefined, 10_000, 100)
  })
})
