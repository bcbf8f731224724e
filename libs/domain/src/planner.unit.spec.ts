import { describe, expect, it } from 'vitest';
import type { CollectionCommand } from './collection.commands';
import { decideCollection, evolveCollection } from './collection.decider';
import { planSteps, type PlannedStep, type PlanSettings } from './collection.planner';
import { initialCollectionState, type CollectionState, type PlannedCollection } from './collection.state';
import { NO_PROGRESS, type Lane, type Progress, type TimeWindow } from './collection.types';
import type { ErrorType, SourceApi } from './source.types';
import { formatMicros, shiftMicroIso, toMicroIso } from './timestamps';

const T0 = new Date('2026-11-27T10:00:00.000Z');
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const sourceId = 'src-1';
const SETTINGS: PlanSettings = { pollIntervalMs: MINUTE, overlapMs: 2 * MINUTE, snapshotIntervalMs: DAY, stallTimeoutMs: 10 * MINUTE };

const clock = (minute: number): Date => new Date(T0.getTime() + minute * MINUTE);
const iso = (minute: number): string => toMicroIso(clock(minute));
const BACKFILL: TimeWindow = { from: iso(-7 * 24 * 60), to: iso(0) };
const EPOCH = formatMicros(0);

function progress(window: TimeWindow, pages: number): Progress {
  return { cursor: `cursor-${pages}`, walkFrom: window.from, lastTimestamp: shiftMicroIso(window.from, pages * MINUTE), records: pages * 1000, pages };
}

/** A tiny scenario language: each command at a minute relative to T0. */
const at = (minute: number) => ({ now: clock(minute) });
const cmd = {
  plan: (minute = 0, api: SourceApi = 'activities', extra: { generation?: number; backfillMs?: number; baseUrl?: string } = {}): CollectionCommand => ({
    type: 'PlanCollection',
    data: { sourceId, api, generation: extra.generation ?? 1, baseUrl: extra.baseUrl ?? 'https://s1.example', backfillMs: extra.backfillMs ?? 7 * DAY },
    metadata: at(minute),
  }),
  dispatch: (lane: Lane, jobId: string, window: TimeWindow, minute = 0, resume: Progress = NO_PROGRESS): CollectionCommand => ({
    type: 'DispatchJob',
    data: { jobId, lane, window, resume },
    metadata: at(minute),
  }),
  page: (jobId: string, p: Progress, minute = 0): CollectionCommand => ({ type: 'RecordPage', data: { jobId, progress: p, pageRecords: 1000, rateLimited: false }, metadata: at(minute) }),
  complete: (jobId: string, finished: boolean, p: Progress, minute = 0): CollectionCommand => ({ type: 'CompleteJob', data: { jobId, finished, progress: p }, metadata: at(minute) }),
  fail: (jobId: string, errorType: ErrorType, minute = 0, retryAfterMs?: number): CollectionCommand => ({
    type: 'FailJob',
    data: { jobId, errorType, reason: 'simulated', random: 0, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) },
    metadata: at(minute),
  }),
  abandon: (jobId: string, minute = 0): CollectionCommand => ({ type: 'AbandonJob', data: { jobId, reason: 'stalled' }, metadata: at(minute) }),
  replay: (window: TimeWindow, minute = 0): CollectionCommand => ({ type: 'RequestReplay', data: { window }, metadata: at(minute) }),
};

function given(...commands: CollectionCommand[]): PlannedCollection {
  let state: CollectionState = initialCollectionState();
  for (const command of commands) for (const event of decideCollection(command, state)) state = evolveCollection(state, event);
  if (state.status !== 'Planned') throw new Error('expected a planned collection');
  return state;
}

const dispatches = (steps: PlannedStep[]) => steps.filter((s) => s.type === 'dispatch');
const lanes = (steps: PlannedStep[]) => dispatches(steps).map((s) => (s.type === 'dispatch' ? s.lane : undefined));
const stepFor = (steps: PlannedStep[], lane: Lane) => steps.find((s) => s.type === 'dispatch' && s.lane === lane);

describe('planSteps', () => {
  it('given an unplanned collection, then nothing is due, whatever the time', () => {
    expect(planSteps(initialCollectionState(), clock(0), SETTINGS)).toEqual([]);
    expect(planSteps(initialCollectionState(), clock(10_000), SETTINGS)).toEqual([]);
  });

  describe('given a first plan at T0', () => {
    const CASES: [SourceApi, number, Lane[], Lane[]][] = [
      // api, minute, due lanes, then after the poll interval
      ['activities', 0, ['backfill'], ['backfill', 'live']],
      ['threats', 0, ['backfill'], ['backfill', 'live']],
      ['agents', 0, ['snapshot'], ['live', 'snapshot']],
    ];
    for (const [api, minute, due, later] of CASES) {
      it(`when ${api} is planned, then ${due.join(', ')} is due at once and ${later.join(', ')} after the poll interval`, () => {
        const state = given(cmd.plan(0, api));
        expect(lanes(planSteps(state, clock(minute), SETTINGS))).toEqual(due);
        expect(lanes(planSteps(state, clock(0.999), SETTINGS))).toEqual(due);
        expect(lanes(planSteps(state, clock(1), SETTINGS))).toEqual(later);
      });
    }

    it('then the backfill step walks the whole backfill window from the start', () => {
      expect(planSteps(given(cmd.plan()), clock(0), SETTINGS)).toEqual([{ type: 'dispatch', lane: 'backfill', window: BACKFILL, resume: NO_PROGRESS }]);
    });

    it('then the snapshot step walks the whole inventory up to now', () => {
      expect(planSteps(given(cmd.plan(0, 'agents')), clock(0), SETTINGS)).toEqual([
        { type: 'dispatch', lane: 'snapshot', window: { from: EPOCH, to: iso(0) }, resume: NO_PROGRESS },
      ]);
    });

    it('without a backfill, then only live is due, after the poll interval', () => {
      const state = given(cmd.plan(0, 'activities', { backfillMs: 0 }));
      expect(planSteps(state, clock(0.5), SETTINGS)).toEqual([]);
      expect(lanes(planSteps(state, clock(1), SETTINGS))).toEqual(['live']);
    });

    it('then the live window is [checkpoint - overlap, now)', () => {
      const state = given(cmd.plan(0, 'activities', { backfillMs: 0 }));
      expect(planSteps(state, clock(1.5), SETTINGS)).toEqual([{ type: 'dispatch', lane: 'live', window: { from: iso(-2), to: iso(1.5) }, resume: NO_PROGRESS }]);
    });
  });

  describe('the live lane', () => {
    const W1: TimeWindow = { from: iso(-2), to: iso(1) };

    it('given a finished live window, then the next is due a poll interval after its end, overlapping it', () => {
      const state = given(cmd.plan(0, 'activities', { backfillMs: 0 }), cmd.dispatch('live', 'l1', W1, 1), cmd.complete('l1', true, progress(W1, 1), 1.5));
      expect(state.live.checkpoint).toBe(iso(1));
      expect(planSteps(state, clock(1.9), SETTINGS)).toEqual([]);
      expect(planSteps(state, clock(2), SETTINGS)).toEqual([{ type: 'dispatch', lane: 'live', window: { from: iso(-1), to: iso(2) }, resume: NO_PROGRESS }]);
    });

    for (const [name, ending] of [
      ['stopped at its page budget', (p: Progress) => cmd.complete('l1', false, p, 2)],
      ['failed', () => cmd.fail('l1', 'ThirdPartyGeneric', 2)],
      ['was abandoned', () => cmd.abandon('l1', 2)],
    ] as const) {
      it(`given a live window that ${name}, then the same window is resumed with its progress, not a new one`, () => {
        const p = progress(W1, 3);
        const state = given(cmd.plan(0, 'activities', { backfillMs: 0 }), cmd.dispatch('live', 'l1', W1, 1), cmd.page('l1', p, 1.5), ending(p));
        // Past any retry wait, and long after the poll interval.
        expect(planSteps(state, clock(30), SETTINGS)).toEqual([{ type: 'dispatch', lane: 'live', window: W1, resume: p }]);
      });
    }

    it('given polls that each start late, then the next stays due on the grid (no drift), and each window still reaches to its dispatch', () => {
      const commands: CollectionCommand[] = [cmd.plan(0, 'activities', { backfillMs: 0 })];
      const dispatchedAt: number[] = [];
      let checkpoint = 0;
      for (let cycle = 1; cycle <= 5; cycle++) {
        const state = given(...commands);
        // Due at its grid point, however late the last poll started (not a poll interval after that).
        expect(stepFor(planSteps(state, clock(cycle - 0.01), SETTINGS), 'live'), `cycle ${cycle}`).toBeUndefined();
        expect(stepFor(planSteps(state, clock(cycle), SETTINGS), 'live'), `cycle ${cycle}`).toBeDefined();
        // The scheduler comes 0.4 of an interval late every time.
        const tick = cycle + 0.4;
        const step = stepFor(planSteps(state, clock(tick), SETTINGS), 'live');
        expect(step, `cycle ${cycle}`).toEqual({ type: 'dispatch', lane: 'live', window: { from: iso(checkpoint - 2), to: iso(tick) }, resume: NO_PROGRESS });
        const window = { from: iso(checkpoint - 2), to: iso(tick) };
        commands.push(cmd.dispatch('live', `l${cycle}`, window, tick), cmd.complete(`l${cycle}`, true, progress(window, 1), tick + 0.1));
        dispatchedAt.push(tick);
        checkpoint = tick;
      }
      // One interval apart, as without lateness (it was 1.4 apart, each poll pushing the next back).
      expect(dispatchedAt).toEqual([1.4, 2.4, 3.4, 4.4, 5.4]);
    });

    it('given a scheduler more than an interval behind, then the next poll is due at the first grid point after the last one started', () => {
      const W: TimeWindow = { from: iso(-2), to: iso(3.5) };
      const state = given(cmd.plan(0, 'activities', { backfillMs: 0 }), cmd.dispatch('live', 'l1', W, 3.5), cmd.complete('l1', true, progress(W, 1), 3.6));
      expect(stepFor(planSteps(state, clock(3.99), SETTINGS), 'live')).toBeUndefined();
      expect(stepFor(planSteps(state, clock(4), SETTINGS), 'live')).toMatchObject({ window: { from: iso(1.5), to: iso(4) } });
    });

    it('given a fold without a grid (older code), then the next poll is due a poll interval after the checkpoint', () => {
      const planned = given(cmd.plan(0, 'activities', { backfillMs: 0 }), cmd.dispatch('live', 'l1', W1, 1.4), cmd.complete('l1', true, progress(W1, 1), 1.5));
      const { grid: _grid, ...live } = planned.live;
      const state = { ...planned, live };
      expect(stepFor(planSteps(state, clock(1.99), SETTINGS), 'live')).toBeUndefined();
      expect(stepFor(planSteps(state, clock(2), SETTINGS), 'live')).toBeDefined();
    });

    it('given a pending window and a long outage, then the resumed window is not stretched to now', () => {
      const state = given(cmd.plan(0, 'activities', { backfillMs: 0 }), cmd.dispatch('live', 'l1', W1, 1), cmd.abandon('l1', 2));
      expect(stepFor(planSteps(state, clock(600), SETTINGS), 'live')).toMatchObject({ window: W1 });
    });
  });

  describe('the backfill lane', () => {
    it('given a backfill stopped at its page budget, then it is resumed with its progress', () => {
      const p = progress(BACKFILL, 5);
      const state = given(cmd.plan(), cmd.dispatch('backfill', 'b1', BACKFILL), cmd.complete('b1', false, p, 1));
      expect(stepFor(planSteps(state, clock(1), SETTINGS), 'backfill')).toEqual({ type: 'dispatch', lane: 'backfill', window: BACKFILL, resume: p });
    });

    it('given a finished backfill, then it is never due again', () => {
      const state = given(cmd.plan(), cmd.dispatch('backfill', 'b1', BACKFILL), cmd.complete('b1', true, progress(BACKFILL, 9), 1));
      expect(lanes(planSteps(state, clock(1), SETTINGS))).toEqual(['live']);
      expect(lanes(planSteps(state, clock(100_000), SETTINGS))).toEqual(['live']);
    });

    it('given a new generation with the same URL, then the backfill resumes where it was', () => {
      const p = progress(BACKFILL, 5);
      const state = given(cmd.plan(), cmd.dispatch('backfill', 'b1', BACKFILL), cmd.page('b1', p, 1), cmd.plan(2, 'activities', { generation: 2 }));
      expect(stepFor(planSteps(state, clock(2), SETTINGS), 'backfill')).toEqual({ type: 'dispatch', lane: 'backfill', window: BACKFILL, resume: p });
    });

    it('given a new generation with another URL, then a new backfill starts from scratch at the new plan time', () => {
      const state = given(cmd.plan(), cmd.dispatch('backfill', 'b1', BACKFILL), cmd.page('b1', progress(BACKFILL, 5), 1), cmd.plan(60, 'activities', { generation: 2, baseUrl: 'https://other.example' }));
      expect(stepFor(planSteps(state, clock(60), SETTINGS), 'backfill')).toEqual({
        type: 'dispatch',
        lane: 'backfill',
        window: { from: shiftMicroIso(iso(60), -7 * DAY), to: iso(60) },
        resume: NO_PROGRESS,
      });
    });
  });

  describe('the snapshot lane (agents)', () => {
    const S1: TimeWindow = { from: EPOCH, to: iso(0) };

    it('given a snapshot finished, then the next is due a snapshot interval after the last one started', () => {
      const state = given(cmd.plan(0, 'agents'), cmd.dispatch('snapshot', 's1', S1, 0), cmd.complete('s1', true, progress(S1, 4), 30));
      expect(stepFor(planSteps(state, clock(24 * 60 - 1), SETTINGS), 'snapshot')).toBeUndefined();
      expect(stepFor(planSteps(state, clock(24 * 60), SETTINGS), 'snapshot')).toEqual({
        type: 'dispatch',
        lane: 'snapshot',
        window: { from: EPOCH, to: iso(24 * 60) },
        resume: NO_PROGRESS,
      });
    });

    it('given a snapshot stopped at its budget, then it is resumed at once with its window and progress', () => {
      const p = progress(S1, 2);
      const state = given(cmd.plan(0, 'agents'), cmd.dispatch('snapshot', 's1', S1, 0), cmd.complete('s1', false, p, 5));
      expect(stepFor(planSteps(state, clock(5), SETTINGS), 'snapshot')).toEqual({ type: 'dispatch', lane: 'snapshot', window: S1, resume: p });
    });

    it('never plans backfill for agents, however planned', () => {
      const state = given(cmd.plan(0, 'agents', { backfillMs: 30 * DAY }));
      for (const minute of [0, 1, 60, 24 * 60]) expect(lanes(planSteps(state, clock(minute), SETTINGS))).not.toContain('backfill');
    });
  });

  describe('the replay lane', () => {
    const R: TimeWindow = { from: iso(-120), to: iso(-60) };

    it('given no replay requested, then none is due', () => {
      expect(lanes(planSteps(given(cmd.plan()), clock(5), SETTINGS))).not.toContain('replay');
    });

    for (const api of ['activities', 'threats', 'agents'] as const) {
      it(`given a replay requested for ${api}, then it is due at once`, () => {
        const state = given(cmd.plan(0, api), cmd.replay(R, 0.1));
        expect(stepFor(planSteps(state, clock(0.1), SETTINGS), 'replay')).toEqual({ type: 'dispatch', lane: 'replay', window: R, resume: NO_PROGRESS });
      });
    }

    it('given a replay stopped at its budget, then it resumes with its progress; once finished, it is not due', () => {
      const p = progress(R, 2);
      const stopped = given(cmd.plan(), cmd.replay(R), cmd.dispatch('replay', 'r1', R), cmd.complete('r1', false, p, 1));
      expect(stepFor(planSteps(stopped, clock(1), SETTINGS), 'replay')).toEqual({ type: 'dispatch', lane: 'replay', window: R, resume: p });
      const done = given(cmd.plan(), cmd.replay(R), cmd.dispatch('replay', 'r1', R), cmd.complete('r1', true, p, 1));
      expect(stepFor(planSteps(done, clock(1), SETTINGS), 'replay')).toBeUndefined();
    });
  });

  describe('busy and stalled lanes', () => {
    const W: TimeWindow = { from: iso(-2), to: iso(1) };
    const busy = () => given(cmd.plan(), cmd.dispatch('backfill', 'b1', BACKFILL, 0), cmd.dispatch('live', 'l1', W, 1), cmd.page('l1', progress(W, 1), 5));

    it('given jobs in flight, then their lanes are skipped and the others planned', () => {
      const state = given(cmd.plan(), cmd.dispatch('backfill', 'b1', BACKFILL, 0), cmd.replay({ from: iso(-9), to: iso(-8) }, 1));
      expect(lanes(planSteps(state, clock(2), SETTINGS))).toEqual(['live', 'replay']);
    });

    it('given every lane busy, then nothing is due', () => {
      const state = given(cmd.plan(), cmd.dispatch('backfill', 'b1', BACKFILL, 0), cmd.dispatch('live', 'l1', W, 1), cmd.replay({ from: iso(-9), to: iso(-8) }, 1), cmd.dispatch('replay', 'r1', W, 1));
      expect(planSteps(state, clock(2), SETTINGS)).toEqual([]);
    });

    it('given a job just under the stall timeout, then it is left alone', () => {
      expect(planSteps(busy(), clock(9.99), SETTINGS)).toEqual([]);
    });

    it('given a job without progress for the stall timeout, then it is abandoned and its lane dispatched again with its progress', () => {
      // b1 has not moved since minute 0; l1 last moved at minute 5.
      const steps = planSteps(busy(), clock(10), SETTINGS);
      expect(steps).toEqual([
        { type: 'abandon', jobId: 'b1', reason: 'no progress for 600 s' },
        { type: 'dispatch', lane: 'backfill', window: BACKFILL, resume: NO_PROGRESS },
      ]);
      const later = planSteps(busy(), clock(15), SETTINGS);
      expect(later.filter((s) => s.type === 'abandon').map((s) => s.type === 'abandon' && s.jobId)).toEqual(['b1', 'l1']);
      expect(stepFor(later, 'live')).toEqual({ type: 'dispatch', lane: 'live', window: W, resume: progress(W, 1) });
    });
  });

  describe('failure streaks', () => {
    const W: TimeWindow = { from: iso(-2), to: iso(1) };
    // The live job fails at minute 2 with Retry-After 60 s: retryAt = minute 3.
    const failing = () => given(cmd.plan(0, 'activities', { backfillMs: 0 }), cmd.dispatch('live', 'l1', W, 1), cmd.fail('l1', 'ThirdPartyGeneric', 2, 60_000));

    it('given a failure waiting for its retry time, then nothing is dispatched', () => {
      const state = failing();
      expect(state.failure?.retryAt).toBe(iso(3));
      expect(planSteps(state, clock(2.5), SETTINGS)).toEqual([]);
      expect(planSteps(state, new Date(clock(3).getTime() - 1), SETTINGS)).toEqual([]);
    });

    it('given a failure whose retry time has come, then dispatch resumes where the lanes were', () => {
      expect(planSteps(failing(), clock(3), SETTINGS)).toEqual([{ type: 'dispatch', lane: 'live', window: W, resume: NO_PROGRESS }]);
      expect(lanes(planSteps(failing(), clock(50), SETTINGS))).toEqual(['live']);
    });

    it('given a failure waiting, then due lanes of every kind wait too (a replay included)', () => {
      const state = given(cmd.plan(), cmd.dispatch('live', 'l1', W, 1), cmd.fail('l1', 'FirstPartyGeneric', 2, 60_000), cmd.replay({ from: iso(-9), to: iso(-8) }, 2.1));
      expect(planSteps(state, clock(2.5), SETTINGS)).toEqual([]);
      expect(lanes(planSteps(state, clock(3), SETTINGS))).toEqual(['backfill', 'live', 'replay']);
    });

    it('given a failure waiting and a stalled job in another lane, then the stalled job is still abandoned, but nothing dispatched', () => {
      const state = given(cmd.plan(), cmd.dispatch('backfill', 'b1', BACKFILL, 0), cmd.dispatch('live', 'l1', W, 9), cmd.fail('l1', 'ThirdPartyGeneric', 10, 5 * MINUTE));
      expect(planSteps(state, clock(11), SETTINGS)).toEqual([{ type: 'abandon', jobId: 'b1', reason: 'no progress for 600 s' }]);
    });

    for (const [name, history] of [
      ['a ThirdPartyConfig error', [cmd.fail('l1', 'ThirdPartyConfig', 2)]],
      ['a generic error past the retry window', [cmd.fail('l1', 'ThirdPartyGeneric', 2), cmd.dispatch('live', 'l2', W, 3), cmd.fail('l2', 'ThirdPartyGeneric', 92)]],
    ] as const) {
      it(`given collection gave up after ${name}, then nothing is ever dispatched until a new generation is planned`, () => {
        const state = given(cmd.plan(0, 'activities', { backfillMs: 0 }), cmd.dispatch('live', 'l1', W, 1), ...history);
        expect(state.failure?.retryAt).toBeNull();
        for (const minute of [93, 200, 10_000]) expect(planSteps(state, clock(minute), SETTINGS)).toEqual([]);
        const replanned = given(cmd.plan(0, 'activities', { backfillMs: 0 }), cmd.dispatch('live', 'l1', W, 1), ...history, cmd.plan(100, 'activities', { generation: 2, backfillMs: 0 }));
        expect(planSteps(replanned, clock(100), SETTINGS)).toEqual([{ type: 'dispatch', lane: 'live', window: W, resume: NO_PROGRESS }]);
      });
    }

    it('given a failure resolved by a page of another lane, then the waiting ends at once', () => {
      const state = given(cmd.plan(), cmd.dispatch('backfill', 'b1', BACKFILL, 0), cmd.dispatch('live', 'l1', W, 1), cmd.fail('l1', 'ThirdPartyGeneric', 2, 30 * MINUTE), cmd.page('b1', progress(BACKFILL, 1), 2.5));
      expect(state.failure).toBeNull();
      expect(lanes(planSteps(state, clock(2.5), SETTINGS))).toEqual(['live']);
    });
  });

  it('is pure: the same state and time give the same steps, and the state is not touched', () => {
    const state = given(cmd.plan(), cmd.dispatch('backfill', 'b1', BACKFILL, 0));
    const frozen = JSON.stringify(state);
    expect(planSteps(state, clock(30), SETTINGS)).toEqual(planSteps(state, clock(30), SETTINGS));
    expect(JSON.stringify(state)).toBe(frozen);
  });

  it('drives a healthy activities collection end to end when the scheduler does what it says', () => {
    // Each tick: execute the steps; each job then collects one page and finishes.
    let state: CollectionState = given(cmd.plan(0, 'activities', { backfillMs: 60 * MINUTE }));
    const apply = (command: CollectionCommand) => {
      for (const event of decideCollection(command, state)) state = evolveCollection(state, event);
    };
    let version = 1;
    for (let minute = 0; minute <= 10; minute++) {
      for (const step of planSteps(state, clock(minute), SETTINGS)) {
        if (step.type !== 'dispatch') continue;
        const jobId = `${sourceId}:activities:${step.lane}:${++version}`;
        apply(cmd.dispatch(step.lane, jobId, step.window, minute, step.resume));
        apply(cmd.page(jobId, progress(step.window, 1), minute));
        apply(cmd.complete(jobId, true, progress(step.window, 1), minute));
      }
    }
    const done = state as PlannedCollection;
    expect(done.backfill?.done).toBe(true);
    expect(done.live).toEqual({ checkpoint: iso(10), pending: null, grid: iso(0) });
    expect(done.jobs).toEqual({});
  });
});
