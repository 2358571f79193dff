/**
 * Directory poisoning (issue 8, item 2) over real `umbra start` processes:
 * 6 server nodes on 127.0.0.1 are the victims; the attacker is a libp2p
 * node in this test that connects to every victim and speaks
 * `/umbra/mixdir/1.0.0` as a hostile peer would: it pushes forged, correctly
 * signed descriptors of nodes that do not exist (200 small ones, then 1,100
 * large ones of about 4 KiB), answers every pull with them, sends one
 * oversized frame, and pulls the victims' directories back.
 *
 * Before issue 8 (the issue's numbers): 200 fakes reached every node within
 * 8 s and anonymous sends went from 10/10 to 0/10; 1,100 large fakes passed
 * 4 MiB and every pull failed with "Read buffer overflow". Here the
 * directories must stay at the 6 real nodes, a pull must answer only them,
 * and 10/10 sends must succeed after each attack. Last, a SIGKILLed node must
 * leave every directory within a few seconds (it was 17 to 25 s: the
 * descriptor lifetime) and come back after a restart.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { tcp } from '@libp2p/tcp'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import { DIRECTORY_PAGE_DESCRIPTORS, DIRECTORY_PROTOCOL, MAX_DIRECTORY_MESSAGE_BYTES, WIRE_VERSION } from '../../src/mixnet/constants.ts'
import { ROLE_GATEWAY, ROLE_MIX, signDescriptor, verifyDescriptor } from '../../src/mixnet/descriptor.ts'
import { DirectoryMessage } from '../../src/mixnet/pb/mixnet.ts'
import type { MixNodeSummary, MixnetCounters, PseudonymInfo } from '../../src/mixnet/types.ts'
import { eventually, freePort, killStragglers, UmbraProcess } from './process-helpers.ts'

const SERVERS = 6
const SENDS = 10
/** Time the issue measured for 200 fakes to reach every node, ms; the directories are read after it. */
const SPREAD_MS = 8_000

interface MixnetView {
  directory: MixNodeSummary[]
  counters: MixnetCounters
}

async function viewOf (node: UmbraProcess): Promise<MixnetView> {
  return await node.call<MixnetView>('GET', '/v1/mixnet')
}

/** `count` descriptors of fresh Ed25519 keys, signed for the victims' current epochs, at addresses nobody listens on. */
async function forge (count: number, epochs: number[], deadPorts: number[], large: boolean): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  const t = Date.now()
  for (let i = 0; i < count; i++) {
    const key = await generateKeyPair('Ed25519')
    const port = deadPorts[i % deadPorts.length] as number
    // Large: 15 addresses of about 245 bytes each, so a descriptor is close to the 4,096-byte maximum.
    const addrs = large
      ? Array.from({ length: 15 }, (_, j) => `/ip4/127.0.0.1/tcp/${port}/ws/http-path/${encodeURIComponent(`/${j}/`.padEnd(190, 'x'))}`)
      : [`/ip4/127.0.0.1/tcp/${port}`]
    out.push(await signDescriptor(key, {
      seq: t,
      issuedAt: t,
      expiresAt: t + 2 * 60_000,
      addrs,
      roles: ROLE_MIX | ROLE_GATEWAY,
      onionKeys: epochs.map((epoch, j) => ({ epoch, key: new Uint8Array(32).fill(j + 1) }))
    }))
  }
  return out
}

/** Pushes `descriptors` to `peer`, DIRECTORY_PAGE_DESCRIPTORS per stream, as a directory peer floods news. */
async function push (attacker: Libp2p, peer: Libp2p['peerId'], descriptors: Uint8Array[]): Promise<void> {
  for (let i = 0; i < descriptors.length; i += DIRECTORY_PAGE_DESCRIPTORS) {
    const stream = await attacker.dialProtocol(peer, DIRECTORY_PROTOCOL)
    const lp = lpStream(stream, { maxDataLength: 8 * 1024 * 1024 })
    await lp.write(DirectoryMessage.encode({ version: WIRE_VERSION, descriptors: descriptors.slice(i, i + DIRECTORY_PAGE_DESCRIPTORS) as Array<Uint8Array<ArrayBuffer>> }))
    await stream.close().catch(() => {})
  }
}

/** Pulls `peer`'s directory page by page, as a puller does; returns the PeerIds served and the pages read. */
async function pull (attacker: Libp2p, peer: Libp2p['peerId']): Promise<{ peerIds: string[], pages: number }> {
  const stream = await attacker.dialProtocol(peer, DIRECTORY_PROTOCOL)
  const lp = lpStream(stream, { maxDataLength: MAX_DIRECTORY_MESSAGE_BYTES })
  await lp.write(DirectoryMessage.encode({ version: WIRE_VERSION, pull: true }))
  const peerIds: string[] = []
  let pages = 0
  for (;;) {
    const answer = DirectoryMessage.decode((await lp.read()).subarray())
    pages++
    for (const d of answer.descriptors) peerIds.push((await verifyDescriptor(d)).peerId)
    if (answer.next.byteLength === 0) break
    await lp.write(DirectoryMessage.encode({ version: WIRE_VERSION, pull: true, after: answer.next }))
  }
  await stream.close().catch(() => {})
  return { peerIds, pages }
}

describe('directory admission against forged descriptors, over umbra start processes', { timeout: 180_000 }, () => {
  let dir: string
  let servers: UmbraProcess[] = []
  let attacker: Libp2p
  let pseudonym: PseudonymInfo
  let recipient: UmbraProcess
  let sender: UmbraProcess
  let epochs: number[] = []
  const deadPorts: number[] = []
  /** What the attacker answers a victim's pull with (its fakes, paged as the protocol asks). */
  let served: Uint8Array[] = []
  const realIds = (): string[] => servers.map((s) => s.id.peerId).sort()

  async function directories (nodes = servers): Promise<string[][]> {
    return await Promise.all(nodes.map(async (n) => (await viewOf(n)).directory.map((d) => d.peerId).sort()))
  }

  async function sendMany (): Promise<{ ok: number, errors: string[] }> {
    let ok = 0
    const errors: string[] = []
    for (let i = 0; i < SENDS; i++) {
      try {
        const receipt = await sender.call<{ status: string }>('POST', '/v1/messages', { to: pseudonym.key, body: `hello ${i}`, anonymous: true }, 30_000)
        if (receipt.status === 'stored') ok++
      } catch (err) {
        errors.push((err as Error).message.slice(0, 160))
      }
    }
    return { ok, errors }
  }

  async function droppedOf (node: UmbraProcess): Promise<Record<string, number>> {
    const dropped = (await viewOf(node)).counters.dropped
    return Object.fromEntries(Object.entries(dropped).filter(([k]) => k.startsWith('directory-')))
  }

  async function attack (fakes: Uint8Array[]): Promise<void> {
    served = fakes
    await Promise.all(servers.map(async (s) => { await push(attacker, peerIdOf(s), fakes) }))
  }

  const peerIdOf = (s: UmbraProcess): Libp2p['peerId'] => {
    const conn = attacker.getConnections().find((c) => c.remotePeer.toString() === s.id.peerId)
    assert.ok(conn != null, `the attacker is connected to ${s.name}`)
    return conn.remotePeer
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'umbra-dir-admission-'))
    const ports = new Set<number>()
    while (ports.size < SERVERS + 3) ports.add(await freePort())
    const all = [...ports]
    deadPorts.push(...all.slice(SERVERS))
    servers = all.slice(0, SERVERS).map((port, i) => new UmbraProcess({ name: `server-${i + 1}`, dataDir: join(dir, `server-${i + 1}`), role: 'server', port, preset: 'none' }))
    const first = servers[0] as UmbraProcess
    await first.start([])
    await Promise.all(servers.slice(1).map(async (s) => await s.start(first.id.addrs)))
    await eventually('every directory to list every server', async () => {
      const dirs = await directories()
      return dirs.every((d) => d.length === SERVERS) ? true : undefined
    }, 45_000, 500)
    recipient = servers[0] as UmbraProcess
    sender = servers[SERVERS - 1] as UmbraProcess
    pseudonym = await recipient.call<PseudonymInfo>('POST', '/v1/pseudonyms', { label: 'victim' })
    epochs = (await viewOf(sender)).directory[0]?.epochs ?? []

    attacker = await createLibp2p({
      privateKey: await generateKeyPair('Ed25519'),
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionManager: { allow: ['/ip4/127.0.0.0/ipcidr/8'] }
    })
    // Every pull a victim sends the attacker is answered with its fakes, page by page.
    await attacker.handle(DIRECTORY_PROTOCOL, async (stream) => {
      try {
        const lp = lpStream(stream, { maxDataLength: MAX_DIRECTORY_MESSAGE_BYTES })
        let req = DirectoryMessage.decode((await lp.read()).subarray())
        let at = 0
        while (req.pull) {
          const chunk = served.slice(at, at + DIRECTORY_PAGE_DESCRIPTORS)
          at += chunk.length
          await lp.write(DirectoryMessage.encode({ version: WIRE_VERSION, descriptors: chunk as Array<Uint8Array<ArrayBuffer>>, next: at < served.length ? new Uint8Array([1]) : new Uint8Array(0) }))
          if (at >= served.length) break
          req = DirectoryMessage.decode((await lp.read()).subarray())
        }
        await stream.close().catch(() => {})
      } catch (err) {
        stream.abort(err as Error)
      }
    }, { maxInboundStreams: 256 })
    await attacker.start()
    await Promise.all(servers.map(async (s) => await attacker.dial(multiaddr(`${s.id.addrs.find((a) => a.includes('/tcp/') && !a.includes('/ws')) ?? ''}`))))
  })

  after(async () => {
    try { await attacker?.stop() } catch { /* already stopped */ }
    await Promise.all(servers.map(async (p) => await p.stop('SIGTERM', 5_000).catch(() => {})))
    await killStragglers()
    if (process.env.UMBRA_E2E_KEEP === '1') process.stderr.write(`kept ${dir}\n`)
    else if (dir != null) await rm(dir, { recursive: true, force: true })
  })

  it('sends 10/10 before the attack', async (t) => {
    const { ok, errors } = await sendMany()
    t.diagnostic(`before any fake: ${ok}/${SENDS} anonymous sends stored; directories ${(await directories()).map((d) => d.length).join(',')}`)
    assert.equal(ok, SENDS, errors.join('; '))
  })

  for (const [count, large] of [[200, false], [1100, true]] as const) {
    it(`keeps the directory at the real nodes with ${count} ${large ? 'large ' : ''}fakes, and sends still succeed`, { timeout: 90_000 }, async (t) => {
      const started = Date.now()
      const fakes = await forge(count, epochs, deadPorts, large)
      const bytes = fakes.reduce((n, d) => n + d.byteLength, 0)
      t.diagnostic(`forged ${count} descriptors, ${bytes} bytes (${Math.round(bytes / 1024)} KiB) in ${Date.now() - started} ms`)
      await attack(fakes)
      if (large) {
        // And every fake in one frame, as the old whole-directory answer was: refused by its size, nothing else breaks.
        const stream = await attacker.dialProtocol(peerIdOf(sender), DIRECTORY_PROTOCOL)
        const lp = lpStream(stream, { maxDataLength: 8 * 1024 * 1024 })
        try {
          await lp.write(DirectoryMessage.encode({ version: WIRE_VERSION, descriptors: fakes as Array<Uint8Array<ArrayBuffer>> }))
        } catch { /* the victim may reset the stream mid-frame */ }
        stream.abort(new Error('done'))
      }
      await new Promise((resolve) => setTimeout(resolve, SPREAD_MS))
      const dirs = await directories()
      const real = realIds()
      t.diagnostic(`${SPREAD_MS} ms after pushing ${count} fakes to every victim (and answering every pull with them): directory sizes ${dirs.map((d) => d.length).join(',')} (real nodes: ${SERVERS})`)
      for (const s of servers) t.diagnostic(`${s.name} dropped ${JSON.stringify(await droppedOf(s))}`)
      const pulled = await pull(attacker, peerIdOf(sender))
      t.diagnostic(`a pull from ${sender.name} answered ${pulled.peerIds.length} descriptors in ${pulled.pages} page(s)`)
      const { ok, errors } = await sendMany()
      t.diagnostic(`after ${count} fakes: ${ok}/${SENDS} anonymous sends stored${errors.length > 0 ? `; errors: ${errors.slice(0, 2).join('; ')}` : ''}`)
      for (const d of dirs) assert.deepEqual(d, real, 'a victim\'s directory lists exactly the real nodes')
      assert.deepEqual(pulled.peerIds.sort(), real, 'a pull serves exactly the real nodes')
      assert.equal(ok, SENDS, errors.join('; '))
      const dropped = await droppedOf(sender)
      assert.ok((dropped['directory-unreachable'] ?? 0) > 0, 'fakes were dialled and found unreachable')
      assert.ok((dropped['directory-peer-cap'] ?? 0) > 0, 'the attacker hit the per-peer cap')
      if (large) assert.ok((dropped['directory-oversized'] ?? 0) > 0, 'the oversized frame was refused')
    })
  }

  it('drops a SIGKILLed node from every directory within seconds, and admits it again after a restart', { timeout: 90_000 }, async (t) => {
    const victim = servers.find((s) => s !== sender && s !== recipient && !pseudonym.gateways.includes(s.id.peerId)) as UmbraProcess
    const others = servers.filter((s) => s !== victim)
    const killed = await victim.stop('SIGKILL')
    assert.equal(killed.signal, 'SIGKILL')
    const killedAt = Date.now()
    const goneAfter = await Promise.all(others.map(async (node) => {
      await eventually(`${victim.name} gone from ${node.name}`, async () => (await viewOf(node)).directory.some((d) => d.peerId === victim.id.peerId) ? undefined : true, 30_000, 100)
      return Date.now() - killedAt
    }))
    const slowest = Math.max(...goneAfter)
    t.diagnostic(`crash: gone from the ${others.length} other directories after ${Math.min(...goneAfter)} to ${slowest} ms (before issue 8: 17 to 25 s, the descriptor lifetime)`)
    assert.ok(slowest < 10_000, `gone from every directory after ${slowest} ms`)

    const restartedAt = Date.now()
    await victim.start(others.slice(0, 2).flatMap((s) => s.id.addrs))
    await eventually('the restarted node back in every directory', async () => {
      const dirs = await directories(others)
      return dirs.every((d) => d.includes(victim.id.peerId)) ? true : undefined
    }, 30_000, 250)
    t.diagnostic(`restart: back in every directory ${Date.now() - restartedAt} ms after the restart began`)
  })
})
