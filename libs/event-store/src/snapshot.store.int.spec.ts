import { uniqueDbName } from '@s1c/test-harness';
import { nanos } from 'nats';
import { describe, expect, it, vi } from 'vitest';
import { EventTailer, type SnapshotPoint } from './event.tailer';
import { type RecordedEvent } from './event.types';
import { MongoEventStore } from './mongo.event-store';
import { OutboxRelay } from './outbox.relay';
import { SnapshotStore } from './snapshot.store';
import { useServers } from './testing/servers.fixture';

const servers = useServers();

const V1 = { stream: 'S1C_EVENTS', schema: 'v1' };

describe('SnapshotStore', () => {
  it('saves and loads a snapshot of several chunks, and a newer one replaces it and deletes its chunks', async () => {
    const db = servers.mongo.db();
    const store = new MongoEventStore(db);
    const snapshots = new SnapshotStore(store);
    // ~5 million characters of JSON, with characters of every UTF-8 length: written and read a chunk
    // (at most a million characters) at a time.
    const items = Array.from({ length: 50 }, (_, i) => ({ i, text: `é€😀${'x'.repeat(100_000)}${i}` }));
    const versions = new Map([
      ['source-a', 3],
      ['collection-a-agents', 17],
    ]);
    await snapshots.save('scheduler', { stream: 'S1C_EVENTS', schema: 'v1', sequence: 41, versions, items });
    const chunks = await db.collection<{ text: string }>('snapshot_chunks').find({}).toArray();
    expect(chunks.length).toBeGreaterThanOrEqual(5);
    for (const chunk of chunks) expect(chunk.text.length).toBeLessThanOrEqual(1_000_000);

    const loaded = await snapshots.load<(typeof items)[number]>('scheduler', V1);
    expect(loaded?.sequence).toBe(41);
    expect(loaded?.versions).toEqual(versions);
    expect([...(loaded?.items ?? [])].sort((a, b) => a.i - b.i)).toEqual(items);

    await snapshots.save('scheduler', { stream: 'S1C_EVENTS', schema: 'v1', sequence: 42, versions, items: [{ i: 0, text: 'small' }] });
    expect((await snapshots.load('scheduler', V1))?.items).toEqual([{ i: 0, text: 'small' }]);
    expect(await db.collection('snapshot_chunks').countDocuments()).toBe(1);
  });

  it('ignores a snapshot that is missing, of another stream, schema or log, or missing a chunk', async () => {
    const db = servers.mongo.db();
    const store = new MongoEventStore(db);
    const snapshots = new SnapshotStore(store);
    expect(await snapshots.load('scheduler', V1)).toBeUndefined();
    await snapshots.save('scheduler', { stream: 'S1C_EVENTS', schema: 'v1', sequence: 1, versions: new Map(), items: [1, 2, 3] });
    expect((await snapshots.load('scheduler', V1))?.items).toEqual([1, 2, 3]);
    expect(await snapshots.load('scheduler', { stream: 'OTHER', schema: 'v1' })).toBeUndefined();
    // A state of another shape (its owner names a new schema when it changes).
    expect(await snapshots.load('scheduler', { stream: 'S1C_EVENTS', schema: 'v2' })).toBeUndefined();
    expect(await snapshots.load('health', V1)).toBeUndefined();

    // The same collections read as another log (its log id differs): not this log's snapshot.
    await db.collection('event_log_meta').deleteOne({ _id: 'log' as never });
    expect(await new SnapshotStore(new MongoEventStore(db)).load('scheduler', V1)).toBeUndefined();

    const fresh = servers.mongo.db();
    const freshSnapshots = new SnapshotStore(new MongoEventStore(fresh));
    await freshSnapshots.save('scheduler', { stream: 'S1C_EVENTS', schema: 'v1', sequence: 1, versions: new Map(), items: [1] });
    await fresh.collection('snapshot_chunks').deleteMany({});
    expect(await freshSnapshots.load('scheduler', V1)).toBeUndefined();
  });
});

describe('EventTailer started from a snapshot point', () => {
  async function setUp() {
    const db = servers.mongo.db();
    const store = new MongoEventStore(db);
    const streamName = uniqueDbName('evt');
    await servers.jsm.streams.add({ name: streamName, subjects: [`${streamName}.>`], duplicate_window: nanos(120_000) });
    servers.cleanup.push(() => servers.jsm.streams.delete(streamName));
    const relay = new OutboxRelay(store, db, servers.nc.jetstream(), servers.jsm, {
      name: 'test',
      streamName,
      subjectFor: (event: RecordedEvent) => `${streamName}.${event.streamId}`,
      pollIntervalMs: 50,
    });
    await relay.start();
    servers.cleanup.push(() => relay.stop());
    const tailer = (handled: string[], startAt?: SnapshotPoint) => {
      const reader = new EventTailer(store, servers.nc, 'reader', { handle: (e) => void handled.push(`${e.streamId}@${e.version}`) }, { streamName, catchUpTimeoutMs: 20_000 });
      if (startAt) reader.startFrom(startAt);
      servers.cleanup.push(() => reader.stop());
      return reader;
    };
    return { store, relay, streamName, tailer };
  }

  it('follows the stream after the snapshot, without reading the log, and knows every stream version it had', async () => {
    const { store, relay, tailer } = await setUp();
    await store.appendToStream('a', [{ type: 'A', data: {} }, { type: 'A', data: {} }], { expectedVersion: 'no_stream' });
    await store.appendToStream('b', [{ type: 'B', data: {} }], { expectedVersion: 'no_stream' });
    await relay.flush();

    const first: string[] = [];
    const cold = tailer(first);
    expect(cold.snapshotPoint()).toBeUndefined();
    await cold.catchUp();
    const point = cold.snapshotPoint();
    expect(point?.versions).toEqual(new Map([['a', 2], ['b', 1]]));
    await cold.stop();
    expect(first).toEqual(['a@1', 'a@2', 'b@1']);

    await store.appendToStream('a', [{ type: 'A', data: {} }], { expectedVersion: 2 });
    await store.appendToStream('c', [{ type: 'C', data: {} }], { expectedVersion: 'no_stream' });
    await relay.flush();

    const readLog = vi.spyOn(store, 'readLog');
    const readStream = vi.spyOn(store, 'readStream');
    const second: string[] = [];
    const warm = tailer(second, point);
    await warm.catchUp();
    expect(second).toEqual(['a@3', 'c@1']);
    expect(readLog).not.toHaveBeenCalled();
    // Stream c had no version in the snapshot: its first event is version 1, not a gap to fill.
    expect(readStream).not.toHaveBeenCalled();
    expect(warm.snapshotPoint()?.versions).toEqual(new Map([['a', 3], ['b', 1], ['c', 1]]));
  });

  it('replays the log when the stream no longer holds the message after the snapshot', async () => {
    const { store, relay, tailer } = await setUp();
    await store.appendToStream('a', [{ type: 'A', data: {} }], { expectedVersion: 'no_stream' });
    await relay.flush();
    const handled: string[] = [];
    // A snapshot of a stream that was recreated since (its sequence is past the stream's last).
    const reader = tailer(handled, { sequence: 1_000, versions: new Map([['a', 1]]) });
    await reader.catchUp();
    expect(handled).toEqual(['a@1']);
    expect(reader.snapshotPoint()?.sequence).toBe(1);
  });
});
