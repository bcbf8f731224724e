import { serverUrls, uniqueDbName } from '@s1c/test-harness';
import { MongoClient, type CommandStartedEvent, type Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeliveredSet } from './delivered.set';

let mongo: MongoClient;
let db: Db;
/** The commands sent to the server since the last reset (the driver's own monitoring, not a mock). */
let commands: string[] = [];

beforeAll(async () => {
  mongo = await MongoClient.connect(serverUrls().mongoUrl, { monitorCommands: true });
  mongo.on('commandStarted', (event: CommandStartedEvent) => {
    if (['find', 'insert', 'update', 'delete', 'aggregate'].includes(event.commandName)) commands.push(event.commandName);
  });
  db = mongo.db(uniqueDbName('delivered'));
});

afterAll(async () => {
  await db?.dropDatabase().catch(() => undefined);
  await mongo?.close();
});

const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}:activities:${i}`);
const DAY = '2026-12-01';
const batch = (name: string) => `20261205-${name}`;
const count = (results: Map<string, string>, state: string) => [...results.values()].filter((r) => r === state).length;

describe('DeliveredSet', () => {
  it('resolves 500 duplicates of a done batch and 300 of an interrupted one in a few round trips, not one lookup each', async () => {
    const delivered = new DeliveredSet(db, 'many');
    await delivered.claim(DAY, ids('a', 500), batch('A'));
    await delivered.markDone(batch('A'));
    await delivered.claim(DAY, ids('b', 300), batch('B'));
    // B never finished (a crash between claim and marker).
    commands = [];
    const results = await delivered.claim(DAY, [...ids('a', 500), ...ids('b', 300), ...ids('c', 200)], batch('C'));
    expect(count(results, 'delivered')).toBe(500);
    expect(count(results, 'unfinished')).toBe(300);
    expect(count(results, 'claimed')).toBe(200);
    // The answer is right for each id (not just the counts),
    for (const id of ids('a', 500)) expect(results.get(id)).toBe('delivered');
    for (const id of ids('b', 300)) expect(results.get(id)).toBe('unfinished');
    // and it took a handful of commands: one lookup per duplicate is a collection scan each on
    // FerretDB, and made such batches outlast their time limit after an outage (faults.replicas).
    expect(commands.length).toBeLessThanOrEqual(6);
  });

  it('a repeat of records whose batch this process saw done costs no lookup; another process finds the same answer in the store', async () => {
    // Given records claimed by a batch that was marked done here (a live poll's overlap brings some
    // again every interval, and a lookup of a claim is a scan of the day's collection on FerretDB),
    const delivered = new DeliveredSet(db, 'known');
    await delivered.claim(DAY, ids('k', 50), batch('K'));
    await delivered.markDone(batch('K'));
    // when a later batch holds them again with new ones,
    commands = [];
    const results = await delivered.claim(DAY, [...ids('k', 50), ...ids('n', 5)], batch('L'));
    // then the repeats are delivered and the new ones claimed, with the claim's insert alone,
    expect(count(results, 'delivered')).toBe(50);
    expect(count(results, 'claimed')).toBe(5);
    for (const id of ids('n', 5)) expect(results.get(id)).toBe('claimed');
    expect(commands).toEqual(['insert']);
    // and a process that knows nothing yet gets the same answer by reading the store.
    commands = [];
    const elsewhere = await new DeliveredSet(db, 'known').claim(DAY, ids('k', 50), batch('M'));
    expect(count(elsewhere, 'delivered')).toBe(50);
    expect(commands).toContain('find');
  });

  it('a record published again after an interrupted attempt counts as delivered once that batch is done', async () => {
    for (const n of [3, 50]) {
      commands = [];
      // Given records claimed by a batch that never finished,
      const delivered = new DeliveredSet(db, `again${n}`);
      const records = ids('r', n);
      await delivered.claim(DAY, records, batch('crashed'));
      // when the next attempt finds them unfinished, publishes them and is marked done,
      const retry = await delivered.claim(DAY, records, batch('retry'));
      expect(count(retry, 'unfinished')).toBe(n);
      await delivered.markDone(batch('retry'), records.map((id) => ({ id, day: DAY })));
      // then a later copy of them is skipped as delivered (not published again past the
      // data stream's duplicate window), also in another process that knows no batch yet,
      expect(count(await delivered.claim(DAY, records, batch('later')), 'delivered')).toBe(n);
      expect(count(await new DeliveredSet(db, `again${n}`).claim(DAY, records, batch('elsewhere')), 'delivered')).toBe(n);
      // and no update or delete was needed (on FerretDB each is a scan inside a write transaction).
      expect(commands.filter((c) => c === 'update' || c === 'delete')).toEqual([]);
    }
  });

  it('after a restart, a repeat of records the output stream held costs no lookup, and leaves markers that answer for them later', async () => {
    // Given records claimed by a batch that published them and was never marked done (a crash),
    // and a process started since, that knows them only from the output stream's tail,
    await new DeliveredSet(db, 'output').claim(DAY, ids('o', 30), batch('crashed'));
    const restarted = new DeliveredSet(db, 'output');
    restarted.rememberOutput(ids('o', 30));
    // when a live poll brings them again with new ones,
    commands = [];
    const results = await restarted.claim(DAY, [...ids('o', 30), ...ids('p', 3)], batch('poll'));
    // then they are skipped (not published again) with the claim's insert alone,
    expect(count(results, 'output')).toBe(30);
    expect(count(results, 'claimed')).toBe(3);
    expect(commands).toEqual(['insert']);
    // and once that batch is marked done with them, a process that knows nothing finds them
    // delivered in the store (without the markers: unfinished, and published again).
    await restarted.markDone(batch('poll'), ids('o', 30).map((id) => ({ id, day: DAY })));
    expect(count(await new DeliveredSet(db, 'output').claim(DAY, ids('o', 30), batch('later')), 'delivered')).toBe(30);
  });

  it('a record whose claim stays unfinished is still published again by the next attempt', async () => {
    const delivered = new DeliveredSet(db, 'unfinished');
    await delivered.claim(DAY, ['u:agents:1'], batch('first'));
    expect((await delivered.claim(DAY, ['u:agents:1'], batch('second'))).get('u:agents:1')).toBe('unfinished');
    // The second attempt failed too (no markDone): the third publishes it again.
    expect((await delivered.claim(DAY, ['u:agents:1'], batch('third'))).get('u:agents:1')).toBe('unfinished');
  });

  it("keeps each record in its own day's collection, so a repeat months later is still a duplicate", async () => {
    const delivered = new DeliveredSet(db, 'days');
    await delivered.claim('2026-01-31', ['d:activities:1'], batch('jan'));
    await delivered.claim('2026-02-01', ['d:activities:2'], batch('jan'));
    await delivered.markDone(batch('jan'));
    const names = (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).filter((n) => n.startsWith('days_'));
    expect(names.sort()).toEqual(['days_batches_20261205', 'days_delivered_20260131', 'days_delivered_20260201']);
    // Fetched again by a process that knows nothing: the same day, so the same collection.
    const again = await new DeliveredSet(db, 'days').claim('2026-01-31', ['d:activities:1'], batch('later'));
    expect(again.get('d:activities:1')).toBe('delivered');
  });

  it('expires whole days: drops the collections of days before the cutoff and nothing else, without reading a claim', async () => {
    const delivered = new DeliveredSet(db, 'expiry');
    await delivered.claim('2026-10-01', ['e:activities:old'], '20261001-b');
    await delivered.markDone('20261001-b', [{ id: 'e:activities:old', day: '2026-10-01' }]);
    await delivered.claim('2026-11-20', ['e:activities:new'], '20261120-b');
    await delivered.markDone('20261120-b');
    commands = [];
    const dropped = await delivered.removeOlderThan(new Date('2026-11-05T12:00:00Z'));
    expect(dropped).toBe(3);
    expect(commands).toEqual([]);
    const names = (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).filter((n) => n.startsWith('expiry_'));
    expect(names.sort()).toEqual(['expiry_batches_20261120', 'expiry_delivered_20261120']);
    // The kept day still answers; the dropped one is forgotten (claimed anew).
    expect((await delivered.claim('2026-11-20', ['e:activities:new'], '20261205-x')).get('e:activities:new')).toBe('delivered');
    expect((await delivered.claim('2026-10-01', ['e:activities:old'], '20261205-x')).get('e:activities:old')).toBe('claimed');
  });

  it('refuses a day or a batch id in another format', async () => {
    const delivered = new DeliveredSet(db, 'format');
    await expect(delivered.claim('2026-1-01', ['f:activities:1'], batch('x'))).rejects.toThrow(/not a day/);
    await expect(delivered.markDone('nodate')).rejects.toThrow(/not a batch id/);
  });
});
