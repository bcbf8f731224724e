import { randomUUID } from 'node:crypto';
import type { Collection } from 'mongodb';
import type { EventTailer } from './event.tailer';
import type { MongoEventStore } from './mongo.event-store';

/**
 * A reader's state at a point of the relayed stream (S1C_EVENTS), kept so that its next start
 * reads the messages after that point instead of replaying the whole log.
 */
export interface Snapshot<Item> {
  /** The JetStream stream the sequence belongs to. */
  readonly stream: string;
  /**
   * The shape of the items, named by their owner: a snapshot of another schema is not used (the
   * owner replays the log instead), so an owner whose state changes shape names a new one.
   */
  readonly schema: string;
  /** Every message of the stream up to this sequence is folded into `items`. */
  readonly sequence: number;
  /** The last version handled of every event stream (the reader's gap detection goes on from these). */
  readonly versions: ReadonlyMap<string, number>;
  readonly items: readonly Item[];
}

/** What {@link SnapshotStore.load} returns: the snapshot, with when it was taken. */
export interface LoadedSnapshot<Item> extends Snapshot<Item> {
  readonly at: Date;
}

/** The one small document per reader that names its current snapshot. */
interface SnapshotHead {
  _id: string;
  snapshotId: string;
  logId: string;
  stream: string;
  schema: string;
  sequence: number;
  chunks: number;
  at: Date;
}

/**
 * A piece of a snapshot: `_id` is `<snapshotId>#<index>`, `text` a JSON array of entries, each
 * `{"v": [[streamId, version], ...]}` (stream versions) or `{"i": item}`. Every chunk stands on its
 * own, so a snapshot is written and read a chunk at a time, never as one string.
 */
interface SnapshotChunk {
  _id: string;
  text: string;
}

/** Characters of JSON per chunk (an entry larger than this gets a chunk of its own): at most a few MB. */
const CHUNK_CHARS = 1_000_000;
/** Stream versions per `v` entry. */
const VERSIONS_PER_ENTRY = 10_000;

/**
 * Snapshots of in-memory readers (the scheduler, health), kept in two small collections: the
 * chunks of a snapshot, inserted one after the other as they are serialised, and one head document
 * per reader naming the current snapshot, replaced once the chunks are stored. A snapshot is never
 * updated in place: a new one is written whole, the head moved to it, and the previous one's chunks
 * deleted, so a reader that dies at any step finds either the old snapshot or the new one,
 * complete. The log stays the truth: a snapshot only saves a replay, and one that is missing, of
 * another log, or unreadable is ignored.
 */
export class SnapshotStore {
  private readonly heads: Collection<SnapshotHead>;
  private readonly chunks: Collection<SnapshotChunk>;

  constructor(private readonly store: MongoEventStore) {
    const db = store.database;
    this.heads = db.collection<SnapshotHead>(`${store.collectionPrefix}snapshots`);
    this.chunks = db.collection<SnapshotChunk>(`${store.collectionPrefix}snapshot_chunks`);
  }

  /** Writes `snapshot` as the current one of `name`, then deletes the one it replaces. */
  async save<Item>(name: string, snapshot: Snapshot<Item>): Promise<void> {
    const logId = await this.store.logId();
    const snapshotId = `${name}@${randomUUID()}`;
    let chunks = 0;
    let entries: string[] = [];
    let size = 0;
    const flush = async () => {
      await this.chunks.insertOne({ _id: `${snapshotId}#${chunks}`, text: `[${entries.join(',')}]` });
      chunks += 1;
      entries = [];
      size = 0;
    };
    const add = async (entry: string) => {
      if (size > 0 && size + entry.length > CHUNK_CHARS) await flush();
      entries.push(entry);
      size += entry.length + 1;
    };
    const versions = [...snapshot.versions];
    for (let i = 0; i < versions.length; i += VERSIONS_PER_ENTRY) await add(JSON.stringify({ v: versions.slice(i, i + VERSIONS_PER_ENTRY) }));
    for (const item of snapshot.items) await add(JSON.stringify({ i: item }));
    if (size > 0 || chunks === 0) await flush();
    const previous = await this.heads.findOne({ _id: name });
    const head: SnapshotHead = { _id: name, snapshotId, logId, stream: snapshot.stream, schema: snapshot.schema, sequence: snapshot.sequence, chunks, at: new Date() };
    await this.heads.replaceOne({ _id: name }, head, { upsert: true });
    if (previous && previous.snapshotId !== snapshotId) await this.chunks.deleteMany({ _id: { $in: chunkIds(previous) } });
  }

  /**
   * The current snapshot of `name` for this log, stream and schema; undefined when there is none,
   * or when it cannot be used (another log's, stream's or schema's, a chunk missing or unreadable).
   * Reads a chunk at a time.
   */
  async load<Item>(name: string, expected: { stream: string; schema: string }): Promise<LoadedSnapshot<Item> | undefined> {
    const head = await this.heads.findOne({ _id: name });
    if (!head || head.logId !== (await this.store.logId()) || head.stream !== expected.stream || head.schema !== expected.schema) return undefined;
    const ids = chunkIds(head);
    const seen = new Set<string>();
    const versions = new Map<string, number>();
    const items: Item[] = [];
    // Entries are independent of each other: chunks may come in any order.
    for await (const chunk of this.chunks.find({ _id: { $in: ids } }).batchSize(1)) {
      let entries: unknown;
      try {
        entries = JSON.parse(chunk.text);
      } catch {
        return undefined;
      }
      if (!Array.isArray(entries)) return undefined;
      for (const entry of entries as Array<{ v?: unknown; i?: unknown } | null>) {
        if (entry && 'i' in entry) items.push(entry.i as Item);
        else if (entry && Array.isArray(entry.v)) {
          for (const pair of entry.v as unknown[]) {
            if (!Array.isArray(pair) || typeof pair[0] !== 'string' || !Number.isInteger(pair[1])) return undefined;
            versions.set(pair[0], pair[1] as number);
          }
        } else return undefined;
      }
      seen.add(chunk._id);
    }
    if (seen.size !== ids.length) return undefined;
    return { stream: head.stream, schema: head.schema, sequence: head.sequence, versions, items, at: head.at };
  }
}

function chunkIds(head: Pick<SnapshotHead, 'snapshotId' | 'chunks'>): string[] {
  return Array.from({ length: head.chunks }, (_, i) => `${head.snapshotId}#${i}`);
}

/** A pino-like logger. */
interface SnapshotLogger {
  info?(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * The snapshots of one in-memory reader: restores its state and where its {@link EventTailer}
 * goes on before the first start, and saves both, every `intervalMs` and when asked (after a
 * replay, at stop). A snapshot is taken only where the tailer says the state is whole
 * ({@link EventTailer.snapshotPoint}); a failure to read or write one costs a longer start, never
 * the reader's work, so it is logged and otherwise ignored.
 */
export class ReaderSnapshots<Item> {
  private savedSequence = -1;
  private timer: NodeJS.Timeout | undefined;
  private saving: Promise<boolean> = Promise.resolve(false);

  constructor(
    private readonly snapshots: SnapshotStore,
    private readonly name: string,
    private readonly streamName: string,
    /** See {@link Snapshot.schema}. */
    private readonly schema: string,
    private readonly reader: EventTailer,
    /** The owner's state as snapshot items, taken in the same synchronous step as the tailer's point. */
    private readonly items: () => Item[],
    private readonly logger: SnapshotLogger,
  ) {}

  /**
   * Loads the last snapshot and hands its items to `restore` (which returns false when it cannot
   * use them); when it could, the reader's next start follows the stream after the snapshot.
   * Returns the sequence restored from, or undefined (the reader then replays the log).
   */
  async restore(restore: (items: readonly unknown[]) => boolean): Promise<number | undefined> {
    try {
      const started = Date.now();
      const snapshot = await this.snapshots.load<unknown>(this.name, { stream: this.streamName, schema: this.schema });
      if (!snapshot) return undefined;
      if (!restore(snapshot.items)) {
        this.logger.warn({ name: this.name, sequence: snapshot.sequence }, 'the snapshot holds something this version does not know; replaying the log');
        return undefined;
      }
      this.reader.startFrom(snapshot);
      this.savedSequence = snapshot.sequence;
      this.logger.info?.({ name: this.name, sequence: snapshot.sequence, takenAt: snapshot.at, items: snapshot.items.length, ms: Date.now() - started }, 'state restored from the snapshot');
      return snapshot.sequence;
    } catch (error) {
      this.logger.warn({ name: this.name, err: error }, 'reading the snapshot failed; replaying the log');
      return undefined;
    }
  }

  /** Saves a snapshot unless nothing was read since the last one or the state is not whole now; true when saved. */
  save(): Promise<boolean> {
    const save = async () => {
      const point = this.reader.snapshotPoint();
      if (!point || point.sequence === this.savedSequence) return false;
      const items = this.items();
      const started = Date.now();
      try {
        await this.snapshots.save<Item>(this.name, { stream: this.streamName, schema: this.schema, ...point, items });
      } catch (error) {
        this.logger.warn({ name: this.name, err: error }, 'saving a snapshot failed; the next start may replay more of the log');
        return false;
      }
      this.savedSequence = point.sequence;
      this.logger.info?.({ name: this.name, sequence: point.sequence, items: items.length, ms: Date.now() - started }, 'snapshot saved');
      return true;
    };
    this.saving = this.saving.then(save, save);
    return this.saving;
  }

  /** Saves every `intervalMs` until {@link stop}. */
  every(intervalMs: number): void {
    clearInterval(this.timer);
    this.timer = setInterval(() => void this.save(), intervalMs);
    this.timer.unref();
  }

  /** Stops the periodic saves and waits for one under way. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.saving;
  }
}
