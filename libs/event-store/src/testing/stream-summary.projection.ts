import { type Db } from 'mongodb';
import { type RecordedEvent } from '../event.types';
import { type Projection } from '../projection.runner';

export interface StreamSummary {
  _id: string;
  lastVersion: number;
  position: number;
  types: string[];
}

const DUPLICATE_KEY = 11000;

/**
 * A sample read model: per stream, its last version and the event types seen. Updates are
 * conditional on the previous version, so replays are no-ops. Remembers every event it was handed
 * (`handled`, as `stream@version`), and fails on purpose where a test says so.
 */
export class StreamSummaryProjection implements Projection {
  readonly name: string;
  /** `stream@version` -> how many more times `apply` fails on it. */
  readonly failures = new Map<string, number>();
  /** Every event handed to `apply` (failed attempts included), as `stream@version`, in order. */
  readonly handled: string[] = [];

  constructor(
    private readonly collection = 'stream_summaries',
    name = 'stream-summary',
  ) {
    this.name = name;
  }

  /** Makes `apply` fail `times` times on that event. */
  failOn(streamId: string, version: number, times = 1): void {
    this.failures.set(`${streamId}@${version}`, times);
  }

  async setup(db: Db): Promise<void> {
    await db.createCollection(this.collection).catch(() => undefined);
  }

  async apply(event: RecordedEvent, db: Db): Promise<void> {
    const key = `${event.streamId}@${event.version}`;
    this.handled.push(key);
    const failures = this.failures.get(key) ?? 0;
    if (failures > 0) {
      this.failures.set(key, failures - 1);
      throw new Error(`injected failure at ${key}`);
    }
    const summaries = db.collection<StreamSummary>(this.collection);
    if (event.version === 1) {
      await summaries
        .insertOne({ _id: event.streamId, lastVersion: 1, position: event.position, types: [event.type] })
        .catch((error: { code?: number }) => {
          if (error.code !== DUPLICATE_KEY) throw error;
        });
      return;
    }
    await summaries.updateOne(
      { _id: event.streamId, lastVersion: event.version - 1 },
      { $set: { lastVersion: event.version, position: event.position }, $push: { types: event.type } },
    );
  }

  async reset(db: Db): Promise<void> {
    await db.collection(this.collection).deleteMany({});
  }

  static async snapshot(db: Db, collection = 'stream_summaries'): Promise<StreamSummary[]> {
    return db.collection<StreamSummary>(collection).find().sort({ _id: 1 }).toArray();
  }
}
