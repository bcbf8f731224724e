import { describe, expect, it } from 'vitest';
import { EXIT, RefusedError } from './cli.errors';
import type { CliIo } from './cli.handlers';
import { parseAndRun, type Handlers } from './cli.program';
import { runCli } from './cli.run';

type Call = { command: keyof Handlers; options: Record<string, unknown> };

function recorder(exitCode = 0): { handlers: Handlers; calls: Call[] } {
  const calls: Call[] = [];
  const record = (command: keyof Handlers) => async (options: object) => {
    calls.push({ command, options: options as Record<string, unknown> });
    return exitCode;
  };
  const handlers = Object.fromEntries(
    (['sourceCreate', 'sourceUpdate', 'sourceDelete', 'sourceGet', 'sourceList', 'sourceRestart', 'sourceTest', 'sourceReplay', 'sourceHistory', 'secretsReencrypt', 'health', 'watch'] as const).map((c) => [c, record(c)]),
  ) as unknown as Handlers;
  return { handlers, calls };
}

async function parse(args: string[], handlers = recorder().handlers) {
  let out = '';
  let err = '';
  const code = await parseAndRun(handlers, { out: (t) => (out += t), err: (t) => (err += t) }, '1.2.3', ['node', 's1c', ...args]);
  return { code, out, err };
}

describe('s1c argument parsing', () => {
  it('source create takes the file, the collector and --wait', async () => {
    const { handlers, calls } = recorder();
    const { code } = await parse(['source', 'create', '-f', 'source.json', '--collector', 'emea', '--wait', '--json'], handlers);
    expect(code).toBe(0);
    expect(calls).toEqual([{ command: 'sourceCreate', options: expect.objectContaining({ file: 'source.json', collector: 'emea', wait: true, json: true, waitTimeout: 300_000 }) }]);
  });

  it('source create without -f is a usage error (exit 2) that names the option', async () => {
    const { code, err } = await parse(['source', 'create']);
    expect(code).toBe(EXIT.usage);
    expect(err).toContain("required option '-f, --file <file>' not specified");
  });

  it('source update takes an optional id and --version (not the program version)', async () => {
    const { handlers, calls } = recorder();
    await parse(['source', 'update', 'abc', '-f', 's.json', '--version', '3'], handlers);
    expect(calls[0]).toEqual({ command: 'sourceUpdate', options: expect.objectContaining({ id: 'abc', file: 's.json', version: 3 }) });
    await parse(['source', 'update', '-f', 's.json'], handlers);
    expect(calls[1]!.options.id).toBeUndefined();
  });

  it('source list collects --state repeated or comma-separated, any case, and checks --limit', async () => {
    const { handlers, calls } = recorder();
    await parse(['source', 'list', '--state', 'Error', '--state', 'stopping,Pending', '--limit', '50', '--all', '--name', 'Acme'], handlers);
    expect(calls[0]!.options).toMatchObject({ state: ['Error', 'Stopping', 'Pending'], limit: 50, all: true, name: 'Acme' });
    expect((await parse(['source', 'list', '--state', 'Broken'])).code).toBe(EXIT.usage);
    const tooMany = await parse(['source', 'list', '--limit', '5000']);
    expect(tooMany.code).toBe(EXIT.usage);
    expect(tooMany.err).toContain('expected a whole number from 1 to 1000');
  });

  it('source history takes the id and --collector; secrets reencrypt takes no argument', async () => {
    const { handlers, calls } = recorder();
    await parse(['source', 'history', 'abc', '--collector', 'emea', '--json'], handlers);
    await parse(['secrets', 'reencrypt', '--timeout', '60s'], handlers);
    expect(calls).toEqual([
      { command: 'sourceHistory', options: expect.objectContaining({ id: 'abc', collector: 'emea', json: true }) },
      { command: 'secretsReencrypt', options: expect.objectContaining({ timeout: 60_000 }) },
    ]);
    expect((await parse(['source', 'history'])).code).toBe(EXIT.usage);
    expect((await parse(['secrets', 'reencrypt', 'extra'])).code).toBe(EXIT.usage);
  });

  it('source test wants exactly one of an id and -f', async () => {
    const { handlers, calls } = recorder();
    expect((await parse(['source', 'test', 'abc'], handlers)).code).toBe(0);
    expect((await parse(['source', 'test', '-f', 'x.json'], handlers)).code).toBe(0);
    expect(calls.map((c) => [c.options.id, c.options.file])).toEqual([
      ['abc', undefined],
      [undefined, 'x.json'],
    ]);
    const both = await parse(['source', 'test', 'abc', '-f', 'x.json']);
    expect(both.code).toBe(EXIT.usage);
    expect(both.err).toContain('give either a source id or -f <file>');
    expect((await parse(['source', 'test'])).code).toBe(EXIT.usage);
  });

  it('source replay needs --api from the list and ISO times', async () => {
    const { handlers, calls } = recorder();
    await parse(['source', 'replay', 'abc', '--api', 'threats', '--from', '2026-11-27T00:00:00Z', '--to', '2026-11-27T06:00:00Z'], handlers);
    expect(calls[0]!.options).toMatchObject({ id: 'abc', api: 'threats', from: '2026-11-27T00:00:00Z', to: '2026-11-27T06:00:00Z' });
    expect((await parse(['source', 'replay', 'abc', '--api', 'applications', '--from', '2026-11-27T00:00:00Z', '--to', '2026-11-27T06:00:00Z'])).code).toBe(EXIT.usage);
    const badTime = await parse(['source', 'replay', 'abc', '--api', 'threats', '--from', 'yesterday', '--to', '2026-11-27T06:00:00Z']);
    expect(badTime.code).toBe(EXIT.usage);
    expect(badTime.err).toContain('ISO-8601');
  });

  it('durations take units; a bad one is a usage error', async () => {
    const { handlers, calls } = recorder();
    await parse(['source', 'delete', 'abc', '--wait', '--wait-timeout', '90s', '--timeout', '1500ms'], handlers);
    expect(calls[0]!.options).toMatchObject({ id: 'abc', wait: true, waitTimeout: 90_000, timeout: 1500 });
    expect((await parse(['source', 'get', 'abc', '--timeout', 'soon'])).code).toBe(EXIT.usage);
  });

  it('health and watch take an optional id', async () => {
    const { handlers, calls } = recorder();
    await parse(['health'], handlers);
    await parse(['health', 'abc', '--health-url', 'http://h:8080'], handlers);
    await parse(['watch', 'abc', '--json'], handlers);
    expect(calls.map((c) => [c.command, c.options.id, c.options.healthUrl, c.options.json])).toEqual([
      ['health', undefined, undefined, undefined],
      ['health', 'abc', 'http://h:8080', undefined],
      ['watch', 'abc', undefined, true],
    ]);
  });

  it('--version and --help exit 0; help shows examples, and an unknown command or option exits 2', async () => {
    const version = await parse(['--version']);
    expect([version.code, version.out]).toEqual([0, '1.2.3\n']);
    const help = await parse(['source', 'list', '--help']);
    expect(help.code).toBe(0);
    expect(help.out).toContain('Examples:');
    expect(help.out).toContain('s1c source list --state Error');
    expect(help.out).toContain('Common options:');
    const top = await parse(['--help']);
    expect(top.out).toContain('Exit codes:');
    expect((await parse(['source', 'frobnicate'])).code).toBe(EXIT.usage);
    expect((await parse(['source', 'get', 'abc', '--bogus'])).code).toBe(EXIT.usage);
    expect((await parse([])).code).toBe(EXIT.usage);
  });

  it('the handler\'s exit code is the process\'s', async () => {
    expect((await parse(['source', 'get', 'abc'], recorder(4).handlers)).code).toBe(4);
  });
});

describe('s1c failures', () => {
  function io(): CliIo & { output: { out: string; err: string } } {
    const output = { out: '', err: '' };
    return {
      output,
      stdout: { write: (t: string) => (output.out += t), isTTY: false },
      stderr: { write: (t: string) => (output.err += t), isTTY: false },
      env: {},
      now: () => new Date('2026-11-27T12:00:00Z'),
      interrupted: () => new Promise(() => undefined),
    };
  }

  it('a refusal prints the code, the message and each detail path on stderr and exits 1; with --json the exact reply goes to stdout', async () => {
    const reply = {
      ok: false as const,
      error: { code: 'ValidationError', message: 'invalid request', details: [{ path: 'source.config.base_url', message: 'must be https' }] },
    };
    const refusing = { ...recorder().handlers, sourceCreate: () => Promise.reject(new RefusedError(reply)) };
    const human = io();
    expect(await runCli(['node', 's1c', 'source', 'create', '-f', 'x.json'], human, refusing)).toBe(EXIT.refused);
    expect(human.output.out).toBe('');
    expect(human.output.err).toBe('s1c: ValidationError: invalid request\n  - source.config.base_url: must be https\n');
    const scripted = io();
    expect(await runCli(['node', 's1c', 'source', 'create', '-f', 'x.json', '--json'], scripted, refusing)).toBe(EXIT.refused);
    expect(JSON.parse(scripted.output.out)).toEqual(reply);
  });

  it('an unexpected error is one line without a stack trace (exit 70)', async () => {
    const broken = { ...recorder().handlers, sourceGet: () => Promise.reject(new TypeError('boom')) };
    const out = io();
    expect(await runCli(['node', 's1c', 'source', 'get', 'abc'], out, broken)).toBe(EXIT.internal);
    expect(out.output.err).toBe('s1c: unexpected error: boom\n');
  });
});
