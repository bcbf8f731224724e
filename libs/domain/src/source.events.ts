import type { EncryptedSecret, SourceConfig, SourceFailure } from './source.types';

interface Event<Type extends string, Data> {
  readonly type: Type;
  readonly data: Data;
}

/** The fields of a source's configuration that an update can change. */
export type SourceChange = 'name' | 'description' | 'category' | 'fields' | 'baseUrl' | 'supportedApis' | 'options' | 'secret';

/** A source was validated and stored (Pending). */
export type SourceCreated = Event<
  'SourceCreated',
  { sourceId: string; collectorId: string; config: SourceConfig; secret: EncryptedSecret; generation: 1; at: string }
>;
/** Its configuration changed; collection restarts from Pending with the new generation. */
export type SourceUpdated = Event<
  'SourceUpdated',
  { sourceId: string; config: SourceConfig; secret?: EncryptedSecret; changes: SourceChange[]; generation: number; at: string }
>;
/**
 * Its API token was encrypted again under the newest key (key rotation): nothing else changed, so
 * neither the status nor the generation moves.
 */
export type SourceSecretReencrypted = Event<'SourceSecretReencrypted', { sourceId: string; secret: EncryptedSecret; at: string }>;
/** An operator restarted it (clears an Error); collection restarts from Pending. */
export type SourceRestarted = Event<'SourceRestarted', { sourceId: string; generation: number; at: string }>;
/** Deletion was asked for: collection is being stopped (Stopping). */
export type SourceDeletionRequested = Event<'SourceDeletionRequested', { sourceId: string; at: string }>;
/** Collection has stopped and the source is gone (Deleted). */
export type SourceDeleted = Event<'SourceDeleted', { sourceId: string; at: string }>;
/** The scheduler created the collection task (Started). */
export type CollectionStarted = Event<'CollectionStarted', { sourceId: string; generation: number; at: string }>;
/** The task's configuration is complete: checkpoints loaded or created (Initialized). */
export type CollectionInitialized = Event<'CollectionInitialized', { sourceId: string; generation: number; at: string }>;
/** SentinelOne accepted the token (Authenticated). */
export type SourceAuthenticated = Event<'SourceAuthenticated', { sourceId: string; generation: number; at: string }>;
/** Data is being fetched (Collecting). */
export type CollectionBegan = Event<'CollectionBegan', { sourceId: string; generation: number; at: string }>;
/** Collection quit (Error) with the failure that caused it. */
export type SourceFailed = Event<
  'SourceFailed',
  { sourceId: string; generation: number; failure: SourceFailure; at: string }
>;

/** Every event of the Source aggregate's stream. */
export type SourceEvent =
  | SourceCreated
  | SourceUpdated
  | SourceSecretReencrypted
  | SourceRestarted
  | SourceDeletionRequested
  | SourceDeleted
  | CollectionStarted
  | CollectionInitialized
  | SourceAuthenticated
  | CollectionBegan
  | SourceFailed;

export type SourceEventType = SourceEvent['type'];

export const SOURCE_EVENT_TYPES: readonly SourceEventType[] = [
  'SourceCreated',
  'SourceUpdated',
  'SourceSecretReencrypted',
  'SourceRestarted',
  'SourceDeletionRequested',
  'SourceDeleted',
  'CollectionStarted',
  'CollectionInitialized',
  'SourceAuthenticated',
  'CollectionBegan',
  'SourceFailed',
];

/** Narrows an event read from the log to a Source event by its type. */
export function isSourceEvent(event: { type: string }): event is SourceEvent {
  return (SOURCE_EVENT_TYPES as readonly string[]).includes(event.type);
}
