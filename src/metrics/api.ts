import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { NodeMetrics } from './node-metrics.ts'

/** HTTP methods counted by name; any other is counted as `other` (a label value is never taken from the request as is). */
const METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'])

/**
 * Counts every answered request of an API server in the node's metrics
 * (`umbra_api_requests_total{method,route,status}`,
 * `umbra_api_request_duration_seconds{route}`) through one `onResponse`
 * hook: `route` is the matched route's pattern (`/v1/dht/:key`), or
 * `unmatched`, never the URL.
 * @param metrics - the node's metrics now, or undefined while it is stopped (nothing is counted then)
 */
export function instrumentApi (app: FastifyInstance, metrics: () => NodeMetrics | undefined): void {
  app.addHook('onResponse', async (request, reply) => {
    const method = METHODS.has(request.method) ? request.method : 'other'
    metrics()?.apiRequest(method, request.routeOptions.url, reply.statusCode, reply.elapsedTime)
  })
}

/**
 * The handler of `GET /metrics` (issue 12): the node's registry in the
 * Prometheus text format 0.0.4. Authentication is the route's (bearer
 * token, like every route but `/v1/health`).
 * @param metrics - the started node's metrics; throws (503 `UMBRA_ERR_NOT_STARTED`) when it is not running
 */
export function metricsHandler (metrics: () => NodeMetrics): (request: FastifyRequest, reply: FastifyReply) => Promise<string> {
  return async (_request, reply) => {
    const m = metrics()
    const text = await m.text()
    void reply.header('content-type', m.contentType)
    return text
  }
}
