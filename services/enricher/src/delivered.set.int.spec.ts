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
const now = () => new Date();
const count = (results: Map<string, string>, state: string) => [...results.values()].filter((r) => r === state).length;

describe('DeliveredSet', () => {
  it('resolves 500 duplicates of a done batch and 300 of an interrupted one in a few round trips, not one lookup each', async () => {
    // Given 500 records delivered by batch A and 300 claimed by batch B, which never finished (a crash),
    const delivered = new DeliveredSet(db, 'many');
    await delivered.claim(ids('a', 500), 'A', now());
    await delivered.markDone('A', now());
    await delivered.claim(ids('b', 300), 'B', now());
    // When a batch redelivered after the crash holds all of them and 200 new ones,
    commands = [];
    const results = await delivered.claim([...ids('a', 500), ...ids('b', 300), ...ids('c', 200)], 'C', now());
    // Then each is classified right,
    expect(count(results, 'delivered')).toBe(500);
    expect(count(results, 'unfinished')).toBe(300);
    expect(count(results, 'claimed')).toBe(200);
    expect(ids('a', 500).every((id) => results.get(id) === 'delivered')).toBe(true);
    expect(ids('b', 300).every((id) => results.get(id) === 'unfinished')).toBe(true);
    // and it took a handful of commands: one lookup per duplicate is a collection scan each on
    // FerretDB, and made such batches outlast their time limit after an outage (faults.replicas).
    expect(commands.length).toBeLessThanOrEqual(6);
  });

  it('a record published again after an interrupted attempt counts as delivered once that batch is done', async () => {
    for (const n of [3, 50]) {
      commands = [];
      // Given records claimed by a batch that never finished,
      const delivered = new DeliveredSet(db, `again${n}`);
      const records = ids('r', n);
      await delivered.claim(records, 'crashed', now());
      // when the next attempt finds them unfinished, publishes them and is marked done,
      const retry = await delivered.claim(records, 'retry', now());
      expect(count(retry, 'unfinished')).toBe(n);
      await delivered.markDone('retry', now(), records);
      // then a later copy of them is skipped as delivered (not published again past the
      // data stream's duplicate window), also in another process that knows no batch yet,
      expect(count(await delivered.claim(records, 'later', now()), 'delivered')).toBe(n);
      expect(count(await new DeliveredSet(db, `again${n}`).claim(records, 'elsewhere', now()), 'delivered')).toBe(n);
      // and no update or delete was needed (on FerretDB each is a scan inside a write transaction).
      expect(commands.filter((c) => c === 'update' || c === 'delete')).toEqual([]);
    }
  });

  it('a record whose claim stays unfinished is still published again by the next attempt', async () => {
    const delivered = new DeliveredSet(db, 'unfinished');
    await delivered.claim(['u:agents:1'], 'first', now());
    expect((await delivered.claim(['u:agents:1'], 'second', now())).get('u:agents:1')).toBe('unfinished');
    // The second attempt failed too (no markDone): the third publishes it again.
    expect((await delivered.claim(['u:agents:1'], 'third', now())).get('u:agents:1')).toBe('unfinished');
  });
});
