import { AckPolicy, DeliverPolicy, StorageType } from 'nats';
import { describe, expect, it } from 'vitest';
import { deliveredSequence, publishJson, publishJsonPast } from './jetstream.publisher';
import { natsForTests } from './testing/messaging.test-kit';

const nats = natsForTests();

let streams = 0;
/** A stream on `<name>.>` holding `n` messages. */
async function streamWith(n: number): Promise<string> {
  const name = `PAST_${process.pid}_${++streams}`;
  await nats.jsm.streams.add({ name, subjects: [`${name}.>`], storage: StorageType.File });
  for (let i = 1; i <= n; i++) await publishJson(nats.nc.jetstream(), `${name}.job`, { i }, { msgId: `m${i}` });
  return name;
}

/** What the consumer delivers now: the message ids. */
async function deliveredBy(stream: string, durable: string): Promise<string[]> {
  const messages = await (await nats.nc.jetstream().consumers.get(stream, durable)).fetch({ max_messages: 100, expires: 1000 });
  const ids: string[] = [];
  for await (const m of messages) {
    ids.push(m.headers?.get('Nats-Msg-Id') ?? '');
    m.ack();
  }
  return ids;
}

describe('publishJsonPast', () => {
  // A consumer ahead of its stream cannot be made on one server (sequences never go back there):
  // `delivered` says 7 of a stream at 3, and a consumer that starts at 8 reads what such a one would.
  it('publishes again until a copy lands past what the consumer has delivered', async () => {
    const stream = await streamWith(3);
    const { ack, passed } = await publishJsonPast(nats.nc.jetstream(), `${stream}.job`, { job: 1 }, { msgId: 'job-1#1', delivered: async () => 7 });
    // Sequences 4 to 7 were ones the consumer had passed.
    expect(passed).toBe(4);
    expect(ack.seq).toBe(8);
    await nats.jsm.consumers.add(stream, { durable_name: 'ahead', ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: 8 });
    expect(await deliveredBy(stream, 'ahead')).toEqual(['job-1#1.4']);
  });

  it('publishes once when the consumer is not ahead', async () => {
    const stream = await streamWith(3);
    const { ack, passed } = await publishJsonPast(nats.nc.jetstream(), `${stream}.job`, { job: 1 }, { msgId: 'job-1#1', delivered: async () => 3 });
    expect([passed, ack.seq]).toEqual([0, 4]);
    expect((await nats.jsm.streams.info(stream)).state.messages).toBe(4);
  });

  it('stops after maxCopies', async () => {
    const stream = await streamWith(1);
    const { ack, passed } = await publishJsonPast(nats.nc.jetstream(), `${stream}.job`, { job: 1 }, { msgId: 'job-1#1', delivered: async () => 99, maxCopies: 3 });
    expect([passed, ack.seq]).toEqual([3, 5]);
  });
});

describe('deliveredSequence', () => {
  it("is the last stream sequence a durable consumer has delivered, 0 before any or when there is no consumer", async () => {
    const stream = await streamWith(3);
    await nats.jsm.consumers.add(stream, { durable_name: 'reader', ack_policy: AckPolicy.Explicit });
    expect(await deliveredSequence(nats.jsm, stream, 'reader')).toBe(0);
    expect(await deliveredBy(stream, 'reader')).toEqual(['m1', 'm2', 'm3']);
    expect(await deliveredSequence(nats.jsm, stream, 'reader')).toBe(3);
    expect(await deliveredSequence(nats.jsm, stream, 'nobody')).toBe(0);
  });
});
