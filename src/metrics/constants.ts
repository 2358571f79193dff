/**
 * Constants of the node's Prometheus metrics (issue 12 item 1, docs/metrics.md):
 * the fixed label values every `umbra_` metric may carry and the histogram
 * buckets. A label value is always one of these lists, never a PeerId, key,
 * id or address.
 */

/**
 * Content type of `GET /metrics`: the Prometheus text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/).
 */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

/** Prefix of every metric Umbra defines (issue 12); libp2p's own keep their `libp2p_` names. */
export const METRIC_PREFIX = 'umbra_'

/**
 * Why a mix node, gateway or client dropped a packet: the keys of
 * `MixnetCounters.dropped` (src/mixnet/types.ts, docs/mixnet.md
 * "Relaying"). Sphinx and pool reasons (src/mixnet/mix-worker.ts
 * FAILURE_REASONS, plus `overload`), relay hygiene, payload checks and the
 * directory's refusals (src/mixnet/directory.ts, prefixed `directory-`). A
 * reason not in this list (a new one added to the mixnet later) is counted
 * as `other` until it is added here.
 */
export const MIX_DROP_REASONS = [
  'size', 'version', 'point', 'mac', 'routing', 'payload', 'epoch', 'worker', 'closed', 'overload',
  'replay', 'delay', 'next-hop', 'held-full', 'penalized', 'truncated',
  'malformed', 'unreadable', 'tampered', 'unknown-surb', 'bad-contact', 'lookup-busy', 'error',
  'directory-invalid', 'directory-recently-refused', 'directory-peer-cap', 'directory-queue-full',
  'directory-unreachable', 'directory-subnet-cap', 'directory-oversized',
  'link-connect', 'link-handshake', 'link-wrong-key', 'link-garbage', 'link-truncated', 'link-closed', 'link-limit',
  'other'
] as const

/** A label value of `umbra_mix_packets_dropped_total{reason}`. */
export type MixDropReason = typeof MIX_DROP_REASONS[number]

/**
 * Delivery paths of a sent message (DESIGN.md section 6) that exist today:
 * `direct` and `relayed` (a direct E2E stream, over a direct or a circuit
 * relay connection) and `anonymous` (Sphinx through the mixnet to a
 * gateway's mailbox) and `queued` (a direct message stored in the offline
 * queue of an unreachable recipient at its queue servers; issue 11).
 */
export const DELIVERY_PATHS = ['direct', 'relayed', 'anonymous', 'queued'] as const

/** A label value of `umbra_messages_sent_total{path}`. */
export type DeliveryPath = typeof DELIVERY_PATHS[number]

/** Kinds of send that can fail (`umbra_message_send_failures_total{kind}`): a direct send (either connection) or an anonymous one. */
export const SEND_KINDS = ['direct', 'anonymous'] as const

/** A label value of `umbra_message_send_failures_total{kind}`. */
export type SendKind = typeof SEND_KINDS[number]

/**
 * Results of `nat.holePunch` (src/nat/types.ts HolePunchResult.method), plus
 * `failed` when it threw (no direct and no relayed connection, or aborted).
 */
export const HOLE_PUNCH_RESULTS = ['existing-direct', 'direct-dial', 'webrtc', 'udp-birthday', 'circuit-relay', 'failed'] as const

/** A label value of `umbra_hole_punch_total{result}`. */
export type HolePunchOutcome = typeof HOLE_PUNCH_RESULTS[number]

/** DHT operations timed by `umbra_dht_operation_seconds{op}` (src/dht/dht-service.ts `put`, `get`). */
export const DHT_OPS = ['put', 'get'] as const

/** A label value of `umbra_dht_operation_seconds{op}`. */
export type DhtOp = typeof DHT_OPS[number]

/**
 * Outcomes of a DHT operation: `ok` (put stored, get found a record),
 * `not-found` (get: no record), `error` (threw: quota, timeout, abort, no peers).
 */
export const DHT_OUTCOMES = ['ok', 'not-found', 'error'] as const

/** A label value of `umbra_dht_operation_seconds{outcome}`. */
export type DhtOutcome = typeof DHT_OUTCOMES[number]

/** Connection kinds of `umbra_connections{path}`: `relayed` when the remote address goes through a circuit relay (src/nat isRelayedAddr). */
export const CONNECTION_PATHS = ['direct', 'relayed'] as const

/**
 * `route` label of a request no route matched (404 before routing): the raw
 * URL is never a label value, it would make one series per URL.
 */
export const UNMATCHED_ROUTE = 'unmatched'

/**
 * Buckets of `umbra_mix_sphinx_processing_seconds`, seconds: a Sphinx unwrap
 * takes about 0.1 ms to 1 ms on one core (docs/mixnet.md, bench/); the upper
 * buckets catch a queue behind a busy worker pool.
 */
export const SPHINX_BUCKETS_S = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]

/**
 * Buckets of `umbra_dht_operation_seconds`, seconds: a local hit answers in
 * milliseconds, a network query in tens of ms to seconds; DHT calls time out
 * after DHT_QUERY_TIMEOUT_MS, 15 s (src/dht/constants.ts).
 */
export const DHT_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20]

/** Buckets of `umbra_api_request_duration_seconds`, seconds (API operations time out at 60 s, src/api/constants.ts). */
export const API_BUCKETS_S = [0.001, 0.005, 0.025, 0.1, 0.25, 1, 2.5, 10, 30, 60]
