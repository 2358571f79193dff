/**
 * Path probes (issue 8, item 2): the scoring rule with an injected clock,
 * then a silent dropper on real loopback nodes with loop cover on.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { MIX_PROTOCOL } from '../../src/mixnet/constants.ts'
import { createPathProbes } from '../../src/mixnet/path-probes.ts'
import { createTestnet, type Testnet } from '../../src/testnet/index.ts'
import type { UmbraNode } from '../../src/node/index.ts'

const key = (n: number): Uint8Array => new Uint8Array(32).fill(n)

describe('path probe scores', () => {
  it('suspects the mix on every lost loop, not the honest mixes it shared paths with', () => {
    let t = 1_000_000
    const probes = createPathProbes({ timeoutMs: 10_000, now: () => t })
    const bad = key(9)
    const honest = [key(1), key(2), key(3), key(4)]
    // 12 loops: each honest mix is on 6 of them; the bad mix on the 4 that are lost.
    for (let i = 0; i < 12; i++) {
      const path = [honest[i % 4] as Uint8Array, honest[(i + 1) % 4] as Uint8Array]
      const lost = i % 3 === 0
      if (lost) path.push(bad)
      probes.sent(`loop-${i}`, path)
      if (!lost) probes.returned(`loop-${i}`)
    }
    assert.deepEqual(probes.sweep(), [], 'nothing is lost before the timeout')
    t += 10_000
    assert.deepEqual(probes.sweep(), ['09'.repeat(32)])
    assert.deepEqual(probes.suspects(), [bad])
    // The suspicion ends after 10 min.
    t += 10 * 60_000 + 1
    assert.deepEqual(probes.suspects(), [])
  })

  it('needs 4 losses and few returns; unknown and late returns change nothing', () => {
    let t = 0
    const probes = createPathProbes({ timeoutMs: 1_000, now: () => t })
    for (let i = 0; i < 3; i++) probes.sent(`a${i}`, [key(5)])
    t = 2_000
    assert.deepEqual(probes.sweep(), [], '3 losses are not enough')
    probes.returned('a0') // late: already scored as lost
    probes.returned('never-sent')
    for (let i = 0; i < 2; i++) { probes.sent(`r${i}`, [key(5)]); probes.returned(`r${i}`) }
    probes.sent('a3', [key(5)])
    probes.sent('a4', [key(5)])
    t = 4_000
    assert.deepEqual(probes.sweep(), [], '5 losses with 2 returns: the returns are more than a quarter')
    for (let i = 0; i < 4; i++) probes.sent(`b${i}`, [key(5)])
    t = 6_000
    assert.deepEqual(probes.sweep(), ['05'.repeat(32)], '9 losses with 2 returns')
  })
})

describe('a silent dropper on real loopback nodes (preset balanced: loop cover on)', () => {
  let net: Testnet
  before(async () => {
    // No packet links (linkPort false): the dropper below swallows packets on the libp2p mix stream.
    net = await createTestnet(7, { mixnet: { preset: 'balanced', threads: 1, linkPort: false } })
    const started = Date.now()
    while (!net.nodes.every((n) => n.mixnet.directory().length === 7)) {
      if (Date.now() - started > 30_000) throw new Error('directories did not converge')
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  })
  after(async () => { await net?.stop() })

  it('a mix that accepts packets and relays none becomes a suspect, and later sends go around it', { timeout: 150_000 }, async (t) => {
    const recipient = net.nodes[6] as UmbraNode
    const p = await recipient.pseudonyms.create()
    const sender = net.nodes.find((n) => n !== recipient && n.peerId !== p.gateways[0]) as UmbraNode
    // The reply mailbox is claimed with the first loop: the dropper must not be its gateway (loops end there, unscored).
    while (sender.mixnet.replyGateway() == null) await new Promise((resolve) => setTimeout(resolve, 100))
    const dropper = net.nodes.find((n) => n !== recipient && n !== sender && n.peerId !== p.gateways[0] && n.peerId !== sender.mixnet.replyGateway()) as UmbraNode
    // The dropper stays connected, listed and reachable; it reads every packet and relays none.
    await dropper.libp2p.unhandle(MIX_PROTOCOL)
    await dropper.libp2p.handle(MIX_PROTOCOL, (stream) => { void (async () => { for await (const chunk of stream) void chunk })().catch(() => {}) }, { maxInboundStreams: 256 })
    for (const n of net.nodes) if (n !== dropper) await dropper.libp2p.hangUp(n.libp2p.peerId).catch(() => {})
    const started = Date.now()
    while (!sender.mixnet.suspects().includes(dropper.peerId)) {
      if (Date.now() - started > 120_000) throw new Error(`no suspicion after 120 s; suspects ${JSON.stringify(sender.mixnet.suspects())}; loops ${sender.mixnet.counters().loopsSent} sent, ${sender.mixnet.counters().loopsReturned} back`)
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
    const foundMs = Date.now() - started
    const suspects = sender.mixnet.suspects()
    assert.deepEqual(suspects, [dropper.peerId], 'only the dropper is suspected')
    const before = sender.mixnet.counters().retransmitted
    for (let i = 0; i < 8; i++) {
      const receipt = await sender.mixnet.send(p.key, new Uint8Array([i]), { hops: 3, replySurbs: 0 })
      assert.ok(receipt.status === 'stored' || receipt.status === 'delivered')
    }
    const resent = sender.mixnet.counters().retransmitted - before
    t.diagnostic(`dropper suspected after ${foundMs} ms of loop cover; 8 sends of 3 hops afterwards needed ${resent} retransmissions`)
    assert.equal(resent, 0, 'no path of a later send crossed the dropper')
  })
})
