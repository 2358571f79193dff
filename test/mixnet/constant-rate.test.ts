/**
 * Constant-rate sending (issue 16, item 1; docs/mixnet.md "Constant-rate
 * sending"): the payload stream of src/mixnet/send-schedule.ts emits the
 * same number of packets whether or not real packets wait, real packets take
 * cover's slots, the queue is bounded and says how long a message waits,
 * and `none` (rate 0) sends at once. The 2 × 60 s measurement over real
 * processes is in constant-rate.longtest.ts.
 */
import assert from 'node:assert/strict'
import { randomBytes, randomInt } from 'node:crypto'
import { describe, it } from 'node:test'
import { createSendSchedule, type BuiltPacket, type SendSchedule } from '../../src/mixnet/send-schedule.ts'
import { SendQueueFullError } from '../../src/mixnet/errors.ts'

const FIRST = new Uint8Array(32).fill(7)

/** An exponential draw with mean `mean` ms (what the node passes, from a CSPRNG). */
function expDraw (mean: number): number {
  return Math.round(-mean * Math.log(randomInt(1, 2 ** 47) / 2 ** 47))
}

function schedule (rate: number, capacity: number): { s: SendSchedule, sent: Array<{ at: number, cover: boolean }> } {
  const sent: Array<{ at: number, cover: boolean }> = []
  const s = createSendSchedule({
    rate,
    capacity,
    expDraw,
    send: async (p: BuiltPacket) => { sent.push({ at: performance.now(), cover: p.packet.byteLength === 1 }) },
    cover: async () => ({ first: FIRST, packet: new Uint8Array(1) })
  })
  return { s, sent }
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

describe('constant-rate payload stream', () => {
  it('emits the same packet rate idle and while sending; real packets replace cover', async (t) => {
    const RATE = 200
    const WINDOW_MS = 2_000
    const { s, sent } = schedule(RATE, 400)
    s.start()
    try {
      await sleep(WINDOW_MS)
      const idle = sent.length
      const idleCover = sent.filter((p) => p.cover).length
      const mark = sent.length
      // 150 real packets in one burst, then nothing: they wait their slots.
      s.reserve(150)
      const real = Array.from({ length: 150 }, async () => await s.submit(async () => ({ first: FIRST, packet: randomBytes(4096) }), true))
      await sleep(WINDOW_MS)
      const busy = sent.length - mark
      const busyReal = sent.slice(mark).filter((p) => !p.cover).length
      const waits = (await Promise.all(real)).map((r) => r.waitedMs)
      t.diagnostic(`idle: ${idle} packets in ${WINDOW_MS} ms (${idleCover} cover); sending: ${busy} packets (${busyReal} real, ${busy - busyReal} cover); expected ${RATE * WINDOW_MS / 1000} each; longest queue wait ${Math.round(Math.max(...waits))} ms`)
      assert.equal(idleCover, idle, 'idle: every packet is cover')
      assert.equal(busyReal, 150, 'every real packet went out in the second window')
      const expected = RATE * WINDOW_MS / 1000
      for (const n of [idle, busy]) assert.ok(Math.abs(n - expected) / expected < 0.25, `${n} packets, expected ${expected} ± 25 %`)
      assert.ok(Math.abs(busy - idle) / idle < 0.25, `the same rate idle (${idle}) and sending (${busy})`)
      assert.ok(Math.max(...waits) > 400, 'a burst waits for its slots instead of going out at once')
    } finally {
      s.stop()
    }
  })

  it('refuses a message the queue has no room for, saying how long until it fits', async () => {
    const { s } = schedule(10, 20)
    s.start()
    try {
      s.reserve(15)
      assert.throws(() => { s.reserve(10) }, (err: unknown) => {
        assert.ok(err instanceof SendQueueFullError)
        assert.equal(err.code, 'UMBRA_ERR_SEND_QUEUE_FULL')
        assert.equal(err.retryAfterMs, 500, '5 packets over at 10 packets/s')
        return true
      })
      s.release(15)
      s.reserve(20)
      assert.equal(s.state().capacity, 20)
      assert.equal(s.state().estimatedWaitMs, 100, 'one slot at 10 packets/s')
    } finally {
      s.stop()
    }
  })

  it('hands a build error to the caller and fills the slot with cover; stop rejects what waits', async () => {
    const { s, sent } = schedule(100, 50)
    s.start()
    await assert.rejects(s.submit(async () => { throw new Error('no path') }), /no path/)
    await sleep(50)
    assert.ok(sent.length > 0 && sent.every((p) => p.cover))
    const pending = s.submit(async () => ({ first: FIRST, packet: randomBytes(8) }))
    s.stop()
    await assert.rejects(pending, { code: 'UMBRA_ERR_ABORTED' })
  })

  it('sends at once with rate 0 (preset none): no queue, no cover', async () => {
    const { s, sent } = schedule(0, 0)
    s.start()
    const r = await s.submit(async () => ({ first: FIRST, packet: randomBytes(8) }))
    assert.equal(r.waitedMs, 0)
    assert.equal(sent.length, 1)
    s.reserve(10_000)
    await sleep(50)
    assert.equal(sent.length, 1, 'no cover')
    s.stop()
  })
})
