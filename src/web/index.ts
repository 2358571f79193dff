/**
 * The dashboard (issue 12, item 2): a web page the node serves at `/` on its
 * HTTP API port, from static files in the package's `web/` directory (plain
 * HTML, CSS and ES modules; no build step). It shows the node's connections,
 * NAT status, mix directory, pseudonyms and their gateways, mailbox counters,
 * the inbox with a send form, DHT get/put and name lookup, live over the
 * event stream. docs/dashboard.md.
 *
 * The API server registers it itself; {@link registerDashboard} is exported
 * for servers built around another Fastify instance.
 *
 * @example
 * ```ts
 * import { createNode, createApiServer } from 'umbra'
 * const node = await createNode({ dataDir: './alice' })
 * await node.start()
 * const api = await createApiServer(node, { token: 's3cret' })
 * console.log(`open ${api.url}/ and log in with the token`)
 * ```
 */
export { registerDashboard } from './routes.ts'
export type { DashboardInit } from './routes.ts'
export { isAllowedHost, parseHostHeader } from './host.ts'
export type { ListenTarget } from './host.ts'
export { HostNotAllowedError } from './errors.ts'
export * from './constants.ts'
