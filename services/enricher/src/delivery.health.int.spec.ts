import { MongoEventStore } from '@s1c/event-store';
import { createLogger } from '@s1c/logger';
import { serverUrls, uniqueDbName } from '@s1c/test-harness';
import { MongoClient, type CommandStartedEvent, type Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeliveryHealth, deliveryStreamId } from './delivery.health';

let mongo: MongoClient;
let db: Db;
/** Reads of `events` sent since the last reset (the driver's own monitoring). */
let eventReads = 0;
const logger = createLogger({ name: 'delivery-health-test', level: 'silent' });
const retry = { retrying: true, nextAttemptAt: '2026-01-01T00:00:01.000Z', until: '2026-01-01T01:30:00.000Z' };

beforeAll(async () => {
  mongo = await MongoClient.connect(serverUrls().mongoUrl, { monitorCommands: true });
  mongo.on('commandStarted', (event: CommandStartedEvent) => {
    if ((event.commandName === 'find' || event.commandName === 'aggregate') && event.command[event.commandName] === 'events') eventReads += 1;
  });
  db = mongo.db(uniqueDbName('deliveryhealth'));
  await new MongoEventStore(db).ensureIndexes();
});
afterAll(async () => {
  await db?.dropDatabase().catch(() => undefined);
  await mongo?.close();
});

/** A replica's DeliveryHealth: its own store instance, so nothing is shared but the log. */
function replica(clock: () => Date = () => new Date()) {
  return new DeliveryHealth(new MongoEventStore(db), clock, logger);
}

const summary = async (sourceId: string) =>
  (await new MongoEventStore(db).readStream(deliveryStreamId(sourceId))).map((e) => `${e.version}:${e.type}:${(e.data as { healthEventId: string }).healthEventId}`);

describe('DeliveryHealth', () => {
  it('reads a source’s stream once, then raises, repeats and resolves at the version it holds, without reading', async () => {
    let now = Date.parse('2026-03-01T10:00:00Z');
    const health = replica(() => new Date(now));
    eventReads = 0;
    expect(await health.streakStart('s1')).toBeUndefined();
    for (let streak = 0; streak < 3; streak++) {
      const began = now;
      for (let i = 0; i < 3; i++) {
        await health.refused('s1', 'activities', 'HTTP collector answered 400', retry);
        expect(await health.streakStart('s1')).toBe(began);
        now += 1000;
      }
      await health.accepted('s1', 'activities');
      await health.accepted('s1', 'activities');
      expect(await health.streakStart('s1')).toBeUndefined();
      now += 60_000;
    }
    expect(eventReads).toBe(1);
    expect(health.stats).toMatchObject({ reads: 1, conflicts: 0, appends: 12 });
    const events = await summary('s1');
    // One id per streak, repeated by its refusals and resolved once.
    expect(events.map((e) => e.split(':')[1])).toEqual(
      Array.from({ length: 3 }, () => ['HealthEventRaised', 'HealthEventRaised', 'HealthEventRaised', 'HealthEventResolved']).flat(),
    );
    expect(new Set(events.map((e) => e.split(':').slice(2).join(':'))).size).toBe(3);
  });

  it('keeps the streak’s start across a restart, reading the stream once', async () => {
    const first = replica(() => new Date('2026-03-02T10:00:00Z'));
    await first.refused('s2', 'threats', 'HTTP collector answered 403', retry);
    eventReads = 0;
    const restarted = replica(() => new Date('2026-03-02T10:05:00Z'));
    expect(await restarted.streakStart('s2')).toBe(Date.parse('2026-03-02T10:00:00Z'));
    await restarted.refused('s2', 'threats', 'HTTP collector answered 403', retry);
    expect(await restarted.streakStart('s2')).toBe(Date.parse('2026-03-02T10:00:00Z'));
    await restarted.accepted('s2', 'threats');
    expect(eventReads).toBe(1);
    const events = await summary('s2');
    expect(new Set(events.map((e) => e.split(':').slice(2).join(':'))).size).toBe(1);
    expect(events.at(-1)).toContain(':HealthEventResolved:');
  });

  it('two replicas racing on one source: one event id per streak, resolved once, read again only after losing a race', async () => {
    const a = replica();
    const b = replica();
    // Both have seen the source (one read each) before the refusals start.
    expect(await a.streakStart('s3')).toBeUndefined();
    expect(await b.streakStart('s3')).toBeUndefined();
    eventReads = 0;
    await a.refused('s3', 'activities', 'HTTP collector answered 400', retry);
    // B does not know of A's event: its append at version 0 loses, it reads the newer event and repeats A's id.
    await b.refused('s3', 'activities', 'HTTP collector answered 400', retry);
    expect(b.stats.conflicts).toBe(1);
    expect(eventReads).toBe(1);
    // A does not know of B's repeat: it loses once, reads it, and resolves the one open event.
    await a.accepted('s3', 'activities');
    expect(a.stats.conflicts).toBe(1);
    // B still thinks the event open: its resolution loses the race, and after reading finds nothing left to resolve.
    await b.accepted('s3', 'activities');
    expect(b.stats.conflicts).toBe(2);
    expect(eventReads).toBe(3);
    const events = await summary('s3');
    expect(events.map((e) => e.split(':').slice(0, 2).join(':'))).toEqual(['1:HealthEventRaised', '2:HealthEventRaised', '3:HealthEventResolved']);
    expect(new Set(events.map((e) => e.split(':').slice(2).join(':'))).size).toBe(1);
    // Concurrent calls of one replica do not race each other.
    const conflicts = a.stats.conflicts;
    await Promise.all(Array.from({ length: 5 }, () => a.refused('s3', 'agents', 'HTTP collector answered 400', retry)));
    expect(a.stats.conflicts).toBe(conflicts);
    expect((await summary('s3')).length).toBe(8);
  });
});
