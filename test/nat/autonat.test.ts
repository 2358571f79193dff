/**
 * Umbra's AutoNAT wiring (src/nat/autonat.ts, issue 17 item 4): the
 * dial-back of the stock service never reuses (and then closes) the asking
 * peer's connection, and only unconfirmed public, non-relayed addresses of
 * this node count as waiting for a dial-back. The dial-back itself needs
 * public addresses, so it runs in the NAT lab (test/nat/upnp.labtest.ts).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { createAutoNat, freshDialBacks } from '../../src/nat/autonat.ts'
import { logger } from '../../src/logger.ts'
import type { AutoNATComponents } from '@libp2p/autonat'

type ConnectionManager = AutoNATComponents['connectionManager']
type NodeAddress = ReturnType<AutoNATComponents['addressManager']['getAddressesWithMetadata']>[number]
/** A silent libp2p component logger (the service logs through `logger.forComponent`). */
const silent = Object.assign(() => {}, { error: () => {}, trace: () => {}, enabled: false })

const PEER = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'

/** A connection manager that records what openConnection was asked. */
function recorder (): { cm: ConnectionManager, calls: Array<{ target: unknown, force: unknown, signal: unknown }> } {
  const calls: Array<{ target: unknown, force: unknown, signal: unknown }> = []
  const cm = {
    connections: ['c1'],
    async openConnection (target: unknown, options: { force?: boolean, signal?: AbortSignal } = {}) {
      calls.push({ target, force: options.force, signal: options.signal })
      return {} as never
    },
    getConnections () { return this.connections }
  }
  return { cm: cm as unknown as ConnectionManager, calls }
}

describe('freshDialBacks', () => {
  it('forces a new connection for a dial of one multiaddr (the dial-back), keeping the other options', async () => {
    const { cm, calls } = recorder()
    const signal = AbortSignal.timeout(1_000)
    await freshDialBacks(cm).openConnection(multiaddr(`/ip4/11.0.113.1/tcp/4100/p2p/${PEER}`), { signal })
    assert.equal(calls[0]?.force, true)
    assert.equal(calls[0]?.signal, signal)
  })
  it('leaves dials of a list of addresses (the random walk) and of a PeerId alone', async () => {
    const { cm, calls } = recorder()
    await freshDialBacks(cm).openConnection([multiaddr('/ip4/11.0.113.1/tcp/4100')])
    await freshDialBacks(cm).openConnection(peerIdFromString(PEER))
    assert.deepEqual(calls.map((c) => c.force), [undefined, undefined])
  })
  it('passes every other call through, bound to the real connection manager', () => {
    const { cm } = recorder()
    assert.deepEqual(freshDialBacks(cm).getConnections(), ['c1'])
  })
})

describe('createAutoNat', () => {
  const addr = (ma: string, type: NodeAddress['type'], verified = false, expires = 0): NodeAddress => ({ multiaddr: multiaddr(ma), type, verified, expires })
  const components = (addrs: NodeAddress[]): AutoNATComponents => ({
    logger: { forComponent: () => silent },
    addressManager: { getAddressesWithMetadata: () => addrs },
    connectionManager: recorder().cm
  }) as unknown as AutoNATComponents

  it('builds the stock service, which still has the method the re-check calls', () => {
    const service = createAutoNat({ log: logger('test') }).service(components([]))
    assert.equal(typeof (service as { verifyExternalAddresses?: unknown }).verifyExternalAddresses, 'function')
  })
  it('waits for a dial-back only on public, non-relayed, unconfirmed UPnP mappings and listen addresses', () => {
    const autonat = createAutoNat({ log: logger('test') })
    autonat.service(components([
      addr('/ip4/11.0.113.1/tcp/4100', 'ip-mapping'),
      addr('/ip4/11.0.113.10/tcp/4001', 'transport'),
      addr('/ip4/11.0.113.1/tcp/4101', 'ip-mapping', true, Date.now() + 60_000),
      addr('/ip4/11.0.113.1/tcp/4102', 'ip-mapping', false, Date.now() + 60_000),
      addr('/ip4/11.0.113.1/tcp/51234', 'observed'),
      addr('/ip4/192.168.1.10/tcp/4100', 'transport'),
      addr(`/ip4/11.0.113.10/tcp/4001/p2p/${PEER}/p2p-circuit`, 'transport')
    ]))
    const got: Multiaddr[] = autonat.unverified()
    assert.deepEqual(got.map((ma) => ma.toString()), ['/ip4/11.0.113.1/tcp/4100', '/ip4/11.0.113.10/tcp/4001'])
  })
})
