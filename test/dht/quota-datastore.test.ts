import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { Libp2pRecord } from '@libp2p/record'
import { Key } from 'interface-datastore'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { QuotaDatastore } from '../../src/dht/quota-datastore.ts'
import { dhtKeyFor, signRecord } from '../../src/dht/record.ts'
import { QuotaCounters } from '../../src/quota.ts'
import { openStateDatabase } from '../../src/store/index.ts'
import { STATE_DB_SYNCHRONOUS } from '../../src/node/constants.ts'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { PrivateKey } from '@libp2p/interface'

/** The datastore key and value kad-dht's PUT_VALUE handler writes for a record. */
async function kadEntry (privateKey: PrivateKey, name: string, valueBytes: number, expiresAt = Date.now() + 60_000): Promise<[Key, Uint8Array]> {
  const dhtKey = dhtKeyFor(name)
  const rec = await signRecord({ privateKey, dhtKey, seq: 1, expiresAt, value: new Uint8Array(valueBytes) })
  return [new Key(`/dht/record/${uint8ArrayToString(dhtKey, 'base32')}`, false), new Libp2pRecord(dhtKey, rec, new Date()).serialize()]
}

describe('QuotaDatastore', () => {
  it('caps records per owner key, counts refusals, and leaves other owners alone', async () => {
    const quotas = new QuotaCounters()
    const ds = new QuotaDatastore({ quotas, maxRecordsPerOwner: 3 })
    const a = await generateKeyPair('Ed25519')
    const b = await generateKeyPair('Ed25519')
    for (let i = 0; i < 3; i++) await ds.put(...await kadEntry(a, `a${i}`, 10))
    await assert.rejects(async () => { await ds.put(...await kadEntry(a, 'a3', 10)) }, { code: 'UMBRA_ERR_QUOTA_DHT_RECORDS' })
    // Replacing a held record is no new record.
    await ds.put(...await kadEntry(a, 'a0', 20))
    await ds.put(...await kadEntry(b, 'b0', 10))
    assert.equal(quotas.snapshot().refused['dht-records'], 1)
    // A deleted record frees its slot.
    await ds.delete((await kadEntry(a, 'a1', 10))[0])
    await ds.put(...await kadEntry(a, 'a3', 10))
  })

  it('caps bytes per owner and in all; expired records stop counting', async () => {
    const quotas = new QuotaCounters()
    const ds = new QuotaDatastore({ quotas, maxBytesPerOwner: 10_000, maxTotalBytes: 25_000 })
    const a = await generateKeyPair('Ed25519')
    await ds.put(...await kadEntry(a, 'big', 6_000))
    await assert.rejects(async () => { await ds.put(...await kadEntry(a, 'big2', 6_000)) }, { code: 'UMBRA_ERR_QUOTA_DHT_BYTES' })
    const keys = await Promise.all([1, 2, 3, 4].map(async () => await generateKeyPair('Ed25519')))
    await ds.put(...await kadEntry(keys[0] as PrivateKey, 'k0', 8_000))
    await ds.put(...await kadEntry(keys[1] as PrivateKey, 'k1', 8_000))
    await assert.rejects(async () => { await ds.put(...await kadEntry(keys[2] as PrivateKey, 'k2', 8_000)) }, { code: 'UMBRA_ERR_QUOTA_DHT_TOTAL_BYTES' })
    assert.ok(ds.storedRecordBytes <= 25_000)
    // An owner whose records expired may store again.
    const c = await generateKeyPair('Ed25519')
    const ds2 = new QuotaDatastore({ quotas, maxRecordsPerOwner: 1 })
    await ds2.put(...await kadEntry(c, 'short', 10, Date.now() + 50))
    await new Promise((resolve) => setTimeout(resolve, 80))
    await ds2.put(...await kadEntry(c, 'next', 10))
    const s = quotas.snapshot().refused
    assert.equal(s['dht-bytes'], 1)
    assert.equal(s['dht-total-bytes'], 1)
  })

  it('caps provider records per PeerId; other keys pass through', async () => {
    const quotas = new QuotaCounters()
    const ds = new QuotaDatastore({ quotas, maxProvidersPerPeer: 2 })
    const peer = '12D3KooWExample'
    await ds.put(new Key(`/dht/provider/CID1/${peer}`), new Uint8Array(4))
    await ds.put(new Key(`/dht/provider/CID2/${peer}`), new Uint8Array(4))
    await ds.put(new Key(`/dht/provider/CID2/${peer}`), new Uint8Array(4))
    await assert.rejects(async () => { await ds.put(new Key(`/dht/provider/CID3/${peer}`), new Uint8Array(4)) }, { code: 'UMBRA_ERR_QUOTA_PROVIDER_RECORDS' })
    for (let i = 0; i < 100; i++) await ds.put(new Key(`/peers/p${i}`), new Uint8Array(100))
    assert.equal(quotas.snapshot().refused['provider-records'], 1)
  })

  it('with a state database, records and provider records survive a reopen with their quota accounting; expired ones are swept', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'umbra-dhtstore-'))
    try {
      const path = join(dir, 'umbra.db')
      let state = openStateDatabase({ path })
      let ds = new QuotaDatastore({ quotas: new QuotaCounters(), maxRecordsPerOwner: 2, state, sweepInterval: 0 })
      const a = await generateKeyPair('Ed25519')
      const [k1, v1] = await kadEntry(a, 'kept', 100)
      const [k2, v2] = await kadEntry(a, 'short', 100, Date.now() + 150)
      await ds.put(k1, v1)
      await ds.put(k2, v2)
      await ds.put(new Key('/dht/provider/CID1/12D3KooWExample'), new Uint8Array([1]))
      await ds.put(new Key('/peers/p1'), new Uint8Array(10))
      const [k3, v3] = await kadEntry(a, 'deleted', 10)
      await assert.rejects(async () => { await ds.put(k3, v3) }, { code: 'UMBRA_ERR_QUOTA_DHT_RECORDS' })
      state.close() // a crash: nothing else is written

      state = openStateDatabase({ path })
      ds = new QuotaDatastore({ quotas: new QuotaCounters(), maxRecordsPerOwner: 2, state, sweepInterval: 0 })
      assert.deepEqual(await ds.get(k1), v1)
      assert.deepEqual(await ds.get(new Key('/dht/provider/CID1/12D3KooWExample')), new Uint8Array([1]))
      assert.equal(await ds.has(new Key('/peers/p1')), false, 'the peer store is not persisted')
      // The owner's two records count again after the reopen.
      await assert.rejects(async () => { await ds.put(k3, v3) }, { code: 'UMBRA_ERR_QUOTA_DHT_RECORDS' })
      await new Promise((resolve) => setTimeout(resolve, 200))
      assert.equal(ds.sweepExpired(), 1)
      assert.equal(await ds.has(k2), false)
      await ds.delete(k1)
      assert.equal(ds.storedRecordCount, 0)
      // The cost of the write-through: one synced upsert per put.
      const entries = await Promise.all(Array.from({ length: 200 }, async (_, i) => await kadEntry(a, `bench-${i}`, 1000)))
      const timed = async (store: QuotaDatastore): Promise<number> => {
        const t0 = performance.now()
        for (const [k, v] of entries) await store.put(k, v)
        return (performance.now() - t0) / entries.length
      }
      const fullMs = await timed(new QuotaDatastore({ quotas: new QuotaCounters(), state, sweepInterval: 0 }))
      const normal = openStateDatabase({ path: join(dir, 'normal.db'), synchronous: STATE_DB_SYNCHRONOUS })
      const normalMs = await timed(new QuotaDatastore({ quotas: new QuotaCounters(), state: normal, sweepInterval: 0 }))
      normal.close()
      const memoryMs = await timed(new QuotaDatastore({ quotas: new QuotaCounters(), sweepInterval: 0 }))
      t.diagnostic(`put of a 1 kB record: ${fullMs.toFixed(3)} ms written through with synchronous=FULL, ${normalMs.toFixed(3)} ms with ${STATE_DB_SYNCHRONOUS} (the node's), ${memoryMs.toFixed(3)} ms in memory only`)
      state.db.exec("DELETE FROM dht_store WHERE key NOT LIKE '/dht/provider/%'")
      state.close()
      state = openStateDatabase({ path })
      assert.deepEqual(state.db.prepare('SELECT key FROM dht_store').all().map((r) => (r as { key: string }).key), ['/dht/provider/CID1/12D3KooWExample'])
      state.close()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
