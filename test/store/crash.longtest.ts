/**
 * Crash tests over real `umbra start` processes (issue 11, "Must show"):
 * a node is SIGKILLed and started again on the same data directory, and what
 * it held before is still there: the kernel lock lets it start at once, DHT
 * records it stored for others are still served by it, and a mix still
 * relays packets of its epoch, including a reply along a SURB that was built
 * before the restart.
 *
 * Layout: 5 server nodes (mixes and gateways, preset `none`, 10-minute key
 * epochs) on fixed ports and 1 client, the recipient of anonymous messages
 * (6 processes).
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { MixnetCounters, PseudonymInfo } from '../../src/mixnet/types.ts'
import { awaitDirectories, eventually, killStragglers, serverProcesses, startNetwork, UmbraProcess } from '../mixnet/process-helpers.ts'

const SERVERS = 5
/** Key epoch of the mixes, ms (`--mixnet-epoch`): the restarts below happen well inside one. */
const EPOCH_MS = 600_000

interface MessageEntry { kind: 'direct' | 'anonymous' | 'reply', id?: string, inReplyTo?: string, body: string, encoding: 'utf8' | 'base64', receivedAt: number }
interface MixnetView { counters: MixnetCounters, replyGateway?: string }

async function messagesOf (node: UmbraProcess, since: number): Promise<MessageEntry[]> {
  return (await node.call<{ messages: MessageEntry[] }>('GET', `/v1/messages?since=${since}`)).messages
}

describe('a node SIGKILLed and restarted on the same data directory', { timeout: 120_000 }, () => {
  let dir: string
  let servers: UmbraProcess[] = []
  let recipient: UmbraProcess
  let setupNote = ''
  const all = (): UmbraProcess[] => recipient == null ? servers : [...servers, recipient]
  const bootstrapFor = (self: UmbraProcess): string[] => servers.filter((s) => s !== self && s.running).slice(0, 2).flatMap((s) => s.id.addrs)

  /** SIGKILLs `node` and starts it again at once; returns the ms from the kill to its ready line. */
  async function crashAndRestart (node: UmbraProcess): Promise<number> {
    const killed = await node.stop('SIGKILL')
    assert.equal(killed.signal, 'SIGKILL')
    const t0 = performance.now()
    await node.start(bootstrapFor(node))
    return performance.now() - t0
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'umbra-crash-'))
    servers = await serverProcesses(dir, SERVERS, { preset: 'none', extraArgs: ['--mixnet-epoch', String(EPOCH_MS)] })
    recipient = new UmbraProcess({ name: 'recipient', dataDir: join(dir, 'recipient'), role: 'client', port: 0, preset: 'none', extraArgs: ['--mixnet-epoch', String(EPOCH_MS)] })
    const t0 = performance.now()
    await startNetwork(servers, [recipient])
    const upMs = performance.now() - t0
    await awaitDirectories(all(), servers.map((s) => s.id.peerId))
    setupNote = `${SERVERS} servers + 1 client up in ${Math.round(upMs)} ms, mix directories full after ${Math.round(performance.now() - t0)} ms`
  })

  after(async () => {
    await Promise.all(all().map(async (p) => await p.stop('SIGTERM', 5_000).catch(() => {})))
    await killStragglers()
    if (dir != null) await rm(dir, { recursive: true, force: true })
  })

  it('refuses a second live node on the directory; after a SIGKILL starts at once and still serves the DHT records it stored', async (t) => {
    t.diagnostic(setupNote)
    const [publisher, , , holder] = servers as [UmbraProcess, UmbraProcess, UmbraProcess, UmbraProcess]
    const keys = ['crash-a', 'crash-b', 'crash-c']
    for (const key of keys) {
      const put = await publisher.call<{ storedOn: number }>('PUT', `/v1/dht/${key}`, { value: `value of ${key}` })
      assert.ok(put.storedOn >= 1, `${key} stored on ${put.storedOn} nodes`)
    }
    for (const key of keys) {
      const got = await holder.call<{ value: string, source: string }>('GET', `/v1/dht/${key}`)
      assert.equal(got.source, 'local', `${holder.name} stores ${key} before the crash`)
    }

    // A second node on the same data directory, while the first lives: refused, one coded line.
    const twin = new UmbraProcess({ name: 'twin', dataDir: holder.dataDir, role: 'server', port: 0 })
    await assert.rejects(twin.start([], 30_000), /UMBRA_ERR_ALREADY_RUNNING/)

    // A stale api.json that names a live process (a reused PID) must not block the restart: only the kernel lock counts.
    const killed = await holder.stop('SIGKILL')
    assert.equal(killed.signal, 'SIGKILL')
    await writeFile(join(holder.dataDir, 'api.json'), JSON.stringify({ url: 'http://127.0.0.1:9', pid: recipient.pid }) + '\n')
    const t0 = performance.now()
    await holder.start(bootstrapFor(holder))
    const restartMs = performance.now() - t0
    t.diagnostic(`${holder.name}: SIGKILL to ready on the same data directory (api.json naming live pid ${String(recipient.pid)}) in ${Math.round(restartMs)} ms`)
    for (const key of keys) {
      const got = await holder.call<{ value: string, source: string }>('GET', `/v1/dht/${key}`)
      assert.equal(got.source, 'local', `${holder.name} serves ${key} from its own store after the restart`)
      assert.equal(got.value, `value of ${key}`)
    }
  })

  let pseudonym: PseudonymInfo
  let gateway: UmbraProcess
  let sender: UmbraProcess

  it('a mix restarted mid-stream relays packets of its epoch and carries a reply along a SURB built before the restart', async (t) => {
    pseudonym = await recipient.call<PseudonymInfo>('POST', '/v1/pseudonyms', { label: 'crash' })
    gateway = servers.find((s) => s.id.peerId === pseudonym.gateways[0]) as UmbraProcess
    assert.ok(gateway != null, 'the pseudonym\'s gateway is a server')
    sender = servers.find((s) => s !== gateway) as UmbraProcess

    const since = Date.now()
    const first = await sender.call<{ id: string, status: string }>('POST', '/v1/messages', { to: pseudonym.key, body: 'before', anonymous: true, hops: 3, replySurbs: 2, wait: 'delivered' })
    assert.equal(first.status, 'delivered')
    await eventually('the first message at the recipient', async () => (await messagesOf(recipient, since)).find((m) => m.kind === 'anonymous' && m.id === first.id), 20_000)
    // With 3 hops among 5 servers, every forward path and every SURB path uses all 3 servers that are neither the
    // sender nor the gateway at the path's end: any of them that is not the sender's reply gateway is on both.
    const { replyGateway } = await sender.call<MixnetView>('GET', '/v1/mixnet')
    assert.ok(replyGateway != null, 'the sender claimed a reply mailbox for the SURBs')
    const victim = servers.find((s) => s !== sender && s !== gateway && s.id.peerId !== replyGateway) as UmbraProcess
    assert.ok(victim != null)

    // Mid-stream: messages keep being sent while the mix is killed and restarted.
    let streaming = true
    let streamed = 0
    const stream = (async () => {
      while (streaming) {
        await sender.call('POST', '/v1/messages', { to: pseudonym.key, body: `stream ${streamed}`, anonymous: true, hops: 3 }).then(() => { streamed++ }, () => {})
        await new Promise((resolve) => setTimeout(resolve, 200))
      }
    })()
    const restartMs = await crashAndRestart(victim)
    streaming = false
    await stream

    // Right after the restart: a new message through the restarted mix, and a reply along a SURB built before it.
    const t0 = performance.now()
    const after = await sender.call<{ id: string, status: string, retransmissions: number }>('POST', '/v1/messages', { to: pseudonym.key, body: 'after', anonymous: true, hops: 3, wait: 'delivered' })
    assert.equal(after.status, 'delivered')
    const deliveredMs = performance.now() - t0
    await recipient.call('POST', `/v1/messages/${first.id}/reply`, { body: 'pong' })
    const reply = await eventually('the reply at the sender', async () => (await messagesOf(sender, since)).find((m) => m.kind === 'reply' && m.inReplyTo === first.id), 20_000)
    assert.equal(reply.body, 'pong')
    const replyMs = performance.now() - t0 - deliveredMs

    const counters = (await victim.call<MixnetView>('GET', '/v1/mixnet')).counters
    assert.ok(counters.forwarded >= 1, `${victim.name} relayed ${counters.forwarded} packets after its restart`)
    assert.equal(counters.dropped.mac ?? 0, 0, `${victim.name} could open every packet with its reloaded keys (mac drops: ${counters.dropped.mac ?? 0})`)
    assert.equal(counters.dropped.epoch ?? 0, 0)
    t.diagnostic(`${victim.name} (mix on every path): SIGKILL to ready in ${Math.round(restartMs)} ms while ${streamed} messages were sent; ` +
      `a message after the restart delivered (end-to-end ack) in ${Math.round(deliveredMs)} ms with ${after.retransmissions} retransmissions; ` +
      `the reply along a pre-restart SURB listed ${Math.round(replyMs)} ms later; ${counters.forwarded} packets relayed since the restart, 0 mac drops`)
  })
  it('a gateway restarted while its client is offline still holds the claim: a message sent then is stored and delivered later', async (t) => {
    const stopped = await recipient.stop('SIGTERM')
    assert.equal(stopped.code, 0)
    const restartMs = await crashAndRestart(gateway)
    const since = Date.now()
    const receipt = await sender.call<{ id: string, status: string }>('POST', '/v1/messages', { to: pseudonym.key, body: 'while offline', anonymous: true, hops: 3 })
    assert.equal(receipt.status, 'stored', 'the restarted gateway took the message for the claimed mailbox')
    await recipient.start(bootstrapFor(recipient))
    const msg = await eventually('the stored message at the recipient', async () => (await messagesOf(recipient, since)).find((m) => m.kind === 'anonymous' && m.id === receipt.id), 20_000)
    assert.equal(msg.body, 'while offline')
    t.diagnostic(`${gateway.name} (gateway): SIGKILL to ready in ${Math.round(restartMs)} ms; its claim came back from the state database; the message stored meanwhile arrived ${msg.receivedAt - since} ms after it was sent`)
  })
})
