import { setTimeout as sleep } from 'node:timers/promises';
import { type Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MongoEventStore } from './mongo.event-store';
import { ProjectionRunner } from './projection.runner';
import { connectMongo, type MongoFixture } from './testing/mongo.fixture';
import { StreamSummaryProjection } from './testing/stream-summary.projection';

let mongo: MongoFixture;
beforeAll(async () => {
  mongo = await connectMongo();
});
afterAll(async () => {
  await mongo.close();
});

async function appendSome(store: MongoEventStore, streams: number, perStream: number): Promise<void> {
  await Promise.all(
    Array.from({ length: streams }, async (_, s) => {
      for (let v = 0; v < perStream; v++) {
        await store.appendToStream(`src-${s}`, [{ type: v % 2 === 0 ? 'Even' : 'Odd', data: { v } }], { expectedVersion: v });
      }
    }),
  );
}

function setUp(): { db: Db; store: MongoEventStore; projection: StreamSummaryProjection } {
  const db = mongo.db();
  return { db, store: new MongoEventStore(db, { gapTimeoutMs: 200 }), projection: new StreamSummaryProjection() };
}

describe('ProjectionRunner', () => {
  describe('given a projection running in the background while events are appended', () => {
    it('when it is rebuilt from scratch, then the rebuilt read model equals the live one', async () => {
      const { db, store, projection } = setUp();
      const runner = new ProjectionRunner(store, db, projection, { batchSize: 7, pollIntervalMs: 20 });
      await runner.start();
      await appendSome(store, 5, 6);
      const head = await store.headPosition();
      expect(await runner.catchUp()).toBeGreaterThanOrEqual(head);
      const live = await StreamSummaryProjection.snapshot(db);
      expect(live).toHaveLength(5);
      for (const summary of live) {
        expect(summary.lastVersion).toBe(6);
        expect(summary.types).toEqual(['Even', 'Odd', 'Even', 'Odd', 'Even', 'Odd']);
      }

      await runner.rebuild();
      expect(await StreamSummaryProjection.snapshot(db)).toEqual(live);
      expect(await runner.checkpoint()).toBe(head);
      await runner.stop();
    });
  });

  describe('given a projection that is up to date', () => {
    it('when an already applied batch is replayed, then nothing changes', async () => {
      const { db, store, projection } = setUp();
      await appendSome(store, 3, 4);
      const runner = new ProjectionRunner(store, db, projection);
      await runner.catchUp();
      const before = await StreamSummaryProjection.snapshot(db);

      await db.collection('projection_checkpoints').updateOne({ _id: projection.name as never }, { $set: { position: 4 } });
      expect(await runner.catchUp()).toBe(12);
      expect(await StreamSummaryProjection.snapshot(db)).toEqual(before);
    });
  });

  describe('when apply fails on an event', () => {
    it('then catchUp rejects, the checkpoint stays just before that event, and a later catchUp applies it', async () => {
      const { db, store, projection } = setUp();
      await appendSome(store, 1, 5);
      projection.failOnce.add(3);
      const logger = { warn: vi.fn(), error: vi.fn() };
      const runner = new ProjectionRunner(store, db, projection, { logger });

      await expect(runner.catchUp()).rejects.toThrow('injected failure at 3');
      expect(await runner.checkpoint()).toBe(2);
      expect(logger.error).toHaveBeenCalledWith(expect.objectContaining({ position: 3, name: projection.name }), expect.any(String));

      expect(await runner.catchUp()).toBe(5);
      expect(await StreamSummaryProjection.snapshot(db)).toMatchObject([{ lastVersion: 5 }]);
    });

    it('then the background loop logs it and retries it on a later poll', async () => {
      const { db, store, projection } = setUp();
      await appendSome(store, 1, 3);
      projection.failOnce.add(2);
      const logger = { warn: vi.fn(), error: vi.fn() };
      const runner = new ProjectionRunner(store, db, projection, { logger, pollIntervalMs: 10 });
      await runner.start();
      await vi.waitFor(async () => expect(await runner.checkpoint()).toBe(3));
      await runner.stop();
      expect(logger.error).toHaveBeenCalledTimes(1);
      expect(await StreamSummaryProjection.snapshot(db)).toMatchObject([{ lastVersion: 3 }]);
    });
  });

  describe('given a position allocated by a writer that crashed', () => {
    it('when catching up past it, then the runner waits for the gap to be filled and then applies the later events', async () => {
      const { db, store, projection } = setUp();
      await appendSome(store, 1, 1);
      await db.collection<{ _id: string; value: number }>('event_counters').updateOne({ _id: 'position' }, { $inc: { value: 1 } });
      await store.appendToStream('src-0', [{ type: 'Odd', data: {} }], { expectedVersion: 1 });
      const runner = new ProjectionRunner(store, db, projection);
      const started = Date.now();
      expect(await runner.catchUp()).toBe(3);
      expect(Date.now() - started).toBeGreaterThanOrEqual(150);
      expect(await StreamSummaryProjection.snapshot(db)).toMatchObject([{ lastVersion: 2, types: ['Even', 'Odd'] }]);
    });
  });

  describe('when stop is called during polling', () => {
    it('then it resolves promptly and no more events are applied', async () => {
      const { db, store, projection } = setUp();
      const runner = new ProjectionRunner(store, db, projection, { pollIntervalMs: 5_000 });
      await runner.start();
      const started = Date.now();
      await runner.stop();
      expect(Date.now() - started).toBeLessThan(1_000);
      await appendSome(store, 1, 1);
      await sleep(50);
      expect(await runner.checkpoint()).toBe(0);
    });
  });
});
