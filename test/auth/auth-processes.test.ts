/**
 * Challenge-response over real `umbra start` processes (issue 14, item 1,
 * "Must show"): two nodes; a challenge is accepted once, and a replayed
 * response, a response for another purpose, an expired challenge and a
 * signature by another key are refused with their codes, over HTTP, the CLI
 * and /umbra/auth/1.0.0.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { ApiCallError, serverProcesses, startNetwork, stopAllAndClean, type UmbraProcess } from '../mixnet/process-helpers.ts'
import { umbra } from '../cli/helpers.ts'
import type { Challenge, ChallengeResponse } from '../../src/auth/index.ts'

interface Verified { valid: boolean, key: string, purpose: string }

/** The API code of a refused call ('accepted' when it was not refused). */
async function codeOf (p: Promise<unknown>): Promise<string> {
  return await p.then(() => 'accepted', (err) => err instanceof ApiCallError ? `${err.status} ${err.code}` : String(err))
}

describe('auth over processes (issue 14, item 1)', { timeout: 90_000 }, () => {
  let dir: string
  let nodes: UmbraProcess[] = []
  let verifier: UmbraProcess
  let prover: UmbraProcess

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'umbra-auth-'))
    nodes = await serverProcesses(dir, 2, { preset: 'none' })
    const started = performance.now()
    await startNetwork(nodes)
    ;[verifier, prover] = nodes as [UmbraProcess, UmbraProcess]
    process.stderr.write(`# 2 nodes started in ${Math.round(performance.now() - started)} ms\n`)
  })
  after(async () => { await stopAllAndClean(nodes, dir) })

  const challenge = async (purpose: string, ttlMs?: number): Promise<Challenge> =>
    (await verifier.call<{ challenge: Challenge }>('POST', '/v1/auth/challenge', { purpose, ...(ttlMs != null ? { ttlMs } : {}) })).challenge
  const respond = async (node: UmbraProcess, c: Challenge): Promise<ChallengeResponse> =>
    (await node.call<{ response: ChallengeResponse }>('POST', '/v1/auth/respond', { challenge: c })).response
  const verify = async (c: Challenge, r: ChallengeResponse, extra: Record<string, string> = {}): Promise<Verified> =>
    await verifier.call<Verified>('POST', '/v1/auth/verify', { challenge: c, response: r, ...extra })

  it('accepts a response once; a replay is 400 UMBRA_ERR_AUTH_REPLAY', async (t) => {
    const c = await challenge('login')
    assert.equal(c.issuer, verifier.id.key)
    const r = await respond(prover, c)
    const started = performance.now()
    assert.deepEqual(await verify(c, r, { key: prover.id.key, purpose: 'login' }), { valid: true, key: prover.id.key, purpose: 'login' })
    t.diagnostic(`verify over HTTP: ${(performance.now() - started).toFixed(1)} ms`)
    assert.equal(await codeOf(verify(c, r)), '400 UMBRA_ERR_AUTH_REPLAY')
  })

  it('refuses another purpose, an expired challenge and another key with their codes', async (t) => {
    const login = await challenge('login')
    const vote = await challenge('vote')
    const forLogin = await respond(prover, login)
    assert.equal(await codeOf(verify(vote, forLogin)), '400 UMBRA_ERR_AUTH_PURPOSE')
    assert.equal(await codeOf(verify(login, forLogin, { purpose: 'vote' })), '400 UMBRA_ERR_AUTH_PURPOSE')

    // Signed by the verifier's own key, presented as the prover's; and a true answer by the wrong key.
    const byOther = await respond(verifier, login)
    assert.equal(await codeOf(verify(login, { ...byOther, key: prover.id.key })), '400 UMBRA_ERR_AUTH_SIGNATURE')
    assert.equal(await codeOf(verify(login, byOther, { key: prover.id.key })), '400 UMBRA_ERR_AUTH_SIGNATURE')
    // A challenge the prover edited (a later expiry) is not one the verifier issued.
    assert.equal(await codeOf(verify({ ...login, expiresAt: login.expiresAt + 60_000 }, forLogin)), '400 UMBRA_ERR_AUTH_CHALLENGE')

    const short = await challenge('login', 1000)
    const early = await respond(prover, short)
    await sleep(1100)
    assert.equal(await codeOf(verify(short, early)), '400 UMBRA_ERR_AUTH_EXPIRED')
    assert.equal(await codeOf(respond(prover, short)), '400 UMBRA_ERR_AUTH_EXPIRED')

    // None of the refusals used up the login challenge: its true answer is still accepted, once.
    assert.equal((await verify(login, forLogin)).key, prover.id.key)
    t.diagnostic('refused: purpose x2, signature x2, edited challenge, expired x2; then the true answer accepted')
  })

  it('a peer proves its node key over /umbra/auth/1.0.0', async (t) => {
    const started = performance.now()
    const proven = await verifier.call<Verified>('POST', '/v1/auth/prove', { peer: prover.id.peerId, purpose: 'peer-check' })
    t.diagnostic(`prove over /umbra/auth/1.0.0 via HTTP: ${(performance.now() - started).toFixed(1)} ms`)
    assert.deepEqual(proven, { valid: true, key: prover.id.key, purpose: 'peer-check' })
  })

  it('the CLI: umbra auth challenge | respond | verify, a replay exits 1 with its code', async () => {
    const ch = await umbra(['auth', 'challenge', '--purpose', 'cli-login', '--data-dir', verifier.dataDir])
    assert.equal(ch.code, 0, ch.stderr)
    const rs = await umbra(['auth', 'respond', ch.stdout.trim(), '--data-dir', prover.dataDir])
    assert.equal(rs.code, 0, rs.stderr)
    const ok = await umbra(['auth', 'verify', ch.stdout.trim(), rs.stdout.trim(), '--data-dir', verifier.dataDir])
    assert.equal(ok.code, 0, ok.stderr)
    assert.equal(ok.stdout.trim(), `valid ${prover.id.key} (cli-login)`)
    const again = await umbra(['auth', 'verify', ch.stdout.trim(), rs.stdout.trim(), '--data-dir', verifier.dataDir])
    assert.equal(again.code, 1)
    assert.match(again.stderr, /UMBRA_ERR_AUTH_REPLAY/)
    const bad = await umbra(['auth', 'respond', '{not json', '--data-dir', prover.dataDir])
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /UMBRA_ERR_INVALID_OPTION/)
  })
})
