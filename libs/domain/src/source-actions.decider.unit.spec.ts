import type { PlannedCollection } from './collection.state';
import { collectionStreamId } from './collection.types';
import { sourceStreamId } from './source.decider';
import type { SourceApi } from './source.types';
import { beforeEach, describe, expect, it } from 'vitest';
import { decideSourceActions, type DriveSettings, type SchedulerAction } from './source-actions.decider';
import { MemoryLog, sourceConfig } from './testing/memory.log';

const MINUTE = 60_000;
const SETTINGS: DriveSettings = {
  backfillMs: 24 * 60 * MINUTE,
  pollIntervalMs: 5 * MINUTE,
  overlapMs: 2 * MINUTE,
  snapshotIntervalMs: 24 * 60 * MINUTE,
  stallTimeoutMs: 15 * MINUTE,
};
const STALL = SETTINGS.stallTimeoutMs;
const ID = '5b0c1d2e-aaaa-bbbb-cccc-0123456789ab';
const T0 = new Date('2026-03-01T12:00:00.000Z');

let now: Date;
let log: MemoryLog;

function advance(ms: number): void {
  now = new Date(now.getTime() + ms);
}
function actions(sourceId = ID): SchedulerAction[] {
  return decideSourceActions(log.state.source(sourceId)!, log.state.collections(sourceId), now, SETTINGS);
}
/** Decides and executes one tick; returns what it did, as `Command[api]:lane` labels. */
function tick(sourceId = ID): string[] {
  const decided = actions(sourceId);
  log.run(decided);
  return decided.map(label);
}
function label(action: SchedulerAction): string {
  if (action.stream === 'source') return action.command.type;
  const lane = action.command.type === 'DispatchJob' ? `:${action.command.data.lane}` : '';
  return `${action.command.type}[${action.api}]${lane}`;
}
function status(sourceId = ID): string {
  return log.state.source(sourceId)!.state.status;
}
function collection(api: SourceApi, sourceId = ID): PlannedCollection {
  const state = log.state.collection(sourceId, api)!.state;
  if (state.status !== 'Planned') throw new Error(`${api} is not planned`);
  return state;
}
function job(api: SourceApi, lane: 'backfill' | 'live' | 'snapshot' | 'replay', sourceId = ID) {
  return collection(api, sourceId).jobs[lane];
}
/** Plays a fetcher: verifies the token, collects a page, and optionally ends the job. */
function fetcher(api: SourceApi, lane: 'backfill' | 'live' | 'snapshot', outcome: 'page' | 'finished' | 'unfinished' | 'verify') {
  const jobId = job(api, lane)!.jobId;
  const progress = { cursor: 'c1', walkFrom: '2026-02-28T12:00:00.000000Z', lastTimestamp: '2026-02-28T13:00:00.000000Z', records: 10, pages: 1 };
  log.collection(ID, api, (n) => ({ type: 'RecordTokenVerified', data: { jobId }, metadata: { now: n } }));
  if (outcome === 'verify') return;
  log.collection(ID, api, (n) => ({ type: 'RecordPage', data: { jobId, progress, pageRecords: 10, rateLimited: false }, metadata: { now: n } }));
  if (outcome === 'page') return;
  log.collection(ID, api, (n) => ({ type: 'CompleteJob', data: { jobId, finished: outcome === 'finished', progress }, metadata: { now: n } }));
}
function failJob(api: SourceApi, lane: 'backfill' | 'live' | 'snapshot', errorType: 'ThirdPartyConfig' | 'ThirdPartyGeneric') {
  const jobId = job(api, lane)!.jobId;
  log.collection(ID, api, (n) => ({ type: 'FailJob', data: { jobId, errorType, reason: 'HTTP 401 from SentinelOne', random: 0.5 }, metadata: { now: n } }));
}

beforeEach(() => {
  now = T0;
  log = new MemoryLog(() => now);
});

describe('decideSourceActions', () => {
  describe('given a new source (Pending)', () => {
    beforeEach(() => log.create(ID));

    it('starts it, plans every API, initializes it and dispatches the due lanes, each at the version it will be appended at', () => {
      const decided = actions();
      expect(decided.map(label)).toEqual([
        'StartCollection',
        'PlanCollection[activities]',
        'PlanCollection[agents]',
        'PlanCollection[threats]',
        'InitializeCollection',
        'DispatchJob[activities]:backfill',
        'DispatchJob[agents]:snapshot',
        'DispatchJob[threats]:backfill',
      ]);
      expect(decided.map((a) => a.expectedVersion)).toEqual([1, 0, 0, 0, 2, 1, 1, 1]);
      const jobIds = decided.flatMap((a) => (a.command.type === 'DispatchJob' ? [a.command.data.jobId] : []));
      expect(jobIds).toEqual([`${ID}:activities:backfill:2`, `${ID}:agents:snapshot:2`, `${ID}:threats:backfill:2`]);
    });

    it('walks Pending -> Started -> Initialized in the log, with the backfill window [now - backfill, now)', () => {
      tick();
      expect(log.typesOf(sourceStreamId(ID))).toEqual(['SourceCreated', 'CollectionStarted', 'CollectionInitialized']);
      expect(status()).toBe('Initialized');
      const window = { from: '2026-02-28T12:00:00.000000Z', to: '2026-03-01T12:00:00.000000Z' };
      expect(collection('activities').backfill?.window).toEqual(window);
      expect(collection('threats').backfill?.window).toEqual(window);
      expect(collection('agents').backfill).toBeNull();
      expect(job('activities', 'backfill')?.window).toEqual(window);
      expect(job('agents', 'snapshot')?.window).toEqual({ from: '1970-01-01T00:00:00.000000Z', to: '2026-03-01T12:00:00.000000Z' });
    });

    it('dispatches nothing more while every due lane is busy', () => {
      tick();
      advance(MINUTE);
      expect(actions()).toEqual([]);
    });

    it('dispatches the live lanes once the poll interval has passed, reaching back by the overlap', () => {
      tick();
      advance(5 * MINUTE);
      expect(tick()).toEqual(['DispatchJob[activities]:live', 'DispatchJob[agents]:live', 'DispatchJob[threats]:live']);
      expect(job('activities', 'live')).toMatchObject({
        jobId: `${ID}:activities:live:3`,
        window: { from: '2026-03-01T11:58:00.000000Z', to: '2026-03-01T12:05:00.000000Z' },
      });
    });

    it('resumes from the checkpoint: the next live window starts an overlap before the last one ended', () => {
      tick();
      advance(5 * MINUTE);
      tick();
      fetcher('activities', 'live', 'finished');
      expect(tick()).toEqual(['MarkSourceAuthenticated', 'BeginCollection']);
      advance(4 * MINUTE);
      expect(actions()).toEqual([]);
      advance(MINUTE);
      expect(tick()).toEqual(['DispatchJob[activities]:live']);
      expect(job('activities', 'live')?.window).toEqual({ from: '2026-03-01T12:03:00.000000Z', to: '2026-03-01T12:10:00.000000Z' });
    });
  });

  describe('given a source being collected', () => {
    beforeEach(() => {
      log.create(ID);
      tick();
    });

    it('marks it Authenticated when a collection of this generation verified the token', () => {
      fetcher('activities', 'backfill', 'verify');
      expect(tick()).toEqual(['MarkSourceAuthenticated']);
      expect(status()).toBe('Authenticated');
    });

    it('moves it on to Collecting at the first page', () => {
      fetcher('activities', 'backfill', 'page');
      expect(tick()).toEqual(['MarkSourceAuthenticated', 'BeginCollection']);
      expect(status()).toBe('Collecting');
    });

    it('dispatches the continuation of a job that stopped at its page budget, resuming its progress', () => {
      fetcher('threats', 'backfill', 'unfinished');
      expect(tick()).toEqual(['MarkSourceAuthenticated', 'BeginCollection', 'DispatchJob[threats]:backfill']);
      expect(job('threats', 'backfill')).toMatchObject({ jobId: `${ID}:threats:backfill:6`, progress: { cursor: 'c1', pages: 1 } });
    });

    it('never dispatches a finished backfill again', () => {
      fetcher('activities', 'backfill', 'finished');
      tick();
      advance(60 * MINUTE);
      const lanes = tick();
      expect(lanes).not.toContain('DispatchJob[activities]:backfill');
      expect(lanes).toContain('DispatchJob[activities]:live');
    });

    it('abandons a job with no progress for the stall timeout and dispatches its lane again', () => {
      advance(STALL - 1);
      expect(actions().map(label)).not.toContain('AbandonJob[activities]');
      advance(1);
      const decided = actions().filter((a) => a.stream === 'collection' && a.api === 'activities');
      expect(decided.map(label)).toEqual(['AbandonJob[activities]', 'DispatchJob[activities]:backfill', 'DispatchJob[activities]:live']);
      // The dispatches are not appended by the scheduler: both are decided on the version after the abandonment.
      expect(decided.map((a) => a.expectedVersion)).toEqual([2, 3, 3]);
      expect(decided.flatMap((a) => (a.command.type === 'DispatchJob' ? [a.command.data.jobId] : []))).toEqual([
        `${ID}:activities:backfill:4`,
        `${ID}:activities:live:4`,
      ]);
      log.run(actions());
      expect(job('activities', 'backfill')?.jobId).toBe(`${ID}:activities:backfill:4`);
      expect(log.typesOf(collectionStreamId(ID, 'activities'))).toContain('JobAbandoned');
    });

    it('fails the source with the failure of a collection that gave up, and then does nothing', () => {
      failJob('threats', 'backfill', 'ThirdPartyConfig');
      expect(tick()).toEqual(['FailSource']);
      const source = log.state.source(ID)!.state;
      expect(source).toMatchObject({ status: 'Error', failure: { errorType: 'ThirdPartyConfig', reason: 'HTTP 401 from SentinelOne', api: 'threats' } });
      advance(24 * 60 * MINUTE);
      expect(actions()).toEqual([]);
    });

    it('waits for a failure streak`s retryAt before dispatching that collection again', () => {
      failJob('threats', 'backfill', 'ThirdPartyGeneric');
      const retryAt = collection('threats').failure!.retryAt!;
      expect(actions()).toEqual([]);
      now = new Date(Date.parse(retryAt) - 1);
      expect(actions()).toEqual([]);
      now = new Date(Date.parse(retryAt));
      expect(tick()).toEqual(['DispatchJob[threats]:backfill']);
    });

    it('re-plans a new generation after an update without losing checkpoints', () => {
      fetcher('activities', 'backfill', 'finished');
      advance(5 * MINUTE);
      tick();
      fetcher('activities', 'live', 'finished');
      const checkpoint = collection('activities').live.checkpoint;
      advance(MINUTE);
      log.source(ID, (n) => ({ type: 'UpdateSource', data: { sourceId: ID, config: sourceConfig({ name: 'Renamed' }) }, metadata: { now: n } }));
      expect(status()).toBe('Pending');
      expect(tick()).toEqual([
        'StartCollection',
        'PlanCollection[activities]',
        'PlanCollection[agents]',
        'PlanCollection[threats]',
        'InitializeCollection',
        // Windows left unfinished by the old generation's jobs are taken up again.
        'DispatchJob[agents]:live',
        'DispatchJob[agents]:snapshot',
        'DispatchJob[threats]:backfill',
        'DispatchJob[threats]:live',
      ]);
      expect(log.state.source(ID)!.state).toMatchObject({ status: 'Initialized', generation: 2 });
      expect(collection('activities')).toMatchObject({ generation: 2, live: { checkpoint }, backfill: { done: true } });
      expect(job('threats', 'backfill')?.window).toEqual({ from: '2026-02-28T12:00:00.000000Z', to: '2026-03-01T12:00:00.000000Z' });
    });

    it('starts the checkpoints over when base_url changes', () => {
      advance(MINUTE);
      log.source(ID, (n) => ({ type: 'UpdateSource', data: { sourceId: ID, config: sourceConfig({ baseUrl: 'https://other.sentinelone.net' }) }, metadata: { now: n } }));
      tick();
      expect(collection('activities').backfill?.window).toEqual({ from: '2026-02-28T12:01:00.000000Z', to: '2026-03-01T12:01:00.000000Z' });
      expect(collection('activities').live.checkpoint).toBe('2026-03-01T12:01:00.000000Z');
    });

    it('collects again after an Error once the source is restarted', () => {
      failJob('threats', 'backfill', 'ThirdPartyConfig');
      tick();
      log.source(ID, (n) => ({ type: 'RestartSource', data: { sourceId: ID }, metadata: { now: n } }));
      expect(tick()).toContain('DispatchJob[threats]:backfill');
      expect(log.state.source(ID)!.state).toMatchObject({ status: 'Initialized', generation: 2 });
    });

    it('plans only the APIs still unplanned when it resumes a half-done start', () => {
      log.source(ID, (n) => ({ type: 'RestartSource', data: { sourceId: ID }, metadata: { now: n } }));
      log.source(ID, (n) => ({ type: 'StartCollection', data: { sourceId: ID, generation: 2 }, metadata: { now: n } }));
      log.collection(ID, 'agents', (n) => ({
        type: 'PlanCollection',
        data: { sourceId: ID, api: 'agents', generation: 2, baseUrl: sourceConfig().baseUrl, backfillMs: SETTINGS.backfillMs },
        metadata: { now: n },
      }));
      expect(actions().map(label).slice(0, 3)).toEqual(['PlanCollection[activities]', 'PlanCollection[threats]', 'InitializeCollection']);
    });
  });

  describe('given a source being deleted (Stopping)', () => {
    beforeEach(() => {
      log.create(ID);
      tick();
    });
    const remove = () => log.source(ID, (n) => ({ type: 'DeleteSource', data: { sourceId: ID }, metadata: { now: n } }));

    it('dispatches nothing and waits while jobs are in flight', () => {
      remove();
      advance(STALL - 1);
      expect(actions()).toEqual([]);
    });

    it('completes the deletion once the last job ends', () => {
      fetcher('activities', 'backfill', 'finished');
      fetcher('threats', 'backfill', 'finished');
      remove();
      expect(actions()).toEqual([]);
      log.collection(ID, 'agents', (n) => ({ type: 'AbandonJob', data: { jobId: job('agents', 'snapshot')!.jobId, reason: 'source is Stopping' }, metadata: { now: n } }));
      expect(tick()).toEqual(['CompleteSourceDeletion']);
      expect(status()).toBe('Deleted');
      expect(actions()).toEqual([]);
    });

    it('abandons jobs that stalled, then completes the deletion', () => {
      remove();
      advance(STALL);
      expect(tick()).toEqual(['AbandonJob[activities]', 'AbandonJob[agents]', 'AbandonJob[threats]', 'CompleteSourceDeletion']);
    });

    it('also waits for a job of an API that an update removed', () => {
      advance(MINUTE);
      log.source(ID, (n) => ({ type: 'UpdateSource', data: { sourceId: ID, config: sourceConfig({ supportedApis: ['activities'] }) }, metadata: { now: n } }));
      tick();
      fetcher('activities', 'backfill', 'finished');
      remove();
      expect(actions()).toEqual([]);
      advance(STALL - MINUTE);
      expect(tick()).toEqual(['AbandonJob[agents]', 'AbandonJob[threats]', 'CompleteSourceDeletion']);
    });

    it('completes at once when nothing is in flight', () => {
      for (const api of ['activities', 'threats'] as const) fetcher(api, 'backfill', 'finished');
      fetcher('agents', 'snapshot', 'finished');
      remove();
      expect(tick()).toEqual(['CompleteSourceDeletion']);
    });
  });

  it('does nothing for a source that does not exist', () => {
    expect(decideSourceActions({ state: { status: 'Nonexistent' }, version: 0 }, new Map(), now, SETTINGS)).toEqual([]);
  });

  it('collects only the supported APIs', () => {
    log.create(ID, sourceConfig({ supportedApis: ['agents'] }));
    expect(tick()).toEqual(['StartCollection', 'PlanCollection[agents]', 'InitializeCollection', 'DispatchJob[agents]:snapshot']);
  });

  describe('given a source with its own options (config.options)', () => {
    beforeEach(() =>
      log.create(
        ID,
        sourceConfig({ options: { pollIntervalMs: MINUTE, backfillMs: 60 * MINUTE, apis: { threats: { pollIntervalMs: 30 * MINUTE, backfillMs: 7 * 24 * 60 * MINUTE } } } }),
      ),
    );

    it('backfills each API as far as its own or the source\'s backfill says', () => {
      tick();
      expect(collection('activities').backfill?.window).toEqual({ from: '2026-03-01T11:00:00.000000Z', to: '2026-03-01T12:00:00.000000Z' });
      expect(collection('threats').backfill?.window).toEqual({ from: '2026-02-22T12:00:00.000000Z', to: '2026-03-01T12:00:00.000000Z' });
    });

    it("polls each API at its own or the source's interval, not the process's", () => {
      tick();
      advance(MINUTE);
      expect(tick()).toEqual(['DispatchJob[activities]:live', 'DispatchJob[agents]:live']);
      advance(29 * MINUTE);
      expect(tick()).toContain('DispatchJob[threats]:live');
    });

    it('has no backfill with backfill 0s', () => {
      log = new MemoryLog(() => now);
      log.create(ID, sourceConfig({ options: { backfillMs: 0 } }));
      tick();
      expect(collection('activities').backfill).toBeNull();
      expect(collection('threats').backfill).toBeNull();
    });
  });
});
