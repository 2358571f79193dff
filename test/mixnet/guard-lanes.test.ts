/**
 * Guard lanes of the payload stream (issue 16; docs/mixnet.md "Layers and
 * guards"): the slots' first hops are spread over the first two primary
 * guards by a deficit scheduler, so a send whose gateway is one of them
 * does not move packets from one first link to the other.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { createLaneScheduler, createSendSchedule, MAX_LANE_DEBT, type BuiltPacket } from '../../src/mixnet/send-schedule.ts'
import { waitFor } from '../helpers/wait.ts'

const A = new Uint8Array(32).fill(1)
const B = new Uint8Array(32).fill(2)
const hex = (k: Uint8Array): string => Buffer.from(k).toString('hex')

describe('guard lanes of the payload stream', () => {
  it('keeps every lane within (lanes − 1) × max(1, debt) slots of its share, whatever packets must avoid (property)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 3 }),
      fc.array(fc.integer({ min: -1, max: 2 }), { minLength: 1, maxLength: 400 }),
      (n, avoids) => {
        const lanes = Array.from({ length: n }, (_, i) => `g${i}`)
        const s = createLaneScheduler()
        const count = new Map(lanes.map((l) => [l, 0]))
        let slots = 0
        for (const a of avoids) {
          const lane = s.next(lanes) as string
          // The slot's packet must avoid lane `a` (−1: nothing to avoid); it takes another lane only while that one may run ahead.
          let used = lane
          if (lanes[a] === lane) {
            const other = lanes.find((l) => l !== lane && s.canTake(l))
            used = other ?? lane // none may: the slot carries cover through its lane and the packet waits
          }
          s.charge(used)
          count.set(used, (count.get(used) as number) + 1)
          slots++
          for (const l of lanes) {
            const off = Math.abs((count.get(l) as number) - slots / n)
            if (off > (n - 1) * Math.max(1, MAX_LANE_DEBT) + 1e-9) return false
          }
        }
        return true
      }
    ), { seed: 16, numRuns: 300 })
  })

  it('each first link keeps its share of the stream idle and while every real packet must avoid the first guard', async (t) => {
    const RATE = 250
    const SLOTS = 300
    const sent: Array<{ first: string, real: boolean, gateway?: string }> = []
    let draws = 0
    const s = createSendSchedule({
      rate: RATE,
      capacity: 2000,
      // A seeded sequence of exponential gaps (mean 1/λ), so the run's slot count does not depend on a CSPRNG.
      expDraw: (mean) => { draws++; return -mean * Math.log(((draws * 0.6180339887) % 1) || 0.5) },
      lanes: () => [A, B],
      send: async (p: BuiltPacket) => { sent.push({ first: hex(p.first), real: p.packet[0] === 1, gateway: p.packet[0] === 1 ? hex(A) : undefined }) },
      cover: async (lane) => ({ first: lane ?? A, packet: new Uint8Array([0]) })
    })
    s.start()
    await waitFor(`${SLOTS} idle slots`, () => sent.length >= SLOTS, 10_000, 5)
    const idle = sent.slice(0, SLOTS)
    // Every real packet's gateway is guard A: it may never leave through A (a node twice on one path).
    const receipts: Array<Promise<unknown>> = []
    for (let i = 0; i < SLOTS; i++) receipts.push(s.submit(async (lane) => ({ first: lane != null && hex(lane) !== hex(A) ? lane : B, packet: new Uint8Array([1]) })))
    const start = sent.length
    await waitFor(`${SLOTS} sending slots`, () => sent.length >= start + SLOTS, 10_000, 5)
    const busy = sent.slice(start, start + SLOTS)
    s.stop()
    await Promise.allSettled(receipts)
    const share = (list: typeof sent, k: Uint8Array): number => list.filter((p) => p.first === hex(k)).length / list.length
    const realBusy = busy.filter((p) => p.real).length
    t.diagnostic(`${SLOTS} slots each: guard A ${share(idle, A).toFixed(3)} idle, ${share(busy, A).toFixed(3)} sending; guard B ${share(idle, B).toFixed(3)} idle, ${share(busy, B).toFixed(3)} sending; ${realBusy} real packets among the sending slots`)
    assert.equal(sent.filter((p) => p.real && p.first === p.gateway).length, 0, 'a real packet left through its own gateway')
    for (const k of [A, B]) {
      assert.ok(Math.abs(share(idle, k) - 0.5) <= 2 / SLOTS, `idle share ${share(idle, k)}`)
      assert.ok(Math.abs(share(busy, k) - 0.5) <= 2 / SLOTS, `sending share ${share(busy, k)}`)
    }
    // The real packets still flow, at the second lane's half of the stream.
    assert.ok(realBusy >= SLOTS / 2 - 2, `${realBusy} real packets in ${SLOTS} slots`)
  })
})
