import { describe, expect, it } from 'vitest';
import { collectionTimings, formatDurationMs, optionLeaves, parseDurationMs, scopeFilters, sourceOptionsDocument, type SourceOptions } from './source.options';

const DEFAULTS = { pollIntervalMs: 300_000, backfillMs: 86_400_000 };
const FULL: SourceOptions = {
  pollIntervalMs: 60_000,
  backfillMs: 7 * 86_400_000,
  scope: { accountIds: ['1'], siteIds: ['22', '23'], groupIds: ['333'] },
  requestsPerSecond: 2.5,
  apis: { agents: { pollIntervalMs: 900_000 }, threats: { backfillMs: 30 * 86_400_000 } },
};

describe('durations', () => {
  it('parse with a unit and format in the largest whole unit', () => {
    expect(parseDurationMs('90s')).toBe(90_000);
    expect(parseDurationMs(' 1.5h ')).toBe(5_400_000);
    expect(parseDurationMs('5')).toBeUndefined();
    expect(parseDurationMs('5 weeks')).toBeUndefined();
    expect(['0s', '1500ms', '90s', '5m', '36h', '7d'].map((t) => formatDurationMs(parseDurationMs(t)!))).toEqual(['0s', '1500ms', '90s', '5m', '36h', '7d']);
    expect(formatDurationMs(5_400_000)).toBe('90m');
  });
});

describe('collectionTimings', () => {
  it("takes the API's own timing, then the source's, then the process's", () => {
    expect(collectionTimings(FULL, 'agents', DEFAULTS)).toEqual({ pollIntervalMs: 900_000, backfillMs: 7 * 86_400_000 });
    expect(collectionTimings(FULL, 'threats', DEFAULTS)).toEqual({ pollIntervalMs: 60_000, backfillMs: 30 * 86_400_000 });
    expect(collectionTimings({ apis: { activities: { backfillMs: 0 } } }, 'activities', DEFAULTS)).toEqual({ pollIntervalMs: 300_000, backfillMs: 0 });
    expect(collectionTimings(undefined, 'activities', DEFAULTS)).toEqual(DEFAULTS);
  });
});

describe('scopeFilters', () => {
  it("are SentinelOne's comma-separated id filters, only those given", () => {
    expect(scopeFilters(FULL)).toEqual({ accountIds: '1', siteIds: '22,23', groupIds: '333' });
    expect(scopeFilters({ scope: { siteIds: ['9'] } })).toEqual({ siteIds: '9' });
    expect(scopeFilters({ scope: { siteIds: [] } })).toEqual({});
    expect(scopeFilters(undefined)).toEqual({});
  });
});

describe('the document form', () => {
  it('uses snake_case keys and durations as text', () => {
    expect(sourceOptionsDocument(FULL)).toEqual({
      poll_interval: '1m',
      backfill: '7d',
      scope: { account_ids: ['1'], site_ids: ['22', '23'], group_ids: ['333'] },
      requests_per_second: 2.5,
      apis: { agents: { poll_interval: '15m' }, threats: { backfill: '30d' } },
    });
    expect(sourceOptionsDocument({})).toEqual({});
  });

  it('lists every leaf by its path, for the history', () => {
    expect([...optionLeaves(FULL)]).toEqual([
      ['options.poll_interval', '1m'],
      ['options.backfill', '7d'],
      ['options.scope.account_ids', ['1']],
      ['options.scope.site_ids', ['22', '23']],
      ['options.scope.group_ids', ['333']],
      ['options.requests_per_second', 2.5],
      ['options.apis.agents.poll_interval', '15m'],
      ['options.apis.threats.backfill', '30d'],
    ]);
    expect(optionLeaves(undefined).size).toBe(0);
  });
});
