import {
  collectionStreamId,
  decideSource,
  decideCollection,
  sourceStreamId,
  type CollectionCommand,
  type CollectionEvent,
  type EncryptedSecret,
  type SourceApi,
  type SourceCommand,
  type SourceConfig,
  type SourceEvent,
} from '@s1c/domain';
import { SchedulerState, type LoggedEvent } from '../scheduler.state';
import type { SchedulerAction } from '../source-actions.decider';

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

/**
 * An event log in memory, folded into a {@link SchedulerState} as it grows: unit tests play the
 * registry, the fetchers and the scheduler on it with the real deciders.
 */
export class MemoryLog {
  readonly state = new SchedulerState();
  readonly events: LoggedEvent[] = [];

  constructor(private readonly clock: () => Date) {}

  source(sourceId: string, command: (now: Date) => SourceCommand, expectedVersion?: number): SourceEvent[] {
    const known = this.state.source(sourceId) ?? { state: { status: 'Nonexistent' as const }, version: 0 };
    if (expectedVersion !== undefined && expectedVersion !== known.version) throw new Error(`version ${known.version}, expected ${expectedVersion}`);
    const events = decideSource(command(this.clock()), known.state);
    this.append(sourceStreamId(sourceId), known.version, events);
    return events;
  }

  collection(sourceId: string, api: SourceApi, command: (now: Date) => CollectionCommand, expectedVersion?: number): CollectionEvent[] {
    const known = this.state.collection(sourceId, api) ?? { state: { status: 'Unplanned' as const }, version: 0 };
    if (expectedVersion !== undefined && expectedVersion !== known.version) throw new Error(`version ${known.version}, expected ${expectedVersion}`);
    const events = decideCollection(command(this.clock()), known.state);
    this.append(collectionStreamId(sourceId, api), known.version, events);
    return events;
  }

  /** Executes the scheduler's actions as its driver does, stopping at the first refusal. */
  run(actions: readonly SchedulerAction[]): void {
    for (const action of actions) {
      if (action.stream === 'source') this.source(action.sourceId, () => action.command, action.expectedVersion);
      else this.collection(action.sourceId, action.api, () => action.command, action.expectedVersion);
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
