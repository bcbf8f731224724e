import { describe, expect, it } from 'vitest';
import { anonymousExposureProblem, isLoopbackHost } from './exposure';

describe('isLoopbackHost', () => {
  it.each(['127.0.0.1', '127.1.2.3', '127.255.255.254', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', 'localhost', 'LOCALHOST', 'localhost.'])(
    '%s is loopback',
    (host) => expect(isLoopbackHost(host)).toBe(true),
  );

  it.each(['0.0.0.0', '::', '[::]', '10.0.0.5', '192.168.1.1', '128.0.0.1', '::2', '::ffff:10.0.0.1', 'fe80::1', 'example.com', 'localhost.example.com', 'my-host', '127.0.0.1.nip.io'])(
    '%s is beyond loopback',
    (host) => expect(isLoopbackHost(host)).toBe(false),
  );
});

describe('anonymousExposureProblem', () => {
  const settings = { hostVariable: 'S1C_X_HOST', host: '0.0.0.0', hasToken: false, tokenVariables: ['S1C_API_TOKEN'], allowAnonymous: false };

  it('names the host variable, the token variable and S1C_ALLOW_ANONYMOUS for a listener beyond loopback without a token', () => {
    const problem = anonymousExposureProblem(settings);
    expect(problem).toMatch(/^S1C_X_HOST: listens on 0\.0\.0\.0, beyond loopback, without an API token/);
    expect(problem).toContain('set S1C_API_TOKEN');
    expect(problem).toContain('S1C_X_HOST=127.0.0.1');
    expect(problem).toContain('S1C_ALLOW_ANONYMOUS=true');
  });

  it('accepts a token, an explicit S1C_ALLOW_ANONYMOUS, or a loopback host', () => {
    expect(anonymousExposureProblem({ ...settings, hasToken: true })).toBeUndefined();
    expect(anonymousExposureProblem({ ...settings, allowAnonymous: true })).toBeUndefined();
    expect(anonymousExposureProblem({ ...settings, host: '127.0.0.1' })).toBeUndefined();
    expect(anonymousExposureProblem({ ...settings, host: '::' })).toBeDefined();
  });
});
