import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { Binary, BSON, MongoBulkWriteError, MongoServerError, type Collection, type Db, type OptionalUnlessRequiredId } from 'mongodb';
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

/** Options of {@link MongoEventStore}. */
export interface MongoEventStoreOptions {
  /** Prefix of the collection names: `${prefix}events`, `${prefix}event_outbox`, ... Default ''. */
  collectionPrefix?: string;
  /**
   * How long an outbox entry may stay uncommitted before the relay completes it itself (its writer
   * died between writing the entry and committing it). Default 30000.
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
}

/**
 * One append waiting to be published: written before its events, committed (a document of the same
 * `_id` in the commits collection) after them. `_id` is the id of its first event, so two writers of
 * the same version collide here already.
 */
export interface OutboxEntry {
  _id: string;
  streamId: string;
  events: EventDocument[];
  at: Date;
}

/**
 * An outbox entry as stored: its events packed into one BSON document's bytes, deflated. FerretDB
 * decodes every entry of the outbox in Go for the relay's reads and its `deleteMany({_id: {$in}})`:
 * an entry of four top-level fields decodes about three times faster than one with its events
 * nested, and a deflated one (about a quarter of the bytes) costs the store a quarter less again
 * (`e2e/bench/outbox-layout-bench.mjs`). Entries written before hold them nested, or packed without
 * deflating (binary subtype 0); all are read.
 */
interface StoredOutboxEntry {
  _id: string;
  streamId: string;
  events: Binary | EventDocument[];
  at: Date;
}

interface OutboxCommit {
  _id: string;
  at: Date;
}

/** An append waiting in the group commit queue. */
interface QueuedWrite {
  readonly docs: EventDocument[];
  resolve(stored: EventDocument[]): void;
  reject(error: unknown): void;
}

/** What an append listener is told: the events just stored. */
export type AppendListener = (events: readonly RecordedEvent[]) => void;

/**
 * Append-only event log in MongoDB (FerretDB v1 compatible), written without reading it.
 *
 * On FerretDB's SQLite backend every query but an insert reads the whole collection (even an `_id`
 * equality scans), so the log, which grows for ever, is insert-only on every hot path:
 * - an event's `_id` is `<streamId>@<version>`: appending at a version the caller knows is a plain
 *   insert, and a lost race is a duplicate key; the log is read only then;
 * - every append also writes a small outbox entry (before the events) and a commit marker (after
 *   them); the {@link OutboxRelay} publishes committed entries to JetStream and deletes them, and
 *   completes an entry whose writer died before committing. Readers follow JetStream, not the log.
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
  private readonly outbox: Collection<StoredOutboxEntry>;
  private readonly commits: Collection<OutboxCommit>;
  private readonly meta: Collection<{ _id: string; logId: string }>;
  private readonly clock: () => Date;
  private readonly newId: () => string;
  /** Last version and position this instance wrote or read, per stream (bounded, oldest dropped). */
  private readonly known = new Map<string, { version: number; position: number }>();
  private readonly listeners = new Set<AppendListener>();
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
    this.outbox = db.collection<StoredOutboxEntry>(`${this.collectionPrefix}event_outbox`);
    this.commits = db.collection<OutboxCommit>(`${this.collectionPrefix}event_outbox_commits`);
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

  /** Calls `listener` after every append of this instance (the in-process relay wakes on it). */
  onAppended(listener: AppendListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
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
      const stored = await this.insertWithOutbox(docs);
      appended.push(...stored.map(toRecorded));
      if (stored.length > 0) {
        const last = stored[stored.length - 1]!;
        streamPosition = last.position;
        this.remember(streamId, last.version, last.position);
      }
      if (stored.length === docs.length) {
        this.notify(appended);
        return { nextExpectedVersion: base + docs.length, lastPosition: streamPosition, events: appended };
      }
      // Without transactions a multi-event append is not atomic: in the rare case that another
      // writer slipped in mid-batch, the events already stored stay, and only 'any' goes on.
      if (appended.length > 0) this.notify(appended);
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

  /** Up to `limit` outbox entries, oldest first as stored, with whether each is committed. */
  async outboxEntries(limit: number): Promise<Array<OutboxEntry & { committed: boolean }>> {
    // No filter and no sort: FerretDB pushes the limit down to SQLite, so this reads `limit` rows.
    const entries = (await this.outbox.find({}).limit(limit).toArray()).map((stored) => ({ ...stored, events: unpackEvents(stored.events) }));
    if (entries.length === 0) return [];
    const committed = new Set((await this.commits.find({ _id: { $in: entries.map((e) => e._id) } }).toArray()).map((c) => c._id));
    return entries.map((entry) => ({ ...entry, committed: committed.has(entry._id) }));
  }

  /** Removes published (or abandoned) entries and their commit markers. */
  async removeOutboxEntries(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.outbox.deleteMany({ _id: { $in: [...ids] } });
    await this.commits.deleteMany({ _id: { $in: [...ids] } });
  }

  /**
   * Completes an entry whose writer never committed it: stores each of its events that is not
   * stored yet, and returns those that are this entry's (stored now or earlier by its writer),
   * stopping at the first version another writer holds.
   */
  async completeOutboxEntry(entry: OutboxEntry): Promise<RecordedEvent[]> {
    const ours: RecordedEvent[] = [];
    for (const doc of entry.events) {
      try {
        await this.events.insertOne(doc);
      } catch (error) {
        if (writeErrorsOf(error)?.[0]?.code !== DUPLICATE_KEY) throw error;
        // By `_id`, the one query FerretDB does not decode every document for. No holder under
        // this `_id` means a pre-v2 event holds the version.
        const holder = await this.events.findOne({ _id: doc._id }, { projection: { eventId: 1 } });
        if (holder?.eventId !== doc.eventId) break;
      }
      ours.push(toRecorded(doc));
    }
    return ours;
  }

  /** Commit markers without an entry (a slow writer committed after the relay completed its entry). */
  async removeOrphanCommits(limit: number, olderThan: Date): Promise<number> {
    const commits = await this.commits.find({}).limit(limit).toArray();
    const old = commits.filter((c) => c.at < olderThan);
    if (old.length === 0) return 0;
    const entries = new Set((await this.outbox.find({ _id: { $in: old.map((c) => c._id) } }, { projection: { _id: 1 } }).toArray()).map((e) => e._id));
    const orphans = old.filter((c) => !entries.has(c._id)).map((c) => c._id);
    if (orphans.length > 0) await this.commits.deleteMany({ _id: { $in: orphans } });
    return orphans.length;
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
   * Writes the outbox entry, the events, then the commit marker. Resolves to the events stored:
   * all, none (another writer holds the first version), or a prefix (another writer slipped in).
   *
   * Appends that arrive while a group is being written wait and go together in the next group
   * (group commit): one insert per collection for the whole group. FerretDB runs commands one at
   * a time and documents per command cost little, so under load this divides the commands per
   * append by the group's size; alone, an append costs what it always did.
   */
  private insertWithOutbox(docs: EventDocument[]): Promise<EventDocument[]> {
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

  /** Writes a group of appends (see insertWithOutbox) and settles every one of them. */
  private async writeGroup(group: QueuedWrite[]): Promise<void> {
    const started = Date.now();
    const at = this.clock();
    let live: QueuedWrite[];
    try {
      const refused = await insertUnordered(
        this.outbox,
        group.map(({ docs }) => ({ _id: docs[0]!._id, streamId: docs[0]!.streamId, events: packEvents(docs), at })),
      );
      live = [];
      for (const [i, write] of group.entries()) {
        const refusal = refused.get(i);
        if (refusal === undefined) live.push(write);
        // Another writer's append at this version is in flight (or its writer died: the relay completes it).
        else if (refusal.code === DUPLICATE_KEY) write.resolve([]);
        else write.reject(refusal.error);
      }
    } catch (error) {
      for (const write of group) write.reject(error);
      return;
    }
    const stored = await this.insertEvents(live, started);
    const committed: Array<{ write: QueuedWrite; count: number }> = [];
    for (const [write, outcome] of stored) {
      if ('error' in outcome) {
        // Not a lost race: the entry stays uncommitted, and the relay completes it after the grace period.
        write.reject(outcome.error);
        continue;
      }
      const count = outcome.stored;
      const first = write.docs[0]!;
      try {
        if (count === 0) {
          await this.outbox.deleteOne({ _id: first._id }).catch(() => undefined);
          write.resolve([]);
          continue;
        }
        if (count < write.docs.length) await this.outbox.updateOne({ _id: first._id }, { $set: { events: packEvents(write.docs.slice(0, count)) } });
        committed.push({ write, count });
      } catch (error) {
        write.reject(error);
      }
    }
    await this.commit(committed.map(({ write }) => write.docs[0]!._id));
    for (const { write, count } of committed) write.resolve(write.docs.slice(0, count));
  }

  /**
   * Inserts the events of a group's appends, in order, in one command while nothing collides. A
   * duplicate key ends its append (the events before it are stored: a prefix) and the appends
   * after it go in the next command. Each append's outcome: the number of its events stored, or
   * the error that stopped it.
   */
  private async insertEvents(writes: QueuedWrite[], started: number): Promise<Map<QueuedWrite, { stored: number } | { error: unknown }>> {
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
      if (failure.first.code !== DUPLICATE_KEY) outcomes.set(write, { error: failure.error });
      // Only a writer slower than half the grace can find that the relay stored its events for it.
      else if (Date.now() - started >= this.outboxGraceMs / 2) outcomes.set(write, { stored: index + (await this.storedForUs(write.docs.slice(index))) });
      else outcomes.set(write, { stored: index });
      rest = rest.slice(i + 1);
    }
    return outcomes;
  }

  /** How many of `docs` (in order) the log holds with their own event ids. */
  private async storedForUs(docs: EventDocument[]): Promise<number> {
    let count = 0;
    for (const doc of docs) {
      const holder = await this.events.findOne({ _id: doc._id }, { projection: { eventId: 1 } });
      if (holder?.eventId !== doc.eventId) break;
      count++;
    }
    return count;
  }

  /**
   * Inserts the commit markers. The events are stored whatever happens here, so a failure is not
   * the appends': the relay completes an uncommitted entry after the grace period.
   */
  private async commit(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        const refused = await insertUnordered(this.commits, ids.map((id) => ({ _id: id, at: this.clock() })));
        if ([...refused.values()].every((refusal) => refusal.code === DUPLICATE_KEY)) return;
      } catch {
        // tried again below
      }
      if (attempt < 3) await sleep(50 * attempt);
    }
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

  private notify(events: readonly RecordedEvent[]): void {
    for (const listener of this.listeners) listener(events);
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

function packEvents(docs: readonly EventDocument[]): Binary {
  return new Binary(deflateRawSync(BSON.serialize({ events: docs })), DEFLATED_EVENTS_SUBTYPE);
}

function unpackEvents(events: Binary | EventDocument[]): EventDocument[] {
  if (Array.isArray(events)) return events;
  const bytes = events.buffer.subarray(0, events.position);
  const bson = events.sub_type === DEFLATED_EVENTS_SUBTYPE ? inflateRawSync(bytes) : bytes;
  return (BSON.deserialize(bson) as { events: EventDocument[] }).events;
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

/** An unordered insert: the documents refused, by index. Throws when the command itself failed. */
async function insertUnordered<T extends { _id: string }>(
  collection: Collection<T>,
  docs: OptionalUnlessRequiredId<T>[],
): Promise<Map<number, { code: number | undefined; error: unknown }>> {
  try {
    await collection.insertMany(docs, { ordered: false });
    return new Map();
  } catch (error) {
    const refused = writeErrorsOf(error);
    if (!refused) throw error;
    return new Map(refused.map((e) => [e.index, { code: e.code, error }]));
  }
}
