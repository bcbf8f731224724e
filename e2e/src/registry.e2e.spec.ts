import { serverUrls, uniqueDbName } from '@s1c/test-harness';
import { MongoClient } from 'mongodb';
import { connect, type NatsConnection } from 'nats';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type ServiceProcess } from './service.process';

const TOKEN = `e2e-token-${randomBytes(12).toString('hex')}`;
let nc: NatsConnection;
let env: Record<string, string>;

async function command(op: string, payload: unknown): Promise<Record<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const reply = await nc.request(`s1c.cmd.source.${op}`, JSON.stringify(payload), { timeout: 10_000 });
  return JSON.parse(new TextDecoder().decode(reply.data));
}

/** How many times each event of this test's log was relayed (other tests share the stream). */
async function relayedCounts(eventIds: ReadonlySet<string>): Promise<Map<string, number>> {
  const jsm = await nc.jetstreamManager();
  const info = await jsm.streams.info('S1C_EVENTS');
  const ids = new Map<string, number>();
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const message = await jsm.streams.getMessage('S1C_EVENTS', { seq }).catch(() => undefined);
    const id = message?.header.get('Nats-Msg-Id');
    if (id && eventIds.has(id)) ids.set(id, (ids.get(id) ?? 0) + 1);
  }
  return ids;
}

beforeAll(async () => {
  const { natsUrl, mongoUrl } = serverUrls();
  nc = await connect({ servers: natsUrl });
  env = {
    NATS_URL: natsUrl,
    MONGO_URL: mongoUrl,
    S1C_DB_NAME: uniqueDbName('etoe'),
    S1C_SECRET_KEY: randomBytes(32).toString('base64'),
    LOG_LEVEL: 'info',
  };
});
afterAll(async () => {
  await nc?.close();
});

describe('the registry as a process', () => {
  it('refuses to start with a bad environment, naming every problem', async () => {
    const registry = startService('registry', { NATS_URL: 'http://nope', S1C_DB_NAME: 'no_underscores' });
    expect(await registry.exited()).toBe(2);
    expect(registry.output()).toMatch(/NATS_URL: must be a URL/);
    expect(registry.output()).toMatch(/S1C_SECRET_KEY: is required/);
    expect(registry.output()).toMatch(/S1C_DB_NAME: must be 1-63 latin letters/);
  });

  it('refuses to start with a malformed secret key, without printing it', async () => {
    const registry = startService('registry', { ...env, S1C_SECRET_KEY: 'short-key-value' });
    expect(await registry.exited()).toBe(2);
    expect(registry.output()).toMatch(/S1C_SECRET_KEY: key 1 must be 32 random bytes/);
    expect(registry.output()).not.toContain('short-key-value');
  });

  describe('when it is killed with SIGKILL and started again', () => {
    let registry: ServiceProcess;

    it('keeps every source, serves them again, and relays each event exactly once', async () => {
      registry = startService('registry', env);
      await registry.waitForOutput(/registry started/);
      const created = await command('create', {
        'api.version': 'v1',
        source: {
          config: {
            name: 'E2E source',
            category: 'e2e',
            fields: { _siemForward: true },
            base_url: 'https://usea1-partners.sentinelone.net',
            api_secret: TOKEN,
            supported_apis: ['activities', 'threats'],
          },
          schemaRef: { type: 'SentinelOne Mgmt API' },
          sourceType: 'Universal',
        },
      });
      expect(created).toMatchObject({ ok: true, source: { state: { state: 'Pending' } } });
      const id = created.source.id as string;
      expect(await command('restart', { id })).toMatchObject({ ok: true, version: 2 });

      expect(await registry.stop('SIGKILL')).toBe('SIGKILL');
      registry = startService('registry', env);
      await registry.waitForOutput(/registry started/);

      expect(await command('get', { id })).toMatchObject({ ok: true, version: 2, source: { id, config: { name: 'E2E source', api_secret: '********' } } });
      expect(await command('update', { id, source: { ...created.source, config: { ...created.source.config, category: 'after-restart' } } })).toMatchObject({
        ok: true,
        version: 3,
      });
      const mongo = await MongoClient.connect(env.MONGO_URL!);
      const logged = await mongo.db(env.S1C_DB_NAME).collection('events').find({}).toArray();
      await mongo.close();
      // Wait until the relay has published the whole log, then check nothing was published twice.
      const loggedIds = new Set(logged.map((e) => String(e.eventId)));
      let relayed = new Map<string, number>();
      for (let i = 0; i < 100 && relayed.size < logged.length; i++) {
        relayed = await relayedCounts(loggedIds);
        await new Promise((r) => setTimeout(r, 100));
      }
      expect([...relayed.keys()].sort()).toEqual([...loggedIds].sort());
      expect([...relayed.values()].every((count) => count === 1)).toBe(true);
    });

    it('stops cleanly on SIGTERM, and never logged the token', async () => {
      expect(await registry.stop('SIGTERM')).toBe(0);
      expect(registry.output()).toMatch(/registry stopping/);
      expect(registry.output()).not.toContain(TOKEN);
    });
  });
});
