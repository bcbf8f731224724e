import { mongoConnectionOf, natsConnectionOf } from '@s1c/config';
import { connectMongo, MongoEventStore } from '@s1c/event-store';
import { createLogger, type Logger } from '@s1c/logger';
import { connectNats, drainNats, ensureStream, publishJson, STREAMS, subjects } from '@s1c/messaging';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SchedulerConfig } from './scheduler.config';
import { createRepositories } from './scheduler.repositories';
import { SchedulerDriver, type JobPublisher } from './scheduler.driver';
import { SchedulerState, type SchedulerStateView } from './scheduler.state';
import type { DriveSettings } from './source-actions.decider';

export interface SchedulerRuntime {
  /** Reads the log up to its head, then drives every source once (what each background tick does). */
  tick(): Promise<void>;
  /** The folded log, read-only. */
  readonly state: SchedulerStateView;
  /** Stops the loops, lets the current step finish, and closes every connection. */
  close(): Promise<void>;
}

export interface SchedulerOptions {
  readonly logger?: Logger;
  /** The time the scheduler decides with (plans, dispatches, stall timeouts). */
  readonly clock?: () => Date;
  /**
   * Run the tail and tick loops (default true). Tests turn them off and call
   * {@link SchedulerRuntime.tick} with a manual clock.
   */
  readonly background?: boolean;
}

const READ_BATCH = 500;
const JOBS_DUPLICATE_WINDOW_MS = STREAMS.jobs.duplicate_window / 1_000_000;

/**
 * Starts the scheduler: replays the log into memory, publishes again the jobs a previous run may
 * have appended without publishing, then tails the log and drives every source each tick.
 */
export async function startScheduler(config: SchedulerConfig, options: SchedulerOptions = {}): Promise<SchedulerRuntime> {
  const logger = options.logger ?? createLogger({ name: 'scheduler', level: config.LOG_LEVEL });
  const clock = options.clock ?? (() => new Date());
  const settings: DriveSettings = {
    backfillMs: config.S1C_BACKFILL,
    pollIntervalMs: config.S1C_POLL_INTERVAL,
    overlapMs: config.S1C_LIVE_OVERLAP,
    snapshotIntervalMs: config.S1C_AGENT_SNAPSHOT_INTERVAL,
    stallTimeoutMs: config.S1C_JOB_STALL_TIMEOUT,
  };
  if (settings.stallTimeoutMs >= JOBS_DUPLICATE_WINDOW_MS) {
    logger.warn(
      { stallTimeoutMs: settings.stallTimeoutMs, duplicateWindowMs: JOBS_DUPLICATE_WINDOW_MS },
      'S1C_JOB_STALL_TIMEOUT is not shorter than the jobs stream duplicate window: a job republished at start-up may be delivered twice',
    );
  }
  const cleanup: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const step of cleanup.reverse()) await step().catch((error: unknown) => logger.warn({ err: error }, 'shutdown step failed'));
    cleanup.length = 0;
  };
  try {
    const mongo = await connectMongo(mongoConnectionOf(config));
    cleanup.push(() => mongo.close());
    // The store keeps wall-clock time: its gap timeout measures how long a write has been
    // missing, which must pass even while a test holds the scheduler's clock still.
    const store = new MongoEventStore(mongo.db(config.S1C_DB_NAME), { gapTimeoutMs: config.S1C_EVENT_GAP_TIMEOUT });
    await store.ensureIndexes();

    const nc = await connectNats({ ...natsConnectionOf(config), name: 's1c-scheduler', logger });
    cleanup.push(() => drainNats(nc));
    await ensureStream(await nc.jetstreamManager(), STREAMS.jobs, { logger });
    const js = nc.jetstream();
    const publish: JobPublisher = async (job) => {
      await publishJson(js, subjects.job(job.api), job, { msgId: job.jobId });
    };

    const state = new SchedulerState();
    const driver = new SchedulerDriver({
      state,
      ...createRepositories(store),
      publish,
      clock,
      settings,
      logger,
    });

    // The tail and the ticks take turns, so a tick always sees a state no read is halfway through.
    let queue: Promise<unknown> = Promise.resolve();
    const exclusive = <T>(task: () => Promise<T>): Promise<T> => {
      const result = queue.then(task);
      queue = result.then(
        () => undefined,
        () => undefined,
      );
      return result;
    };
    const readLog = async () => {
      for (;;) {
        const from = state.position;
        const batch = await store.readAllBatch({ after: from, limit: READ_BATCH });
        state.applyAll(batch.events);
        state.advanceTo(batch.lastPosition);
        if (batch.lastPosition - from < READ_BATCH) return;
      }
    };
    const tick = () =>
      exclusive(async () => {
        await readLog();
        await driver.tick();
      });

    await exclusive(readLog);
    const republished = await exclusive(() => driver.republishInFlight());
    logger.info({ position: state.position, sources: state.sourceIds().length, republished }, 'log replayed');

    // Cleanup runs in reverse: the loops stop first, then the step under way finishes.
    cleanup.push(() => queue);
    if (options.background ?? true) {
      const stop = new AbortController();
      const loops = [
        every(config.S1C_EVENT_POLL_INTERVAL, stop.signal, () => exclusive(readLog), logger, 'reading the log failed'),
        every(config.S1C_SCHEDULER_TICK, stop.signal, () => exclusive(() => driver.tick()), logger, 'tick failed'),
      ];
      cleanup.push(async () => {
        stop.abort();
        await Promise.all(loops);
      });
    }
    logger.info({ db: config.S1C_DB_NAME, ...settings, tickMs: config.S1C_SCHEDULER_TICK }, 'scheduler started');
    return { tick, state, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Runs `task` every `intervalMs` (measured from the end of the previous run) until aborted. */
async function every(intervalMs: number, signal: AbortSignal, task: () => Promise<unknown>, logger: Logger, failure: string): Promise<void> {
  while (!signal.aborted) {
    try {
      await task();
    } catch (error) {
      logger.error({ err: error }, failure);
    }
    await sleep(intervalMs, undefined, { signal }).catch(() => undefined);
  }
}
