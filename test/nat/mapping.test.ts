/**
 * NAT mapping classification (src/nat/mapping.ts, issue 17 item 1): the
 * hyperdht-derived rules, the endpoint list, and a real sample against two
 * STUN servers on loopback (no NAT: the same mapped port from both).
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { classifyMapping, mappingEndpoints, sampleMapping, STUN_SECOND_PORT_OFFSET } from '../../src/nat/mapping.ts'
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
