import { ConfigError } from '@s1c/config';
import { describe, expect, it } from 'vitest';
import { loadEnricherConfig } from './enricher.config';

describe('loadEnricherConfig', () => {
  it('has documented defaults and is frozen', () => {
    const config = loadEnricherConfig({});
    expect(config).toMatchObject({
      S1C_ENRICHER_BATCH_SIZE: 64,
      S1C_ENRICHER_BATCH_BYTES: 1024 * 1024,
      S1C_ENRICHER_LINGER: 250,
      S1C_ENRICHER_MAX_ACK_PENDING: 256,
      S1C_ENRICHER_CONCURRENCY: 4,
      S1C_DELIVERED_RETENTION: 30 * 86_400_000,
      S1C_SINK_BATCH_RECORDS: 5000,
      S1C_SINK_BATCH_BYTES: 1024 * 1024,
      S1C_SINK_FLUSH_INTERVAL: 1000,
      S1C_RETRY_WINDOW: 90 * 60_000,
      S1C_SINK_FILE_MAX_BYTES: 100 * 1024 * 1024,
    });
    expect(config.S1C_SINK_HTTP_URL).toBeUndefined();
    expect(config.S1C_SINK_FILE_DIR).toBeUndefined();
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('names every bad variable', () => {
    try {
      loadEnricherConfig({ S1C_SINK_HTTP_URL: 'ftp://x', S1C_DELIVERED_RETENTION: '30', S1C_ENRICHER_BATCH_SIZE: '0' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const text = (error as ConfigError).problems.join('\n');
      expect(text).toContain('S1C_SINK_HTTP_URL');
      expect(text).toContain('S1C_DELIVERED_RETENTION');
      expect(text).toContain('S1C_ENRICHER_BATCH_SIZE');
    }
  });

  it('refuses a sink ack-pending cap below one batch', () => {
    expect(() => loadEnricherConfig({ S1C_SINK_BATCH_RECORDS: '5000', S1C_SINK_MAX_ACK_PENDING: '100' })).toThrow(ConfigError);
  });
});
