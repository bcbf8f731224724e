import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sampleSourceDocument } from '@s1c/contracts/testing';
import { startNatsServer, type RunningServer } from '@s1c/test-harness';
import { connect, headers as natsHeaders, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayUnderTest, startRegistryForTest, type GatewayUnderTest, type RegistryForTest } from './testing/gateway.harness';

// Operators and the gateway live in their own accounts and reach the registry's commands through
// a service import with `share: true`: the server then stamps each request with Nats-Request-Info.
const NATS_CONFIG = `
accounts: {
  S1C: {
    jetstream: enabled
    users: [{user: registry, password: registry-pw}]
    exports: [{service: "s1c.cmd.>"}]
  }
  GATEWAY: {
    users: [{user: gateway, password: gateway-pw}]
    imports: [{service: {account: S1C, subject: "s1c.cmd.>"}, share: true}]
  }
  OPERATORS: {
    users: [{user: alice, password: alice-pw}, {user: bob, password: bob-pw}, {user: mallory, password: mallory-pw}]
    imports: [{service: {account: S1C, subject: "s1c.cmd.>"}, share: true}]
  }
}
`;

const OPS_TOKEN = 'ops-http-token-0123456789';
const EXPIRED_TOKEN = 'ci-http-token-0123456789';
const SOURCE_TOKENS = ['tok-audit-first-0123456789', 'tok-audit-second-0123456789'];
type Reply = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('audit: who changed a source, from where', () => {
  let nats: RunningServer;
  let registry: RegistryForTest;
  let gw: GatewayUnderTest;
  const operators: Record<string, NatsConnection> = {};
  const url = () => `nats://127.0.0.1:${nats.port}`;

  async function send(user: string, op: string, payload: unknown, headers: Record<string, string> = {}): Promise<Reply> {
    const h = natsHeaders();
    for (const [k, v] of Object.entries(headers)) h.set(k, v);
    const msg = await operators[user]!.request(`s1c.cmd.source.${op}`, new TextEncoder().encode(JSON.stringify(payload)), { timeout: 10_000, headers: h });
    return JSON.parse(new TextDecoder().decode(msg.data)) as Reply;
  }

  beforeAll(async () => {
    const configFile = join(mkdtempSync(join(tmpdir(), 's1c-audit-')), 'nats.conf');
    writeFileSync(configFile, NATS_CONFIG);
    nats = await startNatsServer({ configFile });
    registry = await startRegistryForTest({ natsUrl: url(), natsAuth: { user: 'registry', pass: 'registry-pw' } });
    gw = await startGatewayUnderTest({
      natsUrl: url(),
      natsAuth: { user: 'gateway', pass: 'gateway-pw' },
      tokens: `ops:${OPS_TOKEN},ci:${EXPIRED_TOKEN}:2020-01-01T00:00:00Z`,
    });
    for (const user of ['alice', 'bob', 'mallory']) {
      operators[user] = await connect({ servers: url(), user, pass: `${user}-pw`, name: `s1c-cli-${user}` });
    }
  });
  afterAll(async () => {
    for (const nc of Object.values(operators)) await nc.close();
    await gw?.close();
    await registry?.close();
    await nats?.stop();
  });

  it('records the NATS user, the HTTP caller via the gateway, and ignores a forged claim; the history shows who, when and what, secrets masked', async () => {
    // Given alice creates a source over NATS
    const created = await send('alice', 'create', sampleSourceDocument({ name: 'Audited', api_secret: SOURCE_TOKENS[0] }));
    expect(created.ok, JSON.stringify(created)).toBe(true);
    const id: string = created.source.id;
    const path = `/api/v1/collectors/default/sources/${id}`;

    // When the HTTP caller "ops" replaces its token and category through the gateway
    const put = await gw.request('PUT', path, {
      token: OPS_TOKEN,
      headers: { 'If-Match': '"1"' },
      body: sampleSourceDocument({ name: 'Audited', category: 'sec/eu', api_secret: SOURCE_TOKENS[1] }),
    });
    expect(put.status, put.text).toBe(200);

    // And mallory, an operator but not a gateway, claims to act for "ops"
    const forged = await send('mallory', 'update', { id, ...sampleSourceDocument({ name: 'Audited', category: 'sec/forged', api_secret: undefined }) }, {
      'S1c-On-Behalf-Of': JSON.stringify({ caller: 'ops', ip: '10.9.9.9' }),
      'Nats-Request-Info': JSON.stringify({ acc: 'GATEWAY', user: 'gateway' }),
    });
    expect(forged.ok, JSON.stringify(forged)).toBe(true);

    // And bob deletes it
    expect((await send('bob', 'delete', { id })).ok).toBe(true);

    // Then the history, read by anyone, names each of them
    const history = await send('alice', 'history', { id });
    expect(history.ok, JSON.stringify(history)).toBe(true);
    const entries = history.entries as Reply[];
    expect(entries.map((e) => [e.version, e.type])).toEqual([
      [1, 'SourceCreated'],
      [2, 'SourceUpdated'],
      [3, 'SourceUpdated'],
      [4, 'SourceDeletionRequested'],
    ]);
    expect(entries[0]!.actor).toEqual({ kind: 'nats', account: 'OPERATORS', user: 'alice', host: '127.0.0.1', clientName: 's1c-cli-alice' });
    expect(entries[1]!.actor).toEqual({
      kind: 'http',
      caller: 'ops',
      ip: expect.stringMatching(/127\.0\.0\.1$/),
      verified: true,
      via: { account: 'GATEWAY', user: 'gateway', host: '127.0.0.1', clientName: 's1c-gateway' },
    });
    expect(entries[1]!.changes).toEqual([
      { path: 'category', from: 'sec/s1', to: 'sec/eu' },
      { path: 'api_secret', from: '********', to: '********', masked: true },
    ]);
    expect(entries[2]!.actor).toMatchObject({ kind: 'nats', account: 'OPERATORS', user: 'mallory' });
    expect(entries[2]!.changes).toEqual([{ path: 'category', from: 'sec/eu', to: 'sec/forged' }]);
    expect(entries[3]!).toMatchObject({ actor: { kind: 'nats', user: 'bob' }, changes: [{ path: 'state', from: 'Pending', to: 'Stopping' }] });
    for (const entry of entries) {
      expect(Date.parse(entry.at)).toBeGreaterThan(Date.now() - 120_000);
      expect(entry.correlationId).toEqual(expect.any(String));
    }
    expect(entries[1]!.correlationId).toBe(put.headers.get('x-request-id'));
    expect(await registry.waitForLog((text) => text.includes('a NATS user that is not a trusted gateway sent S1c-On-Behalf-Of'))).toContain('S1c-On-Behalf-Of');

    // And no token, nor any of its ciphertext, is in the reply
    const text = JSON.stringify(history);
    const stored = await registry.db.collection('events').find({ streamId: `source-${id}` }).toArray();
    const ciphertexts = stored.flatMap((e) => (e.data?.secret ? [e.data.secret.ct, e.data.secret.iv, e.data.secret.tag] : []));
    expect(ciphertexts).toHaveLength(6);
    for (const secret of [...SOURCE_TOKENS, ...ciphertexts]) expect(text).not.toContain(secret);
  });

  it('refuses a missing, wrong or expired token (401) and sends nothing to the registry', async () => {
    // Each request carries its own id, which the registry logs as the correlation id of any command
    // it handles: counting lines instead would race a late line from the test before.
    const list = '/api/v1/collectors/default/sources';
    const id = (name: string) => ({ 'X-Request-Id': `audit-401-${name}-${Date.now()}` });
    const [missingId, wrongId, expiredId, okId] = [id('missing'), id('wrong'), id('expired'), id('ok')];
    const missing = await gw.request('GET', list, { token: null, headers: missingId });
    const wrong = await gw.request('GET', list, { token: 'not-a-token-anyone-has', headers: wrongId });
    const expired = await gw.request('POST', list, { token: EXPIRED_TOKEN, body: sampleSourceDocument({ name: 'Too late' }), headers: expiredId });
    expect([missing.status, wrong.status, expired.status]).toEqual([401, 401, 401]);
    expect([missing.body.id, wrong.body.id, expired.body.id]).toEqual([missingId['X-Request-Id'], wrongId['X-Request-Id'], expiredId['X-Request-Id']]);
    expect(expired.body.message).toBe('the bearer token has expired');
    expect(wrong.body.message).toBe('the bearer token is not valid');
    // A request that got through reaches it, so the search below is not blind.
    expect((await gw.request('GET', list, { token: OPS_TOKEN, headers: okId })).status).toBe(200);
    await registry.waitForLog((text) => text.includes(`"correlationId":"${okId['X-Request-Id']}"`));
    await new Promise((resolve) => setTimeout(resolve, 200)); // a line from the refused three would come as soon
    for (const refused of [missingId, wrongId, expiredId]) expect(registry.logText()).not.toContain(refused['X-Request-Id']);
    expect(gw.logText() + gw.responseText()).not.toContain(OPS_TOKEN);
    expect(gw.logText() + gw.responseText()).not.toContain(EXPIRED_TOKEN);
  });
});
