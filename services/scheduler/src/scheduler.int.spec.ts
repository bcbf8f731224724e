import { collectionStreamId, sourceStreamId, type CollectionState, type SourceApi } from '@s1c/domain';
import { STREAMS } from '@s1c/messaging';
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  JobInbox,
  ManualClock,
  sourceConfig,
  startSchedulerUnderTest,
  TestLog,
  type ReceivedJob,
  type SchedulerUnderTest,
} from './testing/scheduler.harness';

const MINUTE = 60_000;
const T0 = '2026-03-01T12:00:00.000Z';
const STALL = 8 * MINUTE;

let inbox: JobInbox;
let clock: ManualClock;
let log: TestLog;
let scheduler: SchedulerUnderTest;
let extra: SchedulerUnderTest[];
let id: string;

beforeAll(async () => {
  inbox = await JobInbox.open();
});
afterAll(async () => {
  await inbox?.close();
});
beforeEach(async () => {
  clock = new ManualClock(new Date(T0));
  log = await TestLog.open(clock.now);
  scheduler = await startSchedulerUnderTest(log.dbName, { clock: clock.now });
  extra = [];
  id = randomUUID();
});
afterEach(async () => {
  for (const s of [scheduler, ...extra]) await s?.close();
  await log?.close();
  // Lost races and refusals are expected (debug); an error line is not.
  for (const s of [scheduler, ...extra]) expect(s?.logText() ?? '').not.toContain('"level":"error"');
});

const tick = () => scheduler.runtime.tick();
const status = async (sourceId = id) => (await log.sourceState(sourceId)).status;
const lanesOf = (jobs: Array<{ job: { api: string; lane: string } }>) => jobs.map((r) => `${r.job.api}:${r.job.lane}`).sort();

describe('given a scheduler on the log (manual clock)', () => {
  describe('when a source is created', () => {
    beforeEach(async () => {
      await log.create(id);
      await tick();
    });

    it('then one tick walks it Pending -> Started -> Initialized in the log', async () => {
      expect(await log.types(sourceStreamId(id))).toEqual(['SourceCreated', 'CollectionStarted', 'CollectionInitialized']);
      expect(scheduler.runtime.state.source(id)?.state.status).toBe('Initialized');
    });

    it('then every supported API is planned, with the backfill window [now - S1C_BACKFILL, now)', async () => {
      const window = { from: '2026-02-28T12:00:00.000000Z', to: '2026-03-01T12:00:00.000000Z' };
      for (const api of ['activities', 'threats'] as const) {
        const [planned] = await log.events(collectionStreamId(id, api));
        expect(planned).toMatchObject({ type: 'CollectionPlanned', data: { generation: 1, reset: true, backfill: window, liveCheckpoint: window.to } });
      }
      const [agents] = await log.events(collectionStreamId(id, 'agents'));
      expect(agents).toMatchObject({ type: 'CollectionPlanned', data: { backfill: null } });
    });

    it('then the backfill and snapshot jobs are dispatched and published once, with the job id as Nats-Msg-Id', async () => {
      const jobs = await inbox.take(id);
      expect(lanesOf(jobs)).toEqual(['activities:backfill', 'agents:snapshot', 'threats:backfill']);
      const activities = jobs.find((r) => r.job.api === 'activities')!;
      expect(activities).toEqual({
        subject: 's1c.job.activities',
        msgId: `${id}:activities:backfill:2`,
        job: {
          jobId: `${id}:activities:backfill:2`,
          sourceId: id,
          api: 'activities',
          lane: 'backfill',
          generation: 1,
          window: { from: '2026-02-28T12:00:00.000000Z', to: '2026-03-01T12:00:00.000000Z' },
          resume: { cursor: null, walkFrom: null, lastTimestamp: null, records: 0, pages: 0 },
          dispatchedAt: '2026-03-01T12:00:00.000000Z',
          // The version its JobDispatched is to take, and the source version it was decided on.
          collectionVersion: 2,
          sourceVersion: 3,
          // The collection it was decided on, as the log has it: the version before.
          collectionFold: { state: expect.objectContaining({ status: 'Planned' }), version: 1, position: expect.any(Number) },
          deferred: true,
        },
      });
      const collectionFold = activities.job.collectionFold as { state: CollectionState; position: number };
      expect(collectionFold.state).toEqual(await log.collectionState(id, 'activities'));
      expect(collectionFold.position).toBe((await log.events(collectionStreamId(id, 'activities')))[0]!.position);
      // The source (its base URL and token) never travels in a job.
      expect(activities.job).not.toHaveProperty('sourceFold');
      // Nothing appended for the dispatch: the fetcher's first record does it.
      expect(await log.types(collectionStreamId(id, 'activities'))).toEqual(['CollectionPlanned']);
      // Lanes dispatched but not yet in the log are busy all the same.
      await tick();
      expect(await inbox.take(id)).toEqual([]);
      await log.fetcher(activities.job).page();
      const events = await log.events(collectionStreamId(id, 'activities'));
      expect(events.map((e) => e.type)).toEqual(['CollectionPlanned', 'JobDispatched', 'PageCollected']);
      expect(events[1]).toMatchObject({ version: 2, data: { jobId: activities.job.jobId, at: activities.job.dispatchedAt, window: activities.job.window } });
      await tick();
      expect(await inbox.take(id)).toEqual([]);
      expect(scheduler.runtime.state.collection(id, 'activities')).toMatchObject({ version: 3, state: { jobs: { backfill: { jobId: activities.job.jobId } } } });
    });

    it('then a job never recorded is published again at its stall timeout, under its id but a new message id, and once per expiry', async () => {
      const backfill = (jobs: ReceivedJob[]) => jobs.filter((r) => r.job.api === 'activities' && r.job.lane === 'backfill');
      const [first] = backfill(await inbox.take(id));
      clock.advance(STALL - 1);
      await tick();
      expect(backfill(await inbox.take(id))).toEqual([]);
      clock.advance(1);
      await tick();
      const again = backfill(await inbox.take(id));
      // A copy JetStream still holds may never be delivered: the same message id would be dropped.
      expect(again.map((r) => [r.job.jobId, r.msgId])).toEqual([[first!.job.jobId, `${first!.job.jobId}#1`]]);
      await tick();
      expect(backfill(await inbox.take(id))).toEqual([]);
      clock.advance(STALL);
      await tick();
      const third = backfill(await inbox.take(id));
      expect(third.map((r) => r.msgId)).toEqual([`${first!.job.jobId}#2`]);
      // Recorded by its fetcher, it is a job like any.
      await log.fetcher(third[0]!.job).page();
      expect(await log.types(collectionStreamId(id, 'activities'))).toEqual(['CollectionPlanned', 'JobDispatched', 'PageCollected']);
    });

    it('then the live lanes follow once the poll interval has passed', async () => {
      await inbox.take(id);
      clock.advance(5 * MINUTE - 1);
      await tick();
      expect(await inbox.take(id)).toEqual([]);
      clock.advance(1);
      await tick();
      const live = await inbox.take(id);
      expect(lanesOf(live)).toEqual(['activities:live', 'agents:live', 'threats:live']);
      for (const { job, msgId } of live) {
        expect(job.window).toEqual({ from: '2026-03-01T11:58:00.000000Z', to: '2026-03-01T12:05:00.000000Z' });
        // Decided on the collection at version 1: the backfill's dispatch is not in the log either.
        expect(msgId).toBe(`${id}:${job.api}:live:2`);
      }
    });
  });

  describe('when live polls are recorded as one event each (JobRan: dispatch, page and end in one append)', () => {
    it('then each is settled and the next poll follows one interval later, under the next job id', async () => {
      const POLL = 5 * MINUTE;
      await log.create(id);
      await tick();
      for (const { job } of await inbox.take(id)) {
        const fetcher = log.fetcher(job);
        await fetcher.verify();
        await fetcher.complete(true);
      }
      clock.advance(POLL);
      await tick();
      let live = await inbox.job(id, 'activities', 'live');
      for (let poll = 1; poll <= 3; poll++) {
        expect((await log.fetcher(live).run(true)).map((e) => e.type)).toEqual(['JobRan']);
        await tick();
        // Not again within the interval: the dispatch the scheduler kept is settled by the JobRan.
        clock.advance(POLL - 1);
        await tick();
        expect(lanesOf(await inbox.take(id))).not.toContain('activities:live');
        clock.advance(1);
        await tick();
        const next = await inbox.job(id, 'activities', 'live');
        const version = (await log.events(collectionStreamId(id, 'activities'))).length;
        expect(next.jobId).toBe(`${id}:activities:live:${version + 1}`);
        live = next;
      }
      expect(await log.collectionState(id, 'activities')).toMatchObject({ jobs: {}, collectingGeneration: 1 });
    });
  });

  describe('when a fetcher works on the jobs', () => {
    beforeEach(async () => {
      await log.create(id);
      await tick();
      await inbox.take(id);
    });

    it('then the source becomes Authenticated at the verified token and Collecting at the first page', async () => {
      const fetcher = log.fetcher(await inbox.job(id, 'threats', 'backfill'));
      await fetcher.verify();
      await tick();
      expect(await status()).toBe('Authenticated');
      await fetcher.page();
      await tick();
      expect(await status()).toBe('Collecting');
    });

    it('then a job that stopped at its page budget is continued from its progress', async () => {
      const fetcher = log.fetcher(await inbox.job(id, 'threats', 'backfill'));
      await fetcher.verify();
      await fetcher.page();
      await fetcher.complete(false);
      await tick();
      const [next] = await inbox.take(id);
      expect(next?.job).toMatchObject({ lane: 'backfill', api: 'threats', resume: fetcher.progress, jobId: `${id}:threats:backfill:6` });
      expect(await status()).toBe('Collecting');
    });

    it('then a collection that gave up moves the source to Error and nothing more is dispatched', async () => {
      await log.fetcher(await inbox.job(id, 'activities', 'backfill')).fail('ThirdPartyConfig', 'HTTP 401 Unauthorized');
      await tick();
      expect(await log.sourceState(id)).toMatchObject({
        status: 'Error',
        failure: { errorType: 'ThirdPartyConfig', reason: 'HTTP 401 Unauthorized', api: 'activities' },
      });
      clock.advance(60 * MINUTE);
      await tick();
      expect(await inbox.take(id)).toEqual([]);
      expect(await log.types(collectionStreamId(id, 'activities'))).not.toContain('JobAbandoned');
    });

    it('then a failure waiting for its retry time holds that collection back until the clock passes it', async () => {
      const events = await log.fetcher(await inbox.job(id, 'activities', 'backfill')).fail('ThirdPartyGeneric', 'HTTP 503');
      const retryAt = (events.find((e) => e.type === 'JobFailed')?.data as { retryAt: string }).retryAt;
      expect(Date.parse(retryAt)).toBeGreaterThan(clock.now().getTime());
      await tick();
      expect(await inbox.take(id)).toEqual([]);
      clock.set(new Date(Date.parse(retryAt)));
      await tick();
      expect(lanesOf(await inbox.take(id))).toEqual(['activities:backfill']);
      expect(await status()).toBe('Initialized');
    });
  });

  describe('when the source is deleted', () => {
    beforeEach(async () => {
      await log.create(id);
      await tick();
      await inbox.take(id);
      await log.source(id, (now) => ({ type: 'DeleteSource', data: { sourceId: id }, metadata: { now } }));
    });

    it('then nothing is dispatched, and it is Deleted once its in-flight jobs complete', async () => {
      clock.advance(5 * MINUTE);
      await tick();
      expect(await status()).toBe('Stopping');
      expect(await inbox.take(id)).toEqual([]);
      const lanes: Array<[SourceApi, 'backfill' | 'snapshot']> = [['activities', 'backfill'], ['threats', 'backfill'], ['agents', 'snapshot']];
      for (const [api, lane] of lanes) {
        await log.fetcher(await inbox.job(id, api, lane)).complete(true);
        await tick();
      }
      expect(await status()).toBe('Deleted');
      expect(await inbox.take(id)).toEqual([]);
    });

    it('then jobs that stall are abandoned after the stall timeout (in the log, or forgotten when never recorded) and the deletion completes', async () => {
      // One job reached the log (its token check); the two others were never run.
      await log.fetcher(await inbox.job(id, 'activities', 'backfill')).verify();
      clock.advance(STALL - 1);
      await tick();
      expect(await status()).toBe('Stopping');
      clock.advance(1);
      await tick();
      expect(await status()).toBe('Deleted');
      expect(await log.types(collectionStreamId(id, 'activities'))).toContain('JobAbandoned');
      for (const api of ['agents', 'threats'] as const) expect(await log.types(collectionStreamId(id, api))).toEqual(['CollectionPlanned']);
      expect(scheduler.logText()).toContain('dispatched jobs never reached the log within the stall timeout');
      expect(await inbox.take(id)).toEqual([]);
    });

    it('then a dispatched job not in the log keeps the deletion waiting until its fetcher records it', async () => {
      clock.advance(MINUTE);
      await tick();
      expect(await status()).toBe('Stopping');
      for (const [api, lane] of [['activities', 'backfill'], ['threats', 'backfill']] as const) await log.fetcher(await inbox.job(id, api, lane)).complete(true);
      await tick();
      expect(await status()).toBe('Stopping');
      await log.fetcher(await inbox.job(id, 'agents', 'snapshot')).complete(true);
      await tick();
      expect(await status()).toBe('Deleted');
    });
  });

  describe('when the source is updated', () => {
    it('then the new generation is planned again, keeping the checkpoints, and its jobs carry it', async () => {
      await log.create(id);
      await tick();
      const backfill = log.fetcher(await inbox.job(id, 'activities', 'backfill'));
      await backfill.verify();
      await backfill.complete(true);
      clock.advance(5 * MINUTE);
      await tick();
      await log.fetcher(await inbox.job(id, 'activities', 'live')).complete(true);
      await tick();
      await inbox.take(id);
      clock.advance(MINUTE);

      await log.source(id, (now) => ({ type: 'UpdateSource', data: { sourceId: id, config: sourceConfig({ name: 'Renamed' }) }, metadata: { now } }));
      await tick();

      expect(await log.sourceState(id)).toMatchObject({ status: 'Initialized', generation: 2 });
      const replanned = (await log.events(collectionStreamId(id, 'activities'))).filter((e) => e.type === 'CollectionPlanned');
      expect(replanned.at(-1)).toMatchObject({ data: { generation: 2, reset: false, liveCheckpoint: '2026-03-01T12:05:00.000000Z' } });
      expect(await log.collectionState(id, 'activities')).toMatchObject({ generation: 2, backfill: { done: true }, live: { checkpoint: '2026-03-01T12:05:00.000000Z' } });
      const jobs = await inbox.take(id);
      expect(jobs.length).toBeGreaterThan(0);
      expect(jobs.every((r) => r.job.generation === 2)).toBe(true);
      expect(lanesOf(jobs)).not.toContain('activities:backfill');
    });
  });

  describe('when many sources need driving in one tick', () => {
    /** The sources of the scheduler's action log lines, in the order they were written. */
    const actionSources = (text: string) =>
      text
        .split('\n')
        .filter((line) => line.includes('"level":"info"') && line.includes('"version"'))
        .map((line) => (JSON.parse(line) as { sourceId: string }).sourceId);
    /** How many times the action log switches from one source to another. */
    const switches = (ids: string[]) => ids.filter((sourceId, i) => i > 0 && sourceId !== ids[i - 1]).length;

    it('then they are driven side by side (S1C_SCHEDULER_CONCURRENCY), each source\'s actions in order', async () => {
      const ids = Array.from({ length: 8 }, () => randomUUID());
      for (const sourceId of ids) await log.create(sourceId);
      await tick();
      const order = actionSources(scheduler.logText());
      expect(new Set(order)).toEqual(new Set(ids));
      // Sequential driving would switch sources 7 times; side by side, far more often.
      expect(switches(order)).toBeGreaterThan(ids.length);
      for (const sourceId of ids) expect(await log.types(sourceStreamId(sourceId))).toEqual(['SourceCreated', 'CollectionStarted', 'CollectionInitialized']);
    });

    it('then with S1C_SCHEDULER_CONCURRENCY=1 they are driven one after the other', async () => {
      const single = await startSchedulerUnderTest(log.dbName, { clock: clock.now, env: { S1C_SCHEDULER_CONCURRENCY: '1' } });
      extra.push(single);
      const ids = Array.from({ length: 4 }, () => randomUUID());
      for (const sourceId of ids) await log.create(sourceId);
      await single.runtime.tick();
      expect(switches(actionSources(single.logText()))).toBe(ids.length - 1);
    });
  });

  describe('when two scheduler replicas share the log', () => {
    it('then every job is dispatched and published exactly once', async () => {
      const second = await startSchedulerUnderTest(log.dbName, { clock: clock.now });
      extra.push(second);
      const ids = [id, randomUUID(), randomUUID()];
      for (const sourceId of ids) await log.create(sourceId);
      const done = new Set<string>();
      for (let round = 0; round < 6; round++) {
        await Promise.all([scheduler.runtime.tick(), second.runtime.tick()]);
        // Fetchers finish some jobs, so that both replicas keep finding new work.
        await inbox.take();
        for (const sourceId of ids) {
          const open = inbox.of(sourceId).find((r) => r.job.api === 'activities' && !done.has(r.job.jobId));
          if (!open) continue;
          done.add(open.job.jobId);
          await log.fetcher(open.job).complete(true);
        }
        clock.advance(5 * MINUTE);
      }
      // Both replicas decided the same jobs under the same ids: JetStream kept each once.
      const published = [...inbox.received, ...(await inbox.take())].filter((r) => ids.includes(r.job.sourceId));
      const jobIds = published.map((r) => r.msgId!);
      expect(new Set(jobIds).size).toBe(jobIds.length);
      // A dispatch again after the stall timeout (a job never run here) is `<jobId>#<n>`, decided alike by both.
      expect(published.map((r) => r.job.jobId)).toEqual(jobIds.map((m) => m.replace(/#\d+$/, '')));
      expect(jobIds.length).toBeGreaterThanOrEqual(ids.length * 6);
      // Each job that ran is in the log once.
      const dispatched = (await log.dispatched()).filter((e) => ids.includes(e.data.sourceId as string)).map((e) => e.data.jobId as string);
      expect(dispatched.sort()).toEqual([...done].sort());
      for (const sourceId of ids) expect(await log.types(sourceStreamId(sourceId))).toEqual(['SourceCreated', 'CollectionStarted', 'CollectionInitialized']);
      // Both really raced: at least one of them lost somewhere and skipped the source.
      expect(`${scheduler.logText()}${second.logText()}`).toContain('lost a race');
    });
  });

  describe('when it restarts', () => {
    it('then it restores its state from the snapshot saved at shutdown and reads only the events after it, ending where a replay of the whole log ends', async () => {
      const other = randomUUID();
      await log.create(id);
      await tick();
      const agentsJob = (await inbox.take(id)).find((r) => r.job.api === 'agents')!.job;
      await scheduler.close();
      expect(scheduler.logText()).toContain('snapshot saved');
      // While it is down: another source, and a fetcher's progress on the first.
      await log.create(other);
      clock.advance(MINUTE);
      await log.fetcher(agentsJob).verify();

      scheduler = await startSchedulerUnderTest(log.dbName, { clock: clock.now });
      expect(scheduler.logText()).toContain('state restored from the snapshot');
      expect(scheduler.logText()).not.toContain('cold start: replayed the log');
      const restored = scheduler.runtime.state;
      expect(restored.source(other)?.state.status).toBe('Pending');
      expect(restored.collection(id, 'agents')?.state).toMatchObject({ status: 'Planned', verifiedGeneration: 1 });

      // The same log replayed from scratch (no snapshot) folds to the same state.
      await scheduler.close();
      await log.db.collection('snapshots').deleteMany({});
      scheduler = await startSchedulerUnderTest(log.dbName, { clock: clock.now });
      expect(scheduler.logText()).toContain('cold start: replayed the log');
      const replayed = scheduler.runtime.state;
      for (const sourceId of [id, other]) {
        expect(replayed.source(sourceId)).toEqual(restored.source(sourceId));
        expect(replayed.collections(sourceId)).toEqual(restored.collections(sourceId));
      }
      // And it goes on driving both.
      await tick();
      expect(await status(other)).toBe('Initialized');
    });
  });

  describe('when a job was appended but never published', () => {
    it('then a scheduler starting up publishes it, and JetStream drops the ones already on the queue', async () => {
      await log.create(id);
      await tick();
      expect(await inbox.take(id)).toHaveLength(3);
      // A scheduler of a version that appended JobDispatched before publishing, crashed in between.
      const version = (await log.events(collectionStreamId(id, 'threats'))).length;
      const jobId = `${id}:threats:replay:${version + 1}`;
      const window = { from: '2026-02-01T00:00:00.000000Z', to: '2026-02-02T00:00:00.000000Z' };
      const resume = { cursor: null, walkFrom: null, lastTimestamp: null, records: 0, pages: 0 };
      await log.collection(id, 'threats', (now) => ({ type: 'DispatchJob', data: { jobId, lane: 'replay', window, resume }, metadata: { now } }));

      const restarted = await startSchedulerUnderTest(log.dbName, { clock: clock.now });
      extra.push(restarted);
      const republished = await inbox.take(id);
      expect(republished.map((r) => r.msgId)).toEqual([jobId]);
      expect(republished[0]?.job).toMatchObject({ lane: 'replay', window, generation: 1, collectionVersion: version + 1 });
      // With the fold the restarted scheduler holds, so a fetcher need not read the collection.
      expect(republished[0]?.job.collectionFold).toMatchObject({ version: version + 1, state: { status: 'Planned', jobs: { replay: { jobId } } } });
      // Only jobs in the log are published again: those not in it are decided again by the next tick.
      expect(restarted.logText()).toContain('"republished":1');
    });

    it('then, when publishing fails, no more jobs are dispatched in that tick, and the job is published at the next', async () => {
      const other = randomUUID();
      await log.create(id);
      await log.create(other);
      await tick();
      await inbox.take();
      const jsm = await inbox.nc.jetstreamManager();
      await jsm.streams.delete(STREAMS.jobs.name);
      try {
        clock.advance(5 * MINUTE);
        await tick();
        // The first failed publish stops dispatching for the tick: one timeout per source being
        // driven at that moment at most, here 2 of the 6 lanes due.
        const failures = scheduler.logText().split('could not publish a dispatched job').length - 1;
        expect(failures).toBeGreaterThanOrEqual(1);
        expect(failures).toBeLessThanOrEqual(2);
        // Nothing of it in the log.
        expect(await log.dispatched()).toEqual([]);
      } finally {
        await inbox.declare();
      }
      await tick();
      const published = await inbox.take();
      expect(lanesOf(published.filter((r) => r.job.sourceId === id))).toEqual(['activities:live', 'agents:live', 'threats:live']);
      expect(lanesOf(published.filter((r) => r.job.sourceId === other))).toEqual(['activities:live', 'agents:live', 'threats:live']);
    });
  });
});

describe('given a scheduler running on its own (real clock, background loops)', () => {
  it('then a new source gets its first jobs within a few ticks, and close() stops it', async () => {
    const running = await startSchedulerUnderTest(log.dbName, { background: true, env: { S1C_SCHEDULER_TICK: '100ms' } });
    extra.push(running);
    await log.create(id, sourceConfig({ supportedApis: ['agents'] }));
    const deadline = Date.now() + 10_000;
    let jobs = await inbox.take(id);
    while (jobs.length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      jobs = await inbox.take(id);
    }
    expect(lanesOf(jobs)).toEqual(['agents:snapshot']);
    await running.close();
    extra.pop();
    expect(running.runtime.state.source(id)?.state.status).toBe('Initialized');
  });
});
