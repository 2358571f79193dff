/**
 * Removes network namespaces left behind by crashed NAT lab runs
 * (test/nat/lab.ts): only names of the lab's own form
 * `umbra-<pid>-<id>-<role>`, and only those whose process is gone.
 *
 * Usage (as root): `node scripts/nat-lab-cleanup.ts [--all]`
 * `--all` also removes labs of processes that are still running.
 */
import { cleanupStaleNatLabs, natLabSkipReason } from '../test/nat/lab.ts'

const args = process.argv.slice(2)
if (args.some((a) => a !== '--all')) {
  process.stderr.write('usage: nat-lab-cleanup.ts [--all]\n')
  process.exit(2)
}
const reason = await natLabSkipReason()
if (reason != null) {
  process.stderr.write(`nat-lab-cleanup: nothing to do: ${reason}\n`)
  process.exit(0)
}
const removed = await cleanupStaleNatLabs({ all: args.includes('--all') })
for (const ns of removed) process.stdout.write(`removed ${ns}\n`)
process.stdout.write(`nat-lab-cleanup: ${removed.length} namespace(s) removed\n`)
