import { S1Client } from '@s1c/s1-client';
import type { RunningSimulator } from '@s1c/s1-simulator';
import { freePort, startFerretDb, startNatsServer, type RunningServer } from '@s1c/test-harness';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, type Json, type SystemUnderTest } from './system.harness';

/**
 * Helpers of the fault-tolerance suite (faults.*.e2e.spec.ts): servers of its own that it may kill
 * and restart, a seeded random source, the oracle and the health service's API.
 */

/** nats-server and FerretDB for one test file only, on fixed ports and data directories, so they can be restarted. */
export interface OwnServers {
  readonly nats: RunningServer;
  readonly ferret: RunningServer;
  stop(): Promise<void>;
}

export async function startOwnServers(): Promise<OwnServers> {
  const root = mkdtempSync(join(tmpdir(), 's1c-faults-'));
  const nats = await startNatsServer({ port: await freePort(), dataDir: join(root, 'nats') });
  const ferret = await startFerretDb({ port: await freePort(), dataDir: join(root, 'ferret') }).catch(async (error: unknown) => {
    await nats.stop();
    throw error;
  });
  return {
    nats,
    ferret,
    async stop() {
      await Promise.allSettled([nats.stop(), ferret.stop()]);
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** A small seeded generator (mulberry32): a failing run can be repeated with its printed seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Every activity id the console holds for a token, walked directly: the oracle. */
export async function consoleActivityIds(simulator: RunningSimulator, token: string): Promise<string[]> {
  const client = new S1Client({ baseUrl: simulator.url, token, allowInsecure: true });
  const ids: string[] = [];
  let cursor: string | undefined;
  try {
    do {
      const page = await client.listPage('activities', { filters: {}, sortBy: 'createdAt', sortOrder: 'asc', limit: 1000, ...(cursor ? { cursor } : {}) });
      for (const r of page.records) ids.push(String((r.value as Json).id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
  } finally {
    client.close();
  }
  return ids;
}

/** Creates an activities-only source on the simulator with a token, and returns its id. */
export function createActivitiesSource(system: SystemUnderTest, simulator: RunningSimulator, name: string, token: string, baseUrl = simulator.url): Promise<string> {
  return system.createSource({ name, category: 'e2e/faults', base_url: baseUrl, api_secret: token, supported_apis: ['activities'] });
}

/** The source's state as the registry reports it (retries while the registry or a server is down). */
export async function sourceState(system: SystemUnderTest, sourceId: string): Promise<string> {
  const reply = await system.command('get', { id: sourceId });
  return reply.source?.state?.state ?? reply.error?.code ?? 'unknown';
}

/** The health service's URL, as it printed it. */
export function healthUrl(system: SystemUnderTest): string {
  const matches = [...system.outputOf('health').matchAll(/health: dashboard at (http:\/\/\S+?)\/?\s/g)];
  const url = matches.at(-1)?.[1];
  if (!url) throw new Error('the health service did not print its URL');
  return url;
}

/** The health service's health events of a source (GET /api/v1/health-events). */
export async function healthEvents(system: SystemUnderTest, sourceId: string): Promise<Json[]> {
  const response = await fetch(`${healthUrl(system)}/api/v1/health-events?source=${encodeURIComponent(sourceId)}&limit=500`);
  if (!response.ok) throw new Error(`health API answered ${response.status}`);
  return ((await response.json()) as Json).items as Json[];
}

/** Waits until every health event of the source in the health service is resolved, and returns them. */
export async function allResolved(system: SystemUnderTest, sourceId: string, timeoutMs = 60_000): Promise<Json[]> {
  return eventually(
    `every health event of ${sourceId} resolved`,
    async () => {
      const events = await healthEvents(system, sourceId);
      return events.every((e) => e.resolvedAt) ? events : undefined;
    },
    timeoutMs,
  );
}

/** A compact account of a collection stream's jobs, for failure messages. */
export function jobLog(events: Json[]): string[] {
  return events
    .filter((e) => ['JobDispatched', 'PageCollected', 'JobCompleted', 'JobAbandoned', 'JobFailed', 'HealthEventRaised', 'HealthEventResolved'].includes(e.type))
    .map((e) => `${e.version} ${e.type} ${String(e.data.jobId ?? e.data.healthEventId ?? '').split(':').slice(2).join(':')} ${e.data.progress?.pages ?? ''} ${e.data.errorType ?? e.data.reason ?? ''}`);
}

/** Prints how far a source's activities got (raw batches, output records, pages): a failed run's timeline. */
export async function reportProgress(system: SystemUnderTest, sourceId: string, at: string): Promise<void> {
  try {
    const jsm = await system.nc.jetstreamManager();
    const count = async (stream: string, subject: string) =>
      (await jsm.streams.info(stream, { subjects_filter: subject })).state.subjects?.[subject] ?? 0;
    const raw = await count('S1C_RAW', `s1c.raw.activities.${sourceId}`);
    const data = await count('S1C_DATA', `s1c.data.activities.${sourceId}`);
    const events = await system.stream(`collection-${sourceId}-activities`);
    const pages = events.filter((e) => e.type === 'PageCollected' && e.data.lane === 'backfill').length;
    const enricher = await jsm.consumers.info('S1C_RAW', 'enricher').catch(() => undefined);
    const consumer = enricher ? `, enricher consumer: pending ${enricher.num_pending}, ack pending ${enricher.num_ack_pending}, redelivered ${enricher.num_redelivered}` : '';
    console.log(`progress ${at}: raw batches ${raw}, data ${data}, backfill pages recorded ${pages}, collection events ${events.length}${consumer}`);
  } catch (error) {
    console.log(`progress ${at}: unavailable (${String(error).slice(0, 80)})`);
  }
}
