import { RAW_BATCH_HEADERS } from '@s1c/contracts';
import { startFetcherServiceUnderTest, type FetcherFixture, type FetcherServiceUnderTest } from '@s1c/fetcher-kit/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { threatsApi } from './threats.fetcher';

describe('fetcher-threats', () => {
  let t: FetcherServiceUnderTest;
  let f: FetcherFixture;
  let sourceId: string;
  beforeEach(async () => {
    t = await startFetcherServiceUnderTest(threatsApi);
    ({ f, sourceId } = t);
  });
  afterEach(() => t.close());
  const completedJobs = (count: number) => t.completedJobs(count);

  const idOf = (value: Record<string, unknown>) => {
    const info = value.threatInfo as { updatedAt: string };
    return `${sourceId}:threats:${value.id as string}:${info.updatedAt}`;
  };

  describe('when a backfill job runs', () => {
    it('then it walks threatInfo.updatedAt and every threat version is one record whose id carries its updatedAt', async () => {
      const job = await f.dispatch(sourceId, 'threats', 'backfill');
      await f.publishJob(job);
      await completedJobs(1);

      const expected = await f.simulatorRecords('threats', { updatedAt__gte: job.window.from, updatedAt__lt: job.window.to });
      expect(expected.length).toBeGreaterThan(250);
      const raw = await f.rawRecords('threats', sourceId);
      expect(raw.map((m) => m.recordId).sort()).toEqual(expected.map((r) => idOf(r.value)).sort());
      const byId = new Map(expected.map((r) => [idOf(r.value), r.json]));
      for (const m of raw) expect(m.body).toBe(byId.get(m.recordId));
      expect(f.listRequests('threats')[0]!.query).toMatchObject({
        updatedAt__gte: job.window.from,
        updatedAt__lt: job.window.to,
        sortBy: 'updatedAt',
        sortOrder: 'asc',
      });
    });
  });

  describe('when threats change after the backfill', () => {
    it('then the live job collects their new versions as new records', async () => {
      await f.publishJob(await f.dispatch(sourceId, 'threats', 'backfill'));
      await completedJobs(1);
      f.sim.admin.advanceClock(60_000);
      const updated = f.sim.admin.updateRecords('threats', { count: 3 });
      f.sim.admin.advanceClock(1_000);

      const live = await f.dispatch(sourceId, 'threats', 'live');
      await f.publishJob(live);
      await completedJobs(2);
      const liveRecords = (await f.rawRecords('threats', sourceId)).filter((m) => m.headers[RAW_BATCH_HEADERS.lane] === 'live');
      // The live window reaches back over the checkpoint by the overlap: it holds the three new
      // versions and whatever else changed in those minutes, exactly as the simulator lists it.
      const expected = await f.simulatorRecords('threats', { updatedAt__gte: live.window.from, updatedAt__lt: live.window.to });
      expect(liveRecords.map((m) => m.recordId).sort()).toEqual(expected.map((r) => idOf(r.value)).sort());
      const liveIds = liveRecords.map((m) => (JSON.parse(m.body) as { id: string }).id);
      for (const id of updated) expect(liveIds).toContain(id);
      for (const m of liveRecords) {
        const value = JSON.parse(m.body) as Record<string, unknown>;
        expect(m.recordId).toBe(idOf(value));
        expect((value.threatInfo as { updatedAt: string }).updatedAt >= live.window.from).toBe(true);
      }
      // Both versions of each updated threat are in the raw stream, under different ids.
      const all = await f.rawRecords('threats', sourceId);
      for (const id of updated) {
        expect(all.filter((m) => (JSON.parse(m.body) as { id: string }).id === id)).toHaveLength(2);
      }
      expect(f.logText()).not.toContain(f.token);
    });
  });
});
