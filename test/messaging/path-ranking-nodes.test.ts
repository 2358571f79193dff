import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { ConnectionGater, PeerId } from '@libp2p/interface'
import { createTestnet, type Testnet } from '../../src/testnet/index.ts'
import { createNode } from '../../src/node/index.ts'
import { isRelayedAddr } from '../../src/nat/nat-service.ts'
import { pathKey } from '../../src/messaging/path-ranking.ts'
import { ApiClient, createApiServer, type ApiServer } from '../../src/api/index.ts'
import { until } from '../helpers/wait.ts'
import type { UmbraNode } from '../../src/node/index.ts'

/**
 * Path ranking on real nodes (issue 11 item 3, seed 002): a client reachable
 * both directly and through a relay; the sender's direct path is ranked first
 * with its measured RTT; once direct connections to it fail (a firewall on
 * the sender: dials and inbound connections refused), the relayed path moves
 * above the failing direct one and carries the messages.
 */
describe('path ranking on real nodes', () => {
  let net: Testnet
  let a: UmbraNode
  let b: UmbraNode
  let bDirect: Multiaddr
  let blocked = false
  let api: ApiServer
  let client: ApiClient

  before(async () => {
    net = await createTestnet(2, { mixnet: { preset: 'none', threads: 1 } })
    a = net.nodes[1] as UmbraNode
    b = await createNode({
      privateKey: await generateKeyPair('Ed25519'),
      role: 'client',
      listen: ['/ip4/127.0.0.1/tcp/0'],
      bootstrap: net.bootstrap,
      mixnet: { preset: 'none', threads: 1 }
    })
    await b.start()
    api = await createApiServer(a, { token: 'path-ranking-test-token-0123', port: 0 })
    client = new ApiClient({ url: api.url, token: 'path-ranking-test-token-0123' })
    await until('a relay reservation', () => b.getMultiaddrs().some(isRelayedAddr), 15_000)
    // b's TCP listen address (a client announces only relayed ones, and a /p2p-circuit/webrtc one is set up by hole punching, not by a send).
    const tcp = (b.libp2p as unknown as { components: { transportManager: { getAddrs(): Multiaddr[] } } }).components.transportManager.getAddrs().find((ma) => ma.toString().includes('/tcp/') && !ma.toString().includes('/p2p-circuit'))
    assert.ok(tcp, 'the client listens on TCP')
    bDirect = tcp
    // The sender's firewall, off until the test turns it on: no direct connection to or from b, relayed ones pass.
    const gater = (a.libp2p as unknown as { components: { connectionGater: ConnectionGater } }).components.connectionGater
    const dialDeny = gater.denyDialMultiaddr?.bind(gater)
    const inboundDeny = gater.denyInboundEncryptedConnection?.bind(gater)
    const isB = (ma: Multiaddr): boolean => ma.toString().endsWith(`/p2p/${b.peerId}`)
    gater.denyDialMultiaddr = async (ma) => (blocked && isB(ma) && !isRelayedAddr(ma.toString())) || (await dialDeny?.(ma) ?? false)
    gater.denyInboundEncryptedConnection = async (peer: PeerId, conn) =>
      (blocked && peer.toString() === b.peerId && !isRelayedAddr(conn.remoteAddr.toString())) || (await inboundDeny?.(peer, conn) ?? false)
  })
  after(async () => {
    await api?.close().catch(() => {})
    await b?.stop().catch(() => {})
    await net?.stop()
  })

  /** a knows b's direct listen address and its relayed ones (as from a peer record plus an address given by hand). */
  async function teachAddresses (): Promise<void> {
    const relayed = b.getMultiaddrs().filter(isRelayedAddr).map((s) => multiaddr(s))
    await a.libp2p.peerStore.merge(b.libp2p.peerId, { multiaddrs: [bDirect, ...relayed] })
  }

  it('ranks the direct path first with its measured RTT, and the relayed path first once direct fails repeatedly', async (t) => {
    await teachAddresses()
    for (let i = 0; i < 3; i++) {
      const receipt = await a.messaging.send(b.peerId, new TextEncoder().encode(`direct ${i}`))
      assert.equal(receipt.path, 'direct')
    }
    // GET /v1/peers/{peer} shows the same ranking with its measurements.
    const shown = await client.peerPaths(b.peerId)
    assert.equal(shown.peerId, b.peerId)
    const first = shown.paths
    t.diagnostic(`before: ${JSON.stringify(first.map((p) => [p.kind, p.rttMs, p.successRate, p.attempts]))}`)
    assert.equal(first[0]?.kind, 'direct', 'the direct path ranks first')
    assert.ok((first[0]?.rttMs ?? 0) > 0, 'with its measured RTT')
    assert.equal(first[0]?.successRate, 1)
    assert.ok(first.some((p) => p.kind === 'relayed'), 'the relayed path is known too')
    const directRtt = first[0]?.rttMs ?? 0

    blocked = true
    await Promise.all(a.libp2p.getConnections(b.libp2p.peerId).filter((c) => !isRelayedAddr(c.remoteAddr.toString())).map(async (c) => { await c.close() }))
    const paths: string[] = []
    // 4 failures after 3 successes: the direct path's success rate falls below 0.5
    for (let i = 0; i < 4; i++) {
      await teachAddresses()
      const receipt = await a.messaging.send(b.peerId, new TextEncoder().encode(`relayed ${i}`))
      paths.push(receipt.path)
    }
    assert.deepEqual(paths, ['relayed', 'relayed', 'relayed', 'relayed'], 'the messages still arrive, over the relay')
    const after = (await client.peerPaths(b.key)).paths
    assert.deepEqual(after.map((p) => p.addr), (await a.messaging.paths(b.peerId)).map((p) => p.addr))
    t.diagnostic(`after: ${JSON.stringify(after.map((p) => [p.kind, p.rttMs, p.successRate, p.attempts]))}`)
    assert.equal(after[0]?.kind, 'relayed', 'the relayed path moved up')
    assert.ok((after[0]?.rttMs ?? 0) > 0)
    const failed = after.find((p) => p.addr === pathKey(bDirect.toString(), b.peerId))
    assert.ok(failed != null && failed.attempts >= 1 && (failed.successRate ?? 1) < 0.5, 'the direct path failed and ranks below')
    assert.ok(after.indexOf(failed) > 0)
    t.diagnostic(`direct RTT ${directRtt} ms, relayed RTT ${after[0]?.rttMs} ms`)
    assert.equal(b.messaging.inbox().length, 7, 'every message arrived once')
    await assert.rejects(client.peerPaths('not-a-peer'), { status: 400, code: 'UMBRA_ERR_INVALID_RECIPIENT' })
  })
})
