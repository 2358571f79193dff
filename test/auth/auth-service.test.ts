import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createAuth, signedBytes, AUTH_RESPONSE_CONTEXT } from '../../src/auth/index.ts'
import { encodeKey } from '../../src/identity/keys.ts'

/** An auth service with a clock the test moves. */
async function service (clock = { t: 1_700_000_000_000 }): Promise<{ auth: ReturnType<typeof createAuth>, clock: { t: number }, key: string, pseudonym: string }> {
  const privateKey = await generateKeyPair('Ed25519')
  const pk = await generateKeyPair('Ed25519')
  const pseudonym = encodeKey(pk.publicKey.raw)
  const auth = createAuth({ privateKey, pseudonymKey: (k) => k === pseudonym ? pk : undefined, now: () => clock.t })
  return { auth, clock, key: encodeKey(privateKey.publicKey.raw), pseudonym }
}

const codeOf = async (p: Promise<unknown>): Promise<string> => await p.then(() => 'accepted', (err: { code?: string }) => err.code ?? String(err))

describe('auth: challenge-response (issue 14, item 1)', () => {
  it('accepts a response once, with the node key and with a pseudonym; a replay is UMBRA_ERR_AUTH_REPLAY', async () => {
    const { auth, key, pseudonym } = await service()
    const c = auth.challenge({ purpose: 'login' })
    const r = await auth.respond(c)
    assert.deepEqual(await auth.verify(c, r), { valid: true, key, purpose: 'login' })
    assert.equal(await codeOf(auth.verify(c, r)), 'UMBRA_ERR_AUTH_REPLAY')
    const c2 = auth.challenge({ purpose: 'login' })
    assert.equal((await auth.verify(c2, await auth.respond(c2, pseudonym))).key, pseudonym)
  })

  it('refuses another purpose, an expired challenge, a forged key, a forged tag and an unknown pseudonym with their codes', async () => {
    const { auth, clock, pseudonym } = await service()
    const other = await service()
    const login = auth.challenge({ purpose: 'login' })
    const vote = auth.challenge({ purpose: 'vote' })
    assert.equal(await codeOf(auth.verify(vote, await auth.respond(login))), 'UMBRA_ERR_AUTH_PURPOSE')
    assert.equal(await codeOf(auth.verify(login, await auth.respond(login), { purpose: 'vote' })), 'UMBRA_ERR_AUTH_PURPOSE')
    // Signed by another key but claiming this node's pseudonym.
    const forged = { ...(await other.auth.respond(login)), key: pseudonym }
    assert.equal(await codeOf(auth.verify(login, forged)), 'UMBRA_ERR_AUTH_SIGNATURE')
    assert.equal(await codeOf(auth.verify(login, await auth.respond(login), { key: pseudonym })), 'UMBRA_ERR_AUTH_SIGNATURE')
    // A challenge the prover made up (longer expiry) or one issued by another node.
    assert.equal(await codeOf(auth.verify({ ...login, expiresAt: login.expiresAt + 1 }, await auth.respond(login))), 'UMBRA_ERR_AUTH_CHALLENGE')
    const foreign = other.auth.challenge({ purpose: 'login' })
    assert.equal(await codeOf(auth.verify(foreign, await auth.respond(foreign))), 'UMBRA_ERR_AUTH_CHALLENGE')
    const short = auth.challenge({ purpose: 'login', ttlMs: 1000 })
    const early = await auth.respond(short)
    clock.t += 1000
    assert.equal(await codeOf(auth.verify(short, early)), 'UMBRA_ERR_AUTH_EXPIRED')
    assert.equal(await codeOf(auth.respond(short)), 'UMBRA_ERR_AUTH_EXPIRED')
    assert.equal(await codeOf(auth.respond(login, encodeKey(new Uint8Array(32)))), 'UMBRA_ERR_NOT_MY_PSEUDONYM')
    // The login challenge is still fresh and unused: the real answer is still accepted after all those refusals.
    assert.equal((await auth.verify(login, await auth.respond(login))).valid, true)
  })

  it('signs domain-separated bytes, never the raw nonce; bad options and malformed input give coded errors', async () => {
    const { auth, key } = await service()
    const c = auth.challenge({ purpose: 'login' })
    const bytes = Buffer.from(signedBytes(c, key))
    assert.ok(bytes.subarray(0, AUTH_RESPONSE_CONTEXT.length).equals(Buffer.from(AUTH_RESPONSE_CONTEXT)))
    assert.notDeepEqual(bytes, Buffer.from(c.nonce, 'base64url'))
    assert.throws(() => auth.challenge({ purpose: '' }), { code: 'UMBRA_ERR_INVALID_OPTION' })
    assert.throws(() => auth.challenge({ purpose: 'x', ttlMs: 999 }), { code: 'UMBRA_ERR_INVALID_OPTION' })
    assert.throws(() => auth.challenge({ purpose: 'x', ttlMs: 600_001 }), { code: 'UMBRA_ERR_INVALID_OPTION' })
    for (const bad of [null, 1, 'x', {}, { ...c, version: 2 }, { ...c, nonce: 'short' }, { ...c, issuer: 'key_x' }]) {
      assert.equal(await codeOf(auth.respond(bad)), 'UMBRA_ERR_AUTH_CHALLENGE')
      assert.equal(await codeOf(auth.verify(bad, {})), 'UMBRA_ERR_AUTH_CHALLENGE')
    }
    assert.equal(await codeOf(auth.verify(c, { ...(await auth.respond(c)), signature: 'A'.repeat(86) })), 'UMBRA_ERR_AUTH_SIGNATURE')
  })

  it('remembers a used nonce only until its challenge expires', async (t) => {
    const { auth, clock } = await service()
    const n = 2000
    const started = performance.now()
    for (let i = 0; i < n; i++) {
      const c = auth.challenge({ purpose: 'bulk', ttlMs: 1000 })
      await auth.verify(c, await auth.respond(c))
    }
    const perPair = (performance.now() - started) / n
    assert.equal(auth.usedNonces(), n)
    clock.t += 1000
    // After expiry the old entries are pruned on the next verify (no unbounded growth): a new challenge is still accepted.
    const c = auth.challenge({ purpose: 'bulk' })
    assert.equal((await auth.verify(c, await auth.respond(c))).valid, true)
    assert.equal(auth.usedNonces(), 1)
    t.diagnostic(`${n} challenge+respond+verify rounds: ${perPair.toFixed(3)} ms each; used nonces ${n} before expiry, 1 after`)
    assert.ok(perPair < 20, `${perPair} ms per challenge+respond+verify`)
  })
})
