import { RAW_BATCH_HEADERS } from '@s1c/contracts';
import { startFetcherServiceUnderTest, type FetcherFixture, type FetcherServiceUnderTest } from '@s1c/fetcher-kit/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { activitiesApi } from './activities.fetcher';

describe('fetcher-activities', () => {
  let t: FetcherServiceUnderTest;
  let f: FetcherFixture;
  let sourceId: string;
  beforeEach(async () => {
    t = await startFetcherServiceUnderTest(activitiesApi);
    ({ f, sourceId } = t);
  });
  afterEach(() => t.close());
  const completedJobs = (count: number) => t.completedJobs(count);

  describe('when the backfill and then a live job run', () => {
    it('then every activity of both windows is in the raw stream once, under its id alone', async () => {
      const backfill = await f.dispatch(sourceId, 'activities', 'backfill');
      await f.publishJob(backfill);
      await completedJobs(1);
      f.sim.admin.advanceClock(60_000);
      f.sim.admin.createRecords('activities', 5);
      f.sim.admin.advanceClock(1_000);
      const live = await f.dispatch(sourceId, 'activities', 'live');
      await f.publishJob(live);
      await completedJobs(2);

      const expected = await f.simulatorRecords('activities', { createdAt__gte: backfill.window.from, createdAt__lt: live.window.to });
      const raw = await f.rawRecords('activities', sourceId);
      const ids = raw.map((m) => m.recordId);
      expect(new Set(ids).size).toBe(ids.length);
      expect([...ids].sort()).toEqual(expected.map((r) => `${sourceId}:activities:${r.value.id as string}`).sort());
      expect(raw.filter((m) => m.headers[RAW_BATCH_HEADERS.lane] === 'live').length).toBeGreaterThanOrEqual(5);
      const state = await f.collectionState(sourceId, 'activities');
      expect(state).toMatchObject({ backfill: { done: true }, live: { checkpoint: live.window.to, pending: null } });
      expect(f.logText()).not.toContain(f.token);
    });
  });
});
