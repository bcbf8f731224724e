import { setTimeout as sleep } from 'node:timers/promises';
import { type Collection, type Db } from 'mongodb';
import { type RecordedEvent, type TailerLogger } from './event.types';
import { type MongoEventStore } from './mongo.event-store';

interface CheckpointDocument {
  _id: string;
  position: number;
}

/** Settings shared by ProjectionRunner and OutboxRelay. */
export interface TailerOptions {
  /** Events per batch; the checkpoint is saved after each. Default 100. */
  batchSize?: number;
  /** Pause of the background loop when there is nothing new. Default 200. */
  pollIntervalMs?: number;
  /** How long catchUp waits without progress (a pending gap) before it fails. Default 10 × the store's gapTimeoutMs. */
  catchUpTimeoutMs?: number;
  logger?: TailerLogger;
}

const SILENT: TailerLogger = { warn: () => undefined, error: () => undefined };

/**
 * Reads the log from a saved checkpoint and hands each event to `handle`, one batch at a time,
 * serialized so that the background loop, catchUp and maintenance never overlap.
 */
export class EventTailer {
  private readonly checkpoints: Collection<CheckpointDocument>;
  private readonly batchSize: number;
  private readonly pollIntervalMs: number;
  private readonly catchUpTimeoutMs: number;
  private readonly logger: TailerLogger;
  private queue: Promise<unknown> = Promise.resolve();
  private initialized: Promise<void> | undefined;
  private loop: { stopped: boolean; wake: AbortController; done: Promise<void> } | undefined;

  constructor(
    private readonly store: MongoEventStore,
    db: Db,
    checkpointCollection: string,
    private readonly name: string,
    private readonly hooks: { init(): Promise<void>; handle(event: RecordedEvent): Promise<void> },
    options: TailerOptions = {},
  ) {
    this.checkpoints = db.collection<CheckpointDocument>(`${store.collectionPrefix}${checkpointCollection}`);
    this.batchSize = options.batchSize ?? 100;
    this.pollIntervalMs = options.pollIntervalMs ?? 200;
    this.catchUpTimeoutMs = options.catchUpTimeoutMs ?? 10 * store.gapTimeoutMs;
    this.logger = options.logger ?? SILENT;
  }

  async checkpoint(): Promise<number> {
    return (await this.checkpoints.findOne({ _id: this.name }))?.position ?? 0;
  }

  async saveCheckpoint(position: number): Promise<void> {
    await this.checkpoints.updateOne({ _id: this.name }, { $set: { position } }, { upsert: true });
  }

  /** Runs `task` when no batch is in progress, and blocks batches until it is done. */
  exclusive<T>(task: () => Promise<T>): Promise<T> {
    const result = this.queue.then(task);
    this.queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  async start(): Promise<void> {
    if (this.loop) return;
    await this.exclusive(() => this.ensureInitialized());
    const loop = { stopped: false, wake: new AbortController(), done: Promise.resolve() };
    loop.done = (async () => {
      while (!loop.stopped) {
        let full = false;
        try {
          full = (await this.step()).full;
        } catch {
          // step() has logged it; try again after the pause.
        }
        if (!full && !loop.stopped) await sleep(this.pollIntervalMs, undefined, { signal: loop.wake.signal }).catch(() => undefined);
      }
    })();
    this.loop = loop;
  }

  async stop(): Promise<void> {
    const loop = this.loop;
    if (!loop) return;
    loop.stopped = true;
    loop.wake.abort();
    await loop.done;
    this.loop = undefined;
  }

  async catchUp(untilPosition?: number): Promise<number> {
    const target = untilPosition ?? (await this.store.headPosition());
    let deadline = Date.now() + this.catchUpTimeoutMs;
    for (;;) {
      const { checkpoint, progressed } = await this.step();
      if (checkpoint >= target) return checkpoint;
      if (progressed) {
        deadline = Date.now() + this.catchUpTimeoutMs;
        continue;
      }
      if (Date.now() > deadline) {
        throw new Error(`${this.name}: stuck at position ${checkpoint} for ${this.catchUpTimeoutMs} ms while catching up to ${target}`);
      }
      await sleep(Math.min(this.pollIntervalMs, 25));
    }
  }

  /** Invalidates initialization so that the next batch runs `init` again (after a reset). */
  reinitialize(): void {
    this.initialized = undefined;
  }

  private ensureInitialized(): Promise<void> {
    this.initialized ??= this.hooks.init().catch((error: unknown) => {
      this.initialized = undefined;
      throw error;
    });
    return this.initialized;
  }

  private step(): Promise<{ checkpoint: number; progressed: boolean; full: boolean }> {
    return this.exclusive(async () => {
      await this.ensureInitialized();
      const from = await this.checkpoint();
      const batch = await this.store.readAllBatch({ after: from, limit: this.batchSize });
      for (const event of batch.events) {
        try {
          await this.hooks.handle(event);
        } catch (error) {
          this.logger.error(
            { name: this.name, position: event.position, streamId: event.streamId, eventType: event.type, err: error },
            'event handling failed; will retry from this event',
          );
          // Everything before this event is done (the batch is contiguous), so keep that.
          if (event.position - 1 > from) await this.saveCheckpoint(event.position - 1);
          throw error;
        }
      }
      if (batch.lastPosition > from) await this.saveCheckpoint(batch.lastPosition);
      return {
        checkpoint: batch.lastPosition,
        progressed: batch.lastPosition > from,
        full: batch.lastPosition - from >= this.batchSize,
      };
    });
  }
}
