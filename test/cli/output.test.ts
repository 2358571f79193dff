/**
 * The CLI as typed (issue 12 item 3): global options before or after the
 * command, output that reaches a slow pipe in full, progress on a terminal
 * and none when piped, a reader that goes away, and completion scripts
 * generated from the program. Two in-process nodes with their HTTP APIs;
 * the CLI runs as a child process, as a user runs it.
 */
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { createApiServer, type ApiServer } from '../../src/api/index.ts'
import { createProgram } from '../../src/cli/program.ts'
import { apiListenAddress, parseApiAddress } from '../../src/cli/options.ts'
import { createTestnet, type Testnet } from '../../src/testnet/index.ts'
import type { UmbraNode } from '../../src/node/index.ts'
import { CLI, ENV, runToEnd, umbra } from './helpers.ts'

/** Bytes of the message the pipe test reads: well over a pipe's 64 KiB buffer. */
const BIG_MESSAGE_BYTES = 300_000

function hasCommand (name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0
}

describe('--api', () => {
  test('takes a URL or HOST:PORT; start listens on its host and port', () => {
    const fallback = { host: '127.0.0.1', port: 7450 }
    assert.equal(parseApiAddress('127.0.0.1:7451'), 'http://127.0.0.1:7451')
    assert.equal(parseApiAddress('[::1]:0'), 'http://[::1]:0')
    assert.equal(parseApiAddress('https://node.example:8443/umbra'), 'https://node.example:8443/umbra')
    assert.deepEqual(apiListenAddress(parseApiAddress('[::1]:0'), fallback), { host: '::1', port: 0 })
    assert.deepEqual(apiListenAddress(parseApiAddress('http://localhost:7460'), fallback), { host: 'localhost', port: 7460 })
    assert.deepEqual(apiListenAddress(undefined, fallback), fallback)
    for (const bad of ['nonsense', '127.0.0.1', '127.0.0.1:65536', 'ftp://x:1']) assert.throws(() => parseApiAddress(bad), /Expected/, bad)
  })
})

describe('umbra output, global options and completion', { timeout: 60_000 }, () => {
  let net: Testnet
  let alice: UmbraNode
  let bob: UmbraNode
  const apis: ApiServer[] = []
  const token = randomBytes(16).toString('hex')
  let dataDir: string

  before(async () => {
    net = await createTestnet(2, { mixnet: { preset: 'none', threads: 1 } })
    ;[alice, bob] = net.nodes as [UmbraNode, UmbraNode]
    for (const n of [alice, bob]) apis.push(await createApiServer(n, { port: 0, token }))
    // A data directory that names bob's API the way a running `umbra start` does.
    dataDir = await mkdtemp(join(tmpdir(), 'umbra-cli-output-'))
    await writeFile(join(dataDir, 'api.json'), JSON.stringify({ url: apis[1]?.url, pid: process.pid }), { mode: 0o600 })
    await writeFile(join(dataDir, 'api-token'), token, { mode: 0o600 })
  })
  after(async () => {
    for (const a of apis) await a.close()
    await net?.stop()
    await rm(dataDir, { recursive: true, force: true })
  })

  test('--data-dir, --api, --token and --json work before and after the command', async () => {
    const forms: string[][] = [
      ['--data-dir', dataDir, 'put', 'greeting', 'hello', '--ttl', '3600'],
      ['put', 'greeting', 'hello', '--data-dir', dataDir, '--json'],
      ['--json', '--data-dir', dataDir, 'id'],
      ['id', '--json', '--data-dir', dataDir],
      ['--api', (apis[1]?.url ?? '').replace('http://', ''), '--token', token, '--json', 'peers'],
      ['peers', '--api', apis[1]?.url ?? '', '--json', '--token', token],
      ['--data-dir', dataDir, 'pseudonym', 'list', '--json']
    ]
    for (const args of forms) {
      const res = await umbra(args)
      assert.equal(res.code, 0, `umbra ${args.join(' ')}: ${res.stderr}`)
      if (args.includes('--json')) assert.doesNotThrow(() => JSON.parse(res.stdout), `umbra ${args.join(' ')} printed JSON`)
    }
    const id = JSON.parse((await umbra(['--data-dir', dataDir, '--json', 'id'])).stdout) as { peerId: string }
    assert.equal(id.peerId, bob.peerId)
    const got = await umbra(['--data-dir', dataDir, 'get', 'greeting'])
    assert.equal(got.stdout, 'hello\n')
    // a bad global value is a usage error wherever it stands
    for (const args of [['--api', 'nonsense', 'peers'], ['peers', '--api', 'nonsense']]) {
      const res = await umbra(args)
      assert.equal(res.code, 2, res.stderr)
      assert.match(res.stderr, /^error: option '--api <url\|host:port>' argument 'nonsense' is invalid/)
    }
  })

  test('inbox --json through a slow pipe arrives whole (over 64 KiB), and no progress goes to a piped stderr', async (t) => {
    const body = 'x'.repeat(BIG_MESSAGE_BYTES)
    await alice.messaging.send(bob.peerId, new TextEncoder().encode(body))
    const child = spawn(process.execPath, [CLI, '--data-dir', dataDir, 'inbox', '--json'], { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] })
    const exited = once(child, 'exit') as Promise<[number | null]>
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    // Read nothing for a while: the child fills the pipe and must wait rather than exit.
    await new Promise((resolve) => setTimeout(resolve, 1500))
    const chunks: Buffer[] = []
    child.stdout.on('data', (d: Buffer) => { chunks.push(d) })
    const [code] = await exited
    if (!child.stdout.readableEnded) await once(child.stdout, 'end')
    const out = Buffer.concat(chunks)
    t.diagnostic(`umbra inbox --json through a pipe read 1.5 s late: ${out.length} bytes, exit ${code}`)
    assert.equal(code, 0, stderr)
    assert.ok(out.length > 200_000, `only ${out.length} bytes arrived`)
    const { messages } = JSON.parse(out.toString('utf8')) as { messages: Array<{ body: string }> }
    assert.ok(messages.some((m) => m.body === body), 'the 300,000-byte message is in the output, whole')
    assert.equal(stderr, '')
  })

  test('a reader that stops early (| head -c 100) ends the command quietly with exit 0', async () => {
    const script = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} --data-dir ${JSON.stringify(dataDir)} inbox --json | head -c 100 >/dev/null; echo "\${PIPESTATUS[0]}"`
    const res = await runToEnd('bash', ['-c', script])
    assert.equal(res.stdout.trim(), '0', res.stderr)
    assert.equal(res.stderr, '')
  })

  test('inbox --wait shows a progress line on a terminal and exits 1 with one line when nothing came', { skip: hasCommand('script') ? false : 'needs script(1) from util-linux for a terminal' }, async (t) => {
    const command = [process.execPath, CLI, 'inbox', '--wait', '2', '--api', apis[0]?.url ?? '', '--token', token].map((a) => JSON.stringify(a)).join(' ')
    // script(1) gives the command a terminal; its output is the terminal's
    const tty = await runToEnd('script', ['-qfec', command, '/dev/null'], { env: { ...ENV, COLUMNS: '120' } })
    t.diagnostic(`on a terminal: ${JSON.stringify(tty.stdout.slice(-200))}`)
    assert.match(tty.stdout, /waiting up to 2 s for a message \(\d\.\d s\)/)
    assert.match(tty.stdout, /umbra: no message arrived within 2 s \(UMBRA_ERR_NOT_FOUND\)/)
    assert.equal(tty.code, 1)
    const piped = await umbra(['inbox', '--wait', '2', '--api', apis[0]?.url ?? '', '--token', token])
    assert.equal(piped.code, 1)
    assert.equal(piped.stderr, 'umbra: no message arrived within 2 s (UMBRA_ERR_NOT_FOUND)\n', 'piped: the error line and no progress')
  })

  test('completion bash completes every command, nested commands, options and choices', async () => {
    const res = await umbra(['completion', 'bash'])
    assert.equal(res.code, 0, res.stderr)
    // no node is involved: a synchronous bash keeps the test short
    const complete = (line: string): string[] => {
      const script = `${res.stdout}\nCOMP_WORDS=(${line}); [[ "${line}" == *' ' ]] && COMP_WORDS+=(''); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); _umbra_completion; printf '%s\\n' "\${COMPREPLY[@]}"`
      return spawnSync('bash', ['-c', script], { encoding: 'utf8' }).stdout.split('\n').filter((w) => w !== '')
    }
    const program = createProgram({ exitCode: 0 })
    const commands = program.commands.map((c) => c.name())
    assert.deepEqual(complete('umbra ').filter((w) => w !== 'help').sort(), [...commands].sort(), 'every command of the program, none by hand')
    assert.deepEqual(complete('umbra --data-dir ./x na'), ['name'])
    assert.deepEqual(complete('umbra name re'), ['register', 'resolve'])
    assert.deepEqual(complete('umbra start --mixnet-preset '), ['none', 'balanced', 'strong'])
    assert.deepEqual(complete('umbra completion '), ['bash', 'zsh'])
    assert.ok(complete('umbra send --').includes('--anonymous'))
    assert.ok(complete('umbra send --').includes('--data-dir'), 'global options complete after the command too')
    assert.ok(!complete('umbra start --').includes('--stop-on-stdin-close'), 'hidden options stay hidden')
  })

  test('completion zsh is a valid zsh script', { skip: hasCommand('zsh') ? false : 'zsh is not installed' }, async () => {
    const res = await umbra(['completion', 'zsh'])
    assert.equal(res.code, 0, res.stderr)
    assert.match(res.stdout, /^#compdef umbra/)
    const check = await runToEnd('zsh', ['-n'], { input: res.stdout })
    assert.equal(check.code, 0, check.stderr)
  })

  test('--query with a command is a usage error, not a dropped option', async () => {
    const res = await umbra(['send', 'someone', 'hi', '--query', 'alice'])
    assert.equal(res.code, 2)
    assert.equal(res.stderr, 'error: --query resolves a name on its own; drop it, or drop \'send\'\n')
  })

  test('completion with another shell is a usage error', async () => {
    const res = await umbra(['completion', 'fish'])
    assert.equal(res.code, 2)
    assert.match(res.stderr, /^error: command-argument value 'fish' is invalid/)
  })
})
