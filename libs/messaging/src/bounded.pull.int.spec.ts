import { serverUrls } from '@s1c/test-harness';
import { AckPolicy, connect, type NatsConnection } from 'nats';
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BoundedPull } from './bounded.pull';

const STREAM = 'BOUNDED_PULL_TEST';
let nc: NatsConnection;

beforeAll(async () => {
  nc = await connect({ servers: serverUrls().natsUrl });
  const jsm = await nc.jetstreamManager();
  await jsm.streams.delete(STREAM).catch(() => undefined);
  await jsm.streams.add({ name: STREAM, subjects: ['bounded-pull-test.>'] });
});

afterAll(async () => {
  await (await nc?.jetstreamManager())?.streams.delete(STREAM).catch(() => undefined);
  await nc?.close();
});

/** `count` messages, each its index followed by `padding` spaces. */
async function publish(subject: string, count: number, padding = 0): Promise<void> {
  const js = nc.jetstream();
  await Promise.all(Array.from({ length: count }, (_, i) => js.publish(subject, new TextEncoder().encode(String(i) + ' '.repeat(padding)))));
}

describe('BoundedPull', () => {
  it('when the reader stops taking messages, then at most `max` are pulled and the rest stay on the server', async () => {
    // Given 2,000 messages and an ordered consumer read through a BoundedPull of 20,
    await publish('bounded-pull-test.held', 2000);
    const consumer = await nc.jetstream().consumers.get(STREAM, { filterSubjects: 'bounded-pull-test.held' });
    const pull = new BoundedPull(consumer, { max: 20, expiresMs: 5000 });
    // When the reader takes 5 and then waits,
    const reader = pull[Symbol.asyncIterator]();
    for (let i = 0; i < 5; i++) expect((await reader.next()).done).toBe(false);
    const pending = async () => (await consumer.info()).num_pending;
    await sleep(500);
    // Then the server still holds all but what was pulled (at most 20 past the 5 taken).
    expect(await pending()).toBeGreaterThanOrEqual(2000 - 25);
    pull.stop();
    await consumer.delete().catch(() => undefined);
  });

  it('when the reader awaits between messages, then every message comes once, in order, across many pulls', async () => {
    // Given 1,000 messages of 16 KiB and pulls of 50 (a pull's messages come in many reads of the
    // socket, and the pull ends while the reader is busy with an earlier one),
    await publish('bounded-pull-test.order', 1000, 16 * 1024);
    const consumer = await nc.jetstream().consumers.get(STREAM, { filterSubjects: 'bounded-pull-test.order' });
    const pull = new BoundedPull(consumer, { max: 50, expiresMs: 5000 });
    // When the reader takes them, yielding to the event loop after each,
    const seen: number[] = [];
    const sequences: number[] = [];
    const deadline = setTimeout(() => pull.stop(), 20_000);
    for await (const m of pull) {
      seen.push(Number.parseInt(new TextDecoder().decode(m.data), 10));
      sequences.push(m.seq);
      await tick();
      if (seen.length === 1000) break;
    }
    clearTimeout(deadline);
    // Then it saw each message once, in the stream's order.
    expect(seen).toHaveLength(1000);
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(sequences.every((seq, i) => i === 0 || seq > sequences[i - 1]!)).toBe(true);
    await consumer.delete().catch(() => undefined);
  });

  it('when a pull fails, then the messages received before it come first and the iteration throws', async () => {
    // Given a durable consumer with 30 messages, read 10 at a time,
    const jsm = await nc.jetstreamManager();
    await jsm.consumers.add(STREAM, { durable_name: 'failing', ack_policy: AckPolicy.None, filter_subject: 'bounded-pull-test.failing' });
    await publish('bounded-pull-test.failing', 30);
    const consumer = await nc.jetstream().consumers.get(STREAM, 'failing');
    const pull = new BoundedPull(consumer, { max: 10, expiresMs: 1000 });
    // When the consumer is deleted after the first message is taken,
    let count = 0;
    const read = (async () => {
      for await (const _ of pull) {
        count++;
        if (count === 1) await jsm.consumers.delete(STREAM, 'failing');
      }
    })();
    // Then the iteration throws, having given every message it had.
    await expect(read).rejects.toBeDefined();
    expect(count).toBeGreaterThanOrEqual(1);
    expect(count).toBeLessThanOrEqual(30);
  });

  it('when it is stopped, then the iteration ends', async () => {
    const consumer = await nc.jetstream().consumers.get(STREAM, { filterSubjects: 'bounded-pull-test.none' });
    const pull = new BoundedPull(consumer, { max: 10, expiresMs: 30_000 });
    const read = (async () => {
      let n = 0;
      for await (const _ of pull) n++;
      return n;
    })();
    await sleep(200);
    pull.stop();
    await expect(read).resolves.toBe(0);
    await consumer.delete().catch(() => undefined);
  });
});
