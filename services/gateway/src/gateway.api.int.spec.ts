import { sampleSourceDocument } from '@s1c/contracts/testing';
import { collectionDecider, collectionStreamId, isCollectionEvent } from '@s1c/domain';
import { AggregateRepository, MongoEventStore } from '@s1c/event-store';
import { documentedRoutes, freePort, openApiReplyChecker, servedRoutes } from '@s1c/test-harness';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayUnderTest, startRegistryForTest, type ApiResponse, type GatewayUnderTest, type RegistryForTest } from './testing/gateway.harness';

const API_TOKEN = 'gateway-test-token-0123456789';
const SECRETS = ['tok-gw-alpha-0123456789', 'tok-gw-bravo-0123456789', 'tok-gw-charlie-0123456789'];
const sources = (collector: string) => `/api/v1/collectors/${collector}/sources`;

describe('the HTTP source API', () => {
  let registry: RegistryForTest;
  let gw: GatewayUnderTest;
  let closedPort: number;

  const create = (collector: string, config: Record<string, unknown>, outer: Record<string, unknown> = {}) =>
    gw.request('POST', sources(collector), { body: sampleSourceDocument({ api_secret: SECRETS[0], ...config }, outer) });
  const created = async (collector: string, config: Record<string, unknown>) => {
    const response = await create(collector, config);
    expect(response.status, response.text).toBe(201);
    return response;
  };
  const pathOf = (response: ApiResponse) => `${sources(response.body.collectorId)}/${response.body.source.id}`;
  const expectError = (response: ApiResponse, status: number, code: string) => {
    expect(response.status, response.text).toBe(status);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(response.body).toMatchObject({ status, code, id: response.headers.get('x-request-id'), message: expect.any(String) });
    expect(response.body.errors.length).toBeGreaterThan(0);
    for (const item of response.body.errors) expect(item).toEqual({ code, message: expect.any(String), meta: expect.any(Object) });
    expect(response.text).not.toMatch(/\bat .*\.(?:ts|js):\d+/);
  };

  beforeAll(async () => {
    registry = await startRegistryForTest();
    gw = await startGatewayUnderTest({ token: API_TOKEN });
    closedPort = await freePort();
  });
  afterAll(async () => {
    await gw?.close();
    await registry?.close();
  });

  describe('POST .../sources', () => {
    it('creates the source: 201, the masked document, its ETag and Location', async () => {
      const response = await created('emea', { name: 'Alpha', api_secret: SECRETS[0] });
      expect(response.body).toMatchObject({
        'api.version': 'v1',
        collectorId: 'emea',
        version: 1,
        source: { config: { name: 'Alpha', api_secret: '********' }, schemaRef: { type: 'SentinelOne Mgmt API' }, sourceType: 'Universal', state: { state: 'Pending' } },
      });
      expect(response.headers.get('etag')).toBe('"1"');
      expect(response.headers.get('location')).toBe(pathOf(response));
      expect(response.body.ok).toBeUndefined();
    });

    it('refuses a duplicate name in the same collector (409), not in another one', async () => {
      await created('emea', { name: 'Taken' });
      expectError(await create('emea', { name: 'Taken' }), 409, 'DuplicateResourceName');
      await created('apac', { name: 'Taken' });
    });

    it('names each bad field (400 ValidationError) and refuses another source type (400 InvalidSourceType)', async () => {
      const bad = await create('emea', { name: '', supported_apis: ['activities', 'logs'] });
      expectError(bad, 400, 'ValidationError');
      expect(bad.body.errors.map((e: { meta: { path: string } }) => e.meta.path).sort()).toEqual(['source.config.name', 'source.config.supported_apis[1]']);
      const wrongType = await gw.request('POST', sources('emea'), { body: sampleSourceDocument({ name: 'T' }, {}, { sourceType: 'Other' }) });
      expectError(wrongType, 400, 'InvalidSourceType');
      expectError(await create('emea', { name: 'Elsewhere' }, { collectorId: 'apac' }), 400, 'ValidationError');
      expectError(await gw.request('POST', sources('emea'), { body: '{"source": ' }), 400, 'InvalidJson');
      expectError(await gw.request('POST', sources('emea'), { body: [] }), 400, 'ValidationError');
      expectError(await gw.request('POST', sources('emea'), {}), 400, 'ValidationError');
      expectError(await gw.request('POST', sources('bad collector!'), { body: sampleSourceDocument({ name: 'X' }) }), 400, 'ValidationError');
    });

    it('accepts JSON only (415), and at most 256 KiB, refused before it is read (413)', async () => {
      const text = JSON.stringify(sampleSourceDocument({ name: 'Typed' }));
      expectError(await gw.request('POST', sources('emea'), { body: text, contentType: 'text/plain' }), 415, 'UnsupportedMediaType');
      expectError(await gw.request('POST', sources('emea'), { body: text, contentType: null }), 415, 'UnsupportedMediaType');
      expectError(await gw.request('POST', sources('emea'), { body: text, contentType: 'application/json; charset=latin1' }), 415, 'UnsupportedMediaType');
      expect((await gw.request('POST', sources('emea'), { body: text, contentType: 'application/json; charset=UTF-8' })).status).toBe(201);

      const huge = sampleSourceDocument({ name: 'Huge', description: 'x'.repeat(300 * 1024) });
      const tooLarge = await gw.request('POST', sources('emea'), { body: huge });
      expectError(tooLarge, 413, 'PayloadTooLarge');
      expect(tooLarge.body.errors[0].meta).toEqual({ limitBytes: 262_144 });

      // Without Content-Length (chunked), the limit is applied while reading.
      const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const url = new URL(sources('emea'), gw.url);
        const req = httpRequest(url, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${API_TOKEN}` } }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        for (let i = 0; i < 20; i++) req.write('x'.repeat(16 * 1024));
        req.end();
      });
      expect(chunked.status).toBe(413);
      expect(JSON.parse(chunked.body)).toMatchObject({ code: 'PayloadTooLarge' });
    });
  });

  describe('GET .../sources/{id}', () => {
    it('answers the document with its ETag, and 304 for If-None-Match with the current one', async () => {
      const made = await created('emea', { name: 'Bravo', api_secret: SECRETS[1] });
      const read = await gw.request('GET', pathOf(made));
      expect(read.status).toBe(200);
      expect(read.body).toEqual(made.body);
      expect(read.headers.get('etag')).toBe('"1"');
      expect(read.headers.get('cache-control')).toBe('private, no-cache');
      const notModified = await gw.request('GET', pathOf(made), { headers: { 'If-None-Match': '"1"' } });
      expect(notModified.status).toBe(304);
      expect(notModified.text).toBe('');
      expect(notModified.headers.get('etag')).toBe('"1"');
      expect((await gw.request('GET', pathOf(made), { headers: { 'If-None-Match': 'W/"1"' } })).status).toBe(304);
      expect((await gw.request('GET', pathOf(made), { headers: { 'If-None-Match': '"7", "8"' } })).status).toBe(200);
    });

    it('is 404 for an unknown source, and for a source of another collector', async () => {
      const made = await created('emea', { name: 'Scoped' });
      expectError(await gw.request('GET', `${sources('emea')}/no-such-source`), 404, 'SourceNotFound');
      const elsewhere = `${sources('apac')}/${made.body.source.id}`;
      expectError(await gw.request('GET', elsewhere), 404, 'SourceNotFound');
      expectError(await gw.request('PUT', elsewhere, { body: made.body, headers: { 'If-Match': '"1"' } }), 404, 'SourceNotFound');
      expectError(await gw.request('DELETE', elsewhere), 404, 'SourceNotFound');
      expectError(await gw.request('POST', `${elsewhere}/action/restart`), 404, 'SourceNotFound');
      expectError(await gw.request('POST', `${elsewhere}/action/test`), 404, 'SourceNotFound');
      expectError(await gw.request('POST', `${elsewhere}/action/replay`, { body: { api: 'activities', from: '2026-11-01T00:00:00Z', to: '2026-11-02T00:00:00Z' } }), 404, 'SourceNotFound');
      // Nothing changed in its own collector.
      expect((await gw.request('GET', pathOf(made))).body).toEqual(made.body);
    });
  });

  describe('GET .../sources', () => {
    it("lists the collector's sources by name, with filters and cursor paging", async () => {
      await created('list-a', { name: 'One' });
      await created('list-a', { name: 'Two' });
      await created('list-a', { name: 'Three' });
      await created('list-b', { name: 'Other' });
      const all = await gw.request('GET', sources('list-a'));
      expect(all.status).toBe(200);
      expect(all.body.sources.map((s: { source: { config: { name: string } } }) => s.source.config.name)).toEqual(['One', 'Three', 'Two']);
      expect(all.body.nextCursor).toBeNull();
      expect(all.body.sources.every((s: { collectorId: string; source: { config: { api_secret: string } } }) => s.collectorId === 'list-a' && s.source.config.api_secret === '********')).toBe(true);

      const first = await gw.request('GET', `${sources('list-a')}?limit=2`);
      expect(first.body.sources).toHaveLength(2);
      expect(first.body.nextCursor).toEqual(expect.any(String));
      const second = await gw.request('GET', `${sources('list-a')}?limit=2&cursor=${encodeURIComponent(first.body.nextCursor)}`);
      expect(second.body.sources.map((s: { source: { config: { name: string } } }) => s.source.config.name)).toEqual(['Two']);
      expect(second.body.nextCursor).toBeNull();

      expect((await gw.request('GET', `${sources('list-a')}?name=Three`)).body.sources).toHaveLength(1);
      expect((await gw.request('GET', `${sources('list-a')}?state=Pending,Error`)).body.sources).toHaveLength(3);
      expect((await gw.request('GET', `${sources('list-a')}?state=Error`)).body.sources).toHaveLength(0);
    });

    it('refuses bad or unknown parameters, naming each (400)', async () => {
      const bad = await gw.request('GET', `${sources('list-a')}?state=Sleeping&limit=0&colour=red`);
      expectError(bad, 400, 'ValidationError');
      expect(bad.body.errors.map((e: { meta: { path: string } }) => e.meta.path).sort()).toEqual(['colour', 'limit', 'state']);
    });
  });

  describe('PUT .../sources/{id}', () => {
    it('requires If-Match (428), refuses a stale ETag (412) storing nothing, and takes the current one (200, new ETag)', async () => {
      const made = await created('emea', { name: 'Charlie', api_secret: SECRETS[2] });
      const path = pathOf(made);
      const edit = { ...made.body, source: { ...made.body.source, config: { ...made.body.source.config, name: 'Charlie 2' } } };

      const missing = await gw.request('PUT', path, { body: edit });
      expectError(missing, 428, 'PreconditionRequired');
      expect(missing.body.message).toMatch(/If-Match/);

      const restarted = await gw.request('POST', `${path}/action/restart`);
      expect(restarted.headers.get('etag')).toBe('"2"');
      const stale = await gw.request('PUT', path, { body: { ...edit, version: undefined }, headers: { 'If-Match': '"1"' } });
      expectError(stale, 412, 'VersionConflict');
      const weak = await gw.request('PUT', path, { body: { ...edit, version: undefined }, headers: { 'If-Match': 'W/"2"' } });
      expectError(weak, 412, 'VersionConflict');
      expect(weak.body.errors[0].meta).toEqual({ currentETag: '"2"' });
      expectError(await gw.request('PUT', path, { body: edit, headers: { 'If-Match': '2' } }), 400, 'ValidationError');
      expectError(await gw.request('PUT', path, { body: edit, headers: { 'If-Match': '"2"' } }), 400, 'ValidationError'); // body version 1 contradicts If-Match
      const unchanged = await gw.request('GET', path);
      expect(unchanged.body.source.config.name).toBe('Charlie');
      expect(unchanged.headers.get('etag')).toBe('"2"');

      const updated = await gw.request('PUT', path, { body: { ...edit, version: 2 }, headers: { 'If-Match': '"2"' } });
      expect(updated.status, updated.text).toBe(200);
      expect(updated.headers.get('etag')).toBe('"3"');
      expect(updated.body).toMatchObject({ version: 3, source: { id: made.body.source.id, config: { name: 'Charlie 2', api_secret: '********' }, state: { state: 'Pending' } } });

      const any = await gw.request('PUT', path, { body: { source: { ...edit.source, config: { ...edit.source.config, name: 'Charlie 3' } } }, headers: { 'If-Match': '*' } });
      expect(any.status, any.text).toBe(200);
      expect(any.headers.get('etag')).toBe('"4"');
      const listed = await gw.request('PUT', path, { body: { source: edit.source }, headers: { 'If-Match': '"3", "4"' } });
      expect(listed.status, listed.text).toBe(200);
    });

    it('lets the registry decide a race: the version goes with the update command', async () => {
      const made = await created('emea', { name: 'Racer' });
      const path = pathOf(made);
      const edit = (name: string) => ({ source: { ...made.body.source, config: { ...made.body.source.config, name } } });
      const results = await Promise.all(['Racer A', 'Racer B', 'Racer C'].map((name) => gw.request('PUT', path, { body: edit(name), headers: { 'If-Match': '"1"' } })));
      expect(results.map((r) => r.status).sort()).toEqual([200, 412, 412]);
      const winner = results.find((r) => r.status === 200)!;
      expect((await gw.request('GET', path)).body.source.config.name).toBe(winner.body.source.config.name);
    });

    it('refuses a move to another collector (400 ImmutableField), a body for another source, and a taken name (409)', async () => {
      const made = await created('emea', { name: 'Mover' });
      const path = pathOf(made);
      expectError(await gw.request('PUT', path, { body: { ...made.body, collectorId: 'apac' }, headers: { 'If-Match': '"1"' } }), 400, 'ImmutableField');
      expectError(await gw.request('PUT', path, { body: { ...made.body, id: 'someone-else' }, headers: { 'If-Match': '"1"' } }), 400, 'ValidationError');
      const renamed = { ...made.body, source: { ...made.body.source, config: { ...made.body.source.config, name: 'Alpha' } } };
      expectError(await gw.request('PUT', path, { body: renamed, headers: { 'If-Match': '"1"' } }), 409, 'DuplicateResourceName');
    });
  });

  describe('DELETE .../sources/{id}', () => {
    it('is asynchronous: 202 with the source in Stopping; it then refuses changes (409)', async () => {
      const made = await created('emea', { name: 'Doomed' });
      const path = pathOf(made);
      expectError(await gw.request('DELETE', path, { headers: { 'If-Match': '"9"' } }), 412, 'VersionConflict');
      const deleted = await gw.request('DELETE', path, { headers: { 'If-Match': '"1"' } });
      expect(deleted.status, deleted.text).toBe(202);
      expect(deleted.body).toMatchObject({ version: 2, source: { state: { state: 'Stopping' } } });
      expect(deleted.headers.get('etag')).toBe('"2"');
      expectError(await gw.request('PUT', path, { body: { ...made.body, version: undefined }, headers: { 'If-Match': '"2"' } }), 409, 'IllegalStateTransition');
      expectError(await gw.request('POST', `${path}/action/restart`), 409, 'IllegalStateTransition');
      expect((await gw.request('GET', path)).body.source.state.state).toBe('Stopping');
    });
  });

  describe('POST .../action/restart, /action/test, /action/replay', () => {
    it('restarts the source (200, new ETag); an action takes no parameters', async () => {
      const made = await created('emea', { name: 'Restartable' });
      const restarted = await gw.request('POST', `${pathOf(made)}/action/restart`, { body: {} });
      expect(restarted.status).toBe(200);
      expect(restarted.body).toMatchObject({ version: 2, source: { state: { state: 'Pending' } } });
      expectError(await gw.request('POST', `${pathOf(made)}/action/restart`, { body: { force: true } }), 400, 'ValidationError');
    });

    it('tests the stored URL and token and reports what it found (200)', async () => {
      const made = await created('emea', { name: 'Testable', base_url: `http://127.0.0.1:${closedPort}/` });
      const tested = await gw.request('POST', `${pathOf(made)}/action/test`);
      expect(tested.status, tested.text).toBe(200);
      expect(tested.body).toMatchObject({ base_url: `http://127.0.0.1:${closedPort}/`, reachable: false, authenticated: false, problems: [expect.any(Object)] });
      expect(tested.body.ok).toBeUndefined();
    });

    it('records a replay (202); one not planned or already pending is 409; a bad window is 400', async () => {
      const made = await created('emea', { name: 'Replayable', supported_apis: ['activities'] });
      const id = made.body.source.id as string;
      const replay = (body: unknown) => gw.request('POST', `${pathOf(made)}/action/replay`, { body });
      const window = { api: 'activities', from: '2026-11-01T00:00:00Z', to: '2026-11-02T00:00:00Z' };
      expectError(await replay({ ...window, api: 'threats' }), 409, 'CollectionNotPlanned');
      // The scheduler plans collections; here the test plays its part.
      await new AggregateRepository(new MongoEventStore(registry.db), collectionDecider(), isCollectionEvent).execute(collectionStreamId(id, 'activities'), () => ({
        type: 'PlanCollection',
        data: { sourceId: id, api: 'activities', generation: 1, baseUrl: 'https://usea1-partners.sentinelone.net/', backfillMs: 0 },
        metadata: { now: new Date() },
      }));
      const accepted = await replay(window);
      expect(accepted.status, accepted.text).toBe(202);
      expect(accepted.body).toEqual({ sourceId: id, api: 'activities', window: { from: '2026-11-01T00:00:00.000000Z', to: '2026-11-02T00:00:00.000000Z' } });
      expectError(await replay(window), 409, 'ReplayPending');
      const backwards = await replay({ ...window, from: window.to, to: window.from });
      expectError(backwards, 400, 'ValidationError');
      expect(backwards.body.errors[0].meta).toEqual({ path: 'to' });
    });
  });

  describe('across every route', () => {
    it('needs the bearer token (401), except /healthz', async () => {
      const none = await gw.request('GET', sources('emea'), { token: null });
      expectError(none, 401, 'Unauthorized');
      expect(none.headers.get('www-authenticate')).toBe('Bearer realm="s1c-gateway"');
      expectError(await gw.request('GET', sources('emea'), { token: 'not-the-token-at-all' }), 401, 'Unauthorized');
      expectError(await gw.request('POST', sources('emea'), { token: null, body: sampleSourceDocument({ name: 'Sneaky' }) }), 401, 'Unauthorized');
      expectError(await gw.request('GET', '/api/docs', { token: null }), 401, 'Unauthorized');
      const healthz = await gw.request('GET', '/healthz', { token: null });
      expect(healthz.status).toBe(200);
      expect(healthz.body).toMatchObject({ status: 'ok', checks: { nats: { ok: true } } });
    });

    it('names the caller with each command: without NATS authentication the registry records the claim as unverified', async () => {
      const response = await created('audit', { name: 'Who made me' });
      const [event] = await registry.db.collection('events').find({ streamId: `source-${response.body.source.id}` }).toArray();
      expect(event?.metadata.actor).toEqual({
        kind: 'http',
        caller: 'api',
        ip: expect.stringMatching(/127\.0\.0\.1$/),
        verified: false,
        via: { account: null, user: null, host: null, clientName: null },
      });
    });

    it('serves its OpenAPI document at /api/docs: every route documented, and real replies valid against it', async () => {
      const docs = await gw.request('GET', '/api/docs');
      expect(docs.status).toBe(200);
      const document = docs.body as Parameters<typeof openApiReplyChecker>[0] & { openapi: string };
      expect(document.openapi).toBe('3.1.0');

      // Every route the gateway serves (from Express's router) is a documented path and method, and the reverse.
      expect(servedRoutes(gw.runtime.app)).toEqual(documentedRoutes(document));

      // Replies of each kind, as the gateway sent them, validate against the schema documented for their status.
      const replies = openApiReplyChecker(document);
      const expectValid = (response: ApiResponse, path: string, method: string) =>
        expect(replies.check(path, method, response.status, response.body)).toBeUndefined();
      const list = '/api/v1/collectors/{collectorId}/sources';
      const one = `${list}/{sourceId}`;
      const created = await create('docs', { name: 'Documented' });
      expectValid(created, list, 'post');
      expectValid(await gw.request('GET', sources('docs')), list, 'get');
      expectValid(await gw.request('GET', `${sources('docs')}/${created.body.source.id}`), one, 'get');
      expectValid(await gw.request('GET', `${sources('docs')}/missing-one`), one, 'get');
      expectValid(await gw.request('POST', sources('docs'), { body: { 'api.version': 'v1', source: {} } }), list, 'post');
      // A schema that allowed anything would pass the above: this one must refuse a wrong body.
      expect(replies.valid(replies.schemaFor(list, 'get', 200)!, { sources: [{ source: 'not a document' }], nextCursor: null })).toBe(false);
    });

    it('gives each request an id (the caller\'s or a new one) and passes it to the registry as the correlation id', async () => {
      const given = await gw.request('GET', sources('emea'), { headers: { 'X-Request-Id': 'trace-4711' } });
      expect(given.headers.get('x-request-id')).toBe('trace-4711');
      expect(await registry.waitForLog((text) => text.includes('"correlationId":"trace-4711"'))).toContain('trace-4711');
      const generated = await gw.request('GET', sources('emea'), { headers: { 'X-Request-Id': 'bad id with spaces' } });
      expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      const refused = await gw.request('GET', `${sources('emea')}/missing-one`, { headers: { 'X-Request-Id': 'trace-4712' } });
      expect(refused.body.id).toBe('trace-4712');
    });

    it('sets security headers, and answers unknown routes and undecodable paths in the error shape', async () => {
      const response = await gw.request('GET', sources('emea'));
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
      expect(response.headers.get('x-frame-options')).toBe('DENY');
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(response.headers.get('x-powered-by')).toBeNull();
      expectError(await gw.request('GET', '/api/v1/nothing-here'), 404, 'NotFound');
      expectError(await gw.request('PATCH', `${sources('emea')}/abc`), 404, 'NotFound');
      const undecodable = await gw.request('GET', `${sources('emea')}/%E0%A4%A`);
      expectError(undecodable, 400, 'ValidationError');
    });

    it('never shows the API token or a source token in a response or a log line', () => {
      const everything = gw.responseText() + gw.logText();
      expect(gw.responseText().length).toBeGreaterThan(1000);
      for (const secret of [API_TOKEN, ...SECRETS]) expect(everything).not.toContain(secret);
    });
  });
});
