/**
 * `umbra central --listen HOST:PORT`: runs the central WebSocket pub/sub
 * server (src/pubsub/central; issue 13, items 4 and 5) until SIGINT or
 * SIGTERM. Nodes use it with `umbra start --pubsub-mode hybrid|central
 * --pubsub-central ws://HOST:PORT`. It sees which client publishes and reads
 * what (docs/pubsub-hybrid.md), so nothing starts it by default.
 */
import { once } from 'node:events'
import type { HostPort } from '../options.ts'

/** Flags of `umbra central`. */
export interface CentralFlags {
  /** `--listen`: where to listen. @default 127.0.0.1:7460 */
  listen?: HostPort
  /** `--max-message-bytes`: largest envelope. @default 1 MiB */
  maxMessageBytes?: number
  /** `--rate`: frames per second per connection. @default 100 */
  rate?: number
  json?: boolean
}

/**
 * Runs the server until SIGINT or SIGTERM.
 * @returns exit code 0 after a clean stop
 * @throws the listen error (EADDRINUSE, …), printed by the CLI as one line
 */
export async function runCentral (flags: CentralFlags): Promise<number> {
  const { createCentralServer } = await import('../../pubsub/central/index.ts')
  const { DEFAULT_CENTRAL_PORT } = await import('../../pubsub/central/constants.ts')
  const stopping = new AbortController()
  const onSignal = (): void => { stopping.abort() }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    const server = await createCentralServer({
      host: flags.listen?.host ?? '127.0.0.1',
      port: flags.listen?.port ?? DEFAULT_CENTRAL_PORT,
      ...(flags.maxMessageBytes != null ? { maxMessageBytes: flags.maxMessageBytes } : {}),
      ...(flags.rate != null ? { ratePerSec: flags.rate, burst: 2 * flags.rate } : {})
    })
    process.stdout.write(flags.json === true ? JSON.stringify({ event: 'ready', url: server.url }) + '\n' : `umbra central ready: url=${server.url}\n`)
    if (!stopping.signal.aborted) await once(stopping.signal, 'abort')
    const stats = server.stats()
    await server.close()
    if (flags.json !== true) process.stdout.write(`umbra central stopped: published=${stats.published} relayed=${stats.relayed} duplicates=${stats.duplicates}\n`)
    return 0
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}
