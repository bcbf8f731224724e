import { ConfigError } from '@s1c/config';
import { describe, expect, it } from 'vitest';
import { loadFetcherConfig, retryPolicyOf } from './fetcher.config';

const KEY = Buffer.alloc(32, 7).toString('base64');

describe('fetcher configuration', () => {
  it('has the documented defaults and is frozen', () => {
    const config = loadFetcherConfig({ S1C_SECRET_KEY: KEY });
    expect(config).toMatchObject({
      NATS_URL: 'nats://127.0.0.1:4222',
      S1C_DB_NAME: 'sonecollector',
      S1C_ALLOW_INSECURE_BASE_URL: false,
      S1C_MAX_PAGES_PER_JOB: 20,
      S1C_S1_REQUESTS_PER_SECOND: 10,
      S1C_S1_TIMEOUT: 30_000,
      S1C_RETRY_WINDOW: 90 * 60_000,
      S1C_RETRY_INITIAL_DELAY: 5_000,
      S1C_RETRY_MAX_DELAY: 10 * 60_000,
      S1C_EVENT_GAP_TIMEOUT: 2_000,
      S1C_JOB_ACK_WAIT: 60_000,
      S1C_JOB_MAX_DELIVER: 10,
      S1C_FETCHER_CONCURRENCY: 4,
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(retryPolicyOf(config)).toEqual({ windowMs: 90 * 60_000, initialDelayMs: 5_000, maxDelayMs: 600_000 });
  });

  it('parses booleans and durations explicitly', () => {
    const config = loadFetcherConfig({ S1C_SECRET_KEY: KEY, S1C_ALLOW_INSECURE_BASE_URL: 'false', S1C_RETRY_WINDOW: '2m', S1C_S1_REQUESTS_PER_SECOND: '2.5' });
    expect(config.S1C_ALLOW_INSECURE_BASE_URL).toBe(false);
    expect(config.S1C_RETRY_WINDOW).toBe(120_000);
    expect(config.S1C_S1_REQUESTS_PER_SECOND).toBe(2.5);
  });

  it('names every bad or missing variable at once, without echoing values', () => {
    let error: unknown;
    try {
      loadFetcherConfig({ S1C_MAX_PAGES_PER_JOB: '0', S1C_S1_TIMEOUT: 'soon', S1C_FETCHER_CONCURRENCY: 'many' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toContain('S1C_SECRET_KEY: is required');
    expect(problems).toContain('S1C_MAX_PAGES_PER_JOB');
    expect(problems).toContain('S1C_S1_TIMEOUT');
    expect(problems).toContain('S1C_FETCHER_CONCURRENCY');
  });
});
