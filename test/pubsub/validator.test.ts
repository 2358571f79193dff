import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { decodeEnvelope, encodeEnvelope, messageIdText, signEnvelope } from '../../src/pubsub/envelope.ts'
import { EnvelopeValidator } from '../../src/pubsub/validator.ts'
import { MessageStore } from '../../src/pubsub/store.ts'
import { openStateDatabase } from '../../src/store/index.ts'

const enc = new TextEncoder()

test('one id is accepted once per path rules: a GossipSub copy after another path is forwarded, not delivered twice; a second GossipSub copy is a replay', async () => {
  const key = await generateKeyPair('Ed25519')
  const v = new EnvelopeValidator()
  const bytes = encodeEnvelope(await signEnvelope({ topic: 't', data: enc.encode('x'), privateKey: key }))
  const id = messageIdText(decodeEnvelope(bytes).id)
  const central = await v.check('t', bytes, 'central')
  assert.equal(central.ok, true)
  assert.equal(v.markDelivered(id), true)
  assert.deepEqual(await v.check('t', bytes, 'central').then((r) => r.ok && r.duplicate), true)
  const p2p = await v.check('t', bytes, 'p2p')
  assert.equal(p2p.ok && p2p.duplicate, true, 'forwarded, flagged as delivered already')
  assert.equal(v.markDelivered(id), false)
  assert.deepEqual(await v.check('t', bytes, 'p2p'), { ok: false, reason: 'replay' })
  assert.deepEqual(await v.check('other', bytes, 'p2p'), { ok: false, reason: 'topic' })
  assert.equal(v.rejected.replay, 1)
  assert.equal(v.rejected.topic, 1)
})

test('history answers skip the age check but not the signature; unsigned envelopes follow acceptUnsigned', async () => {
  const key = await generateKeyPair('Ed25519')
  let now = 1_000_000_000
  const v = new EnvelopeValidator({ now: () => now, maxAgeMs: 60_000, acceptUnsigned: false })
  const old = encodeEnvelope(await signEnvelope({ topic: 't', data: enc.encode('old'), privateKey: key, timestamp: now - 120_000 }))
  assert.deepEqual(await v.check('t', old, 'p2p'), { ok: false, reason: 'stale' })
  assert.equal((await v.check('t', old, 'store')).ok, true)
  const forged = encodeEnvelope({ ...decodeEnvelope(old), data: enc.encode('new') })
  assert.deepEqual(await v.check('t', forged, 'store'), { ok: false, reason: 'signature' })
  const anon = encodeEnvelope(await signEnvelope({ topic: 't', data: enc.encode('anon'), timestamp: now }))
  assert.deepEqual(await v.check('t', anon, 'mixnet'), { ok: false, reason: 'unsigned' })
  now += 10
  assert.equal((await new EnvelopeValidator({ now: () => now }).check('t', anon, 'mixnet')).ok, true)
})

test('the message store keeps the newest N per topic and nothing older than its TTL, and remembers subscriptions', () => {
  let now = 1_000_000
  const state = openStateDatabase({ path: ':memory:' })
  const store = new MessageStore(state, { maxMessages: 3, ttl: 10_000, now: () => now })
  for (let i = 0; i < 5; i++) store.add('t', new Uint8Array(16).fill(i), now + i, new Uint8Array([i]))
  assert.deepEqual(store.since('t', 0, 100).map((m) => m.envelope[0]), [2, 3, 4])
  assert.equal(store.add('t', new Uint8Array(16).fill(4), now + 4, new Uint8Array([4])), false, 'an id is kept once')
  now += 10_004
  assert.deepEqual(store.since('t', 0, 100).map((m) => m.envelope[0]), [4], 'older than the TTL by publisher time: gone')
  assert.equal(store.newest('t'), 1_000_004)
  store.subscribe('a')
  store.subscribe('b')
  store.unsubscribe('a')
  assert.deepEqual(store.subscriptions(), ['b'])
  state.close()
})
