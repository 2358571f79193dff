/**
 * `umbra prove` and `umbra verify` (issue 14, item 2): ring signatures through
 * the node's HTTP API (`POST /v1/proofs/ring`, `POST /v1/proofs/ring/verify`;
 * docs/proofs.md).
 */
import { clientFromFlags } from '../config.ts'
import type { ClientCommandFlags } from './client.ts'

/** Flags of `umbra prove` and `umbra verify`. */
export interface RingFlags extends ClientCommandFlags {
  /** The ring: 2 to 256 `key_…` ids, in order. */
  ring: string[]
  /** Linking scope (default empty). */
  scope?: string
}

/**
 * `umbra prove MESSAGE --ring KEY… [--scope S]`: prints the signature
 * (base64) and the key image (hex), one per line.
 * @returns 0; errors (not a member: UMBRA_ERR_NOT_RING_MEMBER) are thrown as one line
 */
export async function runProve (message: string, flags: RingFlags): Promise<number> {
  const api = await clientFromFlags(flags)
  const res = await api.ringSign(message, flags.ring, flags.scope !== undefined ? { scope: flags.scope } : {})
  if (flags.json === true) {
    process.stdout.write(JSON.stringify(res) + '\n')
    return 0
  }
  process.stdout.write(`signature ${res.signature}\nkey image ${res.keyImage}\n`)
  return 0
}

/**
 * `umbra verify MESSAGE SIGNATURE --ring KEY… [--scope S]`: prints `valid`
 * and the key image, or `invalid`.
 * @returns 0 when valid, 1 when not
 */
export async function runVerify (message: string, signature: string, flags: RingFlags): Promise<number> {
  const api = await clientFromFlags(flags)
  const res = await api.ringVerify(message, flags.ring, signature, flags.scope !== undefined ? { scope: flags.scope } : {})
  if (flags.json === true) {
    process.stdout.write(JSON.stringify(res) + '\n')
  } else {
    process.stdout.write(res.valid ? `valid, key image ${res.keyImage}\n` : 'invalid: no member of this ring signed this message in this scope\n')
  }
  return res.valid ? 0 : 1
}
