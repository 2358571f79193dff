/**
 * The README runs as typed (issue 12): every ```sh / ```bash block, command
 * by command, and every ```ts / ```js library example, in document order,
 * in one fresh directory, against the real nodes the README itself starts.
 *
 * Conventions (README "Quick start"):
 * - a command ending in `&` runs in the background; the test waits for its
 *   ready line (`umbra node ready:`, `testnet of N nodes is up`, or
 *   `umbra sub: subscribed to` on stderr) and stops it
 *   at the end;
 * - `<name>` stands for a value an earlier command printed; the command with
 *   the comment `# → <name>` prints it, and the kind of value comes from the
 *   name's ending (`-addr`, `-peer-id`, `-key`, `-id`);
 * - `<!-- readme-test: skip (reason) -->` right before a block skips it
 *   (installing, the whole test suite, a machine with a public IP); the test
 *   counts and prints the skipped blocks.
 *
 * `npx umbra` finds the CLI as it would in a project that depends on umbra:
 * the directory has `node_modules/.bin/umbra` (this checkout's
 * src/cli/main.ts) and `node_modules/umbra` (this checkout's src), so no
 * build is needed.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { runToEnd } from '../cli/helpers.ts'

const REPO = fileURLToPath(new URL('../../', import.meta.url))
const README = join(REPO, 'README.md')

/** Most time one foreground command may take, ms (a global name's proof of work, an anonymous send on a loaded machine). */
const COMMAND_TIMEOUT_MS = 45_000
/** Most time a background command may take to print its ready line, ms. */
const READY_TIMEOUT_MS = 45_000
/** Most time a library example may take, ms. */
const EXAMPLE_TIMEOUT_MS = 45_000
/** What a background command prints once it is up. */
const READY_LINE = /^umbra node ready: |^testnet of \d+ nodes? is up$|^umbra sub: subscribed to /m

/** One fenced block of the README. */
export interface ReadmeBlock {
  lang: 'sh' | 'ts'
  /** 1-based line of the opening fence. */
  line: number
  text: string
  /** The reason of a `<!-- readme-test: skip (reason) -->` right before the block. */
  skip?: string
}

/** The README's shell (`sh`, `bash`) and library (`ts`, `js`) blocks in document order; other fences are not runnable and are left out. */
export function readmeBlocks (markdown: string): ReadmeBlock[] {
  const blocks: ReadmeBlock[] = []
  const fence = /^```([a-z]*)\n([\s\S]*?)^```$/gm
  for (let m = fence.exec(markdown); m != null; m = fence.exec(markdown)) {
    const lang = m[1] === 'sh' || m[1] === 'bash' ? 'sh' : m[1] === 'ts' || m[1] === 'js' ? 'ts' : undefined
    if (lang == null) continue
    const before = markdown.slice(0, m.index)
    const marker = /<!--\s*readme-test:\s*skip\s*(?:\((.*?)\))?\s*-->\s*$/.exec(before)
    if (marker != null) assert.ok(marker[1] != null && marker[1].trim() !== '', `the skip marker before line ${before.split('\n').length} needs a reason in parentheses`)
    blocks.push({ lang, line: before.split('\n').length, text: m[2] ?? '', ...(marker?.[1] != null ? { skip: marker[1].trim() } : {}) })
  }
  return blocks
}

/** One command of a shell block: the command text (continuations joined) and its trailing comment. */
export interface ReadmeCommand {
  command: string
  comment: string
  line: number
}

/** Splits a line at its first `#` that starts a comment (after whitespace, outside quotes). */
function splitComment (line: string): [string, string] {
  let quote: string | undefined
  for (let i = 0; i < line.length; i++) {
    const c = line[i]
    if (quote != null) {
      if (c === quote) quote = undefined
    } else if (c === '"' || c === '\'') {
      quote = c
    } else if (c === '#' && (i === 0 || /\s/.test(line[i - 1] ?? ''))) {
      return [line.slice(0, i).trim(), line.slice(i + 1).trim()]
    }
  }
  return [line.trim(), '']
}

/** The commands of a shell block; comment-only and empty lines are dropped, `\` continuations joined. */
export function blockCommands (block: ReadmeBlock): ReadmeCommand[] {
  const commands: ReadmeCommand[] = []
  let pending: { parts: string[], line: number } | undefined
  block.text.split('\n').forEach((raw, i) => {
    const [code, comment] = splitComment(raw)
    if (pending == null && code === '') return
    const continued = code.endsWith('\\')
    pending ??= { parts: [], line: block.line + 1 + i }
    pending.parts.push(continued ? code.slice(0, -1).trim() : code)
    if (!continued) {
      commands.push({ command: pending.parts.join(' '), comment, line: pending.line })
      pending = undefined
    }
  })
  return commands
}

/** How a placeholder's value is found in the output of the command that prints it, by the ending of its name. */
const PLACEHOLDER_KINDS: Array<[suffix: string, value: RegExp]> = [
  ['-addr', /\/ip4\/[^\s,]+\/tcp\/\d+\/p2p\/12D3KooW[1-9A-HJ-NP-Za-km-z]+/],
  ['-peer-id', /12D3KooW[1-9A-HJ-NP-Za-km-z]+/],
  ['-key', /key_[1-9A-HJ-NP-Za-km-z]+/],
  ['-id', /\b[0-9a-f]{32}\b/]
]

/** The placeholders a command's comment says it prints (`# → <a> <b>`). */
function printedPlaceholders (comment: string): string[] {
  const arrow = /→\s*((?:<[a-z0-9-]+>[\s,]*)+)/.exec(comment)
  return arrow?.[1] == null ? [] : [...arrow[1].matchAll(/<([a-z0-9-]+)>/g)].map((m) => m[1] ?? '')
}

function valueOf (name: string, output: string): string {
  const kind = PLACEHOLDER_KINDS.find(([suffix]) => name.endsWith(suffix))
  assert.ok(kind != null, `placeholder <${name}>: its name must end in ${PLACEHOLDER_KINDS.map(([s]) => s).join(', ')}`)
  const value = kind[1].exec(output)?.[0]
  assert.ok(value != null, `the command marked "→ <${name}>" printed no ${kind[0].slice(1)}; its output:\n${output}`)
  return value
}

/** Replaces every `<name>` of `command` with its value. @throws when one has none yet */
function fill (command: string, values: Map<string, string>): string {
  return command.replace(/<([a-z][a-z0-9-]*)>/g, (_, name: string) => {
    const value = values.get(name)
    assert.ok(value != null, `<${name}> is used before a command marked "# → <${name}>" printed it`)
    return value
  })
}

describe('README blocks', () => {
  test('the parser finds commands, comments, continuations, placeholders and skip markers', () => {
    const md = [
      'text', '<!-- readme-test: skip (installs) -->', '```sh', 'npm ci', '```',
      '```bash', 'a --x "b # not a comment" # → <bob-peer-id> <x-addr>', 'c \\', '  d   # one', '# only a comment', '```',
      '```ts', 'console.log(1)', '```', '```text', 'not run', '```'
    ].join('\n')
    const blocks = readmeBlocks(md)
    assert.deepEqual(blocks.map((b) => [b.lang, b.skip]), [['sh', 'installs'], ['sh', undefined], ['ts', undefined]])
    const commands = blockCommands(blocks[1] as ReadmeBlock)
    assert.deepEqual(commands.map((c) => c.command), ['a --x "b # not a comment"', 'c d'])
    assert.deepEqual(printedPlaceholders(commands[0]?.comment ?? ''), ['bob-peer-id', 'x-addr'])
    assert.equal(fill('send <bob-peer-id> hi', new Map([['bob-peer-id', '12D3KooWx']])), 'send 12D3KooWx hi')
    assert.throws(() => fill('send <carol-peer-id> hi', new Map()), /used before/)
    assert.throws(() => readmeBlocks('<!-- readme-test: skip -->\n```sh\nx\n```\n'), /needs a reason/)
  })
})

describe('README runs as typed', { timeout: 240_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'umbra-readme-'))
  const background: Array<{ command: string, child: ReturnType<typeof spawn>, exited: Promise<unknown> }> = []
  const env: Record<string, string | undefined> = {
    ...process.env,
    PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
    UMBRA_HOME: join(dir, 'home'),
    UMBRA_API_URL: undefined,
    UMBRA_API_TOKEN: undefined,
    NODE_TEST_CONTEXT: undefined,
    npm_config_update_notifier: 'false',
    npm_config_yes: 'false'
  }

  // The project a new user would have: `npx umbra` and `import 'umbra'` resolve to this checkout.
  mkdirSync(join(dir, 'node_modules', '.bin'), { recursive: true })
  mkdirSync(join(dir, 'node_modules', 'umbra'), { recursive: true })
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'readme-test', private: true, type: 'module', dependencies: { umbra: '*' } }))
  writeFileSync(join(dir, 'node_modules', '.bin', 'umbra'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(join(REPO, 'src/cli/main.ts'))} "$@"\n`)
  chmodSync(join(dir, 'node_modules', '.bin', 'umbra'), 0o755)
  writeFileSync(join(dir, 'node_modules', 'umbra', 'package.json'), JSON.stringify({ name: 'umbra', type: 'module', exports: { '.': './index.js', './testnet': './testnet.js' } }))
  writeFileSync(join(dir, 'node_modules', 'umbra', 'index.js'), `export * from ${JSON.stringify(join(REPO, 'src/index.ts'))}\n`)
  writeFileSync(join(dir, 'node_modules', 'umbra', 'testnet.js'), `export * from ${JSON.stringify(join(REPO, 'src/testnet/index.ts'))}\n`)

  const killGroup = (child: ReturnType<typeof spawn>, signal: NodeJS.Signals): void => {
    try {
      if (child.pid != null) process.kill(-child.pid, signal)
    } catch {
      // already gone
    }
  }
  const onExit = (): void => { for (const b of background) killGroup(b.child, 'SIGKILL') }
  process.on('exit', onExit)
  after(async () => {
    for (const b of background) killGroup(b.child, 'SIGTERM')
    const stopped = Promise.all(background.map(async (b) => await b.exited))
    const late = setTimeout(() => { for (const b of background) killGroup(b.child, 'SIGKILL') }, 15_000)
    await stopped
    clearTimeout(late)
    process.off('exit', onExit)
    rmSync(dir, { recursive: true, force: true })
  })

  /** Runs `command` in the README's directory through bash; resolves with its output once it exits 0. */
  const runForeground = async (command: string, where: string): Promise<string> => {
    const res = await runToEnd('bash', ['-c', command], { cwd: dir, env, detached: true, timeout: COMMAND_TIMEOUT_MS })
    assert.equal(res.code, 0, `${where}: \`${command}\` exited ${res.signal ?? res.code}\nstdout:\n${res.stdout}\nstderr:\n${res.stderr}`)
    return res.stdout
  }

  /** Starts `command` (without its `&`) in the background and resolves with its output once it printed its ready line. */
  const runBackground = async (command: string, where: string): Promise<string> => {
    const child = spawn('bash', ['-c', `exec ${command}`], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    const exited = once(child, 'exit')
    background.push({ command, child, exited })
    let stdout = ''
    let stderr = ''
    child.stdout?.setEncoding('utf8').on('data', (d: string) => { stdout += d })
    child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    const deadline = Date.now() + READY_TIMEOUT_MS
    while (!READY_LINE.test(stdout) && !READY_LINE.test(stderr)) {
      assert.ok(child.exitCode == null && child.signalCode == null, `${where}: \`${command}\` exited (${child.signalCode ?? child.exitCode}) before its ready line\nstdout:\n${stdout}\nstderr:\n${stderr}`)
      assert.ok(Date.now() < deadline, `${where}: \`${command}\` printed no ready line within ${READY_TIMEOUT_MS} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    return stdout
  }

  /** Writes a library example to a file of the directory and runs it with Node; resolves with its output once it exits 0. */
  const runExample = async (block: ReadmeBlock, index: number): Promise<string> => {
    const file = join(dir, `readme-example-${index}.ts`)
    writeFileSync(file, block.text)
    const res = await runToEnd(process.execPath, [file], { cwd: dir, env, timeout: EXAMPLE_TIMEOUT_MS })
    assert.equal(res.code, 0, `README line ${block.line}: the library example exited ${res.signal ?? res.code}\nstdout:\n${res.stdout}\nstderr:\n${res.stderr}`)
    return res.stdout
  }

  test('every shell command and library example of README.md succeeds, in order', async (t) => {
    const blocks = readmeBlocks(readFileSync(README, 'utf8'))
    const values = new Map<string, string>()
    const skipped = blocks.filter((b) => b.skip != null)
    let commands = 0
    let examples = 0
    const started = performance.now()
    for (const block of blocks) {
      if (block.skip != null) continue
      if (block.lang === 'ts') {
        const t0 = performance.now()
        const out = await runExample(block, ++examples)
        t.diagnostic(`line ${block.line}: library example ran in ${Math.round(performance.now() - t0)} ms; it printed: ${out.trim().split('\n').join(' | ')}`)
        continue
      }
      for (const cmd of blockCommands(block)) {
        const where = `README line ${cmd.line}`
        const filled = fill(cmd.command, values)
        const t0 = performance.now()
        const inBackground = /\s&$/.test(filled)
        const out = inBackground ? await runBackground(filled.replace(/\s*&$/, ''), where) : await runForeground(filled, where)
        for (const name of printedPlaceholders(cmd.comment)) values.set(name, valueOf(name, out))
        commands++
        t.diagnostic(`line ${cmd.line}: ${inBackground ? 'ready' : 'ok'} in ${Math.round(performance.now() - t0)} ms: ${cmd.command}`)
      }
    }
    t.diagnostic(`ran ${commands} commands and ${examples} library examples in ${Math.round(performance.now() - started)} ms; ${skipped.length} blocks skipped:`)
    for (const b of skipped) t.diagnostic(`  skipped README line ${b.line}: ${b.skip ?? ''}`)
    // The README must keep runnable content: a test that runs nothing cannot fail.
    assert.ok(commands >= 10, `only ${commands} commands ran`)
    assert.ok(examples >= 1, 'no library example ran')
    assert.ok(skipped.length <= 2, `${skipped.length} blocks are skipped; only installing, the whole suite and a public-IP server may be`)
  })
})
