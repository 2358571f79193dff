/**
 * The error registry (issue 12, item 5): every `UMBRA_ERR_…` code written in
 * src/ is listed once with its class, default message and HTTP status; every
 * class is a value export of `'umbra'`; every code a route of the HTTP
 * contract documents is listed, with the status it is documented under; and
 * the API answers the registry's status.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as umbra from '../../src/index.ts'
import { ERROR_REGISTRY, errorEntry, type ErrorCode } from '../../src/error-registry.ts'
import { buildOpenApiDocument } from '../../src/api/openapi.ts'
import { toErrorReply } from '../../src/api/errors.ts'

const SRC = new URL('../../src/', import.meta.url).pathname

/** Every `.ts` file under `dir`. */
async function sourceFiles (dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...await sourceFiles(path))
    else if (entry.name.endsWith('.ts')) out.push(path)
  }
  return out
}

/** A full code (not a prefix such as `UMBRA_ERR_…` or `UMBRA_ERR_QUOTA_`). */
const CODE_RE = /UMBRA_ERR_[A-Z0-9_]*[A-Z0-9]\b(?!_)/g

/**
 * The codes of a description, each with the HTTP status written last before
 * it: `Errors: 400 \`A\`, \`B\`; 502 \`C\`` → A 400, B 400, C 502.
 */
function documentedCodes (text: string): Array<{ code: string, status: number | undefined }> {
  const out: Array<{ code: string, status: number | undefined }> = []
  let status: number | undefined
  for (const m of text.matchAll(/\b([45]\d\d)\b|`(UMBRA_ERR_[A-Z0-9_]+)`/g)) {
    if (m[1] !== undefined) status = Number(m[1])
    else if (m[2] !== undefined) out.push({ code: m[2], status })
  }
  return out
}

describe('error registry', () => {
  it('lists every UMBRA_ERR_ code written anywhere in src/', async (t) => {
    const files = await sourceFiles(SRC)
    const missing = new Map<string, string>()
    const seen = new Set<string>()
    for (const file of files) {
      const text = await readFile(file, 'utf8')
      for (const [code] of text.matchAll(CODE_RE)) {
        seen.add(code)
        if (errorEntry(code) === undefined) missing.set(code, file.slice(SRC.length))
      }
    }
    t.diagnostic(`${seen.size} distinct codes in ${files.length} files under src/; registry has ${ERROR_REGISTRY.size}`)
    assert.deepEqual([...missing].map(([code, file]) => `${code} (${file})`), [])
    assert.ok(seen.size >= 70, `expected the grep to find the codes, found ${seen.size}`)
  })

  it('lists each code once, with a class that carries it, a message and a 4xx/5xx status', () => {
    for (const [code, entry] of ERROR_REGISTRY) {
      assert.equal(entry.code, code)
      assert.match(code, /^UMBRA_ERR_[A-Z0-9_]+$/)
      assert.ok(entry.status >= 400 && entry.status <= 599, `${code}: status ${entry.status}`)
      assert.ok(entry.message.length > 0, `${code}: no message`)
      assert.ok(entry.class.prototype instanceof Error, `${code}: class is not an Error`)
      const staticCode = (entry.class as unknown as { code?: unknown }).code
      if (typeof staticCode === 'string') assert.equal(staticCode, code, `${code} is listed with ${entry.class.name}, whose code is ${staticCode}`)
    }
    // No class carries two codes through its static `code`.
    const byClass = new Map<unknown, string>()
    for (const [code, entry] of ERROR_REGISTRY) {
      if (typeof (entry.class as unknown as { code?: unknown }).code !== 'string') continue
      assert.equal(byClass.get(entry.class), undefined, `${entry.class.name} is listed under ${byClass.get(entry.class)} and ${code}`)
      byClass.set(entry.class, code)
    }
  })

  it('every class is a value export of umbra, and a new instance carries its code', () => {
    const exported = new Set<unknown>(Object.values(umbra))
    const classes = new Set([...ERROR_REGISTRY.values()].map((e) => e.class))
    for (const cls of classes) assert.ok(exported.has(cls), `${cls.name} is not exported from src/index.ts`)
    t_classesWithDefaults()
  })

  it('every code a route documents is listed, under the status the registry gives it', (t) => {
    const doc = buildOpenApiDocument() as {
      paths: Record<string, Record<string, { operationId: string, description: string, responses: Record<string, { $ref?: string }> }>>
      components: { responses: Record<string, { description: string }> }
    }
    let checked = 0
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(operations)) {
        const statuses = new Set(Object.keys(op.responses).map(Number))
        for (const { code, status } of documentedCodes(op.description)) {
          const entry = errorEntry(code)
          assert.ok(entry !== undefined, `${method.toUpperCase()} ${path} documents ${code}, which is not in the registry`)
          assert.equal(status, entry.status, `${method.toUpperCase()} ${path} documents ${code} under ${status}; the registry says ${entry.status}`)
          assert.ok(statuses.has(entry.status), `${method.toUpperCase()} ${path} documents ${code} but not the response ${entry.status}`)
          checked++
        }
        for (const [status, response] of Object.entries(op.responses)) {
          if (Number(status) < 400 || response.$ref === undefined) continue
          const component = doc.components.responses[response.$ref.split('/').at(-1) ?? '']
          assert.ok(component !== undefined, `${response.$ref} is not defined`)
          for (const { code } of documentedCodes(component.description)) {
            assert.equal(errorEntry(code)?.status, Number(status), `response ${status} lists ${code}, registered as ${errorEntry(code)?.status}`)
            checked++
          }
        }
      }
    }
    t.diagnostic(`${checked} documented (route, code) pairs checked`)
    assert.ok(checked > 50)
  })

  it('the API answers the status the registry lists for a code', () => {
    for (const [code, entry] of ERROR_REGISTRY) {
      const err = Object.assign(new Error('x'), { code })
      assert.deepEqual(toErrorReply(err), { statusCode: entry.status, code, message: 'x' })
    }
    const someCodes: ErrorCode[] = ['UMBRA_ERR_MAILBOX_FULL', 'UMBRA_ERR_KEY_OWNED', 'UMBRA_ERR_PEER_UNREACHABLE']
    assert.deepEqual(someCodes.map((c) => toErrorReply(Object.assign(new Error('x'), { code: c })).statusCode), [507, 409, 502])
    // A code not in the registry is an internal error, never a guessed status.
    assert.equal(toErrorReply(new umbra.UmbraError('x', 'UMBRA_ERR_INVALID_SOMETHING_NEW')).statusCode, 500)
  })
})

/** Classes whose constructor takes no argument: a new instance has the registered code and default message. */
function t_classesWithDefaults (): void {
  for (const [code, entry] of ERROR_REGISTRY) {
    const cls = entry.class as unknown as { code?: unknown, new (): Error & { code: string } }
    if (cls.code !== code || cls.length > 0) continue
    const err = new cls()
    assert.equal(err.code, code)
    assert.equal(err.message, entry.message)
    assert.ok(err instanceof umbra.UmbraError)
  }
}
