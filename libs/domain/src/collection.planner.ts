import { NO_PROGRESS, lanesOf, type Lane, type Progress, type TimeWindow } from './collection.types';
import type { CollectionState, PlannedCollection } from './collection.state';
import { formatMicros, parseMicros, shiftMicroIso, toMicroIso } from './timestamps';

/** Timing of the lanes. */
export interface PlanSettings {
  readonly pollIntervalMs: number;
  /** How far each live window reaches back before the checkpoint, for rows that became visible late. */
  readonly overlapMs: number;
  readonly snapshotIntervalMs: number;
  /** A job with no progress for this long is abandoned and dispatched again. */
  readonly stallTimeoutMs: number;
}

export type PlannedStep =
  | { readonly type: 'dispatch'; readonly lane: Lane; readonly window: TimeWindow; readonly resume: Progress }
  | { readonly type: 'abandon'; readonly jobId: string; readonly reason: string };

/**
 * What the scheduler should do now for one collection: abandon stalled jobs, and dispatch the lanes
 * that are due and idle. Nothing is dispatched while a failure streak waits for its retry time, or
 * after collection gave up (until the source is updated or restarted).
 */
export function planSteps(state: CollectionState, now: Date, settings: PlanSettings): PlannedStep[] {
  if (state.status !== 'Planned') return [];
  const at = toMicroIso(now);
  const steps: PlannedStep[] = [];
  const busy = new Set<Lane>();
  for (const job of Object.values(state.jobs)) {
    if (!job) continue;
    if (parseMicros(at)! - parseMicros(job.lastProgressAt)! >= settings.stallTimeoutMs * 1000) {
      steps.push({ type: 'abandon', jobId: job.jobId, reason: `no progress for ${Math.round(settings.stallTimeoutMs / 1000)} s` });
    } else {
      busy.add(job.lane);
    }
  }
  if (state.failure && (state.failure.retryAt === null || at < state.failure.retryAt)) return steps;

  for (const lane of lanesOf(state.api)) {
    if (busy.has(lane)) continue;
    const step = dueStep(state, lane, at, settings);
    if (step) steps.push(step);
  }
  return steps;
}

/**
 * When the next live poll is due: the first point of the lane's grid after its checkpoint (the end
 * of the last live window, i.e. when that poll was dispatched). A poll dispatched late still leaves
 * the next one on the grid, one interval after the last grid point, so lateness never accumulates;
 * the window itself always reaches to the time of dispatch, so nothing waits an extra interval.
 */
export function nextLiveDue(live: PlannedCollection['live'], pollIntervalMs: number): string {
  if (live.grid === undefined) return shiftMicroIso(live.checkpoint, pollIntervalMs);
  const grid = parseMicros(live.grid)!;
  const step = pollIntervalMs * 1000;
  const passed = Math.floor((parseMicros(live.checkpoint)! - grid) / step);
  return formatMicros(grid + (Math.max(passed, 0) + 1) * step);
}

function dueStep(state: PlannedCollection, lane: Lane, at: string, settings: PlanSettings): PlannedStep | undefined {
  switch (lane) {
    case 'backfill':
      if (!state.backfill || state.backfill.done) return undefined;
      return { type: 'dispatch', lane, window: state.backfill.window, resume: state.backfill.progress };
    case 'live': {
      const { pending } = state.live;
      if (pending) return { type: 'dispatch', lane, window: pending.window, resume: pending.progress };
      if (at < nextLiveDue(state.live, settings.pollIntervalMs)) return undefined;
      return { type: 'dispatch', lane, window: { from: shiftMicroIso(state.live.checkpoint, -settings.overlapMs), to: at }, resume: NO_PROGRESS };
    }
    case 'snapshot': {
      const { pending, lastStartedAt } = state.snapshot;
      if (pending) return { type: 'dispatch', lane, window: pending.window, resume: pending.progress };
      if (lastStartedAt !== null && at < shiftMicroIso(lastStartedAt, settings.snapshotIntervalMs)) return undefined;
      return { type: 'dispatch', lane, window: { from: formatMicros(0), to: at }, resume: NO_PROGRESS };
    }
    case 'replay':
      return state.replay ? { type: 'dispatch', lane, window: state.replay.window, resume: state.replay.progress } : undefined;
  }
}
