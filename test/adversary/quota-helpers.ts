/**
 * Shared set-up of the quota floods (test/adversary/quotas*.test.ts): a
 * victim `umbra start` server, a well-behaved `umbra start` client
 * bootstrapped to it, and a stock js-libp2p attacker (tcp, noise, yamux,
 * identify, ping, kad-dht on Umbra's protocol id) dialled to the victim.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper, type KadDHT } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { MemoryDatastore } from 'datastore-core'
import { createLibp2p, type Libp2p } from 'libp2p'
import { freePort, killStragglers, UmbraProcess } from '../mixnet/process-helpers.ts'
import type { Key } from 'interface-datastore'

/** An in-memory datastore that drops DHT records written to it. */
class ForgetfulDatastore extends MemoryDatastore {
  override put (key: Key, val: Uint8Array): Key {
    if (!key.toString().startsWith('/dht/record/')) void super.put(key, val)
    return key
  }
}

/** `GET /v1/quotas`. */
export interface Quotas { refused: Record<string, number> }

/** Resident set of a process, MB (Linux /proc). */
export async function rssMb (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN)
  return Math.round(kb / 1024)
}

/** `GET /v1/quotas`, or no counters where the route does not exist (the base commit). */
export async function quotasOf (node: UmbraProcess): Promise<Quotas> {
  try {
    return await node.call<Quotas>('GET', '/v1/quotas')
  } catch {
    return { refused: {} }
  }
}

/** The victim, the client, the attacker, and how to stop them all. */
export interface QuotaScene {
  victim: UmbraProcess
  client: UmbraProcess
  attacker: Libp2p<{ dht: KadDHT }>
  stop(): Promise<void>
}

/** Starts the victim server, the client and the stock attacker (see the module comment). */
export async function startScene (): Promise<QuotaScene> {
  const dir = await mkdtemp(join(tmpdir(), 'umbra-quotas-'))
  const victim = new UmbraProcess({ name: 'victim', dataDir: join(dir, 'v'), role: 'server', port: await freePort(), preset: 'none' })
  const client = new UmbraProcess({ name: 'client', dataDir: join(dir, 'c'), role: 'client', port: await freePort(), preset: 'none' })
  let attacker: Libp2p<{ dht: KadDHT }> | undefined
  const stop = async (): Promise<void> => {
    await attacker?.stop()
    await client.stop('SIGTERM').catch(() => {})
    await victim.stop('SIGTERM').catch(() => {})
    await killStragglers()
    await rm(dir, { recursive: true, force: true })
  }
  try {
    const v = await victim.start([])
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
    return { victim, client, attacker, stop }
  } catch (err) {
    await stop()
    throw err
  }
}
