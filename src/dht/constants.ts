const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE

/** Umbra's private Kademlia protocol id (DESIGN.md section 4). */
export const KAD_PROTOCOL = '/umbra/kad/1.0.0'
/** k: replication factor and k-bucket size (Maymounkov & Mazières 2002; issue 2). */
export const K = 20
/** DHT key namespace of data records: keys are `/umbra-data/<user key>`. */
export const DATA_NAMESPACE = 'umbra-data'
/** Wire version of {@link UmbraRecord}. */
export const RECORD_VERSION = 1
/** Domain-separation prefix of the record signature. */
export const RECORD_SIGNATURE_DOMAIN = 'umbra/dht-record/v1'
/** Largest value a record may carry, bytes (issue 2). */
export const MAX_VALUE_BYTES = 64 * 1024
/** Largest user key, bytes of UTF-8. */
export const MAX_KEY_BYTES = 256
/** Largest encoded record accepted before parsing, bytes (value + fixed fields). */
export const MAX_RECORD_BYTES = MAX_VALUE_BYTES + 512
/** Default record lifetime, ms (issue 2). */
export const DEFAULT_TTL_MS = 24 * HOUR
/** Longest record lifetime, ms (issue 2). */
export const MAX_TTL_MS = 48 * HOUR
/** Shortest record lifetime, ms. */
export const MIN_TTL_MS = 1 * SECOND
/** Clock skew tolerated when checking that an expiry is not beyond the maximum TTL, ms. */
export const MAX_CLOCK_SKEW_MS = 5 * MINUTE
/**
 * How often the owner re-publishes its unexpired records, ms. Storing nodes
 * forget records 48 h after receipt (kad-dht) and nodes churn; an hourly
 * re-publish keeps k copies alive (IPNS republishes every 4 h, BEP 44 hourly).
 */
export const REPUBLISH_INTERVAL_MS = 1 * HOUR
/**
 * A put (or re-publish) acknowledged by fewer remote nodes than this is
 * re-published early, after each delay of {@link EARLY_REPUBLISH_DELAYS_MS}
 * in turn, until it reaches this many: a put made while the routing table is
 * still filling (just after start) would otherwise live on the publisher
 * alone for a whole re-publish interval (issue 11, churn test).
 */
export const MIN_REPLICAS = 3
/** Delays of the early re-publishes of an under-replicated record, ms; after the last one it waits for the hourly re-publish. */
export const EARLY_REPUBLISH_DELAYS_MS: readonly number[] = [2 * SECOND, 5 * SECOND, 15 * SECOND, 1 * MINUTE]
/** After a (re)start, owned records loaded from the state database are re-published this long after `start()`, ms (not one interval later). */
export const STARTUP_REPUBLISH_DELAY_MS = 10 * SECOND
/** Default time limit of a network `get` or `put`, ms. */
export const DHT_QUERY_TIMEOUT_MS = 15 * SECOND
/**
 * Valid remote copies after which a network get stops: storing nodes refuse
 * older sequence numbers, so agreeing copies from a few of the k closest nodes
 * are almost always the newest (IPNS uses a quorum the same way).
 */
export const DEFAULT_QUORUM = 3
/**
 * Records one owner key may have stored at one storing node (issue 10 quota;
 * docs/quotas.md). An application keeps a handful of keys per identity;
 * 256 leaves room for many while 4,000 puts from one key are refused.
 */
export const MAX_RECORDS_PER_OWNER = 256
/** Bytes of records one owner key may have stored at one storing node: 64 full 64 KiB values (issue 10; docs/quotas.md). */
export const MAX_RECORD_BYTES_PER_OWNER = 4 * 1024 * 1024
/** Bytes of records a storing node holds in all, whatever the owners: bounds one peer with many keys (issue 10; docs/quotas.md). */
export const MAX_STORED_RECORD_BYTES = 256 * 1024 * 1024
/** Provider records one PeerId may have stored at a node; Umbra itself publishes none (issue 10; docs/quotas.md). */
export const MAX_PROVIDER_RECORDS_PER_PEER = 64
/** Provider records a node stores in all (about 100 bytes each in memory; issue 10). */
export const MAX_PROVIDER_RECORDS_TOTAL = 65_536
/**
 * How often the datastore deletes the records it stores for others whose
 * own expiry passed, ms (issue 11: expired records are swept from the state
 * database; a sweep is one indexed DELETE).
 */
export const DHT_SWEEP_INTERVAL_MS = 1 * MINUTE
