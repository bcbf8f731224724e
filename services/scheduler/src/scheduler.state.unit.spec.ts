import type { FetchJob } from '@s1c/contracts';
import { collectionStreamId, decideCollection, sourceStreamId, type JobDispatched } from '@s1c/domain';
import { beforeEach, describe, expect, it } from 'vitest';
import { SchedulerState } from './scheduler.state';
import { MemoryLog } from './testing/memory.log';

const ID = '0f9e8d7c-1111-2222-3333-444455556666';
let now: Date;
let log: MemoryLog;

beforeEach(() => {
  now = new Date('2026-03-01T12:00:00.000Z');
  log = new MemoryLog(() => now);
  log.create(ID);
  log.source(ID, (n) => ({ type: 'StartCollection', data: { sourceId: ID, generation: 1 }, metadata: { now: n } }));
  log.collection(ID, 'activities', (n) => ({
    type: 'PlanCollection',
    data: { sourceId: ID, api: 'activities', generation: 1, baseUrl: 'https://a.example', backfillMs: 3_600_000 },
    metadata: { now: n },
  }));
  log.collection(ID, 'activities', (n) => ({
    type: 'DispatchJob',
    data: { jobId: 'job-1', lane: 'backfill', window: { from: '2026-03-01T11:00:00.000000Z', to: '2026-03-01T12:00:00.000000Z' }, resume: NO_PROGRESS },
    metadata: { now: n },
  }));
});
const NO_PROGRESS = { cursor: null, walkFrom: null, lastTimestamp: null, records: 0, pages: 0 };

/** The same events, folded by a fresh state in log order. */
function replayed(): SchedulerState {
  const state = new SchedulerState();
  state.applyAll(log.events);
  return state;
}

describe('SchedulerState', () => {
  it('folds sources with the source decider, keyed by id, with their stream version', () => {
    expect(replayed().source(ID)).toMatchObject({ version: 2, state: { status: 'Started', sourceId: ID, generation: 1 } });
    expect(replayed().sourceIds()).toEqual([ID]);
  });

  it('folds collections by source and API (source ids contain dashes), with their stream version', () => {
    const state = replayed();
    expect(state.collection(ID, 'activities')).toMatchObject({ version: 2, state: { status: 'Planned', api: 'activities', sourceId: ID } });
    expect(state.collection(ID, 'threats')).toBeUndefined();
    expect([...state.collections(ID).keys()]).toEqual(['activities']);
  });

  it('ignores an event at or below the version it already folded, so own appends and the tail can both deliver it', () => {
    const state = replayed();
    const before = state.collection(ID, 'activities');
    for (const event of log.events) expect(state.apply(event)).toBe(false);
    expect(state.collection(ID, 'activities')).toBe(before);
  });

  it('counts events of types it does not know in the stream version, as the repository does', () => {
    const state = replayed();
    expect(state.apply({ streamId: sourceStreamId(ID), version: 3, type: 'SomethingNew', data: {} })).toBe(true);
    expect(state.source(ID)).toMatchObject({ version: 3, state: { status: 'Started' } });
  });

  it('ignores streams that are neither sources nor collections', () => {
    const state = new SchedulerState();
    expect(state.apply({ streamId: 'sourcename-default-abc', version: 1, type: 'SourceNameReserved', data: {} })).toBe(false);
    expect(state.apply({ streamId: 'collection-x-nonsense', version: 1, type: 'JobDispatched', data: {} })).toBe(false);
    expect(state.sourceIds()).toEqual([]);
  });

  it('keeps the job each lane was handed, as published, while it is in flight', () => {
    const state = replayed();
    expect(state.inFlightJobs()).toEqual([
      {
        progressed: false,
        job: {
          jobId: 'job-1',
          sourceId: ID,
          api: 'activities',
          lane: 'backfill',
          generation: 1,
          window: { from: '2026-03-01T11:00:00.000000Z', to: '2026-03-01T12:00:00.000000Z' },
          resume: NO_PROGRESS,
          dispatchedAt: '2026-03-01T12:00:00.000000Z',
          // Where its JobDispatched is (no position: the events of this test have none).
          collectionVersion: 2,
        },
      },
    ]);
  });

  it('notes progress on a job in flight and forgets the job when it ends', () => {
    now = new Date('2026-03-01T12:01:00.000Z');
    const progress = { ...NO_PROGRESS, cursor: 'c', pages: 1, records: 5 };
    log.collection(ID, 'activities', (n) => ({ type: 'RecordPage', data: { jobId: 'job-1', progress, pageRecords: 5, rateLimited: false }, metadata: { now: n } }));
    expect(log.state.inFlightJobs()).toMatchObject([{ progressed: true, job: { jobId: 'job-1', resume: NO_PROGRESS } }]);
    log.collection(ID, 'activities', (n) => ({ type: 'CompleteJob', data: { jobId: 'job-1', finished: true, progress }, metadata: { now: n } }));
    expect(log.state.inFlightJobs()).toEqual([]);
    expect(log.state.collection(ID, 'activities')!.version).toBe(log.events.filter((e) => e.streamId === collectionStreamId(ID, 'activities')).length);
  });

  it("keeps each stream's version and the position of its last event, for appends that do not read the log", () => {
    const state = new SchedulerState();
    const created = log.events.find((e) => e.type === 'SourceCreated')!;
    state.apply({ ...created, position: 1_700_000_000_000_001 });
    expect(state.source(ID)).toMatchObject({ version: 1, position: 1_700_000_000_000_001 });
    // A repeat (a republication) changes nothing, whatever its position says.
    expect(state.apply({ ...created, position: 5 })).toBe(false);
    expect(state.source(ID)?.position).toBe(1_700_000_000_000_001);
  });
});

describe('SchedulerState, jobs dispatched but not yet in the log', () => {
  const WINDOW = { from: '2026-03-01T11:58:00.000000Z', to: '2026-03-01T12:05:00.000000Z' };
  /** Decides a live dispatch on the logged collection and hands it to the state, as the driver does. */
  function dispatchLive(state: SchedulerState, jobId = 'live-1'): FetchJob {
    const logged = state.loggedCollection(ID, 'activities')!;
    const [event] = decideCollection({ type: 'DispatchJob', data: { jobId, lane: 'live', window: WINDOW, resume: NO_PROGRESS }, metadata: { now } }, logged.state) as [JobDispatched];
    const job: FetchJob = { ...event.data, dispatchedAt: event.data.at, collectionVersion: logged.version + 1, deferred: true };
    state.dispatched(job, event);
    return job;
  }
  /** The live job recorded by its fetcher: its dispatch and its end in one append, as the runner does. */
  function recordLive(jobId: string): void {
    log.collection(ID, 'activities', (n) => ({ type: 'DispatchJob', data: { jobId, lane: 'live', window: WINDOW, resume: NO_PROGRESS }, metadata: { now: n } }));
    log.collection(ID, 'activities', (n) => ({ type: 'CompleteJob', data: { jobId, finished: true, progress: { ...NO_PROGRESS, pages: 1 } }, metadata: { now: n } }));
  }

  it('shows the job in flight in its collection at the logged version; the logged collection, the jobs to republish and snapshots know nothing of it', () => {
    const state = replayed();
    const job = dispatchLive(state);
    expect(state.collection(ID, 'activities')).toMatchObject({ version: 2, state: { jobs: { backfill: { jobId: 'job-1' }, live: { jobId: 'live-1', window: WINDOW } } }, dispatched: { live: job } });
    expect(state.collections(ID).get('activities')?.state).toMatchObject({ jobs: { live: { jobId: 'live-1' } } });
    expect(state.loggedCollection(ID, 'activities')?.state).not.toHaveProperty('jobs.live');
    expect(state.inFlightJobs().map((j) => j.job.jobId)).not.toContain('live-1');
    expect(JSON.stringify(state.snapshotItems())).not.toContain('live-1');
  });

  it('forgets it once the log brings its JobDispatched, even when the job already ended there', () => {
    const state = replayed();
    dispatchLive(state);
    recordLive('live-1');
    state.applyAll(log.events);
    expect(state.collection(ID, 'activities')).toMatchObject({ version: 4, state: { live: { pending: null } } });
    expect(state.collection(ID, 'activities')?.state).not.toHaveProperty('jobs.live');
  });

  it('forgets it when its lane moves otherwise (another job of the lane in the log): its fetcher finds it stale too', () => {
    const state = replayed();
    dispatchLive(state);
    recordLive('another');
    state.applyAll(log.events);
    expect(state.collection(ID, 'activities')?.state).not.toHaveProperty('jobs.live');
  });

  it('keeps it while only other lanes move in the log', () => {
    const state = replayed();
    dispatchLive(state);
    log.collection(ID, 'activities', (n) => ({ type: 'RecordPage', data: { jobId: 'job-1', progress: { ...NO_PROGRESS, cursor: 'c', pages: 1 }, pageRecords: 5, rateLimited: false }, metadata: { now: n } }));
    state.applyAll(log.events);
    expect(state.collection(ID, 'activities')).toMatchObject({ version: 3, state: { jobs: { live: { jobId: 'live-1' } } } });
  });

  it('gives up on it the stall timeout after its dispatch, not before, and says how many', () => {
    const state = replayed();
    dispatchLive(state);
    const dispatchedAt = now.getTime();
    expect(state.expireDispatches(ID, new Date(dispatchedAt + 59_999), 60_000)).toBe(0);
    expect(state.collection(ID, 'activities')?.state).toHaveProperty('jobs.live');
    expect(state.expireDispatches(ID, new Date(dispatchedAt + 60_000), 60_000)).toBe(1);
    expect(state.collection(ID, 'activities')?.state).not.toHaveProperty('jobs.live');
  });

  it('holds none after a restore', () => {
    const state = replayed();
    const items = state.snapshotItems();
    dispatchLive(state);
    expect(state.restore(items)).toBe(true);
    expect(state.collection(ID, 'activities')?.state).not.toHaveProperty('jobs.live');
  });
});
