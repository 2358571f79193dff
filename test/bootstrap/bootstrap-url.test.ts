/**
 * `umbra start --bootstrap-api` and `--bootstrap-url` over real processes
 * (issue 9 item 5): node A serves the bootstrap endpoints and lists itself;
 * node B, given only A's bootstrap URL (no multiaddr), joins: it dials A,
 * registers there, and finds A's records in the DHT; stopping B unregisters
 * it.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { eventually, freePort, killStragglers, UmbraProcess } from '../mixnet/process-helpers.ts'

interface ListedPeer { peerId: string, role: string, addrs: string[] }

async function listed (url: string): Promise<ListedPeer[]> {
  const res = await fetch(`${url}/peers`)
  assert.equal(res.status, 200)
  return ((await res.json()) as { peers: ListedPeer[] }).peers
}

describe('--bootstrap-url joins a node through bootstrap endpoints', { timeout: 90_000 }, () => {
  let dir: string | undefined
  const nodes: UmbraProcess[] = []
  after(async () => {
    await Promise.all(nodes.map(async (n) => await n.stop('SIGTERM').catch(() => {})))
    await killStragglers()
    if (dir != null) await rm(dir, { recursive: true, force: true })
  })

  it('B knows only A\'s URL, connects to A, registers, and unregisters at stop', async (t) => {
    dir = await mkdtemp(join(tmpdir(), 'umbra-bootstrap-'))
    const apiPort = await freePort()
    const url = `http://127.0.0.1:${apiPort}`
    const a = new UmbraProcess({ name: 'A', dataDir: join(dir, 'a'), role: 'server', port: await freePort(), preset: 'none', extraArgs: ['--bootstrap-api', `127.0.0.1:${apiPort}`, '--stun-port', 'off'] })
    const b = new UmbraProcess({ name: 'B', dataDir: join(dir, 'b'), role: 'server', port: await freePort(), preset: 'none', extraArgs: ['--bootstrap-url', url, '--stun-port', 'off'] })
    nodes.push(a, b)
    await a.start([])
    const self = await eventually('A to list itself', async () => (await listed(url)).find((p) => p.peerId === a.id.peerId), 15_000)
    assert.equal(self.role, 'server')
    const started = Date.now()
    await b.start([])
    const peers = await b.call<{ peers: Array<{ peerId: string }> }>('GET', '/v1/peers')
    t.diagnostic(`B ready ${Date.now() - started} ms after spawn, connected to ${peers.peers.length} peer(s)`)
    assert.ok(peers.peers.some((p) => p.peerId === a.id.peerId), 'B connected to A from the bootstrap URL alone')
    await eventually('B to be registered at A', async () => (await listed(url)).some((p) => p.peerId === b.id.peerId) ? true : undefined, 15_000)
    // B is in the DHT through A: its peer record resolves from A.
    const rec = await eventually('B\'s peer record from A', async () => await a.call<{ peerId: string }>('GET', `/v1/registry/${b.id.peerId}?fresh=true`).catch(() => undefined), 20_000)
    assert.equal(rec.peerId, b.id.peerId)
    await b.stop('SIGTERM')
    const left = (await listed(url)).map((p) => p.peerId)
    t.diagnostic(`after B stopped, A lists ${left.length} peer(s)`)
    assert.deepEqual(left, [a.id.peerId])
  })
})
