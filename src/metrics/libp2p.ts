import type { Registry } from 'prom-client'
import type { Metrics } from '@libp2p/interface'
import type { PrometheusMetricsComponents, PrometheusMetricsInit } from '@libp2p/prometheus-metrics'

/** The module's shape, as `import('@libp2p/prometheus-metrics')` gives it. */
type PrometheusMetricsModule = typeof import('@libp2p/prometheus-metrics')

/** libp2p's metrics component factory, the `metrics` option of `createLibp2p`. */
export type Libp2pMetricsFactory = (components: PrometheusMetricsComponents) => Metrics

/** Copies of the module loaded so far in this process (one per started node). */
let copies = 0

/**
 * libp2p's own metrics (`libp2p_…`, plus prom-client's default `process_…`
 * and `nodejs_…`) for one node, registered in `registry` only.
 *
 * `@libp2p/prometheus-metrics` 5.x takes a `registry` option, but keeps the
 * metric objects it created in one module-level map keyed by name: a second
 * node in the same process asking for `libp2p_dialler_…` would be handed
 * the first node's object (registered in the first node's registry), and
 * with `preserveExistingMetrics: false` each new instance also clears the
 * map and prom-client's global register. To keep nodes apart, each node
 * loads its own copy of the module: an ES module URL with a distinct query
 * string is a distinct module instance with its own map (its imports, which
 * hold no state, stay shared). `preserveExistingMetrics: true` keeps the
 * global register of the embedding application untouched.
 *
 * Cost (docs/metrics.md "Limits"): each node started in a process keeps one
 * copy of that module (a few kB, plus the metric objects it created) until
 * the process exits; a daemon starts one node.
 *
 * @param registry - the node's own registry
 */
export async function libp2pMetrics (registry: Registry): Promise<Libp2pMetricsFactory> {
  const url = `${import.meta.resolve('@libp2p/prometheus-metrics')}?umbra-node=${++copies}`
  const mod = await import(url) as PrometheusMetricsModule
  const init: Partial<PrometheusMetricsInit> = { registry, preserveExistingMetrics: true, collectDefaultMetrics: true }
  return mod.prometheusMetrics(init)
}
