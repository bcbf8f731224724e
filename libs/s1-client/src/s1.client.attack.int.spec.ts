import type { LookupAddress } from 'node:dns';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { startConnectionTrap, type ConnectionTrap } from '@s1c/test-harness';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleRateLimiter } from './console.rate-limiter';
import { guardedLookup, systemResolver, type AddressResolver } from './guarded.lookup';
import { MAX_RECORD_DEPTH } from './page.parser';
import { DEFAULT_MAX_BODY_BYTES, S1Client, type S1ClientOptions } from './s1.client';
import { S1Error } from './s1.errors';

/**
 * Issue 9, the attacker's suite against the SentinelOne client: a base_url or a DNS answer that
 * points inside our network, a console that redirects, one that sends too much, and one that echoes
 * the token back. A "trap" listener on loopback counts every connection it receives: the policy
 * holds only if it receives none.
 */

const TOKEN = 'attack-secret-token-5f4e3d2c1b0a';

let trap: ConnectionTrap;
const clients: S1Client[] = [];
const errors: S1Error[] = [];
const closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  trap = await startConnectionTrap();
});
afterAll(() => trap.close());

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const close of closers.splice(0)) await close();
});

function client(options: Partial<S1ClientOptions> & Pick<S1ClientOptions, 'baseUrl'>): S1Client {
  const c = new S1Client({ token: TOKEN, allowInsecure: false, rateLimiter: new ConsoleRateLimiter({ requestsPerSecond: 1_000 }), ...options });
  clients.push(c);
  return c;
}

async function failure(promise: Promise<unknown>): Promise<S1Error> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof S1Error) {
      errors.push(error);
      return error;
    }
    throw error;
  }
  throw new Error('expected the call to fail');
}

const resolveTo =
  (...addresses: string[]): AddressResolver =>
  () =>
    Promise.resolve(addresses.map((address): LookupAddress => ({ address, family: address.includes(':') ? 6 : 4 })));

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** An HTTP server on loopback (reached with allowInsecure, as the simulator is). */
async function serve(handler: Handler): Promise<{ url: string; host: string; requests: IncomingMessage[] }> {
  const requests: IncomingMessage[] = [];
  const server = createServer((req, res) => {
    requests.push(req);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${port}/`, host: `127.0.0.1:${port}`, requests };
}

describe('when base_url points inside our network', () => {
  it.each([
    ['loopback', (p: number) => `https://127.0.0.1:${p}/`],
    ['the short form 127.1', (p: number) => `https://127.1:${p}/`],
    ['decimal', (p: number) => `https://2130706433:${p}/`],
    ['hexadecimal', (p: number) => `https://0x7f000001:${p}/`],
    ['octal', (p: number) => `https://0177.0.0.1:${p}/`],
    ['IPv4-mapped IPv6', (p: number) => `https://[::ffff:127.0.0.1]:${p}/`],
    ['localhost', (p: number) => `https://localhost:${p}/`],
    ['a .localhost name', (p: number) => `https://trap.localhost:${p}/`],
  ])('%s is refused before any connection', async (_label, url) => {
    const error = await failure(client({ baseUrl: url(trap.port) }).verifyToken());
    expect(error).toMatchObject({ errorType: 'ThirdPartyConfig', reason: 'AddressNotAllowed' });
    expect(error.message).toMatch(/not a public address|loopback, private or link-local/);
    expect(trap.connections()).toBe(0);
  });

  it.each([
    ['10.0.0.1', ['10.0.0.1']],
    ['169.254.169.254 (cloud metadata)', ['169.254.169.254']],
    ['fe80::1', ['fe80::1']],
    ['::ffff:127.0.0.1', ['::ffff:127.0.0.1']],
    ['64:ff9b::7f00:1 (NAT64 of loopback)', ['64:ff9b::7f00:1']],
    ['a public address and loopback', ['93.184.216.34', '127.0.0.1']],
    ['loopback and a public address', ['127.0.0.1', '93.184.216.34']],
  ])('a name that resolves to %s is refused at connect time, for every call', async (label, addresses) => {
    const c = client({ baseUrl: `https://console.attack.test:${trap.port}/`, resolver: resolveTo(...addresses) });
    for (const call of [() => c.verifyToken(), () => c.listPage('activities', { filters: {} }), () => c.tokenDetails()]) {
      const error = await failure(call());
      expect(error, label).toMatchObject({ errorType: 'ThirdPartyConfig', reason: 'AddressNotAllowed' });
      expect(error.message).toContain('console.attack.test resolves to');
    }
    expect(trap.connections()).toBe(0);
  });

  it('a real DNS name for loopback (localhost, through the system resolver) is refused by the connect-time check itself', async () => {
    const lookup = guardedLookup({ allowInsecure: false, resolver: systemResolver });
    const error = await new Promise<NodeJS.ErrnoException>((resolve, reject) => {
      const socket = connect({ host: 'localhost', port: trap.port, lookup });
      socket.on('connect', () => reject(new Error('connected to localhost')));
      socket.on('error', resolve);
    });
    expect(error.code).toBe('S1C_ADDRESS_NOT_ALLOWED');
    expect(error.message).toMatch(/^localhost resolves to .*(127\.0\.0\.1|::1)/);
    expect(trap.connections()).toBe(0);
  });

  it('DNS rebinding cannot switch the address: every connection resolves and checks again, and loopback answers are refused', async () => {
    let calls = 0;
    // First a public answer (as when the source was checked), then loopback, and so on.
    const rebinding: AddressResolver = () => {
      calls += 1;
      return resolveTo(calls % 2 === 1 ? '93.184.216.34' : '127.0.0.1')('rebind.attack.test');
    };
    const c = client({ baseUrl: `https://rebind.attack.test:${trap.port}/`, resolver: rebinding, timeoutMs: 500 });
    const reasons: string[] = [];
    for (let i = 0; i < 6; i += 1) reasons.push((await failure(c.verifyToken())).reason);
    expect(calls).toBeGreaterThanOrEqual(6);
    expect(reasons.filter((r) => r === 'AddressNotAllowed')).toHaveLength(3);
    expect(trap.connections()).toBe(0);
  });

  it('still connects to a name that resolves to loopback when insecure URLs are allowed (tests, the simulator)', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"data":{}}');
    });
    const port = new URL(server.url).port;
    const c = client({ baseUrl: `http://sim.attack.test:${port}/`, allowInsecure: true, resolver: resolveTo('127.0.0.1') });
    await expect(c.verifyToken()).resolves.toEqual({ rateLimited: false });
    expect(server.requests).toHaveLength(1);
  });
});

describe('when the console redirects', () => {
  it.each([301, 302, 303, 307, 308])('a %i to another host is an error, and the other host receives nothing', async (status) => {
    const other = await serve((_req, res) => res.end('{"data":{}}'));
    const console = await serve((_req, res) => {
      res.writeHead(status, { Location: `${other.url}web/api/v2.1/system/info?apiToken=${TOKEN}` });
      res.end();
    });
    const error = await failure(client({ baseUrl: console.url, allowInsecure: true }).listPage('threats', { filters: {} }));
    expect(error).toMatchObject({ errorType: 'ThirdPartyConfig', reason: 'Redirect', status });
    expect(error.message).toContain('redirects are not followed');
    expect(other.requests).toHaveLength(0);
  });

  it('a redirect to the loopback trap or to the metadata address is not followed either', async () => {
    for (const location of [`http://127.0.0.1:${trap.port}/`, 'http://169.254.169.254/latest/meta-data/', `/web/api/v2.1/${TOKEN}`]) {
      const console = await serve((_req, res) => {
        res.writeHead(302, { Location: location });
        res.end();
      });
      expect(await failure(client({ baseUrl: console.url, allowInsecure: true }).verifyToken())).toMatchObject({ reason: 'Redirect' });
    }
    expect(trap.connections()).toBe(0);
  });
});

describe('when the console sends too much', () => {
  it('a declared 200 MB body is refused from its Content-Length, without reading it', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': String(200 * 1024 * 1024) });
      res.write('{"data":[');
      // ... and nothing more: the client must not wait for the rest.
    });
    const started = Date.now();
    const error = await failure(client({ baseUrl: server.url, allowInsecure: true }).listPage('agents', { filters: {} }));
    expect(error).toMatchObject({ errorType: 'ThirdPartyGeneric', reason: 'BodyTooLarge' });
    expect(error.message).toContain(`larger than ${DEFAULT_MAX_BODY_BYTES} bytes`);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('an endless chunked body is cut at the default limit, with bounded memory', async () => {
    let written = 0;
    const chunk = Buffer.from(`{"pad":"${'z'.repeat(1024 * 1024 - 12)}"},`);
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('{"data":[');
      const pump = (): void => {
        while (!res.destroyed && written < 1024 * 1024 * 1024) {
          written += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
    try {
      const error = await failure(client({ baseUrl: server.url, allowInsecure: true, timeoutMs: 60_000 }).listPage('agents', { filters: {} }));
      expect(error).toMatchObject({ errorType: 'ThirdPartyGeneric', reason: 'BodyTooLarge' });
    } finally {
      clearInterval(sampler);
    }
    // Socket buffers let the server get somewhat ahead of the reader, never far.
    expect(written).toBeLessThan(DEFAULT_MAX_BODY_BYTES + 32 * 1024 * 1024);
    expect(peak - baseline).toBeLessThan(3 * DEFAULT_MAX_BODY_BYTES);
  }, 60_000);

  it('an endless error body is read only as far as its first 64 KiB', async () => {
    let written = 0;
    const server = await serve((_req, res) => {
      res.writeHead(500, { 'Content-Type': 'application/json' });
      const pump = (): void => {
        while (!res.destroyed && written < 512 * 1024 * 1024) {
          written += 64 * 1024;
          if (!res.write('x'.repeat(64 * 1024))) {
            res.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
    const error = await failure(client({ baseUrl: server.url, allowInsecure: true }).verifyToken());
    expect(error).toMatchObject({ errorType: 'ThirdPartyGeneric', reason: 'ServerError', status: 500 });
    expect(written).toBeLessThan(32 * 1024 * 1024);
  });

  it('a body that trickles in byte by byte ends at the request timeout', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      const timer = setInterval(() => (res.destroyed ? clearInterval(timer) : res.write(' ')), 50);
    });
    const started = Date.now();
    expect(await failure(client({ baseUrl: server.url, allowInsecure: true, timeoutMs: 1_000 }).verifyToken())).toMatchObject({ reason: 'Timeout' });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it(`a record nested deeper than ${MAX_RECORD_DEPTH} levels is refused (it would overflow JSON.stringify downstream)`, async () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(`{"data":[{"id":"1","nested":${deep}}],"pagination":{"nextCursor":null}}`);
    });
    const error = await failure(client({ baseUrl: server.url, allowInsecure: true }).listPage('activities', { filters: {} }));
    expect(error).toMatchObject({ errorType: 'ThirdPartyGeneric', reason: 'MalformedResponse' });
    expect(error.message).toContain(`nested more than ${MAX_RECORD_DEPTH} levels deep`);
  });

  it('a record of ordinary depth still parses', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(`{"data":[{"id":"1","nested":${'{"a":'.repeat(20)}1${'}'.repeat(20)}}],"pagination":{"nextCursor":null}}`);
    });
    expect((await client({ baseUrl: server.url, allowInsecure: true }).listPage('activities', { filters: {} })).records).toHaveLength(1);
  });
});

describe('when the console echoes the token back', () => {
  const echoes: Array<[string, Handler]> = [
    ['in a 401 error body', (_req, res) => json(res, 401, { errors: [{ code: 4010010, detail: `unknown token ${TOKEN}`, title: `Authentication Failed for ${TOKEN}` }] })],
    ['in a 500 error body', (_req, res) => json(res, 500, { errors: [{ code: 5000010, detail: `Authorization: ApiToken ${TOKEN}`, title: 'Internal server error' }] })],
    ['in a 400 error body', (_req, res) => json(res, 400, { errors: [{ code: 4000010, detail: TOKEN, title: 'Validation Error' }] })],
    ['in a 200 that carries errors', (_req, res) => json(res, 200, { data: {}, errors: [{ code: 1, title: TOKEN }] })],
    ['in a malformed 200', (_req, res) => json(res, 200, { data: `not an object ${TOKEN}` })],
    ['in a content type', (_req, res) => plain(res, 200, `text/html; token=${TOKEN}`, `<html>${TOKEN}</html>`)],
    ['in response headers', (_req, res) => {
      res.writeHead(403, { 'Content-Type': 'application/json', 'X-Echo': TOKEN, 'WWW-Authenticate': `ApiToken realm="${TOKEN}"` });
      res.end(JSON.stringify({ errors: [{ code: 4030010, title: 'Forbidden' }] }));
    }],
    ['in a same-host redirect path', (_req, res) => {
      res.writeHead(307, { Location: `/web/api/v2.1/${TOKEN}/system/info` });
      res.end();
    }],
    ['in a 429 with Retry-After and body', (_req, res) => json(res, 429, { errors: [{ code: 4290010, title: `slow down ${TOKEN}` }] }, { 'Retry-After': '0' })],
  ];

  it.each(echoes)('%s: the error shows it nowhere (message, JSON, inspect, stack)', async (_label, handler) => {
    const server = await serve(handler);
    const c = client({ baseUrl: server.url, allowInsecure: true, max429Retries: 0 });
    for (const call of [() => c.verifyToken(), () => c.listPage('activities', { filters: {} })]) {
      const error = await failure(call());
      const shown = [error.message, error.stack ?? '', JSON.stringify(error), inspect(error, { depth: 5 }), String(error)].join('\n');
      expect(shown).not.toContain(TOKEN);
    }
    expect(server.requests[0]!.headers.authorization).toBe(`ApiToken ${TOKEN}`);
  });
});

describe('after all of the above', () => {
  it('the trap on loopback never received a connection', () => {
    expect(trap.connections()).toBe(0);
  });

  it('no error of this suite shows the token', () => {
    expect(errors.length).toBeGreaterThan(40);
    for (const error of errors) expect(`${error.message} ${JSON.stringify(error)} ${inspect(error)}`).not.toContain(TOKEN);
  });
});

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function plain(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'Content-Type': contentType });
  res.end(body);
}
