import { fetchJobSchema, type CarriedFold, type FetchJob } from '@s1c/contracts';
import {
  decideCollection,
  decideSourceActions,
  collectionStreamId,
  DomainError,
  initialCollectionState,
  initialSourceState,
  millisBetween,
  sourceStreamId,
  systemActor,
  toMicroIso,
  type CollectionState,
  type JobDispatched,
  type SourceState,
  type DriveSettings,
  type SchedulerAction,
} from '@s1c/domain';
import { ConcurrencyError, type EventMetadata, type RecordedEvent } from '@s1c/event-store';
import type { Logger } from '@s1c/logger';
import { Counter } from 'prom-client';
import type { CollectionRepository, SourceRepository } from './scheduler.repositories';
import type { Folded, SchedulerState } from './scheduler.state';

/** Puts a fetch job on the work queue with `msgId` as its Nats-Msg-Id (JetStream keeps one message per id). */
export type JobPublisher = (job: FetchJob, msgId: string) => Promise<void>;

export interface SchedulerDriverDeps {
  readonly state: SchedulerState;
  readonly sources: SourceRepository;
  readonly collections: CollectionRepository;
  readonly publish: JobPublisher;
  readonly clock: () => Date;
  readonly settings: DriveSettings;
  readonly logger: Logger;
  /** Sources driven at once in a tick; default 8. */
  readonly concurrency?: number;
}

const ACTOR = 'scheduler';

const jobsPublished = new Counter({
  name: 's1c_jobs_dispatched_total',
  help: 'Fetch jobs the scheduler published to S1C_JOBS, by API and lane.',
  labelNames: ['api', 'lane'] as const,
});

/**
 * Executes what {@link decideSourceActions} says for every source, folds its own appends into
 * the state at once, and publishes the jobs it dispatched.
 */
export class SchedulerDriver {
  /** Jobs appended but not yet on the queue (publish failed); tried again every tick while in flight. */
  private readonly unpublished = new Map<string, FetchJob>();
  /**
   * Set when a publish failed in this tick: no more jobs are dispatched until the next one, so an
   * outage of NATS costs one publish timeout per tick and source being driven at that moment, not
   * one per source.
   */
  private publishBlocked = false;

  constructor(private readonly deps: SchedulerDriverDeps) {}

  /**
   * One pass over every known source, `concurrency` of them at a time: each append waits on the
   * store, and sources are independent (each one is driven by one worker, its actions in order).
   */
  async tick(): Promise<void> {
    this.publishBlocked = false;
    await this.publishPending();
    const sourceIds = [...this.deps.state.sourceIds()];
    let next = 0;
    const worker = async () => {
      while (next < sourceIds.length) {
        const sourceId = sourceIds[next++]!;
        try {
          await this.drive(sourceId);
        } catch (error) {
          // One source's surprise must not hold up the others.
          this.deps.logger.error({ sourceId, err: error }, 'driving the source failed; retrying next tick');
        }
      }
    };
    const workers = Math.min(this.deps.concurrency ?? 8, sourceIds.length);
    await Promise.all(Array.from({ length: workers }, worker));
  }

  /**
   * Publishes again every job in flight in the log that no fetcher has reported on, with its
   * original body and message id. Such jobs come from schedulers that appended JobDispatched before
   * publishing (this one publishes without appending): a crash of one between the two then costs
   * nothing, and a job that did reach the queue is dropped by JetStream's duplicate window (the
   * stall timeout is shorter, and stalled jobs are abandoned rather than republished).
   */
  async republishInFlight(): Promise<number> {
    const now = toMicroIso(this.deps.clock());
    let count = 0;
    for (const { job, progressed } of this.deps.state.inFlightJobs()) {
      if (progressed || millisBetween(job.dispatchedAt, now) >= this.deps.settings.stallTimeoutMs) continue;
      const carrying = this.withFolds(job);
      if (this.publishBlocked) this.unpublished.set(carrying.jobId, carrying);
      else if (await this.tryPublish(carrying)) count++;
    }
    return count;
  }

  private async drive(sourceId: string): Promise<void> {
    const { state, clock, settings, logger } = this.deps;
    const source = state.source(sourceId);
    if (!source) return;
    const now = clock();
    // Before deciding, at the same time: a dispatch still not in the log is given up on exactly
    // when a job in the log would be abandoned as stalled.
    const expired = state.expireDispatches(sourceId, now, settings.stallTimeoutMs);
    if (expired > 0) logger.warn({ sourceId, expired }, 'dispatched jobs never reached the log within the stall timeout; dispatching their lanes again');
    const actions = decideSourceActions(source, state.collections(sourceId), now, settings);
    for (const action of actions) {
      if (action.command.type === 'DispatchJob') {
        if (this.publishBlocked || !(await this.dispatch(action as SchedulerAction & { stream: 'collection' }))) return;
        continue;
      }
      const fields = actionFields(action);
      let events: readonly RecordedEvent[];
      try {
        events = await this.execute(action);
      } catch (error) {
        if (error instanceof ConcurrencyError) {
          // Another writer (a fetcher, another replica) got there first; the tail brings its events.
          logger.debug({ ...fields, actualVersion: error.actualVersion }, 'lost a race; skipping the source this tick');
        } else if (error instanceof DomainError) {
          logger.debug({ ...fields, code: error.code, reason: error.message }, 'command refused; skipping the source this tick');
        } else {
          logger.error({ ...fields, err: error }, 'command failed; retrying next tick');
        }
        return;
      }
      state.applyAll(events);
      if (events.length === 0) {
        logger.debug(fields, 'command changed nothing; skipping the source this tick');
        return;
      }
      logger.info({ ...fields, version: events.at(-1)!.version }, describe(action));
    }
  }

  /**
   * Publishes a job without appending its JobDispatched: the job carries the event and the logged
   * collection it was decided on, and its fetcher appends the event with the job's first record
   * (COLLECTION.md, "One append per job"). Until the log shows it, the state keeps the job in flight.
   */
  private async dispatch(action: SchedulerAction & { stream: 'collection' }): Promise<boolean> {
    const { state, logger } = this.deps;
    const fields = actionFields(action);
    const current = state.collection(action.sourceId, action.api);
    const logged = state.loggedCollection(action.sourceId, action.api);
    if (!current || !logged) return false;
    let dispatched: JobDispatched;
    try {
      dispatched = decideCollection(action.command, current.state)[0] as JobDispatched;
    } catch (error) {
      logger.debug({ ...fields, reason: (error as Error).message }, 'dispatch refused; skipping the source this tick');
      return false;
    }
    const job = toDeferredJob(dispatched, state.source(action.sourceId), logged);
    // Dispatched again after its stall timeout, the job keeps its id (the log's version did not
    // move) but not its message id: a copy JetStream still holds may never be delivered (a cluster
    // that lost the message's sequence to a lagging leader), and the same message id would be dropped.
    const again = state.expiries(job.jobId);
    if (!(await this.tryPublish(job, false, again > 0 ? `${job.jobId}#${again}` : job.jobId))) return false;
    state.dispatched(job, dispatched);
    logger.info({ ...fields, version: logged.version }, 'job dispatched');
    return true;
  }

  /**
   * Appends what the action decided, from the aggregate as the state holds it (`from`): at the
   * expected version, the repository neither reads nor folds the log; if the state has moved on
   * since the decision, or another writer got there first, it is a ConcurrencyError (a lost race).
   */
  private async execute(action: SchedulerAction): Promise<readonly RecordedEvent[]> {
    const { state } = this.deps;
    const options = { expectedVersion: action.expectedVersion, metadata: metadataFor(action) };
    if (action.stream === 'source') {
      const from = state.source(action.sourceId) ?? { state: initialSourceState(), version: 0, position: 0 };
      return (await this.deps.sources.execute(sourceStreamId(action.sourceId), () => action.command, { ...options, from })).events;
    }
    const from = state.collection(action.sourceId, action.api) ?? { state: initialCollectionState(), version: 0, position: 0 };
    return (await this.deps.collections.execute(collectionStreamId(action.sourceId, action.api), () => action.command, { ...options, from })).events;
  }

  /**
   * A job in flight as published again at start-up, with the folds the state holds now: at least as
   * new as at its dispatch (the collection still has the job in flight, with no progress).
   */
  private withFolds(job: FetchJob): FetchJob {
    const { state } = this.deps;
    const collection = state.collection(job.sourceId, job.api);
    const fresh = collection !== undefined && (job.collectionVersion === undefined || collection.version >= job.collectionVersion);
    return {
      ...job,
      ...(fresh ? { collectionFold: foldOf(collection) } : {}),
    };
  }

  /** Publishes a job; `retry`: keep a job that could not be published for the next ticks (one in the log). */
  private async tryPublish(job: FetchJob, retry = true, msgId = job.jobId): Promise<boolean> {
    try {
      await this.deps.publish(fetchJobSchema.parse(job), msgId);
      jobsPublished.inc({ api: job.api, lane: job.lane });
      this.unpublished.delete(job.jobId);
      return true;
    } catch (error) {
      this.publishBlocked = true;
      if (retry) this.unpublished.set(job.jobId, job);
      this.deps.logger.warn(
        { sourceId: job.sourceId, api: job.api, jobId: job.jobId, err: error },
        'could not publish a dispatched job; retrying next tick (it is abandoned and dispatched again if it stalls)',
      );
      return false;
    }
  }

  private async publishPending(): Promise<void> {
    for (const job of [...this.unpublished.values()]) {
      const collection = this.deps.state.collection(job.sourceId, job.api)?.state;
      const inFlight = collection?.status === 'Planned' && collection.jobs[job.lane]?.jobId === job.jobId;
      if (!inFlight) {
        this.unpublished.delete(job.jobId);
        continue;
      }
      if (!(await this.tryPublish(job))) return;
    }
  }
}

/** A fold as a job carries it: the state (the source's token encrypted, as in the log), version and position. */
function foldOf(folded: Folded<{ readonly status: string }>): CarriedFold {
  return { state: folded.state, version: folded.version, position: folded.position };
}

/**
 * The job is its JobDispatched event, not yet appended: every field of the event's data, the
 * version the event is to take (the logged collection's next), that collection as the scheduler
 * folded it (the fetcher decides on it, or on what it holds that is newer), and the source version
 * the dispatch was decided on (a fetcher with an older source reads the newer events first).
 */
function toDeferredJob(dispatched: JobDispatched, source: Folded<SourceState> | undefined, logged: Folded<CollectionState>): FetchJob {
  const { jobId, sourceId, api, lane, generation, window, resume, at } = dispatched.data;
  const sourceVersion = source?.version;
  return {
    jobId,
    sourceId,
    api,
    lane,
    generation,
    window,
    resume,
    dispatchedAt: at,
    collectionVersion: logged.version + 1,
    ...(sourceVersion !== undefined && sourceVersion > 0 ? { sourceVersion } : {}),
    collectionFold: foldOf(logged),
    deferred: true,
  };
}

function metadataFor(action: SchedulerAction): EventMetadata {
  const command = action.command;
  const correlationId = 'jobId' in command.data ? command.data.jobId : `${ACTOR}:${action.sourceId}`;
  return { actor: systemActor(ACTOR), correlationId };
}

function actionFields(action: SchedulerAction): Record<string, unknown> {
  const fields: Record<string, unknown> = { sourceId: action.sourceId, command: action.command.type, expectedVersion: action.expectedVersion };
  if (action.stream === 'collection') {
    fields.api = action.api;
    fields.streamId = collectionStreamId(action.sourceId, action.api);
    if ('jobId' in action.command.data) fields.jobId = action.command.data.jobId;
  } else {
    fields.streamId = sourceStreamId(action.sourceId);
  }
  return fields;
}

function describe(action: SchedulerAction): string {
  switch (action.command.type) {
    case 'DispatchJob':
      return 'job dispatched';
    case 'AbandonJob':
      return 'stalled job abandoned';
    case 'PlanCollection':
      return 'collection planned';
    default:
      return `source ${action.command.type}`;
  }
}
