import { documentedRoutes, openApiReplyChecker, servedRoutes, startNatsServer, type RunningServer } from '@s1c/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHealthUnderTest, type HealthUnderTest } from './testing/health.harness';
import { iso, micros, NOW, SECRET_PARTS, writeScriptedHistory } from './testing/scripted.history';

const TOKEN = 'test-token-0123456789abcdef';
const ids = (body: { items: Array<{ id?: string; eventId?: string }> }) => body.items.map((i) => i.id ?? i.eventId);

describe('the health API', () => {
  let h: HealthUnderTest;
  /** Every body the API returned, to look for secrets at the end. */
  const seen: string[] = [];
  const get = async (path: string, token: string | null = TOKEN) => {
    const response = await h.get(path, { token });
    seen.push(response.text, JSON.stringify([...response.headers]));
    return response;
  };

  beforeAll(async () => {
    h = await startHealthUnderTest({ now: NOW, token: TOKEN });
    await writeScriptedHistory(h);
    await h.caughtUp();
  });
  afterAll(() => h?.close());

  describe('GET /api/v1/sources', () => {
    it('lists live sources sorted by name, with paging', async () => {
      const all = await get('/api/v1/sources');
      expect(all.status).toBe(200);
      expect(all.headers.get('content-type')).toMatch(/^application\/json/);
      expect(ids(all.body)).toEqual(['alpha-src', 'bravo-src', 'charlie-src']);
      const page2 = await get('/api/v1/sources?limit=2&offset=2');
      expect(page2.body).toMatchObject({ total: 3, limit: 2, offset: 2 });
      expect(ids(page2.body)).toEqual(['charlie-src']);
      expect(ids((await get('/api/v1/sources?limit=1')).body)).toEqual(['alpha-src']);
    });

    it('filters by state (a list), collector and part of the name', async () => {
      expect(ids((await get('/api/v1/sources?state=Error')).body)).toEqual(['bravo-src']);
      expect(ids((await get('/api/v1/sources?state=Error,Deleted')).body)).toEqual(['bravo-src', 'delta-src']);
      expect(ids((await get('/api/v1/sources?state=Collecting&state=Error')).body)).toEqual(['alpha-src', 'bravo-src', 'charlie-src']);
      expect(ids((await get('/api/v1/sources?collector=emea')).body)).toEqual(['bravo-src']);
      expect(ids((await get('/api/v1/sources?name=LTD')).body)).toEqual(['charlie-src']);
      expect(ids((await get('/api/v1/sources?collector=default&name=a')).body)).toEqual(['alpha-src', 'charlie-src']);
      expect((await get('/api/v1/sources?name=nothing-like-it')).body).toEqual({ items: [], total: 0, limit: 50, offset: 0 });
    });
  });

  describe('GET /api/v1/sources/{id}', () => {
    it('answers one source with its status, or 404', async () => {
      const bravo = await get('/api/v1/sources/bravo-src');
      expect(bravo.status).toBe(200);
      expect(bravo.body).toMatchObject({ id: 'bravo-src', state: 'Error', health: 'error', openErrors: 1, openWarnings: 0 });
      const missing = await get('/api/v1/sources/no-such-source');
      expect(missing.status).toBe(404);
      expect(missing.body).toEqual({ error: { code: 'NotFound', message: 'source "no-such-source" not found' } });
      expect((await get('/api/v1/sources/delta-src')).status).toBe(404);
    });
  });

  describe('GET /api/v1/sources/{id}/health-events', () => {
    it("answers the source's events, with filters", async () => {
      const alpha = await get('/api/v1/sources/alpha-src/health-events');
      expect(alpha.status).toBe(200);
      expect(ids(alpha.body)).toEqual([`health-alpha-src-activities-RateLimited-${micros(12)}`, `health-alpha-src-activities-ThirdPartyGeneric-${micros(7.5)}`]);
      expect(ids((await get('/api/v1/sources/alpha-src/health-events?status=open')).body)).toEqual([`health-alpha-src-activities-RateLimited-${micros(12)}`]);
      expect(ids((await get('/api/v1/sources/alpha-src/health-events?severity=Error')).body)).toEqual([`health-alpha-src-activities-ThirdPartyGeneric-${micros(7.5)}`]);
      expect((await get('/api/v1/sources/no-such-source/health-events')).status).toBe(404);
    });
  });

  describe('GET /api/v1/health-events', () => {
    it('filters by error type, severity, source, status and time, with paging', async () => {
      const all = await get('/api/v1/health-events');
      expect(all.body.total).toBe(5);
      expect(ids((await get('/api/v1/health-events?errorType=ThirdPartyConfig')).body)).toEqual([
        `health-charlie-src-activities-ThirdPartyConfig-${micros(4)}`,
        `health-bravo-src-threats-ThirdPartyConfig-${micros(4)}`,
      ]);
      expect(ids((await get('/api/v1/health-events?errorType=RateLimited,FirstPartyGeneric')).body)).toEqual([
        `health-alpha-src-activities-RateLimited-${micros(12)}`,
        'health-charlie-src-delivery-1',
      ]);
      expect(ids((await get('/api/v1/health-events?severity=Warning')).body)).toEqual([`health-alpha-src-activities-RateLimited-${micros(12)}`]);
      expect(ids((await get('/api/v1/health-events?source=charlie-src')).body)).toEqual([
        'health-charlie-src-delivery-1',
        `health-charlie-src-activities-ThirdPartyConfig-${micros(4)}`,
      ]);
      expect(ids((await get('/api/v1/health-events?status=open')).body)).toEqual([
        `health-alpha-src-activities-RateLimited-${micros(12)}`,
        `health-bravo-src-threats-ThirdPartyConfig-${micros(4)}`,
      ]);
      // Active during [10:10:45, 10:12): open ones, and those resolved at or after 10:10:45, first seen before 10:12.
      const window = await get(`/api/v1/health-events?from=${encodeURIComponent(iso(10.75))}&to=${encodeURIComponent('2026-11-27T10:12:00Z')}`);
      expect(ids(window.body)).toEqual(['health-charlie-src-delivery-1', `health-bravo-src-threats-ThirdPartyConfig-${micros(4)}`]);
      const page = await get('/api/v1/health-events?limit=2&offset=1');
      expect(page.body).toMatchObject({ total: 5, limit: 2, offset: 1 });
      expect(ids(page.body)).toEqual(ids(all.body).slice(1, 3));
    });
  });

  describe('bad query parameters', () => {
    it.each([
      ['/api/v1/sources?limit=0', ['limit']],
      ['/api/v1/sources?limit=abc&offset=-1', ['limit', 'offset']],
      ['/api/v1/sources?state=Broken', ['state']],
      ['/api/v1/sources?colector=emea', ['colector']],
      ['/api/v1/sources/alpha-src?verbose=1', ['verbose']],
      ['/api/v1/sources/alpha-src/health-events?source=x', ['source']],
      ['/api/v1/health-events?severity=Fatal&errorType=Nope', ['severity', 'errorType']],
      ['/api/v1/health-events?from=yesterday&status=closed', ['from', 'status']],
      ['/api/v1/health-events?limit=501', ['limit']],
    ])('%s is a 400 naming %j', async (path, names) => {
      const response = await get(path);
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('BadRequest');
      expect(response.body.error.details.map((d: { parameter: string }) => d.parameter).sort()).toEqual([...names].sort());
      for (const name of names) expect(response.body.error.message).toContain(name);
    });

    it('does not echo the bad value', async () => {
      const response = await get('/api/v1/sources?state=%3Cscript%3Ealert(1)%3C%2Fscript%3E');
      expect(response.status).toBe(400);
      expect(response.text).not.toContain('script');
    });
  });

  describe('authentication', () => {
    const guarded = ['/api/v1/sources', '/api/v1/sources/alpha-src', '/api/v1/sources/alpha-src/health-events', '/api/v1/sources/alpha-src/history', '/api/v1/health-events', '/metrics', '/api/docs'];

    it.each(guarded)('%s without a token is a 401', async (path) => {
      const response = await get(path, null);
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(response.body.error.code).toBe('Unauthorized');
    });

    it.each(guarded)('%s with a wrong token is a 401', async (path) => {
      expect((await get(path, 'test-token-0123456789abcdeX')).status).toBe(401);
      expect((await get(path, 'short')).status).toBe(401);
    });

    it('accepts the token in any case of "Bearer"', async () => {
      const response = await fetch(new URL('/api/v1/sources', h.url), { headers: { Authorization: `bearer ${TOKEN}` } });
      expect(response.status).toBe(200);
    });

    it('leaves /healthz and the dashboard files open', async () => {
      for (const path of ['/healthz', '/', '/dashboard.js', '/dashboard.css']) expect((await get(path, null)).status).toBe(200);
    });
  });

  describe('GET /healthz', () => {
    it('is 200 with details when NATS and MongoDB answer', async () => {
      const response = await get('/healthz', null);
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ status: 'ok', checks: { nats: { ok: true }, mongodb: { ok: true } } });
      expect(response.body.readModel.ready).toBe(true);
      expect(response.body.readModel.checkpoint).toBeGreaterThan(0);
    });

    describe('when NATS goes away', () => {
      let nats: RunningServer;
      let own: HealthUnderTest;
      beforeAll(async () => {
        nats = await startNatsServer();
        own = await startHealthUnderTest({ natsUrl: nats.url });
      });
      afterAll(async () => {
        await own?.close();
        await nats?.stop();
      });

      it('is 503 naming NATS, and 200 again once it is back', async () => {
        expect((await own.get('/healthz')).status).toBe(200);
        await nats.kill();
        const down = await own.get('/healthz');
        expect(down.status).toBe(503);
        expect(down.body).toMatchObject({ status: 'unavailable', checks: { nats: { ok: false }, mongodb: { ok: true } } });
        expect(typeof down.body.checks.nats.error).toBe('string');
        await nats.restart();
        await expect.poll(async () => (await own.get('/healthz')).status, { timeout: 15_000, interval: 250 }).toBe(200);
      });
    });
  });

  describe('while the read models are not ready (the log is replayed at every start)', () => {
    it('/healthz is 503 saying so, the status endpoints and /metrics are 503, and the rest still answers', async () => {
      const model = h.runtime.readModel.model;
      model.ready = false;
      try {
        const healthz = await get('/healthz', null);
        expect(healthz.status).toBe(503);
        expect(healthz.body).toMatchObject({ status: 'unavailable', checks: { nats: { ok: true }, mongodb: { ok: true } }, readModel: { ready: false } });
        for (const path of ['/api/v1/sources', '/api/v1/sources/alpha-src', '/api/v1/sources/alpha-src/health-events', '/metrics']) {
          const response = await get(path);
          expect(response.status, path).toBe(503);
          expect(response.headers.get('content-type')).toMatch(/^application\/json/);
          expect(response.body).toEqual({ error: { code: 'Unavailable', message: 'the health read models are still replaying the event log (at start); try again shortly' } });
        }
        expect((await get('/api/v1/health-events')).status).toBe(200);
        expect((await get('/api/v1/sources/alpha-src/history')).status).toBe(200);
      } finally {
        model.ready = true;
      }
      expect((await get('/healthz', null)).status).toBe(200);
      expect((await get('/api/v1/sources')).status).toBe(200);
    });
  });

  describe('GET /metrics', () => {
    it('reports records, errors, lag, backfill and poll durations per source and API in Prometheus text', async () => {
      const response = await get('/metrics');
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8; version=0.0.4');
      const text = response.text;
      for (const line of [
        's1c_records_collected_total{source_id="alpha-src",source="Alpha SOC",api="activities"} 2050',
        's1c_collection_errors_total{source_id="alpha-src",source="Alpha SOC",api="activities"} 3',
        's1c_collection_lag_seconds{source_id="alpha-src",source="Alpha SOC",api="activities"} 300',
        's1c_backfill_progress_percent{source_id="alpha-src",source="Alpha SOC",api="activities"} 50',
        's1c_poll_duration_seconds_bucket{source_id="alpha-src",source="Alpha SOC",api="activities",le="60"} 1',
        's1c_poll_duration_seconds_bucket{source_id="alpha-src",source="Alpha SOC",api="activities",le="+Inf"} 2',
        's1c_poll_duration_seconds_sum{source_id="alpha-src",source="Alpha SOC",api="activities"} 180',
        's1c_source_open_health_events{source_id="bravo-src",source="Bravo Corp",severity="Error"} 1',
        's1c_source_state{source_id="bravo-src",source="Bravo Corp",collector="emea",state="Error"} 1',
        's1c_health_events_open{severity="Warning",error_type="RateLimited"} 1',
        '# TYPE s1c_poll_duration_seconds histogram',
      ]) {
        expect(text.split('\n')).toContain(line);
      }
      expect(text).not.toContain('delta-src');
    });
  });

  describe('GET /api/docs', () => {
    it('is an OpenAPI 3.1 document: every route documented, and real replies valid against it', async () => {
      const response = await get('/api/docs');
      expect(response.status).toBe(200);
      const document = response.body as Parameters<typeof openApiReplyChecker>[0] & { openapi: string };
      expect(document.openapi).toBe('3.1.0');

      // Every route the service serves (from Express's router) is a documented path and method, and the reverse.
      expect(servedRoutes(h.runtime.app)).toEqual(documentedRoutes(document));

      // Replies of each kind, as the service sent them, validate against the schema documented for their status.
      const replies = openApiReplyChecker(document);
      const expectValid = async (url: string, path: string, status: number, token: string | null = TOKEN) => {
        const reply = await get(url, token);
        expect(reply.status, url).toBe(status);
        expect(replies.check(path, 'get', reply.status, reply.body)).toBeUndefined();
      };
      await expectValid('/api/v1/sources', '/api/v1/sources', 200);
      await expectValid('/api/v1/sources?state=Bogus', '/api/v1/sources', 400);
      await expectValid('/api/v1/sources', '/api/v1/sources', 401, null);
      for (const id of ['alpha-src', 'bravo-src', 'charlie-src']) {
        await expectValid(`/api/v1/sources/${id}`, '/api/v1/sources/{id}', 200);
        await expectValid(`/api/v1/sources/${id}/health-events`, '/api/v1/sources/{id}/health-events', 200);
        await expectValid(`/api/v1/sources/${id}/history`, '/api/v1/sources/{id}/history', 200);
      }
      await expectValid('/api/v1/sources/no-such-source', '/api/v1/sources/{id}', 404);
      await expectValid('/api/v1/sources/no-such-source/health-events', '/api/v1/sources/{id}/health-events', 404);
      await expectValid('/api/v1/sources/alpha-src/history?x=1', '/api/v1/sources/{id}/history', 400);
      await expectValid('/api/v1/health-events', '/api/v1/health-events', 200);
      await expectValid('/api/v1/health-events?limit=0', '/api/v1/health-events', 400);
      await expectValid('/healthz', '/healthz', 200, null);

      // A schema that allowed anything would pass the above: these must refuse a wrong body.
      const source = (await get('/api/v1/sources/bravo-src')).body as Record<string, unknown>;
      const sourceSchema = replies.schemaFor('/api/v1/sources/{id}', 'get', 200)!;
      expect(replies.valid(sourceSchema, source)).toBe(true);
      expect(replies.valid(sourceSchema, { ...source, state: 'Sleeping' })).toBe(false);
      expect(replies.valid(sourceSchema, { ...source, apiToken: 'leaked' })).toBe(false);
      expect(replies.valid(replies.schemaFor('/api/v1/health-events', 'get', 200)!, { items: [{}], total: 1, limit: 50, offset: 0 })).toBe(false);
    });
  });

  describe('security headers', () => {
    it('sends a Content-Security-Policy without inline code, and the usual hardening headers', async () => {
      for (const path of ['/', '/api/v1/sources', '/healthz']) {
        const { headers } = await get(path);
        const csp = headers.get('content-security-policy') ?? '';
        expect(csp).toContain("default-src 'none'");
        expect(csp).toContain("script-src 'self'");
        expect(csp).not.toContain('unsafe-inline');
        expect(headers.get('x-content-type-options')).toBe('nosniff');
        expect(headers.get('x-frame-options')).toBe('DENY');
        expect(headers.get('referrer-policy')).toBe('no-referrer');
        expect(headers.get('x-powered-by')).toBeNull();
      }
    });

    it('serves a page with no inline script or style', async () => {
      const html = (await get('/', null)).text;
      expect(html).toMatch(/<script src="dashboard.js" defer><\/script>/);
      expect(html).not.toMatch(/<script>|<script [^>]*>[^<]+<\/script>|\sstyle=|\son[a-z]+=/i);
    });
  });

  describe('GET /api/v1/sources/{id}/history', () => {
    it('answers who changed the source, when and what, from the log, with the token masked', async () => {
      // Given a source created by an HTTP caller and updated by an old-style (string) actor
      const id = 'echo-src';
      const secret = { alg: 'A256GCM' as const, ...SECRET_PARTS };
      const config = { name: 'Echo', description: null, category: null, fields: [], baseUrl: 'https://echo.sentinelone.net', supportedApis: ['agents' as const] };
      const via = { account: 'GATEWAY', user: 'gateway', host: '10.0.0.9', clientName: 's1c-gateway' };
      const ops = { kind: 'http', caller: 'ops', ip: '10.1.2.3', verified: true, via };
      await h.sources.execute(`source-${id}`, () => ({ type: 'CreateSource', data: { sourceId: id, collectorId: 'default', config, secret }, metadata: { now: NOW } }), {
        metadata: { actor: ops, correlationId: 'req-1' },
      });
      await h.sources.execute(
        `source-${id}`,
        () => ({ type: 'UpdateSource', data: { sourceId: id, config: { ...config, category: 'sec/s1' }, secret: { ...secret, iv: 'IV-never-shown-0002' } }, metadata: { now: NOW } }),
        { metadata: { actor: 'nats' } },
      );

      // When its history is read
      const response = await get(`/api/v1/sources/${id}/history`);

      // Then both changes show, with their actors and the token masked
      expect(response.status, response.text).toBe(200);
      expect(response.body).toEqual({
        sourceId: id,
        entries: [
          {
            version: 1,
            at: NOW.toISOString(),
            type: 'SourceCreated',
            actor: ops,
            correlationId: 'req-1',
            changes: [
              { path: 'collectorId', from: null, to: 'default' },
              { path: 'name', from: null, to: 'Echo' },
              { path: 'base_url', from: null, to: 'https://echo.sentinelone.net' },
              { path: 'supported_apis', from: null, to: ['agents'] },
              { path: 'api_secret', from: null, to: '********', masked: true },
              { path: 'state', from: null, to: 'Pending' },
            ],
          },
          {
            version: 2,
            at: NOW.toISOString(),
            type: 'SourceUpdated',
            actor: { kind: 'legacy', name: 'nats' },
            correlationId: null,
            changes: [
              { path: 'category', from: null, to: 'sec/s1' },
              { path: 'api_secret', from: '********', to: '********', masked: true },
            ],
          },
        ],
      });
      // And a source's lifecycle, written by components, is in it too
      const alpha = await get('/api/v1/sources/alpha-src/history');
      expect(alpha.body.entries[0]).toMatchObject({ version: 1, type: 'SourceCreated' });
      expect(alpha.body.entries.map((e: { type: string }) => e.type)).toContain('CollectionBegan');
    });

    it('is 404 for an unknown or deleted source, 400 for a bad id or a query parameter, 401 without the token', async () => {
      expect((await get('/api/v1/sources/no-such-source/history')).status).toBe(404);
      expect((await get('/api/v1/sources/delta-src/history')).status).toBe(404);
      const bad = await get('/api/v1/sources/bad%20id!/history');
      expect(bad.status).toBe(400);
      expect(bad.body.error).toMatchObject({ code: 'BadRequest', details: [{ parameter: 'id', message: expect.any(String) }] });
      expect(bad.text).not.toContain('bad id');
      expect((await get('/api/v1/sources/alpha-src/history?limit=5')).status).toBe(400);
      expect((await get('/api/v1/sources/alpha-src/history', null)).status).toBe(401);
    });
  });

  describe('secrets', () => {
    it('never appear in any response, nor in the read models', async () => {
      await get('/api/v1/sources?state=Pending,Started,Initialized,Authenticated,Collecting,Error,Stopping,Deleted&limit=500');
      const everything = seen.join('\n');
      for (const part of Object.values(SECRET_PARTS)) expect(everything).not.toContain(part);
      // As keys: a history names the field "api_secret" as a value, with its value masked.
      expect(everything).not.toMatch(/"(api_secret|secret|secretKeyId)":/);
      const model = JSON.stringify(h.runtime.readModel.model.snapshot());
      expect(model).toContain('alpha-src');
      const events = JSON.stringify(await h.db.collection('health_events').find({}).toArray());
      expect(events).toContain('alpha-src');
      for (const part of Object.values(SECRET_PARTS)) {
        expect(model).not.toContain(part);
        expect(events).not.toContain(part);
      }
      expect(h.logText()).not.toContain(TOKEN);
    });
  });
});
