import { ConfigError } from '@s1c/config';
import { describe, expect, it } from 'vitest';
import { loadSchedulerConfig } from './scheduler.config';

describe('loadSchedulerConfig', () => {
  it('applies the documented defaults and freezes the result', () => {
    const config = loadSchedulerConfig({});
    expect(config).toMatchObject({
      S1C_BACKFILL: 24 * 3_600_000,
      S1C_POLL_INTERVAL: 300_000,
      S1C_LIVE_OVERLAP: 120_000,
      S1C_AGENT_SNAPSHOT_INTERVAL: 24 * 3_600_000,
      S1C_JOB_STALL_TIMEOUT: 300_000,
      S1C_SCHEDULER_TICK: 1_000,
      S1C_EVENT_GAP_TIMEOUT: 2_000,
      S1C_SCHEDULER_CONCURRENCY: 8,
      S1C_SNAPSHOT_INTERVAL: 300_000,
    });
    expect(config).not.toHaveProperty('S1C_EVENT_POLL_INTERVAL');
    expect(Object.isFrozen(config)).toBe(true);
    expect(config).not.toHaveProperty('S1C_SECRET_KEY');
  });

  it('refuses a live overlap that is not shorter than the poll interval', () => {
    expect(() => loadSchedulerConfig({ S1C_POLL_INTERVAL: '2m', S1C_LIVE_OVERLAP: '2m' })).toThrow(ConfigError);
    expect(() => loadSchedulerConfig({ S1C_POLL_INTERVAL: '2m', S1C_LIVE_OVERLAP: '119s' })).not.toThrow();
  });

  it('names every bad duration', () => {
    try {
      loadSchedulerConfig({ S1C_BACKFILL: 'a day', S1C_SCHEDULER_TICK: '0s' });
      expect.unreachable();
    } catch (error) {
      expect((error as ConfigError).problems.map((p) => p.split(':')[0]).sort()).toEqual(['S1C_BACKFILL', 'S1C_SCHEDULER_TICK']);
    }
  });
});
