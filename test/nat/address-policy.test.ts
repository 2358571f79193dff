import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { createAddressPolicy, defaultAnnouncePrivate } from '../../src/nat/address-policy.ts'

const KAD = '/umbra/kad/1.0.0'
const id = async (): Promise<ReturnType<typeof peerIdFromPrivateKey>> => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
const strs = (list: Array<{ toString(): string }>): string[] => list.map((a) => a.toString())

const LAN = '/ip4/192.168.1.10/tcp/4001'
const LOOP = '/ip4/127.0.0.1/tcp/4001'
const PUB = '/ip4/198.199.80.1/tcp/4001'
const V6PUB = '/ip6/2a01:4f8::1/tcp/4001'
const CIRCUIT = '/ip4/198.199.80.2/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit'
const WEBRTC = `${CIRCUIT}/webrtc`

describe('address policy (who learns which address)', () => {
  it('a client announces only relayed addresses, whatever it listens on', () => {
    const policy = createAddressPolicy({ role: 'client', announcePrivate: true, kadProtocol: KAD })
    assert.deepEqual(strs(policy.announceFilter([LAN, LOOP, PUB, CIRCUIT, WEBRTC].map((a) => multiaddr(a)))), [CIRCUIT, WEBRTC])
    // Its own view keeps everything (NAT status).
    assert.equal(policy.unfiltered().length, 5)
  })

  it('a server drops private and loopback addresses unless told', () => {
    const all = [LAN, LOOP, PUB, V6PUB, '/ip6/::1/tcp/4001', '/ip6/fd00::1/tcp/4001', '/dns4/relay.example/tcp/4001'].map((a) => multiaddr(a))
    assert.deepEqual(strs(createAddressPolicy({ role: 'server', announcePrivate: false, kadProtocol: KAD }).announceFilter(all)), [PUB, V6PUB, '/dns4/relay.example/tcp/4001'])
    assert.equal(createAddressPolicy({ role: 'server', announcePrivate: true, kadProtocol: KAD }).announceFilter(all).length, all.length)
  })

  it('announcePrivate defaults on only when every listen address is an explicit private or loopback IP', () => {
    assert.equal(defaultAnnouncePrivate(['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws']), true)
    assert.equal(defaultAnnouncePrivate(['/ip4/10.0.0.5/tcp/4001']), true)
    assert.equal(defaultAnnouncePrivate(['/ip4/0.0.0.0/tcp/4001']), false)
    assert.equal(defaultAnnouncePrivate(['/ip6/::/tcp/4001']), false)
    assert.equal(defaultAnnouncePrivate(['/ip4/127.0.0.1/tcp/0', '/ip4/198.199.80.1/tcp/4001']), false)
    assert.equal(defaultAnnouncePrivate([]), false)
  })

  it('kad answers give a DHT server as announced, any other peer by relayed addresses only, this node as itself', async () => {
    const policy = createAddressPolicy({ role: 'server', announcePrivate: true, kadProtocol: KAD })
    const [self, server, client, stranger] = await Promise.all([id(), id(), id(), id()])
    policy.setSelf(self)
    policy.onPeerProtocols(server, ['/ipfs/id/1.0.0', KAD])
    policy.onPeerProtocols(client, ['/ipfs/id/1.0.0', '/umbra/msg/1.0.0'])
    const addrs = [LOOP, LAN, PUB, CIRCUIT].map((a) => multiaddr(a))
    assert.equal(policy.peerInfoMapper({ id: server, multiaddrs: addrs }).multiaddrs.length, 4)
    assert.equal(policy.peerInfoMapper({ id: self, multiaddrs: addrs }).multiaddrs.length, 4)
    assert.deepEqual(strs(policy.peerInfoMapper({ id: client, multiaddrs: addrs }).multiaddrs), [CIRCUIT])
    assert.deepEqual(strs(policy.peerInfoMapper({ id: stranger, multiaddrs: addrs }).multiaddrs), [CIRCUIT])
    // A server that stops serving kad (switched to client mode) loses the exception.
    policy.onPeerProtocols(server, ['/ipfs/id/1.0.0'])
    assert.deepEqual(strs(policy.peerInfoMapper({ id: server, multiaddrs: addrs }).multiaddrs), [CIRCUIT])
  })
})
