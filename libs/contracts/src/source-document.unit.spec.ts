import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sampleSourceDocument } from './testing';
import { isNonPublicAddress, isNonPublicHost } from './address-policy';
import { normalizeBaseUrl } from './base-url';
import { CommandError } from './command-error';
import { MAX_COMMAND_BYTES, parseCommand } from './payload';
import { sourceDocumentSchema } from './replies';
import { sourceOptionsDocument } from '@s1c/domain';
import {
  createSourceCommandSchema,
  newSecretOf,
  sourceRefCommandSchema,
  toSourceConfig,
  updateSourceCommandSchema,
} from './source-document.schema';

const strict = { allowInsecure: false };
const create = createSourceCommandSchema(strict);

const doc = sampleSourceDocument;

const bytes = (value: unknown) => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));

function refusal(run: () => unknown): CommandError {
  try {
    run();
  } catch (error) {
    if (error instanceof CommandError) return error;
    throw error;
  }
  throw new Error('expected a CommandError');
}

describe('create command', () => {
  it('accepts examples/source.json, the document README tells people to copy', () => {
    const example = readFileSync(join(__dirname, '..', '..', '..', 'examples', 'source.json'));
    const parsed = parseCommand(create, example);
    expect(parsed.source.config).toMatchObject({ name: 'SentinelOne', api_secret: 'REPLACE-WITH-YOUR-API-TOKEN', supported_apis: ['activities', 'agents', 'threats'] });
  });

  it('accepts the hosted product document exactly as people write it', () => {
    const parsed = parseCommand(create, bytes(doc()));
    expect(toSourceConfig(parsed.source.config)).toEqual({
      name: 'SentinelOne',
      description: null,
      category: 'sec/s1',
      fields: [
        { key: '_siemForward', value: true },
        { key: 'team', value: 'soc' },
      ],
      baseUrl: 'https://usea1-partners.sentinelone.net/',
      supportedApis: ['activities', 'agents', 'threats'],
    });
    expect(newSecretOf(parsed.source.config)).toBe('tok-default-0123456789');
  });

  it('keeps field names that a document database could not take as keys, in order', () => {
    const parsed = parseCommand(create, bytes(doc({ fields: { 'team.name': 'soc', $x: 1, 'ünï': null } })));
    expect(parsed.source.config.fields).toEqual([
      { key: 'team.name', value: 'soc' },
      { key: '$x', value: 1 },
      { key: 'ünï', value: null },
    ]);
  });

  it('accepts the API prefix in base_url and normalises the URL', () => {
    const parsed = parseCommand(create, bytes(doc({ base_url: 'HTTPS://USEA1-Partners.SentinelOne.net:443/web/api/v2.1/' })));
    expect(parsed.source.config.base_url).toBe('https://usea1-partners.sentinelone.net/');
  });

  const BAD: Array<[string, unknown, string, string]> = [
    ['missing name', doc({ name: undefined }), 'ValidationError', 'source.config.name'],
    ['empty name', doc({ name: '' }), 'ValidationError', 'source.config.name'],
    ['name with control characters', doc({ name: 'S1\u0000x' }), 'ValidationError', 'source.config.name'],
    ['name with a bidi override', doc({ name: 'S1\u202Egnp.exe' }), 'ValidationError', 'source.config.name'],
    ['name with a lone surrogate', doc({ name: 'S1\ud800' }), 'ValidationError', 'source.config.name'],
    ['name too long', doc({ name: 'x'.repeat(129) }), 'ValidationError', 'source.config.name'],
    ['wrong schemaRef', doc({}, {}, { schemaRef: { type: 'Okta' } }), 'InvalidSourceType', 'source.schemaRef.type'],
    ['sourceType not Universal', doc({}, {}, { sourceType: 'HTTP' }), 'InvalidSourceType', 'source.sourceType'],
    ['empty supported_apis', doc({ supported_apis: [] }), 'ValidationError', 'source.config.supported_apis'],
    ['unknown api', doc({ supported_apis: ['applications'] }), 'ValidationError', 'source.config.supported_apis[0]'],
    ['repeated api', doc({ supported_apis: ['agents', 'agents'] }), 'ValidationError', 'source.config.supported_apis[1]'],
    ['http URL', doc({ base_url: 'http://usea1-partners.sentinelone.net/' }), 'ValidationError', 'source.config.base_url'],
    ['URL with credentials', doc({ base_url: 'https://u:p@usea1.sentinelone.net/' }), 'ValidationError', 'source.config.base_url'],
    ['URL with a path', doc({ base_url: 'https://usea1.sentinelone.net/other' }), 'ValidationError', 'source.config.base_url'],
    ['URL with a query', doc({ base_url: 'https://usea1.sentinelone.net/?a=1' }), 'ValidationError', 'source.config.base_url'],
    ['loopback URL', doc({ base_url: 'https://127.0.0.1/' }), 'ValidationError', 'source.config.base_url'],
    ['metadata address', doc({ base_url: 'https://169.254.169.254/' }), 'ValidationError', 'source.config.base_url'],
    ['file: URL', doc({ base_url: 'file:///etc/passwd' }), 'ValidationError', 'source.config.base_url'],
    ['not a URL', doc({ base_url: 'sentinelone' }), 'ValidationError', 'source.config.base_url'],
    ['empty api_secret', doc({ api_secret: '' }), 'ValidationError', 'source.config.api_secret'],
    ['api_secret with spaces', doc({ api_secret: 'a b' }), 'ValidationError', 'source.config.api_secret'],
    ['wrong type of name', doc({ name: 42 }), 'ValidationError', 'source.config.name'],
    ['wrong type of fields', doc({ fields: ['a'] }), 'ValidationError', 'source.config.fields'],
    ['_siemForward not boolean', doc({ fields: { _siemForward: 'yes' } }), 'ValidationError', 'source.config.fields._siemForward'],
    ['reserved field', doc({ fields: { _source: 'x' } }), 'ValidationError', 'source.config.fields._source'],
    ['object field value', doc({ fields: { team: { a: 1 } } }), 'ValidationError', 'source.config.fields.team'],
    ['unknown key in config', doc({ colour: 'red' }), 'ValidationError', 'source.config.colour'],
    ['read-only key in config', doc({ state: { state: 'Collecting' } }), 'ValidationError', 'source.config.state'],
    ['state that is not an object', doc({}, {}, { state: 'Collecting' }), 'ValidationError', 'source.state'],
    ['state that is an array', doc({}, {}, { state: [{ state: 'Collecting' }] }), 'ValidationError', 'source.state'],
    ['oversized state', doc({}, {}, { state: { state: 'Collecting', reason: 'x'.repeat(9000) } }), 'ValidationError', 'source.state'],
    ['id that is an object', doc({}, {}, { id: { $ne: null } }), 'ValidationError', 'source.id'],
    ['oversized id', doc({}, {}, { id: 'x'.repeat(129) }), 'ValidationError', 'source.id'],
    ['timestamp that is not a string', doc({}, {}, { createdAt: { $gt: '' } }), 'ValidationError', 'source.createdAt'],
    ['oversized timestamp', doc({}, {}, { modifiedAt: '2'.repeat(65) }), 'ValidationError', 'source.modifiedAt'],
    ['timestamp with control characters', doc({}, {}, { updatedAt: '2026-11-27\u001b[31m' }), 'ValidationError', 'source.updatedAt'],
    ['negative version', doc({}, { version: -1 }), 'ValidationError', 'version'],
    ['unknown key at top level', doc({}, { extra: true }), 'ValidationError', 'extra'],
    ['wrong api.version', doc({}, { 'api.version': 'v2' }), 'ValidationError', '"api.version"'],
    ['bad collector id', doc({}, { collectorId: 'a b' }), 'ValidationError', 'collectorId'],
    ['missing source', { 'api.version': 'v1' }, 'ValidationError', 'source'],
  ];

  it.each(BAD.map(([label, value, code, path]) => [label, code, path, value] as const))('refuses %s with %s naming %s', (_label, code, path, value) => {
    const error = refusal(() => parseCommand(create, bytes(value)));
    expect(error.code).toBe(code);
    expect(error.details?.map((d) => d.path)).toContain(path);
  });

  /** The hosted product's own example, verbatim but for a made-up token. */
  const HOSTED_EXAMPLE =
    '{"api.version":"v1","source":{"schemaRef":{"type":"SentinelOne Mgmt API"},"config":{"name":"SentinelOne Mgmt API","description":"SentinelOne mgmt api source","category":"sentinelone","fields":{"_siemForward":false},"base_url":"https://usea1-partners.sentinelone.net/","api_secret":"s1-made-up-token-0123456789","supported_apis":["activities","agents","threats"]},"state":{"state":"Collecting"},"sourceType":"Universal"}}';

  it('accepts the hosted product example verbatim and drops its read-only state', () => {
    const parsed = parseCommand(create, bytes(HOSTED_EXAMPLE));
    expect(parsed).toEqual({
      'api.version': 'v1',
      source: {
        config: {
          name: 'SentinelOne Mgmt API',
          description: 'SentinelOne mgmt api source',
          category: 'sentinelone',
          fields: [{ key: '_siemForward', value: false }],
          base_url: 'https://usea1-partners.sentinelone.net/',
          api_secret: 's1-made-up-token-0123456789',
          supported_apis: ['activities', 'agents', 'threats'],
        },
        schemaRef: { type: 'SentinelOne Mgmt API' },
        sourceType: 'Universal',
      },
    });
    expect(parsed.source).not.toHaveProperty('state');
  });

  it('accepts every read-only part a read-back carries, in any of its shapes, and keeps none of them', () => {
    for (const readOnly of [
      { id: '0000000000ABCDEF', state: { state: 'Error', reason: 'Unauthorized', since: '2026-11-27T10:00:00Z' }, createdAt: '2026-11-27T10:00:00Z', modifiedAt: '2026-11-28T10:00:00Z' },
      { id: 123456789, state: { state: 'Collecting' }, updatedAt: '2026-11-28T10:00:00.123Z' },
      { state: {} },
    ]) {
      const parsed = parseCommand(create, bytes(doc({}, { version: 7 }, readOnly)));
      expect(Object.keys(parsed).sort()).toEqual(['api.version', 'source']);
      expect(Object.keys(parsed.source).sort()).toEqual(['config', 'schemaRef', 'sourceType']);
      expect(newSecretOf(parsed.source.config)).toBe('tok-default-0123456789');
    }
  });

  it('accepts a document read back from this system (a get reply without ok) once the real token is put back', () => {
    const readBack = sourceDocumentSchema.parse({
      'api.version': 'v1',
      collectorId: 'eu',
      version: 4,
      source: {
        id: 'src_01',
        config: {
          name: 'SentinelOne',
          description: null,
          category: 'sec/s1',
          fields: { _siemForward: true, team: 'soc' },
          base_url: 'https://usea1-partners.sentinelone.net/',
          api_secret: '********',
          supported_apis: ['activities', 'agents'],
        },
        schemaRef: { type: 'SentinelOne Mgmt API' },
        sourceType: 'Universal',
        state: {
          state: 'Error',
          since: '2026-11-27T10:00:00.000000Z',
          error: { errorType: 'ThirdPartyConfig', eventName: 'ThirdPartyConfigError', reason: 'Unauthorized: '.padEnd(500, 'x') },
        },
        createdAt: '2026-11-27T09:00:00.000000Z',
        updatedAt: '2026-11-27T10:00:00.000000Z',
      },
    });
    const masked = refusal(() => parseCommand(create, bytes(readBack)));
    expect(masked.details).toEqual([
      { path: 'source.config.api_secret', message: 'is the mask `********` that replies show: create needs the real API token' },
    ]);
    readBack.source.config.api_secret = 'real-token-0123456789' as never;
    const parsed = parseCommand(create, bytes(readBack));
    expect(parsed).toEqual({ 'api.version': 'v1', collectorId: 'eu', source: { config: expect.any(Object), schemaRef: readBack.source.schemaRef, sourceType: 'Universal' } });
    expect(toSourceConfig(parsed.source.config)).toMatchObject({ name: 'SentinelOne', supportedApis: ['activities', 'agents'] });
    expect(newSecretOf(parsed.source.config)).toBe('real-token-0123456789');
  });

  it('still refuses a key that is not a read-only part of the hosted document, with the same error', () => {
    const error = refusal(() => parseCommand(create, bytes(doc({}, {}, { state: { state: 'Collecting' }, alive: true }))));
    expect(error.code).toBe('ValidationError');
    expect(error.message).toBe('invalid request: source.alive is not a known field');
    expect(error.details).toEqual([{ path: 'source.alive', message: 'is not a known field' }]);
  });

  it('refuses the mask as api_secret, saying that create needs the real token', () => {
    const error = refusal(() => parseCommand(create, bytes(doc({ api_secret: '********' }))));
    expect(error.code).toBe('ValidationError');
    expect(error.details).toEqual([
      { path: 'source.config.api_secret', message: 'is the mask `********` that replies show: create needs the real API token' },
    ]);
    expect(error.message).toBe('invalid request: source.config.api_secret is the mask `********` that replies show: create needs the real API token');
  });

  it('refuses prototype-pollution keys inside the read-only state, and pollutes nothing', () => {
    const text = JSON.stringify(doc({}, {}, { state: {} })).replace('"state":{}', '"state":{"state":"Collecting","__proto__":{"polluted":true},"error":{"constructor":{"prototype":{"polluted":true}}}}');
    const error = refusal(() => parseCommand(create, bytes(text)));
    expect(error.details?.map((d) => d.path).sort()).toEqual(['source.state.__proto__', 'source.state.error.constructor']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses prototype-pollution keys in fields and in the document, and pollutes nothing', () => {
    const polluted = '{"source":{"config":{"name":"a","base_url":"https://x.sentinelone.net/","api_secret":"tok123","supported_apis":["agents"],"fields":{"__proto__":{"polluted":true},"constructor":1}},"schemaRef":{"type":"SentinelOne Mgmt API"},"sourceType":"Universal"}}';
    const error = refusal(() => parseCommand(create, bytes(polluted)));
    expect(error.details?.map((d) => d.path)).toEqual(['source.config.fields.__proto__', 'source.config.fields.constructor']);
    const top = refusal(() => parseCommand(create, bytes('{"__proto__":{"polluted":true},"source":{}}')));
    expect(top.details?.map((d) => d.path)).toContain('__proto__');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('reports every bad field at once', () => {
    const error = refusal(() => parseCommand(create, bytes(doc({ name: '', supported_apis: [], base_url: 'http://x/' }))));
    expect(error.details?.map((d) => d.path).sort()).toEqual(['source.config.base_url', 'source.config.name', 'source.config.supported_apis']);
  });

  it.each([
    ['non-JSON', 'this is not json', 'InvalidJson'],
    ['a JSON array', '[1,2]', 'ValidationError'],
    ['invalid UTF-8', new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), 'InvalidJson'],
    ['an oversized payload', JSON.stringify({ pad: 'x'.repeat(MAX_COMMAND_BYTES) }), 'PayloadTooLarge'],
    ['deeply nested JSON', `${'['.repeat(100)}${']'.repeat(100)}`, 'InvalidJson'],
  ])('refuses %s as %s', (_label, raw, code) => {
    const payload = raw instanceof Uint8Array ? raw : bytes(raw);
    expect(refusal(() => parseCommand(create, payload)).code).toBe(code);
  });
});

describe('update command', () => {
  const update = updateSourceCommandSchema(strict);

  it('treats a masked or omitted secret as "keep the stored one"', () => {
    expect(newSecretOf(parseCommand(update, bytes(doc({ api_secret: '********' }, { id: 's1' }))).source.config)).toBeUndefined();
    expect(newSecretOf(parseCommand(update, bytes(doc({ api_secret: undefined }, { id: 's1' }))).source.config)).toBeUndefined();
    expect(newSecretOf(parseCommand(update, bytes(doc({ api_secret: 'new-token' }, { id: 's1' }))).source.config)).toBe('new-token');
  });

  it('accepts a document read back from a reply (with id and state)', () => {
    const parsed = parseCommand(update, bytes(doc({ api_secret: '********' }, {}, { id: 's1', state: { state: 'Collecting' } })));
    expect(parsed.source.id).toBe('s1');
  });

  it('accepts the read-only parts like create does, keeps only the id, and still refuses unknown keys', () => {
    const readOnly = { id: 's1', state: { state: 'Collecting', since: '2026-11-27T10:00:00Z' }, createdAt: '2026-11-27T10:00:00Z', modifiedAt: 'x', updatedAt: 'y' };
    const parsed = parseCommand(update, bytes(doc({ api_secret: '********' }, { version: 3 }, readOnly)));
    expect(Object.keys(parsed.source).sort()).toEqual(['config', 'id', 'schemaRef', 'sourceType']);
    expect(parsed.version).toBe(3);
    expect(refusal(() => parseCommand(update, bytes(doc({}, { id: 's1' }, { state: 'Collecting' })))).details?.map((d) => d.path)).toEqual(['source.state']);
    expect(refusal(() => parseCommand(update, bytes(doc({}, { id: 's1' }, { alive: true })))).details).toEqual([{ path: 'source.alive', message: 'is not a known field' }]);
  });
});

describe('source reference', () => {
  it('needs an id', () => {
    expect(refusal(() => parseCommand(sourceRefCommandSchema, bytes({}))).details).toEqual([{ path: 'id', message: 'is required' }]);
  });
});

describe('base URL policy', () => {
  it('allows http and loopback only when insecure URLs are allowed', () => {
    expect(normalizeBaseUrl('http://127.0.0.1:8088', { allowInsecure: true })).toEqual({ ok: true, value: 'http://127.0.0.1:8088/' });
    expect(normalizeBaseUrl('http://127.0.0.1:8088', { allowInsecure: false }).ok).toBe(false);
  });

  it.each(['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '[::1]'])(
    'treats %s as non-public',
    (address) => expect(isNonPublicAddress(address)).toBe(true),
  );

  it.each(['8.8.8.8', '52.1.2.3', '2606:4700::1111'])('treats %s as public', (address) => expect(isNonPublicAddress(address)).toBe(false));

  it('treats local host names as non-public before any lookup', () => {
    expect(isNonPublicHost('localhost')).toBe(true);
    expect(isNonPublicHost('api.localhost')).toBe(true);
    expect(isNonPublicHost('metadata.google.internal')).toBe(true);
    expect(isNonPublicHost('usea1-partners.sentinelone.net')).toBe(false);
  });

  it('sees through numeric shorthand for loopback', () => {
    expect(normalizeBaseUrl('https://0x7f.1/', { allowInsecure: false }).ok).toBe(false);
    expect(normalizeBaseUrl('https://2130706433/', { allowInsecure: false }).ok).toBe(false);
  });
});

describe('config.options (our extension)', () => {
  const FULL = {
    poll_interval: '1m',
    backfill: '7d',
    scope: { account_ids: ['1'], site_ids: ['22', '23'], group_ids: ['333'] },
    requests_per_second: 2.5,
    apis: { agents: { poll_interval: '15m' }, threats: { backfill: '30d' } },
  };
  const configOf = (options: unknown) => toSourceConfig(parseCommand(create, bytes(doc({ options }))).source.config);

  it('is parsed into the domain options (durations in ms), and shown back as it was sent', () => {
    const config = configOf(FULL);
    expect(config.options).toEqual({
      pollIntervalMs: 60_000,
      backfillMs: 7 * 86_400_000,
      scope: { accountIds: ['1'], siteIds: ['22', '23'], groupIds: ['333'] },
      requestsPerSecond: 2.5,
      apis: { agents: { pollIntervalMs: 900_000 }, threats: { backfillMs: 30 * 86_400_000 } },
    });
    expect(sourceOptionsDocument(config.options!)).toEqual(FULL);
    // A read-back sent again parses to the same options.
    expect(configOf(sourceOptionsDocument(config.options!)).options).toEqual(config.options);
  });

  it('is no options when left out or empty', () => {
    expect(configOf(undefined)).not.toHaveProperty('options');
    expect(configOf({})).not.toHaveProperty('options');
    expect(configOf({ scope: {}, apis: { activities: {} } })).not.toHaveProperty('options');
  });

  it.each([
    ['an unknown key', { polling: '5m' }, 'options.polling'],
    ['an unknown API', { apis: { applications: { poll_interval: '5m' } } }, 'options.apis.applications'],
    ['a backfill for the agent inventory', { apis: { agents: { backfill: '7d' } } }, 'options.apis.agents.backfill'],
    ['a duration without a unit', { poll_interval: '300' }, 'options.poll_interval'],
    ['a poll interval under 30 s', { poll_interval: '10s' }, 'options.poll_interval'],
    ['a backfill over a year', { backfill: '400d' }, 'options.backfill'],
    ['an id that is not digits', { scope: { site_ids: ['abc'] } }, 'options.scope.site_ids[0]'],
    ['an id listed twice', { scope: { group_ids: ['1', '1'] } }, 'options.scope.group_ids[1]'],
    ['an empty id list', { scope: { account_ids: [] } }, 'options.scope.account_ids'],
    ['a request budget over 100', { requests_per_second: 500 }, 'options.requests_per_second'],
    ['a request budget as text', { requests_per_second: '5' }, 'options.requests_per_second'],
  ])('refuses %s, naming the field', (_what, options, path) => {
    const error = refusal(() => parseCommand(create, bytes(doc({ options }))));
    expect(error.details?.map((d) => d.path)).toContain(`source.config.${path}`);
  });

  it('is shown in replies by the reply schema', () => {
    const reply = sourceDocumentSchema.shape.source.shape.config.parse({
      name: 'n', description: null, category: null, fields: {}, base_url: 'https://a.sentinelone.net/', api_secret: '********', supported_apis: ['threats'], options: FULL,
    });
    expect(reply.options).toEqual(FULL);
  });
});
