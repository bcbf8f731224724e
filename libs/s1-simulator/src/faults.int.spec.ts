import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RequestLogEntry } from './request.log.js';
import { startSimulator, type RunningSimulator } from './simulator.server.js';
import { get, getJson, type ErrorBody, type ListBody } from './testing/api.helper.js';

const TOKEN = 'fault-token';
let sim: RunningSimulator;

beforeAll(async () => {
  sim = await startSimulator({
    clock: 'manual',
    startTime: '2024-03-01T00:00:00Z',
    activities: 500,
    tokens: [
      { token: TOKEN, label: 'collector' },
      { token: 'other-token', label: 'other' },
    ],
  });
});

afterAll(async () => {
  await sim.close();
});

beforeEach(() => {
  sim.admin.reset();
});

async function admin(method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${sim.url}/_sim${path}`, {
    method,
    headers: { 'Content-Type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
}

const statuses = async (n: number, token = TOKEN): Promise<number[]> => {
  const out: number[] = [];
  for (let i = 0; i < n; i += 1) out.push((await get(sim.apiUrl, '/activities', token)).status);
  return out;
};

describe('when a 429 is injected for the next N requests', () => {
  it('answers 429 with Retry-After N times, then recovers', async () => {
    const res = await admin('POST', '/faults', { kind: 'status', status: 429, count: 2, retryAfterSeconds: 3 });
    expect(res.status).toBe(200);
    const first = await getJson<ErrorBody>(sim.apiUrl, '/activities', TOKEN);
    expect(first.status).toBe(429);
    expect(first.headers.get('retry-after')).toBe('3');
    expect(first.body.errors[0]?.title).toBe('Too many requests');
    expect(await statuses(2)).toEqual([429, 200]);
  });
});

describe('when 5xx is injected', () => {
  it('answers the S1 500 body for the next N requests', async () => {
    sim.admin.addFault({ kind: 'status', status: 500, count: 2 });
    const { status, body } = await getJson<ErrorBody>(sim.apiUrl, '/threats', TOKEN);
    expect(status).toBe(500);
    expect(body).toEqual({ errors: [{ code: 5000010, detail: 'Server could not process the request.', title: 'Internal server error' }] });
    expect(await statuses(2)).toEqual([500, 200]);
  });

  it('answers 503 for a duration on the simulator clock', async () => {
    sim.admin.addFault({ kind: 'status', status: 503, durationMs: 10_000 });
    expect(await statuses(3)).toEqual([503, 503, 503]);
    sim.admin.advanceClock(10_001);
    expect(await statuses(1)).toEqual([200]);
  });

  it('only hits the matching path and token', async () => {
    sim.admin.addFault({ kind: 'status', status: 502, durationMs: 60_000, path: '/web/api/v2.1/agents', token: 'other' });
    expect((await get(sim.apiUrl, '/agents', TOKEN)).status).toBe(200);
    expect((await get(sim.apiUrl, '/activities', 'other-token')).status).toBe(200);
    expect((await get(sim.apiUrl, '/agents', 'other-token')).status).toBe(502);
  });
});

describe('when a per-token rate limit is set', () => {
  it('answers 429 with Retry-After once a token exceeds it, without affecting other tokens', async () => {
    const res = await admin('PUT', '/settings', { rateLimitPerSecond: 2 });
    expect(res.status).toBe(200);
    expect(await statuses(3)).toEqual([200, 200, 429]);
    const limited = await get(sim.apiUrl, '/activities', TOKEN);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await statuses(1, 'other-token')).toEqual([200]);
    sim.admin.advanceClock(1_000);
    expect(await statuses(3)).toEqual([200, 200, 429]);
  });
});

describe('when latency is added', () => {
  it('delays the response', async () => {
    // A long delay once, so that "the next request is not delayed" holds on a busy machine too.
    sim.admin.addFault({ kind: 'latency', latencyMs: 1_000, count: 1 });
    const t0 = performance.now();
    expect((await get(sim.apiUrl, '/activities', TOKEN)).status).toBe(200);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(980);
    const t1 = performance.now();
    await get(sim.apiUrl, '/activities', TOKEN);
    expect(performance.now() - t1).toBeLessThan(700);
  });
});

describe('when the response is broken', () => {
  it('resets the connection mid-response', async () => {
    sim.admin.addFault({ kind: 'reset' });
    await expect(get(sim.apiUrl, '/activities', TOKEN, { limit: '1000' }).then((r) => r.text())).rejects.toThrow();
    expect((await get(sim.apiUrl, '/activities', TOKEN)).status).toBe(200);
  });

  it('sends a truncated JSON body', async () => {
    sim.admin.addFault({ kind: 'truncate' });
    const res = await get(sim.apiUrl, '/activities', TOKEN, { limit: '50' });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text.startsWith('{"data":[')).toBe(true);
    expect(() => JSON.parse(text)).toThrow();
  });

  it('sends a body that is not JSON', async () => {
    sim.admin.addFault({ kind: 'invalid-json' });
    const res = await get(sim.apiUrl, '/activities', TOKEN);
    await expect(res.json()).rejects.toThrow();
  });
});

describe('when cursors expire', () => {
  it('answers 400 for a cursor older than the TTL', async () => {
    sim.admin.setCursorTtl(60_000);
    const first = await getJson<ListBody>(sim.apiUrl, '/activities', TOKEN, { limit: '10' });
    const cursor = first.body.pagination.nextCursor ?? '';
    sim.admin.advanceClock(30_000);
    const fresh = await getJson<ListBody>(sim.apiUrl, '/activities', TOKEN, { limit: '10', cursor });
    expect(fresh.status).toBe(200);
    sim.admin.advanceClock(31_000);
    const stale = await getJson<ErrorBody>(sim.apiUrl, '/activities', TOKEN, { limit: '10', cursor });
    expect(stale.status).toBe(400);
    expect(stale.body.errors[0]).toMatchObject({ code: 4000010, detail: 'cursor has expired' });
    // A newer cursor from the same walk is still good.
    const next = fresh.body.pagination.nextCursor ?? '';
    expect((await getJson(sim.apiUrl, '/activities', TOKEN, { limit: '10', cursor: next })).status).toBe(200);
  });
});

describe('when reading the request log', () => {
  it('records method, path, query, token label and status, never the token', async () => {
    sim.admin.addFault({ kind: 'status', status: 429, count: 1 });
    await get(sim.apiUrl, '/threats', TOKEN, { limit: '5', sortBy: 'updatedAt' });
    await get(sim.apiUrl, '/threats', TOKEN, { limit: '5', sortBy: 'updatedAt' });
    await get(sim.apiUrl, '/agents', 'not-a-token');
    await get(sim.apiUrl, '/agents', undefined);
    const res = await admin('GET', '/requests');
    const text = await res.text();
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain('not-a-token');
    const log = (JSON.parse(text) as { data: RequestLogEntry[] }).data;
    expect(log.map((e) => [e.method, e.path, e.token, e.status, e.fault])).toEqual([
      ['GET', '/web/api/v2.1/threats', 'collector', 429, 'status'],
      ['GET', '/web/api/v2.1/threats', 'collector', 200, null],
      ['GET', '/web/api/v2.1/agents', 'unknown', 401, null],
      ['GET', '/web/api/v2.1/agents', null, 401, null],
    ]);
    expect(log[0]?.query).toEqual({ limit: '5', sortBy: 'updatedAt' });
    expect(log[0]?.at).toBe(sim.admin.now());
  });

  it('is cleared, with faults and settings, by /_sim/reset', async () => {
    sim.admin.addFault({ kind: 'status', status: 500, durationMs: 60_000 });
    sim.admin.setRateLimit(1);
    await get(sim.apiUrl, '/activities', TOKEN);
    expect((await admin('POST', '/reset')).status).toBe(200);
    expect(sim.admin.requests()).toEqual([]);
    expect(sim.admin.faults()).toEqual([]);
    expect(await statuses(3)).toEqual([200, 200, 200]);
  });

  it('rejects an invalid fault with 400', async () => {
    const res = await admin('POST', '/faults', { kind: 'status', status: 200 });
    expect(res.status).toBe(400);
    expect((await admin('POST', '/faults', { kind: 'explode' })).status).toBe(400);
  });
});
