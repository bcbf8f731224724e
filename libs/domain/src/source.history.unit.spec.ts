import { describe, expect, it } from 'vitest';
import { describeActor, systemActor, UNKNOWN_NATS_IDENTITY, type Actor } from './actor';
import type { SourceEvent } from './source.events';
import { HISTORY_SECRET_MASK, sourceHistory, type HistoryInput } from './source.history';
import type { EncryptedSecret, SourceConfig } from './source.types';

const sourceId = 'src-1';
const secretA: EncryptedSecret = { alg: 'A256GCM', kid: 'keyA', iv: 'aXYtQQ==', ct: 'Y2lwaGVyLUE=', tag: 'dGFnLUE=' };
const secretA2: EncryptedSecret = { alg: 'A256GCM', kid: 'keyA', iv: 'aXYtQTI=', ct: 'Y2lwaGVyLUEy', tag: 'dGFnLUEy' };
const secretB: EncryptedSecret = { alg: 'A256GCM', kid: 'keyB', iv: 'aXYtQg==', ct: 'Y2lwaGVyLUI=', tag: 'dGFnLUI=' };
const config: SourceConfig = {
  name: 'SentinelOne',
  description: null,
  category: 'sec/s1',
  fields: [
    { key: '_siemForward', value: true },
    { key: 'team.name', value: 'soc' },
  ],
  baseUrl: 'https://usea1-partners.sentinelone.net/',
  supportedApis: ['activities', 'agents'],
};
const alice: Actor = { kind: 'nats', account: 'OPERATORS', user: 'alice', host: '10.0.0.5', clientName: 's1c-cli' };
const ops: Actor = { kind: 'http', caller: 'ops', ip: '10.1.2.3', verified: true, via: { account: 'GATEWAY', user: 'gateway', host: '10.0.0.9', clientName: 's1c-gateway' } };
const scheduler = systemActor('scheduler');

const at = (minute: number) => new Date(Date.UTC(2026, 10, 27, 10, minute)).toISOString();

let version = 0;
function logged(event: SourceEvent, actor: Actor, correlationId: string | null = `c${version + 1}`): HistoryInput {
  version += 1;
  return { ...event, version, actor, correlationId } as HistoryInput;
}

function created(): HistoryInput {
  version = 0;
  return logged({ type: 'SourceCreated', data: { sourceId, collectorId: 'default', config, secret: secretA, generation: 1, at: at(0) } }, alice);
}

describe('sourceHistory', () => {
  it('given no events, then the history is empty', () => {
    expect(sourceHistory([])).toEqual([]);
  });

  it('when a source is created, then the entry shows who, when, and every field set, with the token masked', () => {
    const [entry] = sourceHistory([created()]);
    expect(entry).toEqual({
      version: 1,
      at: at(0),
      type: 'SourceCreated',
      actor: alice,
      correlationId: 'c1',
      changes: [
        { path: 'collectorId', from: null, to: 'default' },
        { path: 'name', from: null, to: 'SentinelOne' },
        { path: 'category', from: null, to: 'sec/s1' },
        { path: 'fields._siemForward', from: null, to: true },
        { path: 'fields["team.name"]', from: null, to: 'soc' },
        { path: 'base_url', from: null, to: 'https://usea1-partners.sentinelone.net/' },
        { path: 'supported_apis', from: null, to: ['activities', 'agents'] },
        { path: 'api_secret', from: null, to: HISTORY_SECRET_MASK, masked: true },
        { path: 'state', from: null, to: 'Pending' },
      ],
    });
  });

  it('when an update changes fields, then exactly those changes are listed, each from the old value to the new', () => {
    const events = [
      created(),
      logged(
        {
          type: 'SourceUpdated',
          data: {
            sourceId,
            config: {
              ...config,
              description: 'EU console',
              fields: [
                { key: '_siemForward', value: false },
                { key: 'region', value: 'eu' },
              ],
              supportedApis: ['activities', 'agents', 'threats'],
            },
            changes: ['description', 'fields', 'supportedApis'],
            generation: 2,
            at: at(5),
          },
        },
        ops,
      ),
    ];
    const entry = sourceHistory(events)[1]!;
    expect(entry).toMatchObject({ version: 2, at: at(5), type: 'SourceUpdated', actor: ops, correlationId: 'c2' });
    expect(entry.changes).toEqual([
      { path: 'description', from: null, to: 'EU console' },
      { path: 'fields._siemForward', from: true, to: false },
      { path: 'fields["team.name"]', from: 'soc', to: null },
      { path: 'fields.region', from: null, to: 'eu' },
      { path: 'supported_apis', from: ['activities', 'agents'], to: ['activities', 'agents', 'threats'] },
    ]);
  });

  it('when an update sets, changes and drops options, then each option is listed by its path in the document', () => {
    const withOptions = (options: SourceConfig['options'], minute: number) =>
      logged({ type: 'SourceUpdated', data: { sourceId, config: { ...config, ...(options ? { options } : {}) }, changes: ['options'], generation: 2, at: at(minute) } }, alice);
    const entries = sourceHistory([
      created(),
      withOptions({ pollIntervalMs: 60_000, scope: { siteIds: ['22'] } }, 5),
      withOptions({ pollIntervalMs: 120_000, scope: { siteIds: ['22', '23'] }, apis: { agents: { pollIntervalMs: 900_000 } } }, 6),
      withOptions(undefined, 7),
    ]);
    expect(entries[1]!.changes).toEqual([
      { path: 'options.poll_interval', from: null, to: '1m' },
      { path: 'options.scope.site_ids', from: null, to: ['22'] },
    ]);
    expect(entries[2]!.changes).toEqual([
      { path: 'options.poll_interval', from: '1m', to: '2m' },
      { path: 'options.scope.site_ids', from: ['22'], to: ['22', '23'] },
      { path: 'options.apis.agents.poll_interval', from: null, to: '15m' },
    ]);
    expect(entries[3]!.changes).toEqual([
      { path: 'options.poll_interval', from: '2m', to: null },
      { path: 'options.scope.site_ids', from: ['22', '23'], to: null },
      { path: 'options.apis.agents.poll_interval', from: '15m', to: null },
    ]);
  });

  it('when an update moves a Collecting source back to Pending, then the state change is listed too', () => {
    const events = [
      created(),
      logged({ type: 'CollectionStarted', data: { sourceId, generation: 1, at: at(1) } }, scheduler),
      logged({ type: 'SourceUpdated', data: { sourceId, config: { ...config, name: 'Renamed' }, changes: ['name'], generation: 2, at: at(2) } }, alice),
    ];
    expect(sourceHistory(events)[2]!.changes).toEqual([
      { path: 'name', from: 'SentinelOne', to: 'Renamed' },
      { path: 'state', from: 'Started', to: 'Pending' },
    ]);
  });

  it('when an update replaces the token, then it shows that the token changed, masked on both sides, and nothing of the ciphertext', () => {
    const events = [
      created(),
      logged({ type: 'SourceUpdated', data: { sourceId, config, secret: secretA2, changes: ['secret'], generation: 2, at: at(3) } }, alice),
    ];
    const history = sourceHistory(events);
    expect(history[1]!.changes).toEqual([{ path: 'api_secret', from: HISTORY_SECRET_MASK, to: HISTORY_SECRET_MASK, masked: true }]);
    const text = JSON.stringify(history);
    for (const secret of [secretA, secretA2]) {
      for (const part of [secret.ct, secret.iv, secret.tag]) expect(text).not.toContain(part);
    }
  });

  it('when the token is re-encrypted under a new key, then the entry says so by its type, and shows no change (not even the key id)', () => {
    const events = [
      created(),
      logged({ type: 'SourceSecretReencrypted', data: { sourceId, secret: secretB, at: at(4) } }, systemActor('registry-reencrypt')),
    ];
    const entry = sourceHistory(events)[1]!;
    expect(entry).toMatchObject({ type: 'SourceSecretReencrypted', actor: { kind: 'system', component: 'registry-reencrypt' } });
    expect(entry.changes).toEqual([]);
    for (const part of [secretA.ct, secretA.kid, secretB.ct, secretB.kid]) expect(JSON.stringify(entry)).not.toContain(part);
  });

  it('follows the lifecycle: each step is a state change by its actor; a failure also shows its reason', () => {
    const events = [
      created(),
      logged({ type: 'CollectionStarted', data: { sourceId, generation: 1, at: at(1) } }, scheduler),
      logged({ type: 'CollectionInitialized', data: { sourceId, generation: 1, at: at(2) } }, scheduler),
      logged({ type: 'SourceAuthenticated', data: { sourceId, generation: 1, at: at(3) } }, systemActor('fetcher-activities')),
      logged({ type: 'CollectionBegan', data: { sourceId, generation: 1, at: at(4) } }, systemActor('fetcher-activities')),
      logged(
        {
          type: 'SourceFailed',
          data: { sourceId, generation: 1, failure: { errorType: 'ThirdPartyConfig', reason: 'HTTP 401', api: 'agents' }, at: at(5) },
        },
        systemActor('fetcher-agents'),
      ),
      logged({ type: 'SourceRestarted', data: { sourceId, generation: 2, at: at(6) } }, alice),
      logged({ type: 'SourceDeletionRequested', data: { sourceId, at: at(7) } }, ops),
      logged({ type: 'SourceDeleted', data: { sourceId, at: at(8) } }, systemActor('scheduler')),
    ];
    const history = sourceHistory(events);
    expect(history.map((e) => [e.version, e.type, e.changes])).toEqual([
      [1, 'SourceCreated', expect.any(Array)],
      [2, 'CollectionStarted', [{ path: 'state', from: 'Pending', to: 'Started' }]],
      [3, 'CollectionInitialized', [{ path: 'state', from: 'Started', to: 'Initialized' }]],
      [4, 'SourceAuthenticated', [{ path: 'state', from: 'Initialized', to: 'Authenticated' }]],
      [5, 'CollectionBegan', [{ path: 'state', from: 'Authenticated', to: 'Collecting' }]],
      [
        6,
        'SourceFailed',
        [
          { path: 'state', from: 'Collecting', to: 'Error' },
          { path: 'error', from: null, to: 'ThirdPartyConfig (agents): HTTP 401' },
        ],
      ],
      [7, 'SourceRestarted', [{ path: 'state', from: 'Error', to: 'Pending' }]],
      [8, 'SourceDeletionRequested', [{ path: 'state', from: 'Pending', to: 'Stopping' }]],
      [9, 'SourceDeleted', [{ path: 'state', from: 'Stopping', to: 'Deleted' }]],
    ]);
    expect(history.map((e) => e.actor.kind)).toEqual(['nats', 'system', 'system', 'system', 'system', 'system', 'nats', 'http', 'system']);
  });

  it('keeps an entry for an event that changed nothing (an event the fold ignores), with no changes', () => {
    const events = [created(), logged({ type: 'SourceCreated', data: { sourceId, collectorId: 'default', config, secret: secretB, generation: 1, at: at(1) } }, alice)];
    expect(sourceHistory(events)[1]).toMatchObject({ version: 2, changes: [] });
  });

  it('keeps a missing correlation id as null and an old string actor as it was read', () => {
    version = 0;
    const legacy: Actor = { kind: 'legacy', name: 'nats' };
    const first = logged({ type: 'SourceCreated', data: { sourceId, collectorId: 'default', config, secret: secretA, generation: 1, at: at(0) } }, legacy, null);
    expect(sourceHistory([first])[0]).toMatchObject({ actor: legacy, correlationId: null });
  });
});

describe('describeActor', () => {
  it.each<[Actor, string]>([
    [alice, 'alice@OPERATORS from 10.0.0.5 (s1c-cli)'],
    [{ kind: 'nats', ...UNKNOWN_NATS_IDENTITY }, 'unauthenticated'],
    [ops, 'http ops from 10.1.2.3 via gateway@GATEWAY from 10.0.0.9 (s1c-gateway)'],
    [{ kind: 'http', caller: 'api', ip: null, verified: false, via: UNKNOWN_NATS_IDENTITY }, 'http api via unauthenticated (unverified)'],
    [scheduler, 'system scheduler'],
    [{ kind: 'legacy', name: 'fetcher-agents' }, 'fetcher-agents'],
  ])('describes %j as %s', (actor, text) => {
    expect(describeActor(actor)).toBe(text);
  });
});
