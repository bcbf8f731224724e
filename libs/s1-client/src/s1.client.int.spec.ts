import { inspect } from 'node:util';
import { startSimulator, type RunningSimulator } from '@s1c/s1-simulator';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleRateLimiter } from './console.rate-limiter';
import { S1Client, type ListQuery, type S1Api, type S1ClientOptions } from './s1.client';
import { S1Error } from './s1.errors';

const FULL = 'full-token-5f8e2a7c91d4b3e6';
const ACTIVITIES_ONLY = 'activities-only-token-0c1d2e3f';
const REVOCABLE = 'revocable-token-a1b2c3d4e5f6';
const TOKENS = [FULL, ACTIVITIES_ONLY, REVOCABLE];
const ACTIVITIES = 2_345;

let sim: RunningSimulator;
const clients: S1Client[] = [];
const errors: unknown[] = [];

function client(overrides: Partial<S1ClientOptions> = {}): S1Client {
  const c = new S1Client({
    baseUrl: `${sim.url}/`,
    token: FULL,
    allowInsecure: true,
    rateLimiter: new ConsoleRateLimiter({ requestsPerSecond: 1_000 }),
    ...overrides,
  });
  clients.push(c);
  return c;
}

/** The S1Error a call rejects with (kept for the token check at the end). */
async function failure(promise: Promise<unknown>): Promise<S1Error> {
  try {
    await promise;
  } catch (error) {
    errors.push(error);
    if (error instanceof S1Error) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

async function walk(c: S1Client, api: S1Api, query: ListQuery): Promise<{ ids: string[]; pages: number; createdAt: string[] }> {
  const ids: string[] = [];
  const createdAt: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await c.listPage(api, { ...query, ...(cursor !== undefined ? { cursor } : {}) });
    pages += 1;
    for (const r of page.records) {
      ids.push(String(r.value['id']));
      createdAt.push(String(r.value['createdAt']));
    }
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
  return { ids, pages, createdAt };
}

beforeAll(async () => {
  sim = await startSimulator({
    port: 0,
    clock: 'manual',
    startTime: '2024-06-01T12:00:00Z',
    activities: ACTIVITIES,
    agents: 50,
    threats: 120,
    tokens: [
      { token: FULL, label: 'full' },
      { token: ACTIVITIES_ONLY, label: 'activities-only', apis: ['activities'] },
      { token: REVOCABLE, label: 'revocable' },
    ],
  });
});

afterEach(() => {
  sim.admin.reset();
});

afterAll(async () => {
  for (const c of clients) c.close();
  await sim.close();
});

describe('S1Client against the simulator', () => {
  describe('verifyToken', () => {
    it('accepts a valid token, sending the ApiToken header and our User-Agent', async () => {
      await expect(client().verifyToken()).resolves.toEqual({ rateLimited: false });
      const [entry] = sim.admin.requests();
      expect(entry).toMatchObject({ method: 'GET', path: '/web/api/v2.1/system/info', token: 'full', status: 200 });
    });

    it('when the token is unknown, it fails with ThirdPartyConfig Unauthorized', async () => {
      const error = await failure(client({ token: 'no-such-token-123456' }).verifyToken());
      expect(error).toMatchObject({ errorType: 'ThirdPartyConfig', reason: 'Unauthorized', status: 401 });
      expect(error.message).toContain('the API token was rejected (401, 4010010 Authentication Failed)');
      expect(error.message).toContain('check it has not expired or been revoked');
    });

    it('when the token is revoked at runtime, the next call fails with Unauthorized', async () => {
      const c = client({ token: REVOCABLE });
      await c.verifyToken();
      sim.admin.revokeToken('revocable');
      expect(await failure(c.verifyToken())).toMatchObject({ errorType: 'ThirdPartyConfig', reason: 'Unauthorized' });
      expect(await failure(c.listPage('activities', { filters: {} }))).toMatchObject({ reason: 'Unauthorized' });
    });
  });

  describe('tokenDetails', () => {
    it('returns the creation and expiry dates', async () => {
      const details = await client().tokenDetails();
      expect(details?.createdAt).toMatch(/^2024-05-02T12:00:00/);
      expect(details?.expiresAt).toMatch(/^2024-11-28T12:00:00/);
      const [entry] = sim.admin.requests();
      expect(entry).toMatchObject({ method: 'POST', path: '/web/api/v2.1/users/api-token-details', status: 200 });
    });

    it('returns null when the token may not read them (403)', async () => {
      await expect(client({ token: ACTIVITIES_ONLY }).tokenDetails()).resolves.toBeNull();
    });
  });

  describe('listPage', () => {
    it('when the token lacks the API, it fails with ThirdPartyConfig Forbidden naming the API', async () => {
      const error = await failure(client({ token: ACTIVITIES_ONLY }).listPage('threats', { filters: {} }));
      expect(error).toMatchObject({ errorType: 'ThirdPartyConfig', reason: 'Forbidden', status: 403 });
      expect(error.message).toContain('may not read threats');
    });

    it('walks all activities with cursor and the same filters, returning every record once', async () => {
      const c = client();
      const filters = { createdAt__gte: '2024-05-01T00:00:00Z' };
      const result = await walk(c, 'activities', { filters, sortBy: 'createdAt', sortOrder: 'asc', limit: 1000 });
      expect(result.pages).toBe(3);
      expect(result.ids).toHaveLength(sim.admin.state().counts.activities.records);
      expect(new Set(result.ids).size).toBe(ACTIVITIES);
      expect([...result.createdAt].sort()).toEqual(result.createdAt);
      const log = sim.admin.requests();
      expect(log).toHaveLength(3);
      for (const [index, entry] of log.entries()) {
        const { cursor, ...rest } = entry.query;
        expect(rest).toEqual({ createdAt__gte: '2024-05-01T00:00:00Z', sortBy: 'createdAt', sortOrder: 'asc', limit: '1000' });
        expect(cursor === undefined).toBe(index === 0);
      }
    });

    it('applies createdAt__gte/__lt as a half-open window', async () => {
      const c = client();
      const all = await walk(c, 'activities', { filters: {}, sortBy: 'createdAt', sortOrder: 'asc' });
      const from = all.createdAt[500]!;
      const to = all.createdAt[1_700]!;
      const window = await walk(c, 'activities', { filters: { createdAt__gte: from, createdAt__lt: to }, sortBy: 'createdAt', sortOrder: 'asc', limit: 500 });
      const expected = all.ids.filter((_id, i) => all.createdAt[i]! >= from && all.createdAt[i]! < to);
      expect(window.ids).toEqual(expected);
      expect(window.ids.length).toBeGreaterThan(1_000);
      const page = await c.listPage('activities', { filters: { createdAt__gte: from, createdAt__lt: to }, limit: 1 });
      expect(page.totalItems).toBe(expected.length);
    });

    it('walks threats and agents too', async () => {
      const c = client();
      expect((await walk(c, 'threats', { filters: {}, sortBy: 'updatedAt', sortOrder: 'asc', limit: 50 })).ids).toHaveLength(120);
      expect((await walk(c, 'agents', { filters: {}, limit: 1000 })).ids).toHaveLength(50);
    });

    it('when a 429 burst comes with Retry-After, it waits it out and says rateLimited', async () => {
      sim.admin.addFault({ kind: 'status', status: 429, count: 2, retryAfterSeconds: 1 });
      const started = Date.now();
      const page = await client().listPage('activities', { filters: {}, limit: 5 });
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_900);
      expect(page).toMatchObject({ rateLimited: true, requests: 3 });
      expect(page.records).toHaveLength(5);
    });

    it('when 429s go on beyond the retries, it fails with RateLimited and retryAfterMs', async () => {
      sim.admin.addFault({ kind: 'status', status: 429, count: 5, retryAfterSeconds: 7 });
      const error = await failure(client({ max429Retries: 0 }).listPage('activities', { filters: {} }));
      expect(error).toMatchObject({ errorType: 'ThirdPartyGeneric', reason: 'RateLimited', status: 429, retryAfterMs: 7_000 });
      expect(sim.admin.requests()).toHaveLength(1);
    });

    it('does not wait longer than the 429 wait cap', async () => {
      sim.admin.addFault({ kind: 'status', status: 429, count: 5, retryAfterSeconds: 2 });
      const started = Date.now();
      const error = await failure(client({ max429WaitMs: 1_000 }).verifyToken());
      expect(error).toMatchObject({ reason: 'RateLimited', retryAfterMs: 2_000 });
      expect(Date.now() - started).toBeLessThan(1_000);
    });

    it.each([500, 502, 503])('when the console answers %i, it fails with ThirdPartyGeneric ServerError', async (status) => {
      sim.admin.addFault({ kind: 'status', status });
      const error = await failure(client().listPage('activities', { filters: {} }));
      expect(error).toMatchObject({ errorType: 'ThirdPartyGeneric', reason: 'ServerError', status });
      expect(error.message).toContain(`(${status}, ${status * 10_000 + 10} `);
    });

    it('when the connection is reset mid-response, it fails with ThirdPartyGeneric', async () => {
      sim.admin.addFault({ kind: 'reset' });
      const error = await failure(client().listPage('activities', { filters: {}, limit: 200 }));
      expect(error).toMatchObject({ errorType: 'ThirdPartyGeneric', reason: 'ConnectionFailed' });
    });

    it.each(['truncate', 'invalid-json'] as const)('when the body is %s, it fails with MalformedResponse, never a partial page', async (kind) => {
      sim.admin.addFault({ kind });
      const error = await failure(client().listPage('activities', { filters: {}, limit: 100 }));
      expect(error).toMatchObject({ errorType: 'ThirdPartyGeneric', reason: 'MalformedResponse', status: 200 });
    });

    it('when the console is slower than the timeout, it fails with Timeout', async () => {
      sim.admin.addFault({ kind: 'latency', latencyMs: 1_500 });
      const error = await failure(client({ timeoutMs: 200 }).verifyToken());
      expect(error).toMatchObject({ errorType: 'ThirdPartyGeneric', reason: 'Timeout' });
    });

    it('when the caller aborts, it fails with Aborted', async () => {
      sim.admin.addFault({ kind: 'latency', latencyMs: 1_500 });
      const error = await failure(client().verifyToken({ signal: AbortSignal.timeout(100) }));
      expect(error).toMatchObject({ reason: 'Aborted' });
    });

    it('when the cursor has expired, it fails with ThirdPartyGeneric InvalidCursor', async () => {
      sim.admin.setCursorTtl(1_000);
      const c = client();
      const first = await c.listPage('activities', { filters: {}, limit: 10 });
      sim.admin.advanceClock(5_000);
      const error = await failure(c.listPage('activities', { filters: {}, limit: 10, cursor: first.nextCursor! }));
      expect(error).toMatchObject({ errorType: 'ThirdPartyGeneric', reason: 'InvalidCursor', status: 400 });
    });

    it('when the cursor is unknown or the filters changed, it fails with InvalidCursor', async () => {
      const c = client();
      expect(await failure(c.listPage('activities', { filters: {}, cursor: 'bm90LWEtY3Vyc29y' }))).toMatchObject({ reason: 'InvalidCursor' });
      const first = await c.listPage('activities', { filters: {}, limit: 10 });
      const changed = c.listPage('activities', { filters: { createdAt__gte: '2024-05-31T00:00:00Z' }, limit: 10, cursor: first.nextCursor! });
      expect(await failure(changed)).toMatchObject({ reason: 'InvalidCursor' });
    });

    it('when our query is wrong (no cursor), it fails with FirstPartyGeneric BadRequest', async () => {
      const error = await failure(client().listPage('activities', { filters: { createdAt__gte: 'yesterday-ish' } }));
      expect(error).toMatchObject({ errorType: 'FirstPartyGeneric', reason: 'BadRequest', status: 400 });
      expect(error.message).toContain('4000010 Validation Error');
      await expect(client().listPage('activities', { filters: {}, limit: 1001 })).rejects.toMatchObject({ reason: 'BadRequest' });
    });

    it('when the base_url is not a console (404), it fails with ThirdPartyConfig NotFound', async () => {
      // Same console, but an API path the simulator does not serve stands in for a foreign web server.
      const error = await failure(client().listPage('nonsense' as S1Api, { filters: {} }));
      expect(error).toMatchObject({ errorType: 'ThirdPartyConfig', reason: 'NotFound', status: 404 });
      expect(error.message).toContain('probably not a SentinelOne console');
    });
  });

  describe('address policy', () => {
    it('refuses a loopback console when insecure is not allowed, before any request', async () => {
      const c = client({ baseUrl: `https://127.0.0.1:${sim.port}/`, allowInsecure: false });
      const error = await failure(c.verifyToken());
      expect(error).toMatchObject({ errorType: 'ThirdPartyConfig', reason: 'AddressNotAllowed' });
      expect(sim.admin.requests()).toEqual([]);
    });

    it('refuses a name that resolves to loopback, before any request', async () => {
      const c = client({
        baseUrl: `https://console.example.com:${sim.port}/`,
        allowInsecure: false,
        resolver: () => Promise.resolve([{ address: '127.0.0.1', family: 4 }]),
      });
      const error = await failure(c.listPage('activities', { filters: {} }));
      expect(error).toMatchObject({ errorType: 'ThirdPartyConfig', reason: 'AddressNotAllowed' });
      expect(error.message).toContain('console.example.com resolves to 127.0.0.1');
      expect(sim.admin.requests()).toEqual([]);
    });

    it('connects to the address the guarded lookup resolved', async () => {
      const c = client({ baseUrl: `http://sim.example.test:${sim.port}/`, resolver: () => Promise.resolve([{ address: '127.0.0.1', family: 4 }]) });
      await expect(c.verifyToken()).resolves.toEqual({ rateLimited: false });
    });

    it('when the host does not resolve, it fails with ThirdPartyConfig UnknownHost', async () => {
      const notFound = Object.assign(new Error('getaddrinfo ENOTFOUND typo.example.test'), { code: 'ENOTFOUND' });
      const c = client({ baseUrl: 'https://typo.example.test/', allowInsecure: false, resolver: () => Promise.reject(notFound) });
      expect(await failure(c.verifyToken())).toMatchObject({ errorType: 'ThirdPartyConfig', reason: 'UnknownHost' });
    });

    it('when a host that resolved before is said not to exist, it is a ThirdPartyGeneric outage', async () => {
      const c = client({ baseUrl: `http://flaky-dns.example.test:${sim.port}/`, resolver: () => Promise.resolve([{ address: '127.0.0.1', family: 4 }]) });
      await c.verifyToken();
      c.close();
      const again = client({
        baseUrl: `http://flaky-dns.example.test:${sim.port}/`,
        resolver: () => Promise.reject(Object.assign(new Error('getaddrinfo ENOTFOUND flaky-dns.example.test'), { code: 'ENOTFOUND' })),
      });
      expect(await failure(again.verifyToken())).toMatchObject({ errorType: 'ThirdPartyGeneric', reason: 'UnknownHost' });
    });

    for (const code of ['EAI_AGAIN', 'EAI_FAIL']) {
      it(`when the resolver fails (${code}) for a host never resolved in this process (a fetcher just restarted), it is a ThirdPartyGeneric outage, retried`, async () => {
        const c = client({
          baseUrl: 'https://never-resolved.example.test/',
          allowInsecure: false,
          resolver: () => Promise.reject(Object.assign(new Error(`getaddrinfo ${code} never-resolved.example.test`), { code })),
        });
        const error = await failure(c.verifyToken());
        expect(error).toMatchObject({ errorType: 'ThirdPartyGeneric', reason: 'UnknownHost' });
        expect(error.message).toContain('will retry');
      });
    }

    it('refuses http unless insecure is allowed', () => {
      expect(() => new S1Client({ baseUrl: sim.url, token: FULL, allowInsecure: false })).toThrow(
        expect.objectContaining({ errorType: 'ThirdPartyConfig', reason: 'InvalidBaseUrl' }) as Error,
      );
    });
  });

  describe('rate limiting', () => {
    it('spaces requests at the limiter rate', async () => {
      const c = client({ rateLimiter: new ConsoleRateLimiter({ requestsPerSecond: 20, burst: 1 }) });
      const started = Date.now();
      for (let i = 0; i < 6; i += 1) await c.verifyToken();
      expect(Date.now() - started).toBeGreaterThanOrEqual(240);
    });

    it('shares one limiter between all clients of a console by default', async () => {
      // The shared limiter allows 10 requests/s with a burst of 10: 16 requests need >= 0.5 s.
      const a = client({ rateLimiter: undefined });
      const b = client({ rateLimiter: undefined, token: ACTIVITIES_ONLY });
      const started = Date.now();
      await Promise.all(Array.from({ length: 8 }, (_, i) => [a.verifyToken(), b.listPage('activities', { filters: {}, limit: 1 + i })]).flat());
      expect(Date.now() - started).toBeGreaterThanOrEqual(550);
      expect(sim.admin.requests()).toHaveLength(16);
    });
  });

  describe('secrecy', () => {
    it('never shows the token in inspect, JSON or string output of the client', () => {
      const c = client();
      for (const text of [inspect(c, { showHidden: true, depth: 10 }), JSON.stringify(c), String(c)]) {
        for (const token of TOKENS) expect(text).not.toContain(token);
      }
      expect(inspect(c)).toContain(sim.url);
    });

    it('never shows any token in the errors of these tests', () => {
      expect(errors.length).toBeGreaterThan(15);
      for (const error of errors) {
        const texts = [String(error), inspect(error, { showHidden: true, depth: 10 }), JSON.stringify(error), (error as Error).stack ?? ''];
        for (const text of texts) for (const token of TOKENS) expect(text).not.toContain(token);
      }
    });
  });
});
