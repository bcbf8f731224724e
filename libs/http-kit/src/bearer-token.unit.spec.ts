import { describe, expect, it } from 'vitest';
import { bearerRefusal, bearerTokenChecker, namedTokenChecker } from './bearer-token';
import { securityHeaders } from './security-headers';

describe('bearerTokenChecker', () => {
  const check = bearerTokenChecker('s3cret-token-value');

  it.each([
    ['Bearer s3cret-token-value', 'accepted'],
    ['bearer s3cret-token-value  ', 'accepted'],
    ['Bearer wrong', 'invalid'],
    ['Bearer s3cret-token-valu', 'invalid'],
    ['Basic czNjcmV0', 'missing'],
    ['', 'missing'],
    [undefined, 'missing'],
  ] as const)('judges %j as %s', (header, verdict) => {
    expect(check(header)).toBe(verdict);
  });

  it('accepts everything when no token is configured', () => {
    expect(bearerTokenChecker(undefined)(undefined)).toBe('accepted');
  });

  it('says what is wrong without echoing the token', () => {
    expect(bearerRefusal('missing')).toMatch(/Authorization: Bearer/);
    expect(bearerRefusal('invalid')).toBe('the bearer token is not valid');
  });
});

describe('namedTokenChecker', () => {
  const now = new Date('2026-11-28T00:00:00Z');
  const check = namedTokenChecker(
    [
      { name: 'ops', token: 'ops-token-0123456789' },
      { name: 'ci', token: 'ci-token-0123456789', expiresAt: new Date('2026-12-01T00:00:00Z') },
      { name: 'old', token: 'old-token-0123456789', expiresAt: new Date('2026-11-27T00:00:00Z') },
    ],
    () => now,
  );

  it.each([
    ['Bearer ops-token-0123456789', { verdict: 'accepted', caller: 'ops' }],
    ['Bearer ci-token-0123456789', { verdict: 'accepted', caller: 'ci' }],
    ['Bearer old-token-0123456789', { verdict: 'expired' }],
    ['Bearer ops-token-012345678', { verdict: 'invalid' }],
    ['Bearer ', { verdict: 'missing' }],
    [undefined, { verdict: 'missing' }],
  ] as const)('judges %j as %j', (header, verdict) => {
    expect(check(header)).toEqual(verdict);
  });

  it('refuses a token at the very instant it expires', () => {
    const atExpiry = namedTokenChecker([{ name: 'ci', token: 'ci-token-0123456789', expiresAt: now }], () => now);
    expect(atExpiry('Bearer ci-token-0123456789')).toEqual({ verdict: 'expired' });
  });

  it('says an expired token has expired, without echoing it', () => {
    expect(bearerRefusal('expired')).toBe('the bearer token has expired');
  });
});

describe('securityHeaders', () => {
  it('sets the policy, the hardening headers and no-store by default', () => {
    const headers: Record<string, string> = {};
    let called = false;
    securityHeaders({ contentSecurityPolicy: "default-src 'none'" })({} as never, { setHeader: (k: string, v: string) => (headers[k] = v) } as never, () => {
      called = true;
    });
    expect(called).toBe(true);
    expect(headers).toMatchObject({ 'Content-Security-Policy': "default-src 'none'", 'X-Frame-Options': 'DENY', 'Cache-Control': 'no-store' });
  });
});
