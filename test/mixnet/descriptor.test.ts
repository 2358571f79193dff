import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair, generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import fc from 'fast-check'
import { descriptorTiming, MAX_DESCRIPTOR_LIFETIME_MS, ROLE_GATEWAY, ROLE_MIX, signDescriptor, verifyDescriptor } from '../../src/mixnet/descriptor.ts'
import { MixDescriptor, MixDescriptorSignable } from '../../src/mixnet/pb/directory.ts'
import type { DescriptorFields } from '../../src/mixnet/descriptor.ts'

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const NOW = 1_700_000_000_000
const INVALID = 'UMBRA_ERR_INVALID_DESCRIPTOR'

function expectCode (code: string): (err: unknown) => boolean {
  return (err) => (err as { code?: string }).code === code
}
function isCoded (err: unknown): boolean {
  return typeof (err as { code?: unknown }).code === 'string' && (err as { code: string }).code.startsWith('UMBRA_ERR_')
}

const nodeKey = await generateKeyPair('Ed25519')
const otherKey = await generateKeyPair('Ed25519')
const onion = (n: number): Uint8Array => new Uint8Array(32).fill(n)
const fields: DescriptorFields = {
  seq: 5,
  issuedAt: NOW,
  expiresAt: NOW + MINUTE,
  addrs: ['/ip4/127.0.0.1/tcp/4001', '/ip6/::1/tcp/4001/ws'],
  roles: ROLE_MIX | ROLE_GATEWAY,
  onionKeys: [{ epoch: 41, key: onion(1) }, { epoch: 42, key: onion(2) }]
}
/** A descriptor signed by the code before `link_port` existed (see its test). */
const PRE_LINK_PORT_VECTOR = '08011220fd1724385aa0c75b64fb78cd602fa1d991fdebf76b13c58ed702eac835e9f61818052080d095ffbc3128e0a499ffbc3132172f6970342f3132372e302e302e312f7463702f343030313803402a4a2002020202020202020202020202020202020202020202020202020202020202025a40acfc35fe5a78b6517ee48e73b8f1e7499bcaabeafe47425a7555588a6a8f168e5e2dc0a1bac485f741183b2f3d142081c814946d4155701acf24caef273d2001'
const sign = async (over: Partial<DescriptorFields> = {}): Promise<Uint8Array> => await signDescriptor(nodeKey, { ...fields, ...over })

/** Re-signs a decoded descriptor after `edit`, so only the field checks can refuse it. */
async function resign (edit: (d: MixDescriptor) => void): Promise<Uint8Array> {
  const d = MixDescriptor.decode(await sign())
  edit(d)
  d.signature = (await nodeKey.sign(MixDescriptorSignable.encode({ ...d, domain: 'umbra/mix-descriptor/v1', signature: undefined } as Partial<MixDescriptorSignable>))) as Uint8Array<ArrayBuffer>
  return MixDescriptor.encode(d)
}

describe('mix descriptors', () => {
  it('round-trips every field and names the PeerId', async () => {
    const bytes = await sign({ withdrawn: true })
    const d = await verifyDescriptor(bytes, NOW)
    assert.equal(d.peerId, peerIdFromPrivateKey(nodeKey).toString())
    assert.deepEqual(d.nodeKey, nodeKey.publicKey.raw)
    assert.equal(d.seq, 5)
    assert.equal(d.issuedAt, NOW)
    assert.equal(d.expiresAt, NOW + MINUTE)
    assert.deepEqual(d.addrs, fields.addrs)
    assert.equal(d.roles, 3)
    assert.equal(d.mix, true)
    assert.equal(d.gateway, true)
    assert.deepEqual(d.onionKeys, fields.onionKeys)
    assert.equal(d.withdrawn, true)
    assert.equal(d.signature.byteLength, 64)
    assert.deepEqual(d.bytes, bytes)
    const mixOnly = await verifyDescriptor(await sign({ roles: ROLE_MIX, addrs: [], onionKeys: [{ epoch: 0, key: onion(3) }] }), NOW)
    assert.deepEqual([mixOnly.mix, mixOnly.gateway, mixOnly.withdrawn, mixOnly.addrs], [true, false, false, []])
  })

  it('carries a packet-link port, and still reads a descriptor signed before the field existed (issue 16 item 3)', async () => {
    const withLink = await verifyDescriptor(await sign({ linkPort: 4100 }), NOW)
    assert.equal(withLink.linkPort, 4100)
    const without = await sign()
    assert.equal((await verifyDescriptor(without, NOW)).linkPort, undefined)
    // Signed by the code before link_port (main at 75e30c6), seed 0x09 × 32: it verifies, with no link port (use the libp2p stream).
    const old = Buffer.from(PRE_LINK_PORT_VECTOR, 'hex')
    const v = await verifyDescriptor(old, NOW)
    assert.equal(v.linkPort, undefined)
    assert.deepEqual(v.addrs, ['/ip4/127.0.0.1/tcp/4001'])
    // The same fields signed now give the same bytes: a descriptor without a link port did not change.
    const seeded = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(9))
    const again = await signDescriptor(seeded, { seq: 5, issuedAt: NOW, expiresAt: NOW + MINUTE, addrs: ['/ip4/127.0.0.1/tcp/4001'], roles: 3, onionKeys: [{ epoch: 42, key: onion(2) }] })
    assert.equal(Buffer.from(again).toString('hex'), PRE_LINK_PORT_VECTOR)
    await assert.rejects(sign({ linkPort: 0 }), expectCode('UMBRA_ERR_INVALID_OPTION'))
    await assert.rejects(sign({ linkPort: 65_536 }), expectCode('UMBRA_ERR_INVALID_OPTION'))
    await assert.rejects(verifyDescriptor(await resign((d) => { d.linkPort = 70_000 }), NOW), expectCode(INVALID))
  })

  it('uses the domain-separated signable: a signature over the bare fields is refused', async () => {
    const d = MixDescriptor.decode(await sign())
    d.signature = (await nodeKey.sign(MixDescriptorSignable.encode({ ...d, domain: 'umbra/dht-record/v1' } as Partial<MixDescriptorSignable>))) as Uint8Array<ArrayBuffer>
    await assert.rejects(verifyDescriptor(MixDescriptor.encode(d), NOW), expectCode(INVALID))
  })

  it('refuses a forged signature, another node\'s key, and any flipped bit', async () => {
    const bytes = await sign()
    const d = MixDescriptor.decode(bytes)
    await assert.rejects(verifyDescriptor(MixDescriptor.encode({ ...d, nodeKey: otherKey.publicKey.raw as Uint8Array<ArrayBuffer> }), NOW), expectCode(INVALID))
    const sig = new Uint8Array(d.signature)
    sig[10] = (sig[10] ?? 0) ^ 0x40
    await assert.rejects(verifyDescriptor(MixDescriptor.encode({ ...d, signature: sig }), NOW), expectCode(INVALID))
    for (let bit = 0; bit < bytes.byteLength * 8; bit += 5) {
      const flipped = new Uint8Array(bytes)
      flipped[bit >> 3] = (flipped[bit >> 3] ?? 0) ^ (1 << (bit & 7))
      await assert.rejects(verifyDescriptor(flipped, NOW), expectCode(INVALID), `bit ${bit}`)
    }
  })

  it('refuses expired descriptors and those issued more than 5 min ahead', async () => {
    const bytes = await sign()
    await verifyDescriptor(bytes, NOW + MINUTE - 1)
    await assert.rejects(verifyDescriptor(bytes, NOW + MINUTE), expectCode(INVALID))
    await verifyDescriptor(bytes, NOW - 5 * MINUTE)
    await assert.rejects(verifyDescriptor(bytes, NOW - 5 * MINUTE - 1), expectCode(INVALID))
  })

  it('refuses wrong lengths and counts even when correctly signed', async () => {
    const edits: Array<[string, (d: MixDescriptor) => void, RegExp]> = [
      ['version 2', (d) => { d.version = 2 }, /version/],
      ['node key 31', (d) => { d.nodeKey = d.nodeKey.slice(1) }, /node key/],
      ['seq 0', (d) => { d.seq = 0n }, /seq/],
      ['seq > 2^53', (d) => { d.seq = 1n << 60n }, /seq/],
      ['issuedAt 0', (d) => { d.issuedAt = 0n }, /issuedAt/],
      ['expires before issued', (d) => { d.expiresAt = d.issuedAt }, /not after issuedAt/],
      ['lifetime > 2 min', (d) => { d.expiresAt = d.issuedAt + BigInt(2 * MINUTE + 1) }, /longer than 2 min/],
      ['lifetime 48 h (the old maximum)', (d) => { d.expiresAt = d.issuedAt + BigInt(48 * HOUR) }, /longer than 2 min/],
      ['17 addrs', (d) => { d.addrs = Array.from({ length: 17 }, (_, i) => `/ip4/10.0.0.${i}/tcp/1`) }, /Not a valid/],
      ['addr 257 bytes', (d) => { d.addrs = [`/dns4/${'a'.repeat(240)}.example/tcp/1`.padEnd(257, 'x')] }, /1 to 256 bytes/],
      ['empty addr', (d) => { d.addrs = [''] }, /1 to 256 bytes/],
      ['not a multiaddr', (d) => { d.addrs = ['127.0.0.1:4001'] }, /not a multiaddr/],
      ['role 4', (d) => { d.roles = 4 }, /role bits/],
      ['no role', (d) => { d.roles = 0 }, /no role/],
      ['no onion key', (d) => { d.onionKeys = []; d.onionEpochs = [] }, /1 to 3 onion keys/],
      ['4 onion keys', (d) => { d.onionKeys = [1, 2, 3, 4].map((n) => onion(n) as Uint8Array<ArrayBuffer>); d.onionEpochs = [1, 2, 3, 4] }, /Not a valid/],
      ['onion key 31', (d) => { d.onionKeys = [onion(1).slice(1) as Uint8Array<ArrayBuffer>, onion(2) as Uint8Array<ArrayBuffer>] }, /not 32 bytes/],
      ['count mismatch', (d) => { d.onionEpochs = [41] }, /differ in count/],
      ['epochs not ascending', (d) => { d.onionEpochs = [42, 41] }, /ascending/],
      ['epochs repeated', (d) => { d.onionEpochs = [42, 42] }, /ascending/]
    ]
    for (const [name, edit, reason] of edits) {
      await assert.rejects(verifyDescriptor(await resign(edit), NOW), (err: Error & { code?: string }) => err.code === INVALID && reason.test(err.message), name)
    }
    const shortSig = MixDescriptor.decode(await sign())
    shortSig.signature = shortSig.signature.slice(0, 63)
    await assert.rejects(verifyDescriptor(MixDescriptor.encode(shortSig), NOW), expectCode(INVALID))
    await verifyDescriptor(await resign(() => {}), NOW) // the helper itself produces valid descriptors
  })

  it('checks the 4 KiB limit before decoding and refuses non-canonical encodings', async () => {
    await assert.rejects(verifyDescriptor(new Uint8Array(4097), NOW), (err: Error & { code?: string }) => err.code === INVALID && /exceeds 4096/.test(err.message))
    const bytes = await sign()
    await assert.rejects(verifyDescriptor(new Uint8Array([...bytes, 0x60, 0x01]), NOW), expectCode(INVALID)) // unknown field 12
    const packed = new Uint8Array([...bytes, 0x38, 0x03]) // a repeated roles field: decodes to the same value
    await assert.rejects(verifyDescriptor(packed, NOW), expectCode(INVALID))
  })

  it('signDescriptor refuses bad fields with UMBRA_ERR_INVALID_OPTION', async () => {
    const bad: Array<Partial<DescriptorFields>> = [
      { seq: 0 },
      { expiresAt: NOW },
      { expiresAt: NOW + 2 * MINUTE + 1 },
      { expiresAt: NOW + 48 * HOUR },
      { roles: 8 },
      { roles: 0 },
      { addrs: ['nope'] },
      { addrs: Array.from({ length: 17 }, () => '/ip4/1.2.3.4/tcp/1') },
      { onionKeys: [] },
      { onionKeys: [{ epoch: 1, key: onion(1) }, { epoch: 1, key: onion(2) }] },
      { onionKeys: [{ epoch: -1, key: onion(1) }] },
      { onionKeys: [{ epoch: 1, key: new Uint8Array(33) }] },
      // 16 addresses of 256 bytes each: valid one by one, but over 4 KiB together
      { addrs: Array.from({ length: 16 }, (_, i) => `/dns4/${String(i).padStart(243, 'a')}/tcp/1`) }
    ]
    for (const over of bad) await assert.rejects(sign(over), expectCode('UMBRA_ERR_INVALID_OPTION'), JSON.stringify(over).slice(0, 80))
    await assert.rejects(signDescriptor(await generateKeyPair('secp256k1'), fields), expectCode('UMBRA_ERR_INVALID_OPTION'))
    await verifyDescriptor(await sign({ roles: 0, withdrawn: true }), NOW) // a leaving node may drop every role
  })

  it('fuzz: the decoder only ever throws coded errors', { timeout: 30_000 }, async () => {
    const valid = await sign()
    const check = async (bytes: Uint8Array): Promise<void> => {
      try {
        await verifyDescriptor(bytes, NOW)
      } catch (err) {
        assert.ok(isCoded(err), `uncoded error: ${String(err)}`)
      }
    }
    const raw = fc.oneof(
      fc.uint8Array({ maxLength: 4200 }),
      fc.tuple(fc.nat({ max: valid.byteLength - 1 }), fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([at, b]) => {
        const out = new Uint8Array(valid)
        out.set(b.subarray(0, out.byteLength - at), at)
        return out
      }),
      fc.nat({ max: valid.byteLength }).map((n) => valid.subarray(0, n))
    )
    let deadline = Date.now() + 3000
    await fc.assert(fc.asyncProperty(raw, async (bytes) => {
      if (Date.now() < deadline) await check(bytes)
    }), { numRuns: 3000 })

    // structured descriptors with a valid signature, so every field check is reached
    const bytesOf = (n: number): fc.Arbitrary<Uint8Array<ArrayBuffer>> => fc.oneof(fc.uint8Array({ minLength: n, maxLength: n }), fc.uint8Array({ maxLength: n + 8 })) as fc.Arbitrary<Uint8Array<ArrayBuffer>>
    const structured = fc.record({
      version: fc.oneof(fc.constant(1), fc.nat({ max: 3 })),
      seq: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      issuedAt: fc.oneof(fc.constant(BigInt(NOW)), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
      life: fc.oneof(fc.constant(BigInt(MINUTE)), fc.bigInt({ min: 0n, max: 1n << 40n })),
      addrs: fc.array(fc.oneof(fc.constant('/ip4/1.2.3.4/tcp/5'), fc.string({ maxLength: 300 })), { maxLength: 18 }),
      roles: fc.oneof(fc.constant(1), fc.nat({ max: 0xffff_ffff })),
      onionEpochs: fc.array(fc.nat({ max: 0xffff_ffff }), { maxLength: 4 }),
      onionKeys: fc.array(bytesOf(32), { maxLength: 4 }),
      withdrawn: fc.boolean(),
      linkPort: fc.oneof(fc.constant(0), fc.constant(4000), fc.nat({ max: 0xffff_ffff }))
    })
    deadline = Date.now() + 3000
    await fc.assert(fc.asyncProperty(structured, async (s) => {
      if (Date.now() > deadline) return
      const expiresAt = s.issuedAt + s.life < 1n << 64n ? s.issuedAt + s.life : s.issuedAt
      const d: MixDescriptor = { ...s, expiresAt, nodeKey: nodeKey.publicKey.raw as Uint8Array<ArrayBuffer>, signature: new Uint8Array(0) }
      d.signature = (await nodeKey.sign(MixDescriptorSignable.encode({ ...d, domain: 'umbra/mix-descriptor/v1', signature: undefined } as Partial<MixDescriptorSignable>))) as Uint8Array<ArrayBuffer>
      await check(MixDescriptor.encode(d))
    }), { numRuns: 3000 })
  })
})

describe('descriptorTiming (issue 15: re-signing scaled to the directory)', () => {
  it('keeps 8 s / 25 s up to 1,000 nodes and grows to 40 s / 120 s', () => {
    for (const n of [0, 5, 20, 1000]) assert.deepEqual(descriptorTiming(n), { refreshMs: 8_000, lifetimeMs: 25_000 }, `${n} nodes`)
    assert.deepEqual(descriptorTiming(2000), { refreshMs: 16_000, lifetimeMs: 50_000 })
    assert.deepEqual(descriptorTiming(10_000), { refreshMs: 40_000, lifetimeMs: 120_000 })
  })
  it('never signs for longer than a verifier accepts, and always leaves a copy two intervals to spread', async () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 1_000_000 }), (n) => {
      const { refreshMs, lifetimeMs } = descriptorTiming(n)
      return lifetimeMs <= MAX_DESCRIPTOR_LIFETIME_MS && lifetimeMs >= 3 * refreshMs && n * 1000 / refreshMs <= Math.max(125, n / 40)
    }))
    // The longest timing signs a descriptor that verifyDescriptor accepts.
    const key = await generateKeyPair('Ed25519')
    const t = Date.now()
    const bytes = await signDescriptor(key, { seq: 1, issuedAt: t, expiresAt: t + descriptorTiming(1e6).lifetimeMs, addrs: ['/ip4/203.0.113.47/tcp/4001'], roles: ROLE_MIX, onionKeys: [{ epoch: 1, key: new Uint8Array(32) }] })
    assert.equal((await verifyDescriptor(bytes, t)).expiresAt, t + 120_000)
  })
})
