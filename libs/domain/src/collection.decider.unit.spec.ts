import { describe, expect, it } from 'vitest';
import type { AbandonJob, CollectionCommand, CompleteJob, DispatchJob, FailJob, PlanCollection, RecordPage, RecordTokenVerified, RequestReplay } from './collection.commands';
import { collectionDecider, compactCollectionEvents, decideCollection, evolveCollection, expandCollectionEvent, foldCollection, laneMark } from './collection.decider';
import { CollectionNotPlannedError, LaneBusyError, ReplayPendingError, StaleJobError } from './collection.errors';
import { planSteps, type PlannedStep, type PlanSettings } from './collection.planner';
import { initialCollectionState, type CollectionState, type PlannedCollection } from './collection.state';
import { lanesOf } from './collection.types';
import type { CollectionEvent, CollectionEventType, HealthEventRaised } from './collection.events';
import { NO_PROGRESS, type Lane, type Progress, type TimeWindow } from './collection.types';
import { decideRetry, type RetryPolicy } from './retry-policy';
import { DomainError, StaleGenerationError } from './source.errors';
import { ERROR_TYPES, SOURCE_APIS, type ErrorType, type SourceApi } from './source.types';
import { formatMicros, parseMicros, shiftMicroIso, toMicroIso } from './timestamps';

const T0 = new Date('2026-11-27T10:00:00.000Z');
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const sourceId = 'src-1';
const BASE_URL = 'https://usea1-partners.sentinelone.net';
const JOB = 'job-1';

const clock = (minute: number): Date => new Date(T0.getTime() + minute * MINUTE);
const iso = (minute: number): string => toMicroIso(clock(minute));

const BACKFILL_WINDOW: TimeWindow = { from: iso(-7 * 24 * 60), to: iso(0) };
const LIVE_WINDOW: TimeWindow = { from: iso(-2), to: iso(1) };
const SNAPSHOT_WINDOW: TimeWindow = { from: formatMicros(0), to: iso(0) };
const REPLAY_WINDOW: TimeWindow = { from: iso(-120), to: iso(-60) };
const SETTINGS: PlanSettings = { pollIntervalMs: MINUTE, overlapMs: 2 * MINUTE, snapshotIntervalMs: DAY, stallTimeoutMs: 10 * MINUTE };
const WINDOW_OF: Record<Lane, TimeWindow> = { backfill: BACKFILL_WINDOW, live: LIVE_WINDOW, snapshot: SNAPSHOT_WINDOW, replay: REPLAY_WINDOW };

/** Cumulative progress after `pages` pages of 1000 records through `window`. */
function progress(window: TimeWindow, pages: number): Progress {
  return {
    cursor: pages > 0 ? `cursor-${pages}` : null,
    walkFrom: window.from,
    lastTimestamp: pages > 0 ? shiftMicroIso(window.from, pages * MINUTE) : null,
    records: pages * 1000,
    pages,
  };
}

// Command builders: `minute` is the command's time (metadata.now) relative to T0.
const plan = (data: Partial<PlanCollection['data']> = {}, minute = 0): PlanCollection => ({
  type: 'PlanCollection',
  data: { sourceId, api: 'activities', generation: 1, baseUrl: BASE_URL, backfillMs: 7 * DAY, ...data },
  metadata: { now: clock(minute) },
});
const dispatch = (lane: Lane, jobId = JOB, minute = 0, resume: Progress = NO_PROGRESS, window = WINDOW_OF[lane]): DispatchJob => ({
  type: 'DispatchJob',
  data: { jobId, lane, window, resume },
  metadata: { now: clock(minute) },
});
const requestReplay = (window: TimeWindow = REPLAY_WINDOW, minute = 0): RequestReplay => ({ type: 'RequestReplay', data: { window }, metadata: { now: clock(minute) } });
const verify = (jobId = JOB, minute = 0): RecordTokenVerified => ({ type: 'RecordTokenVerified', data: { jobId }, metadata: { now: clock(minute) } });
const page = (jobId: string, p: Progress, minute = 0, rateLimited = false): RecordPage => ({
  type: 'RecordPage',
  data: { jobId, progress: p, pageRecords: 1000, rateLimited },
  metadata: { now: clock(minute) },
});
const complete = (jobId: string, finished: boolean, p: Progress, minute = 0): CompleteJob => ({
  type: 'CompleteJob',
  data: { jobId, finished, progress: p },
  metadata: { now: clock(minute) },
});
const failJob = (jobId: string, errorType: ErrorType, minute = 0, extra: { retryAfterMs?: number; random?: number; reason?: string } = {}): FailJob => ({
  type: 'FailJob',
  data: { jobId, errorType, reason: extra.reason ?? `HTTP trouble (${errorType})`, random: extra.random ?? 0, ...(extra.retryAfterMs !== undefined ? { retryAfterMs: extra.retryAfterMs } : {}) },
  metadata: { now: clock(minute) },
});
const abandon = (jobId = JOB, minute = 0, reason = 'source is stopping'): AbandonJob => ({ type: 'AbandonJob', data: { jobId, reason }, metadata: { now: clock(minute) } });

/** Runs commands through decide and evolve, as the repository does. */
function run(commands: CollectionCommand[], start: CollectionState = initialCollectionState(), policy?: RetryPolicy) {
  let state = start;
  const events: CollectionEvent[] = [];
  for (const command of commands) {
    const produced = decideCollection(command, state, policy);
    for (const event of produced) state = evolveCollection(state, event);
    events.push(...produced);
  }
  return { state, events };
}

function planned(state: CollectionState): PlannedCollection {
  if (state.status !== 'Planned') throw new Error(`expected a planned collection, got ${state.status}`);
  return state;
}

/** Given: the state after these commands. */
function given(...commands: CollectionCommand[]): PlannedCollection {
  return planned(run(commands).state);
}

/** When: the events a command yields, and the state they lead to. */
function when(state: CollectionState, command: CollectionCommand, policy?: RetryPolicy) {
  const events = decideCollection(command, state, policy);
  return { events, types: events.map((e) => e.type), state: events.reduce(evolveCollection, state) };
}

function raised(events: CollectionEvent[]): HealthEventRaised['data'] {
  const event = events.find((e): e is HealthEventRaised => e.type === 'HealthEventRaised');
  if (!event) throw new Error('no HealthEventRaised');
  return event.data;
}

// ---------------------------------------------------------------------------------------------------
// The whole state machine: every command in every reachable state.

type Reachable =
  | 'Unplanned'
  | 'Planned idle'
  | 'backfill in flight'
  | 'live in flight'
  | 'snapshot in flight'
  | 'replay in flight'
  | 'failure waiting'
  | 'gave up'
  | 'warning open';

/** How each state is reached, the API it is for, and the lane the table's DispatchJob aims at. */
const REACHABLE: Record<Reachable, { api: SourceApi; lane: Lane; history: CollectionCommand[] }> = {
  Unplanned: { api: 'activities', lane: 'live', history: [] },
  'Planned idle': { api: 'activities', lane: 'live', history: [plan()] },
  'backfill in flight': { api: 'activities', lane: 'backfill', history: [plan(), dispatch('backfill')] },
  'live in flight': { api: 'activities', lane: 'live', history: [plan(), dispatch('live', JOB, 1)] },
  'snapshot in flight': { api: 'agents', lane: 'snapshot', history: [plan({ api: 'agents' }), dispatch('snapshot')] },
  'replay in flight': { api: 'threats', lane: 'replay', history: [plan({ api: 'threats' }), requestReplay(), dispatch('replay')] },
  'failure waiting': { api: 'activities', lane: 'live', history: [plan(), dispatch('live', JOB, 1), failJob(JOB, 'ThirdPartyGeneric', 2)] },
  'gave up': { api: 'activities', lane: 'live', history: [plan(), dispatch('live', JOB, 1), failJob(JOB, 'ThirdPartyConfig', 2)] },
  'warning open': { api: 'activities', lane: 'live', history: [plan(), dispatch('live', JOB, 1), page(JOB, progress(LIVE_WINDOW, 1), 2, true)] },
};

function commandFor(type: CollectionCommand['type'], row: Reachable): CollectionCommand {
  const { api, lane } = REACHABLE[row];
  const minute = 3;
  switch (type) {
    case 'PlanCollection':
      return plan({ api }, minute);
    case 'DispatchJob':
      return dispatch(lane, 'job-2', minute);
    case 'RequestReplay':
      return requestReplay({ from: iso(-30), to: iso(-10) }, minute);
    case 'RecordTokenVerified':
      return verify(JOB, minute);
    case 'RecordPage':
      return page(JOB, progress(WINDOW_OF[lane], 2), minute);
    case 'CompleteJob':
      return complete(JOB, true, progress(WINDOW_OF[lane], 2), minute);
    case 'FailJob':
      return failJob(JOB, 'ThirdPartyGeneric', minute);
    case 'AbandonJob':
      return abandon(JOB, minute);
  }
}

type ErrorClass = new (...args: never[]) => DomainError;
type Outcome = readonly CollectionEventType[] | 'nothing' | ErrorClass;
const NotPlanned = CollectionNotPlannedError;
const Stale = StaleJobError;
const Busy = LaneBusyError;
const Pending = ReplayPendingError;

const IN_FLIGHT: Record<CollectionCommand['type'], Outcome> = {
  PlanCollection: 'nothing',
  DispatchJob: Busy,
  RequestReplay: ['ReplayRequested'],
  RecordTokenVerified: ['TokenVerified'],
  RecordPage: ['PageCollected'],
  CompleteJob: ['JobCompleted'],
  FailJob: ['JobFailed', 'HealthEventRaised'],
  AbandonJob: ['JobAbandoned'],
};
const IDLE: Record<CollectionCommand['type'], Outcome> = {
  PlanCollection: 'nothing',
  DispatchJob: ['JobDispatched'],
  RequestReplay: ['ReplayRequested'],
  RecordTokenVerified: Stale,
  RecordPage: Stale,
  CompleteJob: Stale,
  FailJob: Stale,
  AbandonJob: Stale,
};

// Rows: the state a command meets; columns: what it yields. This table is the state machine.
// (Whether a lane is *due* is planSteps' business: the decider accepts a dispatch on any free lane.)
const TABLE: Record<Reachable, Record<CollectionCommand['type'], Outcome>> = {
  Unplanned: {
    PlanCollection: ['CollectionPlanned'], DispatchJob: NotPlanned, RequestReplay: NotPlanned, RecordTokenVerified: NotPlanned,
    RecordPage: NotPlanned, CompleteJob: NotPlanned, FailJob: NotPlanned, AbandonJob: NotPlanned,
  },
  'Planned idle': IDLE,
  'backfill in flight': IN_FLIGHT,
  'live in flight': IN_FLIGHT,
  'snapshot in flight': IN_FLIGHT,
  'replay in flight': { ...IN_FLIGHT, RequestReplay: Pending },
  'failure waiting': IDLE,
  'gave up': IDLE,
  'warning open': { ...IN_FLIGHT, RecordPage: ['PageCollected', 'HealthEventResolved'] },
};

describe('Collection decider: every command in every reachable state', () => {
  for (const [row, columns] of Object.entries(TABLE) as [Reachable, Record<CollectionCommand['type'], Outcome>][]) {
    describe(`given a collection that is ${row}`, () => {
      const start = () => run(REACHABLE[row].history).state;
      for (const [type, outcome] of Object.entries(columns) as [CollectionCommand['type'], Outcome][]) {
        const command = commandFor(type, row);
        if (typeof outcome === 'function') {
          it(`when ${type}, then it is refused with ${outcome.name}`, () => {
            expect(() => decideCollection(command, start())).toThrow(outcome);
          });
        } else if (outcome === 'nothing') {
          it(`when ${type}, then nothing happens (idempotent)`, () => {
            expect(decideCollection(command, start())).toEqual([]);
          });
        } else {
          it(`when ${type}, then ${outcome.join(' + ')}`, () => {
            const { events, state } = when(start(), command);
            expect(events.map((e) => e.type)).toEqual(outcome);
            for (const event of events) expect(event.data).toMatchObject({ sourceId, api: REACHABLE[row].api, at: iso(3) });
            expect(state.status).toBe('Planned');
            // The events fold to the same state from scratch (what a replica reading the stream sees).
            expect(foldCollection([...run(REACHABLE[row].history).events, ...events])).toEqual(state);
          });
        }
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------------

describe('PlanCollection', () => {
  describe('given an unplanned collection', () => {
    const CASES: [SourceApi, number, TimeWindow | null][] = [
      ['activities', 7 * DAY, BACKFILL_WINDOW],
      ['threats', 7 * DAY, BACKFILL_WINDOW],
      ['agents', 7 * DAY, null],
      ['activities', 0, null],
      ['threats', 0, null],
      ['activities', 90 * MINUTE, { from: iso(-90), to: iso(0) }],
    ];
    for (const [api, backfillMs, backfill] of CASES) {
      it(`when ${api} is planned with a backfill of ${backfillMs} ms, then the backfill window is ${backfill ? `${backfill.from}..${backfill.to}` : 'none'}`, () => {
        const { events, state } = when(initialCollectionState(), plan({ api, backfillMs }));
        expect(events).toEqual([
          {
            type: 'CollectionPlanned',
            data: { sourceId, api, generation: 1, baseUrl: BASE_URL, reset: true, backfill, liveCheckpoint: iso(0), at: iso(0) },
          },
        ]);
        expect(state).toEqual({
          status: 'Planned',
          sourceId,
          api,
          generation: 1,
          baseUrl: BASE_URL,
          backfill: backfill ? { window: backfill, progress: NO_PROGRESS, done: false } : null,
          live: { checkpoint: iso(0), pending: null, grid: iso(0) },
          snapshot: { lastStartedAt: null, lastCompletedAt: null, pending: null },
          replay: null,
          jobs: {},
          failure: null,
          warning: null,
          verifiedGeneration: null,
          collectingGeneration: null,
        });
      });
    }

    it('agents have no backfill lane; activities and threats have no snapshot lane', () => {
      expect(lanesOf('agents')).toEqual(['live', 'snapshot', 'replay']);
      expect(lanesOf('activities')).toEqual(['backfill', 'live', 'replay']);
      expect(lanesOf('threats')).toEqual(['backfill', 'live', 'replay']);
    });
  });

  describe('given a collection planned for generation 2 with work under way', () => {
    // Backfill at page 3 (budget), live pending at page 1, a replay requested, a warning and a failure open.
    const LIVE: TimeWindow = { from: iso(-2), to: iso(5) };
    const history = [
      plan({ generation: 2 }),
      dispatch('backfill', 'b1', 1),
      page('b1', progress(BACKFILL_WINDOW, 3), 2),
      complete('b1', false, progress(BACKFILL_WINDOW, 3), 3),
      dispatch('live', 'l1', 5, NO_PROGRESS, LIVE),
      page('l1', progress(LIVE, 1), 6, true),
      requestReplay(REPLAY_WINDOW, 7),
      dispatch('backfill', 'b2', 8, progress(BACKFILL_WINDOW, 3)),
      failJob('b2', 'ThirdPartyGeneric', 9),
      verify('l1', 10),
    ];
    const before = given(...history);

    it('the fixture has a failure and a warning open', () => {
      expect(before.failure).not.toBeNull();
      expect(before.warning).not.toBeNull();
      expect(before.jobs.live?.jobId).toBe('l1');
    });

    it('when the same generation is planned again, then nothing happens', () => {
      expect(decideCollection(plan({ generation: 2 }, 20), before)).toEqual([]);
    });

    it('when the same generation is planned with another URL, then nothing happens: the generation decides', () => {
      expect(decideCollection(plan({ generation: 2, baseUrl: 'https://other.sentinelone.net' }, 20), before)).toEqual([]);
    });

    it('when an older generation is planned, then it is refused as stale', () => {
      expect(() => decideCollection(plan({ generation: 1 }, 20), before)).toThrow(StaleGenerationError);
      try {
        decideCollection(plan({ generation: 1 }, 20), before);
      } catch (error) {
        expect(error).toMatchObject({ code: 'StaleGeneration', expected: 1, actual: 2 });
      }
    });

    describe('when a newer generation is planned with the same URL', () => {
      const { events, types, state } = when(before, plan({ generation: 3 }, 20));

      it('then it carries the checkpoints over (no reset, no new backfill window)', () => {
        expect(types).toEqual(['CollectionPlanned', 'HealthEventResolved', 'HealthEventResolved']);
        expect(events[0]!.data).toMatchObject({ generation: 3, reset: false, backfill: null, liveCheckpoint: iso(0), at: iso(20) });
      });

      it('then it keeps the backfill progress, the pending live window and the replay', () => {
        const after = planned(state);
        expect(after.generation).toBe(3);
        expect(after.backfill).toEqual({ window: BACKFILL_WINDOW, progress: progress(BACKFILL_WINDOW, 3), done: false });
        expect(after.live).toMatchObject({ checkpoint: iso(0), pending: { window: LIVE, progress: progress(LIVE, 1) } });
        expect(after.replay).toEqual({ window: REPLAY_WINDOW, progress: NO_PROGRESS });
      });

      it('then it resolves the open failure and warning: they were about the old configuration', () => {
        const resolved = events.slice(1).map((e) => e.type === 'HealthEventResolved' && e.data.healthEventId);
        expect(resolved).toEqual([before.failure!.healthEventId, before.warning!.healthEventId]);
        expect(planned(state)).toMatchObject({ failure: null, warning: null });
      });

      it('then the jobs of the old configuration are over and refused as stale', () => {
        expect(planned(state).jobs).toEqual({});
        expect(() => decideCollection(page('l1', progress(LIVE, 2), 21), state)).toThrow(StaleJobError);
        expect(() => decideCollection(failJob('l1', 'ThirdPartyGeneric', 21), state)).toThrow(StaleJobError);
      });

      it('then the token must be verified again for the new generation', () => {
        expect(planned(state)).toMatchObject({ verifiedGeneration: null, collectingGeneration: null });
      });
    });

    describe('when a newer generation is planned with another URL', () => {
      const otherUrl = 'https://euce1.sentinelone.net';
      const { events, types, state } = when(before, plan({ generation: 3, baseUrl: otherUrl }, 20));

      it('then it starts over: a reset, a new backfill window and the checkpoint at the plan time', () => {
        expect(types).toEqual(['CollectionPlanned', 'HealthEventResolved', 'HealthEventResolved']);
        const window = { from: shiftMicroIso(iso(20), -7 * DAY), to: iso(20) };
        expect(events[0]!.data).toMatchObject({ reset: true, baseUrl: otherUrl, backfill: window, liveCheckpoint: iso(20) });
        expect(planned(state)).toMatchObject({
          baseUrl: otherUrl,
          backfill: { window, progress: NO_PROGRESS, done: false },
          live: { checkpoint: iso(20), pending: null, grid: iso(20) },
          snapshot: { lastStartedAt: null, lastCompletedAt: null, pending: null },
          replay: null,
          jobs: {},
          failure: null,
          warning: null,
        });
      });
    });
  });

  it('given a collection with nothing open, when a newer generation is planned, then only CollectionPlanned', () => {
    expect(when(given(plan()), plan({ generation: 2 }, 5)).types).toEqual(['CollectionPlanned']);
  });

  it('given an agents collection whose snapshot is under way, when re-planned, then the snapshot timing and pending walk are kept', () => {
    const before = given(plan({ api: 'agents' }), dispatch('snapshot'), page(JOB, progress(SNAPSHOT_WINDOW, 2), 1));
    const after = planned(when(before, plan({ api: 'agents', generation: 2 }, 2)).state);
    expect(after.snapshot).toEqual({ lastStartedAt: iso(0), lastCompletedAt: null, pending: { window: SNAPSHOT_WINDOW, progress: progress(SNAPSHOT_WINDOW, 2) } });
    expect(after.backfill).toBeNull();
  });
});

describe('DispatchJob', () => {
  it('given an idle lane, when a job is dispatched, then it is in flight with its window and resume point', () => {
    const resume = progress(BACKFILL_WINDOW, 4);
    const { events, state } = when(given(plan()), dispatch('backfill', 'src-1:activities:backfill:2', 1, resume));
    expect(events).toEqual([
      {
        type: 'JobDispatched',
        data: { sourceId, api: 'activities', jobId: 'src-1:activities:backfill:2', lane: 'backfill', generation: 1, window: BACKFILL_WINDOW, resume, at: iso(1) },
      },
    ]);
    expect(planned(state).jobs).toEqual({
      backfill: { jobId: 'src-1:activities:backfill:2', lane: 'backfill', window: BACKFILL_WINDOW, dispatchedAt: iso(1), lastProgressAt: iso(1), progress: resume },
    });
  });

  it('given a busy lane, when another job is dispatched on it, then LaneBusyError names the lane and the job in flight', () => {
    const state = given(plan(), dispatch('backfill', 'b1'));
    expect(() => decideCollection(dispatch('backfill', 'b2', 1), state)).toThrow(LaneBusyError);
    try {
      decideCollection(dispatch('backfill', 'b2', 1), state);
    } catch (error) {
      expect(error).toMatchObject({ code: 'LaneBusy', lane: 'backfill', jobId: 'b1' });
    }
  });

  it('given a busy lane, when another lane is dispatched, then both are in flight (lanes are independent)', () => {
    const state = given(plan(), dispatch('backfill', 'b1'), dispatch('live', 'l1', 1), requestReplay(), dispatch('replay', 'r1', 1));
    expect(Object.keys(state.jobs).sort()).toEqual(['backfill', 'live', 'replay']);
  });

  it('given the generation it was decided for, when the collection was planned again since, then StaleJobError; at that generation it is dispatched', () => {
    const withGeneration = (generation: number): DispatchJob => ({ ...dispatch('live', 'l1', 1), data: { ...dispatch('live', 'l1', 1).data, generation } });
    expect(() => decideCollection(withGeneration(1), given(plan(), plan({ generation: 2 })))).toThrow(StaleJobError);
    expect(decideCollection(withGeneration(2), given(plan(), plan({ generation: 2 })))).toMatchObject([{ type: 'JobDispatched', data: { generation: 2 } }]);
  });

  it('when a live job is dispatched, then its window is remembered as pending until it finishes', () => {
    expect(given(plan(), dispatch('live', 'l1', 1)).live).toEqual({ checkpoint: iso(0), pending: { window: LIVE_WINDOW, progress: NO_PROGRESS }, grid: iso(0) });
  });

  it('when a fresh snapshot is dispatched, then it marks the snapshot start; a resumed one does not', () => {
    const fresh = given(plan({ api: 'agents' }), dispatch('snapshot', 's1', 1));
    expect(fresh.snapshot).toMatchObject({ lastStartedAt: iso(1), pending: { window: SNAPSHOT_WINDOW, progress: NO_PROGRESS } });
    const resumed = planned(
      run([complete('s1', false, progress(SNAPSHOT_WINDOW, 3), 2), dispatch('snapshot', 's2', 30, progress(SNAPSHOT_WINDOW, 3))], fresh).state,
    );
    expect(resumed.snapshot.lastStartedAt).toBe(iso(1));
  });

  it('given a job of a past lane run ended, when the lane is dispatched again, then the new job is in flight', () => {
    const state = given(plan(), dispatch('live', 'l1', 1), abandon('l1', 2), dispatch('live', 'l2', 3));
    expect(state.jobs.live?.jobId).toBe('l2');
  });
});

describe('RequestReplay', () => {
  it('when a replay is requested, then its window is normalised and waits for the replay lane', () => {
    const { events, state } = when(given(plan()), requestReplay({ from: '2026-11-27T09:00:00+01:00', to: '2026-11-27 09:30:00.5' }, 1));
    const window = { from: '2026-11-27T08:00:00.000000Z', to: '2026-11-27T09:30:00.500000Z' };
    expect(events).toEqual([{ type: 'ReplayRequested', data: { sourceId, api: 'activities', window, at: iso(1) } }]);
    expect(planned(state).replay).toEqual({ window, progress: NO_PROGRESS });
  });

  for (const [name, window] of [
    ['ends before it starts', { from: iso(-10), to: iso(-20) }],
    ['is empty', { from: iso(-10), to: iso(-10) }],
    ['is the same instant in other offsets', { from: '2026-11-27T10:00:00Z', to: '2026-11-27T11:00:00+01:00' }],
  ] as const) {
    it(`when the window ${name}, then it is refused with a RangeError and nothing changes`, () => {
      expect(() => decideCollection(requestReplay(window), given(plan()))).toThrow(RangeError);
    });
  }

  it('when the window is not made of timestamps, then it is refused with a RangeError', () => {
    expect(() => decideCollection(requestReplay({ from: 'yesterday', to: iso(0) }), given(plan()))).toThrow(RangeError);
  });

  it('given a replay requested but not dispatched yet, when another is requested, then ReplayPendingError names the pending window', () => {
    const state = given(plan(), requestReplay());
    expect(() => decideCollection(requestReplay({ from: iso(-5), to: iso(-1) }, 1), state)).toThrow(ReplayPendingError);
    try {
      decideCollection(requestReplay({ from: iso(-5), to: iso(-1) }, 1), state);
    } catch (error) {
      expect(error).toMatchObject({ code: 'ReplayPending', window: REPLAY_WINDOW });
    }
  });

  it('given a replay stopped at its page budget, when another is requested, then it still waits', () => {
    const state = given(plan(), requestReplay(), dispatch('replay', 'r1'), complete('r1', false, progress(REPLAY_WINDOW, 5), 1));
    expect(() => decideCollection(requestReplay({ from: iso(-5), to: iso(-1) }, 2), state)).toThrow(ReplayPendingError);
  });

  it('given a finished replay, when another is requested, then it is accepted', () => {
    const state = given(plan(), requestReplay(), dispatch('replay', 'r1'), complete('r1', true, progress(REPLAY_WINDOW, 5), 1));
    expect(state.replay).toBeNull();
    expect(when(state, requestReplay({ from: iso(-5), to: iso(-1) }, 2)).types).toEqual(['ReplayRequested']);
  });
});

describe('RecordTokenVerified', () => {
  it('when a job first verifies the token, then TokenVerified records the generation', () => {
    const { events, state } = when(given(plan({ generation: 4 }), dispatch('live', 'l1', 1)), verify('l1', 2));
    expect(events).toEqual([{ type: 'TokenVerified', data: { sourceId, api: 'activities', jobId: 'l1', generation: 4, at: iso(2) } }]);
    expect(planned(state).verifiedGeneration).toBe(4);
  });

  it('given the token verified for this generation, when any job verifies it again, then nothing happens (once per generation)', () => {
    const state = given(plan(), dispatch('live', 'l1', 1), dispatch('backfill', 'b1', 1), verify('l1', 2));
    expect(decideCollection(verify('l1', 3), state)).toEqual([]);
    expect(decideCollection(verify('b1', 3), state)).toEqual([]);
  });

  it('given the token verified for an older generation, when the new generation verifies it, then TokenVerified again', () => {
    const state = given(plan(), dispatch('live', 'l1', 1), verify('l1', 2), plan({ generation: 2 }, 3), dispatch('live', 'l2', 4));
    expect(state.verifiedGeneration).toBeNull();
    expect(when(state, verify('l2', 5)).events[0]!.data).toMatchObject({ generation: 2 });
  });

  it('when an unknown job verifies, then StaleJobError', () => {
    expect(() => decideCollection(verify('nope'), given(plan(), dispatch('live', 'l1')))).toThrow(StaleJobError);
  });
});

describe('RecordPage', () => {
  describe.each<[Lane, SourceApi]>([
    ['backfill', 'activities'],
    ['live', 'threats'],
    ['snapshot', 'agents'],
    ['replay', 'activities'],
  ])('given a %s job of %s in flight', (lane, api) => {
    const window = WINDOW_OF[lane];
    const start = () => given(plan({ api }), requestReplay(), dispatch(lane, 'j1', 1));

    it('when a page is collected, then PageCollected carries the cumulative progress and the job moves on', () => {
      const p = progress(window, 1);
      const { events, state } = when(start(), page('j1', p, 2));
      expect(events).toEqual([{ type: 'PageCollected', data: { sourceId, api, jobId: 'j1', lane, progress: p, pageRecords: 1000, rateLimited: false, at: iso(2) } }]);
      expect(planned(state).jobs[lane]).toMatchObject({ progress: p, lastProgressAt: iso(2), dispatchedAt: iso(1) });
      expect(planned(state).collectingGeneration).toBe(1);
    });

    it('then the progress is also kept in the lane, so a later job resumes there', () => {
      const p = progress(window, 2);
      const after = planned(run([page('j1', progress(window, 1), 2), page('j1', p, 3), abandon('j1', 4)], start()).state);
      const kept = { backfill: after.backfill?.progress, live: after.live.pending?.progress, snapshot: after.snapshot.pending?.progress, replay: after.replay?.progress };
      expect(kept[lane]).toEqual(p);
      const resume = planSteps(after, clock(5), SETTINGS).find(
        (s) => s.type === 'dispatch' && s.lane === lane,
      );
      expect(resume).toEqual({ type: 'dispatch', lane, window, resume: p });
    });
  });

  it('given a failure streak, when a page is collected, then the failure is resolved and cleared', () => {
    const state = given(plan(), dispatch('live', 'l1', 1), failJob('l1', 'ThirdPartyGeneric', 2), dispatch('live', 'l2', 3));
    const failureId = state.failure!.healthEventId;
    const { events, state: after } = when(state, page('l2', progress(LIVE_WINDOW, 1), 4));
    expect(events.map((e) => e.type)).toEqual(['PageCollected', 'HealthEventResolved']);
    expect(events[1]!.data).toEqual({ sourceId, api: 'activities', healthEventId: failureId, at: iso(4) });
    expect(planned(after).failure).toBeNull();
  });

  describe('rate limiting (429) that still makes progress', () => {
    const start = () => given(plan(), dispatch('live', 'l1', 1));

    it('when a rate-limited page is collected, then one Warning opens', () => {
      const { events, state } = when(start(), page('l1', progress(LIVE_WINDOW, 1), 2, true));
      expect(events.map((e) => e.type)).toEqual(['PageCollected', 'HealthEventRaised']);
      const warning = raised(events);
      expect(warning).toEqual({
        sourceId,
        api: 'activities',
        at: iso(2),
        healthEventId: `health-src-1-activities-RateLimited-${parseMicros(iso(2))}`,
        severity: 'Warning',
        errorType: 'RateLimited',
        eventName: 'ThirdPartyGenericWarning',
        description: expect.stringMatching(/rate limiting.*429.*Consider fewer sources per API token/),
        retry: { retrying: true },
      });
      expect(planned(state).warning).toEqual({ healthEventId: warning.healthEventId, since: iso(2) });
    });

    it('when more rate-limited pages follow, then no second warning opens', () => {
      const state = planned(run([page('l1', progress(LIVE_WINDOW, 1), 2, true)], start()).state);
      const { types, state: after } = when(state, page('l1', progress(LIVE_WINDOW, 2), 3, true));
      expect(types).toEqual(['PageCollected']);
      expect(planned(after).warning).toEqual(state.warning);
    });

    it('when a later page is clean, then the warning is resolved', () => {
      const state = planned(run([page('l1', progress(LIVE_WINDOW, 1), 2, true), page('l1', progress(LIVE_WINDOW, 2), 3, true)], start()).state);
      const { events, state: after } = when(state, page('l1', progress(LIVE_WINDOW, 3), 4));
      expect(events.map((e) => e.type)).toEqual(['PageCollected', 'HealthEventResolved']);
      expect(events[1]!.data).toMatchObject({ healthEventId: state.warning!.healthEventId });
      expect(planned(after).warning).toBeNull();
    });

    it('when the clean page comes from another lane, then it resolves the warning too (rate limits are per console)', () => {
      const state = planned(run([page('l1', progress(LIVE_WINDOW, 1), 2, true), dispatch('backfill', 'b1', 2)], start()).state);
      expect(when(state, page('b1', progress(BACKFILL_WINDOW, 1), 3)).types).toEqual(['PageCollected', 'HealthEventResolved']);
    });

    it('given a failure and no warning, when a rate-limited page is collected, then the failure resolves and a warning opens', () => {
      const state = given(plan(), dispatch('live', 'l1', 1), failJob('l1', 'ThirdPartyGeneric', 2), dispatch('live', 'l2', 3));
      const { types, state: after } = when(state, page('l2', progress(LIVE_WINDOW, 1), 4, true));
      expect(types).toEqual(['PageCollected', 'HealthEventResolved', 'HealthEventRaised']);
      expect(planned(after)).toMatchObject({ failure: null, warning: { since: iso(4) } });
    });
  });

  it('when an unknown job reports a page, then StaleJobError and nothing changes', () => {
    expect(() => decideCollection(page('nope', progress(LIVE_WINDOW, 1)), given(plan(), dispatch('live', 'l1')))).toThrow(StaleJobError);
  });
});

describe('CompleteJob', () => {
  const P = (lane: Lane) => progress(WINDOW_OF[lane], 7);
  const CASES: [Lane, SourceApi, boolean, (s: PlannedCollection) => unknown, unknown][] = [
    ['backfill', 'activities', true, (s) => s.backfill, { window: BACKFILL_WINDOW, progress: P('backfill'), done: true }],
    ['backfill', 'activities', false, (s) => s.backfill, { window: BACKFILL_WINDOW, progress: P('backfill'), done: false }],
    ['live', 'activities', true, (s) => s.live, { checkpoint: LIVE_WINDOW.to, pending: null, grid: iso(0) }],
    ['live', 'activities', false, (s) => s.live, { checkpoint: iso(0), pending: { window: LIVE_WINDOW, progress: P('live') }, grid: iso(0) }],
    ['snapshot', 'agents', true, (s) => s.snapshot, { lastStartedAt: iso(1), lastCompletedAt: SNAPSHOT_WINDOW.to, pending: null }],
    ['snapshot', 'agents', false, (s) => s.snapshot, { lastStartedAt: iso(1), lastCompletedAt: null, pending: { window: SNAPSHOT_WINDOW, progress: P('snapshot') } }],
    ['replay', 'threats', true, (s) => s.replay, null],
    ['replay', 'threats', false, (s) => s.replay, { window: REPLAY_WINDOW, progress: P('replay') }],
  ];
  for (const [lane, api, finished, select, expected] of CASES) {
    it(`given a ${lane} job of ${api}, when it ${finished ? 'finishes its window' : 'stops at its page budget'}, then the lane is ${JSON.stringify(expected)}`, () => {
      const state = given(plan({ api }), requestReplay(), dispatch(lane, 'j1', 1), page('j1', progress(WINDOW_OF[lane], 6), 2));
      const { events, state: after } = when(state, complete('j1', finished, P(lane), 3));
      expect(events).toEqual([{ type: 'JobCompleted', data: { sourceId, api, jobId: 'j1', lane, finished, progress: P(lane), at: iso(3) } }]);
      expect(select(planned(after))).toEqual(expected);
      expect(planned(after).jobs[lane]).toBeUndefined();
    });
  }

  it('given a failure streak, when a job completes, then the failure is resolved and cleared', () => {
    const state = given(plan(), dispatch('live', 'l1', 1), dispatch('backfill', 'b1', 1), failJob('l1', 'FirstPartyGeneric', 2));
    const { types, state: after } = when(state, complete('b1', false, progress(BACKFILL_WINDOW, 1), 3));
    expect(types).toEqual(['JobCompleted', 'HealthEventResolved']);
    expect(planned(after).failure).toBeNull();
  });

  it('given a finished live window, then the next live window starts at its end less the overlap', () => {
    const state = given(plan(), dispatch('live', 'l1', 1), complete('l1', true, progress(LIVE_WINDOW, 1), 2));
    const steps = planSteps(state, clock(3), SETTINGS);
    expect(steps).toContainEqual({ type: 'dispatch', lane: 'live', window: { from: iso(-1), to: iso(3) }, resume: NO_PROGRESS });
  });

  it('when an unknown or already completed job completes, then StaleJobError', () => {
    const state = given(plan(), dispatch('live', 'l1', 1), complete('l1', true, progress(LIVE_WINDOW, 1), 2));
    expect(() => decideCollection(complete('l1', true, progress(LIVE_WINDOW, 1), 3), state)).toThrow(StaleJobError);
  });
});

describe('FailJob', () => {
  const start = () => given(plan(), dispatch('live', 'l1', 1), dispatch('backfill', 'b1', 1), dispatch('replay', 'r1', 1));

  it('when the first failure happens, then JobFailed and an Error health event with a stable id open a streak', () => {
    const { events, state } = when(start(), failJob('l1', 'ThirdPartyGeneric', 2, { random: 0, reason: 'HTTP 503' }));
    const retryAt = toMicroIso(new Date(clock(2).getTime() + 2_500));
    const healthEventId = `health-src-1-activities-ThirdPartyGeneric-${parseMicros(iso(2))}`;
    expect(events).toEqual([
      { type: 'JobFailed', data: { sourceId, api: 'activities', at: iso(2), jobId: 'l1', lane: 'live', errorType: 'ThirdPartyGeneric', reason: 'HTTP 503', attempt: 1, retryAt } },
      {
        type: 'HealthEventRaised',
        data: {
          sourceId,
          api: 'activities',
          at: iso(2),
          healthEventId,
          severity: 'Error',
          errorType: 'ThirdPartyGeneric',
          eventName: 'ThirdPartyGenericError',
          description: `HTTP 503. SentinelOne is failing or unreachable; retrying with backoff (next attempt ${retryAt}, until ${iso(92)}). No action is needed unless it persists.`,
          retry: { retrying: true, nextAttemptAt: retryAt, until: iso(92) },
        },
      },
    ]);
    expect(planned(state).failure).toEqual({ healthEventId, errorType: 'ThirdPartyGeneric', reason: 'HTTP 503', firstAt: iso(2), attempts: 1, retryAt });
    expect(planned(state).jobs.live).toBeUndefined();
    expect(planned(state).live.pending).toEqual({ window: LIVE_WINDOW, progress: NO_PROGRESS });
  });

  it('when the same error type fails again, then the same health event occurs again and the streak counts on', () => {
    const first = planned(run([failJob('l1', 'ThirdPartyGeneric', 2)], start()).state);
    const { events, types, state } = when(first, failJob('b1', 'ThirdPartyGeneric', 3, { random: 0.5 }));
    expect(types).toEqual(['JobFailed', 'HealthEventRaised']);
    expect(raised(events).healthEventId).toBe(first.failure!.healthEventId);
    expect(events[0]!.data).toMatchObject({ attempt: 2, lane: 'backfill' });
    expect(planned(state).failure).toMatchObject({ healthEventId: first.failure!.healthEventId, firstAt: iso(2), attempts: 2 });
    expect(raised(events).retry).toMatchObject({ until: iso(92) });
  });

  it('when another error type fails, then the old health event resolves and a new one opens; the streak keeps its start', () => {
    const first = planned(run([failJob('l1', 'ThirdPartyGeneric', 2)], start()).state);
    const { events, types, state } = when(first, failJob('b1', 'FirstPartyGeneric', 3));
    expect(types).toEqual(['HealthEventResolved', 'JobFailed', 'HealthEventRaised']);
    expect(events[0]!.data).toMatchObject({ healthEventId: first.failure!.healthEventId });
    const opened = raised(events);
    expect(opened.healthEventId).toBe(`health-src-1-activities-FirstPartyGeneric-${parseMicros(iso(3))}`);
    expect(opened.eventName).toBe('FirstPartyGenericError');
    expect(planned(state).failure).toMatchObject({ healthEventId: opened.healthEventId, errorType: 'FirstPartyGeneric', firstAt: iso(2), attempts: 2 });
  });

  it('then retryAt is what the retry policy says, Retry-After and jitter included', () => {
    const first = planned(run([failJob('l1', 'ThirdPartyGeneric', 2)], start()).state);
    const { events } = when(first, failJob('b1', 'ThirdPartyGeneric', 3, { retryAfterMs: 45_000, random: 0.3 }));
    const decision = decideRetry({ errorType: 'ThirdPartyGeneric', attempt: 2, streakStartedMs: clock(2).getTime(), nowMs: clock(3).getTime(), retryAfterMs: 45_000, random: 0.3 });
    expect(decision).toEqual({ retry: true, atMs: clock(3).getTime() + 45_000 });
    expect(events[0]!.data).toMatchObject({ retryAt: toMicroIso(new Date(clock(3).getTime() + 45_000)) });
  });

  it('then it uses the policy it is given (shortened in tests of other services)', () => {
    const policy: RetryPolicy = { windowMs: 10_000, initialDelayMs: 100, maxDelayMs: 1_000 };
    const { events } = when(start(), failJob('l1', 'FirstPartyGeneric', 2), policy);
    expect(events[0]!.data).toMatchObject({ retryAt: toMicroIso(new Date(clock(2).getTime() + 50)) });
    expect(raised(events).retry).toMatchObject({ until: toMicroIso(new Date(clock(2).getTime() + 10_000)) });
  });

  it('when ThirdPartyConfig fails, then retryAt is null and the event says to fix the configuration', () => {
    const { events, state } = when(start(), failJob('l1', 'ThirdPartyConfig', 2, { reason: 'HTTP 401 from SentinelOne', retryAfterMs: 1_000 }));
    expect(events[0]!.data).toMatchObject({ retryAt: null, attempt: 1 });
    expect(raised(events)).toMatchObject({
      severity: 'Error',
      errorType: 'ThirdPartyConfig',
      eventName: 'ThirdPartyConfigError',
      retry: { retrying: false },
      description: expect.stringMatching(/^HTTP 401 from SentinelOne\. Collection is stopped: check the API token, its permissions and base_url, then update the source/),
    });
    expect(planned(state).failure).toMatchObject({ retryAt: null });
  });

  describe('health event shape per error type', () => {
    const CASES: [ErrorType, string, RegExp, boolean][] = [
      ['ThirdPartyConfig', 'ThirdPartyConfigError', /update the source/, false],
      ['ThirdPartyGeneric', 'ThirdPartyGenericError', /SentinelOne is failing or unreachable; retrying with backoff \(next attempt .*, until .*\)/, true],
      ['FirstPartyGeneric', 'FirstPartyGenericError', /internal failure \(NATS, MongoDB or the collector\); retrying.*Check the collector's services and logs/, true],
    ];
    for (const [errorType, eventName, says, retrying] of CASES) {
      it(`when ${errorType} fails, then the event is ${eventName}, an Error, ${retrying ? 'retrying until the window end' : 'not retrying'}`, () => {
        const { events } = when(start(), failJob('l1', errorType, 2, { reason: 'the reason' }));
        const facts = raised(events);
        expect(facts).toMatchObject({ eventName, severity: 'Error', errorType, sourceId, api: 'activities' });
        expect(facts.description).toMatch(/^the reason\. /);
        expect(facts.description).toMatch(says);
        if (retrying) {
          expect(facts.retry).toEqual({ retrying: true, nextAttemptAt: events[0]!.type === 'JobFailed' && events[0]!.data.retryAt, until: iso(92) });
        } else {
          expect(facts.retry).toEqual({ retrying: false });
        }
      });
    }
    expect(ERROR_TYPES.length).toBe(CASES.length);
  });

  describe.each<ErrorType>(['ThirdPartyGeneric', 'FirstPartyGeneric'])('given a %s streak 90 minutes old', (errorType) => {
    const streak = () => given(plan(), dispatch('live', 'l1', 1), failJob('l1', errorType, 2), dispatch('live', 'l2', 91), dispatch('backfill', 'b1', 91));

    it('when a failure comes just before the window ends, then the retry is at the window end', () => {
      const { events } = when(streak(), failJob('l2', errorType, 91.99));
      expect(events[0]!.data).toMatchObject({ retryAt: iso(92), attempt: 2 });
    });

    it('when the failure comes at the window end, then it gives up and says to restart the source', () => {
      const { events, state } = when(streak(), failJob('l2', errorType, 92));
      expect(events[0]!.data).toMatchObject({ retryAt: null, attempt: 2 });
      expect(raised(events)).toMatchObject({ retry: { retrying: false }, description: expect.stringMatching(new RegExp(`Gave up after retrying until ${iso(92).replace(/\./g, '\\.')}: .*restart the source`)) });
      expect(raised(events).healthEventId).toBe(planned(streak()).failure!.healthEventId);
      expect(planned(state).failure).toMatchObject({ retryAt: null, attempts: 2 });
    });
  });

  it('when an unknown job fails, then StaleJobError and nothing is recorded', () => {
    expect(() => decideCollection(failJob('nope', 'ThirdPartyGeneric'), start())).toThrow(StaleJobError);
  });

  it('given a failed job, when it fails again (redelivery), then StaleJobError', () => {
    const state = planned(run([failJob('l1', 'ThirdPartyGeneric', 2)], start()).state);
    expect(() => decideCollection(failJob('l1', 'ThirdPartyGeneric', 3), state)).toThrow(StaleJobError);
  });
});

describe('AbandonJob', () => {
  it('when a job is abandoned, then it leaves its lane, its progress stays for the next job and the failure stays', () => {
    const state = given(
      plan(),
      dispatch('live', 'l1', 1),
      failJob('l1', 'ThirdPartyGeneric', 2),
      dispatch('backfill', 'b1', 3),
      page('b1', progress(BACKFILL_WINDOW, 2), 3.5),
      dispatch('live', 'l2', 3),
      failJob('l2', 'ThirdPartyGeneric', 4),
    );
    const { events, state: after } = when(state, abandon('b1', 5, 'no progress for 600 s'));
    expect(events).toEqual([{ type: 'JobAbandoned', data: { sourceId, api: 'activities', jobId: 'b1', lane: 'backfill', reason: 'no progress for 600 s', at: iso(5) } }]);
    expect(planned(after).jobs).toEqual({});
    expect(planned(after).backfill?.progress).toEqual(progress(BACKFILL_WINDOW, 2));
    expect(planned(after).failure).toEqual(state.failure);
  });

  it('when an unknown job is abandoned, then StaleJobError', () => {
    expect(() => decideCollection(abandon('nope'), given(plan()))).toThrow(StaleJobError);
  });
});

describe('evolveCollection is total', () => {
  it('ignores events before the plan', () => {
    const event: CollectionEvent = { type: 'JobAbandoned', data: { sourceId, api: 'activities', jobId: 'x', lane: 'live', reason: 'r', at: iso(0) } };
    expect(evolveCollection(initialCollectionState(), event)).toEqual({ status: 'Unplanned' });
  });

  it('ignores outcomes of jobs that are not in flight', () => {
    const state = given(plan(), dispatch('live', 'l1', 1));
    const base = { sourceId, api: 'activities' as const, at: iso(2), lane: 'live' as const, jobId: 'other' };
    for (const event of [
      { type: 'PageCollected', data: { ...base, progress: progress(LIVE_WINDOW, 1), pageRecords: 1, rateLimited: false } },
      { type: 'JobCompleted', data: { ...base, finished: true, progress: NO_PROGRESS } },
      { type: 'JobFailed', data: { ...base, errorType: 'ThirdPartyGeneric', reason: 'r', attempt: 1, retryAt: null } },
      { type: 'JobAbandoned', data: { ...base, reason: 'r' } },
    ] as CollectionEvent[]) {
      expect(evolveCollection(state, event)).toBe(state);
    }
  });

  it('given a backfill job on a collection without a backfill window, when it finishes, then nothing but the job changes', () => {
    // DispatchJob does not check the lane against lanesOf(api); the outcome must still land in its own lane.
    const state = given(plan({ api: 'agents' }), dispatch('backfill', 'b1', 1));
    const after = planned(when(state, complete('b1', true, progress(BACKFILL_WINDOW, 1), 2)).state);
    expect(after.snapshot).toEqual(state.snapshot);
    expect(after.backfill).toBeNull();
    expect(after.jobs).toEqual({});
  });
});

describe('JobRan: a job of one page in one event', () => {
  const LANE_API: Array<[Lane, SourceApi]> = [['live', 'activities'], ['backfill', 'activities'], ['snapshot', 'agents'], ['replay', 'threats']];

  describe.each(LANE_API)('given an idle %s lane (%s)', (lane, api) => {
    const idle = given(plan({ api }), ...(lane === 'replay' ? [requestReplay(REPLAY_WINDOW, 1)] : []));
    const verified = { ...idle, verifiedGeneration: idle.generation };

    it('when a fetcher records dispatch, page and end in one append, then they are one JobRan that folds to the same state', () => {
      const { events, state } = run([dispatch(lane, 'j1', 2), page('j1', progress(WINDOW_OF[lane], 1), 3), complete('j1', true, progress(WINDOW_OF[lane], 1), 3)], verified);
      expect(events.map((e) => e.type)).toEqual(['JobDispatched', 'PageCollected', 'JobCompleted']);
      const compacted = compactCollectionEvents(events);
      expect(compacted).toEqual([
        {
          type: 'JobRan',
          data: {
            sourceId, api, at: iso(3), jobId: 'j1', lane, generation: 1, window: WINDOW_OF[lane], resume: NO_PROGRESS, dispatchedAt: iso(2),
            progress: progress(WINDOW_OF[lane], 1), pageRecords: 1000, rateLimited: false, finished: true,
          },
        },
      ]);
      expect(expandCollectionEvent(compacted[0]!)).toEqual(events);
      expect(compacted.reduce(evolveCollection, verified)).toEqual(state);
      expect(planned(state).jobs).toEqual({});
    });

    it('when the job stops at its page budget (not finished), then the JobRan says so and folds the same', () => {
      const { events, state } = run([dispatch(lane, 'j1', 2), page('j1', progress(WINDOW_OF[lane], 1), 3), complete('j1', false, progress(WINDOW_OF[lane], 1), 3)], verified);
      const compacted = compactCollectionEvents(events);
      expect(compacted).toHaveLength(1);
      expect(compacted[0]).toMatchObject({ type: 'JobRan', data: { finished: false } });
      expect(compacted.reduce(evolveCollection, verified)).toEqual(state);
    });
  });

  it('leaves an append as it is when something else comes between (the token verified, a health event) or a part is missing', () => {
    const idle = given(plan());
    const first = run([dispatch('live', 'j1', 2), verify('j1', 2), page('j1', progress(LIVE_WINDOW, 1), 3), complete('j1', true, progress(LIVE_WINDOW, 1), 3)], idle).events;
    expect(first.map((e) => e.type)).toEqual(['JobDispatched', 'TokenVerified', 'PageCollected', 'JobCompleted']);
    expect(compactCollectionEvents(first)).toEqual(first);

    const failing = given(plan(), dispatch('live', 'j0', 1), verify('j0', 1), failJob('j0', 'ThirdPartyGeneric', 1));
    const recovered = run([dispatch('live', 'j1', 2), page('j1', progress(LIVE_WINDOW, 1), 3), complete('j1', true, progress(LIVE_WINDOW, 1), 3)], failing).events;
    expect(recovered.map((e) => e.type)).toEqual(['JobDispatched', 'PageCollected', 'HealthEventResolved', 'JobCompleted']);
    expect(compactCollectionEvents(recovered)).toEqual(recovered);

    const verified = { ...idle, verifiedGeneration: 1 };
    const firstPages = run([dispatch('backfill', 'b1', 2), page('b1', progress(BACKFILL_WINDOW, 1), 3)], verified).events;
    expect(compactCollectionEvents(firstPages)).toEqual(firstPages);
  });

  it('does not merge a page and an end that differ in time or progress, nor events of two jobs', () => {
    const idle = { ...given(plan()), verifiedGeneration: 1 };
    const events = run([dispatch('live', 'j1', 2), page('j1', progress(LIVE_WINDOW, 1), 3), complete('j1', true, progress(LIVE_WINDOW, 1), 3)], idle).events;
    const [dispatched, collected, completed] = events as [CollectionEvent, CollectionEvent, CollectionEvent];
    const later = { ...completed, data: { ...completed.data, at: iso(4) } } as CollectionEvent;
    expect(compactCollectionEvents([dispatched, collected, later])).toEqual([dispatched, collected, later]);
    const further = { ...completed, data: { ...completed.data, progress: progress(LIVE_WINDOW, 2) } } as CollectionEvent;
    expect(compactCollectionEvents([dispatched, collected, further])).toEqual([dispatched, collected, further]);
    const otherJob = { ...completed, data: { ...completed.data, jobId: 'j2' } } as CollectionEvent;
    expect(compactCollectionEvents([dispatched, collected, otherJob])).toEqual([dispatched, collected, otherJob]);
    // Two one-page jobs in a row are two JobRan.
    expect(compactCollectionEvents([...events, ...events]).map((e) => e.type)).toEqual(['JobRan', 'JobRan']);
  });

  it('expands any other event to itself', () => {
    const event: CollectionEvent = { type: 'JobAbandoned', data: { sourceId, api: 'activities', jobId: 'x', lane: 'live', reason: 'r', at: iso(0) } };
    expect(expandCollectionEvent(event)).toEqual([event]);
  });

  it('is what the Collection decider compacts an append with', () => {
    expect(collectionDecider().compact).toBe(compactCollectionEvents);
  });
});

// ---------------------------------------------------------------------------------------------------
// Property: whatever a scheduler and its fetchers do, in any order, the aggregate stays consistent.

/** mulberry32: a tiny seeded PRNG, so a failing run can be repeated exactly. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const DOCUMENTED_REFUSALS = [StaleJobError, LaneBusyError, ReplayPendingError, StaleGenerationError, CollectionNotPlannedError];

function openHealthEvents(events: readonly CollectionEvent[]): Set<string> {
  const open = new Set<string>();
  for (const event of events) {
    if (event.type === 'HealthEventRaised') open.add(event.data.healthEventId);
    if (event.type === 'HealthEventResolved') open.delete(event.data.healthEventId);
  }
  return open;
}

function checkInvariants(before: CollectionState, after: CollectionState, log: readonly CollectionEvent[], policy: RetryPolicy): void {
  // Any replica folding the stream from scratch sees exactly this state.
  expect(foldCollection(log)).toEqual(after);
  if (after.status !== 'Planned') return;

  const ids = new Set<string>();
  for (const [lane, job] of Object.entries(after.jobs)) {
    expect(job!.lane).toBe(lane);
    expect(lanesOf(after.api)).toContain(lane);
    expect(ids.has(job!.jobId)).toBe(false);
    ids.add(job!.jobId);
  }

  // The health events open in the stream are exactly the ones the state knows about.
  const known = [after.failure?.healthEventId, after.warning?.healthEventId].filter((id): id is string => !!id);
  expect([...openHealthEvents(log)].sort()).toEqual(known.sort());

  if (after.failure) {
    expect(after.failure.healthEventId).not.toBe('');
    expect(after.failure.attempts).toBeGreaterThanOrEqual(1);
    if (after.failure.retryAt !== null) {
      expect(after.failure.retryAt > after.failure.firstAt).toBe(true);
      expect(after.failure.retryAt <= shiftMicroIso(after.failure.firstAt, policy.windowMs)).toBe(true);
    }
  }
  if (after.verifiedGeneration !== null) expect(after.verifiedGeneration).toBe(after.generation);
  if (before.status !== 'Planned') return;

  expect(after.generation).toBeGreaterThanOrEqual(before.generation);
  // The live checkpoint never goes back (a reset starts it at the plan time, which is later still).
  expect(after.live.checkpoint >= before.live.checkpoint).toBe(true);
  // Backfill progress never goes backwards within the same window, and a done backfill stays done.
  if (before.backfill && after.backfill && before.backfill.window.from === after.backfill.window.from && before.backfill.window.to === after.backfill.window.to) {
    expect(after.backfill.progress.pages).toBeGreaterThanOrEqual(before.backfill.progress.pages);
    expect(after.backfill.progress.records).toBeGreaterThanOrEqual(before.backfill.progress.records);
    if (before.backfill.done) expect(after.backfill.done).toBe(true);
  }
  if (before.snapshot.lastCompletedAt && after.snapshot.lastCompletedAt) {
    expect(after.snapshot.lastCompletedAt >= before.snapshot.lastCompletedAt).toBe(true);
  }
}

function checkSteps(state: CollectionState, steps: readonly PlannedStep[], now: Date): void {
  if (state.status !== 'Planned') {
    expect(steps).toEqual([]);
    return;
  }
  const at = toMicroIso(now);
  const abandoned = new Set(steps.flatMap((s) => (s.type === 'abandon' ? [s.jobId] : [])));
  const waiting = state.failure !== null && (state.failure.retryAt === null || at < state.failure.retryAt);
  const dispatched = new Set<Lane>();
  for (const step of steps) {
    if (step.type === 'abandon') {
      const job = Object.values(state.jobs).find((j) => j?.jobId === step.jobId);
      expect(job).toBeDefined();
      continue;
    }
    expect(waiting).toBe(false);
    expect(lanesOf(state.api)).toContain(step.lane);
    expect(dispatched.has(step.lane)).toBe(false);
    dispatched.add(step.lane);
    const busy = state.jobs[step.lane];
    if (busy) expect(abandoned.has(busy.jobId)).toBe(true);
    expect(step.window.from < step.window.to).toBe(true);
    expect(step.window.to <= at).toBe(true);
  }
}

describe('property: a random but valid sequence of scheduler and fetcher commands', () => {
  // A 30-minute window so that streaks also give up within a run.
  const policy: RetryPolicy = { windowMs: 30 * MINUTE, initialDelayMs: 5_000, maxDelayMs: 5 * MINUTE };
  const settings: PlanSettings = { pollIntervalMs: MINUTE, overlapMs: 2 * MINUTE, snapshotIntervalMs: 60 * MINUTE, stallTimeoutMs: 10 * MINUTE };
  const STEPS = 400;
  const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];

  /** One seeded run; returns how often each event type and refusal code occurred. */
  function simulate(api: SourceApi, seed: number): Map<string, number> {
    const seen = new Map<string, number>();
    const count = (key: string) => seen.set(key, (seen.get(key) ?? 0) + 1);
    const random = prng(seed * 7_919 + api.length);
    const pick = <T,>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    let nowMs = T0.getTime();
    let state: CollectionState = initialCollectionState();
    const log: CollectionEvent[] = [];
    const pastJobIds: string[] = [];
    let generation = 0;
    let baseUrl = BASE_URL;

    const execute = (command: CollectionCommand): boolean => {
      const before = state;
      let events: CollectionEvent[];
      try {
        events = decideCollection(command, state, policy);
      } catch (error) {
        // Anything else (a TypeError, a RangeError from a bad timestamp) is a bug.
        expect(DOCUMENTED_REFUSALS.some((type) => error instanceof type), `${command.type} threw ${String(error)}`).toBe(true);
        expect(error).toBeInstanceOf(DomainError);
        count((error as DomainError).code);
        return false;
      }
      for (const event of events) {
        state = evolveCollection(state, event);
        count(event.type);
        if (event.type === 'JobFailed' && event.data.retryAt === null) count('gave up');
        if (event.type === 'JobCompleted' && event.data.finished) count(`${event.data.lane} finished`);
        if (event.type === 'CollectionPlanned' && event.data.reset && log.length > 0) count('reset');
        if (event.type === 'JobDispatched') pastJobIds.push(event.data.jobId);
      }
      log.push(...events);
      checkInvariants(before, state, log, policy);
      return true;
    };

    for (let step = 0; step < STEPS; step++) {
      nowMs += random() < 0.05 ? pick([20, 45, 120]) * MINUTE : pick([0, 1_000, 5_000, 30_000, MINUTE, 3 * MINUTE]);
      const now = new Date(nowMs);
      const metadata = { now };
      const roll = random();

      if (state.status === 'Unplanned' || roll < 0.03) {
        // The scheduler plans: mostly a new generation (update/restart), sometimes a repeat or a stale one.
        const kind = state.status === 'Unplanned' ? 'newer' : pick(['newer', 'newer', 'same', 'older'] as const);
        if (kind === 'newer') {
          generation++;
          if (random() < 0.3) baseUrl = `https://console-${generation}.sentinelone.net`;
        }
        const g = kind === 'older' ? generation - 1 : generation;
        execute({ type: 'PlanCollection', data: { sourceId, api, generation: g, baseUrl, backfillMs: pick([0, DAY, 7 * DAY]) }, metadata });
      } else if (roll < 0.4) {
        // A scheduler tick: do what planSteps says, in order.
        const steps = planSteps(state, now, settings);
        checkSteps(state, steps, now);
        for (const s of steps) {
          if (s.type === 'abandon') count('stalled');
          if (s.type === 'abandon') execute({ type: 'AbandonJob', data: { jobId: s.jobId, reason: s.reason }, metadata });
          else execute({ type: 'DispatchJob', data: { jobId: `${sourceId}:${api}:${s.lane}:${log.length + 1}`, lane: s.lane, window: s.window, resume: s.resume }, metadata });
        }
        // A second replica with the same plan right after: its dispatches find the lanes busy.
        if (random() < 0.2) {
          for (const s of steps) {
            if (s.type === 'dispatch') expect(execute({ type: 'DispatchJob', data: { jobId: `replica-${log.length + 1}`, lane: s.lane, window: s.window, resume: s.resume }, metadata })).toBe(false);
          }
        }
      } else if (roll < 0.9) {
        // A fetcher reports on a job in flight (or, sometimes, on a job that is over: a redelivery).
        const inFlight = state.status === 'Planned' ? Object.values(state.jobs).filter((j) => j !== undefined) : [];
        const job = inFlight.length > 0 && random() < 0.9 ? pick(inFlight) : undefined;
        const over = pastJobIds.filter((id) => !inFlight.some((j) => j.jobId === id));
        const jobId = job?.jobId ?? (over.length > 0 ? pick(over) : 'never-dispatched');
        const last = job?.progress ?? NO_PROGRESS;
        const next: Progress = {
          cursor: `cursor-${last.pages + 1}`,
          walkFrom: job?.window.from ?? null,
          lastTimestamp: job ? shiftMicroIso(job.window.from, (last.pages + 1) * 1_000) : null,
          records: last.records + Math.floor(random() * 1_000),
          pages: last.pages + 1,
        };
        const action = random();
        if (action < 0.1) execute({ type: 'RecordTokenVerified', data: { jobId }, metadata });
        else if (action < 0.55) execute({ type: 'RecordPage', data: { jobId, progress: next, pageRecords: 1_000, rateLimited: random() < 0.2 }, metadata });
        else if (action < 0.7) execute({ type: 'CompleteJob', data: { jobId, finished: random() < 0.6, progress: next }, metadata });
        else if (action < 0.9) {
          const retryAfterMs = random() < 0.3 ? pick([1_000, 60_000, 40 * MINUTE]) : undefined;
          execute({ type: 'FailJob', data: { jobId, errorType: pick(ERROR_TYPES), reason: 'simulated', random: random(), ...(retryAfterMs ? { retryAfterMs } : {}) }, metadata });
        } else execute({ type: 'AbandonJob', data: { jobId, reason: 'source is stopping' }, metadata });
      } else {
        // An operator asks for a replay of some past window.
        const to = nowMs - Math.floor(random() * DAY);
        const from = to - 1 - Math.floor(random() * 6 * 60 * MINUTE);
        execute({ type: 'RequestReplay', data: { window: { from: new Date(from).toISOString(), to: new Date(to).toISOString() } }, metadata });
      }
    }
    expect(log.filter((e) => e.type === 'JobDispatched').length).toBeGreaterThan(10);
    expect(log.filter((e) => e.type === 'PageCollected').length).toBeGreaterThan(10);
    // However the log is compacted, it folds to the same state.
    expect(foldCollection(compactCollectionEvents(log))).toEqual(state);
    return seen;
  }

  for (const api of SOURCE_APIS) {
    for (const seed of SEEDS) {
      it(`given ${api} and seed ${seed}, when ${STEPS} random commands run, then only documented DomainErrors are thrown and the invariants hold`, () => {
        simulate(api, seed);
      });
    }
  }

  it('across the runs, every event type, lane outcome and documented refusal was exercised', () => {
    const seen = new Map<string, number>();
    for (const api of SOURCE_APIS) {
      for (const seed of SEEDS) for (const [key, n] of simulate(api, seed)) seen.set(key, (seen.get(key) ?? 0) + n);
    }
    for (const key of ['gave up', 'reset', 'stalled', 'backfill finished', 'live finished', 'snapshot finished', 'replay finished']) expect(seen.get(key), key).toBeGreaterThan(0);
    for (const type of ['CollectionPlanned', 'JobDispatched', 'ReplayRequested', 'TokenVerified', 'PageCollected', 'JobCompleted', 'JobFailed', 'JobAbandoned', 'HealthEventRaised', 'HealthEventResolved']) {
      expect(seen.get(type), type).toBeGreaterThan(0);
    }
    for (const code of ['StaleJob', 'LaneBusy', 'ReplayPending', 'StaleGeneration']) expect(seen.get(code), code).toBeGreaterThan(0);
  });
});

describe('Collection decider: guards added after review', () => {
  const now = new Date('2026-11-27T10:00:00.000Z');
  const meta = { now };
  const plan = (): CollectionEvent[] =>
    decideCollection(
      { type: 'PlanCollection', data: { sourceId: 's', api: 'activities', generation: 1, baseUrl: 'https://x.sentinelone.net/', backfillMs: 3_600_000 } as const, metadata: meta },
      initialCollectionState(),
    );
  function run(commands: CollectionCommand[]): CollectionState {
    let state = foldCollection(plan());
    for (const command of commands) for (const event of decideCollection(command, state)) state = evolveCollection(state, event);
    return state;
  }
  const dispatch = (jobId: string, lane: 'backfill' | 'live'): CollectionCommand => ({
    type: 'DispatchJob',
    data: { jobId, lane, window: { from: '2026-11-27T09:00:00.000000Z', to: '2026-11-27T10:00:00.000000Z' }, resume: NO_PROGRESS },
    metadata: meta,
  });
  const page = (jobId: string, pages: number): CollectionCommand => ({
    type: 'RecordPage',
    data: { jobId, progress: { ...NO_PROGRESS, pages, records: pages * 10 }, pageRecords: 10, rateLimited: false },
    metadata: meta,
  });

  it('when a page report does not move the job forward (a second delivery of the job), then it is refused as stale', () => {
    const state = run([dispatch('j1', 'backfill'), page('j1', 1), page('j1', 2)]);
    expect(() => decideCollection(page('j1', 2), state)).toThrow(StaleJobError);
    expect(() => decideCollection(page('j1', 1), state)).toThrow(StaleJobError);
    expect(decideCollection(page('j1', 3), state).map((e) => e.type)).toEqual(['PageCollected']);
  });

  it('when collection gave up, then a later failure of another lane keeps it given up with the original cause', () => {
    const gaveUp = run([
      dispatch('b1', 'backfill'),
      dispatch('l1', 'live'),
      { type: 'FailJob', data: { jobId: 'b1', errorType: 'ThirdPartyConfig', reason: '401', random: 0.5 }, metadata: meta },
    ]);
    expect(gaveUp.status === 'Planned' && gaveUp.failure).toMatchObject({ errorType: 'ThirdPartyConfig', retryAt: null });
    const events = decideCollection({ type: 'FailJob', data: { jobId: 'l1', errorType: 'ThirdPartyGeneric', reason: '503', random: 0.5 }, metadata: meta }, gaveUp);
    expect(events.map((e) => e.type)).toEqual(['JobFailed']);
    expect(events[0]!.data).toMatchObject({ retryAt: null });
    const after = events.reduce(evolveCollection, gaveUp);
    expect(after.status === 'Planned' && after.failure).toMatchObject({ errorType: 'ThirdPartyConfig', retryAt: null, attempts: 2 });
    expect(after.status === 'Planned' && after.failure?.healthEventId).toBe(gaveUp.status === 'Planned' && gaveUp.failure?.healthEventId);
    expect(planSteps(after, new Date(now.getTime() + 3_600_000), { pollIntervalMs: 1000, overlapMs: 100, snapshotIntervalMs: 1000, stallTimeoutMs: 60_000 })).toEqual([]);
  });
});

describe('Collection decider: timing details', () => {
  const t0 = new Date('2026-11-27T10:00:00.000Z');
  const at = (ms: number) => new Date(t0.getTime() + ms);
  const planAt = (when: Date, generation: number, state: CollectionState): CollectionEvent[] =>
    decideCollection(
      { type: 'PlanCollection', data: { sourceId: 's', api: 'activities', generation, baseUrl: 'https://x.sentinelone.net/', backfillMs: 3_600_000 }, metadata: { now: when } },
      state,
    );

  it('when a collection is planned again long after its checkpoint, then the live checkpoint is no older than the backfill horizon', () => {
    const first = foldCollection(planAt(t0, 1, initialCollectionState()));
    const later = at(48 * 3_600_000);
    const replanned = planAt(later, 2, first).reduce(evolveCollection, first);
    expect(replanned.status === 'Planned' && replanned.live.checkpoint).toBe('2026-11-29T09:00:00.000000Z');
    const soon = planAt(at(60_000), 2, first).reduce(evolveCollection, first);
    expect(soon.status === 'Planned' && soon.live.checkpoint).toBe('2026-11-27T10:00:00.000000Z');
    const noBackfill = decideCollection(
      { type: 'PlanCollection', data: { sourceId: 's', api: 'activities', generation: 2, baseUrl: 'https://x.sentinelone.net/', backfillMs: 0 }, metadata: { now: later } },
      first,
    ).reduce(evolveCollection, first);
    expect(noBackfill.status === 'Planned' && noBackfill.live.checkpoint).toBe('2026-11-27T10:00:00.000000Z');
  });

  it('when the token is verified, then the job counts as progressing (no stall)', () => {
    let state = foldCollection(planAt(t0, 1, initialCollectionState()));
    for (const e of decideCollection(
      { type: 'DispatchJob', data: { jobId: 'j', lane: 'backfill', window: { from: '2026-11-27T09:00:00.000000Z', to: '2026-11-27T10:00:00.000000Z' }, resume: NO_PROGRESS }, metadata: { now: t0 } },
      state,
    ))
      state = evolveCollection(state, e);
    for (const e of decideCollection({ type: 'RecordTokenVerified', data: { jobId: 'j' }, metadata: { now: at(50_000) } }, state)) state = evolveCollection(state, e);
    const settings = { pollIntervalMs: 3_600_000, overlapMs: 1000, snapshotIntervalMs: 3_600_000, stallTimeoutMs: 60_000 };
    expect(planSteps(state, at(70_000), settings)).toEqual([]);
    expect(planSteps(state, at(111_000), settings).map((s) => s.type)).toEqual(['abandon', 'dispatch']);
  });
});

describe('Collection decider: rate limiting met while checking the token', () => {
  it('when the token check was rate limited, then a Warning opens with the TokenVerified', () => {
    const now = new Date('2026-11-27T10:00:00.000Z');
    let state = foldCollection(
      decideCollection(
        { type: 'PlanCollection', data: { sourceId: 's', api: 'threats', generation: 1, baseUrl: 'https://x.sentinelone.net/', backfillMs: 0 }, metadata: { now } },
        initialCollectionState(),
      ),
    );
    for (const e of decideCollection(
      { type: 'DispatchJob', data: { jobId: 'j', lane: 'live', window: { from: '2026-11-27T09:00:00.000000Z', to: '2026-11-27T10:00:00.000000Z' }, resume: NO_PROGRESS }, metadata: { now } },
      state,
    ))
      state = evolveCollection(state, e);
    const events = decideCollection({ type: 'RecordTokenVerified', data: { jobId: 'j', rateLimited: true }, metadata: { now } }, state);
    expect(events.map((e) => e.type)).toEqual(['TokenVerified', 'HealthEventRaised']);
    expect(events[1]!.data).toMatchObject({ severity: 'Warning', errorType: 'RateLimited' });
    expect(decideCollection({ type: 'RecordTokenVerified', data: { jobId: 'j' }, metadata: { now } }, state).map((e) => e.type)).toEqual(['TokenVerified']);
  });

  it('when another lane verified the token first, then a rate-limited check still opens the Warning', () => {
    const now = new Date('2026-11-27T10:00:00.000Z');
    let state = foldCollection(
      decideCollection(
        { type: 'PlanCollection', data: { sourceId: 's', api: 'activities', generation: 1, baseUrl: 'https://x.sentinelone.net/', backfillMs: 3_600_000 }, metadata: { now } },
        initialCollectionState(),
      ),
    );
    const window = { from: '2026-11-27T09:00:00.000000Z', to: '2026-11-27T10:00:00.000000Z' };
    for (const command of [
      { type: 'DispatchJob', data: { jobId: 'b', lane: 'backfill', window, resume: NO_PROGRESS }, metadata: { now } },
      { type: 'DispatchJob', data: { jobId: 'l', lane: 'live', window, resume: NO_PROGRESS }, metadata: { now } },
      { type: 'RecordTokenVerified', data: { jobId: 'l' }, metadata: { now } },
    ] as CollectionCommand[])
      for (const e of decideCollection(command, state)) state = evolveCollection(state, e);
    const events = decideCollection({ type: 'RecordTokenVerified', data: { jobId: 'b', rateLimited: true }, metadata: { now } }, state);
    expect(events.map((e) => e.type)).toEqual(['HealthEventRaised']);
    expect(decideCollection({ type: 'RecordTokenVerified', data: { jobId: 'b' }, metadata: { now } }, state)).toEqual([]);
  });
});

describe('laneMark', () => {
  const base = given(plan(), dispatch('backfill', 'b1'), page('b1', progress(BACKFILL_WINDOW, 1)));
  const after = (...commands: CollectionCommand[]) => commands.reduce<CollectionState>((s, c) => decideCollection(c, s).reduce(evolveCollection, s), base);

  it('moves with every event of its own lane: a dispatch, a page, an end, a failure, an abandonment', () => {
    const live = after(dispatch('live', 'l1', 1));
    for (const next of [
      after(dispatch('live', 'l1', 1)),
      after(dispatch('live', 'l1', 1), page('l1', progress(LIVE_WINDOW, 1), 2)),
      after(dispatch('live', 'l1', 1), { type: 'CompleteJob', data: { jobId: 'l1', finished: true, progress: progress(LIVE_WINDOW, 1) }, metadata: { now: clock(2) } }),
    ]) {
      expect(laneMark(next, 'live')).not.toBe(laneMark(base, 'live'));
    }
    expect(laneMark(after(dispatch('live', 'l1', 1), { type: 'AbandonJob', data: { jobId: 'l1', reason: 'stalled' }, metadata: { now: clock(2) } }), 'live')).not.toBe(laneMark(base, 'live'));
    expect(laneMark(after({ type: 'FailJob', data: { jobId: 'b1', errorType: 'ThirdPartyGeneric', reason: 'HTTP 502', random: 0.5 }, metadata: { now: clock(2) } }), 'backfill')).not.toBe(laneMark(base, 'backfill'));
    expect(laneMark(after(page('b1', progress(BACKFILL_WINDOW, 2), 2)), 'backfill')).not.toBe(laneMark(base, 'backfill'));
    expect(laneMark(live, 'live')).not.toBe(laneMark(after(dispatch('live', 'l2', 1)), 'live'));
  });

  it('stays when only other lanes or health move, and differs across generations and before the plan', () => {
    expect(laneMark(after(page('b1', progress(BACKFILL_WINDOW, 2), 2)), 'live')).toBe(laneMark(base, 'live'));
    expect(laneMark(after(verify('b1', 2)), 'live')).toBe(laneMark(base, 'live'));
    expect(laneMark(after(page('b1', progress(BACKFILL_WINDOW, 2), 2, true)), 'live')).toBe(laneMark(base, 'live'));
    expect(laneMark(after(requestReplay()), 'live')).toBe(laneMark(base, 'live'));
    expect(laneMark(after(requestReplay()), 'replay')).not.toBe(laneMark(base, 'replay'));
    expect(laneMark(after(plan({ generation: 2 })), 'live')).not.toBe(laneMark(base, 'live'));
    expect(laneMark(initialCollectionState(), 'live')).not.toBe(laneMark(base, 'live'));
  });
});
