import { RAW_BATCH_HEADERS } from '@s1c/contracts';
import { startFetcherServiceUnderTest, type FetcherFixture, type FetcherServiceUnderTest } from '@s1c/fetcher-kit/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { agentsApi } from './agents.fetcher';

describe('fetcher-agents', () => {
  let t: FetcherServiceUnderTest;
  let f: FetcherFixture;
  let sourceId: string;
  beforeEach(async () => {
    t = await startFetcherServiceUnderTest(agentsApi);
    ({ f, sourceId } = t);
  });
  afterEach(() => t.close());
  const completedJobs = (count: number) => t.completedJobs(count);

  describe('when a snapshot job runs', () => {
    it('then it walks the whole inventory without time filters, each agent once under the snapshot id', async () => {
      const job = await f.dispatch(sourceId, 'agents', 'snapshot');
      expect(job.window.from).toBe('1970-01-01T00:00:00.000000Z');
      await f.publishJob(job);
      const [completed] = await completedJobs(1);
      expect(completed!.data).toMatchObject({ lane: 'snapshot', finished: true, progress: { records: 150 } });

      const expected = await f.simulatorRecords('agents', { sortBy: 'updatedAt', sortOrder: 'asc' });
      expect(expected).toHaveLength(150);
      const raw = await f.rawRecords('agents', sourceId);
      const snapshotId = `snapshot-${job.window.to}`;
      expect(raw.map((m) => m.recordId).sort()).toEqual(expected.map((r) => `${sourceId}:agents:${snapshotId}:${r.value.id as string}`).sort());
      const byId = new Map(expected.map((r) => [r.value.id as string, r.json]));
      for (const m of raw) {
        expect(m.headers[RAW_BATCH_HEADERS.snapshotId]).toBe(snapshotId);
        expect(m.headers[RAW_BATCH_HEADERS.lane]).toBe('snapshot');
        expect(m.body).toBe(byId.get((JSON.parse(m.body) as { id: string }).id));
      }
      const [request] = f.listRequests('agents');
      expect(request!.query).toEqual({ sortBy: 'updatedAt', sortOrder: 'asc', limit: '1000' });
      const state = await f.collectionState(sourceId, 'agents');
      expect(state).toMatchObject({ snapshot: { lastCompletedAt: job.window.to, pending: null } });
    });
  });

  describe('when agents change', () => {
    it('then the live job collects each new version under an id carrying its updatedAt', async () => {
      f.sim.admin.advanceClock(60_000);
      const updated = f.sim.admin.updateRecords('agents', { ids: [], count: 2 });
      f.sim.admin.advanceClock(1_000);
      const live = await f.dispatch(sourceId, 'agents', 'live');
      await f.publishJob(live);
      await completedJobs(1);

      const expected = await f.simulatorRecords('agents', { updatedAt__gte: live.window.from, updatedAt__lt: live.window.to });
      const raw = await f.rawRecords('agents', sourceId);
      const idOf = (value: Record<string, unknown>) => `${sourceId}:agents:${value.id as string}:${value.updatedAt as string}`;
      expect(raw.map((m) => m.recordId).sort()).toEqual(expected.map((r) => idOf(r.value)).sort());
      const ids = raw.map((m) => (JSON.parse(m.body) as { id: string }).id);
      for (const id of updated) expect(ids).toContain(id);
      expect(f.logText()).not.toContain(f.token);
    });
  });
});
