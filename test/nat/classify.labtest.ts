/**
 * Issue 17 item 1 in the NAT lab, with a server that has two public
 * addresses: it answers STUN on both, each on its STUN port and the next
 * one, and names the other address in its answers (RFC 5780
 * OTHER-ADDRESS). A client told only the first address samples all four
 * endpoints from one socket. Behind a cone NAT all four see one mapped
 * address (`consistent`); behind `--random-fully` every destination gets
 * its own port (`random`).
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { createNatLab, natLabSkipReason, type NatLab } from './lab.ts'
import { cli, start, stop, until, type Running } from './lab-nodes.ts'

const STUN_PORT = 3478
const skip = await natLabSkipReason()

describe('NAT classification against a server with two addresses (cone / randomising)', { skip, timeout: 120_000 }, () => {
  let lab: NatLab
  let dir: string
  let relay: Running, a: Running, b: Running
  before(async () => {
    lab = await createNatLab({ natA: 'cone', natB: 'random', id: 'two', secondServerAddr: true })
    dir = await mkdtemp(join(tmpdir(), 'umbra-nat-two-'))
    const [first, second] = lab.serverAddrs as [string, string]
    // Listening on both addresses: its STUN server binds both (and the second port on each).
    relay = { host: lab.server, apiPort: 7450, dataDir: join(dir, 'relay'), args: ['--listen', `/ip4/${first}/tcp/4001`, '--listen', `/ip4/${second}/tcp/4001`, '--stun-port', String(STUN_PORT)], peerId: '', addrs: [] }
    await start(lab, relay)
    // The first address only: the client learns the second from the server's STUN answers.
    const boot = ['--bootstrap', `/ip4/${first}/tcp/4001/p2p/${relay.peerId}`]
    a = { host: lab.clientA, apiPort: 7450, dataDir: join(dir, 'a'), args: ['--client', '--listen', '/ip4/0.0.0.0/tcp/0', ...boot], peerId: '', addrs: [] }
    b = { host: lab.clientB, apiPort: 7450, dataDir: join(dir, 'b'), args: ['--client', '--listen', '/ip4/0.0.0.0/tcp/0', ...boot], peerId: '', addrs: [] }
    await Promise.all([start(lab, a), start(lab, b)])
  })
  after(async () => {
    for (const n of [a, b, relay]) if (n != null) await stop(n, 'SIGKILL').catch(() => {})
    await lab?.destroy()
    if (dir != null) await rm(dir, { recursive: true, force: true })
  })

  for (const [which, want] of [['A (cone)', 'consistent'], ['B (--random-fully)', 'random']] as const) {
    it(`client ${which}, told one server address: samples from both on both ports, verdict ${want}`, async (t) => {
      const node = which.startsWith('A') ? a : b
      const router = which.startsWith('A') ? lab.routerA : lab.routerB
      const endpoints = lab.serverAddrs.flatMap((ip) => [`${ip}:${STUN_PORT}`, `${ip}:${STUN_PORT + 1}`]).sort()
      // The first round may run before every endpoint answers; a round with all four is what this checks.
      const nat = await until(`${node.host.ns} to sample all four STUN endpoints`, async () => {
        const got = (await cli(lab, node, ['id'])).nat as { mapping: string, samples: Array<{ server: string, mapped: string }> }
        return got.samples.length === endpoints.length ? got : undefined
      }, 40_000)
      t.diagnostic(`${which}: ${nat.mapping} from ${JSON.stringify(nat.samples)}`)
      assert.deepEqual(nat.samples.map((x) => x.server).sort(), endpoints)
      // Every answer names the router's WAN address: the samples crossed the NAT.
      assert.ok(nat.samples.every((x) => x.mapped.startsWith(`${router.addr}:`)), JSON.stringify(nat.samples))
      const ports = new Set(nat.samples.map((x) => x.mapped))
      assert.equal(ports.size, want === 'consistent' ? 1 : endpoints.length, JSON.stringify(nat.samples))
      assert.equal(nat.mapping, want, JSON.stringify(nat.samples))
    })
  }

  it('no packet left for an address outside the lab', async () => {
    const leaks = await lab.leaks()
    assert.deepEqual(Object.values(leaks).filter((n) => n > 0), [], JSON.stringify(leaks))
  })
})
