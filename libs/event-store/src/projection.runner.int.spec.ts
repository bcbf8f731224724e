import { serverUrls, uniqueDbName } from '@s1c/test-harness';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Db } from 'mongodb';
import { connect, headers as natsHeaders, nanos, type JetStreamClient, type JetStreamManager, type NatsConnection } from 'nats';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type RecordedEvent } from './event.types';
import { MongoEventStore } from './mongo.event-store';
import { EVENT_HEADERS, OutboxRelay } from './outbox.relay';
import { PROJECTION_CHECKPOINTS, ProjectionRunner, type ProjectionRunnerOptions } from './projection.runner';
import { connectMongo, type MongoFixture } from './testing/mongo.fixture';
import { StreamSummaryProjection } from './testing/stream-summary.projection';

let mongo: MongoFixture;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
beforeAll(async () => {
  mongo = await connectMongo();
  nc = await connect({ servers: serverUrls().natsUrl });
  js = nc.jetstream();
  jsm = await nc.jetstreamManager();
});
afterAll(async () => {
  await nc.close();
  await mongo.close();
});

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
  cleanup.length = 0;
});

/** A log (its own database) relayed to a JetStream stream of its own, and runners on it. */
interface Fixture {
  db: Db;
  store: MongoEventStore;
  streamName: string;
  relay: OutboxRelay;
  projection: StreamSummaryProjection;
  runner(options?: ProjectionRunnerOptions & { projection?: StreamSummaryProjection }): ProjectionRunner;
}

async function setUp(options: { streamName?: string } = {}): Promise<Fixture> {
  const db = mongo.db();
  const store = new MongoEventStore(db);
  const streamName = options.streamName ?? uniqueDbName('evt');
  if (!options.streamName) {
    await jsm.streams.add({ name: streamName, subjects: [`${streamName}.>`], duplicate_window: nanos(120_000) });
    cleanup.push(() => jsm.streams.delete(streamName));
  }
  const relay = new OutboxRelay(store, db, js, jsm, {
    name: 'test',
    streamName,
    subjectFor: (event: RecordedEvent) => `${streamName}.${event.streamId}.${event.type}`,
    pollIntervalMs: 50,
  });
  await relay.start();
  cleanup.push(() => relay.stop());
  const projection = new StreamSummaryProjection();
  return {
    db,
    store,
    streamName,
    relay,
    projection,
    runner: (runnerOptions = {}) => {
      const runner = new ProjectionRunner(store, db, nc, runnerOptions.projection ?? projection, { streamName, catchUpTimeoutMs: 20_000, ...runnerOptions });
      cleanup.push(() => runner.stop());
      return runner;
    },
  };
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

describe('ProjectionRunner', () => {
  describe('given a projection running in the background while events are appended', () => {
    it('then each of 1,000 events in 50 streams is applied once, each stream in version order', async () => {
      const f = await setUp();
      const runner = f.runner({ batchSize: 37 });
      await runner.start();
      await appendSome(f.store, 50, 20, { perAppend: 4 });
      await f.relay.flush();
      await runner.catchUp();

      const byStream = versionsByStream(f.projection.handled);
      expect(byStream.size).toBe(50);
      for (const versions of byStream.values()) expect(versions).toEqual(range(1, 20));
      expect(f.projection.handled).toHaveLength(1000);
      const live = await StreamSummaryProjection.snapshot(f.db);
      expect(live).toHaveLength(50);
      for (const summary of live) expect(summary.lastVersion).toBe(20);
      expect(await runner.checkpoint()).toBe((await jsm.streams.info(f.streamName)).state.last_seq);
    });

    it('when it is rebuilt from scratch, then the rebuilt read model equals the live one', async () => {
      const f = await setUp();
      const runner = f.runner({ batchSize: 7 });
      await runner.start();
      await appendSome(f.store, 5, 6);
      await runner.catchUp({ streamId: 'src-4', version: 6 });
      await f.relay.flush();
      await runner.catchUp();
      const live = await StreamSummaryProjection.snapshot(f.db);
      expect(live).toHaveLength(5);
      for (const summary of live) {
        expect(summary.lastVersion).toBe(6);
        expect(summary.types).toEqual(['Even', 'Odd', 'Even', 'Odd', 'Even', 'Odd']);
      }

      await runner.rebuild();
      expect(await StreamSummaryProjection.snapshot(f.db)).toEqual(live);
      expect(await runner.checkpoint()).toBe((await jsm.streams.info(f.streamName)).state.last_seq);
      // Still running: a later event is applied.
      await f.store.appendToStream('src-0', [{ type: 'Even', data: {} }], { expectedVersion: 6 });
      await runner.catchUp({ streamId: 'src-0', version: 7 });
      expect((await StreamSummaryProjection.snapshot(f.db))[0]).toMatchObject({ _id: 'src-0', lastVersion: 7 });
    });
  });

  describe('given a projection that is up to date', () => {
    it('when an already applied batch is replayed, then nothing changes', async () => {
      const f = await setUp();
      await appendSome(f.store, 3, 4);
      await f.relay.flush();
      const runner = f.runner();
      await runner.catchUp();
      await runner.stop();
      const before = await StreamSummaryProjection.snapshot(f.db);

      await f.db.collection(PROJECTION_CHECKPOINTS).updateOne({ _id: f.projection.name as never }, { $set: { sequence: 4 } });
      const again = new StreamSummaryProjection();
      const replaying = f.runner({ projection: again });
      expect(await replaying.catchUp()).toBe(12);
      expect(again.handled).toHaveLength(8);
      expect(await StreamSummaryProjection.snapshot(f.db)).toEqual(before);
    });

    it('when it is restarted, then it resumes from its checkpoint without applying anything twice', async () => {
      const f = await setUp();
      const first = f.runner({ batchSize: 5 });
      await first.start();
      await appendSome(f.store, 4, 5);
      await f.relay.flush();
      await first.catchUp();
      await first.stop();
      expect(f.projection.handled).toHaveLength(20);

      await appendSome(f.store, 4, 2);
      await f.relay.flush();
      const next = new StreamSummaryProjection();
      const second = f.runner({ projection: next });
      await second.start();
      await second.catchUp();
      expect([...versionsByStream(next.handled).values()]).toEqual([range(6, 7), range(6, 7), range(6, 7), range(6, 7)]);
      expect((await StreamSummaryProjection.snapshot(f.db)).map((s) => s.lastVersion)).toEqual([7, 7, 7, 7]);
    });
  });

  describe('given events that do not come exactly once, in order', () => {
    it('when an event is published again after the duplicate window, then it is skipped', async () => {
      const f = await setUp();
      const runner = f.runner();
      await runner.start();
      await appendSome(f.store, 1, 3);
      await f.relay.flush();
      await runner.catchUp({ streamId: 'src-0', version: 3 });
      // What a relay that crashed before deleting its outbox entries republishes, once JetStream no
      // longer remembers the message id: the same message under another id.
      for (const seq of [1, 2, 3]) {
        const message = await jsm.streams.getMessage(f.streamName, { seq });
        const h = natsHeaders();
        for (const key of Object.values(EVENT_HEADERS)) h.set(key, message.header.get(key));
        await js.publish(message.subject, message.data, { msgID: `${message.header.get('Nats-Msg-Id')}-again`, headers: h });
      }
      await f.store.appendToStream('src-0', [{ type: 'Odd', data: {} }], { expectedVersion: 3 });
      await runner.catchUp({ streamId: 'src-0', version: 4 });
      await runner.catchUp();
      expect(f.projection.handled).toEqual(['src-0@1', 'src-0@2', 'src-0@3', 'src-0@4']);
    });

    it('when a version of a stream never reaches the stream, then it is read from the store before the next one', async () => {
      const f = await setUp();
      const logger = { warn: vi.fn(), error: vi.fn() };
      const runner = f.runner({ logger });
      await runner.start();
      await appendSome(f.store, 1, 1);
      await runner.catchUp({ streamId: 'src-0', version: 1 });
      await f.relay.stop();
      await f.store.appendToStream('src-0', [{ type: 'Odd', data: {} }], { expectedVersion: 1 });
      await f.store.appendToStream('src-0', [{ type: 'Even', data: {} }], { expectedVersion: 2 });
      // Version 2's publication is lost.
      await f.store.removeOutboxEntries(['src-0@2']);
      await f.relay.flush();

      await runner.catchUp({ streamId: 'src-0', version: 3 });
      expect(f.projection.handled).toEqual(['src-0@1', 'src-0@2', 'src-0@3']);
      expect(await StreamSummaryProjection.snapshot(f.db)).toMatchObject([{ lastVersion: 3, types: ['Even', 'Odd', 'Even'] }]);
      expect(logger.warn).toHaveBeenCalledWith(expect.objectContaining({ streamId: 'src-0', fromVersion: 2, toVersion: 2 }), 'filled a gap in the stream from the store');
    });

    it("when another log's events share the stream, then they are ignored", async () => {
      const f = await setUp();
      const other = await setUp({ streamName: f.streamName });
      const runner = f.runner();
      await runner.start();
      await appendSome(other.store, 2, 3);
      await appendSome(f.store, 1, 2);
      await appendSome(other.store, 2, 1);
      await Promise.all([f.relay.flush(), other.relay.flush()]);
      expect(await runner.catchUp()).toBe(10);
      expect(f.projection.handled).toEqual(['src-0@1', 'src-0@2']);
      expect(await StreamSummaryProjection.snapshot(f.db)).toMatchObject([{ _id: 'src-0', lastVersion: 2 }]);
      expect(await StreamSummaryProjection.snapshot(other.db)).toEqual([]);
    });
  });

  describe('given a log with history and no checkpoint (a cold start)', () => {
    it('then it replays the log from MongoDB and follows the stream, missing nothing and applying nothing twice', async () => {
      const f = await setUp();
      // Relayed already, and in the log but not relayed yet when the runner starts.
      await appendSome(f.store, 10, 5, { perAppend: 2 });
      await f.relay.flush();
      await f.relay.stop();
      await appendSome(f.store, 10, 2);
      const logger = { warn: vi.fn(), error: vi.fn(), info: vi.fn() };
      const runner = f.runner({ logger });
      await runner.start();
      // Appended while it replays, relayed as it follows.
      const during = appendSome(f.store, 10, 3, { prefix: 'new' });
      await f.relay.start();
      await appendSome(f.store, 10, 2);
      await during;
      await f.relay.flush();
      await runner.catchUp();

      const byStream = versionsByStream(f.projection.handled);
      expect(byStream.size).toBe(20);
      for (const [streamId, versions] of byStream) expect(versions, streamId).toEqual(range(1, streamId.startsWith('new') ? 3 : 9));
      expect(logger.info).toHaveBeenCalledWith(expect.objectContaining({ name: f.projection.name }), expect.stringContaining('cold start'));
      expect(logger.error).not.toHaveBeenCalled();
    });

    it('when the checkpoint is older than the first message the stream still holds, then it starts cold again', async () => {
      const f = await setUp();
      const runner = f.runner();
      await runner.start();
      await appendSome(f.store, 2, 2);
      await f.relay.flush();
      await runner.catchUp();
      await runner.stop();
      await f.db.collection(PROJECTION_CHECKPOINTS).updateOne({ _id: f.projection.name as never }, { $set: { sequence: 1 } });
      // The stream lost its first messages (max_age, or a purge).
      await jsm.streams.purge(f.streamName, { keep: 1 });

      const logger = { warn: vi.fn(), error: vi.fn() };
      const again = new StreamSummaryProjection();
      const restarted = f.runner({ projection: again, logger });
      await restarted.catchUp();
      expect(logger.warn).toHaveBeenCalledWith(expect.objectContaining({ checkpoint: 1 }), expect.stringContaining('replaying the log'));
      expect([...versionsByStream(again.handled).values()]).toEqual([range(1, 2), range(1, 2)]);
      expect(await restarted.checkpoint()).toBe(4);
    });
  });

  describe('when events trickle in and the reader keeps catching up', () => {
    it('then the checkpoint is saved at most every checkpointIntervalMs, and at once when asked for or at stop', async () => {
      const f = await setUp();
      const runner = f.runner({ checkpointIntervalMs: 60_000 });
      await runner.start();
      const saved = async () => ((await f.db.collection(PROJECTION_CHECKPOINTS).findOne({ _id: f.projection.name as never })) as { sequence?: number } | null)?.sequence;
      // The start saved where it began (an empty stream): the next save waits for the interval.
      await vi.waitFor(async () => expect(await saved()).toBe(0), { timeout: 5_000 });
      for (let version = 1; version <= 6; version++) {
        await f.store.appendToStream('src-0', [{ type: 'Even', data: {} }], { expectedVersion: version - 1 });
        await runner.catchUp({ streamId: 'src-0', version });
      }
      await sleep(300);
      expect(await saved()).toBe(0);
      expect(await runner.checkpoint()).toBe(6);
      await f.store.appendToStream('src-0', [{ type: 'Even', data: {} }], { expectedVersion: 6 });
      await runner.catchUp({ streamId: 'src-0', version: 7 });
      await runner.stop();
      expect(await saved()).toBe(7);
    });
  });

  describe('when apply fails on an event', () => {
    it('then catchUp rejects, the checkpoint stays just before that event, and a later catchUp applies it', async () => {
      const f = await setUp();
      f.projection.failOn('src-0', 3);
      const logger = { warn: vi.fn(), error: vi.fn() };
      const runner = f.runner({ logger, retryDelayMs: 2_000, batchSize: 1 });
      await runner.start();
      await appendSome(f.store, 1, 5);
      await f.relay.flush();

      await expect(runner.catchUp({ streamId: 'src-0', version: 5 })).rejects.toThrow('injected failure at src-0@3');
      expect(await runner.checkpoint()).toBe(2);
      expect(logger.error).toHaveBeenCalledWith(expect.objectContaining({ name: f.projection.name, streamId: 'src-0', version: 3 }), expect.any(String));

      // The reader retries it by itself; catchUp keeps failing until then.
      expect(await vi.waitFor(() => runner.catchUp(), { timeout: 10_000, interval: 200 })).toBe(5);
      expect(f.projection.handled).toEqual(['src-0@1', 'src-0@2', 'src-0@3', 'src-0@3', 'src-0@4', 'src-0@5']);
      expect(await StreamSummaryProjection.snapshot(f.db)).toMatchObject([{ lastVersion: 5 }]);
    });

    it('then the background loop logs it and retries it, with backoff, skipping nothing', async () => {
      const f = await setUp();
      f.projection.failOn('src-1', 2, 3);
      const logger = { warn: vi.fn(), error: vi.fn() };
      const runner = f.runner({ logger, retryDelayMs: 20 });
      await runner.start();
      await appendSome(f.store, 2, 3);
      await f.relay.flush();
      await vi.waitFor(() => expect(f.projection.handled.filter((key) => key === 'src-1@3')).toHaveLength(1), { timeout: 10_000 });
      await runner.catchUp();
      expect(logger.error).toHaveBeenCalledTimes(3);
      const byStream = versionsByStream(f.projection.handled);
      expect(byStream.get('src-0')).toEqual(range(1, 3));
      expect(byStream.get('src-1')).toEqual([1, 2, 2, 2, 2, 3]);
      expect(await StreamSummaryProjection.snapshot(f.db)).toMatchObject([{ lastVersion: 3 }, { lastVersion: 3 }]);
    });
  });

  describe('when catchUp cannot get there', () => {
    it('then it fails after its timeout, naming what it waited for', async () => {
      const f = await setUp();
      const runner = f.runner({ catchUpTimeoutMs: 300 });
      await runner.start();
      await expect(runner.catchUp({ streamId: 'src-9', version: 1 })).rejects.toThrow('not caught up to src-9@1: not handled within 300 ms');
    });
  });

  describe('when stop is called while following', () => {
    it('then it resolves promptly and no more events are applied', async () => {
      const f = await setUp();
      const runner = f.runner();
      await runner.start();
      const started = Date.now();
      await runner.stop();
      expect(Date.now() - started).toBeLessThan(1_000);
      await appendSome(f.store, 1, 1);
      await f.relay.flush();
      await sleep(200);
      expect(f.projection.handled).toEqual([]);
      expect(await runner.checkpoint()).toBe(0);
    });
  });
});
