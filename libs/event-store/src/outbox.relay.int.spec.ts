import { serverUrls, uniqueDbName } from '@s1c/test-harness';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Db } from 'mongodb';
import { connect, nanos, type JetStreamClient, type JetStreamManager, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type RecordedEvent } from './event.types';
import { MongoEventStore } from './mongo.event-store';
import { EVENT_HEADERS, OutboxRelay, type RelayedEventPayload } from './outbox.relay';
import { connectMongo, type MongoFixture } from './testing/mongo.fixture';

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

interface Fixture {
  db: Db;
  store: MongoEventStore;
  streamName: string;
  relay(options?: { batchSize?: number }): OutboxRelay;
}

async function setUp(duplicateWindowMs = 120_000): Promise<Fixture> {
  const db = mongo.db();
  const store = new MongoEventStore(db, { gapTimeoutMs: 200 });
  const streamName = uniqueDbName('evt');
  await jsm.streams.add({ name: streamName, subjects: [`${streamName}.>`], duplicate_window: nanos(duplicateWindowMs) });
  const subjectFor = (event: RecordedEvent) => `${streamName}.${event.streamId}.${event.type}`;
  return { db, store, streamName, relay: (options = {}) => new OutboxRelay(store, db, js, jsm, { name: 'domain', streamName, subjectFor, ...options }) };
}

async function appendEvents(store: MongoEventStore, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await store.appendToStream(`s${i % 3}`, [{ type: 'Happened', data: { i } }], { expectedVersion: 'any' });
  }
}

interface Published {
  seq: number;
  msgId: string | undefined;
  position: number;
  payload: RelayedEventPayload;
}

async function publishedMessages(streamName: string): Promise<Published[]> {
  const info = await jsm.streams.info(streamName);
  const out: Published[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const msg = await jsm.streams.getMessage(streamName, { seq });
    out.push({
      seq,
      msgId: msg.header.get('Nats-Msg-Id'),
      position: Number(msg.header.get(EVENT_HEADERS.position)),
      payload: msg.json<RelayedEventPayload>(),
    });
  }
  return out;
}

function expectExactlyOnce(published: Published[], events: RecordedEvent[]): void {
  expect(published.map((p) => p.msgId)).toEqual(events.map((e) => e.eventId));
  expect(published.map((p) => p.position)).toEqual(events.map((e) => e.position));
}

describe('OutboxRelay', () => {
  describe('given events in the log', () => {
    it('when the relay catches up, then each is published once, in position order, with msg id and headers', async () => {
      const f = await setUp();
      await appendEvents(f.store, 10);
      const relay = f.relay({ batchSize: 4 });
      expect(await relay.catchUp()).toBe(10);

      const events = await f.store.readAll({ after: 0, limit: 100 });
      const published = await publishedMessages(f.streamName);
      expectExactlyOnce(published, events);
      const first = await jsm.streams.getMessage(f.streamName, { seq: 1 });
      expect(first.subject).toBe(`${f.streamName}.s0.Happened`);
      expect(first.header.get(EVENT_HEADERS.streamId)).toBe('s0');
      expect(first.header.get(EVENT_HEADERS.version)).toBe('1');
      expect(first.header.get(EVENT_HEADERS.type)).toBe('Happened');
      expect(published[0]?.payload).toEqual({ ...events[0], time: events[0]?.time.toISOString() });
      expect(await relay.checkpoint()).toBe(10);
    });
  });

  describe('when the relay is stopped mid-way and a new one starts', () => {
    it('then the rest is published and nothing twice', async () => {
      const f = await setUp();
      await appendEvents(f.store, 6);
      const first = f.relay({ batchSize: 2 });
      await first.start();
      await vi.waitFor(async () => expect(await first.checkpoint()).toBeGreaterThanOrEqual(2));
      await first.stop();
      await appendEvents(f.store, 6);

      const second = f.relay({ batchSize: 2 });
      await second.start();
      await vi.waitFor(async () => expect(await second.checkpoint()).toBe(12));
      await second.stop();
      expectExactlyOnce(await publishedMessages(f.streamName), await f.store.readAll({ after: 0, limit: 100 }));
    });
  });

  describe('when the relay crashed after publishing but before saving its checkpoint', () => {
    it('then on restart it recovers the position from the stream and republishes nothing, even past the dedupe window', async () => {
      const f = await setUp(200);
      await appendEvents(f.store, 8);
      await f.relay().catchUp();
      await f.db.collection('relay_checkpoints').updateOne({ _id: 'domain' as never }, { $set: { position: 3 } });
      await sleep(300);
      await appendEvents(f.store, 2);

      const logger = { warn: vi.fn(), error: vi.fn() };
      const restarted = new OutboxRelay(f.store, f.db, js, jsm, {
        name: 'domain',
        streamName: f.streamName,
        subjectFor: (e) => `${f.streamName}.${e.streamId}.${e.type}`,
        logger,
      });
      await restarted.start();
      expect(logger.warn).toHaveBeenCalledWith(expect.objectContaining({ saved: 3, published: 8 }), expect.any(String));
      await vi.waitFor(async () => expect(await restarted.checkpoint()).toBe(10));
      await restarted.stop();
      expectExactlyOnce(await publishedMessages(f.streamName), await f.store.readAll({ after: 0, limit: 100 }));
    });

    it('then within the dedupe window a re-publish of the same events is dropped by JetStream', async () => {
      const f = await setUp();
      await appendEvents(f.store, 5);
      await f.relay().catchUp();
      await f.db.collection('relay_checkpoints').updateOne({ _id: 'domain' as never }, { $set: { position: 1 } });
      // A second relay that skips recovery: its first batch repeats positions 2..5.
      const events = await f.store.readAll({ after: 1, limit: 100 });
      for (const event of events) {
        const ack = await js.publish(`${f.streamName}.${event.streamId}.${event.type}`, new Uint8Array(), { msgID: event.eventId });
        expect(ack.duplicate).toBe(true);
      }
      expect((await jsm.streams.info(f.streamName)).state.messages).toBe(5);
    });
  });

  describe('given placeholders filling gaps in the log', () => {
    it('when relaying, then placeholders are not published and the checkpoint moves past them', async () => {
      const f = await setUp();
      await appendEvents(f.store, 2);
      await f.db.collection<{ _id: string; value: number }>('event_counters').updateOne({ _id: 'position' }, { $inc: { value: 2 } });
      await appendEvents(f.store, 1);
      expect(await f.relay().catchUp()).toBe(5);
      const published = await publishedMessages(f.streamName);
      expect(published.map((p) => p.position)).toEqual([1, 2, 5]);
    });
  });
});

describe('OutboxRelay with two logs on one stream', () => {
  it('when another log published later (higher positions), then a restarted relay still publishes all of its own events once', async () => {
    const a = await setUp();
    // A second log (another database) relaying into the same JetStream stream.
    const otherDb = mongo.db();
    const other = new MongoEventStore(otherDb, { gapTimeoutMs: 200 });
    const subjectFor = (event: RecordedEvent) => `${a.streamName}.${event.streamId}.${event.type}`;
    const otherRelay = new OutboxRelay(other, otherDb, js, jsm, { name: 'domain', streamName: a.streamName, subjectFor });

    await appendEvents(a.store, 3);
    const relayA = a.relay();
    await relayA.catchUp();
    await relayA.stop();

    await appendEvents(other, 20);
    await otherRelay.catchUp();
    await otherRelay.stop();

    await appendEvents(a.store, 4);
    const restartedA = a.relay();
    await restartedA.start();
    await restartedA.catchUp();
    await restartedA.stop();

    const events = (await a.store.readAll({ after: 0, limit: 100 })).map((e) => e.eventId);
    const mine = (await publishedMessages(a.streamName)).filter((p) => events.includes(p.msgId ?? ''));
    expect(mine.map((p) => p.msgId).sort()).toEqual([...events].sort());
    expect(new Set(mine.map((p) => p.msgId)).size).toBe(7);
    const logIds = new Set((await Promise.all([a.store.logId(), other.logId()])));
    expect(logIds.size).toBe(2);
  });
});
