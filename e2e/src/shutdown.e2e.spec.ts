import { startSimulator, type RunningSimulator } from '@s1c/s1-simulator';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOwnServers, type OwnServers } from './faults.harness';
import { ALL_SERVICES, eventually, SystemUnderTest, type ServiceName } from './system.harness';

/**
 * Issue 13: every service exits within 10 s of SIGTERM, in every case (libs/runtime's runService:
 * close(), bounded by S1C_SHUTDOWN_DEADLINE, default 8 s). The whole system runs as processes
 * (registry, scheduler, three fetchers, enricher with a file sink, health, gateway) in the middle
 * of a backfill; then every service gets SIGTERM at once, with the servers up, and after
 * nats-server and FerretDB were killed (as with `docker compose down`).
 */
const LIMIT_MS = 10_000;
const SERVICES: readonly ServiceName[] = [...ALL_SERVICES, 'gateway'];
const SETTINGS = {
  S1C_SCHEDULER_TICK: '250ms',
  S1C_EVENT_POLL_INTERVAL: '250ms',
  S1C_EVENT_GAP_TIMEOUT: '500ms',
  // Many small jobs, each a few pages: the backfill is under way in every fetcher when the signal comes.
  S1C_MAX_PAGES_PER_JOB: '3',
  S1C_S1_REQUESTS_PER_SECOND: '4',
  S1C_HEALTH_PORT: '0',
  S1C_HEALTH_HOST: '127.0.0.1',
  S1C_GATEWAY_PORT: '0',
  S1C_GATEWAY_HOST: '127.0.0.1',
};

let simulator: RunningSimulator;
const outputDirs: string[] = [];

beforeAll(async () => {
  simulator = await startSimulator({ accounts: 2, sitesPerAccount: 1, historyHours: 23, activities: 40_000, agents: 3_000, threats: 3_000 });
});
afterAll(async () => {
  await simulator?.close();
  for (const dir of outputDirs) rmSync(dir, { recursive: true, force: true });
});

/** The system, with a source in the middle of its backfill: pages collected, records through the enricher. */
async function systemInBackfill(name: string, servers?: OwnServers): Promise<SystemUnderTest> {
  const output = mkdtempSync(join(tmpdir(), 's1c-shutdown-'));
  outputDirs.push(output);
  const system = await SystemUnderTest.start(
    { ...SETTINGS, S1C_SINK_FILE_DIR: output },
    { services: SERVICES, ...(servers ? { natsUrl: servers.nats.url, mongoUrl: servers.ferret.url } : {}) },
  );
  const account = name === 'killed' ? 1 : 0;
  const token = `tok-shutdown-${name}`;
  simulator.admin.addToken({ token, label: name, accounts: [account] });
  const sourceId = await system.createSource({ name: `Shutdown ${name}`, category: 'e2e/shutdown', base_url: simulator.url, api_secret: token, supported_apis: ['activities', 'agents', 'threats'] });
  await eventually(
    'backfill pages collected and records through the enricher',
    async () => {
      const pages = (await system.stream(`collection-${sourceId}-activities`)).filter((e) => e.type === 'PageCollected').length;
      const data = await (await system.nc.jetstreamManager()).streams.info('S1C_DATA').catch(() => undefined);
      return pages >= 2 && (data?.state.messages ?? 0) > 0 ? true : undefined;
    },
    40_000,
  );
  return system;
}

/** SIGTERM to every service at once; each must be gone within LIMIT_MS, having exited (0 or 1), not been killed. */
async function expectEveryServiceStops(system: SystemUnderTest, label: string): Promise<Array<{ instance: string; exit: unknown; afterMs: number }>> {
  const results = await system.signalAll('SIGTERM', LIMIT_MS + 5_000);
  console.log(`shutdown (${label}): ${results.map((r) => `${r.instance} exit ${String(r.exit)} after ${r.afterMs} ms`).join(', ')}`);
  for (const result of results) {
    const tail = system.outputOf(result.instance).split('\n').slice(-6).join('\n');
    expect([0, 1], `${result.instance} exited ${String(result.exit)}:\n${tail}`).toContain(result.exit);
    expect(result.afterMs, `${result.instance} took ${result.afterMs} ms:\n${tail}`).toBeLessThan(LIMIT_MS);
  }
  expect(results.map((r) => r.instance).sort()).toEqual([...SERVICES].sort());
  return results;
}

describe('every service exits within 10 s of SIGTERM', () => {
  it('with the servers up, during a backfill: each stops cleanly (exit 0)', async () => {
    const system = await systemInBackfill('up');
    try {
      const results = await expectEveryServiceStops(system, 'servers up');
      for (const result of results) expect(result.exit, `${result.instance}:\n${system.outputOf(result.instance).split('\n').slice(-6).join('\n')}`).toBe(0);
      expect(system.output()).not.toMatch(/did not stop within the shutdown deadline/);
    } finally {
      await system.close();
    }
  }, 90_000);

  it('after nats-server and FerretDB were killed (kill -9), during a backfill', async () => {
    const servers = await startOwnServers();
    let system: SystemUnderTest | undefined;
    try {
      system = await systemInBackfill('killed', servers);
      await Promise.all([servers.nats.kill(), servers.ferret.kill()]);
      await expectEveryServiceStops(system, 'servers killed');
    } finally {
      await system?.close();
      await servers.stop();
    }
  }, 90_000);
});
