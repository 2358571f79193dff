/**
 * The `umbra` CLI end to end: real `umbra start` processes on 127.0.0.1
 * started through `umbra testnet`, driven by the client commands and by the
 * HTTP API directly. Every process is stopped in `after`, even on failure.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import type { ProcessTestnetNode } from '../../src/testnet/index.ts'
import { deadPort, eventually, HOME, isAlive, killAll, lines, processesMentioning, spawnUmbra, umbra, type LongRunning } from './helpers.ts'

const ONE_ERROR_LINE = /^umbra: .+ \(UMBRA_ERR_[A-Z_]+\)$/

/** Asserts `stderr` is exactly one `umbra: … (CODE)` line with this code. */
function assertOneErrorLine (stderr: string, code: string): void {
  const errLines = lines(stderr)
  assert.equal(errLines.length, 1, `expected one stderr line, got:\n${stderr}`)
  assert.match(errLines[0] ?? '', ONE_ERROR_LINE)
  assert.ok(errLines[0]?.endsWith(`(${code})`), `expected code ${code} in: ${errLines[0]}`)
}

after(async () => {
  await rm(HOME, { recursive: true, force: true })
})

describe('umbra testnet --nodes 6 and the client commands', { timeout: 120_000 }, () => {
  let dir: string
  let testnet: LongRunning
  let nodes: ProcessTestnetNode[] = []
  const node = (i: number): ProcessTestnetNode => {
    const n = nodes[i - 1]
    assert.ok(n, `node-${i} exists`)
    return n
  }
  const apiFlags = (i: number): string[] => ['--api', node(i).api, '--token', node(i).token]

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'umbra-cli-test-'))
    // preset none and one mix thread a node: fast anonymous sends on a shared machine
    testnet = spawnUmbra(['testnet', '--nodes', '6', '--mixnet-preset', 'none', '--mixnet-threads', '1', '--dir', dir, '--json'])
    const ready = JSON.parse(await testnet.waitForLine((l) => l.startsWith('{'), 45_000)) as { event: string, file: string, nodes: Array<{ name: string, token?: string }> }
    assert.equal(ready.event, 'ready')
    assert.equal(ready.nodes.length, 6)
    assert.ok(ready.nodes.every((n) => n.token === undefined), 'tokens stay out of stdout')
    nodes = (JSON.parse(readFileSync(ready.file, 'utf8')) as { nodes: ProcessTestnetNode[] }).nodes
  })

  after(async () => {
    await testnet?.stop('SIGTERM', 10_000)
    killAll(nodes.map((n) => n.pid))
    await rm(dir, { recursive: true, force: true })
  })

  test('testnet.json names 6 distinct running nodes and is private', () => {
    assert.equal(nodes.length, 6)
    assert.deepEqual(nodes.map((n) => n.name), ['node-1', 'node-2', 'node-3', 'node-4', 'node-5', 'node-6'])
    assert.equal(new Set(nodes.map((n) => n.peerId)).size, 6)
    assert.ok(nodes.every((n) => isAlive(n.pid) && n.token.length >= 16 && n.api.startsWith('http://127.0.0.1:')))
    assert.equal(statSync(join(dir, 'testnet.json')).mode & 0o777, 0o600)
  })

  test('lookup shows another node\'s peer record; an unknown key exits 1 with its code', async () => {
    let res = await umbra(['lookup', node(4).peerId, '--json', ...apiFlags(1)])
    for (let i = 0; i < 20 && res.code !== 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 500))
      res = await umbra(['lookup', node(4).peerId, '--fresh', '--json', ...apiFlags(1)])
    }
    assert.equal(res.code, 0, res.stderr)
    const rec = JSON.parse(res.stdout) as { peerId: string, key: string, role: string, addrs: string[] }
    assert.equal(rec.peerId, node(4).peerId)
    assert.equal(rec.key, node(4).key)
    assert.equal(rec.role, 'server')
    assert.ok(rec.addrs.length > 0)
    const human = await umbra(['lookup', node(4).key, ...apiFlags(2)])
    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout, new RegExp(`^peer\\s+${node(4).peerId}$`, 'm'))
    assert.match(human.stdout, /^role\s+server$/m)
    const missing = await umbra(['lookup', 'key_nobody', ...apiFlags(2)])
    assert.notEqual(missing.code, 0)
    assert.equal(missing.stderr.trim().split('\n').length, 1, 'one line')
  })

  test('id finds the node through --data-dir (api.json and api-token)', async () => {
    const human = await umbra(['id', '--data-dir', node(3).dataDir])
    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout, new RegExp(`^peerId\\s+${node(3).peerId}$`, 'm'))
    const json = await umbra(['id', '--data-dir', node(3).dataDir, '--json'])
    const info = JSON.parse(json.stdout) as { peerId: string, key: string, role: string, addrs: string[], peers: number }
    assert.equal(info.peerId, node(3).peerId)
    assert.equal(info.key, node(3).key)
    assert.equal(info.role, 'server')
    assert.ok(info.peers >= 1, 'node-3 has a peer')
  })

  test('id shows the NAT line; testnet servers run STUN on distinct free ports', async () => {
    const ports = nodes.map((n) => n.stunPort)
    assert.ok(ports.every((p) => Number.isInteger(p) && p !== 3478), `free STUN ports: ${ports.join(',')}`)
    assert.equal(new Set(ports).size, nodes.length)
    const human = await umbra(['id', ...apiFlags(2)])
    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout, new RegExp(`^nat\\s+public; STUN server on UDP ${node(2).stunPort ?? -1}$`, 'm'))
    const info = JSON.parse((await umbra(['id', '--json', ...apiFlags(2)])).stdout) as { nat: { reachability: string, stunPort?: number, relays: string[] } }
    assert.equal(info.nat.reachability, 'public')
    assert.equal(info.nat.stunPort, node(2).stunPort)
    assert.deepEqual(info.nat.relays, [])
  })

  test('punch from node 1 to node 6 reports the direct connection; a bad peer exits 1 with one line', async () => {
    const human = await umbra(['punch', node(6).peerId, '--timeout', '5000', ...apiFlags(1)])
    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout, new RegExp(`^direct via existing-direct to ${node(6).peerId}, rtt \\d+\\.\\d ms \\(already direct\\)\n$`))
    const json = await umbra(['punch', node(6).key, '--json', ...apiFlags(1)])
    assert.equal(json.code, 0, json.stderr)
    const res = JSON.parse(json.stdout) as { peer: string, path: string, method: string, rttMs: number, remoteAddr: string }
    assert.equal(res.peer, node(6).peerId)
    assert.equal(res.path, 'direct')
    assert.equal(res.method, 'existing-direct')
    assert.ok(res.rttMs >= 0)

    const bad = await umbra(['punch', 'not-a-peer', ...apiFlags(1)])
    assert.equal(bad.code, 1)
    assert.equal(bad.stdout, '')
    assertOneErrorLine(bad.stderr, 'UMBRA_ERR_INVALID_RECIPIENT')
    const self = await umbra(['punch', node(1).peerId, ...apiFlags(1)])
    assert.equal(self.code, 1)
    assertOneErrorLine(self.stderr, 'UMBRA_ERR_INVALID_RECIPIENT')
  })

  test('peers on node 1 lists the other nodes', async () => {
    const res = await umbra(['peers', ...apiFlags(1), '--json'])
    assert.equal(res.code, 0, res.stderr)
    const ids = new Set((JSON.parse(res.stdout) as { peers: Array<{ peerId: string }> }).peers.map((p) => p.peerId))
    for (const n of nodes.slice(1)) assert.ok(ids.has(n.peerId), `node-1 is connected to ${n.name}`)
  })

  test('put on node 1, get on node 6 returns the value', async () => {
    const key = `cli-test/${randomBytes(4).toString('hex')}`
    const value = 'hello from node 1 ✓'
    const put = await umbra(['put', key, value, '--ttl', '600', ...apiFlags(1)])
    assert.equal(put.code, 0, put.stderr)
    assert.match(put.stdout, /^stored ".+" \(seq 1\)/)

    const get = await umbra(['get', key, ...apiFlags(6)])
    assert.equal(get.code, 0, get.stderr)
    assert.equal(get.stdout, value + '\n')

    const fresh = await umbra(['get', key, '--fresh', '--json', '--data-dir', node(6).dataDir])
    assert.equal(fresh.code, 0, fresh.stderr)
    const rec = JSON.parse(fresh.stdout) as { value: string, source: string, publisher: string, seq: number }
    assert.equal(rec.value, value)
    assert.equal(rec.source, 'network')
    assert.equal(rec.publisher, node(1).key)
    assert.equal(rec.seq, 1)
  })

  test('send from node 2 to node 6, inbox on node 6 shows it', async () => {
    const text = `cli message ${randomBytes(4).toString('hex')}`
    const send = await umbra(['send', node(6).peerId, text, ...apiFlags(2), '--json'])
    assert.equal(send.code, 0, send.stderr)
    const receipt = JSON.parse(send.stdout) as { id: string, to: string }
    assert.match(receipt.id, /^[0-9a-f]{32}$/)
    assert.equal(receipt.to, node(6).peerId)

    const inbox = await umbra(['inbox', '--data-dir', node(6).dataDir])
    assert.equal(inbox.code, 0, inbox.stderr)
    const line = lines(inbox.stdout).find((l) => l.endsWith(text))
    assert.ok(line, `inbox shows the message:\n${inbox.stdout}`)
    assert.ok(line.includes(`from ${node(2).peerId}`))
    assert.ok(line.includes(`id ${receipt.id}`))
    // issue 11: pages of --limit, and --delete with a coded refusal for an id no longer there
    const page = await umbra(['inbox', '--limit', '1', '--json', '--data-dir', node(6).dataDir])
    assert.equal((JSON.parse(page.stdout) as { messages: unknown[] }).messages.length, 1)
    const del = await umbra(['inbox', '--delete', receipt.id, '--data-dir', node(6).dataDir])
    assert.equal(del.code, 0, del.stderr)
    assert.match(del.stdout, new RegExp(`deleted message ${receipt.id}`))
    const again = await umbra(['inbox', '--delete', receipt.id, '--data-dir', node(6).dataDir])
    assert.equal(again.code, 1)
    assert.match(again.stderr, /UMBRA_ERR_MESSAGE_NOT_FOUND/)
  })

  test('the same through the HTTP API with fetch', async () => {
    const auth = (i: number): Record<string, string> => ({ authorization: `Bearer ${node(i).token}`, 'content-type': 'application/json' })
    const key = `http-test/${randomBytes(4).toString('hex')}`
    const put = await fetch(`${node(1).api}/v1/dht/${encodeURIComponent(key)}`, { method: 'PUT', headers: auth(1), body: JSON.stringify({ value: 'via http', ttl: 600 }) })
    assert.equal(put.status, 200)
    const putBody = await put.json() as { key: string, seq: number, storedOn: number }
    assert.equal(putBody.key, key)
    assert.ok(putBody.storedOn >= 1, 'stored on another node')

    const get = await fetch(`${node(6).api}/v1/dht/${encodeURIComponent(key)}`, { headers: auth(6) })
    assert.equal(get.status, 200)
    assert.equal((await get.json() as { value: string }).value, 'via http')

    const missing = await fetch(`${node(6).api}/v1/dht/no-such-key-${randomBytes(4).toString('hex')}`, { headers: auth(6) })
    assert.equal(missing.status, 404)
    assert.match((await missing.json() as { error: { code: string } }).error.code, /^UMBRA_ERR_/)

    const noToken = await fetch(`${node(6).api}/v1/messages`)
    assert.equal(noToken.status, 401)
    assert.match((await noToken.json() as { error: { code: string } }).error.code, /^UMBRA_ERR_/)

    const send = await fetch(`${node(2).api}/v1/messages`, { method: 'POST', headers: auth(2), body: JSON.stringify({ to: node(6).peerId, body: 'via http' }) })
    assert.equal(send.status, 200)
    const { id } = await send.json() as { id: string }
    const inbox = await fetch(`${node(6).api}/v1/messages`, { headers: auth(6) })
    const { messages } = await inbox.json() as { messages: Array<{ id: string, from: string, body: string }> }
    const msg = messages.find((m) => m.id === id)
    assert.ok(msg, 'the message is in node-6\'s inbox')
    assert.equal(msg.body, 'via http')
    assert.equal(msg.from, node(2).peerId)
  })

  test('pseudonym new and list, send --anonymous, inbox shows "(anonymous)", reply, the sender sees the reply', async () => {
    // every node is a server (mix node and gateway); wait until node 2 and node 6 see all six
    for (const i of [2, 6]) {
      await eventually(async () => {
        const res = await fetch(`${node(i).api}/v1/mixnet`, { headers: { authorization: `Bearer ${node(i).token}` } })
        const body = await res.json() as { preset: string, directory: unknown[] }
        assert.equal(body.preset, 'none')
        return body.directory.length === 6 ? true : undefined
      }, 20_000, `node-${i}'s mix directory to list 6 nodes`)
    }

    const created = await umbra(['pseudonym', 'new', '--label', 'cli test', '--gateways', '2', '--json', ...apiFlags(6)])
    assert.equal(created.code, 0, created.stderr)
    const info = JSON.parse(created.stdout) as { key: string, label: string, gateways: string[], online: boolean }
    assert.match(info.key, /^key_\w+$/)
    assert.equal(info.label, 'cli test')
    assert.equal(info.gateways.length, 2)
    assert.equal((await umbra(['pseudonym', 'new', '--gateways', '4', ...apiFlags(6)])).code, 2, '--gateways is 1 to 3 (a usage error)')
    const plain = await umbra(['pseudonym', 'new', '--data-dir', node(6).dataDir])
    assert.equal(plain.code, 0, plain.stderr)
    assert.match(plain.stdout, /^key_\w+\n$/, 'prints only the key')
    const second = plain.stdout.trim()

    const list = await umbra(['pseudonym', 'list', ...apiFlags(6)])
    assert.equal(list.code, 0, list.stderr)
    assert.equal(lines(list.stdout)[0], '2 pseudonyms')
    assert.match(list.stdout, new RegExp(`^${info.key}  .*"cli test"$`, 'm'))
    assert.match(list.stdout, new RegExp(`^${second}  `, 'm'))
    assert.match(list.stdout, new RegExp(`^${second}  .* gateways (12D3Koo\\w+ (connected|connecting|unreachable)(, )?){3}$`, 'm'), 'three gateways by default, each with its state')
    const listJson = JSON.parse((await umbra(['pseudonym', 'list', '--json', ...apiFlags(6)])).stdout) as { pseudonyms: Array<{ key: string }> }
    assert.deepEqual(listJson.pseudonyms.map((p) => p.key), [info.key, second])
    const purge = await umbra(['pseudonym', 'purge', info.key, ...apiFlags(6)])
    assert.equal(purge.code, 0, purge.stderr)
    assert.equal(purge.stdout, '0 rows deleted at the gateway\n', 'nothing incomplete is held')
    const purgeAll = await umbra(['pseudonym', 'purge', '--all', '--json', second, ...apiFlags(6)])
    assert.equal(purgeAll.code, 0, purgeAll.stderr)
    assert.deepEqual(JSON.parse(purgeAll.stdout), { deleted: 0 })

    const text = `anonymous cli message ${randomBytes(4).toString('hex')}`
    const send = await umbra(['send', '--anonymous', '--hops', '3', '--wait', 'delivered', info.key, text, ...apiFlags(2)])
    assert.equal(send.code, 0, send.stderr)
    const sent = /^sent anonymous message ([0-9a-f]{32}) to (key_\w+): delivered to the recipient in \d+ ms \(1 packet, 0 resent\)$/.exec(send.stdout.trim())
    assert.ok(sent, send.stdout)
    const id = sent[1] ?? ''
    assert.equal(sent[2], info.key)

    const inbox = await umbra(['inbox', '--data-dir', node(6).dataDir])
    assert.equal(inbox.code, 0, inbox.stderr)
    const line = lines(inbox.stdout).find((l) => l.endsWith(text))
    assert.ok(line, `inbox shows the message:\n${inbox.stdout}`)
    assert.ok(line.includes(`from (anonymous) to ${info.key}  id ${id}, 2 replies left  `), line)
    assert.ok(!line.includes(node(2).peerId) && !line.includes(node(2).key), 'the anonymous line names no sender')

    const reply = await umbra(['reply', id, 'got it, stranger', ...apiFlags(6)])
    assert.equal(reply.code, 0, reply.stderr)
    assert.equal(reply.stdout, `replied to anonymous message ${id} (1 reply left)\n`)

    const senderInbox = await eventually(async () => {
      const res = await umbra(['inbox', ...apiFlags(2)])
      return lines(res.stdout).find((l) => l.endsWith('got it, stranger'))
    }, 10_000, 'the reply in node-2\'s inbox')
    assert.match(senderInbox, new RegExp(`from \\(anonymous\\) reply to ${id}  id [0-9a-f]{32}  got it, stranger$`), 'the reply names the message it answers and its own inbox id')
    const json = JSON.parse((await umbra(['inbox', '--json', ...apiFlags(2)])).stdout) as { messages: Array<{ kind: string, inReplyTo?: string, from: string | null }> }
    assert.ok(json.messages.some((m) => m.kind === 'reply' && m.inReplyTo === id && m.from === null))
  })

  test('anonymous-messaging mistakes exit 1 with one line and the code', async () => {
    const noAnon = await umbra(['send', '--hops', '3', node(6).key, 'x', ...apiFlags(2)])
    assert.equal(noAnon.code, 1)
    assertOneErrorLine(noAnon.stderr, 'UMBRA_ERR_INVALID_OPTION')
    assert.match(noAnon.stderr, /--anonymous/)
    const peerIdTo = await umbra(['send', '--anonymous', node(6).peerId, 'x', ...apiFlags(2)])
    assert.equal(peerIdTo.code, 1)
    assertOneErrorLine(peerIdTo.stderr, 'UMBRA_ERR_INVALID_RECIPIENT')
    const unknown = await umbra(['send', '--anonymous', node(5).key, 'x', ...apiFlags(2)])
    assert.equal(unknown.code, 1)
    assertOneErrorLine(unknown.stderr, 'UMBRA_ERR_UNKNOWN_PSEUDONYM')
    const noSurb = await umbra(['reply', 'ab'.repeat(16), 'x', ...apiFlags(6)])
    assert.equal(noSurb.code, 1)
    assertOneErrorLine(noSurb.stderr, 'UMBRA_ERR_NO_SURB')
    const badId = await umbra(['reply', 'not-an-id', 'x', ...apiFlags(6)])
    assert.equal(badId.code, 1)
    assertOneErrorLine(badId.stderr, 'UMBRA_ERR_BAD_REQUEST')
  })

  test('get of a missing key exits 1 with one line', async () => {
    const res = await umbra(['get', `missing/${randomBytes(4).toString('hex')}`, ...apiFlags(6)])
    assert.equal(res.code, 1)
    assert.equal(res.stdout, '')
    assertOneErrorLine(res.stderr, 'UMBRA_ERR_NOT_FOUND')
  })

  test('a wrong token exits 1 with the API\'s error on one line', async () => {
    const res = await umbra(['peers', '--api', node(1).api, '--token', 'wrong-token-wrong-token'])
    assert.equal(res.code, 1)
    assertOneErrorLine(res.stderr, 'UMBRA_ERR_UNAUTHORIZED')
  })

  test('SIGTERM stops the testnet and every node, exit 0', async () => {
    const { code } = await testnet.stop('SIGTERM', 10_000)
    assert.equal(code, 0, testnet.stderr())
    assert.equal(testnet.stderr(), '')
    for (const n of nodes) {
      assert.equal(isAlive(n.pid), false, `${n.name} (pid ${n.pid}) exited`)
      assert.equal(existsSync(join(n.dataDir, 'api.json')), false, `${n.name} removed its api.json`)
    }
  })
})

describe('umbra start', { timeout: 30_000 }, () => {
  test('prints the ready line, writes api.json 0600, refuses a second node on the same data dir, stops on SIGINT', async (t) => {
    const dataDir = await mkdtemp(join(tmpdir(), 'umbra-cli-start-'))
    const node = spawnUmbra(['start', '--data-dir', dataDir, '--api', '127.0.0.1:0', '--client', '--mixnet-preset', 'strong', '--mixnet-threads', '1', '--stun-server', '127.0.0.1:3478', '[::1]:3479', '--no-upnp'])
    t.after(async () => {
      await node.stop('SIGKILL', 1000)
      await rm(dataDir, { recursive: true, force: true })
    })
    const ready = await node.waitForLine((l) => l.startsWith('umbra node ready:'), 20_000)
    // A client announces only relayed addresses (docs/nat.md "Who can learn a client's IP address"): none without a relay.
    assert.match(ready, /^umbra node ready: peerId=12D3Koo\S+ key=key_\S+ api=http:\/\/127\.0\.0\.1:\d+ addrs=$/)
    const info = JSON.parse(readFileSync(join(dataDir, 'api.json'), 'utf8')) as { url: string, pid: number }
    assert.equal(info.pid, node.child.pid)
    assert.ok(ready.includes(`api=${info.url} `))
    assert.equal(statSync(join(dataDir, 'api.json')).mode & 0o777, 0o600)

    const id = await umbra(['id', '--data-dir', dataDir, '--json'])
    assert.equal(id.code, 0, id.stderr)
    const idInfo = JSON.parse(id.stdout) as { role: string, nat: { reachability: string, stunServers: string[], stunPort?: number } }
    assert.equal(idInfo.role, 'client')
    assert.equal(idInfo.nat.reachability, 'unknown', 'a client without a relay reservation')
    assert.deepEqual(idInfo.nat.stunServers, ['127.0.0.1:3478', '[::1]:3479'])
    assert.equal(idInfo.nat.stunPort, undefined, 'clients run no STUN server')
    const token = readFileSync(join(dataDir, 'api-token'), 'utf8').trim()
    const mixnet = await (await fetch(`${info.url}/v1/mixnet`, { headers: { authorization: `Bearer ${token}` } })).json() as { preset: string }
    assert.equal(mixnet.preset, 'strong')
    const none = await umbra(['pseudonym', 'list', '--data-dir', dataDir])
    assert.equal(none.code, 0, none.stderr)
    assert.equal(none.stdout, 'no pseudonyms; create one with: umbra pseudonym new\n')

    const second = await umbra(['start', '--data-dir', dataDir, '--api', '127.0.0.1:0'])
    assert.equal(second.code, 1)
    assertOneErrorLine(second.stderr, 'UMBRA_ERR_ALREADY_RUNNING')

    const { code } = await node.stop('SIGINT', 10_000)
    assert.equal(code, 0, node.stderr())
    assert.equal(existsSync(join(dataDir, 'api.json')), false)
    assert.match(node.stdout(), /umbra node stopped\n$/)
  })
})

describe('umbra start, a lone server', { timeout: 30_000 }, () => {
  test('stops on SIGINT within 5 s with exit 0, even while its reply mailbox claim is still under way', async (t) => {
    const dataDir = await mkdtemp(join(tmpdir(), 'umbra-cli-lone-'))
    const node = spawnUmbra(['start', '--data-dir', dataDir, '--api', '127.0.0.1:0'])
    t.after(async () => {
      await node.stop('SIGKILL', 1000)
      await rm(dataDir, { recursive: true, force: true })
    })
    await node.waitForLine((l) => l.startsWith('umbra node ready:'), 20_000)
    // Before the fix the stop waited for the node's claim of a reply mailbox at itself and hit the 10 s shutdown timeout (exit 1).
    await new Promise((resolve) => setTimeout(resolve, 4_000))
    const started = Date.now()
    const { code } = await node.stop('SIGINT', 10_000)
    const ms = Date.now() - started
    t.diagnostic(`a lone server stopped in ${ms} ms after SIGINT`)
    assert.equal(code, 0, node.stderr())
    assert.ok(ms < 5_000, `stopped in ${ms} ms`)
  })
})

describe('usage errors', { timeout: 30_000 }, () => {
  for (const [what, args] of [
    ['--role bogus', ['start', '--role', 'bogus']],
    ['--api without a port', ['start', '--api', '127.0.0.1']],
    ['a listen address that is not a multiaddr', ['start', '--listen', 'tcp://127.0.0.1:4001']],
    ['a bootstrap address without /p2p/', ['start', '--bootstrap', '/ip4/127.0.0.1/tcp/4001']],
    ['an unknown flag', ['peers', '--bogus']],
    ['a missing argument', ['put', 'only-a-key']],
    ['--nodes 0', ['testnet', '--nodes', '0']],
    ['--mixnet-preset bogus', ['start', '--mixnet-preset', 'bogus']],
    ['--client with --role server', ['start', '--client', '--role', 'server']],
    ['--hops 9', ['send', '--anonymous', '--hops', '9', 'key_x', 'hi']],
    ['--wait forever', ['send', '--anonymous', '--wait', 'forever', 'key_x', 'hi']],
    ['pseudonym without a subcommand argument', ['pseudonym', 'bogus']],
    ['reply without a message', ['reply', 'ab'.repeat(16)]],
    ['punch without a peer', ['punch']],
    ['punch --timeout 99', ['punch', '12D3KooWPeer', '--timeout', '99']],
    ['punch --addr that is not a multiaddr', ['punch', '12D3KooWPeer', '--addr', 'tcp://127.0.0.1:1']],
    ['--stun-port bogus', ['start', '--stun-port', 'bogus']],
    ['--stun-port 65536', ['start', '--stun-port', '65536']],
    ['--mix-link-port 70000', ['start', '--mix-link-port', '70000']],
    ['--stun-server without a port', ['start', '--stun-server', '127.0.0.1']],
    ['testnet --stun-port -1', ['testnet', '--stun-port', '-1']]
  ] as const) {
    test(`${what} exits 2 with one line`, async () => {
      const res = await umbra([...args])
      assert.equal(res.code, 2, res.stderr)
      assert.equal(lines(res.stderr).length, 1, res.stderr)
      assert.match(res.stderr, /^error: /)
      assert.equal(res.stdout, '')
    })
  }

  test('a client command against a dead port exits 1 with one line', async () => {
    const port = await deadPort()
    const res = await umbra(['peers', '--api', `http://127.0.0.1:${port}`, '--token', 'x'])
    assert.equal(res.code, 1)
    assertOneErrorLine(res.stderr, 'UMBRA_ERR_API_UNREACHABLE')
    assert.ok(res.stderr.includes(`http://127.0.0.1:${port}: connection refused`), res.stderr)
  })

  test('a client command with no node running and no flags names the default API', async () => {
    const res = await umbra(['inbox'])
    assert.equal(res.code, 1)
    assertOneErrorLine(res.stderr, 'UMBRA_ERR_API_UNREACHABLE')
  })
})

describe('umbra testnet --clients', { timeout: 30_000 }, () => {
  test('runs the last nodes as clients, the others as servers', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'umbra-cli-clients-'))
    const net = spawnUmbra(['testnet', '--nodes', '3', '--clients', '1', '--mixnet-preset', 'none', '--mixnet-threads', '1', '--dir', dir, '--json'])
    t.after(async () => {
      await net.stop('SIGKILL', 1000)
      killAll(processesMentioning(dir))
      await rm(dir, { recursive: true, force: true })
    })
    const ready = JSON.parse(await net.waitForLine((l) => l.startsWith('{'), 25_000)) as { nodes: Array<{ name: string, role: string, dataDir: string, stunPort?: number }> }
    assert.deepEqual(ready.nodes.map((n) => `${n.name} ${n.role}`), ['node-1 server', 'node-2 server', 'node-3 client'])
    // the client's ICE is pointed at node-1's STUN server (a free port, not 3478)
    const stunPort = ready.nodes[0]?.stunPort
    assert.ok(Number.isInteger(stunPort) && stunPort !== 3478, `node-1's STUN port: ${stunPort}`)
    assert.equal(ready.nodes[2]?.stunPort, undefined)
    const id = await umbra(['id', '--json', '--data-dir', ready.nodes[2]?.dataDir ?? ''])
    assert.equal(id.code, 0, id.stderr)
    assert.deepEqual((JSON.parse(id.stdout) as { nat: { stunServers: string[] } }).nat.stunServers, [`127.0.0.1:${stunPort}`])
    const { code } = await net.stop('SIGTERM', 10_000)
    assert.equal(code, 0, net.stderr())
  })

  test('--clients as many as --nodes exits 1 with one line', async () => {
    const res = await umbra(['testnet', '--nodes', '2', '--clients', '2'])
    assert.equal(res.code, 1)
    assertOneErrorLine(res.stderr, 'UMBRA_ERR_INVALID_OPTION')
  })
})

describe('umbra testnet when a node fails to start', { timeout: 30_000 }, () => {
  test('stops the others and exits 1 with one line', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'umbra-cli-broken-'))
    t.after(async () => {
      killAll(processesMentioning(dir))
      await rm(dir, { recursive: true, force: true })
    })
    await mkdir(join(dir, 'node-3'), { recursive: true, mode: 0o700 })
    await writeFile(join(dir, 'node-3', 'identity.key'), 'not a key\n', { mode: 0o600 })
    const res = await umbra(['testnet', '--nodes', '3', '--dir', dir], 25_000)
    assert.equal(res.code, 1, res.stderr)
    assertOneErrorLine(res.stderr, 'UMBRA_ERR_TESTNET_START')
    assert.match(res.stderr, /^umbra: node-3 exited/)
    assert.deepEqual(processesMentioning(dir), [], 'no node process is left')
  })
})

describe('umbra demo', { timeout: 60_000 }, () => {
  test('--nodes 6 runs every step, prints the summary, exits 0', async () => {
    const res = await umbra(['demo', '--nodes', '6'], 55_000)
    assert.equal(res.code, 0, `stdout:\n${res.stdout}\nstderr:\n${res.stderr}`)
    assert.equal(res.stderr, '')
    for (let i = 1; i <= 6; i++) assert.match(res.stdout, new RegExp(`^\\[${i}/6\\] .+ … done in \\d`, 'm'))
    assert.match(res.stdout, /^mixnet preset "none": no mixing delays and no cover traffic/m)
    assert.match(res.stdout, /^\[5\/6\] anonymous message node-2 → a pseudonym of node-6 through 3 mixes, and a reply … done/m)
    assert.match(res.stdout, /node-6's inbox: "hello whoever you are \([0-9a-f]+\)" from \(anonymous\)/)
    assert.match(res.stdout, /node-2's inbox: "hello back from node-6's pseudonym" in reply to [0-9a-f]{32}/)
    assert.match(res.stdout, /get on node-6: "hello from node-1 at [^"]+" \(source: network/)
    assert.match(res.stdout, /node-6's inbox: "hello node-6, this is node-2/)
    const summary = res.stdout.slice(res.stdout.indexOf('\nsummary\n'))
    for (const step of ['start', 'discovery', 'dht', 'message', 'anonymous', 'stop', 'total']) {
      assert.match(summary, new RegExp(`^  ${step} `, 'm'))
    }
    const dirLine = /data directories under (\S+)/.exec(res.stdout)
    assert.ok(dirLine?.[1] != null && !existsSync(dirLine[1]), 'the temporary directory is removed')
  })
})
