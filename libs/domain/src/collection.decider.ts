import type { CollectionEvent } from './collection.events';
import { NO_PROGRESS, type HealthFacts, type Lane, type Progress, type TimeWindow } from './collection.types';
import { decideRetry, DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry-policy';
import { DomainError, StaleGenerationError } from './source.errors';
import { HEALTH_EVENT_NAMES, type ErrorType, type SourceApi } from './source.types';
import { formatMicros, parseMicros, shiftMicroIso, toMicroIso } from './timestamps';

/** A job the aggregate no longer expects: finished, abandoned, or of an older generation. */
export class StaleJobError extends DomainError {
  readonly code = 'StaleJob';
  constructor(readonly jobId: string) {
    super(`job ${jobId} is not in flight any more`);
    this.name = 'StaleJobError';
  }
}

/** The API is not collected for the source (not in its supported_apis, or not started yet). */
export class CollectionNotPlannedError extends DomainError {
  readonly code = 'CollectionNotPlanned';
  constructor() {
    super('this API is not being collected for this source');
    this.name = 'CollectionNotPlannedError';
  }
}

export class LaneBusyError extends DomainError {
  readonly code = 'LaneBusy';
  constructor(readonly lane: Lane, readonly jobId: string) {
    super(`lane ${lane} already has job ${jobId} in flight`);
    this.name = 'LaneBusyError';
  }
}

/** A job in flight. */
export interface JobInFlight {
  readonly jobId: string;
  readonly lane: Lane;
  readonly window: TimeWindow;
  readonly dispatchedAt: string;
  readonly lastProgressAt: string;
  readonly progress: Progress;
}

/** An unfinished window, kept so the next job resumes where the last one stopped. */
export interface PendingWindow {
  readonly window: TimeWindow;
  readonly progress: Progress;
}

export interface FailureStreak {
  readonly healthEventId: string;
  readonly errorType: ErrorType;
  readonly reason: string;
  readonly firstAt: string;
  readonly attempts: number;
  /** When the next attempt is due; null when collection gave up. */
  readonly retryAt: string | null;
}

/** Collection of one API of one source, folded from its stream. */
export type CollectionState =
  | { readonly status: 'Unplanned' }
  | {
      readonly status: 'Planned';
      readonly sourceId: string;
      readonly api: SourceApi;
      readonly generation: number;
      readonly baseUrl: string;
      readonly backfill: { readonly window: TimeWindow; readonly progress: Progress; readonly done: boolean } | null;
      /**
       * Everything before `checkpoint` has been collected by the live lane. Live polls are due on a
       * grid, `grid + k × poll interval` (`grid` is the plan's live checkpoint), so that a poll the
       * scheduler starts late does not push every later one back (absent in folds of older code).
       */
      readonly live: { readonly checkpoint: string; readonly pending: PendingWindow | null; readonly grid?: string };
      readonly snapshot: { readonly lastStartedAt: string | null; readonly lastCompletedAt: string | null; readonly pending: PendingWindow | null };
      /** An operator's replay still to do (or under way). */
      readonly replay: PendingWindow | null;
      readonly jobs: Readonly<Partial<Record<Lane, JobInFlight>>>;
      readonly failure: FailureStreak | null;
      readonly warning: { readonly healthEventId: string; readonly since: string } | null;
      /** The generation whose token SentinelOne accepted, and the one that collected a page. */
      readonly verifiedGeneration: number | null;
      readonly collectingGeneration: number | null;
    };

export type PlannedCollection = Extract<CollectionState, { status: 'Planned' }>;

export const initialCollectionState = (): CollectionState => ({ status: 'Unplanned' });

interface Command<Type extends string, Data> {
  readonly type: Type;
  readonly data: Data;
  readonly metadata: { readonly now: Date };
}

export type PlanCollection = Command<
  'PlanCollection',
  { sourceId: string; api: SourceApi; generation: number; baseUrl: string; backfillMs: number }
>;
export type DispatchJob = Command<'DispatchJob', { jobId: string; lane: Lane; window: TimeWindow; resume: Progress }>;
export type RequestReplay = Command<'RequestReplay', { window: TimeWindow }>;
export type RecordTokenVerified = Command<'RecordTokenVerified', { jobId: string; rateLimited?: boolean }>;
export type RecordPage = Command<'RecordPage', { jobId: string; progress: Progress; pageRecords: number; rateLimited: boolean }>;
export type CompleteJob = Command<'CompleteJob', { jobId: string; finished: boolean; progress: Progress }>;
export type FailJob = Command<'FailJob', { jobId: string; errorType: ErrorType; reason: string; retryAfterMs?: number; random: number }>;
export type AbandonJob = Command<'AbandonJob', { jobId: string; reason: string }>;

export type CollectionCommand = PlanCollection | DispatchJob | RequestReplay | RecordTokenVerified | RecordPage | CompleteJob | FailJob | AbandonJob;

/** Which lanes an API has: the agent inventory is snapshotted instead of backfilled. */
export function lanesOf(api: SourceApi): readonly Lane[] {
  return api === 'agents' ? ['live', 'snapshot', 'replay'] : ['backfill', 'live', 'replay'];
}

/** A replay already asked for and not finished; a second request waits for it. */
export class ReplayPendingError extends DomainError {
  readonly code = 'ReplayPending';
  constructor(readonly window: TimeWindow) {
    super(`a replay of ${window.from} to ${window.to} is still under way`);
    this.name = 'ReplayPendingError';
  }
}

/** The stream of one API's collection for one source. */
export const collectionStreamId = (sourceId: string, api: SourceApi): string => `collection-${sourceId}-${api}`;

/**
 * Decides a Collection command. Pure: time (and, for retries, the jitter) come with the command.
 * `policy` is the retry policy (90 minutes by default; shortened in tests by configuration).
 */
export function decideCollection(
  command: CollectionCommand,
  state: CollectionState,
  policy: RetryPolicy = DEFAULT_RETRY_POLICY,
): CollectionEvent[] {
  const at = toMicroIso(command.metadata.now);
  if (command.type === 'PlanCollection') return plan(command, state, at);
  if (state.status === 'Unplanned') throw new CollectionNotPlannedError();
  const base = { sourceId: state.sourceId, api: state.api, at };

  if (command.type === 'RequestReplay') {
    if (state.replay) throw new ReplayPendingError(state.replay.window);
    const window = { from: toMicroIso(command.data.window.from), to: toMicroIso(command.data.window.to) };
    if (window.from >= window.to) throw new RangeError('a replay window must end after it starts');
    return [{ type: 'ReplayRequested', data: { ...base, window } }];
  }

  if (command.type === 'DispatchJob') {
    const { jobId, lane, window, resume } = command.data;
    const busy = state.jobs[lane];
    if (busy) throw new LaneBusyError(lane, busy.jobId);
    return [{ type: 'JobDispatched', data: { ...base, jobId, lane, generation: state.generation, window, resume } }];
  }

  const job = currentJob(state, command.data.jobId);
  const lane = job.lane;
  switch (command.type) {
    case 'RecordTokenVerified': {
      const events: CollectionEvent[] = [];
      if (state.verifiedGeneration !== state.generation) {
        events.push({ type: 'TokenVerified', data: { ...base, jobId: job.jobId, generation: state.generation } });
      }
      // Another lane may have verified first; being rate limited is news either way.
      if (command.data.rateLimited && !state.warning) events.push({ type: 'HealthEventRaised', data: { ...base, ...rateLimitWarning(state, at) } });
      return events;
    }
    case 'RecordPage': {
      const { progress, pageRecords, rateLimited } = command.data;
      // Progress only moves forward: a report behind the job's progress comes from a second
      // delivery of the same job, which must stop rather than rewind the walk.
      if (progress.pages <= job.progress.pages) throw new StaleJobError(job.jobId);
      const events: CollectionEvent[] = [{ type: 'PageCollected', data: { ...base, jobId: job.jobId, lane, progress, pageRecords, rateLimited } }];
      if (state.failure) events.push({ type: 'HealthEventResolved', data: { ...base, healthEventId: state.failure.healthEventId } });
      if (rateLimited && !state.warning) events.push({ type: 'HealthEventRaised', data: { ...base, ...rateLimitWarning(state, at) } });
      if (!rateLimited && state.warning) events.push({ type: 'HealthEventResolved', data: { ...base, healthEventId: state.warning.healthEventId } });
      return events;
    }
    case 'CompleteJob': {
      const { finished, progress } = command.data;
      const events: CollectionEvent[] = [{ type: 'JobCompleted', data: { ...base, jobId: job.jobId, lane, finished, progress } }];
      if (state.failure) events.push({ type: 'HealthEventResolved', data: { ...base, healthEventId: state.failure.healthEventId } });
      return events;
    }
    case 'FailJob':
      return fail(command, state, job, at, policy);
    case 'AbandonJob':
      return [{ type: 'JobAbandoned', data: { ...base, jobId: job.jobId, lane, reason: command.data.reason } }];
    default:
      return assertNever(command);
  }
}

function plan(command: PlanCollection, state: CollectionState, at: string): CollectionEvent[] {
  const { sourceId, api, generation, baseUrl, backfillMs } = command.data;
  if (state.status === 'Planned') {
    if (generation < state.generation) throw new StaleGenerationError(sourceId, generation, state.generation);
    if (generation === state.generation) return [];
  }
  const reset = state.status === 'Unplanned' || state.baseUrl !== baseUrl;
  const backfill = reset && backfillMs > 0 && lanesOf(api).includes('backfill') ? { from: shiftMicroIso(at, -backfillMs), to: at } : null;
  const events: CollectionEvent[] = [
    {
      type: 'CollectionPlanned',
      data: { sourceId, api, generation, baseUrl, reset, backfill, liveCheckpoint: reset ? at : keptCheckpoint(state as PlannedCollection, at, backfillMs), at },
    },
  ];
  // A new configuration starts with a clean bill of health: what was wrong was about the old one.
  if (state.status === 'Planned') {
    for (const open of [state.failure?.healthEventId, state.warning?.healthEventId]) {
      if (open) events.push({ type: 'HealthEventResolved', data: { sourceId, api, healthEventId: open, at } });
    }
  }
  return events;
}

/**
 * The live checkpoint a new plan carries over, never further back than the backfill horizon: an API
 * removed long ago and added again must not start with one enormous live window.
 */
function keptCheckpoint(state: PlannedCollection, at: string, backfillMs: number): string {
  // Without a backfill horizon there is nothing to cap against; moving the checkpoint to "now"
  // would skip what happened since the last poll.
  if (backfillMs <= 0) return state.live.checkpoint;
  const horizon = shiftMicroIso(at, -backfillMs);
  return state.live.checkpoint < horizon ? horizon : state.live.checkpoint;
}

function fail(command: FailJob, state: PlannedCollection, job: JobInFlight, at: string, policy: RetryPolicy): CollectionEvent[] {
  const { errorType, reason, retryAfterMs, random } = command.data;
  const base = { sourceId: state.sourceId, api: state.api, at };
  // Once collection gave up, it stays given up until a new configuration (a new plan): a later
  // failure of another lane must not start a new retry streak.
  if (state.failure && state.failure.retryAt === null) {
    return [{ type: 'JobFailed', data: { ...base, jobId: job.jobId, lane: job.lane, errorType, reason, attempt: state.failure.attempts + 1, retryAt: null } }];
  }
  const events: CollectionEvent[] = [];
  const continuing = state.failure && state.failure.errorType === errorType ? state.failure : null;
  if (state.failure && !continuing) events.push({ type: 'HealthEventResolved', data: { ...base, healthEventId: state.failure.healthEventId } });
  const firstAt = state.failure?.firstAt ?? at;
  const attempt = (state.failure?.attempts ?? 0) + 1;
  const decision = decideRetry(
    { errorType, attempt, streakStartedMs: parseMicros(firstAt)! / 1000, nowMs: parseMicros(at)! / 1000, retryAfterMs, random },
    policy,
  );
  const retryAt = decision.retry ? formatMicros(Math.round(decision.atMs * 1000)) : null;
  const until = errorType === 'ThirdPartyConfig' ? undefined : shiftMicroIso(firstAt, policy.windowMs);
  const healthEventId = continuing?.healthEventId ?? `health-${state.sourceId}-${state.api}-${errorType}-${parseMicros(at)}`;
  events.push(
    { type: 'JobFailed', data: { ...base, jobId: job.jobId, lane: job.lane, errorType, reason, attempt, retryAt } },
    {
      type: 'HealthEventRaised',
      data: {
        ...base,
        healthEventId,
        severity: 'Error',
        errorType,
        eventName: HEALTH_EVENT_NAMES[errorType],
        description: describeFailure(errorType, reason, decision.retry ? retryAt : null, until),
        retry: decision.retry ? { retrying: true, nextAttemptAt: retryAt!, ...(until ? { until } : {}) } : { retrying: false },
      },
    },
  );
  return events;
}

function describeFailure(errorType: ErrorType, reason: string, retryAt: string | null, until: string | undefined): string {
  switch (errorType) {
    case 'ThirdPartyConfig':
      return `${reason}. Collection is stopped: check the API token, its permissions and base_url, then update the source (or restart it once fixed in SentinelOne).`;
    case 'ThirdPartyGeneric':
      return retryAt
        ? `${reason}. SentinelOne is failing or unreachable; retrying with backoff (next attempt ${retryAt}, until ${until}). No action is needed unless it persists.`
        : `${reason}. Gave up after retrying until ${until}: restart the source once SentinelOne is reachable again.`;
    case 'FirstPartyGeneric':
      return retryAt
        ? `${reason}. An internal failure (NATS, MongoDB or the collector); retrying with backoff (next attempt ${retryAt}, until ${until}). Check the collector's services and logs.`
        : `${reason}. Gave up after retrying until ${until}: fix the collector's services, then restart the source.`;
  }
}

function rateLimitWarning(state: PlannedCollection, at: string): HealthFacts {
  return {
    healthEventId: `health-${state.sourceId}-${state.api}-RateLimited-${parseMicros(at)}`,
    severity: 'Warning',
    errorType: 'RateLimited',
    eventName: 'ThirdPartyGenericWarning',
    description: 'SentinelOne is rate limiting requests (HTTP 429); collection continues, more slowly. Consider fewer sources per API token.',
    sourceId: state.sourceId,
    api: state.api,
    retry: { retrying: true },
  };
}

function currentJob(state: PlannedCollection, jobId: string): JobInFlight {
  const job = Object.values(state.jobs).find((j) => j?.jobId === jobId);
  if (!job) throw new StaleJobError(jobId);
  return job;
}

/** Applies one event. Total: an event that cannot apply leaves the state as it is. */
export function evolveCollection(state: CollectionState, event: CollectionEvent): CollectionState {
  const at = event.data.at;
  if (event.type === 'CollectionPlanned') {
    const { sourceId, api, generation, baseUrl, reset, backfill, liveCheckpoint } = event.data;
    const kept = state.status === 'Planned' && !reset ? state : undefined;
    return {
      status: 'Planned',
      sourceId,
      api,
      generation,
      baseUrl,
      backfill: kept ? kept.backfill : backfill ? { window: backfill, progress: NO_PROGRESS, done: false } : null,
      live: { checkpoint: liveCheckpoint, pending: kept?.live.pending ?? null, grid: liveCheckpoint },
      snapshot: kept?.snapshot ?? { lastStartedAt: null, lastCompletedAt: null, pending: null },
      replay: kept?.replay ?? null,
      // Jobs of the old configuration are over: whatever they still report is refused as stale.
      jobs: {},
      failure: null,
      warning: null,
      verifiedGeneration: null,
      collectingGeneration: null,
    };
  }
  if (state.status !== 'Planned') return state;

  switch (event.type) {
    case 'JobDispatched': {
      const { jobId, lane, window, resume } = event.data;
      const job: JobInFlight = { jobId, lane, window, dispatchedAt: at, lastProgressAt: at, progress: resume };
      const next = { ...state, jobs: { ...state.jobs, [lane]: job } };
      if (lane === 'live') return { ...next, live: { ...state.live, pending: { window, progress: resume } } };
      if (lane === 'snapshot') {
        const fresh = resume.pages === 0;
        return { ...next, snapshot: { ...state.snapshot, lastStartedAt: fresh ? at : state.snapshot.lastStartedAt, pending: { window, progress: resume } } };
      }
      return next;
    }
    case 'ReplayRequested':
      return { ...state, replay: { window: event.data.window, progress: NO_PROGRESS } };
    case 'TokenVerified': {
      // Verifying the token is progress too: a slow first page after it is not a stall.
      const job = Object.values(state.jobs).find((j) => j?.jobId === event.data.jobId);
      const jobs = job ? { ...state.jobs, [job.lane]: { ...job, lastProgressAt: at } } : state.jobs;
      return { ...state, jobs, verifiedGeneration: event.data.generation };
    }
    case 'PageCollected': {
      const job = state.jobs[event.data.lane];
      if (!job || job.jobId !== event.data.jobId) return state;
      const { progress } = event.data;
      const withJob = {
        ...withProgress(state, job, progress),
        jobs: { ...state.jobs, [job.lane]: { ...job, progress, lastProgressAt: at } },
        collectingGeneration: state.generation,
        failure: null,
      };
      if (event.data.rateLimited) return withJob;
      return { ...withJob, warning: null };
    }
    case 'JobCompleted': {
      const job = state.jobs[event.data.lane];
      if (!job || job.jobId !== event.data.jobId) return state;
      const { finished, progress } = event.data;
      const jobs = { ...state.jobs };
      delete jobs[job.lane];
      const next = { ...withProgress(state, job, progress), jobs, failure: null };
      if (!finished) return next;
      // Without a backfill window (agents, or no S1C_BACKFILL) a backfill job must not fall through to the snapshot lane.
      if (job.lane === 'backfill') return next.backfill ? { ...next, backfill: { ...next.backfill, done: true } } : next;
      if (job.lane === 'live') {
        // The checkpoint only moves forward, whatever window a job was dispatched with.
        const checkpoint = job.window.to > next.live.checkpoint ? job.window.to : next.live.checkpoint;
        return { ...next, live: { ...next.live, checkpoint, pending: null } };
      }
      if (job.lane === 'replay') return { ...next, replay: null };
      return { ...next, snapshot: { ...next.snapshot, lastCompletedAt: job.window.to, pending: null } };
    }
    case 'JobFailed': {
      const job = state.jobs[event.data.lane];
      if (!job || job.jobId !== event.data.jobId) return state;
      const jobs = { ...state.jobs };
      delete jobs[job.lane];
      const { errorType, reason, attempt, retryAt } = event.data;
      const previous = state.failure;
      // After giving up, the failure that made collection quit stays the one on record.
      if (previous && previous.retryAt === null) return { ...state, jobs, failure: { ...previous, attempts: attempt } };
      const failure: FailureStreak = {
        healthEventId: previous && previous.errorType === errorType ? previous.healthEventId : '',
        errorType,
        reason,
        firstAt: previous?.firstAt ?? at,
        attempts: attempt,
        retryAt,
      };
      return { ...state, jobs, failure };
    }
    case 'JobAbandoned': {
      const job = state.jobs[event.data.lane];
      if (!job || job.jobId !== event.data.jobId) return state;
      const jobs = { ...state.jobs };
      delete jobs[job.lane];
      return { ...state, jobs };
    }
    case 'HealthEventRaised':
      if (event.data.severity === 'Warning') return { ...state, warning: { healthEventId: event.data.healthEventId, since: at } };
      return state.failure ? { ...state, failure: { ...state.failure, healthEventId: event.data.healthEventId } } : state;
    case 'HealthEventResolved':
      if (state.warning?.healthEventId === event.data.healthEventId) return { ...state, warning: null };
      return state;
    default:
      return assertNever(event);
  }
}

/** Keeps a lane's progress outside the job too, so the next job resumes after a crash or failure. */
function withProgress(state: PlannedCollection, job: JobInFlight, progress: Progress): PlannedCollection {
  switch (job.lane) {
    case 'backfill':
      return state.backfill ? { ...state, backfill: { ...state.backfill, progress } } : state;
    case 'live':
      return { ...state, live: { ...state.live, pending: { window: job.window, progress } } };
    case 'snapshot':
      return { ...state, snapshot: { ...state.snapshot, pending: { window: job.window, progress } } };
    case 'replay':
      return state.replay ? { ...state, replay: { window: state.replay.window, progress } } : state;
  }
}

/** The Collection aggregate as a decider, with the retry policy its failures are judged by. */
export function collectionDecider(policy: RetryPolicy = DEFAULT_RETRY_POLICY) {
  return {
    decide: (command: CollectionCommand, state: CollectionState) => decideCollection(command, state, policy),
    evolve: evolveCollection,
    initialState: initialCollectionState,
  } as const;
}

export function foldCollection(events: Iterable<CollectionEvent>): CollectionState {
  let state = initialCollectionState();
  for (const event of events) state = evolveCollection(state, event);
  return state;
}

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

function assertNever(value: never): never {
  throw new Error(`unhandled: ${JSON.stringify(value)}`);
}
