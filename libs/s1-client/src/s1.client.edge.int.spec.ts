import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer, Server as TlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ConsoleRateLimiter } from './console.rate-limiter';
import { S1Client, type S1ClientOptions } from './s1.client';
import { S1Error } from './s1.errors';

const TOKEN = 'edge-secret-token-9a8b7c6d5e4f';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface TinyServer {
  readonly url: string;
  readonly host: string;
  readonly seen: IncomingMessage[];
  close(): Promise<void>;
}

const servers: TinyServer[] = [];
const clients: S1Client[] = [];
const errors: unknown[] = [];

async function serve(handler: Handler, make: (h: Handler) => Server | TlsServer = (h) => createServer(h)): Promise<TinyServer> {
  const seen: IncomingMessage[] = [];
  const server = make((req, res) => {
    seen.push(req);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const scheme = server instanceof TlsServer ? 'https' : 'http';
  const tiny: TinyServer = {
    url: `${scheme}://127.0.0.1:${port}/`,
    host: `127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  servers.push(tiny);
  return tiny;
}

function client(server: TinyServer, overrides: Partial<S1ClientOptions> = {}): S1Client {
  const c = new S1Client({
    baseUrl: server.url,
    token: TOKEN,
    allowInsecure: true,
    rateLimiter: new ConsoleRateLimiter({ requestsPerSecond: 1_000 }),
    ...overrides,
  });
  clients.push(c);
  return c;
}

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

const json = (status: number, body: string, headers: Record<string, string> = {}): Handler => (_req, res) => {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(body);
};

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.close();
});

describe('S1Client against hand-made servers', () => {
  it('does not follow a redirect, and the token never reaches the other host', async () => {
    const other = await serve(json(200, '{"data":{}}'));
    const console = await serve((_req, res) => {
      res.writeHead(302, { Location: `${other.url}web/api/v2.1/system/info?token=${TOKEN}` });
      res.end();
    });
    const error = await failure(client(console).verifyToken());
    expect(error).toMatchObject({ errorType: 'ThirdPartyConfig', reason: 'Redirect', status: 302 });
    expect(error.message).toContain(`redirected (302) to ${other.host}`);
    expect(other.seen).toHaveLength(0);
    expect(console.seen).toHaveLength(1);
    expect(console.seen[0]!.headers.authorization).toBe(`ApiToken ${TOKEN}`);
    expect(console.seen[0]!.headers['user-agent']).toMatch(/^s1-collector/);
    expect(console.seen[0]!.headers.accept).toBe('application/json');
  });

  it('preserves integers beyond 2^53 in the record json text, as strings in value', async () => {
    const body =
      '{"data":[{"id":"1398765432109876543","accountId":1234567890123456789,"data":{"siteId":1038387378499381063,"count":3}},{"id":"2","groupId":-9223372036854775808}],"pagination":{"nextCursor":null,"totalItems":2}}';
    const server = await serve(json(200, body));
    const page = await client(server).listPage('activities', { filters: {} });
    expect(page.records[0]!.json).toBe('{"id":"1398765432109876543","accountId":1234567890123456789,"data":{"siteId":1038387378499381063,"count":3}}');
    expect(page.records[0]!.value).toEqual({ id: '1398765432109876543', accountId: '1234567890123456789', data: { siteId: '1038387378499381063', count: 3 } });
    expect(page.records[1]!.value['groupId']).toBe('-9223372036854775808');
    expect(page).toMatchObject({ nextCursor: null, totalItems: 2, rateLimited: false, requests: 1 });
  });

  it('refuses a 200 that is not JSON by content type', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('<html>login</html>');
    });
    expect(await failure(client(server).listPage('agents', { filters: {} }))).toMatchObject({ errorType: 'ThirdPartyGeneric', reason: 'MalformedResponse' });
  });

  it('refuses a body with invalid UTF-8', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' });
      res.end(Buffer.concat([Buffer.from('{"data":[{"name":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}]}')]));
    });
    const error = await failure(client(server).listPage('agents', { filters: {} }));
    expect(error).toMatchObject({ reason: 'MalformedResponse' });
    expect(error.message).toContain('UTF-8');
  });

  it('refuses a 200 whose envelope is wrong', async () => {
    const server = await serve(json(200, '{"items":[]}'));
    expect(await failure(client(server).listPage('agents', { filters: {} }))).toMatchObject({ reason: 'MalformedResponse' });
  });

  it('fails a 200 that carries errors with ThirdPartyGeneric', async () => {
    const server = await serve(json(200, '{"data":[],"errors":[{"code":5000010,"detail":null,"title":"Internal server error"}]}'));
    const error = await failure(client(server).listPage('threats', { filters: {} }));
    expect(error).toMatchObject({ errorType: 'ThirdPartyGeneric', reason: 'ResponseErrors' });
    expect(error.message).toContain('5000010 Internal server error');
  });

  describe('when the body is larger than maxBodyBytes', () => {
    const huge = `{"data":[${Array.from({ length: 2_000 }, (_, i) => `{"id":"${i}","pad":"${'x'.repeat(100)}"}`).join(',')}]}`;

    it('refuses it from its Content-Length', async () => {
      const server = await serve(json(200, huge));
      expect(await failure(client(server, { maxBodyBytes: 10_000 }).listPage('agents', { filters: {} }))).toMatchObject({
        errorType: 'ThirdPartyGeneric',
        reason: 'BodyTooLarge',
      });
    });

    it('stops reading a chunked body once past the limit', async () => {
      let written = 0;
      let closed = false;
      const server = await serve((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.write('{"data":[');
        const timer = setInterval(() => {
          if (res.destroyed || written > 50_000_000) {
            clearInterval(timer);
            closed = res.destroyed;
            return;
          }
          res.write(`{"pad":"${'y'.repeat(64 * 1024)}"},`);
          written += 64 * 1024;
        }, 1);
      });
      const error = await failure(client(server, { maxBodyBytes: 256 * 1024 }).listPage('agents', { filters: {} }));
      expect(error).toMatchObject({ reason: 'BodyTooLarge' });
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(closed).toBe(true);
      expect(written).toBeLessThan(10_000_000);
    });
  });

  it('redacts the token if a server echoes it in an error body', async () => {
    const server = await serve(json(401, JSON.stringify({ errors: [{ code: 4010010, detail: `token ${TOKEN} is unknown`, title: 'Authentication Failed' }] })));
    const error = await failure(client(server).verifyToken());
    expect(error).toMatchObject({ reason: 'Unauthorized' });
    expect(error.message).toContain('token [redacted] is unknown');
  });

  it('honours Retry-After given as an HTTP date', async () => {
    let calls = 0;
    const server = await serve((req, res) => {
      calls += 1;
      // An HTTP date has whole seconds: two seconds ahead means at least one second of waiting.
      if (calls === 1) json(429, '{"errors":[{"code":4290010,"title":"Too many requests"}]}', { 'Retry-After': new Date(Date.now() + 2_000).toUTCString() })(req, res);
      else json(200, '{"data":{"build":"1"}}')(req, res);
    });
    const started = Date.now();
    await expect(client(server).verifyToken()).resolves.toEqual({ rateLimited: true });
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
  });

  it('classifies a 400 mentioning the cursor as InvalidCursor even without one sent', async () => {
    const server = await serve(json(400, '{"errors":[{"code":4000010,"detail":"cursor is invalid","title":"Validation Error"}]}'));
    expect(await failure(client(server).listPage('agents', { filters: {} }))).toMatchObject({ errorType: 'ThirdPartyGeneric', reason: 'InvalidCursor' });
  });

  it('retries once when a reused keep-alive socket was closed by the server, but not on a fresh socket', async () => {
    const requestsPerSocket = new WeakMap<object, number>();
    const server = await serve((req, res) => {
      const n = (requestsPerSocket.get(req.socket) ?? 0) + 1;
      requestsPerSocket.set(req.socket, n);
      // Stands in for the idle-socket race: the server drops a kept-alive socket as it is reused.
      if (n > 1) req.socket.destroy();
      else json(200, '{"data":{}}')(req, res);
    });
    const c = client(server);
    await c.verifyToken();
    await expect(c.verifyToken()).resolves.toEqual({ rateLimited: false });
    expect(server.seen).toHaveLength(3);

    const hangUp = await serve((req) => req.socket.destroy());
    expect(await failure(client(hangUp).verifyToken())).toMatchObject({ errorType: 'ThirdPartyGeneric', reason: 'ConnectionFailed' });
    expect(hangUp.seen).toHaveLength(1);
  });

  it('when nothing listens, it fails with ThirdPartyGeneric ConnectionFailed', async () => {
    const server = await serve(json(200, '{}'));
    const url = server.url;
    await server.close();
    servers.splice(0);
    const c = new S1Client({ baseUrl: url, token: TOKEN, allowInsecure: true, rateLimiter: new ConsoleRateLimiter({ requestsPerSecond: 100 }) });
    clients.push(c);
    const error = await failure(c.verifyToken());
    expect(error).toMatchObject({ errorType: 'ThirdPartyGeneric', reason: 'ConnectionFailed' });
    expect(error.message).toContain('ECONNREFUSED');
  });

  describe('TLS', () => {
    let dir: string | undefined;
    afterAll(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('fails a self-signed certificate with ThirdPartyConfig TlsError', async () => {
      dir = mkdtempSync(join(tmpdir(), 's1-client-tls-'));
      try {
        execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1'], {
          stdio: 'ignore',
        });
      } catch (error) {
        throw new Error(`this test makes its certificate with openssl: install it with \`npm run setup\` (or apt-get install -y openssl): ${String(error)}`);
      }
      const key = readFileSync(join(dir, 'key.pem'));
      const cert = readFileSync(join(dir, 'cert.pem'));
      const server = await serve(json(200, '{"data":{}}'), (h) => createTlsServer({ key, cert }, h));
      const error = await failure(client(server).verifyToken());
      expect(error).toMatchObject({ errorType: 'ThirdPartyConfig', reason: 'TlsError' });
      expect(server.seen).toHaveLength(0);
    });
  });

  it('never shows the token in any error of these tests', () => {
    expect(errors.length).toBeGreaterThan(8);
    for (const error of errors) {
      for (const text of [String(error), inspect(error, { showHidden: true, depth: 10 }), JSON.stringify(error)]) expect(text).not.toContain(TOKEN);
    }
  });
});
