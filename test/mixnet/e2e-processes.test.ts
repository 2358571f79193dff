/**
 * Anonymous messaging end to end over real `umbra start` processes on
 * 127.0.0.1, driven through their HTTP APIs only: the in-process scenarios of
 * mixnet.test.ts, plus what only processes can show (a recipient that goes
 * away and comes back, a gateway killed with SIGKILL and restarted at the
 * same address, a crashed mix leaving every directory).
 *
 * Layout: 10 server nodes (mixes and gateways) on fixed TCP ports, so any of
 * them can be killed and started again at the same address with the same
 * identity, and one client node, the recipient, which holds the pseudonym.
 * The sender is a server node other than the pseudonym's gateway, so an
 * 8-hop path has exactly the 8 other servers to choose from.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { DESCRIPTOR_LIFETIME_MS } from '../../src/mixnet/constants.ts'
import type { MixNodeSummary, MixnetCounters, MixnetPreset, PseudonymInfo } from '../../src/mixnet/types.ts'
import { awaitDirectories, directoryOf, eventually, killStragglers, serverProcesses, startNetwork, UmbraProcess } from './process-helpers.ts'

const SERVERS = 10
/** No per-hop delays, no cover traffic: the fastest preset; `GET /v1/mixnet` must confirm it. */
const PRESET: MixnetPreset = 'none'

/** `POST /v1/messages` with `anonymous: true`. */
interface AnonymousReceipt {
  id: string
  to: string
  anonymous: true
  fragments: number
  retransmissions: number
  status: 'stored' | 'delivered'
  rttMs: number
}

/** One entry of `GET /v1/messages` (the fields these tests read). */
interface MessageEntry {
  kind: 'direct' | 'anonymous' | 'reply'
  anonymous: boolean
  id?: string
  from: string | null
  to?: string
  inReplyTo?: string
  body: string
  encoding: 'utf8' | 'base64'
  receivedAt: number
  repliesLeft?: number
}

interface MixnetView {
  preset: MixnetPreset
  directory: MixNodeSummary[]
  counters: MixnetCounters
}

function bytesOf (entry: MessageEntry): Buffer {
  return Buffer.from(entry.body, entry.encoding === 'base64' ? 'base64' : 'utf8')
}

async function messagesOf (node: UmbraProcess, since: number): Promise<MessageEntry[]> {
  return (await node.call<{ messages: MessageEntry[] }>('GET', `/v1/messages?since=${since}&limit=1000`)).messages
}

/** Waits until `node` lists the anonymous message `id` and returns it. */
async function arrival (node: UmbraProcess, id: string, since: number, timeoutMs: number): Promise<MessageEntry> {
  return await eventually(`message ${id} at ${node.name}`, async () => (await messagesOf(node, since)).find((m) => m.kind === 'anonymous' && m.id === id), timeoutMs)
}

describe('anonymous messaging over umbra start processes', { timeout: 240_000 }, () => {
  let dir: string
  let servers: UmbraProcess[] = []
  let recipient: UmbraProcess
  let sender: UmbraProcess
  let gateway: UmbraProcess
  let pseudonym: PseudonymInfo
  let setupNote = ''
  const all = (): UmbraProcess[] => recipient == null ? servers : [...servers, recipient]
  /** Addresses of a few running servers other than `self`, for `--bootstrap`. */
  const bootstrapFor = (self?: UmbraProcess): string[] => servers.filter((s) => s !== self && s.running).slice(0, 3).flatMap((s) => s.id.addrs)

  before(async () => {
    const started = Date.now()
    dir = await mkdtemp(join(tmpdir(), 'umbra-e2e-mixnet-'))
    servers = await serverProcesses(dir, SERVERS, { preset: PRESET })
    recipient = new UmbraProcess({ name: 'recipient', dataDir: join(dir, 'recipient'), role: 'client', port: 0, preset: PRESET })
    await startNetwork(servers, [recipient])
    const upMs = Date.now() - started
    await awaitDirectories(all(), servers.map((s) => s.id.peerId))
    pseudonym = await recipient.call<PseudonymInfo>('POST', '/v1/pseudonyms', { label: 'e2e' })
    const gw = servers.find((s) => s.id.peerId === pseudonym.gateways[0])
    assert.ok(gw != null, `the gateway ${pseudonym.gateways[0]} is one of the servers`)
    gateway = gw
    sender = servers.findLast((s) => s !== gateway) as UmbraProcess
    setupNote = `${SERVERS} servers + recipient up in ${upMs} ms, directories full after ${Date.now() - started} ms; gateway ${gateway.name}, sender ${sender.name}`
  })

  after(async () => {
    await Promise.all(all().map(async (p) => await p.stop('SIGTERM', 5_000).catch(() => {})))
    await killStragglers()
    // UMBRA_E2E_KEEP=1 keeps the data directories (each node's stderr is in its node.log).
    if (process.env.UMBRA_E2E_KEEP === '1') process.stderr.write(`kept ${dir}\n`)
    else if (dir != null) await rm(dir, { recursive: true, force: true })
  })

  it('runs the preset the nodes were started with', async (t) => {
    t.diagnostic(setupNote)
    for (const node of all()) {
      const view = await node.call<MixnetView>('GET', '/v1/mixnet')
      assert.equal(view.preset, PRESET, node.name)
    }
    const listed = await recipient.call<{ pseudonyms: PseudonymInfo[] }>('GET', '/v1/pseudonyms')
    assert.deepEqual(listed.pseudonyms.map((p) => p.key), [pseudonym.key])
    assert.equal(listed.pseudonyms[0]?.label, 'e2e')
  })

  it('delivers 1 B, 2,000 B and 200 KiB through 1, 3 and 8 hops intact, from no sender', { timeout: 120_000 }, async (t) => {
    const timings: string[] = []
    for (const hops of [1, 3, 8]) {
      for (const size of [1, 2000, 200 * 1024]) {
        const body = randomBytes(size)
        const since = Date.now()
        const receipt = await sender.call<AnonymousReceipt>('POST', '/v1/messages', { to: pseudonym.key, body: body.toString('base64'), encoding: 'base64', anonymous: true, hops })
        assert.equal(receipt.anonymous, true)
        assert.equal(receipt.to, pseudonym.key)
        assert.ok(receipt.status === 'stored' || receipt.status === 'delivered', `status ${receipt.status}`)
        assert.match(receipt.id, /^[0-9a-f]{32}$/)
        assert.ok(receipt.fragments >= Math.ceil(size / 2589), `${receipt.fragments} fragments for ${size} B`)
        const msg = await arrival(recipient, receipt.id, since, 20_000)
        assert.equal(msg.from, null)
        assert.equal(msg.anonymous, true)
        assert.equal(msg.to, pseudonym.key)
        assert.ok(bytesOf(msg).equals(body), `${size} B over ${hops} hops arrived intact`)
        timings.push(`${hops} hops ${size} B: ${receipt.fragments} fragments, ${receipt.retransmissions} resent, stored after ${Math.round(receipt.rttMs)} ms, listed after ${msg.receivedAt - since} ms`)
      }
    }
    for (const line of timings) t.diagnostic(line)
    // Nobody but the recipient got it.
    for (const node of servers) {
      assert.equal((await messagesOf(node, 0)).filter((m) => m.kind === 'anonymous').length, 0, `${node.name} lists no anonymous message`)
    }
  })

  it('answers through a SURB: the sender lists the reply with inReplyTo', { timeout: 60_000 }, async (t) => {
    const since = Date.now()
    const receipt = await sender.call<AnonymousReceipt>('POST', '/v1/messages', { to: pseudonym.key, body: 'ping', encoding: 'utf8', anonymous: true, wait: 'delivered', replySurbs: 2 })
    assert.equal(receipt.status, 'delivered')
    const msg = await arrival(recipient, receipt.id, since, 20_000)
    assert.equal(bytesOf(msg).toString('utf8'), 'ping')
    assert.equal(msg.repliesLeft, 2)
    const answered = await recipient.call<{ id: string, repliesLeft: number }>('POST', `/v1/messages/${receipt.id}/reply`, { body: 'pong', encoding: 'utf8' })
    assert.equal(answered.repliesLeft, 1)
    const reply = await eventually('the reply at the sender', async () => (await messagesOf(sender, since)).find((m) => m.kind === 'reply' && m.inReplyTo === receipt.id), 20_000)
    assert.equal(reply.from, null)
    assert.equal(reply.anonymous, true)
    assert.equal(bytesOf(reply).toString('utf8'), 'pong')
    t.diagnostic(`delivered (end-to-end ack) after ${Math.round(receipt.rttMs)} ms; reply listed after ${reply.receivedAt - since} ms`)
  })

  it('keeps a message for an offline recipient across a SIGKILL of its gateway', { timeout: 90_000 }, async (t) => {
    const stopped = await recipient.stop('SIGTERM')
    assert.equal(stopped.code, 0, 'the recipient stopped cleanly')

    const storedBefore = (await gateway.call<MixnetView>('GET', '/v1/mixnet')).counters.stored
    const body = randomBytes(6000)
    const since = Date.now()
    const receipt = await sender.call<AnonymousReceipt>('POST', '/v1/messages', { to: pseudonym.key, body: body.toString('base64'), encoding: 'base64', anonymous: true, hops: 3 })
    assert.ok(receipt.status === 'stored' || receipt.status === 'delivered', `status ${receipt.status}`)
    assert.ok(receipt.fragments >= 3)
    const storedAfter = (await gateway.call<MixnetView>('GET', '/v1/mixnet')).counters.stored
    assert.ok(storedAfter - storedBefore >= receipt.fragments, `${gateway.name} stored the ${receipt.fragments} fragments (${storedAfter - storedBefore} stored)`)

    const addrsBefore = gateway.id.addrs
    const killed = await gateway.stop('SIGKILL')
    assert.equal(killed.signal, 'SIGKILL')
    const restartedAt = Date.now()
    await gateway.start(bootstrapFor(gateway))
    assert.deepEqual(gateway.id.addrs, addrsBefore, 'the gateway is back at the same address with the same identity')

    await recipient.start(bootstrapFor())
    const recipientUpAt = Date.now()
    const listed = await recipient.call<{ pseudonyms: PseudonymInfo[] }>('GET', '/v1/pseudonyms')
    assert.deepEqual(listed.pseudonyms.map((p) => [p.key, p.gateways]), [[pseudonym.key, pseudonym.gateways]], 'the pseudonym survived the restart')
    const msg = await arrival(recipient, receipt.id, since, 20_000)
    assert.equal(msg.from, null)
    assert.equal(msg.to, pseudonym.key)
    assert.ok(bytesOf(msg).equals(body), 'the stored message arrived intact')
    const online = await eventually('the pseudonym to be online again', async () => {
      const p = (await recipient.call<{ pseudonyms: PseudonymInfo[] }>('GET', '/v1/pseudonyms')).pseudonyms[0]
      return p?.online === true ? p : undefined
    }, 10_000)
    assert.equal(online.key, pseudonym.key)
    t.diagnostic(`offline: stored after ${Math.round(receipt.rttMs)} ms; gateway and recipient restarted in ${recipientUpAt - restartedAt} ms; listed ${Date.now() - recipientUpAt} ms after the recipient was up`)
  })

  it('drops a SIGKILLed mix from every directory within the descriptor lifetime, and lists it again after restart', { timeout: 90_000 }, async (t) => {
    const victim = servers.find((s) => s !== sender && s !== gateway && s !== servers[0]) as UmbraProcess
    const others = all().filter((n) => n !== victim)
    await eventually('every directory to list the victim first', async () => {
      const dirs = await Promise.all(others.map(directoryOf))
      return dirs.every((d) => d.includes(victim.id.peerId)) ? true : undefined
    }, 30_000)

    const killed = await victim.stop('SIGKILL')
    assert.equal(killed.signal, 'SIGKILL')
    const killedAt = Date.now()
    const goneAfter = await Promise.all(others.map(async (node) => {
      await eventually(`${victim.name} gone from ${node.name}'s directory`, async () => (await directoryOf(node)).includes(victim.id.peerId) ? undefined : true, DESCRIPTOR_LIFETIME_MS + 5_000)
      return Date.now() - killedAt
    }))
    const slowest = Math.max(...goneAfter)
    // Issue 3: every node converges within 30 s of a leave (the last descriptor lives DESCRIPTOR_LIFETIME_MS, 25 s).
    assert.ok(slowest <= 30_000, `gone from every directory after ${slowest} ms`)

    const restartedAt = Date.now()
    await victim.start(bootstrapFor(victim))
    const backAfter = await Promise.all(others.map(async (node) => {
      await eventually(`${victim.name} back in ${node.name}'s directory`, async () => (await directoryOf(node)).includes(victim.id.peerId) ? true : undefined, 30_000)
      return Date.now() - restartedAt
    }))
    const entry = (await sender.call<MixnetView>('GET', '/v1/mixnet')).directory.find((d) => d.peerId === victim.id.peerId)
    assert.ok(entry?.addrs.some((a) => a.includes(`/tcp/${victim.port}`)), 'listed at its old address')
    t.diagnostic(`crash: gone from the directories after ${Math.min(...goneAfter)} to ${slowest} ms; back in every directory ${Math.max(...backAfter)} ms after the restart began`)
  })
})
