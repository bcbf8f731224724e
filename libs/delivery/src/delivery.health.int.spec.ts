import { MongoEventStore } from '@s1c/event-store';
import { createLogger } from '@s1c/logger';
import { serverUrls, uniqueDbName } from '@s1c/test-harness';
import { MongoClient, type Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeliveryHealth, deliveryStreamId } from './delivery.health';

let mongo: MongoClient;
let db: Db;
const logger = createLogger({ name: 'delivery-health-test', level: 'silent' });
const RETRYING = { retrying: true, nextAttemptAt: '2026-12-05T10:00:02.000000Z', until: '2026-12-05T11:30:00.000000Z' };

beforeAll(async () => {
  mongo = await MongoClient.connect(serverUrls().mongoUrl);
  db = mongo.db(uniqueDbName('deliveryhealth'));
});

afterAll(async () => {
  await db?.dropDatabase().catch(() => undefined);
  await mongo?.close();
});

const idsOf = (events: ReadonlyArray<{ data: unknown }>) => events.map((e) => (e.data as { healthEventId: string }).healthEventId);

describe('DeliveryHealth, against a real store', () => {
  it('keeps a streak across a restart: the same event repeated, its start kept, resolved once', async () => {
    const store = new MongoEventStore(db);
    let now = new Date('2026-12-05T10:00:00.000Z');
    const first = new DeliveryHealth(store, () => now, logger);
    expect(await first.streakStart('a')).toBeUndefined();
    await first.refused('a', 'activities', 'HTTP collector answered 400', RETRYING);
    now = new Date('2026-12-05T10:01:00.000Z');
    // A restart: a new instance reads the stream back.
    const second = new DeliveryHealth(store, () => now, logger);
    expect(await second.streakStart('a')).toBe(Date.parse('2026-12-05T10:00:00.000Z'));
    await second.refused('a', 'activities', 'HTTP collector answered 400', RETRYING);
    await second.accepted('a', 'activities');
    await second.accepted('a', 'activities');
    const events = await store.readStream(deliveryStreamId('a'));
    expect(events.map((e) => e.type)).toEqual(['HealthEventRaised', 'HealthEventRaised', 'HealthEventResolved']);
    expect(new Set(idsOf(events)).size).toBe(1);
    expect(await second.streakStart('a')).toBeUndefined();
  });

  it('lets two enrichers that race on one source share one event instead of opening two', async () => {
    const store = new MongoEventStore(db);
    const now = () => new Date('2026-12-05T10:00:00.000Z');
    const one = new DeliveryHealth(store, now, logger);
    const two = new DeliveryHealth(store, () => new Date('2026-12-05T10:00:05.000Z'), logger);
    // Both have folded the empty stream before either writes.
    await one.streakStart('b');
    await two.streakStart('b');
    await one.refused('b', 'threats', 'HTTP collector answered 403', RETRYING);
    await two.refused('b', 'threats', 'HTTP collector answered 403', RETRYING);
    const events = await store.readStream(deliveryStreamId('b'));
    expect(events.map((e) => e.type)).toEqual(['HealthEventRaised', 'HealthEventRaised']);
    expect(new Set(idsOf(events)).size).toBe(1);
    // The second learnt of the first's streak: it resolves the event the first opened.
    await two.accepted('b', 'threats');
    expect(idsOf(await store.readStream(deliveryStreamId('b')))).toEqual([idsOf(events)[0], idsOf(events)[0], idsOf(events)[0]]);
  });
});
