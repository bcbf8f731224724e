import { type Db } from 'mongodb';
import { EventTailer, type TailerOptions } from './event.tailer';
import { type RecordedEvent } from './event.types';
import { type MongoEventStore } from './mongo.event-store';

/**
 * A read model built from the log. `apply` must be idempotent: read model documents store the
 * position they applied and updates are conditional on it, so a replayed event changes nothing.
 */
export interface Projection {
  readonly name: string;
  /** Creates collections/indexes; runs before the first batch and after each reset. */
  setup?(db: Db): Promise<void>;
  apply(event: RecordedEvent, db: Db): Promise<void>;
  /** Drops everything the projection wrote. */
  reset(db: Db): Promise<void>;
}

/** Options of {@link ProjectionRunner}. */
export type ProjectionRunnerOptions = TailerOptions;

/**
 * Keeps one projection up to date with the log, with its checkpoint (`{_id: name, position}`)
 * in `projection_checkpoints`. A failing `apply` is logged and retried from that event later;
 * the checkpoint never moves past it.
 */
export class ProjectionRunner {
  private readonly tailer: EventTailer;

  constructor(
    store: MongoEventStore,
    private readonly db: Db,
    private readonly projection: Projection,
    options: ProjectionRunnerOptions = {},
  ) {
    this.tailer = new EventTailer(
      store,
      db,
      'projection_checkpoints',
      projection.name,
      {
        init: async () => {
          await projection.setup?.(db);
        },
        handle: (event) => projection.apply(event, db),
      },
      options,
    );
  }

  /** Starts the background polling loop (after running `setup`). */
  start(): Promise<void> {
    return this.tailer.start();
  }

  /** Stops the loop, waiting for the batch in progress. */
  stop(): Promise<void> {
    return this.tailer.stop();
  }

  /**
   * Applies events until the checkpoint reaches `untilPosition` (default: the current head) and
   * returns the checkpoint. Rejects when `apply` fails, or when no progress is possible (an
   * unresolved gap) for `catchUpTimeoutMs`.
   */
  catchUp(untilPosition?: number): Promise<number> {
    return this.tailer.catchUp(untilPosition);
  }

  /** Resets the read model and the checkpoint, then replays the whole log. */
  async rebuild(): Promise<void> {
    await this.tailer.exclusive(async () => {
      await this.projection.reset(this.db);
      await this.tailer.saveCheckpoint(0);
      this.tailer.reinitialize();
    });
    await this.tailer.catchUp();
  }

  /** The last position applied. */
  checkpoint(): Promise<number> {
    return this.tailer.checkpoint();
  }
}
