import { SOURCE_STATES, type SourceStateName } from '@s1c/contracts';
import { SOURCE_APIS, type SourceApi } from '@s1c/domain';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { parseDurationMs, type GlobalFlags } from './cli.env';
import { EXIT } from './cli.errors';

/** Options every command takes (after the command name). */
export interface CommonOptions extends GlobalFlags {
  json?: boolean;
  color: boolean;
}

export interface CreateOptions extends CommonOptions { file: string; collector?: string; wait: boolean; waitTimeout: number }
export interface UpdateOptions extends CommonOptions { id?: string; file: string; version?: number; wait: boolean; waitTimeout: number }
export interface RefOptions extends CommonOptions { id: string; collector?: string }
export interface RestartOptions extends CommonOptions { id: string; wait: boolean; waitTimeout: number }
export interface DeleteOptions extends CommonOptions { id: string; wait: boolean; waitTimeout: number }
export interface ListOptions extends CommonOptions { collector?: string; state: SourceStateName[]; name?: string; limit?: number; cursor?: string; all: boolean }
export interface TestOptions extends CommonOptions { id?: string; file?: string; collector?: string }
export interface ReplayOptions extends CommonOptions { id: string; api: SourceApi; from: string; to: string }
export interface HealthOptions extends CommonOptions { id?: string }
export interface WatchOptions extends CommonOptions { id?: string }
export interface HistoryOptions extends CommonOptions { id: string; collector?: string }

/** What each command does once its arguments are parsed; each resolves to the exit code. */
export interface Handlers {
  sourceCreate(o: CreateOptions): Promise<number>;
  sourceUpdate(o: UpdateOptions): Promise<number>;
  sourceDelete(o: DeleteOptions): Promise<number>;
  sourceGet(o: RefOptions): Promise<number>;
  sourceList(o: ListOptions): Promise<number>;
  sourceRestart(o: RestartOptions): Promise<number>;
  sourceTest(o: TestOptions): Promise<number>;
  sourceReplay(o: ReplayOptions): Promise<number>;
  sourceHistory(o: HistoryOptions): Promise<number>;
  secretsReencrypt(o: CommonOptions): Promise<number>;
  health(o: HealthOptions): Promise<number>;
  watch(o: WatchOptions): Promise<number>;
}

export interface ProgramIo {
  out(text: string): void;
  err(text: string): void;
}

const DEFAULT_WAIT = '5m';

function duration(value: string): number {
  const ms = parseDurationMs(value);
  if (ms === undefined) throw new InvalidArgumentError('expected a duration such as 1500ms, 20s, 5m');
  return ms;
}

function integer(min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    return Number(value);
  };
}

function states(value: string, previous: SourceStateName[] = []): SourceStateName[] {
  const out = [...previous];
  for (const s of value.split(',').map((v) => v.trim()).filter(Boolean)) {
    const match = SOURCE_STATES.find((known) => known.toLowerCase() === s.toLowerCase());
    if (!match) throw new InvalidArgumentError(`expected one of ${SOURCE_STATES.join(', ')}`);
    if (!out.includes(match)) out.push(match);
  }
  return out;
}

function isoTime(value: string): string {
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(Date.parse(value))) throw new InvalidArgumentError('expected an ISO-8601 time such as 2026-11-27T10:00:00Z');
  return value;
}

/** The options of every command: output, where to connect, how long to wait. */
function withCommon(command: Command): Command {
  const common = (flags: string, description: string) => new Option(flags, description).helpGroup('Common options:');
  return command
    .addOption(common('--json', 'print the exact reply as JSON (for scripts)'))
    .addOption(common('--no-color', 'no colours (also: NO_COLOR set, or stdout not a terminal)'))
    .addOption(common('--nats-url <url>', 'NATS server(s), comma-separated (default: $NATS_URL or nats://127.0.0.1:4222)'))
    .addOption(common('--creds <file>', 'NATS credentials file (default: $NATS_CREDS)'))
    .addOption(common('--health-url <url>', 'health service (default: $S1C_HEALTH_URL or http://127.0.0.1:8080)'))
    .addOption(common('--timeout <duration>', 'how long one request may take (default: 15s)').argParser(duration));
}

/** `--wait-timeout`, shown with its default as people write it. */
const waitTimeout = () => new Option('--wait-timeout <duration>', 'how long --wait waits').argParser(duration).default(duration(DEFAULT_WAIT), DEFAULT_WAIT);

function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;
}

const ENVIRONMENT = `
Environment:
  NATS_URL                    NATS server(s) (default nats://127.0.0.1:4222)
  NATS_USER, NATS_PASSWORD    NATS user and password
  NATS_TOKEN                  NATS token
  NATS_CREDS                  NATS credentials file (or --creds)
  S1C_HEALTH_URL              health service (default http://127.0.0.1:8080)
  S1C_API_TOKEN               bearer token of the health API
  NO_COLOR                    no colours

Exit codes: 0 ok, 1 refused (or the outcome is a failure), 2 usage error, 3 NATS, registry or
health API unreachable, 4 timeout, 5 a reply that breaks the contract.
`;

/**
 * The `s1c` command tree. Parsing only: each command hands its options to `handlers`, and the
 * exit code it resolves to lands in `result.exitCode`.
 */
export function buildProgram(handlers: Handlers, io: ProgramIo, version: string): { program: Command; result: { exitCode: number } } {
  const result = { exitCode: 0 };
  const run = (work: () => Promise<number>) => async () => {
    result.exitCode = await work();
  };

  const program = new Command('s1c')
    .description('Operate s1-collector: register and manage SentinelOne sources, see their health, watch them live.')
    .version(version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .enablePositionalOptions()
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .addHelpText('after', ENVIRONMENT);

  const source = program
    .command('source')
    .description('create, update, delete, get, list, restart, test, replay sources and show their history (NATS commands)')
    .enablePositionalOptions()
    .addHelpText('after', examples('s1c source create -f source.json', 's1c source list --state Error', 's1c source get 5b0c2f', 's1c source delete 5b0c2f --wait'));

  source.command('create')
    .description('register a source from its JSON document (the hosted product\'s format)')
    .requiredOption('-f, --file <file>', 'the source document (JSON); - reads standard input')
    .option('--collector <id>', 'the collector to register it in (default: the document\'s collectorId, or "default")')
    .option('--wait', 'wait until it is Collecting (or Error), showing each state', false)
    .addOption(waitTimeout())
    .addHelpText('after', examples('s1c source create -f source.json', 's1c source create -f source.json --collector emea --wait', 'cat source.json | s1c source create -f - --json'))
    .action(function (this: Command) {
      return run(() => handlers.sourceCreate(this.opts<CreateOptions>()))();
    });

  source.command('update').argument('[id]', 'the source id (default: the document\'s id)')
    .description('replace a source\'s configuration (omit api_secret or send "********" to keep the token)')
    .requiredOption('-f, --file <file>', 'the source document (JSON), e.g. a saved `get --json` reply; - reads standard input')
    .option('--version <n>', 'the version you read (from `get`): a stale write is refused with VersionConflict', integer(0, Number.MAX_SAFE_INTEGER))
    .option('--wait', 'wait until it is Collecting (or Error) again, showing each state', false)
    .addOption(waitTimeout())
    .addHelpText('after', examples('s1c source get 5b0c2f --json > s.json && $EDITOR s.json && s1c source update -f s.json', 's1c source update 5b0c2f -f source.json --version 3'))
    .action(function (this: Command, id: string | undefined) {
      return run(() => handlers.sourceUpdate({ ...this.opts<UpdateOptions>(), ...(id ? { id } : {}) }))();
    });

  source.command('delete').argument('<id>', 'the source id')
    .description('delete a source: collection stops (Stopping), then it is Deleted and its name is free')
    .option('--wait', 'wait until it is Deleted, showing each state', false)
    .addOption(waitTimeout())
    .addHelpText('after', examples('s1c source delete 5b0c2f', 's1c source delete 5b0c2f --wait'))
    .action(function (this: Command, id: string) {
      return run(() => handlers.sourceDelete({ ...this.opts<DeleteOptions>(), id }))();
    });

  source.command('get').argument('<id>', 'the source id')
    .description('show one source (the secret is always masked)')
    .option('--collector <id>', 'only if it is in this collector')
    .addHelpText('after', examples('s1c source get 5b0c2f', 's1c source get 5b0c2f --json > source.json'))
    .action(function (this: Command, id: string) {
      return run(() => handlers.sourceGet({ ...this.opts<RefOptions>(), id }))();
    });

  source.command('list')
    .description('list sources, sorted by name (deleted ones are left out)')
    .option('--collector <id>', 'only this collector\'s sources')
    .option('--state <state>', `only sources in this state; repeat or comma-separate (${SOURCE_STATES.join(', ')})`, states, [])
    .option('--name <name>', 'only this name')
    .option('--limit <n>', 'sources per page, 1-1000 (default 100)', integer(1, 1000))
    .option('--cursor <cursor>', 'start at this page (the nextCursor of an earlier reply)')
    .option('--all', 'follow nextCursor to the end', false)
    .addHelpText('after', examples('s1c source list', 's1c source list --state Error --state Stopping', 's1c source list --collector emea --all --json'))
    .action(function (this: Command) {
      return run(() => handlers.sourceList(this.opts<ListOptions>()))();
    });

  source.command('restart').argument('<id>', 'the source id')
    .description('restart collection (back to Pending in a new generation; clears an Error)')
    .option('--wait', 'wait until it is Collecting (or Error) again, showing each state', false)
    .addOption(waitTimeout())
    .addHelpText('after', examples('s1c source restart 5b0c2f', 's1c source restart 5b0c2f --wait'))
    .action(function (this: Command, id: string) {
      return run(() => handlers.sourceRestart({ ...this.opts<RestartOptions>(), id }))();
    });

  source.command('test').argument('[id]', 'a stored source to test')
    .description('check a console URL and token without storing anything: reachable, authenticated, each API readable')
    .option('-f, --file <file>', 'test this source document instead of a stored source; - reads standard input')
    .option('--collector <id>', 'the collector of the document')
    .addHelpText('after', `${examples('s1c source test -f source.json', 's1c source test 5b0c2f')}\nExits 1 when the test finds a problem.\n`)
    .action(function (this: Command, id: string | undefined) {
      const options = this.opts<TestOptions>();
      if ((id === undefined) === (options.file === undefined)) this.error('error: give either a source id or -f <file>', { exitCode: EXIT.usage, code: 's1c.usage' });
      return run(() => handlers.sourceTest({ ...options, ...(id ? { id } : {}) }))();
    });

  source.command('replay').argument('<id>', 'the source id')
    .description('collect one API of a source again over a time window; the output stays deduplicated')
    .addOption(new Option('--api <api>', 'the API to replay').choices([...SOURCE_APIS]).makeOptionMandatory())
    .requiredOption('--from <time>', 'window start (ISO-8601), inclusive', isoTime)
    .requiredOption('--to <time>', 'window end (ISO-8601), exclusive', isoTime)
    .addHelpText('after', examples('s1c source replay 5b0c2f --api activities --from 2026-11-27T00:00:00Z --to 2026-11-27T06:00:00Z'))
    .action(function (this: Command, id: string) {
      return run(() => handlers.sourceReplay({ ...this.opts<ReplayOptions>(), id }))();
    });

  source.command('history').argument('<id>', 'the source id')
    .description('who changed the source (NATS user, or HTTP caller via the gateway), when, and what; secrets masked')
    .option('--collector <id>', 'only if it is in this collector')
    .addHelpText('after', examples('s1c source history 5b0c2f', 's1c source history 5b0c2f --json | jq \'.entries[] | select(.actor.kind == "http")\''))
    .action(function (this: Command, id: string) {
      return run(() => handlers.sourceHistory({ ...this.opts<HistoryOptions>(), id }))();
    });

  const secrets = program
    .command('secrets')
    .description('manage the encryption of stored API tokens (S1C_SECRET_KEY rotation)')
    .enablePositionalOptions();

  secrets.command('reencrypt')
    .description('encrypt every stored API token that is not under the newest key (the first of S1C_SECRET_KEY) again with it')
    .addHelpText(
      'after',
      `${examples('s1c secrets reencrypt', 's1c secrets reencrypt --json')}
Safe to repeat. Exits 1 when a token could not be re-encrypted (its key is no longer configured).
`,
    )
    .action(function (this: Command) {
      return run(() => handlers.secretsReencrypt(this.opts<CommonOptions>()))();
    });

  program.command('health').argument('[id]', 'one source: its status and open health events')
    .description('health from the health service: every source, or one source with each open event, its reason and what to do')
    .addHelpText('after', examples('s1c health', 's1c health 5b0c2f', 'S1C_API_TOKEN=... S1C_HEALTH_URL=https://collector:8080 s1c health --json'))
    .action(function (this: Command, id: string | undefined) {
      return run(() => handlers.health({ ...this.opts<HealthOptions>(), ...(id ? { id } : {}) }))();
    });

  program.command('watch').argument('[id]', 'only this source')
    .description('print state changes and health events live as they happen (Ctrl-C to stop)')
    .addHelpText('after', examples('s1c watch', 's1c watch 5b0c2f', 's1c watch --json | jq .'))
    .action(function (this: Command, id: string | undefined) {
      return run(() => handlers.watch({ ...this.opts<WatchOptions>(), ...(id ? { id } : {}) }))();
    });

  // Added last so that each command's own options come first in its help.
  for (const command of [...source.commands, ...secrets.commands, ...program.commands.filter((c) => c !== source && c !== secrets)]) withCommon(command);
  return { program, result };
}

/**
 * Parses `argv` (as process.argv: node, script, args...) and runs the command. Help and version
 * end with 0; every parsing error with {@link EXIT.usage}, after commander printed it.
 */
export async function parseAndRun(handlers: Handlers, io: ProgramIo, version: string, argv: readonly string[]): Promise<number> {
  const { program, result } = buildProgram(handlers, io, version);
  try {
    await program.parseAsync([...argv]);
    return result.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    throw error;
  }
}
