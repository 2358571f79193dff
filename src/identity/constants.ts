import { DATA_DIR_FILES } from '../store/data-dir.ts'

/** Prefix of a shown public key (seed 002's `key_<base58btc>` format). */
export const KEY_PREFIX = 'key_'
/** Type byte of an Ed25519 public key inside a `key_` string. */
export const KEY_TYPE_ED25519 = 0x01
/** Type byte of a secp256k1 public key (33-byte SEC1 compressed form) inside a `key_` string (issue 14, item 3). */
export const KEY_TYPE_SECP256K1 = 0x02
/** secp256k1 compressed public key length, bytes (SEC 1 v2, section 2.3.3). */
export const SECP256K1_PUBLIC_KEY_BYTES = 33
/** Ed25519 public key length, bytes (RFC 8032). */
export const ED25519_PUBLIC_KEY_BYTES = 32
/** Checksum length appended to a `key_` payload, bytes. */
export const KEY_CHECKSUM_BYTES = 4
/** Domain-separation prefix of the `key_` checksum hash (SHA-256). */
export const KEY_CHECKSUM_DOMAIN = 'umbra/key-checksum/v1'
/** Transport key file inside the data directory. */
export const IDENTITY_FILE = DATA_DIR_FILES.identity
/** HTTP API bearer token file inside the data directory. */
export const API_TOKEN_FILE = DATA_DIR_FILES.apiToken
/** Version of the identity file format. */
export const IDENTITY_FILE_VERSION = 1
/** Modes of the data directory (0700) and of every file in it (0600); src/store/data-dir.ts owns them. */
export { DATA_DIR_MODE, SECRET_FILE_MODE } from '../store/data-dir.ts'
/** Bytes of randomness in an API token (256 bits). */
export const API_TOKEN_BYTES = 32
/** Environment variable naming the data directory. */
export const UMBRA_HOME_ENV = 'UMBRA_HOME'
