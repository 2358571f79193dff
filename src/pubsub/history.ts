/**
 * `/umbra/pubsub-history/1.0.0` (issue 13 item 3; docs/pubsub.md "History"):
 * one length-prefixed `HistoryRequest` (topic, since in ms, limit) from the
 * subscriber, one length-prefixed `HistoryResponse` (encoded envelopes,
 * oldest first) from the server, then the stream closes. The answer is
 * bounded ({@link MAX_HISTORY_MESSAGES}, {@link MAX_HISTORY_RESPONSE_BYTES});
 * the subscriber checks every envelope like a live message (signature,
 * topic, size) and drops the ids it has.
 */
import { lpStream } from '@libp2p/utils'
import { withTimeout } from '../signals.ts'
import { checkTopic } from './envelope.ts'
import { ENVELOPE_VERSION, HISTORY_PROTOCOL, HISTORY_TIMEOUT_MS, MAX_HISTORY_MESSAGES, MAX_HISTORY_RESPONSE_BYTES } from './constants.ts'
import { PubSubHistoryError } from './errors.ts'
import { HistoryRequest, HistoryResponse } from './pb/pubsub.ts'
import type { MessageStore } from './store.ts'
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import type { Logger } from '../logger.ts'

/** Largest request, bytes (a topic of 256 bytes and three integers). */
const MAX_REQUEST_BYTES = 1024
/** Streams of this protocol a server answers at once. */
const MAX_INBOUND_STREAMS = 32

/**
 * Serves history from `store` on a server node.
 * @returns a function that removes the handler
 */
export async function serveHistory (libp2p: Libp2p, store: MessageStore, log: Logger): Promise<() => Promise<void>> {
  await libp2p.handle(HISTORY_PROTOCOL, async (stream) => {
    const signal = withTimeout(undefined, HISTORY_TIMEOUT_MS)
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_REQUEST_BYTES })
      const req = HistoryRequest.decode((await lp.read({ signal })).subarray())
      const envelopes: Uint8Array[] = []
      if (req.version === ENVELOPE_VERSION && isTopic(req.topic)) {
        let bytes = 0
        const limit = Math.min(req.limit === 0 ? MAX_HISTORY_MESSAGES : req.limit, MAX_HISTORY_MESSAGES)
        for (const m of store.since(req.topic, Number(req.since), limit)) {
          // Field tag and length prefix add at most 8 bytes per envelope.
          if (bytes + m.envelope.byteLength + 8 > MAX_HISTORY_RESPONSE_BYTES) break
          bytes += m.envelope.byteLength + 8
          envelopes.push(m.envelope)
        }
      }
      await lp.write(HistoryResponse.encode({ version: ENVELOPE_VERSION, envelopes: envelopes as Array<Uint8Array<ArrayBuffer>> }), { signal })
      await stream.close({ signal }).catch(() => {})
    } catch (err) {
      stream.abort(err as Error)
      log.debug({ err: (err as Error).message }, 'history request failed')
    }
  }, { maxInboundStreams: MAX_INBOUND_STREAMS, maxOutboundStreams: MAX_INBOUND_STREAMS })
  return async () => { await libp2p.unhandle(HISTORY_PROTOCOL).catch(() => {}) }
}

function isTopic (topic: string): boolean {
  try {
    checkTopic(topic)
    return true
  } catch {
    return false
  }
}

/**
 * Asks `peer` for the messages of `topic` published at or after `since`.
 * @returns the encoded envelopes as received (unverified: check each)
 * @throws UMBRA_ERR_PUBSUB_HISTORY when the peer does not answer in time or answers garbage
 */
export async function requestHistory (libp2p: Libp2p, peer: PeerId, topic: string, since: number, options: { limit?: number, signal?: AbortSignal } = {}): Promise<Uint8Array[]> {
  const signal = withTimeout(options.signal, HISTORY_TIMEOUT_MS)
  let stream: Stream | undefined
  try {
    stream = await libp2p.dialProtocol(peer, HISTORY_PROTOCOL, { signal })
    const lp = lpStream(stream, { maxDataLength: MAX_HISTORY_RESPONSE_BYTES })
    await lp.write(HistoryRequest.encode({ version: ENVELOPE_VERSION, topic, since: BigInt(Math.max(0, Math.floor(since))), limit: options.limit ?? MAX_HISTORY_MESSAGES }), { signal })
    const res = HistoryResponse.decode((await lp.read({ signal })).subarray(), { limits: { envelopes: MAX_HISTORY_MESSAGES } })
    await stream.close({ signal }).catch(() => {})
    if (res.version !== ENVELOPE_VERSION) throw new Error(`history answer version ${res.version}`)
    return res.envelopes
  } catch (err) {
    stream?.abort(err as Error)
    throw new PubSubHistoryError(`${peer.toString()} did not answer on ${HISTORY_PROTOCOL}: ${(err as Error).message}`, { cause: err })
  }
}
