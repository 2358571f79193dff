/**
 * Issue 8, item 4: a hostile DHT node cannot link a sender to the pseudonym
 * it writes to from lookup traffic.
 *
 * The spy is an in-process server node (a DHT server, so every contact
 * lookup in this small network asks it) that records the PeerId behind every
 * inbound kad-dht message about a `/umbra-contact/` key. The victims are
 * real `umbra start` processes: 4 server nodes (mixes and gateways), one
 * client holding two pseudonyms, and 3 client senders that each send to both
 * pseudonyms (6 sends, 6 sender → pseudonym pairs). Before issue 8 every
 * send looked the record up from the sender's own PeerId, and the spy
 * attributed 6 of 6 sends; now lookups go through the mixnet to a random
 * gateway, which asks the DHT, and the spy sees gateways only.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createNode, type UmbraNode } from '../../src/node/index.ts'
import type { MixNodeSummary, MixnetPreset, PseudonymInfo } from '../../src/mixnet/types.ts'
import type { Libp2p, PeerId } from '@libp2p/interface'
import { eventually, killStragglers, serverProcesses, startNetwork, UmbraProcess } from './process-helpers.ts'

const SERVERS = 4
const SENDERS = 3
const PSEUDONYMS = 2
/** No per-hop delays and no cover traffic: the spy's view does not depend on them, and the test stays fast. */
const PRESET: MixnetPreset = 'none'
const CONTACT_PREFIX = '/umbra-contact/'

interface AnonymousReceipt { id: string, status: 'stored' | 'delivered', rttMs: number }

/** One kad-dht message the spy received about a contact key. */
interface SpyEntry { from: string, type: string, key: string, at: number }

/** kad-dht's internal RPC dispatcher (v16): `rpc.handleMessage(peerId, message)` runs for every inbound message. */
interface KadInternals { rpc: { handleMessage(peerId: PeerId, msg: { type: string, key?: Uint8Array }): Promise<unknown> } }

/** Wraps the spy's kad-dht dispatcher so every inbound message about a contact key is logged with its sender. */
function spyOn (node: UmbraNode, log: SpyEntry[]): void {
  const kad = (node.libp2p as Libp2p<{ dht: KadInternals }>).services.dht
  assert.equal(typeof kad.rpc?.handleMessage, 'function', 'kad-dht exposes rpc.handleMessage (the spy hooks it)')
  const original = kad.rpc.handleMessage.bind(kad.rpc)
  kad.rpc.handleMessage = async (peerId, msg) => {
    const key = msg.key == null ? '' : new TextDecoder().decode(msg.key)
    if (key.startsWith(CONTACT_PREFIX)) log.push({ from: peerId.toString(), type: String(msg.type), key: key.slice(CONTACT_PREFIX.length), at: Date.now() })
    return await original(peerId, msg)
  }
}

describe('a hostile DHT node watching contact lookups', { timeout: 150_000 }, () => {
  let dir: string
  const servers: UmbraProcess[] = []
  const senders: UmbraProcess[] = []
  let recipient: UmbraProcess
  let spy: UmbraNode | undefined
  const spyLog: SpyEntry[] = []
  const pseudonyms: PseudonymInfo[] = []
  const processes = (): UmbraProcess[] => [...servers, recipient, ...senders].filter((p) => p != null)

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'umbra-dht-spy-'))
    servers.push(...await serverProcesses(dir, SERVERS, { preset: PRESET }))
    await startNetwork(servers)
    const first = servers[0] as UmbraProcess
    spy = await createNode({ role: 'server', listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: first.id.addrs, privateKey: await generateKeyPair('Ed25519'), nat: { stunPort: 0 }, mixnet: { preset: PRESET } })
    await spy.start()
    spyOn(spy, spyLog)
    const boot = servers.slice(0, 2).flatMap((s) => s.id.addrs)
    recipient = new UmbraProcess({ name: 'recipient', dataDir: join(dir, 'recipient'), role: 'client', port: 0, preset: PRESET })
    for (let i = 0; i < SENDERS; i++) senders.push(new UmbraProcess({ name: `sender-${i + 1}`, dataDir: join(dir, `sender-${i + 1}`), role: 'client', port: 0, preset: PRESET }))
    await Promise.all([recipient, ...senders].map(async (p) => await p.start(boot)))
    const everyServer = [...servers.map((s) => s.id.peerId), spy.peerId]
    await eventually('every directory to list every server and the spy', async () => {
      const dirs = await Promise.all(processes().map(async (p) => (await p.call<{ directory: MixNodeSummary[] }>('GET', '/v1/mixnet')).directory.map((d) => d.peerId)))
      return dirs.every((d) => everyServer.every((id) => d.includes(id))) ? true : undefined
    }, 45_000, 500)
    for (let i = 0; i < PSEUDONYMS; i++) pseudonyms.push(await recipient.call<PseudonymInfo>('POST', '/v1/pseudonyms', { label: `spied-${i + 1}` }))
  })

  after(async () => {
    await Promise.all(processes().map(async (p) => await p.stop('SIGTERM', 5_000).catch(() => {})))
    await spy?.stop().catch(() => {})
    await killStragglers()
    if (dir != null) await rm(dir, { recursive: true, force: true })
  })

  it('sees gateways, never a sender, ask for the contact record of the pseudonym it writes to', async (t) => {
    const names = new Map<string, string>([...processes().map((p) => [p.id.peerId, p.name] as const), [spy?.peerId ?? '', 'spy']])
    const pairs: Array<{ sender: UmbraProcess, pseudonym: PseudonymInfo, sentAt: number }> = []
    const logBefore = spyLog.length
    for (const pseudonym of pseudonyms) {
      for (const sender of senders) {
        const sentAt = Date.now()
        const receipt = await sender.call<AnonymousReceipt>('POST', '/v1/messages', { to: pseudonym.key, body: `to ${pseudonym.label ?? ''} from ${sender.name}`, encoding: 'utf8', anonymous: true })
        assert.ok(receipt.status === 'stored' || receipt.status === 'delivered', `${sender.name} → ${pseudonym.label ?? ''}: ${receipt.status}`)
        pairs.push({ sender, pseudonym, sentAt })
      }
    }
    // The recipient got all of them: the lookups answered through the mixnet are the right records.
    await eventually('every message at the recipient', async () => {
      const msgs = (await recipient.call<{ messages: Array<{ kind: string }> }>('GET', '/v1/messages?since=0&limit=1000')).messages
      return msgs.filter((m) => m.kind === 'anonymous').length >= pairs.length ? true : undefined
    }, 30_000)

    const seen = spyLog.slice(logBefore)
    const linked = pairs.filter(({ sender, pseudonym }) => seen.some((e) => e.from === sender.id.peerId && e.key === pseudonym.key))
    const askers = new Map<string, number>()
    for (const e of seen) {
      const who = `${names.get(e.from) ?? e.from} ${e.type}`
      askers.set(who, (askers.get(who) ?? 0) + 1)
    }
    t.diagnostic(`spy attributed ${linked.length}/${pairs.length} sends to the right sender → pseudonym pair (${SENDERS} client senders × ${PSEUDONYMS} pseudonyms)`)
    t.diagnostic(`contact-key messages the spy received during the sends (${seen.length}): ${[...askers].map(([k, n]) => `${k} ×${n}`).join(', ') || 'none'}`)
    const senderIds = new Set(senders.map((s) => s.id.peerId))
    const fromSenders = seen.filter((e) => senderIds.has(e.from))
    assert.equal(linked.length, 0, `the spy linked ${linked.length} of ${pairs.length} sends to their sender`)
    assert.equal(fromSenders.length, 0, 'no sender PeerId asked the spy about any contact key')
    // The spy does watch: lookups reached it, from gateways (unless every lookup happened to use the spy itself as its gateway).
    const spyCounters = (spy as UmbraNode).mixnet.counters()
    t.diagnostic(`spy as a mix/gateway: ${spyCounters.packetsIn} packets in, dropped ${JSON.stringify(spyCounters.dropped)}`)
    assert.ok(seen.some((e) => e.type === 'GET_VALUE'), 'the spy received contact lookups (from gateways)')
  })
})
