import type { SourceStateName } from '@s1c/contracts';
import { HEALTH_EVENT_NAMES, toMicroIso, type ErrorType, type SourceApi, type SourceChange, type SourceEvent } from '@s1c/domain';

/**
 * One source's status, folded from its `source-<id>` stream and held in memory by the
 * `HealthModel` (not stored). It holds no secret, not even the id of the key that encrypted one.
 */
export interface SourceStatusDoc {
  _id: string;
  collectorId: string;
  name: string;
  description: string | null;
  category: string | null;
  baseUrl: string;
  supportedApis: SourceApi[];
  state: SourceStateName;
  /** When the source entered `state`. */
  since: string;
  /** Why it took its last transition, in words. */
  reason: string;
  /** The failure that put it in Error, while it is there. */
  failure: { errorType: ErrorType; eventName: string; reason: string; api: SourceApi | null } | null;
  generation: number;
  createdAt: string;
  updatedAt: string;
  /** The stream version this document reflects: the next event applies only at `version + 1`. */
  version: number;
  position: number;
}

const CHANGE_WORDS: Record<SourceChange, string> = {
  name: 'name',
  description: 'description',
  category: 'category',
  fields: 'custom fields',
  baseUrl: 'base_url',
  supportedApis: 'supported_apis',
  options: 'options',
  secret: 'API token',
};

/**
 * The document after `event`, or undefined when the event does not apply (it is not the next
 * version, or the stream has no creation). Pure: the model keeps what it returns.
 */
export function evolveSourceStatus(
  doc: SourceStatusDoc | undefined,
  event: SourceEvent,
  at: { version: number; position: number },
): SourceStatusDoc | undefined {
  const time = toMicroIso(event.data.at);
  if (event.type === 'SourceCreated') {
    if (doc) return undefined;
    const { sourceId, collectorId, config, generation } = event.data;
    return {
      _id: sourceId,
      collectorId,
      name: config.name,
      description: config.description,
      category: config.category,
      baseUrl: config.baseUrl,
      supportedApis: [...config.supportedApis],
      state: 'Pending',
      since: time,
      reason: 'Created; waiting for the scheduler to start collection.',
      failure: null,
      generation,
      createdAt: time,
      updatedAt: time,
      version: at.version,
      position: at.position,
    };
  }
  if (!doc || doc.version !== at.version - 1) return undefined;
  const next = { ...doc, updatedAt: time, version: at.version, position: at.position };
  switch (event.type) {
    case 'SourceUpdated': {
      const { config, changes, generation } = event.data;
      return {
        ...next,
        name: config.name,
        description: config.description,
        category: config.category,
        baseUrl: config.baseUrl,
        supportedApis: [...config.supportedApis],
        state: 'Pending',
        since: time,
        reason: `Configuration updated (${changes.map((c) => CHANGE_WORDS[c]).join(', ')}); collection restarts.`,
        failure: null,
        generation,
      };
    }
    case 'SourceSecretReencrypted':
      // The same token under another key: nothing a status shows changes.
      return next;
    case 'SourceRestarted':
      return { ...next, state: 'Pending', since: time, reason: 'Restarted by an operator; collection restarts.', failure: null, generation: event.data.generation };
    case 'SourceDeletionRequested':
      return { ...next, state: 'Stopping', since: time, reason: 'Deletion requested; collection is stopping.' };
    case 'SourceDeleted':
      return { ...next, state: 'Deleted', since: time, reason: 'Collection stopped and the source was deleted.' };
    case 'CollectionStarted':
      return { ...next, state: 'Started', since: time, reason: 'The scheduler created the collection task.' };
    case 'CollectionInitialized':
      return { ...next, state: 'Initialized', since: time, reason: 'Checkpoints loaded or created.' };
    case 'SourceAuthenticated':
      return { ...next, state: 'Authenticated', since: time, reason: 'SentinelOne accepted the API token.' };
    case 'CollectionBegan':
      return { ...next, state: 'Collecting', since: time, reason: 'Data is being collected.' };
    case 'SourceFailed': {
      const { errorType, reason, api } = event.data.failure;
      return {
        ...next,
        state: 'Error',
        since: time,
        reason: `${HEALTH_EVENT_NAMES[errorType]}${api ? ` (${api})` : ''}: ${reason}`,
        failure: { errorType, eventName: HEALTH_EVENT_NAMES[errorType], reason, api: api ?? null },
      };
    }
  }
}
