/* global TextDecoderStream */
/**
 * The dashboard's client of the node's HTTP API (/v1, src/api/openapi.ts;
 * the served document is /v1/openapi.json). The token lives only in the
 * private field of an {@link Api} object: it is sent as
 * `Authorization: Bearer` and never written into the page, a URL, a cookie
 * or storage. Issue 12, item 2.
 */

/** A refused or failed API call: the HTTP status and the API's error code and message. */
export class ApiFailure extends Error {
  /**
   * @param {number} status - HTTP status, 0 when the request did not reach the node
   * @param {string} code - `UMBRA_ERR_…`
   * @param {string} message - the API's message
   */
  constructor (status, code, message) {
    super(message)
    this.name = 'ApiFailure'
    this.status = status
    this.code = code
  }
}

/** One API session: the token and the calls that carry it. */
export class Api {
  #token

  /** @param {string} token - the API token, as typed into the login form */
  constructor (token) {
    this.#token = token
  }

  /**
   * Calls one route and returns its JSON body.
   * @param {'GET'|'PUT'|'POST'|'DELETE'} method
   * @param {string} path - e.g. `/v1/peers` (path parameters already encoded)
   * @param {unknown} [body] - sent as JSON when given
   * @param {AbortSignal} [signal]
   * @returns {Promise<any>}
   * @throws {ApiFailure} on a non-2xx answer (with the API's code) or a network failure (status 0)
   */
  async request (method, path, body, signal) {
    const headers = { authorization: `Bearer ${this.#token}`, accept: 'application/json' }
    if (body !== undefined) headers['content-type'] = 'application/json'
    let res
    try {
      res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal, cache: 'no-store', credentials: 'omit' })
    } catch (err) {
      throw new ApiFailure(0, 'NETWORK', `The node did not answer (${err.message})`)
    }
    const text = await res.text()
    let json
    try {
      json = text === '' ? undefined : JSON.parse(text)
    } catch {
      json = undefined
    }
    if (!res.ok) {
      const error = json?.error
      throw new ApiFailure(res.status, error?.code ?? `HTTP_${res.status}`, error?.message ?? res.statusText)
    }
    return json
  }

  /**
   * Reads `GET /v1/events` as a streamed fetch (an `EventSource` cannot send
   * the Authorization header) and calls `onEvent(name, data)` for each
   * server-sent event, `onOpen()` once the stream answered. Resolves when the
   * node ends the stream.
   * @param {(name: string, data: any) => void} onEvent
   * @param {() => void} onOpen
   * @param {AbortSignal} signal - ends the stream
   * @throws {ApiFailure} when the stream is refused or breaks
   */
  async events (onEvent, onOpen, signal) {
    let res
    try {
      res = await fetch('/v1/events', { headers: { authorization: `Bearer ${this.#token}`, accept: 'text/event-stream' }, signal, cache: 'no-store', credentials: 'omit' })
    } catch (err) {
      throw new ApiFailure(0, 'NETWORK', `The event stream did not open (${err.message})`)
    }
    if (!res.ok || res.body === null) {
      const json = await res.json().catch(() => undefined)
      throw new ApiFailure(res.status, json?.error?.code ?? `HTTP_${res.status}`, json?.error?.message ?? res.statusText)
    }
    onOpen()
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
    let buffer = ''
    for (;;) {
      const { value, done } = await reader.read()
      if (done) return
      buffer += value.replace(/\r\n?/g, '\n')
      let end
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        dispatch(block, onEvent)
      }
    }
  }
}

/** Parses one event block (`event:` and `data:` lines; `:` comments are heartbeats). */
function dispatch (block, onEvent) {
  let name = 'message'
  const data = []
  for (const line of block.split('\n')) {
    if (line.startsWith(':') || line === '') continue
    const colon = line.indexOf(':')
    const field = colon < 0 ? line : line.slice(0, colon)
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
    if (field === 'event') name = value
    else if (field === 'data') data.push(value)
  }
  if (data.length === 0) return
  let parsed
  try {
    parsed = JSON.parse(data.join('\n'))
  } catch {
    return
  }
  onEvent(name, parsed)
}
