import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RecordedEvent } from './event.types';
import { MongoEventStore } from './mongo.event-store';
import { gatedDb } from './testing/gated.db';
import { connectMongo, ManualClock, type MongoFixture } from './testing/mongo.fixture';

let mongo: MongoFixture;
beforeAll(async () => {
  mongo = await connectMongo();
});
afterAll(async () => {
  await mongo.close();
});

const GAP_TIMEOUT_MS = 1000;

describe('MongoEventStore gaps in the global log', () => {
  describe('given a writer that allocated a position and crashed before inserting', () => {
    it('when a later event is stored, then readers wait at the hole and fill it only after the gap timeout', async () => {
      const db = mongo.db();
      const clock = new ManualClock();
      const store = new MongoEventStore(db, { gapTimeoutMs: GAP_TIMEOUT_MS, clock: clock.now });
      await store.appendToStream('a', [{ type: 'First', data: {} }], { expectedVersion: 'no_stream' });
      await db.collection<{ _id: string; value: number }>('event_counters').updateOne({ _id: 'position' }, { $inc: { value: 1 } });
      await store.appendToStream('b', [{ type: 'Third', data: {} }], { expectedVersion: 'no_stream' });

      expect(await store.readAllBatch({ after: 0, limit: 10 })).toMatchObject({ lastPosition: 1, events: [{ type: 'First' }] });
      clock.advance(GAP_TIMEOUT_MS - 1);
      expect(await store.readAllBatch({ after: 1, limit: 10 })).toEqual({ lastPosition: 1, events: [] });
      clock.advance(1);
      const after = await store.readAllBatch({ after: 1, limit: 10 });
      expect(after).toMatchObject({ lastPosition: 3, events: [{ type: 'Third', position: 3 }] });
      expect(await db.collection('events').findOne({ position: 2 })).toMatchObject({ streamId: '$gap', type: '$gap', version: 2 });
      expect(await store.readAll({ after: 0, limit: 10 })).toHaveLength(2);
    });

    it('when the hole is the last allocated position, then catching up to the head fills it after the timeout', async () => {
      const db = mongo.db();
      const clock = new ManualClock();
      const store = new MongoEventStore(db, { gapTimeoutMs: GAP_TIMEOUT_MS, clock: clock.now });
      await store.appendToStream('a', [{ type: 'First', data: {} }], { expectedVersion: 'no_stream' });
      await db.collection<{ _id: string; value: number }>('event_counters').updateOne({ _id: 'position' }, { $inc: { value: 1 } });
      expect(await store.headPosition()).toBe(2);
      expect((await store.readAllBatch({ after: 1, limit: 10 })).lastPosition).toBe(1);
      clock.advance(GAP_TIMEOUT_MS);
      expect((await store.readAllBatch({ after: 1, limit: 10 })).lastPosition).toBe(2);
    });
  });

  describe('given a writer that stalls between allocating its position and inserting', () => {
    it('when its event arrives before the timeout, then the reader delivers it in position order', async () => {
      const db = mongo.db();
      const clock = new ManualClock();
      const reader = new MongoEventStore(db, { gapTimeoutMs: GAP_TIMEOUT_MS, clock: clock.now });
      await reader.ensureIndexes();
      const gated = gatedDb(db);
      const slow = new MongoEventStore(gated.db).appendToStream('slow', [{ type: 'Slow', data: {} }], { expectedVersion: 'no_stream' });
      await gated.blocked;
      await new MongoEventStore(db).appendToStream('fast', [{ type: 'Fast', data: {} }], { expectedVersion: 'no_stream' });

      expect(await reader.readAllBatch({ after: 0, limit: 10 })).toEqual({ lastPosition: 0, events: [] });
      clock.advance(GAP_TIMEOUT_MS / 2);
      gated.release();
      await slow;
      const batch = await reader.readAllBatch({ after: 0, limit: 10 });
      expect(batch.events.map((e) => [e.type, e.position])).toEqual([
        ['Slow', 1],
        ['Fast', 2],
      ]);
    });

    it('when the gap timeout passes first, then the reader fills its position and the writer lands later, nothing lost', async () => {
      const db = mongo.db();
      const clock = new ManualClock();
      const reader = new MongoEventStore(db, { gapTimeoutMs: GAP_TIMEOUT_MS, clock: clock.now });
      await reader.ensureIndexes();
      const gated = gatedDb(db);
      const slow = new MongoEventStore(gated.db).appendToStream(
        'slow',
        [
          { type: 'Slow1', data: {} },
          { type: 'Slow2', data: {} },
        ],
        { expectedVersion: 'no_stream' },
      );
      await gated.blocked;
      await new MongoEventStore(db).appendToStream('fast', [{ type: 'Fast', data: {} }], { expectedVersion: 'no_stream' });

      expect((await reader.readAllBatch({ after: 0, limit: 10 })).lastPosition).toBe(0);
      clock.advance(GAP_TIMEOUT_MS);
      const first = await reader.readAllBatch({ after: 0, limit: 10 });
      expect(first.events.map((e) => e.type)).toEqual(['Fast']);
      expect(first.lastPosition).toBe(3);

      gated.release();
      const landed = await slow;
      expect(landed.events.map((e) => [e.type, e.version, e.position])).toEqual([
        ['Slow1', 1, 4],
        ['Slow2', 2, 5],
      ]);
      const second = await reader.readAllBatch({ after: first.lastPosition, limit: 10 });
      expect(second.events.map((e) => e.type)).toEqual(['Slow1', 'Slow2']);
      expect(await reader.readStream('slow')).toEqual(landed.events);
    });
  });

  describe('when 1,000 events are appended concurrently to 50 streams while a reader tails the log', () => {
    it('then the reader sees every event exactly once, each stream in version order', async () => {
      const db = mongo.db();
      const store = new MongoEventStore(db, { gapTimeoutMs: 500 });
      await store.ensureIndexes();
      const streams = 50;
      const perStream = 20;
      const seen: RecordedEvent[] = [];
      let writing = true;
      const tail = (async () => {
        let after = 0;
        for (;;) {
          const batch = await store.readAllBatch({ after, limit: 100 });
          seen.push(...batch.events);
          after = batch.lastPosition;
          if (!writing && batch.events.length === 0 && after >= (await store.headPosition())) return;
          if (batch.events.length === 0) await sleep(50);
        }
      })();
      await Promise.all(
        Array.from({ length: streams }, async (_, s) => {
          let version = 0;
          while (version < perStream) {
            const size = Math.min(1 + ((s + version) % 3), perStream - version);
            const events = Array.from({ length: size }, (_, i) => ({ type: 'Counted', data: { s, n: version + i + 1 } }));
            const result = await store.appendToStream(`stream-${s}`, events, { expectedVersion: version });
            version = result.nextExpectedVersion;
          }
        }),
      );
      writing = false;
      await tail;

      expect(seen).toHaveLength(streams * perStream);
      expect(new Set(seen.map((e) => e.eventId)).size).toBe(streams * perStream);
      const positions = seen.map((e) => e.position);
      expect([...positions].sort((a, b) => a - b)).toEqual(positions);
      const versionsByStream = new Map<string, number[]>();
      for (const e of seen) versionsByStream.set(e.streamId, [...(versionsByStream.get(e.streamId) ?? []), e.version]);
      expect(versionsByStream.size).toBe(streams);
      for (const versions of versionsByStream.values()) expect(versions).toEqual(Array.from({ length: perStream }, (_, i) => i + 1));
    }, 90_000);
  });
});
