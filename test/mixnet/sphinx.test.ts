import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import sodium from 'sodium-native'
import {
  BODY_SIZE, createPacket, createSurb, createSurbReply, decodeSurb, encodeSurb, HEADER_SIZE, HOP_SIZE, MAX_PATH_NODES,
  openSurbReply, PACKET_SIZE, PAYLOAD_SIZE, packetEpoch, processPacket, SPHINX_VERSION, SURB_SIZE
} from '../../src/mixnet/sphinx/index.ts'
import type { ProcessResult, RoutingCommand, SphinxHop, Surb, SurbSecrets } from '../../src/mixnet/sphinx/index.ts'

const MALFORMED = { code: 'UMBRA_ERR_SPHINX_MALFORMED' }
const TAMPERED = { code: 'UMBRA_ERR_SPHINX_TAMPERED' }
const INVALID = { code: 'UMBRA_ERR_INVALID_OPTION' }
/** Offsets of the header fields (spec: version 1 | epoch 4 | alpha 32 | beta 648 | gamma 16). */
const ALPHA_OFFSET = 5
const BETA_OFFSET = 37
const GAMMA_OFFSET = 685

const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'))
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const contains = (hay: Uint8Array, needle: Uint8Array): boolean => Buffer.from(hay).includes(Buffer.from(needle))

function randomBytes (n: number): Uint8Array {
  const b = new Uint8Array(n)
  sodium.randombytes_buf(b as Buffer)
  return b
}

function padded (body: Uint8Array): Uint8Array {
  const out = new Uint8Array(BODY_SIZE)
  out.set(body)
  return out
}

interface Node { onionSecret: Uint8Array, onionKey: Uint8Array, nodeId: Uint8Array }

function makeNode (): Node {
  const pk = Buffer.alloc(32)
  const sk = Buffer.alloc(32)
  sodium.crypto_box_keypair(pk, sk)
  return { onionSecret: new Uint8Array(sk), onionKey: new Uint8Array(pk), nodeId: randomBytes(32) }
}

interface Path { nodes: Node[], hops: SphinxHop[], mailbox: Uint8Array, surbId: Uint8Array }

function makePath (n: number, final: 'deliver' | 'deliverSurb'): Path {
  const nodes = Array.from({ length: n }, makeNode)
  const mailbox = randomBytes(32)
  const surbId = randomBytes(16)
  const hops = nodes.map((nd, i): SphinxHop => ({
    onionKey: nd.onionKey,
    routing: i < n - 1
      ? { type: 'forward', nextNode: (nodes[i + 1] as Node).nodeId, delayMs: 1000 * i + 7 }
      : final === 'deliver' ? { type: 'deliver', mailbox } : { type: 'deliverSurb', mailbox, surbId }
  }))
  return { nodes, hops, mailbox, surbId }
}

/** Processes `packet` at nodes[from..], stopping at the first drop or final result. */
function walk (packet: Uint8Array, nodes: Node[], from = 0): { steps: ProcessResult[], packets: Uint8Array[] } {
  const steps: ProcessResult[] = []
  const packets = [packet]
  let p = packet
  for (let i = from; i < nodes.length; i++) {
    const r = processPacket(p, (nodes[i] as Node).onionSecret)
    steps.push(r)
    if (!r.ok || r.kind !== 'forward') break
    p = r.packet
    packets.push(p)
  }
  return { steps, packets }
}

function flip (packet: Uint8Array, bit: number): Uint8Array {
  const out = packet.slice()
  out[bit >> 3] = (out[bit >> 3] as number) ^ (1 << (bit & 7))
  return out
}

/**
 * Re-encrypts the routing block of a packet for the node holding `onionSecret`
 * after `mutate` changed it, and recomputes the MAC, straight from the spec with
 * libsodium: s = X25519(sk, alpha); stream key = KDF id 1, MAC key = KDF id 2
 * (ctx 'umbrasph'); gamma = BLAKE2b-128(macKey, header[0..685]).
 */
function reseal (packet: Uint8Array, onionSecret: Uint8Array, mutate: (block: Uint8Array) => void): Uint8Array {
  const out = Buffer.from(packet)
  const s = Buffer.alloc(32)
  sodium.crypto_scalarmult(s, Buffer.from(onionSecret), out.subarray(ALPHA_OFFSET, BETA_OFFSET))
  const ctx = Buffer.from('umbrasph')
  const streamKey = Buffer.alloc(32)
  const macKey = Buffer.alloc(32)
  sodium.crypto_kdf_derive_from_key(streamKey, 1, ctx, s)
  sodium.crypto_kdf_derive_from_key(macKey, 2, ctx, s)
  const stream = Buffer.alloc(HOP_SIZE)
  const ietf = sodium as unknown as { crypto_stream_chacha20_ietf_xor: (c: Uint8Array, m: Uint8Array, n: Uint8Array, k: Uint8Array) => void }
  ietf.crypto_stream_chacha20_ietf_xor(stream, Buffer.alloc(HOP_SIZE), Buffer.alloc(12), streamKey)
  const block = out.subarray(BETA_OFFSET, BETA_OFFSET + HOP_SIZE)
  for (let i = 0; i < HOP_SIZE; i++) block[i] = (block[i] as number) ^ (stream[i] as number)
  mutate(block)
  for (let i = 0; i < HOP_SIZE; i++) block[i] = (block[i] as number) ^ (stream[i] as number)
  sodium.crypto_generichash(out.subarray(GAMMA_OFFSET, HEADER_SIZE), out.subarray(0, GAMMA_OFFSET), macKey)
  return new Uint8Array(out)
}

/** Replays the recorded random draws of a vector, in order. */
function replay (draws: string[]): { random: (n: number) => Uint8Array, done: () => boolean } {
  let k = 0
  return {
    random: (n) => {
      const b = fromHex(draws[k++] as string)
      assert.equal(b.byteLength, n, `random draw ${k - 1} length`)
      return b
    },
    done: () => k === draws.length
  }
}

function routingFromJson (r: Record<string, unknown>): RoutingCommand {
  if (r.type === 'forward') return { type: 'forward', nextNode: fromHex(r.nextNode as string), delayMs: r.delayMs as number }
  if (r.type === 'deliver') return { type: 'deliver', mailbox: fromHex(r.mailbox as string) }
  return { type: 'deliverSurb', mailbox: fromHex(r.mailbox as string), surbId: fromHex(r.surbId as string) }
}

function resultToJson (r: ProcessResult): Record<string, unknown> {
  if (!r.ok) return { ok: false, reason: r.reason }
  if (r.kind === 'forward') return { kind: r.kind, tag: toHex(r.tag), nextNode: toHex(r.nextNode), delayMs: r.delayMs, packet: toHex(r.packet) }
  if (r.kind === 'deliver') return { kind: r.kind, tag: toHex(r.tag), mailbox: toHex(r.mailbox), body: toHex(r.body) }
  return { kind: r.kind, tag: toHex(r.tag), mailbox: toHex(r.mailbox), surbId: toHex(r.surbId), payload: toHex(r.payload) }
}

interface VectorNode { onionSecret: string, onionKey: string, nodeId: string }
interface VectorHop { onionKey: string, routing: Record<string, unknown> }
interface Vectors {
  constants: Record<string, number>
  packets: Array<{ name: string, epoch: number, nodes: VectorNode[], hops: VectorHop[], body: string, random: string[], packet: string, steps: Array<Record<string, unknown>> }>
  surbs: Array<{
    name: string, epoch: number, firstNode: string, nodes: VectorNode[], hops: VectorHop[], random: string[], surb: string, surbKey: string,
    payloadKeys: string[], replyBody: string, replyPacket: string, steps: Array<Record<string, unknown>>, openedBody: string
  }>
}

const vectors = JSON.parse(readFileSync(new URL('./vectors/sphinx-v1.json', import.meta.url), 'utf8')) as Vectors

describe('Sphinx v1 test vectors (test/mixnet/vectors/sphinx-v1.json, scripts/gen-sphinx-vectors.ts)', () => {
  it('has the constants of the spec', () => {
    assert.deepEqual(vectors.constants, {
      SPHINX_VERSION: 1, PACKET_SIZE: 4096, HEADER_SIZE: 701, PAYLOAD_SIZE: 3395, BODY_SIZE: 3379, MAX_PATH_NODES: 9, HOP_SIZE: 72, SURB_SIZE: 766
    })
    assert.deepEqual({ SPHINX_VERSION, PACKET_SIZE, HEADER_SIZE, PAYLOAD_SIZE, BODY_SIZE, MAX_PATH_NODES, HOP_SIZE, SURB_SIZE }, vectors.constants)
  })

  for (const v of vectors.packets) {
    it(`${v.name}: createPacket reproduces the bytes and every hop's output`, () => {
      const { random, done } = replay(v.random)
      const hops = v.hops.map((h) => ({ onionKey: fromHex(h.onionKey), routing: routingFromJson(h.routing) }))
      const packet = createPacket({ epoch: v.epoch, hops, body: fromHex(v.body), random })
      assert.ok(done(), 'all recorded random draws used')
      assert.equal(toHex(packet), v.packet)
      assert.equal(packetEpoch(packet), v.epoch)
      const { steps } = walk(fromHex(v.packet), v.nodes.map((n) => ({ onionSecret: fromHex(n.onionSecret), onionKey: fromHex(n.onionKey), nodeId: fromHex(n.nodeId) })))
      assert.deepEqual(steps.map(resultToJson), v.steps)
    })
  }

  for (const v of vectors.surbs) {
    it(`${v.name}: createSurb, createSurbReply, processing and openSurbReply reproduce the vector`, () => {
      const { random, done } = replay(v.random)
      const hops = v.hops.map((h) => ({ onionKey: fromHex(h.onionKey), routing: routingFromJson(h.routing) }))
      const { surb, secrets } = createSurb({ epoch: v.epoch, firstNode: fromHex(v.firstNode), hops, random })
      assert.ok(done(), 'all recorded random draws used')
      assert.equal(toHex(encodeSurb(surb)), v.surb)
      assert.equal(toHex(secrets.surbKey), v.surbKey)
      assert.deepEqual(secrets.payloadKeys.map(toHex), v.payloadKeys)
      const reply = createSurbReply(decodeSurb(fromHex(v.surb)), fromHex(v.replyBody))
      assert.equal(toHex(reply.packet), v.replyPacket)
      assert.equal(toHex(reply.firstNode), v.firstNode)
      const { steps } = walk(reply.packet, v.nodes.map((n) => ({ onionSecret: fromHex(n.onionSecret), onionKey: fromHex(n.onionKey), nodeId: fromHex(n.nodeId) })))
      assert.deepEqual(steps.map(resultToJson), v.steps)
      const last = steps.at(-1) as ProcessResult
      assert.ok(last.ok && last.kind === 'deliverSurb')
      assert.equal(toHex(openSurbReply(secrets, last.payload)), v.openedBody)
      assert.equal(v.openedBody, toHex(padded(fromHex(v.replyBody))))
    })
  }
})

describe('Sphinx forward packets', () => {
  it('round-trips any body through every path length 1..9, 4096 bytes at every hop', () => {
    for (let n = 1; n <= MAX_PATH_NODES; n++) {
      const path = makePath(n, 'deliver')
      fc.assert(fc.property(fc.uint8Array({ maxLength: BODY_SIZE }), fc.nat({ max: 0xffff_ffff }), (body, epoch) => {
        const packet = createPacket({ epoch, hops: path.hops, body })
        assert.equal(packet.byteLength, PACKET_SIZE)
        const { steps, packets } = walk(packet, path.nodes)
        assert.equal(steps.length, n)
        for (const p of packets) {
          assert.equal(p.byteLength, PACKET_SIZE)
          assert.equal(packetEpoch(p), epoch)
        }
        steps.slice(0, -1).forEach((r, i) => {
          assert.ok(r.ok && r.kind === 'forward', `hop ${i} forwards`)
          assert.deepEqual(r.nextNode, (path.nodes[i + 1] as Node).nodeId)
          assert.equal(r.delayMs, 1000 * i + 7)
        })
        const last = steps.at(-1) as ProcessResult
        assert.ok(last.ok && last.kind === 'deliver', `n=${n}: final hop delivers`)
        assert.deepEqual(last.mailbox, path.mailbox)
        assert.equal(last.body.byteLength, BODY_SIZE)
        assert.deepEqual(last.body, padded(body))
      }), { numRuns: 8 })
    }
  })

  it('drops any single flipped bit at the next hop (header) or at the final hop (payload); never delivers it undetected', () => {
    // One packet per path length, recorded as it enters each hop; fast-check picks the length, the hop and the bit.
    const fixtures = [1, 2, 4, 9].map((n) => {
      const path = makePath(n, 'deliver')
      const body = randomBytes(BODY_SIZE)
      const { packets } = walk(createPacket({ epoch: 3, hops: path.hops, body }), path.nodes)
      assert.equal(packets.length, n)
      return { path, packets }
    })
    fc.assert(fc.property(fc.nat({ max: fixtures.length - 1 }), fc.nat(), fc.nat({ max: PACKET_SIZE * 8 - 1 }), (f, hopSeed, bit) => {
      const { path, packets } = fixtures[f] as (typeof fixtures)[number]
      const hop = hopSeed % packets.length
      const { steps } = walk(flip(packets[hop] as Uint8Array, bit), path.nodes, hop)
      const byte = bit >> 3
      if (byte < HEADER_SIZE) {
        assert.equal(steps.length, 1, `header bit ${bit} is caught at the next hop`)
        const r = steps[0] as ProcessResult
        assert.equal(r.ok, false)
        const allowed = byte === 0 ? ['version'] : byte < ALPHA_OFFSET || byte >= BETA_OFFSET ? ['mac'] : ['mac', 'point']
        assert.ok(!r.ok && allowed.includes(r.reason), `header byte ${byte}: ${JSON.stringify(r)}`)
      } else {
        const last = steps.at(-1) as ProcessResult
        assert.equal(steps.length, path.nodes.length - hop, 'a payload bit does not stop the relays (they cannot see it)')
        assert.deepEqual(last, { ok: false, reason: 'payload' })
      }
    }), { numRuns: 4000, interruptAfterTimeLimit: 3000 })
  })

  it('drops every one of the 5608 header bit flips at the next hop (exhaustive; epoch and the ignored top bit of alpha are MACed)', () => {
    const path = makePath(2, 'deliver')
    const packet = createPacket({ epoch: 77, hops: path.hops, body: new Uint8Array(1) })
    const sk0 = (path.nodes[0] as Node).onionSecret
    const reasons = new Map<string, number>()
    for (let bit = 0; bit < HEADER_SIZE * 8; bit++) {
      const r = processPacket(flip(packet, bit), sk0)
      assert.equal(r.ok, false, `header bit ${bit} accepted`)
      if (!r.ok) reasons.set(r.reason, (reasons.get(r.reason) ?? 0) + 1)
    }
    assert.equal(reasons.get('version'), 8)
    // X25519 ignores bit 255 of the u-coordinate, so that flip gives the same s: only the MAC over alpha catches it.
    assert.deepEqual(processPacket(flip(packet, (BETA_OFFSET - 1) * 8 + 7), sk0), { ok: false, reason: 'mac' })
  })

  it('a relay learns only its successor; the mailbox appears only at the final hop', () => {
    for (const n of [2, 3, 5, 9]) {
      const path = makePath(n, 'deliver')
      const { steps } = walk(createPacket({ epoch: 1, hops: path.hops, body: new Uint8Array(0) }), path.nodes)
      steps.forEach((r, i) => {
        assert.ok(r.ok)
        const exposed = r.kind === 'forward'
          ? [r.tag, r.nextNode, r.packet]
          : r.kind === 'deliver' ? [r.tag, r.mailbox, r.body] : [r.tag, r.mailbox, r.surbId, r.payload]
        if (i < n - 1) {
          assert.equal(r.kind, 'forward')
          assert.deepEqual(Object.keys(r).sort(), ['delayMs', 'kind', 'nextNode', 'ok', 'packet', 'tag'])
          assert.ok(!exposed.some((b) => contains(b, path.mailbox)), `hop ${i} of ${n} must not see the mailbox`)
        } else {
          assert.equal(r.kind, 'deliver')
          assert.deepEqual(Object.keys(r).sort(), ['body', 'kind', 'mailbox', 'ok', 'tag'])
        }
        path.nodes.forEach((other, j) => {
          if (j !== i + 1) assert.ok(!exposed.some((b) => contains(b, other.nodeId)), `hop ${i} must not see node ${j}`)
        })
      })
    }
  })

  it('re-randomises alpha and the whole payload at every hop (no bytes in common that link input and output)', () => {
    const path = makePath(3, 'deliver')
    const { packets } = walk(createPacket({ epoch: 1, hops: path.hops, body: new Uint8Array(BODY_SIZE) }), path.nodes)
    for (let i = 1; i < packets.length; i++) {
      const a = packets[i - 1] as Uint8Array
      const b = packets[i] as Uint8Array
      assert.notDeepEqual(a.subarray(ALPHA_OFFSET, BETA_OFFSET), b.subarray(ALPHA_OFFSET, BETA_OFFSET))
      assert.ok(!contains(b, a.subarray(HEADER_SIZE, HEADER_SIZE + 16)), 'payload changed')
      assert.ok(!contains(b, a.subarray(BETA_OFFSET + HOP_SIZE, BETA_OFFSET + 2 * HOP_SIZE)), 'beta is not just shifted')
    }
  })

  it('replay tag: the same for the same packet at the same hop, different across packets and hops', () => {
    const path = makePath(3, 'deliver')
    const body = randomBytes(100)
    const p1 = createPacket({ epoch: 9, hops: path.hops, body })
    const p2 = createPacket({ epoch: 9, hops: path.hops, body })
    const sk0 = (path.nodes[0] as Node).onionSecret
    const a = processPacket(p1, sk0)
    const b = processPacket(p1, sk0)
    const c = processPacket(p2, sk0)
    assert.ok(a.ok && b.ok && c.ok && a.kind === 'forward')
    assert.equal(a.tag.byteLength, 16)
    assert.deepEqual(a.tag, b.tag)
    assert.notDeepEqual(a.tag, c.tag)
    const next = processPacket(a.packet, (path.nodes[1] as Node).onionSecret)
    assert.ok(next.ok)
    assert.notDeepEqual(next.tag, a.tag)
    // the relay's scratch buffers must not leak into results: a's tag survives later calls
    const tagCopy = a.tag.slice()
    processPacket(p2, sk0)
    assert.deepEqual(a.tag, tagCopy)
  })

  it('drops wrong sizes, versions, low-order points, wrong keys and bad routing blocks without throwing', () => {
    const path = makePath(2, 'deliver')
    const sk0 = (path.nodes[0] as Node).onionSecret
    const packet = createPacket({ epoch: 5, hops: path.hops, body: new Uint8Array(10) })
    for (const len of [0, 1, HEADER_SIZE, PACKET_SIZE - 1, PACKET_SIZE + 1, 2 * PACKET_SIZE]) {
      assert.deepEqual(processPacket(new Uint8Array(len), sk0), { ok: false, reason: 'size' })
      assert.equal(packetEpoch(new Uint8Array(len)), undefined)
    }
    assert.deepEqual(processPacket('x'.repeat(PACKET_SIZE) as unknown as Uint8Array, sk0), { ok: false, reason: 'size' })
    for (const version of [0, 2, 255]) {
      const p = packet.slice()
      p[0] = version
      assert.deepEqual(processPacket(p, sk0), { ok: false, reason: 'version' })
      assert.equal(packetEpoch(p), undefined)
    }
    // Low-order points of Curve25519 (RFC 7748 §5 / libsodium's blocklist): 0, 1.
    for (const alpha of [new Uint8Array(32), Uint8Array.of(1, ...new Uint8Array(31))]) {
      const p = packet.slice()
      p.set(alpha, ALPHA_OFFSET)
      assert.deepEqual(processPacket(p, sk0), { ok: false, reason: 'point' })
    }
    assert.deepEqual(processPacket(packet, makeNode().onionSecret), { ok: false, reason: 'mac' })
    assert.deepEqual(processPacket(packet, (path.nodes[1] as Node).onionSecret), { ok: false, reason: 'mac' })
    // A correctly MACed block with an unknown type, or non-zero flags / reserved bytes.
    const bad: Array<(b: Uint8Array) => void> = [
      (b) => { b[0] = 0 }, (b) => { b[0] = 4 }, (b) => { b[0] = 255 }, (b) => { b[1] = 1 }, (b) => { b[54] = 1 }, (b) => { b[55] = 0x80 }
    ]
    for (const mutate of bad) assert.deepEqual(processPacket(reseal(packet, sk0, mutate), sk0), { ok: false, reason: 'routing' })
    // reseal itself is right: an unchanged block still forwards
    const same = processPacket(reseal(packet, sk0, () => {}), sk0)
    assert.ok(same.ok && same.kind === 'forward')
    assert.throws(() => processPacket(packet, new Uint8Array(31)), INVALID)
  })

  it('does not modify the caller\'s bytes, even when they are a Node Buffer', () => {
    const path = makePath(2, 'deliver')
    const packet = Buffer.from(createPacket({ epoch: 2, hops: path.hops, body: new Uint8Array([1, 2, 3]) }))
    const before = Buffer.from(packet)
    const r1 = processPacket(packet, (path.nodes[0] as Node).onionSecret)
    assert.ok(r1.ok && r1.kind === 'forward')
    assert.ok(packet.equals(before))
    const second = Buffer.from(r1.packet)
    const secondBefore = Buffer.from(second)
    const r2 = processPacket(second, (path.nodes[1] as Node).onionSecret)
    assert.ok(r2.ok && r2.kind === 'deliver')
    assert.ok(second.equals(secondBefore))
    assert.deepEqual(r2.body.subarray(0, 4), Uint8Array.of(1, 2, 3, 0))
  })

  it('never throws on arbitrary 4096-byte input (fuzz, 2 s)', () => {
    const sk = makeNode().onionSecret
    fc.assert(fc.property(fc.uint8Array({ minLength: PACKET_SIZE, maxLength: PACKET_SIZE }), fc.boolean(), (junk, v1) => {
      if (v1) junk[0] = SPHINX_VERSION
      const r = processPacket(junk, sk)
      assert.equal(r.ok, false)
      assert.ok(!r.ok && ['version', 'point', 'mac'].includes(r.reason))
    }), { numRuns: 2000, interruptAfterTimeLimit: 2000 })
  })

  it('packetEpoch reads the epoch in clear', () => {
    const path = makePath(1, 'deliver')
    for (const epoch of [0, 1, 0x1234_5678, 0xffff_ffff]) {
      assert.equal(packetEpoch(createPacket({ epoch, hops: path.hops, body: new Uint8Array(0) })), epoch)
    }
  })

  it('rejects bad createPacket arguments with UMBRA_ERR_INVALID_OPTION', () => {
    const path = makePath(MAX_PATH_NODES, 'deliver')
    const ok = { epoch: 1, hops: path.hops.slice(-3), body: new Uint8Array(0) }
    assert.ok(createPacket(ok).byteLength === PACKET_SIZE)
    const lastFwd = path.hops[0] as SphinxHop
    const deliver = path.hops.at(-1) as SphinxHop
    const cases: unknown[] = [
      { ...ok, hops: [] },
      { ...ok, hops: [...path.hops.slice(0, -1), lastFwd, deliver] }, // 10 nodes
      { ...ok, hops: 'nope' },
      { ...ok, body: new Uint8Array(BODY_SIZE + 1) },
      { ...ok, body: 'text' },
      { ...ok, epoch: -1 }, { ...ok, epoch: 2 ** 32 }, { ...ok, epoch: 1.5 },
      { ...ok, hops: [{ ...deliver, onionKey: new Uint8Array(31) }] },
      { ...ok, hops: [lastFwd] }, // last routing not deliver
      { ...ok, hops: [deliver, deliver] }, // middle routing not forward
      { ...ok, hops: [{ ...lastFwd, routing: { type: 'forward', nextNode: new Uint8Array(33), delayMs: 0 } }, deliver] },
      { ...ok, hops: [{ ...lastFwd, routing: { type: 'forward', nextNode: new Uint8Array(32), delayMs: -1 } }, deliver] },
      { ...ok, hops: [{ ...deliver, routing: { type: 'deliver', mailbox: new Uint8Array(16) } }] },
      { ...ok, hops: [{ ...deliver, routing: { type: 'deliverSurb', mailbox: new Uint8Array(32), surbId: new Uint8Array(16) } }] },
      { ...ok, hops: [{ ...deliver, onionKey: new Uint8Array(32) }] }, // low-order onion key
      { ...ok, random: (n: number) => new Uint8Array(n - 1) },
      undefined
    ]
    cases.forEach((c, i) => assert.throws(() => createPacket(c as Parameters<typeof createPacket>[0]), INVALID, `case ${i}`))
  })
})

describe('Sphinx SURBs', () => {
  function surbFor (n: number, epoch = 11): { path: Path, surb: Surb, secrets: SurbSecrets } {
    const path = makePath(n, 'deliverSurb')
    const { surb, secrets } = createSurb({ epoch, firstNode: (path.nodes[0] as Node).nodeId, hops: path.hops })
    return { path, surb, secrets }
  }

  it('round-trips a reply through every path length 1..9', () => {
    for (let n = 1; n <= MAX_PATH_NODES; n++) {
      const { path, surb, secrets } = surbFor(n)
      assert.equal(secrets.payloadKeys.length, n)
      const encoded = encodeSurb(surb)
      assert.equal(encoded.byteLength, SURB_SIZE)
      fc.assert(fc.property(fc.uint8Array({ maxLength: BODY_SIZE }), (body) => {
        const { firstNode, packet } = createSurbReply(decodeSurb(encoded), body)
        assert.deepEqual(firstNode, (path.nodes[0] as Node).nodeId)
        assert.equal(packetEpoch(packet), 11)
        const { steps, packets } = walk(packet, path.nodes)
        for (const p of packets) assert.equal(p.byteLength, PACKET_SIZE)
        assert.equal(steps.length, n)
        const last = steps.at(-1) as ProcessResult
        assert.ok(last.ok && last.kind === 'deliverSurb', `n=${n}: final hop hands out the reply`)
        assert.deepEqual(last.mailbox, path.mailbox)
        assert.deepEqual(last.surbId, path.surbId)
        assert.equal(last.payload.byteLength, PAYLOAD_SIZE)
        assert.deepEqual(openSurbReply(secrets, last.payload), padded(body))
      }), { numRuns: 6 })
    }
  })

  it('detects any flipped bit of a reply: header bits at the next hop, payload bits by openSurbReply', () => {
    const fixtures = [1, 3, 9].map((n) => {
      const { path, surb, secrets } = surbFor(n)
      const { packets } = walk(createSurbReply(surb, randomBytes(300)).packet, path.nodes)
      return { path, secrets, packets }
    })
    fc.assert(fc.property(fc.nat({ max: fixtures.length - 1 }), fc.nat(), fc.nat({ max: PACKET_SIZE * 8 - 1 }), (f, hopSeed, bit) => {
      const { path, secrets, packets } = fixtures[f] as (typeof fixtures)[number]
      const hop = hopSeed % packets.length
      const { steps } = walk(flip(packets[hop] as Uint8Array, bit), path.nodes, hop)
      const last = steps.at(-1) as ProcessResult
      if (bit >> 3 < HEADER_SIZE) {
        assert.equal(steps.length, 1)
        assert.ok(!last.ok && ['version', 'mac', 'point'].includes(last.reason))
      } else {
        assert.ok(last.ok && last.kind === 'deliverSurb', 'the final node cannot check a reply payload')
        assert.throws(() => openSurbReply(secrets, last.payload), TAMPERED)
      }
    }), { numRuns: 3000, interruptAfterTimeLimit: 3000 })
  })

  it('openSurbReply with another SURB\'s secrets throws UMBRA_ERR_SPHINX_TAMPERED; bad sizes throw MALFORMED', () => {
    const a = surbFor(3)
    const b = surbFor(3)
    const { steps } = walk(createSurbReply(a.surb, new Uint8Array(5)).packet, a.path.nodes)
    const last = steps.at(-1) as ProcessResult
    assert.ok(last.ok && last.kind === 'deliverSurb')
    assert.throws(() => openSurbReply(b.secrets, last.payload), TAMPERED)
    assert.throws(() => openSurbReply({ ...a.secrets, payloadKeys: a.secrets.payloadKeys.slice(1) }, last.payload), TAMPERED)
    assert.throws(() => openSurbReply(a.secrets, last.payload.subarray(1)), MALFORMED)
    assert.throws(() => openSurbReply({ surbKey: new Uint8Array(31), payloadKeys: a.secrets.payloadKeys }, last.payload), MALFORMED)
    assert.throws(() => openSurbReply({ surbKey: a.secrets.surbKey, payloadKeys: [] }, last.payload), MALFORMED)
    const payloadBuffer = Buffer.from(last.payload)
    assert.deepEqual(openSurbReply(a.secrets, payloadBuffer), new Uint8Array(BODY_SIZE))
    assert.ok(payloadBuffer.equals(last.payload), 'openSurbReply leaves its input alone')
    assert.deepEqual(openSurbReply(a.secrets, last.payload), new Uint8Array(BODY_SIZE))
  })

  it('a forward (deliver) packet cannot be built from SURB routing, nor a SURB from deliver routing', () => {
    const surbPath = makePath(2, 'deliverSurb')
    const fwdPath = makePath(2, 'deliver')
    assert.throws(() => createPacket({ epoch: 1, hops: surbPath.hops, body: new Uint8Array(0) }), INVALID)
    assert.throws(() => createSurb({ epoch: 1, firstNode: randomBytes(32), hops: fwdPath.hops }), INVALID)
    assert.throws(() => createSurb({ epoch: 1, firstNode: randomBytes(31), hops: surbPath.hops }), INVALID)
    const { surb } = createSurb({ epoch: 1, firstNode: randomBytes(32), hops: surbPath.hops })
    assert.throws(() => createSurbReply(surb, new Uint8Array(BODY_SIZE + 1)), INVALID)
    assert.throws(() => createSurbReply({ ...surb, surbKey: new Uint8Array(8) }, new Uint8Array(1)), MALFORMED)
    assert.throws(() => encodeSurb({ ...surb, header: surb.header.subarray(1) }), MALFORMED)
  })

  it('decodeSurb rejects malformed input with UMBRA_ERR_SPHINX_MALFORMED and round-trips valid SURBs', () => {
    const encoded = encodeSurb(surbFor(2).surb)
    assert.deepEqual(encodeSurb(decodeSurb(encoded)), encoded)
    const asBuffer = Buffer.from(encoded)
    const decoded = decodeSurb(asBuffer)
    asBuffer.fill(0)
    assert.deepEqual(encodeSurb(decoded), encoded, 'decoded fields are copies, not views of the input')
    for (const len of [0, 1, SURB_SIZE - 1, SURB_SIZE + 1]) assert.throws(() => decodeSurb(new Uint8Array(len)), MALFORMED)
    assert.throws(() => decodeSurb('surb' as unknown as Uint8Array), MALFORMED)
    const badVersion = encoded.slice()
    badVersion[0] = 2
    assert.throws(() => decodeSurb(badVersion), MALFORMED)
    const badHeader = encoded.slice()
    badHeader[33] = 0
    assert.throws(() => decodeSurb(badHeader), MALFORMED)
    fc.assert(fc.property(fc.uint8Array({ maxLength: 2 * SURB_SIZE }), (junk) => {
      try {
        const s = decodeSurb(junk)
        assert.equal(junk.byteLength, SURB_SIZE)
        assert.deepEqual(encodeSurb(s), junk)
      } catch (err) {
        assert.equal((err as { code?: string }).code, MALFORMED.code)
      }
    }), { numRuns: 1000, interruptAfterTimeLimit: 1000 })
  })
})
