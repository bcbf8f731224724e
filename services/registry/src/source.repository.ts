import { CommandError } from '@s1c/contracts';
import { isSourceEvent, sourceDecider, type SourceCommand, type SourceEvent, type SourceState } from '@s1c/domain';
import {
  AggregateRepository,
  ConcurrencyError,
  type EventMetadata,
  type ExecuteResult,
  type LoadedAggregate,
  type MongoEventStore,
  type RecordedEvent,
} from '@s1c/event-store';
import { sourceStreamId } from './source.streams';

export type LoadedSource = LoadedAggregate<SourceState>;

export interface ExecuteOptions {
  readonly metadata: EventMetadata;
  /** The version the caller last saw (If-Match); a different current version is a VersionConflict. */
  readonly expectedVersion?: number;
  /** The source as the caller has it (a new source: empty at version 0): decided on without reading the log. */
  readonly from?: LoadedSource;
}

/** Source aggregates by id, with lost races turned into the command API's VersionConflict. */
export class SourceRepository {
  private readonly aggregates: AggregateRepository<SourceState, SourceCommand, SourceEvent>;

  constructor(private readonly store: MongoEventStore) {
    this.aggregates = new AggregateRepository(store, sourceDecider, isSourceEvent);
  }

  /** The source's events as stored, oldest first. */
  events(sourceId: string): Promise<RecordedEvent[]> {
    return this.store.readStream(sourceStreamId(sourceId));
  }

  async execute(sourceId: string, commandFor: (state: SourceState) => SourceCommand, options: ExecuteOptions): Promise<ExecuteResult<SourceState>> {
    try {
      return await this.aggregates.execute(sourceStreamId(sourceId), commandFor, options);
    } catch (error) {
      if (!(error instanceof ConcurrencyError)) throw error;
      if (options.expectedVersion !== undefined) {
        throw new CommandError(
          'VersionConflict',
          error.actualVersion === undefined
            ? `source ${sourceId} changed since version ${options.expectedVersion}: read it again and retry`
            : `source ${sourceId} is at version ${error.actualVersion}, not ${options.expectedVersion}: read it again and retry`,
        );
      }
      throw new CommandError('VersionConflict', `source ${sourceId} is changing too often; try again`);
    }
  }
}
