import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createTestnet, type Testnet } from '../../src/testnet/index.ts'
import { createPacket, PACKET_SIZE } from '../../src/mixnet/sphinx/index.ts'
import { encodeFragment, encodeGatewayLayer } from '../../src/mixnet/wire.ts'
import type { MixnetHandle } from '../../src/mixnet/mixnet-service.ts'
import type { AnonymousMessage, RelayObservation } from '../../src/mixnet/types.ts'
import type { UmbraNode } from '../../src/node/index.ts'
import { decodeKey } from '../../src/identity/index.ts'
import { waitFor } from '../helpers/wait.ts'

const NODES = 8
const MIXNET = { preset: 'none' as const, threads: 1 }

function nextAnonymous (node: UmbraNode, timeoutMs = 15_000): Promise<AnonymousMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error('no anonymous:message event')) }, timeoutMs)
    node.addEventListener('anonymous:message', (evt) => { clearTimeout(timer); resolve(evt.detail) }, { once: true })
  })
}

function handle (node: UmbraNode): MixnetHandle {
  return node.mixnet as MixnetHandle
}

function keyOf (node: UmbraNode): Uint8Array {
  const key = node.libp2p.peerId.publicKey?.raw
  assert.ok(key != null)
  return key
}

describe('mixnet on real loopback nodes', () => {
  let net: Testnet
  let nodes: UmbraNode[]
  before(async () => {
    net = await createTestnet(NODES, { mixnet: MIXNET })
    nodes = net.nodes
    await waitFor('every directory to list every node', () => nodes.every((n) => n.mixnet.directory().length === NODES), 30_000)
  })
  after(async () => { await net?.stop() })

  it('directories converge on a join within 30 s and on a leave within 30 s', async () => {
    const { createNode } = await import('../../src/node/index.ts')
    const { generateKeyPair } = await import('@libp2p/crypto/keys')
    const joiner = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [nodes[0]?.getMultiaddrs()[0] as string], mixnet: MIXNET })
    await joiner.start()
    const joinerId = joiner.peerId
    try {
      const joinMs = await waitFor('the joiner in every directory', () => nodes.every((n) => n.mixnet.directory().some((d) => d.peerId === joiner.peerId)), 30_000)
      assert.ok(joinMs <= 30_000)
      assert.equal(joiner.mixnet.directory().length, NODES + 1)
    } finally {
      await joiner.stop()
    }
    const leaveMs = await waitFor('the joiner gone from every directory', () => nodes.every((n) => !n.mixnet.directory().some((d) => d.peerId === joinerId)), 30_000)
    assert.ok(leaveMs <= 30_000)
  })

  it('sends 1 B, 2,000 B and 200 KiB through 1, 3 and 6 hops intact, from no sender', async () => {
    const recipient = nodes[NODES - 1] as UmbraNode
    const sender = nodes[0] as UmbraNode
    const p = await recipient.pseudonyms.create({ label: 'test' })
    for (const hops of [1, 3, 6]) {
      for (const size of [1, 2000, 200 * 1024]) {
        const body = new Uint8Array(size).map((_, i) => (i * 31 + hops) & 0xff)
        const arrived = nextAnonymous(recipient)
        const receipt = await sender.mixnet.send(p.key, body, { hops })
        const msg = await arrived
        assert.equal(msg.id, receipt.id)
        assert.equal(msg.from, null)
        assert.equal(msg.to, p.key)
        assert.ok(Buffer.from(msg.body).equals(Buffer.from(body)), `${size} B over ${hops} hops`)
      }
    }
  })

  it('answers through a SURB; the sender gets the reply and an end-to-end acknowledgement', async () => {
    const recipient = nodes[3] as UmbraNode
    const sender = nodes[5] as UmbraNode
    const p = await recipient.pseudonyms.create()
    const arrived = nextAnonymous(recipient)
    const receipt = await sender.mixnet.send(p.key, new TextEncoder().encode('ping'), { wait: 'delivered' })
    assert.equal(receipt.status, 'delivered')
    const msg = await arrived
    assert.equal(msg.repliesLeft, 2)
    const replied = new Promise<string>((resolve) => {
      sender.addEventListener('anonymous:reply', (evt) => { resolve(new TextDecoder().decode(evt.detail.body)) }, { once: true })
    })
    await recipient.mixnet.reply(msg.id, new TextEncoder().encode('pong'))
    assert.equal(await replied, 'pong')
    const replied2 = new Promise<string>((resolve) => {
      sender.addEventListener('anonymous:reply', (evt) => { resolve(new TextDecoder().decode(evt.detail.body)) }, { once: true })
    })
    await recipient.mixnet.reply(msg.id, new TextEncoder().encode('pong 2'))
    await assert.rejects(recipient.mixnet.reply(msg.id, new Uint8Array(1)), { code: 'UMBRA_ERR_NO_SURB' })
    // The second reply arrives too (and is not left in flight to blur the next test's view of the relays).
    assert.equal(await replied2, 'pong 2')
  })

  it('each relay sees only its predecessor and successor; the gateway sees the mailbox, no mix does', async () => {
    const recipient = nodes[2] as UmbraNode
    const p = await recipient.pseudonyms.create()
    // The sender must not be the pseudonym's gateway (chosen at random): that node learns the mailbox by its role.
    const sender = nodes.find((n) => n !== recipient && n.peerId !== p.gateways[0]) as UmbraNode
    // A first send looks the contact up through the mixnet (another forward path, to a random gateway); the observed one reuses it.
    const warmed = nextAnonymous(recipient)
    await sender.mixnet.send(p.key, new Uint8Array([41]), { hops: 3, replySurbs: 0 })
    await warmed
    const seen: Array<RelayObservation & { at: string }> = []
    const listeners = nodes.map((n) => {
      const fn = (evt: CustomEvent<RelayObservation>): void => { seen.push({ ...evt.detail, at: n.peerId }) }
      handle(n).events.addEventListener('relay:packet', fn)
      return () => { handle(n).events.removeEventListener('relay:packet', fn) }
    })
    try {
      const arrived = nextAnonymous(recipient)
      await sender.mixnet.send(p.key, new Uint8Array([42]), { hops: 3, replySurbs: 0 })
      await arrived
    } finally {
      for (const off of listeners) off()
    }
    // The forward packet: sender -> m1 -> m2 -> m3 -> gateway. Find the chain that starts at the sender.
    // Observations arrive in processing order: the forward path ends with the gateway's
    // `deliver`; what follows (the gateway's acknowledgement through its SURB) is another path.
    const mailbox = Buffer.from(decodeKey(p.key)).toString('hex')
    const deliverAt = seen.findIndex((o) => o.kind === 'deliver' && o.mailbox === mailbox)
    assert.ok(deliverAt >= 0)
    const forward = seen.slice(0, deliverAt + 1)
    const first = forward.find((o) => o.from === sender.peerId && o.kind === 'forward')
    assert.ok(first != null, 'the first mix saw the sender as predecessor')
    const chain = [first]
    while (chain.length < 4) {
      const last = chain[chain.length - 1] as RelayObservation & { at: string }
      const next = forward.find((o) => o.at === last.next && o.from === last.at)
      assert.ok(next != null, `hop ${chain.length + 1} saw hop ${chain.length} as predecessor`)
      chain.push(next)
    }
    const gatewayView = chain[3] as RelayObservation & { at: string }
    assert.equal(gatewayView.kind, 'deliver')
    assert.equal(gatewayView.at, p.gateways[0])
    for (const mix of chain.slice(0, 3)) {
      assert.equal(mix.kind, 'forward')
      assert.equal(mix.mailbox, undefined)
      assert.notEqual(mix.next, sender.peerId)
    }
    // Only the first mix ever learns the sender.
    assert.equal(chain.filter((o) => o.from === sender.peerId).length, 1)
    assert.equal(new Set(chain.map((o) => o.at)).size, 4, 'no node twice in a path')
  })

  it('drops a replayed packet and a tampered packet at a real relay, counted by reason', async () => {
    const relay = nodes[1] as UmbraNode
    const gw = nodes[4] as UmbraNode
    const sender = nodes[7] as UmbraNode
    const dir = sender.mixnet.directory()
    assert.ok(dir.length > 0)
    const epoch = Math.floor(Date.now() / 3_600_000)
    const onionOf = (n: UmbraNode): Uint8Array => {
      const entry = handle(sender).directoryEntry(keyOf(n))
      const key = entry?.onionKeys.get(epoch)
      assert.ok(key != null)
      return key
    }
    const packet = createPacket({
      epoch,
      hops: [
        { onionKey: onionOf(relay), routing: { type: 'forward', nextNode: keyOf(gw), delayMs: 0 } },
        { onionKey: onionOf(gw), routing: { type: 'deliver', mailbox: new Uint8Array(32).fill(7) } }
      ],
      body: encodeGatewayLayer(0, undefined, encodeFragment({ messageId: new Uint8Array(16), index: 0, total: 1, data: new Uint8Array(10) }))
    })
    assert.equal(packet.byteLength, PACKET_SIZE)
    const before = relay.mixnet.counters()
    // The tampered copy first: it has the original's α, so after the original it would be dropped as a replay before
    // any MAC check whenever the original was done before it arrived (packet links deliver one frame at a time).
    const tampered = packet.slice()
    tampered[100] = (tampered[100] as number) ^ 1
    await handle(sender).sendRawPacket(keyOf(relay), tampered)
    await handle(sender).sendRawPacket(keyOf(relay), packet)
    await handle(sender).sendRawPacket(keyOf(relay), packet)
    await waitFor('the relay to count 3 packets', () => relay.mixnet.counters().packetsIn >= before.packetsIn + 3, 10_000)
    await waitFor('the drops to be counted', () => (relay.mixnet.counters().dropped.replay ?? 0) > (before.dropped.replay ?? 0) && (relay.mixnet.counters().dropped.mac ?? 0) > (before.dropped.mac ?? 0), 10_000)
    const afterCounters = relay.mixnet.counters()
    assert.equal(afterCounters.forwarded, before.forwarded + 1, 'only the first copy was relayed')
    assert.equal((afterCounters.dropped.replay ?? 0) - (before.dropped.replay ?? 0), 1)
    assert.equal((afterCounters.dropped.mac ?? 0) - (before.dropped.mac ?? 0), 1)
    assert.equal(relay.isStarted, true)
  })

  it('refuses a message over the mailbox quota with UMBRA_ERR_MAILBOX_FULL and keeps what it stored', async () => {
    const recipient = nodes[4] as UmbraNode
    const sender = nodes[1] as UmbraNode
    const p = await recipient.pseudonyms.create()
    // The owner goes away: stop its node so the gateway must keep everything.
    const gateway = nodes.find((n) => n.peerId === p.gateways[0]) as UmbraNode
    assert.ok(gateway != null)
    await recipient.stop()
    try {
      await sender.mixnet.send(p.key, new Uint8Array(600_000).fill(1), { hops: 1 })
      await assert.rejects(sender.mixnet.send(p.key, new Uint8Array(600_000).fill(2), { hops: 1 }), { code: 'UMBRA_ERR_MAILBOX_FULL' })
      assert.ok(gateway.mixnet.counters().refused > 0)
      assert.ok(gateway.mixnet.counters().stored >= 200)
    } finally {
      nodes.splice(nodes.indexOf(recipient), 1)
    }
  })

  it('refuses bad input with coded errors before sending anything', async () => {
    const sender = nodes[0] as UmbraNode
    const p = (nodes[NODES - 2] as UmbraNode).pseudonyms.list()[0] ?? await (nodes[NODES - 2] as UmbraNode).pseudonyms.create()
    await assert.rejects(sender.mixnet.send('key_nope', new Uint8Array(1)), { code: 'UMBRA_ERR_INVALID_RECIPIENT' })
    await assert.rejects(sender.mixnet.send(p.key, new Uint8Array(1), { hops: 0 }), { code: 'UMBRA_ERR_INVALID_OPTION' })
    await assert.rejects(sender.mixnet.send(p.key, new Uint8Array(1), { hops: 9 }), { code: 'UMBRA_ERR_INVALID_OPTION' })
    await assert.rejects(sender.mixnet.send(p.key, new Uint8Array(1024 * 1024 + 1)), { code: 'UMBRA_ERR_MESSAGE_TOO_LARGE' })
    await assert.rejects(sender.mixnet.send(p.key, new Uint8Array(1), { hops: 8 }), { code: 'UMBRA_ERR_NOT_ENOUGH_MIXES' })
    const { generateKeyPair } = await import('@libp2p/crypto/keys')
    const { encodeKey } = await import('../../src/identity/index.ts')
    const stranger = encodeKey((await generateKeyPair('Ed25519')).publicKey.raw)
    await assert.rejects(sender.mixnet.send(stranger, new Uint8Array(1), { timeout: 5000 }), { code: 'UMBRA_ERR_UNKNOWN_PSEUDONYM' })
  })
})
