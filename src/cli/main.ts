#!/usr/bin/env node
/**
 * The `umbra` executable (package.json `bin`). See `umbra --help`.
 *
 * Before loading anything else it caps V8's young generation at 1 MiB per
 * semi-space and asks V8 to favour size: a node is mostly idle, and the
 * default 16 MiB semi-spaces, grown while ~1,000 modules load, kept 30 MB
 * of RSS that an idle node never uses again (136 -> 101 MB measured with
 * bench/dht-and-messaging.ts). Set UMBRA_V8_DEFAULTS=1 to keep V8's defaults.
 */
import { setFlagsFromString } from 'node:v8'

if (process.env.UMBRA_V8_DEFAULTS !== '1') {
  setFlagsFromString('--max-semi-space-size=1')
  setFlagsFromString('--optimize-for-size')
}
const { flushed, ignoreBrokenPipe } = await import('./output.ts')
ignoreBrokenPipe(process.stdout)
ignoreBrokenPipe(process.stderr)
const { run } = await import('./program.ts')

const code = await run(process.argv)
process.exitCode = code
// Everything printed must reach the reader first: exiting with output still
// queued for a pipe cuts it at the pipe's buffer (64 KiB; issue 12).
await flushed(process.stdout)
await flushed(process.stderr)
// A stopped node may leave a handle open for a moment (a closing socket, a
// logger's flush); the command is done, so exit now with its code.
process.exit(code)
