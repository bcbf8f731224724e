import type { Command, Decider } from './decider';
import {
  IllegalTransitionError,
  SourceAlreadyExistsError,
  SourceNotFoundError,
  StaleGenerationError,
} from './source.errors';
import type { SourceChange, SourceEvent } from './source.events';
import type { EncryptedSecret, SourceConfig, SourceFailure } from './source.types';

/** The collection lifecycle, in the order a healthy source walks it. */
export const LIFECYCLE = ['Pending', 'Started', 'Initialized', 'Authenticated', 'Collecting'] as const;
export type LifecycleStatus = (typeof LIFECYCLE)[number];
export type SourceStatus = LifecycleStatus | 'Error' | 'Stopping' | 'Deleted';

interface SourceFacts {
  readonly sourceId: string;
  readonly collectorId: string;
  readonly config: SourceConfig;
  readonly secret: EncryptedSecret;
  /** Counts configurations: 1 at creation, +1 at each update or restart (events carry it). */
  readonly generation: number;
  readonly createdAt: string;
  /** When the source entered its current status. */
  readonly since: string;
}

/** A source's state, folded from its events. */
export type SourceState =
  | { readonly status: 'Nonexistent' }
  | (SourceFacts & { readonly status: LifecycleStatus | 'Stopping' })
  | (SourceFacts & { readonly status: 'Error'; readonly failure: SourceFailure })
  | { readonly status: 'Deleted'; readonly sourceId: string; readonly collectorId: string; readonly name: string; readonly since: string };

export type LiveSourceState = Extract<SourceState, SourceFacts>;

export const initialSourceState = (): SourceState => ({ status: 'Nonexistent' });

export type CreateSource = Command<
  'CreateSource',
  { sourceId: string; collectorId: string; config: SourceConfig; secret: EncryptedSecret }
>;
/** `secret` is present only when the caller sent a new token. */
export type UpdateSource = Command<'UpdateSource', { sourceId: string; config: SourceConfig; secret?: EncryptedSecret }>;
/** Replaces the stored token's ciphertext by `secret`, the same token under another key. */
export type ReencryptSourceSecret = Command<'ReencryptSourceSecret', { sourceId: string; secret: EncryptedSecret }>;
export type RestartSource = Command<'RestartSource', { sourceId: string }>;
export type DeleteSource = Command<'DeleteSource', { sourceId: string }>;
export type CompleteSourceDeletion = Command<'CompleteSourceDeletion', { sourceId: string }>;
export type StartCollection = Command<'StartCollection', { sourceId: string; generation: number }>;
export type InitializeCollection = Command<'InitializeCollection', { sourceId: string; generation: number }>;
export type MarkSourceAuthenticated = Command<'MarkSourceAuthenticated', { sourceId: string; generation: number }>;
export type BeginCollection = Command<'BeginCollection', { sourceId: string; generation: number }>;
export type FailSource = Command<'FailSource', { sourceId: string; generation: number; failure: SourceFailure }>;

export type SourceCommand =
  | CreateSource
  | UpdateSource
  | ReencryptSourceSecret
  | RestartSource
  | DeleteSource
  | CompleteSourceDeletion
  | StartCollection
  | InitializeCollection
  | MarkSourceAuthenticated
  | BeginCollection
  | FailSource;

type LifecycleCommand = StartCollection | InitializeCollection | MarkSourceAuthenticated | BeginCollection;

const LIFECYCLE_STEP: Record<LifecycleCommand['type'], { to: LifecycleStatus; event: LifecycleEventType }> = {
  StartCollection: { to: 'Started', event: 'CollectionStarted' },
  InitializeCollection: { to: 'Initialized', event: 'CollectionInitialized' },
  MarkSourceAuthenticated: { to: 'Authenticated', event: 'SourceAuthenticated' },
  BeginCollection: { to: 'Collecting', event: 'CollectionBegan' },
};
type LifecycleEventType = 'CollectionStarted' | 'CollectionInitialized' | 'SourceAuthenticated' | 'CollectionBegan';

const STATUS_AFTER: Record<LifecycleEventType, LifecycleStatus> = {
  CollectionStarted: 'Started',
  CollectionInitialized: 'Initialized',
  SourceAuthenticated: 'Authenticated',
  CollectionBegan: 'Collecting',
};

/**
 * Decides which events a command produces, or throws a {@link DomainError}. Pure: time comes in
 * the command's metadata. Commands that would change nothing (a repeated delete, a step already
 * reached, an update with no change) produce no events, so retries are harmless.
 */
export function decideSource(command: SourceCommand, state: SourceState): SourceEvent[] {
  const at = command.metadata.now.toISOString();
  const { sourceId } = command.data;

  if (command.type === 'CreateSource') {
    if (state.status !== 'Nonexistent') throw new SourceAlreadyExistsError(sourceId);
    const { collectorId, config, secret } = command.data;
    return [{ type: 'SourceCreated', data: { sourceId, collectorId, config, secret, generation: 1, at } }];
  }

  if (state.status === 'Nonexistent') throw new SourceNotFoundError(sourceId);
  if (state.status === 'Deleted') {
    if (command.type === 'CompleteSourceDeletion') return [];
    throw new SourceNotFoundError(sourceId);
  }

  switch (command.type) {
    case 'UpdateSource': {
      if (state.status === 'Stopping') throw new IllegalTransitionError(sourceId, state.status, command.type);
      const changes = configChanges(state.config, command.data.config);
      if (command.data.secret) changes.push('secret');
      if (changes.length === 0) return [];
      const data = { sourceId, config: command.data.config, changes, generation: state.generation + 1, at };
      return [{ type: 'SourceUpdated', data: command.data.secret ? { ...data, secret: command.data.secret } : data }];
    }
    case 'ReencryptSourceSecret':
      // Idempotent: a secret already under this key is left alone.
      if (state.secret.kid === command.data.secret.kid) return [];
      return [{ type: 'SourceSecretReencrypted', data: { sourceId, secret: command.data.secret, at } }];
    case 'RestartSource':
      if (state.status === 'Stopping') throw new IllegalTransitionError(sourceId, state.status, command.type);
      return [{ type: 'SourceRestarted', data: { sourceId, generation: state.generation + 1, at } }];
    case 'DeleteSource':
      if (state.status === 'Stopping') return [];
      return [{ type: 'SourceDeletionRequested', data: { sourceId, at } }];
    case 'CompleteSourceDeletion':
      if (state.status !== 'Stopping') throw new IllegalTransitionError(sourceId, state.status, command.type);
      return [{ type: 'SourceDeleted', data: { sourceId, at } }];
    case 'FailSource': {
      requireGeneration(state, command.data.generation);
      if (state.status === 'Error' || state.status === 'Stopping') return [];
      const { generation, failure } = command.data;
      return [{ type: 'SourceFailed', data: { sourceId, generation, failure, at } }];
    }
    case 'StartCollection':
    case 'InitializeCollection':
    case 'MarkSourceAuthenticated':
    case 'BeginCollection': {
      requireGeneration(state, command.data.generation);
      const step = LIFECYCLE_STEP[command.type];
      if (state.status === 'Error' || state.status === 'Stopping') {
        throw new IllegalTransitionError(sourceId, state.status, command.type);
      }
      const current = LIFECYCLE.indexOf(state.status);
      const target = LIFECYCLE.indexOf(step.to);
      if (current >= target) return [];
      if (current !== target - 1) throw new IllegalTransitionError(sourceId, state.status, command.type);
      return [{ type: step.event, data: { sourceId, generation: command.data.generation, at } }];
    }
    default:
      return assertNever(command);
  }
}

/** Applies one event to the state. Total: an event that cannot apply leaves the state as it is. */
export function evolveSource(state: SourceState, event: SourceEvent): SourceState {
  const at = event.data.at;
  if (event.type === 'SourceCreated') {
    if (state.status !== 'Nonexistent') return state;
    const { sourceId, collectorId, config, secret, generation } = event.data;
    return { status: 'Pending', sourceId, collectorId, config, secret, generation, createdAt: at, since: at };
  }
  if (state.status === 'Nonexistent' || state.status === 'Deleted') return state;
  const facts = liveFacts(state);

  switch (event.type) {
    case 'SourceUpdated':
      return {
        ...facts,
        status: 'Pending',
        config: event.data.config,
        secret: event.data.secret ?? facts.secret,
        generation: event.data.generation,
        since: at,
      };
    case 'SourceSecretReencrypted':
      return { ...state, secret: event.data.secret };
    case 'SourceRestarted':
      return { ...facts, status: 'Pending', generation: event.data.generation, since: at };
    case 'SourceDeletionRequested':
      return { ...facts, status: 'Stopping', since: at };
    case 'SourceDeleted':
      return { status: 'Deleted', sourceId: facts.sourceId, collectorId: facts.collectorId, name: facts.config.name, since: at };
    case 'SourceFailed':
      return { ...facts, status: 'Error', failure: event.data.failure, since: at };
    case 'CollectionStarted':
    case 'CollectionInitialized':
    case 'SourceAuthenticated':
    case 'CollectionBegan':
      return { ...facts, status: STATUS_AFTER[event.type], since: at };
    default:
      return assertNever(event);
  }
}

/** Folds a stream's events into the current state. */
export function foldSource(events: Iterable<SourceEvent>): SourceState {
  let state = initialSourceState();
  for (const event of events) state = evolveSource(state, event);
  return state;
}

/** The log stream of one source. */
export const sourceStreamId = (sourceId: string): string => `source-${sourceId}`;

/** The Source aggregate as a decider. */
export const sourceDecider: Decider<SourceState, SourceCommand, SourceEvent> = { decide: decideSource, evolve: evolveSource, initialState: initialSourceState };

function liveFacts(state: LiveSourceState): SourceFacts {
  const { sourceId, collectorId, config, secret, generation, createdAt, since } = state;
  return { sourceId, collectorId, config, secret, generation, createdAt, since };
}

function requireGeneration(state: LiveSourceState, generation: number): void {
  if (state.generation !== generation) throw new StaleGenerationError(state.sourceId, generation, state.generation);
}

/** The configuration fields that differ between two versions, in a stable order. */
export function configChanges(before: SourceConfig, after: SourceConfig): SourceChange[] {
  const changes: SourceChange[] = [];
  if (before.name !== after.name) changes.push('name');
  if (before.description !== after.description) changes.push('description');
  if (before.category !== after.category) changes.push('category');
  if (JSON.stringify(before.fields) !== JSON.stringify(after.fields)) changes.push('fields');
  if (before.baseUrl !== after.baseUrl) changes.push('baseUrl');
  if (JSON.stringify(before.supportedApis) !== JSON.stringify(after.supportedApis)) changes.push('supportedApis');
  if (JSON.stringify(before.options ?? {}) !== JSON.stringify(after.options ?? {})) changes.push('options');
  return changes;
}

function assertNever(value: never): never {
  throw new Error(`unhandled: ${JSON.stringify(value)}`);
}
