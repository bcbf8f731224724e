import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect as tcpConnect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleRateLimiter } from './console.rate-limiter';
import type { AddressResolver } from './guarded.lookup';
import { loadS1Network, type S1Network } from './network';
import { S1Client } from './s1.client';
import { S1Error } from './s1.errors';

const TOKEN = 'network-secret-token-0a1b2c3d4e5f';
const PROXY_PASSWORD = 'proxy-pass-never-shown';

let dir: string;
let consoleServer: Server;
let consolePort: number;
/** Host headers the console saw. */
const consoleHosts: string[] = [];
let proxy: Server;
let proxyPort: number;
/** CONNECT targets and Proxy-Authorization headers the proxy saw. */
const tunnels: Array<{ target: string; auth: string | undefined }> = [];
/** The proxy refuses tunnels to these targets with 403 (as a proxy's ACL would). */
const refusedTargets = new Set<string>();

function openssl(...args: string[]): void {
  try {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    throw new Error(`this test makes its certificates with openssl: install it with \`npm run setup\` (or apt-get install -y openssl): ${String(error)}`);
  }
}

/** console.test resolves to `address`, everything else nowhere. */
const resolverTo =
  (address: string): AddressResolver =>
  async (hostname) => {
    if (hostname === 'console.test') return [{ address, family: address.includes(':') ? 6 : 4 }];
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  };

function network(overrides: { ca?: boolean; proxy?: boolean; noProxy?: string[]; privateConsoles?: string[] } = {}): S1Network {
  return loadS1Network({
    ...(overrides.ca ? { S1C_S1_CA_FILE: join(dir, 'ca.pem') } : {}),
    S1C_S1_PRIVATE_CONSOLES: overrides.privateConsoles ?? [],
    ...(overrides.proxy ? { HTTPS_PROXY: new URL(`http://collector:${PROXY_PASSWORD}@127.0.0.1:${proxyPort}`) } : {}),
    NO_PROXY: overrides.noProxy ?? [],
  });
}

const clients: S1Client[] = [];
/** Sockets the proxy tunnels, closed at the end. */
const tunnelSockets = new Set<Socket>();

function client(baseUrl: string, options: { network: S1Network; resolveTo?: string; allowInsecure?: boolean }): S1Client {
  const made = new S1Client({
    baseUrl,
    token: TOKEN,
    allowInsecure: options.allowInsecure ?? false,
    rateLimiter: new ConsoleRateLimiter({ requestsPerSecond: 1_000 }),
    resolver: resolverTo(options.resolveTo ?? '127.0.0.1'),
    network: options.network,
    timeoutMs: 5_000,
  });
  clients.push(made);
  return made;
}

async function failure(promise: Promise<unknown>): Promise<S1Error> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(S1Error);
  for (const text of [String(error), inspect(error, { depth: 10 }), JSON.stringify(error)]) {
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain(PROXY_PASSWORD);
  }
  return error as S1Error;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 's1-client-network-'));
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=Private Console CA');
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'console.key', '-out', 'console.csr', '-subj', '/CN=console.test');
  writeFileSync(join(dir, 'console.ext'), 'subjectAltName=DNS:console.test\n');
  openssl('x509', '-req', '-in', 'console.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'console.pem', '-days', '1', '-extfile', 'console.ext');
  writeFileSync(join(dir, 'not-a-ca.pem'), 'hello\n');

  consoleServer = createHttpsServer({ key: readFileSync(join(dir, 'console.key')), cert: readFileSync(join(dir, 'console.pem')) }, (req, res) => {
    consoleHosts.push(req.headers.host ?? '');
    res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"data":{"health":"ok"}}');
  });
  await new Promise<void>((resolve) => consoleServer.listen(0, '127.0.0.1', resolve));
  consolePort = (consoleServer.address() as AddressInfo).port;

  // A plain CONNECT proxy, as Squid or a corporate proxy would be.
  proxy = createHttpServer();
  proxy.on('connect', (req: IncomingMessage, client: Socket) => {
    const target = req.url ?? '';
    tunnels.push({ target, auth: req.headers['proxy-authorization'] });
    tunnelSockets.add(client);
    if (refusedTargets.has(target)) {
      client.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const [host, port] = [target.slice(0, target.lastIndexOf(':')).replace(/^\[|\]$/g, ''), Number(target.slice(target.lastIndexOf(':') + 1))];
    const upstream = tcpConnect(port, host, () => {
      tunnelSockets.add(upstream);
      client.write('HTTP/1.1 200 Connection established\r\n\r\n');
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyPort = (proxy.address() as AddressInfo).port;
});

afterAll(async () => {
  for (const c of clients) c.close();
  for (const socket of tunnelSockets) socket.destroy();
  for (const server of [consoleServer, proxy]) {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a console with a certificate of a private CA (S1C_S1_CA_FILE)', () => {
  it('is refused without the CA, and reached with it, its certificate checked against its name', async () => {
    const url = `https://console.test:${consolePort}/`;
    expect(await failure(client(url, { network: network(), allowInsecure: true }).verifyToken())).toMatchObject({ errorType: 'ThirdPartyConfig', reason: 'TlsError' });
    await expect(client(url, { network: network({ ca: true }), allowInsecure: true }).verifyToken()).resolves.toEqual({ rateLimited: false });
  });

  it('is a clear start-up error when the file cannot be read or holds no certificate', () => {
    expect(() => loadS1Network({ S1C_S1_CA_FILE: join(dir, 'missing.pem'), S1C_S1_PRIVATE_CONSOLES: [], NO_PROXY: [] })).toThrow(/S1C_S1_CA_FILE: cannot read .*missing\.pem \(ENOENT\)/);
    expect(() => loadS1Network({ S1C_S1_CA_FILE: join(dir, 'not-a-ca.pem'), S1C_S1_PRIVATE_CONSOLES: [], NO_PROXY: [] })).toThrow(/holds no PEM certificate/);
  });
});

describe('through an HTTPS proxy (HTTPS_PROXY)', () => {
  it('tunnels to the address the guard vetted, never the name, with TLS end to end to the console', async () => {
    tunnels.length = 0;
    consoleHosts.length = 0;
    const url = `https://console.test:${consolePort}/`;
    await expect(client(url, { network: network({ ca: true, proxy: true }), allowInsecure: true }).verifyToken()).resolves.toEqual({ rateLimited: false });
    expect(tunnels).toEqual([{ target: `127.0.0.1:${consolePort}`, auth: `Basic ${Buffer.from(`collector:${PROXY_PASSWORD}`).toString('base64')}` }]);
    expect(consoleHosts).toEqual([`console.test:${consolePort}`]);
  });

  it.each([
    ['loopback', '127.0.0.1'],
    ['a cloud metadata address', '169.254.169.254'],
    ['a private network address', '10.1.2.3'],
  ])('cannot be made to reach %s: the name is refused before any tunnel is asked for', async (_what, address) => {
    tunnels.length = 0;
    const error = await failure(client('https://console.test/', { network: network({ proxy: true }), resolveTo: address }).verifyToken());
    expect(error).toMatchObject({ errorType: 'ThirdPartyConfig', reason: 'AddressNotAllowed' });
    expect(tunnels).toEqual([]);
  });

  it('reaches an allow-listed on-premises console on its private address, and says so when the proxy refuses the tunnel', async () => {
    tunnels.length = 0;
    refusedTargets.add('10.1.2.3:443');
    const error = await failure(client('https://console.test/', { network: network({ proxy: true, privateConsoles: ['console.test:443'] }), resolveTo: '10.1.2.3' }).verifyToken());
    expect(tunnels.map((t) => t.target)).toEqual(['10.1.2.3:443']);
    expect(error).toMatchObject({ errorType: 'FirstPartyGeneric', reason: 'ProxyFailed' });
    expect(error.message).toContain(`the proxy 127.0.0.1:${proxyPort} refused the tunnel to the console (HTTP 403)`);
    expect(error.message).toContain('check HTTPS_PROXY');
  });

  it('still refuses loopback for an allow-listed console', async () => {
    tunnels.length = 0;
    const error = await failure(client('https://console.test/', { network: network({ proxy: true, privateConsoles: ['console.test:443'] }), resolveTo: '127.0.0.1' }).verifyToken());
    expect(error).toMatchObject({ reason: 'AddressNotAllowed' });
    expect(tunnels).toEqual([]);
  });

  it('is bypassed for a console NO_PROXY names', async () => {
    tunnels.length = 0;
    const url = `https://console.test:${consolePort}/`;
    await expect(client(url, { network: network({ ca: true, proxy: true, noProxy: ['.test'] }), allowInsecure: true }).verifyToken()).resolves.toEqual({ rateLimited: false });
    expect(tunnels).toEqual([]);
  });

  it('fails as our side, retried, when the proxy is down', async () => {
    const down = loadS1Network({ S1C_S1_PRIVATE_CONSOLES: [], HTTPS_PROXY: new URL('http://127.0.0.1:1'), NO_PROXY: [] });
    const error = await failure(client(`https://console.test:${consolePort}/`, { network: down, allowInsecure: true }).verifyToken());
    expect(error).toMatchObject({ errorType: 'FirstPartyGeneric', reason: 'ProxyFailed' });
    expect(error.message).toContain('cannot reach the proxy 127.0.0.1:1 (ECONNREFUSED)');
  });
});
