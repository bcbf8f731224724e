import { startSimulator, type RunningSimulator } from '@s1c/s1-simulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sourceDocument, startRegistryUnderTest, type RegistryUnderTest } from './testing/registry.harness';

let registry: RegistryUnderTest;
let simulator: RunningSimulator;
const FULL = 'tok-full-access-7f3a9c1e';
const SCOPED = 'tok-activities-only-2b8d4e6f';

beforeAll(async () => {
  simulator = await startSimulator({
    activities: 50,
    agents: 5,
    threats: 5,
    tokens: [
      { token: FULL, label: 'full' },
      { token: SCOPED, label: 'scoped', apis: ['activities'] },
    ],
  });
  registry = await startRegistryUnderTest({ allowInsecureBaseUrl: true });
});
afterAll(async () => {
  await registry?.close();
  await simulator?.close();
});

function document(token: string, baseUrl = simulator.url) {
  return sourceDocument({ api_secret: token, base_url: baseUrl });
}

describe('s1c.cmd.source.test', () => {
  it('when the token can read everything, then every API is readable, the expiry is shown, and nothing is stored', async () => {
    const before = await registry.eventCount();
    const reply = await registry.send('test', document(FULL));
    expect(reply).toMatchObject({
      ok: true,
      reachable: true,
      authenticated: true,
      apis: { activities: { readable: true }, agents: { readable: true }, threats: { readable: true } },
      problems: [],
    });
    expect(typeof reply.tokenExpiresAt).toBe('string');
    expect(await registry.eventCount()).toBe(before);
  });

  it('when the token can read only activities, then the others say why', async () => {
    const reply = await registry.send('test', document(SCOPED));
    expect(reply.apis).toMatchObject({ activities: { readable: true }, agents: { readable: false, reason: 'Forbidden' }, threats: { readable: false } });
    expect(reply.problems.map((p: { api?: string }) => p.api)).toEqual(expect.arrayContaining(['agents', 'threats']));
  });

  it('when the token is unknown, then it is reachable but not authenticated, with what to do', async () => {
    const reply = await registry.send('test', document('tok-nobody-knows-this-one'));
    expect(reply).toMatchObject({ ok: true, reachable: true, authenticated: false, problems: [{ errorType: 'ThirdPartyConfig', reason: 'Unauthorized' }] });
  });

  it('when nothing listens at base_url, then it is unreachable', async () => {
    const reply = await registry.send('test', document(FULL, 'http://127.0.0.1:9/'));
    expect(reply).toMatchObject({ ok: true, reachable: false, authenticated: false });
    expect(reply.problems[0].errorType).toBe('ThirdPartyGeneric');
  });

  it('when given the id of a stored source, then it tests that source with its stored token', async () => {
    const created = await registry.send('create', document(FULL));
    expect(created.ok).toBe(true);
    const reply = await registry.send('test', { id: created.source.id });
    expect(reply).toMatchObject({ ok: true, authenticated: true });
    expect(await registry.send('test', { id: 'no-such-source' })).toMatchObject({ ok: false, error: { code: 'SourceNotFound' } });
  });

  it('when the document is invalid, then it is refused like a create', async () => {
    expect(await registry.send('test', sourceDocument({ base_url: 'ftp://x/' }))).toMatchObject({ ok: false, error: { code: 'ValidationError' } });
  });

  it('never shows the tokens in replies or logs', () => {
    for (const token of [FULL, SCOPED]) {
      expect(registry.replyText()).not.toContain(token);
      expect(registry.logText()).not.toContain(token);
    }
  });
});
