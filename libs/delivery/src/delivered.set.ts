import { MongoBulkWriteError, type Collection, type Db, type Filter, type OptionalUnlessRequiredId } from 'mongodb';
import { randomUUID } from 'node:crypto';
import { LruCache } from './lru.cache';

const DUPLICATE_KEY = 11000;

/**
 * Up to this many ids are looked up one `_id` query each (in parallel), more with one `$in`: on
 * FerretDB a few `_id` scans cost less than reading the collection once, many cost more.
 */
const ONE_BY_ONE = 20;

/**
 * Records whose claiming batch this process knows (~150 bytes each): a live poll's overlap with the
 * previous one brings a few of them again every interval, and a lookup of their claims is a scan of
 * the day's collection on FerretDB, whose cost grows all day.
 */
const OWNERS_KEPT = 100_000;
/** Batch ids known to be done (~100 bytes each). */
const DONE_KEPT = 50_000;

interface ClaimDocument {
  /** The record id. */
  _id: string;
  /** The batch that claimed it; the record counts as delivered once that batch is marked done. */
  batch: string;
}

interface MarkerDocument {
  /** A batch id (`_batches`: the batch is done) or a record id (`_republished`: the record is delivered). */
  _id: string;
}

/**
 * What a claim attempt found for one record id: `claimed` (new: publish it), `delivered` (its
 * claiming batch is done: skip it), `unfinished` (its claiming batch is not done: publish it again
 * under the same message id) or `output` (the output stream held it when this process read its
 * tail: skip it). Records `unfinished` or `output` go to {@link DeliveredSet.markDone}.
 */
export type ClaimResult = 'claimed' | 'delivered' | 'unfinished' | 'output';

export interface DeliveredSetLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

const DAY = /^(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;
const BATCH = /^(\d{8})-/;

/** Whether `day` is a UTC day as the delivered set keeps records under: `YYYY-MM-DD`. */
export function isDay(day: string): boolean {
  return DAY.test(day);
}

/** `YYYYMMDD` of an ISO day (`YYYY-MM-DD`); throws for anything else. */
function dayKey(day: string): string {
  const m = DAY.exec(day);
  if (!m) throw new RangeError(`not a day (YYYY-MM-DD): ${JSON.stringify(day)}`);
  return `${m[1]}${m[2]}${m[3]}`;
}

/**
 * Collections named `<base>_<YYYYMMDD>`, one per UTC day, written with inserts only and expired by
 * dropping whole days: no query ever reads or sorts their documents to find old ones.
 */
export class DayCollections<T extends { _id: string }> {
  private readonly pattern: RegExp;

  constructor(
    private readonly db: Db,
    readonly base: string,
  ) {
    this.pattern = new RegExp(`^${base}_(\\d{8})$`);
  }

  /** The collection of `day` (`YYYY-MM-DD`, or a Date's UTC day). */
  of(day: string | Date): Collection<T> {
    return this.db.collection<T>(`${this.base}_${dayKey(typeof day === 'string' ? day : day.toISOString().slice(0, 10))}`);
  }

  /** The days that have a collection, `YYYYMMDD`, newest first. */
  async days(): Promise<string[]> {
    const names = (await this.db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
    return names.flatMap((n) => this.pattern.exec(n)?.[1] ?? []).sort().reverse();
  }

  /** The documents with these ids in the collection of any day (of `since`'s UTC day or later), newest day first. */
  async findAnywhere(ids: readonly string[], since?: Date): Promise<T[]> {
    const found: T[] = [];
    let missing = [...ids];
    const first = since === undefined ? '' : since.toISOString().slice(0, 10).replaceAll('-', '');
    for (const day of missing.length > 0 ? (await this.days()).filter((d) => d >= first) : []) {
      const docs = await findByIds(this.db.collection<T>(`${this.base}_${day}`), missing);
      found.push(...docs);
      const seen = new Set(docs.map((d) => d._id));
      missing = missing.filter((id) => !seen.has(id));
      if (missing.length === 0) break;
    }
    return found;
  }

  /** Drops the collections of days before `before`'s UTC day; returns how many. */
  async dropBefore(before: Date): Promise<number> {
    const cutoff = before.toISOString().slice(0, 10).replaceAll('-', '');
    let dropped = 0;
    for (const day of await this.days()) {
      if (day >= cutoff) continue;
      await this.db.dropCollection(`${this.base}_${day}`).catch((error: unknown) => {
        // Dropped meanwhile by another replica.
        if ((error as { codeName?: string }).codeName !== 'NamespaceNotFound') throw error;
      });
      dropped += 1;
    }
    return dropped;
  }
}

/**
 * The enricher's durable memory of what it has output, in MongoDB, written with inserts only and
 * kept in one collection per day, so that expiry drops whole collections: on FerretDB (SQLite) an
 * insert is checked by the unique `_id` index, but a query, update or delete by anything scans the
 * collection (updates and deletes inside a write transaction that blocks every other writer), and a
 * clean-up by age would read and sort every claim ever made.
 *
 * - Claims `{_id: recordId, batch}` live in `<prefix>_delivered_<YYYYMMDD>` of the **record's day**
 *   (the day of the time its id stands for: a record's creation or version time, a snapshot's
 *   time), which the fetcher sends with each raw batch. The same record always lands in the same
 *   collection, however much later it is fetched again, so a repeat is a duplicate key there.
 * - Done markers of batches live in `<prefix>_batches_<YYYYMMDD>` of the day the batch started
 *   (its id begins with it: {@link DeliveredSet.batchId}); markers of records published again after
 *   an unfinished claim in `<prefix>_republished_<YYYYMMDD>` of the record's day.
 *
 * Protocol, per batch of records: {@link claim} inserts a claim for every record (unordered, one
 * round trip per day); a duplicate key means an earlier attempt claimed it. The records are then
 * published (`Nats-Msg-Id` = record id) and {@link markDone} inserts the batch's marker. A record
 * whose claim belongs to a done batch was published: it is skipped, however old. A claim without a
 * done marker was interrupted between claim and marker (crash, NATS or MongoDB failure): the record
 * is published again (JetStream's duplicate window drops it if the first attempt got through), and
 * the batch that did so inserts a `_republished` marker for it, so that later copies are skipped too.
 *
 * {@link removeOlderThan} drops the collections of days before the retention: a record is
 * remembered for the retention counted from its own day.
 */
export class DeliveredSet {
  /** Batch ids known to be done: saves a lookup when many duplicates share a batch. */
  private readonly doneBatches = new LruCache<string, true>(DONE_KEPT);
  /**
   * `<day> <record id>` -> a batch known to have claimed or republished the record here. Claims and
   * markers are never changed, so what is kept stays true: a duplicate whose batch is known to be
   * done is `delivered` without reading the store.
   */
  private readonly owners = new LruCache<string, string>(OWNERS_KEPT);
  /**
   * Record ids the output stream held when this process read its tail ({@link rememberOutput}),
   * at start: what `owners` knew before a restart, so that the first repeats after it (each live
   * poll's overlap) need no lookup either.
   */
  private readonly output = new LruCache<string, true>(OWNERS_KEPT);
  private readonly claims: DayCollections<ClaimDocument>;
  private readonly republished: DayCollections<MarkerDocument>;
  private readonly batches: DayCollections<MarkerDocument>;

  constructor(db: Db, collectionPrefix = 'enricher') {
    this.claims = new DayCollections(db, `${collectionPrefix}_delivered`);
    this.republished = new DayCollections(db, `${collectionPrefix}_republished`);
    this.batches = new DayCollections(db, `${collectionPrefix}_batches`);
  }

  /** A new batch id: the day it starts (UTC, `YYYYMMDD`), a dash, a random part. */
  static batchId(now: Date): string {
    return `${now.toISOString().slice(0, 10).replaceAll('-', '')}-${randomUUID()}`;
  }

  /** How many record ids an output stream's tail may teach: as many as the owners kept. */
  static readonly OUTPUT_KEPT = OWNERS_KEPT;

  /**
   * Record ids found in the output stream (their `Nats-Msg-Id`s): published, whichever batch
   * claimed them. A duplicate among them is `output` without a lookup.
   */
  rememberOutput(recordIds: Iterable<string>): void {
    for (const id of recordIds) this.output.set(id, true);
  }

  /**
   * Claims `recordIds` (distinct, all of records of `day`) for `batch`. Returns, per id, `claimed`
   * (new: publish it), `delivered` (published before: skip), `output` (found in the output stream:
   * skip, and pass it to {@link markDone}) or `unfinished` (an earlier attempt did not finish:
   * publish again under the same message id, and pass it to {@link markDone}).
   *
   * Duplicates cost a few round trips however many there are: after an outage or a crash a batch
   * can hold hundreds, and one lookup each (a scan each on FerretDB) made such a batch outlast its
   * time limit, be redelivered and start over, for ever.
   */
  async claim(day: string, recordIds: readonly string[], batch: string): Promise<Map<string, ClaimResult>> {
    const results = new Map<string, ClaimResult>();
    if (recordIds.length === 0) return results;
    const claims = this.claims.of(day);
    const duplicates: string[] = [];
    try {
      await claims.insertMany(
        recordIds.map((_id) => ({ _id, batch })),
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
    const duplicated = new Set(duplicates);
    for (const id of recordIds) if (!duplicated.has(id)) this.owners.set(ownerKey(day, id), batch);
    // Duplicates whose claiming batch is known here and done, or that the output stream held, need
    // no lookup. The latter get a `_republished` marker from this batch: their claiming batch may
    // never have been marked done.
    const unknown = duplicates.filter((id) => {
      const owner = this.owners.get(ownerKey(day, id));
      if (owner !== undefined && this.doneBatches.get(owner) !== undefined) results.set(id, 'delivered');
      else if (this.output.get(id) !== undefined) results.set(id, 'output');
      else return true;
      return false;
    });
    if (unknown.length === 0) return results;

    const owners = new Map((await findByIds(claims, unknown)).map((c) => [c._id, c.batch]));
    const done = new Map<string, boolean>();
    const notDone: string[] = [];
    for (const id of unknown) {
      const owner = owners.get(id);
      if (owner !== undefined) this.owners.set(ownerKey(day, id), owner);
      if (owner !== undefined && !done.has(owner)) done.set(owner, await this.isDone(owner));
      if (owner !== undefined && done.get(owner)) results.set(id, 'delivered');
      else notDone.push(id);
    }
    const republished = new Set((await findByIds(this.republished.of(day), notDone)).map((m) => m._id));
    for (const id of notDone) results.set(id, republished.has(id) ? 'delivered' : 'unfinished');
    return results;
  }

  /**
   * Marks a batch done: every record it claimed has been published, and so have `republished`:
   * the records it published again after an unfinished earlier claim, and those it found in the
   * output stream. Idempotent.
   */
  async markDone(batch: string, republished: ReadonlyArray<{ readonly id: string; readonly day: string }> = []): Promise<void> {
    const byDay = new Map<string, MarkerDocument[]>();
    for (const r of republished) {
      const docs = byDay.get(r.day);
      if (docs) docs.push({ _id: r.id });
      else byDay.set(r.day, [{ _id: r.id }]);
    }
    for (const [day, docs] of byDay) await insertIgnoringDuplicates(this.republished.of(day), docs);
    await insertIgnoringDuplicates(this.batchesOf(batch), [{ _id: batch }]);
    for (const r of republished) this.owners.set(ownerKey(r.day, r.id), batch);
    this.doneBatches.set(batch, true);
  }

  /**
   * Drops the collections of days before `before`'s day: claims first, so a claim never outlives
   * its batch's marker by more than one run. Returns how many collections were dropped.
   */
  async removeOlderThan(before: Date, log?: DeliveredSetLogger): Promise<number> {
    let dropped = 0;
    for (const days of [this.claims, this.republished, this.batches] as Array<DayCollections<{ _id: string }>>) dropped += await days.dropBefore(before);
    if (dropped > 0) log?.info({ collections: dropped, before: before.toISOString().slice(0, 10) }, 'expired days of the delivered set dropped');
    return dropped;
  }

  private batchesOf(batch: string): Collection<MarkerDocument> {
    const m = BATCH.exec(batch);
    if (!m) throw new RangeError(`not a batch id (YYYYMMDD-...): ${JSON.stringify(batch)}`);
    return this.batches.of(`${m[1]!.slice(0, 4)}-${m[1]!.slice(4, 6)}-${m[1]!.slice(6)}`);
  }

  private async isDone(batch: string): Promise<boolean> {
    if (this.doneBatches.get(batch)) return true;
    if (!BATCH.test(batch)) return false;
    if (!(await this.batchesOf(batch).findOne({ _id: batch }))) return false;
    this.doneBatches.set(batch, true);
    return true;
  }
}

const ownerKey = (day: string, recordId: string): string => `${day} ${recordId}`;

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
