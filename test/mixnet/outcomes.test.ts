/**
 * Honest send outcomes (issue 8, item 6) on real loopback nodes: a first hop
 * that refuses packets is left out of the retries of the message that found
 * it, and a message's outcome stays queryable after `send` returns.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { MIX_PROTOCOL } from '../../src/mixnet/constants.ts'
import { createTestnet, type Testnet } from '../../src/testnet/index.ts'
import type { UmbraNode } from '../../src/node/index.ts'
import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { waitFor } from '../helpers/wait.ts'

const NODES = 7

describe('send outcomes on real loopback nodes', () => {
  let net: Testnet
  before(async () => {
    // No packet links (linkPort false): packets go on libp2p mix streams, which this test breaks on one node; it also
    // keeps the stream path of nodes that announce no link port (older descriptors) covered.
    net = await createTestnet(NODES, { mixnet: { preset: 'none', threads: 1, linkPort: false } })
    await waitFor('every directory to list every node', () => net.nodes.every((n) => n.mixnet.directory().length === NODES), 30_000)
  })
  after(async () => { await net?.stop() })

  it('a first hop that refuses mix streams is tried at most once per message; every send is stored and its outcome says so', async (t) => {
    const recipient = net.nodes[NODES - 1] as UmbraNode
    const p = await recipient.pseudonyms.create()
    const gateway = p.gateways[0]
    // Every packet a node originates leaves through its first usable guard (docs/mixnet.md "Layers and guards"), so the
    // broken node is a sender's first guard other than the gateway (a path never ends where it starts). A sender whose
    // such guard is the recipient is passed over: breaking the recipient would also stop its gateway's pushes.
    let sender: UmbraNode | undefined
    let broken: UmbraNode | undefined
    for (const candidate of net.nodes.filter((n) => n !== recipient && n.peerId !== gateway)) {
      // The contact lookup (itself a mixnet round trip) is done and cached before the breakage; it also samples the guards.
      await candidate.mixnet.send(p.key, new Uint8Array([0]), { hops: 1, replySurbs: 0 })
      const first = candidate.mixnet.traffic?.().guards.find((g) => g !== gateway)
      const node = net.nodes.find((n) => n.peerId === first)
      if (node != null && node !== recipient) { sender = candidate; broken = node; break }
    }
    assert.ok(sender != null && broken != null, 'some sender has a first guard that is neither the gateway nor the recipient')
    // The broken node stays connected and listed, but refuses every packet stream: a dead first hop to whoever picks it.
    await broken.libp2p.unhandle(MIX_PROTOCOL)
    await broken.libp2p.hangUp(sender.libp2p.peerId) // ends a mix stream the warm-up may have opened
    let dialsToBroken = 0
    const dialProtocol = sender.libp2p.dialProtocol.bind(sender.libp2p)
    sender.libp2p.dialProtocol = (async (peer: PeerId | Multiaddr | Multiaddr[], protocols: string | string[], options?: object) => {
      const list = Array.isArray(protocols) ? protocols : [protocols]
      // Links dial the directory's addresses of the node, each ending in /p2p/<PeerId>.
      if (list.includes(MIX_PROTOCOL) && String(peer).includes(broken.peerId)) dialsToBroken++
      return await dialProtocol(peer, protocols, options)
    }) as typeof sender.libp2p.dialProtocol
    const perMessage: number[] = []
    try {
      for (let i = 0; i < 20; i++) {
        const before = dialsToBroken
        const receipt = await sender.mixnet.send(p.key, new Uint8Array([i]), { hops: 1, replySurbs: 0 })
        perMessage.push(dialsToBroken - before)
        assert.equal(receipt.status, 'stored')
        const outcome = sender.mixnet.outcome(receipt.id)
        assert.equal(outcome?.status, 'stored')
        assert.equal(outcome?.storedFragments, outcome?.fragments)
      }
    } finally {
      sender.libp2p.dialProtocol = dialProtocol
    }
    t.diagnostic(`dials of the broken first hop per message: ${perMessage.join(' ')}`)
    assert.ok(perMessage.every((n) => n <= 1), 'no message tried the broken first hop twice')
    assert.ok(dialsToBroken >= 1, 'the broken node was picked as a first hop at least once')
    assert.equal(sender.mixnet.outcome('00'.repeat(16)), undefined)
  })
})
