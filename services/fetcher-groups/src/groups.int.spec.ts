import { startFetcherServiceUnderTest, type FetcherFixture, type FetcherServiceUnderTest } from '@s1c/fetcher-kit/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { groupsApi } from './groups.fetcher';

describe('fetcher-groups', () => {
  let t: FetcherServiceUnderTest;
  let f: FetcherFixture;
  let sourceId: string;
  beforeEach(async () => {
    t = await startFetcherServiceUnderTest(groupsApi, { simulator: { accounts: 2, sitesPerAccount: 3 } });
    ({ f, sourceId } = t);
  });
  afterEach(() => t.close());
  const completedJobs = (count: number) => t.completedJobs(count);

  it('snapshots the whole inventory, each group once under the snapshot id, then collects a changed group as a new version', async () => {
    const snapshot = await f.dispatch(sourceId, 'groups', 'snapshot');
    await f.publishJob(snapshot);
    await completedJobs(1);
    const all = await f.simulatorRecords('groups', { sortBy: 'updatedAt', sortOrder: 'asc' });
    expect(all).toHaveLength(12);
    const snapshotId = `snapshot-${snapshot.window.to}`;
    expect((await f.rawRecords('groups', sourceId)).map((m) => m.recordId).sort()).toEqual(all.map((r) => `${sourceId}:groups:${snapshotId}:${r.value.id as string}`).sort());

    f.sim.admin.advanceClock(60_000);
    const [changed] = f.sim.admin.updateRecords('groups', { ids: [all[0]!.value.id as string] });
    f.sim.admin.advanceClock(1_000);
    const live = await f.dispatch(sourceId, 'groups', 'live');
    await f.publishJob(live);
    await completedJobs(2);
    const [current] = await f.simulatorRecords('groups', { ids: changed! });
    const ids = (await f.rawRecords('groups', sourceId)).map((m) => m.recordId);
    expect(ids).toContain(`${sourceId}:groups:${changed}:${current!.value.updatedAt as string}`);
  });
});
