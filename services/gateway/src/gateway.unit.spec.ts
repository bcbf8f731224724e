import { ConfigError } from '@s1c/config';
import { describe, expect, it } from 'vitest';
import { ApiError, statusForCode } from './api.errors';
import { loadGatewayConfig } from './gateway.config';

describe('the status of each error code', () => {
  it.each([
    ['ValidationError', 400],
    ['InvalidJson', 400],
    ['InvalidSourceType', 400],
    ['ImmutableField', 400],
    ['DuplicateResourceName', 409],
    ['SourceNotFound', 404],
    ['VersionConflict', 412],
    ['IllegalStateTransition', 409],
    ['ReplayPending', 409],
    ['CollectionNotPlanned', 409],
    ['PayloadTooLarge', 413],
    ['Unavailable', 503],
    ['InternalError', 500],
    ['PreconditionRequired', 428],
    ['UnsupportedMediaType', 415],
    ['Unauthorized', 401],
    ['BadGateway', 502],
    ['GatewayTimeout', 504],
    ['AnythingElse', 500],
  ])('%s is %i', (code, status) => {
    expect(statusForCode(code)).toBe(status);
  });
});

describe('the error body', () => {
  it('has one entry per bad field, with its path in meta', () => {
    const error = new ApiError('ValidationError', 'invalid request', [
      { path: 'source.config.name', message: 'is required' },
      { path: '', message: 'must be an object' },
    ]);
    expect(error.body('req-1')).toEqual({
      status: 400,
      id: 'req-1',
      code: 'ValidationError',
      message: 'invalid request',
      errors: [
        { code: 'ValidationError', message: 'source.config.name is required', meta: { path: 'source.config.name' } },
        { code: 'ValidationError', message: '(body) must be an object', meta: { path: '' } },
      ],
    });
  });

  it('repeats the message as the single entry when there are no fields', () => {
    expect(new ApiError('SourceNotFound', 'source x does not exist').body('r')).toEqual({
      status: 404,
      id: 'r',
      code: 'SourceNotFound',
      message: 'source x does not exist',
      errors: [{ code: 'SourceNotFound', message: 'source x does not exist', meta: {} }],
    });
  });
});

describe('the configuration', () => {
  it('has defaults for everything', () => {
    expect(loadGatewayConfig({})).toEqual({
      NATS_URL: 'nats://127.0.0.1:4222',
      LOG_LEVEL: 'info',
      S1C_SHUTDOWN_DEADLINE: 8_000,
      S1C_GATEWAY_PORT: 8081,
      S1C_GATEWAY_HOST: '127.0.0.1',
      S1C_ALLOW_ANONYMOUS: false,
      S1C_COMMAND_TIMEOUT: 15_000,
      S1C_METRICS_PORT: 9107,
      S1C_METRICS_HOST: '127.0.0.1',
    });
  });

  it('names every bad variable without echoing values', () => {
    let error: unknown;
    try {
      loadGatewayConfig({ S1C_GATEWAY_PORT: 'eighty', S1C_API_TOKEN: 'short-secret', S1C_COMMAND_TIMEOUT: '15', NATS_URL: 'http://x' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    for (const name of ['S1C_GATEWAY_PORT', 'S1C_API_TOKEN', 'S1C_COMMAND_TIMEOUT', 'NATS_URL']) expect(problems).toContain(name);
    expect(problems).not.toContain('short-secret');
  });

  describe('listening beyond loopback', () => {
    const TOKEN = 'gateway-token-0123456789';
    const problemsOf = (source: Record<string, string>): readonly string[] => {
      try {
        loadGatewayConfig(source);
        return [];
      } catch (error) {
        if (error instanceof ConfigError) return error.problems;
        throw error;
      }
    };

    it.each(['0.0.0.0', '::', '10.1.2.3', 'gateway.internal'])('refuses %s without a token, naming the host, token and S1C_ALLOW_ANONYMOUS variables', (host) => {
      const problems = problemsOf({ S1C_GATEWAY_HOST: host });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^S1C_GATEWAY_HOST: listens on .*, beyond loopback, without an API token/);
      for (const name of ['S1C_API_TOKEN', 'S1C_API_TOKENS', 'S1C_API_TOKENS_FILE', 'S1C_GATEWAY_HOST=127.0.0.1', 'S1C_ALLOW_ANONYMOUS=true']) expect(problems[0]).toContain(name);
    });

    it('starts on 0.0.0.0 with any kind of token, or with S1C_ALLOW_ANONYMOUS=true', () => {
      expect(problemsOf({ S1C_GATEWAY_HOST: '0.0.0.0', S1C_API_TOKEN: TOKEN })).toEqual([]);
      expect(problemsOf({ S1C_GATEWAY_HOST: '0.0.0.0', S1C_API_TOKENS: `ci:${TOKEN}` })).toEqual([]);
      expect(problemsOf({ S1C_GATEWAY_HOST: '0.0.0.0', S1C_API_TOKENS_FILE: '/etc/s1c/tokens' })).toEqual([]);
      expect(problemsOf({ S1C_GATEWAY_HOST: '0.0.0.0', S1C_ALLOW_ANONYMOUS: 'true' })).toEqual([]);
    });

    it('refuses an empty token list or S1C_ALLOW_ANONYMOUS=false as no token', () => {
      expect(problemsOf({ S1C_GATEWAY_HOST: '0.0.0.0', S1C_API_TOKENS: ' # none yet ' })[0]).toMatch(/^S1C_GATEWAY_HOST: /);
      expect(problemsOf({ S1C_GATEWAY_HOST: '0.0.0.0', S1C_API_TOKEN: '', S1C_ALLOW_ANONYMOUS: 'false' })[0]).toMatch(/^S1C_GATEWAY_HOST: /);
    });

    it.each(['127.0.0.1', '127.0.0.2', '::1', 'localhost'])('starts on %s without a token', (host) => {
      expect(problemsOf({ S1C_GATEWAY_HOST: host })).toEqual([]);
    });

    it('reports the exposure with the other problems only once the variables themselves are valid', () => {
      expect(problemsOf({ S1C_GATEWAY_HOST: '0.0.0.0', S1C_GATEWAY_PORT: 'eighty' }).map((p) => p.split(':')[0])).toEqual(['S1C_GATEWAY_PORT']);
    });
  });
});
