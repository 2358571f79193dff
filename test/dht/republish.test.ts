/**
 * Early re-publish (issue 11, churn): a put that reached fewer than
 * MIN_REPLICAS remote nodes, e.g. made while the node was still alone, is
 * sent again after a few seconds instead of one re-publish interval (1 h)
 * later, so a node that joins meanwhile stores it.
 */
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { after, describe, it } from 'node:test'
import { createNode, type UmbraNode } from '../../src/node/index.ts'
import { createTestnet, type Testnet } from '../../src/testnet/index.ts'
import { until } from '../helpers/wait.ts'

describe('early re-publish of an under-replicated record', () => {
  let net: Testnet | undefined
  let late: UmbraNode | undefined
  after(async () => { await late?.stop(); await net?.stop() })

  it('a record put while alone reaches a node that joins seconds later', async (t) => {
    net = await createTestnet(1)
    const [a] = net.nodes as [UmbraNode]
    const put = await a.dht.put('put-while-alone', new TextEncoder().encode('early'))
    assert.equal(put.storedOn, 0, 'the node was alone')
    late = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: a.getMultiaddrs(), nat: { stunPort: 0 } })
    await late.start()
    const joined = Date.now()
    const node = late
    // `get` answers from the local store first: source 'local' means the early re-publish stored it on the late node.
    await until('the late node to store the record', async () => (await node.dht.get('put-while-alone'))?.source === 'local' ? true : undefined, 30_000, 500)
    t.diagnostic(`stored on the node that joined ${Date.now() - joined} ms after it joined (the hourly re-publish would have taken up to 1 h)`)
  })
})
