/**
 * Constant-rate sending and guards over real `umbra start` processes with
 * the `balanced` preset (issue 16, must-show; docs/mixnet.md "Constant-rate
 * sending" and "Layers and guards"). The preset's rates are scaled with
 * `--mixnet-rate-scale` (the sender ×4: 24 packets/s; servers and the recipient ×1) so that 60 s windows
 * hold enough packets to measure a rate; delays and structure stay
 * `balanced`'s.
 *
 * Layout: 5 server nodes (mixes and gateways), a client that sends (the
 * observed node) and a client that holds the pseudonym and replies.
 * Measured: cover packets per node per second over 60 s idle; the sender's
 * packets per second on its first link during 60 s idle and 60 s sending 20
 * messages, in total and per first link (each link's share of the
 * sender's packets moves by at most 10 % between the windows: the payload
 * stream's guard lanes, src/mixnet/send-schedule.ts); every first hop is a
 * guard; guards survive a restart; a
 * SIGKILLed guard is replaced by the next one.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { PRESETS } from '../../src/mixnet/mixnet-service.ts'
import type { MixnetCounters, MixnetTraffic, PresetParameters, PseudonymInfo } from '../../src/mixnet/types.ts'
import { awaitDirectories, directoryOf, eventually, killStragglers, serverProcesses, startNetwork, UmbraProcess } from './process-helpers.ts'

const SERVERS = 5
const SERVER_SCALE = 1
const SENDER_SCALE = 4
const WINDOW_MS = 60_000
const MESSAGES = 20

interface MixnetView {
  preset: string
  parameters: PresetParameters
  counters: MixnetCounters
  traffic: MixnetTraffic
}

interface MessageEntry { kind: 'direct' | 'anonymous' | 'reply', id?: string, inReplyTo?: string, body: string }

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }
const view = async (n: UmbraProcess): Promise<MixnetView> => await n.call<MixnetView>('GET', '/v1/mixnet')
const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0)
const delta = (a: Record<string, number>, b: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v - (a[k] ?? 0)]).filter(([, v]) => (v as number) > 0))

describe('constant-rate sending and guards over processes (balanced)', { timeout: 420_000 }, () => {
  let dir: string
  let servers: UmbraProcess[] = []
  let sender: UmbraProcess
  let recipient: UmbraProcess
  let pseudonym: PseudonymInfo
  const all = (): UmbraProcess[] => [...servers, sender, recipient].filter((n) => n != null)
  const bootstrap = (): string[] => servers.filter((s) => s.running).slice(0, 3).flatMap((s) => s.id.addrs)

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'umbra-constant-rate-'))
    servers = await serverProcesses(dir, SERVERS, { preset: 'balanced', extraArgs: ['--mixnet-rate-scale', String(SERVER_SCALE), '--mixnet-threads', '1'] })
    sender = new UmbraProcess({ name: 'sender', dataDir: join(dir, 'sender'), role: 'client', port: 0, preset: 'balanced', extraArgs: ['--mixnet-rate-scale', String(SENDER_SCALE)] })
    recipient = new UmbraProcess({ name: 'recipient', dataDir: join(dir, 'recipient'), role: 'client', port: 0, preset: 'balanced', extraArgs: ['--mixnet-rate-scale', String(SERVER_SCALE)] })
    await startNetwork(servers, [sender, recipient])
    await awaitDirectories(all(), servers.map((s) => s.id.peerId))
    pseudonym = await recipient.call<PseudonymInfo>('POST', '/v1/pseudonyms', { label: 'constant-rate' })
    // Warm up: the contact record is looked up and cached, the guards sampled.
    await sender.call('POST', '/v1/messages', { to: pseudonym.key, body: 'warm-up', encoding: 'utf8', anonymous: true })
    await sleep(3_000)
  })

  after(async () => {
    await Promise.all(all().map(async (p) => await p.stop('SIGTERM', 5_000).catch(() => {})))
    await killStragglers()
    if (process.env.UMBRA_E2E_KEEP === '1') process.stderr.write(`kept ${dir}\n`)
    else if (dir != null) await rm(dir, { recursive: true, force: true })
  })

  let idleLink = 0
  let guardsBefore: string[] = []

  it('sends cover at the configured rates, and the same packet rate on the first link idle and while sending 20 messages', { timeout: 200_000 }, async (t) => {
    const expected = PRESETS.balanced
    // Idle window.
    const idle0 = await Promise.all(all().map(view))
    await sleep(WINDOW_MS)
    const idle1 = await Promise.all(all().map(view))
    guardsBefore = (idle1[SERVERS] as MixnetView).traffic.guards
    const coverFailures: string[] = []
    all().forEach((node, i) => {
      const a = idle0[i] as MixnetView
      const b = idle1[i] as MixnetView
      assert.equal(b.preset, 'balanced')
      const p = b.parameters
      assert.equal(p.meanDelayMs, expected.meanDelayMs, 'balanced delays')
      const loops = (b.counters.loopsSent - a.counters.loopsSent) / (WINDOW_MS / 1000)
      // Idle, every payload slot carries a drop cover packet: cover = loop + drop + payload rate.
      const cover = (b.counters.loopsSent - a.counters.loopsSent + b.counters.dropCoverSent - a.counters.dropCoverSent) / (WINDOW_MS / 1000)
      const want = p.loopRate + p.dropRate + p.payloadRate
      t.diagnostic(`${node.name}: cover ${cover.toFixed(2)}/s (configured ${want}/s: loop ${p.loopRate}, drop ${p.dropRate}, payload ${p.payloadRate}); loops ${loops.toFixed(2)}/s`)
      if (Math.abs(cover - want) / want > 0.2) coverFailures.push(`${node.name}: cover ${cover.toFixed(2)}/s not within 20 % of ${want}/s`)
    })
    const senderIdle = delta((idle0[SERVERS] as MixnetView).traffic.packetsOutByLink, (idle1[SERVERS] as MixnetView).traffic.packetsOutByLink)
    idleLink = sum(senderIdle)

    // Sending window: 20 messages spread over the 60 s, each answered by the recipient through a SURB.
    const s0 = await view(sender)
    const since = Date.now()
    const started = performance.now()
    const receipts = await Promise.all(Array.from({ length: MESSAGES }, async (_, i) => {
      await sleep(i * (WINDOW_MS - 8_000) / MESSAGES)
      return await sender.call<{ id: string, rttMs: number }>('POST', '/v1/messages', { to: pseudonym.key, body: `message ${i}`, encoding: 'utf8', anonymous: true, replySurbs: 1 })
    }))
    const answered = new Set<string>()
    const replier = (async () => {
      while (answered.size < MESSAGES && performance.now() - started < WINDOW_MS + 30_000) {
        const got = (await recipient.call<{ messages: MessageEntry[] }>('GET', `/v1/messages?since=${since}&limit=1000`)).messages
        for (const m of got) {
          if (m.kind !== 'anonymous' || m.id == null || answered.has(m.id)) continue
          answered.add(m.id)
          await recipient.call('POST', `/v1/messages/${m.id}/reply`, { body: `re: ${m.body}`, encoding: 'utf8' })
        }
        await sleep(500)
      }
    })()
    await sleep(Math.max(0, WINDOW_MS - (performance.now() - started)))
    const s1 = await view(sender)
    const sendingLinks = delta(s0.traffic.packetsOutByLink, s1.traffic.packetsOutByLink)
    const sending = sum(sendingLinks)
    await replier
    t.diagnostic(`sender first links, idle 60 s: ${JSON.stringify(senderIdle)} = ${(idleLink / 60).toFixed(2)}/s; sending 60 s: ${JSON.stringify(sendingLinks)} = ${(sending / 60).toFixed(2)}/s (configured ${s1.parameters.payloadRate + s1.parameters.loopRate + s1.parameters.dropRate}/s)`)
    t.diagnostic(`receipts: stored after ${receipts.map((r) => Math.round(r.rttMs)).join(' ')} ms`)
    assert.ok(Math.abs(sending - idleLink) / idleLink <= 0.1, `first-link packets idle ${idleLink} and sending ${sending} within 10 %`)
    // Per link: a send whose gateway is a guard must not move packets from one first link to another.
    const shares = [...new Set([...Object.keys(senderIdle), ...Object.keys(sendingLinks)])].map((link) => {
      const idleShare = (senderIdle[link] ?? 0) / idleLink
      const sendingShare = (sendingLinks[link] ?? 0) / sending
      return { link, idleShare, sendingShare, change: Math.abs(sendingShare - idleShare) / idleShare }
    })
    t.diagnostic(`per first link, share idle → sending: ${shares.map((x) => `${x.link.slice(-6)} ${x.idleShare.toFixed(3)} → ${x.sendingShare.toFixed(3)} (${(x.change * 100).toFixed(1)} %)`).join('; ')}; the recipient's gateways are ${pseudonym.gateways.join(' ')}; guards ${guardsBefore.join(' ')}`)
    for (const x of shares) assert.ok(x.change <= 0.1, `link ${x.link}: share ${x.idleShare.toFixed(3)} idle and ${x.sendingShare.toFixed(3)} sending differ by more than 10 %`)

    // Messages and replies arrive.
    assert.equal(answered.size, MESSAGES, 'the recipient got every message')
    for (const r of receipts) assert.ok(answered.has(r.id), `message ${r.id} arrived`)
    const replies = await eventually('every reply at the sender', async () => {
      const got = (await sender.call<{ messages: MessageEntry[] }>('GET', `/v1/messages?since=${since}&limit=1000`)).messages.filter((m) => m.kind === 'reply')
      return got.length >= MESSAGES ? got : undefined
    }, 30_000, 500)
    assert.deepEqual(new Set(replies.map((r) => r.inReplyTo)), new Set(receipts.map((r) => r.id)))

    // Every packet the sender originated left through one of its guards.
    assert.deepEqual(s1.traffic.guards, guardsBefore, 'the same guards all along')
    t.diagnostic(`guards ${guardsBefore.join(' ')}; all first hops since start ${JSON.stringify(s1.traffic.packetsOutByLink)}`)
    assert.equal(guardsBefore.length, 3)
    for (const hop of Object.keys(s1.traffic.packetsOutByLink)) assert.ok(guardsBefore.includes(hop), `first hop ${hop} is a guard`)
    assert.deepEqual(coverFailures, [], 'cover rates per node')
  })

  it('keeps its guards across a restart', { timeout: 90_000 }, async (t) => {
    assert.ok(guardsBefore.length === 3, 'the first test ran')
    const stopped = await sender.stop('SIGTERM')
    assert.equal(stopped.code, 0)
    await sender.start(bootstrap())
    await awaitDirectories([sender], servers.map((s) => s.id.peerId))
    const after = await eventually('first packets after the restart', async () => {
      const v = await view(sender)
      return sum(v.traffic.packetsOutByLink) >= 20 ? v : undefined
    }, 30_000, 500)
    t.diagnostic(`after the restart: guards ${after.traffic.guards.join(' ')}; first hops ${JSON.stringify(after.traffic.packetsOutByLink)}`)
    assert.deepEqual(after.traffic.guards, guardsBefore, 'the same guards in the same order')
    for (const hop of Object.keys(after.traffic.packetsOutByLink)) assert.ok(guardsBefore.includes(hop), `first hop ${hop} is a guard`)
  })

  it('replaces a SIGKILLed guard by the next one and keeps delivering', { timeout: 90_000 }, async (t) => {
    const dead = servers.find((s) => s.id.peerId === guardsBefore[0])
    assert.ok(dead != null, 'the first guard is a server')
    const killedAt = Date.now()
    await dead.stop('SIGKILL')
    await eventually('the guard to leave the sender\'s directory', async () => (await directoryOf(sender)).includes(dead.id.peerId) ? undefined : true, 30_000, 200)
    const goneMs = Date.now() - killedAt
    const v0 = await view(sender)
    const since = Date.now()
    const receipts: Array<{ id: string, rttMs: number }> = []
    for (let i = 0; i < 3; i++) receipts.push(await sender.call<{ id: string, rttMs: number }>('POST', '/v1/messages', { to: pseudonym.key, body: `after the kill ${i}`, encoding: 'utf8', anonymous: true }))
    await eventually('the messages at the recipient', async () => {
      const got = (await recipient.call<{ messages: MessageEntry[] }>('GET', `/v1/messages?since=${since}&limit=1000`)).messages
      return receipts.every((r) => got.some((m) => m.id === r.id)) ? true : undefined
    }, 30_000, 500)
    const v1 = await view(sender)
    const links = delta(v0.traffic.packetsOutByLink, v1.traffic.packetsOutByLink)
    t.diagnostic(`guard ${dead.id.peerId} gone from the sender's directory ${goneMs} ms after SIGKILL; guards now ${v1.traffic.guards.join(' ')}; first hops since ${JSON.stringify(links)}; sends stored after ${receipts.map((r) => Math.round(r.rttMs)).join(' ')} ms`)
    assert.ok(!v1.traffic.guards.includes(dead.id.peerId), 'the dead guard is no longer a primary guard')
    assert.deepEqual(v1.traffic.guards.slice(0, 2), guardsBefore.slice(1), 'the next guards moved up, in order')
    assert.equal(v1.traffic.guards.length, 3, 'a new guard was sampled')
    assert.ok((links[guardsBefore[1] as string] ?? 0) > 0, 'the packets now leave through the next guard')
    for (const hop of Object.keys(links)) assert.ok(v1.traffic.guards.includes(hop), `first hop ${hop} is a guard`)
  })
})
