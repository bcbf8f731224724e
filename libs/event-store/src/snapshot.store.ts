import { randomUUID } from 'node:crypto';
import type { Collection } from 'mongodb';
import type { MongoEventStore } from './mongo.event-store';

/**
 * A reader's state at a point of the relayed stream (S1C_EVENTS), kept so that its next start
 * reads the messages after that point instead of replaying the whole log.
 */
export interface Snapshot<Item> {
  /** The JetStream stream the sequence belongs to. */
  readonly stream: string;
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
    const head: SnapshotHead = { _id: name, snapshotId, logId, stream: snapshot.stream, sequence: snapshot.sequence, chunks: pieces.length, at: new Date() };
    await this.heads.replaceOne({ _id: name }, head, { upsert: true });
    if (previous && previous.snapshotId !== snapshotId) await this.chunks.deleteMany({ _id: { $in: chunkIds(previous) } });
  }

  /**
   * The current snapshot of `name` for this log and stream; undefined when there is none, or when
   * it cannot be used (another log's, another stream's, a chunk missing or unreadable).
   */
  async load<Item>(name: string, stream: string): Promise<LoadedSnapshot<Item> | undefined> {
    const head = await this.heads.findOne({ _id: name });
    if (!head || head.logId !== (await this.store.logId()) || head.stream !== stream) return undefined;
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
    return { stream: head.stream, sequence: head.sequence, versions, items: parsed.items as Item[], at: head.at };
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
