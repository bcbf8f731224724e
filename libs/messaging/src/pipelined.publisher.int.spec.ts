import { serverUrls } from '@s1c/test-harness';
import { RetentionPolicy, StorageType, nanos, type JetStreamManager, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNats, drainNats } from './nats.connection';
import { HeaderBlock } from './header.block';
import { PipelinedPublisher, PublishFailedError } from './pipelined.publisher';
import { ensureStream } from './stream.declarations';
import { uniqueName } from './testing/messaging.test-kit';

describe('PipelinedPublisher, against a real nats-server', () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let stream: string;

  beforeAll(async () => {
    nc = await connectNats({ url: serverUrls().natsUrl, name: 'pipelined-publisher-test' });
    jsm = await nc.jetstreamManager();
    stream = uniqueName('PIPE');
    await ensureStream(jsm, { name: stream, subjects: [`${stream}.>`], retention: RetentionPolicy.Limits, storage: StorageType.File, duplicate_window: nanos(60_000) });
  });
  afterAll(async () => drainNats(nc));

  const body = (i: number) => new TextEncoder().encode(`{"i":${i}}`);

  it('stores every message once with its headers and id, and acks a repeated id as a duplicate', async () => {
    const publisher = new PipelinedPublisher(nc, { maxInFlight: 50 });
    const subject = `${stream}.many`;
    const acks = await Promise.all(
      Array.from({ length: 2000 }, (_, i) => {
        const h = new HeaderBlock();
        h.append('S1c-Record-Id', `r${i}`);
        return publisher.publish(subject, body(i), `r${i}`, h);
      }),
    );
    expect(acks.every((a) => a.stream === stream && !a.duplicate)).toBe(true);
    expect(new Set(acks.map((a) => a.seq)).size).toBe(2000);
    const again = await publisher.publish(subject, body(7), 'r7', new HeaderBlock());
    expect(again).toMatchObject({ stream, duplicate: true, seq: acks[7]!.seq });

    const info = await jsm.streams.info(stream, { subjects_filter: subject });
    expect(info.state.subjects?.[subject]).toBe(2000);
    const stored = await jsm.streams.getMessage(stream, { seq: acks[1234]!.seq });
    expect(new TextDecoder().decode(stored.data)).toBe('{"i":1234}');
    expect(stored.header.get('Nats-Msg-Id')).toBe('r1234');
    expect(stored.header.get('S1c-Record-Id')).toBe('r1234');
    publisher.close();
  });

  it('fails a publish no stream takes (no responders) without waiting for the timeout', async () => {
    const publisher = new PipelinedPublisher(nc, { timeoutMs: 30_000 });
    const started = Date.now();
    await expect(publisher.publish('nostream.here', body(1), 'x', new HeaderBlock())).rejects.toThrow(/publish to nostream\.here: no stream takes this subject/);
    expect(Date.now() - started).toBeLessThan(5_000);
    publisher.close();
  });

  it('holds publishes beyond maxInFlight until earlier ones settle, and fails the ones whose PubAck never comes', async () => {
    // A plain subscriber that never answers: the publishes neither get a PubAck nor "no responders".
    const silent = nc.subscribe(`${stream}-silent.>`);
    const publisher = new PipelinedPublisher(nc, { maxInFlight: 2, timeoutMs: 300 });
    const settled: string[] = [];
    const all = [0, 1, 2].map((i) =>
      publisher.publish(`${stream}-silent.x`, body(i), `s${i}`, new HeaderBlock()).then(
        () => settled.push(`ok ${i}`),
        (error: unknown) => settled.push(`${(error as Error).constructor.name} ${i} ${(error as Error).message}`),
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Two sent, the third waits for a slot; nothing settled yet.
    expect(silent.getReceived()).toBe(2);
    expect(settled).toEqual([]);
    await Promise.all(all);
    expect(silent.getReceived()).toBe(3);
    expect(settled).toEqual([
      `${PublishFailedError.name} 0 publish to ${stream}-silent.x: no PubAck within 300 ms`,
      `${PublishFailedError.name} 1 publish to ${stream}-silent.x: no PubAck within 300 ms`,
      `${PublishFailedError.name} 2 publish to ${stream}-silent.x: no PubAck within 300 ms`,
    ]);
    silent.unsubscribe();
    publisher.close();
  });

  it('fails what is in flight when closed, and refuses new publishes', async () => {
    const silent = nc.subscribe(`${stream}-closed.>`);
    const publisher = new PipelinedPublisher(nc, { timeoutMs: 60_000 });
    const inFlight = publisher.publish(`${stream}-closed.x`, body(1), 'c1', new HeaderBlock());
    await new Promise((resolve) => setTimeout(resolve, 50));
    publisher.close();
    await expect(inFlight).rejects.toThrow(/closed before the PubAck came/);
    await expect(publisher.publish(`${stream}.x`, body(2), 'c2', new HeaderBlock())).rejects.toThrow(/the publisher is closed/);
    silent.unsubscribe();
  });
});
