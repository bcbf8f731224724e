import { EventTailer, ReaderSnapshots, SnapshotStore, type MongoEventStore, type TailerLogger } from '@s1c/event-store';
import type { Db } from 'mongodb';
import type { NatsConnection } from 'nats';
import { setTimeout as sleep } from 'node:timers/promises';
import { HEALTH_SNAPSHOT_SCHEMA, HealthModel } from './health.model';
import { HealthProjection } from './health.projection';

export interface HealthReadModelOptions {
  /** The JetStream stream the relay publishes the log to. Default `S1C_EVENTS`. */
  streamName?: string;
  /** How long a stream's missing versions are looked for in the log (the tailer's `gapTimeoutMs`). */
  gapTimeoutMs?: number;
  logger?: TailerLogger & { info?(obj: object, msg: string): void };
  /**
   * Keep snapshots of the model (every `intervalMs`, once caught up after a start, and at stop),
   * and start from the last one. Without it every start replays the whole log.
   */
  snapshots?: { intervalMs: number };
}

/**
 * The health read models kept up to date: an {@link EventTailer} without a checkpoint hands every
 * event to the {@link HealthProjection}. The source and API status live only in memory: a start
 * restores them from the last snapshot and reads S1C_EVENTS after it, as the scheduler does, or,
 * without a usable snapshot, replays the whole log from MongoDB (one query) and follows S1C_EVENTS
 * from the sequence noted before the replay. {@link ready} turns true once that is over and what
 * was relayed meanwhile has been read; until then the model is incomplete and the service says so
 * (`/healthz` 503, the status endpoints 503).
 */
export class HealthReadModel {
  readonly model = new HealthModel();
  private readonly tailer: EventTailer;
  private readonly logger: HealthReadModelOptions['logger'];
  private stopped = false;
  /** Aborts the pause between two attempts of {@link becomeReady} at stop. */
  private pause = new AbortController();
  private readying: Promise<void> | undefined;
  private readonly snapshots: ReaderSnapshots<unknown> | undefined;
  private readonly snapshotIntervalMs: number | undefined;
  private restored = false;

  constructor(store: MongoEventStore, db: Db, nc: NatsConnection, options: HealthReadModelOptions = {}) {
    const projection = new HealthProjection(this.model, db, options.logger);
    this.logger = options.logger;
    this.tailer = new EventTailer(
      store,
      nc,
      'health.read-models',
      { init: () => projection.setup(), handle: (event) => projection.apply(event) },
      {
        ...(options.streamName ? { streamName: options.streamName } : {}),
        ...(options.gapTimeoutMs !== undefined ? { gapTimeoutMs: options.gapTimeoutMs } : {}),
        ...(options.logger ? { logger: options.logger } : {}),
      },
    );
    if (options.snapshots) {
      const logger = options.logger ?? { warn: () => undefined };
      const streamName = options.streamName ?? 'S1C_EVENTS';
      this.snapshots = new ReaderSnapshots(new SnapshotStore(store), 'health', streamName, HEALTH_SNAPSHOT_SCHEMA, this.tailer, () => this.model.snapshotItems(), logger);
      this.snapshotIntervalMs = options.snapshots.intervalMs;
    }
  }

  /** Whether the model holds the whole log as of the start (see the class). */
  get ready(): boolean {
    return this.model.ready;
  }

  /** The S1C_EVENTS sequence read up to (0 during the replay at start). */
  get position(): number {
    return this.tailer.position;
  }

  /** Starts the reader: the replay runs in the background; resolves once reading has begun. */
  async start(): Promise<void> {
    this.stopped = false;
    if (this.snapshots && !this.restored && !this.tailer.isRunning) {
      this.restored = true;
      await this.snapshots.restore((items) => this.model.restore(items));
    }
    await this.tailer.start();
    if (this.pause.signal.aborted) this.pause = new AbortController();
    this.readying ??= this.becomeReady().finally(() => (this.readying = undefined));
  }

  /** Stops reading, waiting for the event in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.pause.abort();
    await this.snapshots?.stop();
    await this.tailer.stop();
    if (this.ready) await this.snapshots?.save();
  }

  /**
   * Waits until everything relayed before the call (or `until`, a stream version appended since the
   * start) has been applied; starts the reader if it is not running. Rejects while an event fails
   * (it is retried in the background) and after the tailer's catch-up timeout without progress.
   */
  async catchUp(until?: { streamId: string; version: number }): Promise<number> {
    const sequence = await this.tailer.catchUp(until);
    if (!until) this.model.ready = true;
    return sequence;
  }

  /** Catches up once after the start, for {@link ready}; tries again until it succeeds or the reader stops. */
  private async becomeReady(): Promise<void> {
    for (let attempt = 1; !this.stopped && !this.ready; attempt++) {
      try {
        await this.catchUp();
        this.logger?.info?.({ sources: this.model.allSources().length, apis: this.model.allApis().length, sequence: this.position }, 'health read models ready');
        if (this.snapshots && this.snapshotIntervalMs !== undefined) {
          await this.snapshots.save();
          this.snapshots.every(this.snapshotIntervalMs);
        }
      } catch (error) {
        if (this.stopped) return;
        this.logger?.warn({ attempt, err: error }, 'the health read models are not caught up yet; trying again');
        await sleep(Math.min(1_000 * attempt, 10_000), undefined, { signal: this.pause.signal }).catch(() => undefined);
      }
    }
  }
}
