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
  relay(options?: { pollIntervalMs?: number; recover?: boolean }): OutboxRelay;
}

const GRACE_MS = 300;

async function setUp(duplicateWindowMs = 120_000): Promise<Fixture> {
  const db = servers.mongo.db();
  const store = new MongoEventStore(db, { outboxGraceMs: GRACE_MS });
  const streamName = uniqueDbName('evt');
  await servers.jsm.streams.add({ name: streamName, subjects: [`${streamName}.>`], duplicate_window: nanos(duplicateWindowMs) });
  const subjectFor = (event: RecordedEvent) => `${streamName}.${event.streamId}.${event.type}`;
  return { db, store, streamName, relay: (options = {}) => new OutboxRelay(store, db, servers.js, servers.jsm, { name: 'domain', streamName, subjectFor, ...options }) };
}

/** The name of an outbox bucket of a writer that is not this process, started `ageMs` ago. */
function deadWritersBucket(ageMs: number): string {
  const start = Date.now() - ageMs;
  return `event_outbox_0123456789ab_${start - (start % GRACE_MS)}`;
}

function eventDoc(streamId: string, version: number, eventId: string, data: unknown = {}) {
  return { _id: `${streamId}@${version}`, eventId, streamId, version, position: Date.now() * 1000, type: 'Happened', data, metadata: {}, time: new Date() };
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
  describe('given a started relay', () => {
    it('when its store appends, then each event is published at once, once, each stream in version order, with msg id and headers', async () => {
      const f = await setUp();
      const relay = f.relay({ pollIntervalMs: 60_000 });
      await relay.start();
      try {
        await appendEvents(f.store, 10);
        await vi.waitFor(async () => expect(await publishedMessages(f.streamName)).toHaveLength(10), { timeout: 5000 });
      } finally {
        await relay.stop();
      }
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
    });

    it("when a bucket's period is over and all of it is published, then its writer drops it, without reading it", async () => {
      const f = await setUp();
      const relay = f.relay({ recover: false });
      await relay.start();
      try {
        await appendEvents(f.store, 3);
        expect((await f.store.outboxNames()).length).toBeGreaterThan(0);
        await vi.waitFor(async () => expect(await f.store.outboxNames()).toEqual([]), { timeout: 5000 });
        expect(await publishedMessages(f.streamName)).toHaveLength(3);
      } finally {
        await relay.stop();
      }
    });
  });

  describe('when appends are stored while no relay runs, and one starts', () => {
    it('then they are published, and nothing twice', async () => {
      const f = await setUp();
      const first = f.relay();
      await first.start();
      await appendEvents(f.store, 6);
      await first.stop();
      await appendEvents(f.store, 6);
      expect(await publishedMessages(f.streamName)).toHaveLength(6);

      const second = f.relay();
      await second.start();
      await second.flush();
      await second.stop();
      expectExactlyOnce(await publishedMessages(f.streamName), await logOf(f.store));
    });
  });

  describe('given a writer that died after storing its events, before publishing them', () => {
    it('when its bucket is past the grace, then the relay publishes them and drops the bucket; before, it leaves it', async () => {
      const f = await setUp();
      // Another store instance without a relay: it stores, never publishes.
      const dead = new MongoEventStore(f.db, { outboxGraceMs: GRACE_MS });
      await appendEvents(dead, 4);
      const relay = f.relay();
      await relay.flush();
      expect(await publishedMessages(f.streamName)).toHaveLength(0);
      await sleep(3 * GRACE_MS);
      await relay.flush();
      expectExactlyOnce(await publishedMessages(f.streamName), await logOf(f.store));
      expect(await f.store.outboxNames()).toEqual([]);
    });

    it("when other writers' events are in the log around its own, then the recovery publishes only the bucket's events", async () => {
      const f = await setUp();
      const live = f.relay({ recover: false });
      await live.start();
      const dead = new MongoEventStore(f.db, { outboxGraceMs: GRACE_MS });
      await appendEvents(f.store, 3);
      await appendEvents(dead, 3);
      await appendEvents(f.store, 3);
      await live.flush();
      await live.stop();
      const before = (await publishedMessages(f.streamName)).map((p) => p.msgId);
      expect(before).toHaveLength(6);
      expect((await f.store.outboxNames()).every((name) => name.includes(dead.writerId))).toBe(true);

      await sleep(3 * GRACE_MS);
      await f.relay().flush();
      const after = await publishedMessages(f.streamName);
      expect(after.slice(0, 6).map((p) => p.msgId)).toEqual(before);
      const deadEvents = (await f.db.collection<{ eventId: string; outbox: string }>('events').find({}).toArray()).filter((e) => e.outbox.startsWith(dead.writerId));
      expect(after.slice(6).map((p) => p.msgId).sort()).toEqual(deadEvents.map((e) => e.eventId).sort());
      // Each once; the dead writer's versions come after the live writer's later ones (readers fill such gaps from the log).
      expect(after.map((p) => p.msgId).sort()).toEqual((await logOf(f.store)).map((e) => e.eventId).sort());
      expect(await f.store.outboxNames()).toEqual([]);
    });

    it('when it died before storing the events of a bucket it had opened, then the recovery publishes nothing and drops the bucket', async () => {
      const f = await setUp();
      const name = deadWritersBucket(3 * GRACE_MS);
      await f.db.collection(name).insertOne({ _id: '$bucket', from: 0, at: new Date() } as never);
      const logger = { warn: vi.fn(), error: vi.fn() };
      await new OutboxRelay(f.store, f.db, servers.js, servers.jsm, { name: 'domain', streamName: f.streamName, subjectFor: (e) => `${f.streamName}.${e.streamId}`, logger }).flush();
      expect(await publishedMessages(f.streamName)).toEqual([]);
      expect(await f.store.outboxNames()).toEqual([]);
      expect(logger.warn).toHaveBeenCalledWith(expect.objectContaining({ outbox: name, published: 0 }), 'recovered an abandoned outbox');
    });

    it('when it had published some of them (a bucket of the versions before session 23, an entry per append), then the relay publishes the rest, and JetStream drops the repeats', async () => {
      const f = await setUp();
      const relay = f.relay({ recover: false });
      await relay.start();
      await appendEvents(f.store, 5);
      await relay.stop();
      // Put the published appends back in a dead writer's bucket, with one never published.
      const bucket = f.db.collection(deadWritersBucket(3 * GRACE_MS));
      const published = await logOf(f.store);
      await bucket.insertMany(published.map((e) => ({ _id: e.eventId, streamId: e.streamId, events: [eventDoc(e.streamId, e.version, e.eventId, e.data)], at: new Date() })) as never);
      await f.db.collection('events').insertOne(eventDoc('s9', 1, 'unpublished') as never);
      await bucket.insertOne({ _id: 'unpublished', streamId: 's9', events: [eventDoc('s9', 1, 'unpublished')], at: new Date() } as never);

      await f.relay().flush();
      const messages = await publishedMessages(f.streamName);
      expect(messages).toHaveLength(6);
      expect(messages.at(-1)?.msgId).toBe('unpublished');
      expect(await f.store.outboxNames()).toEqual([]);
    });
  });

  describe('given a writer that cannot publish (no stream takes its subjects)', () => {
    it('then its stop returns within its timeout, its bucket stays, and a recovery publishes it once the grace is past', async () => {
      const f = await setUp();
      const logger = { warn: vi.fn(), error: vi.fn() };
      const stranded = new OutboxRelay(f.store, f.db, servers.js, servers.jsm, { name: 'stranded', streamName: f.streamName, subjectFor: (e) => `nowhere.${e.streamId}`, recover: false, stopTimeoutMs: 300, logger });
      await stranded.start();
      await appendEvents(f.store, 2);
      const stopping = Date.now();
      await stranded.stop();
      expect(Date.now() - stopping).toBeLessThan(2000);
      expect(logger.error).toHaveBeenCalledWith(expect.objectContaining({ name: 'stranded' }), 'publishing appended events failed; trying again');
      expect(logger.warn).toHaveBeenCalledWith({ name: 'stranded' }, expect.stringContaining('left for a recovery'));
      expect((await f.store.outboxNames()).length).toBeGreaterThan(0);

      await sleep(3 * GRACE_MS);
      await f.relay().flush();
      expectExactlyOnce(await publishedMessages(f.streamName), await logOf(f.store));
      expect(await f.store.outboxNames()).toEqual([]);
    });
  });

  describe('given a writer of the versions before session 23 that died between its outbox entry and its events', () => {
    it('when its bucket is past the grace, then the relay stores and publishes its events', async () => {
      const f = await setUp();
      const logger = { warn: vi.fn(), error: vi.fn() };
      const relay = new OutboxRelay(f.store, f.db, servers.js, servers.jsm, { name: 'domain', streamName: f.streamName, subjectFor: (e) => `${f.streamName}.${e.streamId}.${e.type}`, logger, pollIntervalMs: 60_000 });
      await relay.start();
      await appendEvents(f.store, 1); // s0@1
      await f.db.collection(deadWritersBucket(3 * GRACE_MS)).insertOne({ _id: 'ghost-1', streamId: 's0', at: new Date(), events: [eventDoc('s0', 2, 'ghost-1', { ghost: true })] } as never);
      await relay.flush();
      await relay.stop();
      const published = await publishedMessages(f.streamName);
      expect(published.map((p) => [p.payload.version, p.msgId])).toEqual([
        [1, published[0]?.msgId],
        [2, 'ghost-1'],
      ]);
      expect((await f.store.readStream('s0')).map((e) => e.eventId).at(-1)).toBe('ghost-1');
      expect(logger.warn).toHaveBeenCalledWith(expect.objectContaining({ streamId: 's0', fromVersion: 2, stored: 1 }), 'completed an append its writer left unstored');
      expect(await f.store.outboxNames()).toEqual([]);
    });

    it('when another writer took the version meanwhile, then nothing of the abandoned entry is stored or published', async () => {
      const f = await setUp();
      const relay = f.relay();
      await relay.start();
      await appendEvents(f.store, 1); // s0@1
      await f.store.appendToStream('s0', [{ type: 'Happened', data: { winner: true } }], { expectedVersion: 1 });
      await relay.stop();
      await f.db.collection(deadWritersBucket(3 * GRACE_MS)).insertOne({ _id: 'ghost-2', streamId: 's0', at: new Date(), events: [eventDoc('s0', 2, 'ghost-2'), eventDoc('s0', 3, 'ghost-3')] } as never);
      await f.relay().flush();
      const published = await publishedMessages(f.streamName);
      expect(published.map((p) => p.payload.data)).toEqual([{ i: 0 }, { winner: true }]);
      expect(await f.store.streamVersion('s0')).toBe(2);
      expect(await f.store.outboxNames()).toEqual([]);
    });
  });

  describe('given the outbox of versions before buckets, with entries and commit markers', () => {
    it('then entries past the grace are published and removed, younger ones are left to their writer, and the emptied outbox is dropped', async () => {
      const f = await setUp();
      const docs = [eventDoc('old', 1, 'old-1'), eventDoc('old', 2, 'old-2')];
      await f.db.collection('events').insertMany(docs as never);
      await f.db.collection('event_outbox').insertMany([
        { _id: 'old@1', streamId: 'old', at: new Date(Date.now() - 60_000), events: [docs[0]] },
        { _id: 'old@2', streamId: 'old', at: new Date(), events: [docs[1]] },
      ] as never);
      await f.db.collection('event_outbox_commits').insertMany([{ _id: 'old@1', at: new Date(Date.now() - 60_000) }, { _id: 'old@2', at: new Date() }] as never);
      const relay = f.relay();
      await relay.flush();
      expect((await publishedMessages(f.streamName)).map((p) => p.msgId)).toEqual(['old-1']);
      expect((await f.store.outboxEntries()).map((e) => e._id)).toEqual(['old@2']);
      await sleep(GRACE_MS + 50);
      await relay.flush();
      expect((await publishedMessages(f.streamName)).map((p) => p.msgId)).toEqual(['old-1', 'old-2']);
      const names = (await f.db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
      expect(names).not.toContain('event_outbox');
      expect(await f.db.collection('event_outbox_commits').countDocuments()).toBe(0);
    });
  });
});

describe('OutboxRelay given an event it cannot publish', () => {
  it('then it is reported and skipped, and the other events are published', async () => {
    const f = await setUp();
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
    await relay.start();
    try {
      await f.store.appendToStream('unmapped', [{ type: 'Happened', data: {} }], { expectedVersion: 'no_stream' });
      await appendEvents(f.store, 3); // s0, s1, s2
      await relay.flush();
    } finally {
      await relay.stop();
    }
    expect((await publishedMessages(f.streamName)).map((p) => p.payload.streamId).sort()).toEqual(['s0', 's1', 's2']);
    expect(logger.error).toHaveBeenCalledWith(expect.objectContaining({ streamId: 'unmapped', version: 1 }), expect.stringContaining('no subject'));
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
    const relayA = a.relay();
    await relayA.start();
    await otherRelay.start();
    try {
      await appendEvents(a.store, 3);
      await appendEvents(other, 20);
      await appendEvents(a.store, 4);
      await relayA.flush();
      await otherRelay.flush();
    } finally {
      await relayA.stop();
      await otherRelay.stop();
    }

    const events = (await logOf(a.store)).map((e) => e.eventId);
    const logA = await a.store.logId();
    const mine = (await publishedMessages(a.streamName)).filter((p) => events.includes(p.msgId ?? ''));
    expect(mine.map((p) => p.msgId).sort()).toEqual([...events].sort());
    expect(new Set(mine.map((p) => p.msgId)).size).toBe(7);
    for (const p of mine) expect((await servers.jsm.streams.getMessage(a.streamName, { seq: p.seq })).header.get(EVENT_HEADERS.logId)).toBe(logA);
    expect(logA).not.toBe(await other.logId());
  });
});
