/**
 * Fixed keys and fixed nonce randomness for the ring-signature tests and the
 * committed vectors (test/proofs/vectors.json). Run this file to rewrite the
 * vectors: `node test/proofs/fixtures.ts --write` (only when the format
 * changes on purpose; the test checks they reproduce byte for byte).
 */
import { writeFileSync } from 'node:fs'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { sha512 } from '@noble/hashes/sha2.js'
import { encodeKey } from '../../src/identity/keys.ts'
import { ringSign } from '../../src/proofs/ring.ts'
import type { PrivateKey } from '@libp2p/interface'

const utf8 = new TextEncoder()

/** Seed of test member `i`: the first 32 bytes of SHA-512(`umbra/ring/test-key/` ‖ i). */
export function memberSeed (label: string, i: number): Uint8Array {
  return sha512(utf8.encode(`umbra/ring/test-key/${label}/${i}`)).slice(0, 32)
}

/** `n` libp2p Ed25519 keys from fixed seeds and their `key_` ids. */
export async function fixedRing (n: number, label = 'ring'): Promise<{ keys: PrivateKey[], ring: string[] }> {
  const keys = await Promise.all(Array.from({ length: n }, async (_, i) => await generateKeyPairFromSeed('Ed25519', memberSeed(label, i))))
  return { keys, ring: keys.map((k) => encodeKey(k.publicKey.raw)) }
}

/**
 * A predictable nonce source: the k-th call returns the first `bytes` bytes of
 * SHA-512(`seed` ‖ k as 4 bytes big-endian) (bytes <= 64).
 */
export function fixedRandom (seed: string): (bytes: number) => Uint8Array {
  let counter = 0
  return (bytes) => {
    const k = new Uint8Array(4)
    new DataView(k.buffer).setUint32(0, counter++)
    return sha512.create().update(utf8.encode(seed)).update(k).digest().slice(0, bytes)
  }
}

/** One committed vector. */
export interface RingVector {
  /** Label of the member seeds (memberSeed(label, i)). */
  keyLabel: string
  /** The member seeds, hex, 32 bytes each, for implementations that do not share memberSeed. */
  seeds: string[]
  ring: string[]
  signer: number
  scope: string
  /** Message, UTF-8. */
  message: string
  /** Seed of fixedRandom. */
  randomSeed: string
  signature: string
  keyImage: string
}

/** The vector cases: ring sizes 2, 3 and 8, with and without a scope. */
const CASES = [
  { n: 2, signer: 0, scope: '', message: 'hello ring', randomSeed: 'vector-0' },
  { n: 3, signer: 2, scope: 'poll/7', message: 'vote: yes', randomSeed: 'vector-1' },
  { n: 8, signer: 3, scope: 'poll/7', message: 'vote: no', randomSeed: 'vector-2' },
  { n: 8, signer: 3, scope: 'rate-limit/2026-11-30', message: '', randomSeed: 'vector-3' }
]

/** Computes the vectors from the fixed inputs. */
export async function computeVectors (): Promise<RingVector[]> {
  const out: RingVector[] = []
  for (const c of CASES) {
    const keyLabel = `vectors-${c.n}`
    const { keys, ring } = await fixedRing(c.n, keyLabel)
    const { signature, keyImage } = ringSign(c.message, ring, keys[c.signer] as PrivateKey, { scope: c.scope, random: fixedRandom(c.randomSeed) })
    out.push({
      keyLabel,
      seeds: ring.map((_, i) => Buffer.from(memberSeed(keyLabel, i)).toString('hex')),
      ring,
      signer: c.signer,
      scope: c.scope,
      message: c.message,
      randomSeed: c.randomSeed,
      signature: Buffer.from(signature).toString('hex'),
      keyImage: Buffer.from(keyImage).toString('hex')
    })
  }
  return out
}

if (process.argv.includes('--write')) {
  const path = new URL('./vectors.json', import.meta.url)
  writeFileSync(path, JSON.stringify(await computeVectors(), null, 2) + '\n')
  console.log(`wrote ${path.pathname}`)
}
