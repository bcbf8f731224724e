/**
 * Issue 9: the whole system on a nats-server running the shipped infra/nats/nats.conf, every
 * service with its own NATS user. A source registered by an operator with `s1c` (OPERATORS
 * account) is collected end to end; a service started with another service's credentials stops
 * at once, naming the permission it lacks; no password ever reaches a log line.
 */
import { startSimulator, type RunningSimulator } from '@s1c/s1-simulator';
import { serverUrls, startNatsServer, uniqueDbName, type RunningServer } from '@s1c/test-harness';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type ServiceProcess } from './service.process';

const ROOT = join(__dirname, '..', '..');
const CLI = join(ROOT, 'services', 'cli', 'dist', 'main.js');
const SERVICES = ['registry', 'scheduler', 'fetcher-activities', 'fetcher-agents', 'fetcher-threats', 'fetcher-alerts', 'fetcher-groups', 'enricher', 'health', 'gateway'] as const;
const USERS = [...SERVICES, 'operator'] as const;
type User = (typeof USERS)[number];
// nats-server parses a variable's value as configuration: a password must start with a letter.
const PASSWORDS = Object.fromEntries(USERS.map((u) => [u, `p${randomBytes(18).toString('hex')}`])) as Record<User, string>;
const passwordVariable = (user: User) => `S1C_NATS_${user.toUpperCase().replace(/-/g, '_')}_PASSWORD`;
const S1_TOKEN = `tok-auth-${randomBytes(6).toString('hex')}`;

let nats: RunningServer;
let simulator: RunningSimulator;
let dir: string;
let base: Record<string, string>;
const running: Array<ServiceProcess & { name: string }> = [];

function serviceEnv(name: (typeof SERVICES)[number], user: User = name): Record<string, string> {
  const env: Record<string, string> = { ...base, NATS_USER: user, NATS_PASSWORD: PASSWORDS[user] };
  if (name === 'registry' || name.startsWith('fetcher-')) Object.assign(env, { S1C_SECRET_KEY: base.KEY!, S1C_ALLOW_INSECURE_BASE_URL: 'true' });
  if (name === 'enricher') env.S1C_SINK_FILE_DIR = join(dir, 'output');
  if (name === 'health') Object.assign(env, { S1C_HEALTH_PORT: '0', S1C_HEALTH_HOST: '127.0.0.1' });
  if (name === 'gateway') Object.assign(env, { S1C_GATEWAY_PORT: '0', S1C_GATEWAY_HOST: '127.0.0.1' });
  delete env.KEY;
  return env;
}

function s1c(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', NATS_URL: nats.url, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function outputLines(): number {
  const root = join(dir, 'output');
  let lines = 0;
  const walk = (path: string) => {
    for (const entry of readdirSync(path)) {
      const full = join(path, entry);
      if (statSync(full).isDirectory()) walk(full);
      else lines += readFileSync(full, 'utf8').split('\n').filter(Boolean).length;
    }
  };
  try {
    walk(root);
  } catch {
    return 0;
  }
  return lines;
}

beforeAll(async () => {
  nats = await startNatsServer({
    configFile: join(ROOT, 'infra', 'nats', 'nats.conf'),
    env: Object.fromEntries(USERS.map((u) => [passwordVariable(u), PASSWORDS[u]])),
  });
  simulator = await startSimulator({ accounts: 1, sitesPerAccount: 1, historyHours: 2, activities: 120, agents: 10, threats: 10 });
  simulator.admin.addToken({ token: S1_TOKEN, label: 'auth', accounts: [0] });
  dir = mkdtempSync(join(tmpdir(), 's1c-nats-auth-'));
  base = {
    NATS_URL: nats.url,
    MONGO_URL: serverUrls().mongoUrl,
    S1C_DB_NAME: uniqueDbName('natsauth'),
    LOG_LEVEL: 'info',
    KEY: randomBytes(32).toString('base64'),
    S1C_BACKFILL: '2h',
    S1C_SCHEDULER_TICK: '200ms',
    S1C_EVENT_POLL_INTERVAL: '200ms',
  };
  // Started in reverse order on purpose: a service whose streams do not exist yet waits for their owner.
  for (const name of [...SERVICES].reverse()) running.push(Object.assign(startService(name, serviceEnv(name)), { name }));
  await Promise.all(running.map((p) => p.waitForOutput(/started/, 90_000)));
}, 120_000);

afterAll(async () => {
  await Promise.all(running.map((p) => p.stop()));
  await simulator?.close();
  await nats?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the system on the shipped NATS configuration', () => {
  it('collects a source an operator registered with s1c, every service on its own user', async () => {
    const file = join(dir, 'source.json');
    writeFileSync(
      file,
      JSON.stringify({
        'api.version': 'v1',
        source: {
          config: { name: 'Auth Alpha', category: 'e2e/auth', fields: { _siemForward: true }, base_url: simulator.url, api_secret: S1_TOKEN, supported_apis: ['activities', 'agents', 'threats'] },
          schemaRef: { type: 'SentinelOne Mgmt API' },
          sourceType: 'Universal',
        },
      }),
    );
    const operator = { NATS_USER: 'operator', NATS_PASSWORD: PASSWORDS.operator };
    const created = await s1c(['source', 'create', '-f', file, '--wait', '--wait-timeout', '90s'], operator);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain('Collecting');

    // Records went all the way: fetchers → S1C_RAW → enricher → S1C_DATA → the file sink.
    const deadline = Date.now() + 60_000;
    while (outputLines() < 100 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
    expect(outputLines()).toBeGreaterThanOrEqual(100);

    // The gateway (GATEWAY account) lists it; the health service's NATS check passes on its ping-only user.
    const urlOf = (name: string) => /"url":"(http:\/\/[^"]+)"/.exec(running.find((p) => p.name === name)!.output())![1]!;
    const listed = await fetch(new URL('api/v1/collectors/default/sources', urlOf('gateway')));
    expect(listed.status).toBe(200);
    expect(await listed.text()).toContain('Auth Alpha');
    const healthz = await fetch(new URL('healthz', urlOf('health')));
    expect(healthz.status, await healthz.text()).toBe(200);

    // Another user's password (the gateway's) is refused.
    const wrong = await s1c(['source', 'list'], { NATS_USER: 'operator', NATS_PASSWORD: PASSWORDS.gateway });
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain('authorization refused');
  });

  it("passes the image's health checks, each run with the service's own credentials, and runs the demo-source job as an operator", () => {
    // (health and gateway check their HTTP port, which is a random one here; their /healthz is fetched above.)
    for (const name of ['registry', 'scheduler', 'fetcher-activities', 'enricher']) {
      const run = spawnSync(process.execPath, [join(ROOT, 'infra', 'docker', 'healthcheck.mjs'), name], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '', S1C_HEALTHCHECK_PID: String(running.find((p) => p.name === name)!.child.pid), S1C_HEALTHCHECK_TIMEOUT_MS: '5000' },
      });
      expect(run.status, `${name}: ${run.stderr}`).toBe(0);
    }
    const demo = spawnSync(process.execPath, [join(ROOT, 'infra', 'docker', 'demo-source.mjs')], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', NATS_URL: nats.url, NATS_USER: 'operator', NATS_PASSWORD: PASSWORDS.operator, S1C_DEMO_BASE_URL: simulator.url, S1C_DEMO_TOKEN: S1_TOKEN, S1C_DEMO_WAIT_MS: '20000' },
    });
    expect(demo.status, demo.stdout + demo.stderr).toBe(0);
    expect(demo.stdout).toMatch(/registered "Demo SentinelOne"/);
  });

  it('stops a registry started with a fetcher’s credentials, naming the permission it lacks', async () => {
    const impostor = startService('registry', serviceEnv('registry', 'fetcher-activities'));
    const exit = await Promise.race([impostor.exited(), new Promise((r) => setTimeout(() => r('still running'), 30_000))]);
    if (exit === 'still running') await impostor.stop('SIGKILL');
    expect(exit, impostor.output()).toBe(1);
    expect(impostor.output()).toContain('NATS permission denied');
    // A fetcher may follow the source events of S1C_EVENTS, as the registry does, but not read its last message.
    expect(impostor.output()).toContain('may not publish \\"$JS.API.STREAM.MSG.GET.S1C_EVENTS\\"');
    expect(impostor.output()).not.toContain('publishing appended events failed');
    expect(impostor.output()).not.toContain(PASSWORDS['fetcher-activities']);
  });

  it('lets a restarted enricher read the ids of the last output records, on its own user', async () => {
    const first = running.find((p) => p.name === 'enricher')!;
    await first.stop();
    const again = Object.assign(startService('enricher', serviceEnv('enricher')), { name: 'enricher' });
    running.push(again);
    await again.waitForOutput(/"records":[1-9]\d*,"complete":true,"ms":\d+,"msg":"ids of the last output records read from S1C_DATA"/, 60_000);
  });

  it('refuses the services nothing but creating streams they do not own (they wait for the owner)', () => {
    for (const process of running) {
      const refused = process.output().split('\n').filter((line) => line.includes('nats permission denied'));
      // The readers of S1C_EVENTS (scheduler, health) wait for the registry to create it, as the
      // enricher and the fetchers wait for S1C_RAW and S1C_JOBS.
      for (const line of refused) expect(line).toMatch(/"subject":"\$JS\.API\.STREAM\.CREATE\.S1C_(JOBS|RAW|EVENTS)"/);
    }
  });

  it('never writes a NATS password to a log', () => {
    for (const process of running) for (const user of USERS) expect(process.output()).not.toContain(PASSWORDS[user]);
  });
});
