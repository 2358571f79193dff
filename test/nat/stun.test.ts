import assert from 'node:assert/strict'
import { createSocket, type Socket } from 'node:dgram'
import { once } from 'node:events'
import { after, describe, it } from 'node:test'
import fc from 'fast-check'
import { UmbraError } from '../../src/errors.ts'
import { DEFAULT_STUN_PORT, MAX_STUN_AMPLIFICATION, STUN_METHOD_BINDING } from '../../src/nat/constants.ts'
import { StunErrorResponseError, StunMalformedError, StunTimeoutError } from '../../src/nat/errors.ts'
import {
  createTransactionId,
  decodeStunMessage,
  encodeBindingRequest,
  encodeStunMessage,
  type StunClass,
  type StunMessageInit
} from '../../src/nat/stun.ts'
import { stunBinding } from '../../src/nat/stun-client.ts'
import { createStunServer, stunHostsForListen, type StunServer } from '../../src/nat/stun-server.ts'

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'))

/** RFC 5769 §2.1 Sample Request (SOFTWARE, PRIORITY, ICE-CONTROLLED, USERNAME, MESSAGE-INTEGRITY, FINGERPRINT). */
const RFC5769_REQUEST = hex(`
  000100582112a442b7e7a701bc34d686fa87dfae
  802200105354554e207465737420636c69656e74
  002400046e0001ff
  80290008932ff9b151263b36
  000600096576746a3a68367659202020
  000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2
  80280004e57a3bcf`)
/** RFC 5769 §2.2 Sample IPv4 Response: 192.0.2.1 port 32853, SOFTWARE "test vector". */
const RFC5769_IPV4_RESPONSE = hex(`
  0101003c2112a442b7e7a701bc34d686fa87dfae
  8022000b7465737420766563746f7220
  002000080001a147e112a643
  000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7
  80280004c07d4c96`)
/** RFC 5769 §2.3 Sample IPv6 Response: 2001:db8:1234:5678:11:2233:4455:6677 port 32853. */
const RFC5769_IPV6_RESPONSE = hex(`
  010100482112a442b7e7a701bc34d686fa87dfae
  8022000b7465737420766563746f7220
  002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d9
  00080014a382954e4be67bf11784c97c8292c275bfe3ed41
  80280004c8fb0b4c`)
const RFC5769_TRANSACTION_ID = hex('b7e7a701bc34d686fa87dfae')

/** Decoding either succeeds or throws StunMalformedError; anything else fails the property. */
function decodesOrCodedError (bytes: Uint8Array): void {
  try {
    decodeStunMessage(bytes)
  } catch (err) {
    assert.ok(err instanceof StunMalformedError, `unexpected ${String(err)}`)
    assert.equal(err.code, 'UMBRA_ERR_STUN_MALFORMED')
  }
}

async function boundSocket (type: 'udp4' | 'udp6' = 'udp4', address = type === 'udp4' ? '127.0.0.1' : '::1'): Promise<Socket> {
  const socket = createSocket(type)
  socket.bind(0, address)
  await once(socket, 'listening')
  return socket
}

async function closeSocket (socket: Socket): Promise<void> {
  await new Promise<void>((resolve) => { socket.close(() => { resolve() }) })
}

/** Collects datagrams arriving on `socket` for `ms`. */
async function collect (socket: Socket, ms: number): Promise<Buffer[]> {
  const got: Buffer[] = []
  const onMessage = (d: Buffer): void => { got.push(d) }
  socket.on('message', onMessage)
  await new Promise((resolve) => setTimeout(resolve, ms))
  socket.off('message', onMessage)
  return got
}

async function ipv6Loopback (): Promise<boolean> {
  try {
    await closeSocket(await boundSocket('udp6', '::1'))
    return true
  } catch {
    return false
  }
}

const servers: StunServer[] = []
async function startServer (init: Parameters<typeof createStunServer>[0]): Promise<StunServer> {
  const server = createStunServer(init)
  servers.push(server)
  await server.start()
  return server
}
after(async () => { await Promise.all(servers.map(async (s) => { await s.stop() })) })

describe('STUN codec (RFC 5389)', () => {
  it('round-trips every message it encodes', () => {
    const address = fc.oneof(
      fc.record({ address: fc.ipV4(), port: fc.integer({ min: 0, max: 65535 }), family: fc.constant('IPv4' as const) }),
      fc.record({ address: fc.ipV6(), port: fc.integer({ min: 0, max: 65535 }), family: fc.constant('IPv6' as const) })
    )
    const init = fc.record({
      method: fc.integer({ min: 0, max: 0xfff }),
      messageClass: fc.constantFrom<StunClass>('request', 'indication', 'success', 'error'),
      transactionId: fc.uint8Array({ minLength: 12, maxLength: 12 }),
      xorMappedAddress: fc.option(address, { nil: undefined }),
      mappedAddress: fc.option(address, { nil: undefined }),
      otherAddress: fc.option(address, { nil: undefined }),
      software: fc.option(fc.string({ maxLength: 100 }), { nil: undefined }),
      errorCode: fc.option(fc.record({ code: fc.integer({ min: 300, max: 699 }), reason: fc.string({ maxLength: 60 }) }), { nil: undefined }),
      unknownAttributes: fc.option(fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 9 }), { nil: undefined }),
      fingerprint: fc.boolean()
    }, { requiredKeys: ['method', 'messageClass', 'transactionId', 'fingerprint'] })
    fc.assert(fc.property(init, (msg: StunMessageInit) => {
      const wire = encodeStunMessage(msg)
      assert.equal(wire.length % 4, 0)
      const back = decodeStunMessage(wire)
      assert.equal(back.method, msg.method)
      assert.equal(back.messageClass, msg.messageClass)
      assert.deepEqual(back.transactionId, msg.transactionId)
      assert.equal(back.software, msg.software)
      assert.deepEqual(back.errorCode, msg.errorCode == null ? undefined : { ...msg.errorCode })
      assert.deepEqual(back.unknownAttributes, msg.unknownAttributes)
      assert.equal(back.fingerprint, msg.fingerprint)
      assert.deepEqual(back.unknownRequired, [])
      assert.equal(back.xorMappedAddress?.port, msg.xorMappedAddress?.port)
      assert.equal(back.xorMappedAddress?.family, msg.xorMappedAddress?.family)
      if (msg.xorMappedAddress?.family === 'IPv4') assert.equal(back.xorMappedAddress?.address, msg.xorMappedAddress.address)
      if (msg.mappedAddress?.family === 'IPv4') assert.equal(back.mappedAddress?.address, msg.mappedAddress.address)
      if (msg.otherAddress?.family === 'IPv4') assert.deepEqual(back.otherAddress, { ...msg.otherAddress })
      // IPv6 text is canonicalised (RFC 5952), so compare by re-encoding.
      assert.deepEqual(encodeStunMessage({ ...msg, ...back }), wire)
    }), { numRuns: 500, interruptAfterTimeLimit: 3000 })
  })

  it('encodes a Binding Request as the 28-byte header + FINGERPRINT of RFC 5389 §6, §15.5', () => {
    const id = createTransactionId()
    const wire = encodeBindingRequest(id)
    assert.equal(wire.length, 28)
    assert.deepEqual([...wire.subarray(0, 8)], [0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42])
    assert.deepEqual(wire.subarray(8, 20), id)
    assert.deepEqual([...wire.subarray(20, 24)], [0x80, 0x28, 0x00, 0x04])
    const msg = decodeStunMessage(wire)
    assert.equal(msg.method, STUN_METHOD_BINDING)
    assert.equal(msg.messageClass, 'request')
    assert.equal(msg.fingerprint, true)
  })

  it('RFC 5769 §2.2 sample IPv4 response: XOR-MAPPED-ADDRESS 192.0.2.1:32853, FINGERPRINT verifies', () => {
    const msg = decodeStunMessage(RFC5769_IPV4_RESPONSE)
    assert.equal(msg.method, STUN_METHOD_BINDING)
    assert.equal(msg.messageClass, 'success')
    assert.deepEqual(msg.transactionId, RFC5769_TRANSACTION_ID)
    assert.deepEqual(msg.xorMappedAddress, { address: '192.0.2.1', port: 32853, family: 'IPv4' })
    assert.equal(msg.software, 'test vector')
    assert.equal(msg.messageIntegrity, true)
    assert.equal(msg.fingerprint, true)
    assert.deepEqual(msg.unknownRequired, [])
  })

  it('RFC 5769 §2.3 sample IPv6 response: XOR-MAPPED-ADDRESS [2001:db8:1234:5678:11:2233:4455:6677]:32853, FINGERPRINT verifies', () => {
    const msg = decodeStunMessage(RFC5769_IPV6_RESPONSE)
    assert.equal(msg.messageClass, 'success')
    assert.deepEqual(msg.xorMappedAddress, { address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853, family: 'IPv6' })
    assert.equal(msg.software, 'test vector')
    assert.equal(msg.fingerprint, true)
  })

  it('RFC 5769 §2.1 sample request: FINGERPRINT verifies, PRIORITY is an unknown comprehension-required attribute', () => {
    const msg = decodeStunMessage(RFC5769_REQUEST)
    assert.equal(msg.messageClass, 'request')
    assert.equal(msg.software, 'STUN test client')
    assert.equal(msg.fingerprint, true)
    assert.deepEqual(msg.unknownRequired, [0x0024])
  })

  it('re-encoding the RFC 5769 IPv4 address gives the vector\'s XOR-MAPPED-ADDRESS bytes', () => {
    const wire = encodeStunMessage({
      method: STUN_METHOD_BINDING,
      messageClass: 'success',
      transactionId: RFC5769_TRANSACTION_ID,
      xorMappedAddress: { address: '192.0.2.1', port: 32853, family: 'IPv4' },
      fingerprint: false
    })
    assert.deepEqual(wire.subarray(20), RFC5769_IPV4_RESPONSE.subarray(36, 48))
  })

  it('refuses a flipped bit (FINGERPRINT), a wrong cookie, a lying length, a truncated attribute, an attribute after FINGERPRINT', () => {
    const bad: Array<[string, Uint8Array]> = []
    const flip = RFC5769_IPV4_RESPONSE.slice(); flip[30] = (flip[30] as number) ^ 1
    bad.push(['flipped bit', flip])
    const cookie = RFC5769_IPV4_RESPONSE.slice(); cookie[4] = 0
    bad.push(['cookie', cookie])
    bad.push(['length', RFC5769_IPV4_RESPONSE.subarray(0, RFC5769_IPV4_RESPONSE.length - 4)])
    const noFp = encodeStunMessage({ method: 1, messageClass: 'success', transactionId: createTransactionId(), xorMappedAddress: { address: '10.0.0.1', port: 1, family: 'IPv4' }, fingerprint: false })
    const truncated = noFp.slice(); truncated[23] = 12 // XOR-MAPPED-ADDRESS claims 12 bytes, 8 remain
    bad.push(['truncated attribute', truncated])
    const ipv4Length20 = noFp.slice(); ipv4Length20[25] = 0x02 // family IPv6 in an 8-byte value
    bad.push(['family/length mismatch', ipv4Length20])
    const withFp = encodeBindingRequest(createTransactionId())
    const after = new Uint8Array(withFp.length + 4); after.set(withFp); after[3] = 12; after.set([0x80, 0x22, 0x00, 0x00], withFp.length)
    bad.push(['attribute after FINGERPRINT', after])
    bad.push(['short', new Uint8Array(19)])
    bad.push(['too long', new Uint8Array(2000)])
    for (const [what, bytes] of bad) {
      assert.throws(() => decodeStunMessage(bytes), (err: unknown) => err instanceof StunMalformedError && err.code === 'UMBRA_ERR_STUN_MALFORMED', what)
    }
  })

  it('encoding invalid fields throws UMBRA_ERR_STUN_ENCODE', () => {
    const base = { method: 1, messageClass: 'request' as const, transactionId: createTransactionId() }
    const bad: StunMessageInit[] = [
      { ...base, transactionId: new Uint8Array(11) },
      { ...base, method: 0x1000 },
      { ...base, xorMappedAddress: { address: 'example.org', port: 1, family: 'IPv4' } },
      { ...base, xorMappedAddress: { address: '1.2.3.4', port: 70000, family: 'IPv4' } },
      { ...base, errorCode: { code: 200, reason: '' } },
      { ...base, software: 'x'.repeat(764) }
    ]
    for (const msg of bad) {
      assert.throws(() => encodeStunMessage(msg), (err: unknown) => err instanceof UmbraError && err.code === 'UMBRA_ERR_STUN_ENCODE')
    }
  })

  it('fuzzing: the decoder only ever returns a message or throws UMBRA_ERR_STUN_MALFORMED', () => {
    const valid = [RFC5769_REQUEST, RFC5769_IPV4_RESPONSE, RFC5769_IPV6_RESPONSE]
    // A correct header (cookie, length) over random attribute bytes reaches the attribute parsers.
    const framed = fc.tuple(fc.integer({ min: 0, max: 0x3fff }), fc.uint8Array({ maxLength: 300 })).map(([type, body]) => {
      const len = body.length - (body.length % 4)
      const out = new Uint8Array(20 + len)
      out.set([type >> 8, type & 0xff, len >> 8, len & 0xff, 0x21, 0x12, 0xa4, 0x42], 0)
      out.set(body.subarray(0, len), 20)
      return out
    })
    // Mutated vectors without their FINGERPRINT, so mutations reach the attribute parsers too.
    const mutated = fc.tuple(fc.constantFrom(...valid), fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { minLength: 1, maxLength: 6 }), fc.boolean())
      .map(([vector, edits, dropFingerprint]) => {
        const out = dropFingerprint ? vector.slice(0, vector.length - 8) : vector.slice()
        if (dropFingerprint) out[3] = (out[3] as number) - 8
        for (const [at, value] of edits) out[at % out.length] = value
        return out
      })
    const raw = fc.oneof(fc.uint8Array({ maxLength: 1500 }), framed, mutated)
    fc.assert(fc.property(raw, (bytes) => { decodesOrCodedError(bytes) }), { numRuns: 5000, interruptAfterTimeLimit: 3000 })
  })
})

describe('STUN server and client on 127.0.0.1', () => {
  it('answers a Binding Request with the client socket\'s own address and port', async () => {
    const server = await startServer({ host: '127.0.0.1', port: 0 })
    const { host, port } = server.address()
    assert.equal(host, '127.0.0.1')
    assert.ok(port > 0)
    const socket = await boundSocket()
    try {
      const mapped = await stunBinding({ host, port }, { socket, timeout: 2000 })
      assert.deepEqual(mapped, { address: '127.0.0.1', port: socket.address().port, family: 'IPv4' })
    } finally {
      await closeSocket(socket)
    }
    // Without a socket of its own, the client binds and closes an ephemeral one.
    const own = await stunBinding({ host: 'localhost', port }, { timeout: 2000 })
    assert.equal(own.address, '127.0.0.1')
    assert.ok(own.port > 0)
    assert.deepEqual(server.counters(), { requests: 2, responses: 2, malformed: 0, rateLimited: 0, ignored: 0, oversized: 0 })
  })

  it('counts garbage as malformed and keeps answering', async () => {
    const server = await startServer({ host: '127.0.0.1', port: 0 })
    const { port } = server.address()
    const socket = await boundSocket()
    try {
      const garbage = [
        new Uint8Array(0),
        new Uint8Array([1, 2, 3]),
        new Uint8Array(40).fill(0xff),
        RFC5769_IPV4_RESPONSE.slice(0, 30),
        Buffer.from('GET / HTTP/1.1\r\n\r\n')
      ]
      for (const g of garbage) socket.send(g, port, '127.0.0.1')
      // A well-formed response and an indication are not answered either.
      socket.send(RFC5769_IPV4_RESPONSE, port, '127.0.0.1')
      socket.send(encodeStunMessage({ method: STUN_METHOD_BINDING, messageClass: 'indication', transactionId: createTransactionId() }), port, '127.0.0.1')
      const unanswered = await collect(socket, 200)
      assert.equal(unanswered.length, 0)
      const mapped = await stunBinding({ host: '127.0.0.1', port }, { socket, timeout: 2000 })
      assert.equal(mapped.port, socket.address().port)
      assert.deepEqual(server.counters(), { requests: 1, responses: 1, malformed: garbage.length, rateLimited: 0, ignored: 2, oversized: 0 })
    } finally {
      await closeSocket(socket)
    }
  })

  it('answers a request with an unknown comprehension-required attribute with 420 and UNKNOWN-ATTRIBUTES (RFC 5389 §7.3.1)', async () => {
    const server = await startServer({ host: '127.0.0.1', port: 0 })
    const socket = await boundSocket()
    try {
      const answer = once(socket, 'message')
      socket.send(RFC5769_REQUEST, server.address().port, '127.0.0.1')
      const [datagram] = await answer as [Buffer]
      const msg = decodeStunMessage(datagram)
      assert.equal(msg.messageClass, 'error')
      assert.deepEqual(msg.transactionId, RFC5769_TRANSACTION_ID)
      assert.equal(msg.errorCode?.code, 420)
      assert.deepEqual(msg.unknownAttributes, [0x0024])
      assert.equal(msg.fingerprint, true)
      assert.ok(datagram.length <= RFC5769_REQUEST.length)
    } finally {
      await closeSocket(socket)
    }
  })

  it('drops what exceeds the per-source rate limit and answers again once tokens refill', async () => {
    const server = await startServer({ host: '127.0.0.1', port: 0, rateLimitPerSecond: 5 })
    const { port } = server.address()
    const socket = await boundSocket()
    try {
      const sent = 30
      for (let i = 0; i < sent; i++) socket.send(encodeBindingRequest(createTransactionId()), port, '127.0.0.1')
      const answers = await collect(socket, 300)
      const { rateLimited, responses } = server.counters()
      assert.ok(answers.length >= 5 && answers.length <= 7, `${answers.length} answers to a burst of ${sent}`)
      assert.equal(responses, answers.length)
      assert.equal(rateLimited, sent - responses)
      for (const a of answers) assert.ok(a.length <= 40, `response of ${a.length} bytes to a 28-byte request`)
      await new Promise((resolve) => setTimeout(resolve, 400)) // ≥ 2 tokens back at 5/s
      const mapped = await stunBinding({ host: '127.0.0.1', port }, { socket, timeout: 2000 })
      assert.equal(mapped.port, socket.address().port)
    } finally {
      await closeSocket(socket)
    }
  })

  it('answers over IPv6 with an IPv6 XOR-MAPPED-ADDRESS, and host "::" binds both families on one port', async (t) => {
    if (!await ipv6Loopback()) { t.skip('no IPv6 loopback here'); return }
    const server = await startServer({ host: '::', port: 0 })
    const { host, port } = server.address()
    assert.equal(host, '0.0.0.0')
    const v6 = await boundSocket('udp6', '::1')
    try {
      assert.deepEqual(await stunBinding({ host: '::1', port }, { socket: v6, timeout: 2000 }), { address: '::1', port: v6.address().port, family: 'IPv6' })
      const v4 = await stunBinding({ host: '127.0.0.1', port }, { timeout: 2000 })
      assert.equal(v4.family, 'IPv4')
    } finally {
      await closeSocket(v6)
    }
  })

  it('never answers more than MAX_STUN_AMPLIFICATION (2.2) times the request: header-only requests from IPv4 and IPv6, a 420 for one unknown attribute', async (t) => {
    assert.equal(MAX_STUN_AMPLIFICATION, 2.2)
    const v6ok = await ipv6Loopback()
    const server = await startServer({ host: v6ok ? ['127.0.0.1', '::1'] : '127.0.0.1', port: 0 })
    const { port } = server.address()
    const header = (id: Uint8Array): Uint8Array => encodeStunMessage({ method: STUN_METHOD_BINDING, messageClass: 'request', transactionId: id, fingerprint: false })
    // A request with a single unknown comprehension-required attribute (0x0024 PRIORITY) of 0 bytes: 24 bytes.
    const unknown420 = (id: Uint8Array): Uint8Array => {
      const out = new Uint8Array(24)
      out.set(header(id).subarray(0, 20), 0)
      out[3] = 4
      out.set([0x00, 0x24, 0x00, 0x00], 20)
      return out
    }
    const ratios: string[] = []
    const probe = async (family: 'udp4' | 'udp6', bytes: Uint8Array, label: string): Promise<void> => {
      const socket = await boundSocket(family, family === 'udp6' ? '::1' : '127.0.0.1')
      try {
        const answer = once(socket, 'message')
        socket.send(bytes, port, family === 'udp6' ? '::1' : '127.0.0.1')
        const [datagram] = await answer as [Buffer]
        const ratio = datagram.length / bytes.length
        ratios.push(`${label} ${datagram.length}/${bytes.length} = ${ratio.toFixed(2)}`)
        assert.ok(ratio <= MAX_STUN_AMPLIFICATION, `${label}: ${datagram.length} bytes answer a ${bytes.length}-byte request`)
      } finally {
        await closeSocket(socket)
      }
    }
    await probe('udp4', header(createTransactionId()), 'IPv4 header-only')
    await probe('udp4', unknown420(createTransactionId()), 'IPv4 420')
    if (v6ok) {
      await probe('udp6', header(createTransactionId()), 'IPv6 header-only')
      await probe('udp6', unknown420(createTransactionId()), 'IPv6 420')
    } else {
      t.diagnostic('no IPv6 loopback: IPv6 probes skipped')
    }
    t.diagnostic(`response/request bytes: ${ratios.join('; ')} (before: a 420 was 56/24 = 2.33)`)
  })

  it('adds OTHER-ADDRESS (RFC 5780 §7.4) only where the answer stays within the bound: to an IPv4 header-only request (44/20 bytes), not to an IPv6 one', async (t) => {
    const v6ok = await ipv6Loopback()
    const other = { address: '127.0.0.2', port: 3479, family: 'IPv4' as const }
    const server = await startServer({ host: v6ok ? ['127.0.0.1', '::1'] : '127.0.0.1', port: 0, otherAddress: () => other })
    const { port } = server.address()
    const v4 = await stunBinding({ host: '127.0.0.1', port }, { timeout: 2000 })
    assert.deepEqual(v4.other, other)
    const socket = await boundSocket('udp4')
    try {
      const answer = once(socket, 'message')
      socket.send(encodeStunMessage({ method: STUN_METHOD_BINDING, messageClass: 'request', transactionId: createTransactionId(), fingerprint: false }), port, '127.0.0.1')
      const [datagram] = await answer as [Buffer]
      assert.equal(datagram.length, 44)
      assert.deepEqual(decodeStunMessage(datagram).otherAddress, other)
    } finally {
      await closeSocket(socket)
    }
    if (v6ok) {
      const v6 = await stunBinding({ host: '::1', port }, { timeout: 2000 })
      assert.equal(v6.other, undefined, 'an IPv6 answer with OTHER-ADDRESS would be 56 bytes to a 20-byte request')
    } else t.diagnostic('no IPv6 loopback: IPv6 case skipped')
  })

  it('binds every address of a list on one port; a node defaults to its listen IPs', async (t) => {
    assert.deepEqual(stunHostsForListen(['/ip4/127.0.0.1/tcp/4001', '/ip4/127.0.0.1/tcp/4002/ws']), ['127.0.0.1'])
    assert.deepEqual(stunHostsForListen(['/ip4/0.0.0.0/tcp/4001', '/ip6/::/tcp/4001']), ['0.0.0.0', '::'])
    assert.deepEqual(stunHostsForListen(['/dns4/example.org/tcp/4001']), ['0.0.0.0'])
    if (!await ipv6Loopback()) { t.skip('no IPv6 loopback here'); return }
    const server = await startServer({ host: ['127.0.0.1', '::1'], port: 0 })
    const { host, port } = server.address()
    assert.equal(host, '127.0.0.1')
    const v6 = await boundSocket('udp6', '::1')
    try {
      assert.deepEqual(await stunBinding({ host: '::1', port }, { socket: v6, timeout: 2000 }), { address: '::1', port: v6.address().port, family: 'IPv6' })
      assert.equal((await stunBinding({ host: '127.0.0.1', port }, { timeout: 2000 })).family, 'IPv4')
    } finally {
      await closeSocket(v6)
    }
  })

  it('start() and stop() are idempotent, address() before start throws UMBRA_ERR_NOT_STARTED, bad options throw UMBRA_ERR_INVALID_OPTION', async () => {
    const server = createStunServer({ host: '127.0.0.1', port: 0 })
    assert.throws(() => server.address(), { code: 'UMBRA_ERR_NOT_STARTED' })
    await Promise.all([server.start(), server.start()])
    const { port } = server.address()
    await server.stop()
    await server.stop()
    assert.throws(() => server.address(), { code: 'UMBRA_ERR_NOT_STARTED' })
    // The port is released: a new socket can take it.
    const socket = createSocket('udp4')
    socket.bind(port, '127.0.0.1')
    await once(socket, 'listening')
    await closeSocket(socket)
    assert.equal(DEFAULT_STUN_PORT, 3478)
    for (const init of [{ host: 'localhost' }, { host: [] }, { host: ['127.0.0.1', 'nope'] }, { port: -1 }, { port: 1.5 }, { rateLimitPerSecond: 0 }, { rateLimitPerSecond: Number.NaN }]) {
      assert.throws(() => createStunServer(init), { code: 'UMBRA_ERR_INVALID_OPTION' }, JSON.stringify(init))
    }
  })
})

describe('STUN client against scripted servers', () => {
  it('retransmits with a doubling RTO (RFC 5389 §7.2.1) and then throws UMBRA_ERR_STUN_TIMEOUT', async () => {
    const silent = await boundSocket()
    const arrivals: number[] = []
    const start = performance.now()
    silent.on('message', () => { arrivals.push(performance.now() - start) })
    try {
      await assert.rejects(stunBinding({ host: '127.0.0.1', port: silent.address().port }, { rto: 40, maxTransmissions: 4, timeout: 5000 }),
        (err: unknown) => err instanceof StunTimeoutError && err.code === 'UMBRA_ERR_STUN_TIMEOUT')
      const elapsed = performance.now() - start
      assert.equal(arrivals.length, 4)
      // Sent at 0, 40, 120, 280 ms; gave up 16 RTO = 640 ms after the last.
      const gaps = arrivals.slice(1).map((a, i) => a - (arrivals[i] as number))
      assert.ok(gaps[1]! > gaps[0]! * 1.5 && gaps[2]! > gaps[1]! * 1.5, `gaps ${gaps.map(Math.round).join(', ')} ms do not double`)
      assert.ok(elapsed >= 900 && elapsed < 2000, `gave up after ${Math.round(elapsed)} ms`)
      // The overall timeout bounds the schedule.
      await assert.rejects(stunBinding({ host: '127.0.0.1', port: silent.address().port }, { timeout: 150 }), { code: 'UMBRA_ERR_STUN_TIMEOUT' })
    } finally {
      await closeSocket(silent)
    }
  })

  it('ignores unrelated datagrams, throws UMBRA_ERR_STUN_MALFORMED for a broken answer and UMBRA_ERR_STUN_ERROR_RESPONSE for an error response', async () => {
    const fake = await boundSocket()
    let mode: 'broken' | 'error' | 'mapped-only' = 'broken'
    fake.on('message', (datagram, rinfo) => {
      const request = decodeStunMessage(datagram)
      const reply = (bytes: Uint8Array): void => { fake.send(bytes, rinfo.port, rinfo.address) }
      reply(new Uint8Array([9, 9, 9])) // noise first: must be ignored
      reply(encodeStunMessage({ method: 1, messageClass: 'success', transactionId: createTransactionId(), xorMappedAddress: { address: '6.6.6.6', port: 6, family: 'IPv4' } }))
      if (mode === 'error') {
        reply(encodeStunMessage({ method: 1, messageClass: 'error', transactionId: request.transactionId, errorCode: { code: 420, reason: 'Unknown Attribute' } }))
      } else if (mode === 'mapped-only') {
        reply(encodeStunMessage({ method: 1, messageClass: 'success', transactionId: request.transactionId, mappedAddress: { address: '198.51.100.9', port: 4242, family: 'IPv4' } }))
      } else {
        const good = encodeStunMessage({ method: 1, messageClass: 'success', transactionId: request.transactionId, xorMappedAddress: { address: '1.2.3.4', port: 5, family: 'IPv4' } })
        good[good.length - 1] = (good[good.length - 1] as number) ^ 0xff
        reply(good)
      }
    })
    const server = { host: '127.0.0.1', port: fake.address().port }
    try {
      await assert.rejects(stunBinding(server, { timeout: 2000 }), (err: unknown) => err instanceof StunMalformedError && err.code === 'UMBRA_ERR_STUN_MALFORMED')
      mode = 'error'
      await assert.rejects(stunBinding(server, { timeout: 2000 }), (err: unknown) => err instanceof StunErrorResponseError && err.code === 'UMBRA_ERR_STUN_ERROR_RESPONSE' && err.stunCode === 420)
      mode = 'mapped-only'
      assert.deepEqual(await stunBinding(server, { timeout: 2000 }), { address: '198.51.100.9', port: 4242, family: 'IPv4' })
    } finally {
      await closeSocket(fake)
    }
  })

  it('aborts with UMBRA_ERR_ABORTED and leaves a borrowed socket open', async () => {
    const silent = await boundSocket()
    const mine = await boundSocket()
    try {
      const controller = new AbortController()
      const pending = stunBinding({ host: '127.0.0.1', port: silent.address().port }, { socket: mine, signal: controller.signal })
      setTimeout(() => { controller.abort() }, 30)
      await assert.rejects(pending, { code: 'UMBRA_ERR_ABORTED' })
      assert.equal(mine.listenerCount('message'), 0)
      assert.ok(mine.address().port > 0) // still open
      await assert.rejects(stunBinding({ host: '127.0.0.1', port: 0 }), { code: 'UMBRA_ERR_INVALID_OPTION' })
    } finally {
      await closeSocket(silent)
      await closeSocket(mine)
    }
  })
})

describe('STUN interop: WebRTC ICE (libjuice through node-datachannel)', () => {
  it('gathers a server-reflexive candidate from the Umbra STUN server (its answers carry OTHER-ADDRESS, as a two-address server\'s do)', async (t) => {
    let ndc: typeof import('node-datachannel')
    try {
      ndc = await import('node-datachannel')
    } catch {
      t.skip('node-datachannel is not installed')
      return
    }
    const server = await startServer({ host: '127.0.0.1', port: 0, otherAddress: () => ({ address: '127.0.0.2', port: 3479, family: 'IPv4' }) })
    const { port } = server.address()
    const pc = new ndc.PeerConnection('umbra-stun-interop', { iceServers: [`stun:127.0.0.1:${port}`] })
    const srflx = new Promise<string>((resolve) => {
      pc.onLocalCandidate((candidate) => { if (/ typ srflx /.test(candidate)) resolve(candidate) })
    })
    const dc = pc.createDataChannel('gather')
    let timer: ReturnType<typeof setTimeout> | undefined
    try {
      const candidate = await Promise.race([srflx, new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => { reject(new Error('no srflx candidate within 5 s')) }, 5000)
      })])
      // a=candidate:<foundation> 1 UDP <priority> 127.0.0.1 <port> typ srflx raddr … rport …
      assert.match(candidate, / 127\.0\.0\.1 \d+ typ srflx /)
      assert.ok(server.counters().requests >= 1)
      assert.equal(server.counters().responses, server.counters().requests)
      assert.equal(server.counters().malformed, 0)
    } finally {
      clearTimeout(timer)
      dc.close()
      pc.close()
      // libdatachannel aborts the process if cleaned up while closing.
      await new Promise((resolve) => setTimeout(resolve, 200))
      ndc.cleanup()
    }
  })
})
