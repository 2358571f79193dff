/**
 * Address harvesting (issue 10, "address privacy for clients"): a stock
 * libp2p node that never contacted a client learns nothing about the
 * client's direct addresses, neither from the servers' FIND_NODE answers for
 * the client's PeerId nor from identify over a connection through a relay.
 *
 * Victims are `umbra start` processes on 127.0.0.1: two servers and one
 * client that joined through both (so both servers hold a direct connection
 * to it and identified it). The client listens on a known TCP port: any
 * non-`/p2p-circuit` address of the client in an answer is a leak.
 * Meanwhile a server sends the client a direct message through the relay
 * path: the well-behaved traffic still arrives.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper, type KadDHT } from '@libp2p/kad-dht'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import type { IdentifyResult, Libp2p } from '@libp2p/interface'
import { eventually, freePort, killStragglers, UmbraProcess } from '../mixnet/process-helpers.ts'

/** A direct (non-relayed) address of the client. */
function isDirect (addr: string): boolean {
  return !addr.includes('/p2p-circuit')
}

describe('address privacy: a client\'s direct addresses reach no one who did not dial it', { timeout: 120_000 }, () => {
  let dir: string
  let s1: UmbraProcess
  let s2: UmbraProcess
  let client: UmbraProcess
  let clientPort: number
  let circuitAddr: string
  let attacker: Libp2p<{ dht: KadDHT }>

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'umbra-adv-addr-'))
    clientPort = await freePort()
    s1 = new UmbraProcess({ name: 's1', dataDir: join(dir, 's1'), role: 'server', port: 0, preset: 'none' })
    s2 = new UmbraProcess({ name: 's2', dataDir: join(dir, 's2'), role: 'server', port: 0, preset: 'none' })
    client = new UmbraProcess({ name: 'client', dataDir: join(dir, 'client'), role: 'client', port: clientPort, preset: 'none' })
    await s1.start([])
    await s2.start(s1.id.addrs)
    await client.start([...s1.id.addrs, ...s2.id.addrs])
    // The client holds a reservation (it is reachable through a relay).
    circuitAddr = await eventually('a relay reservation at the client', async () => {
      const node = await client.call<{ addrs: string[] }>('GET', '/v1/node')
      return node.addrs.find((a) => a.includes('/p2p-circuit') && !a.includes('/webrtc'))
    }, 30_000)
    attacker = await createLibp2p({
      addresses: { listen: [] },
      transports: [tcp(), circuitRelayTransport()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionGater: { denyDialMultiaddr: () => false },
      services: {
        identify: identify(),
        ping: ping(),
        dht: kadDHT({ protocol: '/umbra/kad/1.0.0', clientMode: true, peerInfoMapper: passthroughMapper })
      }
    })
    // Relays open circuits for peers that announce an Umbra protocol only (src/nat/relay-policy.ts): the attacker
    // claims one, so it gets through the relay and identify is really exercised (a stock node is refused earlier).
    await attacker.handle('/umbra/msg/1.0.0', (stream) => { stream.abort(new Error('not a real Umbra node')) })
  })

  after(async () => {
    await Promise.resolve(attacker?.stop()).catch(() => {})
    await Promise.all([client, s2, s1].map(async (p) => await p?.stop('SIGTERM', 5_000).catch(() => {})))
    await killStragglers()
    if (dir != null) await rm(dir, { recursive: true, force: true })
  })

  it('FIND_NODE answers and identify through a relay carry no direct address of the client', async (t) => {
    const clientId = peerIdFromString(client.id.peerId)
    for (const s of [s1, s2]) await attacker.dial(multiaddr(s.id.addrs[0] as string), { signal: AbortSignal.timeout(10_000) })
    await eventually('the attacker\'s routing table to hold both servers', async () => {
      const table = (attacker.services.dht as unknown as { routingTable: { size: number } }).routingTable
      return table.size >= 2 ? true : undefined
    }, 15_000)

    // 1. FIND_NODE for the client's PeerId, every server's answer.
    const answers: Array<{ from: string, addrs: string[] }> = []
    let queried = 0
    try {
      for await (const event of attacker.services.dht.findPeer(clientId, { signal: AbortSignal.timeout(20_000) })) {
        if (event.name !== 'PEER_RESPONSE') continue
        queried++
        for (const p of event.closer) {
          if (p.id.equals(clientId)) answers.push({ from: event.from.toString(), addrs: p.multiaddrs.map((ma) => ma.toString()) })
        }
      }
    } catch (err) {
      // kad-dht throws NotFoundError when no answer named the peer with an address: nothing learned.
      if ((err as Error).name !== 'NotFoundError') throw err
    }
    const fromServers = new Set(answers.map((a) => a.from))
    const kadLeaks = answers.flatMap((a) => a.addrs.filter(isDirect))

    // 2. Connect through a relay and read what identify says.
    // The client's own relayed address (what it publishes): the relay it holds a reservation on.
    const relayed = circuitAddr
    const identified = new Promise<IdentifyResult>((resolve) => {
      attacker.addEventListener('peer:identify', (evt) => { if (evt.detail.peerId.equals(clientId)) resolve(evt.detail) })
    })
    let identifyAddrs: string[] = []
    let identifyNote = ''
    try {
      const conn = await attacker.dial(multiaddr(relayed), { signal: AbortSignal.timeout(10_000) })
      const result = await Promise.race([identified, new Promise<undefined>((resolve) => setTimeout(() => { resolve(undefined) }, 10_000).unref())])
      if (result == null) identifyNote = 'identify did not complete through the relay'
      else identifyAddrs = result.listenAddrs.map((ma) => ma.toString())
      identifyNote ||= `connection ${conn.remoteAddr.toString()}`
    } catch (err) {
      identifyNote = `relayed dial failed: ${(err as Error).message}`
    }
    const stored = await attacker.peerStore.get(clientId).then((p) => p.addresses.map((a) => a.multiaddr.toString()), () => [])
    const identifyLeaks = identifyAddrs.filter(isDirect)
    const storeLeaks = stored.filter(isDirect)

    t.diagnostic(`client listens on 127.0.0.1:${clientPort}; ${queried} FIND_NODE answers, naming the client: ${answers.length} from ${fromServers.size} server(s); direct addresses in them: ${kadLeaks.length} ${JSON.stringify([...new Set(kadLeaks)])}`)
    t.diagnostic(`identify through the relay (${identifyNote}): ${identifyAddrs.length} listen addrs, direct: ${identifyLeaks.length} ${JSON.stringify(identifyLeaks)}`)
    t.diagnostic(`attacker's peer store for the client: ${stored.length} addrs, direct: ${storeLeaks.length} ${JSON.stringify(storeLeaks)}`)

    assert.deepEqual(kadLeaks, [], 'no FIND_NODE answer carries a direct address of the client')
    assert.deepEqual(identifyLeaks, [], 'identify through a relay announces no direct address')
    assert.deepEqual(storeLeaks, [], 'the attacker learned no direct address at all')
    assert.ok(queried >= 2, `both servers answered FIND_NODE (${queried} answers)`)
    assert.ok(identifyAddrs.length > 0, 'identify through the relay answered (with relayed addresses only), so the check is not vacuous')

    // 3. The well-behaved path: a server still reaches the client (through its relay) with a direct message.
    const since = Date.now() - 1_000
    const sent = await s2.call<{ id: string }>('POST', '/v1/messages', { to: client.id.peerId, body: 'still reachable' }, 30_000)
    const got = await eventually('the message at the client', async () => {
      const inbox = await client.call<{ messages: Array<{ body: string }> }>('GET', `/v1/messages?since=${since}`)
      return inbox.messages.find((m) => m.body === 'still reachable')
    }, 20_000)
    t.diagnostic(`well-behaved: s2 -> client direct message ${sent.id} delivered`)
    assert.equal(got.body, 'still reachable')
  })

  it('identify announces no exact version', async () => {
    const s = await attacker.peerStore.get(peerIdFromString(s1.id.peerId))
    const agent = new TextDecoder().decode(s.metadata.get('AgentVersion'))
    assert.equal(agent, 'umbra')
  })
})
