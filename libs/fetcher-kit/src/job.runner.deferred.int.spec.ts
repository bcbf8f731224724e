import { shiftMicroIso, toMicroIso } from '@s1c/domain';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defineApiSpec } from './api-spec';
import type { JobContext, JobRunner } from './job.runner';
import { countingStore, eventsOf, startFetcherFixture, type FetcherFixture, type StoreTraffic } from './testing';

/**
 * Jobs the scheduler publishes without appending their JobDispatched (COLLECTION.md, "One append
 * per job"): the runner appends it with the job's first record, as long as the job's lane is as the
 * scheduler saw it.
 */
const activities = defineApiSpec({ api: 'activities', timeField: 'createdAt', timestampPath: ['createdAt'], versioned: false });
const ctx: JobContext = { working: () => undefined };

describe('JobRunner, with a job whose JobDispatched is not in the log yet', () => {
  let f: FetcherFixture;
  let sourceId: string;
  /** What the runner's store read and appended. */
  let traffic: StoreTraffic;

  beforeEach(async () => {
    f = await startFetcherFixture();
    sourceId = await f.createSource(['activities']);
    await f.plan(sourceId, 'activities');
    traffic = { reads: [], appends: [] };
  });
  afterEach(async () => {
    await f.close();
  });

  function runner(): JobRunner {
    const store = countingStore(f.db, f.clock, traffic);
    return f.runner(activities, { store, settings: { maxPagesPerJob: 1 } });
  }

  /** Runs a first backfill job (its token verified, one page), so that the runner holds the collection and the source. */
  async function warm(r: JobRunner): Promise<void> {
    expect(await r.run(await f.dispatch(sourceId, 'activities', 'backfill', { deferred: true }), ctx)).toMatchObject({ kind: 'completed', pages: 1 });
    traffic.reads = [];
    traffic.appends = [];
  }

  const types = async () => (await f.collectionEvents(sourceId, 'activities')).map((e) => e.type);

  it('then a fresh runner keeps the collection the job carries, reads only the source, and its first record appends the JobDispatched', async () => {
    const job = await f.dispatch(sourceId, 'activities', 'backfill', { deferred: true });
    expect(await types()).toEqual(['CollectionPlanned']);
    expect(await runner().run(job, ctx)).toMatchObject({ kind: 'completed', finished: false, pages: 1 });
    expect(traffic.reads).toEqual(['source']);
    expect(traffic.appends).toEqual([['JobDispatched', 'TokenVerified'], ['PageCollected', 'JobCompleted']]);
    const [dispatched] = eventsOf(await f.collectionEvents(sourceId, 'activities'), 'JobDispatched');
    expect(dispatched!.data).toEqual({
      sourceId,
      api: 'activities',
      jobId: job.jobId,
      lane: 'backfill',
      generation: 1,
      window: job.window,
      resume: job.resume,
      at: job.dispatchedAt,
    });
  });

  it('then a job of a collection the runner holds is one append of one event: its JobDispatched, its page and its end as a JobRan, with no read', async () => {
    const r = runner();
    await warm(r);
    const job = await f.dispatch(sourceId, 'activities', 'backfill', { deferred: true });
    expect(await r.run(job, ctx)).toMatchObject({ kind: 'completed', pages: 1, progress: { pages: 2 } });
    expect(traffic.reads).toEqual([]);
    expect(traffic.appends).toEqual([['JobRan']]);
    const ran = (await f.collectionEvents(sourceId, 'activities')).at(-1)!;
    expect(ran.type).toBe('JobRan');
    expect(ran.data).toMatchObject({ jobId: job.jobId, dispatchedAt: job.dispatchedAt, window: job.window, resume: job.resume, progress: { pages: 2 }, finished: false });
    expect(await f.collectionState(sourceId, 'activities')).toMatchObject({ jobs: {}, backfill: { progress: { pages: 2 } } });
    expect(f.listRequests('activities').at(-1)!.query.cursor).toBe(job.resume.cursor);
  });

  it('then without the collection it was decided on (no fold carried), a fresh runner reads the collection and runs it', async () => {
    const job = await f.dispatch(sourceId, 'activities', 'backfill', { deferred: true, withFolds: false });
    expect(await runner().run(job, ctx)).toMatchObject({ kind: 'completed', pages: 1 });
    expect(traffic.reads).toEqual(['collection', 'source']);
    expect(await types()).toEqual(['CollectionPlanned', 'JobDispatched', 'TokenVerified', 'PageCollected', 'JobCompleted']);
  });

  it('when another lane moved since its dispatch, then its first record loses the race, reads, and lands after it', async () => {
    const r = runner();
    await warm(r);
    const job = await f.dispatch(sourceId, 'activities', 'backfill', { deferred: true });
    await f.collectionCommand(sourceId, 'activities', () => ({
      type: 'RequestReplay',
      data: { window: { from: shiftMicroIso(toMicroIso(f.clock()), -3_600_000), to: toMicroIso(f.clock()) } },
      metadata: { now: f.clock() },
    }));
    expect(await r.run(job, ctx)).toMatchObject({ kind: 'completed', pages: 1, progress: { pages: 2 } });
    expect(traffic.reads).toEqual(['collection']);
    expect((await types()).slice(-2)).toEqual(['ReplayRequested', 'JobRan']);
  });

  it('when its own lane moved since its dispatch (another job recorded progress), then its first record loses to it and it stops: nothing recorded', async () => {
    const r = runner();
    await warm(r);
    const job = await f.dispatch(sourceId, 'activities', 'backfill', { deferred: true });
    // Another job of the lane (one the scheduler dispatched after giving up on this one) ran first.
    await runner().run(await f.dispatch(sourceId, 'activities', 'backfill', { deferred: true }), ctx);
    const before = await types();
    const requests = f.listRequests('activities').length;
    traffic.reads = [];
    // The runner's memory is behind the log: the job starts, and its first write finds the lane moved.
    expect(await r.run(job, ctx)).toMatchObject({ kind: 'superseded' });
    expect(traffic.reads).toEqual(['collection']);
    expect(await types()).toEqual(before);
    expect(f.listRequests('activities').length - requests).toBeLessThanOrEqual(1);
    // Delivered again, it reads the log first and stops before calling SentinelOne.
    expect(await r.run(job, { ...ctx, deliveryCount: 2 })).toMatchObject({ kind: 'stale' });
    expect(f.listRequests('activities').length - requests).toBeLessThanOrEqual(1);
  });

  it('when it is delivered again after it ran, then it is stale and records nothing more', async () => {
    const r = runner();
    await warm(r);
    const job = await f.dispatch(sourceId, 'activities', 'backfill', { deferred: true });
    expect(await r.run(job, ctx)).toMatchObject({ kind: 'completed' });
    const before = await types();
    expect(await r.run(job, { ...ctx, deliveryCount: 2 })).toMatchObject({ kind: 'stale' });
    expect(await r.run(job, ctx)).toMatchObject({ kind: 'stale' });
    expect(await types()).toEqual(before);
    expect(eventsOf(await f.collectionEvents(sourceId, 'activities'), 'JobDispatched').filter((e) => e.data.jobId === job.jobId)).toHaveLength(1);
  });

  it('when the collection was planned again for a new generation since, then it stops without recording anything', async () => {
    const r = runner();
    await warm(r);
    const job = await f.dispatch(sourceId, 'activities', 'backfill', { deferred: true });
    await f.sourceCommand(sourceId, () => ({ type: 'RestartSource', data: { sourceId }, metadata: { now: f.clock() } }));
    await f.collectionCommand(sourceId, 'activities', () => ({
      type: 'PlanCollection',
      data: { sourceId, api: 'activities', generation: 2, baseUrl: `${f.sim.url}/`, backfillMs: 24 * 3_600_000 },
      metadata: { now: f.clock() },
    }));
    const before = await types();
    expect((await r.run(job, ctx)).kind).toMatch(/^(stale|superseded)$/);
    expect(await types()).toEqual(before);
  });

  it('when its source is being deleted, then it is abandoned: its JobDispatched and JobAbandoned in one append', async () => {
    const r = runner();
    await warm(r);
    await f.sourceCommand(sourceId, () => ({ type: 'DeleteSource', data: { sourceId }, metadata: { now: f.clock() } }));
    const job = await f.dispatch(sourceId, 'activities', 'backfill', { deferred: true });
    expect(await r.run(job, ctx)).toMatchObject({ kind: 'abandoned', reason: 'source is stopping' });
    expect(traffic.appends).toEqual([['JobDispatched', 'JobAbandoned']]);
    expect((await f.collectionState(sourceId, 'activities')).status === 'Planned').toBe(true);
    const state = await f.collectionState(sourceId, 'activities');
    expect(state.status === 'Planned' ? state.jobs.backfill : 'unplanned').toBeUndefined();
  });
});
