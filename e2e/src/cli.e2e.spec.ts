import { startSimulator, type RunningSimulator } from '@s1c/s1-simulator';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type ServiceProcess } from './service.process';
import { eventually, SystemUnderTest, type Json } from './system.harness';

/**
 * Issue 7's CLI acceptance: the built `s1c` (services/cli/dist/main.js, build it first) run as
 * a process against the whole system (registry, scheduler, fetchers and the health service as
 * processes) and the simulator, as an operator would use it.
 */
const CLI = join(__dirname, '..', '..', 'services', 'cli', 'dist', 'main.js');
const SETTINGS = {
  S1C_POLL_INTERVAL: '5s',
  S1C_LIVE_OVERLAP: '1s',
  S1C_BACKFILL: '2h',
  S1C_SCHEDULER_TICK: '200ms',
  S1C_EVENT_POLL_INTERVAL: '200ms',
  S1C_EVENT_GAP_TIMEOUT: '500ms',
};
const API_TOKEN = 'cli-e2e-health-token-0123456789';
const S1_TOKEN = `tok-cli-${Math.random().toString(36).slice(2, 12)}`;

let simulator: RunningSimulator;
let system: SystemUnderTest;
let health: ServiceProcess;
let healthUrl: string;
let dir: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cliEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? '', NATS_URL: system.env.NATS_URL!, S1C_HEALTH_URL: healthUrl, S1C_API_TOKEN: API_TOKEN, ...extra };
}

/** Runs `s1c args...` to the end. */
function s1c(args: string[], extra: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: cliEnv(extra), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function documentFile(name: string, config: Record<string, unknown> = {}): string {
  const path = join(dir, `${name.replace(/\W/g, '-')}.json`);
  const document = {
    'api.version': 'v1',
    source: {
      config: { name, description: null, category: 'e2e/cli', fields: { _siemForward: true }, base_url: simulator.url, api_secret: S1_TOKEN, supported_apis: ['activities', 'agents', 'threats'], ...config },
      schemaRef: { type: 'SentinelOne Mgmt API' },
      sourceType: 'Universal',
    },
  };
  writeFileSync(path, JSON.stringify(document, null, 2));
  return path;
}

/** A port nothing listens on (fetch refuses the "bad ports" such as 1 before connecting). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** No output of s1c may ever carry the SentinelOne token or the health API's token. */
function expectNoSecret(run: Run): void {
  for (const secret of [S1_TOKEN, API_TOKEN]) {
    expect(run.stdout).not.toContain(secret);
    expect(run.stderr).not.toContain(secret);
  }
}

beforeAll(async () => {
  simulator = await startSimulator({ accounts: 1, sitesPerAccount: 1, historyHours: 2, activities: 300, agents: 20, threats: 30 });
  simulator.admin.addToken({ token: S1_TOKEN, label: 'cli', accounts: [0] });
  system = await SystemUnderTest.start(SETTINGS);
  health = startService('health', { ...system.env, S1C_HEALTH_PORT: '0', S1C_HEALTH_HOST: '127.0.0.1', S1C_API_TOKEN: API_TOKEN });
  await health.waitForOutput(/dashboard at http:\/\/\S+/, 60_000);
  healthUrl = /dashboard at (http:\/\/[^\s/]+)/.exec(health.output())![1]!;
  dir = mkdtempSync(join(tmpdir(), 's1c-cli-e2e-'));
}, 120_000);

afterAll(async () => {
  await health?.stop('SIGTERM');
  await system?.close();
  await simulator?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('s1c against the running system', () => {
  it('creates a source from a file, watches it become Collecting, lists, gets, tests, replays, shows its health and deletes it', async () => {
    // `s1c watch` as its own process, before the source exists.
    const watch: ChildProcess = spawn(process.execPath, [CLI, 'watch'], { env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let watched = '';
    let watchErr = '';
    watch.stdout!.on('data', (c: Buffer) => (watched += c.toString()));
    watch.stderr!.on('data', (c: Buffer) => (watchErr += c.toString()));
    const watchExit = new Promise<number | null>((resolve) => watch.once('close', (code) => resolve(code)));
    await eventually('watch to start', async () => (watchErr.includes('Watching every source') ? true : undefined), 15_000);

    const file = documentFile('CLI Alpha');
    const created = await s1c(['source', 'create', '-f', file, '--wait']);
    expectNoSecret(created);
    expect(created.code, created.stderr).toBe(0);
    const id = /^id\s+(\S+)$/m.exec(created.stdout)?.[1];
    expect(id).toBeDefined();
    expect(created.stdout).toMatch(/^state\s+Collecting since /m);
    expect(created.stdout).toMatch(/^api_secret\s+\*{8}$/m);
    // Each state as it happened, on stderr.
    for (const step of ['→ Pending', 'Pending → Started', 'Started → Initialized', 'Initialized → Authenticated', 'Authenticated → Collecting']) expect(created.stderr).toContain(step);

    await eventually('watch to print the lifecycle', async () => (watched.includes(`CLI Alpha (${id})  Authenticated → Collecting`) ? true : undefined), 15_000);
    const lines = watched.split('\n').filter((l) => l.includes(`(${id})`));
    const states = lines.map((l) => /(?:→ )(\w+)/.exec(l)?.[1]).filter(Boolean);
    expect(states.slice(0, 5)).toEqual(['Pending', 'Started', 'Initialized', 'Authenticated', 'Collecting']);

    const table = await s1c(['source', 'list']);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+COLLECTOR\s+STATE\s+SINCE\s+APIS\s+BASE URL$/);
    expect(table.stdout).toMatch(new RegExp(`^${id}\\s+CLI Alpha\\s+default\\s+Collecting\\s`, 'm'));
    expect(table.stdout).not.toContain('\u001b['); // not a terminal: no colour

    const listed = await s1c(['source', 'list', '--json', '--state', 'Collecting', '--all']);
    const listReply = JSON.parse(listed.stdout) as Json;
    expect(listReply.ok).toBe(true);
    expect(listReply.sources.map((s: Json) => s.source.id)).toContain(id);

    const got = await s1c(['source', 'get', id!, '--json']);
    const reply = JSON.parse(got.stdout) as Json;
    expect([got.code, reply.ok, reply.source.id, reply.source.config.api_secret, reply.source.state.state]).toEqual([0, true, id, '********', 'Collecting']);
    expectNoSecret(got);

    const tested = await s1c(['source', 'test', '-f', file]);
    expect(tested.code, tested.stdout + tested.stderr).toBe(0);
    expect(tested.stdout).toMatch(/^authenticated\s+yes$/m);
    expect(tested.stdout).toContain('Test passed.');
    const testedById = await s1c(['source', 'test', id!, '--json']);
    expect(JSON.parse(testedById.stdout)).toMatchObject({ ok: true, reachable: true, authenticated: true });

    const to = new Date(Date.now() - 60_000).toISOString();
    const from = new Date(Date.now() - 3_600_000).toISOString();
    const replayed = await s1c(['source', 'replay', id!, '--api', 'activities', '--from', from, '--to', to]);
    expect(replayed.code, replayed.stderr).toBe(0);
    expect(replayed.stdout).toContain(`Replay of activities for source ${id} requested`);

    const overview = await eventually('the health service to know the source', async () => {
      const run = await s1c(['health']);
      return run.code === 0 && new RegExp(`^CLI Alpha\\s+${id}\\s+default\\s+Collecting`, 'm').test(run.stdout) ? run : undefined;
    }, 20_000);
    expect(overview.stdout.split('\n')[0]).toMatch(/^NAME\s+ID\s+COLLECTOR\s+STATE\s+SINCE\s+HEALTH\s+ERRORS\s+WARNINGS\s+MAX LAG$/);
    expectNoSecret(overview);
    const detail = await s1c(['health', id!]);
    expect(detail.code, detail.stderr).toBe(0);
    expect(detail.stdout).toContain(`CLI Alpha (${id}, collector default)`);
    expect(detail.stdout).toMatch(/^API\s+CHECKPOINT\s+LAG/m);
    expect(detail.stdout).toMatch(/^(No open health events\.|Open health events:)$/m);
    const healthJson = await s1c(['health', id!, '--json']);
    expect(JSON.parse(healthJson.stdout)).toMatchObject({ id, name: 'CLI Alpha', state: 'Collecting' });

    const history = await s1c(['source', 'history', id!]);
    expect(history.code, history.stderr).toBe(0);
    expect(history.stdout.split('\n')[0]).toMatch(/^VERSION\s+TIME\s+WHO\s+EVENT\s+CHANGES$/);
    expect(history.stdout).toMatch(/^\s*1\s.*\sunauthenticated\s+SourceCreated\s+.*name: \(none\) -> "CLI Alpha".*api_secret set \(masked\)/m);
    expect(history.stdout).toMatch(/\ssystem scheduler\s+CollectionStarted\s+state: "Pending" -> "Started"/);
    expectNoSecret(history);
    const historyJson = JSON.parse((await s1c(['source', 'history', id!, '--json'])).stdout) as Json;
    expect(historyJson.entries[0]).toMatchObject({ version: 1, type: 'SourceCreated', actor: { kind: 'nats', user: null } });

    const reencrypted = await s1c(['secrets', 'reencrypt', '--json']);
    expect(reencrypted.code, reencrypted.stderr).toBe(0);
    const reencryptReply = JSON.parse(reencrypted.stdout) as Json;
    expect(reencryptReply).toMatchObject({ ok: true, reencrypted: [], failed: [] });
    expect(reencryptReply.current).toContain(id);
    expectNoSecret(reencrypted);

    const deleted = await s1c(['source', 'delete', id!, '--wait']);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stderr).toContain('→ Stopping');
    expect(deleted.stderr).toContain('Stopping → Deleted');
    expect(deleted.stdout).toContain(`Source ${id} (CLI Alpha) deleted.`);
    await eventually('watch to print the deletion', async () => (watched.includes(`(${id})  Stopping → Deleted`) ? true : undefined), 15_000);

    const gone = await s1c(['source', 'get', id!]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('s1c: SourceNotFound:');

    // Ctrl-C ends watch cleanly.
    watch.kill('SIGINT');
    expect(await watchExit).toBe(0);
    expect(watchErr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('a source whose token is refused: create --wait ends in Error (exit 1), watch --json shows the health event, health ID says what to do', async () => {
    const watch = spawn(process.execPath, [CLI, 'watch', '--json'], { env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let watched = '';
    let watchErr = '';
    watch.stdout.on('data', (c: Buffer) => (watched += c.toString()));
    watch.stderr.on('data', (c: Buffer) => (watchErr += c.toString()));
    const watchExit = new Promise<number | null>((resolve) => watch.once('close', (code) => resolve(code)));
    await eventually('watch to start', async () => (watchErr.includes('Watching') ? true : undefined), 15_000);

    const created = await s1c(['source', 'create', '-f', documentFile('CLI Revoked', { api_secret: 'tok-nobody-knows-this-one', supported_apis: ['threats'] }), '--wait', '--json']);
    expect(created.code, created.stderr).toBe(1);
    const reply = JSON.parse(created.stdout) as Json;
    expect(reply.source.state).toMatchObject({ state: 'Error', error: { eventName: 'ThirdPartyConfigError' } });
    expect(created.stderr).toMatch(/→ Error {2}ThirdPartyConfig \(threats\): /);
    expect(created.stderr).toContain(`s1c: source ${reply.source.id} is in Error: ThirdPartyConfig`);
    expect(created.stderr).not.toContain('tok-nobody-knows-this-one');

    const lines = () => watched.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Json).filter((l) => l.sourceId === reply.source.id);
    await eventually('watch to print the health event and the Error', async () =>
      lines().some((l) => l.kind === 'health' && l.event === 'HealthEventRaised') && lines().some((l) => l.to === 'Error') ? true : undefined, 15_000);
    expect(lines().find((l) => l.kind === 'health')).toMatchObject({ name: 'CLI Revoked', severity: 'Error', eventName: 'ThirdPartyConfigError', api: 'threats' });

    const detail = await eventually('the health service to see the open event', async () => {
      const run = await s1c(['health', reply.source.id]);
      return run.stdout.includes('Open health events:') ? run : undefined;
    }, 20_000);
    expect(detail.stdout).toMatch(/^ {2}Error {2}ThirdPartyConfigError \(threats\)/m);
    expect(detail.stdout).toMatch(/^ {4}to do: {3}Check the API token/m);

    // A restart goes round the lifecycle again, and ends in Error again.
    const restarted = await s1c(['source', 'restart', reply.source.id, '--wait']);
    expect(restarted.code).toBe(1);
    expect(restarted.stderr).toContain('Error → Pending');
    expect(restarted.stderr).toContain('Pending → Started');
    expect(restarted.stdout).toMatch(/^state\s+Error since /m);

    expect((await s1c(['source', 'delete', reply.source.id, '--wait'])).code).toBe(0);
    watch.kill('SIGINT');
    expect(await watchExit).toBe(0);
  });

  it('refuses an unreadable file and bad JSON with exit 2, naming the file and where the JSON breaks, without echoing it', async () => {
    const missing = await s1c(['source', 'create', '-f', join(dir, 'nope.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`s1c: cannot read ${join(dir, 'nope.json')}: no such file\n`);

    const bad = join(dir, 'bad.json');
    writeFileSync(bad, `{\n  "source": {\n    "config": {\n      "api_secret": "${S1_TOKEN}"\n      "name": "x"\n`);
    const broken = await s1c(['source', 'create', '-f', bad]);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toBe(`s1c: ${bad}:5:7: invalid JSON: ',' expected at line 5, column 7\n`);
    expectNoSecret(broken);
  });

  it('a refused command exits 1 with the error code and each detail path', async () => {
    const file = documentFile('CLI Refused', { supported_apis: [] });
    const refused = await s1c(['source', 'create', '-f', file]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^s1c: ValidationError: /);
    expect(refused.stderr).toMatch(/^ {2}- source\.config\.supported_apis: /m);
    expectNoSecret(refused);
    const asJson = await s1c(['source', 'create', '-f', file, '--json']);
    expect(asJson.code).toBe(1);
    expect(JSON.parse(asJson.stdout)).toMatchObject({ ok: false, error: { code: 'ValidationError' } });
  });

  it('says which server it cannot reach: NATS (exit 3) and the health API (exit 3)', async () => {
    const nats = await s1c(['source', 'list'], { NATS_URL: 'nats://user:hunter2@127.0.0.1:1' });
    expect(nats.code).toBe(3);
    expect(nats.stderr).toContain('s1c: cannot connect to NATS at nats://127.0.0.1:1: connection refused');
    expect(nats.stderr).not.toContain('hunter2');
    const closed = await closedPort();
    const api = await s1c(['health'], { S1C_HEALTH_URL: `http://127.0.0.1:${closed}` });
    expect(api.code).toBe(3);
    expect(api.stderr).toContain(`s1c: cannot reach the health API at http://127.0.0.1:${closed}: connection refused`);
    const unauthorized = await s1c(['health'], { S1C_API_TOKEN: 'wrong-token-0123456789' });
    expect(unauthorized.code).toBe(1);
    expect(unauthorized.stderr).toContain('S1C_API_TOKEN was refused');
  });
});
