import { sampleSourceDocument } from '@s1c/contracts/testing';
import { rawHttpRequest, type RawHttpResponse } from '@s1c/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayUnderTest, startRegistryForTest, type GatewayUnderTest, type RegistryForTest } from './testing/gateway.harness';

/**
 * Issue 9, the attacker's suite against the gateway: hostile paths, query parameters, bodies and
 * Authorization headers. Each is refused with a clear error in the API's shape (400 or 401, never a
 * 500), shows no stack trace, changes nothing in the log, and every response carries the security
 * headers. Token expiry belongs to the gateway's token model and is tested there.
 */

const TOKEN = 'gateway-attack-token-0123456789';
const SOURCE_TOKEN = 'tok-gw-attack-source-0123456789';
const SOURCES = '/api/v1/collectors/default/sources';

describe('the gateway under attack', () => {
  let registry: RegistryForTest;
  let gw: GatewayUnderTest;
  let sourcePath: string;
  const responses: RawHttpResponse[] = [];

  const raw = async (method: string, path: string, options: { headers?: Array<[string, string]>; body?: string } = {}) => {
    const headers = options.headers ?? [['Authorization', `Bearer ${TOKEN}`]];
    const response = await rawHttpRequest(gw.url, {
      method,
      path,
      headers: options.body === undefined ? headers : [...headers, ['Content-Type', 'application/json']],
      ...(options.body !== undefined ? { body: options.body } : {}),
    });
    responses.push(response);
    return response;
  };

  const expectClearError = (response: RawHttpResponse, status: number, code: string) => {
    expect(response.status, response.text).toBe(status);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    const body = JSON.parse(response.text) as { code: string; message: string };
    expect(body.code).toBe(code);
    expect(body.message.length).toBeGreaterThan(10);
    expect(response.text).not.toMatch(/\bat .*\.(?:ts|js):\d+|node_modules|Error:/);
  };

  const events = () => registry.db.collection('events').countDocuments();

  beforeAll(async () => {
    registry = await startRegistryForTest();
    gw = await startGatewayUnderTest({ token: TOKEN });
    const created = await gw.request('POST', SOURCES, { body: sampleSourceDocument({ name: 'Target', api_secret: SOURCE_TOKEN }) });
    expect(created.status, created.text).toBe(201);
    sourcePath = `${SOURCES}/${created.body.source.id}`;
  });
  afterAll(async () => {
    await gw?.close();
    await registry?.close();
  });

  describe('path traversal and odd ids', () => {
    const hostile = [
      ['encoded slashes', '..%2F..%2Fetc%2Fpasswd'],
      ['encoded dots and slashes', '%2e%2e%2f%2e%2e%2fetc%2fpasswd'],
      ['double encoding', '..%252F..%252Fetc%252Fpasswd'],
      ['encoded backslashes', '..%5C..%5Cwindows%5Cwin.ini'],
      ['a null byte', 'abc%00.json'],
      ['an overlong UTF-8 dot', '%C0%AE%C0%AE%2Fetc'],
      ['a broken percent-encoding', '%E0%A4%A'],
      ['an operator', '%7B%22%24gt%22%3A%22%22%7D'],
      ['a $where', '$where'],
      ['a very long id', 'a'.repeat(5000)],
    ] as const;

    it.each(hostile)('%s as the source id is a 400, for every method', async (_label, id) => {
      const before = await events();
      for (const [method, suffix] of [
        ['GET', ''],
        ['DELETE', ''],
        ['POST', '/action/restart'],
        ['POST', '/action/test'],
      ] as const) {
        const response = await raw(method, `${SOURCES}/${id}${suffix}`);
        expectClearError(response, 400, 'ValidationError');
        expect(response.text).not.toContain('passwd');
      }
      expect(await events()).toBe(before);
    });

    it.each(hostile)('%s as the collector id is a 400', async (_label, id) => {
      expectClearError(await raw('GET', `/api/v1/collectors/${id}/sources`), 400, 'ValidationError');
    });

    it.each(['/../../../etc/passwd', '/api/v1/../../package.json', '/%2e%2e/%2e%2e/etc/passwd', `${SOURCES}/..`])('%s serves no file from the disk', async (path) => {
      const response = await raw('GET', path);
      expect([400, 401, 404]).toContain(response.status);
      expect(response.text).not.toMatch(/root:|"dependencies"/);
      expect(response.text).not.toMatch(/\bat .*\.(?:ts|js):\d+/);
    });
  });

  describe('injection in query parameters', () => {
    it.each([
      ['an operator key', `${SOURCES}?state[$ne]=x`],
      ['a regex operator on the name', `${SOURCES}?name[$regex]=.*`],
      ['a $where', `${SOURCES}?$where=${encodeURIComponent('sleep(1000)')}`],
      ['an array for the limit', `${SOURCES}?limit=5&limit=6`],
      ['an array-style limit', `${SOURCES}?limit[]=5`],
      ['an array for the name', `${SOURCES}?name=a&name=b`],
      ['an array for the cursor', `${SOURCES}?cursor=a&cursor=b`],
      ['a prototype key', `${SOURCES}?__proto__[polluted]=1`],
      ['a constructor key', `${SOURCES}?constructor[prototype][polluted]=1`],
      ['a control character in the name', `${SOURCES}?name=a%1Bb`],
      ['a null byte in the name', `${SOURCES}?name=a%00`],
      ['an exponent limit', `${SOURCES}?limit=1e2`],
      ['a hexadecimal limit', `${SOURCES}?limit=0x10`],
      ['a parameter on a single source', `${'{source}'}?fields[$ne]=1`],
    ])('%s is a 400', async (_label, path) => {
      expectClearError(await raw('GET', path.replace('{source}', sourcePath)), 400, 'ValidationError');
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it.each(['.*', '(a+)+$', '^Target$', '$ne', '{"$gt":""}'])('the name %j is matched as an exact name, not as a pattern', async (name) => {
      const response = await raw('GET', `${SOURCES}?name=${encodeURIComponent(name)}`);
      expect(response.status, response.text).toBe(200);
      expect((JSON.parse(response.text) as { sources: unknown[] }).sources).toEqual([]);
    });
  });

  describe('hostile bodies', () => {
    it.each([
      ['__proto__ at the top', JSON.stringify(sampleSourceDocument({ name: 'P1' })).replace('{', '{"__proto__":{"polluted":true},')],
      ['__proto__ in the source', JSON.stringify(sampleSourceDocument({ name: 'P2' })).replace('"schemaRef"', '"__proto__":{"polluted":true},"schemaRef"')],
      ['__proto__ in schemaRef', JSON.stringify(sampleSourceDocument({ name: 'P3' })).replace('"type":"SentinelOne', '"__proto__":{"polluted":true},"type":"SentinelOne')],
      ['constructor.prototype in the config', JSON.stringify(sampleSourceDocument({ name: 'P4' })).replace('"name":"P4"', '"name":"P4","constructor":{"prototype":{"polluted":true}}')],
      ['prototype in the fields', JSON.stringify(sampleSourceDocument({ name: 'P5', fields: { team: 'soc' } })).replace('"team":"soc"', '"prototype":{"polluted":true}')],
      ['deep nesting', `{"a":${'['.repeat(10_000)}${']'.repeat(10_000)}}`],
      ['a lone surrogate escape in the name', JSON.stringify(sampleSourceDocument({ name: 'P7' })).replace('"P7"', '"P\\ud8007"')],
      ['a bidi override in the name', JSON.stringify(sampleSourceDocument({ name: 'P8\u202Eexe' }))],
      ['an infinite number', JSON.stringify(sampleSourceDocument({ name: 'P9' }, { version: 1 })).replace('"version":1', '"version":1e400')],
      ['a number as the token', JSON.stringify(sampleSourceDocument({ name: 'P10' })).replace(/"api_secret":"[^"]*"/, '"api_secret":12345678901234567890')],
    ])('%s is refused and stores nothing', async (_label, body) => {
      const before = await events();
      const response = await raw('POST', SOURCES, { body });
      expect([400, 413]).toContain(response.status);
      expect(response.text).not.toMatch(/\bat .*\.(?:ts|js):\d+/);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(await events()).toBe(before);
    });
  });

  describe('bearer tokens', () => {
    const refused: Array<[string, Array<[string, string]>]> = [
      ['no header', []],
      ['an empty header', [['Authorization', '']]],
      ['the scheme alone', [['Authorization', 'Bearer']]],
      ['another scheme', [['Authorization', `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}`]]],
      ['the token without a scheme', [['Authorization', TOKEN]]],
      ['a wrong token', [['Authorization', 'Bearer gateway-attack-token-012345678X']]],
      ['a prefix of the token', [['Authorization', `Bearer ${TOKEN.slice(0, -1)}`]]],
      ['the token with a suffix', [['Authorization', `Bearer ${TOKEN}x`]]],
      ['the token twice', [['Authorization', `Bearer ${TOKEN} ${TOKEN}`]]],
      ['a very long token', [['Authorization', `Bearer ${'x'.repeat(8000)}`]]],
      ['two Authorization headers, the wrong one first', [['Authorization', 'Bearer wrong-token-value-000000'], ['Authorization', `Bearer ${TOKEN}`]]],
    ];

    it.each(refused)('%s is a 401 on every route but /healthz, and changes nothing', async (_label, headers) => {
      const before = await events();
      const routes: Array<[string, string, string?]> = [
        ['GET', SOURCES],
        ['GET', `${SOURCES}?token=${TOKEN}&access_token=${TOKEN}`],
        ['POST', SOURCES, JSON.stringify(sampleSourceDocument({ name: 'Unauthorised' }))],
        ['GET', sourcePath],
        ['DELETE', sourcePath],
        ['POST', `${sourcePath}/action/restart`],
        ['GET', '/api/docs'],
      ];
      for (const [method, path, body] of routes) {
        const response = await raw(method, path, { headers, ...(body !== undefined ? { body } : {}) });
        expectClearError(response, 401, 'Unauthorized');
        expect(response.headers['www-authenticate']).toMatch(/^Bearer realm=/);
        expect(response.text).not.toContain(TOKEN);
      }
      expect(await events()).toBe(before);
    });

    it('the right token is accepted', async () => {
      expect((await raw('GET', sourcePath)).status).toBe(200);
    });
  });

  describe('response headers', () => {
    it('every response of the suite carried the security headers and no X-Powered-By', async () => {
      for (const path of ['/healthz', '/api/docs', '/nowhere']) await raw('GET', path);
      expect(responses.length).toBeGreaterThan(100);
      for (const response of responses) {
        const csp = response.headers['content-security-policy'] ?? '';
        expect(csp).toContain("default-src 'none'");
        expect(csp).toContain("frame-ancestors 'none'");
        expect(response.headers['x-content-type-options']).toBe('nosniff');
        expect(response.headers['x-frame-options']).toBe('DENY');
        expect(response.headers['referrer-policy']).toBe('no-referrer');
        expect(response.headers['x-powered-by']).toBeUndefined();
        expect(response.status).not.toBe(500);
      }
    });

    it('no response or log line showed the API token or the source token', async () => {
      // The registry's lines come through a pipe, a little after its replies.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const everything = responses.map((r) => r.text + JSON.stringify(r.headers)).join('\n') + gw.logText() + registry.logText();
      expect(everything).not.toContain(TOKEN);
      expect(everything).not.toContain(SOURCE_TOKEN);
    });
  });
});
