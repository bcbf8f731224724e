import { startFetcher, type FetcherRuntime } from '@s1c/fetcher-kit';
import { eventsOf, eventually, startFetcherFixture, type FetcherFixture } from '@s1c/fetcher-kit/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { alertsApi } from './alerts.fetcher';

describe('fetcher-alerts', () => {
  let f: FetcherFixture;
  let fetcher: FetcherRuntime;
  let sourceId: string;

  beforeEach(async () => {
    f = await startFetcherFixture({ simulator: { alerts: 2_300 } });
    fetcher = await startFetcher(alertsApi, f.config(), { logger: f.logger, clock: f.clock });
    sourceId = await f.createSource(['alerts']);
    await f.plan(sourceId, 'alerts');
  });
  afterEach(async () => {
    await fetcher.close();
    await f.close();
  });

  const completedJobs = async (count: number) =>
    eventually(async () => {
      const done = eventsOf(await f.collectionEvents(sourceId, 'alerts'), 'JobCompleted');
      return done.length >= count && done;
    }, 20_000, `${count} completed jobs`);

  it('backfills the window by alertInfoCreatedAt, each alert once under its alertInfo.alertId, bytes as served', async () => {
    const job = await f.dispatch(sourceId, 'alerts', 'backfill');
    await f.publishJob(job);
    const [completed] = await completedJobs(1);
    const query = { createdAt__gte: job.window.from, createdAt__lt: job.window.to, sortBy: 'alertInfoCreatedAt', sortOrder: 'asc' };
    const expected = await f.simulatorRecords('alerts', query);
    expect(expected.length).toBeGreaterThan(2000);
    expect(completed!.data).toMatchObject({ lane: 'backfill', finished: true, progress: { records: expected.length, pages: 3 } });

    const idOf = (value: Record<string, unknown>) => (value.alertInfo as { alertId: string }).alertId;
    const raw = await f.rawRecords('alerts', sourceId);
    expect(raw.map((m) => m.recordId).sort()).toEqual(expected.map((r) => `${sourceId}:alerts:${idOf(r.value)}`).sort());
    const byId = new Map(expected.map((r) => [idOf(r.value), r.json]));
    for (const m of raw) expect(m.body).toBe(byId.get(idOf(JSON.parse(m.body) as Record<string, unknown>)));
    for (const request of f.listRequests('alerts')) {
      expect(request.query).toMatchObject({ sortBy: 'alertInfoCreatedAt', sortOrder: 'asc', createdAt__gte: job.window.from, createdAt__lt: job.window.to });
    }
  });
});
