import { Inject, Injectable, Module, type BeforeApplicationShutdown, type DynamicModule, type OnApplicationBootstrap, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { DriveSettings } from '@s1c/domain';
import { EventTailer, ReaderSnapshots, SnapshotStore } from '@s1c/event-store';
import type { Logger } from '@s1c/logger';
import { deliveredSequence, ensureStream, fetcherJobsDurable, publishJson, publishJsonPast, STREAMS, subjects } from '@s1c/messaging';
import { RUNTIME, RuntimeModule, type RuntimeModuleOptions, type ServiceConnections } from '@s1c/runtime';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SchedulerConfig } from './scheduler.config';
import { SchedulerDriver } from './scheduler.driver';
import { createRepositories } from './scheduler.repositories';
import { SCHEDULER_SNAPSHOT_SCHEMA, SchedulerState, type SchedulerSnapshotItem } from './scheduler.state';

/** Run the tick loop (true in the service; tests drive ticks themselves). */
export const SCHEDULER_BACKGROUND = Symbol('s1c.scheduler.background');

const JOBS_DUPLICATE_WINDOW_MS = STREAMS.jobs.duplicate_window / 1_000_000;

/**
 * The scheduler's work: replays the log into memory once (from the last snapshot, or one query),
 * publishes again the jobs a previous run may have appended without publishing, then follows
 * S1C_EVENTS and drives every source each tick. It never polls the log.
 */
@Injectable()
export class SchedulerService implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy, BeforeApplicationShutdown {
  private readonly driver: SchedulerDriver;
  private readonly reader: EventTailer;
  private readonly snapshots: ReaderSnapshots<SchedulerSnapshotItem>;
  private readonly settings: DriveSettings;
  private readonly stopping = new AbortController();
  private loop: Promise<void> = Promise.resolve();
  /** The sequence of the snapshot the start began from, if any. */
  private fromSnapshot: number | undefined;
  /** Ticks take turns, so two never drive the same source at once. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    @Inject(RUNTIME.config) private readonly config: SchedulerConfig,
    @Inject(RUNTIME.logger) private readonly logger: Logger,
    @Inject(RUNTIME.connections) private readonly connections: ServiceConnections,
    @Inject(RUNTIME.clock) clock: () => Date,
    @Inject(SCHEDULER_BACKGROUND) private readonly background: boolean,
    readonly state: SchedulerState,
  ) {
    const { store, nc, js } = connections;
    this.settings = {
      backfillMs: config.S1C_BACKFILL,
      pollIntervalMs: config.S1C_POLL_INTERVAL,
      overlapMs: config.S1C_LIVE_OVERLAP,
      snapshotIntervalMs: config.S1C_AGENT_SNAPSHOT_INTERVAL,
      stallTimeoutMs: config.S1C_JOB_STALL_TIMEOUT,
    };
    this.driver = new SchedulerDriver({
      state,
      ...createRepositories(store),
      publish: async (job, msgId) => {
        if (msgId === job.jobId) {
          await publishJson(js, subjects.job(job.api), job, { msgId });
          return;
        }
        // Dispatched again after its stall timeout: its copy may sit at a sequence the fetchers'
        // consumer has passed (a cluster whose stream lost its last messages), so this one must not.
        const durable = fetcherJobsDurable(job.api);
        const delivered = () => deliveredSequence(connections.jsm, STREAMS.jobs.name, durable);
        const { passed } = await publishJsonPast(js, subjects.job(job.api), job, { msgId, delivered });
        if (passed > 0) {
          logger.warn({ jobId: job.jobId, passed, durable }, "S1C_JOBS gave the job sequences its fetchers' consumer had passed (the stream lost its last messages): published again past them");
        }
      },
      clock,
      settings: this.settings,
      logger,
      concurrency: config.S1C_SCHEDULER_CONCURRENCY,
    });
    // A start follows S1C_EVENTS after the last snapshot; without one (or when the stream no longer
    // holds the messages after it) it replays the whole log into memory (one query), then follows
    // S1C_EVENTS from the sequence noted before the replay. Folding is synchronous and idempotent by
    // stream version, so it needs no turn-taking with the ticks: a tick that decided on a state the
    // reader has moved since appends at a stale version and loses the race (ConcurrencyError).
    this.reader = new EventTailer(store, nc, 'scheduler', {
      handle: (event) => {
        state.apply(event);
      },
    }, {
      streamName: STREAMS.events.name,
      gapTimeoutMs: config.S1C_EVENT_GAP_TIMEOUT,
      logger,
    });
    this.snapshots = new ReaderSnapshots(new SnapshotStore(store), 'scheduler', STREAMS.events.name, SCHEDULER_SNAPSHOT_SCHEMA, this.reader, () => state.snapshotItems(), logger);
  }

  /** Gets ready: the streams, the state from the last snapshot and the log after it. */
  async onModuleInit(): Promise<void> {
    const { logger, settings } = this;
    if (settings.stallTimeoutMs >= JOBS_DUPLICATE_WINDOW_MS) {
      logger.warn(
        { stallTimeoutMs: settings.stallTimeoutMs, duplicateWindowMs: JOBS_DUPLICATE_WINDOW_MS },
        'S1C_JOB_STALL_TIMEOUT is not shorter than the jobs stream duplicate window: a job republished at start-up may be delivered twice',
      );
    }
    await ensureStream(this.connections.jsm, STREAMS.jobs, { logger, replicas: this.connections.streamReplicas });
    // The registry owns S1C_EVENTS: this waits for it when the scheduler starts first.
    await ensureStream(this.connections.jsm, STREAMS.events, { logger, replicas: this.connections.streamReplicas });
    this.fromSnapshot = await this.snapshots.restore((items) => this.state.restore(items));
    await this.reader.start();
    await this.reader.catchUp();
  }

  /** Takes work: publishes again what a previous run may have left unpublished, then ticks. */
  async onApplicationBootstrap(): Promise<void> {
    const { config, logger, settings, fromSnapshot } = this;
    const republished = await this.exclusive(() => this.driver.republishInFlight());
    logger.info({ sequence: this.reader.position, sources: this.state.sourceIds().length, republished, fromSnapshot: fromSnapshot ?? null }, 'log replayed');
    // After a replay, and at shutdown (before the reader stops), so that the next start is short.
    await this.snapshots.save();
    if (this.background) {
      this.loop = this.every(config.S1C_SCHEDULER_TICK, () => this.exclusive(() => this.driver.tick()));
      this.snapshots.every(config.S1C_SNAPSHOT_INTERVAL);
    }
    logger.info({ db: config.S1C_DB_NAME, ...settings, tickMs: config.S1C_SCHEDULER_TICK }, 'scheduler started');
  }

  /** Reads what S1C_EVENTS holds so far, then drives every source once (what each background tick does, after the read). */
  async tick(): Promise<void> {
    await this.reader.catchUp();
    await this.exclusive(() => this.driver.tick());
  }

  /** Stops the loop: no new tick. */
  onModuleDestroy(): void {
    this.stopping.abort();
  }

  /** Lets the tick under way finish, saves a snapshot for the next start, stops following the log. */
  async beforeApplicationShutdown(): Promise<void> {
    await Promise.all([this.loop, this.snapshots.stop()]);
    await this.queue;
    await this.snapshots.save().catch((error: unknown) => this.logger.warn({ err: error }, 'could not save the snapshot at shutdown'));
    await this.reader.stop();
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const result = this.queue.then(task);
    this.queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /** Runs `task` every `intervalMs` (measured from the end of the previous run) until the stop. */
  private async every(intervalMs: number, task: () => Promise<unknown>): Promise<void> {
    const { signal } = this.stopping;
    while (!signal.aborted) {
      try {
        await task();
      } catch (error) {
        this.logger.error({ err: error }, 'tick failed');
      }
      await sleep(intervalMs, undefined, { signal }).catch(() => undefined);
    }
  }
}

/** The scheduler's Nest module: the shared runtime, its state in memory, and the {@link SchedulerService}. */
@Module({})
export class SchedulerModule {
  static register(runtime: RuntimeModuleOptions, options: { background: boolean }): DynamicModule {
    return {
      module: SchedulerModule,
      imports: [RuntimeModule.forRoot(runtime)],
      providers: [SchedulerState, SchedulerService, { provide: SCHEDULER_BACKGROUND, useValue: options.background }],
    };
  }
}
