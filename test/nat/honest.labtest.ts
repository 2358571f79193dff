/**
 * Issue 17 item 0 in the NAT lab: repeated `umbra punch` to the same peer
 * must report as honestly as the first. Every report is checked against
 * what the routers' connection tracking saw: a `direct` report needs a
 * two-way (replied) UDP flow between the two NATs' public addresses in both
 * routers' tables, and `umbra peers` must name the same path.
 *
 * Item 1 in the same labs: `umbra id` (`GET /v1/node`) classifies each
 * node's NAT mapping from STUN answers on the server's two ports.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, before, describe, it } from 'node:test'
import { createNatLab, natLabSkipReason, type NatKind, type NatLab } from './lab.ts'
import { cli, reserved, start, stop, twoWayFlow, until, type Running } from './lab-nodes.ts'

/** Punches to the same peer per scenario. */
const REPEATS = Number(process.env.UMBRA_NAT_REPEATS ?? 3)
const skip = await natLabSkipReason(['conntrack'])

function scenario (natA: NatKind, natB: NatKind): void {
  describe(`honest punch reports, ${natA}/${natB}`, { skip, timeout: 180_000 }, () => {
    let lab: NatLab
    let dir: string
    let relay: Running, server2: Running, a: Running, b: Running
    before(async () => {
      // A public segment libp2p counts as public (not TEST-NET-3), so AutoNAT does consider the clients' observed addresses.
      lab = await createNatLab({ natA, natB, id: `h${natA[0]}${natB[0]}`, publicNet: '11.0.113' })
      dir = await mkdtemp(join(tmpdir(), 'umbra-nat-honest-'))
      relay = { host: lab.server, apiPort: 7450, dataDir: join(dir, 'relay'), args: ['--listen', `/ip4/${lab.server.addr}/tcp/4001`, '--stun-port', '3478'], peerId: '', addrs: [] }
      await start(lab, relay)
      // libp2p lists a public listen address only once AutoNAT verified it: the ready line names none yet.
      const boot = `/ip4/${lab.server.addr}/tcp/4001/p2p/${relay.peerId}`
      // A second public server: it knows the relay's STUN server, so it can classify its own (absent) NAT.
      server2 = { host: lab.server, apiPort: 7451, dataDir: join(dir, 'server2'), args: ['--listen', `/ip4/${lab.server.addr}/tcp/4003`, '--stun-port', 'off', '--bootstrap', boot], peerId: '', addrs: [] }
      a = { host: lab.clientA, apiPort: 7450, dataDir: join(dir, 'a'), args: ['--client', '--listen', '/ip4/0.0.0.0/tcp/0', '--bootstrap', boot], peerId: '', addrs: [] }
      b = { host: lab.clientB, apiPort: 7450, dataDir: join(dir, 'b'), args: ['--client', '--listen', '/ip4/0.0.0.0/tcp/0', '--bootstrap', boot], peerId: '', addrs: [] }
      await Promise.all([start(lab, server2), start(lab, a), start(lab, b)])
    })
    after(async () => {
      for (const n of [a, b, server2, relay]) if (n != null) await stop(n, 'SIGKILL').catch(() => {})
      await lab?.destroy()
      if (dir != null) await rm(dir, { recursive: true, force: true })
    })

    it('each node classifies its NAT mapping from one socket (cone: consistent, --random-fully: random, public: consistent, no STUN server known: unknown); AutoNAT keeps NATed clients private', async (t) => {
      const mappingOf = async (node: Running): Promise<{ mapping: string, samples: Array<{ server: string, mapped: string }> }> =>
        await until(`${node.host.ns} to classify its NAT`, async () => {
          const nat = (await cli(lab, node, ['id'])).nat
          return nat.mapping !== 'unknown' ? nat : undefined
        }, 20_000)
      const expected = { cone: 'consistent', upnp: 'consistent', random: 'random' } as const
      for (const [node, want] of [[a, expected[natA]], [b, expected[natB]], [server2, 'consistent']] as const) {
        const nat = await mappingOf(node)
        t.diagnostic(`${node.host.ns.split('-').at(-1)}: ${nat.mapping} from ${JSON.stringify(nat.samples)}`)
        assert.equal(nat.mapping, want, JSON.stringify(nat.samples))
        assert.ok(nat.samples.length >= 2, 'two ports of the server answered')
        assert.deepEqual(nat.samples.map((x) => x.server).sort(), [`${lab.server.addr}:3478`, `${lab.server.addr}:3479`])
      }
      // AutoNAT (its verdict is internal to libp2p; the node derives `reachability` from the addresses AutoNAT confirmed):
      // neither client behind a NAT is confirmed, the public server is public.
      for (const node of [a, b]) {
        await reserved(lab, node)
        assert.equal((await cli(lab, node, ['id'])).nat.reachability, 'private', node.host.ns)
      }
      assert.equal((await cli(lab, server2, ['id'])).nat.reachability, 'public')
      // The first server knows no STUN server but itself is not one it asks: nothing to compare.
      const first = (await cli(lab, relay, ['id'])).nat
      assert.equal(first.mapping, 'unknown')
      assert.deepEqual(first.samples, [])
    })

    it(`${REPEATS} punches to the same peer: every report matches the routers' connection tracking and the peer list`, async (t) => {
      await reserved(lab, a)
      const bAddrs = await reserved(lab, b)
      const seen: string[] = []
      for (let i = 0; i < REPEATS; i++) {
        const r = await cli(lab, a, ['punch', b.peerId, ...bAddrs.flatMap((x) => ['--addr', x]), '--timeout', '10000'], 60_000)
        const flowA = await twoWayFlow(lab, lab.routerA, lab.routerB)
        const flowB = await twoWayFlow(lab, lab.routerB, lab.routerA)
        const listed = ((await cli(lab, a, ['peers'])).peers as Array<{ peerId: string, path: string }>).find((p) => p.peerId === b.peerId)?.path
        seen.push(`${r.path}/${r.method} ${Math.round(r.elapsedMs)}ms conntrack A:${flowA ? 'two-way' : 'none'} B:${flowB ? 'two-way' : 'none'} peers:${listed}`)
        t.diagnostic(`punch ${i + 1}: ${seen.at(-1)}`)
        assert.ok(r.rttMs >= 0, `a ping crossed the connection reported: ${JSON.stringify(r)}`)
        if (r.path === 'direct') assert.ok(flowA && flowB, `punch ${i + 1} reported direct, but the routers hold no two-way UDP flow between ${lab.routerA.addr} and ${lab.routerB.addr}`)
        assert.equal(listed, r.path, `punch ${i + 1}: umbra peers says ${listed}, the punch said ${r.path}`)
        // Both scenarios end direct: cone/cone by WebRTC, cone/random by birthday-paradox punching (issue 17 items 2
        // and 3); every later punch finds that connection (`existing-direct`), and each report rests on the flows above.
        assert.equal(r.path, 'direct', JSON.stringify(r))
        assert.equal(r.method, i > 0 ? 'existing-direct' : natA === natB ? 'webrtc' : 'udp-birthday', JSON.stringify(r))
        await sleep(500)
      }
    })
  })
}

scenario('cone', 'random')
scenario('cone', 'cone')
