/**
 * The bootstrap endpoints (issue 9 item 5, seed 001) over HTTP on 127.0.0.1:
 * register / heartbeat / peers / peer / unregister round trip; a
 * registration signed by the wrong key, a replayed challenge and a flood
 * from one address are refused with 4xx; a peer whose heartbeats stop
 * leaves the list; GET /peers answers at most 20, in random order.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { answerBootstrapChallenge, createBootstrapServer, fetchBootstrapPeers, signedBootstrapCall, type BootstrapServer } from '../../src/bootstrap/index.ts'
import { keyFromPeerId } from '../../src/identity/index.ts'
import { signPeerRecord } from '../../src/registry/index.ts'
import type { PrivateKey } from '@libp2p/interface'

/** One JSON request; `json` is loosely typed (the tests read fields of several answer shapes). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function http (method: string, url: string, body?: unknown): Promise<{ status: number, json: any }> {
  const res = await fetch(url, { method, ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}) })
  return { status: res.status, json: await res.json() }
}

async function record (privateKey: PrivateKey, seq = Date.now()): Promise<Uint8Array> {
  return await signPeerRecord({ privateKey, role: 'server', addrs: ['/ip4/127.0.0.1/tcp/4001'], seq, expiresAt: Date.now() + 3_600_000 })
}

async function signedBody (url: string, action: 'register' | 'heartbeat' | 'unregister', signer: PrivateKey, key: string, rec?: Uint8Array): Promise<Record<string, string>> {
  const { json } = await http('GET', `${url}/challenge?action=${action}`)
  // src/auth's answer by `signer`; `key` may name another key (a forgery the server must refuse).
  const signed = await answerBootstrapChallenge(signer, action, json.issued)
  return { ...signed, key, ...(rec != null ? { record: Buffer.from(rec).toString('base64') } : {}) }
}

describe('bootstrap endpoints', { timeout: 60_000 }, () => {
  const servers: BootstrapServer[] = []
  after(async () => { for (const s of servers) await s.close() })

  it('register, heartbeat, peers, peer and unregister round trip', async (t) => {
    const s = await createBootstrapServer({ rateBurst: 1000 }); servers.push(s)
    const alice = await generateKeyPair('Ed25519')
    const id = peerIdFromPrivateKey(alice)
    const key = keyFromPeerId(id)
    const reg = await http('POST', `${s.url}/register`, await signedBody(s.url, 'register', alice, key, await record(alice)))
    assert.equal(reg.status, 201, JSON.stringify(reg.json))
    assert.equal(reg.json.peer.peerId, id.toString())
    const peers = await fetchBootstrapPeers(s.url)
    assert.deepEqual(peers.peers.map((p) => p.peerId), [id.toString()])
    assert.equal(peers.dropped, 0)
    for (const q of [id.toString(), key]) {
      const one = await http('GET', `${s.url}/peer/${q}`)
      assert.equal(one.status, 200)
      assert.deepEqual(one.json.peer.addrs, ['/ip4/127.0.0.1/tcp/4001'])
    }
    const before = reg.json.peer.heartbeatAt as number
    await new Promise((resolve) => setTimeout(resolve, 20))
    const hb = await signedBootstrapCall(s.url, 'heartbeat', { privateKey: alice }) as { peer: { heartbeatAt: number } }
    assert.ok(hb.peer.heartbeatAt > before)
    await signedBootstrapCall(s.url, 'unregister', { privateKey: alice })
    assert.equal((await http('GET', `${s.url}/peer/${key}`)).status, 404)
    assert.deepEqual((await http('GET', `${s.url}/peers`)).json.peers, [])
    t.diagnostic('register 201, peers 1, peer 200 by PeerId and key, heartbeat 200, unregister then peer 404')
  })

  it('refuses a registration signed by the wrong key, a replayed challenge and an unregister of another key', async (t) => {
    const s = await createBootstrapServer({ rateBurst: 1000 }); servers.push(s)
    const alice = await generateKeyPair('Ed25519')
    const mallory = await generateKeyPair('Ed25519')
    const aliceKey = keyFromPeerId(peerIdFromPrivateKey(alice))
    // A registration under Alice's key carrying a record signed by Mallory: the record does not verify under Alice's key.
    const r1 = await http('POST', `${s.url}/register`, await signedBody(s.url, 'register', alice, aliceKey, await record(mallory)))
    // Mallory replays Alice's (genuine) record but cannot sign the challenge as Alice.
    const aliceRec = await record(alice)
    const r2 = await http('POST', `${s.url}/register`, await signedBody(s.url, 'register', mallory, aliceKey, aliceRec))
    t.diagnostic(`wrong-key record: ${r1.status} ${r1.json.error.code}; wrong-key challenge signature: ${r2.status} ${r2.json.error.code}`)
    assert.equal(r1.status, 400)
    assert.equal(r1.json.error.code, 'UMBRA_ERR_INVALID_RECORD')
    assert.equal(r2.status, 401)
    assert.equal(r2.json.error.code, 'UMBRA_ERR_BAD_SIGNATURE')
    // Alice registers; the same body (same challenge) replayed is refused.
    const body = await signedBody(s.url, 'register', alice, aliceKey, aliceRec)
    assert.equal((await http('POST', `${s.url}/register`, body)).status, 201)
    const replay = await http('POST', `${s.url}/register`, body)
    t.diagnostic(`replayed challenge: ${replay.status} ${replay.json.error.code}`)
    assert.equal(replay.status, 401)
    assert.equal(replay.json.error.code, 'UMBRA_ERR_BAD_CHALLENGE')
    // A signature for one action is no good for another; a made-up challenge is refused.
    const regBody = await signedBody(s.url, 'register', alice, aliceKey)
    const wrongAction = await http('DELETE', `${s.url}/unregister`, { key: regBody.key, challenge: regBody.challenge, signature: regBody.signature })
    assert.equal(wrongAction.status, 401)
    const madeUp = await http('POST', `${s.url}/heartbeat`, { ...regBody, challenge: 'A'.repeat(43) })
    assert.equal(madeUp.status, 401)
    // Mallory cannot unregister Alice.
    assert.equal((await http('DELETE', `${s.url}/unregister`, await signedBody(s.url, 'unregister', mallory, aliceKey))).status, 401)
    assert.equal((await http('GET', `${s.url}/peer/${aliceKey}`)).status, 200)
    // Garbage is a 400, never a crash.
    assert.equal((await http('POST', `${s.url}/register`, { key: 'nope' })).status, 400)
    assert.equal((await http('GET', `${s.url}/peer/not-a-peer`)).status, 400)
  })

  it('a flood from one address is refused with 429 after the burst', async (t) => {
    const s = await createBootstrapServer({ rateBurst: 30, ratePerSecond: 2 }); servers.push(s)
    const statuses = await Promise.all(Array.from({ length: 100 }, async () => {
      const res = await fetch(`${s.url}/challenge`)
      const json = await res.json() as { error?: { code: string } }
      if (res.status === 429) assert.equal(json.error?.code, 'UMBRA_ERR_RATE_LIMITED')
      return res.status
    }))
    const ok = statuses.filter((c) => c === 200).length
    const limited = statuses.filter((c) => c === 429).length
    t.diagnostic(`100 requests at once from 127.0.0.1: ${ok} answered, ${limited} refused with 429`)
    assert.ok(ok >= 30 && ok <= 45, `about the burst answered (${ok})`)
    assert.equal(ok + limited, 100)
  })

  it('GET /peers lists at most 20 live peers in random order; a peer without heartbeats leaves', async (t) => {
    const s = await createBootstrapServer({ rateBurst: 10_000, liveMs: 3000 }); servers.push(s)
    const keys = await Promise.all(Array.from({ length: 25 }, async () => await generateKeyPair('Ed25519')))
    for (const k of keys) await signedBootstrapCall(s.url, 'register', { privateKey: k, record: await record(k) })
    const seen = new Set<string>()
    const firsts = new Set<string>()
    for (let i = 0; i < 10; i++) {
      const { peers } = (await http('GET', `${s.url}/peers`)).json as { peers: Array<{ peerId: string }> }
      assert.equal(peers.length, 20)
      for (const p of peers) seen.add(p.peerId)
      firsts.add(peers[0]?.peerId ?? '')
    }
    t.diagnostic(`10 calls of GET /peers over 25 registered: 20 each, ${seen.size} distinct peers seen, ${firsts.size} distinct first entries`)
    assert.ok(seen.size > 20 && firsts.size > 1)
    // Keep one alive with heartbeats; the others lapse after 3 s.
    const keeper = keys[0] as PrivateKey
    const end = Date.now() + 4000
    while (Date.now() < end) {
      await signedBootstrapCall(s.url, 'heartbeat', { privateKey: keeper })
      await new Promise((resolve) => setTimeout(resolve, 1000))
    }
    const { peers } = (await http('GET', `${s.url}/peers`)).json as { peers: Array<{ peerId: string }> }
    t.diagnostic(`4 s later with a 3 s liveness: ${peers.length} live (the one that heartbeated)`)
    assert.deepEqual(peers.map((p) => p.peerId), [peerIdFromPrivateKey(keeper).toString()])
  })
})
