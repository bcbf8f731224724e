import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from './simulator.server.js';
import { getJson, walk, type ErrorBody, type ListBody } from './testing/api.helper.js';

let sim: RunningSimulator;

beforeAll(async () => {
  sim = await startSimulator({
    seed: 3,
    clock: 'manual',
    startTime: '2024-03-01T00:00:00Z',
    activities: 2_000,
    agents: 300,
    threats: 500,
    accounts: 3,
    sitesPerAccount: 2,
    tokens: [
      { token: 'root-secret', label: 'root' },
      { token: 'acme-secret', label: 'acme', accounts: [0], apis: ['activities', 'threats'] },
      { token: 'globex-secret', label: 'globex', accounts: [1, 2], apis: ['activities', 'agents', 'threats', 'api-token-details'] },
      { token: 'site-secret', label: 'one-site', sites: [5] },
      { token: 'old-secret', label: 'expired', expiresAt: '2024-02-01T00:00:00Z' },
    ],
  });
});

afterAll(async () => {
  await sim.close();
});

const accountOf = (item: Record<string, unknown>): unknown => item.accountId ?? (item.agentRealtimeInfo as Record<string, unknown> | undefined)?.accountId;

describe('given tokens of several consoles in one simulator', () => {
  it('shows each token only the data of its own accounts, and together they see everything once', async () => {
    for (const api of ['activities', 'threats'] as const) {
      const everything = await walk(sim.apiUrl, api, 'root-secret', { limit: '1000' });
      const acme = await walk(sim.apiUrl, api, 'acme-secret', { limit: '1000' });
      const globex = await walk(sim.apiUrl, api, 'globex-secret', { limit: '1000' });
      expect(new Set(acme.items.map(accountOf))).toEqual(new Set([sim.accounts[0]?.id]));
      expect(new Set(globex.items.map(accountOf))).toEqual(new Set([sim.accounts[1]?.id, sim.accounts[2]?.id]));
      expect(acme.items.length + globex.items.length).toBe(everything.items.length);
      expect(acme.totals[0]).toBe(acme.items.length);
      expect(new Set([...acme.items, ...globex.items].map((i) => i.id)).size).toBe(everything.items.length);
    }
  });

  it('scopes a token to its sites', async () => {
    const site = sim.accounts[2]?.sites[1];
    const { items } = await walk(sim.apiUrl, 'agents', 'site-secret', { limit: '1000' });
    expect(items.length).toBeGreaterThan(0);
    expect(new Set(items.map((i) => i.siteId))).toEqual(new Set([site?.id]));
  });

  it('gives nothing for a filter outside the token scope', async () => {
    const { body } = await getJson<ListBody>(sim.apiUrl, '/activities', 'acme-secret', { accountIds: sim.accounts[1]?.id ?? '' });
    expect(body).toEqual({ data: [], pagination: { nextCursor: null, totalItems: 0 } });
  });

  it('answers 403 for an API the token has no access to', async () => {
    const { status, body } = await getJson<ErrorBody>(sim.apiUrl, '/agents', 'acme-secret');
    expect(status).toBe(403);
    expect(body).toEqual({ errors: [{ code: 4030010, detail: null, title: 'Insufficient permissions' }] });
  });

  it('does not accept a cursor issued to another token', async () => {
    const first = await getJson<ListBody>(sim.apiUrl, '/activities', 'root-secret', { limit: '5' });
    const { status } = await getJson(sim.apiUrl, '/activities', 'globex-secret', { limit: '5', cursor: first.body.pagination.nextCursor ?? '' });
    expect(status).toBe(400);
  });
});

describe('when authenticating', () => {
  const authFailed = { errors: [{ code: 4010010, detail: null, title: 'Authentication Failed' }] };

  it.each([
    ['no header', undefined],
    ['an unknown token', 'ApiToken nope'],
    ['another scheme', 'Bearer root-secret'],
    ['an expired token', 'ApiToken old-secret'],
  ])('answers 401 for %s', async (_name, header) => {
    const res = await fetch(`${sim.apiUrl}/system/info`, { headers: header === undefined ? {} : { Authorization: header } });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual(authFailed);
  });

  it.each(['ApiToken', 'APIToken', 'apitoken'])('accepts the %s scheme', async (scheme) => {
    const res = await fetch(`${sim.apiUrl}/system/info`, { headers: { Authorization: `${scheme} root-secret` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ data: { build: expect.any(String) } });
  });

  it('answers system/status without credentials', async () => {
    const res = await fetch(`${sim.apiUrl}/system/status`);
    expect(await res.json()).toEqual({ data: { health: 'ok' } });
  });

  it('reports token dates from api-token-details where permitted', async () => {
    const post = (token: string, apiToken: unknown) =>
      fetch(`${sim.apiUrl}/users/api-token-details`, {
        method: 'POST',
        headers: { Authorization: `ApiToken ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ data: { apiToken } }),
      });
    const res = await post('globex-secret', 'globex-secret');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ data: { createdAt: '2024-01-31T00:00:00.000000Z', expiresAt: '2024-08-28T00:00:00.000000Z' } });
    expect((await post('acme-secret', 'acme-secret')).status).toBe(403);
    expect((await post('globex-secret', 'who-knows')).status).toBe(400);
    expect((await post('globex-secret', 42)).status).toBe(400);
  });

  it('answers 401 once a token is revoked, and serves tokens added at run time', async () => {
    sim.admin.addToken({ token: 'temp-secret', label: 'temp', apis: ['agents'] });
    expect((await getJson(sim.apiUrl, '/agents', 'temp-secret')).status).toBe(200);
    const revoked = await fetch(`${sim.url}/_sim/tokens/temp/revoke`, { method: 'POST' });
    expect(revoked.status).toBe(200);
    expect((await getJson(sim.apiUrl, '/agents', 'temp-secret')).status).toBe(401);
    expect(sim.admin.tokens().find((t) => t.label === 'temp')).toMatchObject({ revoked: true });
    expect(sim.admin.removeToken('temp')).toBe(true);
    expect((await getJson(sim.apiUrl, '/agents', 'temp-secret')).status).toBe(401);
  });

  it('never shows a secret through the admin API', async () => {
    const res = await fetch(`${sim.url}/_sim/state`);
    const text = await res.text();
    expect(text).not.toContain('-secret');
    expect(text).toContain('"acme"');
  });
});
