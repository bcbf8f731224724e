import { serverUrls } from '@s1c/test-harness';
import { AckPolicy, connect, headers as natsHeaders, nanos, type JsMsg, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flatHeaders, holdMessage } from './held.message';

const STREAM = 'HELD_MESSAGE_TEST';
let nc: NatsConnection;

beforeAll(async () => {
  nc = await connect({ servers: serverUrls().natsUrl });
  const jsm = await nc.jetstreamManager();
  await jsm.streams.delete(STREAM).catch(() => undefined);
  await jsm.streams.add({ name: STREAM, subjects: ['held-message-test.>'] });
});

afterAll(async () => {
  await (await nc?.jetstreamManager())?.streams.delete(STREAM).catch(() => undefined);
  await nc?.close();
});

/** A durable with a 1 s ack wait over `n` fresh messages on `subject`; `take` fetches what is deliverable now. */
async function consumerOf(name: string, n: number, extra: ReadonlyArray<[string, string]> = []) {
  const js = nc.jetstream();
  for (let i = 0; i < n; i++) {
    const h = natsHeaders();
    h.append('S1c-Record-Id', `${name}-${i}`);
    for (const [key, value] of extra) h.append(key, value);
    await js.publish(`held-message-test.${name}`, new TextEncoder().encode(`{"i":${i}}`), { headers: h });
  }
  const jsm = await nc.jetstreamManager();
  await jsm.consumers.add(STREAM, { durable_name: name, filter_subject: `held-message-test.${name}`, ack_policy: AckPolicy.Explicit, ack_wait: nanos(1000) });
  const consumer = await js.consumers.get(STREAM, name);
  const take = async (expires = 1500, max = n): Promise<JsMsg[]> => {
    const out: JsMsg[] = [];
    for await (const m of await consumer.fetch({ max_messages: max, expires })) out.push(m);
    return out;
  };
  const pending = async () => (await jsm.consumers.info(STREAM, name)).num_ack_pending;
  return { take, pending };
}

describe('holdMessage, against a real nats-server', () => {
  it('keeps a copy of the body and the headers, not a view into the read buffer', async () => {
    const { take } = await consumerOf('copy', 1, [['S1c-Api', 'activities'], ['S1c-Tag', 'a'], ['S1c-Tag', 'b: c']]);
    const [m] = await take();
    const held = holdMessage(m!, nc);
    expect(new TextDecoder().decode(held.data)).toBe('{"i":0}');
    expect(held.data.buffer).not.toBe(m!.data.buffer);
    // One copy of its own holds the header block and the body, nothing more.
    const headerBlock = (m as unknown as { msg: { _msg: { hdr: number } } }).msg._msg.hdr;
    expect(headerBlock).toBeGreaterThan(0);
    expect(held.data.buffer.byteLength).toBe(headerBlock + held.data.byteLength);
    m!.data.fill(0x20);
    expect(new TextDecoder().decode(held.data)).toBe('{"i":0}');
    expect(held.headers?.get('S1c-Record-Id')).toBe('copy-0');
    // Read as nats.js's own headers read: first value of a key, '' when absent, every value in order.
    expect(held.headers?.get('S1c-Tag')).toBe('a');
    expect(held.headers?.get('S1c-Missing')).toBe('');
    expect([...held.headers!]).toEqual([...m!.headers!]);
    expect([...held.headers!]).toEqual([
      ['S1c-Record-Id', ['copy-0']],
      ['S1c-Api', ['activities']],
      ['S1c-Tag', ['a', 'b: c']],
    ]);
    expect(held.info).toEqual({ stream: STREAM, deliveryCount: 1 });
    held.ack();
  });

  it('reads headers from the raw block exactly as nats.js decodes them', async () => {
    const { take } = await consumerOf('wire', 1, [
      ['S1c-Event-Offset', '123'],
      ['X-Value', '  padded: with a colon  '],
      ['lower-case-key', 'kept as sent'],
      ['S1c-Tag', 'é and ü'],
      ['S1c-Tag', ''],
      ['Nats-Msg-Id', 'abc'],
    ]);
    const [m] = await take();
    // The fast path is there: nats.js still keeps the message's raw header block.
    const wire = (m as unknown as { msg: { _rdata: Uint8Array; _msg: { hdr: number } } }).msg;
    expect(wire._rdata).toBeInstanceOf(Uint8Array);
    expect(wire._msg.hdr).toBeGreaterThan(0);
    const flat = flatHeaders(m!)!;
    expect([...flat]).toEqual([...m!.headers!]);
    for (const key of ['S1c-Record-Id', 'S1c-Event-Offset', 'X-Value', 'lower-case-key', 'S1c-Tag', 'Nats-Msg-Id', 'Absent']) {
      expect(flat.get(key)).toBe(m!.headers!.get(key));
    }
    m!.ack();
  });

  it('has no headers for a message sent without any', async () => {
    const js = nc.jetstream();
    await js.publish('held-message-test.bare', new TextEncoder().encode('{}'));
    const jsm = await nc.jetstreamManager();
    await jsm.consumers.add(STREAM, { durable_name: 'bare', filter_subject: 'held-message-test.bare', ack_policy: AckPolicy.Explicit });
    const consumer = await js.consumers.get(STREAM, 'bare');
    const m = await consumer.next({ expires: 2000 });
    expect(m).not.toBeNull();
    expect(m!.headers).toBeUndefined();
    expect(flatHeaders(m!)).toBeUndefined();
    m!.ack();
  });

  it('acks, naks, terms and keeps alive with the JetStream ack protocol', async () => {
    const { take, pending } = await consumerOf('settle', 4);
    const [a, b, c, d] = (await take()).map((m) => holdMessage(m, nc));
    a!.ack();
    c!.term();
    b!.nak(); // at once
    // d is kept alive past the 1 s ack wait, all along.
    const alive = setInterval(() => d!.working(), 300);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    // b comes back; then nothing: a acked, c terminated, d still being worked on.
    const again = await take(1000, 1);
    expect(again.map((m) => m.headers?.get('S1c-Record-Id'))).toEqual(['settle-1']);
    expect(again[0]!.info.deliveryCount).toBe(2);
    again[0]!.ack();
    expect(await take(1000)).toEqual([]);
    clearInterval(alive);
    d!.ack();
    // An ack after the final one is not sent again (no error either).
    a!.ack();
    await nc.flush();
    expect(await pending()).toBe(0);
  });

  it('naks with a delay: the message comes back only after it', async () => {
    const { take } = await consumerOf('delay', 1);
    const [m] = await take();
    holdMessage(m!, nc).nak(2000);
    expect(await take(1000)).toEqual([]);
    const later = await take(3000);
    expect(later).toHaveLength(1);
    later[0]!.ack();
  });
});
