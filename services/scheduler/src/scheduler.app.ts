import { mongoConnectionOf, natsConnectionOf } from '@s1c/config';
import { connectMongo, EventTailer, MongoEventStore, ReaderSnapshots, SnapshotStore } from '@s1c/event-store';
import { createLogger, type Logger } from '@s1c/logger';
import { connectNats, drainNats, ensureStream, publishJson, STREAMS, subjects } from '@s1c/messaging';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SchedulerConfig } from './scheduler.config';
import { createRepositories } from './scheduler.repositories';
import { SchedulerDriver, type JobPublisher } from './scheduler.driver';
import { SCHEDULER_SNAPSHOT_SCHEMA, SchedulerState, type SchedulerStateView } from './scheduler.state';
import type { DriveSettings } from '@s1c/domain';

export interface SchedulerRuntime {
  /** Reads what S1C_EVENTS holds so far, then drives every source once (what each background tick does, after the read). */
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
   * Run the tick loop (default true). Tests turn it off and call {@link SchedulerRuntime.tick}
   * with a manual clock. The events are read in the background either way.
   */
  readonly background?: boolean;
}

const JOBS_DUPLICATE_WINDOW_MS = STREAMS.jobs.duplicate_window / 1_000_000;

/**
 * Starts the scheduler: replays the log into memory once (one query), publishes again the jobs a
 * previous run may have appended without publishing, then follows S1C_EVENTS from the sequence
 * noted before the replay and drives every source each tick. It never polls the log.
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
    const store = new MongoEventStore(mongo.db(config.S1C_DB_NAME));
    await store.ensureIndexes();

    const nc = await connectNats({ ...natsConnectionOf(config), name: 's1c-scheduler', logger });
    cleanup.push(() => drainNats(nc));
    const jsm = await nc.jetstreamManager();
    await ensureStream(jsm, STREAMS.jobs, { logger });
    // The registry owns S1C_EVENTS: this waits for it when the scheduler starts first.
    await ensureStream(jsm, STREAMS.events, { logger });
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
      concurrency: config.S1C_SCHEDULER_CONCURRENCY,
    });

    // A start follows S1C_EVENTS after the last snapshot; without one (or when the stream no longer
    // holds the messages after it) it replays the whole log into memory (one query), then follows
    // S1C_EVENTS from the sequence noted before the replay. Folding is synchronous and idempotent by
    // stream version, so it needs no turn-taking with the ticks: a tick that decided on a state the
    // reader has moved since appends at a stale version and loses the race (ConcurrencyError).
    const reader = new EventTailer(
      store,
      nc,
      'scheduler',
      {
        handle: (event) => {
          state.apply(event);
        },
      },
      { streamName: STREAMS.events.name, gapTimeoutMs: config.S1C_EVENT_GAP_TIMEOUT, logger },
    );
    const snapshots = new ReaderSnapshots(new SnapshotStore(store), 'scheduler', STREAMS.events.name, SCHEDULER_SNAPSHOT_SCHEMA, reader, () => state.snapshotItems(), logger);
    const fromSnapshot = await snapshots.restore((items) => state.restore(items));
    await reader.start();
    cleanup.push(() => reader.stop());
    await reader.catchUp();

    // Ticks take turns, so two never drive the same source at once.
    let queue: Promise<unknown> = Promise.resolve();
    const exclusive = <T>(task: () => Promise<T>): Promise<T> => {
      const result = queue.then(task);
      queue = result.then(
        () => undefined,
        () => undefined,
      );
      return result;
    };
    const tick = async () => {
      await reader.catchUp();
      await exclusive(() => driver.tick());
    };

    const republished = await exclusive(() => driver.republishInFlight());
    logger.info({ sequence: reader.position, sources: state.sourceIds().length, republished, fromSnapshot: fromSnapshot ?? null }, 'log replayed');

    // After a replay, and at shutdown (before the reader stops), so that the next start is short.
    await snapshots.save();
    cleanup.push(() => snapshots.save());

    // Cleanup runs in reverse: the loop stops first, then the step under way finishes, then the reader.
    cleanup.push(() => queue);
    if (options.background ?? true) {
      const stop = new AbortController();
      const loop = every(config.S1C_SCHEDULER_TICK, stop.signal, () => exclusive(() => driver.tick()), logger, 'tick failed');
      snapshots.every(config.S1C_SNAPSHOT_INTERVAL);
      cleanup.push(async () => {
        stop.abort();
        await Promise.all([loop, snapshots.stop()]);
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
