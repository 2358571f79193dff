/**
 * Names' "Must show" over real processes (issue 9): 10 `umbra start` server
 * processes on 127.0.0.1, driven through the `umbra` CLI as a user would:
 * node 3 registers a global name pointing to its PeerId and a pseudonym;
 * node 9 resolves it (`umbra --query`) and sends to it by name, directly and
 * anonymously; node 5 claiming the same name exits 1 with UMBRA_ERR_KEY_OWNED
 * (HTTP 409); a zone name resolves; a name registered with a short ttl and
 * no renewal expires and is then claimed by node 5.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { ApiClient, startProcessTestnet, type ProcessTestnet, type ProcessTestnetNode } from '../../src/testnet/index.ts'
import { until } from '../helpers/wait.ts'

const NODES = 10
const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url))
const exec = promisify(execFile)

/** Runs `umbra <args> --api <node's API>` with the node's token; never throws. */
async function umbra (node: ProcessTestnetNode, args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [CLI, ...args, '--api', node.api], { env: { ...process.env, UMBRA_API_TOKEN: node.token }, timeout: 60_000 })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code?: number, stdout?: string, stderr?: string }
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }
  }
}

describe(`names over ${NODES} umbra start processes, through the CLI`, { timeout: 150_000 }, () => {
  let net: ProcessTestnet
  let n3: ProcessTestnetNode
  let n5: ProcessTestnetNode
  let n9: ProcessTestnetNode
  const api = (n: ProcessTestnetNode): ApiClient => new ApiClient({ url: n.api, token: n.token })

  before(async () => {
    const t0 = Date.now()
    net = await startProcessTestnet({ nodes: NODES, mixnet: { preset: 'none', threads: 1 } })
    n3 = net.nodes[2] as ProcessTestnetNode
    n5 = net.nodes[4] as ProcessTestnetNode
    n9 = net.nodes[8] as ProcessTestnetNode
    // Enough mixes for a 3-hop path and a gateway (the full directory can take longer on a loaded machine).
    await until('node 3 and node 9 to list 6 mixes', async () => (await api(n3).mixnet()).directory.length >= 6 && (await api(n9).mixnet()).directory.length >= 6, 60_000)
    console.log(`# ${NODES} processes started and mixed in ${Date.now() - t0} ms`)
  })
  after(async () => { await net?.stop() })

  it('node 3 registers a global name; node 9 resolves it and sends to it by name, directly and anonymously; node 5 gets 409', async (t) => {
    const name = 'node-three-process'
    const nym = await api(n3).createPseudonym()
    const reg = await umbra(n3, ['name', 'register', name, '--peer', n3.peerId, '--pseudonym', nym.key, '--text', 'node 3 over processes'])
    t.diagnostic(reg.stdout.trim().split('\n')[0] ?? '')
    assert.equal(reg.code, 0, reg.stderr)
    assert.match(reg.stdout, new RegExp(`registered ${name} \\(global\\)`))

    const query = await until('node 9 to resolve the name', async () => {
      const r = await umbra(n9, ['--query', name])
      return r.code === 0 ? r : undefined
    }, 20_000)
    t.diagnostic(`umbra --query ${name} on node 9:\n${query.stdout.trim()}`)
    assert.match(query.stdout, new RegExp(`owner ${n3.key}`))
    assert.match(query.stdout, new RegExp(`peer\\s+${n3.peerId}`))
    assert.match(query.stdout, new RegExp(`pseudonym\\s+${nym.key}`))

    // Seed 003's form with the node found through its data directory, as the README writes it.
    const listed = await exec(process.execPath, [CLI, '--data-dir', n3.dataDir, 'name', 'list'], { env: { ...process.env, UMBRA_API_TOKEN: undefined } })
    assert.match(listed.stdout, new RegExp(`^${name} \\(global\\)`, 'm'))

    const direct = await umbra(n9, ['send', name, 'direct by name'])
    assert.equal(direct.code, 0, direct.stderr)
    assert.match(direct.stdout, new RegExp(`to ${n3.peerId}`))
    const anon = await umbra(n9, ['send', '--anonymous', name, 'anonymous by name'])
    assert.equal(anon.code, 0, anon.stderr)
    assert.match(anon.stdout, new RegExp(`anonymous message .* to ${nym.key}`))
    await until('both messages in node 3\'s inbox', async () => {
      const bodies = (await api(n3).inbox()).messages.map((m) => (m as { body: string }).body)
      return bodies.includes('direct by name') && bodies.includes('anonymous by name')
    }, 30_000)

    const clash = await umbra(n5, ['name', 'register', name, '--peer', n5.peerId])
    t.diagnostic(`node 5: exit ${clash.code}, ${clash.stderr.trim()}`)
    assert.equal(clash.code, 1)
    assert.match(clash.stderr, /UMBRA_ERR_KEY_OWNED/)
    // The same over HTTP is a 409.
    const res = await fetch(`${n5.api}/v1/names`, { method: 'POST', headers: { authorization: `Bearer ${n5.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ name, records: [{ type: 'peer', value: n5.peerId }] }) })
    assert.equal(res.status, 409)
  })

  it('a zone name resolves on another node', async () => {
    const name = `www.${n3.key}`
    const reg = await umbra(n3, ['name', 'register', name, '--text', 'zone over processes'])
    assert.equal(reg.code, 0, reg.stderr)
    const r = await until('node 9 to resolve the zone name', async () => {
      const out = await umbra(n9, ['name', 'resolve', name, '--json'])
      return out.code === 0 ? JSON.parse(out.stdout) as { owner: string, records: Array<{ value: string }> } : undefined
    }, 20_000)
    assert.equal(r.owner, n3.key)
    assert.equal(r.records[0]?.value, 'zone over processes')
  })

  it('an expired name can be claimed by another key', async (t) => {
    const name = 'expiring-process-name'
    const reg = await api(n3).registerName(name, [{ type: 'text', value: 'three' }], { ttl: 3, renew: false })
    assert.equal((await umbra(n5, ['name', 'register', name, '--text', 'five'])).code, 1)
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, reg.expiresAt - Date.now()) + 300))
    const claim = await umbra(n5, ['name', 'register', name, '--text', 'five'])
    t.diagnostic(`node 5 after expiry: exit ${claim.code} ${claim.stdout.trim().split('\n')[0] ?? claim.stderr.trim()}`)
    assert.equal(claim.code, 0, claim.stderr)
    const r = await api(n9).resolveName(name, { fresh: true })
    assert.equal(r.owner, n5.key)
    assert.equal(r.records[0]?.value, 'five')
  })
})
