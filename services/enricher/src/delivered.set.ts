import { MongoBulkWriteError, MongoServerError, type Collection, type Db } from 'mongodb';

const DUPLICATE_KEY = 11000;

interface ClaimDocument {
  /** The record id. */
  _id: string;
  /** The batch that claimed it; the record counts as delivered once that batch is marked done. */
  batch: string;
  at: Date;
}

interface BatchDocument {
  /** The batch id. */
  _id: string;
  at: Date;
}

/** What a claim attempt found for one record id. */
export type ClaimResult = 'claimed' | 'delivered' | 'unfinished';

export interface DeliveredSetLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * The enricher's durable memory of what it has output, in MongoDB (`enricher_delivered` and
 * `enricher_batches`), built only from what FerretDB does fast and atomically: inserts checked by
 * the unique `_id` index, and `_id` equality lookups (a `$in` or any other filter scans the
 * whole collection on FerretDB's SQLite backend).
 *
 * Protocol, per batch of records: {@link claim} inserts `{_id: recordId, batch}` for every record
 * (unordered, one round trip); a duplicate key means an earlier attempt claimed it. The records
 * are then published (`Nats-Msg-Id` = record id) and {@link markDone} inserts the batch's marker.
 * A record whose claim belongs to a done batch was published: it is skipped, however old. A claim
 * without a done marker was interrupted between claim and marker (crash, NATS failure): the record
 * is published again, and JetStream's duplicate window drops it if the first attempt got through.
 */
export class DeliveredSet {
  private readonly claims: Collection<ClaimDocument>;
  private readonly batches: Collection<BatchDocument>;
  /** Batch ids known to be done: saves a lookup when many duplicates share a batch. */
  private readonly doneBatches = new Set<string>();

  constructor(db: Db, collectionPrefix = 'enricher') {
    this.claims = db.collection<ClaimDocument>(`${collectionPrefix}_delivered`);
    this.batches = db.collection<BatchDocument>(`${collectionPrefix}_batches`);
  }

  /** Secondary indexes for the cleanup (MongoDB uses them; FerretDB scans either way). */
  async ensureIndexes(): Promise<void> {
    await this.claims.createIndex({ at: 1 }, { name: 'at' });
    await this.batches.createIndex({ at: 1 }, { name: 'at' });
  }

  /**
   * Claims `recordIds` (distinct) for `batch`. Returns, per id, `claimed` (new: publish it),
   * `delivered` (an earlier batch published it: skip) or `unfinished` (an earlier attempt did not
   * finish: publish again under the same message id).
   */
  async claim(recordIds: readonly string[], batch: string, at: Date): Promise<Map<string, ClaimResult>> {
    const results = new Map<string, ClaimResult>();
    if (recordIds.length === 0) return results;
    const duplicates: string[] = [];
    try {
      await this.claims.insertMany(
        recordIds.map((_id) => ({ _id, batch, at })),
        { ordered: false },
      );
    } catch (error) {
      if (!(error instanceof MongoBulkWriteError)) throw error;
      const writeErrors = Array.isArray(error.writeErrors) ? error.writeErrors : [error.writeErrors];
      for (const w of writeErrors) {
        if (w.code !== DUPLICATE_KEY) throw error;
        duplicates.push(recordIds[w.index]!);
      }
    }
    for (const id of recordIds) results.set(id, 'claimed');
    for (const id of duplicates) results.set(id, await this.stateOf(id));
    return results;
  }

  /** Marks a batch done: every record it claimed has been published. Idempotent. */
  async markDone(batch: string, at: Date): Promise<void> {
    try {
      await this.batches.insertOne({ _id: batch, at });
    } catch (error) {
      if (!(error instanceof MongoServerError && error.code === DUPLICATE_KEY)) throw error;
    }
    this.doneBatches.add(batch);
    if (this.doneBatches.size > 10_000) this.doneBatches.clear();
  }

  /**
   * Removes claims and batch markers older than `before`. Claims go first, so a claim never
   * outlives its marker by more than one run. FerretDB (SQLite) refuses a delete of more than
   * ~32k documents at once ("too many SQL variables"), so time slices are halved until it fits.
   */
  async removeOlderThan(before: Date, log?: DeliveredSetLogger): Promise<number> {
    let removed = 0;
    for (const collection of [this.claims, this.batches] as Array<Collection<{ _id: string; at: Date }>>) {
      removed += await deleteInSlices(collection, before);
    }
    if (removed > 0) log?.info({ removed, before: before.toISOString() }, 'expired delivered-set entries removed');
    return removed;
  }

  private async stateOf(recordId: string): Promise<ClaimResult> {
    const claim = await this.claims.findOne({ _id: recordId });
    if (!claim) return 'unfinished';
    if (this.doneBatches.has(claim.batch)) return 'delivered';
    const done = await this.batches.findOne({ _id: claim.batch });
    if (!done) return 'unfinished';
    this.doneBatches.add(claim.batch);
    return 'delivered';
  }
}

/** Deletes documents with `at < before`, in time slices small enough for FerretDB's SQLite backend. */
export async function deleteInSlices(collection: Collection<{ _id: string; at: Date }>, before: Date): Promise<number> {
  const oldest = await collection.find({ at: { $lt: before } }, { projection: { at: 1 } }).sort({ at: 1 }).limit(1).next();
  if (!oldest) return 0;
  let from = oldest.at.getTime();
  const end = before.getTime();
  let slice = end - from + 1;
  let removed = 0;
  while (from < end) {
    const to = Math.min(end, from + slice);
    try {
      const result = await collection.deleteMany({ at: { $gte: new Date(from), $lt: new Date(to) } });
      removed += result.deletedCount;
      from = to;
    } catch (error) {
      if (slice <= 1) throw error;
      slice = Math.ceil(slice / 2);
    }
  }
  return removed;
}
