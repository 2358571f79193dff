/**
 * Malformed frames on every Umbra protocol, slowloris streams and a malformed
 * STUN flood against a real `umbra start` server (issue 10, item 6), while a
 * well-behaved Umbra client keeps sending direct messages to that server and
 * anonymous messages through the mixnet.
 *
 * Attacker: a stock libp2p node (TCP, Noise, Yamux; no Umbra code) and a raw
 * UDP socket. Victims: four `umbra start` servers (s1 is attacked) and one
 * client, all processes on 127.0.0.1. Everything is bounded: frame counts
 * per protocol, SLOWLORIS_MS of slow streams, STUN_FLOOD datagrams.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import type { Libp2p, Stream } from '@libp2p/interface'
import { stunBinding } from '../../src/nat/stun-client.ts'
import { OFFLINE_PROTOCOL } from '../../src/messaging/constants.ts'
import type { PseudonymInfo } from '../../src/mixnet/types.ts'
import { eventually, freePort, killStragglers, UmbraProcess } from '../mixnet/process-helpers.ts'

/** Every protocol an Umbra server answers: kad-dht's under Umbra's id, then Umbra's own (src/*\/constants.ts). */
const PROTOCOLS = ['/umbra/kad/1.0.0', '/umbra/msg/1.0.0', OFFLINE_PROTOCOL, '/umbra/mix/1.0.0', '/umbra/mixdir/1.0.0', '/umbra/gateway/1.0.0']
/** Malformed frames of each kind sent on each protocol. */
const FRAMES_PER_KIND = 3
/** How long slowloris streams drip (1 byte per second) or stay silent, ms. */
const SLOWLORIS_MS = 12_000
/** Slow streams per protocol: half drip, half silent. */
const SLOW_STREAMS = 4
/** Malformed datagrams sent to the STUN port. */
const STUN_FLOOD = 3_000

/** An unsigned LEB128 varint (the length prefix of it-length-prefixed). */
function varint (n: number): Uint8Array {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n = Math.floor(n / 128)
  }
  out.push(n)
  return Uint8Array.from(out)
}

const concat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts))

/** The malformed frames: random bytes, huge and invalid length prefixes, a truncated frame, a well-framed garbage message. */
function malformedFrames (): Array<{ kind: string, bytes: Uint8Array }> {
  return [
    { kind: 'random', bytes: randomBytes(2048) },
    { kind: 'oversized-prefix', bytes: concat(varint(0x0fff_ffff), randomBytes(100)) },
    { kind: 'invalid-varint', bytes: Uint8Array.from(new Array(12).fill(0xff)) },
    { kind: 'truncated', bytes: concat(varint(1000), randomBytes(10)) },
    { kind: 'framed-garbage', bytes: concat(varint(200), randomBytes(200)) },
    { kind: 'mix-size-garbage', bytes: randomBytes(4096) }
  ]
}

/** Sends bytes on a stream and closes its write side; waits at most `ms` for the remote to end it. Never throws. */
async function sendAndClose (stream: Stream, bytes: Uint8Array, ms: number): Promise<void> {
  try {
    if (!stream.send(bytes)) await stream.onDrain({ signal: AbortSignal.timeout(ms) })
    await stream.close({ signal: AbortSignal.timeout(ms) })
  } catch {
    stream.abort(new Error('attacker done'))
  }
}

interface MessageEntry { kind: string, id?: string, body: string }

describe('malformed frames, slowloris streams and a STUN flood against a server', { timeout: 150_000 }, () => {
  let dir: string
  let servers: UmbraProcess[] = []
  let client: UmbraProcess
  let target: UmbraProcess
  let pseudonym: PseudonymInfo
  let holder: UmbraProcess
  let stunPort: number
  let attacker: Libp2p

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'umbra-adv-fuzz-'))
    const ports = new Set<number>()
    while (ports.size < 4) ports.add(await freePort())
    servers = [...ports].map((port, i) => new UmbraProcess({
      name: `s${i + 1}`,
      dataDir: join(dir, `s${i + 1}`),
      role: 'server',
      port,
      preset: 'none',
      extraArgs: ['--stun-port', i === 0 ? '0' : 'off']
    }))
    target = servers[0] as UmbraProcess
    client = new UmbraProcess({ name: 'client', dataDir: join(dir, 'client'), role: 'client', port: 0, preset: 'none' })
    await target.start([])
    await Promise.all(servers.slice(1).map(async (s) => await s.start(target.id.addrs)))
    await client.start(servers.flatMap((s) => s.id.addrs))
    const everyone = servers.map((s) => s.id.peerId)
    await eventually('every directory to list every server', async () => {
      const dirs = await Promise.all([...servers, client].map(async (n) => (await n.call<{ directory: Array<{ peerId: string }> }>('GET', '/v1/mixnet')).directory.map((d) => d.peerId)))
      return dirs.every((d) => everyone.every((p) => d.includes(p))) ? true : undefined
    }, 45_000, 500)
    holder = servers[1] as UmbraProcess
    pseudonym = await holder.call<PseudonymInfo>('POST', '/v1/pseudonyms', { label: 'fuzz' })
    stunPort = (await target.call<{ nat: { stunPort?: number } }>('GET', '/v1/node')).nat.stunPort as number
    assert.ok(stunPort > 0, 'the target runs a STUN server')
    attacker = await createLibp2p({
      addresses: { listen: [] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionGater: { denyDialMultiaddr: () => false }
    })
  })

  after(async () => {
    await Promise.resolve(attacker?.stop()).catch(() => {})
    await Promise.all([client, ...servers].map(async (p) => await p?.stop('SIGTERM', 5_000).catch(() => {})))
    await killStragglers()
    if (dir != null) await rm(dir, { recursive: true, force: true })
  })

  it('the server survives, keeps answering, and the well-behaved client is served throughout', async (t) => {
    const addr: Multiaddr = multiaddr(target.id.addrs[0] as string)
    const before = (await target.call<{ counters: { dropped: Record<string, number> } }>('GET', '/v1/mixnet')).counters.dropped

    // The well-behaved client: a direct message to the target and an anonymous message, in rounds, until the attack ends.
    let attacking = true
    const good = { direct: 0, anonymous: 0, failures: [] as string[] }
    const sentAnon: string[] = []
    const goodLoop = (async () => {
      for (let round = 0; attacking || round < 2; round++) {
        try {
          await client.call('POST', '/v1/messages', { to: target.id.peerId, body: `direct ${round}` }, 20_000)
          good.direct++
        } catch (err) { good.failures.push(`direct ${round}: ${(err as Error).message}`) }
        try {
          const r = await client.call<{ id: string }>('POST', '/v1/messages', { to: pseudonym.key, body: `anon ${round}`, anonymous: true, hops: 2 }, 30_000)
          sentAnon.push(r.id)
          good.anonymous++
        } catch (err) { good.failures.push(`anonymous ${round}: ${(err as Error).message}`) }
        await new Promise((resolve) => setTimeout(resolve, 500))
      }
    })()

    // 1. Malformed frames on every protocol.
    const opened: Record<string, number> = {}
    const refused: Record<string, string> = {}
    for (const protocol of PROTOCOLS) {
      opened[protocol] = 0
      for (let i = 0; i < FRAMES_PER_KIND; i++) {
        await Promise.all(malformedFrames().map(async ({ bytes }) => {
          try {
            const stream = await attacker.dialProtocol(addr, protocol, { signal: AbortSignal.timeout(5_000) })
            opened[protocol] = (opened[protocol] ?? 0) + 1
            await sendAndClose(stream, bytes, 3_000)
          } catch (err) {
            refused[protocol] = (err as Error).message
          }
        }))
      }
    }

    // 2. Slowloris: streams that drip one byte a second, or send nothing, for SLOWLORIS_MS.
    const slow: Array<{ protocol: string, stream: Stream, drip: boolean, closedAt?: number }> = []
    const slowStarted = performance.now()
    for (const protocol of PROTOCOLS) {
      for (let i = 0; i < SLOW_STREAMS; i++) {
        try {
          const stream = await attacker.dialProtocol(addr, protocol, { signal: AbortSignal.timeout(5_000) })
          const entry: { protocol: string, stream: Stream, drip: boolean, closedAt?: number } = { protocol, stream, drip: i % 2 === 0 }
          stream.addEventListener('close', () => { entry.closedAt = performance.now() - slowStarted }, { once: true })
          slow.push(entry)
        } catch (err) {
          refused[protocol] = (err as Error).message
        }
      }
    }
    // 3. Meanwhile a malformed STUN flood (random sizes and bytes, some with a valid STUN header).
    const udp = createSocket('udp4')
    let flooded = 0
    for (let i = 0; i < STUN_FLOOD; i++) {
      const body = randomBytes(Math.floor(Math.random() * 600))
      if (i % 3 === 0 && body.length >= 20) body.set([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42], 0)
      udp.send(body, stunPort, '127.0.0.1', () => {})
      flooded++
      if (i % 200 === 0) await new Promise((resolve) => setImmediate(resolve))
    }
    const dripUntil = performance.now() + SLOWLORIS_MS
    while (performance.now() < dripUntil) {
      for (const s of slow) {
        if (s.drip && s.closedAt == null && s.stream.writeStatus === 'writable') {
          try { s.stream.send(Uint8Array.of(0x01)) } catch { s.closedAt ??= performance.now() - slowStarted }
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 1_000))
    }
    const closedByServer = slow.filter((s) => s.closedAt != null || s.stream.readStatus !== 'readable')
    for (const s of slow) s.stream.abort(new Error('attacker done'))
    udp.close()
    attacking = false
    await goodLoop

    // 4. The target is alive and answers: HTTP, a fresh direct message, STUN.
    assert.ok(target.running, 'the target process is alive')
    const node = await target.call<{ peerId: string }>('GET', '/v1/node')
    assert.equal(node.peerId, target.id.peerId)
    await client.call('POST', '/v1/messages', { to: target.id.peerId, body: 'after the attack' }, 20_000)
    await new Promise((resolve) => setTimeout(resolve, 1_200)) // the flood's token bucket refills
    const mapped = await stunBinding({ host: '127.0.0.1', port: stunPort }, { timeout: 3_000 })
    assert.equal(mapped.address, '127.0.0.1')

    // Nothing accepted is lost: every anonymous message the client sent arrives at the pseudonym's holder.
    const since = 0
    await eventually('every anonymous message at the holder', async () => {
      const { messages } = await holder.call<{ messages: MessageEntry[] }>('GET', `/v1/messages?since=${since}&limit=1000`)
      const got = new Set(messages.filter((m) => m.kind === 'anonymous').map((m) => m.id))
      return sentAnon.every((id) => got.has(id)) ? true : undefined
    }, 30_000, 500)
    const direct = (await target.call<{ messages: MessageEntry[] }>('GET', '/v1/messages?limit=1000')).messages.filter((m) => m.kind === 'direct' && m.body.startsWith('direct '))

    const afterDropped = (await target.call<{ counters: { dropped: Record<string, number> } }>('GET', '/v1/mixnet')).counters.dropped
    const droppedDelta = Object.fromEntries(Object.entries(afterDropped).map(([k, v]) => [k, v - (before[k] ?? 0)]).filter(([, v]) => (v as number) > 0))
    t.diagnostic(`malformed streams opened per protocol: ${JSON.stringify(opened)}; refused: ${JSON.stringify(refused)}`)
    t.diagnostic(`slowloris: ${slow.length} streams for ${SLOWLORIS_MS} ms; closed by the server within it: ${closedByServer.length} (${PROTOCOLS.map((p) => `${p.split('/')[2]} ${closedByServer.filter((s) => s.protocol === p).length}/${slow.filter((s) => s.protocol === p).length}`).join(', ')})`)
    t.diagnostic(`STUN: ${flooded} malformed datagrams, then a Binding request answered (${mapped.address}:${mapped.port})`)
    t.diagnostic(`target's mixnet drops during the attack: ${JSON.stringify(droppedDelta)}`)
    t.diagnostic(`well-behaved client meanwhile: ${good.direct} direct messages and ${good.anonymous} anonymous sends succeeded, ${good.failures.length} failed ${JSON.stringify(good.failures)}; the target holds ${direct.length} of its direct messages`)
    // Umbra's bounded handshakes end slow streams: the directory exchange after 5 s, a gateway claim after 10 s.
    for (const p of ['/umbra/mixdir/1.0.0', '/umbra/gateway/1.0.0']) {
      assert.equal(closedByServer.filter((s) => s.protocol === p).length, slow.filter((s) => s.protocol === p).length, `every slow ${p} stream was ended by the server`)
    }
    assert.deepEqual(good.failures, [], 'every well-behaved send succeeded during the attack')
    assert.ok(good.direct >= 2 && good.anonymous >= 2)
    assert.equal(direct.length, good.direct, 'every direct message accepted was received')
  })
})
