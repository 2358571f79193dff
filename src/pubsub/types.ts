/**
 * Shapes pub/sub hands to applications (issue 13 item 5). Kept apart from
 * the implementation so the library, the HTTP API and the hybrid/central
 * modes (issue 13 items 2 and 4) share one definition.
 */

/** Which path delivered a message: GossipSub, the central server (hybrid modes), the message store, or the mixnet exit. */
export type PubSubVia = 'p2p' | 'central' | 'store' | 'mixnet'

/**
 * One message as a subscriber receives it (event `pubsub:message`,
 * `GET /v1/pubsub/{topic}/messages`). Every message was verified: a signed
 * one carries its publisher's `key_…`, an anonymous unsigned one none.
 */
export interface PubSubMessage {
  /** Topic it was published on. */
  topic: string
  /** Message id, 32 hex characters (16 bytes): stable across paths, the de-duplication key. */
  id: string
  /** Publisher's `key_…` (node key or pseudonym key), `undefined` for an unsigned anonymous message. */
  from?: string | undefined
  /** Application bytes. */
  data: Uint8Array
  /** Publish time the publisher signed, ms since the Unix epoch. */
  timestamp: number
  /** Path that delivered it to this node first. */
  via: PubSubVia
}

/** Options of `pubsub.publish`. */
export interface PublishOptions {
  /** Abort the call. */
  signal?: AbortSignal
  /** Send through the mixnet to an exit mix that publishes (issue 13 item 2). @default false */
  anonymous?: boolean
  /** Mix hops for an anonymous publish (1 to 8). @default the mixnet's default */
  hops?: number
  /** Pseudonym `key_…` that signs an anonymous message; omitted: unsigned. */
  pseudonym?: string
}

/** What `pubsub.publish` reports. */
export interface PublishResult {
  /** Message id, 32 hex characters. */
  id: string
  /** Peers GossipSub sent it to directly (0 when none subscribe yet; the message store still keeps it on servers). */
  recipients: number
}

/** Why a validator rejected a message (the `reason` label of `umbra_pubsub_rejected_total`). */
export type RejectReason = 'malformed' | 'oversized' | 'topic' | 'signature' | 'unsigned' | 'stale' | 'replay'
