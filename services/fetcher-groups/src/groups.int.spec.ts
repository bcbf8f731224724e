import { startFetcher, type FetcherRuntime } from '@s1c/fetcher-kit';
import { eventsOf, eventually, startFetcherFixture, type FetcherFixture } from '@s1c/fetcher-kit/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { groupsApi } from './groups.fetcher';

describe('fetcher-groups', () => {
  let f: FetcherFixture;
  let fetcher: FetcherRuntime;
  let sourceId: string;

  beforeEach(async () => {
    f = await startFetcherFixture({ simulator: { accounts: 2, sitesPerAccount: 3 } });
    fetcher = await startFetcher(groupsApi, f.config(), { logger: f.logger, clock: f.clock });
    sourceId = await f.createSource(['groups']);
    await f.plan(sourceId, 'groups');
  });
  afterEach(async () => {
    await fetcher.close();
    await f.close();
  });

  const completedJobs = async (count: number) =>
    eventually(async () => {
      const done = eventsOf(await f.collectionEvents(sourceId, 'groups'), 'JobCompleted');
      return done.length >= count && done;
    }, 20_000, `${count} completed jobs`);

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
