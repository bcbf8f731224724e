import {
  decideCollection,
  evolveCollection,
  initialCollectionState,
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
import { AggregateRepository, type Decider, type MongoEventStore } from '@s1c/event-store';

export type SourceRepository = AggregateRepository<SourceState, SourceCommand, SourceEvent>;
export type CollectionRepository = AggregateRepository<CollectionState, CollectionCommand, CollectionEvent>;

/** The Collection aggregate as a decider (the domain exports its functions, not this object). */
export const collectionDecider: Decider<CollectionState, CollectionCommand, CollectionEvent> = {
  // The default retry policy: the scheduler never fails jobs itself.
  decide: (command, state) => decideCollection(command, state),
  evolve: evolveCollection,
  initialState: initialCollectionState,
};

/** The repositories the scheduler writes through, on one event store. */
export function createRepositories(store: MongoEventStore): { sources: SourceRepository; collections: CollectionRepository } {
  return {
    sources: new AggregateRepository(store, sourceDecider, isSourceEvent),
    collections: new AggregateRepository(store, collectionDecider, isCollectionEvent),
  };
}
