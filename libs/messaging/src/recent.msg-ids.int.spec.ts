import { headers, StorageType } from 'nats';
import { describe, expect, it } from 'vitest';
import { recentMsgIds } from './recent.msg-ids';
import { natsForTests } from './testing/messaging.test-kit';

const nats = natsForTests();
const encoder = new TextEncoder();

let streams = 0;
/** A new stream on `<name>.>`, with `n` messages: ids `m1`..`mn`, on `<name>.a` and (every third) `<name>.b`. */
async function streamWith(n: number): Promise<string> {
  const name = `RECENT_${process.pid}_${++streams}`;
  await nats.jsm.streams.add({ name, subjects: [`${name}.>`], storage: StorageType.File });
  const js = nats.nc.jetstream();
  for (let i = 1; i <= n; i++) await js.publish(`${name}.${i % 3 === 0 ? 'b' : 'a'}`, encoder.encode(`body ${i}`), { msgID: `m${i}` });
  return name;
}

describe('recentMsgIds', () => {
  it('reads the message ids of the last messages, oldest first, and deletes its consumer', async () => {
    const stream = await streamWith(2_500);
    const { ids, complete } = await recentMsgIds(nats.nc.jetstream(), nats.jsm, stream, { filterSubject: `${stream}.>`, max: 1_200, timeoutMs: 10_000 });
    expect(complete).toBe(true);
    expect(ids).toEqual(Array.from({ length: 1_200 }, (_, i) => `m${1_301 + i}`));
    // Its consumer is gone after the read.
    expect((await nats.jsm.consumers.list(stream).next()).length).toBe(0);
  });

  it('reads every message of a short stream, only those the filter takes, and nothing of an empty one', async () => {
    const stream = await streamWith(30);
    expect((await recentMsgIds(nats.nc.jetstream(), nats.jsm, stream, { filterSubject: `${stream}.>`, max: 1_000, timeoutMs: 10_000 })).ids).toHaveLength(30);
    const b = await recentMsgIds(nats.nc.jetstream(), nats.jsm, stream, { filterSubject: `${stream}.b`, max: 1_000, timeoutMs: 10_000 });
    expect(b).toEqual({ ids: Array.from({ length: 10 }, (_, i) => `m${3 * (i + 1)}`), complete: true });
    expect(await recentMsgIds(nats.nc.jetstream(), nats.jsm, await streamWith(0), { filterSubject: '>', max: 1_000, timeoutMs: 10_000 })).toEqual({ ids: [], complete: true });
  });

  it('says when the time ran out before the last message, and deletes its consumer all the same', async () => {
    const stream = await streamWith(2_500);
    const { ids, complete } = await recentMsgIds(nats.nc.jetstream(), nats.jsm, stream, { filterSubject: `${stream}.>`, max: 2_500, timeoutMs: 0 });
    expect(complete).toBe(false);
    expect(ids.length).toBeLessThan(2_500);
    expect((await nats.jsm.consumers.list(stream).next()).length).toBe(0);
  });

  it('skips messages without an id and fails for a stream that does not exist', async () => {
    const stream = await streamWith(3);
    await nats.nc.jetstream().publish(`${stream}.a`, encoder.encode('no id'), { headers: headers() });
    expect((await recentMsgIds(nats.nc.jetstream(), nats.jsm, stream, { filterSubject: `${stream}.>`, max: 10, timeoutMs: 10_000 })).ids).toEqual(['m1', 'm2', 'm3']);
    await expect(recentMsgIds(nats.nc.jetstream(), nats.jsm, 'NO_SUCH_STREAM', { filterSubject: '>', max: 10, timeoutMs: 1_000 })).rejects.toThrow(/stream not found/);
  });
});
