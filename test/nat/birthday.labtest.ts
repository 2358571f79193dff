/**
 * Issue 17 item 2 in the NAT lab: birthday-paradox UDP hole punching
 * between a client behind a cone NAT and one behind a port-randomising NAT
 * (`MASQUERADE --random-fully`), which a plain punch and WebRTC never get
 * through (lab.labtest.ts, scenarios.labtest.ts).
 *
 * Stage (a): raw UDP sockets (src/nat/birthday.ts driven by
 * fixtures/birthday-agent.ts), no libp2p: 20 punches, each checked against
 * both routers' connection tracking and by datagrams both ways on the pair.
 *
 * Stages (b) and (c): `umbra punch` between two `umbra start` processes,
 * signalled over the relay (`/umbra/birthday-punch/1.0.0`, vouchers from the
 * relay), then Noise and Yamux over a udx stream on the punched pair: the
 * report must say `direct`/`udp-birthday` only when the routers hold a
 * two-way UDP flow between the NATs, and a message must be acknowledged.
 * `UMBRA_BIRTHDAY_LOG_DIR=<dir>` (with `UMBRA_LOG_LEVEL=debug`) keeps the
 * clients' logs per attempt.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { appendFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { createNatLab, natLabSkipReason, type NatLab, type UdpFlow } from './lab.ts'
import { LabAgent, type AgentEvent } from './lab-agent.ts'
import { cli, median, reserved, start, stop, twoWayFlow, until, type Running } from './lab-nodes.ts'

const ATTEMPTS = Number(process.env.UMBRA_BIRTHDAY_ATTEMPTS ?? 20)
/** Punches between umbra processes (each with a freshly started peer B). */
const NODE_ATTEMPTS = Number(process.env.UMBRA_BIRTHDAY_NODE_ATTEMPTS ?? 3)
const ECHO_UDP_PORT = 3478
const ECHO_TCP_PORT = 3479
/** One punch may take 1,750 probes at 10 ms (17.5 s) plus set-up. */
const PUNCH_TIMEOUT_MS = 40_000

const skip = await natLabSkipReason(['conntrack'])

async function startAgent (lab: NatLab, host: NatLab['server'], fixture: string, args: string[] = []): Promise<LabAgent> {
  const agent = new LabAgent(lab, host, fixture, args)
  await agent.ready(fixture, host)
  return agent
}

/** Sends `cmd` and waits for the first event after it that matches one of `evs`. */
async function ask (agent: LabAgent, cmd: Record<string, unknown>, evs: string[], ms: number): Promise<AgentEvent> {
  const from = agent.events.length
  agent.send(cmd)
  const e = await agent.waitFor((x) => evs.includes(x.ev), ms, from)
  assert.ok(e != null, `no ${evs.join('/')} after ${JSON.stringify(cmd)} within ${ms} ms`)
  return e
}

describe('birthday punch with raw sockets, cone / random', { skip, timeout: 180_000 }, () => {
  let lab: NatLab
  let a: LabAgent
  let b: LabAgent
  before(async () => {
    lab = await createNatLab({ natA: 'cone', natB: 'random', id: 'bd' })
    await startAgent(lab, lab.server, 'echo-server.ts', [String(ECHO_UDP_PORT), String(ECHO_TCP_PORT)])
    a = await startAgent(lab, lab.clientA, 'birthday-agent.ts')
    b = await startAgent(lab, lab.clientB, 'birthday-agent.ts')
  })
  after(async () => { await lab?.destroy() })

  it(`finds the pair in >= ${Math.ceil(ATTEMPTS * 0.9)} of ${ATTEMPTS} attempts, median time to direct <= 6 s, datagrams flow both ways on a two-way conntrack flow`, async (t) => {
    const times: number[] = []
    const probes: number[] = []
    let direct = 0
    for (let i = 0; i < ATTEMPTS; i++) {
      const secret = randomBytes(32).toString('hex')
      const mapped = await ask(a, { op: 'map', server: { host: lab.server.addr, port: ECHO_UDP_PORT } }, ['mapped', 'failed'], 5_000)
      assert.equal(mapped.ev, 'mapped')
      assert.equal(mapped.host, lab.routerA.addr, 'the cone NAT maps the socket to its WAN address')
      const started = performance.now()
      const fromA = a.events.length
      const fromB = b.events.length
      const opened = await ask(b, { op: 'open', target: { host: mapped.host, port: mapped.port }, secret }, ['opened', 'failed'], 10_000)
      assert.equal(opened.ev, 'opened', JSON.stringify(opened))
      a.send({ op: 'probe', peerIp: lab.routerB.addr, secret })
      const [wa, wb] = await Promise.all([
        a.waitFor((e) => e.ev === 'won' || e.ev === 'failed', PUNCH_TIMEOUT_MS, fromA),
        b.waitFor((e) => e.ev === 'won' || e.ev === 'failed', PUNCH_TIMEOUT_MS, fromB)
      ])
      const elapsed = performance.now() - started
      if (wa?.ev !== 'won' || wb?.ev !== 'won') {
        t.diagnostic(`attempt ${i + 1}: no pair (${JSON.stringify(wa)} ${JSON.stringify(wb)}) after ${Math.round(elapsed)} ms`)
        b.send({ op: 'reset' })
        a.send({ op: 'reset' })
        continue
      }
      const remoteA = wa.remote as { host: string, port: number }
      const remoteB = wb.remote as { host: string, port: number }
      assert.equal(remoteA.host, lab.routerB.addr)
      assert.deepEqual(remoteB, { host: lab.routerA.addr, port: mapped.port })
      // Datagrams both ways on the pair.
      const fromA2 = a.events.length
      const fromB2 = b.events.length
      b.send({ op: 'send', data: `hello ${i}` })
      a.send({ op: 'send', data: `back ${i}` })
      const gotA = await a.waitFor((e) => e.ev === 'message' && e.data === `hello ${i}`, 2_000, fromA2)
      const gotB = await b.waitFor((e) => e.ev === 'message' && e.data === `back ${i}`, 2_000, fromB2)
      assert.ok(gotA != null && gotB != null, `attempt ${i + 1}: datagrams crossed both ways`)
      // Both routers hold a replied flow between the two NATs' public sides for exactly this pair.
      const flowsA = await lab.udpFlows(lab.routerA)
      const flowsB = await lab.udpFlows(lab.routerB)
      const pairA = flowsA.find((f: UdpFlow) => f.src === lab.clientA.addr && f.sport === wa.local && f.dst === lab.routerB.addr && f.dport === remoteA.port)
      const pairB = flowsB.find((f: UdpFlow) => f.src === lab.clientB.addr && f.sport === wb.local && f.dst === lab.routerA.addr && f.dport === mapped.port)
      assert.ok(pairA?.replied === true, `router A holds a two-way flow to ${remoteA.host}:${remoteA.port}`)
      assert.ok(pairB?.replied === true && pairB.replySport === mapped.port && pairB.replyDport === remoteA.port, `router B maps the winning socket to ${remoteA.port}`)
      direct++
      times.push(elapsed)
      probes.push(wa.count as number)
      t.diagnostic(`attempt ${i + 1}: pair after ${Math.round(elapsed)} ms (${String(wa.count)} probes; sockets opened in ${Math.round(opened.ms as number)} ms), ${lab.routerA.addr}:${mapped.port} <-> ${remoteA.host}:${remoteA.port}`)
      a.send({ op: 'reset' })
      b.send({ op: 'reset' })
    }
    t.diagnostic(`direct ${direct}/${ATTEMPTS}; time to pair median ${Math.round(median(times))} ms, max ${Math.round(Math.max(...times))} ms; probes median ${median(probes)}, max ${Math.max(...probes)}`)
    assert.ok(direct >= Math.ceil(ATTEMPTS * 0.9), `direct in ${direct} of ${ATTEMPTS}`)
    assert.ok(median(times) <= 6_000, `median time to direct ${Math.round(median(times))} ms`)
    for (const [ns, n] of Object.entries(await lab.leaks())) assert.equal(n, 0, `${ns} leaked ${n} packets`)
  })
})

describe('birthday punch between umbra nodes, cone / random: Noise and Yamux on the punched pair', { skip, timeout: 150_000 }, () => {
  let lab: NatLab
  let dir: string
  let relay: Running, a: Running, b: Running
  before(async () => {
    lab = await createNatLab({ natA: 'cone', natB: 'random', id: 'bn' })
    dir = await mkdtemp(join(tmpdir(), 'umbra-nat-birthday-'))
    relay = { host: lab.server, apiPort: 7460, dataDir: join(dir, 'relay'), args: ['--listen', `/ip4/${lab.server.addr}/tcp/4001`, '--stun-port', '3478'], peerId: '', addrs: [] }
    await start(lab, relay)
    const boot = `/ip4/${lab.server.addr}/tcp/4001/p2p/${relay.peerId}`
    a = { host: lab.clientA, apiPort: 7460, dataDir: join(dir, 'a'), args: ['--client', '--listen', '/ip4/0.0.0.0/tcp/0', '--bootstrap', boot], peerId: '', addrs: [] }
    b = { host: lab.clientB, apiPort: 7460, dataDir: join(dir, 'b'), args: ['--client', '--listen', '/ip4/0.0.0.0/tcp/0', '--bootstrap', boot], peerId: '', addrs: [] }
    await Promise.all([start(lab, a), start(lab, b)])
  })
  after(async () => {
    for (const n of [a, b, relay]) if (n != null) await stop(n, 'SIGKILL').catch(() => {})
    await lab?.destroy()
    if (dir != null) await rm(dir, { recursive: true, force: true })
  })

  const mappingOf = async (node: Running): Promise<string> => await until(`${node.host.ns} to classify its NAT`, async () => {
    const m = (await cli(lab, node, ['id'])).nat.mapping as string
    return m !== 'unknown' ? m : undefined
  }, 20_000)

  it(`${NODE_ATTEMPTS} punches, each with a fresh peer behind the randomising NAT: direct via udp-birthday, on a two-way flow, a message acknowledged`, async (t) => {
    assert.equal(await mappingOf(a), 'consistent')
    const times: number[] = []
    let direct = 0
    for (let i = 0; i < NODE_ATTEMPTS; i++) {
      if (i > 0) {
        await stop(b)
        b.dataDir = join(dir, `b-${i}`)
        await start(lab, b)
      }
      if (process.env.UMBRA_BIRTHDAY_LOG_DIR != null) for (const n of [a, b]) n.child?.stderr?.on('data', (d: Buffer) => { appendFileSync(join(process.env.UMBRA_BIRTHDAY_LOG_DIR as string, `${n.host.ns}-${i}.log`), d) })
      assert.equal(await mappingOf(b), 'random')
      await reserved(lab, a)
      const bAddrs = await reserved(lab, b)
      const r = await cli(lab, a, ['punch', b.peerId, ...bAddrs.flatMap((x) => ['--addr', x]), '--timeout', '10000'], 60_000)
      const flowA = await twoWayFlow(lab, lab.routerA, lab.routerB)
      const flowB = await twoWayFlow(lab, lab.routerB, lab.routerA)
      const listed = ((await cli(lab, a, ['peers'])).peers as Array<{ peerId: string, path: string }>).find((p) => p.peerId === b.peerId)?.path
      t.diagnostic(`attempt ${i + 1}: ${String(r.path)}/${String(r.method)} in ${Math.round(r.elapsedMs)} ms, rtt ${Math.round(r.rttMs)} ms, ${String(r.remoteAddr)}; conntrack A:${flowA ? 'two-way' : 'none'} B:${flowB ? 'two-way' : 'none'}; peers: ${String(listed)}${r.reason != null ? `; ${String(r.reason)}` : ''}`)
      assert.ok(r.rttMs >= 0, `a ping crossed the connection reported: ${JSON.stringify(r)}`)
      assert.equal(listed, r.path, 'umbra peers names the path the punch reported')
      if (r.path === 'direct') {
        assert.equal(r.method, 'udp-birthday')
        assert.ok(flowA && flowB, 'a direct report rests on a two-way UDP flow between the NATs in both routers')
        direct++
        times.push(r.elapsedMs)
      }
      const sent = await cli(lab, a, ['send', b.peerId, `birthday ${i + 1}`], 30_000)
      assert.ok(sent.id != null, `message ${i + 1} acknowledged`)
      assert.equal(sent.path, r.path, `message ${i + 1} was acknowledged over the path the punch reported`)
      const after = ((await cli(lab, a, ['peers'])).peers as Array<{ peerId: string, path: string }>).find((p) => p.peerId === b.peerId)?.path
      assert.equal(after, r.path, 'the message left the path the punch reported in place')
    }
    t.diagnostic(`direct ${direct}/${NODE_ATTEMPTS}; median time to direct ${times.length > 0 ? Math.round(median(times)) : '-'} ms`)
    assert.equal(direct, NODE_ATTEMPTS, 'every punch between a cone and a randomising NAT ends direct')
    for (const [ns, n] of Object.entries(await lab.leaks())) assert.equal(n, 0, `${ns} leaked ${n} packets`)
  })

  it('a peer cannot aim the punch at a third host: forged vouchers are refused and not one packet reaches it', async (t) => {
    // The third host is the server itself: it vouched for nobody at 203.0.113.10, and only its STUN ports (3478, 3479) may see UDP.
    const third = lab.server
    await lab.exec(third, 'iptables', ['-I', 'INPUT', '-p', 'udp', '-m', 'multiport', '!', '--dports', '3478,3479', '-m', 'comment', '--comment', 'umbra-third-host', '-j', 'ACCEPT'])
    const counted = async (): Promise<number> => {
      const { stdout } = await lab.exec(third, 'iptables-save', ['-c', '-t', 'filter'])
      return Number(/^\[(\d+):\d+\].*umbra-third-host/m.exec(stdout)?.[1] ?? NaN)
    }
    // The counter counts: one datagram from A's host to the third host's port 5000.
    await lab.exec(lab.clientA, process.execPath, ['-e', `const s = require('node:dgram').createSocket('udp4'); s.send('x', 5000, '${third.addr}', () => s.close())`])
    assert.equal(await counted(), 1, 'the third host counts a stray datagram')
    const aAddrs = await reserved(lab, a)
    const relayed = aAddrs.find((x) => !x.includes('/webrtc')) as string
    const forger = new LabAgent(lab, lab.clientB, 'birthday-forger.ts', [join(dir, 'forger'), `/ip4/${lab.server.addr}/tcp/4001/p2p/${relay.peerId}`, relayed, third.addr])
    const done = await forger.waitFor((e) => e.ev === 'done' || e.ev === 'error', 60_000)
    assert.equal(done?.ev, 'done', `the forger ran: ${JSON.stringify(forger.events)}`)
    const answers = forger.events.filter((e) => e.ev === 'answer')
    for (const e of answers) t.diagnostic(`${String(e.forgery)}: type ${String(e.type)} (7 = REFUSE): ${String(e.reason)}`)
    assert.equal(answers.length, 3)
    for (const e of answers) {
      assert.equal(e.type, 7, `${String(e.forgery)} refused`)
      assert.match(String(e.reason), /unvouched/)
    }
    // Probing would send 50 packets a second: wait long enough to see any.
    await new Promise((resolve) => setTimeout(resolve, 3_000))
    const n = await counted()
    t.diagnostic(`packets at the third host ${third.addr} (not STUN) after the forgeries: ${n - 1}`)
    assert.equal(n - 1, 0, 'no packet reached the third host')
    // The victim is not left busy or backing off: a refusal sent nothing, so a real punch still works right after.
    forger.child.stdin.end()
  })
})
