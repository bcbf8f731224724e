import { rawHttpRequest, type RawHttpResponse } from '@s1c/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHealthUnderTest, type HealthUnderTest } from './testing/health.harness';
import { IDS, NOW, writeScriptedHistory } from './testing/scripted.history';

/**
 * Issue 9, the attacker's suite against the health API and dashboard: hostile paths, query
 * parameters and Authorization headers. Each is refused with a clear JSON error (400 or 401, never
 * a 500), shows no stack trace, and every response carries the security headers.
 */

const TOKEN = 'attack-token-0123456789abcdef';

describe('the health API under attack', () => {
  let h: HealthUnderTest;
  const responses: RawHttpResponse[] = [];

  const raw = async (path: string, headers: Array<[string, string]> = [['Authorization', `Bearer ${TOKEN}`]]) => {
    const response = await rawHttpRequest(h.url, { path, headers });
    responses.push(response);
    return response;
  };

  const expectClearError = (response: RawHttpResponse, status: number, code: string) => {
    expect(response.status, response.text + JSON.stringify(response.headers)).toBe(status);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    const body = JSON.parse(response.text) as { error: { code: string; message: string } };
    expect(body.error.code).toBe(code);
    expect(body.error.message.length).toBeGreaterThan(10);
    expect(response.text).not.toMatch(/\bat .*\.(?:ts|js):\d+|node_modules|Error:/);
  };

  beforeAll(async () => {
    h = await startHealthUnderTest({ now: NOW, token: TOKEN });
    await writeScriptedHistory(h);
    await h.caughtUp();
  });
  afterAll(() => h?.close());

  describe('path traversal and odd ids', () => {
    it.each([
      ['encoded slashes', '/api/v1/sources/..%2F..%2Fetc%2Fpasswd'],
      ['encoded dots and slashes', '/api/v1/sources/%2e%2e%2f%2e%2e%2fetc%2fpasswd'],
      ['double encoding', '/api/v1/sources/..%252F..%252Fetc%252Fpasswd'],
      ['encoded backslashes', '/api/v1/sources/..%5C..%5Cwindows%5Cwin.ini'],
      ['a null byte', '/api/v1/sources/alpha-src%00.json'],
      ['a null byte in health events', '/api/v1/sources/alpha%00/health-events'],
      ['an overlong UTF-8 dot', '/api/v1/sources/%C0%AE%C0%AE%2Fetc'],
      ['a broken percent-encoding', '/api/v1/sources/%E0%A4%A'],
      ['an operator as id', '/api/v1/sources/%7B%22%24gt%22%3A%22%22%7D'],
      ['a $where', '/api/v1/sources/$where'],
      ['a regex', '/api/v1/sources/.*'],
      ['a very long id', `/api/v1/sources/${'a'.repeat(5000)}`],
    ])('%s is a 400 naming the id', async (_label, path) => {
      const response = await raw(path);
      expectClearError(response, 400, 'BadRequest');
      expect(response.text).toMatch(/source id|percent-encoded/);
      expect(response.text).not.toContain('passwd');
    });

    it.each(['/../../../etc/passwd', '/dashboard.js/..%2f..%2fpackage.json', '/%2e%2e/%2e%2e/etc/passwd', '/api/v1/../../package.json'])(
      '%s serves no file from the disk',
      async (path) => {
        const response = await raw(path);
        expect([400, 401, 404]).toContain(response.status);
        expect(response.text).not.toMatch(/root:|"dependencies"/);
        expect(response.text).not.toMatch(/\bat .*\.(?:ts|js):\d+/);
      },
    );

    it('still answers a well-formed unknown id with 404', async () => {
      expectClearError(await raw('/api/v1/sources/no-such-source'), 404, 'NotFound');
      expect((await raw(`/api/v1/sources/${IDS.alpha}`)).status).toBe(200);
    });
  });

  describe('injection in query parameters', () => {
    it.each([
      ['an operator key', '/api/v1/sources?state[$ne]=x'],
      ['an operator in the collector', '/api/v1/sources?collector[$ne]=x'],
      ['a JSON operator as collector', `/api/v1/sources?collector=${encodeURIComponent('{"$gt":""}')}`],
      ['a regex operator on the name', '/api/v1/sources?name[$regex]=.*'],
      ['a JSON operator as source', `/api/v1/health-events?source=${encodeURIComponent('{"$ne":null}')}`],
      ['a $where', `/api/v1/health-events?$where=${encodeURIComponent('sleep(1000)')}`],
      ['an array for the limit', '/api/v1/sources?limit=5&limit=6'],
      ['an array-style limit', '/api/v1/sources?limit[]=5'],
      ['an array for the status', '/api/v1/health-events?status=open&status=resolved'],
      ['an array for the name', '/api/v1/sources?name=a&name=b'],
      ['a prototype key', '/api/v1/sources?__proto__[polluted]=1'],
      ['a constructor key', '/api/v1/health-events?constructor[prototype][polluted]=1'],
      ['a null byte in a filter', '/api/v1/sources?collector=default%00'],
      ['a control character in the name', '/api/v1/sources?name=a%1Bb'],
      ['a fractional offset', '/api/v1/sources?offset=1.5'],
      ['an exponent limit', '/api/v1/sources?limit=1e2'],
      ['a hexadecimal limit', '/api/v1/sources?limit=0x10'],
    ])('%s is a 400', async (_label, path) => {
      expectClearError(await raw(path), 400, 'BadRequest');
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it.each(['.*', '(a+)+$', '[', '\\', '^alpha$', '$ne'])('the name %j is matched as plain text, not as a pattern', async (name) => {
      const response = await raw(`/api/v1/sources?name=${encodeURIComponent(name)}`);
      expect(response.status, response.text).toBe(200);
      expect((JSON.parse(response.text) as { items: unknown[] }).items).toEqual([]);
    });
  });

  describe('bearer tokens', () => {
    const refused: Array<[string, Array<[string, string]>]> = [
      ['no header', []],
      ['an empty header', [['Authorization', '']]],
      ['the scheme alone', [['Authorization', 'Bearer']]],
      ['the scheme and a space', [['Authorization', 'Bearer ']]],
      ['another scheme', [['Authorization', `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}`]]],
      ['the token without a scheme', [['Authorization', TOKEN]]],
      ['a wrong token', [['Authorization', 'Bearer attack-token-0123456789abcdeX']]],
      ['a prefix of the token', [['Authorization', `Bearer ${TOKEN.slice(0, -1)}`]]],
      ['the token with a suffix', [['Authorization', `Bearer ${TOKEN}x`]]],
      ['the token twice', [['Authorization', `Bearer ${TOKEN} ${TOKEN}`]]],
      ['the token in the query instead', []],
      ['a very long token', [['Authorization', `Bearer ${'x'.repeat(8000)}`]]],
      ['two Authorization headers, the wrong one first', [['Authorization', 'Bearer wrong-token-value-000000'], ['Authorization', `Bearer ${TOKEN}`]]],
    ];

    it.each(refused)('%s is a 401 on the API, the metrics and the API description', async (label, headers) => {
      for (const path of ['/api/v1/sources', `/api/v1/sources/${IDS.alpha}`, '/api/v1/health-events', '/metrics', '/api/docs']) {
        const target = label === 'the token in the query instead' ? `${path}?token=${TOKEN}&access_token=${TOKEN}` : path;
        const response = await raw(target, headers);
        expectClearError(response, 401, 'Unauthorized');
        expect(response.headers['www-authenticate']).toMatch(/^Bearer realm=/);
        expect(response.text).not.toContain(TOKEN);
      }
    });

    it('the right token is accepted', async () => {
      expect((await raw('/api/v1/sources')).status).toBe(200);
    });
  });

  describe('response headers', () => {
    it('every response of the suite carried the security headers and no X-Powered-By', async () => {
      for (const path of ['/', '/dashboard.js', '/dashboard.css', '/favicon.svg', '/healthz', '/metrics', '/api/docs', '/nowhere']) await raw(path);
      expect(responses.length).toBeGreaterThan(100);
      for (const response of responses) {
        const csp = String(response.headers['content-security-policy'] ?? '');
        expect(csp).toContain("default-src 'none'");
        expect(csp).toContain("frame-ancestors 'none'");
        expect(csp).not.toContain('unsafe-');
        expect(response.headers['x-content-type-options']).toBe('nosniff');
        expect(response.headers['x-frame-options']).toBe('DENY');
        expect(response.headers['referrer-policy']).toBe('no-referrer');
        expect(response.headers['x-powered-by']).toBeUndefined();
        expect(response.status).not.toBe(500);
      }
    });

    it('no response or log line showed the token', () => {
      expect(responses.map((r) => r.text + JSON.stringify(r.headers)).join('\n')).not.toContain(TOKEN);
      expect(h.logText()).not.toContain(TOKEN);
    });
  });
});
