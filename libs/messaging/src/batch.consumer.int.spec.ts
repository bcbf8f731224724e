
import { serverUrls } from '@s1c/test-harness';
import { AckPolicy, connect, nanos, type JsMsg, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchConsumer } from './batch.consumer';
import { LostConsumerGuard } from './lost.consumer';
import { silentLogger } from './logger.interface';

const STREAM = 'BATCH_CONSUMER_TEST';
let nc: NatsConnection;

beforeAll(async () => {
  nc = await connect({ servers: serverUrls().natsUrl });
  const jsm = await nc.jetstreamManager();
  await jsm.streams.delete(STREAM).catch(() => undefined);
  await jsm.streams.add({ name: STREAM, subjects: ['batch-consumer-test.>'] });
});

afterAll(async () => {
  await (await nc?.jetstreamManager())?.streams.delete(STREAM).catch(() => undefined);
  await nc?.close();
});

describe('BatchConsumer', () => {
  it('when messages wait in its buffer longer than the ack wait, they are not redelivered while they wait', async () => {
    // Given a consumer with a 2 s ack wait and a handler that takes 3 s per batch of 10 (a batch
    // pulled ahead waits 3 s in the buffer: past the ack wait, with margin for a busy machine's timers),
    const jsm = await nc.jetstreamManager();
    await jsm.consumers.add(STREAM, {
      durable_name: 'slow',
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(2000),
      max_ack_pending: 1000,
      filter_subject: 'batch-consumer-test.slow.>',
    });
    const js = nc.jetstream();
    for (let i = 0; i < 30; i++) await js.publish(`batch-consumer-test.slow.${i}`, new TextEncoder().encode(String(i)));
    const deliveries: number[] = [];
    const consumer = new BatchConsumer(
      js,
      { stream: STREAM, durable: 'slow', batchSize: 10, concurrency: 1, ackWaitMs: 2000 },
      async (messages: readonly JsMsg[]) => {
        await new Promise((r) => setTimeout(r, 3000));
        for (const m of messages) {
          deliveries.push(m.info.deliveryCount);
          m.ack();
        }
      },
      silentLogger,
    );
    // When they are handled one batch after another,
    await consumer.start();
    const deadline = Date.now() + 30_000;
    while (deliveries.length < 30 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 2500));
    await consumer.stop(1000);
    // Then each message was handled exactly once, on its first delivery.
    expect(deliveries).toHaveLength(30);
    expect(deliveries.every((count) => count === 1)).toBe(true);
    const info = await jsm.consumers.info(STREAM, 'slow');
    expect(info.num_redelivered).toBe(0);
  });

  it('when the handler is slower than the backlog, it holds two rounds of batches and leaves the rest on the server', async () => {
    // Given 100 messages waiting, and batches of 5, 2 at once, that finish only when released,
    const jsm = await nc.jetstreamManager();
    await jsm.consumers.add(STREAM, {
      durable_name: 'backlog',
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(30_000),
      max_ack_pending: 1000,
      filter_subject: 'batch-consumer-test.backlog.>',
    });
    const js = nc.jetstream();
    for (let i = 0; i < 100; i++) await js.publish(`batch-consumer-test.backlog.${i}`, new TextEncoder().encode(String(i)));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const handled: string[] = [];
    const consumer = new BatchConsumer(
      js,
      { stream: STREAM, durable: 'backlog', batchSize: 5, concurrency: 2, ackWaitMs: 30_000 },
      async (messages: readonly JsMsg[]) => {
        await released;
        for (const m of messages) {
          handled.push(m.subject.split('.').pop()!);
          m.ack();
        }
      },
      silentLogger,
    );
    // When it runs while the batches hang,
    await consumer.start();
    const pending = async () => (await jsm.consumers.info(STREAM, 'backlog')).num_ack_pending;
    let deadline = Date.now() + 10_000;
    while ((await pending()) < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 1000));
    // Then 20 messages are delivered and not acked (10 running, 10 waiting), the other 80 wait on the server,
    expect(await pending()).toBe(20);
    expect((await jsm.consumers.info(STREAM, 'backlog')).num_pending).toBe(80);
    // and once released, every message is handled exactly once.
    release();
    deadline = Date.now() + 20_000;
    while (handled.length < 100 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await consumer.stop(1000);
    expect(handled.sort()).toEqual(Array.from({ length: 100 }, (_, i) => String(i)).sort());
  });

  it('when a batch never finishes, then after its time limit the slot is freed and its messages are redelivered and handled', async () => {
    // Given one slot and a handler that hangs for ever on the first delivery of message 0,
    const jsm = await nc.jetstreamManager();
    await jsm.consumers.add(STREAM, {
      durable_name: 'stuck',
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(1000),
      max_ack_pending: 1000,
      filter_subject: 'batch-consumer-test.stuck.>',
    });
    const js = nc.jetstream();
    for (let i = 0; i < 3; i++) await js.publish(`batch-consumer-test.stuck.${i}`, new TextEncoder().encode(String(i)));
    const handled: Array<[string, number]> = [];
    const consumer = new BatchConsumer(
      js,
      { stream: STREAM, durable: 'stuck', batchSize: 1, concurrency: 1, ackWaitMs: 1000, batchTimeoutMs: 1500 },
      async (messages: readonly JsMsg[]) => {
        for (const m of messages) {
          if (m.subject.endsWith('.0') && m.info.deliveryCount === 1) await new Promise(() => undefined);
          handled.push([m.subject.split('.').pop()!, m.info.deliveryCount]);
          m.ack();
        }
      },
      silentLogger,
    );
    // When it runs,
    await consumer.start();
    const deadline = Date.now() + 20_000;
    while (handled.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await consumer.stop(500);
    // Then the other messages were not blocked for good, and message 0 came back and was handled.
    expect(handled.map(([id]) => id).sort()).toEqual(['0', '1', '2']);
    expect(handled.find(([id]) => id === '0')![1]).toBeGreaterThan(1);
  });
});

describe('BatchConsumer with lingerMs', () => {
  async function trickle(durable: string, lingerMs: number): Promise<string[][]> {
    // Given batches of 4 and messages that come one every 100 ms,
    const jsm = await nc.jetstreamManager();
    await jsm.consumers.add(STREAM, { durable_name: durable, ack_policy: AckPolicy.Explicit, filter_subject: `batch-consumer-test.${durable}.>` });
    const js = nc.jetstream();
    const batches: string[][] = [];
    const consumer = new BatchConsumer(js, { stream: STREAM, durable, batchSize: 4, concurrency: 2, ackWaitMs: 30_000, lingerMs }, async (messages) => {
      batches.push(messages.map((m) => m.subject.split('.').pop()!));
      for (const m of messages) m.ack();
    }, silentLogger);
    await consumer.start();
    for (let i = 0; i < 6; i++) {
      await js.publish(`batch-consumer-test.${durable}.${i}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const deadline = Date.now() + 10_000;
    while (batches.flat().length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await consumer.stop(1000);
    return batches;
  }

  it('when messages trickle in, then a short batch waits for more: fewer, fuller batches, each message once and in order', async () => {
    // When each batch may wait 3 s for its fourth message,
    const batches = await trickle('linger', 3000);
    // Then the first four went together, and the last two after the linger, without a fourth.
    expect(batches).toEqual([
      ['0', '1', '2', '3'],
      ['4', '5'],
    ]);
  });

  it('when it does not linger, then each message that comes alone is handled alone', async () => {
    const batches = await trickle('eager', 0);
    expect(batches.flat()).toEqual(['0', '1', '2', '3', '4', '5']);
    expect(batches.length).toBeGreaterThanOrEqual(5);
  });
});

describe('BatchConsumer with a byte budget (batch.bytes)', () => {
  async function consumerOf(durable: string, handler: (messages: readonly JsMsg[]) => Promise<void>, lingerMs = 0) {
    const jsm = await nc.jetstreamManager();
    await jsm.consumers.add(STREAM, { durable_name: durable, ack_policy: AckPolicy.Explicit, ack_wait: nanos(30_000), max_ack_pending: 1000, filter_subject: `batch-consumer-test.${durable}.>` });
    // Batches of up to 50 messages or 30,000 bytes, 2 at once: it holds 120,000 bytes at most.
    const options = { stream: STREAM, durable, batchSize: 50, concurrency: 2, ackWaitMs: 30_000, lingerMs, batch: { bytes: 30_000, maxMessageBytes: 16_000 } };
    return { jsm, consumer: new BatchConsumer(nc.jetstream(), options, handler, silentLogger) };
  }

  it('when large messages wait, then it holds what the bytes allow, not what the count allows, and each batch stays within its bytes', async () => {
    // Given 100 messages of 10,000 bytes waiting, and batches that finish only when released,
    const js = nc.jetstream();
    const body = new Uint8Array(10_000);
    const durable = 'bytes-large';
    for (let i = 0; i < 100; i++) await js.publish(`batch-consumer-test.${durable}.${i}`, body);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const batches: string[][] = [];
    const { jsm, consumer } = await consumerOf(durable, async (messages) => {
      await released;
      batches.push(messages.map((m) => m.subject.split('.').pop()!));
      for (const m of messages) m.ack();
    });
    // When it runs while the batches hang,
    await consumer.start();
    const pending = async () => (await jsm.consumers.info(STREAM, durable)).num_ack_pending;
    let deadline = Date.now() + 10_000;
    while ((await pending()) < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 1000));
    // Then it took at most 12 of them (120,000 bytes; the count alone would allow all 100), at least
    // the 6 of the two running batches,
    const held = await pending();
    expect(held).toBeGreaterThanOrEqual(6);
    expect(held).toBeLessThanOrEqual(12);
    // and once released, each message is handled once, in batches of at most 3 (30,000 bytes).
    release();
    deadline = Date.now() + 20_000;
    while (batches.flat().length < 100 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await consumer.stop(1000);
    expect(batches.flat().sort()).toEqual(Array.from({ length: 100 }, (_, i) => String(i)).sort());
    expect(Math.max(...batches.map((b) => b.length))).toBe(3);
  });

  it('when small messages come, then they go many to a batch, up to the count', async () => {
    // Given 80 messages of 100 bytes waiting, and a consumer that lingers for a fuller batch,
    const js = nc.jetstream();
    const durable = 'bytes-small';
    for (let i = 0; i < 80; i++) await js.publish(`batch-consumer-test.${durable}.${i}`, new Uint8Array(100));
    const batches: string[][] = [];
    const { consumer } = await consumerOf(durable, async (messages) => {
      batches.push(messages.map((m) => m.subject.split('.').pop()!));
      for (const m of messages) m.ack();
    }, 1000);
    // When it runs,
    await consumer.start();
    const deadline = Date.now() + 10_000;
    while (batches.flat().length < 80 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await consumer.stop(1000);
    // Then they went in two batches, 50 (the count) and 30, each message once and in order.
    expect(batches.map((b) => b.length)).toEqual([50, 30]);
    expect(batches.flat()).toEqual(Array.from({ length: 80 }, (_, i) => String(i)));
  });
});

describe('BatchConsumer with a LostConsumerGuard', () => {
  it('when the server loses the durable consumer, declares it again after its ack floor: nothing acked before comes again, everything after it is handled', async () => {
    // Given a durable consumer whose first 20 messages were handled and acked, with a guard that has read that floor,
    const jsm = await nc.jetstreamManager();
    const declaration = { durable_name: 'lost', ack_policy: AckPolicy.Explicit, ack_wait: nanos(30_000), filter_subject: 'batch-consumer-test.lost.>' };
    await jsm.consumers.add(STREAM, declaration);
    const js = nc.jetstream();
    const handled: number[] = [];
    const errors: string[] = [];
    const logger = { ...silentLogger, error: (_: object, msg?: string) => void errors.push(msg ?? '') };
    const consumer = new BatchConsumer(
      js,
      { stream: STREAM, durable: 'lost', batchSize: 10, concurrency: 1, ackWaitMs: 30_000, lost: new LostConsumerGuard(jsm, STREAM, declaration, logger) },
      async (messages: readonly JsMsg[]) => {
        for (const m of messages) {
          handled.push(Number(new TextDecoder().decode(m.data)));
          m.ack();
        }
      },
      silentLogger,
    );
    await consumer.start();
    const publish = async (from: number, to: number) => {
      for (let i = from; i < to; i++) await js.publish(`batch-consumer-test.lost.${i}`, new TextEncoder().encode(String(i)));
    };
    const until = async (done: () => boolean | Promise<boolean>, what: string) => {
      const deadline = Date.now() + 30_000;
      while (!(await done())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    try {
      await publish(0, 20);
      await until(async () => handled.length === 20 && (await jsm.consumers.info(STREAM, 'lost')).num_ack_pending === 0, 'the first 20 acked');
      const floor = (await jsm.consumers.info(STREAM, 'lost')).ack_floor.stream_seq;
      await new Promise((r) => setTimeout(r, 5_500));
      // When the server loses it (deleted behind its back) and 10 more messages come,
      await jsm.consumers.delete(STREAM, 'lost');
      await publish(20, 30);
      // Then the guard declares it again from the stream sequence after the floor, and the 10 are handled, the first 20 not again.
      await until(() => handled.length >= 30, 'the next 10 handled');
      await new Promise((r) => setTimeout(r, 1_000));
      expect(handled).toEqual(Array.from({ length: 30 }, (_, i) => i));
      const info = await jsm.consumers.info(STREAM, 'lost');
      expect(info.config.opt_start_seq).toBe(floor + 1);
      expect(errors.some((m) => m.includes('declared again'))).toBe(true);
    } finally {
      await consumer.stop(1000);
    }
  }, 60_000);

  it('made to report only, leaves a lost consumer lost and says so', async () => {
    // Given a reader whose guard only reports (a sink, which cannot take first deliveries twice),
    const jsm = await nc.jetstreamManager();
    const declaration = { durable_name: 'reported', ack_policy: AckPolicy.Explicit, filter_subject: 'batch-consumer-test.reported.>' };
    await jsm.consumers.add(STREAM, declaration);
    const errors: string[] = [];
    const logger = { ...silentLogger, error: (_: object, msg?: string) => void errors.push(msg ?? '') };
    const consumer = new BatchConsumer(
      nc.jetstream(),
      { stream: STREAM, durable: 'reported', batchSize: 10, concurrency: 1, ackWaitMs: 30_000, lost: new LostConsumerGuard(jsm, STREAM, declaration, logger, { declareAgain: false }) },
      async (messages: readonly JsMsg[]) => {
        for (const m of messages) m.ack();
      },
      silentLogger,
    );
    await consumer.start();
    try {
      // When the server loses its consumer,
      await jsm.consumers.delete(STREAM, 'reported');
      const deadline = Date.now() + 15_000;
      while (!errors.some((m) => m.includes('declare it again by hand')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      // Then it says so, and does not declare it again.
      expect(errors.filter((m) => m.includes('declare it again by hand'))).toHaveLength(1);
      await expect(jsm.consumers.info(STREAM, 'reported')).rejects.toThrow(/consumer not found/);
    } finally {
      await consumer.stop(1000);
    }
  }, 30_000);
});
