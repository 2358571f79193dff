import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createTestnet, type Testnet } from '../../src/testnet/index.ts'
import { MAX_BODY_BYTES } from '../../src/messaging/constants.ts'
import type { ReceivedMessage } from '../../src/messaging/index.ts'
import type { UmbraNode } from '../../src/node/index.ts'

function nextMessage (node: UmbraNode, timeoutMs = 10_000): Promise<ReceivedMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no message event')), timeoutMs)
    node.addEventListener('message', (evt) => { clearTimeout(timer); resolve(evt.detail) }, { once: true })
  })
}

describe('direct messages on real nodes', () => {
  let net: Testnet
  let a: UmbraNode, b: UmbraNode, c: UmbraNode
  before(async () => {
    net = await createTestnet(3)
    ;[a, b, c] = net.nodes as [UmbraNode, UmbraNode, UmbraNode]
  })
  after(async () => { await net?.stop() })

  it('delivers, acknowledges and emits `message` with the proven sender', async () => {
    const arrived = nextMessage(c)
    const receipt = await b.messaging.send(c.peerId, new TextEncoder().encode('hello c'))
    const msg = await arrived
    assert.equal(new TextDecoder().decode(msg.body), 'hello c')
    assert.equal(msg.from, b.peerId)
    assert.equal(msg.fromKey, b.key)
    assert.equal(msg.id, receipt.id)
    assert.equal(receipt.to, c.peerId)
    assert.equal(receipt.path, 'direct')
    assert.ok(receipt.rttMs > 0)
    assert.ok(c.messaging.inbox().some((m) => m.id === receipt.id))
    assert.equal(b.messaging.inbox().some((m) => m.id === receipt.id), false)
  })

  it('accepts the recipient as a key_ key too', async () => {
    const arrived = nextMessage(a)
    await c.messaging.send(a.key, new Uint8Array([1, 2, 3]))
    assert.deepEqual((await arrived).body, new Uint8Array([1, 2, 3]))
  })

  it('carries exactly 1 MiB and refuses 1 MiB + 1 before sending', async () => {
    const big = new Uint8Array(MAX_BODY_BYTES).fill(0xab)
    const arrived = nextMessage(a)
    await b.messaging.send(a.peerId, big)
    assert.equal((await arrived).body.byteLength, MAX_BODY_BYTES)
    const before = a.messaging.inbox().length
    await assert.rejects(b.messaging.send(a.peerId, new Uint8Array(MAX_BODY_BYTES + 1)), { code: 'UMBRA_ERR_MESSAGE_TOO_LARGE' })
    assert.equal(a.messaging.inbox().length, before)
  })

  it('rejects a malformed recipient, a typo in a key and itself with coded errors', async () => {
    await assert.rejects(b.messaging.send('nobody', new Uint8Array(1)), { code: 'UMBRA_ERR_INVALID_RECIPIENT' })
    const typo = c.key.slice(0, -1) + (c.key.endsWith('2') ? '3' : '2')
    await assert.rejects(b.messaging.send(typo, new Uint8Array(1)), { code: 'UMBRA_ERR_INVALID_RECIPIENT' })
    await assert.rejects(b.messaging.send(b.peerId, new Uint8Array(1)), { code: 'UMBRA_ERR_INVALID_RECIPIENT' })
  })

  it('queues the message at the recipient\'s closest servers when the recipient is unreachable (issue 11)', async (t) => {
    const { generateKeyPair } = await import('@libp2p/crypto/keys')
    const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
    const ghost = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const receipt = await b.messaging.send(ghost, new Uint8Array(1), { timeout: 15_000 })
    assert.equal(receipt.path, 'queued')
    assert.deepEqual([...(receipt.servers ?? [])].sort(), [a.peerId, c.peerId].sort(), 'both other servers hold a copy')
    t.diagnostic(`queued after ${receipt.rttMs.toFixed(0)} ms`)
    // and the node still delivers afterwards
    const arrived = nextMessage(c)
    await b.messaging.send(c.peerId, new Uint8Array([7]))
    assert.deepEqual((await arrived).body, new Uint8Array([7]))
  })
})
