import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { NotFoundError } from '../api/errors.ts'
import { logger } from '../logger.ts'
import { ASSET_PREFIX, DASHBOARD_CSP, INDEX_FILE, MAX_ASSET_BYTES, MEDIA_TYPES } from './constants.ts'
import { HostNotAllowedError } from './errors.ts'
import { isAllowedHost } from './host.ts'

const log = logger('web')

/** Options of {@link registerDashboard}. */
export interface DashboardInit {
  /** The host the API was asked to bind (`ApiServerInit.host`): a `Host` header naming it is accepted. */
  host: string
  /**
   * Directory of the page's static files.
   * @default the package's top-level `web/` directory
   */
  staticDir?: string
}

/** One static file, read once at registration. */
interface Asset {
  body: Buffer
  mediaType: string
}

/**
 * The package's `web/` directory: two levels up from src/web/routes.ts (run
 * from source), three from dist/src/web/routes.js (the built package).
 */
function defaultStaticDir (): string | undefined {
  for (const up of ['../../web/', '../../../web/']) {
    const dir = fileURLToPath(new URL(up, import.meta.url))
    if (existsSync(join(dir, INDEX_FILE))) return dir
  }
  return undefined
}

/**
 * Reads the servable files of `dir` (known extensions, at most
 * {@link MAX_ASSET_BYTES} each) into memory, so a request never touches the
 * file system and no path from a URL is ever joined to a directory.
 */
function loadAssets (dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>()
  for (const name of readdirSync(dir)) {
    const mediaType = MEDIA_TYPES[extname(name)]
    const file = join(dir, name)
    if (mediaType === undefined || !/^[a-z0-9][a-z0-9._-]*$/.test(name)) continue
    const stat = statSync(file)
    if (!stat.isFile() || stat.size > MAX_ASSET_BYTES) continue
    assets.set(name, { body: readFileSync(file), mediaType })
  }
  return assets
}

/** Headers of every dashboard response: the CSP and what keeps the page out of frames and referrers. */
function sendAsset (reply: FastifyReply, asset: Asset): FastifyReply {
  return reply
    .header('content-type', asset.mediaType)
    .header('content-security-policy', DASHBOARD_CSP)
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .header('cross-origin-opener-policy', 'same-origin')
    .header('cross-origin-resource-policy', 'same-origin')
    .send(asset.body)
}

/**
 * Adds the dashboard (issue 12, item 2) to the API's Fastify instance:
 * - a `Host` check on every request of the server, API routes included
 *   (see {@link isAllowedHost}): 421 `UMBRA_ERR_HOST_NOT_ALLOWED` otherwise,
 *   the defence against DNS rebinding;
 * - `GET /` (the page) and `GET /assets/<file>` (its script, style and
 *   icon), static files from the package's `web/` directory, each with a
 *   strict Content-Security-Policy ({@link DASHBOARD_CSP}).
 *
 * The page holds no secret: it asks for the API token in a form and keeps it
 * in script memory, sending it as `Authorization: Bearer` on `/v1/…` fetches
 * (also the event stream, read as a streamed fetch). Call it before the
 * server listens. When the static directory is missing (a broken install),
 * the `Host` check is still added and `/` answers 404.
 *
 * @example
 * ```ts
 * const app = fastify()
 * registerDashboard(app, { host: '127.0.0.1' })
 * await app.listen({ host: '127.0.0.1', port: 7450 }) // open http://127.0.0.1:7450/
 * ```
 */
export function registerDashboard (app: FastifyInstance, init: DashboardInit): void {
  app.addHook('onRequest', async (request) => {
    const address = app.server.address() as AddressInfo | null
    // Not listening (app.inject): no browser can reach it.
    if (address === null) return
    if (!isAllowedHost(request.headers.host, { host: init.host, port: address.port })) {
      log.debug('request with a foreign Host header refused')
      throw new HostNotAllowedError()
    }
  })

  const dir = init.staticDir ?? defaultStaticDir()
  if (dir === undefined || !existsSync(join(dir, INDEX_FILE))) {
    log.warn('dashboard files not found; GET / will answer 404')
    return
  }
  const assets = loadAssets(dir)
  const index = assets.get(INDEX_FILE)
  if (index === undefined) return

  app.get('/', async (_request, reply) => sendAsset(reply, index))
  app.get<{ Params: { file: string } }>(`${ASSET_PREFIX}:file`, async (request, reply) => {
    const asset = request.params.file === INDEX_FILE ? undefined : assets.get(request.params.file)
    if (asset === undefined) throw new NotFoundError(`No dashboard file ${request.params.file}`)
    return sendAsset(reply, asset)
  })
}
