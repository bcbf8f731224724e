import type { FetchJob } from '@s1c/contracts';
import { isSourceEvent, shiftMicroIso, sourceDecider, toMicroIso, type SourceEvent, type SourceState } from '@s1c/domain';
import { FoldedStreams, MongoEventStore, OutboxRelay, type RecordedEvent } from '@s1c/event-store';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defineApiSpec } from './api-spec';
import type { JobContext, JobRunner } from './job.runner';
import type { RawPublisher } from './raw.publisher';
import { countingStore, eventsOf, startFetcherFixture, type FetcherFixture, type StoreTraffic } from './testing';

/**
 * A runner keeps the collections and sources it folded between jobs (COLLECTION.md, "What a fetcher
 * keeps in memory"). These are the cases where its memory is behind the log.
 */
const activities = defineApiSpec({ api: 'activities', timeField: 'createdAt', timestampPath: ['createdAt'], versioned: false });
const ctx: JobContext = { working: () => undefined };

describe('JobRunner, with the collection and source it holds from earlier jobs', () => {
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

  /** A fetcher's runner (one for every job), counting what its store reads and appends. */
  function warmRunner(
    options: { maxPagesPerJob?: number; wrapPublisher?: (p: RawPublisher) => RawPublisher; sourceFolds?: FoldedStreams<SourceState> } = {},
  ): JobRunner {
    const store = countingStore(f.db, f.clock, traffic);
    return f.runner(activities, {
      store,
      settings: { maxPagesPerJob: options.maxPagesPerJob ?? 1 },
      ...(options.wrapPublisher ? { wrapPublisher: options.wrapPublisher } : {}),
      ...(options.sourceFolds ? { sourceFolds: options.sourceFolds } : {}),
    });
  }

  /** Runs the first backfill job (one page) on `runner`, so that it holds the collection and the source. */
  async function firstPage(runner: JobRunner): Promise<void> {
    expect(await runner.run(await f.dispatch(sourceId, 'activities', 'backfill'), ctx)).toMatchObject({ kind: 'completed', finished: false, pages: 1 });
    expect(traffic.reads).toEqual(['collection', 'source']);
    traffic.reads = [];
  }

  describe('when the next job comes from the scheduler with its JobDispatched version', () => {
    it('then it starts without reading either stream, and resumes where the last one ended', async () => {
      const runner = warmRunner();
      await firstPage(runner);
      const next = await f.dispatch(sourceId, 'activities', 'backfill');
      expect(await runner.run(next, ctx)).toMatchObject({ kind: 'completed', finished: false, pages: 1, progress: { pages: 2 } });
      expect(traffic.reads).toEqual([]);
      expect(f.listRequests('activities').at(-1)!.query.cursor).toBe(next.resume.cursor);
    });
  });

  describe('when the process folds its sources from the relayed events (as a fetcher does)', () => {
    it('then its first job reads the collection only, never the source, and the token still works', async () => {
      const subjectFor = (event: RecordedEvent) =>
        event.streamId.startsWith('source-') ? `s1c.evt.source.${event.streamId.slice('source-'.length)}.${event.type}` : `s1c.evt.test.${event.streamId}.${event.type}`;
      const relay = new OutboxRelay(f.store, f.db, f.nc.jetstream(), await f.nc.jetstreamManager(), { name: 'test', streamName: 'S1C_EVENTS', subjectFor, pollIntervalMs: 50 });
      const folds = new FoldedStreams<SourceState>(f.store, f.nc, {
        name: 'test-sources',
        filterSubject: 's1c.evt.source.>',
        initial: sourceDecider.initialState,
        evolve: (state, event) => (isSourceEvent(event) ? sourceDecider.evolve(state, event as unknown as SourceEvent) : state),
      });
      await relay.start();
      await folds.start();
      try {
        const runner = warmRunner({ sourceFolds: folds });
        const job = await f.dispatch(sourceId, 'activities', 'backfill');
        expect(await runner.run(job, ctx)).toMatchObject({ kind: 'completed', finished: false, pages: 1 });
        expect(traffic.reads).toEqual(['collection']);
        // The token check, then the job's only page and its end in one append.
        expect(traffic.appends).toEqual([['TokenVerified'], ['PageCollected', 'JobCompleted']]);
        expect(f.listRequests('activities').at(-1)!.status).toBe(200);
      } finally {
        await folds.stop();
        await relay.stop();
      }
    });
  });

  describe('when the job comes without the versions (an older scheduler, or republished after a restart)', () => {
    it('then it reads only the collection events after the ones it holds and runs', async () => {
      const runner = warmRunner();
      await firstPage(runner);
      const { collectionVersion: _v, collectionPosition: _p, sourceVersion: _s, ...bare } = await f.dispatch(sourceId, 'activities', 'backfill');
      const job: FetchJob = bare;
      expect(await runner.run(job, ctx)).toMatchObject({ kind: 'completed', finished: false, pages: 1, progress: { pages: 2 } });
      expect(traffic.reads).toEqual(['collection']);
    });
  });

  describe('when someone else wrote to the collection since the runner last did', () => {
    it('then it reads the newer events before the job starts, and records on top of them', async () => {
      const runner = warmRunner();
      await firstPage(runner);
      // An operator's replay is one more event before the next JobDispatched.
      await f.collectionCommand(sourceId, 'activities', () => ({
        type: 'RequestReplay',
        data: { window: { from: shiftMicroIso(toMicroIso(f.clock()), -3_600_000), to: toMicroIso(f.clock()) } },
        metadata: { now: f.clock() },
      }));
      const next = await f.dispatch(sourceId, 'activities', 'backfill');
      expect(await runner.run(next, ctx)).toMatchObject({ kind: 'completed', finished: false, pages: 1 });
      expect(traffic.reads).toEqual(['collection']);
      expect(await f.collectionState(sourceId, 'activities')).toMatchObject({ replay: { window: expect.any(Object) }, backfill: { progress: { pages: 2 } } });
    });
  });

  describe('when the job is redelivered after another fetcher recorded progress on it', () => {
    it('then it starts from the progress in the log, not from its memory, and the other delivery stops', async () => {
      // This runner holds the collection one version before the next job's JobDispatched.
      const runner = warmRunner();
      await firstPage(runner);
      const job = await f.dispatch(sourceId, 'activities', 'backfill');

      // Another fetcher takes the job first, records its first page (page 2) and hangs in the next one.
      let release: () => void = () => undefined;
      const released = new Promise<void>((resolve) => (release = resolve));
      let published = 0;
      const other = f
        .runner(activities, {
          wrapPublisher: (inner) => ({
            async publish(...args) {
              published += args[1].length;
              if (published > 1000) await released;
              return inner.publish(...args);
            },
          }),
        })
        .run(job, ctx);
      for (let i = 0; i < 400 && eventsOf(await f.collectionEvents(sourceId, 'activities'), 'PageCollected').length < 2; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const recorded = eventsOf(await f.collectionEvents(sourceId, 'activities'), 'PageCollected');
      expect(recorded).toHaveLength(2);

      const redelivered = await runner.run(job, { ...ctx, deliveryCount: 2 });
      expect(redelivered).toMatchObject({ kind: 'completed', finished: true, pages: 1, progress: { pages: 3 } });
      expect(f.listRequests('activities').at(-1)!.query.cursor).toBe(recorded[1]!.data.progress.cursor);
      expect(traffic.reads).toEqual(['collection', 'source']);
      release();
      expect(await other).toMatchObject({ kind: 'superseded' });
    });
  });

  describe('when the source is restarted after the job was dispatched, and the scheduler plans its new generation', () => {
    it('then the job held in memory loses its first write to the new plan and stops without recording anything', async () => {
      const runner = warmRunner();
      await firstPage(runner);
      const job = await f.dispatch(sourceId, 'activities', 'backfill');
      await f.sourceCommand(sourceId, () => ({ type: 'RestartSource', data: { sourceId }, metadata: { now: f.clock() } }));
      await f.collectionCommand(sourceId, 'activities', () => ({
        type: 'PlanCollection',
        data: { sourceId, api: 'activities', generation: 2, baseUrl: `${f.sim.url}/`, backfillMs: 24 * 3_600_000 },
        metadata: { now: f.clock() },
      }));
      const before = await f.collectionEvents(sourceId, 'activities');
      const requests = f.listRequests('activities').length;

      expect(await runner.run(job, ctx)).toMatchObject({ kind: 'superseded' });
      expect(await f.collectionEvents(sourceId, 'activities')).toHaveLength(before.length);
      // At most the one page it fetched before its first write.
      expect(f.listRequests('activities').length - requests).toBeLessThanOrEqual(1);
    });
  });

  describe('when the source is deleted', () => {
    it('then a job dispatched before the deletion may run once more on the source held in memory, and any later job is abandoned', async () => {
      const runner = warmRunner();
      await firstPage(runner);
      const before = await f.dispatch(sourceId, 'activities', 'backfill');
      await f.sourceCommand(sourceId, () => ({ type: 'DeleteSource', data: { sourceId }, metadata: { now: f.clock() } }));
      // The deletion came after the dispatch: the job runs within its page budget, and ends.
      expect(await runner.run(before, ctx)).toMatchObject({ kind: 'completed', pages: 1 });
      expect(traffic.reads).toEqual([]);

      // The scheduler dispatches nothing for a stopping source; a job dispatched after the deletion
      // anyway (say, by a scheduler that had not seen it) names a newer source version, so the
      // runner reads the source and abandons the job without calling SentinelOne.
      const after = await f.dispatch(sourceId, 'activities', 'backfill');
      expect(after.sourceVersion).toBe(4);
      const requests = f.sim.admin.requests().length;
      expect(await runner.run(after, ctx)).toMatchObject({ kind: 'abandoned', reason: 'source is stopping' });
      expect(traffic.reads).toEqual(['source']);
      expect(f.sim.admin.requests()).toHaveLength(requests);
      expect(eventsOf(await f.collectionEvents(sourceId, 'activities'), 'JobAbandoned')[0]!.data).toMatchObject({ jobId: after.jobId, reason: 'source is stopping' });
    });

    it('then a redelivered job reads the source and is abandoned', async () => {
      const runner = warmRunner();
      await firstPage(runner);
      const job = await f.dispatch(sourceId, 'activities', 'backfill');
      await f.sourceCommand(sourceId, () => ({ type: 'DeleteSource', data: { sourceId }, metadata: { now: f.clock() } }));
      expect(await runner.run(job, { ...ctx, deliveryCount: 2 })).toMatchObject({ kind: 'abandoned', reason: 'source is stopping' });
    });
  });

  describe('when the runner holds more streams than it keeps', () => {
    it('then the least recently used is dropped and read again when its next job comes', async () => {
      const other = await f.createSource(['activities']);
      await f.plan(other, 'activities');
      const store = new (class extends MongoEventStore {
        override async readStream(...args: Parameters<MongoEventStore['readStream']>) {
          traffic.reads.push(args[0].startsWith('collection-') ? `collection ${args[0].includes(other) ? 'other' : 'first'}` : 'source');
          return super.readStream(...args);
        }
      })(f.db, { clock: f.clock });
      const runner = f.runner(activities, { store, settings: { maxPagesPerJob: 1, cachedStreams: 1 } });
      await runner.run(await f.dispatch(sourceId, 'activities', 'backfill'), ctx);
      await runner.run(await f.dispatch(other, 'activities', 'backfill'), ctx);
      traffic.reads = [];
      expect(await runner.run(await f.dispatch(sourceId, 'activities', 'backfill'), ctx)).toMatchObject({ kind: 'completed', pages: 1, progress: { pages: 2 } });
      expect(traffic.reads).toEqual(['collection first', 'source']);
    });
  });
});
