/**
 * The dashboard in a real browser (issue 12, item 2): headless Debian
 * Chromium driven by playwright-core against three in-process nodes on
 * loopback, two of them with the HTTP API. The test logs in through the form
 * (a wrong token first), sees the node's peers, creates a pseudonym on B,
 * sends B a direct and an anonymous message from A's page and sees both
 * arrive on B's page without a reload while its timers are paused (so over
 * the event stream, not the 5 s poll), and B's reply to the
 * anonymous one arrive on A's page. It checks that no token is in the
 * page's HTML, that the CSP header is strict and that the browser reported
 * no CSP violation, and that a foreign `Host` is refused.
 * Screenshots go to test-output/screenshots/.
 *
 * Needs /usr/bin/chromium (or $UMBRA_CHROMIUM); `.ci/run` installs it. When
 * it is missing the test fails and says so: it never skips.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { request } from 'node:http'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { createApiServer, type ApiServer } from '../../src/api/index.ts'
import { createTestnet, type Testnet } from '../../src/testnet/index.ts'
import type { UmbraNode } from '../../src/node/index.ts'
import { DASHBOARD_CSP } from '../../src/web/index.ts'

const CHROMIUM = process.env.UMBRA_CHROMIUM ?? '/usr/bin/chromium'
const SCREENSHOTS = join(import.meta.dirname, '..', '..', 'test-output', 'screenshots')
const NODES = 3
const TOKEN_A = 'dashboard-token-A-5f1c0e9b7a'
const TOKEN_B = 'dashboard-token-B-93d2aa41c6'
/** How long the page may take to show something the API already has: two 5 s polls plus slack on a loaded machine. */
const UI_TIMEOUT_MS = 15_000

/** GET over node:http with a chosen Host header (fetch does not let a caller set Host). */
async function getWithHost (url: string, host: string): Promise<{ status: number, body: string }> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { headers: { host } }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body }) })
    })
    req.on('error', reject)
    req.end()
  })
}

/** Everything the browser said about a page that means the page is broken: script errors and CSP violations. */
function watch (page: Page): string[] {
  const problems: string[] = []
  page.on('pageerror', (err) => { problems.push(`pageerror: ${err.message}`) })
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content.Security.Policy|Refused to/i.test(msg.text())) problems.push(`console: ${msg.text()}`)
  })
  return problems
}

async function login (page: Page, url: string, token: string): Promise<void> {
  await page.goto(`${url}/`)
  await page.locator('body[data-ready="true"]').waitFor({ timeout: UI_TIMEOUT_MS })
  await page.fill('#token', token)
  await page.click('#login-button')
  await page.locator('#dashboard').waitFor({ state: 'visible', timeout: UI_TIMEOUT_MS })
  await page.locator('#live.on').waitFor({ timeout: UI_TIMEOUT_MS })
}

describe('dashboard in headless Chromium', { timeout: 120_000 }, () => {
  let net: Testnet
  let a: UmbraNode, b: UmbraNode
  let apiA: ApiServer, apiB: ApiServer
  let browser: Browser | undefined

  before(async () => {
    // Fail, never skip: CI must prove the page works in a browser.
    assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}: install Debian's chromium (apt-get install -y chromium; .ci/run does) or set UMBRA_CHROMIUM to its path. Never run "npx playwright install".`)
    await mkdir(SCREENSHOTS, { recursive: true })
    net = await createTestnet(NODES, { mixnet: { preset: 'none', threads: 1 } })
    ;[a, b] = net.nodes as [UmbraNode, UmbraNode]
    apiA = await createApiServer(a, { token: TOKEN_A, port: 0 })
    apiB = await createApiServer(b, { token: TOKEN_B, port: 0 })
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
  })

  after(async () => {
    await browser?.close()
    await apiA?.close()
    await apiB?.close()
    await net?.stop()
  })

  it('serves the page with a strict CSP, no token in its HTML, and refuses a foreign Host', async (t) => {
    const res = await fetch(`${apiA.url}/`)
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/)
    const csp = res.headers.get('content-security-policy') ?? ''
    assert.equal(csp, DASHBOARD_CSP)
    assert.match(csp, /script-src 'self'/)
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/)
    assert.equal(res.headers.get('x-frame-options'), 'DENY')
    const html = await res.text()
    assert.ok(!html.includes(TOKEN_A) && !html.includes(TOKEN_B), 'the page source holds no token')
    assert.doesNotMatch(html, /<script>|<style>|\son[a-z]+=|\sstyle=/i, 'no inline script, style or handler')
    const script = await fetch(`${apiA.url}/assets/app.js`)
    assert.equal(script.status, 200)
    assert.match(script.headers.get('content-type') ?? '', /^text\/javascript/)
    assert.equal((await fetch(`${apiA.url}/assets/..%2Fpackage.json`)).status, 404)

    const port = new URL(apiA.url).port
    const foreign = await getWithHost(`${apiA.url}/`, `evil.example:${port}`)
    assert.equal(foreign.status, 421)
    assert.equal(JSON.parse(foreign.body).error.code, 'UMBRA_ERR_HOST_NOT_ALLOWED')
    // DNS rebinding against the API routes too, and the same host on another port.
    assert.equal((await getWithHost(`${apiA.url}/v1/health`, `rebind.attacker.test:${port}`)).status, 421)
    assert.equal((await getWithHost(`${apiA.url}/v1/health`, '127.0.0.1:1')).status, 421)
    assert.equal((await getWithHost(`${apiA.url}/`, `localhost:${port}`)).status, 200)
    assert.equal((await getWithHost(`${apiA.url}/v1/health`, `127.0.0.1:${port}`)).status, 200)
    t.diagnostic(`CSP: ${csp}`)
  })

  it('logs in through the form, shows peers, and a sent message arrives live on the other node\'s page', async (t) => {
    assert.ok(browser !== undefined)
    const pageA = await browser.newPage({ viewport: { width: 1280, height: 1000 } })
    const pageB = await browser.newPage({ viewport: { width: 1280, height: 1000 } })
    const problemsA = watch(pageA)
    const problemsB = watch(pageB)

    // A wrong token is refused with a message, and the form stays.
    await pageA.goto(`${apiA.url}/`)
    await pageA.locator('body[data-ready="true"]').waitFor({ timeout: UI_TIMEOUT_MS })
    await pageA.fill('#token', 'not-the-token')
    await pageA.click('#login-button')
    await pageA.locator('#login-error', { hasText: 'not accepted' }).waitFor({ timeout: UI_TIMEOUT_MS })
    assert.equal(await pageA.locator('#dashboard').isHidden(), true)

    let started = Date.now()
    await login(pageA, apiA.url, TOKEN_A)
    t.diagnostic(`A: login to live event stream ${Date.now() - started} ms`)
    // Its peers: every other node of the testnet, each a row with its PeerId and path.
    for (const other of net.nodes.filter((n) => n !== a)) {
      await pageA.locator(`#peers tr[data-peer="${other.peerId}"]`).waitFor({ timeout: UI_TIMEOUT_MS })
    }
    const peerRows = await pageA.locator('#peers tbody tr[data-peer]').count()
    assert.equal(peerRows, a.getPeers().length)
    assert.match(await pageA.locator(`#peers tr[data-peer="${b.peerId}"]`).innerText(), /direct/)
    // RTT through the Ping button.
    await pageA.locator(`#peers tr[data-peer="${b.peerId}"] button`).click()
    const rttText = await pageA.locator(`#peers tr[data-peer="${b.peerId}"] td:nth-child(4)`, { hasText: ' ms' }).innerText({ timeout: UI_TIMEOUT_MS })
    t.diagnostic(`A → B RTT shown: ${rttText}`)
    assert.match(await pageA.locator('#nat').innerText(), /Reachability\s+public/)
    await pageA.locator('#mix-count', { hasText: `(${NODES})` }).waitFor({ timeout: UI_TIMEOUT_MS })
    assert.equal(await pageA.locator('#mix-directory tbody tr').count(), NODES)
    await pageA.screenshot({ path: join(SCREENSHOTS, 'a-peers.png'), fullPage: true })

    // B's page runs on a fake clock, so that once it is paused nothing but the event stream can update it.
    await pageB.clock.install({ time: Date.now() })
    await login(pageB, apiB.url, TOKEN_B)
    // A pseudonym on B through the form; its gateway shows in the table.
    await pageB.fill('#pseudonym-label', 'dashboard test')
    await pageB.click('#pseudonym-form button[type=submit]')
    await pageB.locator('#pseudonym-result.ok').waitFor({ timeout: 30_000 })
    const pseudonym = b.pseudonyms.list()[0]
    assert.ok(pseudonym !== undefined)
    const pseudonymRow = pageB.locator('#pseudonyms tbody tr', { hasText: pseudonym.key })
    await pseudonymRow.waitFor({ timeout: UI_TIMEOUT_MS })
    assert.match(await pseudonymRow.innerText(), new RegExp(pseudonym.gateways[0] ?? 'no gateway'))

    // From here B's page fires no timer (no 5 s poll): what appears on it came over the event stream.
    await pageB.clock.pauseAt(Date.now() + 60_000)

    // Direct: A's form → B's page, live (no reload, no poll).
    const direct = `hello B from A's dashboard ${Date.now()}`
    started = Date.now()
    await pageA.fill('#send-to', b.peerId)
    await pageA.fill('#send-body', direct)
    await pageA.click('#send-button')
    await pageA.locator('#send-result.ok', { hasText: 'Delivered directly' }).waitFor({ timeout: 30_000 })
    await pageB.locator('#inbox li[data-kind="direct"]', { hasText: direct }).waitFor({ timeout: UI_TIMEOUT_MS })
    const directMs = Date.now() - started
    assert.match(await pageB.locator('#inbox li[data-kind="direct"]', { hasText: direct }).innerText(), new RegExp(`from ${a.peerId}`))

    // Anonymous: through one mix to B's pseudonym; B's page shows it without a sender.
    const anonymous = `anonymous hello ${Date.now()}`
    started = Date.now()
    await pageA.fill('#send-to', pseudonym.key)
    await pageA.fill('#send-body', anonymous)
    await pageA.check('#send-anonymous')
    await pageA.fill('#send-hops', '1')
    await pageA.click('#send-button')
    await pageA.locator('#send-result.ok', { hasText: 'Sent anonymously' }).waitFor({ timeout: 60_000 })
    await pageB.locator('#inbox li[data-kind="anonymous"]', { hasText: anonymous }).waitFor({ timeout: 30_000 })
    const anonymousMs = Date.now() - started
    assert.doesNotMatch(await pageB.locator('#inbox li[data-kind="anonymous"]').first().innerText(), new RegExp(a.peerId))
    // B answers through a reply block of the anonymous message; A's page shows the reply, B never learnt who A is.
    const answer = `anonymous answer ${Date.now()}`
    started = Date.now()
    const received = pageB.locator('#inbox li[data-kind="anonymous"]', { hasText: anonymous })
    await received.locator('input[name=reply]').fill(answer)
    await received.locator('button[type=submit]').click()
    await pageA.locator('#inbox li[data-kind="reply"]', { hasText: answer }).waitFor({ timeout: 30_000 })
    const replyMs = Date.now() - started
    t.diagnostic(`on the other page after clicking: direct ${directMs} ms, anonymous (1 hop) ${anonymousMs} ms, reply ${replyMs} ms`)

    // DHT put on A, get on B through the forms.
    await pageB.clock.resume()
    await pageA.fill('#dht-put-key', 'dashboard-key')
    await pageA.fill('#dht-put-value', 'dashboard-value')
    await pageA.click('#dht-put-form button[type=submit]')
    await pageA.locator('#dht-result.ok', { hasText: 'Stored' }).waitFor({ timeout: 30_000 })
    await pageB.fill('#dht-get-key', 'dashboard-key')
    await pageB.click('#dht-get-form button[type=submit]')
    await pageB.locator('#dht-result.ok', { hasText: 'dashboard-value' }).waitFor({ timeout: 30_000 })

    await pageA.screenshot({ path: join(SCREENSHOTS, 'a-sent.png'), fullPage: true })
    await pageB.screenshot({ path: join(SCREENSHOTS, 'b-inbox.png'), fullPage: true })

    // After login the token is in no attribute, input or text of either page, nor in its URL.
    for (const [page, token] of [[pageA, TOKEN_A], [pageB, TOKEN_B]] as const) {
      const dom = await page.content()
      assert.ok(!dom.includes(TOKEN_A) && !dom.includes(TOKEN_B), 'the live DOM holds no token')
      assert.ok(!page.url().includes(token))
      assert.equal(await page.inputValue('#token'), '')
    }
    assert.deepEqual(problemsA, [])
    assert.deepEqual(problemsB, [])

    // Log out: the dashboard goes, and the next API call from the page would need the token again.
    await pageA.click('#logout')
    assert.equal(await pageA.locator('#login').isVisible(), true)
    assert.equal(await pageA.locator('#peers tbody tr').count(), 0)
    await pageA.close()
    await pageB.close()
  })
})
