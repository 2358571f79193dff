/**
 * Constants of the anonymity layer (DESIGN.md section 5). Units are in the
 * names; the source of each default is in its comment.
 */
const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE

/** Relay protocol: a stream of fixed-size Sphinx packets to the next hop. */
export const MIX_PROTOCOL = '/umbra/mix/1.0.0'
/** Directory gossip: mix descriptors pushed and pulled between nodes. */
export const DIRECTORY_PROTOCOL = '/umbra/mixdir/1.0.0'
/** Directory sync (issue 15): pulls by change counter and 8-byte key summaries; a node without it is pulled over DIRECTORY_PROTOCOL. */
export const DIRECTORY_SYNC_PROTOCOL = '/umbra/mixdir/2.0.0'
/** Client ↔ gateway: mailbox claim, deliveries and their acknowledgements. */
export const GATEWAY_PROTOCOL = '/umbra/gateway/1.0.0'

/** Version byte of the mixnet payload layers (docs/mixnet.md). */
export const WIRE_VERSION = 1

/** Mix hops before the gateway when a send names none (seed 001). */
export const DEFAULT_HOPS = 3
/** Fewest and most mix hops a path may have (issue 3). */
export const MIN_HOPS = 1
export const MAX_HOPS = 8

/**
 * Longest time a relay holds one packet, ms (issue 8, "Relay hygiene"). A
 * routing block may carry up to 2^32 − 1 ms; a relay drops a packet that asks
 * for more than this (counted `delay`), and senders clamp every exponential
 * draw to it, so honest packets are never dropped for it. Network-wide rather
 * than per preset, because a relay cannot tell which preset the sender runs:
 * at the `strong` preset's 100 ms mean a draw exceeds it with probability
 * e^-300 (Loopix, Piotrowska et al. 2017, exponential per-hop delays). It also
 * keeps every relay timer far below Node's 2^31 − 1 ms setTimeout limit.
 */
export const MAX_HOP_DELAY_MS = 30 * SECOND
/**
 * Most packets a relay holds for their delay at once: 4,096 × 4,096 bytes =
 * 16 MiB of packet bytes. A packet beyond is dropped (counted `held-full`).
 * Sized for `strong` (100 ms mean): 40,000 packets/s before it binds.
 */
export const RELAY_MAX_HELD_PACKETS = 4096
/** Most held packets that came from one predecessor (a quarter of the above), so one peer cannot fill the hold. */
export const RELAY_MAX_HELD_PER_PEER = 1024
/**
 * Most inbound packets a relay has in processing at once (queued for or in
 * the Sphinx workers, replay check, zero-delay forwarding, gateway store):
 * 1,024 × 4 KiB = 4 MiB. A packet beyond is dropped (counted `overload`).
 */
export const RELAY_MAX_INFLIGHT = 1024
/**
 * Most packets of one predecessor in processing at once (deep enough to keep
 * the Sphinx workers busy for one peer); its further packets wait in its
 * queue and free slots are shared round robin among the predecessors that
 * wait, so a flooding peer queues behind its own packets.
 */
export const RELAY_MAX_INFLIGHT_PER_PEER = 256
/** Most packets waiting for a processing slot, over all predecessors (4,096 × 4 KiB = 16 MiB); beyond, dropped `overload`. */
export const RELAY_MAX_QUEUED = 4096
/**
 * Most packets of one predecessor waiting for a processing slot (1 MiB):
 * room for a burst of a 1 MiB message's fragments from one sender; beyond,
 * dropped `overload`.
 */
export const RELAY_MAX_QUEUED_PER_PEER = 256

/**
 * Replays one predecessor may send in one second before it is penalized.
 * An honest node never sends the same packet twice (a retransmission is a
 * new packet on a new path), so any replay is the predecessor's doing.
 */
export const RELAY_MAX_REPLAYS_PER_SECOND = 100
/**
 * New packets/s a relay's replay filter is sized for, over a whole epoch and
 * its grace period (issue 15: the relay target is 12,000 packets/s; 20,000
 * leaves headroom up to about the 2-core Sphinx floor). The filter's memory
 * follows the packets actually seen, about 4.3 bytes each (docs/sphinx.md
 * "Replay filter"); a relay sustaining more for a whole epoch refuses the
 * rest of that epoch's new packets (fails closed).
 */
export const RELAY_DESIGN_RATE = 20_000
/**
 * Most packet α values per epoch the relay's exact-copy pre-check remembers
 * (src/mixnet/mixnet-service.ts `alphas`; about 17 MiB). Past it new α are
 * not recorded (the filter fails open): exact copies of later packets then
 * cost Sphinx work before the replay-tag filter, which counts, drops them.
 */
export const RELAY_ALPHA_FILTER_MAX = 4_000_000
/** How long a penalized predecessor's mix streams are reset and its new ones refused, ms. */
export const RELAY_PENALTY_MS = 10 * SECOND

/** Largest anonymous message body, bytes (same as direct messages). */
export const MAX_MESSAGE_BYTES = 1024 * 1024
/** Reply SURBs a message carries when the sender names none. */
export const DEFAULT_REPLY_SURBS = 2
/** Most reply SURBs one message may carry. */
export const MAX_REPLY_SURBS = 8

/** Onion key epoch length, ms (seed 001: hourly rotation). */
export const DEFAULT_EPOCH_MS = 1 * HOUR
/** How long after an epoch ends its key is still accepted, ms. */
export const DEFAULT_EPOCH_GRACE_MS = 5 * MINUTE

/** A descriptor is re-signed this often, ms. */
export const DESCRIPTOR_REFRESH_MS = 8 * SECOND
/** A descriptor is valid this long after it is signed, ms (a crashed node leaves every directory within this). */
export const DESCRIPTOR_LIFETIME_MS = 25 * SECOND
/** Each node pulls the directory from a few connected peers this often, ms. */
export const DIRECTORY_PULL_INTERVAL_MS = 3 * SECOND
/** Peers asked per pull round. */
export const DIRECTORY_PULL_FANOUT = 3
/** Descriptors in one directory frame at most: a pull answer is paged by this many (issue 8: pulls page instead of one capped answer). */
export const DIRECTORY_PAGE_DESCRIPTORS = 64
/** Pages one pull reads or answers at most (64 × 64 = 4,096 descriptors per exchange). */
export const DIRECTORY_MAX_PAGES = 64
/** Summaries (8-byte key prefix and seq, ≈ 15 bytes each) in one sync answer frame (issue 15: ≈ 15 KiB per 1,024 changed entries). */
export const DIRECTORY_SUMMARY_PAGE = 1024
/** Bytes of a node key a sync summary or want list names (2^-64 chance that two honest keys share one). */
export const DIRECTORY_KEY_PREFIX_BYTES = 8
/**
 * Largest directory one sync covers: it reads at most this many summaries
 * (64 frames of 1,024) and fetches what it lacks of them in frames of 64
 * descriptors (issue 15: replaces the 4,096-descriptor cap of one pull).
 */
export const DIRECTORY_MAX_NODES = 65_536
/** Peers whose sync cursor (instance and change counter) a node remembers; the oldest is forgotten first. */
export const DIRECTORY_SYNC_CURSORS = 1024
/** Largest directory frame, bytes: a full page of 4,096-byte descriptors plus protobuf framing (≈ 263 KiB, far below one read buffer). */
export const MAX_DIRECTORY_MESSAGE_BYTES = DIRECTORY_PAGE_DESCRIPTORS * (4096 + 8) + 1024

/**
 * Directory admission (issue 8, item 2): a node unknown to this directory is
 * admitted only after this node dialled it at one of its listed addresses
 * (Noise proves its key) and it answered on the directory protocol.
 * Checks run at most this many at a time; more wait in a queue of
 * DIRECTORY_ADMISSION_QUEUE, and what does not fit is dropped and counted.
 */
export const DIRECTORY_ADMISSION_CONCURRENCY = 8
export const DIRECTORY_ADMISSION_QUEUE = 256
/** One reachability check (dial and directory hello) gives up after this, ms. */
export const DIRECTORY_CHECK_TIMEOUT_MS = 5 * SECOND
/** A node that failed its check is refused without a new dial this long, ms, unless it signs a newer descriptor (seq). */
export const DIRECTORY_NEGATIVE_CACHE_MS = 1 * MINUTE
/** Most nodes remembered in that negative cache (oldest forgotten first). */
export const DIRECTORY_NEGATIVE_CACHE_SIZE = 4096
/** An admitted node is checked again at most this often while nothing suggests it is gone, ms. */
export const DIRECTORY_RECHECK_MS = 5 * MINUTE
/**
 * New nodes one peer (the connection that pushed or answered them) may put
 * into this node's admission queue per DIRECTORY_PEER_WINDOW_MS; more are
 * dropped and counted. 32 lets a new node learn a directory of dozens of
 * nodes from its first few peers in one pull round, while a single peer
 * feeding fakes costs at most 32 dials a minute. Inspiration: Nym's bonding
 * makes each mix cost stake; Umbra has no stake, so it bounds the rate.
 */
export const DIRECTORY_MAX_NEW_PER_PEER = 32
export const DIRECTORY_PEER_WINDOW_MS = 1 * MINUTE
/**
 * Nodes admitted per /24 (IPv4) or /48 (IPv6) of the address that passed
 * the check, per DIRECTORY_SUBNET_WINDOW_MS; more are refused and counted.
 * Inspiration: Tor never puts two relays of one /16 on a path and its
 * directory authorities list at most 2 relays per IP (dir-spec,
 * AuthDirMaxServersPerAddr); Umbra has no authority, so each node caps what
 * one network block can add to its own directory. Loopback addresses are
 * exempt by default (DirectoryInit.subnetCapLoopback): a loopback address
 * only reaches the checking node's own host.
 */
export const DIRECTORY_MAX_NEW_PER_SUBNET = 32
export const DIRECTORY_SUBNET_WINDOW_MS = 10 * MINUTE
/** Failures reported within DIRECTORY_FAILURE_WINDOW_MS that exclude a node from paths until a fresh check succeeds (issue 8, item 6). */
export const DIRECTORY_FAILURES_TO_EXCLUDE = 2
export const DIRECTORY_FAILURE_WINDOW_MS = 1 * MINUTE
/** A directory node whose connection closed is re-checked at once, but at most once per this, ms (connection pruning must not turn into a dial loop). */
export const DIRECTORY_DISCONNECT_RECHECK_MIN_MS = 10 * SECOND

/** A sender waits this long for a gateway's fragment acknowledgement before resending, ms. */
export const FRAGMENT_ACK_TIMEOUT_MS = 4 * SECOND
/** Sends of one fragment before giving up (first try plus retransmissions). */
export const FRAGMENT_ATTEMPTS = 4
/** Whole-message timeout when the caller names none, ms. */
export const SEND_TIMEOUT_MS = 60 * SECOND
/** Fragments of one message kept for reassembly at most this long, ms. */
export const REASSEMBLY_TTL_MS = 10 * MINUTE
/** Anonymous messages kept in the node's inbox. */
export const ANON_INBOX_LIMIT = 1000

/** Contact records are valid this long, ms, and re-published by the gateway hourly. */
export const CONTACT_TTL_MS = 24 * HOUR
export const CONTACT_REPUBLISH_MS = 1 * HOUR
/** A client re-dials its gateway after a lost connection after at most this, ms. */
export const GATEWAY_RECONNECT_MAX_MS = 2 * SECOND
/** Largest gateway protocol frame, bytes (one delivery plus framing). */
export const MAX_GATEWAY_FRAME_BYTES = 8 * 1024
/** A claim's timestamp may differ from the gateway's clock by at most this, ms. */
export const CLAIM_MAX_SKEW_MS = 5 * MINUTE
/**
 * Mailboxes one client PeerId may hold claimed at one gateway (issue 10
 * quota; docs/quotas.md). A node runs a few pseudonyms; each claims one
 * mailbox at each of its gateways. A further claim gets FRAME_ERROR
 * `UMBRA_ERR_QUOTA_MAILBOX_CLAIMS`; re-claiming a held mailbox never counts.
 */
export const MAX_CLAIMS_PER_PEER = 16
/**
 * Mailboxes one gateway holds claimed in all, whatever the claimants (issue
 * 10): bounds a claimant with many PeerIds. At most 1 MB of stored rows
 * each (mailbox-store quotas), so a bound on disk too.
 */
export const MAX_GATEWAY_CLAIMS = 20_000
/**
 * A claim not renewed for this long, ms, with no owner connected, is dropped
 * with its stored rows (issue 10). Owners re-claim on every reconnect; stored
 * messages expire after 72 h anyway (seed 001), so a week is generous.
 */
export const CLAIM_TTL_MS = 7 * 24 * HOUR
/** A held claim's renewal time is written to gateway.db at most this often, ms (re-claims happen on every reconnect). */
export const CLAIM_RENEW_WRITE_MS = 1 * HOUR

/** Mailbox limits (seed 001). */
export const MAILBOX_TTL_MS = 72 * HOUR
export const MAILBOX_MAX_MESSAGES = 100
export const MAILBOX_MAX_BYTES = 1_000_000

/** Signature domains. */
export const CLAIM_DOMAIN = 'umbra/gateway-claim/v1'

/**
 * Contact lookups through the mixnet (issue 8, item 4; docs/mixnet.md
 * "Sending"): a sender asks a random gateway, never the DHT itself.
 */
/** A looked-up contact record is reused this long at most (and never past its own expiry), ms. */
export const CONTACT_CACHE_MS = 10 * MINUTE
/** Mean wait between background refreshes of one cached contact, ms (exponential, so refreshes are a Poisson process unrelated to sends). */
export const CONTACT_REFRESH_MEAN_MS = 2 * MINUTE
/** A cached contact not used for a send this long is forgotten and no longer refreshed, ms. */
export const CONTACT_IDLE_MS = 1 * HOUR
/** Most contacts cached (and refreshed) at once; the least recently used goes first. */
export const MAX_CACHED_CONTACTS = 1000
/** Gateways asked for one contact before giving up (a first try plus retries on other gateways). */
export const LOOKUP_ATTEMPTS = 3
/** A sender waits this long for one gateway's lookup answer, ms, plus the preset's expected mix delays. */
export const LOOKUP_TIMEOUT_MS = 5 * SECOND
/** A gateway's DHT query for a lookup is cut off after this, ms (under {@link LOOKUP_TIMEOUT_MS}, so the answer still arrives). */
export const GATEWAY_LOOKUP_DHT_TIMEOUT_MS = 3500
/** DHT queries one gateway runs at once for lookups; more are dropped and counted (`lookup-busy`). */
export const MAX_GATEWAY_LOOKUPS = 32

/**
 * Gateways with failover (issue 11, item 4; docs/mixnet.md "Gateways with
 * failover"): a pseudonym names up to 3 gateways, senders fail over between
 * them, the owner replaces one that left or stays unreachable.
 */
/** Gateways a new pseudonym picks by default (the contact record's maximum, DESIGN.md section 5 "Addressing"). */
export const DEFAULT_PSEUDONYM_GATEWAYS = 3
/** Most gateways a pseudonym names (src/mixnet/contact.ts). */
export const MAX_PSEUDONYM_GATEWAYS = 3
/** How often the owner checks its pseudonyms' gateways, ms. */
export const GATEWAY_CHECK_INTERVAL_MS = 2 * SECOND
/** A gateway whose mailbox claim has been lost (or never held) this long is replaced, ms (3 missed re-dials at GATEWAY_RECONNECT_MAX_MS, plus slack). */
export const GATEWAY_REPLACE_AFTER_MS = 15 * SECOND
/** A gateway gone from the mix directory whose claim has been lost this long is replaced at once, ms (a short grace for a directory re-check). */
export const GATEWAY_LEFT_GRACE_MS = 3 * SECOND
/** A sender prefers a pseudonym's other gateways this long after one did not acknowledge in time, ms. */
export const GATEWAY_DOWN_AVOID_MS = 1 * MINUTE

/**
 * Constant-rate sending (issue 16, item 1; docs/mixnet.md "Constant-rate
 * sending"): the longest a message may wait in the send queue, ms. The
 * queue holds payloadRate × this many packets; a message that needs more
 * is refused (UMBRA_ERR_MESSAGE_TOO_LARGE), one that does not fit now waits
 * for UMBRA_ERR_SEND_QUEUE_FULL's `retryAfterMs`. Equal to SEND_TIMEOUT_MS,
 * which a send's default timeout adds to it.
 */
export const SEND_QUEUE_MAX_WAIT_MS = 60 * SECOND
/** Bounds of `MixnetInit.rateScale` (a multiplier of the preset's Poisson rates; tests). */
export const MIN_RATE_SCALE = 0.1
export const MAX_RATE_SCALE = 100

/**
 * A relay's Sphinx worker threads are started at its first packet and
 * stopped after this long without one, ms (issue 15 item 2: each worker
 * isolate holds about 10 MB, so an idle node keeps none; starting them
 * again costs the next packet about 50 ms).
 */
export const SPHINX_POOL_IDLE_MS = 30 * SECOND

/** Frame types of `DirectorySync`, `/umbra/mixdir/2.0.0` (src/mixnet/pb/mixnet.proto; docs/mixnet.md "Sync"). */
export const SYNC_SINCE = 1
export const SYNC_SUMMARY = 2
export const SYNC_WANT = 3
export const SYNC_DESCRIPTORS = 4
/** Bytes of a directory's instance id (random per start): a sync cursor is only meaningful for the same instance. */
export const SYNC_INSTANCE_BYTES = 8
/** Summary frames one sync reads at most (64 × 1,024 = DIRECTORY_MAX_NODES). */
export const SYNC_MAX_SUMMARY_PAGES = Math.ceil(DIRECTORY_MAX_NODES / DIRECTORY_SUMMARY_PAGE)
