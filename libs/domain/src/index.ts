export {
  configChanges,
  decideSource,
  evolveSource,
  foldSource,
  initialSourceState,
  LIFECYCLE,
  sourceDecider,
  sourceStreamId,
  type BeginCollection,
  type CompleteSourceDeletion,
  type CreateSource,
  type DeleteSource,
  type FailSource,
  type InitializeCollection,
  type LifecycleStatus,
  type LiveSourceState,
  type MarkSourceAuthenticated,
  type ReencryptSourceSecret,
  type RestartSource,
  type SourceCommand,
  type SourceState,
  type SourceStatus,
  type StartCollection,
  type UpdateSource,
} from './source.decider';
export {
  DomainError,
  IllegalTransitionError,
  SourceAlreadyExistsError,
  SourceNotFoundError,
  StaleGenerationError,
} from './source.errors';
export {
  isSourceEvent,
  SOURCE_EVENT_TYPES,
  type CollectionBegan,
  type CollectionInitialized,
  type CollectionStarted,
  type SourceAuthenticated,
  type SourceChange,
  type SourceCreated,
  type SourceDeleted,
  type SourceDeletionRequested,
  type SourceEvent,
  type SourceEventType,
  type SourceFailed,
  type SourceRestarted,
  type SourceSecretReencrypted,
  type SourceUpdated,
} from './source.events';
export {
  ERROR_TYPES,
  HEALTH_EVENT_NAMES,
  SOURCE_APIS,
  HOSTED_APIS,
  INVENTORY_APIS,
  type CustomField,
  type EncryptedSecret,
  type ErrorType,
  type FieldValue,
  type SourceApi,
  type SourceConfig,
  type SourceFailure,
} from './source.types';
export { type AbandonJob, type CollectionCommand, type CompleteJob, type DispatchJob, type FailJob, type PlanCollection, type RecordPage, type RecordTokenVerified, type RequestReplay } from './collection.commands';
export { collectionDecider, compactCollectionEvents, decideCollection, evolveCollection, expandCollectionEvent, foldCollection, laneMark } from './collection.decider';
export { CollectionNotPlannedError, LaneBusyError, ReplayPendingError, StaleJobError } from './collection.errors';
export { planSteps, type PlannedStep, type PlanSettings } from './collection.planner';
export { initialCollectionState, type CollectionState, type FailureStreak, type JobInFlight, type PendingWindow, type PlannedCollection } from './collection.state';
export {
  COLLECTION_EVENT_TYPES,
  isCollectionEvent,
  type CollectionEvent,
  type CollectionEventType,
  type CollectionPlanned,
  type HealthEventRaised,
  type HealthEventResolved,
  type JobAbandoned,
  type JobCompleted,
  type JobDispatched,
  type JobFailed,
  type JobRan,
  type PageCollected,
  type ReplayRequested,
  type TokenVerified,
} from './collection.events';
export { collectionStreamId, LANES, lanesOf, NO_PROGRESS, type HealthFacts, type Lane, type Progress, type RetryInfo, type Severity, type TimeWindow } from './collection.types';
export { decideRetry, DEFAULT_RETRY_POLICY, type FailureFacts, type RetryDecision, type RetryPolicy } from './retry-policy';
export { formatMicros, microIsoOf, millisBetween, parseMicros, shiftMicroIso, toMicroIso } from './timestamps';
export { fieldsOf, type RecordFields } from './record-fields';
export { COLLECTOR_METADATA_KEYS, isSiemForwarded, recordMetadata, recordMetadataWith, SIEM_FORWARD_KEY, SIEM_METADATA_KEYS, siemEventId, sourceMetadata, type MetadataSource, type RecordMetadata } from './siem-metadata';
export { describeActor, systemActor, UNKNOWN_NATS_IDENTITY, type Actor, type NatsIdentity } from './actor';
export { HISTORY_SECRET_MASK, sourceHistory, type HistoryChange, type HistoryEntry, type HistoryInput, type HistoryValue } from './source.history';
export {
  deliveryHealthDecider,
  deliveryStreamId,
  isDeliveryHealthEvent,
  type DeliveryHealthCommand,
  type DeliveryHealthEvent,
  type DeliveryHealthState,
} from './delivery-health.decider';
export type { Decider } from './decider';
export { decideSourceActions, type DriveSettings, type SchedulerAction, type Versioned } from './source-actions.decider';
export {
  isTokenHealthEvent,
  TOKEN_EXPIRING,
  tokenHealthDecider,
  tokenStreamId,
  type RecordTokenExpiry,
  type TokenHealthEvent,
  type TokenHealthState,
} from './token-health.decider';
export {
  collectionTimings,
  documentLeaves,
  formatDurationMs,
  optionLeaves,
  parseDurationMs,
  scopeFilters,
  sourceOptionsDocument,
  type ApiOptions,
  type SourceOptions,
  type SourceOptionsDocument,
  type SourceScope,
} from './source.options';
