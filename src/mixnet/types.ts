import type { TypedEventTarget } from 'main-event'

/** Traffic-analysis presets (issue 3, item 7; docs/mixnet.md "Presets"). */
export type MixnetPreset = 'none' | 'balanced' | 'strong'

/** What a preset sets. */
export interface PresetParameters {
  /** Mean of the exponential per-hop delay the sender draws for each mix, ms (Loopix). */
  meanDelayMs: number
  /** Loop cover packets per second (Poisson rate); 0 = off. */
  loopRate: number
  /** Drop cover packets per second (Poisson rate); 0 = off. */
  dropRate: number
  /**
   * Packets per second this node emits on its payload stream (Poisson rate
   * λ; Loopix "payload messages", issue 16 item 1): each event sends the next
   * queued real packet, or a drop cover packet when none waits. 0 = off:
   * real packets go out at once.
   */
  payloadRate: number
}

/** Options of the mixnet, `createNode({ mixnet })`. Every field is optional. */
export interface MixnetInit {
  /**
   * `none`: no delays, no cover traffic (tests, benchmarks).
   * `balanced`: 20 ms mean delay per mix, 0.5 loop + 0.5 drop cover packets/s, a 2 packets/s payload stream.
   * `strong`: 100 ms mean delay per mix, 2 loop + 2 drop cover packets/s, a 5 packets/s payload stream.
   * @default 'balanced'
   */
  preset?: MixnetPreset
  /** Mix hops per path when a send names none, 1 to 8. @default 3 */
  hops?: number
  /** Onion key epoch, ms; every node of one network must use the same. @default 3_600_000 (seed 001) */
  epochMs?: number
  /** Worker threads that process Sphinx packets (server nodes). @default os.availableParallelism() */
  threads?: number
  /**
   * Multiplies the preset's three Poisson rates (payload, loop, drop), 0.1
   * to 100, keeping its structure and delays: tests measure rates over
   * short windows with it. Every node of a network may use its own.
   * @default 1
   */
  rateScale?: number
  /**
   * TCP port where a server node accepts packet links from other mix nodes
   * and clients (issue 16 item 3, docs/mixnet.md "Packet links"), announced
   * in its mix descriptor; 0 lets the OS choose a free port; `false` runs no
   * listener (predecessors then use the libp2p mix stream). Clients ignore it.
   * @default 0
   */
  linkPort?: number | false
}

/** Options of {@link MixnetService.send}. */
export interface AnonymousSendOptions {
  /** Mix hops before the recipient's gateway, 1 to 8. @default the node's `mixnet.hops` (3) */
  hops?: number
  /** Reply SURBs the message carries, 0 to 8. @default 2 */
  replySurbs?: number
  /**
   * `stored`: resolve when the recipient's gateway acknowledged every fragment as stored.
   * `delivered`: also wait for the recipient's end-to-end acknowledgement (through a SURB).
   * @default 'stored'
   */
  wait?: 'stored' | 'delivered'
  signal?: AbortSignal
  /** Gives up after this many ms. @default 60_000 */
  timeout?: number
}

/** What {@link MixnetService.send} resolves with. */
export interface AnonymousSendReceipt {
  /** Message id, 32 hex characters. */
  id: string
  /** The recipient pseudonym, `key_…`. */
  to: string
  /** Sphinx packets the message took (fragments, without retransmissions). */
  fragments: number
  /** Retransmitted fragments. */
  retransmissions: number
  /**
   * `stored` at the gateway, or `delivered` to the recipient. With
   * `wait: 'stored'` it is `delivered` when the recipient's end-to-end
   * acknowledgement came back before the gateway's (it proves storage too).
   */
  status: 'stored' | 'delivered'
  /** From the call until the last acknowledgement, ms. */
  rttMs: number
  /** PeerIds of the pseudonym's gateways that acknowledged storing a fragment (empty when only the end-to-end acknowledgement came). */
  gateways: string[]
  /**
   * Gateway failovers of this message (issue 11, item 4): how many of the
   * pseudonym's gateways, in its contact record's order, it passed over
   * before one stored it (not in the mix directory, recently silent, did
   * not acknowledge in time, or did not hold the mailbox). 0: the first one took it.
   */
  gatewayFailovers: number
  /** How long the message's packets waited in the constant-rate send queue, ms (the longest of its fragments; 0 with the `none` preset). */
  queuedMs?: number
}

/** An anonymous message this node received for one of its pseudonyms. */
export interface AnonymousMessage {
  /** Message id, 32 hex characters. */
  id: string
  /** Always null: the sender is unknown (also to this node). */
  from: null
  /** The pseudonym it was sent to, `key_…`. */
  to: string
  /** Plaintext body, at most 1 MiB. */
  body: Uint8Array
  /** Sender's clock at sending, ms since the Unix epoch (not trusted). */
  sentAt: number
  /** This node's clock at receipt, ms. */
  receivedAt: number
  /** Unused reply SURBs left. */
  repliesLeft: number
}

/** A reply that came back through one of this node's SURBs. */
export interface AnonymousReply {
  /** Id of the message this answers, 32 hex characters. */
  inReplyTo: string
  /** Reply body, at most 3,358 bytes. */
  body: Uint8Array
  /** This node's clock at receipt, ms. */
  receivedAt: number
}

/** A pseudonym as listed by the node (no secrets). */
export interface PseudonymInfo {
  /** `key_…` of its Ed25519 key. */
  key: string
  /** Gateway PeerIds it receives through. */
  gateways: string[]
  label?: string
  /** ms since the Unix epoch. */
  createdAt: number
  /** True while at least one gateway holds the mailbox claim on an open connection. */
  online: boolean
  /** Each gateway of {@link gateways}, in the same order, with the state of its mailbox claim (issue 11, item 4). */
  gatewayStates: PseudonymGatewayState[]
}

/** One gateway of a pseudonym as the owner sees it. */
export interface PseudonymGatewayState {
  /** The gateway's PeerId. */
  peerId: string
  /**
   * `connected`: it holds the mailbox claim on an open connection;
   * `connecting`: not claimed yet since the node started or the record changed;
   * `unreachable`: the claim was lost and is being re-dialled (replaced after 15 s, or 3 s once it left the mix directory).
   */
  state: 'connected' | 'connecting' | 'unreachable'
  /** Since when it is in this state, ms since the Unix epoch. */
  since: number
  /** Whether the mix directory lists it now. */
  listed: boolean
}

/** One directory entry as shown to users. */
export interface MixNodeSummary {
  peerId: string
  addrs: string[]
  /** Epochs with a published onion key. */
  epochs: number[]
  /** Descriptor expiry, ms since the Unix epoch. */
  expiresAt: number
  /** TCP port of its packet links (docs/mixnet.md "Packet links"); absent when it announces none. */
  linkPort?: number
}

/** Counters of the mixnet (GET /v1/mixnet, Prometheus). */
export interface MixnetCounters {
  /** Packets received on `/umbra/mix/1.0.0`. */
  packetsIn: number
  /** Packets relayed to a next hop. */
  forwarded: number
  /** Relayed packets the next hop could not be reached for. */
  forwardFailed: number
  /**
   * Packets dropped by reason. Sphinx processing: size, version, point, mac,
   * routing, payload, epoch; worker (a worker crashed), closed (node
   * stopping); replay (tag seen before). Relay hygiene (docs/mixnet.md
   * "Relaying"): delay (asks for more than MAX_HOP_DELAY_MS, 30 s),
   * next-hop (successor not in the mix directory; never dialled), held-full
   * (4,096 packets held for their delay, or 1,024 from one predecessor),
   * overload (the waiting queues full: 4,096 packets, 256 from one
   * predecessor; or the Sphinx pool's queue full), penalized (counts mix
   * streams, not packets: reset or refused for 10 s because their peer sent
   * more than 100 replays in a second); truncated (an inbound mix stream
   * ended inside a packet: the partial packet is dropped). Packet links
   * (counting links, not packets; docs/mixnet.md "Packet links"):
   * link-connect, link-handshake, link-wrong-key, link-garbage,
   * link-truncated, link-closed, link-limit.
   * Payloads: malformed, unreadable, tampered, unknown-surb; error (a bug).
   */
  dropped: Record<string, number>
  /** Fragments and replies stored in a mailbox of this gateway. */
  stored: number
  /** Packets refused by this gateway (quota, unknown mailbox). */
  refused: number
  /** Fragment acknowledgements sent / failed by this gateway. */
  acksSent: number
  acksFailed: number
  /** Fragments this node sent (first tries) and retransmitted. */
  fragmentsSent: number
  retransmitted: number
  /** Cover traffic sent and seen. */
  loopsSent: number
  loopsReturned: number
  dropCoverSent: number
  coverDropped: number
  /** Times this node moved its reply mailbox to another gateway (the old one left the directory or was unreachable). */
  replyGatewayMoves: number
  /** Times a send of this node moved a fragment to another of the pseudonym's gateways (issue 11, item 4). */
  gatewayFailovers: number
  /** Times this node replaced a gateway of one of its pseudonyms and re-published the contact record. */
  gatewayReplacements: number
  /** Fragments of messages already delivered that came again (from a second gateway, or re-delivered) and were dropped. */
  duplicatesDropped: number
}

/** What became of a message this node sent ({@link MixnetService.outcome}, `anonymous:status`). */
export interface AnonymousOutcome {
  /** Message id, 32 hex characters. */
  id: string
  /** The recipient pseudonym, `key_…`. */
  to: string
  /**
   * `sending`: fragments in flight; `stored`: the gateway acknowledged every
   * fragment; `delivered`: the recipient acknowledged end to end; `failed`:
   * `send` gave up. A late acknowledgement turns `failed` into `stored` or
   * `delivered`.
   */
  status: 'sending' | 'stored' | 'delivered' | 'failed'
  /** Fragments of the message, and how many the gateway acknowledged. */
  fragments: number
  storedFragments: number
  /** Retransmitted fragments. */
  retransmissions: number
  /** ms since the Unix epoch. */
  startedAt: number
  updatedAt: number
}

/** Events of the mixnet (also re-emitted by the node). */
export interface MixnetEvents {
  'anonymous:message': CustomEvent<AnonymousMessage>
  'anonymous:reply': CustomEvent<AnonymousReply>
  /** The recipient acknowledged a message end to end; detail: message id (hex). */
  'anonymous:delivered': CustomEvent<{ id: string }>
  /** A message this node sent reached a final status, or a late acknowledgement changed it (`failed` → `stored`/`delivered`). */
  'anonymous:status': CustomEvent<{ id: string, to: string, status: 'stored' | 'delivered' | 'failed' }>
  /**
   * Diagnostic: what this relay learned from one packet it processed, i.e.
   * everything its code sees about the path. Only dispatched while a
   * listener is attached (tests, debugging).
   */
  'relay:packet': CustomEvent<RelayObservation>
}

/** What a relay sees of one packet (the `relay:packet` event). */
export interface RelayObservation {
  /** PeerId of the node the packet came from (the predecessor). */
  from: string
  /** `forward`, `deliver` (final hop of a message) or `deliverSurb` (final hop of a reply). */
  kind: 'forward' | 'deliver' | 'deliverSurb'
  /** PeerId of the successor, for `forward`. */
  next?: string
  /** Mailbox id (hex), for the final hop only. */
  mailbox?: string
  /** The hold time the sender chose for this hop, ms. */
  delayMs?: number
}

/** Anonymous messaging through the Sphinx mix network (DESIGN.md section 5). */
export interface MixnetService {
  /** The mixnet's own events (the node re-emits the `anonymous:*` ones). */
  readonly events: TypedEventTarget<MixnetEvents>
  /** The active preset and its parameters. */
  readonly preset: MixnetPreset
  readonly parameters: PresetParameters
  /**
   * Sends `body` to pseudonym `to` through `hops` mixes and its gateway.
   * Looks up the contact record (through the mixnet via a random gateway,
   * cached up to 10 min; docs/mixnet.md "Contact lookups"), seals the body to the pseudonym's X25519
   * key, splits it into fragments of 2,589 bytes, sends each on its own
   * random path with a SURB for the gateway's acknowledgement, and resends
   * unacknowledged fragments on new paths (4 tries).
   * @param to - pseudonym, `key_…`
   * @param body - 0 to 1,048,576 bytes
   * @throws UMBRA_ERR_MESSAGE_TOO_LARGE, UMBRA_ERR_INVALID_RECIPIENT, UMBRA_ERR_INVALID_OPTION (hops),
   *   UMBRA_ERR_UNKNOWN_PSEUDONYM, UMBRA_ERR_NOT_ENOUGH_MIXES, UMBRA_ERR_MAILBOX_FULL,
   *   UMBRA_ERR_ANON_DELIVERY_FAILED, UMBRA_ERR_ABORTED
   */
  send(to: string, body: Uint8Array, options?: AnonymousSendOptions): Promise<AnonymousSendReceipt>
  /**
   * Answers a received anonymous message through one of its SURBs (single use).
   * @param messageId - id of a message in {@link inbox}, 32 hex characters
   * @param body - at most 3,358 bytes
   * @throws UMBRA_ERR_NO_SURB, UMBRA_ERR_REPLY_TOO_LARGE, UMBRA_ERR_NOT_ENOUGH_MIXES
   */
  reply(messageId: string, body: Uint8Array, options?: { signal?: AbortSignal }): Promise<void>
  /**
   * What became of a message this node sent in the last 10 minutes (at most
   * the newest 1,000), by id; `undefined` if unknown. A `send` that rejected
   * with UMBRA_ERR_ANON_DELIVERY_FAILED names the id (`err.messageId`).
   */
  outcome(id: string): AnonymousOutcome | undefined
  /** Anonymous messages received since start, oldest first (at most the newest 1,000). */
  inbox(): AnonymousMessage[]
  /** Replies received since start, oldest first. */
  replies(): AnonymousReply[]
  /** The mix directory as this node sees it, sorted by PeerId. */
  directory(): MixNodeSummary[]
  /** Counters since start. */
  counters(): MixnetCounters
  /** PeerId of the gateway holding this node's reply mailbox (acknowledgements, replies, loop cover), once claimed. */
  replyGateway(): string | undefined
  /**
   * PeerIds of the mixes this node avoids now because loop cover through
   * them was lost (path probes, docs/mixnet.md "Eviction"); empty with the
   * `none` preset, which sends no loops.
   */
  suspects(): string[]
  /**
   * What an observer of this node's links sees and what shapes it (issue 16):
   * the send queue, the primary guards, and packets this node originated
   * per first link. Optional so that API test doubles may leave it out.
   */
  traffic?(): MixnetTraffic
}

/** {@link MixnetService.traffic}. */
export interface MixnetTraffic {
  /** The constant-rate send queue (rate 0: off, packets go out at once). */
  sendQueue: { rate: number, queued: number, capacity: number, estimatedWaitMs: number }
  /** PeerIds of this node's primary guards, in the order they are used (docs/mixnet.md "Layers and guards"). */
  guards: string[]
  /** Packets this node originated (not relayed), by the PeerId of the first hop they were written to. */
  packetsOutByLink: Record<string, number>
}

/** Options of {@link PseudonymService.create}. */
export interface PseudonymCreateOptions {
  /** A note for the owner, at most 128 characters, never sent. */
  label?: string
  /**
   * How many distinct gateways to pick, 1 to 3; fewer only when the mix
   * directory lists fewer (issue 11, item 4).
   * @default 3
   */
  gateways?: number
  signal?: AbortSignal
}

/** Pseudonyms held by this node (DESIGN.md section 3). */
export interface PseudonymService {
  /**
   * Creates a pseudonym, picks `gateways` (default 3) distinct gateways at
   * random from the directory (never this node), claims the mailbox at each
   * and has them publish the signed contact record in the DHT. Resolves when
   * senders can find it: every claim settled and at least one accepted (a
   * gateway that refused is replaced in the background like one that went
   * away). When no claim is accepted within 15 s or `signal` aborts, the
   * pseudonym is removed again: nothing is kept.
   * @throws UMBRA_ERR_NOT_ENOUGH_MIXES (no gateway known), UMBRA_ERR_INVALID_OPTION (label, gateways),
   *   UMBRA_ERR_GATEWAY_UNREACHABLE (no claim accepted), UMBRA_ERR_ABORTED (signal)
   */
  create(options?: PseudonymCreateOptions): Promise<PseudonymInfo>
  /** Every pseudonym of this node, oldest first. */
  list(): PseudonymInfo[]
  /**
   * Has the pseudonym's gateways (every one connected) delete what its mailbox holds (issue 8):
   * the rows of incomplete messages (default; they would expire 10 min after
   * their last fragment anyway), or with `all` every row, including messages
   * not yet delivered to this node.
   * @param key - one of this node's pseudonyms, `key_…`
   * @returns `deleted`: how many rows (fragments) the gateways deleted, summed
   * @throws UMBRA_ERR_INVALID_KEY / UMBRA_ERR_KEY_CHECKSUM (not a key), UMBRA_ERR_NOT_MY_PSEUDONYM,
   *   UMBRA_ERR_GATEWAY_UNREACHABLE (no gateway connected, or a connected one did not answer within 15 s)
   */
  purgeMailbox(key: string, options?: { all?: boolean }): Promise<{ deleted: number }>
}
