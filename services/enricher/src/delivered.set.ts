import { setTimeout as sleep } from 'node:timers/promises';
import { MongoBulkWriteError, type Collection, type Db, type Filter, type OptionalUnlessRequiredId } from 'mongodb';

const DUPLICATE_KEY = 11000;

/**
 * Up to this many ids are looked up one `_id` query each (in parallel), more with one `$in`: on
 * FerretDB a few `_id` scans cost less than reading the collection once, many cost more.
 */
const ONE_BY_ONE = 20;

/** Membership of one record id in a partition: nothing but the id. */
interface ClaimDocument {
  _id: string;
}

/**
 * A batch's intent, never changed once written (FerretDB loses concurrent updates of one
 * document): its candidates (`_id` = batch id) are inserted before its claims; when some of them
 * turn out to be duplicates, the ids it did claim follow in a second one (`_id` = `<batch>#claimed`),
 * which then replaces the candidates. Both go once the batch has published them.
 */
interface PendingDocument {
  _id: string;
  batch: string;
  ids: string[];
  at: Date;
  claimed: boolean;
}

/** An id listed by another batch's intent that a later batch published: no longer unfinished. */
interface PublishedDocument {
  _id: string;
  at: Date;
}

/** What a claim attempt found for one record id. */
export type ClaimResult = 'claimed' | 'delivered' | 'unfinished';

export interface DeliveredSetLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface DeliveredSetOptions {
  /** How long, at least, a record id is remembered after it was claimed (partitions span this much). */
  readonly retentionMs: number;
  /** Prefix of the collection names; default `enricher`. */
  readonly collectionPrefix?: string;
}

/** One batch's claim: the verdict per record id and what {@link DeliveredSet.markDone} needs. */
export interface BatchClaim {
  readonly batch: string;
  readonly results: ReadonlyMap<string, ClaimResult>;
  /** Ids of this batch that other batches' intents list: once published, they are marked so. */
  readonly listedElsewhere: ReadonlySet<string>;
  /** The copy of the claims into the next partition, started at once, awaited by markDone. */
  readonly copied: Promise<void>;
  /** Whether the batch wrote its narrowed intent (`<batch>#claimed`). */
  readonly narrowed: boolean;
}

/** Counters for logs and tests. */
export interface DeliveredSetStats {
  /** Reads of the pending intents (duplicates or redeliveries in a batch). */
  pendingReads: number;
  partitionsDropped: number;
}

/** One batch's intent as read: what it may not have published yet. */
interface Intent {
  readonly batch: string;
  readonly at: Date;
  /** True when its claim step finished (its list is what it claimed). */
  readonly settled: boolean;
  readonly ids: readonly string[];
  /** Every id of its documents (candidates too). */
  readonly mentioned: readonly string[];
  readonly docIds: readonly string[];
}

/**
 * The enricher's durable memory of what it has output, in MongoDB, built for FerretDB's SQLite
 * backend: there an insert is checked by the unique `_id` index, but every query, update or delete
 * decodes the whole collection (even an `_id` equality scans), inside a write transaction for
 * updates and deletes, and two updates of one document at once can lose one. So the collections
 * that grow with every record are only ever inserted into and dropped whole, and no document is
 * ever updated; the only collections read or deleted from are small.
 *
 * - **Membership**: `<prefix>_claims_<L>_<k>` holds `{_id: recordId}` for records claimed in period
 *   `k` (`[k·L, (k+1)·L)`, L = the retention). A claim inserts into the current period's partition
 *   (a duplicate key there is the only membership test) and copies the ids it publishes into the
 *   next one, so a record stays findable for between one and two retentions after its claim.
 *   Cleanup drops a partition once its period is over: no sort, no scan, no delete of claims.
 * - **Intents**: `<prefix>_pending` holds a batch-level intent per batch in flight (see
 *   {@link PendingDocument}), inserted before the claims and deleted after the publishes: a small
 *   collection. An id listed by an intent was claimed and may not have been published, unless
 *   `<prefix>_pending_published` (ids a later batch published again) has it; an id listed by none
 *   was published (or its claim expired).
 *
 * Per batch: {@link claim} inserts the intent, then the claims (unordered, one round trip); a
 * duplicate key means an earlier claim. Only when the batch has duplicates or redelivered records
 * are the intents read (the small collections, once): a duplicate listed by another batch's intent
 * and not published since is `unfinished` (that batch stopped between claim and publish, or is
 * publishing right now: publish it again under the same message id, which JetStream's duplicate
 * window drops if the first one got through), any other duplicate is `delivered` (skipped, however
 * long ago it was published). Then {@link markDone}, after the publishes, marks the ids it
 * published that other intents list, and deletes its own intent. {@link sweepIntents} deletes the
 * intents left by batches that stopped, once every id they list has been published again.
 */
export class DeliveredSet {
  readonly stats: DeliveredSetStats = { pendingReads: 0, partitionsDropped: 0 };
  private readonly prefix: string;
  private readonly retentionMs: number;
  private readonly pending: Collection<PendingDocument>;
  private readonly published: Collection<PublishedDocument>;

  constructor(
    private readonly db: Db,
    options: DeliveredSetOptions,
  ) {
    if (!Number.isSafeInteger(options.retentionMs) || options.retentionMs < 1000) throw new RangeError('retentionMs must be at least 1000');
    this.prefix = options.collectionPrefix ?? 'enricher';
    this.retentionMs = options.retentionMs;
    this.pending = db.collection<PendingDocument>(`${this.prefix}_pending`);
    this.published = db.collection<PublishedDocument>(`${this.prefix}_pending_published`);
  }

  /** The membership partition for a time (`<prefix>_claims_<L>_<k>`). */
  partitionName(at: Date): string {
    return this.partitionOf(this.periodOf(at));
  }

  /**
   * Moves a delivered set of the previous layout (`<prefix>_delivered` claims with `batch`, plus
   * `_batches` and `_republished` markers) into the current partitions, then drops it: claims of
   * done batches and republished records become members; a claim left unfinished is not moved, so
   * its record is published again when it comes back (as before). Reads the old collections once, at
   * start-up; a no-op when they do not exist.
   */
  async migrateLegacy(at: Date, log?: DeliveredSetLogger): Promise<number> {
    const legacy = `${this.prefix}_delivered`;
    const names = new Set((await this.db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name));
    if (!names.has(legacy)) return 0;
    const done = new Set<string>();
    for await (const doc of this.db.collection<{ _id: string }>(`${this.prefix}_batches`).find({}, { projection: { _id: 1 } })) done.add(doc._id);
    for await (const doc of this.db.collection<{ _id: string }>(`${this.prefix}_republished`).find({}, { projection: { _id: 1 } })) done.add(`record\u0000${doc._id}`);
    const period = this.periodOf(at);
    let moved = 0;
    let chunk: string[] = [];
    const flush = async () => {
      for (const k of [period, period + 1]) await insertIgnoringDuplicates(this.partition(k), chunk.map((_id) => ({ _id })));
      moved += chunk.length;
      chunk = [];
    };
    try {
      for await (const claim of this.db.collection<{ _id: string; batch: string }>(legacy).find({})) {
        if (done.has(claim.batch) || done.has(`record\u0000${claim._id}`)) chunk.push(claim._id);
        if (chunk.length >= 1000) await flush();
      }
      await flush();
    } catch (error) {
      // Another replica finished the move and dropped the old collection under our cursor.
      const still = (await this.db.listCollections({ name: legacy }, { nameOnly: true }).toArray()).length > 0;
      if (still) throw error;
      return moved;
    }
    for (const name of [legacy, `${this.prefix}_batches`, `${this.prefix}_republished`]) await this.db.collection(name).drop().catch(() => undefined);
    log?.info({ moved }, 'delivered set moved to the partitioned layout');
    return moved;
  }

  /**
   * Claims `recordIds` (distinct) for `batch`. Per id: `claimed` (new: publish it), `delivered`
   * (published before: skip) or `unfinished` (an earlier claim that may not have been published:
   * publish again under the same message id). `redelivered` names the ids whose raw message was
   * delivered before: an earlier attempt of theirs may have left its intent behind.
   *
   * Duplicates cost one read of the intents however many there are (after an outage or a crash a
   * batch can hold hundreds), and never a read of the claims.
   */
  async claim(recordIds: readonly string[], batch: string, at: Date, redelivered: ReadonlySet<string> = new Set()): Promise<BatchClaim> {
    const results = new Map<string, ClaimResult>();
    const listedElsewhere = new Set<string>();
    if (recordIds.length === 0) return { batch, results, listedElsewhere, copied: Promise.resolve(), narrowed: false };
    const period = this.periodOf(at);
    await this.pending.insertOne({ _id: batch, batch, ids: [...recordIds], at, claimed: false });
    const duplicates = await insertIgnoringDuplicates(this.partition(period), recordIds.map((_id) => ({ _id })));
    for (const id of recordIds) results.set(id, 'claimed');

    if (duplicates.length > 0) {
      // A duplicate is another batch's to answer for (an unfinished one stays listed by that batch's
      // intent until it is published): this batch's intent narrows to what it claimed. Written
      // first, so that two batches holding the same duplicates never wait for each other below.
      const dups = new Set(duplicates);
      await this.pending.insertOne({ _id: `${batch}#claimed`, batch, ids: recordIds.filter((id) => !dups.has(id)), at, claimed: true });
    }
    if (duplicates.length > 0 || recordIds.some((id) => redelivered.has(id))) {
      const ours = new Set(recordIds);
      const dups = new Set(duplicates);
      let unfinished = new Set<string>();
      for (const waitUntil = Date.now() + CLAIM_SETTLE_MS; ; ) {
        const intents = (await this.intents()).filter((i) => i.batch !== batch);
        const listed = intents.flatMap((i) => i.ids.filter((id) => ours.has(id)));
        const done = new Set((await findByIds(this.published, [...new Set(listed)])).map((d) => d._id));
        unfinished = new Set(listed.filter((id) => !done.has(id)));
        listedElsewhere.clear();
        for (const id of unfinished) listedElsewhere.add(id);
        // An intent whose claim step has not finished lists candidates: a duplicate it holds may be
        // one that batch found claimed too and is about to leave out. Give it time to settle.
        const unsettled = intents.some((i) => !i.settled && at.getTime() - i.at.getTime() < CLAIM_SETTLE_MS && i.ids.some((id) => dups.has(id) && unfinished.has(id)));
        if (!unsettled || Date.now() >= waitUntil) break;
        await sleep(SETTLE_POLL_MS);
      }
      for (const id of duplicates) results.set(id, unfinished.has(id) ? 'unfinished' : 'delivered');
    }
    const toCopy = recordIds.filter((id) => results.get(id) !== 'delivered');
    const copied = insertIgnoringDuplicates(this.partition(period + 1), toCopy.map((_id) => ({ _id }))).then(() => undefined);
    copied.catch(() => undefined);
    return { batch, results, listedElsewhere, copied, narrowed: duplicates.length > 0 };
  }

  /**
   * After the batch published every id it claimed (and the unfinished ones): finishes the copy into
   * the next partition, marks the published ids that other batches' intents list, and deletes this
   * batch's intent. Idempotent.
   */
  async markDone(claim: BatchClaim, at: Date = new Date()): Promise<void> {
    if (claim.results.size === 0) return;
    await claim.copied;
    const marks = [...claim.listedElsewhere].filter((id) => claim.results.get(id) !== 'delivered');
    await insertIgnoringDuplicates(this.published, marks.map((_id) => ({ _id, at })));
    // One `_id` equality each (FerretDB hands it to SQLite; an `$in` would decode every intent in Go).
    if (claim.narrowed) await this.pending.deleteOne({ _id: `${claim.batch}#claimed` });
    await this.pending.deleteOne({ _id: claim.batch });
  }

  /**
   * Deletes the intents of batches that stopped (crash, failure) once every id they list has been
   * published again, or once they are older than the retention, and the marks no intent needs any
   * more. Reads and deletes only in the two small collections; whole documents only.
   */
  async sweepIntents(now: Date, log?: DeliveredSetLogger): Promise<number> {
    const intents = await this.intents();
    const marks = await this.published.find({}).toArray();
    const marked = new Set(marks.map((m) => m._id));
    const settledBefore = now.getTime() - SWEEP_AFTER_MS;
    const expiredBefore = now.getTime() - this.retentionMs;
    const gone = intents.filter((i) => i.at.getTime() < expiredBefore || (i.at.getTime() < settledBefore && i.ids.every((id) => marked.has(id))));
    const goneBatches = new Set(gone.map((i) => i.batch));
    const needed = new Set(intents.filter((i) => !goneBatches.has(i.batch)).flatMap((i) => i.mentioned));
    const unneeded = marks.filter((m) => !needed.has(m._id) && m.at.getTime() < settledBefore).map((m) => m._id);
    if (gone.length > 0) await this.pending.deleteMany({ _id: { $in: gone.flatMap((i) => i.docIds) } });
    if (unneeded.length > 0) await this.published.deleteMany({ _id: { $in: unneeded } });
    if (gone.length > 0) log?.info({ intents: gone.length, marks: unneeded.length }, 'intents of stopped batches removed (their records were published again)');
    return gone.length + unneeded.length;
  }

  /**
   * Drops the partitions whose period ended (with a margin for replicas whose clocks lag) and
   * sweeps the intents. Reads only the collection list and the small collections.
   */
  async removeExpired(now: Date, log?: DeliveredSetLogger): Promise<number> {
    const pattern = new RegExp(`^${escapeRegExp(this.prefix)}_claims_(\\d+)_(\\d+)$`);
    let removed = 0;
    for (const { name } of await this.db.listCollections({}, { nameOnly: true }).toArray()) {
      const match = pattern.exec(name);
      if (!match) continue;
      const length = Number(match[1]);
      const period = Number(match[2]);
      // A partition is the membership test during its own period only (and the copy's target during the one before).
      const endsAt = (period + 1) * length;
      if (now.getTime() >= endsAt + Math.min(length, MARGIN_MS)) {
        await this.db.collection(name).drop();
        this.stats.partitionsDropped += 1;
        removed += 1;
        log?.info({ partition: name }, 'expired delivered-set partition dropped');
      }
    }
    return removed + (await this.sweepIntents(now, log));
  }

  /** Every intent, one per batch (the narrowed list when the batch wrote one). */
  private async intents(): Promise<Intent[]> {
    this.stats.pendingReads += 1;
    const byBatch = new Map<string, PendingDocument[]>();
    for (const doc of await this.pending.find({}).toArray()) {
      const docs = byBatch.get(doc.batch) ?? [];
      docs.push(doc);
      byBatch.set(doc.batch, docs);
    }
    return [...byBatch].map(([batch, docs]) => {
      const narrowed = docs.find((d) => d.claimed);
      const first = docs.find((d) => !d.claimed) ?? narrowed!;
      return {
        batch,
        at: first.at,
        settled: narrowed !== undefined,
        ids: (narrowed ?? first).ids,
        mentioned: docs.flatMap((d) => d.ids),
        docIds: docs.map((d) => d._id),
      };
    });
  }

  private periodOf(at: Date): number {
    return Math.floor(at.getTime() / this.retentionMs);
  }

  private partitionOf(period: number): string {
    return `${this.prefix}_claims_${this.retentionMs}_${period}`;
  }

  private partition(period: number): Collection<ClaimDocument> {
    return this.db.collection<ClaimDocument>(this.partitionOf(period));
  }
}

/**
 * How long a batch with duplicates waits for other batches' fresh intents listing them to finish
 * their claim step (until then an intent lists candidates); a batch still not done after this long
 * is taken at its word (it may have stopped in its claim step).
 */
const CLAIM_SETTLE_MS = 2_000;
const SETTLE_POLL_MS = 100;
/** Intents (and marks) younger than this are left to their batch: it may still be at work. */
const SWEEP_AFTER_MS = 60_000;

/** Replicas whose clocks lag may still claim in a period that just ended: its partition stays this long. */
const MARGIN_MS = 3_600_000;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The documents with these ids (a few one query each, in parallel; more with one `$in`). */
export async function findByIds<T extends { _id: string }>(collection: Collection<T>, ids: readonly string[]): Promise<T[]> {
  if (ids.length === 0) return [];
  if (ids.length > ONE_BY_ONE) return (await collection.find({ _id: { $in: [...ids] } } as Filter<T>).toArray()) as T[];
  const found = await Promise.all(ids.map((_id) => collection.findOne({ _id } as Filter<T>)));
  return found.filter((d) => d !== null) as T[];
}

/** Inserts unordered; returns the ids that were there already (duplicate keys). */
async function insertIgnoringDuplicates<T extends { _id: string }>(collection: Collection<T>, docs: readonly T[]): Promise<string[]> {
  if (docs.length === 0) return [];
  try {
    await collection.insertMany(docs as OptionalUnlessRequiredId<T>[], { ordered: false });
    return [];
  } catch (error) {
    if (!(error instanceof MongoBulkWriteError)) throw error;
    const writeErrors = Array.isArray(error.writeErrors) ? error.writeErrors : [error.writeErrors];
    if (writeErrors.length === 0 || writeErrors.some((w) => w.code !== DUPLICATE_KEY)) throw error;
    return writeErrors.map((w) => docs[w.index]!._id);
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
