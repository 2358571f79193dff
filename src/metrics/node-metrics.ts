import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { isRelayedAddr } from '../nat/nat-service.ts'
import { QUOTA_KINDS, type QuotaSnapshot } from '../quota.ts'
import {
  API_BUCKETS_S,
  CONNECTION_PATHS,
  DELIVERY_PATHS,
  DHT_BUCKETS_S,
  DHT_OPS,
  DHT_OUTCOMES,
  HOLE_PUNCH_RESULTS,
  MIX_DROP_REASONS,
  PROMETHEUS_CONTENT_TYPE,
  SEND_KINDS,
  SPHINX_BUCKETS_S,
  UNMATCHED_ROUTE,
  type DeliveryPath,
  type DhtOp,
  type DhtOutcome,
  type HolePunchOutcome,
  type MixDropReason,
  type SendKind
} from './constants.ts'
import { libp2pMetrics, type Libp2pMetricsFactory } from './libp2p.ts'
import type { MetricsRecorder } from './recorder.ts'
import type { GatewayUsage } from '../mixnet/mixnet-service.ts'
import type { MixnetCounters } from '../mixnet/types.ts'
import type { PubSubStats } from '../pubsub/pubsub-service.ts'

/**
 * What the node's metrics read at each scrape: the counters the subsystems
 * keep already (no increment is duplicated). Given to
 * {@link NodeMetrics.attach} once the node's services exist.
 */
export interface MetricsSources {
  /** Remote addresses of the open connections (libp2p `getConnections()`). */
  connections: () => Array<{ remoteAddr: { toString(): string } }>
  /** The mixnet's counters and, on a server, its gateway's mailboxes. */
  mixnet?: { counters(): MixnetCounters, gatewayUsage(): GatewayUsage | undefined }
  /** Quota refusals by kind (src/quota.ts). */
  quotas?: { snapshot(): QuotaSnapshot }
  /** Pub/sub counters (src/pubsub). */
  pubsub?: { stats(): PubSubStats }
}

const MS_PER_S = 1000
const DROP_REASON_SET: ReadonlySet<string> = new Set(MIX_DROP_REASONS)

/** Hands a read value to the metric: `set(labels, value)`. */
type Reader<L extends string> = (set: (labels: Partial<Record<L, string>>, value: number) => void) => void

/**
 * A metric whose values are read from a subsystem at each scrape: a counter
 * (from a total the subsystem keeps, monotonic) or a gauge. Registered in
 * `registry` only.
 */
function readMetric<L extends string> (kind: 'counter' | 'gauge', registry: Registry, name: string, help: string, labelNames: readonly L[], read: Reader<L>): Counter<L> | Gauge<L> {
  const config = { name, help, labelNames, registers: [registry] }
  if (kind === 'gauge') return new Gauge<L>({ ...config, collect () { this.reset(); read((labels, value) => { this.set(labels, value) }) } })
  return new Counter<L>({ ...config, collect () { this.reset(); read((labels, value) => { this.inc(labels, value) }) } })
}

/**
 * One node's metrics (issue 12 item 1, docs/metrics.md): a prom-client
 * {@link Registry} of its own (never prom-client's global register, so
 * several nodes in one process keep their numbers apart) holding Umbra's
 * `umbra_…` metrics and libp2p's own. Built by {@link createNodeMetrics}.
 *
 * Counters the subsystems keep (mixnet counters, quota refusals,
 * connections, gateway mailboxes) are read by `collect()` at each scrape;
 * what they do not keep (Sphinx and DHT timings, sends by path, hole-punch
 * results, API requests) is reported through {@link MetricsRecorder} and
 * {@link apiRequest}. No label value is ever a PeerId, key, id or address:
 * every one comes from a fixed list in src/metrics/constants.ts.
 */
export class NodeMetrics implements MetricsRecorder {
  /** The node's own registry; {@link text} renders it. */
  readonly registry: Registry
  /** The `metrics` option of `createLibp2p` for this node (libp2p_… into {@link registry}). */
  readonly libp2p: Libp2pMetricsFactory
  #sources: MetricsSources | undefined
  readonly #sphinx: Histogram
  readonly #dht: Histogram<'op' | 'outcome'>
  readonly #sent: Counter<'path'>
  readonly #sendFailures: Counter<'kind'>
  readonly #holePunch: Counter<'result'>
  readonly #apiRequests: Counter<'method' | 'route' | 'status'>
  readonly #apiDuration: Histogram<'route'>

  /** Use {@link createNodeMetrics}: the libp2p part is loaded asynchronously. */
  constructor (registry: Registry, libp2p: Libp2pMetricsFactory) {
    this.registry = registry
    this.libp2p = libp2p
    const registers = [registry]
    const mix = (): MixnetCounters | undefined => this.#sources?.mixnet?.counters()

    readMetric('counter', registry, 'umbra_mix_packets_received_total', 'Sphinx packets received on /umbra/mix/1.0.0 (relayed, delivered or dropped).', [], (set) => {
      set({}, mix()?.packetsIn ?? 0)
    })
    readMetric('counter', registry, 'umbra_mix_packets_forwarded_total', 'Relayed Sphinx packets by result: ok (sent to the next hop) or failed (next hop unreachable).', ['result'], (set) => {
      const c = mix()
      set({ result: 'ok' }, c?.forwarded ?? 0)
      set({ result: 'failed' }, c?.forwardFailed ?? 0)
    })
    readMetric('counter', registry, 'umbra_mix_packets_dropped_total', 'Packets dropped by reason (docs/mixnet.md "Relaying"; docs/metrics.md lists the reasons).', ['reason'], (set) => {
      const totals = new Map<MixDropReason, number>(MIX_DROP_REASONS.map((r) => [r, 0]))
      for (const [reason, n] of Object.entries(mix()?.dropped ?? {})) {
        const key = (DROP_REASON_SET.has(reason) ? reason : 'other') as MixDropReason
        totals.set(key, (totals.get(key) ?? 0) + n)
      }
      for (const [reason, n] of totals) set({ reason }, n)
    })
    readMetric('counter', registry, 'umbra_mix_cover_packets_sent_total', 'Cover packets sent, by kind: loop (returns to this node) or drop (discarded by its last mix).', ['kind'], (set) => {
      const c = mix()
      set({ kind: 'loop' }, c?.loopsSent ?? 0)
      set({ kind: 'drop' }, c?.dropCoverSent ?? 0)
    })
    readMetric('counter', registry, 'umbra_mix_loops_returned_total', 'Loop cover packets that came back to this node.', [], (set) => { set({}, mix()?.loopsReturned ?? 0) })
    readMetric('counter', registry, 'umbra_mix_fragments_sent_total', 'Fragments of anonymous messages sent, by attempt: first or retransmit.', ['attempt'], (set) => {
      const c = mix()
      set({ attempt: 'first' }, c?.fragmentsSent ?? 0)
      set({ attempt: 'retransmit' }, c?.retransmitted ?? 0)
    })
    readMetric('counter', registry, 'umbra_gateway_packets_total', 'Fragments and replies this gateway stored in a mailbox, or refused (quota, unknown mailbox).', ['result'], (set) => {
      const c = mix()
      set({ result: 'stored' }, c?.stored ?? 0)
      set({ result: 'refused' }, c?.refused ?? 0)
    })
    readMetric('gauge', registry, 'umbra_gateway_mailboxes', 'Mailboxes at this gateway: claimed (by pseudonyms and reply mailboxes) and holding at least one message (0 on a client).', ['state'], (set) => {
      const u = this.#sources?.mixnet?.gatewayUsage()
      set({ state: 'claimed' }, u?.claimed ?? 0)
      set({ state: 'non-empty' }, u?.mailboxes ?? 0)
    })
    readMetric('gauge', registry, 'umbra_gateway_mailbox_messages', 'Unexpired messages (complete and incomplete) held in this gateway\'s mailboxes.', [], (set) => {
      set({}, this.#sources?.mixnet?.gatewayUsage()?.messages ?? 0)
    })
    readMetric('gauge', registry, 'umbra_gateway_mailbox_bytes', 'Bytes held in this gateway\'s mailboxes.', [], (set) => {
      set({}, this.#sources?.mixnet?.gatewayUsage()?.bytes ?? 0)
    })
    readMetric('gauge', registry, 'umbra_connections', 'Open libp2p connections by path: direct, or relayed through a circuit relay.', ['path'], (set) => {
      let relayed = 0
      const all = this.#sources?.connections() ?? []
      for (const c of all) if (isRelayedAddr(c.remoteAddr.toString())) relayed++
      set({ path: CONNECTION_PATHS[0] }, all.length - relayed)
      set({ path: CONNECTION_PATHS[1] }, relayed)
    })
    readMetric('counter', registry, 'umbra_quota_refusals_total', 'Requests refused over a per-peer quota, by kind (docs/quotas.md).', ['kind'], (set) => {
      const refused = this.#sources?.quotas?.snapshot().refused
      for (const kind of QUOTA_KINDS) set({ kind }, refused?.[kind] ?? 0)
    })
    readMetric('counter', registry, 'umbra_pubsub_rejected_total', 'Pub/sub messages rejected by reason: malformed, oversized, topic, signature, unsigned, stale, replay (docs/pubsub.md "Validation").', ['reason'], (set) => {
      for (const [reason, n] of Object.entries(this.#sources?.pubsub?.stats().rejected ?? {})) set({ reason }, n)
    })
    readMetric('counter', registry, 'umbra_pubsub_delivered_total', 'Pub/sub messages delivered (subscribed or served topics), by the path that brought them first: p2p, central, store, mixnet.', ['via'], (set) => {
      for (const [via, n] of Object.entries(this.#sources?.pubsub?.stats().delivered ?? {})) set({ via }, n)
    })

    this.#sphinx = new Histogram({ name: 'umbra_mix_sphinx_processing_seconds', help: 'Time a relay took to process one Sphinx packet, worker-pool queueing included, seconds.', buckets: SPHINX_BUCKETS_S, registers })
    this.#dht = new Histogram({ name: 'umbra_dht_operation_seconds', help: 'DHT put and get (node.dht) duration by outcome: ok, not-found (get), error; seconds.', labelNames: ['op', 'outcome'], buckets: DHT_BUCKETS_S, registers })
    this.#sent = new Counter({ name: 'umbra_messages_sent_total', help: 'Messages accepted, by delivery path: direct, relayed (a direct stream over a circuit relay), anonymous (stored at the gateway).', labelNames: ['path'], registers })
    this.#sendFailures = new Counter({ name: 'umbra_message_send_failures_total', help: 'Sends that failed, by kind: direct (either connection) or anonymous.', labelNames: ['kind'], registers })
    this.#holePunch = new Counter({ name: 'umbra_hole_punch_total', help: 'Hole punches by result: existing-direct, webrtc, circuit-relay (stayed relayed) or failed.', labelNames: ['result'], registers })
    this.#apiRequests = new Counter({ name: 'umbra_api_requests_total', help: 'HTTP API requests by method, route pattern and status code.', labelNames: ['method', 'route', 'status'], registers })
    this.#apiDuration = new Histogram({ name: 'umbra_api_request_duration_seconds', help: 'HTTP API request duration by route pattern, seconds.', labelNames: ['route'], buckets: API_BUCKETS_S, registers })
    // Every fixed label value shows from the first scrape on (a dashboard's rate() needs the zero).
    for (const path of DELIVERY_PATHS) this.#sent.inc({ path }, 0)
    for (const kind of SEND_KINDS) this.#sendFailures.inc({ kind }, 0)
    for (const result of HOLE_PUNCH_RESULTS) this.#holePunch.inc({ result }, 0)
    for (const op of DHT_OPS) for (const outcome of DHT_OUTCOMES) this.#dht.zero({ op, outcome })
  }

  /** Starts reading the subsystems' counters (called once the node's services exist). */
  attach (sources: MetricsSources): void {
    this.#sources = sources
  }

  /** Stops reading them (the node stopped); the `umbra_` metrics read 0 from then on, what was recorded stays. */
  detach (): void {
    this.#sources = undefined
  }

  sphinxProcessed (ms: number): void {
    this.#sphinx.observe(ms / MS_PER_S)
  }

  dhtOperation (op: DhtOp, outcome: DhtOutcome, ms: number): void {
    this.#dht.observe({ op, outcome }, ms / MS_PER_S)
  }

  messageSent (path: DeliveryPath): void {
    this.#sent.inc({ path })
  }

  sendFailed (kind: SendKind): void {
    this.#sendFailures.inc({ kind })
  }

  holePunch (outcome: HolePunchOutcome): void {
    this.#holePunch.inc({ result: outcome })
  }

  /**
   * Counts one answered HTTP API request.
   * @param route - the route pattern (`/v1/dht/:key`), never the URL; undefined when no route matched (counted as `unmatched`)
   * @param ms - time from the request to the response, ms
   */
  apiRequest (method: string, route: string | undefined, status: number, ms: number): void {
    const pattern = route ?? UNMATCHED_ROUTE
    this.#apiRequests.inc({ method, route: pattern, status: String(status) })
    this.#apiDuration.observe({ route: pattern }, ms / MS_PER_S)
  }

  /** The Prometheus text of every metric in {@link registry} (format 0.0.4). */
  async text (): Promise<string> {
    return await this.registry.metrics()
  }

  /** Content type of {@link text}: `text/plain; version=0.0.4; charset=utf-8`. */
  get contentType (): string {
    return PROMETHEUS_CONTENT_TYPE
  }
}

/**
 * Creates one node's metrics: a new prom-client registry with Umbra's
 * metrics, and libp2p's metrics factory bound to it (src/metrics/libp2p.ts
 * explains how nodes in one process are kept apart).
 * @returns metrics reading nothing until {@link NodeMetrics.attach}
 */
export async function createNodeMetrics (): Promise<NodeMetrics> {
  const registry = new Registry()
  return new NodeMetrics(registry, await libp2pMetrics(registry))
}
