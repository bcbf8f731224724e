import { collectorIdSchema, sourceIdSchema } from '@s1c/contracts';
import { openApiQueryParameters, openApiSchema } from '@s1c/http-kit';
import { apiErrorBodySchema, replayInputSchema, replayResultSchema, sourceDocumentBodySchema, sourceInputSchema, sourceListSchema, testResultSchema } from './api.schemas';
import { listQuerySchema } from './query.schemas';

const json = (schema: object) => ({ 'application/json': { schema } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const error = (description: string) => ({ description, content: json(ref('Error')) });
const etag = { ETag: { description: 'The source\'s version, quoted: `"7"`.', schema: { type: 'string' } } };
const document = (description: string, headers: object = etag) => ({ description, headers, content: json(ref('SourceDocument')) });
const pathParams = [
  { name: 'collectorId', in: 'path', required: true, schema: openApiSchema(collectorIdSchema, 'input'), description: 'Scopes every operation.' },
];
const sourceParams = [...pathParams, { name: 'sourceId', in: 'path', required: true, schema: openApiSchema(sourceIdSchema, 'input') }];
const ifMatch = (required: boolean) => ({
  name: 'If-Match',
  in: 'header',
  required,
  schema: { type: 'string' },
  description: 'The ETag of the source as last read (`"7"`), or `*` for any version. A stale one is 412 and changes nothing.',
});
const common = {
  '400': error('A malformed path, query, header or body (ValidationError, InvalidJson, InvalidSourceType, ImmutableField): each bad field in `errors`.'),
  '401': error('Missing or wrong bearer token (only when S1C_API_TOKEN is set).'),
  '500': error('InternalError: the request id names the log lines.'),
  '502': error('BadGateway: the registry sent a reply the gateway does not understand.'),
  '503': error('Unavailable: no registry is running, or it cannot reach its database (Retry-After).'),
  '504': error('GatewayTimeout: the registry did not answer within S1C_COMMAND_TIMEOUT; the command may still take effect.'),
};
const notFound = { '404': error('SourceNotFound: unknown, deleted, or in another collector.') };
const withBody = {
  '413': error('PayloadTooLarge: the body is over 256 KiB.'),
  '415': error('UnsupportedMediaType: the body is not application/json.'),
};
const body = (schema: object, required = true) => ({ required, content: json(schema) });

/** The OpenAPI 3.1 document served at `/api/docs`. */
export const OPENAPI_DOCUMENT = {
  openapi: '3.1.0',
  info: {
    title: 's1-collector source API',
    version: '1.0.0',
    description:
      "The hosted product's Collector Management API for SentinelOne Mgmt API sources, as a thin gateway onto the registry's NATS commands: the same JSON documents, masking and error codes. With S1C_API_TOKEN set, every path but /healthz needs `Authorization: Bearer <token>`. Every response carries `X-Request-Id` (the caller's, or a new one), which is also the correlation id in the registry's logs and events.",
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    // Generated from the zod schemas the gateway and the registry validate with (api.schemas.ts).
    schemas: {
      Error: openApiSchema(apiErrorBodySchema, 'output'),
      SourceInput: {
        ...openApiSchema(sourceInputSchema, 'input'),
        description: "The hosted product's document. On update, `api_secret` may be omitted or \"********\" to keep the stored token; `version` (or If-Match) guards against a lost update.",
      },
      SourceDocument: {
        ...openApiSchema(sourceDocumentBodySchema, 'output'),
        description: 'The document as stored: id, state, timestamps, `api_secret` always "********"; `version` is the ETag.',
      },
      SourceList: openApiSchema(sourceListSchema, 'output'),
      TestResult: openApiSchema(testResultSchema, 'output'),
      ReplayInput: openApiSchema(replayInputSchema, 'input'),
      ReplayResult: openApiSchema(replayResultSchema, 'output'),
    },
  },
  security: [{ bearer: [] }],
  paths: {
    '/api/v1/collectors/{collectorId}/sources': {
      get: {
        summary: "The collector's sources, sorted by name (deleted ones only when asked for by state).",
        parameters: [
          ...pathParams,
          ...openApiQueryParameters(listQuerySchema),
        ],
        responses: { '200': { description: 'A page of sources.', content: json(ref('SourceList')) }, ...common },
      },
      post: {
        summary: 'Create a source.',
        parameters: pathParams,
        requestBody: body(ref('SourceInput')),
        responses: {
          '201': document('The new source (Pending).', { ...etag, Location: { schema: { type: 'string' } } }),
          '409': error('DuplicateResourceName: the name is taken in this collector.'),
          ...withBody,
          ...common,
        },
      },
    },
    '/api/v1/collectors/{collectorId}/sources/{sourceId}': {
      get: {
        summary: 'One source.',
        parameters: [...sourceParams, { name: 'If-None-Match', in: 'header', required: false, schema: { type: 'string' } }],
        responses: { '200': document('The source.'), '304': { description: 'Not modified since the ETag in If-None-Match.', headers: etag }, ...notFound, ...common },
      },
      put: {
        summary: 'Replace the configuration (back to Pending in a new generation).',
        parameters: [...sourceParams, ifMatch(true)],
        requestBody: body(ref('SourceInput')),
        responses: {
          '200': document('The updated source, with its new ETag.'),
          ...notFound,
          '409': error('DuplicateResourceName, or IllegalStateTransition (e.g. while Stopping).'),
          '412': error('VersionConflict: the ETag in If-Match is stale; nothing changed.'),
          '428': error('PreconditionRequired: If-Match is missing.'),
          ...withBody,
          ...common,
        },
      },
      delete: {
        summary: 'Delete a source: Stopping at once, Deleted once collection has stopped.',
        parameters: [...sourceParams, ifMatch(false)],
        responses: {
          '202': document('The source, in Stopping.'),
          ...notFound,
          '409': error('IllegalStateTransition.'),
          '412': error('VersionConflict (only with If-Match).'),
          ...common,
        },
      },
    },
    '/api/v1/collectors/{collectorId}/sources/{sourceId}/action/restart': {
      post: {
        summary: 'Restart collection (back to Pending in a new generation; clears Error). No body, or {}.',
        parameters: [...sourceParams, ifMatch(false)],
        responses: { '200': document('The source.'), ...notFound, '409': error('IllegalStateTransition.'), '412': error('VersionConflict (only with If-Match).'), ...common },
      },
    },
    '/api/v1/collectors/{collectorId}/sources/{sourceId}/action/test': {
      post: {
        summary: 'Check the stored URL and token against SentinelOne, changing nothing. No body, or {}.',
        parameters: sourceParams,
        responses: {
          '200': { description: 'What the console said: reachable, authenticated, per API readable, tokenExpiresAt, problems.', content: json(ref('TestResult')) },
          ...notFound,
          ...common,
        },
      },
    },
    '/api/v1/collectors/{collectorId}/sources/{sourceId}/action/replay': {
      post: {
        summary: 'Collect a window of one API again (output stays deduplicated).',
        parameters: sourceParams,
        requestBody: body(ref('ReplayInput')),
        responses: {
          '202': { description: 'Recorded; the scheduler collects it on the replay lane.', content: json(ref('ReplayResult')) },
          ...notFound,
          '409': error('CollectionNotPlanned (the source does not collect that API, or not yet) or ReplayPending (one is waiting).'),
          ...withBody,
          ...common,
        },
      },
    },
    '/healthz': {
      get: { summary: 'Whether the gateway reaches NATS (no token needed).', security: [], responses: { '200': { description: 'It does.' }, '503': { description: 'It does not.' } } },
    },
    '/api/docs': { get: { summary: 'This document.', responses: { '200': { description: 'OpenAPI 3.1 JSON.' }, '401': common['401'] } } },
  },
};
