import { S1Client } from '@s1c/s1-client';
import { startSimulator, type RunningSimulator } from '@s1c/s1-simulator';
import { BSON } from 'mongodb';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_SERVICES, eventually, SystemUnderTest, type Json } from './system.harness';

/**
 * Issue 9's secrets: S1C_SECRET_KEY rotation without downtime, and the token never in clear in
 * NATS, MongoDB or a log after a full run (registry, scheduler, fetchers, enricher, health).
 */
const SETTINGS = {
  S1C_POLL_INTERVAL: '3s',
  S1C_LIVE_OVERLAP: '1s',
  S1C_BACKFILL: '24h',
  S1C_SCHEDULER_TICK: '200ms',
  S1C_JOB_STALL_TIMEOUT: '8s',
  S1C_MAX_PAGES_PER_JOB: '2',
  S1C_RETRY_WINDOW: '30s',
  S1C_RETRY_INITIAL_DELAY: '300ms',
  S1C_RETRY_MAX_DELAY: '1s',
  S1C_JOB_ACK_WAIT: '10s',
  S1C_EVENT_POLL_INTERVAL: '250ms',
  S1C_EVENT_GAP_TIMEOUT: '500ms',
  S1C_HEALTH_PORT: '0',
  S1C_HEALTH_HOST: '127.0.0.1',
};
const APIS = ['activities', 'agents', 'threats'] as const;
type Api = (typeof APIS)[number];

const KEY_A = `keya:${randomBytes(32).toString('base64')}`;
const KEY_B = `keyb:${randomBytes(32).toString('base64')}`;
const TOKENS = { old: `tok-rot-old-${randomBytes(8).toString('hex')}`, new: `tok-rot-new-${randomBytes(8).toString('hex')}` };

let simulator: RunningSimulator;
let system: SystemUnderTest;
const ids = { old: '', new: '' };

const createSource = (name: string, token: string): Promise<string> =>
  system.createSource({ name, category: 'e2e/secrets', base_url: simulator.url, api_secret: token, supported_apis: APIS });

const stateOf = async (id: string): Promise<string> => (await system.command('get', { id })).source?.state?.state ?? 'Deleted';

const laneFinished = (sourceId: string, api: Api, lane: string, atLeast = 1, after = 0): Promise<boolean> =>
  system.laneFinished(sourceId, api, lane, atLeast, after);

async function collected(sourceId: string): Promise<true | undefined> {
  for (const [api, lane] of [['activities', 'backfill'], ['threats', 'backfill'], ['agents', 'snapshot']] as const) {
    if (!(await laneFinished(sourceId, api, lane))) return undefined;
  }
  return true;
}

/** Restarts every process with another S1C_SECRET_KEY, one after another, as a rolling deployment would. */
async function rollKeys(keys: string): Promise<void> {
  system.env.S1C_SECRET_KEY = keys;
  for (const instance of system.instances()) await system.restart(instance);
}

async function consoleActivities(token: string): Promise<string[]> {
  const client = new S1Client({ baseUrl: simulator.url, token, allowInsecure: true });
  const out: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.listPage('activities', { filters: {}, sortBy: 'createdAt', sortOrder: 'asc', ...(cursor ? { cursor } : {}) });
    out.push(...page.records.map((r) => String((r.value as Json).id)));
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return out;
}

beforeAll(async () => {
  simulator = await startSimulator({ accounts: 2, sitesPerAccount: 1, historyHours: 6, activities: 600, agents: 20, threats: 60 });
  simulator.admin.addToken({ token: TOKENS.old, label: 'rot-old', accounts: [0] });
  simulator.admin.addToken({ token: TOKENS.new, label: 'rot-new', accounts: [1] });
  system = await SystemUnderTest.start({ ...SETTINGS, S1C_SECRET_KEY: KEY_A }, { services: ALL_SERVICES });
}, 120_000);

afterAll(async () => {
  await system?.close();
  await simulator?.close();
});

describe('secret key rotation and token exposure, end to end', () => {
  it('sources created under key A and under key B keep collecting across a rotation A -> B,A -> reencrypt -> B, losing nothing', async () => {
    // Given a source collecting under key A
    ids.old = await createSource('Rotation old', TOKENS.old);
    await eventually('the old source to finish its backfill', () => collected(ids.old), 90_000);

    // When every service restarts with B first and A still known, and a source is created under B
    await rollKeys(`${KEY_B},${KEY_A}`);
    ids.new = await createSource('Rotation new', TOKENS.new);
    const created = (await system.stream(`source-${ids.new}`))[0]!;
    expect(created.data.secret.kid).toBe('keyb');
    await eventually('the new source to finish its backfill', () => collected(ids.new), 90_000);

    // And the stored tokens are re-encrypted
    const reply = await system.command('reencrypt', {});
    expect(reply).toEqual({ ok: true, keyId: 'keyb', reencrypted: [ids.old], current: [ids.new], failed: [] });
    const oldStream = await system.stream(`source-${ids.old}`);
    expect(oldStream.filter((e) => e.type === 'SourceSecretReencrypted').map((e) => e.data.secret.kid)).toEqual(['keyb']);

    // And every service restarts with B alone
    await rollKeys(KEY_B);
    const before = { old: (await system.rawRecords(ids.old, 'activities')).size, new: (await system.rawRecords(ids.new, 'activities')).size };
    const versions = Object.fromEntries(
      await Promise.all(Object.entries(ids).map(async ([k, id]) => [k, await system.streamVersion(`collection-${id}-activities`)] as const)),
    ) as Record<keyof typeof ids, number>;
    simulator.admin.createRecords('activities', 40);

    // Then both keep collecting: two live cycles each after the new records, every record once
    await eventually('two live cycles of both sources with key B alone', async () =>
      (await laneFinished(ids.old, 'activities', 'live', 2, versions.old)) && (await laneFinished(ids.new, 'activities', 'live', 2, versions.new)) ? true : undefined,
      90_000,
    );
    for (const [which, token] of Object.entries(TOKENS) as Array<[keyof typeof ids, string]>) {
      const id = ids[which];
      expect(await stateOf(id)).toBe('Collecting');
      const raw = await system.rawRecords(id, 'activities');
      const expected = (await consoleActivities(token)).map((a) => `${id}:activities:${a}`).sort();
      expect([...raw.keys()].sort()).toEqual(expected);
      expect([...raw.values()].every((n) => n === 1)).toBe(true);
      expect(raw.size, `${which} got new records after the rotation`).toBeGreaterThan(before[which]);
    }
    expect(system.output()).not.toMatch(/SecretDecryptionError|no configured key has id/);
  }, 400_000);

  it('after the full run, no token is in clear in any JetStream stream (data and headers), any MongoDB collection, or any service log', async () => {
    const tokens = Object.values(TOKENS).map((t) => Buffer.from(t, 'utf8'));
    const leaks: string[] = [];
    // A control: the same search finds the source's name wherever the token would be (not blind).
    const control = Buffer.from('Rotation old', 'utf8');
    const controlHits = { jetstream: 0, mongodb: 0 };

    // Every stored message of every stream, read back raw: subject, headers and payload.
    const jsm = await system.nc.jetstreamManager();
    const streams = await jsm.streams.list().next();
    let messages = 0;
    for (const stream of streams) {
      for (let seq = stream.state.first_seq; seq <= stream.state.last_seq && stream.state.messages > 0; seq++) {
        const stored = await jsm.streams.getMessage(stream.config.name, { seq }).catch(() => undefined);
        if (!stored) continue; // deleted or acknowledged (work queue)
        messages++;
        const bytes = Buffer.concat([Buffer.from(stored.subject), Buffer.from(stored.header ? [...stored.header].flat(2).join('\n') : ''), Buffer.from(stored.data)]);
        for (const token of tokens) if (bytes.includes(token)) leaks.push(`JetStream ${stream.config.name} #${seq}`);
        if (bytes.includes(control)) controlHits.jetstream++;
      }
    }
    expect(streams.map((s) => s.config.name)).toEqual(expect.arrayContaining(['S1C_EVENTS', 'S1C_RAW', 'S1C_DATA']));
    expect(messages).toBeGreaterThan(500);

    // Every document of every collection, as the BSON bytes the server returns.
    const collections = await system.db.listCollections().toArray();
    let documents = 0;
    for (const { name } of collections) {
      for await (const doc of system.db.collection(name).find({})) {
        documents++;
        const bytes = Buffer.from(BSON.serialize(doc));
        for (const token of tokens) if (bytes.includes(token)) leaks.push(`MongoDB ${name} ${String(doc._id)}`);
        if (bytes.includes(control)) controlHits.mongodb++;
      }
    }
    expect(collections.map((c) => c.name)).toEqual(expect.arrayContaining(['events']));
    expect(documents).toBeGreaterThan(100);

    // Every line of every service, over all restarts.
    const output = system.output();
    expect(output.length).toBeGreaterThan(10_000);
    for (const token of Object.values(TOKENS)) if (output.includes(token)) leaks.push('a service log');

    expect(controlHits.jetstream).toBeGreaterThan(100);
    expect(controlHits.mongodb).toBeGreaterThan(0);
    expect(leaks).toEqual([]);
  }, 180_000);
});
