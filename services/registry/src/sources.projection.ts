import type { SourceStateName } from '@s1c/contracts';
import { HEALTH_EVENT_NAMES, isSourceEvent, type CustomField, type ErrorType, type SourceApi, type SourceConfig, type SourceEvent } from '@s1c/domain';
import type { Projection, RecordedEvent } from '@s1c/event-store';
import type { Collection, Db } from 'mongodb';

/** One source in the `sources` read model. Secrets never enter it: only the id of their key. */
export interface SourceView {
  _id: string;
  collectorId: string;
  name: string;
  description: string | null;
  category: string | null;
  fields: CustomField[];
  baseUrl: string;
  supportedApis: SourceApi[];
  secretKeyId: string;
  state: SourceStateName;
  since: string;
  error: { errorType: ErrorType; eventName: string; reason: string } | null;
  generation: number;
  /** The stream version this view reflects; updates apply only to the next version. */
  version: number;
  position: number;
  createdAt: string;
  updatedAt: string;
}

export const SOURCES_COLLECTION = 'sources';

export function sourcesCollection(db: Db): Collection<SourceView> {
  return db.collection<SourceView>(SOURCES_COLLECTION);
}

/**
 * The `sources` read model: what get and list answer from. Each update is conditional on the
 * view being at the previous version, so a replayed event changes nothing.
 */
export const sourcesProjection: Projection = {
  name: 'registry.sources',

  async setup(db) {
    // One index per call: FerretDB 1.24 panics on a createIndexes batch mixing key counts.
    const views = sourcesCollection(db);
    await views.createIndex({ collectorId: 1, name: 1, _id: 1 });
    await views.createIndex({ state: 1 });
    await views.createIndex({ name: 1, _id: 1 });
  },

  async apply(event, db) {
    if (!isSourceEvent(event)) return;
    const recorded = event as RecordedEvent & SourceEvent;
    const views = sourcesCollection(db);
    if (recorded.type === 'SourceCreated') {
      const { sourceId, collectorId, config, secret, generation, at } = recorded.data;
      try {
        await views.insertOne({
          _id: sourceId,
          collectorId,
          ...configFields(config),
          secretKeyId: secret.kid,
          state: 'Pending',
          since: at,
          error: null,
          generation,
          version: recorded.version,
          position: recorded.position,
          createdAt: at,
          updatedAt: at,
        });
      } catch (error) {
        if ((error as { code?: number }).code !== 11000) throw error;
      }
      return;
    }
    // Only $set, with values taken from the event: FerretDB does not make concurrent conditional
    // updates atomic, so a second replica applying the same event must write the same values.
    await views.updateOne(
      { _id: recorded.data.sourceId, version: recorded.version - 1 },
      { $set: { ...changeFor(recorded), version: recorded.version, position: recorded.position, updatedAt: recorded.data.at } },
    );
  },

  async reset(db) {
    await sourcesCollection(db).deleteMany({});
  },
};

function configFields(config: SourceConfig): Pick<SourceView, 'name' | 'description' | 'category' | 'fields' | 'baseUrl' | 'supportedApis'> {
  return {
    name: config.name,
    description: config.description,
    category: config.category,
    fields: [...config.fields],
    baseUrl: config.baseUrl,
    supportedApis: [...config.supportedApis],
  };
}

/** What an event changes in a view. */
function changeFor(event: SourceEvent): Partial<SourceView> {
  const at = event.data.at;
  switch (event.type) {
    case 'SourceCreated':
      return {};
    case 'SourceUpdated': {
      const { config, secret } = event.data;
      return {
        ...configFields(config),
        ...(secret ? { secretKeyId: secret.kid } : {}),
        state: 'Pending',
        since: at,
        error: null,
        generation: event.data.generation,
      };
    }
    case 'SourceSecretReencrypted':
      return { secretKeyId: event.data.secret.kid };
    case 'SourceRestarted':
      return { state: 'Pending', since: at, error: null, generation: event.data.generation };
    case 'SourceDeletionRequested':
      return { state: 'Stopping', since: at };
    case 'SourceDeleted':
      return { state: 'Deleted', since: at };
    case 'CollectionStarted':
      return { state: 'Started', since: at };
    case 'CollectionInitialized':
      return { state: 'Initialized', since: at };
    case 'SourceAuthenticated':
      return { state: 'Authenticated', since: at };
    case 'CollectionBegan':
      return { state: 'Collecting', since: at };
    case 'SourceFailed': {
      const { errorType, reason } = event.data.failure;
      return { state: 'Error', since: at, error: { errorType, eventName: HEALTH_EVENT_NAMES[errorType], reason } };
    }
  }
}
