/**
 * In-process directory nodes for the directory tests
 * (directory-admission.longtest.ts, directory-sync.test.ts): bare libp2p
 * nodes on 127.0.0.1 (TCP, Noise, Yamux) and a directory on one.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { PrivateKey } from '@libp2p/interface'
import { logger } from '../../src/logger.ts'
import { createDirectory, type Directory, type DirectoryInit } from '../../src/mixnet/directory.ts'

/** A bare libp2p node on 127.0.0.1 (TCP, Noise, Yamux): an attacker, or the host of an in-process directory. */
export async function bareNode (privateKey?: PrivateKey): Promise<Libp2p> {
  const node = await createLibp2p({
    privateKey: privateKey ?? await generateKeyPair('Ed25519'),
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { allow: ['/ip4/127.0.0.0/ipcidr/8'] }
  })
  await node.start()
  return node
}

/** One in-process directory on its own libp2p node, with one onion key for epoch 1. */
export interface DirNode { libp2p: Libp2p, directory: Directory, peerId: string, nodeKey: Uint8Array }

/** Starts a publishing directory on a fresh {@link bareNode}; `options` override {@link DirectoryInit} fields. */
export async function dirNode (options: Partial<DirectoryInit> = {}): Promise<DirNode> {
  const privateKey = await generateKeyPair('Ed25519')
  const node = await bareNode(privateKey)
  const directory = createDirectory({ libp2p: node, privateKey, log: logger('test-directory'), publish: true, onionKeys: () => [{ epoch: 1, publicKey: new Uint8Array(32).fill(7) }], ...options })
  await directory.start()
  return { libp2p: node, directory, peerId: node.peerId.toString(), nodeKey: privateKey.publicKey.raw }
}

/** A star of `count` directories: node 0 in the middle, every other one dialled to it only (they learn each other through it). */
export async function dirStar (count: number, options: Partial<DirectoryInit> = {}): Promise<DirNode[]> {
  const nodes: DirNode[] = []
  for (let i = 0; i < count; i++) nodes.push(await dirNode(options))
  const hub = nodes[0] as DirNode
  for (const n of nodes.slice(1)) await n.libp2p.dial(hub.libp2p.getMultiaddrs())
  return nodes
}

/** Stops each directory, then its libp2p node. */
export async function stopDirNodes (nodes: DirNode[]): Promise<void> {
  for (const n of nodes) {
    await n.directory.stop()
    await n.libp2p.stop()
  }
}
