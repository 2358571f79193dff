/**
 * Contact lookups through the mixnet (issue 8, item 4; docs/mixnet.md
 * "Contact lookups"): the wire layout of a lookup request and answer, and
 * senders that still find every pseudonym when some lookup gateways never
 * answer or answer "not found", because they ask another gateway.
 * dht-spy.longtest.ts shows what a DHT spy sees.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { BODY_SIZE, SURB_SIZE } from '../../src/mixnet/sphinx/index.ts'
import { contactDhtKey } from '../../src/mixnet/contact.ts'
import {
  FLAG_DROP_COVER, FLAG_HAS_ACK_SURB, FLAG_LOOKUP, LOOKUP_FOUND, LOOKUP_REQUEST_SIZE, REPLY_LOOKUP,
  decodeGatewayLayer, decodeLookupRequest, decodeReplyLayer, encodeGatewayLayer, encodeLookupRequest, encodeReplyLayer
} from '../../src/mixnet/wire.ts'
import { createTestnet, type Testnet } from '../../src/testnet/index.ts'
import type { UmbraNode } from '../../src/node/index.ts'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Libp2p } from '@libp2p/interface'

describe('contact lookup wire layout', () => {
  it('round-trips a lookup request in the gateway layer and an answer in the reply layer', () => {
    const request = { requestId: randomBytes(16), key: randomBytes(32) }
    const surb = randomBytes(SURB_SIZE)
    const body = encodeGatewayLayer(FLAG_LOOKUP, surb, encodeLookupRequest(request))
    assert.equal(body.byteLength, BODY_SIZE)
    const layer = decodeGatewayLayer(body)
    assert.equal(layer.flags, FLAG_LOOKUP | FLAG_HAS_ACK_SURB)
    assert.deepEqual(layer.ackSurb, new Uint8Array(surb))
    assert.equal(layer.fragment.byteLength, LOOKUP_REQUEST_SIZE)
    assert.deepEqual(decodeLookupRequest(layer.fragment), { requestId: new Uint8Array(request.requestId), key: new Uint8Array(request.key) })
    const record = randomBytes(1024)
    const answer = decodeReplyLayer(encodeReplyLayer({ kind: REPLY_LOOKUP, messageId: request.requestId, status: LOOKUP_FOUND, data: record }))
    assert.equal(answer.kind, REPLY_LOOKUP)
    assert.deepEqual(answer.data, new Uint8Array(record))
  })

  it('refuses a lookup without a SURB, a lookup marked as drop cover, and requests of the wrong length', () => {
    const request = encodeLookupRequest({ requestId: randomBytes(16), key: randomBytes(32) })
    assert.throws(() => decodeGatewayLayer(encodeGatewayLayer(FLAG_LOOKUP, undefined, request)), { code: 'UMBRA_ERR_MIXNET_MALFORMED' })
    assert.throws(() => decodeGatewayLayer(encodeGatewayLayer(FLAG_LOOKUP | FLAG_DROP_COVER, randomBytes(SURB_SIZE), request)), { code: 'UMBRA_ERR_MIXNET_MALFORMED' })
    assert.throws(() => encodeLookupRequest({ requestId: randomBytes(15), key: randomBytes(32) }), { code: 'UMBRA_ERR_MIXNET_MALFORMED' })
    assert.throws(() => decodeLookupRequest(randomBytes(LOOKUP_REQUEST_SIZE - 1)), { code: 'UMBRA_ERR_MIXNET_MALFORMED' })
    const body = encodeGatewayLayer(0, undefined, new Uint8Array(22))
    body[1] = 16
    assert.throws(() => decodeGatewayLayer(body), { code: 'UMBRA_ERR_MIXNET_MALFORMED' })
  })
})

describe('contact lookups with hostile lookup gateways', { timeout: 90_000 }, () => {
  const NODES = 7
  const PSEUDONYMS = 6
  let net: Testnet
  let nodes: UmbraNode[]

  before(async () => {
    net = await createTestnet(NODES, { mixnet: { preset: 'none', threads: 1 } })
    nodes = net.nodes
    const started = Date.now()
    while (!nodes.every((n) => n.mixnet.directory().length === NODES)) {
      if (Date.now() - started > 30_000) throw new Error('directories did not converge')
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  })
  after(async () => { await net?.stop() })

  it('finds every pseudonym when 2 of the 6 possible lookup gateways never answer or answer "not found"', async (t) => {
    const sender = nodes[0] as UmbraNode
    const recipient = nodes[NODES - 1] as UmbraNode
    const hanging = nodes[1] as UmbraNode
    const liar = nodes[2] as UmbraNode
    const decoy = await recipient.pseudonyms.create({ label: 'decoy' })
    const kadOf = (n: UmbraNode): KadDHT => (n.libp2p as Libp2p<{ dht: KadDHT }>).services.dht
    let decoyRecord: Uint8Array | undefined
    for await (const event of kadOf(liar).get(contactDhtKey(decoy.key), { signal: AbortSignal.timeout(5_000) })) {
      if (event.name === 'VALUE') decoyRecord = event.value
    }
    assert.ok(decoyRecord != null, 'the decoy\'s record is in the DHT')
    const forged = decoyRecord
    // The hanging gateway's DHT query never ends, so it never answers; the liar's DHT returns the decoy's (validly signed) record
    // for every key, which the gateway's own check refuses, so it answers "not found". Either way the sender must ask another gateway.
    const asked = { hanging: 0, liar: 0 }
    kadOf(hanging).get = async function * () { asked.hanging++; await new Promise(() => {}); yield * [] } as KadDHT['get']
    kadOf(liar).get = async function * () { asked.liar++; yield { name: 'VALUE', type: 5, value: forged, from: liar.libp2p.peerId, path: { index: 0, queued: 0, running: 0, total: 0 } } } as unknown as KadDHT['get']

    const pseudonyms = []
    for (let i = 0; i < PSEUDONYMS; i++) pseudonyms.push(await recipient.pseudonyms.create({ label: `p${i}` }))
    const got = new Set<string>()
    recipient.addEventListener('anonymous:message', (evt) => { got.add(evt.detail.to) })
    const times: number[] = []
    for (const p of pseudonyms) {
      const receipt = await sender.mixnet.send(p.key, new Uint8Array([1]), { hops: 2, replySurbs: 0 })
      assert.ok(receipt.status === 'stored' || receipt.status === 'delivered', `status ${receipt.status}`)
      times.push(Math.round(receipt.rttMs))
    }
    const deadline = Date.now() + 15_000
    while (got.size < PSEUDONYMS && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
    assert.equal(got.size, PSEUDONYMS, 'every pseudonym got its message (never the decoy)')
    assert.ok(!got.has(decoy.key))
    const badAnswers = sender.mixnet.counters().dropped['bad-contact'] ?? 0
    t.diagnostic(`${PSEUDONYMS}/${PSEUDONYMS} sends stored and received; send times incl. lookup ${times.join(', ')} ms; lookups that reached the hanging gateway: ${asked.hanging}, the liar: ${asked.liar}; ${badAnswers} invalid records reached the sender`)
  })
})
