import { DEAD_LETTER_HEADERS, publishJson, STREAMS, subjects } from '@s1c/messaging';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defineApiSpec } from './api-spec';
import { fetcherDurable, startFetcher, type FetcherRuntime } from './fetcher.app';
import { eventsOf, eventually, startFetcherFixture, type FetcherFixture } from './testing';

const activities = defineApiSpec({ api: 'activities', timeField: 'createdAt', timestampPath: ['createdAt'], versioned: false });

describe('startFetcher: the fetch-jobs consumer on S1C_JOBS', () => {
  let f: FetcherFixture;
  let fetcher: FetcherRuntime | undefined;

  beforeEach(async () => {
    f = await startFetcherFixture();
  });
  afterEach(async () => {
    await fetcher?.close();
    fetcher = undefined;
    await f.close();
  });

  const start = async (env: Record<string, string> = {}) => {
    fetcher = await startFetcher(activities, f.config(env), { logger: f.logger, clock: f.clock, random: () => 0.5 });
    return fetcher;
  };

  const consumerInfo = async () => (await f.nc.jetstreamManager()).consumers.info(STREAMS.jobs.name, fetcherDurable(activities));

  describe('when the scheduler publishes a job and then its continuation', () => {
    it('then the fetcher walks the window across both jobs, records them, and acks each', async () => {
      await start({ S1C_MAX_PAGES_PER_JOB: '2' });
      const sourceId = await f.createSource(['activities']);
      await f.plan(sourceId, 'activities');
      const job = await f.dispatch(sourceId, 'activities', 'backfill');
      await f.publishJob(job);
      await eventually(async () => eventsOf(await f.collectionEvents(sourceId, 'activities'), 'JobCompleted').length === 1, 20_000, 'first job');

      const continuation = await f.dispatch(sourceId, 'activities', 'backfill');
      await f.publishJob(continuation);
      const completed = await eventually(async () => {
        const done = eventsOf(await f.collectionEvents(sourceId, 'activities'), 'JobCompleted');
        return done.length === 2 && done;
      }, 20_000, 'continuation');
      expect(completed.map((e) => e.data.finished)).toEqual([false, true]);

      const expected = await f.simulatorRecords('activities', { createdAt__gte: job.window.from, createdAt__lt: job.window.to });
      const raw = await f.rawRecords('activities', sourceId);
      expect(raw.map((m) => m.recordId).sort()).toEqual(expected.map((r) => `${sourceId}:activities:${r.value.id as string}`).sort());
      await eventually(async () => {
        const info = await consumerInfo();
        return info.num_pending === 0 && info.num_ack_pending === 0;
      }, 10_000, 'jobs acked');
      const info = await consumerInfo();
      expect(info.config).toMatchObject({ filter_subject: subjects.job('activities'), max_deliver: 11 });
    });
  });

  describe('when a job message is not a valid job', () => {
    it('then it is dead-lettered at once', async () => {
      await start();
      const js = f.nc.jetstream();
      await publishJson(js, subjects.job('activities'), { jobId: 'broken' }, { msgId: `broken-${Date.now()}` });
      const jsm = await f.nc.jetstreamManager();
      const letter = await eventually(
        () => jsm.streams.getMessage(STREAMS.deadLetters.name, { last_by_subj: subjects.deadLetter(STREAMS.jobs.name, fetcherDurable(activities)) }),
        10_000,
        'dead letter',
      );
      expect(letter.header.get(DEAD_LETTER_HEADERS.reason)).toBe('PoisonMessage');
      expect(letter.header.get(DEAD_LETTER_HEADERS.error)).toContain('invalid fetch job');
    });
  });

  describe('when the fetcher stops in the middle of a job', () => {
    it('then the job is handed over unfinished at the next page and acked', async () => {
      f.sim.admin.addFault({ kind: 'latency', latencyMs: 400, count: 100, path: '/web/api/v2.1/activities' });
      await start();
      const sourceId = await f.createSource(['activities']);
      await f.plan(sourceId, 'activities');
      const job = await f.dispatch(sourceId, 'activities', 'backfill');
      await f.publishJob(job);
      await eventually(async () => eventsOf(await f.collectionEvents(sourceId, 'activities'), 'PageCollected').length >= 1, 20_000, 'a page');

      await fetcher!.close();
      fetcher = undefined;
      const events = await f.collectionEvents(sourceId, 'activities');
      const completed = eventsOf(events, 'JobCompleted');
      expect(completed).toHaveLength(1);
      expect(completed[0]!.data.finished).toBe(false);
      expect(completed[0]!.data.progress).toEqual(eventsOf(events, 'PageCollected').at(-1)!.data.progress);
      const info = await consumerInfo();
      expect(info.num_pending + info.num_ack_pending).toBe(0);
      expect(f.logText()).not.toContain(f.token);
    });
  });
});
