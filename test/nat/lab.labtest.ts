/**
 * Self-test of the NAT lab (test/nat/lab.ts), without any Umbra code: proves
 * the routers really masquerade, really drop unsolicited traffic, let a UDP
 * hole punch through port-preserving NATs and not through port-randomising
 * ones, leak nothing, and leave nothing behind.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, before, describe, test } from 'node:test'
import { cleanupStaleNatLabs, createNatLab, natLabSkipReason, type Host, type NatKind, type NatLab } from './lab.ts'
import { LabAgent, type AgentEvent } from './lab-agent.ts'

const UDP_ECHO_PORT = 3478
const TCP_ECHO_PORT = 3479
/** Rounds of simultaneous punching, and the pause between rounds. */
const PUNCH_ROUNDS = 20
const PUNCH_INTERVAL_MS = 50
/** How long a packet that should not arrive is waited for. */
const SILENCE_MS = 700
/** A TEST-NET-2 address: outside every prefix of the lab. */
const OUTSIDE_ADDR = '198.51.100.7'

const skip = await natLabSkipReason()

interface Mapping { addr: string, port: number }

/** A fixture process in a lab host (see fixtures/agent.ts), with the echo helpers of this file. */
class Agent extends LabAgent {
  constructor (lab: NatLab, host: Host, fixture: string, args: string[]) {
    super(lab, host, fixture, args)
    agents.push(this)
  }

  /** Starts `fixture` in `host` and waits for its `ready` event. */
  static async start (lab: NatLab, host: Host, fixture: string, args: string[] = []): Promise<Agent> {
    const agent = new Agent(lab, host, fixture, args)
    await agent.ready(fixture, host)
    return agent
  }

  /** Asks the server's UDP echo which public address this agent's socket has. */
  async mappingVia (server: Host): Promise<Mapping> {
    const from = this.events.length
    const fromServer = (e: AgentEvent): boolean => e.ev === 'message' && e.addr === server.addr && e.port === UDP_ECHO_PORT
    for (let i = 0; i < 3; i++) {
      this.send({ op: 'send', addr: server.addr, port: UDP_ECHO_PORT, data: 'whoami' })
      const reply = await this.waitFor(fromServer, 1_000, from)
      if (reply?.data != null) {
        const seen = JSON.parse(reply.data) as Mapping & { data: string }
        return { addr: seen.addr, port: seen.port }
      }
    }
    assert.fail(`no UDP echo reply from ${server.addr}:${UDP_ECHO_PORT}`)
  }

  /** Asks the server's TCP echo which public address a connection from `localPort` has. */
  async tcpMappingVia (server: Host, localPort: number): Promise<Mapping> {
    const from = this.events.length
    this.send({ op: 'tcp', addr: server.addr, port: TCP_ECHO_PORT, data: 'whoami', localPort })
    const reply = await this.waitFor((e) => e.ev === 'tcp' || (e.ev === 'error' && e.op === 'tcp'), 5_000, from)
    assert.equal(reply?.ev, 'tcp', `TCP echo answered (got ${JSON.stringify(reply)})`)
    const seen = JSON.parse(reply?.line ?? '{}') as Mapping & { data: string }
    assert.equal(seen.data, 'whoami')
    return { addr: seen.addr, port: seen.port }
  }

  received (data: string): AgentEvent[] {
    return this.events.filter((e) => e.ev === 'message' && e.data === data)
  }
}

/** A lab for one scenario, with the echo server running on its server host. */
function scenario (natA: NatKind, natB: NatKind): { lab: () => NatLab } {
  let lab: NatLab | undefined
  before(async () => {
    lab = await createNatLab({ natA, natB })
    labs.push(lab)
    await Agent.start(lab, lab.server, 'echo-server.ts', [String(UDP_ECHO_PORT), String(TCP_ECHO_PORT)])
  })
  after(async () => { await lab?.destroy() })
  return { lab: () => { assert.ok(lab != null); return lab } }
}

interface PunchResult {
  a: Agent
  b: Agent
  mappingA: Mapping
  mappingB: Mapping
  /** Punches of B that reached A, and of A that reached B. */
  atA: AgentEvent[]
  atB: AgentEvent[]
}

/**
 * Simultaneous UDP hole punch: each client learns its public mapping from the
 * server's echo, then both send to the other's mapping at the same time.
 */
async function punch (lab: NatLab): Promise<PunchResult> {
  const [a, b] = await Promise.all([Agent.start(lab, lab.clientA, 'agent.ts'), Agent.start(lab, lab.clientB, 'agent.ts')])
  const [mappingA, mappingB] = await Promise.all([a.mappingVia(lab.server), b.mappingVia(lab.server)])
  for (let i = 0; i < PUNCH_ROUNDS; i++) {
    a.send({ op: 'send', ...mappingB, data: 'punch-a' })
    b.send({ op: 'send', ...mappingA, data: 'punch-b' })
    await sleep(PUNCH_INTERVAL_MS)
    if (a.received('punch-b').length > 0 && b.received('punch-a').length > 0) break
  }
  await sleep(SILENCE_MS)
  return { a, b, mappingA, mappingB, atA: a.received('punch-b'), atB: b.received('punch-a') }
}

async function assertNoLeaks (lab: NatLab): Promise<void> {
  const leaks = await lab.leaks()
  assert.deepEqual(Object.keys(leaks).sort(), [lab.server, lab.routerA, lab.routerB, lab.clientA, lab.clientB].map((h) => h.ns).sort())
  for (const [ns, count] of Object.entries(leaks)) assert.equal(count, 0, `${ns} addressed no packet outside the lab`)
}

const labs: NatLab[] = []
const agents: Agent[] = []

if (skip != null) {
  test('NAT lab', (t) => { t.skip(skip) })
}

describe('NAT lab', { skip: skip ?? false, timeout: 60_000 }, () => {
  let hostLinks = ''
  let hostRules = ''
  const hostState = async (): Promise<{ links: string, rules: string }> => {
    const links = await runHost('ip', ['-br', 'link'])
    const rules = (await runHost('iptables-save', [])).split('\n').filter((l) => !l.startsWith('#')).join('\n')
    return { links, rules }
  }
  before(async () => {
    await cleanupStaleNatLabs()
    ;({ links: hostLinks, rules: hostRules } = await hostState())
  })

  describe('cone/random', () => {
    const { lab } = scenario('cone', 'random')
    let agentA: Agent | undefined

    test('the lab is sealed off: nothing in the host namespace, no address or route on the public segment', async () => {
      const { pub, server, routerA, routerB, clientA } = lab()
      assert.equal((await hostState()).links, hostLinks, 'no lab interface in the host namespace')
      const pubHost = { ns: pub, addr: '' }
      assert.equal((await lab().exec(pubHost, 'ip', ['-4', 'addr', 'show', 'scope', 'global'])).stdout, '', 'the public segment has no IPv4 address')
      assert.equal((await lab().exec(pubHost, 'ip', ['-4', 'route'])).stdout, '', 'the public segment has no route')
      for (const host of [server, routerA, routerB]) {
        const routes = (await lab().exec(host, 'ip', ['-4', 'route'])).stdout
        assert.doesNotMatch(routes, /default/, `${host.ns} has no default route`)
      }
      assert.match((await lab().exec(clientA, 'ip', ['-4', 'route'])).stdout, /^default via 192\.168\.1\.1 /, 'clientA routes via routerA')
      assert.equal((await lab().exec(server, 'ip', ['-6', 'addr'])).stdout, '', 'no IPv6')
    })

    test('clients reach UDP and TCP echo through MASQUERADE; cone keeps the port, --random-fully does not', async () => {
      const { server, clientA, clientB, routerA, routerB } = lab()
      const [a, b] = await Promise.all([Agent.start(lab(), clientA, 'agent.ts'), Agent.start(lab(), clientB, 'agent.ts')])
      agentA = a
      assert.deepEqual(await a.mappingVia(server), { addr: routerA.addr, port: a.port }, 'cone: WAN address, same UDP port')
      const udpB = await b.mappingVia(server)
      assert.equal(udpB.addr, routerB.addr, 'random: WAN address')
      assert.notEqual(udpB.port, b.port, 'random: UDP port changed')
      assert.deepEqual(await a.tcpMappingVia(server, 45_001), { addr: routerA.addr, port: 45_001 }, 'cone: WAN address, same TCP port')
      const tcpB = await b.tcpMappingVia(server, 45_002)
      assert.equal(tcpB.addr, routerB.addr, 'random: WAN address (TCP)')
      assert.notEqual(tcpB.port, 45_002, 'random: TCP port changed')
      // A symmetric NAT gives every destination its own mapping.
      const server2 = await Agent.start(lab(), server, 'agent.ts', ['3480'])
      b.send({ op: 'send', addr: server.addr, port: 3480, data: 'second destination' })
      const seen = await server2.waitFor((e) => e.ev === 'message' && e.data === 'second destination', 2_000)
      assert.equal(seen?.addr, routerB.addr)
      assert.notEqual(seen?.port, udpB.port, 'random: a new port for a new destination')
    })

    test('an unsolicited UDP packet to the mapped port is dropped silently by the router', async () => {
      const { server, clientA, routerA } = lab()
      const a = agentA ?? await Agent.start(lab(), clientA, 'agent.ts')
      const mapping = await a.mappingVia(server)
      // From a port the client never sent to: not part of any conntrack entry.
      const stranger = await Agent.start(lab(), server, 'agent.ts', ['3481'])
      stranger.send({ op: 'connect', ...mapping })
      assert.ok(await stranger.waitFor((e) => e.ev === 'connected', 2_000))
      const before = await lab().counters(routerA)
      for (let i = 0; i < 5; i++) {
        stranger.send({ op: 'send', data: 'unsolicited' })
        await sleep(50)
      }
      await sleep(SILENCE_MS)
      const after = await lab().counters(routerA)
      assert.deepEqual(a.received('unsolicited'), [], 'clientA got nothing')
      assert.equal(after.wanInputDropped - before.wanInputDropped, 5, 'all 5 reached routerA and were dropped')
      assert.equal(after.wanOutput, before.wanOutput, 'routerA sent nothing back')
      assert.deepEqual(stranger.events.filter((e) => e.ev === 'error'), [], 'no ICMP error reached the sender')

      // Control: once clientA has sent to that port, the same packet gets through.
      a.send({ op: 'send', addr: server.addr, port: 3481, data: 'open' })
      assert.ok(await stranger.waitFor((e) => e.ev === 'message' && e.data === 'open', 2_000), 'clientA reached the stranger')
      stranger.send({ op: 'send', data: 'solicited' })
      const got = await a.waitFor((e) => e.ev === 'message' && e.data === 'solicited', 2_000)
      assert.deepEqual({ addr: got?.addr, port: got?.port }, { addr: server.addr, port: 3481 })
    })

    test('a simultaneous UDP punch fails (Linux filters by remote address and port)', async () => {
      const r = await punch(lab())
      assert.equal(r.mappingA.port, r.a.port, 'cone side kept its port')
      assert.deepEqual([r.atA.length, r.atB.length], [0, 0], 'no punch got through either way')
    })

    test('no packet was addressed outside the lab', async () => { await assertNoLeaks(lab()) })
  })

  describe('cone/cone', () => {
    const { lab } = scenario('cone', 'cone')

    test('a simultaneous UDP punch succeeds both ways', async () => {
      const { routerA, routerB } = lab()
      const r = await punch(lab())
      assert.deepEqual(r.mappingA, { addr: routerA.addr, port: r.a.port })
      assert.deepEqual(r.mappingB, { addr: routerB.addr, port: r.b.port })
      assert.ok(r.atA.length > 0, 'B\'s punch reached A')
      assert.ok(r.atB.length > 0, 'A\'s punch reached B')
      // Each side sees the other's punches from the very address the server saw.
      assert.deepEqual({ addr: r.atA[0]?.addr, port: r.atA[0]?.port }, r.mappingB)
      assert.deepEqual({ addr: r.atB[0]?.addr, port: r.atB[0]?.port }, r.mappingA)
    })

    test('no packet was addressed outside the lab', async () => { await assertNoLeaks(lab()) })
  })

  describe('random/random', () => {
    const { lab } = scenario('random', 'random')

    test('a simultaneous UDP punch fails', async () => {
      const { routerA, routerB } = lab()
      const r = await punch(lab())
      assert.equal(r.mappingA.addr, routerA.addr)
      assert.equal(r.mappingB.addr, routerB.addr)
      assert.deepEqual([r.atA.length, r.atB.length], [0, 0], 'no punch got through either way')
      const [ca, cb] = await Promise.all([lab().counters(routerA), lab().counters(routerB)])
      assert.ok(ca.wanInputDropped > 0 && cb.wanInputDropped > 0, 'the punches reached the routers and were dropped')
      assert.deepEqual([ca.wanOutput, cb.wanOutput], [0, 0], 'the routers stayed silent')
    })

    test('no packet was addressed outside the lab, and leaks() counts one that is', async () => {
      const { clientA } = lab()
      await assertNoLeaks(lab())
      const a = await Agent.start(lab(), clientA, 'agent.ts')
      a.send({ op: 'send', addr: OUTSIDE_ADDR, port: 9, data: 'leak' })
      const refused = await a.waitFor((e) => e.ev === 'error' && e.op === 'send', 2_000)
      assert.equal(refused?.code, 'EPERM', 'the leak guard dropped it in clientA')
      const leaks = await lab().leaks()
      assert.equal(leaks[clientA.ns], 1)
      assert.equal(Object.values(leaks).reduce((x, y) => x + y, 0), 1)
    })
  })

  test('destroy() leaves no namespace, link, rule or process behind, and is idempotent', async () => {
    assert.equal(labs.length, 3)
    for (const lab of labs) await lab.destroy()
    const names = (await runHost('ip', ['netns', 'list'])).split('\n').map((l) => l.split(' ')[0])
    for (const lab of labs) {
      assert.deepEqual(names.filter((n) => n?.startsWith(lab.prefix)), [], `no ${lab.prefix}* namespace`)
      await lab.destroy()
      await assert.rejects(lab.exec(lab.server, 'true', []), { code: 'UMBRA_ERR_NAT_LAB' })
    }
    for (const agent of agents) assert.ok(agent.child.exitCode != null || agent.child.signalCode != null, 'every lab process has exited')
    const now = await hostState()
    assert.equal(now.links, hostLinks, 'host links unchanged')
    assert.equal(now.rules, hostRules, 'host iptables unchanged')
  })

  test('cleanupStaleNatLabs() removes only lab namespaces of dead processes', async () => {
    const dead = spawn(process.execPath, ['-e', ''])
    await once(dead, 'exit')
    const stale = `umbra-${dead.pid}-stale-pub`
    const mine = `umbra-${process.pid}-mine-pub`
    const foreign = `umbra-${dead.pid}-stale-other`
    for (const ns of [stale, mine, foreign]) await runHost('ip', ['netns', 'add', ns])
    try {
      const removed = await cleanupStaleNatLabs()
      assert.ok(removed.includes(stale), 'the dead run\'s namespace is removed')
      const names = (await runHost('ip', ['netns', 'list'])).split('\n').map((l) => l.split(' ')[0])
      assert.ok(!names.includes(stale))
      assert.ok(names.includes(mine), 'this process\'s namespace is kept')
      assert.ok(names.includes(foreign), 'a name not of the lab\'s form is kept')
    } finally {
      for (const ns of [stale, mine, foreign]) await runHost('ip', ['netns', 'del', ns]).catch(() => {})
    }
  })
})

async function runHost (cmd: string, args: string[]): Promise<string> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d })
  const [code] = await once(child, 'exit') as [number | null]
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${err.trim()}`)
  return out
}
