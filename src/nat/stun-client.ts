/**
 * A STUN Binding client (RFC 5389 §7): asks a STUN server which IP address
 * and port a UDP socket's packets appear to come from (its server-reflexive
 * address). Umbra uses it only with the network's own STUN servers.
 */
import { lookup } from 'node:dns/promises'
import { createSocket, type Socket } from 'node:dgram'
import { isIP } from 'node:net'
import { AbortedError, InvalidOptionError } from '../errors.ts'
import { logger } from '../logger.ts'
import {
  STUN_DEFAULT_TIMEOUT_MS,
  STUN_LAST_WAIT_RTO_MULTIPLIER,
  STUN_MAX_TRANSMISSIONS,
  STUN_RTO_MS
} from './constants.ts'
import { StunErrorResponseError, StunMalformedError, StunTimeoutError } from './errors.ts'
import { createTransactionId, decodeStunMessage, encodeBindingRequest, peekTransactionId, type StunAddress, type StunMessage } from './stun.ts'

const log = logger('nat:stun-client')

/** What {@link stunBinding} resolves with: the reflexive address, and the server's OTHER-ADDRESS when it sent one (RFC 5780 §7.4). */
export type StunBindingResult = StunAddress & { other?: StunAddress }

/** Options of {@link stunBinding}. */
export interface StunBindingOptions {
  /** Aborts the transaction; it then rejects with `AbortedError` (`UMBRA_ERR_ABORTED`). */
  signal?: AbortSignal
  /**
   * Overall time limit, ms; when it passes the transaction rejects with
   * `StunTimeoutError` even if retransmissions remain.
   * @default 10000
   */
  timeout?: number
  /**
   * An existing dgram socket to send from and listen on (e.g. the one whose
   * mapping you want to learn). It is not closed afterwards; datagrams that
   * are not the answer to this transaction are left alone. Without it a
   * fresh socket of the server's family is bound to an ephemeral port and
   * closed afterwards.
   */
  socket?: Socket
  /**
   * Initial retransmission timeout, ms; it doubles after each
   * transmission (RFC 5389 §7.2.1).
   * @default 500
   */
  rto?: number
  /**
   * Transmissions before giving up, Rc; after the last the client waits
   * 16 × `rto` (Rm, RFC 5389 §7.2.1).
   * @default 7
   */
  maxTransmissions?: number
}

/**
 * Sends a STUN Binding Request to `server` and resolves with the reflexive
 * address from the Success Response: XOR-MAPPED-ADDRESS, or MAPPED-ADDRESS
 * from a server that sends only that (RFC 5389 §7.3.3, §15.1, §15.2).
 *
 * Retransmits over UDP at 0, RTO, 3 RTO, 7 RTO … (RTO = 500 ms, doubling,
 * at most 7 transmissions, then 16 RTO of waiting: RFC 5389 §7.2.1), bounded
 * by `timeout` (10 s). A response is matched by its 96-bit transaction id
 * (RFC 5389 §7.3); other datagrams are ignored.
 *
 * @param server - the STUN server: `host` an IP address or DNS name, `port` 1–65535 (usually 3478)
 * @param options - see {@link StunBindingOptions}
 * @returns `{ address, port, family }`: the reflexive IP as text, its UDP port, `'IPv4'` or `'IPv6'`; and `other`, the server's OTHER-ADDRESS, when it sent one
 * @throws {StunTimeoutError} `UMBRA_ERR_STUN_TIMEOUT` when no answer came (retransmissions exhausted, `timeout` passed, or the socket failed)
 * @throws {StunMalformedError} `UMBRA_ERR_STUN_MALFORMED` when the answer to this transaction is not valid STUN, has unknown comprehension-required attributes, or lacks a mapped address
 * @throws {StunErrorResponseError} `UMBRA_ERR_STUN_ERROR_RESPONSE` when the server answered with an error response (its code in `stunCode`)
 * @throws {AbortedError} `UMBRA_ERR_ABORTED` when `signal` aborts
 * @throws {InvalidOptionError} `UMBRA_ERR_INVALID_OPTION` for a bad `server` or option
 * @example
 * ```ts
 * const { address, port } = await stunBinding({ host: '203.0.113.7', port: DEFAULT_STUN_PORT })
 * ```
 */
export async function stunBinding (server: { host: string, port: number }, options: StunBindingOptions = {}): Promise<StunBindingResult> {
  const timeout = options.timeout ?? STUN_DEFAULT_TIMEOUT_MS
  const rto = options.rto ?? STUN_RTO_MS
  const maxTransmissions = options.maxTransmissions ?? STUN_MAX_TRANSMISSIONS
  if (server == null || typeof server.host !== 'string' || server.host === '') {
    throw new InvalidOptionError('stunBinding: server.host must be an IP address or host name')
  }
  if (!Number.isInteger(server.port) || server.port < 1 || server.port > 0xffff) {
    throw new InvalidOptionError(`stunBinding: server.port must be an integer 1..65535, got ${String(server.port)}`)
  }
  if (!Number.isFinite(timeout) || timeout <= 0) throw new InvalidOptionError('stunBinding: timeout must be a positive number of ms')
  if (!Number.isFinite(rto) || rto <= 0) throw new InvalidOptionError('stunBinding: rto must be a positive number of ms')
  if (!Number.isInteger(maxTransmissions) || maxTransmissions < 1) throw new InvalidOptionError('stunBinding: maxTransmissions must be an integer ≥ 1')
  const { signal } = options
  if (signal?.aborted === true) throw new AbortedError(undefined, { cause: signal.reason })

  let host = server.host
  let socket = options.socket
  const ownSocket = socket == null
  if (socket == null) {
    if (isIP(host) === 0) {
      const resolved = await lookup(host)
      if (isAborted(signal)) throw new AbortedError(undefined, { cause: signal?.reason })
      host = resolved.address
    }
    socket = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4')
  }
  const sock = socket

  const transactionId = createTransactionId()
  const request = encodeBindingRequest(transactionId)

  return await new Promise<StunAddress>((resolve, reject) => {
    let retransmit: ReturnType<typeof setTimeout> | undefined
    let lastSendError: Error | undefined
    let transmissions = 0
    let done = false

    const finish = (err: Error | undefined, result?: StunBindingResult): void => {
      if (done) return
      done = true
      clearTimeout(retransmit)
      clearTimeout(deadline)
      sock.off('message', onMessage)
      sock.off('error', onError)
      signal?.removeEventListener('abort', onAbort)
      if (ownSocket) sock.close()
      if (err != null) reject(err)
      else resolve(result as StunBindingResult)
    }

    const onMessage = (datagram: Buffer): void => {
      const id = peekTransactionId(datagram)
      if (id == null || !sameBytes(id, transactionId)) return
      let msg: StunMessage
      try {
        msg = decodeStunMessage(datagram)
      } catch (err) {
        finish(err as Error)
        return
      }
      if (msg.messageClass === 'request' || msg.messageClass === 'indication') return
      if (msg.unknownRequired.length > 0) {
        finish(new StunMalformedError(`STUN response has unknown comprehension-required attributes ${msg.unknownRequired.map((t) => `0x${t.toString(16)}`).join(', ')}`))
        return
      }
      if (msg.messageClass === 'error') {
        finish(msg.errorCode != null
          ? new StunErrorResponseError(msg.errorCode.code, msg.errorCode.reason)
          : new StunMalformedError('STUN error response lacks ERROR-CODE'))
        return
      }
      const mapped = msg.xorMappedAddress ?? msg.mappedAddress
      if (mapped == null) finish(new StunMalformedError('STUN success response lacks XOR-MAPPED-ADDRESS and MAPPED-ADDRESS'))
      else finish(undefined, msg.otherAddress != null ? { ...mapped, other: msg.otherAddress } : mapped)
    }

    const onError = (err: Error): void => {
      finish(new StunTimeoutError('The STUN request could not be sent: the socket failed', { cause: err }))
    }

    const onAbort = (): void => {
      finish(new AbortedError(undefined, { cause: signal?.reason }))
    }

    const transmit = (): void => {
      transmissions++
      sock.send(request, server.port, host, (err) => {
        if (err != null) {
          lastSendError = err
          log.debug({ err: err.message }, 'STUN request not sent')
        }
      })
      const wait = transmissions < maxTransmissions
        ? rto * 2 ** (transmissions - 1)
        : rto * STUN_LAST_WAIT_RTO_MULTIPLIER
      retransmit = setTimeout(() => {
        if (transmissions < maxTransmissions) transmit()
        else finish(new StunTimeoutError(`The STUN server did not answer ${transmissions} transmissions`, { cause: lastSendError }))
      }, wait)
    }

    const deadline = setTimeout(() => {
      finish(new StunTimeoutError(`The STUN server did not answer within ${timeout} ms`, { cause: lastSendError }))
    }, timeout)

    sock.on('message', onMessage)
    sock.on('error', onError)
    signal?.addEventListener('abort', onAbort, { once: true })
    transmit()
  })
}

function isAborted (signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
