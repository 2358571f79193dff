import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { lpStream } from '@libp2p/utils'
import { encodeKey, publicKeyFromKey } from '../identity/keys.ts'
import { InvalidOptionError, UmbraError } from '../errors.ts'
import { NotMyPseudonymError } from '../mixnet/errors.ts'
import { withTimeout } from '../signals.ts'
import {
  AUTH_EXCHANGE_TIMEOUT_MS,
  AUTH_NONCE_BYTES,
  AUTH_PROTOCOL,
  AUTH_TAG_BYTES,
  AUTH_VERSION,
  DEFAULT_CHALLENGE_TTL_MS,
  MAX_AUTH_MESSAGE_BYTES,
  MAX_CHALLENGE_TTL_MS,
  MAX_USED_NONCES,
  MIN_CHALLENGE_TTL_MS
} from './constants.ts'
import { AuthChallengeError, AuthExpiredError, AuthPeerError, AuthPurposeError, AuthReplayError, AuthSignatureError } from './errors.ts'
import { checkPurpose, decodeMessage, encodeMessage, parseChallenge, parseResponse, signedBytes, tagBytes, type Challenge, type ChallengeResponse } from './wire.ts'
import type { Logger } from '../logger.ts'
import type { Libp2p, PeerId, PrivateKey, PublicKey, Stream } from '@libp2p/interface'

/** A PeerId key with a `key_` form: Ed25519, or secp256k1 (a wallet identity, issue 14 item 3). */
function hasKeyForm (key: PublicKey | undefined): key is PublicKey {
  return key?.type === 'Ed25519' || key?.type === 'secp256k1'
}

/** Options of {@link Auth.challenge}. */
export interface ChallengeOptions {
  /** What the proof is for; the response must be made for the same purpose. */
  purpose: string
  /** Lifetime, ms, {@link MIN_CHALLENGE_TTL_MS}-{@link MAX_CHALLENGE_TTL_MS}. @default 60000 */
  ttlMs?: number
}

/** Options of {@link Auth.verify}. */
export interface VerifyOptions {
  /** Refuse (UMBRA_ERR_AUTH_PURPOSE) unless the challenge was issued for this purpose. */
  purpose?: string
  /** Refuse (UMBRA_ERR_AUTH_SIGNATURE) unless this key (`key_…`) signed. */
  key?: string
}

/** What {@link Auth.verify} answers for an accepted response. */
export interface Verified {
  valid: true
  /** The key that proved itself, `key_…`. */
  key: string
  purpose: string
}

/**
 * Challenge-response authentication (issue 14, item 1; seed 002): this node
 * issues challenges, answers them with its node key or a pseudonym, and
 * verifies answers, each accepted once.
 */
export interface Auth {
  /**
   * Issues a challenge: 32 random bytes bound to `purpose`, this node's key
   * and an expiry, tagged (HMAC-SHA256 under a per-process secret) so that
   * {@link verify} knows it issued it. Challenges do not survive a restart.
   * @throws UMBRA_ERR_INVALID_OPTION (purpose, ttlMs)
   */
  challenge(options: ChallengeOptions): Challenge
  /**
   * Answers a challenge (from any issuer) with the node key (`key` left out or
   * the node's own `key_`) or one of this node's pseudonyms: a signature over
   * {@link signedBytes} (domain-separated, never the raw nonce) — Ed25519, or
   * ECDSA secp256k1 over SHA-256 (DER) when the node key is a wallet key.
   * @throws UMBRA_ERR_AUTH_CHALLENGE (malformed), UMBRA_ERR_AUTH_EXPIRED,
   *   UMBRA_ERR_NOT_MY_PSEUDONYM (a key this node does not hold)
   */
  respond(challenge: unknown, key?: string): Promise<ChallengeResponse>
  /**
   * Verifies a response to a challenge this node issued. In order: the
   * challenge is well formed and tagged by this process (UMBRA_ERR_AUTH_CHALLENGE),
   * not expired (UMBRA_ERR_AUTH_EXPIRED), the response is for its purpose
   * (UMBRA_ERR_AUTH_PURPOSE) and nonce (UMBRA_ERR_AUTH_CHALLENGE), the
   * signature verifies under the named key (UMBRA_ERR_AUTH_SIGNATURE), and the
   * nonce was not accepted before (UMBRA_ERR_AUTH_REPLAY). An accepted nonce is
   * remembered until its challenge expires (at most {@link MAX_USED_NONCES}).
   */
  verify(challenge: unknown, response: unknown, options?: VerifyOptions): Promise<Verified>
  /**
   * Asks a connected or dialable peer to prove its node key over
   * {@link AUTH_PROTOCOL}: sends a fresh challenge, verifies the answer, and
   * checks that the key is the peer's PeerId key. The answering side signs
   * only with its node key and only challenges the asking peer issued (no
   * relaying a third party's challenge through it).
   * @throws UMBRA_ERR_AUTH_PEER (no answer, refusal), the codes of {@link verify}
   */
  prove(peer: PeerId, options: { purpose: string, signal?: AbortSignal }): Promise<Verified>
}

/** What {@link createAuth} needs. */
export interface AuthComponents {
  /** For {@link AUTH_PROTOCOL}; left out: no network protocol (`prove` throws UMBRA_ERR_AUTH_PEER). */
  libp2p?: Libp2p
  /** The node key. */
  privateKey: PrivateKey
  /** A pseudonym's signing key by `key_`, undefined when not held. */
  pseudonymKey?: (key: string) => PrivateKey | undefined
  log?: Logger
  /** Clock, ms since the epoch (tests). @default Date.now */
  now?: () => number
}

/** {@link Auth} with the lifecycle of its network protocol. */
export interface AuthHandle extends Auth {
  /** Accepted nonces remembered now (each until its challenge expires; pruned on the next verify). */
  usedNonces(): number
  start(): Promise<void>
  stop(): Promise<void>
}

/**
 * Creates the challenge-response service (issue 14, item 1).
 *
 * @example
 * ```ts
 * const auth = createAuth({ privateKey })
 * const challenge = auth.challenge({ purpose: 'login', ttlMs: 30_000 })
 * const response = await auth.respond(challenge)          // node key
 * const { key } = await auth.verify(challenge, response)  // once; again: UMBRA_ERR_AUTH_REPLAY
 * ```
 */
export function createAuth (components: AuthComponents): AuthHandle {
  const { libp2p, privateKey, log } = components
  const now = components.now ?? Date.now
  const ownKey = encodeKey(privateKey.publicKey.raw)
  const secret = randomBytes(AUTH_TAG_BYTES)
  /** Accepted nonces → expiry of their challenge (insertion order ≈ expiry order within MAX_CHALLENGE_TTL_MS). */
  const used = new Map<string, number>()
  let running = false

  const tagOf = (c: Omit<Challenge, 'tag' | 'version'>): Buffer => createHmac('sha256', secret).update(tagBytes(c)).digest()

  function prune (t: number): void {
    for (const [nonce, expiresAt] of used) {
      if (expiresAt > t) continue
      used.delete(nonce)
    }
  }

  function signerKey (key: string | undefined): PrivateKey {
    if (key == null || key === ownKey) return privateKey
    const k = components.pseudonymKey?.(key)
    if (k == null) throw new NotMyPseudonymError(`This node holds neither a node key nor a pseudonym ${key}`)
    return k
  }

  const auth: AuthHandle = {
    challenge (options) {
      const purpose = checkPurpose(options?.purpose)
      const ttlMs = options.ttlMs ?? DEFAULT_CHALLENGE_TTL_MS
      if (!Number.isInteger(ttlMs) || ttlMs < MIN_CHALLENGE_TTL_MS || ttlMs > MAX_CHALLENGE_TTL_MS) {
        throw new InvalidOptionError(`ttlMs must be an integer number of ms from ${MIN_CHALLENGE_TTL_MS} to ${MAX_CHALLENGE_TTL_MS}`)
      }
      const fields = { purpose, issuer: ownKey, nonce: randomBytes(AUTH_NONCE_BYTES).toString('base64url'), expiresAt: now() + ttlMs }
      return { version: AUTH_VERSION, ...fields, tag: tagOf(fields).toString('base64url') }
    },

    async respond (value, key) {
      const challenge = parseChallenge(value)
      if (challenge.expiresAt <= now()) throw new AuthExpiredError()
      const signer = signerKey(key)
      const signerId = encodeKey(signer.publicKey.raw)
      const signature = await signer.sign(signedBytes(challenge, signerId))
      return { version: AUTH_VERSION, key: signerId, purpose: challenge.purpose, nonce: challenge.nonce, signature: Buffer.from(signature).toString('base64url') }
    },

    async verify (challengeValue, responseValue, options = {}) {
      const challenge = parseChallenge(challengeValue)
      const response = parseResponse(responseValue)
      const { tag, version: _v, ...fields } = challenge
      if (challenge.issuer !== ownKey || !timingSafeEqual(Buffer.from(tag, 'base64url'), tagOf(fields))) {
        throw new AuthChallengeError('This node (since its last start) did not issue that challenge')
      }
      const t = now()
      if (challenge.expiresAt <= t) throw new AuthExpiredError(`The challenge expired ${t - challenge.expiresAt} ms ago`)
      if (response.purpose !== challenge.purpose) throw new AuthPurposeError(`The response was made for "${response.purpose}", the challenge is for "${challenge.purpose}"`)
      if (options.purpose != null && options.purpose !== challenge.purpose) throw new AuthPurposeError(`The challenge is for "${challenge.purpose}", not "${options.purpose}"`)
      if (response.nonce !== challenge.nonce) throw new AuthChallengeError('The response answers another challenge')
      let ok: boolean
      try {
        ok = await publicKeyFromKey(response.key).verify(signedBytes(challenge, response.key), Buffer.from(response.signature, 'base64url'))
      } catch {
        ok = false // a secp256k1 key_ that is not a curve point, or a malformed DER signature
      }
      if (!ok) throw new AuthSignatureError(`The signature does not verify under ${response.key}`)
      if (options.key != null && options.key !== response.key) throw new AuthSignatureError(`${response.key} signed, not ${options.key}`)
      prune(t)
      if (used.has(challenge.nonce)) throw new AuthReplayError()
      if (used.size >= MAX_USED_NONCES) throw new UmbraError('Too many challenges answered at once; try again when some expired', 'UMBRA_ERR_AUTH_BUSY')
      used.set(challenge.nonce, challenge.expiresAt)
      return { valid: true, key: response.key, purpose: challenge.purpose }
    },

    async prove (peer, options) {
      if (libp2p == null) throw new AuthPeerError('This node has no network protocol for auth')
      const challenge = auth.challenge({ purpose: options.purpose })
      const signal = withTimeout(options.signal, AUTH_EXCHANGE_TIMEOUT_MS)
      let answer: Record<string, unknown>
      let stream: Stream | undefined
      try {
        stream = await libp2p.dialProtocol(peer, AUTH_PROTOCOL, { signal })
        const lp = lpStream(stream, { maxDataLength: MAX_AUTH_MESSAGE_BYTES })
        await lp.write(encodeMessage({ version: AUTH_VERSION, challenge }), { signal })
        answer = decodeMessage((await lp.read({ signal })).subarray())
        await stream.close({ signal }).catch(() => {})
      } catch (err) {
        stream?.abort(err as Error)
        throw new AuthPeerError(`${peer.toString()} did not answer on ${AUTH_PROTOCOL}: ${(err as Error).message}`, { cause: err })
      }
      const refusal = answer.error as { code?: unknown, message?: unknown } | undefined
      if (refusal != null) throw new AuthPeerError(`${peer.toString()} refused: ${String(refusal.code)} ${String(refusal.message)}`)
      const want = hasKeyForm(peer.publicKey) ? encodeKey(peer.publicKey.raw) : undefined
      if (want == null) throw new AuthPeerError(`${peer.toString()} is neither an Ed25519 nor a secp256k1 PeerId`)
      return await auth.verify(challenge, answer.response, { key: want })
    },

    usedNonces () {
      return used.size
    },

    async start () {
      if (running || libp2p == null) return
      running = true
      // Only the node key answers on the network: a pseudonym signing here would link it to this PeerId.
      // And only challenges the asking peer issued itself: else a peer could relay a third party's
      // challenge here and pass this node's answer off as its own proof (a signing oracle).
      await libp2p.handle(AUTH_PROTOCOL, async (stream, connection) => {
        const signal = withTimeout(undefined, AUTH_EXCHANGE_TIMEOUT_MS)
        try {
          const lp = lpStream(stream, { maxDataLength: MAX_AUTH_MESSAGE_BYTES })
          let reply
          try {
            const challenge = parseChallenge(decodeMessage((await lp.read({ signal })).subarray()).challenge)
            const asker = connection.remotePeer.publicKey
            if (!hasKeyForm(asker) || encodeKey(asker.raw) !== challenge.issuer) throw new AuthChallengeError('Over /umbra/auth/1.0.0 this node answers only challenges issued by the asking peer')
            reply = { version: AUTH_VERSION, response: await auth.respond(challenge) }
          } catch (err) {
            const e = err as UmbraError
            reply = { version: AUTH_VERSION, error: { code: e.code ?? 'UMBRA_ERR_AUTH_CHALLENGE', message: e.message } }
          }
          await lp.write(encodeMessage(reply), { signal })
          await stream.close({ signal }).catch(() => {})
        } catch (err) {
          stream.abort(err as Error)
          log?.trace({ err: (err as Error).message }, 'auth exchange failed')
        }
      }, { maxInboundStreams: 16, maxOutboundStreams: 16 })
    },

    async stop () {
      if (!running || libp2p == null) return
      running = false
      await libp2p.unhandle(AUTH_PROTOCOL).catch(() => {})
    }
  }
  return auth
}
