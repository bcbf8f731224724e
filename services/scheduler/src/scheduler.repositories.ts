import {
  collectionDecider,
  isCollectionEvent,
  isSourceEvent,
  sourceDecider,
  type CollectionCommand,
  type CollectionEvent,
  type CollectionState,
  type SourceCommand,
  type SourceEvent,
  type SourceState,
} from '@s1c/domain';
import { AggregateRepository, type MongoEventStore } from '@s1c/event-store';

export type SourceRepository = AggregateRepository<SourceState, SourceCommand, SourceEvent>;
export type CollectionRepository = AggregateRepository<CollectionState, CollectionCommand, CollectionEvent>;

/** The repositories the scheduler writes through, on one event store. */
export function createRepositories(store: MongoEventStore): { sources: SourceRepository; collections: CollectionRepository } {
  return {
    sources: new AggregateRepository(store, sourceDecider, isSourceEvent),
    // The default retry policy: the scheduler never fails jobs itself.
    collections: new AggregateRepository(store, collectionDecider(), isCollectionEvent),
  };
}
