/**
 * Birthday-paradox punching (issue 17 item 2) without a NAT: the datagram
 * format (src/nat/birthday-wire.ts) and the probing engine
 * (src/nat/birthday.ts) on loopback. The NAT lab (birthday.labtest.ts) runs
 * the same code through real routers.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createSocket, type Socket } from 'node:dgram'
import { once } from 'node:events'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { BIRTHDAY_DATAGRAM_BYTES, decodeDatagram, deriveDatagramKey, encodeDatagram, type DatagramKind } from '../../src/nat/birthday-wire.ts'
import { bindPunchSocket, openBirthdaySockets, probeRandomPorts } from '../../src/nat/birthday.ts'

const KINDS: DatagramKind[] = ['open', 'probe', 'ack']

/** `n` sockets on consecutive loopback ports (so a probe range can cover exactly them), retried from another base when one is taken. */
async function consecutivePorts (n: number): Promise<number[]> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 20_000)
    const taken: Socket[] = []
    try {
      for (let i = 0; i < n; i++) {
        const s = createSocket('udp4')
        s.bind(base + i, '127.0.0.1')
        await once(s, 'listening')
        taken.push(s)
      }
      return taken.map((s) => s.address().port)
    } catch {
      // one port of the block was in use: try another block
    } finally {
      for (const s of taken) s.close()
    }
  }
  throw new Error('no free block of ports')
}

describe('birthday datagrams', () => {
  const key = deriveDatagramKey(randomBytes(32))

  it('round-trips every kind, 54 bytes each, and rejects the same datagram under another key', () => {
    const other = deriveDatagramKey(randomBytes(32))
    for (const kind of KINDS) {
      const wire = encodeDatagram(kind, key)
      assert.equal(wire.byteLength, BIRTHDAY_DATAGRAM_BYTES)
      assert.equal(decodeDatagram(wire, key), kind)
      assert.equal(decodeDatagram(wire, other), undefined)
    }
  })

  it('rejects any single flipped bit (magic, version, kind, random or MAC)', () => {
    const wire = encodeDatagram('probe', key)
    for (let bit = 0; bit < wire.byteLength * 8; bit++) {
      const bad = Buffer.from(wire)
      bad[bit >> 3] = (bad[bit >> 3] as number) ^ (1 << (bit & 7))
      assert.equal(decodeDatagram(bad, key), undefined, `bit ${bit}`)
    }
  })

  it('never throws and never accepts random bytes (fuzz, 3 s)', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 80 }), (bytes) => { assert.equal(decodeDatagram(bytes, key), undefined) }), { numRuns: 20_000, interruptAfterTimeLimit: 3000 })
  })

  it('derives the key only from a 32-byte secret', () => {
    assert.throws(() => deriveDatagramKey(randomBytes(16)), RangeError)
  })
})

describe('birthday probing on loopback', () => {
  it('the consistent side finds one of the randomising side\'s sockets; both learn the pair; the others close', async (t) => {
    const secret = randomBytes(32)
    const consistent = await bindPunchSocket('127.0.0.1')
    const ports = await consecutivePorts(32)
    const sockets = await openBirthdaySockets({ target: { host: '127.0.0.1', port: consistent.address().port }, key: deriveDatagramKey(secret), localPorts: ports, bindHost: '127.0.0.1' })
    try {
      assert.deepEqual(sockets.ports, ports)
      // Probing a range of 4 x 32 ports: about one probe in four hits.
      const range: [number, number] = [ports[0] as number, (ports[0] as number) + 4 * ports.length - 1]
      const hit = await probeRandomPorts({ socket: consistent, peerIp: '127.0.0.1', key: deriveDatagramKey(secret), intervalMs: 2, maxProbes: 500, portRange: range })
      const won = await sockets.won
      t.diagnostic(`pair after ${hit.count} probes, ${hit.elapsedMs.toFixed(1)} ms`)
      assert.equal(hit.remote.port, won.socket.address().port, 'the consistent side names the socket that answered')
      assert.equal(won.remote.port, consistent.address().port)
      assert.ok(ports.includes(hit.remote.port))
      // The losers are closed: a datagram to one of them finds no socket.
      const loser = ports.find((p) => p !== hit.remote.port) as number
      const probe = createSocket('udp4')
      probe.bind(loser, '127.0.0.1')
      await once(probe, 'listening')
      probe.close()
      won.socket.close()
    } finally {
      sockets.close()
      consistent.close()
    }
  })

  it('a probe under another secret never wins: the consistent side gives up after its probe budget (UMBRA_ERR_BIRTHDAY_EXHAUSTED)', async () => {
    const consistent = await bindPunchSocket('127.0.0.1')
    const ports = await consecutivePorts(8)
    const sockets = await openBirthdaySockets({ target: { host: '127.0.0.1', port: consistent.address().port }, key: deriveDatagramKey(randomBytes(32)), localPorts: ports, bindHost: '127.0.0.1' })
    try {
      await assert.rejects(probeRandomPorts({ socket: consistent, peerIp: '127.0.0.1', key: deriveDatagramKey(randomBytes(32)), intervalMs: 1, maxProbes: 40, portRange: [ports[0] as number, ports.at(-1) as number] }),
        { code: 'UMBRA_ERR_BIRTHDAY_EXHAUSTED' })
      assert.ok(sockets.stats.strays >= 30, `the randomising side ignored ${sockets.stats.strays} unauthentic probes`)
    } finally {
      sockets.close()
      consistent.close()
    }
    await assert.rejects(sockets.won, { code: 'UMBRA_ERR_ABORTED' })
  })

  it('an abort stops the probing (UMBRA_ERR_ABORTED) and bad options are coded errors', async () => {
    const consistent = await bindPunchSocket('127.0.0.1')
    try {
      const ac = new AbortController()
      const p = probeRandomPorts({ socket: consistent, peerIp: '127.0.0.1', key: deriveDatagramKey(randomBytes(32)), intervalMs: 5, portRange: [9, 9], signal: ac.signal })
      setTimeout(() => { ac.abort() }, 30)
      await assert.rejects(p, { code: 'UMBRA_ERR_ABORTED' })
      await assert.rejects(probeRandomPorts({ socket: consistent, peerIp: 'not-an-ip', key: deriveDatagramKey(randomBytes(32)) }), { code: 'UMBRA_ERR_INVALID_OPTION' })
      await assert.rejects(probeRandomPorts({ socket: consistent, peerIp: '127.0.0.1', key: deriveDatagramKey(randomBytes(32)), maxProbes: 5000 }), { code: 'UMBRA_ERR_INVALID_OPTION' })
      await assert.rejects(openBirthdaySockets({ target: { host: '127.0.0.1', port: 0 }, key: deriveDatagramKey(randomBytes(32)) }), { code: 'UMBRA_ERR_INVALID_OPTION' })
    } finally {
      consistent.close()
    }
  })
})
