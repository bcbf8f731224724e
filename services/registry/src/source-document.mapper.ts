import { SCHEMA_REF_TYPE, SECRET_MASK, SOURCE_TYPE, type SourceDocument } from '@s1c/contracts';
import { HEALTH_EVENT_NAMES, sourceOptionsDocument } from '@s1c/domain';
import { shownSource, type LoadedFold } from './source.views';

/** The hosted product's document for a source, as replies show it: id, state, secret masked; undefined for none. */
export function toSourceDocument(fold: LoadedFold): SourceDocument | undefined {
  const source = shownSource(fold.state);
  if (!source) return undefined;
  const { config } = source;
  return {
    'api.version': 'v1',
    collectorId: source.collectorId,
    version: fold.version,
    source: {
      id: source.sourceId,
      config: {
        name: config.name,
        description: config.description,
        category: config.category,
        // Object.fromEntries defines own properties, so even a hostile key could not reach a prototype.
        fields: Object.fromEntries(config.fields.map(({ key, value }) => [key, value])),
        base_url: config.baseUrl,
        api_secret: SECRET_MASK,
        supported_apis: [...config.supportedApis],
        ...(config.options ? { options: sourceOptionsDocument(config.options) } : {}),
      },
      schemaRef: { type: SCHEMA_REF_TYPE },
      sourceType: SOURCE_TYPE,
      state: {
        state: source.status,
        since: source.since,
        ...('failure' in source && source.status === 'Error'
          ? { error: { errorType: source.failure.errorType, eventName: HEALTH_EVENT_NAMES[source.failure.errorType], reason: source.failure.reason } }
          : {}),
      },
      createdAt: source.createdAt,
      updatedAt: fold.state.updatedAt ?? source.createdAt,
    },
  };
}
