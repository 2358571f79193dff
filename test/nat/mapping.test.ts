/**
 * NAT mapping classification (src/nat/mapping.ts, issue 17 item 1): the
 * hyperdht-derived rules, the endpoint list, and a real sample against two
 * STUN servers on loopback (no NAT: the same mapped port from both); a
 * server with two addresses names the other (RFC 5780 OTHER-ADDRESS) and a
 * client told one samples both.
 */
import assert from 'node:assert/strict'
import { createSocket, type Socket } from 'node:dgram'
import { after, describe, it } from 'node:test'
import { STUN_METHOD_BINDING } from '../../src/nat/constants.ts'
import { decodeStunMessage, encodeStunMessage } from '../../src/nat/stun.ts'
import { classifyMapping, mappingEndpoints, MAX_LEARNED_STUN_HOSTS, otherStunAddress, sampleMapping, STUN_SECOND_PORT_OFFSET } from '../../src/nat/mapping.ts'
import { createStunServer, type StunServer } from '../../src/nat/stun-server.ts'

const s = (server: string, mapped: string): { server: string, mapped: string } => ({ server, mapped })

describe('classifyMapping', () => {
  it('needs two samples', () => {
    assert.equal(classifyMapping([]), 'unknown')
    assert.equal(classifyMapping([s('a:1', '1.2.3.4:5')]), 'unknown')
  })
  it('the same mapped address from every endpoint is consistent; all different is random', () => {
    assert.equal(classifyMapping([s('a:1', '1.2.3.4:5'), s('a:2', '1.2.3.4:5')]), 'consistent')
    assert.equal(classifyMapping([s('a:1', '1.2.3.4:5'), s('a:2', '1.2.3.4:6')]), 'random')
    assert.equal(classifyMapping([s('a:1', '1.2.3.4:5'), s('a:2', '1.2.3.4:6'), s('b:1', '1.2.3.4:7'), s('b:2', '1.2.3.4:8')]), 'random')
  })
  it('follows hyperdht for mixed answers', () => {
    // Three hits: consistent even with an outlier.
    assert.equal(classifyMapping([s('a:1', '1.2.3.4:5'), s('a:2', '1.2.3.4:5'), s('b:1', '1.2.3.4:5'), s('b:2', '1.2.3.4:9')]), 'consistent')
    // Two hits on one IP among four samples: random.
    assert.equal(classifyMapping([s('a:1', '1.2.3.4:5'), s('a:2', '1.2.3.4:5'), s('b:1', '1.2.3.4:6'), s('b:2', '1.2.3.4:7')]), 'random')
    // Two addresses, each seen twice (a NAT with two public IPs): consistent.
    assert.equal(classifyMapping([s('a:1', '1.2.3.4:5'), s('a:2', '1.2.3.4:5'), s('b:1', '5.6.7.8:5'), s('b:2', '5.6.7.8:5')]), 'consistent')
    // Two of three agree: not enough to say.
    assert.equal(classifyMapping([s('a:1', '1.2.3.4:5'), s('a:2', '1.2.3.4:5'), s('b:1', '1.2.3.4:6')]), 'unknown')
  })
})

describe('mappingEndpoints', () => {
  it('asks every IPv4 STUN server on its port and the next, once each', () => {
    assert.deepEqual(mappingEndpoints(['10.0.0.1:3478', '10.0.0.1:3478', '10.0.0.2:5000', 'example.org:3478', '[::1]:3478']), [
      { host: '10.0.0.1', port: 3478 }, { host: '10.0.0.1', port: 3478 + STUN_SECOND_PORT_OFFSET },
      { host: '10.0.0.2', port: 5000 }, { host: '10.0.0.2', port: 5000 + STUN_SECOND_PORT_OFFSET }
    ])
  })
})

describe('sampleMapping', () => {
  const servers: StunServer[] = []
  after(async () => { for (const srv of servers) await srv.stop() })
  it('samples from one socket: two loopback STUN servers see the same port (no NAT: consistent)', async (t) => {
    for (let i = 0; i < 2; i++) {
      const srv = createStunServer({ host: '127.0.0.1', port: 0 })
      await srv.start()
      servers.push(srv)
    }
    const report = await sampleMapping(servers.map((srv) => ({ host: '127.0.0.1', port: srv.address().port })), AbortSignal.timeout(5_000))
    t.diagnostic(JSON.stringify(report))
    assert.equal(report.mapping, 'consistent')
    assert.equal(report.samples.length, 2)
    assert.equal(new Set(report.samples.map((x) => x.mapped)).size, 1, 'one socket, one mapped address')
  })
  it('an endpoint that does not answer is no sample', async () => {
    const report = await sampleMapping([{ host: '127.0.0.1', port: servers[0]?.address().port ?? 1 }, { host: '127.0.0.1', port: 9 }], AbortSignal.timeout(5_000))
    assert.equal(report.samples.length, 1)
    assert.equal(report.mapping, 'unknown')
  })
})

describe('otherStunAddress', () => {
  it('names the next bound IPv4 address on the other of the two ports', () => {
    const other = otherStunAddress(['11.0.113.10', '11.0.113.11'], 3478)
    assert.deepEqual(other({ address: '11.0.113.10', port: 3478 }), { address: '11.0.113.11', port: 3479, family: 'IPv4' })
    assert.deepEqual(other({ address: '11.0.113.11', port: 3479 }), { address: '11.0.113.10', port: 3478, family: 'IPv4' })
  })
  it('names none with one address, a wildcard, or a socket it does not know', () => {
    assert.equal(otherStunAddress(['11.0.113.10'], 3478)({ address: '11.0.113.10', port: 3478 }), undefined)
    assert.equal(otherStunAddress(['0.0.0.0', '11.0.113.10'], 3478)({ address: '0.0.0.0', port: 3478 }), undefined)
    assert.equal(otherStunAddress(['11.0.113.10', '11.0.113.11'], 3478)({ address: '11.0.113.12', port: 3478 }), undefined)
  })
})

describe('sampleMapping with OTHER-ADDRESS', () => {
  const servers: StunServer[] = []
  after(async () => { for (const srv of servers) await srv.stop() })
  it('a client told one address of a two-address server samples both, on both ports', async (t) => {
    // 127.0.0.1 and 127.0.0.2 are both local on Linux loopback: one server node with two addresses.
    const hosts = ['127.0.0.1', '127.0.0.2']
    const first = createStunServer({ host: hosts, port: 0 })
    await first.start()
    servers.push(first)
    const port = first.address().port
    await first.stop()
    servers.length = 0
    for (const p of [port, port + STUN_SECOND_PORT_OFFSET]) {
      const srv = createStunServer({ host: hosts, port: p, otherAddress: otherStunAddress(hosts, port) })
      await srv.start()
      servers.push(srv)
    }
    const report = await sampleMapping(mappingEndpoints([`127.0.0.1:${port}`]), AbortSignal.timeout(10_000))
    t.diagnostic(JSON.stringify(report))
    assert.deepEqual(report.samples.map((x) => x.server).sort(), [`127.0.0.1:${port}`, `127.0.0.1:${port + 1}`, `127.0.0.2:${port}`, `127.0.0.2:${port + 1}`].sort())
    assert.equal(report.mapping, 'consistent')
  })
  it(`learns at most ${MAX_LEARNED_STUN_HOSTS} hosts from OTHER-ADDRESS, whatever the servers name`, async () => {
    // A server that names a new host in every answer (127.0.0.1 → .2 → .3 …): the client stops after the bound.
    const hosts = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5']
    const srv = createStunServer({ host: hosts, port: 0 })
    await srv.start()
    const port = srv.address().port
    await srv.stop()
    const chain = createStunServer({ host: hosts, port, otherAddress: (local) => ({ address: hosts[hosts.indexOf(local.address) + 1] ?? '127.0.0.9', port, family: 'IPv4' }) })
    await chain.start()
    servers.push(chain)
    const report = await sampleMapping([{ host: '127.0.0.1', port }], AbortSignal.timeout(10_000))
    assert.equal(new Set(report.samples.map((x) => x.server.split(':')[0])).size, 1 + MAX_LEARNED_STUN_HOSTS, JSON.stringify(report.samples))
  })
})

/**
 * A STUN responder on loopback that reports the port `mappedPort(source port)`
 * instead of the true one: a NAT's mapping as one destination sees it.
 */
async function fakeNatStun (mappedPort: (port: number) => number): Promise<{ socket: Socket, port: number }> {
  const socket = createSocket('udp4')
  socket.on('message', (msg, rinfo) => {
    const req = decodeStunMessage(msg)
    socket.send(encodeStunMessage({
      method: STUN_METHOD_BINDING,
      messageClass: 'success',
      transactionId: req.transactionId,
      xorMappedAddress: { address: rinfo.address, port: mappedPort(rinfo.port), family: 'IPv4' }
    }), rinfo.port, rinfo.address)
  })
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  return { socket, port: socket.address().port }
}

describe('sampleMapping with two disagreeing samples', () => {
  const sockets: Socket[] = []
  after(() => { for (const s of sockets) s.close() })
  it('a port clash at one destination (a cone NAT) reads consistent: a second socket decides', async (t) => {
    // Destination A sees the true port; destination B sees another port for the first socket only (its port was
    // taken for B by an older flow), as a port-preserving MASQUERADE does on a clash.
    const a = await fakeNatStun((p) => p)
    let clashed: number | undefined
    const b = await fakeNatStun((p) => { clashed ??= p; return p === clashed ? (p % 60_000) + 1_000 : p })
    sockets.push(a.socket, b.socket)
    const report = await sampleMapping([{ host: '127.0.0.1', port: a.port }, { host: '127.0.0.1', port: b.port }], AbortSignal.timeout(10_000))
    t.diagnostic(JSON.stringify(report))
    assert.equal(report.mapping, 'consistent')
    assert.notEqual(report.samples[0]?.mapped.split(':')[1], String(clashed), 'the verdict comes from the second socket')
  })
  it('a NAT that gives every destination its own port stays random', async (t) => {
    const a = await fakeNatStun((p) => p)
    const b = await fakeNatStun((p) => (p % 60_000) + 1_000)
    sockets.push(a.socket, b.socket)
    const report = await sampleMapping([{ host: '127.0.0.1', port: a.port }, { host: '127.0.0.1', port: b.port }], AbortSignal.timeout(10_000))
    t.diagnostic(JSON.stringify(report))
    assert.equal(report.mapping, 'random')
    assert.equal(report.samples.length, 2)
  })
})
