import { uniqueDbName } from '@s1c/test-harness';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Db } from 'mongodb';
import { nanos } from 'nats';
import { describe, expect, it, vi } from 'vitest';
import { type RecordedEvent } from './event.types';
import { MongoEventStore } from './mongo.event-store';
import { EVENT_HEADERS, OutboxRelay, type RelayedEventPayload } from './outbox.relay';
import { useServers } from './testing/servers.fixture';

const servers = useServers();

interface Fixture {
  db: Db;
  store: MongoEventStore;
  streamName: string;
  relay(options?: { batchSize?: number; pollIntervalMs?: number }): OutboxRelay;
}

async function setUp(duplicateWindowMs = 120_000): Promise<Fixture> {
  const db = servers.mongo.db();
  const store = new MongoEventStore(db, { outboxGraceMs: 300 });
  const streamName = uniqueDbName('evt');
  await servers.jsm.streams.add({ name: streamName, subjects: [`${streamName}.>`], duplicate_window: nanos(duplicateWindowMs) });
  const subjectFor = (event: RecordedEvent) => `${streamName}.${event.streamId}.${event.type}`;
  return { db, store, streamName, relay: (options = {}) => new OutboxRelay(store, db, servers.js, servers.jsm, { name: 'domain', streamName, subjectFor, ...options }) };
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
  const info = await servers.jsm.streams.info(streamName);
  const out: Published[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const msg = await servers.jsm.streams.getMessage(streamName, { seq });
    out.push({
      seq,
      msgId: msg.header.get('Nats-Msg-Id'),
      position: Number(msg.header.get(EVENT_HEADERS.position)),
      payload: msg.json<RelayedEventPayload>(),
    });
  }
  return out;
}

async function logOf(store: MongoEventStore): Promise<RecordedEvent[]> {
  const events: RecordedEvent[] = [];
  for await (const batch of store.readLog()) events.push(...batch);
  return events;
}

/** Every event published once, with its position, and each stream's events in version order. */
function expectExactlyOnce(published: Published[], events: RecordedEvent[]): void {
  const byId = new Map(events.map((e) => [e.eventId, e]));
  expect(published.map((p) => p.msgId).sort()).toEqual(events.map((e) => e.eventId).sort());
  for (const p of published) expect(p.position).toBe(byId.get(p.msgId!)?.position);
  const versions = new Map<string, number[]>();
  for (const p of published) versions.set(p.payload.streamId, [...(versions.get(p.payload.streamId) ?? []), p.payload.version]);
  for (const list of versions.values()) expect(list).toEqual([...list].sort((a, b) => a - b));
}

describe('OutboxRelay', () => {
  describe('given events in the log', () => {
    it('when the relay flushes, then each is published once, each stream in version order, with msg id and headers', async () => {
      const f = await setUp();
      await appendEvents(f.store, 10);
      const relay = f.relay({ batchSize: 4 });
      await relay.flush();

      const events = await logOf(f.store);
      const published = await publishedMessages(f.streamName);
      expectExactlyOnce(published, events);
      const first = await servers.jsm.streams.getMessage(f.streamName, { seq: 1 });
      expect(first.subject).toBe(`${f.streamName}.s0.Happened`);
      expect(first.header.get(EVENT_HEADERS.streamId)).toBe('s0');
      expect(first.header.get(EVENT_HEADERS.version)).toBe('1');
      expect(first.header.get(EVENT_HEADERS.type)).toBe('Happened');
      expect(first.header.get(EVENT_HEADERS.logId)).toBe(await f.store.logId());
      expect(published[0]?.payload).toEqual({ ...events[0], time: events[0]?.time.toISOString() });
      // Published entries leave the outbox.
      expect(await f.store.outboxEntries(100)).toEqual([]);
    });
  });

  describe('given a running relay', () => {
    it('when an event is appended in its process, then it is published without waiting for the poll', async () => {
      const f = await setUp();
      const relay = f.relay({ pollIntervalMs: 60_000 });
      await relay.start();
      try {
        await appendEvents(f.store, 1);
        await vi.waitFor(async () => expect(await publishedMessages(f.streamName)).toHaveLength(1), { timeout: 5000 });
      } finally {
        await relay.stop();
      }
    });

    it('when another process appends, then the poll publishes it', async () => {
      const f = await setUp();
      const relay = f.relay({ pollIntervalMs: 50 });
      await relay.start();
      try {
        // Another store instance on the same database: its appends do not wake this relay.
        await appendEvents(new MongoEventStore(f.db), 3);
        await vi.waitFor(async () => expect(await publishedMessages(f.streamName)).toHaveLength(3), { timeout: 5000 });
      } finally {
        await relay.stop();
      }
    });
  });

  describe('when the relay is stopped mid-way and a new one starts', () => {
    it('then the rest is published and nothing twice', async () => {
      const f = await setUp();
      await appendEvents(f.store, 6);
      const first = f.relay({ batchSize: 2 });
      await first.start();
      await vi.waitFor(async () => expect((await publishedMessages(f.streamName)).length).toBeGreaterThanOrEqual(2));
      await first.stop();
      await appendEvents(f.store, 6);

      const second = f.relay({ batchSize: 2 });
      await second.start();
      await vi.waitFor(async () => expect(await f.store.outboxEntries(100)).toEqual([]));
      await second.stop();
      expectExactlyOnce(await publishedMessages(f.streamName), await logOf(f.store));
    });
  });

  describe('when the relay crashed after publishing but before deleting the entries', () => {
    it('then within the dedupe window the re-publish is dropped by JetStream and the entries go', async () => {
      const f = await setUp();
      await appendEvents(f.store, 5);
      const entries = await f.store.outboxEntries(100);
      await f.relay().flush();
      // Put the published entries back, as if the crash came before their deletion.
      const outbox = f.db.collection('event_outbox');
      const commits = f.db.collection('event_outbox_commits');
      for (const { committed: _, ...entry } of entries) {
        await outbox.insertOne(entry as never);
        await commits.insertOne({ _id: entry._id, at: new Date() } as never);
      }
      await f.relay().flush();
      expect((await servers.jsm.streams.info(f.streamName)).state.messages).toBe(5);
      expect(await f.store.outboxEntries(100)).toEqual([]);
    });
  });

  describe('given a writer that died between its outbox entry and its events', () => {
    it('when the grace period passes, then the relay stores and publishes its events, and holds back later versions until then', async () => {
      const f = await setUp();
      await appendEvents(f.store, 1); // s0@1
      const ghost = {
        _id: 's0@2',
        streamId: 's0',
        at: new Date(),
        events: [{ _id: 's0@2', eventId: 'ghost-1', streamId: 's0', version: 2, position: Date.now() * 1000, type: 'Happened', data: { ghost: true }, metadata: {}, time: new Date() }],
      };
      await f.db.collection('event_outbox').insertOne(ghost as never);
      // A writer that read the ghost's version as free would collide on the outbox entry: a ConcurrencyError, no event.
      await expect(f.store.appendToStream('s0', [{ type: 'Happened', data: {} }], { expectedVersion: 1 })).rejects.toThrow(/another writer/);

      const relay = f.relay();
      await relay.flush();
      // Only s0@1 so far: the uncommitted entry of s0@2 is still within its grace.
      expect((await publishedMessages(f.streamName)).map((p) => p.payload.version)).toEqual([1]);
      await sleep(400);
      await relay.flush();
      const published = await publishedMessages(f.streamName);
      expect(published.map((p) => [p.payload.version, p.msgId])).toEqual([
        [1, published[0]?.msgId],
        [2, 'ghost-1'],
      ]);
      expect((await f.store.readStream('s0')).map((e) => e.eventId).at(-1)).toBe('ghost-1');
      expect(await f.store.outboxEntries(100)).toEqual([]);
    });

    it('when another writer took the version meanwhile, then the abandoned entry is dropped and nothing of it is published', async () => {
      const f = await setUp();
      await appendEvents(f.store, 1); // s0@1
      await f.relay().flush();
      // The ghost wrote its outbox entry for s0@2 under another id (a two-event append from s0@2 that lost on s0@2).
      await f.store.appendToStream('s0', [{ type: 'Happened', data: { winner: true } }], { expectedVersion: 1 });
      const ghost = {
        _id: 'ghost-entry',
        streamId: 's0',
        at: new Date(Date.now() - 10_000),
        events: [{ _id: 's0@2', eventId: 'ghost-2', streamId: 's0', version: 2, position: 1, type: 'Happened', data: {}, metadata: {}, time: new Date() }],
      };
      await f.db.collection('event_outbox').insertOne(ghost as never);
      await f.relay().flush();
      const published = await publishedMessages(f.streamName);
      expect(published.map((p) => p.msgId)).not.toContain('ghost-2');
      expect(published.map((p) => p.payload.data)).toEqual([{ i: 0 }, { winner: true }]);
      expect(await f.store.outboxEntries(100)).toEqual([]);
    });
  });
});

describe('OutboxRelay given an event it cannot publish', () => {
  it('then that entry stays in the outbox, is reported, and the other entries are published and removed', async () => {
    const f = await setUp();
    await appendEvents(f.store, 3); // s0, s1, s2
    await f.store.appendToStream('unmapped', [{ type: 'Happened', data: {} }], { expectedVersion: 'no_stream' });
    const logger = { warn: vi.fn(), error: vi.fn() };
    const relay = new OutboxRelay(f.store, f.db, servers.js, servers.jsm, {
      name: 'domain',
      streamName: f.streamName,
      subjectFor: (event) => {
        if (event.streamId === 'unmapped') throw new Error('no relay subject for stream unmapped');
        return `${f.streamName}.${event.streamId}.${event.type}`;
      },
      logger,
    });
    await relay.flush();
    expect((await publishedMessages(f.streamName)).map((p) => p.payload.streamId).sort()).toEqual(['s0', 's1', 's2']);
    expect((await f.store.outboxEntries(100)).map((e) => e._id)).toEqual(['unmapped@1']);
    expect(logger.error).toHaveBeenCalledWith(expect.objectContaining({ failed: 1 }), expect.any(String));
  });
});

describe('OutboxRelay with two logs on one stream', () => {
  it('then each relay publishes its own log once, each message naming its log', async () => {
    const a = await setUp();
    // A second log (another database) relaying into the same JetStream stream.
    const otherDb = servers.mongo.db();
    const other = new MongoEventStore(otherDb);
    const subjectFor = (event: RecordedEvent) => `${a.streamName}.${event.streamId}.${event.type}`;
    const otherRelay = new OutboxRelay(other, otherDb, servers.js, servers.jsm, { name: 'domain', streamName: a.streamName, subjectFor });

    await appendEvents(a.store, 3);
    await a.relay().flush();
    await appendEvents(other, 20);
    await otherRelay.flush();
    await appendEvents(a.store, 4);
    await a.relay().flush();

    const events = (await logOf(a.store)).map((e) => e.eventId);
    const logA = await a.store.logId();
    const mine = (await publishedMessages(a.streamName)).filter((p) => events.includes(p.msgId ?? ''));
    expect(mine.map((p) => p.msgId).sort()).toEqual([...events].sort());
    expect(new Set(mine.map((p) => p.msgId)).size).toBe(7);
    for (const p of mine) expect((await servers.jsm.streams.getMessage(a.streamName, { seq: p.seq })).header.get(EVENT_HEADERS.logId)).toBe(logA);
    expect(logA).not.toBe(await other.logId());
  });
});
