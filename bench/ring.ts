/**
 * Issue 14, item 2 benchmark for ring signatures: `npm run bench:ring`
 * (builds first). No network: bLSAG over ristretto255 (src/proofs/ring.ts).
 *
 * For rings of 2, 8, 32, 128 and 256 `key_` ids (`BENCH_RING_SIZES` to
 * change), prints the signature size in bytes and the sign and verify times
 * (p50 and max over `BENCH_RING_RUNS` runs, default 5; fewer for 128 and
 * 256, which take seconds), and the time per member. Both are linear in the
 * ring size: per member, signing computes 4 scalar multiplications and one
 * hash-to-group, verifying the same.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { encodeKey } from '../src/identity/keys.ts'
import { ringSign, ringSignatureBytes, ringVerify } from '../src/proofs/index.ts'

const SIZES = (process.env.BENCH_RING_SIZES ?? '2,8,32,128,256').split(',').map(Number)
const RUNS = Number(process.env.BENCH_RING_RUNS ?? 5)

function quantile (sorted: number[], q: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[i] as number
}

const rows: Array<Record<string, string | number>> = []
for (const n of SIZES) {
  const keys = await Promise.all(Array.from({ length: n }, async () => await generateKeyPair('Ed25519')))
  const ring = keys.map((k) => encodeKey(k.publicKey.raw))
  const runs = n >= 128 ? Math.max(2, Math.ceil(RUNS / 2)) : RUNS
  const sign: number[] = []
  const verify: number[] = []
  for (let i = 0; i < runs; i++) {
    const signer = keys[(i * 7) % n] as (typeof keys)[number]
    let t = performance.now()
    const { signature } = ringSign(`bench ${i}`, ring, signer, { scope: 'bench' })
    sign.push(performance.now() - t)
    t = performance.now()
    const { valid } = ringVerify(`bench ${i}`, ring, signature, { scope: 'bench' })
    verify.push(performance.now() - t)
    if (!valid || signature.byteLength !== ringSignatureBytes(n)) throw new Error(`ring of ${n}: signature did not verify`)
  }
  sign.sort((a, b) => a - b)
  verify.sort((a, b) => a - b)
  rows.push({
    ring: n,
    signature_bytes: ringSignatureBytes(n),
    runs,
    sign_p50_ms: +quantile(sign, 0.5).toFixed(1),
    sign_max_ms: +(sign.at(-1) as number).toFixed(1),
    verify_p50_ms: +quantile(verify, 0.5).toFixed(1),
    verify_max_ms: +(verify.at(-1) as number).toFixed(1),
    verify_per_member_ms: +(quantile(verify, 0.5) / n).toFixed(2)
  })
}
console.log(`ring signatures (bLSAG over ristretto255, @noble/curves), node ${process.version}`)
console.table(rows)
