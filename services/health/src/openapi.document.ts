import { SOURCE_STATES } from '@s1c/contracts';
import { HEALTH_EVENT_ERROR_TYPES } from './query.schemas';

const listParam = (name: string, values: readonly string[], description: string) => ({
  name,
  in: 'query',
  required: false,
  description: `${description} Comma-separated or repeated.`,
  schema: { type: 'array', items: { type: 'string', enum: values } },
  style: 'form',
  explode: false,
});
const stringParam = (name: string, description: string, format?: string) => ({
  name,
  in: 'query',
  required: false,
  description,
  schema: { type: 'string', ...(format ? { format } : {}) },
});
const paging = [
  { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 } },
  { name: 'offset', in: 'query', required: false, schema: { type: 'integer', minimum: 0, default: 0 } },
];
const eventFilters = [
  listParam('errorType', HEALTH_EVENT_ERROR_TYPES, 'Error types.'),
  listParam('severity', ['Error', 'Warning'], 'Severities.'),
  { name: 'status', in: 'query', required: false, schema: { type: 'string', enum: ['open', 'resolved'] } },
  stringParam('from', 'Events still open at, or resolved after, this time.', 'date-time'),
  stringParam('to', 'Events first seen before this time.', 'date-time'),
  ...paging,
];
const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });
const secured = { '401': errorResponse('Missing or wrong bearer token (only when S1C_API_TOKEN is set).') };
const loading = { '503': errorResponse('The read models are still replaying the event log (for a while after a start); try again.') };
const sourceId = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
const page = (item: string) => ({
  type: 'object',
  required: ['items', 'total', 'limit', 'offset'],
  properties: { items: { type: 'array', items: { $ref: `#/components/schemas/${item}` } }, total: { type: 'integer' }, limit: { type: 'integer' }, offset: { type: 'integer' } },
});
const time = { type: 'string', format: 'date-time', description: 'UTC, microseconds: 2026-11-27T23:10:00.000000Z' };
const nullableTime = { ...time, nullable: true };

/** The OpenAPI 3.0 document served at `/api/docs`. */
export const OPENAPI_DOCUMENT = {
  openapi: '3.0.3',
  info: {
    title: 's1-collector health API',
    version: '1.0.0',
    description:
      'Source status and health events of the SentinelOne collector, read from its event log. With S1C_API_TOKEN set, every path but /healthz needs `Authorization: Bearer <token>`.',
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    schemas: {
      Error: {
        type: 'object',
        properties: {
          error: {
            type: 'object',
            required: ['code', 'message'],
            properties: {
              code: { type: 'string', example: 'BadRequest' },
              message: { type: 'string' },
              details: { type: 'array', items: { type: 'object', properties: { parameter: { type: 'string' }, message: { type: 'string' } } } },
            },
          },
        },
      },
      ApiStatus: {
        type: 'object',
        properties: {
          api: { type: 'string', enum: ['activities', 'agents', 'threats'] },
          checkpoint: { ...nullableTime, description: 'Live checkpoint: everything before it has been collected.' },
          lagSeconds: { type: 'integer', nullable: true, description: 'Now minus the checkpoint.' },
          lastSuccessfulPollAt: nullableTime,
          records: {
            type: 'object',
            properties: { total: { type: 'integer' }, byLane: { type: 'object', additionalProperties: { type: 'integer' } }, lastPoll: { type: 'integer', nullable: true } },
          },
          lastPoll: {
            type: 'object',
            nullable: true,
            properties: { at: time, lane: { type: 'string' }, records: { type: 'integer' }, pages: { type: 'integer' }, durationMs: { type: 'number' }, finished: { type: 'boolean' } },
          },
          backfill: {
            type: 'object',
            nullable: true,
            properties: { from: time, to: time, lastTimestamp: nullableTime, records: { type: 'integer' }, done: { type: 'boolean' }, percent: { type: 'number' } },
          },
          recordsPerMinute: { type: 'array', items: { type: 'integer' }, description: 'The last 60 minutes, oldest first.' },
          failuresTotal: { type: 'integer' },
          jobsInFlight: { type: 'array', items: { type: 'string' } },
        },
      },
      SourceStatus: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          name: { type: 'string' },
          collectorId: { type: 'string' },
          category: { type: 'string', nullable: true },
          description: { type: 'string', nullable: true },
          baseUrl: { type: 'string' },
          supportedApis: { type: 'array', items: { type: 'string' } },
          state: { type: 'string', enum: SOURCE_STATES },
          since: time,
          reason: { type: 'string', description: 'Why the source took its last transition.' },
          failure: {
            type: 'object',
            nullable: true,
            properties: { errorType: { type: 'string' }, eventName: { type: 'string' }, reason: { type: 'string' }, api: { type: 'string', nullable: true } },
          },
          generation: { type: 'integer' },
          createdAt: time,
          updatedAt: time,
          health: { type: 'string', enum: ['healthy', 'warning', 'error'] },
          openErrors: { type: 'integer' },
          openWarnings: { type: 'integer' },
          openHealthEvents: { type: 'array', items: { type: 'object' } },
          apis: { type: 'array', items: { $ref: '#/components/schemas/ApiStatus' } },
        },
      },
      HealthEvent: {
        type: 'object',
        properties: {
          eventId: { type: 'string' },
          eventName: { type: 'string', example: 'ThirdPartyConfigError' },
          eventType: { type: 'string', enum: ['Health-Change'] },
          severityLevel: { type: 'string', enum: ['Error', 'Warning'] },
          status: { type: 'string', enum: ['Healthy', 'UnHealthy'] },
          eventTime: time,
          subsystem: { type: 'string' },
          details: { type: 'object', properties: { trackerId: { type: 'string' }, name: { type: 'string' }, description: { type: 'string' } } },
          resourceIdentity: {
            type: 'object',
            properties: {
              collectorId: { type: 'string' },
              collectorName: { type: 'string' },
              id: { type: 'string' },
              name: { type: 'string' },
              type: { type: 'string', enum: ['SourceResource'] },
            },
          },
          errorType: { type: 'string', enum: HEALTH_EVENT_ERROR_TYPES },
          retry: { type: 'object', properties: { retrying: { type: 'boolean' }, nextAttemptAt: time, until: time } },
          firstSeen: time,
          lastSeen: time,
          occurrences: { type: 'integer' },
          resolvedAt: nullableTime,
          action: { type: 'string', description: 'What to do.' },
          api: { type: 'string', nullable: true },
        },
      },
      SourcePage: page('SourceStatus'),
      HealthEventPage: page('HealthEvent'),
      NatsIdentity: {
        type: 'object',
        description: 'Who the NATS server says sent a command (null fields: NATS runs without authentication).',
        required: ['account', 'user', 'host', 'clientName'],
        properties: {
          account: { type: 'string', nullable: true },
          user: { type: 'string', nullable: true },
          host: { type: 'string', nullable: true },
          clientName: { type: 'string', nullable: true },
        },
      },
      Actor: {
        type: 'object',
        description:
          'Who caused an event. kind "nats": a command sent over NATS, by the user the server named; "http": a caller of the HTTP gateway (the name of its API token) and its address, relayed by the gateway `via` (verified: the relay is a trusted gateway user); "system": one of the collector\'s own components; "legacy": a name recorded before actors were structured.',
        required: ['kind'],
        properties: {
          kind: { type: 'string', enum: ['nats', 'http', 'system', 'legacy'] },
          account: { type: 'string', nullable: true },
          user: { type: 'string', nullable: true },
          host: { type: 'string', nullable: true },
          clientName: { type: 'string', nullable: true },
          caller: { type: 'string' },
          ip: { type: 'string', nullable: true },
          verified: { type: 'boolean' },
          via: { $ref: '#/components/schemas/NatsIdentity' },
          component: { type: 'string' },
          name: { type: 'string' },
        },
      },
      HistoryValue: {
        nullable: true,
        oneOf: [{ type: 'string' }, { type: 'number' }, { type: 'boolean' }, { type: 'array', items: { type: 'string' } }],
      },
      HistoryEntry: {
        type: 'object',
        required: ['version', 'at', 'type', 'actor', 'correlationId', 'changes'],
        properties: {
          version: { type: 'integer', description: "The event's version in the source's stream." },
          at: { type: 'string', format: 'date-time' },
          type: { type: 'string', example: 'SourceUpdated' },
          actor: { $ref: '#/components/schemas/Actor' },
          correlationId: { type: 'string', nullable: true, description: "The command's correlation id (the gateway's request id)." },
          changes: {
            type: 'array',
            items: {
              type: 'object',
              required: ['path', 'from', 'to'],
              properties: {
                path: { type: 'string', example: 'base_url', description: 'A field of the source document (fields["team.name"]), "state", "error", "collectorId" or "api_secret.keyId".' },
                from: { $ref: '#/components/schemas/HistoryValue' },
                to: { $ref: '#/components/schemas/HistoryValue' },
                masked: { type: 'boolean', enum: [true], description: 'The API token was set or replaced; both sides show ******** and never the token or its ciphertext.' },
              },
            },
          },
        },
      },
      SourceHistory: {
        type: 'object',
        required: ['sourceId', 'entries'],
        properties: { sourceId: { type: 'string' }, entries: { type: 'array', items: { $ref: '#/components/schemas/HistoryEntry' } } },
      },
    },
  },
  security: [{ bearer: [] }],
  paths: {
    '/api/v1/sources': {
      get: {
        summary: 'List sources with their status (deleted sources only when asked for by state).',
        parameters: [listParam('state', SOURCE_STATES, 'States.'), stringParam('collector', 'Collector id.'), stringParam('name', 'Part of the name, any case.'), ...paging],
        responses: {
          '200': { description: 'A page of sources, sorted by name.', content: { 'application/json': { schema: { $ref: '#/components/schemas/SourcePage' } } } },
          '400': errorResponse('A bad or unknown query parameter (each one named).'),
          ...secured,
          ...loading,
        },
      },
    },
    '/api/v1/sources/{id}': {
      get: {
        summary: "One source's status.",
        parameters: [sourceId],
        responses: {
          '200': { description: 'The source.', content: { 'application/json': { schema: { $ref: '#/components/schemas/SourceStatus' } } } },
          '404': errorResponse('Unknown or deleted source.'),
          ...secured,
          ...loading,
        },
      },
    },
    '/api/v1/sources/{id}/health-events': {
      get: {
        summary: "A source's health events, newest change first.",
        parameters: [sourceId, ...eventFilters],
        responses: {
          '200': { description: 'A page of health events.', content: { 'application/json': { schema: { $ref: '#/components/schemas/HealthEventPage' } } } },
          '400': errorResponse('A bad or unknown query parameter.'),
          '404': errorResponse('Unknown or deleted source.'),
          ...secured,
          ...loading,
        },
      },
    },
    '/api/v1/sources/{id}/history': {
      get: {
        summary: "A source's change history, oldest first: who (NATS user or HTTP caller), when, and what changed; secrets masked. Derived from the event log.",
        parameters: [sourceId],
        responses: {
          '200': { description: 'The history.', content: { 'application/json': { schema: { $ref: '#/components/schemas/SourceHistory' } } } },
          '400': errorResponse('Not a source id, or a query parameter (none are taken).'),
          '404': errorResponse('Unknown or deleted source.'),
          ...secured,
        },
      },
    },
    '/api/v1/health-events': {
      get: {
        summary: 'All health events, newest change first.',
        parameters: [stringParam('source', 'Source id.'), ...eventFilters],
        responses: {
          '200': { description: 'A page of health events.', content: { 'application/json': { schema: { $ref: '#/components/schemas/HealthEventPage' } } } },
          '400': errorResponse('A bad or unknown query parameter.'),
          ...secured,
        },
      },
    },
    '/healthz': {
      get: {
        summary: 'Whether NATS and MongoDB are reachable and the read models ready (no token needed).',
        security: [],
        responses: {
          '200': { description: 'Both reachable, and the read models hold the event log (`readModel.ready`).' },
          '503': { description: 'One is not (`checks` says which), or the read models are still replaying the event log after a start (`readModel.ready` false).' },
        },
      },
    },
    '/metrics': { get: { summary: 'Prometheus metrics.', responses: { '200': { description: 'Text exposition format 0.0.4.' }, ...secured, ...loading } } },
    '/api/docs': { get: { summary: 'This document.', responses: { '200': { description: 'OpenAPI 3.0 JSON.' }, ...secured } } },
  },
} as const;
