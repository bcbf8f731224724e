import { SCHEMA_REF_TYPE, SECRET_MASK, SOURCE_TYPE, type SourceDocument } from '@s1c/contracts';
import type { SourceView } from './sources.projection';

/** The hosted product's document for a source, as replies show it: id, state, secret masked. */
export function toSourceDocument(view: SourceView): SourceDocument {
  return {
    'api.version': 'v1',
    collectorId: view.collectorId,
    version: view.version,
    source: {
      id: view._id,
      config: {
        name: view.name,
        description: view.description,
        category: view.category,
        // Object.fromEntries defines own properties, so even a hostile key could not reach a prototype.
        fields: Object.fromEntries(view.fields.map(({ key, value }) => [key, value])),
        base_url: view.baseUrl,
        api_secret: SECRET_MASK,
        supported_apis: view.supportedApis,
      },
      schemaRef: { type: SCHEMA_REF_TYPE },
      sourceType: SOURCE_TYPE,
      state: { state: view.state, since: view.since, ...(view.error ? { error: view.error } : {}) },
      createdAt: view.createdAt,
      updatedAt: view.updatedAt,
    },
  };
}
