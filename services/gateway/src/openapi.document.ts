import { SOURCE_STATES } from '@s1c/contracts';

const json = (schema: object) => ({ 'application/json': { schema } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const error = (description: string) => ({ description, content: json(ref('Error')) });
const etag = { ETag: { description: 'The source\'s version, quoted: `"7"`.', schema: { type: 'string' } } };
const document = (description: string, headers: object = etag) => ({ description, headers, content: json(ref('SourceDocument')) });
const pathParams = [
  { name: 'collectorId', in: 'path', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' }, description: 'Scopes every operation.' },
];
const sourceParams = [...pathParams, { name: 'sourceId', in: 'path', required: true, schema: { type: 'string' } }];
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

/** The OpenAPI 3.0 document served at `/api/docs`. */
export const OPENAPI_DOCUMENT = {
  openapi: '3.0.3',
  info: {
    title: 's1-collector source API',
    version: '1.0.0',
    description:
      "The hosted product's Collector Management API for SentinelOne Mgmt API sources, as a thin gateway onto the registry's NATS commands: the same JSON documents, masking and error codes. With S1C_API_TOKEN set, every path but /healthz needs `Authorization: Bearer <token>`. Every response carries `X-Request-Id` (the caller's, or a new one), which is also the correlation id in the registry's logs and events.",
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    schemas: {
      Error: {
        type: 'object',
        required: ['status', 'id', 'code', 'message', 'errors'],
        properties: {
          status: { type: 'integer', example: 404 },
          id: { type: 'string', description: 'The request id (X-Request-Id).' },
          code: { type: 'string', example: 'SourceNotFound' },
          message: { type: 'string' },
          errors: {
            type: 'array',
            items: {
              type: 'object',
              required: ['code', 'message', 'meta'],
              properties: { code: { type: 'string' }, message: { type: 'string' }, meta: { type: 'object', description: '`path` of a bad field; `currentETag` of a 412 found before the update.' } },
            },
          },
        },
      },
      SourceInput: {
        type: 'object',
        required: ['source'],
        description: 'The hosted product\'s document. On update, `api_secret` may be omitted or "********" to keep the stored token.',
        properties: {
          'api.version': { type: 'string', enum: ['v1'] },
          collectorId: { type: 'string', description: 'Optional; must be the collector in the path.' },
          source: {
            type: 'object',
            required: ['config', 'schemaRef', 'sourceType'],
            properties: {
              config: {
                type: 'object',
                required: ['name', 'base_url', 'supported_apis'],
                properties: {
                  name: { type: 'string' },
                  description: { type: 'string', nullable: true },
                  category: { type: 'string', nullable: true },
                  fields: { type: 'object', additionalProperties: true },
                  base_url: { type: 'string', format: 'uri' },
                  api_secret: { type: 'string', writeOnly: true },
                  supported_apis: { type: 'array', items: { type: 'string', enum: ['activities', 'agents', 'threats'] } },
                },
              },
              schemaRef: { type: 'object', properties: { type: { type: 'string', enum: ['SentinelOne Mgmt API'] } } },
              sourceType: { type: 'string', enum: ['Universal'] },
            },
          },
        },
      },
      SourceDocument: {
        type: 'object',
        description: 'The document as stored: id, state, timestamps, `api_secret` always "********"; `version` is the ETag.',
        properties: {
          'api.version': { type: 'string' },
          collectorId: { type: 'string' },
          version: { type: 'integer' },
          source: {
            type: 'object',
            properties: {
              id: { type: 'string' },
              config: { type: 'object' },
              schemaRef: { type: 'object' },
              sourceType: { type: 'string' },
              state: { type: 'object', properties: { state: { type: 'string', enum: SOURCE_STATES }, since: { type: 'string', format: 'date-time' }, error: { type: 'object' } } },
              createdAt: { type: 'string', format: 'date-time' },
              updatedAt: { type: 'string', format: 'date-time' },
            },
          },
        },
      },
      SourceList: {
        type: 'object',
        properties: { sources: { type: 'array', items: ref('SourceDocument') }, nextCursor: { type: 'string', nullable: true, description: 'Pass as `cursor` for the next page.' } },
      },
    },
  },
  security: [{ bearer: [] }],
  paths: {
    '/api/v1/collectors/{collectorId}/sources': {
      get: {
        summary: "The collector's sources, sorted by name (deleted ones only when asked for by state).",
        parameters: [
          ...pathParams,
          { name: 'state', in: 'query', required: false, schema: { type: 'array', items: { type: 'string', enum: SOURCE_STATES } }, style: 'form', explode: false },
          { name: 'name', in: 'query', required: false, schema: { type: 'string' }, description: 'The exact name.' },
          { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
          { name: 'cursor', in: 'query', required: false, schema: { type: 'string' } },
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
          '200': {
            description: 'What the console said: reachable, authenticated, per API readable, tokenExpiresAt, problems.',
            content: json({ type: 'object', properties: { base_url: { type: 'string' }, reachable: { type: 'boolean' }, authenticated: { type: 'boolean' }, apis: { type: 'object' }, tokenExpiresAt: { type: 'string', nullable: true }, problems: { type: 'array', items: { type: 'object' } } } }),
          },
          ...notFound,
          ...common,
        },
      },
    },
    '/api/v1/collectors/{collectorId}/sources/{sourceId}/action/replay': {
      post: {
        summary: 'Collect a window of one API again (output stays deduplicated).',
        parameters: sourceParams,
        requestBody: body({ type: 'object', required: ['api', 'from', 'to'], properties: { api: { type: 'string', enum: ['activities', 'agents', 'threats'] }, from: { type: 'string', format: 'date-time' }, to: { type: 'string', format: 'date-time' } } }),
        responses: {
          '202': { description: 'Recorded; the scheduler collects it on the replay lane.', content: json({ type: 'object', properties: { sourceId: { type: 'string' }, api: { type: 'string' }, window: { type: 'object' } } }) },
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
    '/api/docs': { get: { summary: 'This document.', responses: { '200': { description: 'OpenAPI 3.0 JSON.' }, '401': common['401'] } } },
  },
} as const;
