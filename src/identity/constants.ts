/** Prefix of a shown public key (seed 002's `key_<base58btc>` format). */
export const KEY_PREFIX = 'key_'
/** Type byte of an Ed25519 public key inside a `key_` string. */
export const KEY_TYPE_ED25519 = 0x01
/** Ed25519 public key length, bytes (RFC 8032). */
export const ED25519_PUBLIC_KEY_BYTES = 32
/** Checksum length appended to a `key_` payload, bytes. */
export const KEY_CHECKSUM_BYTES = 4
/** Domain-separation prefix of the `key_` checksum hash (SHA-256). */
export const KEY_CHECKSUM_DOMAIN = 'umbra/key-checksum/v1'
/** Transport key file inside the data directory. */
export const IDENTITY_FILE = 'identity.key'
/** HTTP API bearer token file inside the data directory. */
export const API_TOKEN_FILE = 'api-token'
/** Version of the identity file format. */
export const IDENTITY_FILE_VERSION = 1
/** Mode of every secret file Umbra writes (owner read/write only). */
export const SECRET_FILE_MODE = 0o600
/** Mode of the data directory. */
export const DATA_DIR_MODE = 0o700
/** Bytes of randomness in an API token (256 bits). */
export const API_TOKEN_BYTES = 32
/** Environment variable naming the data directory. */
export const UMBRA_HOME_ENV = 'UMBRA_HOME'
