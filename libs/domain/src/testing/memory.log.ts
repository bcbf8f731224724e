import type { CollectionCommand } from '../collection.commands';
import { decideCollection, evolveCollection } from '../collection.decider';
import type { CollectionEvent } from '../collection.events';
import { initialCollectionState, type CollectionState } from '../collection.state';
import { collectionStreamId } from '../collection.types';
import type { SchedulerAction, Versioned } from '../source-actions.decider';
import { decideSource, evolveSource, initialSourceState, sourceStreamId, type SourceCommand, type SourceState } from '../source.decider';
import type { SourceEvent } from '../source.events';
import type { EncryptedSecret, SourceApi, SourceConfig } from '../source.types';

export const SECRET: EncryptedSecret = { alg: 'A256GCM', kid: 'k1', iv: 'aXY=', ct: 'Y3Q=', tag: 'dGFn' };

export function sourceConfig(overrides: Partial<SourceConfig> = {}): SourceConfig {
  return {
    name: 'SentinelOne',
    description: null,
    category: 'sec/s1',
    fields: [],
    baseUrl: 'https://usea1-partners.sentinelone.net',
    supportedApis: ['activities', 'agents', 'threats'],
    ...overrides,
  };
}

/** An event as a log holds it: its stream, version, type and data. */
export interface LoggedEvent {
  readonly streamId: string;
  readonly version: number;
  readonly type: string;
  readonly data: unknown;
}

/** Where a {@link MemoryLog} folds its events, and what it reads the current states from. */
export interface StatesView {
  apply(event: LoggedEvent): unknown;
  source(sourceId: string): Versioned<SourceState> | undefined;
  collection(sourceId: string, api: SourceApi): Versioned<CollectionState> | undefined;
  collections(sourceId: string): ReadonlyMap<SourceApi, Versioned<CollectionState>>;
}

/** The states of every source and collection, folded with the deciders' own `evolve`. */
export class VersionedStates implements StatesView {
  private readonly sources = new Map<string, Versioned<SourceState>>();
  private readonly byApi = new Map<string, Map<SourceApi, Versioned<CollectionState>>>();

  apply(event: LoggedEvent): void {
    const sourceId = /^source-(.+)$/.exec(event.streamId)?.[1];
    if (sourceId !== undefined) {
      const known = this.sources.get(sourceId) ?? { state: initialSourceState(), version: 0 };
      this.sources.set(sourceId, { state: evolveSource(known.state, event as unknown as SourceEvent), version: event.version });
      return;
    }
    const collection = event.data as { sourceId?: string; api?: SourceApi };
    if (!event.streamId.startsWith('collection-') || !collection.sourceId || !collection.api) return;
    const apis = this.byApi.get(collection.sourceId) ?? new Map<SourceApi, Versioned<CollectionState>>();
    const known = apis.get(collection.api) ?? { state: initialCollectionState(), version: 0 };
    apis.set(collection.api, { state: evolveCollection(known.state, event as unknown as CollectionEvent), version: event.version });
    this.byApi.set(collection.sourceId, apis);
  }

  source(sourceId: string): Versioned<SourceState> | undefined {
    return this.sources.get(sourceId);
  }

  collection(sourceId: string, api: SourceApi): Versioned<CollectionState> | undefined {
    return this.byApi.get(sourceId)?.get(api);
  }

  collections(sourceId: string): ReadonlyMap<SourceApi, Versioned<CollectionState>> {
    return new Map(this.byApi.get(sourceId) ?? []);
  }
}

/**
 * An event log in memory, folded into `state` as it grows: unit tests play the registry, the
 * fetchers and the scheduler on it with the real deciders.
 */
export class MemoryLog<States extends StatesView = VersionedStates> {
  readonly events: LoggedEvent[] = [];

  constructor(
    private readonly clock: () => Date,
    readonly state: States = new VersionedStates() as unknown as States,
  ) {}

  source(sourceId: string, command: (now: Date) => SourceCommand, expectedVersion?: number): SourceEvent[] {
    const known = this.state.source(sourceId) ?? { state: initialSourceState(), version: 0 };
    if (expectedVersion !== undefined && expectedVersion !== known.version) throw new Error(`version ${known.version}, expected ${expectedVersion}`);
    const events = decideSource(command(this.clock()), known.state);
    this.append(sourceStreamId(sourceId), known.version, events);
    return events;
  }

  collection(sourceId: string, api: SourceApi, command: (now: Date) => CollectionCommand, expectedVersion?: number): CollectionEvent[] {
    const known = this.state.collection(sourceId, api) ?? { state: initialCollectionState(), version: 0 };
    if (expectedVersion !== undefined && expectedVersion !== known.version) throw new Error(`version ${known.version}, expected ${expectedVersion}`);
    const events = decideCollection(command(this.clock()), known.state);
    this.append(collectionStreamId(sourceId, api), known.version, events);
    return events;
  }

  /** Executes the scheduler's actions as its driver does, stopping at the first refusal. */
  run(actions: readonly SchedulerAction[]): void {
    for (const action of actions) {
      if (action.stream === 'source') this.source(action.sourceId, () => action.command, action.expectedVersion);
      // A dispatch is appended by the fetcher's first record, at whatever version the stream is then.
      else this.collection(action.sourceId, action.api, () => action.command, action.command.type === 'DispatchJob' ? undefined : action.expectedVersion);
    }
  }

  create(sourceId: string, config: SourceConfig = sourceConfig()): void {
    this.source(sourceId, (now) => ({ type: 'CreateSource', data: { sourceId, collectorId: 'default', config, secret: SECRET }, metadata: { now } }));
  }

  typesOf(streamId: string): string[] {
    return this.events.filter((e) => e.streamId === streamId).map((e) => e.type);
  }

  private append(streamId: string, version: number, events: ReadonlyArray<{ type: string; data: unknown }>): void {
    events.forEach((event, i) => {
      const logged = { streamId, version: version + i + 1, type: event.type, data: event.data };
      this.events.push(logged);
      this.state.apply(logged);
    });
  }
}
