import { sourceIdSchema } from '@s1c/contracts';
import { openApiQueryParameters, openApiSchema } from '@s1c/http-kit';
import {
  apiErrorBodySchema,
  apiStatusViewSchema,
  healthEventViewSchema,
  pageSchema,
  readinessSchema,
  sourceHistorySchema,
  sourceStatusViewSchema,
} from './api.schemas';
import { healthEventsQuerySchema, sourceHealthEventsQuerySchema, sourcesQuerySchema } from './query.schemas';

const json = (schema: object) => ({ 'application/json': { schema } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const reply = (description: string, schema: string) => ({ description, content: json(ref(schema)) });
const error = (description: string) => reply(description, 'Error');
const text = (description: string, type: string) => ({ description, content: { [type]: { schema: { type: 'string' } } } });
const secured = { '401': error('Missing or wrong bearer token (only when S1C_API_TOKEN is set).') };
const loading = { '503': error('The read models are still replaying the event log (for a while after a start); try again.') };
const badQuery = (description = 'A bad or unknown query parameter (each one named in `details`).') => ({ '400': error(description) });
const notFound = { '404': error('Unknown or deleted source.') };
const sourceId = { name: 'id', in: 'path', required: true, schema: openApiSchema(sourceIdSchema, 'input') };
const publicFile = (summary: string, type: string) => ({ get: { summary, security: [], responses: { '200': text('The file.', type) } } });

/** The OpenAPI 3.1 document served at `/api/docs`. */
export const OPENAPI_DOCUMENT = {
  openapi: '3.1.0',
  info: {
    title: 's1-collector health API',
    version: '1.0.0',
    description:
      'Source status and health events of the SentinelOne collector, read from its event log. With S1C_API_TOKEN set, every path but /healthz and the dashboard\'s files needs `Authorization: Bearer <token>`. Lists are pages of `{items, total, limit, offset}`.',
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    // Generated from the zod schemas the service builds its replies to (api.schemas.ts).
    schemas: {
      Error: openApiSchema(apiErrorBodySchema, 'output'),
      ApiStatus: openApiSchema(apiStatusViewSchema, 'output'),
      SourceStatus: openApiSchema(sourceStatusViewSchema, 'output'),
      SourcePage: openApiSchema(pageSchema(sourceStatusViewSchema), 'output'),
      HealthEvent: openApiSchema(healthEventViewSchema, 'output'),
      HealthEventPage: openApiSchema(pageSchema(healthEventViewSchema), 'output'),
      SourceHistory: {
        ...openApiSchema(sourceHistorySchema, 'output'),
        description:
          'Oldest first. An actor of kind "nats" sent a command over NATS as the user the server named; "http" called the HTTP gateway (its API token\'s name and address, relayed `via` a gateway user, `verified` when that user is trusted); "system" is one of the collector\'s components; "legacy" a name recorded before actors were structured. A change with `masked` set the API token: both sides show ******** and never the token or its ciphertext.',
      },
      Readiness: openApiSchema(readinessSchema, 'output'),
    },
  },
  security: [{ bearer: [] }],
  paths: {
    '/api/v1/sources': {
      get: {
        summary: 'List sources with their status, sorted by name (deleted ones only when asked for by state).',
        parameters: openApiQueryParameters(sourcesQuerySchema),
        responses: { '200': reply('A page of sources.', 'SourcePage'), ...badQuery(), ...secured, ...loading },
      },
    },
    '/api/v1/sources/{id}': {
      get: {
        summary: "One source's status.",
        parameters: [sourceId],
        responses: { '200': reply('The source.', 'SourceStatus'), ...badQuery('Not a source id, or a query parameter (none are taken).'), ...notFound, ...secured, ...loading },
      },
    },
    '/api/v1/sources/{id}/health-events': {
      get: {
        summary: "A source's health events, newest change first.",
        parameters: [sourceId, ...openApiQueryParameters(sourceHealthEventsQuerySchema)],
        responses: { '200': reply('A page of health events.', 'HealthEventPage'), ...badQuery(), ...notFound, ...secured, ...loading },
      },
    },
    '/api/v1/sources/{id}/history': {
      get: {
        summary: "A source's change history from the event log: who (NATS user or HTTP caller), when, and what changed; secrets masked.",
        parameters: [sourceId],
        responses: { '200': reply('The history.', 'SourceHistory'), ...badQuery('Not a source id, or a query parameter (none are taken).'), ...notFound, ...secured },
      },
    },
    '/api/v1/health-events': {
      get: {
        summary: 'All health events, newest change first.',
        parameters: openApiQueryParameters(healthEventsQuerySchema),
        responses: { '200': reply('A page of health events.', 'HealthEventPage'), ...badQuery(), ...secured },
      },
    },
    '/healthz': {
      get: {
        summary: 'Whether NATS and MongoDB answer and the read models are ready (no token needed).',
        security: [],
        responses: {
          '200': reply('Both answer, and the read models hold the event log (`readModel.ready`).', 'Readiness'),
          '503': reply('One does not (`checks` says which), or the read models are still replaying the log after a start.', 'Readiness'),
        },
      },
    },
    '/metrics': { get: { summary: 'Prometheus metrics: the read models\' figures, then this process\'s.', responses: { '200': text('Text exposition format 0.0.4.', 'text/plain'), ...secured, ...loading } } },
    '/api/docs': { get: { summary: 'This document.', responses: { '200': { description: 'OpenAPI 3.1 JSON.', content: json({ type: 'object' }) }, ...secured } } },
    '/': publicFile('The dashboard (its data comes from this API, with the token when one is set).', 'text/html'),
    '/dashboard.css': publicFile("The dashboard's stylesheet.", 'text/css'),
    '/dashboard.js': publicFile("The dashboard's script.", 'text/javascript'),
    '/favicon.svg': publicFile("The dashboard's icon.", 'image/svg+xml'),
  },
} as const;
