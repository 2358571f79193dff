/**
 * `umbra start --import-key FILE` (issue 14, item 3) as a user runs it: the
 * Bitcoin wiki's uncompressed WIF example (5HueCGU8…, address
 * 1GAehh7TsJAHuUAeKZcXf5CnwuGuGgyX2S; en.bitcoin.it/wiki/Wallet_import_format)
 * becomes the identity of a client node: `GET /v1/node` and `umbra id` show
 * the 16Uiu2HA PeerId and the Bitcoin and Evrmore addresses; a restart with
 * the same flag keeps the PeerId; the same key for a server exits with
 * UMBRA_ERR_KEY_TYPE_UNSUPPORTED and writes nothing; a file that is not a key
 * exits with UMBRA_ERR_INVALID_KEY.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { CLI, ENV, runToEnd } from './helpers.ts'
import { killStragglers, UmbraProcess } from '../mixnet/process-helpers.ts'

const WIF = '5HueCGU8rMjxEXxiPuD5BDku4MkFqeZyd4dZ1jvhTVqvbTLvyTJ'
const ADDRESS = '1GAehh7TsJAHuUAeKZcXf5CnwuGuGgyX2S'

interface NodeInfo { peerId: string, key: string, wallet?: { type: string, compressed: boolean, addresses: { bitcoin: string, evrmore: string } } }

describe('umbra start --import-key', { timeout: 60_000 }, () => {
  let dir: string | undefined
  const procs: UmbraProcess[] = []
  after(async () => {
    for (const p of procs) await p.stop('SIGTERM', 5_000).catch(() => {})
    await killStragglers()
    if (dir != null) await rm(dir, { recursive: true, force: true })
  })

  it('runs a client node with the wallet key, shows its addresses, keeps it across a restart, refuses it as a server', async (t) => {
    dir = await mkdtemp(join(tmpdir(), 'umbra-import-key-'))
    const keyFile = join(dir, 'wallet.wif')
    await writeFile(keyFile, WIF + '\n', { mode: 0o600 })
    const node = new UmbraProcess({ name: 'wallet', dataDir: join(dir, 'wallet'), role: 'client', port: 0, preset: 'none', extraArgs: ['--import-key', keyFile] })
    procs.push(node)
    await node.start([])
    const info = await node.call<NodeInfo>('GET', '/v1/node')
    assert.match(info.peerId, /^16Uiu2HA/)
    assert.deepEqual(info.wallet?.type, 'secp256k1')
    assert.equal(info.wallet?.compressed, false)
    assert.equal(info.wallet?.addresses.bitcoin, ADDRESS)
    assert.match(info.wallet?.addresses.evrmore ?? '', /^E/)

    const id = await runToEnd(process.execPath, [CLI, 'id', '--data-dir', join(dir, 'wallet')], { env: ENV })
    assert.equal(id.code, 0, id.stderr)
    assert.match(id.stdout, new RegExp(`^wallet  bitcoin ${ADDRESS}  evrmore E\\w+$`, 'm'))
    assert.match(id.stdout, new RegExp(`^peerId  ${info.peerId}$`, 'm'))
    t.diagnostic(id.stdout.split('\n').filter((l) => /^(peerId|key|wallet)/.test(l)).join(' | '))

    await node.stop('SIGTERM')
    await node.start([])
    assert.equal(node.id.peerId, info.peerId, 'the same PeerId after a restart with the same --import-key')
    await node.stop('SIGTERM')

    const serverDir = join(dir, 'server')
    const server = await runToEnd(process.execPath, [CLI, 'start', '--data-dir', serverDir, '--api', '127.0.0.1:0', '--role', 'server', '--import-key', keyFile], { env: ENV })
    assert.notEqual(server.code, 0)
    assert.match(server.stderr, /UMBRA_ERR_KEY_TYPE_UNSUPPORTED/)
    assert.equal(existsSync(join(serverDir, 'identity.key')), false, 'a refused import writes no identity')

    const junk = join(dir, 'junk.txt')
    await writeFile(junk, 'not a key\n')
    const bad = await runToEnd(process.execPath, [CLI, 'start', '--data-dir', join(dir, 'junk'), '--api', '127.0.0.1:0', '--client', '--import-key', junk], { env: ENV })
    assert.notEqual(bad.code, 0)
    assert.match(bad.stderr, /UMBRA_ERR_INVALID_KEY/)
    t.diagnostic(`as a server: exit ${server.code}, "${server.stderr.trim().split('\n')[0]}"; junk file: exit ${bad.code}`)
  })
})
