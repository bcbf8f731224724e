import { startFetcherServiceUnderTest, type FetcherFixture, type FetcherServiceUnderTest } from '@s1c/fetcher-kit/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { alertsApi } from './alerts.fetcher';

describe('fetcher-alerts', () => {
  let t: FetcherServiceUnderTest;
  let f: FetcherFixture;
  let sourceId: string;
  beforeEach(async () => {
    t = await startFetcherServiceUnderTest(alertsApi, { simulator: { alerts: 2_300 } });
    ({ f, sourceId } = t);
  });
  afterEach(() => t.close());
  const completedJobs = (count: number) => t.completedJobs(count);

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
