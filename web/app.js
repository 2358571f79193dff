/* global document, window */
/**
 * The dashboard page (issue 12, item 2; docs/dashboard.md): log in with the
 * API token, then show what the node's HTTP API tells, refreshed every
 * {@link POLL_MS} and at once on the event stream's events. Everything is
 * written with `textContent` (never HTML), so a message body or a peer's
 * address cannot inject markup.
 */
import { Api, ApiFailure } from './api.js'

/** How often every section is fetched again, ms (events refresh the affected ones at once). */
const POLL_MS = 5000
/** Wait before re-opening a broken event stream, ms; doubled per failure up to {@link STREAM_RETRY_MAX_MS}. */
const STREAM_RETRY_MS = 1000
const STREAM_RETRY_MAX_MS = 30000
/** Most inbox entries shown (the newest). */
const INBOX_SHOWN = 200

const $ = (id) => document.getElementById(id)

/** The logged-in session, or null: the API object (holding the token), the poll timer and the stream's controller. */
let session = null
/** Round-trip times measured with the Ping buttons, by PeerId, ms. */
const rtts = new Map()

/** Creates an element with text and class, and appends children. */
function el (tag, { text, cls, title } = {}, ...children) {
  const node = document.createElement(tag)
  if (text !== undefined) node.textContent = String(text)
  if (cls !== undefined) node.className = cls
  if (title !== undefined) node.title = title
  for (const child of children) node.append(child)
  return node
}

function badge (text, cls = text) {
  return el('span', { text, cls: `badge ${cls}` })
}

function time (ms) {
  return new Date(ms).toLocaleTimeString()
}

function short (id) {
  return typeof id === 'string' && id.length > 20 ? `${id.slice(0, 10)}…${id.slice(-6)}` : String(id)
}

/** Replaces a `<dl>`'s content with `[term, value]` pairs; a value may be a node or text. */
function fields (dl, pairs) {
  dl.replaceChildren(...pairs.flatMap(([term, value]) => [el('dt', { text: term }), value instanceof window.Node ? el('dd', {}, value) : el('dd', { text: value })]))
}

/** Replaces a table body's rows; shows `empty` in one cell when there are none. */
function rows (table, list, columns, empty) {
  const body = table.tBodies[0]
  if (list.length === 0) {
    const cell = el('td', { text: empty, cls: 'empty' })
    cell.colSpan = columns
    body.replaceChildren(el('tr', {}, cell))
    return
  }
  body.replaceChildren(...list)
}

function cell (content) {
  return content instanceof window.Node ? el('td', {}, content) : el('td', { text: content })
}

function lines (values) {
  return values.length === 0 ? '—' : values.join('\n')
}

function describe (err) {
  return err instanceof ApiFailure ? `${err.code}: ${err.message}` : String(err?.message ?? err)
}

// ---- sections ------------------------------------------------------------

function renderNode (node) {
  $('node-title').textContent = `${node.role} · ${short(node.peerId)}`
  fields($('node'), [
    ['PeerId', node.peerId],
    ['Transport key', node.key],
    ['Role', node.role],
    ['Connected peers', node.peers],
    ['Listening', lines(node.addrs)]
  ])
  const nat = node.nat
  fields($('nat'), [
    ['Reachability', badge(nat.reachability, nat.reachability === 'public' ? 'on' : nat.reachability === 'private' ? 'off' : '')],
    ['Reachable at', lines(nat.reachableAddrs)],
    ['Relay reservations', lines(nat.relays)],
    ['STUN server port', nat.stunPort ?? '—'],
    ['STUN servers used', lines(nat.stunServers)]
  ])
}

function renderPeers ({ peers }) {
  $('peer-count').textContent = `(${peers.length})`
  rows($('peers'), peers.map((peer) => {
    const rtt = rtts.get(peer.peerId)
    const ping = el('button', { text: 'Ping', cls: 'small' })
    ping.type = 'button'
    ping.addEventListener('click', () => { void probe(peer.peerId, ping) })
    const tr = el('tr', {}, cell(peer.peerId), cell(badge(peer.path)), cell(lines(peer.addrs)), cell(rtt === undefined ? '—' : rtt), cell(ping))
    tr.dataset.peer = peer.peerId
    return tr
  }), 5, 'No connected peers')
}

/** Ping button: `POST /v1/nat/holepunch` reuses or upgrades the connection and pings over it. */
async function probe (peerId, button) {
  if (session === null) return
  button.disabled = true
  try {
    const result = await session.api.request('POST', '/v1/nat/holepunch', { peer: peerId })
    rtts.set(peerId, result.rttMs < 0 ? `ping failed (${result.path})` : `${result.rttMs.toFixed(1)} ms (${result.path}, ${result.method})`)
  } catch (err) {
    rtts.set(peerId, describe(err))
  } finally {
    button.disabled = false
  }
  shown.delete('peers')
  await refresh(['peers'])
}

function renderMixnet (mixnet) {
  const { parameters, counters } = mixnet
  fields($('mixnet'), [
    ['Preset', mixnet.preset],
    ['Mean delay per hop', `${parameters.meanDelayMs} ms`],
    ['Loop cover rate', `${parameters.loopRate} /s`],
    ['Drop cover rate', `${parameters.dropRate} /s`],
    ['Reply gateway', mixnet.replyGateway ?? '—'],
    ['Suspected mixes', mixnet.suspects?.length ?? 0]
  ])
  $('mix-count').textContent = `(${mixnet.directory.length})`
  rows($('mix-directory'), mixnet.directory.map((mix) =>
    el('tr', {}, cell(mix.peerId), cell(lines(mix.addrs)), cell(mix.epochs.join(', ')), cell(time(mix.expiresAt)))
  ), 4, 'The directory is empty')
  const dropped = Object.entries(counters.dropped).map(([reason, n]) => `${reason}: ${n}`).join(', ')
  fields($('mix-counters'), [
    ['Packets in', counters.packetsIn],
    ['Forwarded', `${counters.forwarded} (failed ${counters.forwardFailed})`],
    ['Dropped', dropped === '' ? '0' : dropped],
    ['Fragments sent', `${counters.fragmentsSent} (retransmitted ${counters.retransmitted})`],
    ['Loop cover', `${counters.loopsSent} sent, ${counters.loopsReturned} returned`],
    ['Drop cover sent', counters.dropCoverSent],
    ['Cover received', counters.coverDropped]
  ])
  fields($('mailbox'), [
    ['Stored for recipients', counters.stored],
    ['Refused (quota, unknown mailbox)', counters.refused],
    ['Acknowledgements sent', `${counters.acksSent} (failed ${counters.acksFailed})`],
    ['Reply mailbox moves', counters.replyGatewayMoves]
  ])
}

function renderQuotas ({ refused }) {
  fields($('quotas'), Object.entries(refused).map(([kind, n]) => [kind, n]))
}

function renderPseudonyms ({ pseudonyms }) {
  rows($('pseudonyms'), pseudonyms.map((p) => {
    const purge = el('button', { text: 'Empty mailbox', cls: 'small', title: "Have the gateway delete what this pseudonym's mailbox holds" })
    purge.type = 'button'
    purge.addEventListener('click', () => { void purgeMailbox(p.key, purge) })
    return el('tr', {}, cell(p.key), cell(p.label ?? ''), cell(lines(p.gateways)), cell(badge(p.online ? 'online' : 'offline')), cell(purge))
  }), 5, 'No pseudonyms yet')
}

async function purgeMailbox (key, button) {
  if (session === null) return
  button.disabled = true
  try {
    const { deleted } = await session.api.request('POST', `/v1/pseudonyms/${encodeURIComponent(key)}/purge`, {})
    $('pseudonym-result').textContent = `The gateway deleted ${deleted} stored item(s) for ${short(key)}`
  } catch (err) {
    $('pseudonym-result').textContent = describe(err)
  } finally {
    button.disabled = false
  }
}

function renderInbox ({ messages }) {
  $('inbox-count').textContent = `(${messages.length})`
  const newest = messages.slice(-INBOX_SHOWN).reverse()
  $('inbox').replaceChildren(...newest.map((m) => {
    const meta = el('div', { cls: 'meta' }, badge(m.kind), el('span', { text: time(m.receivedAt) }))
    if (m.kind === 'direct') meta.append(el('span', { text: `from ${m.from}`, cls: 'mono' }))
    if (m.kind === 'anonymous') meta.append(el('span', { text: `to ${m.to} · reply blocks left: ${m.repliesLeft}`, cls: 'mono' }))
    if (m.kind === 'reply') meta.append(el('span', { text: `reply to ${m.inReplyTo}`, cls: 'mono' }))
    const body = el('div', { cls: 'body', text: m.encoding === 'base64' ? `[base64] ${m.body}` : m.body })
    const li = el('li', {}, meta, body)
    li.dataset.kind = m.kind
    if (m.kind === 'anonymous' && m.repliesLeft > 0) li.append(replyForm(m.id))
    return li
  }))
  if (newest.length === 0) $('inbox').replaceChildren(el('li', { text: 'No messages yet', cls: 'hint' }))
}

/** An inline form answering anonymous message `id` through one of its reply blocks (`POST /v1/messages/{id}/reply`). */
function replyForm (id) {
  const input = el('input')
  input.name = 'reply'
  input.required = true
  input.placeholder = 'Reply without learning who sent it'
  const button = el('button', { text: 'Reply', cls: 'small' })
  button.type = 'submit'
  const out = el('span', { cls: 'hint' })
  const form = el('form', { cls: 'reply' }, input, button, out)
  onSubmit(form, out, async (api) => {
    const r = await api.request('POST', `/v1/messages/${encodeURIComponent(id)}/reply`, { body: input.value })
    input.value = ''
    void refresh(['inbox'])
    return `Reply sent (${r.repliesLeft} left)`
  })
  return form
}

/** Each section: the route it shows and how it is drawn. */
const SECTIONS = {
  node: ['/v1/node', renderNode],
  peers: ['/v1/peers', renderPeers],
  mixnet: ['/v1/mixnet', renderMixnet],
  quotas: ['/v1/quotas', renderQuotas],
  pseudonyms: ['/v1/pseudonyms', renderPseudonyms],
  inbox: ['/v1/messages', renderInbox]
}
/** The JSON each section was last drawn from: an unchanged answer is not redrawn (keeps selections and typing). */
const shown = new Map()

function showRefreshError (err) {
  $('refresh-error').textContent = describe(err)
  if (err instanceof ApiFailure && err.status === 401) logout('The token is no longer accepted; log in again.')
}

/** Fetches the named sections (all by default) and redraws those whose answer changed; the first failure is shown, a full success clears it. */
async function refresh (names = Object.keys(SECTIONS)) {
  if (session === null) return
  const current = session
  const results = await Promise.allSettled(names.map(async (name) => {
    const [path, render] = SECTIONS[name]
    const data = await current.api.request('GET', path, undefined, current.abort.signal)
    const json = JSON.stringify(data)
    if (session !== current || shown.get(name) === json) return
    shown.set(name, json)
    render(data)
  }))
  if (session !== current) return
  const failed = results.find((r) => r.status === 'rejected')
  if (failed !== undefined) showRefreshError(failed.reason)
  else if (names.length === Object.keys(SECTIONS).length) $('refresh-error').textContent = ''
}

// ---- live updates --------------------------------------------------------

const EVENT_SECTIONS = {
  'peer:connect': ['peers', 'node'],
  'peer:disconnect': ['peers', 'node'],
  message: ['inbox'],
  'anonymous:message': ['inbox'],
  'anonymous:reply': ['inbox'],
  'anonymous:delivered': ['mixnet'],
  'anonymous:status': ['mixnet']
}

function setLive (on) {
  const live = $('live')
  live.textContent = on ? 'live' : 'offline'
  live.className = `badge ${on ? 'on' : 'off'}`
}

/** Keeps the event stream open while logged in, re-opening it with back-off. */
async function stream (current) {
  let wait = STREAM_RETRY_MS
  while (session === current && !current.abort.signal.aborted) {
    try {
      await current.api.events((name) => {
        const names = EVENT_SECTIONS[name]
        if (names !== undefined) void refresh(names)
      }, () => {
        setLive(true)
        wait = STREAM_RETRY_MS
        // Events sent while the stream was down are lost: fetch everything once it is back.
        void refresh()
      }, current.abort.signal)
    } catch (err) {
      if (current.abort.signal.aborted) return
      if (err instanceof ApiFailure && err.status === 401) { showRefreshError(err); return }
    }
    setLive(false)
    await new Promise((resolve) => setTimeout(resolve, wait))
    wait = Math.min(wait * 2, STREAM_RETRY_MAX_MS)
  }
}

// ---- login ---------------------------------------------------------------

function logout (message = '') {
  if (session !== null) {
    session.abort.abort()
    clearInterval(session.timer)
  }
  session = null
  rtts.clear()
  shown.clear()
  setLive(false)
  $('dashboard').hidden = true
  $('logout').hidden = true
  $('login').hidden = false
  $('node-title').textContent = ''
  $('login-error').textContent = message
  for (const id of ['refresh-error', 'peer-count', 'inbox-count', 'mix-count']) $(id).textContent = ''
  for (const id of ['node', 'nat', 'mixnet', 'mix-counters', 'mailbox', 'quotas', 'inbox', 'dht-result', 'send-result', 'pseudonym-result']) $(id).replaceChildren()
  for (const id of ['peers', 'pseudonyms', 'mix-directory']) $(id).tBodies[0].replaceChildren()
}

async function login (event) {
  event.preventDefault()
  const input = $('token')
  const token = input.value.trim()
  // The token leaves the DOM at once; from here on only the Api object holds it.
  input.value = ''
  const button = $('login-button')
  button.disabled = true
  $('login-error').textContent = ''
  const api = new Api(token)
  try {
    await api.request('GET', '/v1/node')
  } catch (err) {
    $('login-error').textContent = err instanceof ApiFailure && err.status === 401 ? 'This token is not accepted by the node.' : describe(err)
    return
  } finally {
    button.disabled = false
  }
  const current = { api, abort: new AbortController(), timer: undefined }
  session = current
  current.timer = setInterval(() => { void refresh() }, POLL_MS)
  $('login').hidden = true
  $('dashboard').hidden = false
  $('logout').hidden = false
  await refresh()
  void stream(current)
}

// ---- forms ---------------------------------------------------------------

/** Runs a form's action with its submit button disabled; writes the outcome (or the API error) to `out`. */
function onSubmit (form, out, action) {
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    if (session === null) return
    const button = form.querySelector('button[type=submit]')
    button.disabled = true
    out.textContent = '…'
    out.className = ''
    action(session.api).then((text) => {
      out.textContent = text
      out.className = 'ok'
    }, (err) => {
      out.textContent = describe(err)
      out.className = 'error'
    }).finally(() => { button.disabled = false })
  })
}

function wireForms () {
  $('login-form').addEventListener('submit', (event) => { void login(event) })
  $('logout').addEventListener('click', () => { logout() })

  const anonymous = $('send-anonymous')
  anonymous.addEventListener('change', () => {
    $('send-hops').disabled = !anonymous.checked
    $('send-wait').disabled = !anonymous.checked
  })

  onSubmit($('send-form'), $('send-result'), async (api) => {
    const body = { to: $('send-to').value.trim(), body: $('send-body').value }
    if (anonymous.checked) {
      body.anonymous = true
      body.wait = $('send-wait').value
      const hops = $('send-hops').value
      if (hops !== '') body.hops = Number(hops)
    }
    const result = await api.request('POST', '/v1/messages', body)
    $('send-body').value = ''
    return result.anonymous
      ? `Sent anonymously: ${result.fragments} packet(s), ${result.status} after ${result.rttMs.toFixed(0)} ms (id ${result.id})`
      : `Delivered directly to ${short(result.to)} in ${result.rttMs.toFixed(0)} ms (id ${result.id})`
  })

  onSubmit($('pseudonym-form'), $('pseudonym-result'), async (api) => {
    const label = $('pseudonym-label').value.trim()
    const p = await api.request('POST', '/v1/pseudonyms', label === '' ? {} : { label })
    $('pseudonym-label').value = ''
    void refresh(['pseudonyms'])
    return `Created ${p.key} (gateways: ${p.gateways.map(short).join(', ') || 'none'})`
  })

  const dhtResult = $('dht-result')
  onSubmit($('dht-put-form'), dhtResult, async (api) => {
    const key = $('dht-put-key').value
    const ttl = $('dht-put-ttl').value
    const body = { value: $('dht-put-value').value, encoding: 'utf8', ...(ttl !== '' ? { ttl: Number(ttl) } : {}) }
    const r = await api.request('PUT', `/v1/dht/${encodeURIComponent(key)}`, body)
    return `Stored ${JSON.stringify(r.key)} seq ${r.seq} on ${r.storedOn} node(s), expires ${new Date(r.expiresAt).toLocaleString()}`
  })
  onSubmit($('dht-get-form'), dhtResult, async (api) => {
    const r = await api.request('GET', `/v1/dht/${encodeURIComponent($('dht-get-key').value)}`)
    return [`${JSON.stringify(r.key)} = ${r.encoding === 'base64' ? `[base64] ${r.value}` : r.value}`, `publisher ${r.publisher}, seq ${r.seq}, from ${r.source}, expires ${new Date(r.expiresAt).toLocaleString()}`].join('\n')
  })
  onSubmit($('name-form'), dhtResult, async (api) => {
    const r = await api.request('GET', `/v1/names/${encodeURIComponent($('name-lookup').value.trim())}`)
    return [`${r.name} (${r.kind} name, owner ${r.owner}, seq ${r.seq}, from ${r.source})`, ...r.records.map((rec) => `  ${rec.type}: ${rec.value}`)].join('\n')
  })
}

wireForms()
document.body.dataset.ready = 'true'
