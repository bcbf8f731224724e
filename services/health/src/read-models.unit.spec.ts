import { ConfigError } from '@s1c/config';
import { describe, expect, it } from 'vitest';
import { compactCollectionEvents, type CollectionEvent } from '@s1c/domain';
import { backfillPercent, evolveApiStatus, type ApiStatusDoc } from './api-status.model';
import { loadHealthConfig } from './health.config';
import { raiseHealthEvent, resolveHealthEvent, subsystemOf } from './health-event.model';
import { perMinuteSeries } from './health.queries';
import { renderMetrics } from './metrics.renderer';

describe('backfillPercent', () => {
  const window = { from: '2026-11-26T00:00:00.000000Z', to: '2026-11-27T00:00:00.000000Z' };
  it.each([
    [null, false, 0],
    ['2026-11-26T06:00:00.000000Z', false, 25],
    ['2026-11-26T16:00:00Z', false, 66.7],
    ['2026-11-25T00:00:00Z', false, 0],
    ['2026-11-28T00:00:00Z', false, 100],
    [null, true, 100],
  ])('with the last record at %s (done: %s) is %d', (last, done, expected) => {
    expect(backfillPercent(window, last, done)).toBe(expected);
  });
});

describe('evolveApiStatus', () => {
  const base = { sourceId: 's1', api: 'activities' as const };
  const window = { from: '2026-12-06T10:00:00.000000Z', to: '2026-12-06T10:01:00.000000Z' };
  const progress = { cursor: null, walkFrom: null, lastTimestamp: '2026-12-06T10:00:30.000000Z', records: 7, pages: 1 };
  const planned: CollectionEvent = {
    type: 'CollectionPlanned',
    data: { ...base, at: '2026-12-06T10:00:00.000000Z', generation: 1, baseUrl: 'https://x.sentinelone.net', reset: true, backfill: null, liveCheckpoint: window.from },
  };
  const poll: CollectionEvent[] = [
    { type: 'JobDispatched', data: { ...base, at: '2026-12-06T10:01:00.000000Z', jobId: 'j1', lane: 'live', generation: 1, window, resume: { ...progress, lastTimestamp: null, records: 0, pages: 0 } } },
    { type: 'PageCollected', data: { ...base, at: '2026-12-06T10:01:02.500000Z', jobId: 'j1', lane: 'live', progress, pageRecords: 7, rateLimited: false } },
    { type: 'JobCompleted', data: { ...base, at: '2026-12-06T10:01:02.500000Z', jobId: 'j1', lane: 'live', finished: true, progress } },
  ];
  const fold = (events: CollectionEvent[]) =>
    events.reduce<ApiStatusDoc | undefined>((doc, event, i) => evolveApiStatus(doc, event, { streamId: 'collection-s1-activities', version: i + 1, position: i + 1 }), undefined);

  it('applies a JobRan as the dispatch, page and end it stands for, at its one version', () => {
    const ran = compactCollectionEvents(poll);
    expect(ran.map((e) => e.type)).toEqual(['JobRan']);
    const three = fold([planned, ...poll])!;
    const one = fold([planned, ...ran])!;
    expect(one).toEqual({ ...three, version: 2, position: 2 });
    expect(one).toMatchObject({ recordsTotal: 7, jobs: {}, lastPoll: { records: 7, pages: 1, durationMs: 2500, finished: true }, liveCheckpoint: window.to });
  });
});

describe('perMinuteSeries', () => {
  it('puts each minute at its place in the last hour and drops older ones', () => {
    const now = new Date('2026-11-27T10:15:30Z');
    const series = perMinuteSeries(
      [
        { minute: '2026-11-27T09:10:00.000000Z', records: 7 },
        { minute: '2026-11-27T09:16:00.000000Z', records: 3 },
        { minute: '2026-11-27T10:15:00.000000Z', records: 5 },
      ],
      now,
    );
    expect(series).toHaveLength(60);
    expect(series[0]).toBe(3);
    expect(series[59]).toBe(5);
    expect(series.reduce((a, b) => a + b, 0)).toBe(8);
  });
});

describe('the health-event index documents', () => {
  const facts = {
    healthEventId: 'h-1',
    severity: 'Error' as const,
    errorType: 'ThirdPartyGeneric',
    eventName: 'ThirdPartyGenericError',
    description: 'HTTP 503',
    sourceId: 's-1',
    api: 'threats' as const,
    retry: { retrying: true, nextAttemptAt: '2026-11-27T10:01:00Z' },
    at: '2026-11-27T10:00:00Z',
  };
  const source = { collectorId: 'c-1', name: 'Source One' };

  it('counts a repeat as another occurrence, and ignores an event it has already applied', () => {
    const first = raiseHealthEvent(undefined, facts, source, { streamId: 'collection-s-1-threats', position: 10 })!;
    const again = raiseHealthEvent(first, { ...facts, at: '2026-11-27T10:05:00Z' }, source, { streamId: 'collection-s-1-threats', position: 12 })!;
    expect(again).toMatchObject({ occurrences: 2, firstSeen: '2026-11-27T10:00:00.000000Z', lastSeen: '2026-11-27T10:05:00.000000Z', status: 'UnHealthy' });
    expect(raiseHealthEvent(again, facts, source, { streamId: 'collection-s-1-threats', position: 12 })).toBeUndefined();
    const resolved = resolveHealthEvent(again, { at: '2026-11-27T10:06:00Z' }, { position: 13 })!;
    expect(resolved).toMatchObject({ status: 'Healthy', resolvedAt: '2026-11-27T10:06:00.000000Z', occurrences: 2 });
    expect(resolveHealthEvent(resolved, { at: '2026-11-27T10:07:00Z' }, { position: 14 })).toBeUndefined();
  });

  it('stores resolved a first raise that a later deletion, or an update dropping its API, overtook on the way', () => {
    const at = { streamId: 'collection-s-1-threats', position: 10 };
    const deleted = { ...source, state: 'Deleted', supportedApis: ['threats'], position: 20, updatedAt: '2026-11-27T10:09:00.000000Z' };
    expect(raiseHealthEvent(undefined, facts, deleted, at)).toMatchObject({ status: 'Healthy', resolvedAt: '2026-11-27T10:09:00.000000Z', occurrences: 1, position: 20 });
    const dropped = { ...source, state: 'Pending', supportedApis: ['agents'], position: 20, updatedAt: '2026-11-27T10:09:00.000000Z' };
    expect(raiseHealthEvent(undefined, facts, dropped, at)).toMatchObject({ status: 'Healthy', position: 20 });
    // Raised after the change (by position), or while the API is collected: open.
    expect(raiseHealthEvent(undefined, facts, { ...deleted, position: 5 }, at)).toMatchObject({ status: 'UnHealthy', position: 10 });
    expect(raiseHealthEvent(undefined, facts, { ...dropped, supportedApis: ['threats'] }, at)).toMatchObject({ status: 'UnHealthy' });
  });

  it('names the subsystem by API for collection streams and by kind otherwise', () => {
    expect(subsystemOf('collection-s-1-threats', 'threats')).toBe('threats');
    expect(subsystemOf('delivery-s-1', undefined)).toBe('delivery');
    expect(subsystemOf('delivery-s-1', 'threats')).toBe('delivery');
  });
});

describe('renderMetrics', () => {
  it('escapes label values', () => {
    const text = renderMetrics(
      {
        sources: [
          {
            _id: 's"1',
            collectorId: 'c\\1',
            name: 'line\nbreak "quoted"',
            description: null,
            category: null,
            baseUrl: 'https://x',
            supportedApis: [],
            state: 'Pending',
            since: '',
            reason: '',
            failure: null,
            generation: 1,
            createdAt: '',
            updatedAt: '',
            version: 1,
            position: 1,
          },
        ],
        apis: [],
        open: [],
      },
      new Date(),
    );
    expect(text).toContain('s1c_source_state{source_id="s\\"1",source="line\\nbreak \\"quoted\\"",collector="c\\\\1",state="Pending"} 1');
  });
});

describe('loadHealthConfig', () => {
  it('has defaults', () => {
    const config = loadHealthConfig({});
    expect(config).toMatchObject({ S1C_HEALTH_PORT: 8080, S1C_EVENT_GAP_TIMEOUT: 2000, S1C_SNAPSHOT_INTERVAL: 300_000 });
    expect(config.S1C_API_TOKEN).toBeUndefined();
    expect(config.S1C_HEALTH_HOST).toBe('127.0.0.1');
    expect(config.S1C_ALLOW_ANONYMOUS).toBe(false);
  });

  const problemsOf = (source: Record<string, string>): readonly string[] => {
    try {
      loadHealthConfig(source);
      return [];
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    }
  };

  it.each(['0.0.0.0', '::', '192.168.10.4', 'health.internal'])('refuses to listen on %s without a token, naming the variables to set', (host) => {
    const problems = problemsOf({ S1C_HEALTH_HOST: host });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^S1C_HEALTH_HOST: listens on .*, beyond loopback, without an API token/);
    for (const name of ['S1C_API_TOKEN', 'S1C_HEALTH_HOST=127.0.0.1', 'S1C_ALLOW_ANONYMOUS=true']) expect(problems[0]).toContain(name);
  });

  it('listens on 0.0.0.0 with a token or with S1C_ALLOW_ANONYMOUS=true, and on loopback without either', () => {
    expect(problemsOf({ S1C_HEALTH_HOST: '0.0.0.0', S1C_API_TOKEN: 'health-token-0123456789' })).toEqual([]);
    expect(problemsOf({ S1C_HEALTH_HOST: '0.0.0.0', S1C_ALLOW_ANONYMOUS: 'true' })).toEqual([]);
    expect(problemsOf({ S1C_HEALTH_HOST: '0.0.0.0', S1C_ALLOW_ANONYMOUS: 'false' })).toHaveLength(1);
    // Compose passes an unset token as an empty variable: that is no token.
    expect(problemsOf({ S1C_HEALTH_HOST: '0.0.0.0', S1C_API_TOKEN: '' })).toHaveLength(1);
    for (const host of ['127.0.0.1', '127.3.2.1', '::1', 'localhost']) expect(problemsOf({ S1C_HEALTH_HOST: host }), host).toEqual([]);
  });

  it('names every bad variable without echoing values', () => {
    let error: ConfigError | undefined;
    try {
      loadHealthConfig({ S1C_HEALTH_PORT: 'eighty', S1C_API_TOKEN: 'short-secret', S1C_EVENT_GAP_TIMEOUT: 'often' });
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error?.problems.map((p) => p.split(':')[0]).sort()).toEqual(['S1C_API_TOKEN', 'S1C_EVENT_GAP_TIMEOUT', 'S1C_HEALTH_PORT']);
    expect(error?.message).not.toContain('short-secret');
  });
});
