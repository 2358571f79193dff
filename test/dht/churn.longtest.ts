/**
 * Churn (issue 11, "Must show"): 12 `umbra start` server processes on
 * 127.0.0.1, 50 records put, 4 random nodes SIGKILLed. The survivors must
 * still answer at least 99 % of network gets (`fresh=true`: their own copy
 * is skipped); after the 4 are started again on their data directories,
 * every get on every node succeeds.
 *
 * A long test (`npm run test:long`): 12 processes on a 2-core machine take
 * about a minute to start and settle.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { killStragglers, serverProcesses, startNetwork, type UmbraProcess } from '../mixnet/process-helpers.ts'

const SERVERS = 12
const RECORDS = 50
const KILLED = 4

interface GetAnswer { value: string, source: 'local' | 'network' }

/** Every record fetched from the network by `node`: how many came back with the right value, and each get's time, ms. */
async function getAll (node: UmbraProcess, keys: string[]): Promise<{ ok: number, ms: number[], failures: string[] }> {
  const ms: number[] = []
  const failures: string[] = []
  let ok = 0
  // Five at a time: what an application would do, without flooding a 2-core machine.
  for (let i = 0; i < keys.length; i += 5) {
    await Promise.all(keys.slice(i, i + 5).map(async (key) => {
      const started = Date.now()
      try {
        const r = await node.call<GetAnswer>('GET', `/v1/dht/${encodeURIComponent(key)}?fresh=true`, undefined, 30_000)
        if (r.value === `value of ${key}`) ok++
        else failures.push(`${node.name} ${key}: wrong value`)
      } catch (err) {
        failures.push(`${node.name} ${key}: ${(err as Error).message.slice(0, 120)}`)
      }
      ms.push(Date.now() - started)
    }))
  }
  return { ok, ms, failures }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN

describe('DHT under churn: 12 server processes, 4 SIGKILLed and restarted', { timeout: 600_000 }, () => {
  let dir: string
  let servers: UmbraProcess[] = []

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'umbra-churn-'))
    servers = await serverProcesses(dir, SERVERS)
    await startNetwork(servers)
  })

  after(async () => {
    await Promise.all(servers.map(async (s) => await s.stop('SIGTERM', 5_000).catch(() => {})))
    await killStragglers()
    if (process.env.UMBRA_E2E_KEEP === '1') process.stderr.write(`kept ${dir}\n`)
    else if (dir != null) await rm(dir, { recursive: true, force: true })
  })

  it('survivors answer >= 99 % of gets with 4 nodes killed; 100 % on every node after their restart', async (t) => {
    const keys = Array.from({ length: RECORDS }, (_, i) => `churn-record-${i}`)
    // Records come from several publishers, as in a real network.
    const publishers = servers.slice(0, 5)
    const stored: number[] = []
    for (const [i, key] of keys.entries()) {
      const publisher = publishers[i % publishers.length] as UmbraProcess
      const r = await publisher.call<{ storedOn: number }>('PUT', `/v1/dht/${encodeURIComponent(key)}`, { value: `value of ${key}` })
      stored.push(r.storedOn)
    }
    t.diagnostic(`${RECORDS} records put; stored on median ${median(stored)} remote nodes (min ${Math.min(...stored)}); by publisher: ${publishers.map((p, j) => `${p.name} [${stored.filter((_, i) => i % publishers.length === j).join(' ')}]`).join(', ')}`)

    // Any 4 nodes, publishers included: a publisher that dies must not take its records with it.
    const shuffled = [...servers].sort(() => Math.random() - 0.5)
    const killed = shuffled.slice(0, KILLED)
    const survivors = shuffled.slice(KILLED)
    await Promise.all(killed.map(async (s) => await s.stop('SIGKILL')))
    t.diagnostic(`SIGKILLed ${killed.map((s) => s.name).join(', ')}`)

    const during = await Promise.all(survivors.map(async (s) => await getAll(s, keys)))
    const okDuring = during.reduce((n, r) => n + r.ok, 0)
    const totalDuring = survivors.length * RECORDS
    t.diagnostic(`with ${KILLED} killed: ${okDuring}/${totalDuring} gets succeeded (${(100 * okDuring / totalDuring).toFixed(2)} %), median ${median(during.flatMap((r) => r.ms))} ms${during.some((r) => r.failures.length > 0) ? `; failures: ${during.flatMap((r) => r.failures).slice(0, 5).join('; ')}` : ''}`)
    assert.ok(okDuring >= Math.ceil(0.99 * totalDuring), `${okDuring}/${totalDuring} gets succeeded with ${KILLED} nodes down`)

    const restartStarted = Date.now()
    const boot = survivors.slice(0, 3).flatMap((s) => s.id.addrs)
    await Promise.all(killed.map(async (s) => await s.start(boot)))
    t.diagnostic(`restarted the ${KILLED} on their data directories in ${Date.now() - restartStarted} ms`)

    const afterRestart = await Promise.all(servers.map(async (s) => await getAll(s, keys)))
    const okAfter = afterRestart.reduce((n, r) => n + r.ok, 0)
    const totalAfter = servers.length * RECORDS
    t.diagnostic(`after the restart: ${okAfter}/${totalAfter} gets succeeded, median ${median(afterRestart.flatMap((r) => r.ms))} ms${afterRestart.some((r) => r.failures.length > 0) ? `; failures: ${afterRestart.flatMap((r) => r.failures).slice(0, 5).join('; ')}` : ''}`)
    assert.equal(okAfter, totalAfter, 'every get on every node succeeds after the restart')
  })
})
