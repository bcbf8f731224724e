import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SystemUnderTest, type Json } from './system.harness';

/**
 * Issue 8, bad input at the edges (commands): 50 malformed commands to the registry process, each
 * answered with a structured error, and nothing stored. The registry runs as in production
 * (S1C_ALLOW_INSECURE_BASE_URL=false), so the SSRF rules apply.
 */

const valid = () => ({
  'api.version': 'v1',
  source: {
    config: {
      name: 'Edge',
      description: null,
      category: 'sec/s1',
      fields: { _siemForward: true, team: 'soc' },
      base_url: 'https://usea1-partners.sentinelone.net/',
      api_secret: 'edge-secret-token-value',
      supported_apis: ['activities', 'agents', 'threats'],
    },
    schemaRef: { type: 'SentinelOne Mgmt API' },
    sourceType: 'Universal',
  },
});

/** The valid document with `change` applied to its `config` (a key set to undefined is removed). */
function withConfig(change: Record<string, unknown>): string {
  const doc = valid() as Json;
  Object.assign(doc.source.config, change);
  for (const [key, value] of Object.entries(change)) if (value === undefined) delete doc.source.config[key];
  return JSON.stringify(doc);
}
function withSource(change: Record<string, unknown>): string {
  const doc = valid() as Json;
  Object.assign(doc.source, change);
  for (const [key, value] of Object.entries(change)) if (value === undefined) delete doc.source[key];
  return JSON.stringify(doc);
}
/** The valid document as text with one literal replacement (for keys JSON.stringify cannot write, like __proto__). */
const replaced = (from: string, to: string) => JSON.stringify(valid()).replace(from, to);
const bytes = (...parts: Array<string | number[]>) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));

/** The text around `marker`, with `inserted` bytes in its place. */
function splitAt(text: string, marker: string, inserted: number[]): [string, number[], string] {
  const at = text.indexOf(marker);
  return [text.slice(0, at), inserted, text.slice(at + marker.length)];
}

type Case = readonly [name: string, op: string, payload: string | Buffer];

const CASES: Case[] = [
  ['not JSON', 'create', 'this is not json'],
  ['empty body', 'create', ''],
  ['truncated JSON', 'create', JSON.stringify(valid()).slice(0, 120)],
  ['invalid UTF-8', 'create', bytes('{"api.version":"v1","source":{"config":{"name":"', [0xff, 0xfe, 0xc3], '"}}}')],
  ['invalid UTF-8 in the token', 'create', bytes(...splitAt(JSON.stringify(valid()), 'edge-secret-token-value', [0xed, 0xa0, 0x80]))],
  ['oversized (300 KiB)', 'create', withConfig({ description: 'x'.repeat(300 * 1024) })],
  ['deep nesting (100,000 arrays)', 'create', '['.repeat(100_000) + ']'.repeat(100_000)],
  ['deep nesting inside fields', 'create', withConfig({ fields: JSON.parse('{"a":'.repeat(200) + '1' + '}'.repeat(200)) as unknown })],
  ['a JSON array', 'create', '[]'],
  ['JSON null', 'create', 'null'],
  ['a JSON number', 'create', '42'],
  ['a JSON string', 'create', '"create me"'],
  ['missing source', 'create', JSON.stringify({ 'api.version': 'v1' })],
  ['missing config', 'create', withSource({ config: undefined })],
  ['missing name', 'create', withConfig({ name: undefined })],
  ['name of the wrong type', 'create', withConfig({ name: 42 })],
  ['empty name', 'create', withConfig({ name: '' })],
  ['control character in the name', 'create', withConfig({ name: 'bad\u0000name' })],
  ['bidi override in the name', 'create', withConfig({ name: 'evil\u202egnp.exe' })],
  ['lone surrogate in the name', 'create', replaced('"Edge"', '"Ed\\ud800ge"')],
  ['control character in the description', 'create', withConfig({ description: 'ring\u0007bell' })],
  ['category of the wrong type', 'create', withConfig({ category: ['sec'] })],
  ['missing base_url', 'create', withConfig({ base_url: undefined })],
  ['base_url not a URL', 'create', withConfig({ base_url: 'not a url' })],
  ['base_url http', 'create', withConfig({ base_url: 'http://usea1-partners.sentinelone.net/' })],
  ['base_url file:', 'create', withConfig({ base_url: 'file:///etc/passwd' })],
  ['SSRF: loopback', 'create', withConfig({ base_url: 'https://127.0.0.1/' })],
  ['SSRF: localhost', 'create', withConfig({ base_url: 'https://localhost:8443/' })],
  ['SSRF: IPv6 loopback', 'create', withConfig({ base_url: 'https://[::1]/' })],
  ['SSRF: cloud metadata', 'create', withConfig({ base_url: 'https://169.254.169.254/' })],
  ['SSRF: private network', 'create', withConfig({ base_url: 'https://10.0.0.7/' })],
  ['SSRF: IPv4-mapped IPv6', 'create', withConfig({ base_url: 'https://[::ffff:127.0.0.1]/' })],
  ['base_url with user info', 'create', withConfig({ base_url: 'https://user:pass@usea1-partners.sentinelone.net/' })],
  ['base_url with a query', 'create', withConfig({ base_url: 'https://usea1-partners.sentinelone.net/?x=1' })],
  ['missing api_secret', 'create', withConfig({ api_secret: undefined })],
  ['api_secret of the wrong type', 'create', withConfig({ api_secret: 12345 })],
  ['empty supported_apis', 'create', withConfig({ supported_apis: [] })],
  ['unknown API', 'create', withConfig({ supported_apis: ['activities', 'events'] })],
  ['repeated API', 'create', withConfig({ supported_apis: ['threats', 'threats'] })],
  ['supported_apis a string', 'create', withConfig({ supported_apis: 'activities' })],
  ['unknown top-level key', 'create', JSON.stringify({ ...valid(), extra: true })],
  ['unknown config key', 'create', withConfig({ api_key: 'x' })],
  ['prototype pollution: top-level __proto__', 'create', JSON.stringify(valid()).replace('{', '{"__proto__":{"polluted":true},')],
  ['prototype pollution: __proto__ in fields', 'create', replaced('"team":"soc"', '"__proto__":{"isAdmin":true}')],
  ['prototype pollution: constructor.prototype in config', 'create', replaced('"name":"Edge"', '"constructor":{"prototype":{"polluted":true}},"name":"Edge"')],
  ['fields taking over _source', 'create', withConfig({ fields: { _source: 'spoofed' } })],
  ['_siemForward not a boolean', 'create', withConfig({ fields: { _siemForward: 'yes' } })],
  ['wrong schemaRef.type', 'create', withSource({ schemaRef: { type: 'Okta' } })],
  ['wrong sourceType', 'create', withSource({ sourceType: 'Hosted' })],
  ['unknown api.version', 'create', JSON.stringify({ ...valid(), 'api.version': 'v9' })],
  ['collectorId with an operator', 'create', JSON.stringify({ ...valid(), collectorId: { $ne: null } })],
  ['get: id of the wrong type', 'get', JSON.stringify({ id: { $gt: '' } })],
  ['delete: missing id', 'delete', '{}'],
  ['update: id with an operator', 'update', JSON.stringify({ ...valid(), id: { $regex: '.*' } })],
  ['list: limit out of range', 'list', JSON.stringify({ limit: 5000 })],
  ['replay: bad window', 'replay', JSON.stringify({ id: '00000000-0000-4000-8000-000000000000', api: 'activities', from: 'yesterday', to: 'today' })],
];

let system: SystemUnderTest;

beforeAll(async () => {
  system = await SystemUnderTest.start({ S1C_ALLOW_INSECURE_BASE_URL: 'false' }, { services: ['registry'] });
}, 120_000);

afterAll(async () => {
  await system?.close();
});

describe('malformed commands', () => {
  it('has at least 50 of them', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(50);
  });

  it('each gets a structured error naming the problem, the registry keeps running, and nothing is stored', async () => {
    const eventsBefore = await system.db.collection('events').countDocuments();
    const answers: Array<[string, string, string]> = [];
    for (const [name, op, payload] of CASES) {
      const reply = await system.nc.request(`s1c.cmd.source.${op}`, payload, { timeout: 15_000 });
      const text = new TextDecoder().decode(reply.data);
      let answer: Json;
      try {
        answer = JSON.parse(text) as Json;
      } catch {
        throw new Error(`${name}: the reply is not JSON: ${text.slice(0, 200)}`);
      }
      expect(answer.ok, `${name}: ${text.slice(0, 300)}`).toBe(false);
      expect(typeof answer.error?.code, name).toBe('string');
      expect(answer.error.code, `${name}: ${text.slice(0, 300)}`).not.toBe('InternalError');
      expect(typeof answer.error.message, name).toBe('string');
      expect(answer.error.message.length, name).toBeGreaterThan(0);
      // Clear, not a dump: no stack trace, no echo of a 300 KiB payload.
      expect(text, name).not.toMatch(/\n\s+at /);
      expect(text.length, name).toBeLessThan(8192);
      answers.push([name, answer.error.code as string, (answer.error.details?.[0]?.path as string | undefined) ?? '']);
    }
    console.log(`faults.commands: ${answers.map((a) => a.join(' → ')).join('\n  ')}`);
    expect(system.alive()).toEqual(['registry']);
    expect(await system.db.collection('events').countDocuments()).toBe(eventsBefore);
    expect((await system.command('list', {})).sources ?? (await system.command('list', {})).items).toEqual([]);
  }, 120_000);

  it('the secret of a refused command appears in no reply or log line', () => {
    expect(system.output()).not.toContain('edge-secret-token-value');
  });

  it('a valid command still works afterwards (nothing was polluted)', async () => {
    const reply = await system.command('create', valid());
    expect(reply.ok, JSON.stringify(reply)).toBe(true);
    expect(reply.source.config).not.toHaveProperty('polluted');
    expect(reply.source.config.fields).toEqual({ _siemForward: true, team: 'soc' });
    expect(await system.command('get', { id: reply.source.id })).toMatchObject({ ok: true });
  });
});
