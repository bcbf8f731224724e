import { serverUrls } from '@s1c/test-harness';
import { headers as natsHeaders, type Msg, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ByteSlab } from './byte.slab';
import { HeaderBlock } from './header.block';
import { connectNats, drainNats } from './nats.connection';
import { uniqueName } from './testing/messaging.test-kit';

const ENTRIES: Array<[string, string]> = [
  ['S1c-Record-Id', '0b7c6f0e-1d2a-4c55-9a77-3f1c2b4d5e6f:activities:1800000000000000001'],
  ['S1c-Api', 'activities'],
  ['X-Non-Ascii', 'Zoë Ørsted – 東京 😀'],
  ['X-Spaces', 'a value with spaces'],
  ['X-Repeated', 'first'],
  ['X-Repeated', 'second'],
  ['X-Empty', ''],
];

const blockOf = (entries: ReadonlyArray<readonly [string, string]>): HeaderBlock => {
  const block = new HeaderBlock();
  for (const [name, value] of entries) block.append(name, value);
  return block;
};

describe('HeaderBlock', () => {
  it("writes the bytes nats.js's own headers write for the same entries", () => {
    const reference = natsHeaders();
    for (const [name, value] of ENTRIES) reference.append(name, value);
    expect(Buffer.from(blockOf(ENTRIES).encode()).toString('utf8')).toBe(Buffer.from((reference as unknown as { encode(): Uint8Array }).encode()).toString('utf8'));
    expect(new HeaderBlock().encode()).toEqual(new TextEncoder().encode('NATS/1.0\r\n\r\n'));
    // Cut from a slab: the same bytes, each block its own.
    const slab = new ByteSlab(4096);
    const blocks = [blockOf(ENTRIES).encode(slab), blockOf(ENTRIES.slice(2)).encode(slab)];
    expect(blocks[0]!.buffer).toBe(blocks[1]!.buffer);
    expect(Buffer.from(blocks[0]!).equals(Buffer.from(blockOf(ENTRIES).encode()))).toBe(true);
    expect(Buffer.from(blocks[1]!).equals(Buffer.from(blockOf(ENTRIES.slice(2)).encode()))).toBe(true);
  });

  it.each([
    ['a value with CR', 'X-A', 'one\rtwo', /may not hold CR or LF/],
    ['a value with LF', 'X-A', 'one\ntwo', /may not hold CR or LF/],
    ['a value that would inject a header', 'X-A', 'x\r\nNats-Msg-Id: forged', /may not hold CR or LF/],
    ['an empty name', '', 'x', /not a header name/],
    ['a name with a colon', 'X:A', 'x', /not a header name/],
    ['a name with a space', 'X A', 'x', /not a header name/],
    ['a name with a line break', 'X\r\nY', 'x', /not a header name/],
  ])('refuses %s, and its block stays as it was', (_what, name, value, message) => {
    const block = blockOf([['S1c-Api', 'activities']]);
    expect(() => block.append(name, value)).toThrow(message);
    expect(Buffer.from(block.encode()).toString('utf8')).toBe('NATS/1.0\r\nS1c-Api: activities\r\n\r\n');
  });

  describe('published by nats.js to a real nats-server', () => {
    let nc: NatsConnection;
    beforeAll(async () => {
      nc = await connectNats({ url: serverUrls().natsUrl, name: 'header-block-test' });
    });
    afterAll(async () => drainNats(nc));

    it('arrives with every header, as nats.js decodes them', async () => {
      const subject = uniqueName('headers');
      const received = new Promise<Msg>((resolve) => {
        const sub = nc.subscribe(subject, { max: 1, callback: (_error, msg) => resolve(msg) });
        void sub;
      });
      await nc.flush();
      nc.publish(subject, new TextEncoder().encode('{"x":1}'), { headers: blockOf(ENTRIES).asMsgHdrs() });
      const msg = await received;
      expect(new TextDecoder().decode(msg.data)).toBe('{"x":1}');
      expect(msg.headers?.get('S1c-Record-Id')).toBe(ENTRIES[0]![1]);
      expect(msg.headers?.get('S1c-Api')).toBe('activities');
      expect(msg.headers?.get('X-Non-Ascii')).toBe('Zoë Ørsted – 東京 😀');
      expect(msg.headers?.get('X-Spaces')).toBe('a value with spaces');
      expect(msg.headers?.values('X-Repeated')).toEqual(['first', 'second']);
      expect(msg.headers?.has('X-Empty')).toBe(true);
    });
  });
});
