import { serverUrls } from '@s1c/test-harness';
import { type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestJson } from './command.client';
import { publishJson } from './jetstream.publisher';
import { CommandTimeoutError, NoRespondersError } from './messaging.errors';
import { connectNats, drainNats } from './nats.connection';
import { ensureStream } from './stream.declarations';
import { uniqueName } from './testing/messaging.test-kit';

describe('request/reply and publish helpers', () => {
  let nc: NatsConnection;

  beforeAll(async () => {
    nc = await connectNats({ url: serverUrls().natsUrl, name: 'helpers-test' });
  });
  afterAll(async () => drainNats(nc));

  describe('requestJson', () => {
    it('sends JSON and returns the parsed JSON reply, with headers', async () => {
      const subject = `${uniqueName('req')}.echo`;
      nc.subscribe(subject, {
        callback: (_e, m) => m.respond(JSON.stringify({ got: m.json(), caller: m.headers?.get('S1c-Caller') })),
      });

      const reply = await requestJson<{ got: unknown; caller: string }>(nc, subject, { id: 'x' }, { timeoutMs: 2000, headers: { 'S1c-Caller': 'alice' } });

      expect(reply).toEqual({ got: { id: 'x' }, caller: 'alice' });
    });

    it('when nothing serves the subject, it fails with NoRespondersError naming it', async () => {
      const subject = `${uniqueName('req')}.nobody`;
      const error = await requestJson(nc, subject, {}, { timeoutMs: 2000 }).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(NoRespondersError);
      expect((error as Error).message).toContain(subject);
    });

    it('when the server does not answer in time, it fails with CommandTimeoutError naming it', async () => {
      const subject = `${uniqueName('req')}.silent`;
      nc.subscribe(subject, { callback: () => undefined });
      await nc.flush();
      const started = Date.now();

      const error = await requestJson(nc, subject, {}, { timeoutMs: 300 }).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(CommandTimeoutError);
      expect((error as Error).message).toContain(subject);
      expect(Date.now() - started).toBeLessThan(2000);
    });
  });

  describe('publishJson', () => {
    it('stores one message when the same msgId is published twice', async () => {
      const name = uniqueName('PUB');
      const jsm = await nc.jetstreamManager();
      await ensureStream(jsm, { name, subjects: [`${name}.>`] });
      const js = nc.jetstream();

      const first = await publishJson(js, `${name}.rec`, { a: 1 }, { msgId: 'rec-1' });
      const second = await publishJson(js, `${name}.rec`, { a: 1 }, { msgId: 'rec-1' });

      expect(first.duplicate).toBe(false);
      expect(second.duplicate).toBe(true);
      expect(second.seq).toBe(first.seq);
      expect((await jsm.streams.info(name)).state.messages).toBe(1);
      const stored = await jsm.streams.getMessage(name, { seq: first.seq });
      expect(stored.json()).toEqual({ a: 1 });
      expect(stored.header.get('Nats-Msg-Id')).toBe('rec-1');
      await jsm.streams.delete(name);
    });

    it('refuses to publish without a msgId', async () => {
      const js = nc.jetstream();
      await expect(publishJson(js, 's1c.data.x.y', {}, { msgId: '' })).rejects.toThrow(/msgId is required/);
    });
  });
});
