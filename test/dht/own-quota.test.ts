/**
 * A node's own puts meet the same per-owner quota as remote storing nodes
 * (issue 10): beyond 256 records the put is refused with
 * UMBRA_ERR_QUOTA_DHT_RECORDS (HTTP 429), counted, and nothing crashes.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { MAX_RECORDS_PER_OWNER } from '../../src/dht/constants.ts'
import { statusOfUmbraCode } from '../../src/api/errors.ts'
import { createTestnet, type Testnet } from '../../src/testnet/index.ts'

describe('own DHT puts over the per-owner quota', { timeout: 120_000 }, () => {
  let net: Testnet

  before(async () => { net = await createTestnet(1) })
  after(async () => { await net?.stop() })

  it('refuses the 257th record with UMBRA_ERR_QUOTA_DHT_RECORDS and counts it', async () => {
    const node = net.nodes[0]
    assert.ok(node != null)
    const value = new TextEncoder().encode('v')
    for (let i = 0; i < MAX_RECORDS_PER_OWNER; i++) await node.dht.put(`own-${i}`, value)
    await assert.rejects(node.dht.put('own-over', value), (err: Error & { code?: string }) => err.code === 'UMBRA_ERR_QUOTA_DHT_RECORDS')
    assert.equal(statusOfUmbraCode('UMBRA_ERR_QUOTA_DHT_RECORDS'), 429)
    assert.equal(node.quotas().refused['dht-records'], 1)
    // Replacing a held key is still fine.
    await node.dht.put('own-0', new TextEncoder().encode('v2'))
    assert.equal(new TextDecoder().decode((await node.dht.get('own-0'))?.value), 'v2')
  })
})
