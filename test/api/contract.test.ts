/**
 * The HTTP contract (issue 12, item 4): the OpenAPI document a node serves
 * passes a real OpenAPI 3.1 validator (@seriousme/openapi-schema-validator),
 * the typed client `ApiClient` of `umbra/api` reaches routes by the contract
 * and gets the registry's statuses back, and the types derived from the
 * route schemas are the shapes the schemas describe (checked by tsc when the
 * build type-checks this file).
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { Validator } from '@seriousme/openapi-schema-validator'
import { ApiClient, buildOpenApiDocument, createApiServer, ROUTES } from '../../src/api/index.ts'
import type { ApiServer, FromSchema, InboxEntry, RouteBody, RouteInput, RouteParams, RouteQuery, RouteResponse } from '../../src/api/index.ts'
import { ApiClient as CliApiClient } from '../../src/cli/api-client.ts'
import { ApiResponseError } from '../../src/cli/errors.ts'
import { errorEntry } from '../../src/error-registry.ts'
import { createNode } from '../../src/node/index.ts'
import type { UmbraNode } from '../../src/node/index.ts'

const TOKEN = 'contract-test-token-0123456789'

// Type-level checks: `npm run build` fails when a derived type drifts from its schema.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
function expectType<T extends true> (): T | undefined { return undefined }
expectType<Equal<RouteResponse<'dhtGet'>['source'], 'local' | 'network'>>()
expectType<Equal<RouteParams<'dhtPut'>, { key: string }>>()
expectType<Equal<RouteBody<'dhtPut'>, { value: string, encoding?: 'utf8' | 'base64', ttl?: number }>>()
expectType<Equal<RouteQuery<'dhtGet'>, { fresh?: 'true' | 'false' }>>()
expectType<Equal<RouteBody<'node'>, undefined>>()
expectType<Equal<RouteResponse<'quotas'>['refused']['event-streams'], number>>()
expectType<Equal<RouteResponse<'mixnet'>['counters']['dropped'], Record<string, number>>>()
expectType<Equal<Extract<InboxEntry, { kind: 'reply' }>['inReplyTo'], string>>()
expectType<Equal<FromSchema<{ readonly type: readonly ['string', 'null'] }>, string | null>>()
expectType<Equal<FromSchema<{ readonly type: 'object', readonly properties: { readonly a: { readonly type: 'integer', readonly default: 1 } } }, true>, { a: number }>>()
// A route without params takes none; one with params requires them.
const nodeInput: RouteInput<'node'> = {}
const putInput: RouteInput<'dhtPut'> = { params: { key: 'k' }, body: { value: 'v' } }
void nodeInput
void putInput

describe('HTTP contract', () => {
  let node: UmbraNode
  let api: ApiServer

  before(async () => {
    // Not started: the document, health and the 503 answers need no network.
    node = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })
    api = await createApiServer(node, { token: TOKEN, port: 0 })
  })

  after(async () => {
    await api?.close()
    await node?.stop()
  })

  it('the served OpenAPI document passes an OpenAPI 3.1 validator', async (t) => {
    const res = await fetch(`${api.url}/v1/openapi.json`)
    assert.equal(res.status, 200)
    const served = await res.json() as Record<string, unknown>
    assert.deepEqual(served, JSON.parse(JSON.stringify(buildOpenApiDocument())))
    const validator = new Validator()
    const started = performance.now()
    const result = await validator.validate(served)
    t.diagnostic(`validator ${validator.version}: valid=${result.valid} in ${(performance.now() - started).toFixed(0)} ms; ${Object.keys(served.paths as object).length} paths, ${Object.keys(ROUTES).length} routes`)
    assert.equal(validator.version, '3.1')
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2))
  })

  it('the validator refuses a broken document (the check above can fail)', async () => {
    const broken = buildOpenApiDocument()
    // An operation without responses is allowed in 3.1; an info without a version is not, nor a parameter without `in`.
    broken.info = { title: 'Umbra' }
    const result = await new Validator().validate(broken)
    assert.equal(result.valid, false)
  })

  it('ApiClient (umbra/api, re-exported by the CLI) calls routes by name and gets the registry status', async () => {
    assert.equal(CliApiClient, ApiClient)
    const client = new ApiClient({ url: api.url, token: TOKEN })
    assert.deepEqual(await client.health(), { status: 'ok' })
    assert.deepEqual(await client.call('health', {}), { status: 'ok' })
    // The node is not started: every node route answers 503 UMBRA_ERR_NOT_STARTED.
    const notStarted = errorEntry('UMBRA_ERR_NOT_STARTED')?.status
    await assert.rejects(client.node(), (err: unknown) => err instanceof ApiResponseError && err.code === 'UMBRA_ERR_NOT_STARTED' && err.status === notStarted)
    // Path parameters are percent-encoded from the contract's `:key`.
    await assert.rejects(client.call('dhtGet', { params: { key: 'a/b c' }, query: { fresh: 'true' } }), (err: unknown) => err instanceof ApiResponseError && err.status === 503)
    // Body validation by the route schema: an unknown field is a 400 naming it.
    await assert.rejects(
      client.request('PUT', '/v1/dht/k', { value: 'v', colour: 'red' }),
      (err: unknown) => err instanceof ApiResponseError && err.code === 'UMBRA_ERR_BAD_REQUEST' && err.status === errorEntry('UMBRA_ERR_BAD_REQUEST')?.status && /colour/.test(err.message)
    )
    const wrongToken = new ApiClient({ url: api.url, token: 'wrong' })
    await assert.rejects(wrongToken.peers(), (err: unknown) => err instanceof ApiResponseError && err.code === 'UMBRA_ERR_UNAUTHORIZED' && err.status === 401)
  })
})
