import { CommandError } from '@s1c/contracts';
import { decide, evolve, foldSource, isSourceEvent, type SourceCommand, type SourceEvent, type SourceState } from '@s1c/domain';
import { ConcurrencyError, type EventMetadata, type MongoEventStore, type RecordedEvent } from '@s1c/event-store';
import { setTimeout as sleep } from 'node:timers/promises';
import { sourceStreamId } from './source.streams';

const MAX_ATTEMPTS = 5;

/** A source as folded from its stream, with the stream version it was folded at. */
export interface LoadedSource {
  readonly state: SourceState;
  readonly version: number;
}

export interface ExecuteOptions {
  readonly metadata: EventMetadata;
  /** The version the caller last saw (If-Match); a different current version is a VersionConflict. */
  readonly expectedVersion?: number;
}

export interface ExecuteResult extends LoadedSource {
  readonly events: readonly RecordedEvent[];
  /** Position of the last appended event, or 0 when the command changed nothing. */
  readonly position: number;
}

/**
 * Loads Source aggregates from the log and runs commands on them: fold, decide, append with the
 * version it folded at. A lost race is retried with fresh state (bounded, with jitter), unless the
 * caller named the version it expects, in which case the race is the caller's conflict.
 */
export class SourceRepository {
  constructor(private readonly store: MongoEventStore) {}

  async load(sourceId: string): Promise<LoadedSource> {
    const events = await this.store.readStream(sourceStreamId(sourceId));
    const sourceEvents = events.filter(isSourceEvent) as unknown as SourceEvent[];
    return { state: foldSource(sourceEvents), version: events.at(-1)?.version ?? 0 };
  }

  async execute(sourceId: string, commandFor: (state: SourceState) => SourceCommand, options: ExecuteOptions): Promise<ExecuteResult> {
    for (let attempt = 1; ; attempt++) {
      const { state, version } = await this.load(sourceId);
      if (options.expectedVersion !== undefined && options.expectedVersion !== version) {
        throw versionConflict(sourceId, options.expectedVersion, version);
      }
      const events = decide(commandFor(state), state);
      if (events.length === 0) return { state, version, events: [], position: 0 };
      try {
        const appended = await this.store.appendToStream(
          sourceStreamId(sourceId),
          events.map((event) => ({ type: event.type, data: event.data, metadata: options.metadata })),
          { expectedVersion: version === 0 ? 'no_stream' : version },
        );
        const next = events.reduce<SourceState>(evolve, state);
        return { state: next, version: appended.nextExpectedVersion, events: appended.events, position: appended.lastPosition };
      } catch (error) {
        if (!(error instanceof ConcurrencyError)) throw error;
        if (options.expectedVersion !== undefined) throw versionConflict(sourceId, options.expectedVersion, error.actualVersion);
        if (attempt >= MAX_ATTEMPTS) throw new CommandError('VersionConflict', `source ${sourceId} is changing too often; try again`);
        await sleep(10 * attempt + Math.random() * 20 * attempt);
      }
    }
  }
}

function versionConflict(sourceId: string, expected: number, actual: number): CommandError {
  return new CommandError('VersionConflict', `source ${sourceId} is at version ${actual}, not ${expected}: read it again and retry`);
}
