import { type Db } from 'mongodb';
import { type NatsConnection } from 'nats';
import { EventTailer, type CatchUpTarget, type TailerOptions } from './event.tailer';
import { type RecordedEvent } from './event.types';
import { type MongoEventStore } from './mongo.event-store';

/**
 * A read model built from the log. `apply` must be idempotent: read model documents store the
 * stream version (or position) they applied and updates are conditional on it, so an event
 * applied again changes nothing. Each stream's events come in version order; events of different
 * streams come in the order they were relayed, which is roughly, not exactly, position order.
 */
export interface Projection {
  readonly name: string;
  /** Creates collections/indexes; runs at every start of the runner. */
  setup?(db: Db): Promise<void>;
  apply(event: RecordedEvent, db: Db): Promise<void>;
  /**
   * Writes what `apply` held back, for a projection that gathers several events' changes of a
   * document into one write. The runner calls it before every save of its checkpoint (so that a
   * checkpoint never covers an event whose effect is not stored), before `catchUp` resolves, and
   * at stop. A failure keeps what was held, for the next call.
   */
  flush?(db: Db): Promise<void>;
  /** Drops everything the projection wrote (and holds). */
  reset(db: Db): Promise<void>;
}

/** Options of {@link ProjectionRunner}. */
export type ProjectionRunnerOptions = TailerOptions;

/** Where a runner keeps its checkpoint (`{_id: projection name, stream, sequence}`). */
export const PROJECTION_CHECKPOINTS = 'projection_checkpoints';

/**
 * Keeps one projection up to date with the log as relayed to JetStream (an {@link EventTailer}),
 * with its checkpoint, a stream sequence, in `projection_checkpoints`. A failing `apply` is logged
 * and retried on the same event; nothing after it is applied meanwhile.
 */
export class ProjectionRunner {
  private readonly tailer: EventTailer;

  constructor(
    store: MongoEventStore,
    private readonly db: Db,
    nc: NatsConnection,
    private readonly projection: Projection,
    options: ProjectionRunnerOptions = {},
  ) {
    this.tailer = new EventTailer(
      store,
      nc,
      projection.name,
      {
        init: async () => {
          await projection.setup?.(db);
        },
        handle: (event) => projection.apply(event, db),
        beforeCheckpoint: async () => {
          await projection.flush?.(db);
        },
      },
      { ...options, checkpoints: { db, collection: PROJECTION_CHECKPOINTS } },
    );
  }

  /** Runs `setup`, then applies the log in the background: from the checkpoint, or a cold start. */
  start(): Promise<void> {
    return this.tailer.start();
  }

  /** Stops reading, waiting for the event in progress, and saves the checkpoint. */
  stop(): Promise<void> {
    return this.tailer.stop();
  }

  /**
   * Waits until `until` (a stream version appended since the start) has been applied, or, without
   * it, until everything relayed so far has been read; starts the runner if it is not running.
   * Returns the stream sequence read up to. Rejects while `apply` is failing (it is retried in the
   * background), and after `catchUpTimeoutMs`.
   */
  async catchUp(until?: CatchUpTarget): Promise<number> {
    const sequence = await this.tailer.catchUp(until);
    await this.projection.flush?.(this.db);
    return sequence;
  }

  /**
   * Rebuilds the read model: resets it and its checkpoint, then replays the whole log (a cold
   * start) and catches up with the stream. Leaves the runner running or stopped as it was.
   */
  async rebuild(): Promise<void> {
    const wasRunning = this.tailer.isRunning;
    await this.tailer.stop();
    await this.projection.reset(this.db);
    await this.tailer.forget();
    await this.tailer.catchUp();
    if (!wasRunning) await this.tailer.stop();
  }

  /** The saved checkpoint: the stream sequence read up to, 0 when there is none. */
  checkpoint(): Promise<number> {
    return this.tailer.checkpoint();
  }
}
