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
 * conditional on the previous version, so replays are no-ops.
 */
export class StreamSummaryProjection implements Projection {
  readonly name = 'stream-summary';
  failOnce = new Set<number>();

  constructor(private readonly collection = 'stream_summaries') {}

  async setup(db: Db): Promise<void> {
    await db.createCollection(this.collection).catch(() => undefined);
  }

  async apply(event: RecordedEvent, db: Db): Promise<void> {
    if (this.failOnce.delete(event.position)) throw new Error(`injected failure at ${event.position}`);
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
