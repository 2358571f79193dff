/**
 * The soak of issue 8, item 1: anonymous messaging keeps working across many
 * onion key epochs and a restart of a sender's reply gateway.
 *
 * Real `umbra start` processes on 127.0.0.1 with the shortest epoch a node
 * accepts (10 s) and the default preset (`balanced`: per-hop delays and cover
 * traffic). A server and a client send to one pseudonym without pause for at
 * least 10 epochs; the recipient answers every message through its SURB.
 * Halfway, the client's reply gateway (where its acknowledgements and replies
 * come back) is killed with SIGKILL and started again at the same address.
 * Before the fix every send failed with UMBRA_ERR_NOT_ENOUGH_MIXES from the
 * second epoch boundary on (the reply gateway's onion keys were a copy).
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { MixnetCounters, PseudonymInfo } from '../../src/mixnet/types.ts'
import { ApiCallError, awaitDirectories, eventually, killStragglers, serverProcesses, startNetwork, UmbraProcess } from './process-helpers.ts'

const SERVERS = 7
/** The shortest epoch `umbra start --mixnet-epoch` accepts, ms. */
const EPOCH_MS = 10_000
/** Epoch boundaries the soak must cross. */
const EPOCHS = 10

interface MixnetView {
  preset: string
  counters: MixnetCounters
  replyGateway?: string
}

interface MessageEntry {
  kind: 'direct' | 'anonymous' | 'reply'
  id?: string
  inReplyTo?: string
  body: string
  receivedAt: number
}

interface SendResult {
  sender: string
  id?: string
  body: string
  ok: boolean
  code?: string
  ms: number
  at: number
}

const epochOf = (t: number): number => Math.floor(t / EPOCH_MS)
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

describe('anonymous messaging over 10+ key epochs with a reply gateway restart (processes, balanced preset)', { timeout: 300_000 }, () => {
  let dir: string
  let servers: UmbraProcess[] = []
  let client: UmbraProcess
  const all = (): UmbraProcess[] => client == null ? servers : [...servers, client]
  const bootstrapFor = (self?: UmbraProcess): string[] => servers.filter((s) => s !== self && s.running).slice(0, 3).flatMap((s) => s.id.addrs)

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'umbra-soak-'))
    // The senders send without pause (about 5 messages/s into one recipient, which owes an acknowledgement and a reply
    // for each): more than `balanced`'s 5 packets/s payload stream carries, so replies would queue past their SURB's
    // 10 s epoch. The rates are scaled ×4 (20 packets/s); delays and structure stay `balanced`'s.
    const flags = ['--mixnet-epoch', String(EPOCH_MS), '--mixnet-threads', '1', '--mixnet-rate-scale', '4']
    servers = await serverProcesses(dir, SERVERS, { extraArgs: flags })
    client = new UmbraProcess({ name: 'client', dataDir: join(dir, 'client'), role: 'client', port: 0, extraArgs: flags })
    await startNetwork(servers, [client])
    await awaitDirectories(all(), servers.map((s) => s.id.peerId))
  })

  after(async () => {
    await Promise.all(all().map(async (p) => await p.stop('SIGTERM', 5_000).catch(() => {})))
    await killStragglers()
    if (process.env.UMBRA_E2E_KEEP === '1') process.stderr.write(`kept ${dir}\n`)
    else if (dir != null) await rm(dir, { recursive: true, force: true })
  })

  it('delivers every message and every reply path keeps working; no UMBRA_ERR_NOT_ENOUGH_MIXES', async (t) => {
    // Roles are chosen once the client has a reply gateway, so that the node restarted is only a mix and gateway to the others.
    const view = await client.call<MixnetView>('GET', '/v1/mixnet')
    assert.equal(view.preset, 'balanced', 'the soak runs the default preset')
    const replyGatewayId = await eventually('the client\'s reply gateway', async () => (await client.call<MixnetView>('GET', '/v1/mixnet')).replyGateway, 30_000, 500)
    const replyGateway = servers.find((s) => s.id.peerId === replyGatewayId)
    assert.ok(replyGateway != null, 'the reply gateway is one of the servers')
    const recipient = servers.find((s) => s !== replyGateway) as UmbraProcess
    let pseudonym: PseudonymInfo | undefined
    for (let i = 0; i < 8 && pseudonym == null; i++) {
      const p = await recipient.call<PseudonymInfo>('POST', '/v1/pseudonyms', { label: `soak-${i}` })
      if (p.gateways[0] !== replyGatewayId) pseudonym = p
    }
    assert.ok(pseudonym != null, 'a pseudonym whose gateway is not the node to restart')
    const to = pseudonym.key
    const serverSender = servers.find((s) => s !== replyGateway && s !== recipient && s.id.peerId !== pseudonym?.gateways[0]) as UmbraProcess
    t.diagnostic(`recipient ${recipient.name}, pseudonym gateway ${servers.find((s) => s.id.peerId === pseudonym?.gateways[0])?.name}, senders ${serverSender.name} and client, client's reply gateway ${replyGateway.name} (restarted midway)`)

    const results: SendResult[] = []
    const startEpoch = epochOf(Date.now())
    // Ten epochs of sending from mid-epoch cross exactly ten boundaries.
    const endAt = Date.now() + EPOCHS * EPOCH_MS + 300
    const restartAt = Date.now() + (endAt - Date.now()) / 2
    let stop = false

    const sendLoop = async (node: UmbraProcess, name: string): Promise<void> => {
      for (let i = 0; !stop; i++) {
        const body = `${name}-${i}`
        const started = Date.now()
        try {
          const r = await node.call<{ id: string, status: string }>('POST', '/v1/messages', { to, body, anonymous: true, replySurbs: 1 })
          results.push({ sender: name, id: r.id, body, ok: true, ms: Date.now() - started, at: started })
        } catch (err) {
          results.push({ sender: name, body, ok: false, code: err instanceof ApiCallError ? err.code : (err as Error).message, ms: Date.now() - started, at: started })
        }
        await sleep(200)
      }
    }

    // The recipient answers every message it lists, once, through the SURB the message carried.
    const answered = new Set<string>()
    const received = new Map<string, string>()
    let replyFailures = 0
    const replyLoop = async (): Promise<void> => {
      while (!stop) {
        const { messages } = await recipient.call<{ messages: MessageEntry[] }>('GET', '/v1/messages?limit=1000').catch(() => ({ messages: [] as MessageEntry[] }))
        for (const m of messages) {
          if (m.kind !== 'anonymous' || m.id == null || answered.has(m.id)) continue
          answered.add(m.id)
          received.set(m.id, m.body)
          await recipient.call('POST', `/v1/messages/${m.id}/reply`, { body: `re:${m.body}` }).catch(() => { replyFailures++ })
        }
        await sleep(300)
      }
    }

    const restart = async (): Promise<{ downMs: number }> => {
      await sleep(Math.max(0, restartAt - Date.now()))
      const down = Date.now()
      await replyGateway.stop('SIGKILL')
      await sleep(1_000)
      await replyGateway.start(bootstrapFor(replyGateway))
      return { downMs: Date.now() - down }
    }

    const loops = [sendLoop(serverSender, 'server'), sendLoop(client, 'client'), replyLoop()]
    const restarted = restart()
    while (Date.now() < endAt) await sleep(500)
    stop = true
    await Promise.all(loops)
    const { downMs } = await restarted
    const epochs = epochOf(Date.now()) - startEpoch

    // Everything the senders were told was stored reaches the recipient; every reply comes back.
    const sent = results.filter((r) => r.ok)
    const failed = results.filter((r) => !r.ok)
    await eventually('every stored message at the recipient', async () => {
      const { messages } = await recipient.call<{ messages: MessageEntry[] }>('GET', '/v1/messages?limit=1000')
      for (const m of messages) if (m.kind === 'anonymous' && m.id != null && !received.has(m.id)) received.set(m.id, m.body)
      return sent.every((r) => received.get(r.id as string) === r.body) ? true : undefined
    }, 30_000, 1_000).catch(() => {})
    for (const m of (await recipient.call<{ messages: MessageEntry[] }>('GET', '/v1/messages?limit=1000')).messages) {
      if (m.kind === 'anonymous' && m.id != null && !answered.has(m.id)) {
        answered.add(m.id)
        await recipient.call('POST', `/v1/messages/${m.id}/reply`, { body: `re:${m.body}` }).catch(() => { replyFailures++ })
      }
    }
    const repliesAt = async (node: UmbraProcess): Promise<Set<string>> => new Set((await node.call<{ messages: MessageEntry[] }>('GET', '/v1/messages?limit=1000')).messages.filter((m) => m.kind === 'reply').map((m) => m.inReplyTo as string))
    let replied = new Set<string>()
    await eventually('the replies at the senders', async () => {
      replied = new Set([...await repliesAt(serverSender), ...await repliesAt(client)])
      return sent.every((r) => replied.has(r.id as string)) ? true : undefined
    }, 6_000, 1_000).catch(() => {})

    const delivered = sent.filter((r) => received.get(r.id as string) === r.body)
    const latencies = sent.map((r) => r.ms).sort((a, b) => a - b)
    const p = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN
    const after = await client.call<MixnetView>('GET', '/v1/mixnet')
    const notEnough = failed.filter((r) => r.code === 'UMBRA_ERR_NOT_ENOUGH_MIXES').length
    t.diagnostic(`${epochs} epoch boundaries in ${Math.round((Date.now() - startEpoch * EPOCH_MS) / 1000)} s; reply gateway down ${downMs} ms`)
    t.diagnostic(`sends: ${results.length} (server ${results.filter((r) => r.sender === 'server').length}, client ${results.filter((r) => r.sender === 'client').length}), stored ${sent.length}, failed ${failed.length} [${failed.map((r) => `${r.sender}@${Math.round((r.at - startEpoch * EPOCH_MS) / 1000)}s ${r.code}`).join(', ')}], NOT_ENOUGH_MIXES ${notEnough}`)
    t.diagnostic(`delivered ${delivered.length}/${sent.length}; replies back ${sent.filter((r) => replied.has(r.id as string)).length}/${sent.length} (reply calls refused ${replyFailures}); send p50 ${p(0.5)} ms p95 ${p(0.95)} ms max ${p(1)} ms`)
    t.diagnostic(`client: reply gateway now ${servers.find((s) => s.id.peerId === after.replyGateway)?.name}, moves ${after.counters.replyGatewayMoves}, retransmitted ${after.counters.retransmitted}`)

    assert.ok(epochs >= EPOCHS, `${epochs} epochs crossed`)
    assert.equal(notEnough, 0, 'no send failed for want of mixes')
    assert.equal(failed.length, 0, 'every send was stored')
    assert.ok(sent.length >= 2 * 40, `continuous sending (${sent.length} sends)`)
    assert.equal(delivered.length, sent.length, 'every stored message reached the recipient intact')
    assert.ok(sent.filter((r) => r.sender === 'client' && r.at > restartAt + 10_000).length > 0, 'the client kept sending after the restart')
    // A reply is one packet with no retransmission: one whose path crossed the killed node while it was down is lost.
    const lostReplies = sent.filter((r) => !replied.has(r.id as string)).length
    assert.ok(lostReplies <= Math.ceil(sent.length * 0.05), `${lostReplies} replies lost`)
  })
})
