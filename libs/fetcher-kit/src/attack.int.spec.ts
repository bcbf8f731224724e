import type { AddressResolver } from '@s1c/s1-client';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startConnectionTrap, type ConnectionTrap } from '@s1c/test-harness';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { defineApiSpec } from './api-spec';
import type { JobContext } from './job.runner';
import { eventsOf, startFetcherFixture, type FetcherFixture } from './testing';

/**
 * Issue 9, the attacker's suite against the fetchers' job runner: a stored base_url (or its DNS
 * answer, changed after the source was registered) that points inside our network is refused at
 * connect time, and a console that echoes the token back gets it into no log line, event or record.
 */

const activities = defineApiSpec({ api: 'activities', timeField: 'createdAt', timestampPath: ['createdAt'], versioned: false });
const ctx: JobContext = { working: () => undefined };

let trap: ConnectionTrap;
let trapPort = 0;

beforeAll(async () => {
  trap = await startConnectionTrap();
  trapPort = trap.port;
});
afterAll(() => trap?.close());

describe('a fetcher in production mode (S1C_ALLOW_INSECURE_BASE_URL=false)', () => {
  let f: FetcherFixture;
  beforeEach(async () => {
    f = await startFetcherFixture();
  });
  afterEach(async () => {
    await f.close();
  });

  const toLoopback: AddressResolver = () => Promise.resolve([{ address: '127.0.0.1', family: 4 }]);

  it.each([
    ['a loopback address', () => `https://127.0.0.1:${trapPort}/`],
    ['a decimal loopback address', () => `https://2130706433:${trapPort}/`],
    ['IPv4-mapped loopback', () => `https://[::ffff:127.0.0.1]:${trapPort}/`],
    ['localhost', () => `https://localhost:${trapPort}/`],
    ['plain http', () => `http://127.0.0.1:${trapPort}/`],
    ['a name that now resolves to loopback', () => `https://console.attack.test:${trapPort}/`],
  ])('refuses a stored base_url with %s: the job fails as ThirdPartyConfig, nothing is contacted', async (_label, baseUrl) => {
    const sourceId = await f.createSource(['activities'], { baseUrl: baseUrl() });
    await f.plan(sourceId, 'activities');
    const job = await f.dispatch(sourceId, 'activities', 'backfill');
    const outcome = await f.runner(activities, { settings: { allowInsecure: false, resolver: toLoopback } }).run(job, ctx);
    expect(outcome).toMatchObject({ kind: 'failed', errorType: 'ThirdPartyConfig', retryAt: null });
    const events = await f.collectionEvents(sourceId, 'activities');
    expect(eventsOf(events, 'JobFailed')[0]!.data.reason).toMatch(/not a public address|loopback, private or link-local|must use https/);
    expect(eventsOf(events, 'HealthEventRaised')[0]!.data).toMatchObject({ severity: 'Error', errorType: 'ThirdPartyConfig' });
    expect(trap.connections()).toBe(0);
    expect(f.sim.admin.requests()).toEqual([]);
  });
});

describe('a console that echoes the token back', () => {
  const TOKEN = 'tok-fetcher-echo-1a2b3c4d5e6f7a8b';
  let f: FetcherFixture;
  let console: Server;
  let consoleUrl = '';
  let mode: 'unauthorized' | 'server-error' | 'malformed' | 'redirect' = 'unauthorized';

  beforeAll(async () => {
    console = createServer((req, res) => {
      const echo = { 'X-Echo': TOKEN, 'WWW-Authenticate': `ApiToken realm="${TOKEN}"` };
      if ((req.url ?? '').startsWith('/web/api/v2.1/system/info')) {
        res.writeHead(200, { 'Content-Type': 'application/json', ...echo });
        res.end(JSON.stringify({ data: { echo: TOKEN } }));
        return;
      }
      if (mode === 'redirect') {
        res.writeHead(302, { Location: `/web/api/v2.1/${TOKEN}`, ...echo });
        res.end();
        return;
      }
      const [status, body] = {
        unauthorized: [401, { errors: [{ code: 4010010, detail: `token ${TOKEN} is unknown`, title: `Authentication Failed ${TOKEN}` }] }],
        'server-error': [500, { errors: [{ code: 5000010, detail: `Authorization: ApiToken ${TOKEN}`, title: 'Internal server error' }] }],
        malformed: [200, { data: `page for ${TOKEN}`, pagination: { nextCursor: TOKEN } }],
      }[mode] as [number, unknown];
      res.writeHead(status, { 'Content-Type': 'application/json', ...echo });
      res.end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => console.listen(0, '127.0.0.1', resolve));
    consoleUrl = `http://127.0.0.1:${(console.address() as AddressInfo).port}/`;
    f = await startFetcherFixture({ token: TOKEN });
  });
  afterAll(async () => {
    await f?.close();
    console?.closeAllConnections();
    await new Promise<void>((resolve) => console?.close(() => resolve()));
  });

  it.each(['unauthorized', 'server-error', 'malformed', 'redirect'] as const)('in a %s answer: the job fails, and the token is in no log line, event or record', async (answer) => {
    mode = answer;
    const sourceId = await f.createSource(['activities'], { baseUrl: consoleUrl });
    await f.plan(sourceId, 'activities');
    const outcome = await f.runner(activities).run(await f.dispatch(sourceId, 'activities', 'backfill'), ctx);
    expect(outcome.kind).toBe('failed');
    const events = await f.db.collection('events').find({}).toArray();
    expect(JSON.stringify(events)).toContain('[redacted]');
    expect(JSON.stringify(events)).not.toContain(TOKEN);
    expect(JSON.stringify(await f.rawRecords('activities', sourceId))).not.toContain(TOKEN);
    expect(f.logText().length).toBeGreaterThan(0);
    expect(f.logText()).not.toContain(TOKEN);
  });
});
