import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { inflateRawSync } from 'node:zlib';
import { BSON, type Binary, MongoBulkWriteError, MongoServerError, type Collection, type Db } from 'mongodb';
import { toStorableDocument } from './event-document.validator';
import { ConcurrencyError, DuplicateEventIdError, InvalidEventDocumentError } from './event-store.errors';
import {
  type AppendResult,
  type EventMetadata,
  type ExpectedVersion,
  type NewEvent,
  type RecordedEvent,
} from './event.types';

/** Stream id of the placeholders that logs written before v2 of the store may hold; readers skip them. */
const LEGACY_GAP_MARKER = '$gap';

const DUPLICATE_KEY = 11000;
const MAX_APPEND_ATTEMPTS = 10;
/** Streams whose last version and position an instance remembers (for `'any'` and positions). */
const KNOWN_STREAMS_LIMIT = 50_000;
/** Most appends written together by one group of commands. */
const GROUP_LIMIT = 100;
/** Most appends published together. */
const PUBLISH_LIMIT = 500;
/** Event ids per `$in` when a recovery asks the log which of an outbox entry's events it holds. */
const RECOVERY_CHUNK = 1000;
/** Names of the outbox buckets: `event_outbox_<writer>_<bucket start, ms>`; the tag its events carry is `<writer>_<start>`. */
const BUCKET_NAME = /^event_outbox_([0-9a-f]{12}_(\d+))$/;
/** `_id` of the one document a bucket holds: where in the log its events are. */
const BUCKET_MARKER_ID = '$bucket';
const LEGACY_OUTBOX = 'event_outbox';

/** Options of {@link MongoEventStore}. */
export interface MongoEventStoreOptions {
  /** Prefix of the collection names: `${prefix}events`, `${prefix}event_outbox`, ... Default ''. */
  collectionPrefix?: string;
  /**
   * How long each outbox bucket of a writer takes appends, and how long after that a bucket its
   * writer has not dropped is taken to be abandoned (its writer died, or could not publish) and
   * recovered by the relay. Default 30000.
   */
  outboxGraceMs?: number;
  clock?: () => Date;
  idGenerator?: () => string;
}

/** An event as stored: `_id` is `<streamId>@<version>`, so a second writer of a version gets a duplicate key. */
export interface EventDocument {
  _id: string;
  eventId: string;
  streamId: string;
  version: number;
  position: number;
  type: string;
  data: unknown;
  metadata: EventMetadata;
  time: Date;
  /** The outbox bucket of the append that stored it (`<writer>_<start>`); absent in logs written before. */
  outbox?: string;
}

/**
 * One append in an outbox of the versions before session 23, which wrote an entry per append
 * before its events: what a recovery publishes (and stores, if its writer died before storing it).
 * `_id` is `<stream>@<version> <eventId>` of its first event (in the outbox of versions before
 * buckets, `<stream>@<version>`).
 */
export interface OutboxEntry {
  _id: string;
  streamId: string;
  events: EventDocument[];
  at: Date;
}

/** An outbox entry as stored: its events nested, or packed in one BSON binary (deflated, or not). */
interface StoredOutboxEntry {
  _id: string;
  streamId: string;
  events: Binary | EventDocument[];
  at: Date;
}

/**
 * The one document of an outbox bucket, inserted before the first of its events: every event the
 * bucket's appends stored has a position of at least `from` (a recovery reads the log from there,
 * by the position index where the store uses it).
 */
interface BucketMarker {
  _id: typeof BUCKET_MARKER_ID;
  from: number;
  at: Date;
}

/**
 * A writer's outbox bucket for the appends it makes in one period: a collection holding a
 * {@link BucketMarker}, which the period's events name (`outbox`). Its writer drops it once the
 * period is over and every append of it is published; one left behind is a recovery's to publish.
 */
interface OutboxBucket {
  readonly name: string;
  readonly tag: string;
  readonly collection: Collection<BucketMarker>;
  readonly end: number;
  /** The marker's insert, once started (undone when it fails, to be tried again). */
  opened: Promise<void> | undefined;
  /** Appends of the bucket not yet settled: being written, or stored and not yet published. */
  pending: number;
  /** An append's fate is unknown (its events' insert failed): left for a recovery. */
  keep: boolean;
}

/** Publishes appended events (to JetStream); resolves once every one of them is acknowledged. */
export type EventPublisher = (events: readonly RecordedEvent[]) => Promise<void>;

/** What {@link MongoEventStore.recoverOutbox} did with an abandoned outbox. */
export interface OutboxRecovery {
  /** Entries read (outboxes of versions before session 23 only). */
  readonly entries: number;
  /** Events published (again, for most: JetStream's duplicate window and readers drop repeats). */
  readonly published: number;
  /** Appends whose writer died before storing their events, stored now. */
  readonly completed: ReadonlyArray<{ streamId: string; fromVersion: number; stored: number }>;
}

/** An append waiting in the group commit queue. */
interface QueuedWrite {
  readonly docs: EventDocument[];
  resolve(stored: EventDocument[]): void;
  reject(error: unknown): void;
}

/**
 * Append-only event log in MongoDB (FerretDB v1 compatible), written without reading it.
 *
 * On FerretDB's SQLite backend every query but an insert reads the whole collection (even an `_id`
 * equality scans), so the log, which grows for ever, is insert-only on every hot path:
 * - an event's `_id` is `<streamId>@<version>`: appending at a version the caller knows is a plain
 *   insert, and a lost race is a duplicate key; the log is read only then;
 * - an append is that one insert: its events name the *outbox bucket* of their writer and period
 *   (`outbox`), a collection the writer makes, with one marker document, before the period's first
 *   events. Once the events are stored the writer publishes them itself ({@link publishWith}), in
 *   append order, and drops a bucket once its period is over and all of it is published. A bucket
 *   left behind (its writer died, or could not publish) is recovered by the {@link OutboxRelay},
 *   which publishes the events that name it. Readers follow JetStream, not the log.
 *
 * `position` is the append time in microseconds, made greater than the stream's previous event's
 * position when this instance knows it: ascending within a stream, roughly in time order across
 * streams, neither unique nor contiguous.
 */
export class MongoEventStore {
  /** Prefix of every collection this store and its runners use. */
  readonly collectionPrefix: string;
  /** The database of the log (snapshots and checkpoints live next to it). */
  readonly database: Db;
  readonly outboxGraceMs: number;
  private readonly events: Collection<EventDocument>;
  /** Names this instance's outbox buckets. */
  readonly writerId: string;
  private readonly meta: Collection<{ _id: string; logId: string }>;
  private readonly clock: () => Date;
  private readonly newId: () => string;
  /** Last version and position this instance wrote or read, per stream (bounded, oldest dropped). */
  private readonly known = new Map<string, { version: number; position: number }>();
  private readonly buckets = new Map<string, OutboxBucket>();
  private publisher: EventPublisher | undefined;
  /** Stored appends waiting to be published, in append order. */
  private readonly unpublished: Array<{ bucket: OutboxBucket; events: RecordedEvent[] }> = [];
  private publishing: Promise<void> | undefined;
  /** Appends waiting for the group being written (see insertWithOutbox). */
  private readonly queued: QueuedWrite[] = [];
  private writing = false;
  private lastPosition = 0;
  private indexes: Promise<void> | undefined;
  private cachedLogId: string | undefined;

  constructor(db: Db, options: MongoEventStoreOptions = {}) {
    this.collectionPrefix = options.collectionPrefix ?? '';
    this.database = db;
    this.outboxGraceMs = options.outboxGraceMs ?? 30_000;
    this.clock = options.clock ?? (() => new Date());
    this.newId = options.idGenerator ?? randomUUID;
    this.events = db.collection<EventDocument>(`${this.collectionPrefix}events`);
    this.writerId = randomBytes(6).toString('hex');
    this.meta = db.collection<{ _id: string; logId: string }>(`${this.collectionPrefix}event_log_meta`);
  }

  /**
   * A random id naming this log, created once and kept in `event_log_meta`: lets a reader of a
   * JetStream stream tell this log's messages from another log's (say, a second deployment or a
   * test sharing the NATS server).
   */
  async logId(): Promise<string> {
    if (this.cachedLogId) return this.cachedLogId;
    const existing = await this.meta.findOne({ _id: 'log' });
    if (existing) return (this.cachedLogId = existing.logId);
    try {
      await this.meta.insertOne({ _id: 'log', logId: this.newId() });
    } catch (error) {
      if ((error as { code?: number }).code !== DUPLICATE_KEY) throw error;
    }
    return (this.cachedLogId = (await this.meta.findOne({ _id: 'log' }))!.logId);
  }

  /** Creates the indexes the store relies on; idempotent. Appends call it once lazily. */
  async ensureIndexes(): Promise<void> {
    // One index per command: FerretDB v1 drops the connection when a multi-index
    // createIndexes names indexes that already exist.
    await this.events.createIndex({ streamId: 1, version: 1 }, { name: 'stream_version', unique: true });
    // Logs written before v2 of the store have a unique index on position; positions are no longer unique.
    const legacy = (await this.events.indexes().catch(() => [])).find((index) => index.name === 'position' && index.unique);
    if (legacy) await this.events.dropIndex('position');
    await this.events.createIndex({ position: 1 }, { name: 'log_order' });
  }

  /**
   * Publishes every append of this instance with `publisher` from now on (also those stored and
   * not yet published); `undefined` stops publishing, leaving what is unpublished to a recovery.
   */
  publishWith(publisher: EventPublisher | undefined): void {
    // A writer that stops publishing is done with the buckets it has published, period over or not.
    if (!publisher) for (const bucket of this.buckets.values()) this.dropIfSettled(bucket, { periodOver: true });
    this.publisher = publisher;
    if (publisher && this.unpublished.length > 0) this.publishing ??= this.publishAll();
    if (publisher) for (const bucket of this.buckets.values()) this.dropIfSettled(bucket);
  }

  /** Resolves once every append stored so far is published, or after `timeoutMs`; true when all are. */
  async published(timeoutMs = Number.POSITIVE_INFINITY): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.publishing && this.publisher) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      const timer = sleep(Math.min(left, 2 ** 31 - 1), 'timeout' as const, { ref: false });
      if ((await Promise.race([this.publishing.then(() => 'done' as const), timer])) === 'timeout') return false;
    }
    return this.unpublished.length === 0;
  }

  /**
   * Appends `events` to `streamId` at `expectedVersion`, without reading the log first.
   *
   * @param options.lastPosition the position of the stream's last event, when the caller knows it
   *   (keeps positions ascending within the stream even across writers whose clocks differ).
   * @throws ConcurrencyError when the stream is not at the expected version (a concurrent writer won
   *   the race); `'any'` retries such races a few times with jitter instead.
   * @throws DuplicateEventIdError when an explicit `eventId` is already in the log.
   * @throws InvalidEventDocumentError when data or metadata cannot be stored unchanged.
   */
  async appendToStream<E extends NewEvent>(
    streamId: string,
    events: readonly E[],
    options: { expectedVersion: ExpectedVersion; lastPosition?: number },
  ): Promise<AppendResult> {
    if (typeof streamId !== 'string' || streamId === '' || streamId.startsWith('$') || streamId.includes('\0') || streamId.includes('@')) {
      throw new InvalidEventDocumentError('streamId', "must be a non-empty string without NUL or '@', not starting with '$'");
    }
    const time = this.clock();
    const prepared = events.map((event, i) => this.prepare(event, i, time));
    if (prepared.length === 0) {
      const version = typeof options.expectedVersion === 'number' ? options.expectedVersion : (this.known.get(streamId)?.version ?? 0);
      return { nextExpectedVersion: version, lastPosition: 0, events: [] };
    }
    await this.ready();
    const explicitIds = events.filter((e) => e.eventId !== undefined).map((e) => e.eventId!);
    if (explicitIds.length > 0) await this.refuseUsedEventIds(explicitIds);
    const { expectedVersion } = options;

    const appended: RecordedEvent[] = [];
    let remaining = prepared;
    let base = await this.baseVersion(streamId, expectedVersion);
    let streamPosition = Math.max(options.lastPosition ?? 0, this.known.get(streamId)?.position ?? 0);
    for (let attempt = 1; ; attempt++) {
      const docs: EventDocument[] = remaining.map((p, i) => ({
        ...p,
        _id: eventDocumentId(streamId, base + i + 1),
        streamId,
        version: base + i + 1,
        position: this.nextPosition(i === 0 ? streamPosition : 0),
      }));
      const stored = await this.enqueue(docs);
      appended.push(...stored.map(toRecorded));
      if (stored.length > 0) {
        const last = stored[stored.length - 1]!;
        streamPosition = last.position;
        this.remember(streamId, last.version, last.position);
      }
      if (stored.length === docs.length) {
        return { nextExpectedVersion: base + docs.length, lastPosition: streamPosition, events: appended };
      }
      // Without transactions a multi-event append is not atomic: in the rare case that another
      // writer slipped in mid-batch, the events already stored stay, and only 'any' goes on.
      remaining = remaining.slice(stored.length);
      this.known.delete(streamId);
      if (expectedVersion !== 'any' || attempt >= MAX_APPEND_ATTEMPTS) {
        throw new ConcurrencyError(streamId, expectedVersion);
      }
      await jitter(attempt);
      base = await this.streamVersion(streamId);
    }
  }

  /** Events of one stream in version order, optionally limited to `[fromVersion, toVersion]`. Reads the log: not for hot paths. */
  async readStream(streamId: string, options: { fromVersion?: number; toVersion?: number } = {}): Promise<RecordedEvent[]> {
    const version: { $gte: number; $lte?: number } = { $gte: options.fromVersion ?? 1 };
    if (options.toVersion !== undefined) version.$lte = options.toVersion;
    const docs = await this.events.find({ streamId, version }).sort({ version: 1 }).toArray();
    const last = docs.at(-1);
    if (last && options.toVersion === undefined) this.remember(streamId, last.version, last.position);
    return docs.map(toRecorded);
  }

  /** Whether the stream has an event at `version`: one read by `_id`. */
  async hasEvent(streamId: string, version: number): Promise<boolean> {
    return (await this.events.findOne({ _id: eventDocumentId(streamId, version) }, { projection: { _id: 1 } })) !== null;
  }

  /** The stream's current version, 0 when it is empty. Reads the log: not for hot paths. */
  async streamVersion(streamId: string): Promise<number> {
    const [last] = await this.events
      .find({ streamId })
      .sort({ version: -1 })
      .limit(1)
      .project<{ version: number; position: number }>({ version: 1, position: 1 })
      .toArray();
    if (last) this.remember(streamId, last.version, last.position);
    return last?.version ?? 0;
  }

  /**
   * The whole log in one query, by position (then stream and version), in batches: for a cold start
   * or a rebuild, never for a hot path.
   */
  async *readLog(options: { batchSize?: number } = {}): AsyncGenerator<RecordedEvent[]> {
    const batchSize = options.batchSize ?? 1000;
    const cursor = this.events.find({}).sort({ position: 1, streamId: 1, version: 1 }).allowDiskUse(true);
    let batch: RecordedEvent[] = [];
    try {
      for await (const doc of cursor) {
        if (doc.streamId === LEGACY_GAP_MARKER) continue;
        batch.push(toRecorded(doc));
        if (batch.length >= batchSize) {
          yield batch;
          batch = [];
        }
      }
      if (batch.length > 0) yield batch;
    } finally {
      await cursor.close();
    }
  }

  // ---- the outbox, for OutboxRelay ----

  /**
   * The outboxes a recovery should take over: buckets whose period ended more than `outboxGraceMs`
   * ago (a live writer drops its own at the period's end, once published), oldest first, and the
   * single outbox of versions before buckets when it exists.
   */
  async abandonedOutboxes(): Promise<string[]> {
    const now = Date.now();
    return (await this.outboxes())
      .filter(({ start }) => start === 0 || start + 2 * this.outboxGraceMs <= now)
      .sort((a, b) => a.start - b.start)
      .map((a) => a.name);
  }

  /** The outbox collections (this writer's and others'), by name; for tests and tools. */
  async outboxNames(): Promise<string[]> {
    return (await this.outboxes()).map((o) => o.name).sort();
  }

  /** Every entry of every outbox of the versions before session 23, in no particular order; for tests and tools. */
  async outboxEntries(): Promise<OutboxEntry[]> {
    const entries: OutboxEntry[] = [];
    for (const { name } of await this.outboxes()) {
      for (const stored of await this.database.collection<StoredOutboxEntry>(name).find({ _id: { $ne: BUCKET_MARKER_ID } }).toArray()) {
        entries.push({ ...stored, events: unpackEvents(stored.events) });
      }
    }
    return entries;
  }

  /**
   * Takes over an abandoned outbox ({@link abandonedOutboxes}): hands `publish` again every event
   * that names the bucket (read from the log by position from the bucket's marker on: on FerretDB a
   * scan of the log, as every query but an insert is; a recovery is for a writer's death, not a hot
   * path), in version order per stream, then drops the bucket once `publish` resolved.
   *
   * Outboxes of the versions before session 23 hold an entry per append instead: the log is asked
   * which of their events it holds (one `$in` per thousand), an entry whose writer died before
   * storing its events is stored now (stopping at the first version another writer holds), and the
   * rest is as above. In the outbox of versions before buckets, only entries older than the grace
   * are taken (an old writer may still be at one), and they are deleted instead of dropped.
   */
  async recoverOutbox(name: string, publish: EventPublisher): Promise<OutboxRecovery> {
    const legacy = name === `${this.collectionPrefix}${LEGACY_OUTBOX}`;
    const outbox = this.database.collection<StoredOutboxEntry | BucketMarker>(name);
    const staleBefore = Date.now() - this.outboxGraceMs;
    const stored = await outbox.find({}).toArray();
    const marker = stored.find((doc): doc is BucketMarker => doc._id === BUCKET_MARKER_ID);
    const tag = BUCKET_NAME.exec(name.slice(this.collectionPrefix.length))?.[1];
    const tagged = marker && tag ? await this.events.find({ position: { $gte: marker.from }, outbox: tag }).toArray() : [];
    const entries = stored
      .filter((doc): doc is StoredOutboxEntry => doc._id !== BUCKET_MARKER_ID)
      .filter((entry) => !legacy || entry.at.getTime() < staleBefore)
      .map((stored) => ({ ...stored, events: unpackEvents(stored.events) }))
      .sort((a, b) => (a.streamId < b.streamId ? -1 : a.streamId > b.streamId ? 1 : firstVersion(a) - firstVersion(b)));
    const ids = entries.flatMap((entry) => entry.events.map((doc) => doc._id));
    const held = new Map<string, string>();
    for (let i = 0; i < ids.length; i += RECOVERY_CHUNK) {
      const chunk = ids.slice(i, i + RECOVERY_CHUNK);
      for (const doc of await this.events.find({ _id: { $in: chunk } }, { projection: { eventId: 1 } }).toArray()) held.set(doc._id, doc.eventId);
    }
    const events: RecordedEvent[] = tagged.sort(byStreamAndVersion).map(toRecorded);
    const completed: Array<{ streamId: string; fromVersion: number; stored: number }> = [];
    for (const entry of entries) {
      let storedNow = 0;
      for (const doc of entry.events) {
        const holder = held.has(doc._id) ? held.get(doc._id) : await this.storeForEntry(doc);
        if (holder === 'stored now') storedNow++;
        else if (holder !== doc.eventId) break;
        events.push(toRecorded(doc));
      }
      if (storedNow > 0) completed.push({ streamId: entry.streamId, fromVersion: firstVersion(entry), stored: storedNow });
    }
    await publish(events);
    if (!legacy) await outbox.drop().catch((error: unknown) => ignoreMissing(error));
    else {
      await outbox.deleteMany({ _id: { $in: entries.map((e) => e._id) } });
      // Commit markers of versions before buckets; buckets need none.
      await this.database.collection(`${this.collectionPrefix}${LEGACY_OUTBOX}_commits`).deleteMany({ at: { $lt: new Date(staleBefore) } });
      if ((await outbox.findOne({}, { projection: { _id: 1 } })) === null) await outbox.drop().catch((error: unknown) => ignoreMissing(error));
    }
    return { entries: entries.length, published: events.length, completed };
  }

  /** The database's outbox collections: buckets with their period's start, the outbox before buckets with 0. */
  private async outboxes(): Promise<Array<{ name: string; start: number }>> {
    const outboxes: Array<{ name: string; start: number }> = [];
    for (const { name } of await this.database.listCollections({}, { nameOnly: true }).toArray()) {
      if (!name.startsWith(this.collectionPrefix)) continue;
      const local = name.slice(this.collectionPrefix.length);
      if (local === LEGACY_OUTBOX) outboxes.push({ name, start: 0 });
      const bucket = BUCKET_NAME.exec(local);
      if (bucket) outboxes.push({ name, start: Number(bucket[2]) });
    }
    return outboxes;
  }

  /** The event id holding a stream's version in the log: one read by `_id`. */
  private async holderOf(doc: EventDocument): Promise<string | undefined> {
    return (await this.events.findOne({ _id: doc._id }, { projection: { eventId: 1 } }))?.eventId;
  }

  /** Stores an abandoned entry's event the log does not hold: 'stored now', or the event id holding its version. */
  private async storeForEntry(doc: EventDocument): Promise<string | undefined> {
    try {
      await this.events.insertOne(doc);
      return 'stored now';
    } catch (error) {
      if (writeErrorsOf(error)?.[0]?.code !== DUPLICATE_KEY) throw error;
      // Taken since the recovery asked (its writer, late).
      return this.holderOf(doc);
    }
  }

  /** The store's clock (the relay measures the outbox grace with it). */
  now(): Date {
    return this.clock();
  }

  private ready(): Promise<void> {
    this.indexes ??= this.ensureIndexes().catch((error: unknown) => {
      this.indexes = undefined;
      throw error;
    });
    return this.indexes;
  }

  private async baseVersion(streamId: string, expected: ExpectedVersion): Promise<number> {
    if (typeof expected === 'number') return expected;
    if (expected === 'no_stream') return 0;
    return this.known.get(streamId)?.version ?? (await this.streamVersion(streamId));
  }

  /**
   * Stores an append's events. Resolves to the events stored: all, none (another writer holds the
   * first version), or a prefix (another writer slipped in).
   *
   * Appends that arrive while a group is being written wait and go together in the next group
   * (group commit): one insert for the whole group. FerretDB runs commands one at a time, each
   * with a commit, so under load this divides the commands per append by the group's size; alone,
   * an append costs what it always did.
   */
  private enqueue(docs: EventDocument[]): Promise<EventDocument[]> {
    return new Promise((resolve, reject) => {
      this.queued.push({ docs, resolve, reject });
      if (!this.writing) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.writing = true;
    try {
      while (this.queued.length > 0) {
        const group = this.queued.splice(0, GROUP_LIMIT);
        // A failure writeGroup did not expect fails the appends it had not settled (settling twice does nothing).
        await this.writeGroup(group).catch((error: unknown) => group.forEach((write) => write.reject(error)));
      }
    } finally {
      this.writing = false;
    }
  }

  /** Writes a group of appends (see enqueue), settles every one of them and queues what it stored for publishing. */
  private async writeGroup(group: QueuedWrite[]): Promise<void> {
    const bucket = this.currentBucket();
    bucket.pending += group.length;
    try {
      await this.open(bucket, group);
    } catch (error) {
      // Nothing of this group reached the log.
      for (const write of group) write.reject(error);
      this.settle(bucket, group.length);
      return;
    }
    for (const { docs } of group) for (const doc of docs) doc.outbox = bucket.tag;
    const stored = await this.insertEvents(group);
    for (const [write, outcome] of stored) {
      if ('error' in outcome) {
        // Whether its events are stored is not known: the bucket stays for a recovery to decide.
        bucket.keep = true;
        write.reject(outcome.error);
        this.settle(bucket, 1);
        continue;
      }
      const events = write.docs.slice(0, outcome.stored);
      write.resolve(events);
      if (events.length === 0) this.settle(bucket, 1);
      else this.unpublished.push({ bucket, events: events.map(toRecorded) });
    }
    if (this.publisher && this.unpublished.length > 0) this.publishing ??= this.publishAll();
  }

  /** Makes a bucket's collection, with its marker, before the first events that name it (those of `group`). */
  private open(bucket: OutboxBucket, group: readonly QueuedWrite[]): Promise<void> {
    bucket.opened ??= (async () => {
      // Positions are given in the order appends are queued: none of this bucket's events is below its first group's lowest.
      const from = Math.min(...group.flatMap(({ docs }) => docs.map((doc) => doc.position)));
      try {
        await bucket.collection.insertOne({ _id: BUCKET_MARKER_ID, from, at: this.clock() });
      } catch (error) {
        // A retried insert that had landed: the marker is there.
        if (writeErrorsOf(error)?.[0]?.code !== DUPLICATE_KEY) throw error;
      }
    })().catch((error: unknown) => {
      bucket.opened = undefined;
      throw error;
    });
    return bucket.opened;
  }

  /** Publishes stored appends in order, trying again (with backoff) until the publisher takes them. */
  private async publishAll(): Promise<void> {
    let failures = 0;
    while (this.unpublished.length > 0 && this.publisher) {
      const batch = this.unpublished.slice(0, PUBLISH_LIMIT);
      try {
        await this.publisher(batch.flatMap((append) => append.events));
      } catch {
        // The publisher reports its failures; the appends wait here (and in their buckets).
        failures++;
        // Unref'd: a process stopping with appends it cannot publish must not wait for the backoff.
        await sleep(Math.min(30_000, 100 * 2 ** Math.min(failures, 9)), undefined, { ref: false });
        continue;
      }
      failures = 0;
      this.unpublished.splice(0, batch.length);
      for (const { bucket } of batch) this.settle(bucket, 1);
    }
    this.publishing = undefined;
  }

  /** The bucket of this instance's appends now. */
  private currentBucket(): OutboxBucket {
    const now = Date.now();
    const start = now - (now % this.outboxGraceMs);
    const tag = `${this.writerId}_${start}`;
    const name = `${this.collectionPrefix}event_outbox_${tag}`;
    let bucket = this.buckets.get(name);
    if (!bucket) {
      bucket = { name, tag, collection: this.database.collection<BucketMarker>(name), end: start + this.outboxGraceMs, opened: undefined, pending: 0, keep: false };
      this.buckets.set(name, bucket);
      const created = bucket;
      setTimeout(() => this.dropIfSettled(created), created.end - now + 10).unref();
    }
    return bucket;
  }

  private settle(bucket: OutboxBucket, appends: number): void {
    bucket.pending -= appends;
    this.dropIfSettled(bucket);
  }

  /** Drops a bucket whose period is over once everything in it is published (a failed drop leaves it to a recovery). */
  private dropIfSettled(bucket: OutboxBucket, { periodOver = Date.now() >= bucket.end } = {}): void {
    if (bucket.pending > 0 || bucket.keep || !this.publisher || !periodOver || !this.buckets.has(bucket.name)) return;
    this.buckets.delete(bucket.name);
    void bucket.collection.drop().catch(() => undefined);
  }

  /**
   * Inserts the events of a group's appends, in order, in one command while nothing collides. A
   * duplicate key ends its append (the events before it are stored: a prefix) and the appends
   * after it go in the next command. Each append's outcome: the number of its events stored, or
   * the error that stopped it.
   */
  private async insertEvents(writes: QueuedWrite[]): Promise<Map<QueuedWrite, { stored: number } | { error: unknown }>> {
    const outcomes = new Map<QueuedWrite, { stored: number } | { error: unknown }>();
    let rest = writes;
    while (rest.length > 0) {
      let failure: { error: unknown; first: WriteError | undefined } | undefined;
      try {
        await this.events.insertMany(
          rest.flatMap((write) => write.docs),
          { ordered: true },
        );
      } catch (error) {
        failure = { error, first: writeErrorsOf(error)?.[0] };
      }
      if (!failure?.first) {
        for (const write of rest) outcomes.set(write, failure ? { error: failure.error } : { stored: write.docs.length });
        return outcomes;
      }
      let i = 0;
      let offset = 0;
      for (; offset + rest[i]!.docs.length <= failure.first.index; i++) {
        outcomes.set(rest[i]!, { stored: rest[i]!.docs.length });
        offset += rest[i]!.docs.length;
      }
      const write = rest[i]!;
      const index = failure.first.index - offset;
      outcomes.set(write, failure.first.code === DUPLICATE_KEY ? { stored: index } : { error: failure.error });
      rest = rest.slice(i + 1);
    }
    return outcomes;
  }

  private async refuseUsedEventIds(ids: readonly string[]): Promise<void> {
    const used = await this.events.findOne({ eventId: { $in: [...ids] } }, { projection: { eventId: 1 } });
    if (used) throw new DuplicateEventIdError(used.eventId);
  }

  private nextPosition(streamPosition: number): number {
    const now = this.clock().getTime() * 1000;
    this.lastPosition = Math.max(now, this.lastPosition + 1, streamPosition + 1);
    return this.lastPosition;
  }

  private remember(streamId: string, version: number, position: number): void {
    const known = this.known.get(streamId);
    if (known && known.version > version) return;
    this.known.delete(streamId);
    this.known.set(streamId, { version, position });
    if (this.known.size > KNOWN_STREAMS_LIMIT) this.known.delete(this.known.keys().next().value!);
  }

  private prepare(event: NewEvent, i: number, time: Date): Pick<EventDocument, 'eventId' | 'type' | 'data' | 'metadata' | 'time'> {
    if (typeof event.type !== 'string' || event.type === '' || event.type.startsWith('$') || event.type.includes('\0')) {
      throw new InvalidEventDocumentError(`events[${i}].type`, "must be a non-empty string without NUL, not starting with '$'");
    }
    const eventId = event.eventId ?? this.newId();
    if (typeof eventId !== 'string' || eventId === '' || eventId.includes('\0')) {
      throw new InvalidEventDocumentError(`events[${i}].eventId`, 'must be a non-empty string without NUL');
    }
    return {
      eventId,
      type: event.type,
      data: toStorableDocument(event.data, `events[${i}].data`),
      metadata: toStorableDocument(event.metadata ?? {}, `events[${i}].metadata`) as EventMetadata,
      time,
    };
  }
}

/** The `_id` of a stream's event at a version. */
export function eventDocumentId(streamId: string, version: number): string {
  return `${streamId}@${version}`;
}

function jitter(attempt: number): Promise<void> {
  return sleep(Math.random() * 5 * 2 ** Math.min(attempt, 6));
}

/** Binary subtype (user-defined range) of an outbox entry's events: a BSON document, deflated (raw). */
export const DEFLATED_EVENTS_SUBTYPE = 0x80;

function unpackEvents(events: Binary | EventDocument[]): EventDocument[] {
  if (Array.isArray(events)) return events;
  const bytes = events.buffer.subarray(0, events.position);
  const bson = events.sub_type === DEFLATED_EVENTS_SUBTYPE ? inflateRawSync(bytes) : bytes;
  return (BSON.deserialize(bson) as { events: EventDocument[] }).events;
}

function byStreamAndVersion(a: EventDocument, b: EventDocument): number {
  return a.streamId < b.streamId ? -1 : a.streamId > b.streamId ? 1 : a.version - b.version;
}

function firstVersion(entry: OutboxEntry): number {
  return entry.events[0]?.version ?? 0;
}

/** A drop of a collection that is already gone (another recovery, or its writer, dropped it) is no failure. */
function ignoreMissing(error: unknown): void {
  if ((error as { codeName?: string }).codeName !== 'NamespaceNotFound' && !/ns not found/i.test(String((error as Error).message))) throw error;
}

export function toRecorded(doc: EventDocument): RecordedEvent {
  return {
    // Logs written before v2 of the store used the event id as `_id`.
    eventId: doc.eventId ?? doc._id,
    streamId: doc.streamId,
    version: doc.version,
    position: doc.position,
    type: doc.type,
    data: doc.data,
    metadata: doc.metadata,
    time: doc.time,
  };
}

interface WriteError {
  readonly index: number;
  readonly code: number | undefined;
}

/**
 * The documents an insert refused, in index order; undefined when the command itself failed (the
 * connection, say), so that nothing is known of what it stored.
 */
function writeErrorsOf(error: unknown): WriteError[] | undefined {
  if (error instanceof MongoBulkWriteError) {
    const writeErrors = Array.isArray(error.writeErrors) ? error.writeErrors : [error.writeErrors];
    if (writeErrors.length === 0) return undefined;
    return writeErrors.map((e) => ({ index: e.index, code: e.code })).sort((a, b) => a.index - b.index);
  }
  if (error instanceof MongoServerError && error.code === DUPLICATE_KEY) return [{ index: 0, code: DUPLICATE_KEY }];
  return undefined;
}
