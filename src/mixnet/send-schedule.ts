/**
 * Constant-rate sending (issue 16, item 1; Loopix, Piotrowska et al. 2017,
 * section 4.2 "payload messages"; Nym's client "Poisson process" sender):
 * with a rate λ > 0 the node emits one packet at each event of a Poisson
 * process of rate λ. At each event the oldest queued packet goes out; with
 * none queued, a cover packet does. So an observer of the node's first link
 * sees the same packet rate whether or not the node sends: a real packet
 * takes the place of the next scheduled cover packet. Loop and drop cover
 * run on their own Poisson processes beside it (mixnet-service.ts).
 *
 * Jobs are builders, not packets: a packet is built at its slot, so a packet
 * that waited in the queue still carries the current epoch's keys and a
 * first hop chosen at sending time.
 *
 * **Guard lanes.** Each slot is assigned a first hop (a lane: one of the
 * node's first {@link GUARD_LANES} usable primary guards) by a deficit
 * scheduler ({@link createLaneScheduler}) that gives every lane an equal
 * share of the slots, and the slot's packet is built for it. A real packet
 * that cannot use its slot's lane (its gateway is that guard: a node never
 * appears twice in a path) leaves through another lane, and the skipped
 * lane gets the next slot; a packet that would put a lane more than
 * {@link MAX_LANE_DEBT} slots ahead of its share waits for a slot of its
 * own lane while cover fills the others. So each first link's share of the
 * stream stays within a slot or two of its target whether the node sends
 * or not (issue 16: before, a send whose gateway was the first guard moved
 * packets onto the second link while it lasted).
 *
 * With λ = 0 (preset `none`) a job runs at once: no queue, no cover.
 */
import { AbortedError } from '../errors.ts'
import { SendQueueFullError } from './errors.ts'
import { nodeKeyHex as hex } from './topology.ts'

/** First hops (primary guards) the payload stream's slots are spread over, in equal shares (issue 16; docs/mixnet.md "Layers and guards"). */
export const GUARD_LANES = 2
/**
 * Most slots a lane may run ahead of its share when a real packet that must
 * avoid another lane takes it; beyond, the packet waits for its lane's slot.
 * Bounds every lane's slot count within (GUARD_LANES − 1) × MAX_LANE_DEBT of
 * its share at every moment (see {@link createLaneScheduler}).
 */
export const MAX_LANE_DEBT = 1

/**
 * A deficit round-robin over lanes (first hops, keys hex) with equal shares:
 * at each slot every lane is credited 1/n (n lanes) and the lane with the
 * most credit gets the slot (the first listed on a tie); the lane a slot's
 * packet actually left through is charged 1. Credits sum to 0, and the
 * chosen lane's credit is at least 1/n before its charge, so as long as a
 * lane is charged out of turn only while {@link LaneScheduler.canTake}
 * allows it, every credit stays in [−max(1, maxDebt), (n − 1) · max(1, maxDebt)]:
 * after N slots each lane carried N/n slots within that bound.
 * A lane set that changes (a guard gone) keeps the credits of lanes that stay; new lanes start at 0.
 */
export interface LaneScheduler {
  /** Credits every lane of `lanes` for one slot and returns the lane the slot is for (undefined with no lanes). */
  next: (lanes: readonly string[]) => string | undefined
  /** The slot's packet left through `key`: charges it 1 (a key that is no lane gives the slot's credit back). */
  charge: (key: string) => void
  /** Whether `key` (a lane, not the slot's) may take this slot without running more than `maxDebt` ahead of its share. */
  canTake: (key: string) => boolean
  /** Whether `key` is a current lane. */
  isLane: (key: string) => boolean
}

/** Creates a {@link LaneScheduler}; `maxDebt` defaults to {@link MAX_LANE_DEBT}. */
export function createLaneScheduler (maxDebt: number = MAX_LANE_DEBT): LaneScheduler {
  let credit = new Map<string, number>()
  return {
    next (lanes) {
      if (lanes.length === 0) { credit = new Map(); return undefined }
      const next = new Map<string, number>()
      let best: string | undefined
      for (const k of lanes) {
        const c = (credit.get(k) ?? 0) + 1 / lanes.length
        next.set(k, c)
        if (best === undefined || c > (next.get(best) as number) + 1e-9) best = k
      }
      credit = next
      return best
    },
    charge (key) {
      const c = credit.get(key)
      if (c !== undefined) { credit.set(key, c - 1); return }
      for (const [k, v] of credit) credit.set(k, v - 1 / credit.size)
    },
    canTake (key) {
      const c = credit.get(key)
      return c === undefined || c - 1 >= -maxDebt - 1e-9
    },
    isLane (key) { return credit.has(key) }
  }
}

/** A packet ready for its first link. */
export interface BuiltPacket {
  /** Node key of the first hop, 32 bytes. */
  first: Uint8Array
  /** The Sphinx packet, 4,096 bytes. */
  packet: Uint8Array
}

/** Options of {@link createSendSchedule}. */
export interface SendScheduleInit {
  /** Packets per second (the Poisson rate λ); 0 turns the schedule off (jobs run at once). */
  rate: number
  /** Most packets waiting for a slot; {@link SendSchedule.reserve} refuses beyond it. */
  capacity: number
  /** Writes a built packet to its first link; rejects when the link cannot be reached. */
  send: (p: BuiltPacket) => Promise<void>
  /** Builds the cover packet that fills a slot with nothing queued (a drop cover packet) through `lane` when given, or rejects (no directory yet). */
  cover: (lane?: Uint8Array) => Promise<BuiltPacket>
  /**
   * The lanes, asked at every slot: the first hops (node keys, 32 bytes) the
   * slots are spread over in equal shares, the first {@link GUARD_LANES}
   * usable primary guards. Absent or empty: no lanes (each build picks its first hop).
   */
  lanes?: () => Uint8Array[]
  /** A cover packet was sent in a slot. */
  onCover?: () => void
  /** An exponential draw with the given mean, ms (CSPRNG in the node; tests may pass another). */
  expDraw: (meanMs: number) => number
  /** Errors of cover packets (logged by the caller). */
  onError?: (err: Error) => void
}

/** The schedule's queue as the API reports it. */
export interface SendQueueState {
  /** Packets per second of the schedule (λ); 0 when off. */
  rate: number
  /** Packets waiting for a slot. */
  queued: number
  /** Most packets that may wait. */
  capacity: number
  /** Expected wait of a packet queued now, ms (queued + 1 slots at mean 1/λ each). */
  estimatedWaitMs: number
}

/** The constant-rate sender (see the module comment). */
export interface SendSchedule {
  /**
   * Queues `build` for the next free slot and resolves when its packet was
   * written to the first link (with the time it waited, ms). The build's or
   * the link's error rejects it (the slot then carries a cover packet).
   * @param reserved - the packet's room was reserved with {@link reserve}; otherwise it must fit `2 × capacity` (retransmissions, replies, acknowledgements)
   * @throws UMBRA_ERR_SEND_QUEUE_FULL (unreserved, over twice the capacity), UMBRA_ERR_ABORTED (stopped)
   */
  submit: (build: (lane?: Uint8Array) => Promise<BuiltPacket>, reserved?: boolean) => Promise<{ waitedMs: number, first: Uint8Array }>
  /**
   * Reserves room for `packets` packets that the caller submits next (a
   * message's fragments), so a message is admitted whole or not at all.
   * @throws UMBRA_ERR_SEND_QUEUE_FULL with `retryAfterMs` (the expected time until it fits) when the queue lacks the room
   */
  reserve: (packets: number) => void
  /** Gives back reserved room that will not be used (a send that failed before submitting every fragment). */
  release: (packets: number) => void
  state: () => SendQueueState
  start: () => void
  /** Stops the clock; queued jobs reject with UMBRA_ERR_ABORTED. */
  stop: () => void
}

/**
 * How far behind the clock may fall and still catch up, ms: at least 10
 * mean gaps and at least 5 s. A process starved of CPU (a loaded host, a
 * long GC) sends the events it missed when it runs again, so its long-run
 * rate holds; after a longer stall the process restarts from now. The
 * observer sees a gap and a burst either way, whether the node sends or not.
 */
const MAX_CATCH_UP_SLOTS = 10
const MAX_CATCH_UP_MIN_MS = 5_000

/** A Poisson process placed on the clock (see {@link createPoissonClock}). */
export interface PoissonClock {
  /** Restarts the process from now. */
  reset: () => void
  /** Draws the next event and returns how long to wait for it from now, ms (0 when it is already due). */
  nextDelay: () => number
}

/**
 * Events of a Poisson process with mean gap `meanMs`, placed on the clock
 * (performance.now()) rather than chained from timer to timer: a timer that
 * fires late shortens the next wait, so lateness does not lower the rate.
 * After a stall longer than MAX_CATCH_UP_SLOTS mean gaps (and 5 s) the
 * process restarts from now instead of sending a longer burst. Used by the payload stream and by
 * the loop and drop cover streams (mixnet-service.ts).
 * @param draw - an exponential draw with the given mean, ms
 */
export function createPoissonClock (meanMs: number, draw: (meanMs: number) => number): PoissonClock {
  let nextAt = performance.now()
  return {
    reset () { nextAt = performance.now() },
    nextDelay () {
      const now = performance.now()
      if (nextAt < now - Math.max(MAX_CATCH_UP_SLOTS * meanMs, MAX_CATCH_UP_MIN_MS)) nextAt = now
      nextAt += draw(meanMs)
      return Math.max(0, nextAt - now)
    }
  }
}

interface Job {
  /** Builds the packet, through `lane` (the slot's first hop) when the packet can use it. */
  build: (lane?: Uint8Array) => Promise<BuiltPacket>
  queuedAt: number
  resolve: (v: { waitedMs: number, first: Uint8Array }) => void
  reject: (err: Error) => void
}

/** Creates a constant-rate sender; see the module comment. */
export function createSendSchedule (init: SendScheduleInit): SendSchedule {
  const { rate, capacity } = init
  const queue: Job[] = []
  let reserved = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  let running = false
  const slotMs = rate > 0 ? 1000 / rate : 0

  const lanes = createLaneScheduler()
  /** A built real packet waiting for a slot of its own lane (at most one: while it waits, other slots carry cover). */
  let held: { job: Job, built: BuiltPacket } | undefined

  const sendJob = async (job: Job, built: BuiltPacket): Promise<void> => {
    lanes.charge(hex(built.first))
    try {
      await init.send(built)
      job.resolve({ waitedMs: performance.now() - job.queuedAt, first: built.first })
    } catch (err) {
      job.reject(err as Error)
    }
  }

  const fire = async (): Promise<void> => {
    const laneKeys = init.lanes?.() ?? []
    const lane = lanes.next(laneKeys.map(hex))
    const laneKey = laneKeys.find((k) => hex(k) === lane)
    if (held != null) {
      // The waiting packet goes in a slot of its lane, or at once when its first hop is no lane any more (a guard gone).
      const h = held
      if (hex(h.built.first) === lane || !lanes.isLane(hex(h.built.first))) {
        held = undefined
        await sendJob(h.job, h.built)
        return
      }
    } else {
      const job = queue.shift()
      if (job != null) {
        let built: BuiltPacket | undefined
        try {
          built = await job.build(laneKey)
        } catch (err) {
          job.reject(err as Error)
        }
        if (built != null) {
          const used = hex(built.first)
          if (used === lane || !lanes.isLane(used) || lanes.canTake(used)) { await sendJob(job, built); return }
          held = { job, built }
        }
      }
    }
    // Nothing queued, the real packet could not be built, or it waits for its lane: the slot carries cover.
    const cover = await init.cover(laneKey)
    lanes.charge(hex(cover.first))
    await init.send(cover)
    init.onCover?.()
  }

  const clock = createPoissonClock(slotMs, init.expDraw)
  const tick = (): void => {
    if (!running) return
    timer = setTimeout(() => {
      void fire().catch((err: Error) => { init.onError?.(err) })
      tick()
    }, clock.nextDelay())
    timer.unref?.()
  }

  const waitMs = (packets: number): number => Math.round(packets * slotMs)

  return {
    async submit (build, isReserved = false) {
      if (rate <= 0) {
        const built = await build()
        await init.send(built)
        return { waitedMs: 0, first: built.first }
      }
      if (isReserved) reserved = Math.max(0, reserved - 1)
      if (!running) throw new AbortedError('The mixnet is stopped')
      if (!isReserved && queue.length >= 2 * capacity) {
        throw new SendQueueFullError(`The send queue holds ${queue.length} packets (at ${rate} packets/s); retry in about ${waitMs(queue.length - 2 * capacity + 1)} ms`, { retryAfterMs: waitMs(queue.length - 2 * capacity + 1) })
      }
      return await new Promise((resolve, reject) => {
        queue.push({ build, queuedAt: performance.now(), resolve, reject })
      })
    },
    reserve (packets) {
      if (rate <= 0) return
      const busy = queue.length + reserved
      if (busy + packets > capacity) {
        const retryAfterMs = waitMs(busy + packets - capacity)
        throw new SendQueueFullError(`The send queue has room for ${Math.max(0, capacity - busy)} of the ${packets} packets this message needs (${capacity} at most, sent at ${rate} packets/s); retry in about ${retryAfterMs} ms`, { retryAfterMs })
      }
      reserved += packets
    },
    release (packets) {
      reserved = Math.max(0, reserved - packets)
    },
    state () {
      return { rate, queued: queue.length + (held != null ? 1 : 0), capacity: rate > 0 ? capacity : 0, estimatedWaitMs: rate > 0 ? waitMs(queue.length + 1) : 0 }
    },
    start () {
      if (running || rate <= 0) return
      running = true
      clock.reset()
      tick()
    },
    stop () {
      running = false
      clearTimeout(timer)
      for (const job of queue.splice(0)) job.reject(new AbortedError('The mixnet stopped before this packet was sent'))
      held?.job.reject(new AbortedError('The mixnet stopped before this packet was sent'))
      held = undefined
      reserved = 0
    }
  }
}
