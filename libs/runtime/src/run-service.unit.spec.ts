import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPEATED_SIGNAL_MS } from './run-service';

const PACKAGE = join(__dirname, '..');
const REGISTER = join(__dirname, 'testing', 'register-ts.cjs');
const FIXTURE = join(__dirname, 'testing', 'service.fixture.ts');
/** How much later than asked a loaded machine may deliver a signal, run a timer and end a process. */
const SLACK_MS = 4_000;

interface Run {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** The service's JSON log lines. */
  logs(): Array<Record<string, unknown>>;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Sends a signal; returns when it was sent. */
  signal(signal: NodeJS.Signals): number;
  /** The exit code, and the milliseconds from the first signal (or the start) to the exit. */
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null; afterMs: number }>;
}

/** Every fixture process, so that none outlives a failed test. */
const children = new Set<ChildProcess>();
afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/** Runs the fixture service (src/testing/service.fixture.ts) as its own process. */
function run(scenario: string, env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, ['-r', REGISTER, FIXTURE], {
    cwd: PACKAGE,
    env: { PATH: process.env.PATH ?? '', FIXTURE: scenario, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let from = Date.now();
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; afterMs: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, afterMs: Date.now() - from })),
  );
  let signalled = false;
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    logs: () =>
      stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    async waitFor(pattern, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(stdout)) {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited before printing ${pattern}:\n${stdout}\n${stderr}`);
        if (Date.now() > deadline) throw new Error(`did not print ${pattern} within ${timeoutMs} ms:\n${stdout}\n${stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    signal(signal) {
      if (!signalled) from = Date.now();
      signalled = true;
      child.kill(signal);
      return from;
    },
    exited: () => exit,
  };
}

/** Starts the fixture, waits until it runs, and sends SIGTERM. */
async function startAndTerminate(scenario: string, env: Record<string, string> = {}): Promise<Run> {
  const service = run(scenario, env);
  await service.waitFor(/fixture: started/);
  service.signal('SIGTERM');
  return service;
}

describe('runService', () => {
  it.concurrent('stops on SIGTERM: close() runs, the process exits 0 at once (the deadline timer keeps nothing alive)', async () => {
    const service = await startAndTerminate('clean', { S1C_SHUTDOWN_DEADLINE: '30s' });
    const { code, afterMs } = await service.exited();
    expect(code).toBe(0);
    expect(afterMs).toBeLessThan(SLACK_MS);
    expect(service.stdout()).toContain('fixture: closed');
    const messages = service.logs().map((l) => l.msg);
    expect(messages).toEqual(expect.arrayContaining(['fixture stopping', 'fixture stopped']));
    expect(service.logs().find((l) => l.msg === 'fixture stopping')).toMatchObject({ signal: 'SIGTERM', deadlineMs: 30_000 });
  });

  it.concurrent('stops on SIGINT the same way', async () => {
    const service = run('clean');
    await service.waitFor(/fixture: started/);
    service.signal('SIGINT');
    expect((await service.exited()).code).toBe(0);
    expect(service.stdout()).toContain('fixture: closed');
  });

  it.concurrent('exits 1 by the deadline when close() never finishes, logging what was pending', async () => {
    const service = await startAndTerminate('close-hangs', { S1C_SHUTDOWN_DEADLINE: '1500ms' });
    const { code, signal, afterMs } = await service.exited();
    expect(signal).toBeNull();
    expect(code).toBe(1);
    expect(afterMs).toBeGreaterThanOrEqual(1_400);
    expect(afterMs).toBeLessThan(1_500 + SLACK_MS);
    const line = service.logs().find((l) => l.level === 'error');
    expect(line?.msg).toMatch(/did not stop within the shutdown deadline/);
    expect(line).toMatchObject({ deadlineMs: 1_500, pending: { phase: 'closing', work: { jobs: ['job-1'] } } });
    expect(Object.keys((line!.pending as { activeResources: object }).activeResources)).toContain('Timeout');
    expect(service.stdout()).not.toContain('fixture: closed');
  });

  it.concurrent('defaults the deadline to 8 s', async () => {
    const service = await startAndTerminate('close-hangs');
    const { code, afterMs } = await service.exited();
    expect(code).toBe(1);
    expect(afterMs).toBeGreaterThanOrEqual(7_900);
    expect(afterMs).toBeLessThan(8_000 + SLACK_MS);
    expect(service.logs().find((l) => l.msg === 'fixture stopping')).toMatchObject({ deadlineMs: 8_000 });
  }, 30_000);

  it.concurrent('exits 1 at once when close() waits on something nothing is left to settle (not 0 when the event loop runs dry)', async () => {
    const service = await startAndTerminate('close-stalls', { S1C_SHUTDOWN_DEADLINE: '30s' });
    const { code, afterMs } = await service.exited();
    expect(code).toBe(1);
    expect(afterMs).toBeLessThan(SLACK_MS);
    expect(service.logs().find((l) => l.level === 'error')?.msg).toMatch(/close\(\) did not finish and nothing is left to finish it/);
  });

  it.concurrent('exits 1 when close() fails', async () => {
    const service = await startAndTerminate('close-fails');
    expect((await service.exited()).code).toBe(1);
    const line = service.logs().find((l) => l.msg === 'fixture did not stop cleanly');
    expect(line).toMatchObject({ level: 'error', err: { message: 'the drain failed' } });
  });

  it.concurrent('a second signal exits 1 at once, long before the deadline', async () => {
    const service = await startAndTerminate('close-hangs', { S1C_SHUTDOWN_DEADLINE: '60s' });
    await service.waitFor(/fixture: closing/);
    await new Promise((r) => setTimeout(r, REPEATED_SIGNAL_MS + 200));
    service.child.kill('SIGINT');
    const { code, afterMs } = await service.exited();
    expect(code).toBe(1);
    expect(afterMs).toBeLessThan(REPEATED_SIGNAL_MS + SLACK_MS);
    expect(service.logs().find((l) => l.level === 'warn')).toMatchObject({ signal: 'SIGINT', msg: expect.stringMatching(/second signal, exiting now/) });
  });

  it.concurrent('the same signal delivered twice at once (the terminal and npm both pass Ctrl-C on) is one request: the stop goes on', async () => {
    const service = run('clean', { S1C_SHUTDOWN_DEADLINE: '30s' });
    await service.waitFor(/fixture: started/);
    service.signal('SIGINT');
    service.child.kill('SIGINT');
    const { code } = await service.exited();
    expect(code).toBe(0);
    expect(service.stdout()).toContain('fixture: closed');
    expect(service.logs().some((l) => l.level === 'warn')).toBe(false);
  });

  it.concurrent('a signal during start: close() follows the start, and the service is not announced', async () => {
    const service = run('slow-start');
    await service.waitFor(/fixture: starting/);
    service.signal('SIGTERM');
    const { code } = await service.exited();
    expect(code).toBe(0);
    expect(service.stdout()).toContain('fixture: closed');
    expect(service.stdout()).not.toContain('fixture: started');
  });

  it.concurrent('a signal during a start that never ends: exits 1 by the deadline', async () => {
    const service = run('start-hangs', { S1C_SHUTDOWN_DEADLINE: '1s' });
    await service.waitFor(/fixture: starting/);
    service.signal('SIGTERM');
    const { code, afterMs } = await service.exited();
    expect(code).toBe(1);
    expect(afterMs).toBeLessThan(1_000 + SLACK_MS);
    expect(service.logs().find((l) => l.level === 'error')).toMatchObject({ pending: { phase: 'starting' } });
  });

  it.concurrent('an unusable configuration: its problems on stderr, exit 2, nothing started', async () => {
    const service = run('bad-config');
    const { code } = await service.exited();
    expect(code).toBe(2);
    expect(service.stderr()).toBe('fixture: invalid configuration:\n  - S1C_SOMETHING: is required\n  - S1C_OTHER: must be a number\n');
    expect(service.stdout()).toBe('');
  });

  it.concurrent('an unusable S1C_SHUTDOWN_DEADLINE is a configuration error', async () => {
    const service = run('clean', { S1C_SHUTDOWN_DEADLINE: 'soon' });
    expect((await service.exited()).code).toBe(2);
    expect(service.stderr()).toMatch(/^fixture: invalid configuration:\n {2}- S1C_SHUTDOWN_DEADLINE: must be a positive duration/);
  });

  it.concurrent('a failed start: logged as fatal, exit 1', async () => {
    const service = run('start-fails');
    expect((await service.exited()).code).toBe(1);
    expect(service.logs().find((l) => l.level === 'fatal')).toMatchObject({ msg: 'fixture failed to start', err: { message: 'cannot reach the store' } });
  });

  it.concurrent('a configuration problem found by start: on stderr, exit 2', async () => {
    const service = run('start-config');
    expect((await service.exited()).code).toBe(2);
    expect(service.stderr()).toBe('fixture: S1C_SECRET_KEY: must be 32 bytes\n');
  });
});
