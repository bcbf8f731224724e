import { describe, expect, it } from 'vitest';
import { ApiTokensError, configuredTokens, parseApiTokens } from './api-tokens';
import { loadGatewayConfig } from './gateway.config';

const T1 = 'token-one-0123456789';
const T2 = 'token-two-0123456789';

describe('named API tokens', () => {
  it('reads name:token and name:token:expiry entries, by comma or line, skipping blanks and comments', () => {
    expect(parseApiTokens(`ops:${T1}, ci:${T2}:2027-01-31T12:00:00Z\n\n# retired\n`, 'test')).toEqual([
      { name: 'ops', token: T1 },
      { name: 'ci', token: T2, expiresAt: new Date('2027-01-31T12:00:00Z') },
    ]);
  });

  it.each([
    ['no name', T1, /must be name:token/],
    ['a bad name', `ops team:${T1}`, /the name must be/],
    ['a short token', 'ops:short', /16-512 printable/],
    ['a bad expiry', `ops:${T1}:next-tuesday`, /ISO-8601/],
    ['a repeated name', `ops:${T1},ops:${T2}`, /used twice/],
    ['a repeated token', `ops:${T1},ci:${T1}`, /already given/],
  ])('refuses %s, naming the entry but never its token', (_label, text, message) => {
    let error: unknown;
    try {
      parseApiTokens(text, 'S1C_API_TOKENS');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ApiTokensError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain(T1);
  });

  it('joins S1C_API_TOKEN (as "api"), S1C_API_TOKENS and the token file; none at all means no authentication', () => {
    const config = loadGatewayConfig({ S1C_API_TOKEN: T1, S1C_API_TOKENS: `ci:${T2}`, S1C_API_TOKENS_FILE: '/etc/s1c/tokens' });
    const tokens = configuredTokens(config, (path) => (path === '/etc/s1c/tokens' ? '# ops team\nops:token-three-0123456789:2027-01-01\n' : ''));
    expect(tokens.map((t) => t.name)).toEqual(['api', 'ci', 'ops']);
    expect(configuredTokens(loadGatewayConfig({}), () => '')).toEqual([]);
  });

  it('refuses a token list in the environment at start-up, and a token given twice across the sources', () => {
    expect(() => loadGatewayConfig({ S1C_API_TOKENS: 'ops:short' })).toThrow(/S1C_API_TOKENS: S1C_API_TOKENS, entry 1 \(ops\)/);
    expect(() => configuredTokens(loadGatewayConfig({ S1C_API_TOKEN: T1, S1C_API_TOKENS: `api:${T2}` }), () => '')).toThrow(/same token name/);
    expect(() => configuredTokens(loadGatewayConfig({ S1C_API_TOKEN: T1, S1C_API_TOKENS: `ops:${T1}` }), () => '')).toThrow(/same token is configured/);
    expect(() => configuredTokens(loadGatewayConfig({ S1C_API_TOKENS_FILE: '/nope' }), () => {
      throw Object.assign(new Error('gone'), { code: 'ENOENT' });
    })).toThrow(/cannot read \/nope \(ENOENT\)/);
  });
});
