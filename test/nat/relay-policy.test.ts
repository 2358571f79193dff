/**
 * The relay and admission policy's own logic, without a network: the
 * per-host cap on inbound handshakes (issue 10: one host's silent sockets
 * kept every new peer out), the allow list's CIDR matching, and refusing
 * everything before the policy is attached to a node. The end-to-end attacks
 * are in test/adversary/relay.longtest.ts.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { createRelayPolicy } from '../../src/nat/relay-policy.ts'
import type { MultiaddrConnection } from '@libp2p/interface'

/** A raw inbound socket as the upgrader hands it to the gater: an address and a `close` event. */
function socket (addr: string): MultiaddrConnection & { close: () => void } {
  const target = new EventTarget() as EventTarget & { remoteAddr: unknown, close: () => void }
  target.remoteAddr = multiaddr(addr)
  target.close = () => { target.dispatchEvent(new Event('close')) }
  return target as unknown as MultiaddrConnection & { close: () => void }
}

describe('relay policy', () => {
  it('admits at most maxPendingPerHost handshakes from one host; other hosts still get in; a closed socket frees its slot', async () => {
    const policy = createRelayPolicy({ maxPendingPerHost: 4 })
    const deny = async (addr: string): Promise<boolean> => (await policy.gater.denyInboundConnection?.(socket(addr))) === true
    const attacker = Array.from({ length: 4 }, (_, i) => socket(`/ip4/203.0.113.7/tcp/${40000 + i}`))
    for (const s of attacker) assert.equal(await policy.gater.denyInboundConnection?.(s), false)
    assert.equal(await deny('/ip4/203.0.113.7/tcp/40010'), true, 'a fifth pending socket from one host was admitted')
    assert.equal(await deny('/ip4/198.51.100.1/tcp/5000'), false, 'another host was refused')
    assert.equal(policy.refused['pending-per-host'], 1)
    attacker[0]?.close()
    assert.equal(await deny('/ip4/203.0.113.7/tcp/40011'), false, 'a closed socket did not free its slot')
    policy.detach()
  })

  it('forgets a pending socket after the handshake timeout', async () => {
    const policy = createRelayPolicy({ maxPendingPerHost: 1, upgradeTimeoutMs: 10 })
    assert.equal(await policy.gater.denyInboundConnection?.(socket('/ip6/2001:db8::1/tcp/1')), false)
    assert.equal(await policy.gater.denyInboundConnection?.(socket('/ip6/2001:db8::1/tcp/2')), true)
    await new Promise((resolve) => setTimeout(resolve, 1_200)) // timeout + 1 s grace
    assert.equal(await policy.gater.denyInboundConnection?.(socket('/ip6/2001:db8::1/tcp/3')), false)
    policy.detach()
  })

  it('exempts exactly the hosts inside the allow list CIDRs', async () => {
    const policy = createRelayPolicy({ maxPendingPerHost: 0, allow: ['/ip4/10.0.0.0/ipcidr/8', '/ip6/fd00::/ipcidr/8', '/ip4/192.0.2.5'] })
    const deny = async (addr: string): Promise<boolean> => (await policy.gater.denyInboundConnection?.(socket(addr))) === true
    assert.equal(await deny('/ip4/10.200.3.4/tcp/1'), false)
    assert.equal(await deny('/ip4/11.0.0.1/tcp/1'), true)
    assert.equal(await deny('/ip6/fd12:3456::1/tcp/1'), false)
    assert.equal(await deny('/ip6/fe80::1/tcp/1'), true)
    assert.equal(await deny('/ip4/192.0.2.5/tcp/1'), false)
    assert.equal(await deny('/ip4/192.0.2.6/tcp/1'), true)
    policy.detach()
  })

  it('refuses reservations and circuits until attached to a node', async () => {
    const policy = createRelayPolicy({ identifyWaitMs: 10 })
    const peer = peerIdFromString('12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA')
    assert.equal(await policy.gater.denyInboundRelayReservation?.(peer), true)
    assert.equal(await policy.gater.denyOutboundRelayedConnection?.(peer, peer), true)
    assert.equal(policy.refused['reservation-not-umbra'], 1)
    assert.equal(policy.refused['circuit-not-umbra'], 1)
  })
})
