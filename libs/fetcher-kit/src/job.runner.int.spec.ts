import { createHash } from 'node:crypto';
import { RAW_BATCH_HEADERS, type FetchJob } from '@s1c/contracts';
import { shiftMicroIso, type Progress } from '@s1c/domain';
import { MongoEventStore } from '@s1c/event-store';
import { RetryableError } from '@s1c/messaging';
import { serverUrls } from '@s1c/test-harness';
import { MongoClient } from 'mongodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defineApiSpec } from './api-spec';
import type { JobContext } from './job.runner';
import type { RawPublisher } from './raw.publisher';
import { eventsOf, startFetcherFixture, type FetcherFixture } from './testing';

const activities = defineApiSpec({ api: 'activities', timeField: 'createdAt', timestampPath: ['createdAt'], versioned: false });
const ctx: JobContext = { working: () => undefined };
const ACTIVITIES_PATH = '/web/api/v2.1/activities';

describe('JobRunner, against the simulator and real NATS and FerretDB', () => {
  let f: FetcherFixture;
  let sourceId: string;

  beforeEach(async () => {
    f = await startFetcherFixture();
    sourceId = await f.createSource(['activities']);
    await f.plan(sourceId, 'activities');
  });
  afterEach(async () => {
    await f.close();
  });

  const expectedRecords = (job: FetchJob) =>
    f.simulatorRecords('activities', { createdAt__gte: job.window.from, createdAt__lt: job.window.to, sortBy: 'createdAt', sortOrder: 'asc' });

  /**
   * The raw stream holds exactly the window's records, each once, or with `again` the records a
   * restarted walk fetched a second time (the enricher drops those by record id).
   */
  async function expectRawMatchesSimulator(job: FetchJob, again: (id: string) => boolean = () => false): Promise<void> {
    const expected = await expectedRecords(job);
    const raw = await f.rawRecords('activities', sourceId);
    const ids = raw.map((m) => m.recordId);
    const repeated = ids.filter((id, i) => ids.indexOf(id) !== i);
    expect(repeated.filter((id) => !again(id))).toEqual([]);
    expect([...new Set(ids)].sort()).toEqual(expected.map((r) => `${sourceId}:activities:${r.value.id as string}`).sort());
  }

  describe('when a backfill job walks its window', () => {
    it('then it publishes exactly the simulator records of the window, once each, with their JSON and headers', async () => {
      const job = await f.dispatch(sourceId, 'activities', 'backfill');
      const outcome = await f.runner(activities).run(job, ctx);

      const expected = await expectedRecords(job);
      expect(expected.length).toBeGreaterThan(2000);
      expect(outcome).toMatchObject({ kind: 'completed', finished: true, progress: { records: expected.length, pages: 3, cursor: null } });
      const raw = await f.rawRecords('activities', sourceId);
      expect(raw).toHaveLength(expected.length);
      const byId = new Map(expected.map((r) => [`${sourceId}:activities:${r.value.id as string}`, r.json]));
      for (const message of raw) {
        const recordId = message.recordId;
        expect(message.subject).toBe(`s1c.raw.activities.${sourceId}`);
        // A batch's message id is the digest of its record ids: a page published again is a duplicate.
        expect(message.headers['Nats-Msg-Id']).toBe(createHash('sha256').update(message.headers[RAW_BATCH_HEADERS.recordIds]!).digest('base64url'));
        expect(message.body).toBe(byId.get(recordId));
        // The batch's day is its records' creation day.
        expect(message.headers[RAW_BATCH_HEADERS.recordDay]).toBe((JSON.parse(message.body) as { createdAt: string }).createdAt.slice(0, 10));
        expect(message.headers).toMatchObject({
          [RAW_BATCH_HEADERS.sourceId]: sourceId,
          [RAW_BATCH_HEADERS.collectorId]: 'default',
          [RAW_BATCH_HEADERS.api]: 'activities',
          [RAW_BATCH_HEADERS.lane]: 'backfill',
          [RAW_BATCH_HEADERS.jobId]: job.jobId,
          [RAW_BATCH_HEADERS.generation]: '1',
          // SourceCreated, CollectionStarted, CollectionInitialized.
          [RAW_BATCH_HEADERS.sourceVersion]: '3',
        });
        expect(message.headers[RAW_BATCH_HEADERS.fetchedAt]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
        expect(message.headers[RAW_BATCH_HEADERS.snapshotId]).toBeUndefined();
      }
      // Pages of 1000 records: a few raw batches per page, never a message per record.
      const batches = new Set(raw.map((m) => m.seq));
      expect(batches.size).toBeGreaterThanOrEqual(3);
      expect(batches.size).toBeLessThanOrEqual(expected.length / 100);
      await expectRawMatchesSimulator(job);

      const events = await f.collectionEvents(sourceId, 'activities');
      expect(events.map((e) => e.type)).toEqual([
        'CollectionPlanned',
        'JobDispatched',
        'TokenVerified',
        'PageCollected',
        'PageCollected',
        'PageCollected',
        'JobCompleted',
      ]);
      const pages = eventsOf(events, 'PageCollected');
      expect(pages.map((p) => p.data.pageRecords)).toEqual([1000, 1000, expected.length - 2000]);
      expect(pages.every((p) => p.data.progress.walkFrom === job.window.from)).toBe(true);
      const lastTimestamp = expected.at(-1)!.value.createdAt as string;
      expect(pages.at(-1)!.data.progress.lastTimestamp).toBe(lastTimestamp);

      const requests = f.listRequests('activities');
      expect(requests[0]!.query).toMatchObject({
        createdAt__gte: job.window.from,
        createdAt__lt: job.window.to,
        sortBy: 'createdAt',
        sortOrder: 'asc',
        limit: '1000',
      });
      const state = await f.collectionState(sourceId, 'activities');
      expect(state).toMatchObject({ status: 'Planned', backfill: { done: true }, jobs: {}, verifiedGeneration: 1, collectingGeneration: 1 });
    });
  });

  describe('when a job reaches its page budget', () => {
    it('then it completes unfinished and the continuation resumes from the cursor without fetching any page twice', async () => {
      const job = await f.dispatch(sourceId, 'activities', 'backfill');
      const first = await f.runner(activities, { settings: { maxPagesPerJob: 2 } }).run(job, ctx);
      expect(first).toMatchObject({ kind: 'completed', finished: false, pages: 2, progress: { pages: 2, records: 2000 } });
      const completed = eventsOf(await f.collectionEvents(sourceId, 'activities'), 'JobCompleted');
      expect(completed).toHaveLength(1);
      expect(completed[0]!.data.finished).toBe(false);
      expect(completed[0]!.data.progress.cursor).toEqual(expect.any(String));

      const continuation = await f.dispatch(sourceId, 'activities', 'backfill');
      expect(continuation.jobId).not.toBe(job.jobId);
      expect(continuation.resume).toEqual(completed[0]!.data.progress);
      const second = await f.runner(activities, { settings: { maxPagesPerJob: 2 } }).run(continuation, ctx);
      expect(second).toMatchObject({ kind: 'completed', finished: true, pages: 1 });

      const requests = f.listRequests('activities');
      expect(requests).toHaveLength(3);
      expect(requests[0]!.query.cursor).toBeUndefined();
      expect(requests[2]!.query.cursor).toBe(completed[0]!.data.progress.cursor);
      const queries = requests.map((r) => JSON.stringify(r.query));
      expect(new Set(queries).size).toBe(3);
      // Every page of the walk is asked with the walk's own filters.
      expect(requests.every((r) => r.query.createdAt__gte === job.window.from && r.query.createdAt__lt === job.window.to)).toBe(true);
      // The token is verified once per generation, not per job.
      expect(f.sim.admin.requests().filter((r) => r.path.endsWith('/system/info'))).toHaveLength(1);
      await expectRawMatchesSimulator(job);
    });
  });

  describe('when a job records page after page', () => {
    it('then each record reads only the events since the previous one, not the whole collection stream again', async () => {
      // The real store, counting the collection events it reads.
      let read = 0;
      const store = new (class extends MongoEventStore {
        override async readStream(...args: Parameters<MongoEventStore['readStream']>) {
          const events = await super.readStream(...args);
          if (args[0].startsWith('collection-')) read += events.length;
          return events;
        }
      })(f.db);
      const job = await f.dispatch(sourceId, 'activities', 'backfill');
      const before = (await f.collectionEvents(sourceId, 'activities')).length;
      const outcome = await f.runner(activities, { store }).run(job, ctx);
      expect(outcome).toMatchObject({ kind: 'completed', finished: true, pages: 3 });
      // The stream is read once when the job starts; its own five appends (token, three pages,
      // completion) are not read back. Re-reading the stream per append made a backfill O(pages²).
      expect((await f.collectionEvents(sourceId, 'activities')).length).toBe(before + 5);
      expect(read).toBe(before);
    });
  });

  describe('when the runner dies mid-walk and the job is delivered again', () => {
    it('then the new delivery resumes from the last recorded page and the old one stops when it wakes up', async () => {
      const job = await f.dispatch(sourceId, 'activities', 'backfill');
      let release: () => void = () => undefined;
      const released = new Promise<void>((resolve) => (release = resolve));
      let published = 0;
      // The first runner "hangs" while publishing its second page, like a process stopped mid-walk.
      const hanging = (inner: RawPublisher): RawPublisher => ({
        async publish(...args) {
          published += args[1].length;
          if (published > 1000) await released;
          return inner.publish(...args);
        },
      });
      const stuck = f.runner(activities, { wrapPublisher: hanging }).run(job, ctx);
      const firstPage = await waitForPages(f, sourceId, 1);
      // Pages 1 and 2, and page 3 asked for ahead while page 2 is being published.
      await waitUntil(() => f.listRequests('activities').length >= 3);

      const redelivered = await f.runner(activities).run(job, ctx);
      expect(redelivered).toMatchObject({ kind: 'completed', finished: true, pages: 2 });
      const requests = f.listRequests('activities');
      expect(requests[3]!.query.cursor).toBe(firstPage.cursor);

      release();
      expect(await stuck).toMatchObject({ kind: 'superseded' });
      const events = await f.collectionEvents(sourceId, 'activities');
      expect(eventsOf(events, 'PageCollected')).toHaveLength(3);
      expect(eventsOf(events, 'JobFailed')).toHaveLength(0);
      // The old runner's late publishes of page 2 were dropped as duplicates.
      await expectRawMatchesSimulator(job);
    });

    it('then a failed publish is recorded as FirstPartyGeneric and the next job resumes from the last recorded page', async () => {
      const job = await f.dispatch(sourceId, 'activities', 'backfill');
      let published = 0;
      const breaking = (inner: RawPublisher): RawPublisher => ({
        async publish(...args) {
          published += args[1].length;
          if (published > 1000) throw new Error('nats: timeout');
          return inner.publish(...args);
        },
      });
      const outcome = await f.runner(activities, { wrapPublisher: breaking }).run(job, ctx);
      expect(outcome).toMatchObject({ kind: 'failed', errorType: 'FirstPartyGeneric' });
      const events = await f.collectionEvents(sourceId, 'activities');
      const failed = eventsOf(events, 'JobFailed')[0]!;
      expect(failed.data).toMatchObject({ errorType: 'FirstPartyGeneric', attempt: 1, retryAt: shiftMicroIso(failed.data.at, 3750) });
      expect(failed.data.reason).toContain('nats: timeout');
      expect(eventsOf(events, 'HealthEventRaised')[0]!.data).toMatchObject({ eventName: 'FirstPartyGenericError', severity: 'Error' });
      const recorded = eventsOf(events, 'PageCollected');
      expect(recorded).toHaveLength(1);

      f.sim.admin.advanceClock(4_000);
      const next = await f.dispatch(sourceId, 'activities', 'backfill');
      expect(next.resume).toEqual(recorded[0]!.data.progress);
      expect(await f.runner(activities).run(next, ctx)).toMatchObject({ kind: 'completed', finished: true, pages: 2 });
      const requests = f.listRequests('activities');
      expect(requests.at(-2)!.query.cursor).toBe(recorded[0]!.data.progress.cursor);
      const after = await f.collectionEvents(sourceId, 'activities');
      expect(eventsOf(after, 'HealthEventResolved')).toHaveLength(1);
      await expectRawMatchesSimulator(job);
    });
  });

  describe('when the cursor expired between two jobs', () => {
    it('then the walk restarts from the last timestamp collected and no record is lost', async () => {
      f.sim.admin.setCursorTtl(60_000);
      const job = await f.dispatch(sourceId, 'activities', 'backfill');
      const first = await f.runner(activities, { settings: { maxPagesPerJob: 1 } }).run(job, ctx);
      expect(first).toMatchObject({ kind: 'completed', finished: false });
      const progress = (first as { progress: Progress }).progress;

      f.sim.admin.advanceClock(120_000);
      const next = await f.dispatch(sourceId, 'activities', 'backfill');
      const second = await f.runner(activities).run(next, ctx);
      expect(second).toMatchObject({ kind: 'completed', finished: true });

      const requests = f.listRequests('activities');
      expect(requests[1]).toMatchObject({ status: 400, query: { cursor: progress.cursor } });
      expect(requests[2]!.status).toBe(200);
      expect(requests[2]!.query.cursor).toBeUndefined();
      expect(requests[2]!.query.createdAt__gte).toBe(progress.lastTimestamp);
      expect(requests[2]!.query.createdAt__lt).toBe(job.window.to);
      const pages = eventsOf(await f.collectionEvents(sourceId, 'activities'), 'PageCollected');
      expect(pages.at(-1)!.data.progress.walkFrom).toBe(progress.lastTimestamp);
      // The new walk starts at the last timestamp collected: the records of that instant come again.
      const atRestart = new Set(
        (await expectedRecords(job)).filter((r) => r.value.createdAt === progress.lastTimestamp).map((r) => `${sourceId}:activities:${r.value.id as string}`),
      );
      expect(atRestart.size).toBeGreaterThan(0);
      await expectRawMatchesSimulator(job, (id) => atRestart.has(id));
    });
  });

  describe('when SentinelOne refuses the token (401)', () => {
    it('then the job fails as ThirdPartyConfig without a retry time and raises an Error health event', async () => {
      f.sim.admin.revokeToken('console');
      const job = await f.dispatch(sourceId, 'activities', 'backfill');
      const outcome = await f.runner(activities).run(job, ctx);
      expect(outcome).toMatchObject({ kind: 'failed', errorType: 'ThirdPartyConfig', retryAt: null });

      const events = await f.collectionEvents(sourceId, 'activities');
      expect(eventsOf(events, 'JobFailed')[0]!.data).toMatchObject({ errorType: 'ThirdPartyConfig', retryAt: null, attempt: 1 });
      expect(eventsOf(events, 'JobFailed')[0]!.data.reason).toContain('401');
      expect(eventsOf(events, 'HealthEventRaised')[0]!.data).toMatchObject({
        severity: 'Error',
        errorType: 'ThirdPartyConfig',
        eventName: 'ThirdPartyConfigError',
        retry: { retrying: false },
      });
      expect(eventsOf(events, 'TokenVerified')).toHaveLength(0);
      expect(await f.collectionState(sourceId, 'activities')).toMatchObject({ failure: { retryAt: null }, jobs: {} });
      expect(await f.rawRecords('activities', sourceId)).toHaveLength(0);
    });
  });

  describe('when SentinelOne fails with 503', () => {
    it('then the job fails as ThirdPartyGeneric with a retry time that backs off, and the next success resolves it', async () => {
      f.sim.admin.addFault({ kind: 'status', status: 503, count: 2, path: ACTIVITIES_PATH });
      const first = await f.runner(activities).run(await f.dispatch(sourceId, 'activities', 'backfill'), ctx);
      expect(first).toMatchObject({ kind: 'failed', errorType: 'ThirdPartyGeneric' });
      let failures = eventsOf(await f.collectionEvents(sourceId, 'activities'), 'JobFailed');
      // 5 s doubling, equal jitter with random 0.5: 3.75 s, then 7.5 s.
      expect(failures[0]!.data.retryAt).toBe(shiftMicroIso(failures[0]!.data.at, 3_750));
      expect(failures[0]!.data.reason).toContain('503');

      await expect(f.dispatch(sourceId, 'activities', 'backfill')).rejects.toThrow(/not due/);
      f.sim.admin.advanceClock(4_000);
      const second = await f.runner(activities).run(await f.dispatch(sourceId, 'activities', 'backfill'), ctx);
      expect(second).toMatchObject({ kind: 'failed', errorType: 'ThirdPartyGeneric' });
      failures = eventsOf(await f.collectionEvents(sourceId, 'activities'), 'JobFailed');
      expect(failures[1]!.data).toMatchObject({ attempt: 2, retryAt: shiftMicroIso(failures[1]!.data.at, 7_500) });

      const events = await f.collectionEvents(sourceId, 'activities');
      const raised = eventsOf(events, 'HealthEventRaised');
      expect(raised).toHaveLength(2);
      // One health event per streak: the second failure is another occurrence of the first.
      expect(raised[1]!.data.healthEventId).toBe(raised[0]!.data.healthEventId);
      expect(raised[1]!.data).toMatchObject({ eventName: 'ThirdPartyGenericError', retry: { retrying: true, nextAttemptAt: failures[1]!.data.retryAt } });

      f.sim.admin.advanceClock(8_000);
      const third = await f.runner(activities).run(await f.dispatch(sourceId, 'activities', 'backfill'), ctx);
      expect(third).toMatchObject({ kind: 'completed', finished: true });
      const resolved = eventsOf(await f.collectionEvents(sourceId, 'activities'), 'HealthEventResolved');
      expect(resolved.map((e) => e.data.healthEventId)).toContain(raised[0]!.data.healthEventId);
    });
  });

  describe('when SentinelOne rate-limits a burst (429)', () => {
    it('then the page is marked rate limited with a Warning, resolved by the next page, and the data is complete', async () => {
      f.sim.admin.addFault({ kind: 'status', status: 429, count: 2, retryAfterSeconds: 1, path: ACTIVITIES_PATH });
      const job = await f.dispatch(sourceId, 'activities', 'backfill');
      const outcome = await f.runner(activities).run(job, ctx);
      expect(outcome).toMatchObject({ kind: 'completed', finished: true });

      const events = await f.collectionEvents(sourceId, 'activities');
      const pages = eventsOf(events, 'PageCollected');
      expect(pages.map((p) => p.data.rateLimited)).toEqual([true, false, false]);
      const warning = eventsOf(events, 'HealthEventRaised');
      expect(warning).toHaveLength(1);
      expect(warning[0]!.data).toMatchObject({ severity: 'Warning', errorType: 'RateLimited' });
      expect(eventsOf(events, 'HealthEventResolved').map((e) => e.data.healthEventId)).toEqual([warning[0]!.data.healthEventId]);
      expect(f.listRequests('activities').filter((r) => r.status === 429)).toHaveLength(2);
      await expectRawMatchesSimulator(job);
    });
  });

  describe('when SentinelOne sends a broken page', () => {
    it('then nothing of it is published and the job fails as ThirdPartyGeneric, to be retried', async () => {
      f.sim.admin.addFault({ kind: 'truncate', count: 1, path: ACTIVITIES_PATH });
      const job = await f.dispatch(sourceId, 'activities', 'backfill');
      expect(await f.runner(activities).run(job, ctx)).toMatchObject({ kind: 'failed', errorType: 'ThirdPartyGeneric', retryAt: expect.any(String) });
      expect(await f.rawRecords('activities', sourceId)).toHaveLength(0);
      expect(eventsOf(await f.collectionEvents(sourceId, 'activities'), 'PageCollected')).toHaveLength(0);
    });
  });

  describe('when the source was updated after the job was dispatched', () => {
    it('then the job of the old generation is dropped as stale', async () => {
      const job = await f.dispatch(sourceId, 'activities', 'backfill');
      await f.sourceCommand(sourceId, () => ({ type: 'RestartSource', data: { sourceId }, metadata: { now: f.clock() } }));
      expect(await f.runner(activities).run(job, ctx)).toMatchObject({ kind: 'stale', reason: 'the source is at generation 2' });
      expect(f.sim.admin.requests()).toHaveLength(0);
    });
  });

  describe('when a job is no longer in flight', () => {
    it('then it is dropped without a single request to SentinelOne', async () => {
      const job = await f.dispatch(sourceId, 'activities', 'backfill');
      expect(await f.runner(activities).run(job, ctx)).toMatchObject({ kind: 'completed', finished: true });
      const before = await f.collectionEvents(sourceId, 'activities');
      f.sim.admin.clearRequests();

      expect(await f.runner(activities).run(job, ctx)).toMatchObject({ kind: 'stale' });
      expect(f.sim.admin.requests()).toHaveLength(0);
      expect(await f.collectionEvents(sourceId, 'activities')).toHaveLength(before.length);
    });
  });

  describe('when the source is being deleted', () => {
    it('then its job is abandoned without calling SentinelOne', async () => {
      const job = await f.dispatch(sourceId, 'activities', 'backfill');
      await f.sourceCommand(sourceId, () => ({ type: 'DeleteSource', data: { sourceId }, metadata: { now: f.clock() } }));
      expect(await f.runner(activities).run(job, ctx)).toMatchObject({ kind: 'abandoned', reason: 'source is stopping' });
      const events = await f.collectionEvents(sourceId, 'activities');
      expect(eventsOf(events, 'JobAbandoned')[0]!.data).toMatchObject({ jobId: job.jobId, reason: 'source is stopping' });
      expect(f.sim.admin.requests()).toHaveLength(0);
      expect(await f.collectionState(sourceId, 'activities')).toMatchObject({ jobs: {} });
    });
  });

  describe('when MongoDB cannot take even the failure', () => {
    it('then the job is thrown back for redelivery (RetryableError)', async () => {
      const job = await f.dispatch(sourceId, 'activities', 'backfill');
      const mongo = await MongoClient.connect(serverUrls().mongoUrl);
      const store = new MongoEventStore(mongo.db(f.dbName));
      // NATS and MongoDB go away together in the middle of a page.
      const runner = f.runner(activities, {
        store,
        wrapPublisher: () => ({
          publish: async () => {
            await mongo.close(true);
            throw new Error('nats: connection closed');
          },
        }),
      });
      const error = await runner.run(job, ctx).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(RetryableError);
      // Nothing was recorded: the redelivered job starts where it was.
      const state = await f.collectionState(sourceId, 'activities');
      expect(state).toMatchObject({ jobs: { backfill: { jobId: job.jobId, progress: job.resume } }, failure: null });
    });

    it('then the redelivered job records that failure once MongoDB is back: a FirstPartyGeneric health event, and the job retried', async () => {
      const job = await f.dispatch(sourceId, 'activities', 'backfill');
      // MongoDB refuses the first FailJob's write, then works again.
      let refuse = true;
      const store = new Proxy(f.store, {
        get(target, key, receiver) {
          if (key === 'appendToStream') {
            return async (streamId: string, events: Array<{ type: string }>, ...rest: unknown[]) => {
              if (refuse && events.some((e) => e.type === 'JobFailed')) {
                refuse = false;
                throw new Error('connect ECONNREFUSED (MongoDB is down)');
              }
              return (target.appendToStream as (...a: unknown[]) => unknown).call(target, streamId, events, ...rest);
            };
          }
          const value = Reflect.get(target, key, receiver) as unknown;
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
      const runner = f.runner(activities, {
        store,
        wrapPublisher: () => ({
          publish: async () => {
            throw new Error('nats: connection closed');
          },
        }),
      });
      await expect(runner.run(job, ctx)).rejects.toBeInstanceOf(RetryableError);
      // The first page, and maybe the second, asked for ahead while the first was being published
      // (cut off when the job ended): let it settle, then the redelivery must ask for nothing.
      await new Promise((resolve) => setTimeout(resolve, 200));
      const requested = f.sim.admin.requests().filter((r) => r.path === ACTIVITIES_PATH).length;
      expect(requested).toBeLessThanOrEqual(2);
      expect(eventsOf(await f.collectionEvents(sourceId, 'activities'), 'JobFailed')).toHaveLength(0);

      // The redelivery: MongoDB is back.
      const outcome = await runner.run(job, ctx);
      expect(outcome).toMatchObject({ kind: 'failed', errorType: 'FirstPartyGeneric' });
      const events = await f.collectionEvents(sourceId, 'activities');
      expect(eventsOf(events, 'JobFailed')[0]!.data).toMatchObject({ jobId: job.jobId, errorType: 'FirstPartyGeneric' });
      expect(eventsOf(events, 'HealthEventRaised')[0]!.data).toMatchObject({ eventName: 'FirstPartyGenericError' });
      expect(f.sim.admin.requests().filter((r) => r.path === ACTIVITIES_PATH)).toHaveLength(requested);
    });
  });

  describe('wherever the token could leak', () => {
    it('then it appears in no raw record, no log line and no event', async () => {
      const job = await f.dispatch(sourceId, 'activities', 'backfill');
      await f.runner(activities, { settings: { maxPagesPerJob: 1 } }).run(job, ctx);
      f.sim.admin.revokeToken('console');
      await f.runner(activities).run(await f.dispatch(sourceId, 'activities', 'backfill'), ctx);

      const raw = await f.rawRecords('activities', sourceId);
      expect(raw.length).toBe(1000);
      expect(JSON.stringify(raw)).not.toContain(f.token);
      expect(f.logText().length).toBeGreaterThan(0);
      expect(f.logText()).not.toContain(f.token);
      const documents = await f.db.collection('events').find({}).toArray();
      expect(JSON.stringify(documents)).not.toContain(f.token);
    });
  });
});

async function waitForPages(f: FetcherFixture, sourceId: string, count: number): Promise<Progress> {
  for (let i = 0; i < 400; i++) {
    const pages = eventsOf(await f.collectionEvents(sourceId, 'activities'), 'PageCollected');
    if (pages.length >= count) return pages[count - 1]!.data.progress;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no ${count} pages recorded`);
}

async function waitUntil(check: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  if (!check()) throw new Error('condition not met');
}
