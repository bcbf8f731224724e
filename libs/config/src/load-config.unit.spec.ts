import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { commonEnvShape, env, parseDurationMs } from './env.schema';
import { ConfigError, loadConfig } from './load-config';

const shape = {
  ...commonEnvShape,
  S1C_SECRET_KEY: z.string().min(1),
  S1C_ALLOW_INSECURE_BASE_URL: env.boolean(false),
  S1C_POLL_INTERVAL: env.durationMs('5m'),
  S1C_PORT: env.port(8080),
};

describe('loadConfig', () => {
  it('applies defaults and parses types', () => {
    const config = loadConfig(shape, { S1C_SECRET_KEY: 'x' });
    expect(config).toMatchObject({
      NATS_URL: 'nats://127.0.0.1:4222',
      S1C_ALLOW_INSECURE_BASE_URL: false,
      S1C_POLL_INTERVAL: 300_000,
      S1C_PORT: 8080,
      LOG_LEVEL: 'info',
      S1C_SHUTDOWN_DEADLINE: 8_000,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads "false" as false and "true" as true', () => {
    expect(loadConfig(shape, { S1C_SECRET_KEY: 'x', S1C_ALLOW_INSECURE_BASE_URL: 'false' }).S1C_ALLOW_INSECURE_BASE_URL).toBe(false);
    expect(loadConfig(shape, { S1C_SECRET_KEY: 'x', S1C_ALLOW_INSECURE_BASE_URL: 'true' }).S1C_ALLOW_INSECURE_BASE_URL).toBe(true);
  });

  it('takes 0 for a duration only where none is allowed', () => {
    const lingering = { S1C_LINGER: env.durationMs('100ms', { zero: true }), S1C_WAIT: env.durationMs('5s') };
    expect(loadConfig(lingering, { S1C_LINGER: '0' })).toMatchObject({ S1C_LINGER: 0, S1C_WAIT: 5000 });
    expect(loadConfig(lingering, { S1C_LINGER: '0ms' }).S1C_LINGER).toBe(0);
    expect(loadConfig(lingering, {}).S1C_LINGER).toBe(100);
    expect(() => loadConfig(lingering, { S1C_WAIT: '0' })).toThrow(/S1C_WAIT: must be a positive duration/);
    expect(() => loadConfig(lingering, { S1C_LINGER: '-5ms' })).toThrow(/S1C_LINGER: must be a duration such as 1500ms, 90s or 5m, or 0/);
    expect(() => loadConfig(lingering, { S1C_LINGER: 'soon' })).toThrow(ConfigError);
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig(shape, { S1C_SECRET_KEY: 'x', S1C_PORT: '' }).S1C_PORT).toBe(8080);
  });

  it('lists every problem in one error, without echoing values', () => {
    let error: ConfigError | undefined;
    try {
      loadConfig(shape, {
        NATS_URL: 'http://wrong',
        S1C_ALLOW_INSECURE_BASE_URL: 'maybe',
        S1C_POLL_INTERVAL: 'soon-ish',
        S1C_DB_NAME: 'db_1',
        S1C_PORT: '70000',
      });
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const names = error!.problems.map((p) => p.split(':')[0]);
    expect(names.sort()).toEqual(['NATS_URL', 'S1C_ALLOW_INSECURE_BASE_URL', 'S1C_DB_NAME', 'S1C_POLL_INTERVAL', 'S1C_PORT', 'S1C_SECRET_KEY'].sort());
    expect(error!.message).toContain('S1C_SECRET_KEY: is required');
    expect(error!.message).not.toContain('http://wrong');
  });
});

it('says a number given as text is not a number, rather than missing', () => {
  expect(() => loadConfig(shape, { S1C_SECRET_KEY: 'x', S1C_PORT: 'abc' })).toThrow(/S1C_PORT: must be a number/);
});

describe('parseDurationMs', () => {
  it.each([
    ['1500ms', 1500],
    ['90s', 90_000],
    ['5m', 300_000],
    ['24h', 86_400_000],
    ['1.5h', 5_400_000],
    ['7d', 604_800_000],
  ])('parses %s', (text, ms) => expect(parseDurationMs(text)).toBe(ms));

  it.each(['5', 'm', '5 minutes', '-5m', ''])('rejects %j', (text) => expect(parseDurationMs(text)).toBeUndefined());
});
