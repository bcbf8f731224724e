#!/usr/bin/env node
import { runCli } from './cli.run';

let interrupt: (() => void) | undefined;
let signals = 0;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    // Only `watch` stops gracefully (and exits 0); anything else, or a second Ctrl-C while
    // closing hangs on a dead server, ends at once.
    if (!interrupt || ++signals > 1) process.exit(130);
    interrupt();
  });
}
// `s1c watch | head` closes the pipe: that is the reader being done, not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => process.exit(error.code === 'EPIPE' ? 0 : 1));

runCli(process.argv, {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  now: () => new Date(),
  interrupted: () => new Promise<void>((resolve) => (interrupt = resolve)),
}).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`s1c: unexpected error: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(70);
  },
);
