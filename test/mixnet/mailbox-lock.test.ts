/**
 * The 100-packet mailbox lock (issue 8, item 3) over real `umbra start`
 * processes: a hostile sender fills a pseudonym's mailbox with 100
 * incomplete 2-fragment messages (fragment 0 of each, never fragment 1)
 * while the owner is online; legitimate senders must still get through.
 *
 * Layout: 5 server processes (mixes and gateways) and 1 client process, the
 * recipient holding the pseudonym; the legitimate sender is a server other
 * than the pseudonym's gateway, driven through its HTTP API. The attacker is
 * an in-process client node in this test that builds the Sphinx packets
 * itself (wire.ts and sphinx functions), one per incomplete message, each
 * straight to the gateway (a 1-hop path: the gateway cannot tell).
 *
 * Measured on the pre-fix code (every fragment stored against the one
 * 100-message quota): 0/10 legitimate messages stored or received.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { decodeKey } from '../../src/identity/index.ts'
import { createNode } from '../../src/node/index.ts'
import { createPacket } from '../../src/mixnet/sphinx/index.ts'
import { FRAGMENT_DATA_SIZE, encodeFragment, encodeGatewayLayer } from '../../src/mixnet/wire.ts'
import type { MixnetHandle } from '../../src/mixnet/mixnet-service.ts'
import type { MixNodeSummary, MixnetCounters, PseudonymInfo } from '../../src/mixnet/types.ts'
import type { UmbraNode } from '../../src/node/index.ts'
import { ApiCallError, awaitDirectories, eventually, killStragglers, serverProcesses, startNetwork, UmbraProcess } from './process-helpers.ts'

const SERVERS = 5
/** Incomplete messages the attacker sends (the 100 packets). */
const ATTACK_MESSAGES = 100
/** Messages the legitimate sender sends afterwards. */
const LEGIT_MESSAGES = 10
/** Onion key epoch length of the processes, ms (DEFAULT_EPOCH_MS: they run the default). */
const EPOCH_MS = 3_600_000

interface MixnetView {
  directory: MixNodeSummary[]
  counters: MixnetCounters
}

interface MessageEntry {
  kind: 'direct' | 'anonymous' | 'reply'
  id?: string
  body: string
}

async function countersOf (node: UmbraProcess): Promise<MixnetCounters> {
  return (await node.call<MixnetView>('GET', '/v1/mixnet')).counters
}

async function anonymousIds (node: UmbraProcess): Promise<Set<string>> {
  const { messages } = await node.call<{ messages: MessageEntry[] }>('GET', '/v1/messages?limit=1000')
  return new Set(messages.filter((m) => m.kind === 'anonymous' && m.id != null).map((m) => m.id as string))
}

describe('the 100-packet mailbox lock over umbra start processes', { timeout: 150_000 }, () => {
  let dir: string
  let servers: UmbraProcess[] = []
  let recipient: UmbraProcess
  let sender: UmbraProcess
  let gateway: UmbraProcess
  let pseudonym: PseudonymInfo
  let attacker: UmbraNode | undefined
  const all = (): UmbraProcess[] => recipient == null ? servers : [...servers, recipient]

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'umbra-mailbox-lock-'))
    servers = await serverProcesses(dir, SERVERS, { preset: 'none' })
    recipient = new UmbraProcess({ name: 'recipient', dataDir: join(dir, 'recipient'), role: 'client', port: 0, preset: 'none' })
    await startNetwork(servers, [recipient])
    await awaitDirectories(all(), servers.map((s) => s.id.peerId))
    pseudonym = await recipient.call<PseudonymInfo>('POST', '/v1/pseudonyms', { label: 'victim' })
    const gw = servers.find((s) => s.id.peerId === pseudonym.gateways[0])
    assert.ok(gw != null, `the gateway ${pseudonym.gateways[0]} is one of the servers`)
    gateway = gw
    sender = servers.findLast((s) => s !== gateway) as UmbraProcess
  })

  after(async () => {
    await attacker?.stop().catch(() => {})
    await Promise.all(all().map(async (p) => await p.stop('SIGTERM', 5_000).catch(() => {})))
    await killStragglers()
    if (dir != null) await rm(dir, { recursive: true, force: true })
  })

  it('100 incomplete 2-fragment messages do not lock the mailbox: the online owner still receives 10/10', { timeout: 120_000 }, async (t) => {
    // The attacker: an in-process client node that learns the directory like any node.
    attacker = await createNode({ role: 'client', bootstrap: servers.slice(0, 3).flatMap((s) => s.id.addrs), mixnet: { preset: 'none', threads: 1 } })
    await attacker.start()
    const handle = attacker.mixnet as MixnetHandle
    const gatewayKey = decodeKey(gateway.id.key)
    const entry = await eventually('the attacker to learn the gateway\'s onion key', async () => handle.directoryEntry(gatewayKey), 30_000, 250)
    const epoch = entry.onionKeys.has(Math.floor(Date.now() / EPOCH_MS)) ? Math.floor(Date.now() / EPOCH_MS) : Math.max(...entry.onionKeys.keys())
    const onionKey = entry.onionKeys.get(epoch) as Uint8Array
    const mailbox = decodeKey(pseudonym.key)

    const before = await countersOf(gateway)
    for (let i = 0; i < ATTACK_MESSAGES; i++) {
      const fragment = encodeFragment({ messageId: randomBytes(16), index: 0, total: 2, data: randomBytes(FRAGMENT_DATA_SIZE) })
      const packet = createPacket({ epoch, hops: [{ onionKey, routing: { type: 'deliver', mailbox } }], body: encodeGatewayLayer(0, undefined, fragment) })
      await handle.sendRawPacket(gatewayKey, packet)
    }
    const attacked = await eventually('the gateway to handle every attack packet', async () => {
      const c = await countersOf(gateway)
      return c.stored + c.refused - before.stored - before.refused >= ATTACK_MESSAGES ? c : undefined
    }, 30_000, 250)
    const attackStored = attacked.stored - before.stored
    const attackRefused = attacked.refused - before.refused
    console.log(`attack: ${ATTACK_MESSAGES} incomplete 2-fragment messages → gateway stored ${attackStored}, refused ${attackRefused}`)

    // The legitimate sender: short messages (one fragment each with the default 2 reply SURBs).
    const sent: string[] = []
    const failures: string[] = []
    for (let i = 0; i < LEGIT_MESSAGES; i++) {
      try {
        const r = await sender.call<{ id: string }>('POST', '/v1/messages', { to: pseudonym.key, body: `hello ${i}`, anonymous: true, hops: 2 })
        sent.push(r.id)
      } catch (err) {
        failures.push(err instanceof ApiCallError ? err.code : (err as Error).message)
      }
    }
    let received = 0
    if (sent.length > 0) {
      await eventually('the owner to list every stored message', async () => {
        const ids = await anonymousIds(recipient)
        received = sent.filter((id) => ids.has(id)).length
        return received === sent.length ? true : undefined
      }, 20_000, 250).catch(() => {})
    }
    const line = `after the attack: ${sent.length}/${LEGIT_MESSAGES} legitimate messages stored, ${received}/${LEGIT_MESSAGES} received by the online owner; failures: ${failures.length === 0 ? 'none' : [...new Set(failures)].join(', ')}`
    console.log(line)
    t.diagnostic(`attack: stored ${attackStored}, refused ${attackRefused}; ${line}`)
    assert.equal(received, LEGIT_MESSAGES, 'every legitimate message reaches the owner')
    assert.equal(attackStored, 8, 'the incomplete budget holds 8 messages')
    assert.equal(attackRefused, ATTACK_MESSAGES - 8)
  })

  it('a multi-fragment message is refused while the incomplete budget is full, with a message saying so; the owner\'s purge frees it', { timeout: 60_000 }, async (t) => {
    const big = randomBytes(6000).toString('base64')
    const refused = await sender.call('POST', '/v1/messages', { to: pseudonym.key, body: big, encoding: 'base64', anonymous: true, hops: 2 }).then(() => undefined, (err: unknown) => err)
    assert.ok(refused instanceof ApiCallError, 'the 3-fragment message is refused')
    assert.equal(refused.code, 'UMBRA_ERR_MAILBOX_FULL')
    assert.match(refused.message, /incomplete/)
    const purged = await recipient.call<{ deleted: number }>('POST', `/v1/pseudonyms/${pseudonym.key}/purge`, {})
    const stored = await sender.call<{ id: string, fragments: number }>('POST', '/v1/messages', { to: pseudonym.key, body: big, encoding: 'base64', anonymous: true, hops: 2 })
    await eventually('the owner to receive the 3-fragment message', async () => (await anonymousIds(recipient)).has(stored.id) ? true : undefined, 20_000, 250)
    t.diagnostic(`before the purge: ${refused.code} (${refused.message.split(' UMBRA_ERR_MAILBOX_FULL ')[1] ?? refused.message}); purge deleted ${purged.deleted} rows; then a ${stored.fragments}-fragment message arrived`)
    assert.ok(purged.deleted >= 8, `the purge deleted the attacker's rows (${purged.deleted}); the refused message's stored fragments may add to them`)
    assert.ok(stored.fragments >= 3)
  })
})
