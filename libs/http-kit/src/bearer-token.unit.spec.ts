import { describe, expect, it } from 'vitest';
import { bearerRefusal, bearerTokenChecker } from './bearer-token';
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
