/**
 * Hybrid mode over real processes (issue 13, item 4; npm run test:long):
 * `umbra central` and `umbra start --pubsub-mode hybrid` nodes. The
 * publisher's only P2P peer (a relay server) is SIGKILLed, then restarted;
 * then the central server is SIGKILLed. Every message the publisher
 * published is counted at the subscriber (server-sent events), once each,
 * with the path that brought it first.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, describe, it } from 'node:test'
import { ApiClient } from '../../src/api/client.ts'
import { CLI, UmbraProcess, eventually, freePort, killStragglers } from '../mixnet/process-helpers.ts'

const TOPIC = 'hybrid-processes'

describe('hybrid pub/sub over processes', { timeout: 180_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'umbra-hybrid-proc-'))
  const procs: UmbraProcess[] = []
  let central: ReturnType<typeof spawn> | undefined
  after(async () => {
    central?.kill('SIGKILL')
    await Promise.all(procs.map(async (p) => await p.stop('SIGKILL')))
    await killStragglers()
    rmSync(dir, { recursive: true, force: true })
  })

  it('SIGKILL of the P2P relay moves messages to the central server, SIGKILL of the server moves them back; nothing lost', async (t) => {
    const centralPort = await freePort()
    const startCentral = async (): Promise<string> => {
      central = spawn(process.execPath, [CLI, 'central', '--listen', `127.0.0.1:${centralPort}`, '--json'], { stdio: ['ignore', 'pipe', 'inherit'] })
      const lines = createInterface({ input: central.stdout as NodeJS.ReadableStream })
      return await new Promise<string>((resolve) => { lines.once('line', (l) => { resolve((JSON.parse(l) as { url: string }).url) }) })
    }
    const url = await startCentral()
    const hybrid = ['--pubsub-mode', 'hybrid', '--pubsub-strategy', 'prefer-p2p', '--pubsub-central', url, '--mixnet-threads', '1']
    const relay = new UmbraProcess({ name: 'relay', dataDir: join(dir, 'relay'), role: 'server', port: await freePort(), preset: 'none', extraArgs: ['--mixnet-threads', '1'] })
    const publisher = new UmbraProcess({ name: 'publisher', dataDir: join(dir, 'pub'), role: 'client', port: 0, preset: 'none', extraArgs: hybrid })
    const subscriber = new UmbraProcess({ name: 'subscriber', dataDir: join(dir, 'sub'), role: 'client', port: 0, preset: 'none', extraArgs: hybrid })
    procs.push(relay, publisher, subscriber)
    await relay.start([])
    await Promise.all([publisher.start(relay.id.addrs), subscriber.start(relay.id.addrs)])

    const sub = new ApiClient({ url: subscriber.id.api, token: subscriber.id.token })
    await subscriber.call('PUT', `/v1/pubsub/subscriptions/${TOPIC}`)
    const got: Array<{ id: string, via: string, at: number }> = []
    const events = new AbortController()
    void (async () => {
      try {
        for await (const e of sub.events({ signal: events.signal })) {
          if (e.event === 'pubsub:message') {
            const m = e.data as { id: string, topic: string, via: string }
            if (m.topic === TOPIC) got.push({ id: m.id, via: m.via, at: Date.now() })
          }
        }
      } catch { /* aborted at the end */ }
    })()
    await eventually('the relay serves the topic', async () => {
      const r = await subscriber.call<{ topics: Array<{ topic: string, peers: string[] }> }>('GET', '/v1/pubsub/subscriptions')
      return r.topics.some((x) => x.topic === TOPIC && x.peers.includes(relay.id.peerId)) ? true : undefined
    }, 20_000)
    await new Promise((resolve) => setTimeout(resolve, 2_000))

    const sent: Array<{ id: string, at: number }> = []
    let publishing = true
    const failures: string[] = []
    const loop = (async () => {
      for (let i = 0; publishing; i++) {
        try {
          const r = await publisher.call<{ id: string }>('POST', `/v1/pubsub/${TOPIC}`, { data: `m${i}` })
          sent.push({ id: r.id, at: Date.now() })
        } catch (err) { failures.push((err as Error).message) }
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    })()
    await new Promise((resolve) => setTimeout(resolve, 2_000))

    const killedRelay = Date.now()
    await relay.stop('SIGKILL')
    await new Promise((resolve) => setTimeout(resolve, 3_000))
    await relay.start([]) // same port and identity: the clients' rejoin dials it again
    // P2P is back once the relay serves the topic again; the publisher stays on central (failback needs 10 s of P2P health).
    await eventually('the relay serves the topic again', async () => {
      const r = await subscriber.call<{ topics: Array<{ topic: string, peers: string[] }> }>('GET', '/v1/pubsub/subscriptions')
      return r.topics.some((x) => x.topic === TOPIC && x.peers.includes(relay.id.peerId)) ? true : undefined
    }, 30_000)
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    const beforeCentralKill = got.filter((g) => g.at > Date.now() - 1_000)

    const killedCentral = Date.now()
    central?.kill('SIGKILL')
    await new Promise((resolve) => setTimeout(resolve, 3_000))
    publishing = false
    await loop
    await eventually('every message at the subscriber', async () => sent.every((s) => got.some((g) => g.id === s.id)) ? true : undefined, 20_000).catch(() => {})
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    events.abort()

    // After the relay's SIGKILL: how long until a message published then arrived through the central server.
    const firstCentral = got.find((g) => g.via === 'central' && g.at > killedRelay)
    const movedMs = (firstCentral?.at ?? Infinity) - killedRelay
    const afterCentralKill = got.filter((g) => g.at > killedCentral + 1_000)
    const counts = new Map<string, number>()
    for (const g of got) counts.set(g.id, (counts.get(g.id) ?? 0) + 1)
    const missing = sent.filter((s) => !counts.has(s.id)).length
    const twice = [...counts.values()].filter((c) => c > 1).length
    t.diagnostic(`${sent.length} published, ${got.length} received (${got.filter((g) => g.via === 'central').length} first through the central server), missing ${missing}, twice ${twice}; first message through central ${movedMs} ms after the relay's SIGKILL; in the last second before the central SIGKILL ${beforeCentralKill.length} arrived via ${[...new Set(beforeCentralKill.map((g) => g.via))].join(',')}, after it ${afterCentralKill.length}, via ${[...new Set(afterCentralKill.map((g) => g.via))].join(',')}; publish errors ${failures.length}`)
    assert.equal(failures.length, 0, failures.slice(0, 2).join('; '))
    assert.equal(missing, 0, 'no message lost')
    assert.equal(twice, 0, 'no message delivered twice')
    assert.ok(movedMs < 3_000, `messages moved to central ${movedMs} ms after the kill`)
    assert.ok(beforeCentralKill.length > 0 && beforeCentralKill.every((g) => g.via === 'central'), 'before the central server died the publisher was on it')
    assert.ok(afterCentralKill.length > 0 && afterCentralKill.every((g) => g.via === 'p2p'), 'after the central server died, messages came over P2P')
  })
})
