/**
 * Per-peer quotas under attack (issue 10, item 3), over `umbra start`
 * processes: a victim server V and a well-behaved client C bootstrapped to it.
 * The attacker is a stock js-libp2p node in this process (tcp, noise, yamux,
 * identify, kad-dht on Umbra's protocol id); Umbra code on its side only
 * builds the bytes it sends (a signed record, a signed claim frame).
 * 1. Mailbox claims flood: 200 claims at V's gateway from one PeerId, while
 *    C creates a pseudonym there. At most 16 are held; the rest get
 *    FRAME_ERROR `UMBRA_ERR_QUOTA_MAILBOX_CLAIMS` and are counted.
 * 2. DHT PUT_VALUE flood: 4,000 x 64 KiB signed records from one key, while
 *    C puts and gets its own record. V's RSS stays bounded, refusals counted.
 * 3. SSE flood: 40 `GET /v1/events` on V; 16 open, the rest 429
 *    `UMBRA_ERR_QUOTA_EVENT_STREAMS`; V's API keeps answering.
 * Each prints what the attacker got and what C saw (before = the same test on
 * the base commit).
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { kadDHT, passthroughMapper, type KadDHT } from '@libp2p/kad-dht'
import { tcp } from '@libp2p/tcp'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { MemoryDatastore } from 'datastore-core'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { Key } from 'interface-datastore'
import { dhtKeyFor, signRecord } from '../../src/dht/record.ts'
import { FRAME_CLAIM, FRAME_CLAIM_OK, FRAME_ERROR, claimSignable, gatewayFrame } from '../../src/mixnet/gateway.ts'
import { GATEWAY_PROTOCOL } from '../../src/mixnet/constants.ts'
import { GatewayFrame } from '../../src/mixnet/pb/mixnet.ts'
import { peerIdFromString } from '@libp2p/peer-id'
import { eventually, freePort, killStragglers, UmbraProcess } from '../mixnet/process-helpers.ts'

const CLAIMS = 200
const PUTS = 4000
const VALUE_BYTES = 64 * 1024
const SSE_TRIES = 40

/** An in-memory datastore that drops DHT records written to it. */
class ForgetfulDatastore extends MemoryDatastore {
  override put (key: Key, val: Uint8Array): Key {
    if (!key.toString().startsWith('/dht/record/')) void super.put(key, val)
    return key
  }
}

interface Quotas { refused: Record<string, number> }

/** Resident set of a process, MB (Linux /proc). */
async function rssMb (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN)
  return Math.round(kb / 1024)
}

/** `GET /v1/quotas`, or zeros where the route does not exist (the base commit). */
async function quotasOf (node: UmbraProcess): Promise<Quotas> {
  try {
    return await node.call<Quotas>('GET', '/v1/quotas')
  } catch {
    return { refused: {} }
  }
}

describe('per-peer quotas under a flood from a stock libp2p node', { timeout: 170_000 }, () => {
  let dir: string
  let victim: UmbraProcess
  let client: UmbraProcess
  let attacker: Libp2p<{ dht: KadDHT }>

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'umbra-quotas-'))
    victim = new UmbraProcess({ name: 'victim', dataDir: join(dir, 'v'), role: 'server', port: await freePort(), preset: 'none' })
    const v = await victim.start([])
    client = new UmbraProcess({ name: 'client', dataDir: join(dir, 'c'), role: 'client', port: await freePort(), preset: 'none' })
    await client.start(v.addrs)
    attacker = await createLibp2p({
      // The attacker keeps nothing it sends (kad-dht stores each put locally first): 256 MB less in the test process.
      datastore: new ForgetfulDatastore(),
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: {
        identify: identify(),
        ping: ping(),
        dht: kadDHT({
          protocol: '/umbra/kad/1.0.0',
          clientMode: true,
          peerInfoMapper: passthroughMapper,
          // The attacker stores whatever it sends; it never checks anything.
          validators: { 'umbra-data': async () => {} },
          selectors: { 'umbra-data': () => 0 }
        })
      }
    })
    await attacker.dial(multiaddr(v.addrs[0] ?? ''))
  })

  after(async () => {
    await attacker?.stop()
    await client?.stop('SIGTERM').catch(() => {})
    await victim?.stop('SIGTERM').catch(() => {})
    await killStragglers()
    await rm(dir, { recursive: true, force: true })
  })

  it('caps mailbox claims per peer while a client still gets its mailbox', async (t) => {
    const gatewayKey = peerIdFromString(victim.id.peerId).publicKey?.raw ?? new Uint8Array()
    const attackerKey = attacker.peerId.publicKey?.raw ?? new Uint8Array()
    let ok = 0
    let refused = 0
    const reasons = new Set<string>()
    const claimOne = async (): Promise<void> => {
      const mailboxKey = await generateKeyPair('Ed25519')
      const mailbox = mailboxKey.publicKey.raw
      const timestamp = Date.now()
      const signature = await mailboxKey.sign(claimSignable(gatewayKey, attackerKey, mailbox, timestamp))
      const stream = await attacker.dialProtocol(peerIdFromString(victim.id.peerId), GATEWAY_PROTOCOL)
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
    const pseudonym = await eventually('a pseudonym at the victim', async () => await client.call<{ key: string, gateways: string[] }>('POST', '/v1/pseudonyms', {}), 60_000, 500)
    const clientMs = Date.now() - started
    await flood
    const quotas = await quotasOf(victim)
    t.diagnostic(`claims: attacker sent ${CLAIMS}, held ${ok}, refused ${refused} (${[...reasons].join(', ')}); victim counted ${quotas.refused['mailbox-claims'] ?? 'n/a'}; client pseudonym at ${pseudonym.gateways.join(',').slice(-6)} in ${clientMs} ms`)
    assert.deepEqual(pseudonym.gateways, [victim.id.peerId])
    assert.ok(ok <= 16, `held ${ok} mailboxes, the quota is 16`)
    assert.equal(ok + refused, CLAIMS)
    assert.deepEqual([...reasons], ['UMBRA_ERR_QUOTA_MAILBOX_CLAIMS'])
    assert.equal(quotas.refused['mailbox-claims'], refused)
  })

  it('bounds DHT records stored for one publisher while a client still puts and gets', async (t) => {
    const rssBefore = await rssMb(victim.pid ?? 0)
    const key = await generateKeyPair('Ed25519')
    let accepted = 0
    let failed = 0
    let peak = rssBefore
    const sampler = setInterval(() => { void rssMb(victim.pid ?? 0).then((r) => { peak = Math.max(peak, r) }).catch(() => {}) }, 250)
    const value = randomBytes(VALUE_BYTES)
    const started = Date.now()
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < PUTS) {
        const i = next++
        const dhtKey = dhtKeyFor(`flood-${i}`)
        const record = await signRecord({ privateKey: key, dhtKey, seq: 1, expiresAt: Date.now() + 3_600_000, value })
        let stored = false
        try {
          for await (const e of attacker.services.dht.put(dhtKey, record, { signal: AbortSignal.timeout(10_000) })) {
            if (e.name === 'PEER_RESPONSE' && e.messageType === 'PUT_VALUE' && e.from.toString() === victim.id.peerId) stored = true
          }
        } catch { /* refused */ }
        if (stored) accepted++
        else failed++
      }
    }
    const flood = Promise.all(Array.from({ length: 32 }, worker))
    // The well-behaved client publishes and reads back its own record meanwhile.
    const res = await fetch(`${client.id.api}/v1/dht/${encodeURIComponent('well-behaved')}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${client.id.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ value: 'still served' })
    })
    const putStatus = res.status
    await res.text()
    await flood
    clearInterval(sampler)
    const floodMs = Date.now() - started
    const got = await fetch(`${client.id.api}/v1/dht/${encodeURIComponent('well-behaved')}`, { headers: { authorization: `Bearer ${client.id.token}` } })
    const body = await got.json() as { value?: string }
    const rssAfter = await rssMb(victim.pid ?? 0)
    const quotas = await quotasOf(victim)
    const refusedCount = (quotas.refused['dht-records'] ?? 0) + (quotas.refused['dht-bytes'] ?? 0) + (quotas.refused['dht-total-bytes'] ?? 0)
    t.diagnostic(`dht: ${PUTS} x ${VALUE_BYTES / 1024} KiB PUT_VALUE in ${floodMs} ms: stored at the victim ${accepted}, refused ${failed}; victim counted ${refusedCount}; victim RSS ${rssBefore} -> peak ${peak} -> ${rssAfter} MB; client put HTTP ${putStatus}, get HTTP ${got.status} ${JSON.stringify(body.value)}`)
    assert.equal(putStatus, 200)
    assert.equal(got.status, 200)
    assert.equal(body.value, 'still served')
    assert.ok(accepted <= 64, `stored ${accepted} records of 64 KiB for one owner; the quota is 4 MiB`)
    assert.ok(refusedCount >= PUTS - 64, `victim counted ${refusedCount} refusals`)
    assert.ok(rssAfter - rssBefore < 150, `victim RSS grew ${rssAfter - rssBefore} MB`)
  })

  it('caps open event streams per token and keeps answering', async (t) => {
    const controllers: AbortController[] = []
    const statuses: number[] = []
    const codes = new Set<string>()
    for (let i = 0; i < SSE_TRIES; i++) {
      const c = new AbortController()
      controllers.push(c)
      const res = await fetch(`${victim.id.api}/v1/events?token=${encodeURIComponent(victim.id.token)}`, { signal: c.signal })
      statuses.push(res.status)
      if (res.status !== 200) codes.add(((await res.json()) as { error: { code: string } }).error.code)
    }
    const node = await victim.call<{ peerId: string }>('GET', '/v1/node')
    const quotas = await quotasOf(victim)
    for (const c of controllers) c.abort()
    const open = statuses.filter((s) => s === 200).length
    t.diagnostic(`sse: ${SSE_TRIES} event streams asked, ${open} open, ${SSE_TRIES - open} refused (${[...codes].join(', ')}); victim counted ${quotas.refused['event-streams'] ?? 'n/a'}; GET /v1/node still answered: ${node.peerId === victim.id.peerId}`)
    assert.equal(node.peerId, victim.id.peerId)
    assert.equal(open, 16)
    assert.deepEqual([...codes], ['UMBRA_ERR_QUOTA_EVENT_STREAMS'])
    assert.equal(quotas.refused['event-streams'], SSE_TRIES - 16)
    // A closed stream frees its slot.
    await eventually('a free event stream slot', async () => {
      const c = new AbortController()
      const res = await fetch(`${victim.id.api}/v1/events?token=${encodeURIComponent(victim.id.token)}`, { signal: c.signal })
      c.abort()
      return res.status === 200 ? true : undefined
    }, 10_000)
  })
})
