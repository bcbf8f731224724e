import { serverUrls, uniqueDbName } from '@s1c/test-harness';
import { deflateRawSync } from 'node:zlib';
import { Binary, BSON, MongoClient, type CommandStartedEvent, type Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConcurrencyError, DuplicateEventIdError, InvalidEventDocumentError } from './event-store.errors';
import { DEFLATED_EVENTS_SUBTYPE, MongoEventStore, toRecorded } from './mongo.event-store';
import { connectMongo, type MongoFixture } from './testing/mongo.fixture';

let mongo: MongoFixture;
beforeAll(async () => {
  mongo = await connectMongo();
});
afterAll(async () => {
  await mongo.close();
});

/** An outbox period of an hour: a test's appends all fall in one bucket, but for the rare test crossing an hour. */
const LONG_PERIOD = { outboxGraceMs: 3_600_000 };

function freshStore(): { db: Db; store: MongoEventStore } {
  const db = mongo.db();
  return { db, store: new MongoEventStore(db, LONG_PERIOD) };
}

const MARKER_INSERT = 'insert event_outbox_<bucket>';

/** Commands without the inserts of bucket markers (one per writer and period), which the caller counts apart. */
function withoutMarkers(commands: string[]): string[] {
  return commands.filter((c) => c !== MARKER_INSERT);
}

/** Each event document of the database with the bucket collection its `outbox` names. */
async function bucketsOfEvents(db: Db): Promise<Array<{ _id: string; bucket: string }>> {
  const docs = await db.collection<{ _id: string; outbox?: string }>('events').find({}).sort({ position: 1 }).toArray();
  return docs.map((doc) => ({ _id: doc._id, bucket: `event_outbox_${doc.outbox}` }));
}

describe('MongoEventStore', () => {
  describe('given an empty store', () => {
    it('when events are appended with no_stream, then the stream reads them back with versions and positions', async () => {
      const { db, store } = freshStore();
      const before = Date.now() * 1000;
      const result = await store.appendToStream(
        'source-1',
        [
          { type: 'SourceCreated', data: { name: 'a' }, metadata: { correlationId: 'c1', actor: 'alice' } },
          { type: 'SourceStarted', data: { at: new Date('2025-01-01T00:00:00Z') } },
        ],
        { expectedVersion: 'no_stream' },
      );
      expect(result.nextExpectedVersion).toBe(2);
      const read = await store.readStream('source-1');
      expect(read.map((e) => [e.type, e.version])).toEqual([
        ['SourceCreated', 1],
        ['SourceStarted', 2],
      ]);
      // Positions: the append time in microseconds, ascending within the stream.
      const [p1, p2] = read.map((e) => e.position);
      expect(p1).toBeGreaterThanOrEqual(before);
      expect(p2).toBeGreaterThan(p1!);
      expect(result.lastPosition).toBe(p2);
      // The document's _id is stream@version: a second writer of a version collides on it.
      expect(await db.collection('events').find({}, { projection: { _id: 1 } }).toArray()).toEqual([{ _id: 'source-1@1' }, { _id: 'source-1@2' }]);
      expect(read[0]?.metadata).toEqual({ correlationId: 'c1', actor: 'alice' });
      expect(read[1]?.data).toEqual({ at: new Date('2025-01-01T00:00:00Z') });
      expect(read[0]?.eventId).toMatch(/^[0-9a-f-]{36}$/);
      expect(read).toEqual(result.events);
      expect(await store.streamVersion('source-1')).toBe(2);
      expect(await store.streamVersion('other')).toBe(0);
      expect(await store.readStream('source-1', { fromVersion: 2, toVersion: 2 })).toHaveLength(1);
    });

    it('when ensureIndexes runs twice, then it succeeds and each index exists once', async () => {
      const { db, store } = freshStore();
      await store.ensureIndexes();
      await store.ensureIndexes();
      const indexes = await db.collection('events').indexes();
      expect(indexes.filter((i) => i.unique).map((i) => JSON.stringify(i.key))).toEqual([JSON.stringify({ streamId: 1, version: 1 })]);
      expect(indexes.map((i) => i.name).sort()).toEqual(['_id_', 'log_order', 'stream_version']);
    });

    it('when a log of the first store version has a unique position index, then ensureIndexes replaces it with a plain one', async () => {
      const { db, store } = freshStore();
      await db.collection('events').createIndex({ position: 1 }, { name: 'position', unique: true });
      await store.ensureIndexes();
      const names = (await db.collection('events').indexes()).map((i) => i.name);
      expect(names).not.toContain('position');
      expect(names).toContain('log_order');
    });
  });

  describe('given a stream at version 1', () => {
    it('when appending with a stale expected version, then it throws ConcurrencyError naming the expected version', async () => {
      const { store } = freshStore();
      await store.appendToStream('s', [{ type: 'A', data: {} }], { expectedVersion: 'no_stream' });
      const error = await store.appendToStream('s', [{ type: 'B', data: {} }], { expectedVersion: 0 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConcurrencyError);
      expect(error).toMatchObject({ streamId: 's', expectedVersion: 0 });
      await expect(store.appendToStream('s', [{ type: 'B', data: {} }], { expectedVersion: 'no_stream' })).rejects.toBeInstanceOf(ConcurrencyError);
      const ok = await store.appendToStream('s', [{ type: 'B', data: {} }], { expectedVersion: 1 });
      expect(ok.nextExpectedVersion).toBe(2);
    });

    it('hasEvent says which versions it has, by stream', async () => {
      const { store } = freshStore();
      await store.appendToStream('s', [{ type: 'A', data: {} }], { expectedVersion: 'no_stream' });
      expect(await store.hasEvent('s', 1)).toBe(true);
      expect(await store.hasEvent('s', 2)).toBe(false);
      expect(await store.hasEvent('t', 1)).toBe(false);
    });

    it('when an event id is reused, then it throws DuplicateEventIdError and the stream is unchanged', async () => {
      const { store } = freshStore();
      await store.appendToStream('s', [{ type: 'A', data: {}, eventId: 'e1' }], { expectedVersion: 'no_stream' });
      await expect(store.appendToStream('t', [{ type: 'A', data: {}, eventId: 'e1' }], { expectedVersion: 'any' })).rejects.toBeInstanceOf(
        DuplicateEventIdError,
      );
      expect(await store.streamVersion('t')).toBe(0);
    });
  });

  describe('when many writers append to one stream at the same expected version', () => {
    it('then exactly one wins per version and the others get ConcurrencyError', async () => {
      const { db, store } = freshStore();
      for (let version = 0; version < 3; version++) {
        const attempts = await Promise.allSettled(
          Array.from({ length: 8 }, (_, w) =>
            store.appendToStream('contended', [{ type: 'Tried', data: { w } }], { expectedVersion: version }),
          ),
        );
        const won = attempts.filter((a) => a.status === 'fulfilled');
        const lost = attempts.filter((a): a is PromiseRejectedResult => a.status === 'rejected');
        expect(won).toHaveLength(1);
        expect(lost).toHaveLength(7);
        for (const l of lost) expect(l.reason).toBeInstanceOf(ConcurrencyError);
      }
      const read = await store.readStream('contended');
      expect(read.map((e) => e.version)).toEqual([1, 2, 3]);
      // The winners' events name their writer's bucket; the losers left nothing behind.
      const buckets = await store.outboxNames();
      expect(buckets.length).toBeGreaterThanOrEqual(1);
      for (const { bucket } of await bucketsOfEvents(db)) expect(buckets).toContain(bucket);
      expect(await store.outboxEntries()).toEqual([]);
    });

    it("then 'any' writers all land, in distinct consecutive versions", async () => {
      const { store } = freshStore();
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, w) => store.appendToStream('shared', [{ type: 'Added', data: { w } }], { expectedVersion: 'any' })),
      );
      expect(results.map((r) => r.nextExpectedVersion).sort()).toEqual([1, 2, 3, 4, 5, 6]);
      const read = await store.readStream('shared');
      expect(read.map((e) => e.version)).toEqual([1, 2, 3, 4, 5, 6]);
      const positions = read.map((e) => e.position);
      expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    });
  });

  describe('when event data cannot be stored unchanged', () => {
    it.each([
      ['a key with a dot', { fields: { 'team.name': 'soc' } }, 'events[0].data.fields["team.name"]'],
      ['a key starting with $', { $x: 1 }, 'events[0].data["$x"]'],
      ['a nested array', { rows: [[1, 2]] }, 'events[0].data.rows[0]'],
      ['a NUL character', { s: 'a\0b' }, 'events[0].data.s'],
      ['NaN', { n: Number.NaN }, 'events[0].data.n'],
      ['Infinity', { n: Number.POSITIVE_INFINITY }, 'events[0].data.n'],
    ])('then %s is rejected with InvalidEventDocumentError naming the path, and nothing is written', async (_, data, path) => {
      const { store } = freshStore();
      const error = await store.appendToStream('s', [{ type: 'A', data }], { expectedVersion: 'any' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidEventDocumentError);
      expect((error as InvalidEventDocumentError).path).toBe(path);
      expect(await store.streamVersion('s')).toBe(0);
      expect(await store.outboxNames()).toEqual([]);
    });

    it('then the same content encoded by the caller as {key, value} pairs round-trips', async () => {
      const { store } = freshStore();
      const fields = { 'team.name': 'soc', $x: 'dollar', nul: 'a\0b' };
      const encoded = {
        fields: Object.entries(fields).map(([key, value]) => ({ key, value: JSON.stringify(value) })),
        rows: JSON.stringify([[1, 2]]),
      };
      await store.appendToStream('s', [{ type: 'A', data: encoded }], { expectedVersion: 'no_stream' });
      const [read] = await store.readStream('s');
      const data = read?.data as typeof encoded;
      expect(data).toEqual(encoded);
      expect(Object.fromEntries(data.fields.map((f) => [f.key, JSON.parse(f.value) as unknown]))).toEqual(fields);
      expect(JSON.parse(data.rows)).toEqual([[1, 2]]);
    });
  });

  describe('when appending at a known version', () => {
    it("then the store sends one insert of the events (and a marker once per bucket) and reads nothing, however long the log", async () => {
      const client = await MongoClient.connect(serverUrls().mongoUrl, { monitorCommands: true });
      try {
        const store = new MongoEventStore(client.db(uniqueDbName('es')), LONG_PERIOD);
        await store.ensureIndexes();
        const commands: CommandStartedEvent[] = [];
        client.on('commandStarted', (event) => commands.push(event));
        let version = 0;
        const costs: string[][] = [];
        for (let i = 0; i < 60; i++) {
          commands.length = 0;
          const result = await store.appendToStream('long', [{ type: 'Page', data: { i } }], { expectedVersion: version });
          version = result.nextExpectedVersion;
          costs.push(commands.map((c) => `${c.commandName} ${String(c.command[c.commandName]).replace(/_[0-9a-f]{12}_\d+$/, '_<bucket>')}`));
        }
        expect(costs[0]).toContain(MARKER_INSERT);
        const markers = costs.flat().filter((c) => c === MARKER_INSERT).length;
        expect(markers).toBeGreaterThanOrEqual(1);
        expect(markers).toBeLessThanOrEqual(2);
        expect(costs.slice(1).map(withoutMarkers)).toEqual(costs.slice(1).map(() => ['insert events']));
      } finally {
        await client.close();
      }
    });

    it("then 'any' reads the stream's version once and then goes on from what it wrote", async () => {
      let reads = 0;
      const store = new (class extends MongoEventStore {
        override async streamVersion(streamId: string) {
          reads++;
          return super.streamVersion(streamId);
        }
      })(mongo.db());
      for (let i = 0; i < 5; i++) await store.appendToStream('delivery-x', [{ type: 'A', data: { i } }], { expectedVersion: 'any' });
      expect(reads).toBe(1);
      expect((await store.readStream('delivery-x')).map((e) => e.version)).toEqual([1, 2, 3, 4, 5]);
    });
  });

  describe('when appends of several streams arrive while another is being written (group commit)', () => {
    async function monitored(): Promise<{ client: MongoClient; store: MongoEventStore; db: Db; commands: string[] }> {
      const client = await MongoClient.connect(serverUrls().mongoUrl, { monitorCommands: true });
      const db = client.db(uniqueDbName('es'));
      const store = new MongoEventStore(db, LONG_PERIOD);
      await store.ensureIndexes();
      const commands: string[] = [];
      // Reads and writes only (the first append also makes sure of the indexes).
      client.on('commandStarted', (event: CommandStartedEvent) => {
        if (['insert', 'update', 'delete', 'find'].includes(event.commandName)) commands.push(`${event.commandName} ${String(event.command[event.commandName]).replace(/_[0-9a-f]{12}_\d+$/, '_<bucket>')}`);
      });
      return { client, store, db, commands };
    }

    it('then they are written together: one insert per collection for all of them, each stream in order', async () => {
      const { client, store, db, commands } = await monitored();
      try {
        const streams = Array.from({ length: 10 }, (_, i) => `group-${i}`);
        const results = await Promise.all(
          streams.map((streamId, i) =>
            store.appendToStream(streamId, [{ type: 'A', data: { i } }, { type: 'B', data: { i } }], { expectedVersion: 'no_stream' }),
          ),
        );
        expect(results.map((r) => r.nextExpectedVersion)).toEqual(streams.map(() => 2));
        // The first append found the writer idle and went alone (after its bucket's marker); the nine that came meanwhile went together.
        expect(commands[0]).toBe(MARKER_INSERT);
        expect(withoutMarkers(commands)).toEqual(['insert events', 'insert events']);
        for (const [i, streamId] of streams.entries()) {
          expect((await store.readStream(streamId)).map((e) => [e.type, e.version, e.data])).toEqual([
            ['A', 1, { i }],
            ['B', 2, { i }],
          ]);
        }
        const buckets = await store.outboxNames();
        const events = await bucketsOfEvents(db);
        expect(events).toHaveLength(20);
        for (const { bucket } of events) expect(buckets).toContain(bucket);
      } finally {
        await client.close();
      }
    });

    it('then a lost race fails only its own append, keeps its stored prefix, and the appends after it are written too', async () => {
      const { client, store, db, commands } = await monitored();
      try {
        await store.appendToStream('raced', [{ type: 'A', data: {} }], { expectedVersion: 'no_stream' });
        // Another writer holds version 3 (its outbox entry already relayed).
        await db.collection('events').insertOne({ _id: 'raced@3' as never, eventId: 'theirs', streamId: 'raced', version: 3, position: 1, type: 'T', data: {}, metadata: {}, time: new Date() });
        commands.length = 0;
        const busy = store.appendToStream('first', [{ type: 'A', data: {} }], { expectedVersion: 'no_stream' });
        const group = await Promise.allSettled([
          store.appendToStream('before', [{ type: 'A', data: {} }], { expectedVersion: 'no_stream' }),
          store.appendToStream('raced', [{ type: 'B', data: {} }, { type: 'C', data: {} }], { expectedVersion: 1 }),
          store.appendToStream('after-1', [{ type: 'A', data: {} }], { expectedVersion: 'no_stream' }),
          store.appendToStream('after-2', [{ type: 'A', data: {} }], { expectedVersion: 'no_stream' }),
        ]);
        await busy;
        expect(group.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
        expect((group[1] as PromiseRejectedResult).reason).toBeInstanceOf(ConcurrencyError);
        expect(withoutMarkers(commands)).toEqual(['insert events', 'insert events', 'insert events']);
        for (const streamId of ['before', 'after-1', 'after-2']) expect(await store.streamVersion(streamId)).toBe(1);
        expect((await store.readStream('raced')).map((e) => [e.type, e.eventId === 'theirs'])).toEqual([
          ['A', false],
          ['B', false],
          ['T', true],
        ]);
        // The raced append's stored prefix names the bucket, as every event this writer stored.
        const buckets = await store.outboxNames();
        expect(buckets).toContain((await bucketsOfEvents(db)).find((e) => e._id === 'raced@2')?.bucket);
      } finally {
        await client.close();
      }
    });
  });

  describe('the outbox', () => {
    it("then the events name their writer's bucket, which holds one marker below their positions, and no entries", async () => {
      const { db, store } = freshStore();
      await store.appendToStream('tagged', [{ type: 'A', data: {} }, { type: 'B', data: {} }], { expectedVersion: 'no_stream' });
      const [name] = await store.outboxNames();
      expect(name).toMatch(new RegExp(`^event_outbox_${store.writerId}_\\d+$`));
      const events = await db.collection<{ _id: string; outbox: string; position: number }>('events').find({}).toArray();
      expect(events.map((e) => `event_outbox_${e.outbox}`)).toEqual([name, name]);
      const [marker, ...rest] = await db.collection<{ _id: string; from: number }>(name!).find({}).toArray();
      expect(rest).toEqual([]);
      expect(marker?._id).toBe('$bucket');
      expect(marker!.from).toBeLessThanOrEqual(Math.min(...events.map((e) => e.position)));
      expect(await store.outboxEntries()).toEqual([]);
    });

    it('then an entry of the outbox buckets before session 23, its events deflated, is read as they are in the log', async () => {
      const { db, store } = freshStore();
      const data = { at: new Date('2025-01-01T00:00:00.123Z'), big: 2 ** 53 - 1, ratio: 0.1, nested: { list: [{ a: 1 }, 'b', null] }, text: 'é\u{1F600}' };
      await store.appendToStream('packed', [{ type: 'A', data, metadata: { actor: 'alice' } }, { type: 'B', data: {} }], { expectedVersion: 'no_stream' });
      const events = await db.collection('events').find({}).sort({ version: 1 }).toArray();
      const packed = new Binary(deflateRawSync(BSON.serialize({ events })), DEFLATED_EVENTS_SUBTYPE);
      await db.collection('event_outbox_0123456789ab_0').insertOne({ _id: `packed@1 ${String(events[0]?.eventId)}` as never, streamId: 'packed', events: packed, at: new Date() });
      const [entry] = await store.outboxEntries();
      expect(entry?.events.map(toRecorded)).toEqual(await store.readStream('packed'));
      expect(entry?.events[0]?.data).toEqual(data);
    });

    it('then an entry of the outbox before buckets, its events packed but not deflated, is read as well', async () => {
      const { db, store } = freshStore();
      await store.appendToStream('packed', [{ type: 'A', data: { i: 1 } }], { expectedVersion: 'no_stream' });
      const events = await db.collection('events').find({}).toArray();
      await db.collection('event_outbox').insertOne({ _id: 'packed@1' as never, streamId: 'packed', events: new Binary(BSON.serialize({ events })), at: new Date() });
      const entry = (await store.outboxEntries()).find((e) => e._id === 'packed@1');
      expect(entry?.events.map(toRecorded)).toEqual(await store.readStream('packed'));
    });

    it('then an entry of the outbox before buckets, its events nested, is read as well', async () => {
      const { db, store } = freshStore();
      await store.appendToStream('packed', [{ type: 'A', data: { i: 1 } }], { expectedVersion: 'no_stream' });
      const [event] = await db.collection('events').find({}).toArray();
      await db.collection('event_outbox').insertOne({ _id: 'packed@1' as never, streamId: 'packed', events: [event], at: new Date() });
      const entry = (await store.outboxEntries()).find((e) => e._id === 'packed@1');
      expect(entry?.events.map(toRecorded)).toEqual(await store.readStream('packed'));
    });
  });

  describe('readLog', () => {
    it('then it yields the whole log in batches by position, each stream in version order, without legacy gap placeholders', async () => {
      const { db, store } = freshStore();
      for (let i = 0; i < 25; i++) await store.appendToStream(`s${i % 4}`, [{ type: 'A', data: { i } }], { expectedVersion: 'any' });
      await db.collection('events').insertOne({ _id: '$gap:99' as never, streamId: '$gap', version: 99, position: 1, type: '$gap', data: null, metadata: {}, time: new Date() });
      const batches: number[] = [];
      const events = [];
      for await (const batch of store.readLog({ batchSize: 10 })) {
        batches.push(batch.length);
        events.push(...batch);
      }
      expect(batches).toEqual([10, 10, 5]);
      expect(events.map((e) => (e.data as { i: number }).i)).toEqual(Array.from({ length: 25 }, (_, i) => i));
      const positions = events.map((e) => e.position);
      expect(positions).toEqual([...positions].sort((a, b) => a - b));
    });
  });
});
