/**
 * Gateways with failover (issue 11, item 4) over real `umbra start`
 * processes on 127.0.0.1 with the `balanced` preset (the default users run:
 * per-hop delays, loop and drop cover), driven through their HTTP APIs.
 *
 * Layout (8 processes): 6 server nodes (mixes and gateways), a client that
 * holds the pseudonym (its 3 gateways are servers) and a client that sends.
 * The sender sends without pause on two lanes while the pseudonym's first
 * gateway, the one every sender tries first, is SIGKILLed: every send still
 * ends stored, every message arrives exactly once, and the owner replaces
 * the dead gateway and re-publishes its contact record, which a sender that
 * never wrote to the pseudonym before then finds and uses.
 */
import assert from 'node:assert/strict'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { MixnetCounters, MixnetPreset, PseudonymInfo } from '../../src/mixnet/types.ts'
import { awaitDirectories, eventually, serverProcesses, startNetwork, stopAllAndClean, UmbraProcess } from './process-helpers.ts'

const SERVERS = 6
const PRESET: MixnetPreset = 'balanced'
/** Concurrent send lanes of the sender, so that sends are in flight when the gateway dies. */
const LANES = 2
/** Sends before the kill, per lane. */
const SENDS_BEFORE_PER_LANE = 4
/** How long the lanes keep sending after the kill, ms. */
const SEND_AFTER_KILL_MS = 10_000

/** `POST /v1/messages` with `anonymous: true` (the fields read here). */
interface AnonymousReceipt {
  id: string
  status: 'stored' | 'delivered'
  rttMs: number
  retransmissions: number
  gateways: string[]
  gatewayFailovers: number
}

interface MessageEntry {
  kind: 'direct' | 'anonymous' | 'reply'
  id?: string
  body: string
  encoding: 'utf8' | 'base64'
}

interface SendResult {
  body: string
  startedAt: number
  endedAt: number
  receipt?: AnonymousReceipt
  error?: string
}

async function anonymousMessages (node: UmbraProcess, since: number): Promise<MessageEntry[]> {
  return (await node.call<{ messages: MessageEntry[] }>('GET', `/v1/messages?since=${since}`)).messages.filter((m) => m.kind === 'anonymous')
}

async function pseudonymOf (node: UmbraProcess, key: string): Promise<PseudonymInfo | undefined> {
  return (await node.call<{ pseudonyms: PseudonymInfo[] }>('GET', '/v1/pseudonyms')).pseudonyms.find((p) => p.key === key)
}

async function countersOf (node: UmbraProcess): Promise<MixnetCounters> {
  return (await node.call<{ counters: MixnetCounters }>('GET', '/v1/mixnet')).counters
}

describe('a pseudonym with 3 gateways, one SIGKILLed', { timeout: 120_000 }, () => {
  let dir: string
  let servers: UmbraProcess[] = []
  let owner: UmbraProcess
  let sender: UmbraProcess
  let setupNote = ''
  const all = (): UmbraProcess[] => [...servers, owner, sender].filter((p) => p != null)

  before(async () => {
    const started = Date.now()
    dir = await mkdtemp(join(tmpdir(), 'umbra-gateway-failover-'))
    servers = await serverProcesses(dir, SERVERS, { preset: PRESET })
    owner = new UmbraProcess({ name: 'owner', dataDir: join(dir, 'owner'), role: 'client', port: 0, preset: PRESET })
    sender = new UmbraProcess({ name: 'sender', dataDir: join(dir, 'sender'), role: 'client', port: 0, preset: PRESET })
    await startNetwork(servers, [owner, sender])
    await awaitDirectories(all(), servers.map((s) => s.id.peerId))
    setupNote = `${SERVERS} servers + 2 clients (preset ${PRESET}) up, directories full after ${Date.now() - started} ms`
  })

  after(async () => { await stopAllAndClean(all(), dir) })

  it('keeps delivering every message exactly once, and the owner replaces the dead gateway', async (t) => {
    t.diagnostic(setupNote)
    const created = await owner.call<PseudonymInfo>('POST', '/v1/pseudonyms', { label: 'failover' })
    assert.equal(created.gateways.length, 3, 'three gateways by default')
    assert.equal(new Set(created.gateways).size, 3, 'three distinct gateways')
    assert.ok(created.gateways.every((g) => servers.some((s) => s.id.peerId === g)), 'every gateway is a server')
    const connected = await eventually('every gateway to hold the claim', async () => {
      const p = await pseudonymOf(owner, created.key)
      return p?.gatewayStates.every((g) => g.state === 'connected') === true ? p : undefined
    }, 20_000)
    assert.deepEqual(connected.gatewayStates.map((g) => g.peerId), created.gateways)

    const since = Date.now() - 1
    const victim = servers.find((s) => s.id.peerId === created.gateways[0]) as UmbraProcess
    const victimIsReplyGateway = (await sender.call<{ replyGateway?: string }>('GET', '/v1/mixnet')).replyGateway === victim.id.peerId
    const results: SendResult[] = []
    let killedAt = Infinity
    let seq = 0
    const send = async (): Promise<void> => {
      const body = `m-${seq++}`
      const r: SendResult = { body, startedAt: Date.now(), endedAt: 0 }
      results.push(r)
      try {
        r.receipt = await sender.call<AnonymousReceipt>('POST', '/v1/messages', { to: created.key, body, encoding: 'utf8', anonymous: true, replySurbs: 0 })
      } catch (err) {
        r.error = (err as Error).message
      }
      r.endedAt = Date.now()
    }
    // Warm-up: the contact lookup, and every gateway reachable through the mixnet.
    await send()
    let killed: Promise<unknown> | undefined
    await Promise.all(Array.from({ length: LANES }, async (_, lane) => {
      for (let i = 0; i < SENDS_BEFORE_PER_LANE; i++) await send()
      if (lane === 0) {
        killedAt = Date.now()
        killed = victim.stop('SIGKILL')
      }
      while (Date.now() - (Number.isFinite(killedAt) ? killedAt : Date.now()) < SEND_AFTER_KILL_MS) await send()
    }))
    assert.equal((await (killed as Promise<{ signal: string | null }>)).signal, 'SIGKILL')

    const failed = results.filter((r) => r.receipt == null)
    assert.deepEqual(failed.map((r) => r.error), [], 'every send ended stored')
    const stored = results.filter((r) => r.receipt != null)
    const afterKill = stored.filter((r) => r.endedAt > killedAt).sort((a, b) => a.endedAt - b.endedAt)
    const startedAfterKill = stored.filter((r) => r.startedAt >= killedAt)
    assert.ok(startedAfterKill.length >= 4, `${startedAfterKill.length} sends started after the kill`)
    assert.ok(startedAfterKill.every((r) => !(r.receipt?.gateways ?? []).includes(victim.id.peerId)), 'no send after the kill was stored at the dead gateway')
    const failovers = afterKill.filter((r) => (r.receipt?.gatewayFailovers ?? 0) > 0)
    // The dead gateway is first in the record, so sends after the kill pass it over, until the owner's re-published record (the dead gateway replaced) reaches the sender.
    assert.ok(failovers.length > 0, `${failovers.length} of ${afterKill.length} sends ended after the kill needed a failover`)

    // Every stored message arrives, none twice.
    const ids = new Set(stored.map((r) => r.receipt?.id))
    const received = await eventually('every stored message at the owner', async () => {
      const got = (await anonymousMessages(owner, since)).filter((m) => m.id != null && ids.has(m.id))
      return new Set(got.map((m) => m.id)).size === ids.size ? got : undefined
    }, 30_000)
    await new Promise((resolve) => setTimeout(resolve, 2_000)) // late copies from a second gateway would show now
    const final = (await anonymousMessages(owner, since)).filter((m) => m.id != null && ids.has(m.id))
    assert.equal(final.length, ids.size, `${ids.size} distinct messages stored, ${final.length} entries received`)
    assert.equal(new Set(final.map((m) => m.body)).size, final.length, 'no body twice')
    assert.deepEqual(new Set(received.map((m) => m.body)), new Set(stored.map((r) => r.body)))
    const senderCounters = await countersOf(sender)
    const ownerCounters = await countersOf(owner)

    const first = afterKill[0] as SendResult
    const firstStarted = startedAfterKill.sort((a, b) => a.endedAt - b.endedAt)[0] as SendResult
    t.diagnostic(`killed ${victim.name}, gateway 1 of 3${victimIsReplyGateway ? ' (also the sender\'s reply gateway)' : ''}`)
    t.diagnostic(`sent ${results.length} (${results.length - afterKill.length} ended before the kill, ${afterKill.length} after), stored ${stored.length}, failed ${failed.length}; received ${final.length} distinct, ${final.length - ids.size} twice`)
    t.diagnostic(`first send to end stored after the kill: ${first.endedAt - killedAt} ms after it (rtt ${Math.round(first.receipt?.rttMs ?? 0)} ms, failovers ${first.receipt?.gatewayFailovers}); first send started after the kill: stored ${firstStarted.endedAt - killedAt} ms after the kill`)
    t.diagnostic(`sends that needed a failover: ${failovers.length} of ${afterKill.length} ended after the kill (${afterKill.filter((r) => r.startedAt < killedAt).length} were in flight at the kill; ${senderCounters.gatewayFailovers} fragment tries moved after no acknowledgement); retransmissions ${stored.reduce((n, r) => n + (r.receipt?.retransmissions ?? 0), 0)}`)
    t.diagnostic(`owner dropped ${ownerCounters.duplicatesDropped} duplicate fragments`)

    // The owner replaces the dead gateway and re-publishes the record.
    const replaced = await eventually('the dead gateway replaced', async () => {
      const p = await pseudonymOf(owner, created.key)
      return p != null && !p.gateways.includes(victim.id.peerId) && p.gatewayStates.every((g) => g.state === 'connected') ? p : undefined
    }, 30_000)
    const replacedAfter = Date.now() - killedAt
    assert.equal(replaced.gateways.length, 3)
    assert.equal(new Set(replaced.gateways).size, 3)
    assert.deepEqual(replaced.gateways.slice(1), created.gateways.slice(1), 'the live gateways are kept, in order')
    assert.equal((await countersOf(owner)).gatewayReplacements, 1)

    // A server that never wrote to the pseudonym looks the new record up and sends to the new first gateway.
    const fresh = servers.find((s) => s.running && !replaced.gateways.includes(s.id.peerId)) as UmbraProcess
    const freshSince = Date.now() - 1
    const receipt = await fresh.call<AnonymousReceipt>('POST', '/v1/messages', { to: replaced.key, body: 'after-replacement', encoding: 'utf8', anonymous: true, replySurbs: 0 })
    assert.deepEqual(receipt.gateways, [replaced.gateways[0]], 'stored at the replacement gateway, first in the re-published record')
    assert.equal(receipt.gatewayFailovers, 0)
    await eventually('the message through the replacement', async () => (await anonymousMessages(owner, freshSince)).find((m) => m.id === receipt.id), 20_000)
    t.diagnostic(`replaced ${replacedAfter} ms after the kill (all 3 connected); a new sender stored through the replacement in ${Math.round(receipt.rttMs)} ms`)
  })
})
