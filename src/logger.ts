import { pino, type Logger } from 'pino'

/**
 * The root logger: pino, JSON lines on stderr, level from `UMBRA_LOG_LEVEL`
 * (`trace` … `fatal`, or `silent`). Never log keys, message bodies or full
 * addresses of peers other than the node's own (STYLE.md, Habits).
 * @default level 'warn'
 */
export const rootLogger: Logger = pino({
  name: 'umbra',
  level: process.env.UMBRA_LOG_LEVEL ?? 'warn'
}, pino.destination(2))

/**
 * A scoped child logger, e.g. `logger('dht')`.
 * @param scope - subsystem name, shown as the `scope` field
 */
export function logger (scope: string): Logger {
  return rootLogger.child({ scope })
}

export type { Logger }
