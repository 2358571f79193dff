/**
 * Ring signatures over the HTTP API and the CLI (issue 14, item 2):
 * `POST /v1/proofs/ring` signs with whichever of the node's keys is in the
 * ring, `POST /v1/proofs/ring/verify` checks; `umbra prove` / `umbra verify`
 * go through them (CLI processes). An in-process API server over a node whose
 * only service is its real proof service (no libp2p: the proofs need none).
 */
import { after, before, describe, it } from 'node:test'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { ApiClient, createApiServer } from '../../src/api/index.ts'
import type { ApiServer } from '../../src/api/index.ts'
import { umbra } from '../cli/helpers.ts'
import { encodeKey } from '../../src/identity/keys.ts'
import { createProofService, ringVerify } from '../../src/proofs/index.ts'
import { createNode } from '../../src/node/index.ts'
import type { UmbraNode } from '../../src/node/index.ts'
import type { PrivateKey } from '@libp2p/interface'

const TOKEN = 'proofs-test-token-0123456789'

describe('ring signatures over HTTP and the CLI', () => {
  let api: ApiServer
  let client: ApiClient
  let others: string[]
  let nodeKey: string
  let pseudonymKey: string

  before(async () => {
    const own = await generateKeyPair('Ed25519')
    const pseudonym = await generateKeyPair('Ed25519')
    nodeKey = encodeKey(own.publicKey.raw)
    pseudonymKey = encodeKey(pseudonym.publicKey.raw)
    const held = new Map<string, PrivateKey>([[nodeKey, own], [pseudonymKey, pseudonym]])
    others = await Promise.all(Array.from({ length: 6 }, async () => encodeKey((await generateKeyPair('Ed25519')).publicKey.raw)))
    const proofs = createProofService({ keyFor: (key) => held.get(key) })
    const node = Object.assign(new EventTarget(), { isStarted: true, proofs, metrics: undefined })
    api = await createApiServer(node as unknown as UmbraNode, { token: TOKEN, port: 0 })
    client = new ApiClient({ url: api.url, token: TOKEN })
  })

  after(async () => { await api.close() })

  it('POST /v1/proofs/ring signs with the pseudonym in the ring; anyone verifies, over HTTP and with the library', async () => {
    const ring = [...others.slice(0, 3), pseudonymKey, ...others.slice(3)]
    const signed = await client.ringSign('vote: yes', ring, { scope: 'poll/1' })
    assert.match(signed.keyImage, /^[0-9a-f]{64}$/)
    const checked = await client.ringVerify('vote: yes', ring, signed.signature, { scope: 'poll/1' })
    assert.deepEqual(checked, { valid: true, keyImage: signed.keyImage })
    assert.equal(ringVerify('vote: yes', ring, Buffer.from(signed.signature, 'base64'), { scope: 'poll/1' }).valid, true)
    assert.equal((await client.ringVerify('vote: no', ring, signed.signature, { scope: 'poll/1' })).valid, false)
    // a second signature by the same key in the same scope links; the node key in another ring and scope does not
    const again = await client.ringSign('vote: no', ring, { scope: 'poll/1' })
    assert.equal(again.keyImage, signed.keyImage)
    const byNode = await client.ringSign('hello', [others[0] as string, nodeKey])
    assert.notEqual(byNode.keyImage, signed.keyImage)
    // base64 messages
    const bytes = Buffer.from([0, 255, 1, 254]).toString('base64')
    const bin = await client.ringSign(bytes, ring, { encoding: 'base64' })
    assert.equal((await client.ringVerify(bytes, ring, bin.signature, { encoding: 'base64' })).valid, true)
  })

  it('answers coded errors: 403 when the node holds no key of the ring, 400 for bad rings and signatures', async () => {
    const status = async (fn: () => Promise<unknown>): Promise<string> => {
      try {
        await fn()
        return 'ok'
      } catch (err) {
        const e = err as { status?: number, code?: string }
        return `${e.status ?? '?'} ${e.code ?? String(err)}`
      }
    }
    assert.equal(await status(async () => await client.ringSign('m', others)), '403 UMBRA_ERR_NOT_RING_MEMBER')
    assert.equal(await status(async () => await client.ringSign('m', [nodeKey])), '400 UMBRA_ERR_BAD_REQUEST')
    assert.equal(await status(async () => await client.ringSign('m', [nodeKey, nodeKey])), '400 UMBRA_ERR_RING_INVALID')
    assert.equal(await status(async () => await client.ringSign('m', [nodeKey, 'key_typo'])), '400 UMBRA_ERR_RING_INVALID')
    assert.equal(await status(async () => await client.ringSign('m', [nodeKey, others[0] as string], { scope: 'x'.repeat(300) })), '400 UMBRA_ERR_BAD_REQUEST')
    const ring = [nodeKey, others[0] as string]
    const { signature } = await client.ringSign('m', ring)
    assert.equal(await status(async () => await client.ringVerify('m', ring, 'not base64!')), '400 UMBRA_ERR_BAD_REQUEST')
    assert.equal(await status(async () => await client.ringVerify('m', ring, signature.slice(0, 40))), '400 UMBRA_ERR_RING_SIGNATURE_MALFORMED')
    assert.equal(await status(async () => await client.ringVerify('m', [...ring, others[1] as string], signature)), '400 UMBRA_ERR_RING_SIGNATURE_MALFORMED')
  })

  it('umbra prove and umbra verify: exit 0 and the key image; a changed message exits 1; not a member exits 1 with one coded line', async () => {
    const flags = ['--api', api.url, '--token', TOKEN]
    const ring = [others[0] as string, nodeKey, others[1] as string]
    const proved = await umbra(['prove', 'vote: yes', ...flags, '--scope', 'poll/2', '--ring', ...ring])
    assert.equal(proved.code, 0, proved.stderr)
    const [sigLine, imageLine] = proved.stdout.trim().split('\n')
    assert.match(sigLine ?? '', /^signature [A-Za-z0-9+/=]+$/)
    assert.match(imageLine ?? '', /^key image [0-9a-f]{64}$/)
    const signature = (sigLine ?? '').slice('signature '.length)
    const verified = await umbra(['verify', 'vote: yes', signature, ...flags, '--scope', 'poll/2', '--ring', ...ring])
    assert.equal(verified.code, 0, verified.stderr)
    assert.equal(verified.stdout, `valid, ${imageLine ?? ''}\n`)
    const changed = await umbra(['verify', 'vote: no', signature, ...flags, '--scope', 'poll/2', '--ring', ...ring])
    assert.equal(changed.code, 1)
    assert.match(changed.stdout, /^invalid/)
    const json = await umbra(['verify', 'vote: yes', signature, ...flags, '--json', '--scope', 'poll/2', '--ring', ...ring])
    assert.equal(JSON.parse(json.stdout).valid, true)
    const outsider = await umbra(['prove', 'x', ...flags, '--ring', ...others.slice(0, 2)])
    assert.equal(outsider.code, 1)
    assert.match(outsider.stderr, /^umbra: .*\(UMBRA_ERR_NOT_RING_MEMBER\)\n$/)
  })
})

describe('node.proofs on a started node', () => {
  it('signs with the node\'s transport key when it is in the ring, refuses a ring without it, and is gone after stop', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'umbra-proofs-'))
    const node = await createNode({ dataDir: dir, listen: ['/ip4/127.0.0.1/tcp/0'], mixnet: { preset: 'none', threads: 1 } })
    try {
      await node.start()
      const other = encodeKey((await generateKeyPair('Ed25519')).publicKey.raw)
      const ring = [other, node.key]
      const { signature, keyImage } = node.proofs.ringSign('hello', ring, { scope: 's' })
      assert.deepEqual(ringVerify('hello', ring, signature, { scope: 's' }), { valid: true, keyImage })
      assert.throws(() => node.proofs.ringSign('hello', [other, encodeKey((new Uint8Array(32)).fill(9))]), { code: 'UMBRA_ERR_RING_INVALID' })
      const third = encodeKey((await generateKeyPair('Ed25519')).publicKey.raw)
      assert.throws(() => node.proofs.ringSign('hello', [other, third]), { code: 'UMBRA_ERR_NOT_RING_MEMBER' })
    } finally {
      await node.stop()
      await rm(dir, { recursive: true, force: true })
    }
    assert.throws(() => node.proofs, { code: 'UMBRA_ERR_NOT_STARTED' })
  })
})
