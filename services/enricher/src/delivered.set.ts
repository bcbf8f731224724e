import { MongoBulkWriteError, MongoServerError, type Collection, type Db } from 'mongodb';

const DUPLICATE_KEY = 11000;

/**
 * Up to this many ids are read or updated one `_id` query each (in parallel), more with one `$in`:
 * on FerretDB a few `_id` scans cost less than reading the collection once, many cost more.
 */
const ONE_BY_ONE = 20;

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
 * `enricher_batches`), built from what FerretDB does fast and atomically: inserts checked by the
 * unique `_id` index. Reads are the slow part there: an `_id` equality is a scan inside SQLite
 * (about 1 µs per document), and any other filter, `$in` included, reads the whole collection
 * into FerretDB (about 30 times that); MongoDB uses the `_id` index either way.
 *
 * Protocol, per batch of records: {@link claim} inserts `{_id: recordId, batch}` for every record
 * (unordered, one round trip); a duplicate key means an earlier attempt claimed it. The records
 * are then published (`Nats-Msg-Id` = record id) and {@link markDone} inserts the batch's marker.
 * A record whose claim belongs to a done batch was published: it is skipped, however old. A claim
 * without a done marker was interrupted between claim and marker (crash, NATS or MongoDB failure):
 * the claim moves to the new batch and the record is published again, and JetStream's duplicate
 * window drops it if the first attempt got through.
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
   * finish: publish again under the same message id; the claim is now this batch's).
   *
   * Duplicates cost a fixed number of round trips however many there are: after an outage or a
   * crash a batch can hold hundreds, and one lookup each (a collection scan on FerretDB) made such
   * a batch outlast its time limit, be redelivered and start over, for ever.
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
    if (duplicates.length === 0) return results;

    const owners = await this.ownersOf(duplicates);
    const done = new Map<string, boolean>();
    const unfinished: string[] = [];
    for (const id of duplicates) {
      const owner = owners.get(id);
      if (owner !== undefined && !done.has(owner)) done.set(owner, await this.isDone(owner));
      if (owner !== undefined && done.get(owner)) {
        results.set(id, 'delivered');
      } else {
        results.set(id, 'unfinished');
        unfinished.push(id);
      }
    }
    // Otherwise the old claim would stay unfinished for ever, and every later copy of the record
    // would be published again, past the data stream's duplicate window too.
    await this.reclaim(unfinished, batch, at);
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

  /** The batch each record id is claimed by (ids without a claim are left out). */
  private async ownersOf(recordIds: readonly string[]): Promise<Map<string, string>> {
    const found =
      recordIds.length <= ONE_BY_ONE
        ? await Promise.all(recordIds.map((_id) => this.claims.findOne({ _id }, { projection: { batch: 1 } })))
        : await this.claims.find({ _id: { $in: [...recordIds] } }, { projection: { batch: 1 } }).toArray();
    return new Map(found.filter((c) => c !== null).map((c) => [c._id, c.batch]));
  }

  private async isDone(batch: string): Promise<boolean> {
    if (this.doneBatches.has(batch)) return true;
    if (!(await this.batches.findOne({ _id: batch }))) return false;
    this.doneBatches.add(batch);
    return true;
  }

  /** Moves the claims of `recordIds` to `batch` (only the retention cleanup removes a claim, after 30 days by default). */
  private async reclaim(recordIds: readonly string[], batch: string, at: Date): Promise<void> {
    if (recordIds.length === 0) return;
    if (recordIds.length <= ONE_BY_ONE) {
      await Promise.all(recordIds.map((_id) => this.claims.updateOne({ _id }, { $set: { batch, at } })));
    } else {
      await this.claims.updateMany({ _id: { $in: [...recordIds] } }, { $set: { batch, at } });
    }
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
