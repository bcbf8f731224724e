import { uniqueDbName } from '@s1c/test-harness';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { sourceDocument, startRegistryUnderTest, type RegistryUnderTest } from './testing/registry.harness';

const keyA = `a:${randomBytes(32).toString('base64')}`;
const keyB = `b:${randomBytes(32).toString('base64')}`;
const keyC = `c:${randomBytes(32).toString('base64')}`;
const TOKENS = ['tok-rotate-one-0123456789', 'tok-rotate-two-0123456789', 'tok-rotate-three-0123456789', 'tok-rotate-gone-0123456789'];

describe('the audit commands of the registry', () => {
  const running: RegistryUnderTest[] = [];
  const start = async (options: Parameters<typeof startRegistryUnderTest>[0]) => {
    const registry = await startRegistryUnderTest(options);
    running.push(registry);
    return registry;
  };
  const stop = async (registry: RegistryUnderTest) => {
    running.splice(running.indexOf(registry), 1);
    await registry.close();
  };
  afterEach(async () => {
    for (const registry of running.splice(0)) await registry.close();
  });

  describe('history', () => {
    it('shows each change of a source with its actor (unauthenticated NATS here), and the token masked', async () => {
      const registry = await start({});
      const created = await registry.send('create', sourceDocument({ name: 'Historic', api_secret: TOKENS[0] }), { headers: { 'S1c-Correlation-Id': 'trace-1' } });
      const id = created.source.id as string;
      await registry.send('update', { id, ...sourceDocument({ name: 'Historic', description: 'now described', api_secret: TOKENS[1] }) });
      const reply = await registry.send('history', { id });
      expect(reply).toMatchObject({ ok: true, sourceId: id });
      expect(reply.entries).toHaveLength(2);
      expect(reply.entries[0]).toMatchObject({
        version: 1,
        type: 'SourceCreated',
        correlationId: 'trace-1',
        actor: { kind: 'nats', account: null, user: null, host: null, clientName: null },
      });
      expect(reply.entries[1].changes).toEqual([
        { path: 'description', from: null, to: 'now described' },
        { path: 'api_secret', from: '********', to: '********', masked: true },
      ]);
      const text = registry.replyText();
      for (const token of TOKENS.slice(0, 2)) expect(text).not.toContain(token);
      const secrets = await registry.db.collection('events').find({ 'data.secret': { $exists: true } }).toArray();
      for (const event of secrets) expect(JSON.stringify(reply)).not.toContain(event.data.secret.ct);
    });

    it('is SourceNotFound for an unknown, deleted or other-collector source, and ValidationError for a bad id', async () => {
      const registry = await start({});
      const created = await registry.send('create', sourceDocument({ name: 'Gone soon', api_secret: TOKENS[0] }));
      const id = created.source.id as string;
      expect(await registry.send('history', { id: 'no-such-source' })).toMatchObject({ ok: false, error: { code: 'SourceNotFound' } });
      expect(await registry.send('history', { id, collectorId: 'elsewhere' })).toMatchObject({ ok: false, error: { code: 'SourceNotFound' } });
      expect(await registry.send('history', { id: 'bad id!' })).toMatchObject({ ok: false, error: { code: 'ValidationError' } });
      expect(await registry.send('history', { id, extra: 1 })).toMatchObject({ ok: false, error: { code: 'ValidationError' } });
      await registry.send('delete', { id });
      await expect.poll(async () => (await registry.send('history', { id })).error?.code).toBe('SourceNotFound');
    });
  });

  describe('reencrypt', () => {
    it('re-encrypts every token not under the newest key, once, with nothing else changed; any configured key decrypts', async () => {
      // Given two sources stored under key a, and a third one deleted
      const dbName = uniqueDbName('rotation');
      const underA = await start({ secretKey: keyA, dbName });
      const one = (await underA.send('create', sourceDocument({ name: 'One', api_secret: TOKENS[0] }))).source.id as string;
      const two = (await underA.send('create', sourceDocument({ name: 'Two', api_secret: TOKENS[1] }))).source.id as string;
      const deleted = (await underA.send('create', sourceDocument({ name: 'Deleted', api_secret: TOKENS[3] }))).source.id as string;
      await underA.send('delete', { id: deleted });
      await expect.poll(async () => (await underA.send('get', { id: deleted })).error?.code).toBe('SourceNotFound');
      await stop(underA);

      // When the registry runs with b first and a still known, and a third source is created under b
      const rotating = await start({ secretKey: `${keyB},${keyA}`, dbName });
      const three = (await rotating.send('create', sourceDocument({ name: 'Three', api_secret: TOKENS[2] }))).source.id as string;
      const before = await rotating.send('get', { id: one });
      const eventsBefore = await rotating.eventCount();
      const reply = await rotating.send('reencrypt', {});

      // Then exactly the two old sources get one new event each, under b
      expect(reply).toEqual({ ok: true, keyId: 'b', reencrypted: [one, two].sort(), current: [three], failed: [] });
      expect(await rotating.eventCount()).toBe(eventsBefore + 2);
      const reencrypted = await rotating.db.collection('events').find({ type: 'SourceSecretReencrypted' }).toArray();
      expect(reencrypted.map((e) => [e.data.sourceId, e.data.secret.kid]).sort()).toEqual([one, two].sort().map((id) => [id, 'b']));
      expect(reencrypted[0]?.metadata.actor).toEqual({ kind: 'nats', account: null, user: null, host: null, clientName: null });
      // And nothing else changes: same state and generation, one more version
      const after = await rotating.send('get', { id: one });
      expect(after.version).toBe(before.version + 1);
      expect(after.source.state).toEqual(before.source.state);
      expect(after.source.config).toEqual(before.source.config);
      // And a repeat changes nothing
      expect(await rotating.send('reencrypt', '', { raw: true })).toEqual({ ok: true, keyId: 'b', reencrypted: [], current: [one, two, three].sort(), failed: [] });
      expect(await rotating.eventCount()).toBe(eventsBefore + 2);
      // And its history shows the re-encryption, with no change
      const history = await rotating.send('history', { id: one });
      expect(history.entries.at(-1)).toMatchObject({ type: 'SourceSecretReencrypted', changes: [] });
      await stop(rotating);

      // Then with only b configured, every stored token still decrypts
      const underB = await start({ secretKey: keyB, dbName });
      const targets = await Promise.all([one, two, three].map((id) => underB.runtime.sources.storedTarget({ id })));
      expect(targets.map((t) => t.token)).toEqual(TOKENS.slice(0, 3));
      await stop(underB);

      // And with a key list that has lost b, each token is reported as failed, by id and reason only
      const lost = await start({ secretKey: keyC, dbName });
      const failed = await lost.send('reencrypt', {});
      expect(failed).toMatchObject({ ok: true, keyId: 'c', reencrypted: [], current: [] });
      expect(failed.failed).toEqual([one, two, three].sort().map((id) => ({ id, reason: 'no configured key has id b; add it to S1C_SECRET_KEY' })));
      for (const registry of [lost]) {
        const everything = registry.replyText() + registry.logText();
        for (const token of TOKENS) expect(everything).not.toContain(token);
      }
    });

    it('refuses parameters', async () => {
      const registry = await start({});
      expect(await registry.send('reencrypt', { all: true })).toMatchObject({ ok: false, error: { code: 'ValidationError' } });
    });
  });
});
