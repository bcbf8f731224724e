import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CliError, EXIT, RefusedError } from './cli.errors';
import { CliHandlers, type CliIo } from './cli.handlers';
import { parseAndRun, type CommonOptions, type Handlers } from './cli.program';
import { renderError } from './render/error.renderer';
import { styleFor } from './render/style';

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/**
 * Wraps every handler so an expected failure becomes its message on stderr and its exit code,
 * never a stack trace; with `--json` a refusal also prints the exact `{"ok":false}` reply on stdout.
 */
function guarded(handlers: Handlers, io: CliIo): Handlers {
  const wrap =
    <O extends CommonOptions>(fn: (o: O) => Promise<number>) =>
    async (o: O): Promise<number> => {
      try {
        return await fn(o);
      } catch (error) {
        const style = styleFor(io.stderr.isTTY, io.env, !o.color);
        if (error instanceof RefusedError && o.json) io.stdout.write(`${JSON.stringify(error.reply, null, 2)}\n`);
        if (error instanceof CliError) {
          io.stderr.write(renderError(error, style));
          return error.exitCode;
        }
        io.stderr.write(renderError({ message: `unexpected error: ${error instanceof Error ? error.message : String(error)}`, lines: [] }, style));
        return EXIT.internal;
      }
    };
  return {
    sourceCreate: wrap((o) => handlers.sourceCreate(o)),
    sourceUpdate: wrap((o) => handlers.sourceUpdate(o)),
    sourceDelete: wrap((o) => handlers.sourceDelete(o)),
    sourceGet: wrap((o) => handlers.sourceGet(o)),
    sourceList: wrap((o) => handlers.sourceList(o)),
    sourceRestart: wrap((o) => handlers.sourceRestart(o)),
    sourceTest: wrap((o) => handlers.sourceTest(o)),
    sourceReplay: wrap((o) => handlers.sourceReplay(o)),
    sourceHistory: wrap((o) => handlers.sourceHistory(o)),
    secretsReencrypt: wrap((o) => handlers.secretsReencrypt(o)),
    health: wrap((o) => handlers.health(o)),
    watch: wrap((o) => handlers.watch(o)),
  };
}

/** Runs `s1c` with `argv` (node, script, args...) and resolves to the exit code. */
export function runCli(argv: readonly string[], io: CliIo, handlers: Handlers = new CliHandlers(io)): Promise<number> {
  return parseAndRun(guarded(handlers, io), { out: (t) => void io.stdout.write(t), err: (t) => void io.stderr.write(t) }, packageVersion(), argv);
}
