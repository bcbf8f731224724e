import { describe, expect, it } from 'vitest';
import { decideSource, evolveSource, foldSource, initialSourceState, type SourceCommand, type SourceState, type SourceStatus } from './source.decider';
import {
  IllegalTransitionError,
  SourceAlreadyExistsError,
  SourceNotFoundError,
  StaleGenerationError,
  type DomainError,
} from './source.errors';
import type { SourceEvent, SourceEventType } from './source.events';
import type { EncryptedSecret, SourceConfig } from './source.types';

const now = new Date('2026-11-27T10:00:00.000Z');
const sourceId = 'src-1';
const secret: EncryptedSecret = { alg: 'A256GCM', kid: 'k1', iv: 'aXY=', ct: 'Y3Q=', tag: 'dGFn' };
const config: SourceConfig = {
  name: 'SentinelOne',
  description: null,
  category: 'sec/s1',
  fields: [{ key: '_siemForward', value: true }],
  baseUrl: 'https://usea1-partners.sentinelone.net/',
  supportedApis: ['activities', 'agents', 'threats'],
};

function at(minute: number): string {
  return new Date(now.getTime() + minute * 60_000).toISOString();
}

const created: SourceEvent = { type: 'SourceCreated', data: { sourceId, collectorId: 'default', config, secret, generation: 1, at: at(0) } };
const lifecycle: SourceEvent[] = [
  { type: 'CollectionStarted', data: { sourceId, generation: 1, at: at(1) } },
  { type: 'CollectionInitialized', data: { sourceId, generation: 1, at: at(2) } },
  { type: 'SourceAuthenticated', data: { sourceId, generation: 1, at: at(3) } },
  { type: 'CollectionBegan', data: { sourceId, generation: 1, at: at(4) } },
];
const failed: SourceEvent = {
  type: 'SourceFailed',
  data: { sourceId, generation: 1, failure: { errorType: 'ThirdPartyConfig', reason: '401 from SentinelOne' }, at: at(5) },
};
const deletionRequested: SourceEvent = { type: 'SourceDeletionRequested', data: { sourceId, at: at(6) } };
const deleted: SourceEvent = { type: 'SourceDeleted', data: { sourceId, at: at(7) } };

type Reachable = SourceStatus | 'Nonexistent';
const HISTORY: Record<Reachable, SourceEvent[]> = {
  Nonexistent: [],
  Pending: [created],
  Started: [created, ...lifecycle.slice(0, 1)],
  Initialized: [created, ...lifecycle.slice(0, 2)],
  Authenticated: [created, ...lifecycle.slice(0, 3)],
  Collecting: [created, ...lifecycle],
  Error: [created, lifecycle[0]!, failed],
  Stopping: [created, ...lifecycle, deletionRequested],
  Deleted: [created, ...lifecycle, deletionRequested, deleted],
};

function given(status: Reachable): SourceState {
  const state = foldSource(HISTORY[status]);
  expect(state.status).toBe(status);
  return state;
}

const meta = { now };
const COMMANDS: Record<SourceCommand['type'], SourceCommand> = {
  CreateSource: { type: 'CreateSource', data: { sourceId, collectorId: 'default', config, secret }, metadata: meta },
  UpdateSource: { type: 'UpdateSource', data: { sourceId, config: { ...config, category: 'sec/s1/new' } }, metadata: meta },
  ReencryptSourceSecret: { type: 'ReencryptSourceSecret', data: { sourceId, secret: { ...secret, kid: 'k2', ct: 'bmV3' } }, metadata: meta },
  RestartSource: { type: 'RestartSource', data: { sourceId }, metadata: meta },
  DeleteSource: { type: 'DeleteSource', data: { sourceId }, metadata: meta },
  CompleteSourceDeletion: { type: 'CompleteSourceDeletion', data: { sourceId }, metadata: meta },
  StartCollection: { type: 'StartCollection', data: { sourceId, generation: 1 }, metadata: meta },
  InitializeCollection: { type: 'InitializeCollection', data: { sourceId, generation: 1 }, metadata: meta },
  MarkSourceAuthenticated: { type: 'MarkSourceAuthenticated', data: { sourceId, generation: 1 }, metadata: meta },
  BeginCollection: { type: 'BeginCollection', data: { sourceId, generation: 1 }, metadata: meta },
  FailSource: {
    type: 'FailSource',
    data: { sourceId, generation: 1, failure: { errorType: 'ThirdPartyGeneric', reason: 'HTTP 503 for 90 minutes' } },
    metadata: meta,
  },
};

type Outcome = SourceEventType | 'nothing' | (new (...args: never[]) => DomainError);
const NotFound = SourceNotFoundError;
const Exists = SourceAlreadyExistsError;
const Illegal = IllegalTransitionError;

// Rows: the state a command meets; columns: what it yields. This table is the state machine.
const TABLE: Record<Reachable, Record<SourceCommand['type'], Outcome>> = {
  Nonexistent: {
    ReencryptSourceSecret: NotFound,
    CreateSource: 'SourceCreated', UpdateSource: NotFound, RestartSource: NotFound, DeleteSource: NotFound,
    CompleteSourceDeletion: NotFound, StartCollection: NotFound, InitializeCollection: NotFound,
    MarkSourceAuthenticated: NotFound, BeginCollection: NotFound, FailSource: NotFound,
  },
  Pending: {
    ReencryptSourceSecret: 'SourceSecretReencrypted',
    CreateSource: Exists, UpdateSource: 'SourceUpdated', RestartSource: 'SourceRestarted', DeleteSource: 'SourceDeletionRequested',
    CompleteSourceDeletion: Illegal, StartCollection: 'CollectionStarted', InitializeCollection: Illegal,
    MarkSourceAuthenticated: Illegal, BeginCollection: Illegal, FailSource: 'SourceFailed',
  },
  Started: {
    ReencryptSourceSecret: 'SourceSecretReencrypted',
    CreateSource: Exists, UpdateSource: 'SourceUpdated', RestartSource: 'SourceRestarted', DeleteSource: 'SourceDeletionRequested',
    CompleteSourceDeletion: Illegal, StartCollection: 'nothing', InitializeCollection: 'CollectionInitialized',
    MarkSourceAuthenticated: Illegal, BeginCollection: Illegal, FailSource: 'SourceFailed',
  },
  Initialized: {
    ReencryptSourceSecret: 'SourceSecretReencrypted',
    CreateSource: Exists, UpdateSource: 'SourceUpdated', RestartSource: 'SourceRestarted', DeleteSource: 'SourceDeletionRequested',
    CompleteSourceDeletion: Illegal, StartCollection: 'nothing', InitializeCollection: 'nothing',
    MarkSourceAuthenticated: 'SourceAuthenticated', BeginCollection: Illegal, FailSource: 'SourceFailed',
  },
  Authenticated: {
    ReencryptSourceSecret: 'SourceSecretReencrypted',
    CreateSource: Exists, UpdateSource: 'SourceUpdated', RestartSource: 'SourceRestarted', DeleteSource: 'SourceDeletionRequested',
    CompleteSourceDeletion: Illegal, StartCollection: 'nothing', InitializeCollection: 'nothing',
    MarkSourceAuthenticated: 'nothing', BeginCollection: 'CollectionBegan', FailSource: 'SourceFailed',
  },
  Collecting: {
    ReencryptSourceSecret: 'SourceSecretReencrypted',
    CreateSource: Exists, UpdateSource: 'SourceUpdated', RestartSource: 'SourceRestarted', DeleteSource: 'SourceDeletionRequested',
    CompleteSourceDeletion: Illegal, StartCollection: 'nothing', InitializeCollection: 'nothing',
    MarkSourceAuthenticated: 'nothing', BeginCollection: 'nothing', FailSource: 'SourceFailed',
  },
  Error: {
    ReencryptSourceSecret: 'SourceSecretReencrypted',
    CreateSource: Exists, UpdateSource: 'SourceUpdated', RestartSource: 'SourceRestarted', DeleteSource: 'SourceDeletionRequested',
    CompleteSourceDeletion: Illegal, StartCollection: Illegal, InitializeCollection: Illegal,
    MarkSourceAuthenticated: Illegal, BeginCollection: Illegal, FailSource: 'nothing',
  },
  Stopping: {
    ReencryptSourceSecret: 'SourceSecretReencrypted',
    CreateSource: Exists, UpdateSource: Illegal, RestartSource: Illegal, DeleteSource: 'nothing',
    CompleteSourceDeletion: 'SourceDeleted', StartCollection: Illegal, InitializeCollection: Illegal,
    MarkSourceAuthenticated: Illegal, BeginCollection: Illegal, FailSource: 'nothing',
  },
  Deleted: {
    ReencryptSourceSecret: NotFound,
    CreateSource: Exists, UpdateSource: NotFound, RestartSource: NotFound, DeleteSource: NotFound,
    CompleteSourceDeletion: 'nothing', StartCollection: NotFound, InitializeCollection: NotFound,
    MarkSourceAuthenticated: NotFound, BeginCollection: NotFound, FailSource: NotFound,
  },
};

const NEXT_STATUS: Partial<Record<SourceEventType, SourceStatus>> = {
  SourceCreated: 'Pending', SourceUpdated: 'Pending', SourceRestarted: 'Pending', SourceDeletionRequested: 'Stopping',
  SourceDeleted: 'Deleted', CollectionStarted: 'Started', CollectionInitialized: 'Initialized',
  SourceAuthenticated: 'Authenticated', CollectionBegan: 'Collecting', SourceFailed: 'Error',
};

describe('Source decider: the whole state machine', () => {
  for (const [status, row] of Object.entries(TABLE) as [Reachable, Record<SourceCommand['type'], Outcome>][]) {
    describe(`given a source that is ${status}`, () => {
      for (const [commandType, outcome] of Object.entries(row) as [SourceCommand['type'], Outcome][]) {
        const command = COMMANDS[commandType];
        if (typeof outcome === 'function') {
          it(`when ${commandType}, then it is refused with ${outcome.name}`, () => {
            expect(() => decideSource(command, given(status))).toThrow(outcome);
          });
        } else if (outcome === 'nothing') {
          it(`when ${commandType}, then nothing happens (idempotent)`, () => {
            expect(decideSource(command, given(status))).toEqual([]);
          });
        } else {
          it(`when ${commandType}, then ${outcome} moves it to ${NEXT_STATUS[outcome] ?? status}`, () => {
            const events = decideSource(command, given(status));
            const before = given(status);
            if (outcome === 'SourceUpdated' || outcome === 'SourceRestarted') {
              expect(events[0]!.data).toMatchObject({ generation: 'generation' in before ? before.generation + 1 : NaN });
            }
            expect(events.map((e) => e.type)).toEqual([outcome]);
            expect(events[0]!.data.at).toBe(now.toISOString());
            expect(evolveSource(given(status), events[0]!).status).toBe(NEXT_STATUS[outcome] ?? status);
          });
        }
      }
    });
  }
});

describe('Source decider: details', () => {
  it('starts at Nonexistent', () => {
    expect(initialSourceState()).toEqual({ status: 'Nonexistent' });
  });

  it('when an update changes nothing, then no event is recorded and the state stays', () => {
    const update: SourceCommand = { type: 'UpdateSource', data: { sourceId, config }, metadata: meta };
    expect(decideSource(update, given('Collecting'))).toEqual([]);
  });

  it('when an update changes several fields, then the event lists exactly those changes', () => {
    const update: SourceCommand = {
      type: 'UpdateSource',
      data: {
        sourceId,
        config: { ...config, name: 'S1 prod', fields: [{ key: 'team', value: 'soc' }], supportedApis: ['threats'] },
        secret: { ...secret, ct: 'bmV3' },
      },
      metadata: meta,
    };
    const [event] = decideSource(update, given('Collecting'));
    expect(event?.type === 'SourceUpdated' && event.data.changes).toEqual(['name', 'fields', 'supportedApis', 'secret']);
  });

  it('when an update changes only the options, then the event says so; the same options (or none and {}) change nothing', () => {
    const options = { pollIntervalMs: 60_000, scope: { siteIds: ['22'] } };
    const [event] = decideSource({ type: 'UpdateSource', data: { sourceId, config: { ...config, options } }, metadata: meta }, given('Collecting'));
    expect(event?.type === 'SourceUpdated' && event.data.changes).toEqual(['options']);
    const withOptions = foldSource([...HISTORY.Collecting, event!]);
    expect(decideSource({ type: 'UpdateSource', data: { sourceId, config: { ...config, options: { ...options } } }, metadata: meta }, withOptions)).toEqual([]);
    expect(decideSource({ type: 'UpdateSource', data: { sourceId, config: { ...config, options: {} } }, metadata: meta }, given('Collecting'))).toEqual([]);
  });

  it('when an update carries no secret, then the stored secret is kept', () => {
    const events = [...HISTORY.Collecting, { type: 'SourceUpdated', data: { sourceId, config, changes: ['category'], generation: 2, at: at(9) } } as SourceEvent];
    const state = foldSource(events);
    expect(state.status === 'Pending' && state.secret).toEqual(secret);
  });

  it('when an update carries a new secret, then it replaces the stored one', () => {
    const fresh = { ...secret, ct: 'ZnJlc2g=' };
    const state = foldSource([...HISTORY.Pending, { type: 'SourceUpdated', data: { sourceId, config, secret: fresh, changes: ['secret'], generation: 2, at: at(9) } }]);
    expect(state.status === 'Pending' && state.secret).toEqual(fresh);
  });

  it('when the secret is re-encrypted, then only the secret changes, and a repeat under the same key does nothing', () => {
    const before = given('Collecting');
    const events = decideSource(COMMANDS.ReencryptSourceSecret, before);
    expect(events).toEqual([{ type: 'SourceSecretReencrypted', data: { sourceId, secret: { ...secret, kid: 'k2', ct: 'bmV3' }, at: now.toISOString() } }]);
    const after = evolveSource(before, events[0]!);
    expect(after).toEqual({ ...before, secret: { ...secret, kid: 'k2', ct: 'bmV3' } });
    expect(decideSource(COMMANDS.ReencryptSourceSecret, after)).toEqual([]);
  });

  it('when a source is updated or restarted, then its generation grows and the failure is cleared', () => {
    const state = foldSource([...HISTORY.Error, { type: 'SourceRestarted', data: { sourceId, generation: 2, at: at(9) } }]);
    expect(state).toMatchObject({ status: 'Pending', generation: 2, since: at(9) });
    expect('failure' in state).toBe(false);
    const updated = foldSource([...HISTORY.Error, { type: 'SourceUpdated', data: { sourceId, config, changes: ['secret'], secret, generation: 2, at: at(9) } }]);
    expect(updated).toMatchObject({ status: 'Pending', generation: 2 });
  });

  it('when a collection step reports an older generation, then it is refused as stale', () => {
    const restarted = foldSource([...HISTORY.Collecting, { type: 'SourceRestarted', data: { sourceId, generation: 2, at: at(9) } }]);
    for (const type of ['StartCollection', 'InitializeCollection', 'MarkSourceAuthenticated', 'BeginCollection', 'FailSource'] as const) {
      expect(() => decideSource({ ...COMMANDS[type] } as SourceCommand, restarted)).toThrow(StaleGenerationError);
    }
    expect(decideSource({ type: 'StartCollection', data: { sourceId, generation: 2 }, metadata: meta }, restarted).map((e) => e.type)).toEqual([
      'CollectionStarted',
    ]);
  });

  it('when a source fails, then the state carries the failure and since when', () => {
    const state = given('Error');
    expect(state).toMatchObject({ status: 'Error', since: at(5), failure: { errorType: 'ThirdPartyConfig', reason: '401 from SentinelOne' } });
  });

  it('when a source is deleted, then only its identity and name remain', () => {
    expect(given('Deleted')).toEqual({ status: 'Deleted', sourceId, collectorId: 'default', name: 'SentinelOne', since: at(7) });
  });

  it('walks the healthy sequence Pending, Started, Initialized, Authenticated, Collecting', () => {
    const seen: string[] = [];
    let state = foldSource([created]);
    seen.push(state.status);
    for (const type of ['StartCollection', 'InitializeCollection', 'MarkSourceAuthenticated', 'BeginCollection'] as const) {
      for (const event of decideSource(COMMANDS[type], state)) state = evolveSource(state, event);
      seen.push(state.status);
    }
    expect(seen).toEqual(['Pending', 'Started', 'Initialized', 'Authenticated', 'Collecting']);
  });

  it('ignores an event that cannot apply (evolveSource is total)', () => {
    expect(evolveSource(initialSourceState(), lifecycle[0]!)).toEqual({ status: 'Nonexistent' });
    const deletedState = given('Deleted');
    expect(evolveSource(deletedState, failed)).toBe(deletedState);
    const pending = given('Pending');
    expect(evolveSource(pending, created)).toBe(pending);
  });
});
