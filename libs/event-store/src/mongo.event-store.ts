import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { MongoBulkWriteError, MongoServerError, type Collection, type Db } from 'mongodb';
import { toStorableDocument } from './event-document.validator';
import { ConcurrencyError, DuplicateEventIdError, InvalidEventDocumentError } from './event-store.errors';
import {
  type AppendResult,
  type EventMetadata,
  type ExpectedVersion,
  type NewEvent,
  type ReadAllBatch,
  type RecordedEvent,
} from './event.types';

/** Stream id and event type of the placeholders that fill abandoned positions. */
export const GAP_MARKER = '$gap';

const DUPLICATE_KEY = 11000;
const POSITION_COUNTER_ID = 'position';
const MAX_APPEND_ATTEMPTS = 10;

/** Options of {@link MongoEventStore}. */
export interface MongoEventStoreOptions {
  /** Prefix of the collection names: `${prefix}events`, `${prefix}event_counters`, checkpoints. Default ''. */
  collectionPrefix?: string;
  /** How long a reader waits for a missing position before filling it with a placeholder. Default 2000. */
  gapTimeoutMs?: number;
  clock?: () => Date;
  idGenerator?: () => string;
}

interface EventDocument {
  _id: string;
  streamId: string;
  version: number;
  position: number;
  type: string;
  data: unknown;
  metadata: EventMetadata;
  time: Date;
}

interface CounterDocument {
  _id: string;
  value: number;
}

/**
 * Append-only event log in MongoDB (FerretDB v1 compatible): one document per event, unique
 * `{streamId, version}` for optimistic concurrency, unique global `position` from a counter.
 *
 * Positions are allocated before the insert, so they can become visible out of order;
 * {@link MongoEventStore.readAllBatch} therefore only returns contiguous runs and fills a
 * position that stays missing longer than `gapTimeoutMs` with a placeholder. A writer whose
 * position was filled retries with a fresh one, so no event is lost or skipped.
 */
export class MongoEventStore {
  /** Prefix of every collection this store and its runners use. */
  readonly collectionPrefix: string;
  readonly gapTimeoutMs: number;
  private readonly events: Collection<EventDocument>;
  private readonly counters: Collection<CounterDocument>;
  private readonly clock: () => Date;
  private readonly newId: () => string;
  /** Position -> when a reader of this instance first saw it missing. */
  private readonly gapsSeenAt = new Map<number, number>();
  private indexes: Promise<void> | undefined;
  private allocating: Promise<void> = Promise.resolve();
  private readonly meta: Collection<{ _id: string; logId: string }>;

  constructor(db: Db, options: MongoEventStoreOptions = {}) {
    this.collectionPrefix = options.collectionPrefix ?? '';
    this.gapTimeoutMs = options.gapTimeoutMs ?? 2000;
    this.clock = options.clock ?? (() => new Date());
    this.newId = options.idGenerator ?? randomUUID;
    this.events = db.collection<EventDocument>(`${this.collectionPrefix}events`);
    this.counters = db.collection<CounterDocument>(`${this.collectionPrefix}event_counters`);
    this.meta = db.collection<{ _id: string; logId: string }>(`${this.collectionPrefix}event_log_meta`);
  }

  /**
   * A random id naming this log, created once and kept in `event_log_meta`: lets a reader of a
   * JetStream stream tell this log's messages from another log's (say, a second deployment or a
   * test sharing the NATS server).
   */
  async logId(): Promise<string> {
    const meta = this.meta;
    const existing = await meta.findOne({ _id: 'log' });
    if (existing) return existing.logId;
    try {
      await meta.insertOne({ _id: 'log', logId: this.newId() });
    } catch (error) {
      if ((error as { code?: number }).code !== 11000) throw error;
    }
    return (await meta.findOne({ _id: 'log' }))!.logId;
  }

  /** Creates the unique indexes the store relies on; idempotent. Appends call it once lazily. */
  async ensureIndexes(): Promise<void> {
    // One index per command: FerretDB v1 drops the connection when a multi-index
    // createIndexes names indexes that already exist.
    await this.events.createIndex({ streamId: 1, version: 1 }, { name: 'stream_version', unique: true });
    await this.events.createIndex({ position: 1 }, { name: 'position', unique: true });
  }

  /**
   * Appends `events` to `streamId` if it is at `expectedVersion`.
   *
   * @throws ConcurrencyError when the stream is at another version (also when a concurrent
   *   writer won the race); `'any'` retries such races a few times with jitter instead.
   * @throws InvalidEventDocumentError when data or metadata cannot be stored unchanged.
   */
  async appendToStream<E extends NewEvent>(
    streamId: string,
    events: readonly E[],
    options: { expectedVersion: ExpectedVersion },
  ): Promise<AppendResult> {
    if (typeof streamId !== 'string' || streamId === '' || streamId.startsWith('$') || streamId.includes('\0')) {
      throw new InvalidEventDocumentError('streamId', "must be a non-empty string without NUL, not starting with '$'");
    }
    const time = this.clock();
    const prepared = events.map((event, i) => this.prepare(event, i, time));
    await this.ready();
    const { expectedVersion } = options;

    const appended: RecordedEvent[] = [];
    let remaining = prepared;
    for (let attempt = 1; ; attempt++) {
      const last = await this.lastOfStream(streamId);
      const current = last?.version ?? 0;
      const mismatch =
        (typeof expectedVersion === 'number' && current !== expectedVersion) ||
        (expectedVersion === 'no_stream' && current !== 0);
      if (mismatch) throw new ConcurrencyError(streamId, expectedVersion, current);

      const docs: EventDocument[] = remaining.map((p, i) => ({ ...p, streamId, version: current + i + 1, position: 0 }));
      const inserted = await this.insertAll(docs, last?.position ?? 0);
      appended.push(...docs.slice(0, inserted).map(toRecorded));
      if (inserted === docs.length) {
        return {
          nextExpectedVersion: current + docs.length,
          lastPosition: appended[appended.length - 1]?.position ?? 0,
          events: appended,
        };
      }
      // Without transactions an ordered insert is not atomic: in the rare case that another
      // writer slipped in mid-batch, the events already stored stay, and only 'any' goes on.
      remaining = remaining.slice(inserted);
      if (expectedVersion !== 'any' || attempt >= MAX_APPEND_ATTEMPTS) {
        throw new ConcurrencyError(streamId, expectedVersion, await this.streamVersion(streamId));
      }
      await jitter(attempt);
    }
  }

  /** Events of one stream in version order, optionally limited to `[fromVersion, toVersion]`. */
  async readStream(streamId: string, options: { fromVersion?: number; toVersion?: number } = {}): Promise<RecordedEvent[]> {
    const version: { $gte: number; $lte?: number } = { $gte: options.fromVersion ?? 1 };
    if (options.toVersion !== undefined) version.$lte = options.toVersion;
    const docs = await this.events.find({ streamId, version }).sort({ version: 1 }).toArray();
    return docs.map(toRecorded);
  }

  /** The stream's current version, 0 when it is empty. */
  async streamVersion(streamId: string): Promise<number> {
    return (await this.lastOfStream(streamId))?.version ?? 0;
  }

  /** Real events with position > `after`, ascending and contiguous; see {@link readAllBatch}. */
  async readAll(options: { after: number; limit: number }): Promise<RecordedEvent[]> {
    return (await this.readAllBatch(options)).events;
  }

  /**
   * Reads at most `limit` positions after `after`, stopping before the first missing one.
   * A position missing for longer than `gapTimeoutMs` (by this instance's clock, since it first
   * saw it missing) is filled with a placeholder, which is skipped in `events` but counted in
   * `lastPosition`, so consumers checkpoint past it.
   */
  async readAllBatch(options: { after: number; limit: number }): Promise<ReadAllBatch> {
    const events: RecordedEvent[] = [];
    let cursor = options.after;
    let scanned = 0;
    while (scanned < options.limit) {
      const docs = await this.events
        .find({ position: { $gt: cursor } })
        .sort({ position: 1 })
        .limit(options.limit - scanned)
        .toArray();
      let missingTo: number | undefined;
      for (const doc of docs) {
        if (doc.position !== cursor + 1) {
          missingTo = doc.position - 1;
          break;
        }
        cursor = doc.position;
        scanned++;
        if (doc.streamId !== GAP_MARKER) events.push(toRecorded(doc));
      }
      if (missingTo === undefined) {
        if (scanned >= options.limit) break;
        // Nothing after the cursor yet, but positions may be allocated to a writer that has
        // not inserted (or never will): that is a gap at the head.
        const counter = await this.counters.findOne({ _id: POSITION_COUNTER_ID });
        const head = counter?.value ?? 0;
        if (head <= cursor) break;
        missingTo = head;
      }
      const expired = this.expiredGap(cursor + 1, Math.min(missingTo, cursor + options.limit - scanned));
      if (expired.length === 0) break;
      await this.fillPositions(expired);
    }
    for (const position of this.gapsSeenAt.keys()) if (position <= cursor) this.gapsSeenAt.delete(position);
    return { events, lastPosition: cursor };
  }

  /** The highest position allocated or stored so far (0 when none): every completed append is at or below it. */
  async headPosition(): Promise<number> {
    const [counter, [last]] = await Promise.all([
      this.counters.findOne({ _id: POSITION_COUNTER_ID }),
      this.events.find({}).sort({ position: -1 }).limit(1).project<{ position: number }>({ position: 1 }).toArray(),
    ]);
    // FerretDB v1 can lose concurrent $inc updates, so the counter alone may lag behind.
    return Math.max(counter?.value ?? 0, last?.position ?? 0);
  }

  private async lastOfStream(streamId: string): Promise<{ version: number; position: number } | undefined> {
    const [last] = await this.events
      .find({ streamId })
      .sort({ version: -1 })
      .limit(1)
      .project<{ version: number; position: number }>({ version: 1, position: 1 })
      .toArray();
    return last;
  }

  private ready(): Promise<void> {
    this.indexes ??= this.ensureIndexes().catch((error: unknown) => {
      this.indexes = undefined;
      throw error;
    });
    return this.indexes;
  }

  private prepare(event: NewEvent, i: number, time: Date): Omit<EventDocument, 'streamId' | 'version' | 'position'> {
    if (typeof event.type !== 'string' || event.type === '' || event.type.startsWith('$') || event.type.includes('\0')) {
      throw new InvalidEventDocumentError(`events[${i}].type`, "must be a non-empty string without NUL, not starting with '$'");
    }
    const eventId = event.eventId ?? this.newId();
    if (typeof eventId !== 'string' || eventId === '' || eventId.includes('\0')) {
      throw new InvalidEventDocumentError(`events[${i}].eventId`, 'must be a non-empty string without NUL');
    }
    return {
      _id: eventId,
      type: event.type,
      data: toStorableDocument(event.data, `events[${i}].data`),
      metadata: toStorableDocument(event.metadata ?? {}, `events[${i}].metadata`) as EventMetadata,
      time,
    };
  }

  /**
   * Inserts the docs in order, setting their positions, and returns how many were stored: all
   * of them, or those before the one whose version another writer took. Positions taken by gap
   * placeholders are re-allocated and retried.
   */
  private async insertAll(docs: EventDocument[], streamPosition: number): Promise<number> {
    let from = 0;
    for (let attempt = 1; from < docs.length; attempt++) {
      const pending = docs.slice(from);
      const last = await this.allocate(pending.length, streamPosition);
      pending.forEach((doc, i) => (doc.position = last - pending.length + 1 + i));
      let failedAt: number;
      try {
        await this.events.insertMany(pending, { ordered: true });
        return docs.length;
      } catch (error) {
        const index = duplicateKeyIndex(error);
        if (index === undefined) throw error;
        failedAt = index;
      }
      const failed = pending[failedAt];
      if (!failed) throw new Error(`insertMany reported a duplicate at index ${failedAt} of ${pending.length}`);
      // Positions after the failed one were allocated to us and will never be used: fill them
      // now so that readers need not wait for the gap timeout.
      const abandoned = pending.slice(failedAt + 1).map((d) => d.position);
      const holder = await this.events.findOne({ streamId: failed.streamId, version: failed.version }, { projection: { _id: 1 } });
      if (holder) {
        await this.fillPositions([failed.position, ...abandoned]);
        return from + failedAt;
      }
      if (await this.events.findOne({ _id: failed._id }, { projection: { _id: 1 } })) {
        await this.fillPositions([failed.position, ...abandoned]);
        throw new DuplicateEventIdError(failed._id);
      }
      // The version is free, so the position was taken by a gap placeholder: a reader gave up
      // waiting for us. Take fresh positions (greater than all earlier ones, which keeps the
      // stream's positions ascending) for what is left.
      await this.fillPositions(abandoned);
      from += failedAt;
      streamPosition = pending[failedAt - 1]?.position ?? streamPosition;
      if (attempt >= MAX_APPEND_ATTEMPTS) throw new Error(`could not place events of ${failed.streamId} after ${attempt} attempts`);
      await jitter(attempt);
    }
    return docs.length;
  }

  /**
   * Reserves `count` consecutive positions, all above `above`, and returns the last one.
   *
   * FerretDB v1 does not apply concurrent findAndModify atomically: two writers can get the
   * same range and the counter can even move back. The unique position index still lets only
   * one of them insert (the other retries), and requiring positions above the stream's last
   * event keeps each stream's positions ascending.
   */
  private allocate(count: number, above: number): Promise<number> {
    // Serialized per instance: FerretDB hands out duplicate ranges to concurrent callers, which
    // would cost retries.
    const next = this.allocating.then(() => this.allocateNow(count, above));
    this.allocating = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }

  private async allocateNow(count: number, above: number): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      let value: number;
      try {
        const counter = await this.counters.findOneAndUpdate(
          { _id: POSITION_COUNTER_ID },
          { $inc: { value: count } },
          { upsert: true, returnDocument: 'after' },
        );
        if (!counter) throw new Error('position counter upsert returned no document');
        value = counter.value;
      } catch (error) {
        // Concurrent first-ever upserts race on the counter's _id; the losers retry.
        if (duplicateKeyIndex(error) === undefined || attempt >= MAX_APPEND_ATTEMPTS) throw error;
        continue;
      }
      if (value - count >= above) return value;
      if (attempt >= MAX_APPEND_ATTEMPTS) throw new Error(`position counter stays at or below ${above}`);
      await this.counters.updateOne({ _id: POSITION_COUNTER_ID }, { $max: { value: above } });
    }
  }

  /** Notes when positions `from..to` were first seen missing; returns the leading run of those missing long enough. */
  private expiredGap(from: number, to: number): number[] {
    const now = this.clock().getTime();
    const expired: number[] = [];
    let contiguous = true;
    for (let position = from; position <= to; position++) {
      const seenAt = this.gapsSeenAt.get(position) ?? now;
      this.gapsSeenAt.set(position, seenAt);
      contiguous &&= now - seenAt >= this.gapTimeoutMs;
      if (contiguous) expired.push(position);
    }
    return expired;
  }

  /** Inserts placeholders; a position already holding a document (the real event) is left alone. */
  private async fillPositions(positions: readonly number[]): Promise<void> {
    if (positions.length === 0) return;
    const time = this.clock();
    const placeholders: EventDocument[] = positions.map((position) => ({
      _id: `${GAP_MARKER}:${position}`,
      streamId: GAP_MARKER,
      version: position,
      position,
      type: GAP_MARKER,
      data: null,
      metadata: {},
      time,
    }));
    try {
      await this.events.insertMany(placeholders, { ordered: false });
    } catch (error) {
      if (duplicateKeyIndex(error) === undefined) throw error;
    }
  }
}

function jitter(attempt: number): Promise<void> {
  return sleep(Math.random() * 5 * 2 ** Math.min(attempt, 6));
}

function toRecorded(doc: EventDocument): RecordedEvent {
  return {
    eventId: doc._id,
    streamId: doc.streamId,
    version: doc.version,
    position: doc.position,
    type: doc.type,
    data: doc.data,
    metadata: doc.metadata,
    time: doc.time,
  };
}

/** Index of the first document an insert rejected for a duplicate key, undefined for other errors. */
function duplicateKeyIndex(error: unknown): number | undefined {
  if (error instanceof MongoBulkWriteError) {
    const writeErrors = Array.isArray(error.writeErrors) ? error.writeErrors : [error.writeErrors];
    const first = writeErrors.reduce<(typeof writeErrors)[number] | undefined>(
      (min, e) => (min === undefined || e.index < min.index ? e : min),
      undefined,
    );
    if (first) return first.code === DUPLICATE_KEY ? first.index : undefined;
  }
  if (error instanceof MongoServerError && error.code === DUPLICATE_KEY) return 0;
  return undefined;
}
