/**
 * Prometheus metrics of a node (issue 12 item 1, DESIGN.md section 7,
 * docs/metrics.md): every node has its own prom-client registry with
 * Umbra's `umbra_…` metrics and libp2p's own (`libp2p_…`, `process_…`,
 * `nodejs_…`), served as Prometheus text at `GET /metrics` of the HTTP API
 * (bearer token). docs/grafana-dashboard.json charts them.
 *
 * @example
 * ```ts
 * const node = await createNode({ dataDir: './alice' })
 * await node.start()
 * console.log(await node.metrics.text()) // # HELP umbra_mix_packets_received_total …
 * ```
 */
export { NodeMetrics, createNodeMetrics } from './node-metrics.ts'
export type { MetricsSources } from './node-metrics.ts'
export type { MetricsRecorder } from './recorder.ts'
export { instrumentApi, metricsHandler } from './api.ts'
export * from './constants.ts'
