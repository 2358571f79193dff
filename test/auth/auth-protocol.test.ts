/**
 * /umbra/auth/1.0.0 between two in-process nodes (issue 14, item 1): a peer
 * proves its node key; a relayed challenge (issued by someone other than the
 * asking peer) is refused, so the protocol is no signing oracle.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { lpStream } from '@libp2p/utils'
import { createTestnet, type Testnet } from '../../src/testnet/index.ts'
import { AUTH_PROTOCOL, createAuth } from '../../src/auth/index.ts'
import { peerIdFromString } from '@libp2p/peer-id'

describe('/umbra/auth/1.0.0 (issue 14, item 1)', { timeout: 60_000 }, () => {
  let net: Testnet

  before(async () => { net = await createTestnet(2, { mixnet: { preset: 'none', threads: 1 } }) })
  after(async () => { await net?.stop() })

  it('a peer proves its node key; a challenge it did not issue is not signed for it', async (t) => {
    const [a, b] = net.nodes as [typeof net.nodes[0], typeof net.nodes[0]]
    const started = performance.now()
    const proven = await a.auth.prove(peerIdFromString(b.peerId), { purpose: 'peer-check' })
    t.diagnostic(`prove over /umbra/auth/1.0.0: ${(performance.now() - started).toFixed(1)} ms`)
    assert.deepEqual(proven, { valid: true, key: b.key, purpose: 'peer-check' })

    // A third party's challenge relayed by A to B: B refuses with a coded error.
    const third = createAuth({ privateKey: await generateKeyPair('Ed25519') })
    const relayed = third.challenge({ purpose: 'login' })
    const stream = await a.libp2p.dialProtocol(peerIdFromString(b.peerId), AUTH_PROTOCOL)
    const lp = lpStream(stream)
    await lp.write(Buffer.from(JSON.stringify({ version: 1, challenge: relayed })))
    const answer = JSON.parse(Buffer.from((await lp.read()).subarray()).toString('utf8')) as { error?: { code: string }, response?: unknown }
    await stream.close().catch(() => {})
    assert.equal(answer.response, undefined)
    assert.equal(answer.error?.code, 'UMBRA_ERR_AUTH_CHALLENGE')
  })
})
