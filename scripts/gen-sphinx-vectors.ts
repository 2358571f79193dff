/**
 * Generates the Sphinx v1 test vectors, test/mixnet/vectors/sphinx-v1.json:
 * `node scripts/gen-sphinx-vectors.ts [--force]`.
 *
 * Run once, when the wire format is defined; the file is committed and
 * test/mixnet/sphinx.test.ts checks the implementation against it. Every key,
 * id, body and random draw is derived from a fixed seed,
 *   bytes(label, n) = BLAKE2b-512(SEED ‖ label ‖ u32 counter) blocks, truncated to n,
 * so re-running reproduces the same file. Without `--force` an existing file
 * is not overwritten: the script only reports whether a fresh run matches it
 * (a determinism check). docs/sphinx.md, "Test vectors", describes the fields.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import sodium from 'sodium-native'
import {
  BODY_SIZE, createPacket, createSurb, createSurbReply, encodeSurb, HEADER_SIZE, HOP_SIZE, MAX_PATH_NODES, openSurbReply,
  PACKET_SIZE, PAYLOAD_SIZE, processPacket, SPHINX_VERSION, SURB_SIZE
} from '../src/mixnet/sphinx/index.ts'
import type { ProcessResult, RoutingCommand, SphinxHop } from '../src/mixnet/sphinx/index.ts'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const out = join(root, 'test', 'mixnet', 'vectors', 'sphinx-v1.json')
const SEED = 'umbra/sphinx/v1/test-vectors'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

/** Deterministic bytes: BLAKE2b-512(SEED ‖ label ‖ u32 BE counter) blocks. */
function bytes (label: string, n: number): Uint8Array {
  const result = new Uint8Array(n)
  const block = Buffer.alloc(64)
  for (let c = 0, off = 0; off < n; c++, off += 64) {
    const counter = Buffer.alloc(4)
    counter.writeUInt32BE(c)
    sodium.crypto_generichash(block, Buffer.concat([Buffer.from(SEED), Buffer.from(label), counter]))
    result.set(block.subarray(0, Math.min(64, n - off)), off)
  }
  return result
}

/** A recording deterministic random source: draw k returns bytes(`${label}/random/${k}`, n). */
function recordingRandom (label: string): { random: (n: number) => Uint8Array, draws: string[] } {
  const draws: string[] = []
  return {
    draws,
    random: (n) => {
      const b = bytes(`${label}/random/${draws.length}`, n)
      draws.push(hex(b))
      return b
    }
  }
}

interface Node { onionSecret: Uint8Array, onionKey: Uint8Array, nodeId: Uint8Array }

function node (label: string, i: number): Node {
  const onionSecret = bytes(`${label}/node/${i}/onion-secret`, 32)
  const onionKey = Buffer.alloc(32)
  sodium.crypto_scalarmult_base(onionKey, Buffer.from(onionSecret))
  return { onionSecret, onionKey: new Uint8Array(onionKey), nodeId: bytes(`${label}/node/${i}/ed25519-key`, 32) }
}

function routingJson (r: RoutingCommand): Record<string, unknown> {
  if (r.type === 'forward') return { type: r.type, nextNode: hex(r.nextNode), delayMs: r.delayMs }
  if (r.type === 'deliver') return { type: r.type, mailbox: hex(r.mailbox) }
  return { type: r.type, mailbox: hex(r.mailbox), surbId: hex(r.surbId) }
}

function resultJson (r: ProcessResult): Record<string, unknown> {
  if (!r.ok) return { ok: false, reason: r.reason }
  if (r.kind === 'forward') return { kind: r.kind, tag: hex(r.tag), nextNode: hex(r.nextNode), delayMs: r.delayMs, packet: hex(r.packet) }
  if (r.kind === 'deliver') return { kind: r.kind, tag: hex(r.tag), mailbox: hex(r.mailbox), body: hex(r.body) }
  return { kind: r.kind, tag: hex(r.tag), mailbox: hex(r.mailbox), surbId: hex(r.surbId), payload: hex(r.payload) }
}

function path (label: string, n: number, final: (nodes: Node[]) => RoutingCommand): { nodes: Node[], hops: SphinxHop[] } {
  const nodes = Array.from({ length: n }, (_, i) => node(label, i))
  const hops = nodes.map((nd, i): SphinxHop => ({
    onionKey: nd.onionKey,
    routing: i < n - 1 ? { type: 'forward', nextNode: (nodes[i + 1] as Node).nodeId, delayMs: 25 * (i + 1) } : final(nodes)
  }))
  return { nodes, hops }
}

/** Walks `packet` through `nodes`, returning every hop's result. */
function walk (packet: Uint8Array, nodes: Node[]): ProcessResult[] {
  const steps: ProcessResult[] = []
  let p = packet
  for (const nd of nodes) {
    const r = processPacket(p, nd.onionSecret)
    steps.push(r)
    if (!r.ok || r.kind !== 'forward') break
    p = r.packet
  }
  if (steps.length !== nodes.length) throw new Error('vector packet did not reach its last node')
  return steps
}

function packetVector (name: string, n: number, epoch: number, bodyLength: number): Record<string, unknown> {
  const mailbox = bytes(`${name}/mailbox`, 32)
  const { nodes, hops } = path(name, n, () => ({ type: 'deliver', mailbox }))
  const body = bytes(`${name}/body`, bodyLength)
  const { random, draws } = recordingRandom(name)
  const packet = createPacket({ epoch, hops, body, random })
  return {
    name,
    epoch,
    nodes: nodes.map((nd) => ({ onionSecret: hex(nd.onionSecret), onionKey: hex(nd.onionKey), nodeId: hex(nd.nodeId) })),
    hops: hops.map((h) => ({ onionKey: hex(h.onionKey), routing: routingJson(h.routing) })),
    body: hex(body),
    random: draws,
    packet: hex(packet),
    steps: walk(packet, nodes).map(resultJson)
  }
}

function surbVector (name: string, n: number, epoch: number, bodyLength: number): Record<string, unknown> {
  const mailbox = bytes(`${name}/mailbox`, 32)
  const surbId = bytes(`${name}/surb-id`, 16)
  const { nodes, hops } = path(name, n, () => ({ type: 'deliverSurb', mailbox, surbId }))
  const { random, draws } = recordingRandom(name)
  const firstNode = (nodes[0] as Node).nodeId
  const { surb, secrets } = createSurb({ epoch, firstNode, hops, random })
  const replyBody = bytes(`${name}/reply-body`, bodyLength)
  const reply = createSurbReply(surb, replyBody)
  const steps = walk(reply.packet, nodes)
  const last = steps[steps.length - 1] as ProcessResult
  if (!last.ok || last.kind !== 'deliverSurb') throw new Error('SURB reply not delivered')
  return {
    name,
    epoch,
    firstNode: hex(firstNode),
    nodes: nodes.map((nd) => ({ onionSecret: hex(nd.onionSecret), onionKey: hex(nd.onionKey), nodeId: hex(nd.nodeId) })),
    hops: hops.map((h) => ({ onionKey: hex(h.onionKey), routing: routingJson(h.routing) })),
    random: draws,
    surb: hex(encodeSurb(surb)),
    surbKey: hex(secrets.surbKey),
    payloadKeys: secrets.payloadKeys.map(hex),
    replyBody: hex(replyBody),
    replyPacket: hex(reply.packet),
    steps: steps.map(resultJson),
    openedBody: hex(openSurbReply(secrets, last.payload))
  }
}

const vectors = {
  format: 'umbra-sphinx-v1',
  generator: 'scripts/gen-sphinx-vectors.ts',
  seed: SEED,
  note: 'Hex strings. `random` lists the outputs of the injected random source, in call order. Bodies shorter than BODY_SIZE are zero-padded by createPacket/createSurbReply; delivered bodies are BODY_SIZE bytes.',
  constants: { SPHINX_VERSION, PACKET_SIZE, HEADER_SIZE, PAYLOAD_SIZE, BODY_SIZE, MAX_PATH_NODES, HOP_SIZE, SURB_SIZE },
  packets: [
    // n = Sphinx nodes = mix hops + 1 (the gateway); the API accepts n = 1..9.
    packetVector('packet-1-node', 1, 1, 5),
    packetVector('packet-2-node-1-hop', 2, 7, 0),
    packetVector('packet-4-node-3-hop', 4, 20260101, 1000),
    packetVector('packet-9-node-8-hop', 9, 0xffff_ffff, BODY_SIZE)
  ],
  surbs: [
    surbVector('surb-4-node-3-hop', 4, 42, 200)
  ]
}

const text = JSON.stringify(vectors, null, 2) + '\n'
if (existsSync(out) && !process.argv.includes('--force')) {
  const same = readFileSync(out, 'utf8') === text
  console.log(same ? `${out} is up to date (a fresh run reproduces it byte for byte)` : `${out} differs from a fresh run; not overwritten (use --force only for a new wire version)`)
  process.exitCode = same ? 0 : 1
} else {
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out, text)
  console.log(`wrote ${out}`)
}
