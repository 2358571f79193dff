/**
 * The exported test-network helpers: `createTestnet` (in-process nodes) and
 * `startProcessTestnet` (`umbra start` processes).
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { ApiClient, createTestnet, startProcessTestnet, TestnetStartError, type Testnet } from '../../src/testnet/index.ts'
import { HOME, isAlive, killAll } from '../cli/helpers.ts'

after(async () => { await rm(HOME, { recursive: true, force: true }) })

describe('createTestnet', { timeout: 30_000 }, () => {
  let testnet: Testnet | undefined
  after(async () => { await testnet?.stop() })

  test('starts 4 connected in-process nodes that store, find and message', async () => {
    testnet = await createTestnet(4)
    const { nodes } = testnet
    assert.equal(nodes.length, 4)
    assert.equal(new Set(nodes.map((n) => n.peerId)).size, 4)
    for (const node of nodes) {
      assert.ok(node.isStarted)
      assert.ok(node.getPeers().length >= 1, 'every node has a peer')
      assert.ok(node.getMultiaddrs().every((a) => a.startsWith('/ip4/127.0.0.1/')))
    }
    assert.deepEqual(testnet.bootstrap, nodes[0]?.getMultiaddrs())

    const [a, b, , d] = nodes
    assert.ok(a != null && b != null && d != null)
    await a.dht.put('testnet-key', new TextEncoder().encode('testnet value'))
    const rec = await d.dht.get('testnet-key', { fresh: true })
    assert.equal(new TextDecoder().decode(rec?.value), 'testnet value')

    const got = new Promise<string>((resolve) => {
      d.addEventListener('message', (evt) => { resolve(new TextDecoder().decode(evt.detail.body)) }, { once: true })
    })
    await b.messaging.send(d.peerId, new TextEncoder().encode('hi d'))
    assert.equal(await got, 'hi d')

    await testnet.stop()
    await testnet.stop()
    assert.ok(nodes.every((n) => !n.isStarted), 'stop() stops every node and is idempotent')
  })

  test('rejects a bad size', async () => {
    await assert.rejects(createTestnet(0), { code: 'UMBRA_ERR_INVALID_OPTION' })
  })
})

describe('startProcessTestnet', { timeout: 45_000 }, () => {
  test('starts 3 node processes, gives API access, stop() ends them and removes the temp dir', async () => {
    const testnet = await startProcessTestnet({ nodes: 3 })
    try {
      assert.equal(testnet.nodes.length, 3)
      const last = testnet.nodes[2]
      assert.ok(last)
      const api = new ApiClient({ url: last.api, token: last.token })
      const info = await api.node()
      assert.equal(info.peerId, last.peerId)
      assert.ok(existsSync(join(testnet.dir, 'testnet.json')))
    } finally {
      await testnet.stop()
      killAll(testnet.nodes.map((n) => n.pid))
    }
    assert.ok(testnet.nodes.every((n) => !isAlive(n.pid)), 'every child exited')
    assert.equal(existsSync(testnet.dir), false, 'the temporary directory is removed')
  })

  test('a child that dies before its ready line rejects with its error line', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'umbra-fake-cli-'))
    t.after(async () => { await rm(dir, { recursive: true, force: true }) })
    const entry = join(dir, 'fake-cli.mjs')
    await writeFile(entry, 'process.stderr.write("umbra: cannot bind (UMBRA_ERR_FAKE)\\n"); process.exit(3)\n')
    await assert.rejects(startProcessTestnet({ nodes: 2, dir: join(dir, 'net'), cliEntry: entry }), (err: unknown) => {
      assert.ok(err instanceof TestnetStartError)
      assert.match(err.message, /^node-1 exited \(code 3\) before it was ready: cannot bind \(UMBRA_ERR_FAKE\)$/)
      return true
    })
  })

  test('an aborted signal rejects before spawning anything', async () => {
    await assert.rejects(startProcessTestnet({ nodes: 2, signal: AbortSignal.abort() }), { code: 'UMBRA_ERR_ABORTED' })
  })
})
