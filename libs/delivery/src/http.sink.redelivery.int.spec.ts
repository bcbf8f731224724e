import { MongoEventStore } from '@s1c/event-store';
import { createLogger } from '@s1c/logger';
import { serverUrls, uniqueDbName } from '@s1c/test-harness';
import { MongoClient, type CommandStartedEvent, type Db } from 'mongodb';
import { AckPolicy, connect, headers as natsHeaders, nanos, type JsMsg, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDataRecord, DATA_RECORD_HEADERS } from './data-record';
import { DeliveryHealth } from './delivery.health';
import { HttpSink } from './http.sink';

const STREAM = 'HTTP_SINK_REDELIVERY_TEST';
let nc: NatsConnection;
let mongo: MongoClient;
let db: Db;
const commands: string[] = [];

beforeAll(async () => {
  const { natsUrl, mongoUrl } = serverUrls();
  nc = await connect({ servers: natsUrl });
  const jsm = await nc.jetstreamManager();
  await jsm.streams.delete(STREAM).catch(() => undefined);
  await jsm.streams.add({ name: STREAM, subjects: ['http-sink-redelivery-test.>'] });
  mongo = await MongoClient.connect(mongoUrl, { monitorCommands: true });
  mongo.on('commandStarted', (event: CommandStartedEvent) => {
    if (event.commandName === 'find') commands.push(String(event.command.find));
  });
  db = mongo.db(uniqueDbName('sinkredelivery'));
});

afterAll(async () => {
  await (await nc?.jetstreamManager())?.streams.delete(STREAM).catch(() => undefined);
  await nc?.close();
  await db?.dropDatabase().catch(() => undefined);
  await mongo?.close();
});

describe('HttpSink', () => {
  it('skips 190 of 200 redelivered records it had already sent with one lookup per day since the messages entered the stream, not one each', async () => {
    // Given 200 output records, 190 of which the collector accepted before a crash lost their acks,
    const N = 200;
    const js = nc.jetstream();
    for (let i = 0; i < N; i++) {
      const id = `s:activities:${i}`;
      const { body, eventOffset } = buildDataRecord(
        { id, sourceId: 's', collectorId: 'default', api: 'activities', fetchedAt: '2026-01-02T03:04:05.123456Z' },
        '{"_source":"S"}',
        new TextEncoder().encode(`{"id":"${i}"}`),
      );
      const h = natsHeaders();
      h.set(DATA_RECORD_HEADERS.recordId, id);
      h.set(DATA_RECORD_HEADERS.eventOffset, String(eventOffset));
      h.set(DATA_RECORD_HEADERS.sourceVersion, '1');
      await js.publish('http-sink-redelivery-test.s', body, { headers: h });
    }
    // delivered over two days (a crash around midnight), with older days of other records kept,
    const day = (daysAgo: number) => `${HttpSink.deliveredCollection}_${new Date(Date.now() - daysAgo * 86_400_000).toISOString().slice(0, 10).replaceAll('-', '')}`;
    const delivered = Array.from({ length: N }, (_, i) => ({ _id: `s:activities:${i}` as never }));
    // all but the last 10 (never sent),
    await db.collection(day(1)).insertMany(delivered.slice(0, N / 2));
    await db.collection(day(0)).insertMany(delivered.slice(N / 2, N - 10));
    for (const old of [2, 5, 20]) await db.collection(day(old)).insertOne({ _id: `old:activities:${old}` as never });
    const jsm = await nc.jetstreamManager();
    await jsm.consumers.add(STREAM, { durable_name: 'sink', ack_policy: AckPolicy.Explicit, ack_wait: nanos(1000) });
    const consumer = await js.consumers.get(STREAM, 'sink');
    const take = async () => {
      const out: JsMsg[] = [];
      for await (const m of await consumer.fetch({ max_messages: N, expires: 3000 })) out.push(m);
      return out;
    };
    expect(await take()).toHaveLength(N);
    await new Promise((r) => setTimeout(r, 1500)); // past the ack wait: they come again
    const redelivered = await take();
    expect(redelivered.every((m) => m.info.deliveryCount === 2)).toBe(true);

    // When the sink gets them again,
    const logger = createLogger({ name: 'http-sink-test', level: 'silent' });
    const sink = new HttpSink({
      js,
      nc,
      db,
      health: new DeliveryHealth(new MongoEventStore(db), () => new Date(), logger),
      logger,
      clock: () => new Date(),
      random: () => 0.5,
      settings: {
        url: 'http://127.0.0.1:9/never-called',
        maxRecords: 1000,
        maxBytes: 1 << 20,
        flushIntervalMs: 100,
        timeoutMs: 1000,
        concurrency: 1,
        retryInitialMs: 100,
        retryMaxMs: 100,
        retryWindowMs: 1000,
        ackWaitMs: 1000,
      },
    });
    commands.length = 0;
    await sink.handle(redelivered);
    await sink.stop();
    // Then every one is skipped (acked unsent), after one query per day's collection: one per record
    // (a scan each on FerretDB) took minutes after an outage. The days before the messages entered
    // the stream (less a day for the clocks) cannot hold them, and are not read.
    expect(sink.stats.skippedDelivered).toBe(N - 10);
    expect(sink.stats.recordsSent).toBe(0);
    expect(commands.sort()).toEqual([day(1), day(0)].sort());
  });
});
