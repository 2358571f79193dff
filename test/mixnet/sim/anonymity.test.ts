import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { PRESETS } from '../../../src/mixnet/mixnet-service.ts'
import { analyseTrace, hostileMixes, simulate, type Trace } from '../../../src/mixnet/sim/anonymity.ts'
import { layeredPathSelector, uniformPathSelector } from '../../../src/mixnet/sim/paths.ts'
import { assignLayers, nodeKeyHex, primaryGuards } from '../../../src/mixnet/topology.ts'
import { createHash } from 'node:crypto'
import { createPoolEntropy, poissonMixEntropy } from '../../../src/mixnet/sim/pool-entropy.ts'

/** Two clients (5, 6) each send one packet into mix 0, which emits them to mixes 1 and 2 (Loopix, Theorem 1 with k = 2 then 1). */
function twoSenders (): Trace {
  return {
    mixes: 5,
    nodes: 7,
    from: Int32Array.from([5, 6, 0, 0]),
    to: Int32Array.from([0, 0, 1, 2]),
    prev: Int32Array.from([-1, -1, 0, 1]),
    pool: Int32Array.from([0, 0, 2, 1]),
    time: Float64Array.from([0, 1, 5, 6]),
    length: 4,
    targets: [{ last: 3, sender: 6, first: 0 }],
    meanDelayMs: 10,
    mixCoverRate: 0
  }
}

describe('anonymity simulator (issue 16, item 4)', () => {
  it('one honest Poisson mix holding two packets leaves the observer 1 bit and a coin flip; a hostile one gives the sender away', () => {
    const honest = analyseTrace(twoSenders())
    assert.ok(Math.abs(honest.entropyBits - 1) < 1e-9, `entropy ${honest.entropyBits}`)
    assert.equal(honest.named, 0.5)
    const hostile = analyseTrace(twoSenders(), { hostile: Uint8Array.from([1, 0, 0, 0, 0]) })
    assert.equal(hostile.entropyBits, 0)
    assert.equal(hostile.named, 1)
    // The mix's own cover (Loopix Theorem 2) adds itself as a possible sender.
    const withCover = analyseTrace({ ...twoSenders(), mixCoverRate: 50 })
    assert.ok(withCover.entropyBits > 1, `entropy with mix cover ${withCover.entropyBits}`)
  })

  it('the one-pass posterior equals a direct evaluation of Loopix\'s pool weights on a small network', (t) => {
    const trace = simulate({ preset: PRESETS.balanced, mixes: 5, clients: 10, messageRate: 0.5, windowMs: 10_000, seed: 3 })
    const hostile = hostileMixes(5, 0.2)
    const mu = 1 / trace.meanDelayMs
    const lambda = trace.mixCoverRate / 1000
    // Reference: for each output o of honest mix f, every earlier input i of f gets a_o · Π(1 − a_o') over f's outputs between i and o.
    const entropyOf = (last: number): number => {
      const mass = new Float64Array(trace.length)
      const senders = new Float64Array(trace.nodes)
      mass[last] = 1
      for (let e = last; e >= 0; e--) {
        const m = mass[e] as number
        const f = trace.from[e] as number
        if (m === 0) continue
        if (f >= trace.mixes) { senders[f] = (senders[f] as number) + m; continue }
        const p = trace.prev[e] as number
        if (hostile[f] === 1) {
          if (p < 0) senders[f] = (senders[f] as number) + m
          else mass[p] = (mass[p] as number) + m
          continue
        }
        const weight = (o: number): number => { const k = trace.pool[o] as number; return k === 0 ? 0 : mu / (k * mu + lambda) }
        const k = trace.pool[e] as number
        senders[f] = (senders[f] as number) + m * lambda / (k * mu + lambda)
        let survive = 1
        for (let i = e - 1; i >= 0; i--) {
          if (trace.to[i] === f) mass[i] = (mass[i] as number) + m * weight(e) * survive
          if (trace.from[i] === f) survive *= 1 - weight(i)
        }
      }
      let total = 0
      for (const v of senders) total += v
      let h = 0
      for (const v of senders) if (v > 0) h -= (v / total) * Math.log2(v / total)
      return h
    }
    const n = Math.min(trace.targets.length, 20)
    let sum = 0
    for (let i = 0; i < n; i++) sum += entropyOf((trace.targets[Math.floor(i * trace.targets.length / n)] as Trace['targets'][number]).last)
    const fast = analyseTrace(trace, { hostile, maxTargets: n })
    t.diagnostic(`${n} targets, ${trace.length} transmissions: one pass ${fast.entropyBits.toFixed(6)} bits, reference ${(sum / n).toFixed(6)} bits`)
    assert.ok(n >= 5, `${n} targets`)
    assert.ok(Math.abs(fast.entropyBits - sum / n) < 1e-3, `one pass ${fast.entropyBits} bits, reference ${sum / n} bits`)
  })

  it('preset none gives a global observer every sender; balanced and strong hide them, hostile mixes erode it', (t) => {
    const none = analyseTrace(simulate({ preset: PRESETS.none, mixes: 10, clients: 100, windowMs: 5000 }))
    assert.equal(none.entropyBits, 0)
    assert.equal(none.named, 1)
    const balancedTrace = simulate({ preset: PRESETS.balanced, mixes: 10, clients: 100, windowMs: 5000 })
    const balanced = analyseTrace(balancedTrace)
    const balancedHostile = analyseTrace(balancedTrace, { hostile: hostileMixes(10, 0.2) })
    const strong = analyseTrace(simulate({ preset: PRESETS.strong, mixes: 10, clients: 100, windowMs: 5000 }))
    t.diagnostic(`10 mixes, 100 clients: none ${none.entropyBits} bits; balanced ${balanced.entropyBits.toFixed(2)} bits (named ${balanced.named.toFixed(2)}), 20 % hostile ${balancedHostile.entropyBits.toFixed(2)} bits (named ${balancedHostile.named.toFixed(2)}); strong ${strong.entropyBits.toFixed(2)} bits (named ${strong.named.toFixed(2)}), at most ${balanced.maxBits.toFixed(2)}`)
    assert.ok(balanced.targets > 20 && strong.targets > 20)
    assert.ok(balanced.entropyBits > 4 && balanced.named < 0.3)
    assert.ok(strong.entropyBits > balanced.entropyBits && strong.entropyBits <= strong.maxBits + 1e-9)
    assert.ok(balancedHostile.entropyBits < balanced.entropyBits - 0.5)
  })

  it('the path adapter draws distinct mixes, never the sender or the gateway, uniformly', () => {
    const select = uniformPathSelector(6)
    const seen = new Array(6).fill(0)
    let x = 12345
    const random = (n: number): number => { x = (x * 1103515245 + 12345) % 2 ** 31; return Math.floor(x / 2 ** 31 * n) }
    for (let i = 0; i < 6000; i++) {
      const path = select({ sender: 0, gateway: 5, hops: 3 }, random)
      assert.equal(new Set(path).size, 3)
      assert.ok(!path.includes(0) && !path.includes(5))
      for (const m of path) seen[m]++
    }
    for (const m of [1, 2, 3, 4]) assert.ok(Math.abs(seen[m] - 4500) < 300, `mix ${m} picked ${seen[m]} times of 18,000`)
    assert.throws(() => uniformPathSelector(4)({ sender: 0, gateway: 1, hops: 3 }, random))
  })
})

describe('the simulator\'s layered path selection (the node\'s topology.ts)', () => {
  /** A seeded integer draw in [0, n). */
  const lcg = (seed: number): (n: number) => number => { let x = seed; return (n) => { x = (x * 1103515245 + 12345) % 2 ** 31; return Math.floor(x / 2 ** 31 * n) } }

  it('starts every path at the sender\'s first primary guard (the second when the gateway is the first) and takes hop i from layer i', () => {
    const mixes = 30
    const select = layeredPathSelector({ mixes, seed: 5 })
    const random = lcg(99)
    // The selector's simulated keys, as it derives them, to recompute the epoch's layers here.
    const keys = Array.from({ length: mixes }, (_, i) => ({ nodeKey: new Uint8Array(createHash('sha256').update(`umbra/sim-mix/5/${i}`).digest()), index: i }))
    const layers = assignLayers(keys, 0).map((l) => new Set(l.map((n) => n.index)))
    const indexOf = new Map(keys.map((k) => [nodeKeyHex(k.nodeKey), k.index]))
    let second = 0
    for (let client = mixes; client < mixes + 50; client++) {
      for (let gateway = 0; gateway < mixes; gateway += 3) {
        const path = select({ sender: client, gateway, hops: 3, timeMs: 1000 }, random)
        const primary = primaryGuards(select.guards(client, random), new Set(indexOf.keys())).map((g) => indexOf.get(g.key))
        assert.equal(primary.length, 3)
        const expected = primary[0] === gateway ? primary[1] : primary[0]
        if (primary[0] === gateway) second++
        assert.equal(path[0], expected, `client ${client} gateway ${gateway}: first hop ${path[0]}, guards ${primary.join(',')}`)
        assert.ok(!path.includes(gateway) && new Set(path).size === 3)
        assert.ok(layers[1]?.has(path[1] as number) && layers[2]?.has(path[2] as number), `hops ${path.join(',')} not in layers 1 and 2`)
      }
    }
    assert.ok(second > 0, 'no gateway was a first guard: the second-guard rule went untested')
  })

  it('with guards a client has a hostile first hop on all of its messages or on few; with uniform paths almost every client has some', (t) => {
    const mixes = 20
    const hostile = hostileMixes(mixes, 0.2)
    const exposed = (select: ReturnType<typeof uniformPathSelector>): number => {
      const random = lcg(7)
      let clients = 0
      for (let client = mixes; client < mixes + 200; client++) {
        let any = false
        for (let m = 0; m < 20; m++) {
          const path = select({ sender: client, gateway: random(mixes), hops: 3 }, random)
          if (hostile[path[0] as number] === 1) any = true
        }
        if (any) clients++
      }
      return clients / 200
    }
    const layered = exposed(layeredPathSelector({ mixes }))
    const uniform = exposed(uniformPathSelector(mixes))
    t.diagnostic(`20 mixes, 20 % hostile, 200 clients × 20 messages: clients with a hostile first hop on some message: guards ${layered.toFixed(2)}, uniform ${uniform.toFixed(2)}`)
    assert.ok(layered < 0.45, `guards: ${layered}`)
    assert.ok(uniform > 0.9, `uniform: ${uniform}`)
  })
})

describe('a relay\'s own anonymity estimate (umbra_mixnet_anonymity_bits)', () => {
  it('is log2 of the pool without own cover, rises with own cover, and is 0 for zero-delay forwarding', () => {
    assert.ok(Math.abs(poissonMixEntropy(4, 1 / 20, 0) - 2) < 1e-12)
    assert.ok(poissonMixEntropy(4, 1 / 20, 1 / 1000) > 2)
    const relay = createPoolEntropy({ coverRate: 0 })
    for (let i = 0; i < 1000; i++) relay.departed(8, 20)
    assert.ok(Math.abs(relay.bits() - 3) < 1e-9, `bits ${relay.bits()}`)
    const unmixed = createPoolEntropy({ coverRate: 1 })
    for (let i = 0; i < 100; i++) unmixed.departed(1, 0)
    assert.equal(unmixed.bits(), 0)
    assert.equal(unmixed.departures(), 100)
  })
})

describe('the relay estimate on /metrics', () => {
  it('is served as umbra_mixnet_anonymity_bits from the mixnet handle, 0 on a node without one', async () => {
    const { createNodeMetrics } = await import('../../../src/metrics/node-metrics.ts')
    const relay = createPoolEntropy({ coverRate: 0 })
    for (let i = 0; i < 10; i++) relay.departed(16, 100)
    const metrics = await createNodeMetrics()
    metrics.attach({ connections: () => [], mixnet: { counters: () => ({ packetsIn: 0, forwarded: 0, forwardFailed: 0, dropped: {}, stored: 0, refused: 0, acksSent: 0, acksFailed: 0, fragmentsSent: 0, retransmitted: 0, loopsSent: 0, loopsReturned: 0, dropCoverSent: 0, coverDropped: 0, replyGatewayMoves: 0, gatewayFailovers: 0, gatewayReplacements: 0, duplicatesDropped: 0 }), gatewayUsage: () => undefined, anonymityEstimate: () => ({ bits: relay.bits() }) } })
    assert.match(await metrics.text(), /^umbra_mixnet_anonymity_bits 4$/m)
    const client = await createNodeMetrics()
    client.attach({ connections: () => [] })
    assert.match(await client.text(), /^umbra_mixnet_anonymity_bits 0$/m)
  })
})
