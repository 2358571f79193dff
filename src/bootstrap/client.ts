/**
 * A node's side of the bootstrap endpoints (issue 9 item 5,
 * docs/bootstrap.md): read the live peers of a bootstrap URL (each record
 * verified here, so a server can choose whom it lists but not forge their
 * addresses), and register / heartbeat / unregister this node by answering
 * a fresh challenge. Uses the global `fetch` (undici).
 */
import { createAuth } from '../auth/index.ts'
import { withTimeout } from '../signals.ts'
import { peerRecordKey, verifyPeerRecord, type PeerRecordInfo } from '../registry/index.ts'
import { CLIENT_TIMEOUT_MS, MAX_ANSWER_BYTES, MAX_PEERS_ANSWER } from './constants.ts'
import { BootstrapFailedError } from './errors.ts'
import { bootstrapPurpose, type BootstrapAction } from './server.ts'
import type { PrivateKey } from '@libp2p/interface'

/**
 * Checks a bootstrap URL: `http://` or `https://`, no credentials, no query.
 * @returns the URL without a trailing slash
 * @throws TypeError when it is not such a URL
 */
export function normalizeBootstrapUrl (url: string): string {
  const u = new URL(url)
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TypeError(`${url} is not an http(s) URL`)
  if (u.username !== '' || u.password !== '' || u.search !== '' || u.hash !== '') throw new TypeError(`${url} must not carry credentials, a query or a fragment`)
  return u.toString().replace(/\/+$/, '')
}

async function call<T> (url: string, method: string, path: string, body: unknown, signal?: AbortSignal): Promise<T> {
  let res: Response
  try {
    res = await fetch(`${url}${path}`, {
      method,
      signal: withTimeout(signal, CLIENT_TIMEOUT_MS),
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
  } catch (err) {
    throw new BootstrapFailedError(`${method} ${url}${path}: ${(err as Error).message}`, { cause: err })
  }
  const text = await res.text()
  if (text.length > MAX_ANSWER_BYTES) throw new BootstrapFailedError(`${method} ${url}${path}: answer larger than ${MAX_ANSWER_BYTES} bytes`, { status: res.status })
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new BootstrapFailedError(`${method} ${url}${path}: answer is not JSON (HTTP ${res.status})`, { cause: err, status: res.status })
  }
  if (!res.ok) {
    const e = (json as { error?: { code?: string, message?: string } })?.error
    throw new BootstrapFailedError(`${method} ${url}${path}: HTTP ${res.status} ${e?.code ?? ''} ${e?.message ?? ''}`.trim(), { status: res.status })
  }
  return json as T
}

/**
 * The live peers a bootstrap server lists (at most 20), each record verified
 * (signature by the key it names, expiry); invalid ones are left out.
 * @param url - the server's base URL
 * @throws UMBRA_ERR_BOOTSTRAP_FAILED (unreachable, an error answer, not JSON)
 */
export async function fetchBootstrapPeers (url: string, options: { signal?: AbortSignal } = {}): Promise<{ peers: PeerRecordInfo[], dropped: number }> {
  const answer = await call<{ peers?: unknown }>(normalizeBootstrapUrl(url), 'GET', '/peers', undefined, options.signal)
  const list = Array.isArray(answer.peers) ? answer.peers.slice(0, MAX_PEERS_ANSWER) : []
  const peers: PeerRecordInfo[] = []
  let dropped = 0
  for (const p of list as Array<{ key?: unknown, record?: unknown }>) {
    try {
      if (typeof p?.key !== 'string' || typeof p.record !== 'string') throw new TypeError('no key or record')
      peers.push(await verifyPeerRecord(peerRecordKey(p.key), new Uint8Array(Buffer.from(p.record, 'base64'))))
    } catch {
      dropped++
    }
  }
  return { peers, dropped }
}

/**
 * Answers a challenge of `GET /challenge?action=<action>` with `privateKey`
 * (src/auth's `respond`: a domain-separated signature over the purpose,
 * issuer, nonce, expiry and key). Only a challenge for that action's
 * purpose is signed: a server cannot use this node as a signing oracle for
 * any other purpose.
 * @param issued - the `issued` field of the answer to GET /challenge
 * @returns the fields of a signed request body: `{ key, challenge, signature }`
 * @throws UMBRA_ERR_BOOTSTRAP_FAILED (a challenge for another purpose), the codes of src/auth `respond`
 */
export async function answerBootstrapChallenge (privateKey: PrivateKey, action: BootstrapAction, issued: unknown): Promise<{ key: string, challenge: string, signature: string }> {
  const purpose = (issued as { purpose?: unknown } | null)?.purpose
  if (purpose !== bootstrapPurpose(action)) throw new BootstrapFailedError(`The bootstrap server issued a challenge for "${String(purpose)}", not "${bootstrapPurpose(action)}"`)
  const response = await createAuth({ privateKey }).respond(issued)
  return { key: response.key, challenge: response.nonce, signature: response.signature }
}

/**
 * Registers, heartbeats or unregisters this node at a bootstrap server:
 * GET /challenge?action=…, answer it with src/auth (see
 * {@link answerBootstrapChallenge}), then POST /register, POST /heartbeat or
 * DELETE /unregister.
 * @param init.privateKey - the node's transport key, Ed25519 or secp256k1 (the key registered)
 * @param init.record - the node's signed peer record (src/registry signPeerRecord); required for `register`
 * @returns the server's answer
 * @throws UMBRA_ERR_BOOTSTRAP_FAILED with the HTTP status (`status`) of a refusal
 */
export async function signedBootstrapCall (url: string, action: BootstrapAction, init: { privateKey: PrivateKey, record?: Uint8Array, signal?: AbortSignal }): Promise<unknown> {
  const base = normalizeBootstrapUrl(url)
  const { issued } = await call<{ issued?: unknown }>(base, 'GET', `/challenge?action=${action}`, undefined, init.signal)
  const signed = await answerBootstrapChallenge(init.privateKey, action, issued)
  const body = { ...signed, ...(init.record != null ? { record: Buffer.from(init.record).toString('base64') } : {}) }
  const method = action === 'unregister' ? 'DELETE' : 'POST'
  return await call(base, method, `/${action}`, body, init.signal)
}
