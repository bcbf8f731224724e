import { MongoBulkWriteError, type Collection, type Db, type Filter, type OptionalUnlessRequiredId } from 'mongodb';

const DUPLICATE_KEY = 11000;

/**
 * Up to this many ids are looked up one `_id` query each (in parallel), more with one `$in`: on
 * FerretDB a few `_id` scans cost less than reading the collection once, many cost more.
 */
const ONE_BY_ONE = 20;

interface ClaimDocument {
  /** The record id. */
  _id: string;
  /** The batch that claimed it; the record counts as delivered once that batch is marked done. */
  batch: string;
  at: Date;
}

interface MarkerDocument {
  /** A batch id (`_batches`: the batch is done) or a record id (`_republished`: the record is delivered). */
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
 * The enricher's durable memory of what it has output, in MongoDB (`enricher_delivered`,
 * `enricher_batches`, `enricher_republished`), written with inserts only: on FerretDB (SQLite) an
 * insert is checked by the unique `_id` index, but an `_id` query, update or delete scans the
 * collection (updates and deletes inside a write transaction that blocks every other writer), and
 * `$in` reads the whole collection; MongoDB uses the `_id` index for all of them.
 *
 * Protocol, per batch of records: {@link claim} inserts `{_id: recordId, batch}` for every record
 * (unordered, one round trip); a duplicate key means an earlier attempt claimed it. The records
 * are then published (`Nats-Msg-Id` = record id) and {@link markDone} inserts the batch's marker.
 * A record whose claim belongs to a done batch was published: it is skipped, however old. A claim
 * without a done marker was interrupted between claim and marker (crash, NATS or MongoDB failure):
 * the record is published again (JetStream's duplicate window drops it if the first attempt got
 * through), and the batch that did so inserts a `_republished` marker for it, so that later copies
 * are skipped too.
 */
export class DeliveredSet {
  private readonly claims: Collection<ClaimDocument>;
  private readonly batches: Collection<MarkerDocument>;
  private readonly republished: Collection<MarkerDocument>;
  /** Batch ids known to be done: saves a lookup when many duplicates share a batch. */
  private readonly doneBatches = new Set<string>();

  constructor(db: Db, collectionPrefix = 'enricher') {
    this.claims = db.collection<ClaimDocument>(`${collectionPrefix}_delivered`);
    this.batches = db.collection<MarkerDocument>(`${collectionPrefix}_batches`);
    this.republished = db.collection<MarkerDocument>(`${collectionPrefix}_republished`);
  }

  /** Secondary indexes for the cleanup (MongoDB uses them; FerretDB scans either way). */
  async ensureIndexes(): Promise<void> {
    for (const collection of [this.claims, this.batches, this.republished] as Array<Collection<MarkerDocument>>) {
      await collection.createIndex({ at: 1 }, { name: 'at' });
    }
  }

  /**
   * Claims `recordIds` (distinct) for `batch`. Returns, per id, `claimed` (new: publish it),
   * `delivered` (published before: skip) or `unfinished` (an earlier attempt did not finish:
   * publish again under the same message id, and pass it to {@link markDone}).
   *
   * Duplicates cost a few round trips however many there are: after an outage or a crash a batch
   * can hold hundreds, and one lookup each (a scan each on FerretDB) made such a batch outlast its
   * time limit, be redelivered and start over, for ever.
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

    const owners = new Map((await findByIds(this.claims, duplicates)).map((c) => [c._id, c.batch]));
    const done = new Map<string, boolean>();
    const notDone: string[] = [];
    for (const id of duplicates) {
      const owner = owners.get(id);
      if (owner !== undefined && !done.has(owner)) done.set(owner, await this.isDone(owner));
      if (owner !== undefined && done.get(owner)) results.set(id, 'delivered');
      else notDone.push(id);
    }
    const republished = new Set((await findByIds(this.republished, notDone)).map((m) => m._id));
    for (const id of notDone) results.set(id, republished.has(id) ? 'delivered' : 'unfinished');
    return results;
  }

  /**
   * Marks a batch done: every record it claimed has been published, and so have `republished`,
   * the records it published again after an unfinished earlier claim. Idempotent.
   */
  async markDone(batch: string, at: Date, republished: readonly string[] = []): Promise<void> {
    await insertIgnoringDuplicates(this.republished, republished.map((_id) => ({ _id, at })));
    await insertIgnoringDuplicates(this.batches, [{ _id: batch, at }]);
    this.doneBatches.add(batch);
    if (this.doneBatches.size > 10_000) this.doneBatches.clear();
  }

  /**
   * Removes claims and markers older than `before`. Claims go first, so a claim never outlives
   * its marker by more than one run. FerretDB (SQLite) refuses a delete of more than ~32k
   * documents at once ("too many SQL variables"), so time slices are halved until it fits.
   */
  async removeOlderThan(before: Date, log?: DeliveredSetLogger): Promise<number> {
    let removed = 0;
    for (const collection of [this.claims, this.batches, this.republished] as Array<Collection<{ _id: string; at: Date }>>) {
      removed += await deleteInSlices(collection, before);
    }
    if (removed > 0) log?.info({ removed, before: before.toISOString() }, 'expired delivered-set entries removed');
    return removed;
  }

  private async isDone(batch: string): Promise<boolean> {
    if (this.doneBatches.has(batch)) return true;
    if (!(await this.batches.findOne({ _id: batch }))) return false;
    this.doneBatches.add(batch);
    return true;
  }
}

/** The documents with these ids (a few one query each, in parallel; more with one `$in`). */
export async function findByIds<T extends { _id: string }>(collection: Collection<T>, ids: readonly string[]): Promise<T[]> {
  if (ids.length === 0) return [];
  if (ids.length > ONE_BY_ONE) return (await collection.find({ _id: { $in: [...ids] } } as Filter<T>).toArray()) as T[];
  const found = await Promise.all(ids.map((_id) => collection.findOne({ _id } as Filter<T>)));
  return found.filter((d) => d !== null) as T[];
}

async function insertIgnoringDuplicates<T extends { _id: string }>(collection: Collection<T>, docs: readonly T[]): Promise<void> {
  if (docs.length === 0) return;
  try {
    await collection.insertMany(docs as OptionalUnlessRequiredId<T>[], { ordered: false });
  } catch (error) {
    const writeErrors = error instanceof MongoBulkWriteError ? [error.writeErrors].flat() : [];
    if (writeErrors.length === 0 || writeErrors.some((w) => w.code !== DUPLICATE_KEY)) throw error;
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
