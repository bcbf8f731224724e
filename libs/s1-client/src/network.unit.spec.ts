import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { s1NetworkEnvShape, usesProxy } from './network';

const env = z.object(s1NetworkEnvShape);

describe('usesProxy (NO_PROXY)', () => {
  it('proxies everything when NO_PROXY is empty', () => {
    expect(usesProxy('usea1.sentinelone.net', '443', [])).toBe(true);
  });

  it('exempts a name and its subdomains, written with or without a leading dot or *.', () => {
    for (const entry of ['sentinelone.net', '.sentinelone.net', '*.sentinelone.net']) {
      expect(usesProxy('usea1.sentinelone.net', '443', [entry]), entry).toBe(false);
      expect(usesProxy('sentinelone.net', '443', [entry]), entry).toBe(false);
      expect(usesProxy('notsentinelone.net', '443', [entry]), entry).toBe(true);
    }
  });

  it('exempts only the port an entry names, and everything for *', () => {
    expect(usesProxy('s1.corp.example', '8443', ['s1.corp.example:8443'])).toBe(false);
    expect(usesProxy('s1.corp.example', '443', ['s1.corp.example:8443'])).toBe(true);
    expect(usesProxy('anything.example', '443', ['*'])).toBe(false);
  });

  it('matches IP literals exactly, never as a suffix, in any case and with a trailing dot', () => {
    expect(usesProxy('10.1.2.3', '443', ['10.1.2.3'])).toBe(false);
    expect(usesProxy('110.1.2.3', '443', ['10.1.2.3'])).toBe(true);
    expect(usesProxy('[fd00::5]', '443', ['[fd00::5]'])).toBe(false);
    expect(usesProxy('S1.Corp.Example.', '443', ['s1.corp.example'])).toBe(false);
  });
});

describe('the network variables', () => {
  it('read S1C_S1_PRIVATE_CONSOLES as host:port keys, 443 by default', () => {
    expect(env.parse({ S1C_S1_PRIVATE_CONSOLES: 'S1.Corp.Example:8443, 10.1.2.3 ,[fd00::5]' }).S1C_S1_PRIVATE_CONSOLES).toEqual(['s1.corp.example:8443', '10.1.2.3:443', '[fd00::5]:443']);
    expect(env.parse({}).S1C_S1_PRIVATE_CONSOLES).toEqual([]);
  });

  it('refuse an entry that is not a host or host:port', () => {
    for (const bad of ['https://s1.corp.example/', 's1.corp.example/path', 'user@s1.corp.example', 's1.corp.example:99999']) {
      const result = env.safeParse({ S1C_S1_PRIVATE_CONSOLES: bad });
      expect(result.success, bad).toBe(false);
      expect(result.error?.issues[0]?.message, bad).toContain('is not a host or host:port');
    }
  });

  it('take an http:// HTTPS_PROXY with host and port only, and NO_PROXY as a list', () => {
    const parsed = env.parse({ HTTPS_PROXY: 'http://user:pw@proxy.corp.example:3128', NO_PROXY: 'localhost, .corp.example  10.0.0.1' });
    expect(parsed.HTTPS_PROXY?.host).toBe('proxy.corp.example:3128');
    expect(parsed.NO_PROXY).toEqual(['localhost', '.corp.example', '10.0.0.1']);
    expect(env.parse({ HTTPS_PROXY: '' }).HTTPS_PROXY).toBeUndefined();
    for (const bad of ['proxy.corp.example:3128', 'socks5://proxy:1080', 'http://proxy:3128/path', 'https://proxy:3128']) {
      expect(env.safeParse({ HTTPS_PROXY: bad }).success, bad).toBe(false);
    }
  });
});
