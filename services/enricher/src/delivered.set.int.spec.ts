import { serverUrls, uniqueDbName } from '@s1c/test-harness';
import { MongoClient, type CommandStartedEvent, type Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeliveredSet, type BatchClaim } from './delivered.set';

let mongo: MongoClient;
let db: Db;
/** The commands sent to the server since the last reset, as `<command>:<collection>` (the driver's own monitoring, not a mock). */
let commands: string[] = [];

beforeAll(async () => {
  mongo = await MongoClient.connect(serverUrls().mongoUrl, { monitorCommands: true });
  mongo.on('commandStarted', (event: CommandStartedEvent) => {
    if (['find', 'insert', 'update', 'delete', 'aggregate', 'drop', 'count'].includes(event.commandName)) {
      commands.push(`${event.commandName}:${String(event.command[event.commandName])}`);
    }
  });
  db = mongo.db(uniqueDbName('delivered'));
});

afterAll(async () => {
  await db?.dropDatabase().catch(() => undefined);
  await mongo?.close();
});

const DAY = 86_400_000;
const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}:activities:${i}`);
const now = () => new Date();
const ago = (ms: number) => new Date(Date.now() - ms);
const count = (claim: BatchClaim, state: string) => [...claim.results.values()].filter((r) => r === state).length;
const set = (prefix: string, retentionMs = 30 * DAY) => new DeliveredSet(db, { retentionMs, collectionPrefix: prefix });
/** Commands on the collections that grow with every record: only inserts (and drops) may touch them. */
const onClaims = () => commands.filter((c) => /_claims_/.test(c) && !c.startsWith('insert:') && !c.startsWith('drop:'));

describe('DeliveredSet', () => {
  it('resolves 500 duplicates of a done batch and 300 of an interrupted one in a few round trips, not one lookup each', async () => {
    // Given 500 records delivered by batch A and 300 claimed by batch B, which never finished (a crash a minute ago),
    const delivered = set('many');
    await delivered.markDone(await delivered.claim(ids('a', 500), 'A', ago(120_000)));
    await (await delivered.claim(ids('b', 300), 'B', ago(60_000))).copied;
    // When a batch redelivered after the crash holds all of them and 200 new ones,
    commands = [];
    const results = await delivered.claim([...ids('a', 500), ...ids('b', 300), ...ids('c', 200)], 'C', now(), new Set(ids('b', 300)));
    await results.copied;
    // Then each is classified right,
    expect(count(results, 'delivered')).toBe(500);
    expect(count(results, 'unfinished')).toBe(300);
    expect(count(results, 'claimed')).toBe(200);
    expect(ids('a', 500).every((id) => results.results.get(id) === 'delivered')).toBe(true);
    expect(ids('b', 300).every((id) => results.results.get(id) === 'unfinished')).toBe(true);
    // and it took a handful of commands: one lookup per duplicate is a collection scan each on
    // FerretDB, and made such batches outlast their time limit after an outage (faults.replicas);
    expect(commands.length).toBeLessThanOrEqual(6);
    // not one of them a query on the claims, which grow with every record (a full scan on FerretDB).
    expect(onClaims()).toEqual([]);
  });

  it('a record published again after an interrupted attempt counts as delivered once that batch is done', async () => {
    for (const n of [3, 50]) {
      commands = [];
      // Given records claimed by a batch that never finished,
      const delivered = set(`again${n}`);
      const records = ids('r', n);
      await delivered.claim(records, 'crashed', ago(60_000));
      // when the next attempt finds them unfinished, publishes them and is marked done,
      const retry = await delivered.claim(records, 'retry', now(), new Set(records));
      expect(count(retry, 'unfinished')).toBe(n);
      await delivered.markDone(retry);
      // then a later copy of them is skipped as delivered (not published again past the
      // data stream's duplicate window), also in another process that knows no batch yet,
      expect(count(await delivered.claim(records, 'later', now()), 'delivered')).toBe(n);
      expect(count(await set(`again${n}`).claim(records, 'elsewhere', now()), 'delivered')).toBe(n);
      // and no update, delete or query touched the claims (on FerretDB each is a scan of every
      // claim, inside a write transaction for updates and deletes): only the small intents.
      expect(onClaims()).toEqual([]);
      expect(commands.filter((c) => /^(update|delete|find):/.test(c)).every((c) => new RegExp(`:again${n}_pending(_published)?$`).test(c))).toBe(true);
      expect(commands.filter((c) => c.startsWith('update:'))).toEqual([]);
    }
  });

  it('a record whose claim stays unfinished is still published again by the next attempt', async () => {
    const delivered = set('unfinished');
    await delivered.claim(['u:agents:1'], 'first', ago(60_000));
    expect((await delivered.claim(['u:agents:1'], 'second', ago(30_000), new Set(['u:agents:1']))).results.get('u:agents:1')).toBe('unfinished');
    // The second attempt failed too (no markDone): the third publishes it again.
    expect((await delivered.claim(['u:agents:1'], 'third', now(), new Set(['u:agents:1']))).results.get('u:agents:1')).toBe('unfinished');
  });

  it('remembers a record for at least the retention, across the end of the period it was claimed in', async () => {
    const R = 10_000;
    const delivered = set('periods', R);
    // Claimed and published 1 ms before its period ends,
    const k = Math.floor(Date.now() / R) - 10;
    const t0 = (k + 1) * R - 1;
    await delivered.markDone(await delivered.claim(['p:threats:1'], 'first', new Date(t0)));
    // a copy is skipped in the next period until the retention has passed,
    expect((await delivered.claim(['p:threats:1'], 'copy1', new Date(t0 + 2))).results.get('p:threats:1')).toBe('delivered');
    expect((await delivered.claim(['p:threats:1'], 'copy2', new Date(t0 + R - 1))).results.get('p:threats:1')).toBe('delivered');
    expect(delivered.partitionName(new Date(t0))).not.toBe(delivered.partitionName(new Date(t0 + 2)));
    // and is published again only once it is more than two periods old.
    expect((await delivered.claim(['p:threats:1'], 'much-later', new Date(t0 + 2 * R + 2))).results.get('p:threats:1')).toBe('claimed');
  });

  it('cleans up by dropping whole expired partitions and old intents, without a query on the claims', async () => {
    const R = 10_000;
    const delivered = set('cleanup', R);
    const t = Math.floor(Date.now() / R) * R + 5_000;
    for (let i = 0; i < 5; i++) await delivered.markDone(await delivered.claim([`old:${i}`], `b${i}`, new Date(t - i * R)));
    await delivered.claim(['stuck'], 'stuck', new Date(t - 5 * R));
    const partitions = async () => (await db.listCollections({ name: { $regex: '^cleanup_claims_' } }, { nameOnly: true }).toArray()).map((c) => c.name).sort();
    expect((await partitions()).length).toBe(7);
    commands = [];
    const removed = await delivered.removeExpired(new Date(t));
    // Periods that ended more than a margin (here one period) ago are gone; the current one, the
    // previous one (replicas whose clocks lag) and the next one stay.
    expect(await partitions()).toEqual([-1, 0, 1].map((d) => delivered.partitionName(new Date(t + d * R))).sort());
    expect(removed).toBe(4 + 1);
    expect(commands.filter((c) => c.startsWith('drop:')).length).toBe(4);
    expect(onClaims()).toEqual([]);
    // The current claims are still found.
    expect((await delivered.claim(['old:0'], 'again', new Date(t))).results.get('old:0')).toBe('delivered');
  });

  it('two replicas claiming the same records at once: one claims each, the other publishes it again, and later copies are skipped', async () => {
    const a = set('replicas');
    const b = set('replicas');
    const records = ids('x', 100);
    const [fromA, fromB] = await Promise.all([a.claim(records, 'A', now()), b.claim(records, 'B', now())]);
    for (const id of records) {
      const pair = [fromA.results.get(id), fromB.results.get(id)].sort();
      // Never both skipping it: the loser sees the winner's intent and publishes too (JetStream's window drops the second).
      expect(pair).toEqual(['claimed', 'unfinished']);
    }
    await Promise.all([a.markDone(fromA), b.markDone(fromB)]);
    expect(count(await set('replicas').claim(records, 'C', now()), 'delivered')).toBe(100);
    expect(await db.collection('replicas_pending').countDocuments({ batch: { $ne: 'C' } })).toBe(0);
  });

  it('two copies of long-delivered records claimed at once are both skipped, not published again', async () => {
    const a = set('latecopies');
    const b = set('latecopies');
    const records = ids('y', 50);
    await a.markDone(await a.claim(records, 'original', ago(DAY)));
    // A replay and another late copy, in two replicas' batches at the same moment: each batch's
    // intent lists the other's records as candidates until its claim step has sorted them out.
    const [x, y] = await Promise.all([a.claim(records, 'X', now()), b.claim(records, 'Y', now())]);
    expect(count(x, 'delivered')).toBe(50);
    expect(count(y, 'delivered')).toBe(50);
  });

  it('an intent left by a batch that stopped before its claims does not make a later copy publish again', async () => {
    const delivered = set('stale');
    // A batch wrote its intent and stopped (crash, or MongoDB failed) before claiming anything.
    await db.collection('stale_pending').insertOne({ _id: 'stopped' as never, batch: 'stopped', ids: ['s:agents:1', 's:agents:2'], at: ago(60_000), claimed: false });
    // Its messages come back: the retry claims them as new, publishes them, and takes them off the old intent.
    const retry = await delivered.claim(['s:agents:1', 's:agents:2'], 'retry', now(), new Set(['s:agents:1', 's:agents:2']));
    expect(count(retry, 'claimed')).toBe(2);
    await delivered.markDone(retry);
    // A copy past the duplicate window is skipped.
    const copy = await delivered.claim(['s:agents:1', 's:agents:2'], 'copy', now());
    expect(count(copy, 'delivered')).toBe(2);
    await delivered.markDone(copy);
    // A minute on, the stopped batch's intent (every id of it published again) and the marks are swept.
    expect(await delivered.sweepIntents(new Date(Date.now() + 61_000))).toBe(3);
    expect(await db.collection('stale_pending').countDocuments({})).toBe(0);
    expect(await db.collection('stale_pending_published').countDocuments({})).toBe(0);
  });

  it('moves a delivered set of the previous layout, leaving unfinished claims out', async () => {
    const at = new Date();
    await db.collection('legacy_delivered').insertMany([
      { _id: 'l:done' as never, batch: 'b-done', at },
      { _id: 'l:republished' as never, batch: 'b-crashed', at },
      { _id: 'l:unfinished' as never, batch: 'b-crashed', at },
    ]);
    await db.collection('legacy_batches').insertOne({ _id: 'b-done' as never, at });
    await db.collection('legacy_republished').insertOne({ _id: 'l:republished' as never, at });
    const delivered = set('legacy');
    expect(await delivered.migrateLegacy(at)).toBe(2);
    const claim = await delivered.claim(['l:done', 'l:republished', 'l:unfinished'], 'next', at);
    expect(Object.fromEntries(claim.results)).toEqual({ 'l:done': 'delivered', 'l:republished': 'delivered', 'l:unfinished': 'claimed' });
    const names = (await db.listCollections({ name: { $regex: '^legacy_' } }, { nameOnly: true }).toArray()).map((c) => c.name);
    expect(names.filter((n) => !n.startsWith('legacy_claims_') && n !== 'legacy_pending')).toEqual([]);
    expect(await delivered.migrateLegacy(at)).toBe(0);
  });
});
