import type { AddressResolver } from '@s1c/s1-client';
import type { LookupAddress } from 'node:dns';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startConnectionTrap, type ConnectionTrap } from '@s1c/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sourceDocument, startRegistryUnderTest, type RegistryUnderTest } from './testing/registry.harness';

/**
 * Issue 9, the attacker's suite against the registry over NATS: base URLs and DNS answers that
 * point inside our network, sent to `create`, `update` and `test`. Each is refused with a clear
 * error naming base_url, nothing is stored, and a "trap" listener on loopback receives no
 * connection. Then a hostile console that echoes the token back: it reaches no reply and no log.
 */

const SECRET = 'tok-attack-registry-9f8e7d6c5b';

/** The answers of the injected DNS; a name it does not know does not resolve. */
const dns = new Map<string, string[]>([
  ['good.attack.test', ['93.184.216.34']],
  ['flip.attack.test', ['93.184.216.34']],
  ['rebound.attack.test', ['127.0.0.1']],
  ['private.attack.test', ['10.0.0.1']],
  ['metadata.attack.test', ['169.254.169.254']],
  ['mixed.attack.test', ['93.184.216.34', '127.0.0.1']],
  ['mapped.attack.test', ['::ffff:7f00:1']],
  ['onprem.attack.test', ['10.0.0.9']],
]);
const resolver: AddressResolver = (hostname) => {
  const answer = dns.get(hostname);
  if (!answer) return Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }));
  return Promise.resolve(answer.map((address): LookupAddress => ({ address, family: address.includes(':') ? 6 : 4 })));
};

let registry: RegistryUnderTest;
let trap: ConnectionTrap;
let trapPort = 0;

beforeAll(async () => {
  trap = await startConnectionTrap();
  trapPort = trap.port;
});
afterAll(() => trap?.close());

describe('base_url pointing inside our network (S1C_ALLOW_INSECURE_BASE_URL=false)', () => {
  const hostile = (port: number): Array<[string, string]> => [
    ['loopback', `https://127.0.0.1:${port}/`],
    ['short form', `https://127.1:${port}/`],
    ['decimal', `https://2130706433:${port}/`],
    ['hexadecimal', `https://0x7f000001:${port}/`],
    ['octal', `https://0177.0.0.1:${port}/`],
    ['IPv6 loopback', `https://[::1]:${port}/`],
    ['IPv4-mapped IPv6', `https://[::ffff:127.0.0.1]:${port}/`],
    ['localhost', `https://localhost:${port}/`],
    ['0.0.0.0', `https://0.0.0.0:${port}/`],
    ['user info', `https://usea1-partners.sentinelone.net@127.0.0.1:${port}/`],
    ['plain http', `http://127.0.0.1:${port}/`],
    ['gopher', `gopher://127.0.0.1:${port}/_INFO`],
    ['ftp', `ftp://127.0.0.1:${port}/`],
    ['file', 'file:///etc/passwd'],
    ['data', 'data:application/json,{"data":{}}'],
    ['cloud metadata', 'https://169.254.169.254/'],
    ['IPv6 link-local', 'https://[fe80::1]/'],
    ['10/8', 'https://10.0.0.1/'],
    ['172.16/12', 'https://172.16.0.1/'],
    ['192.168/16', 'https://192.168.0.1/'],
    ['fc00::/7', 'https://[fc00::1]/'],
    ['CGNAT', 'https://100.64.0.1/'],
    ['a name resolving to loopback', 'https://rebound.attack.test/'],
    ['a name resolving to 10.0.0.1', 'https://private.attack.test/'],
    ['a name resolving to the metadata address', 'https://metadata.attack.test/'],
    ['a name resolving to a public address and loopback', 'https://mixed.attack.test/'],
    ['a name resolving to IPv4-mapped loopback', 'https://mapped.attack.test/'],
    ['a public name on another port', 'https://good.attack.test:6379/'],
  ];

  let goodId = '';

  beforeAll(async () => {
    registry = await startRegistryUnderTest({ allowInsecureBaseUrl: false, resolver });
    const created = await registry.send('create', sourceDocument({ name: 'Good', base_url: 'https://good.attack.test/', api_secret: SECRET }));
    expect(created.ok, JSON.stringify(created)).toBe(true);
    goodId = created.source.id as string;
  });

  it('has the whole list', () => {
    expect(hostile(trapPort).length).toBeGreaterThanOrEqual(28);
  });

  it('create, update and test refuse each one naming base_url; nothing is stored and nothing is contacted', async () => {
    const before = await registry.eventCount();
    const refusals: string[] = [];
    for (const [label, url] of hostile(trapPort)) {
      const replies = {
        create: await registry.send('create', sourceDocument({ name: `Attack ${label}`, base_url: url, api_secret: SECRET })),
        update: await registry.send('update', sourceDocument({ name: 'Good', base_url: url, api_secret: SECRET }, { id: goodId })),
        test: await registry.send('test', sourceDocument({ name: `Attack ${label}`, base_url: url, api_secret: SECRET })),
      };
      for (const [op, reply] of Object.entries(replies)) {
        expect(reply.ok, `${op} ${label}: ${JSON.stringify(reply)}`).toBe(false);
        expect(reply.error.code, `${op} ${label}`).toBe('ValidationError');
        expect(reply.error.details.map((d: { path: string }) => d.path), `${op} ${label}`).toContain('source.config.base_url');
        expect(reply.error.message.length).toBeGreaterThan(20);
      }
      const message = replies.create.error.details[0].message as string;
      if (label.startsWith('a name resolving')) expect(message, label).toContain('.attack.test resolves to');
      refusals.push(`${label}: ${message}`);
    }
    console.log(`registry SSRF refusals:\n  ${refusals.join('\n  ')}`);
    expect(await registry.eventCount()).toBe(before);
    expect(trap.connections()).toBe(0);
  });

  it('a name that resolved to a public address when stored, and to loopback when tested, is refused at connect time', async () => {
    const created = await registry.send('create', sourceDocument({ name: 'Flip', base_url: 'https://flip.attack.test/', api_secret: SECRET }));
    expect(created.ok, JSON.stringify(created)).toBe(true);
    dns.set('flip.attack.test', ['127.0.0.1']);
    const reply = await registry.send('test', { id: created.source.id });
    expect(reply).toMatchObject({ ok: true, reachable: false, authenticated: false, problems: [{ errorType: 'ThirdPartyConfig', reason: 'AddressNotAllowed' }] });
    expect(reply.problems[0].message).toContain('flip.attack.test resolves to 127.0.0.1');
    expect(trap.connections()).toBe(0);
  });

  it('a name that does not resolve is still accepted (a DNS outage must not block registering; collection reports it)', async () => {
    const created = await registry.send('create', sourceDocument({ name: 'Unresolved', base_url: 'https://nowhere.attack.test/', api_secret: SECRET }));
    expect(created.ok, JSON.stringify(created)).toBe(true);
  });

  it('list survives hostile filters and cursors: a refusal or a page, never an internal error', async () => {
    const cursor = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    for (const query of [
      { name: 'a\u0000b' },
      { name: '{"$gt":""}' },
      { name: { $gt: '' } },
      { collectorId: { $ne: null } },
      { state: { $nin: [] } },
      { cursor: '!!!not-base64!!!' },
      { cursor: cursor(['\u0000', '\u0000']) },
      { cursor: cursor([{ $gt: '' }, { $gt: '' }]) },
      { cursor: cursor({ __proto__: { polluted: true } }) },
      { limit: 1e9 },
    ]) {
      const reply = await registry.send('list', query);
      if (!reply.ok) expect(reply.error.code, JSON.stringify(query)).toBe('ValidationError');
      else expect(Array.isArray(reply.sources)).toBe(true);
    }
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('shows the token in no reply and no log line', () => {
    expect(registry.replyText()).not.toContain(SECRET);
    expect(registry.logText()).not.toContain(SECRET);
  });

  // Registries share the command subjects' queue group: only one may run at a time.
  afterAll(() => registry?.close());
});

describe('on-premises consoles allow-listed in S1C_S1_PRIVATE_CONSOLES', () => {
  let onPrem: RegistryUnderTest;
  beforeAll(async () => {
    onPrem = await startRegistryUnderTest({
      allowInsecureBaseUrl: false,
      resolver,
      env: { S1C_S1_PRIVATE_CONSOLES: 'onprem.attack.test:8443,private.attack.test,rebound.attack.test,metadata.attack.test' },
    });
  });
  afterAll(() => onPrem?.close());

  it('are accepted on their private address and port, and nothing else is', async () => {
    for (const url of ['https://onprem.attack.test:8443/', 'https://private.attack.test/']) {
      const created = await onPrem.send('create', sourceDocument({ name: `On-prem ${url}`, base_url: url, api_secret: SECRET }));
      expect(created.ok, `${url}: ${JSON.stringify(created)}`).toBe(true);
    }
    const refused = {
      'another port of a listed console': 'https://onprem.attack.test:9443/',
      'plain http to a listed console': 'http://onprem.attack.test:8443/',
      'a listed name resolving to loopback': 'https://rebound.attack.test/',
      'a listed name resolving to the metadata address': 'https://metadata.attack.test/',
      'an unlisted private address': 'https://10.0.0.9/',
    };
    for (const [label, url] of Object.entries(refused)) {
      const reply = await onPrem.send('create', sourceDocument({ name: `Refused ${label}`, base_url: url, api_secret: SECRET }));
      expect(reply.ok, `${label}: ${JSON.stringify(reply)}`).toBe(false);
      expect(reply.error.details.map((d: { path: string }) => d.path), label).toContain('source.config.base_url');
    }
    const loopback = await onPrem.send('create', sourceDocument({ name: 'Loopback listed', base_url: 'https://rebound.attack.test/', api_secret: SECRET }));
    expect(loopback.error.details[0].message).toContain('never on a loopback or link-local address');
    expect(trap.connections()).toBe(0);
  });
});

describe('a hostile console that echoes the token back', () => {
  const TOKEN = 'tok-echoed-back-0a1b2c3d4e5f6a7b';
  let insecure: RegistryUnderTest;
  let console: Server;
  let consoleUrl = '';

  beforeAll(async () => {
    console = createServer((req, res) => {
      const path = req.url ?? '';
      const echo = { 'X-Echo': TOKEN, 'WWW-Authenticate': `ApiToken realm="${TOKEN}"` };
      if (path.startsWith('/web/api/v2.1/system/info')) {
        res.writeHead(200, { 'Content-Type': 'application/json', ...echo });
        res.end(JSON.stringify({ data: { token: TOKEN } }));
      } else if (path.startsWith('/web/api/v2.1/users/api-token-details')) {
        res.writeHead(200, { 'Content-Type': 'application/json', ...echo });
        res.end(JSON.stringify({ data: { createdAt: TOKEN, expiresAt: `2027-01-01T00:00:00Z ${TOKEN}` } }));
      } else if (path.startsWith('/web/api/v2.1/activities')) {
        res.writeHead(401, { 'Content-Type': 'application/json', ...echo });
        res.end(JSON.stringify({ errors: [{ code: 4010010, detail: `token ${TOKEN} is unknown`, title: `Authentication Failed ${TOKEN}` }] }));
      } else if (path.startsWith('/web/api/v2.1/agents')) {
        res.writeHead(200, { 'Content-Type': `text/html; echo=${TOKEN}`, ...echo });
        res.end(`<html>${TOKEN}</html>`);
      } else {
        res.writeHead(302, { Location: `/web/api/v2.1/${TOKEN}`, ...echo });
        res.end();
      }
    });
    await new Promise<void>((resolve) => console.listen(0, '127.0.0.1', resolve));
    consoleUrl = `http://127.0.0.1:${(console.address() as AddressInfo).port}/`;
    insecure = await startRegistryUnderTest({ allowInsecureBaseUrl: true });
  });

  afterAll(async () => {
    await insecure?.close();
    console?.closeAllConnections();
    await new Promise<void>((resolve) => console?.close(() => resolve()));
  });

  it('test, before and after the source is stored, reports the problems without the token, and a bogus expiry is dropped', async () => {
    const document = sourceDocument({ name: 'Echo', base_url: consoleUrl, api_secret: TOKEN });
    const direct = await insecure.send('test', document);
    expect(direct).toMatchObject({ ok: true, reachable: true, authenticated: true, tokenExpiresAt: null });
    expect(direct.apis).toMatchObject({ activities: { readable: false }, agents: { readable: false }, threats: { readable: false } });
    const created = await insecure.send('create', document);
    expect(created.ok, JSON.stringify(created)).toBe(true);
    const stored = await insecure.send('test', { id: created.source.id });
    expect(stored).toMatchObject({ ok: true, authenticated: true, tokenExpiresAt: null });
  });

  it('the token is in no reply and no log line', () => {
    expect(insecure.replyText().length).toBeGreaterThan(500);
    expect(insecure.replyText()).not.toContain(TOKEN);
    expect(insecure.logText()).not.toContain(TOKEN);
  });
});
