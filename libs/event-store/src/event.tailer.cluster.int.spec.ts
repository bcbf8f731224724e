import { startNatsCluster, type RunningNatsCluster } from '@s1c/test-harness';
import { connect, nanos, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventTailer } from './event.tailer';
import { type RecordedEvent } from './event.types';
import { MongoEventStore } from './mongo.event-store';
import { OutboxRelay } from './outbox.relay';
import { connectMongo, type MongoFixture } from './testing/mongo.fixture';

const STREAM = 'TAILER_CLUSTER';
/** Readers started after the loss: each consumer lands on a random node of the stream in nats-server 2.9.10. */
const READERS = 9;

/**
 * A reader of the relayed events on a three-node cluster with one node lost for good. nats-server
 * 2.9.10 places a one-replica consumer on any node of its stream, the lost one too; nats.js's
 * ordered consumer then asks again under the same name for minutes. With nine readers, the chance
 * that none lands on the lost node is (2/3)^9, under 3%: without the tailer's own consumer
 * handling, this test fails almost every run.
 */
describe('EventTailer on a three-node JetStream cluster with one node lost for good', () => {
  let cluster: RunningNatsCluster;
  let nc: NatsConnection;
  let mongo: MongoFixture;
  let store: MongoEventStore;
  let relay: OutboxRelay;
  const tailers: EventTailer[] = [];
  /** The node the first test loses for good. */
  let lost = -1;

  beforeAll(async () => {
    cluster = await startNatsCluster();
    mongo = await connectMongo();
    nc = await connect({ servers: cluster.url.split(',') });
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: STREAM, subjects: [`${STREAM}.>`], num_replicas: 3, duplicate_window: nanos(120_000) });
    const db = mongo.db();
    store = new MongoEventStore(db);
    relay = new OutboxRelay(store, db, nc.jetstream(), jsm, { name: 'cluster-test', streamName: STREAM, subjectFor: (e: RecordedEvent) => `${STREAM}.${e.streamId}`, pollIntervalMs: 50 });
    await relay.start();
  }, 120_000);

  afterAll(async () => {
    for (const tailer of tailers) await tailer.stop().catch(() => undefined);
    await relay?.stop().catch(() => undefined);
    await nc?.close();
    await mongo?.close();
    await cluster?.stop();
  }, 60_000);

  it(`every one of ${READERS} readers started after the loss follows the stream, each event once`, async () => {
    await store.appendToStream('before', [{ type: 'Made', data: {} }], { expectedVersion: 0 });
    await relay.flush();
    const leader = await cluster.metaLeader();
    lost = (leader + 1) % cluster.nodes.length;
    await cluster.nodes[lost]!.kill();
    // The stream's leader may have been on that node: the readers start once it has another.
    const jsm = await nc.jetstreamManager({ checkAPI: false });
    for (let tries = 0; !(await jsm.streams.info(STREAM).then((info) => info.cluster?.leader, () => undefined)); tries++) {
      expect(tries, 'the stream to elect a leader').toBeLessThan(60);
      await new Promise((r) => setTimeout(r, 500));
    }

    const handled = Array.from({ length: READERS }, () => [] as string[]);
    for (let i = 0; i < READERS; i++) {
      const tailer = new EventTailer(store, nc, `reader-${i}`, { handle: (e) => void handled[i]!.push(`${e.streamId}@${e.version}`) }, {
        streamName: STREAM,
        coldStart: 'stream',
        catchUpTimeoutMs: 60_000,
      });
      tailers.push(tailer);
    }
    await Promise.all(tailers.map((t) => t.start()));
    await store.appendToStream('after', [{ type: 'Made', data: {} }, { type: 'Changed', data: {} }], { expectedVersion: 0 });
    await relay.flush();

    const started = Date.now();
    await Promise.all(tailers.map((t) => t.catchUp({ streamId: 'after', version: 2 })));
    for (const events of handled) expect(events).toEqual(['before@1', 'after@1', 'after@2']);
    // A consumer placed on the lost node costs one API timeout (5 s) before the next try, not minutes.
    expect(Date.now() - started).toBeLessThan(45_000);
  }, 180_000);

  it('a reader started while the stream has no leader (a second node down) starts once it has one', async () => {
    const leader = await cluster.metaLeader();
    // The node lost above stays down; one more and the stream has no majority.
    const down = [0, 1, 2].find((i) => i !== leader && i !== lost)!;
    expect(lost, 'the node lost by the test before').toBeGreaterThanOrEqual(0);
    await cluster.nodes[down]!.kill();
    const handled: string[] = [];
    const tailer = new EventTailer(store, nc, 'reader-late', { handle: (e) => void handled.push(`${e.streamId}@${e.version}`) }, {
      streamName: STREAM,
      coldStart: 'stream',
      catchUpTimeoutMs: 60_000,
    });
    tailers.push(tailer);
    const starting = tailer.start();
    await new Promise((r) => setTimeout(r, 7_000));
    await cluster.nodes[down]!.restart();
    await starting;
    await tailer.catchUp({ streamId: 'after', version: 2 });
    expect(handled).toEqual(['before@1', 'after@1', 'after@2']);
  }, 180_000);
});
