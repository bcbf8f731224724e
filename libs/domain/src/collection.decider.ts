import type { Decider } from './decider';
import type { CollectionCommand, FailJob, PlanCollection } from './collection.commands';
import { CollectionNotPlannedError, LaneBusyError, ReplayPendingError, StaleJobError } from './collection.errors';
import type { CollectionEvent } from './collection.events';
import { initialCollectionState, type CollectionState, type FailureStreak, type JobInFlight, type PlannedCollection } from './collection.state';
import { lanesOf, NO_PROGRESS, type HealthFacts, type Lane, type Progress } from './collection.types';
import { decideRetry, DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry-policy';
import { StaleGenerationError } from './source.errors';
import { HEALTH_EVENT_NAMES, type ErrorType } from './source.types';
import { formatMicros, parseMicros, shiftMicroIso, toMicroIso } from './timestamps';

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
    const { jobId, lane, window, resume, generation } = command.data;
    if (generation !== undefined && generation !== state.generation) throw new StaleJobError(jobId);
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
    case 'JobRan':
      return expandCollectionEvent(event).reduce(evolveCollection, state);
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

/**
 * What a lane's next dispatch is decided on: its job in flight and its progress. A dispatch decided
 * on one state is still the one to make on another exactly when the lane's mark is the same in both
 * (events of other lanes, health events and the like leave it alone).
 */
export function laneMark(state: CollectionState, lane: Lane): string {
  if (state.status !== 'Planned') return 'unplanned';
  const progress = { backfill: state.backfill, live: state.live, snapshot: state.snapshot, replay: state.replay }[lane];
  return JSON.stringify([state.generation, state.jobs[lane] ?? null, progress]);
}

/** The events `event` stands for: a {@link JobRan}'s JobDispatched, PageCollected and JobCompleted; any other event itself. */
export function expandCollectionEvent(event: CollectionEvent): CollectionEvent[] {
  if (event.type !== 'JobRan') return [event];
  const { sourceId, api, at, jobId, lane, generation, window, resume, dispatchedAt, progress, pageRecords, rateLimited, finished } = event.data;
  return [
    { type: 'JobDispatched', data: { sourceId, api, at: dispatchedAt, jobId, lane, generation, window, resume } },
    { type: 'PageCollected', data: { sourceId, api, at, jobId, lane, progress, pageRecords, rateLimited } },
    { type: 'JobCompleted', data: { sourceId, api, at, jobId, lane, finished, progress } },
  ];
}

/**
 * The events of one append with every JobDispatched, PageCollected and JobCompleted of one job in a
 * row (at one time, with one progress) as a {@link JobRan}: folded, they give the same state.
 */
export function compactCollectionEvents(events: readonly CollectionEvent[]): CollectionEvent[] {
  const out: CollectionEvent[] = [];
  for (let i = 0; i < events.length; i++) {
    const [dispatched, page, completed] = [events[i]!, events[i + 1], events[i + 2]];
    if (
      dispatched.type === 'JobDispatched' &&
      page?.type === 'PageCollected' &&
      completed?.type === 'JobCompleted' &&
      page.data.jobId === dispatched.data.jobId &&
      completed.data.jobId === dispatched.data.jobId &&
      page.data.at === completed.data.at &&
      JSON.stringify(page.data.progress) === JSON.stringify(completed.data.progress)
    ) {
      const { sourceId, api, jobId, lane, generation, window, resume, at: dispatchedAt } = dispatched.data;
      const { at, progress, pageRecords, rateLimited } = page.data;
      out.push({
        type: 'JobRan',
        data: { sourceId, api, at, jobId, lane, generation, window, resume, dispatchedAt, progress, pageRecords, rateLimited, finished: completed.data.finished },
      });
      i += 2;
    } else out.push(dispatched);
  }
  return out;
}

/** The Collection aggregate as a decider, with the retry policy its failures are judged by. */
export function collectionDecider(policy: RetryPolicy = DEFAULT_RETRY_POLICY): Decider<CollectionState, CollectionCommand, CollectionEvent> {
  return {
    decide: (command, state) => decideCollection(command, state, policy),
    evolve: evolveCollection,
    initialState: initialCollectionState,
    compact: compactCollectionEvents,
  };
}

export function foldCollection(events: Iterable<CollectionEvent>): CollectionState {
  let state = initialCollectionState();
  for (const event of events) state = evolveCollection(state, event);
  return state;
}

function assertNever(value: never): never {
  throw new Error(`unhandled: ${JSON.stringify(value)}`);
}
