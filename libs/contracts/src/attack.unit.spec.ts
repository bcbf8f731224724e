import { describe, expect, it } from 'vitest';
import { isAllowedConsoleAddress, isNonPublicAddress, isNonPublicHost, isPrivateNetworkAddress } from './address-policy';
import { isPrivateConsole, normalizeBaseUrl, privateConsoleKey } from './base-url';
import { CommandError } from './command-error';
import { parseCommand } from './payload';
import { listSourcesCommandSchema } from './replies';
import { createSourceCommandSchema, replaySourceCommandSchema, sourceRefCommandSchema, updateSourceCommandSchema } from './source-document.schema';
import { sampleSourceDocument } from './testing';

/**
 * Issue 9, the attacker's suite at the command boundary: every way we know of to point base_url
 * at something inside our network, prototype-pollution keys at every depth, and text that renders
 * differently from what it contains. The registry's and the client's tests check the same rules
 * where they bite (before storing, and at connect time).
 */

const strict = { allowInsecure: false };
const create = createSourceCommandSchema(strict);
const update = updateSourceCommandSchema(strict);
const bytes = (text: string) => new TextEncoder().encode(text);

function refusal(run: () => unknown): CommandError {
  try {
    run();
  } catch (error) {
    if (error instanceof CommandError) return error;
    throw error;
  }
  throw new Error('expected a CommandError');
}

describe('base_url SSRF attempts', () => {
  const LOOPBACK_OR_PRIVATE: Array<[string, string]> = [
    ['loopback', 'https://127.0.0.1/'],
    ['loopback, elsewhere in 127/8', 'https://127.254.1.9/'],
    ['loopback with a port', 'https://127.0.0.1:8443/'],
    ['IPv6 loopback', 'https://[::1]/'],
    ['IPv6 loopback, long form', 'https://[0:0:0:0:0:0:0:1]/'],
    ['localhost', 'https://localhost/'],
    ['localhost in capitals', 'https://LOCALHOST/'],
    ['localhost with a trailing dot', 'https://localhost./'],
    ['localhost in full-width letters', 'https://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54/'],
    ['a .localhost name', 'https://console.localhost/'],
    ['localhost.localdomain', 'https://localhost.localdomain/'],
    ['ip6-localhost', 'https://ip6-localhost/'],
    ['a .internal name', 'https://metadata.google.internal/'],
    ['cloud metadata', 'https://169.254.169.254/'],
    ['IPv6 link-local', 'https://[fe80::1]/'],
    ['IPv6 link-local, end of fe80::/10', 'https://[febf::1]/'],
    ['10/8', 'https://10.0.0.1/'],
    ['172.16/12', 'https://172.16.0.1/'],
    ['172.16/12, its top', 'https://172.31.255.254/'],
    ['192.168/16', 'https://192.168.1.1/'],
    ['IPv6 unique local fc00::/7', 'https://[fc00::1]/'],
    ['IPv6 unique local fd00::', 'https://[fd12:3456::1]/'],
    ['IPv6 site-local', 'https://[fec0::1]/'],
    ['CGNAT 100.64/10', 'https://100.64.0.1/'],
    ['CGNAT, its top', 'https://100.127.255.254/'],
    ['0.0.0.0', 'https://0.0.0.0/'],
    ['0 (0.0.0.0)', 'https://0/'],
    ['the IPv6 unspecified address', 'https://[::]/'],
    ['broadcast', 'https://255.255.255.255/'],
    ['multicast', 'https://224.0.0.1/'],
    ['documentation range', 'https://192.0.2.10/'],
    ['IPv4-mapped IPv6, dotted', 'https://[::ffff:127.0.0.1]/'],
    ['IPv4-mapped IPv6, hex', 'https://[::ffff:7f00:1]/'],
    ['IPv4-mapped metadata', 'https://[::ffff:169.254.169.254]/'],
    ['IPv4-mapped private', 'https://[::ffff:10.0.0.1]/'],
    ['IPv4-translated IPv6', 'https://[::ffff:0:7f00:1]/'],
    ['IPv4-compatible IPv6', 'https://[::127.0.0.1]/'],
    ['NAT64 of loopback', 'https://[64:ff9b::127.0.0.1]/'],
    ['NAT64 of metadata', 'https://[64:ff9b::a9fe:a9fe]/'],
    ['6to4 of loopback', 'https://[2002:7f00:1::]/'],
    ['6to4 of a private address', 'https://[2002:c0a8:101::1]/'],
    ['Teredo', 'https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/'],
    ['decimal', 'https://2130706433/'],
    ['hexadecimal', 'https://0x7f000001/'],
    ['hexadecimal parts', 'https://0x7f.0x0.0x0.0x1/'],
    ['octal', 'https://0177.0.0.1/'],
    ['octal metadata', 'https://0251.0376.0251.0376/'],
    ['short form 127.1', 'https://127.1/'],
    ['short form 10.1', 'https://10.1/'],
    ['percent-encoded digits', 'https://%31%32%37.0.0.1/'],
    ['ideographic full stops', 'https://127\u30020\u30020\u30021/'],
  ];

  it.each(LOOPBACK_OR_PRIVATE)('refuses %s (%s) naming base_url', (_label, url) => {
    const error = refusal(() => parseCommand(create, bytes(JSON.stringify(sampleSourceDocument({ base_url: url })))));
    expect(error.code).toBe('ValidationError');
    expect(error.details).toEqual([{ path: 'source.config.base_url', message: expect.stringContaining('public SentinelOne console') }]);
  });

  it.each([
    ['user info before a loopback host', 'https://good@127.0.0.1/', 'user name or password'],
    ['user info before a good-looking host', 'https://usea1-partners.sentinelone.net@127.0.0.1/', 'user name or password'],
    ['user and password', 'https://user:pass@usea1-partners.sentinelone.net/', 'user name or password'],
    ['a backslash trick', 'https://usea1-partners.sentinelone.net\\@127.0.0.1/', 'without a path'],
    ['file:', 'file:///etc/passwd', 'must use https (got file)'],
    ['gopher:', 'gopher://127.0.0.1:6379/_FLUSHALL', 'must use https (got gopher)'],
    ['ftp:', 'ftp://usea1-partners.sentinelone.net/', 'must use https (got ftp)'],
    ['data:', 'data:text/plain;base64,SGVsbG8=', 'must use https (got data)'],
    ['javascript:', 'javascript:alert(1)', 'must use https (got javascript)'],
    ['plain http', 'http://usea1-partners.sentinelone.net/', 'must use https (got http)'],
    ['ws:', 'ws://usea1-partners.sentinelone.net/', 'must use https (got ws)'],
    ['a scheme-relative URL', '//127.0.0.1/', "console's URL"],
    ['another port of a public host (SMTP)', 'https://mail.example.com:25/', 'port 443 (got 25)'],
    ['another port of a public host (Redis)', 'https://usea1-partners.sentinelone.net:6379/', 'port 443 (got 6379)'],
  ])('refuses %s (%s) saying %j', (_label, url, says) => {
    const error = refusal(() => parseCommand(create, bytes(JSON.stringify(sampleSourceDocument({ base_url: url })))));
    expect(error.details).toEqual([{ path: 'source.config.base_url', message: expect.stringContaining(says) }]);
  });

  it('refuses them on update as well', () => {
    const error = refusal(() => parseCommand(update, bytes(JSON.stringify(sampleSourceDocument({ base_url: 'https://[::ffff:7f00:1]/' }, { id: 's1' })))));
    expect(error.details?.map((d) => d.path)).toEqual(['source.config.base_url']);
  });

  it('takes port 443 spelled out, and any port when insecure URLs are allowed (the simulator)', () => {
    expect(normalizeBaseUrl('https://usea1-partners.sentinelone.net:443/', strict)).toEqual({ ok: true, value: 'https://usea1-partners.sentinelone.net/' });
    expect(normalizeBaseUrl('http://127.0.0.1:8088/', { allowInsecure: true }).ok).toBe(true);
  });

  it('allows http only with S1C_ALLOW_INSECURE_BASE_URL, and file: never', () => {
    expect(normalizeBaseUrl('http://usea1-partners.sentinelone.net/', { allowInsecure: true }).ok).toBe(true);
    expect(normalizeBaseUrl('file:///etc/passwd', { allowInsecure: true }).ok).toBe(false);
    expect(normalizeBaseUrl('gopher://127.0.0.1/', { allowInsecure: true }).ok).toBe(false);
  });

  it.each(['https://usea1-partners.sentinelone.net/', 'https://8.8.8.8/', 'https://[2606:4700::1111]/', 'https://[::ffff:8.8.8.8]/', 'https://[2002:808:808::]/'])(
    'still accepts the public %s',
    (url) => expect(normalizeBaseUrl(url, strict).ok).toBe(true),
  );

  it('sees through every IPv6 spelling of an IPv4 address, and not beyond', () => {
    expect(isNonPublicAddress('::ffff:0:127.0.0.1')).toBe(true);
    expect(isNonPublicAddress('64:ff9b::a00:1')).toBe(true);
    expect(isNonPublicAddress('2002:a9fe:a9fe::1')).toBe(true);
    expect(isNonPublicAddress('64:ff9b::8.8.8.8')).toBe(false);
    expect(isNonPublicAddress('::ffff:0:8.8.8.8')).toBe(false);
    expect(isNonPublicHost('console.home.arpa')).toBe(true);
  });
});

describe('prototype-pollution keys at any depth', () => {
  const KEYS = ['__proto__', 'constructor', 'prototype'];
  const base = JSON.stringify(sampleSourceDocument({ name: 'P' }));
  /** Where to put `"<key>":{"polluted":true},` in the document text. */
  const SPOTS: Array<[string, string]> = [
    ['the top level', '{"api.version"'],
    ['source', '"config":{'],
    ['config', '"name":"P"'],
    ['schemaRef', '"type":"SentinelOne Mgmt API"'],
    ['fields', '"_siemForward":true'],
  ];

  for (const key of KEYS) {
    it.each(SPOTS)(`refuses ${key} in %s, and pollutes nothing`, (_where, marker) => {
      const at = base.indexOf(marker);
      const text =
        marker.startsWith('{') ? `{"${key}":{"polluted":true},${base.slice(1)}` : `${base.slice(0, at)}"${key}":{"polluted":true},${base.slice(at)}`;
      const error = refusal(() => parseCommand(create, bytes(text)));
      expect(error.code).toBe('ValidationError');
      expect(error.details?.some((d) => d.path.endsWith(key))).toBe(true);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.prototype).not.toHaveProperty('polluted');
    });
  }

  it.each(KEYS)('refuses %s in get, list and replay commands', (key) => {
    for (const [schema, valid] of [
      [sourceRefCommandSchema, '{"id":"s1"'],
      [listSourcesCommandSchema, '{"limit":10'],
      [replaySourceCommandSchema, '{"id":"s1","api":"activities","from":"2026-11-27T00:00:00Z","to":"2026-11-27T01:00:00Z"'],
    ] as const) {
      const error = refusal(() => parseCommand(schema, bytes(`${valid},"${key}":{"polluted":true}}`)));
      expect(error.code).toBe('ValidationError');
    }
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('ignores, and is not polluted by, keys inside the read-only parts of an update', () => {
    const text = JSON.stringify(sampleSourceDocument({ name: 'P' }, { id: 's1' }, { state: {} })).replace('"state":{}', '"state":{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}');
    const parsed = parseCommand(update, bytes(text));
    expect(parsed.source.config.name).toBe('P');
    expect(Object.prototype).not.toHaveProperty('polluted');
  });
});

describe('text that renders differently from what it contains', () => {
  const HOSTILE: Array<[string, string]> = [
    ['a NUL', 'a\u0000b'],
    ['an escape sequence', 'a\u001b[31mred'],
    ['a newline', 'a\nb'],
    ['a C1 control', 'a\u0085b'],
    ['a right-to-left override', 'invoice\u202Efdp.exe'],
    ['a left-to-right embedding', 'a\u202Ab'],
    ['a right-to-left isolate', 'a\u2067b'],
    ['a pop directional isolate', 'a\u2069b'],
    ['a right-to-left mark', 'Prod\u200F'],
    ['a left-to-right mark', 'Prod\u200E'],
    ['an Arabic letter mark', 'Prod\u061C'],
    ['a zero-width space', 'Pro\u200Bd'],
    ['a word joiner', 'Pro\u2060d'],
    ['a byte-order mark', '\uFEFFProd'],
    ['a line separator', 'a\u2028b'],
    ['an interlinear annotation', 'a\uFFF9b\uFFFBc'],
    ['tag characters (hidden ASCII)', 'Prod\u{E0049}\u{E0047}\u{E004E}'],
    ['a lone high surrogate', 'a\uD800b'],
    ['a lone low surrogate', 'a\uDC00b'],
  ];

  it.each(HOSTILE)('refuses %s in the name', (_label, name) => {
    const error = refusal(() => parseCommand(create, bytes(JSON.stringify(sampleSourceDocument({ name })))));
    expect([...new Set(error.details?.map((d) => d.path))]).toEqual(['source.config.name']);
  });

  it.each(HOSTILE.filter(([label]) => label !== 'a newline'))('refuses %s in a field name and a field value', (_label, text) => {
    const error = refusal(() => parseCommand(create, bytes(JSON.stringify(sampleSourceDocument({ fields: { [`k${text}`]: 'v', team: `v${text}` } })))));
    expect(error.details).toHaveLength(2);
    expect(error.details?.map((d) => d.path)).toContain('source.config.fields.team');
  });

  it('refuses invalid UTF-8 in the name as InvalidJson', () => {
    const [before, after] = JSON.stringify(sampleSourceDocument({ name: '@@' })).split('@@') as [string, string];
    const payload = Buffer.concat([Buffer.from(before), Buffer.from([0xc0, 0xaf, 0xed, 0xa0, 0x80]), Buffer.from(after)]);
    expect(refusal(() => parseCommand(create, payload)).code).toBe('InvalidJson');
  });

  it.each(['Ünïcödé SOC', '東京 SOC', 'SOC 🛡️', 'فريق الأمن', 'Zürich, \u05D0'])('accepts ordinary text such as %j', (name) => {
    expect(parseCommand(create, bytes(JSON.stringify(sampleSourceDocument({ name })))).source.config.name).toBe(name);
  });

  describe('an on-premises console allow-listed in S1C_S1_PRIVATE_CONSOLES', () => {
    const onPrem = { allowInsecure: false, privateConsoles: ['s1.corp.example:8443', '10.20.30.40:443', 's1.corp.internal:443', '[fd00::5]:443', 'localhost:443', '169.254.169.254:443', '127.0.0.1:443'] };

    it('is taken on its private address or other port, https only', () => {
      expect(normalizeBaseUrl('https://s1.corp.example:8443/', onPrem)).toEqual({ ok: true, value: 'https://s1.corp.example:8443/' });
      expect(normalizeBaseUrl('https://10.20.30.40/', onPrem)).toEqual({ ok: true, value: 'https://10.20.30.40/' });
      expect(normalizeBaseUrl('https://S1.Corp.Internal/', onPrem)).toEqual({ ok: true, value: 'https://s1.corp.internal/' });
      expect(normalizeBaseUrl('https://[fd00::5]/', onPrem)).toEqual({ ok: true, value: 'https://[fd00::5]/' });
      expect(normalizeBaseUrl('http://s1.corp.example:8443/', onPrem)).toMatchObject({ ok: false, message: expect.stringContaining('must use https') });
    });

    it('is only what the list names: another port or address of it is refused as before, naming the variable', () => {
      expect(normalizeBaseUrl('https://s1.corp.example:9443/', onPrem)).toMatchObject({ ok: false, message: expect.stringContaining('S1C_S1_PRIVATE_CONSOLES') });
      expect(normalizeBaseUrl('https://10.20.30.41/', onPrem)).toMatchObject({ ok: false, message: expect.stringContaining('S1C_S1_PRIVATE_CONSOLES') });
      expect(normalizeBaseUrl('https://10.20.30.40:8443/', onPrem).ok).toBe(false);
    });

    it.each(['https://localhost/', 'https://169.254.169.254/', 'https://127.0.0.1/'])('never makes a loopback or link-local console of %s, even listed', (url) => {
      expect(normalizeBaseUrl(url, onPrem)).toMatchObject({ ok: false, message: expect.stringContaining('even for a console in S1C_S1_PRIVATE_CONSOLES') });
    });

    it('names consoles host:port in lower case, 443 by default', () => {
      expect(privateConsoleKey(new URL('https://S1.Corp.Example/'))).toBe('s1.corp.example:443');
      expect(privateConsoleKey(new URL('https://[FD00::5]:8443/'))).toBe('[fd00::5]:8443');
      expect(isPrivateConsole(new URL('https://s1.corp.example:8443/'), onPrem)).toBe(true);
      expect(isPrivateConsole(new URL('http://s1.corp.example:8443/'), onPrem)).toBe(false);
      expect(isPrivateConsole(new URL('https://s1.corp.example:8443/'), {})).toBe(false);
    });

    it('may be reached on private network addresses only: never loopback, link-local or metadata addresses', () => {
      for (const address of ['10.1.2.3', '172.16.0.1', '192.168.1.1', '100.64.0.1', 'fd12::1', '::ffff:10.1.2.3']) {
        expect(isPrivateNetworkAddress(address), address).toBe(true);
        expect(isAllowedConsoleAddress(address, true), address).toBe(true);
        expect(isAllowedConsoleAddress(address, false), address).toBe(false);
      }
      for (const address of ['127.0.0.1', '::1', '169.254.169.254', 'fe80::1', '0.0.0.0', '224.0.0.1', '::ffff:127.0.0.1', '2002:a9fe:a9fe::1']) {
        expect(isPrivateNetworkAddress(address), address).toBe(false);
        expect(isAllowedConsoleAddress(address, true), address).toBe(false);
      }
      expect(isAllowedConsoleAddress('8.8.8.8', false)).toBe(true);
    });
  });
});
