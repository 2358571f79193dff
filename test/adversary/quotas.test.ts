/**
 * Per-peer quotas under attack (issue 10, item 3), over `umbra start`
 * processes: a victim server V and a well-behaved client C bootstrapped to it;
 * the attacker is a stock js-libp2p node in this process (quota-helpers.ts).
 * Umbra code on its side only builds the bytes it sends (a signed claim frame).
 * 1. Mailbox claims flood: 200 claims at V's gateway from one PeerId, while
 *    C creates a pseudonym there. At most 16 are held; the rest get
 *    FRAME_ERROR `UMBRA_ERR_QUOTA_MAILBOX_CLAIMS` and are counted.
 * 2. SSE flood: 40 `GET /v1/events` on V; 16 open, the rest 429
 *    `UMBRA_ERR_QUOTA_EVENT_STREAMS`; V's API keeps answering.
 * The DHT PUT_VALUE flood is in quotas-dht.test.ts. Each prints what the
 * attacker got and what C saw (before = the same test on the base commit).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { GATEWAY_PROTOCOL } from '../../src/mixnet/constants.ts'
import { FRAME_CLAIM, FRAME_CLAIM_OK, FRAME_ERROR, claimSignable, gatewayFrame } from '../../src/mixnet/gateway.ts'
import { GatewayFrame } from '../../src/mixnet/pb/mixnet.ts'
import { eventually } from '../mixnet/process-helpers.ts'
import { quotasOf, startScene, type QuotaScene } from './quota-helpers.ts'

const CLAIMS = 200
const SSE_TRIES = 40

describe('mailbox claim and event stream floods against umbra start', { timeout: 120_000 }, () => {
  let scene: QuotaScene

  before(async () => { scene = await startScene() })
  after(async () => { await scene?.stop() })

  it('caps mailbox claims per peer while a client still gets its mailbox', async (t) => {
    const gatewayKey = peerIdFromString(scene.victim.id.peerId).publicKey?.raw ?? new Uint8Array()
    const attackerKey = scene.attacker.peerId.publicKey?.raw ?? new Uint8Array()
    let ok = 0
    let refused = 0
    const reasons = new Set<string>()
    const claimOne = async (): Promise<void> => {
      const mailboxKey = await generateKeyPair('Ed25519')
      const mailbox = mailboxKey.publicKey.raw
      const timestamp = Date.now()
      const signature = await mailboxKey.sign(claimSignable(gatewayKey, attackerKey, mailbox, timestamp))
      const stream = await scene.attacker.dialProtocol(peerIdFromString(scene.victim.id.peerId), GATEWAY_PROTOCOL)
      try {
        const lp = lpStream(stream)
        await lp.write(GatewayFrame.encode(gatewayFrame({ type: FRAME_CLAIM, mailbox: mailbox as Uint8Array<ArrayBuffer>, timestamp: BigInt(timestamp), signature: signature as Uint8Array<ArrayBuffer> })))
        const answer = GatewayFrame.decode((await lp.read({ signal: AbortSignal.timeout(10_000) })).subarray())
        if (answer.type === FRAME_CLAIM_OK) ok++
        else if (answer.type === FRAME_ERROR) { refused++; reasons.add(answer.reason.split(':')[0] ?? '') }
      } finally {
        stream.abort(new Error('done'))
      }
    }
    const flood = (async () => {
      for (let i = 0; i < CLAIMS; i += 8) {
        await Promise.all(Array.from({ length: 8 }, async () => { await claimOne().catch(() => { refused++ }) }))
      }
    })()
    // The well-behaved client creates a pseudonym at the same gateway meanwhile.
    const started = Date.now()
    const pseudonym = await eventually('a pseudonym at the victim', async () => await scene.client.call<{ key: string, gateways: string[] }>('POST', '/v1/pseudonyms', {}), 60_000, 500)
    const clientMs = Date.now() - started
    await flood
    const quotas = await quotasOf(scene.victim)
    t.diagnostic(`claims: attacker sent ${CLAIMS}, held ${ok}, refused ${refused} (${[...reasons].join(', ')}); victim counted ${quotas.refused['mailbox-claims'] ?? 'n/a'}; client pseudonym at ${pseudonym.gateways.join(',').slice(-6)} in ${clientMs} ms`)
    assert.deepEqual(pseudonym.gateways, [scene.victim.id.peerId])
    assert.ok(ok <= 16, `held ${ok} mailboxes, the quota is 16`)
    assert.equal(ok + refused, CLAIMS)
    assert.deepEqual([...reasons], ['UMBRA_ERR_QUOTA_MAILBOX_CLAIMS'])
    assert.equal(quotas.refused['mailbox-claims'], refused)
  })

  it('caps open event streams per token and keeps answering', async (t) => {
    const controllers: AbortController[] = []
    const statuses: number[] = []
    const codes = new Set<string>()
    for (let i = 0; i < SSE_TRIES; i++) {
      const c = new AbortController()
      controllers.push(c)
      const res = await fetch(`${scene.victim.id.api}/v1/events?token=${encodeURIComponent(scene.victim.id.token)}`, { signal: c.signal })
      statuses.push(res.status)
      if (res.status !== 200) codes.add(((await res.json()) as { error: { code: string } }).error.code)
    }
    const node = await scene.victim.call<{ peerId: string }>('GET', '/v1/node')
    const quotas = await quotasOf(scene.victim)
    for (const c of controllers) c.abort()
    const open = statuses.filter((s) => s === 200).length
    t.diagnostic(`sse: ${SSE_TRIES} event streams asked, ${open} open, ${SSE_TRIES - open} refused (${[...codes].join(', ')}); victim counted ${quotas.refused['event-streams'] ?? 'n/a'}; GET /v1/node still answered: ${node.peerId === scene.victim.id.peerId}`)
    assert.equal(node.peerId, scene.victim.id.peerId)
    assert.equal(open, 16)
    assert.deepEqual([...codes], ['UMBRA_ERR_QUOTA_EVENT_STREAMS'])
    assert.equal(quotas.refused['event-streams'], SSE_TRIES - 16)
    // A closed stream frees its slot.
    await eventually('a free event stream slot', async () => {
      const c = new AbortController()
      const res = await fetch(`${scene.victim.id.api}/v1/events?token=${encodeURIComponent(scene.victim.id.token)}`, { signal: c.signal })
      c.abort()
      return res.status === 200 ? true : undefined
    }, 10_000)
  })
})
