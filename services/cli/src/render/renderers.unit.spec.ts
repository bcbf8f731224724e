import { listSourcesReplySchema, sourceReplySchema, testReplySchema, type SourceDocument } from '@s1c/contracts';
import { describe, expect, it } from 'vitest';
import { CliError, EXIT, printableUrl, RefusedError } from '../cli.errors';
import { settingsFrom } from '../cli.env';
import type { SourceStatus } from '../health.schemas';
import { validateReply } from '../nats.session';
import { renderError } from './error.renderer';
import { renderHealthDetail, renderHealthOverview } from './health.renderer';
import { renderReplayReply, renderSourceDetail, renderSourceTable, renderTestReply, testPassed } from './source.renderer';
import { ansiStyle, plainStyle, styleFor, visible } from './style';
import { renderTable } from './table.renderer';
import { renderWatchLine, WatchTracker, type RelayedEvent } from './watch.renderer';

const NOW = new Date('2026-11-27T12:00:00Z');

function doc(id: string, name: string, state: SourceDocument['source']['state'], extra: Partial<SourceDocument['source']['config']> = {}): SourceDocument {
  return {
    'api.version': 'v1',
    collectorId: 'default',
    version: 3,
    source: {
      id,
      config: {
        name,
        description: null,
        category: 'sec/s1',
        fields: { _siemForward: true, team: 'soc' },
        base_url: 'https://usea1.sentinelone.net',
        api_secret: '********',
        supported_apis: ['activities', 'threats'],
        ...extra,
      },
      schemaRef: { type: 'SentinelOne Mgmt API' },
      sourceType: 'Universal',
      state,
      createdAt: '2026-11-27T10:00:00.000000Z',
      updatedAt: '2026-11-27T11:55:00.000000Z',
    },
  };
}

describe('tables', () => {
  it('align columns by what shows on screen, right-align numbers, and leave no trailing blanks', () => {
    const rows = [
      { a: 'x', n: 5 },
      { a: 'longer', n: 120 },
    ];
    const text = renderTable([{ header: 'NAME', cell: (r: (typeof rows)[number]) => ansiStyle.state(r.a) }, { header: 'N', cell: (r) => String(r.n), align: 'right' }], rows);
    expect(visible(text)).toBe('NAME      N\nx         5\nlonger  120\n');
    expect(text.split('\n').every((l) => !l.endsWith(' '))).toBe(true);
  });

  it('keep a multi-line cell on one line', () => {
    expect(renderTable([{ header: 'A', cell: (r: string) => r }], ['one\ntwo'])).toBe('A\none two\n');
  });
});

describe('colour', () => {
  it('is used only on a terminal without NO_COLOR or --no-color', () => {
    expect(styleFor(true, {})).toBe(ansiStyle);
    expect(styleFor(false, {})).toBe(plainStyle);
    expect(styleFor(true, { NO_COLOR: '1' })).toBe(plainStyle);
    expect(styleFor(true, {}, true)).toBe(plainStyle);
    expect(ansiStyle.state('Error')).toBe('\u001b[31mError\u001b[0m');
    expect(ansiStyle.state('Collecting')).toBe('\u001b[32mCollecting\u001b[0m');
  });
});

describe('source output', () => {
  it('lists sources as a table with their state and age', () => {
    const text = renderSourceTable([doc('s1', 'Alpha', { state: 'Collecting', since: '2026-11-27T11:55:00Z' }), doc('s2', 'Bravo Corp', { state: 'Error', since: '2026-11-27T09:00:00Z' })], plainStyle, NOW);
    expect(text).toBe(
      [
        'ID  NAME        COLLECTOR  STATE       SINCE  APIS              BASE URL',
        's1  Alpha       default    Collecting     5m  activities,threats  https://usea1.sentinelone.net',
        's2  Bravo Corp  default    Error          3h  activities,threats  https://usea1.sentinelone.net',
        '',
      ].join('\n').replace('APIS              BASE', 'APIS                BASE'),
    );
    expect(renderSourceTable([], plainStyle, NOW)).toBe('No sources.\n');
  });

  it('shows one source field by field, with the failure behind an Error and the masked secret', () => {
    const text = renderSourceDetail(
      doc('s2', 'Bravo', { state: 'Error', since: '2026-11-27T11:00:00.000000Z', error: { errorType: 'ThirdPartyConfig', eventName: 'ThirdPartyConfigError', reason: 'HTTP 401: token refused' } }),
      plainStyle,
      NOW,
    );
    expect(text).toContain('state        Error since 2026-11-27 11:00:00Z (1h ago)\n');
    expect(text).toContain('error        ThirdPartyConfigError: HTTP 401: token refused\n');
    expect(text).toContain('api_secret   ********\n');
    expect(text).toContain('fields       _siemForward=true team="soc"\n');
    expect(text).toContain('options      -\n');
  });

  it('shows per-source options as path=value pairs', () => {
    const options = { poll_interval: '1m', scope: { site_ids: ['11', '12'] }, requests_per_second: 2, apis: { agents: { poll_interval: '15m' } } };
    const text = renderSourceDetail(doc('s3', 'Charlie', { state: 'Collecting', since: '2026-11-27T11:00:00.000000Z' }, { options }), plainStyle, NOW);
    expect(text).toContain('options      poll_interval=1m scope.site_ids=11,12 requests_per_second=2 apis.agents.poll_interval=15m\n');
  });

  it('a test reply shows the verdict, each API and each problem with what to do', () => {
    const reply = testReplySchema.parse({
      ok: true,
      base_url: 'https://c.example',
      reachable: true,
      authenticated: true,
      apis: { activities: { readable: true }, agents: { readable: true }, threats: { readable: false, reason: 'HTTP 403' } },
      tokenExpiresAt: '2027-01-01T00:00:00Z',
      problems: [{ api: 'threats', errorType: 'ThirdPartyConfig', reason: 'HTTP 403', message: 'Give the token the Threats view permission.' }],
    });
    expect(testPassed(reply)).toBe(false);
    const text = renderTestReply(reply, plainStyle);
    expect(text).toContain('authenticated  yes\n');
    expect(text).toContain('threats     no        HTTP 403\n');
    expect(text).toContain('  - threats: ThirdPartyConfig: HTTP 403\n    Give the token the Threats view permission.\n');
    expect(text.endsWith('Test found problems.\n')).toBe(true);
  });

  it('a replay reply says what was accepted', () => {
    expect(renderReplayReply({ ok: true, sourceId: 's1', api: 'activities', window: { from: '2026-11-27T00:00:00.000000Z', to: '2026-11-27T06:00:00.000000Z' } })).toBe(
      'Replay of activities for source s1 requested: 2026-11-27 00:00:00Z to 2026-11-27 06:00:00Z.\n',
    );
  });
});

describe('errors', () => {
  it('print the message and each detail, indented', () => {
    const error = new RefusedError({ ok: false, error: { code: 'ValidationError', message: 'invalid request', details: [{ path: 'source.config.name', message: 'is required' }, { path: '', message: 'too big' }] } });
    expect(error.exitCode).toBe(EXIT.refused);
    expect(renderError(error, plainStyle)).toBe('s1c: ValidationError: invalid request\n  - source.config.name: is required\n  - (payload): too big\n');
  });

  it('never print credentials in a URL', () => {
    expect(printableUrl('nats://alice:s3cret@nats.example:4222')).toBe('nats://nats.example:4222');
    expect(printableUrl('nats://a:4222, nats://u:p@b:4222')).toBe('nats://a:4222,nats://b:4222');
    expect(printableUrl('https://health.example:8080/?token=x')).toBe('https://health.example:8080');
  });
});

describe('replies are checked against the contract', () => {
  it('a refusal becomes a RefusedError with its details; a malformed reply exits 5 naming each bad field', () => {
    expect(() => validateReply('s1c.cmd.source.get', { ok: false, error: { code: 'SourceNotFound', message: 'no source x' } }, sourceReplySchema)).toThrow(RefusedError);
    let error: CliError | undefined;
    try {
      validateReply('s1c.cmd.source.list', { ok: true, sources: [{ id: 1 }], nextCursor: null }, listSourcesReplySchema);
    } catch (e) {
      error = e as CliError;
    }
    expect(error?.exitCode).toBe(EXIT.badReply);
    expect(error?.lines).toContain('sources[0]["api.version"]: Invalid input: expected "v1"');
    const good = { ok: true, sources: [], nextCursor: null };
    expect(validateReply('s1c.cmd.source.list', good, listSourcesReplySchema)).toEqual(good);
  });

  it('a reply with ok:false but no error body is malformed, not a refusal', () => {
    expect(() => validateReply('s', { ok: false }, sourceReplySchema)).toThrow(expect.objectContaining({ exitCode: EXIT.badReply }));
  });
});

describe('settings', () => {
  it('flags win over the environment, which wins over the defaults', () => {
    expect(settingsFrom({}, {})).toEqual({ natsUrl: 'nats://127.0.0.1:4222', healthUrl: 'http://127.0.0.1:8080', timeoutMs: 15_000 });
    expect(settingsFrom({ NATS_URL: 'nats://n:4222', NATS_USER: 'u', NATS_PASSWORD: 'p', S1C_HEALTH_URL: 'http://h:1/', S1C_API_TOKEN: 't' }, { natsUrl: 'nats://flag:4222', timeout: 500 })).toEqual({
      natsUrl: 'nats://flag:4222',
      natsUser: 'u',
      natsPassword: 'p',
      healthUrl: 'http://h:1',
      apiToken: 't',
      timeoutMs: 500,
    });
  });
});

const status = (over: Partial<SourceStatus>): SourceStatus => ({
  id: 's1',
  name: 'Alpha',
  collectorId: 'default',
  state: 'Collecting',
  since: '2026-11-27T11:00:00.000000Z',
  reason: 'Data is being collected.',
  health: 'healthy',
  openErrors: 0,
  openWarnings: 0,
  openHealthEvents: [],
  apis: [{ api: 'activities', checkpoint: '2026-11-27T11:58:00.000000Z', lagSeconds: 120, lastSuccessfulPollAt: '2026-11-27T11:59:00Z', records: { total: 8000 }, backfill: { percent: 100, done: true }, failuresTotal: 0 }],
  ...over,
});

describe('health output', () => {
  it('the overview has one line per source and a summary', () => {
    const text = renderHealthOverview([status({}), status({ id: 's2', name: 'Bravo', state: 'Error', health: 'error', openErrors: 1, apis: [] })], plainStyle, NOW);
    expect(text).toContain('NAME   ID  COLLECTOR  STATE       SINCE  HEALTH   ERRORS  WARNINGS  MAX LAG\n');
    expect(text).toContain('Alpha  s1  default    Collecting     1h  healthy       0         0    2m00s\n');
    expect(text).toContain('Bravo  s2  default    Error          1h  error         1         0        -\n');
    expect(text).toContain('2 source(s), 1 not healthy: run `s1c health <ID>` for why.');
  });

  it('one source shows each open event with its reason and what to do', () => {
    const text = renderHealthDetail(
      status({
        health: 'warning',
        openWarnings: 1,
        openHealthEvents: [
          { eventId: 'h1', eventName: 'ThirdPartyGenericError', severityLevel: 'Warning', errorType: 'RateLimited', eventTime: '2026-11-27T11:50:00.000000Z', description: 'HTTP 429 from SentinelOne', action: 'Nothing: collection continues more slowly.', occurrences: 3, api: 'activities' },
        ],
      }),
      plainStyle,
      NOW,
    );
    expect(text).toContain('health  warning: 0 open error(s), 1 open warning(s)\n');
    expect(text).toContain('activities  2026-11-27 11:58:00Z  2m00s     1m ago     8000      done            0\n');
    expect(text).toContain('  Warning  ThirdPartyGenericError (activities)  since 2026-11-27 11:50:00Z, 3 times\n    reason:  HTTP 429 from SentinelOne\n    to do:   Nothing: collection continues more slowly.\n');
  });

  it("shows a token that expires soon as a source-wide warning, with the date and what to do", () => {
    const description = "The source's API token will expire at 2026-12-05T12:00:00.000000Z (in 8 days); collection stops then.";
    const action = "Create a new API token in the SentinelOne console and update the source's api_secret before the old one expires.";
    const text = renderHealthDetail(
      status({
        health: 'warning',
        openWarnings: 1,
        openHealthEvents: [{ eventId: 't1', eventName: 'TokenExpiringWarning', severityLevel: 'Warning', errorType: 'TokenExpiring', eventTime: '2026-11-27T11:50:00.000000Z', description, action, occurrences: 2, api: null }],
      }),
      plainStyle,
      NOW,
    );
    expect(text).toContain(`  Warning  TokenExpiringWarning  since 2026-11-27 11:50:00Z, 2 times\n    reason:  ${description}\n    to do:   ${action}\n`);
  });
});

describe('watch', () => {
  const event = (streamId: string, version: number, type: string, data: Record<string, unknown>): RelayedEvent => ({ streamId, version, type, data: { at: '2026-11-27T12:00:00.000000Z', ...data }, time: '2026-11-27T12:00:00.100000Z' });

  it('turns the lifecycle into from → to lines with the name, and ignores the secret and other events', () => {
    const tracker = new WatchTracker();
    const created = tracker.apply(event('source-s1', 1, 'SourceCreated', { sourceId: 's1', config: { name: 'Alpha' }, secret: { ciphertext: 'zzz' } }));
    expect(created).toEqual({ kind: 'state', time: '2026-11-27T12:00:00.000000Z', sourceId: 's1', name: 'Alpha', event: 'SourceCreated', from: null, to: 'Pending' });
    expect(JSON.stringify(created)).not.toContain('zzz');
    const started = tracker.apply(event('source-s1', 2, 'CollectionStarted', { sourceId: 's1' }))!;
    expect(renderWatchLine(started, plainStyle)).toBe('2026-11-27 12:00:00Z  Alpha (s1)  Pending → Started\n');
    expect(tracker.apply(event('collection-s1-activities', 4, 'PageCollected', { sourceId: 's1' }))).toBeUndefined();
    const failed = tracker.apply(event('source-s1', 3, 'SourceFailed', { sourceId: 's1', failure: { errorType: 'ThirdPartyConfig', reason: 'HTTP 401', api: 'threats' } }))!;
    expect(renderWatchLine(failed, plainStyle)).toBe('2026-11-27 12:00:00Z  Alpha (s1)  Started → Error  ThirdPartyConfig (threats): HTTP 401\n');
  });

  it('shows health events raised and resolved, naming the resolved one from what it saw', () => {
    const tracker = new WatchTracker();
    tracker.learn('my-src', 'Alpha');
    const raised = tracker.apply(
      event('collection-my-src-activities', 9, 'HealthEventRaised', { healthEventId: 'h1', severity: 'Warning', errorType: 'RateLimited', eventName: 'ThirdPartyGenericError', description: 'HTTP 429', sourceId: 'my-src', api: 'activities' }),
    )!;
    expect(renderWatchLine(raised, plainStyle)).toBe('2026-11-27 12:00:00Z  Alpha (my-src)  Warning ThirdPartyGenericError (activities): HTTP 429\n');
    const resolved = tracker.apply(event('collection-my-src-activities', 10, 'HealthEventResolved', { healthEventId: 'h1' }))!;
    expect(resolved.sourceId).toBe('my-src');
    expect(renderWatchLine(resolved, plainStyle)).toBe('2026-11-27 12:00:00Z  Alpha (my-src)  resolved ThirdPartyGenericError (activities)\n');
  });
});

describe('smoke', () => {
  it('sourceReplySchema accepts the rendered sample', () => {
    expect(sourceReplySchema.safeParse({ ok: true, ...doc('s1', 'A', { state: 'Pending', since: 'x' }) }).success).toBe(true);
  });
});
