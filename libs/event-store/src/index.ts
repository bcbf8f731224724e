export {
  AggregateRepository,
  type ExecuteOptions,
  type ExecuteResult,
  type LoadedAggregate,
} from './aggregate.repository';
export { toStorableDocument } from './event-document.validator';
export { ConcurrencyError, DuplicateEventIdError, InvalidEventDocumentError } from './event-store.errors';
export { EventTailer, type CatchUpTarget, type CheckpointDocument, type EventTailerOptions, type SnapshotPoint, type TailerHooks, type TailerOptions } from './event.tailer';
export type {
  AppendResult,
  EventMetadata,
  StoredActor,
  ExpectedVersion,
  NewEvent,
  RecordedEvent,
  TailerLogger,
} from './event.types';
export { eventDocumentId, MongoEventStore, type EventPublisher, type MongoEventStoreOptions, type OutboxRecovery } from './mongo.event-store';
export { EVENT_HEADERS, OutboxRelay, type OutboxRelayOptions, type RelayedEventPayload } from './outbox.relay';
export { BoundedCloseMongoClient, connectMongo, MONGO_CLOSE_TIMEOUT_MS, MongoCloseTimeoutError, type MongoTarget } from './mongo.connection';
export { FoldedStreams, type FoldedStreamsOptions } from './folded.streams';
export { ReaderSnapshots, SnapshotStore, type LoadedSnapshot, type Snapshot } from './snapshot.store';
export { nameStreamId, relaySubjectFor } from './relay.subjects';
