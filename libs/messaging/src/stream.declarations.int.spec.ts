import { serverUrls, startNatsCluster, type RunningNatsCluster } from '@s1c/test-harness';
import { AckPolicy, DeliverPolicy, RetentionPolicy, StorageType, nanos, type JetStreamManager, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeclarationConflictError } from './messaging.errors';
import { connectNats, drainNats } from './nats.connection';
import { STREAMS, declareStreams, ensureConsumer, ensureStream } from './stream.declarations';
import { uniqueName } from './testing/messaging.test-kit';

describe('stream and consumer declarations', () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;

  beforeAll(async () => {
    nc = await connectNats({ url: serverUrls().natsUrl, name: 'declarations-test' });
    jsm = await nc.jetstreamManager();
  });
  afterAll(async () => drainNats(nc));

  describe('ensureStream', () => {
    it('creates a stream, does nothing the second time, and applies a changed config without losing data', async () => {
      const name = uniqueName('DECL');
      const config = {
        name,
        subjects: [`${name}.a.>`, `${name}.b.>`],
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        duplicate_window: nanos(120_000),
      };

      expect((await ensureStream(jsm, config)).action).toBe('created');
      await nc.jetstream().publish(`${name}.a.1`, new Uint8Array([1]), { msgID: 'm1' });
      expect((await ensureStream(jsm, { ...config, subjects: [...config.subjects].reverse() })).action).toBe('unchanged');

      const updated = await ensureStream(jsm, { ...config, subjects: [...config.subjects, `${name}.c.>`], duplicate_window: nanos(300_000) });

      expect(updated.action).toBe('updated');
      const info = await jsm.streams.info(name);
      expect(info.config.subjects).toContain(`${name}.c.>`);
      expect(info.config.duplicate_window).toBe(nanos(300_000));
      expect(info.state.messages).toBe(1);
      await jsm.streams.delete(name);
    });

    it('refuses a change the server cannot make in place, naming the field', async () => {
      const name = uniqueName('DECL');
      await ensureStream(jsm, { name, subjects: [`${name}.>`], storage: StorageType.File });

      await expect(ensureStream(jsm, { name, subjects: [`${name}.>`], storage: StorageType.Memory })).rejects.toThrow(
        DeclarationConflictError,
      );
      await expect(ensureStream(jsm, { name, subjects: [`${name}.>`], storage: StorageType.Memory })).rejects.toThrow(/storage/);
      await jsm.streams.delete(name);
    });
  });

  describe('ensureConsumer', () => {
    it('creates a durable pull consumer with explicit acks, is idempotent, and updates ack_wait', async () => {
      const name = uniqueName('DECL');
      await ensureStream(jsm, { name, subjects: [`${name}.>`] });
      const config = { durable_name: 'worker', filter_subject: `${name}.x`, ack_wait: nanos(10_000), max_deliver: 5 };

      const created = await ensureConsumer(jsm, name, config);
      const again = await ensureConsumer(jsm, name, config);
      const updated = await ensureConsumer(jsm, name, { ...config, ack_wait: nanos(20_000) });

      expect([created.action, again.action, updated.action]).toEqual(['created', 'unchanged', 'updated']);
      expect(updated.info.config.ack_policy).toBe(AckPolicy.Explicit);
      expect(updated.info.config.ack_wait).toBe(nanos(20_000));
      expect(updated.info.config.deliver_subject).toBeUndefined();
      await expect(ensureConsumer(jsm, name, { ...config, deliver_policy: DeliverPolicy.New })).rejects.toThrow(/deliver_policy/);
      await jsm.streams.delete(name);
    });
  });

  describe('declareStreams', () => {
    it('declares the project streams, and a second run changes nothing', async () => {
      await declareStreams(jsm);
      const second = await declareStreams(jsm);

      expect(second.map((r) => r.action)).toEqual(Object.values(STREAMS).map(() => 'unchanged'));
      const jobs = await jsm.streams.info(STREAMS.jobs.name);
      expect(jobs.config.retention).toBe(RetentionPolicy.Workqueue);
      const events = await jsm.streams.info(STREAMS.events.name);
      expect(events.config.duplicate_window).toBeGreaterThanOrEqual(nanos(120_000));
      expect(events.config.subjects).toEqual(['s1c.evt.>']);
    });
  });
});

describe('stream replicas (S1C_STREAM_REPLICAS)', () => {
  it('on one server: refuses a stream of 3 replicas with the reason and what to set, and leaves an existing stream as it is', async () => {
    const nc = await connectNats({ url: serverUrls().natsUrl, name: 'replicas-test' });
    try {
      const jsm = await nc.jetstreamManager();
      const name = uniqueName('REPL');
      await expect(ensureStream(jsm, { name, subjects: [`${name}.>`] }, { replicas: 3 })).rejects.toThrow(
        new RegExp(`cannot create stream ${name} with 3 replicas: the server said ".+" \\(S1C_STREAM_REPLICAS: a cluster needs at least that many servers`),
      );
      await ensureStream(jsm, { name, subjects: [`${name}.>`] }, { replicas: 1 });
      const refused = await ensureStream(jsm, { name, subjects: [`${name}.>`] }, { replicas: 3 }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(DeclarationConflictError);
      expect((refused as Error).message).toMatch(/num_replicas .*the server said ".+".*S1C_STREAM_REPLICAS/);
      expect((await jsm.streams.info(name)).config.num_replicas).toBe(1);
      await jsm.streams.delete(name);
    } finally {
      await drainNats(nc);
    }
  });

  describe('on a three-node cluster', () => {
    let cluster: RunningNatsCluster;
    let nc: NatsConnection;
    beforeAll(async () => {
      cluster = await startNatsCluster();
      nc = await connectNats({ url: cluster.url, name: 'replicas-test' });
    }, 60_000);
    afterAll(async () => {
      await drainNats(nc);
      await cluster?.stop();
    });

    it('creates every stream with the replicas asked for, and moves an existing stream from 1 to 3 replicas keeping its data', async () => {
      const jsm = await nc.jetstreamManager();
      const created = await ensureStream(jsm, STREAMS.events, { replicas: 3 });
      expect(created.info.config.num_replicas).toBe(3);
      // Returned once it has elected a leader: a consumer created right away gets an answer.
      expect(created.info.cluster?.leader).toBeTruthy();
      expect(created.info.cluster?.replicas).toHaveLength(2);
      await jsm.consumers.add(STREAMS.events.name, { durable_name: 'right-away', ack_policy: AckPolicy.Explicit });

      const name = uniqueName('REPL');
      await ensureStream(jsm, { name, subjects: [`${name}.>`] }, { replicas: 1 });
      for (let i = 0; i < 10; i++) await nc.jetstream().publish(`${name}.${i}`, new Uint8Array([i]));
      const moved = await ensureStream(jsm, { name, subjects: [`${name}.>`] }, { replicas: 3 });
      expect(moved.action).toBe('updated');
      expect(moved.info.config.num_replicas).toBe(3);
      expect((await jsm.streams.info(name)).state.messages).toBe(10);
      expect((await ensureStream(jsm, { name, subjects: [`${name}.>`] }, { replicas: 3 })).action).toBe('unchanged');
    });
  });
});

