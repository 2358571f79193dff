import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import { checkIdentityFits, importSecp256k1, loadOrCreateApiToken, parseWalletKey, resolveDataDir, setDataDirPassphrase } from '../../identity/index.ts'
import { InvalidOptionError, UmbraError } from '../../errors.ts'
import { DEFAULT_ROLE } from '../../node/constants.ts'
import type { Role, UmbraNode, UmbraNodeInit } from '../../node/index.ts'
import type { MixnetPreset } from '../../mixnet/types.ts'
import type { HybridStrategy, PubSubMode } from '../../pubsub/hybrid-modes.ts'
import { removeApiInfo, writeApiInfo } from '../config.ts'
import { EXIT_INTERRUPTED, SHUTDOWN_TIMEOUT_MS } from '../constants.ts'
import { apiListenAddress, type HostPort } from '../options.ts'
import { DEFAULT_API_HOST, DEFAULT_API_PORT } from '../../api/constants.ts'

/** Flags of `umbra start`, as commander parsed them. */
export interface StartFlags {
  dataDir?: string
  listen?: string[]
  bootstrap?: string[]
  /** The global `--api`, as a URL: where the HTTP API listens. @default 127.0.0.1:7450 */
  api?: string
  /** `--bootstrap-url`: bootstrap endpoints to join through. */
  bootstrapUrl?: string[]
  /** `--bootstrap-api`: serve the public bootstrap endpoints here. */
  bootstrapApi?: HostPort
  role?: Role
  /** `--client`: the same as `--role client`. */
  client?: boolean
  /** `--mixnet-preset` or `$UMBRA_MIXNET_PRESET`. */
  mixnetPreset?: MixnetPreset
  /** `--mixnet-threads`: Sphinx worker threads. */
  mixnetThreads?: number
  /** `--mixnet-epoch`: onion key epoch, ms. */
  mixnetEpoch?: number
  /** `--pubsub-mode`, `--pubsub-strategy`, `--pubsub-central`: hybrid pub/sub (src/pubsub/hybrid.ts). */
  pubsubMode?: PubSubMode
  pubsubStrategy?: HybridStrategy
  pubsubCentral?: string
  /** `--mixnet-rate-scale`: multiplies the preset's Poisson rates (tests). */
  mixnetRateScale?: number
  /** `--mix-link-port`: TCP port of a server's packet links, `false` for `off`. @default the node's (0, a free port) */
  mixLinkPort?: number | false
  /** `--stun-port`: UDP port of a server's STUN server, `false` for `off`. @default the node's (3478) */
  stunPort?: number | false
  /** `--stun-server`: `host:port` STUN servers of a client's ICE. @default the node's (each bootstrap host, port 3478) */
  stunServer?: string[]
  /** `--stun-host`: IPs the STUN server binds. @default the node's (the IPs of `--listen`) */
  stunHost?: string[]
  /** `--passphrase-file`: the key files' passphrase (issue 14, item 4). */
  passphraseFile?: string
  /** `--import-key`: a file holding a secp256k1 wallet key (WIF or hex) to use as the node identity (issue 14, item 3). */
  importKey?: string
  /** `false` with `--no-upnp`. @default true */
  upnp?: boolean
  /** `--announce-private`: announce private and loopback addresses. @default the node's (only when every listen address is one) */
  announcePrivate?: boolean
  json?: boolean
  /** Hidden, `false` with `--no-exempt-loopback`: loopback gets no exemption from the inbound limits (`nat.allow = []`). @default true */
  exemptLoopback?: boolean
  /** `--pubsub-store-messages`: messages the pub/sub store keeps per topic. @default the node's (100) */
  pubsubStoreMessages?: number
  /** `--pubsub-store-ttl`: how long the pub/sub store keeps a message, ms. @default the node's (300000) */
  pubsubStoreTtl?: number
  /** Hidden, `false` with `--no-pubsub-ip-penalty` (testnets on one host): no GossipSub IP co-location penalty. @default true */
  pubsubIpPenalty?: boolean
  /** Hidden: stop when stdin closes (set by the process testnet, so nodes never outlive it). */
  stopOnStdinClose?: boolean
}

/** The line `umbra start --json` prints once the node and its API are up. */
export interface ReadyEvent {
  event: 'ready'
  peerId: string
  key: string
  role: Role
  /** Base URL of the HTTP API. */
  api: string
  addrs: string[]
  /** UDP port of the node's STUN server, when it runs one (servers; `--stun-port 0` picks a free one). */
  stunPort?: number
  /** Base URL of the public bootstrap endpoints, with `--bootstrap-api`. */
  bootstrapApi?: string
}

/**
 * `--import-key FILE` (issue 14, item 3): makes the secp256k1 wallet key in
 * FILE (WIF or 64 hex digits) the identity of `dataDir` before the node
 * starts: written once (sealed under the passphrase when one is given),
 * accepted again on later starts, never replacing another identity.
 * Checked against the role first, so a refused server start writes nothing.
 * @throws UMBRA_ERR_INVALID_OPTION (unreadable file), UMBRA_ERR_INVALID_KEY,
 *   UMBRA_ERR_KEY_TYPE_UNSUPPORTED (role server), UMBRA_ERR_IDENTITY_FILE (another identity is there)
 */
async function importWalletKey (dataDir: string, file: string, role: Role, passphrase: string | undefined): Promise<void> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new InvalidOptionError(`--import-key: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err })
  }
  checkIdentityFits(parseWalletKey(text).privateKey, role)
  if (passphrase != null) setDataDirPassphrase(dataDir, passphrase)
  await importSecp256k1(dataDir, text)
}

/**
 * `umbra start`: runs a node and its HTTP API until SIGINT or SIGTERM, then
 * stops both, removes `<dataDir>/api.json` and resolves with exit code 0.
 */
export async function runStart (flags: StartFlags): Promise<number> {
  const stopping = new AbortController()
  let firstSignal: NodeJS.Signals | undefined
  const onSignal = (signal: NodeJS.Signals): void => {
    // A second Ctrl-C forces the exit. Other repeats are ignored: a terminal's
    // Ctrl-C reaches a testnet's children at the same time as the testnet's own
    // SIGTERM, and that must not cut their clean stop short.
    if (firstSignal === 'SIGINT' && signal === 'SIGINT') {
      process.stderr.write('umbra: interrupted twice, exiting without a clean stop (UMBRA_ERR_ABORTED)\n')
      process.exit(EXIT_INTERRUPTED)
    }
    firstSignal ??= signal
    stopping.abort()
  }
  const onStdinEnd = (): void => { stopping.abort() }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  if (flags.stopOnStdinClose === true) {
    process.stdin.on('end', onStdinEnd)
    process.stdin.on('error', onStdinEnd)
    process.stdin.resume()
  }

  try {
    // One live node per data directory: the node takes the directory's kernel lock at start (src/store/data-dir.ts
    // lockDataDir), which a SIGKILLed node frees at once; a second node fails with UMBRA_ERR_ALREADY_RUNNING.
    const dataDir = resolveDataDir(flags.dataDir)

    const init: UmbraNodeInit = { dataDir }
    const { startPassphrase } = await import('./passphrase.ts')
    const passphrase = await startPassphrase(dataDir, flags.passphraseFile)
    if (passphrase != null) init.passphrase = passphrase
    if (flags.role != null) init.role = flags.role
    if (flags.client === true) init.role = 'client'
    if (flags.importKey != null) await importWalletKey(dataDir, flags.importKey, init.role ?? DEFAULT_ROLE, passphrase)
    if (flags.mixnetPreset != null || flags.mixnetThreads != null || flags.mixnetEpoch != null || flags.mixnetRateScale != null || flags.mixLinkPort != null) {
      init.mixnet = {
        ...(flags.mixLinkPort != null ? { linkPort: flags.mixLinkPort } : {}),
        ...(flags.mixnetPreset != null ? { preset: flags.mixnetPreset } : {}),
        ...(flags.mixnetThreads != null ? { threads: flags.mixnetThreads } : {}),
        ...(flags.mixnetEpoch != null ? { epochMs: flags.mixnetEpoch } : {}),
        ...(flags.mixnetRateScale != null ? { rateScale: flags.mixnetRateScale } : {})
      }
    }
    if (flags.stunPort != null || flags.stunServer != null || flags.stunHost != null || flags.upnp === false || flags.exemptLoopback === false) {
      init.nat = {
        ...(flags.stunPort != null ? { stunPort: flags.stunPort } : {}),
        ...(flags.stunHost != null ? { stunHost: flags.stunHost } : {}),
        ...(flags.stunServer != null ? { stunServers: flags.stunServer } : {}),
        ...(flags.upnp === false ? { upnp: false } : {}),
        ...(flags.exemptLoopback === false ? { allow: [] } : {})
      }
    }
    if (flags.pubsubStoreMessages != null || flags.pubsubStoreTtl != null || flags.pubsubIpPenalty === false) {
      init.pubsub = {
        ...(flags.pubsubStoreMessages != null ? { storeMessages: flags.pubsubStoreMessages } : {}),
        ...(flags.pubsubStoreTtl != null ? { storeTtl: flags.pubsubStoreTtl } : {}),
        ...(flags.pubsubIpPenalty === false ? { ipColocationPenalty: false } : {})
      }
    }
    if (flags.pubsubMode != null || flags.pubsubStrategy != null || flags.pubsubCentral != null) {
      init.pubsub = {
        ...init.pubsub,
        ...(flags.pubsubMode != null ? { mode: flags.pubsubMode } : {}),
        ...(flags.pubsubStrategy != null ? { strategy: flags.pubsubStrategy } : {}),
        ...(flags.pubsubCentral != null ? { central: flags.pubsubCentral } : {})
      }
    }
    if (flags.listen != null) init.listen = flags.listen
    if (flags.announcePrivate === true) init.announcePrivateAddresses = true
    if (flags.bootstrap != null) init.bootstrap = flags.bootstrap
    if (flags.bootstrapUrl != null) init.bootstrapUrls = flags.bootstrapUrl

    // The bootstrap endpoints start first; the node then registers itself there like any other peer.
    let bootstrapApi: { url: string, close(): Promise<void> } | undefined
    if (flags.bootstrapApi != null) {
      const { createBootstrapServer } = await import('../../bootstrap/index.ts')
      bootstrapApi = await createBootstrapServer({ host: flags.bootstrapApi.host, port: flags.bootstrapApi.port })
      init.bootstrapUrls = [...(init.bootstrapUrls ?? []), bootstrapApi.url.replace(/^http:\/\/(0\.0\.0\.0|\[::\])/, 'http://127.0.0.1')]
    }

    const { createNode } = await import('../../node/index.ts')
    const node = await createNode(init).catch(async (err) => {
      await bootstrapApi?.close()
      throw err
    })
    let api: { url: string, close(): Promise<void> } | undefined
    try {
      await node.start()
      if (!stopping.signal.aborted) {
        const token = await loadOrCreateApiToken(dataDir)
        const { createApiServer } = await import('../../api/index.ts')
        const listen = apiListenAddress(flags.api, { host: DEFAULT_API_HOST, port: DEFAULT_API_PORT })
        api = await createApiServer(node, { host: listen.host, port: listen.port, token })
        await writeApiInfo(dataDir, { url: api.url, pid: process.pid })
      }
    } catch (err) {
      await shutdown(node, api, dataDir).catch(() => {})
      await bootstrapApi?.close()
      throw err
    }

    if (api != null && !stopping.signal.aborted) {
      printReady(node, api.url, flags.json === true, bootstrapApi?.url)
      await once(stopping.signal, 'abort')
    }
    await shutdown(node, api, dataDir).finally(async () => { await bootstrapApi?.close() })
    if (flags.json !== true) process.stdout.write('umbra node stopped\n')
    return 0
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    process.stdin.off('end', onStdinEnd)
    process.stdin.off('error', onStdinEnd)
    if (flags.stopOnStdinClose === true) process.stdin.pause()
  }
}

function printReady (node: UmbraNode, api: string, json: boolean, bootstrapApi?: string): void {
  const addrs = node.getMultiaddrs()
  const { stunPort } = node.nat.status()
  if (json) {
    const ready: ReadyEvent = { event: 'ready', peerId: node.peerId, key: node.key, role: node.role, api, addrs, ...(stunPort != null ? { stunPort } : {}), ...(bootstrapApi != null ? { bootstrapApi } : {}) }
    process.stdout.write(JSON.stringify(ready) + '\n')
  } else {
    process.stdout.write(`umbra node ready: peerId=${node.peerId} key=${node.key} api=${api} addrs=${addrs.join(',')}${stunPort != null ? ` stun=udp/${stunPort}` : ''}${bootstrapApi != null ? ` bootstrap-api=${bootstrapApi}` : ''}\n`)
  }
}

/** Removes api.json, closes the API, stops the node; gives up after {@link SHUTDOWN_TIMEOUT_MS}. */
async function shutdown (node: UmbraNode, api: { close(): Promise<void> } | undefined, dataDir: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new UmbraError(`the node did not stop within ${SHUTDOWN_TIMEOUT_MS} ms`, 'UMBRA_ERR_SHUTDOWN_TIMEOUT'))
    }, SHUTDOWN_TIMEOUT_MS)
    timer.unref()
  })
  try {
    await Promise.race([timeout, (async () => {
      await removeApiInfo(dataDir, process.pid)
      await api?.close()
      await node.stop()
    })()])
  } finally {
    clearTimeout(timer)
  }
}
