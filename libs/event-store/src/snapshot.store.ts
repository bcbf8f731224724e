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

/** A piece of a snapshot's JSON text: `_id` is `<snapshotId>#<index>`. */
interface SnapshotChunk {
  _id: string;
  text: string;
}

/** Characters of JSON per chunk: at most ~6 MB of UTF-8, well within a document's 16 MB. */
const CHUNK_CHARS = 2_000_000;

/**
 * Snapshots of in-memory readers (the scheduler), kept in two small collections: the chunks of a
 * snapshot's JSON text, inserted, and one head document per reader naming the current snapshot,
 * replaced once the chunks are stored. A snapshot is never updated in place: a new one is written
 * whole, the head moved to it, and the previous one's chunks deleted, so a reader that dies at any
 * step finds either the old snapshot or the new one, complete. The log stays the truth: a
 * snapshot only saves a replay, and one that is missing, of another log, or unreadable is ignored.
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
    const text = JSON.stringify({ versions: [...snapshot.versions], items: snapshot.items });
    const pieces = splitText(text, CHUNK_CHARS);
    await this.chunks.insertMany(
      pieces.map((piece, i) => ({ _id: `${snapshotId}#${i}`, text: piece })),
      { ordered: true },
    );
    const previous = await this.heads.findOne({ _id: name });
    const head: SnapshotHead = { _id: name, snapshotId, logId, stream: snapshot.stream, schema: snapshot.schema, sequence: snapshot.sequence, chunks: pieces.length, at: new Date() };
    await this.heads.replaceOne({ _id: name }, head, { upsert: true });
    if (previous && previous.snapshotId !== snapshotId) await this.chunks.deleteMany({ _id: { $in: chunkIds(previous) } });
  }

  /**
   * The current snapshot of `name` for this log, stream and schema; undefined when there is none,
   * or when it cannot be used (another log's, stream's or schema's, a chunk missing or unreadable).
   */
  async load<Item>(name: string, expected: { stream: string; schema: string }): Promise<LoadedSnapshot<Item> | undefined> {
    const head = await this.heads.findOne({ _id: name });
    if (!head || head.logId !== (await this.store.logId()) || head.stream !== expected.stream || head.schema !== expected.schema) return undefined;
    const ids = chunkIds(head);
    const found = new Map((await this.chunks.find({ _id: { $in: ids } }).toArray()).map((c) => [c._id, c.text]));
    if (ids.some((id) => typeof found.get(id) !== 'string')) return undefined;
    let parsed: { versions?: unknown; items?: unknown };
    try {
      parsed = JSON.parse(ids.map((id) => found.get(id)!).join('')) as typeof parsed;
    } catch {
      return undefined;
    }
    if (!Array.isArray(parsed.versions) || !Array.isArray(parsed.items)) return undefined;
    const versions = new Map<string, number>();
    for (const entry of parsed.versions as unknown[]) {
      if (!Array.isArray(entry) || typeof entry[0] !== 'string' || !Number.isInteger(entry[1])) return undefined;
      versions.set(entry[0], entry[1] as number);
    }
    return { stream: head.stream, schema: head.schema, sequence: head.sequence, versions, items: parsed.items as Item[], at: head.at };
  }
}

function chunkIds(head: Pick<SnapshotHead, 'snapshotId' | 'chunks'>): string[] {
  return Array.from({ length: head.chunks }, (_, i) => `${head.snapshotId}#${i}`);
}

/** `text` in pieces of at most `size` UTF-16 units, never cutting a surrogate pair in two. */
export function splitText(text: string, size: number): string[] {
  const pieces: string[] = [];
  for (let start = 0; start < text.length; ) {
    let end = Math.min(start + size, text.length);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end = end - 1 > start ? end - 1 : end + 1;
    pieces.push(text.slice(start, end));
    start = end;
  }
  return pieces.length > 0 ? pieces : [''];
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
