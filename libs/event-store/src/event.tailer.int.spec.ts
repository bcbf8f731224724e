import { uniqueDbName } from '@s1c/test-harness';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Db } from 'mongodb';
import { headers as natsHeaders, nanos } from 'nats';
import { describe, expect, it, vi } from 'vitest';
import { EventTailer, type CheckpointDocument, type EventTailerOptions, type TailerHooks } from './event.tailer';
import { type RecordedEvent } from './event.types';
import { MongoEventStore } from './mongo.event-store';
import { EVENT_HEADERS, OutboxRelay } from './outbox.relay';
import { useServers } from './testing/servers.fixture';

const servers = useServers();

/** The name of the tailers under test: their checkpoint's `_id`. */
const NAME = 'stream-summary';
/** Where the tailers under test keep their checkpoint. */
const CHECKPOINTS = 'tailer_checkpoints';

interface StreamSummary {
  streamId: string;
  lastVersion: number;
  types: string[];
}

/**
 * A read model folded in memory, as an owner of a tailer keeps one: per stream, its last version
 * and the event types seen. An event that is not the next version of its stream changes nothing,
 * so an event handed over again is a no-op.
 */
class StreamSummaries {
  private readonly byStream = new Map<string, StreamSummary>();

  apply(event: RecordedEvent): void {
    const summary = this.byStream.get(event.streamId);
    if (event.version === 1) {
      if (!summary) this.byStream.set(event.streamId, { streamId: event.streamId, lastVersion: 1, types: [event.type] });
      return;
    }
    if (summary?.lastVersion !== event.version - 1) return;
    summary.lastVersion = event.version;
    summary.types.push(event.type);
  }

  reset(): void {
    this.byStream.clear();
  }

  /** A copy of every stream's summary, by stream id. */
  snapshot(): StreamSummary[] {
    return [...this.byStream.values()]
      .map((summary) => ({ ...summary, types: [...summary.types] }))
      .sort((a, b) => (a.streamId < b.streamId ? -1 : a.streamId > b.streamId ? 1 : 0));
  }
}

/**
 * The hooks of a tailer under test: folds into `summaries`, remembers every event it was handed
 * (`handled`, failed attempts included, as `stream@version`), and fails on purpose where a test says so.
 */
class Recorder implements TailerHooks {
  readonly handled: string[] = [];
  /** `stream@version` -> how many more times `handle` fails on it. */
  private readonly failures = new Map<string, number>();
  inits = 0;

  constructor(readonly summaries: StreamSummaries) {}

  /** Makes `handle` fail `times` times on that event. */
  failOn(streamId: string, version: number, times = 1): void {
    this.failures.set(`${streamId}@${version}`, times);
  }

  async init(): Promise<void> {
    this.inits++;
  }

  async handle(event: RecordedEvent): Promise<void> {
    const key = `${event.streamId}@${event.version}`;
    this.handled.push(key);
    const failures = this.failures.get(key) ?? 0;
    if (failures > 0) {
      this.failures.set(key, failures - 1);
      throw new Error(`injected failure at ${key}`);
    }
    this.summaries.apply(event);
  }
}

/** A log (its own database) relayed to a JetStream stream of its own, and tailers on it. */
interface Fixture {
  db: Db;
  store: MongoEventStore;
  streamName: string;
  relay: OutboxRelay;
  /** The read model the tailers fold into (it outlives them, as a stored one would). */
  summaries: StreamSummaries;
  /** The default hooks of `tailer()`. */
  recorder: Recorder;
  /** A tailer named {@link NAME}, keeping its checkpoint in {@link CHECKPOINTS}, driving `hooks` (default `recorder`). */
  tailer(options?: EventTailerOptions & { hooks?: TailerHooks }): EventTailer;
  /** The sequence of the saved checkpoint document, read from MongoDB. */
  savedCheckpoint(): Promise<number | undefined>;
}

async function setUp(options: { streamName?: string } = {}): Promise<Fixture> {
  const db = servers.mongo.db();
  const store = new MongoEventStore(db);
  const streamName = options.streamName ?? uniqueDbName('evt');
  if (!options.streamName) {
    await servers.jsm.streams.add({ name: streamName, subjects: [`${streamName}.>`], duplicate_window: nanos(120_000) });
    servers.cleanup.push(() => servers.jsm.streams.delete(streamName));
  }
  const relay = new OutboxRelay(store, db, servers.js, servers.jsm, {
    name: 'test',
    streamName,
    subjectFor: (event: RecordedEvent) => `${streamName}.${event.streamId}.${event.type}`,
    pollIntervalMs: 50,
  });
  await relay.start();
  servers.cleanup.push(() => relay.stop());
  const summaries = new StreamSummaries();
  const recorder = new Recorder(summaries);
  return {
    db,
    store,
    streamName,
    relay,
    summaries,
    recorder,
    tailer: ({ hooks, ...tailerOptions } = {}) => {
      const tailer = new EventTailer(store, servers.nc, NAME, hooks ?? recorder, {
        streamName,
        catchUpTimeoutMs: 20_000,
        checkpoints: { db, collection: CHECKPOINTS },
        ...tailerOptions,
      });
      servers.cleanup.push(() => tailer.stop());
      return tailer;
    },
    savedCheckpoint: async () => (await db.collection<CheckpointDocument>(CHECKPOINTS).findOne({ _id: NAME }))?.sequence,
  };
}

/** Moves the saved checkpoint to `sequence`, as if the tailer had stopped there. */
async function moveCheckpoint(f: Fixture, sequence: number): Promise<void> {
  const { matchedCount } = await f.db.collection<CheckpointDocument>(CHECKPOINTS).updateOne({ _id: NAME }, { $set: { sequence } });
  expect(matchedCount).toBe(1);
}

/** `perStream` events in each of `streams` streams (`src-<n>`), appended `perAppend` at a time, streams concurrently. */
async function appendSome(store: MongoEventStore, streams: number, perStream: number, options: { perAppend?: number; prefix?: string } = {}): Promise<void> {
  const perAppend = options.perAppend ?? 1;
  await Promise.all(
    Array.from({ length: streams }, async (_, s) => {
      const streamId = `${options.prefix ?? 'src'}-${s}`;
      let version = await store.streamVersion(streamId);
      for (let appended = 0; appended < perStream; appended += perAppend) {
        const count = Math.min(perAppend, perStream - appended);
        const events = Array.from({ length: count }, (_, i) => ({ type: (version + i) % 2 === 0 ? 'Even' : 'Odd', data: { v: version + i + 1 } }));
        await store.appendToStream(streamId, events, { expectedVersion: version });
        version += count;
      }
    }),
  );
}

/** The versions handed over per stream, in the order they came. */
function versionsByStream(handled: readonly string[]): Map<string, number[]> {
  const byStream = new Map<string, number[]>();
  for (const key of handled) {
    const at = key.lastIndexOf('@');
    const streamId = key.slice(0, at);
    byStream.set(streamId, [...(byStream.get(streamId) ?? []), Number(key.slice(at + 1))]);
  }
  return byStream;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('EventTailer', () => {
  describe('given a tailer running in the background while events are appended', () => {
    it('then each of 1,000 events in 50 streams is handled once, each stream in version order', async () => {
      const f = await setUp();
      const tailer = f.tailer({ batchSize: 37 });
      await tailer.start();
      await appendSome(f.store, 50, 20, { perAppend: 4 });
      await f.relay.flush();
      await tailer.catchUp();

      const byStream = versionsByStream(f.recorder.handled);
      expect(byStream.size).toBe(50);
      for (const versions of byStream.values()) expect(versions).toEqual(range(1, 20));
      expect(f.recorder.handled).toHaveLength(1000);
      const live = f.summaries.snapshot();
      expect(live).toHaveLength(50);
      for (const summary of live) expect(summary.lastVersion).toBe(20);
      expect(await tailer.checkpoint()).toBe((await servers.jsm.streams.info(f.streamName)).state.last_seq);
    });

    it('when it is stopped, forgotten and caught up again, then it replays the log into a read model equal to the live one, and goes on following', async () => {
      const f = await setUp();
      const tailer = f.tailer({ batchSize: 7 });
      await tailer.start();
      await appendSome(f.store, 5, 6);
      await tailer.catchUp({ streamId: 'src-4', version: 6 });
      await f.relay.flush();
      await tailer.catchUp();
      const live = f.summaries.snapshot();
      expect(live).toHaveLength(5);
      for (const summary of live) {
        expect(summary.lastVersion).toBe(6);
        expect(summary.types).toEqual(['Even', 'Odd', 'Even', 'Odd', 'Even', 'Odd']);
      }

      // Only while stopped.
      await expect(tailer.forget()).rejects.toThrow('stop the reader');
      await tailer.stop();
      f.summaries.reset();
      await tailer.forget();
      expect(await f.savedCheckpoint()).toBeUndefined();
      const handledBefore = f.recorder.handled.length;
      await tailer.catchUp();
      expect(f.recorder.handled.length - handledBefore).toBe(30);
      expect(f.summaries.snapshot()).toEqual(live);
      expect(await tailer.checkpoint()).toBe((await servers.jsm.streams.info(f.streamName)).state.last_seq);
      // Still running: a later event is handled.
      expect(tailer.isRunning).toBe(true);
      await f.store.appendToStream('src-0', [{ type: 'Even', data: {} }], { expectedVersion: 6 });
      await tailer.catchUp({ streamId: 'src-0', version: 7 });
      expect(f.summaries.snapshot()[0]).toMatchObject({ streamId: 'src-0', lastVersion: 7 });
    });
  });

  describe('given a tailer that is up to date', () => {
    it('when an already handled batch is replayed, then nothing changes', async () => {
      const f = await setUp();
      await appendSome(f.store, 3, 4);
      await f.relay.flush();
      const tailer = f.tailer();
      await tailer.catchUp();
      await tailer.stop();
      const before = f.summaries.snapshot();
      expect(before).toHaveLength(3);

      await moveCheckpoint(f, 4);
      const again = new Recorder(f.summaries);
      const replaying = f.tailer({ hooks: again });
      expect(await replaying.catchUp()).toBe(12);
      expect(again.handled).toHaveLength(8);
      expect(f.summaries.snapshot()).toEqual(before);
    });

    it('when it is restarted, then it resumes from its checkpoint without handling anything twice', async () => {
      const f = await setUp();
      const first = f.tailer({ batchSize: 5 });
      await first.start();
      await appendSome(f.store, 4, 5);
      await f.relay.flush();
      await first.catchUp();
      await first.stop();
      expect(f.recorder.handled).toHaveLength(20);
      expect(f.recorder.inits).toBe(1);

      await appendSome(f.store, 4, 2);
      await f.relay.flush();
      const next = new Recorder(f.summaries);
      const second = f.tailer({ hooks: next });
      await second.start();
      await second.catchUp();
      expect(next.inits).toBe(1);
      expect([...versionsByStream(next.handled).values()]).toEqual([range(6, 7), range(6, 7), range(6, 7), range(6, 7)]);
      expect(f.summaries.snapshot().map((s) => s.lastVersion)).toEqual([7, 7, 7, 7]);
    });
  });

  describe('given events that do not come exactly once, in order', () => {
    it('when an event is published again after the duplicate window, then it is skipped', async () => {
      const f = await setUp();
      const tailer = f.tailer();
      await tailer.start();
      await appendSome(f.store, 1, 3);
      await f.relay.flush();
      await tailer.catchUp({ streamId: 'src-0', version: 3 });
      // What a relay that crashed before deleting its outbox entries republishes, once JetStream no
      // longer remembers the message id: the same message under another id.
      for (const seq of [1, 2, 3]) {
        const message = await servers.jsm.streams.getMessage(f.streamName, { seq });
        const h = natsHeaders();
        for (const key of Object.values(EVENT_HEADERS)) h.set(key, message.header.get(key));
        await servers.js.publish(message.subject, message.data, { msgID: `${message.header.get('Nats-Msg-Id')}-again`, headers: h });
      }
      await f.store.appendToStream('src-0', [{ type: 'Odd', data: {} }], { expectedVersion: 3 });
      await tailer.catchUp({ streamId: 'src-0', version: 4 });
      await tailer.catchUp();
      expect(f.recorder.handled).toEqual(['src-0@1', 'src-0@2', 'src-0@3', 'src-0@4']);
    });

    it('when a version of a stream never reaches the stream, then it is read from the store before the next one', async () => {
      const f = await setUp();
      const logger = { warn: vi.fn(), error: vi.fn() };
      const tailer = f.tailer({ logger });
      await tailer.start();
      await appendSome(f.store, 1, 1);
      await tailer.catchUp({ streamId: 'src-0', version: 1 });
      // Version 2's writer stops publishing (as if it died); another writer appends and publishes version 3.
      await f.relay.stop();
      await f.store.appendToStream('src-0', [{ type: 'Odd', data: {} }], { expectedVersion: 1 });
      const other = new MongoEventStore(f.db);
      const otherRelay = new OutboxRelay(other, f.db, servers.js, servers.jsm, { name: 'other', streamName: f.streamName, subjectFor: (event) => `${f.streamName}.${event.streamId}.${event.type}`, recover: false });
      await otherRelay.start();
      await other.appendToStream('src-0', [{ type: 'Even', data: {} }], { expectedVersion: 2 });
      await otherRelay.stop();

      await tailer.catchUp({ streamId: 'src-0', version: 3 });
      expect(f.recorder.handled).toEqual(['src-0@1', 'src-0@2', 'src-0@3']);
      expect(f.summaries.snapshot()).toMatchObject([{ lastVersion: 3, types: ['Even', 'Odd', 'Even'] }]);
      expect(logger.warn).toHaveBeenCalledWith(expect.objectContaining({ streamId: 'src-0', fromVersion: 2, toVersion: 2 }), 'filled a gap in the stream from the store');
    });

    it("when another log's events share the stream, then they are ignored", async () => {
      const f = await setUp();
      const other = await setUp({ streamName: f.streamName });
      const tailer = f.tailer();
      await tailer.start();
      await appendSome(other.store, 2, 3);
      await appendSome(f.store, 1, 2);
      await appendSome(other.store, 2, 1);
      await Promise.all([f.relay.flush(), other.relay.flush()]);
      expect(await tailer.catchUp()).toBe(10);
      expect(f.recorder.handled).toEqual(['src-0@1', 'src-0@2']);
      expect(f.summaries.snapshot()).toMatchObject([{ streamId: 'src-0', lastVersion: 2 }]);
    });
  });

  describe('given a log with history and no checkpoint (a cold start)', () => {
    it('then it replays the log from MongoDB and follows the stream, missing nothing and handling nothing twice', async () => {
      const f = await setUp();
      // Relayed already, and in the log but not relayed yet when the tailer starts.
      await appendSome(f.store, 10, 5, { perAppend: 2 });
      await f.relay.flush();
      await f.relay.stop();
      await appendSome(f.store, 10, 2);
      const logger = { warn: vi.fn(), error: vi.fn(), info: vi.fn() };
      const tailer = f.tailer({ logger });
      await tailer.start();
      // Appended while it replays, relayed as it follows.
      const during = appendSome(f.store, 10, 3, { prefix: 'new' });
      await f.relay.start();
      await appendSome(f.store, 10, 2);
      await during;
      await f.relay.flush();
      await tailer.catchUp();

      const byStream = versionsByStream(f.recorder.handled);
      expect(byStream.size).toBe(20);
      for (const [streamId, versions] of byStream) expect(versions, streamId).toEqual(range(1, streamId.startsWith('new') ? 3 : 9));
      expect(logger.info).toHaveBeenCalledWith(expect.objectContaining({ name: NAME }), expect.stringContaining('cold start'));
      expect(logger.error).not.toHaveBeenCalled();
    });

    it('when the checkpoint is older than the first message the stream still holds, then it starts cold again', async () => {
      const f = await setUp();
      const tailer = f.tailer();
      await tailer.start();
      await appendSome(f.store, 2, 2);
      await f.relay.flush();
      await tailer.catchUp();
      await tailer.stop();
      await moveCheckpoint(f, 1);
      // The stream lost its first messages (max_age, or a purge).
      await servers.jsm.streams.purge(f.streamName, { keep: 1 });

      const logger = { warn: vi.fn(), error: vi.fn() };
      const again = new Recorder(new StreamSummaries());
      const restarted = f.tailer({ hooks: again, logger });
      await restarted.catchUp();
      expect(logger.warn).toHaveBeenCalledWith(expect.objectContaining({ checkpoint: 1 }), expect.stringContaining('replaying the log'));
      expect([...versionsByStream(again.handled).values()]).toEqual([range(1, 2), range(1, 2)]);
      expect(await restarted.checkpoint()).toBe(4);
    });
  });

  describe('when events trickle in and the reader keeps catching up', () => {
    it('then the checkpoint is saved at most every checkpointIntervalMs, and at once when asked for or at stop', async () => {
      const f = await setUp();
      const tailer = f.tailer({ checkpointIntervalMs: 60_000 });
      await tailer.start();
      // The start saved where it began (an empty stream): the next save waits for the interval.
      await vi.waitFor(async () => expect(await f.savedCheckpoint()).toBe(0), { timeout: 5_000 });
      for (let version = 1; version <= 6; version++) {
        await f.store.appendToStream('src-0', [{ type: 'Even', data: {} }], { expectedVersion: version - 1 });
        await tailer.catchUp({ streamId: 'src-0', version });
      }
      await sleep(300);
      expect(await f.savedCheckpoint()).toBe(0);
      expect(await tailer.checkpoint()).toBe(6);
      await f.store.appendToStream('src-0', [{ type: 'Even', data: {} }], { expectedVersion: 6 });
      await tailer.catchUp({ streamId: 'src-0', version: 7 });
      await tailer.stop();
      expect(await f.savedCheckpoint()).toBe(7);
    });
  });

  describe('given a beforeCheckpoint hook', () => {
    it('then it runs before every save of the checkpoint, and when it fails the checkpoint is not saved', async () => {
      const f = await setUp();
      // A handler that holds its writes back until the checkpoint is saved.
      const held: string[] = [];
      const written: string[] = [];
      let failing = false;
      const tailer = f.tailer({
        checkpointIntervalMs: 60_000,
        hooks: {
          handle: (event) => void held.push(`${event.streamId}@${event.version}`),
          beforeCheckpoint: async () => {
            if (failing) throw new Error('injected flush failure');
            written.push(...held.splice(0));
          },
        },
      });
      await tailer.start();
      await appendSome(f.store, 1, 3);
      await f.relay.flush();
      await tailer.catchUp();
      expect(await tailer.checkpoint()).toBe(3);
      expect(written).toEqual(['src-0@1', 'src-0@2', 'src-0@3']);
      expect(held).toEqual([]);

      failing = true;
      await f.store.appendToStream('src-0', [{ type: 'Odd', data: {} }], { expectedVersion: 3 });
      await tailer.catchUp({ streamId: 'src-0', version: 4 });
      await expect(tailer.checkpoint()).rejects.toThrow('injected flush failure');
      expect(await f.savedCheckpoint()).toBe(3);
      expect(held).toEqual(['src-0@4']);

      failing = false;
      expect(await tailer.checkpoint()).toBe(4);
      expect(written).toEqual(['src-0@1', 'src-0@2', 'src-0@3', 'src-0@4']);
    });
  });

  describe('when handle fails on an event', () => {
    it('then catchUp rejects, the checkpoint stays just before that event, and a later catchUp handles it', async () => {
      const f = await setUp();
      f.recorder.failOn('src-0', 3);
      const logger = { warn: vi.fn(), error: vi.fn() };
      const tailer = f.tailer({ logger, retryDelayMs: 2_000, batchSize: 1 });
      await tailer.start();
      await appendSome(f.store, 1, 5);
      await f.relay.flush();

      await expect(tailer.catchUp({ streamId: 'src-0', version: 5 })).rejects.toThrow('injected failure at src-0@3');
      expect(await tailer.checkpoint()).toBe(2);
      expect(logger.error).toHaveBeenCalledWith(expect.objectContaining({ name: NAME, streamId: 'src-0', version: 3 }), expect.any(String));

      // The reader retries it by itself; catchUp keeps failing until then.
      expect(await vi.waitFor(() => tailer.catchUp(), { timeout: 10_000, interval: 200 })).toBe(5);
      expect(f.recorder.handled).toEqual(['src-0@1', 'src-0@2', 'src-0@3', 'src-0@3', 'src-0@4', 'src-0@5']);
      expect(f.summaries.snapshot()).toMatchObject([{ lastVersion: 5 }]);
    });

    it('then the background loop logs it and retries it, with backoff, skipping nothing', async () => {
      const f = await setUp();
      f.recorder.failOn('src-1', 2, 3);
      const logger = { warn: vi.fn(), error: vi.fn() };
      const tailer = f.tailer({ logger, retryDelayMs: 20 });
      await tailer.start();
      await appendSome(f.store, 2, 3);
      await f.relay.flush();
      await vi.waitFor(() => expect(f.recorder.handled.filter((key) => key === 'src-1@3')).toHaveLength(1), { timeout: 10_000 });
      await tailer.catchUp();
      expect(logger.error).toHaveBeenCalledTimes(3);
      const byStream = versionsByStream(f.recorder.handled);
      expect(byStream.get('src-0')).toEqual(range(1, 3));
      expect(byStream.get('src-1')).toEqual([1, 2, 2, 2, 2, 3]);
      expect(f.summaries.snapshot()).toMatchObject([{ lastVersion: 3 }, { lastVersion: 3 }]);
    });
  });

  describe('when it is far behind the stream', () => {
    it('then it holds at most a pull of events and the rest stay on the server until it gets to them', async () => {
      // Given a following tailer (pulls of 20) whose handler is held on the first event,
      const f = await setUp();
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const tailer = f.tailer({
        batchSize: 20,
        hooks: {
          init: async () => undefined,
          handle: async (event) => {
            await released;
            await f.recorder.handle(event);
          },
        },
      });
      await tailer.start();
      // When 1,000 events reach the stream,
      await appendSome(f.store, 10, 100, { perAppend: 10 });
      await f.relay.flush();
      await sleep(1_000);
      // Then the server still holds all but a pull of them,
      const consumers = await servers.jsm.consumers.list(f.streamName).next();
      expect(consumers).toHaveLength(1);
      expect(consumers[0]!.num_pending).toBeGreaterThanOrEqual(1000 - 21);
      // and once the handler goes on, every event is handled once, in order per stream.
      release();
      expect(await tailer.catchUp()).toBeGreaterThanOrEqual(1000);
      const byStream = versionsByStream(f.recorder.handled);
      expect([...byStream.values()]).toEqual(Array.from({ length: 10 }, () => range(1, 100)));
    });
  });

  describe('when catchUp cannot get there', () => {
    it('then it fails after its timeout, naming what it waited for', async () => {
      const f = await setUp();
      const tailer = f.tailer({ catchUpTimeoutMs: 300 });
      await tailer.start();
      await expect(tailer.catchUp({ streamId: 'src-9', version: 1 })).rejects.toThrow('not caught up to src-9@1: not handled within 300 ms');
    });
  });

  describe('when stop is called while following', () => {
    it('then it resolves promptly and no more events are handled', async () => {
      const f = await setUp();
      const tailer = f.tailer();
      await tailer.start();
      const started = Date.now();
      await tailer.stop();
      expect(Date.now() - started).toBeLessThan(1_000);
      await appendSome(f.store, 1, 1);
      await f.relay.flush();
      await sleep(200);
      expect(f.recorder.handled).toEqual([]);
      expect(await tailer.checkpoint()).toBe(0);
    });
  });
});
