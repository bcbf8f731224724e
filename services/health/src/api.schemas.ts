import { historyEntrySchema, SOURCE_STATES } from '@s1c/contracts';
import { ERROR_TYPES, LANES, SOURCE_APIS } from '@s1c/domain';
import { z } from 'zod';
import { HEALTH_EVENT_ERROR_TYPES } from './query.schemas';

/*
 * The replies of the health API as zod schemas: the queries build them to these types, and the
 * OpenAPI document (openapi.document.ts) is generated from them, so the document cannot drift
 * from the code. Requests are validated by query.schemas.ts.
 */

const time = z.string().meta({ format: 'date-time', description: 'UTC, microseconds: 2026-11-27T23:10:00.000000Z' });
const api = z.enum(SOURCE_APIS);
const lane = z.enum(LANES);
const count = z.number().int().min(0);
const severity = z.enum(['Error', 'Warning']);
/** Any text the log carries; these are the ones the collector raises. */
const errorType = z.string().meta({ examples: [...HEALTH_EVENT_ERROR_TYPES] });

/** The API's error body: `{"error": {code, message, details?}}`; `details` names each bad query parameter. */
export const apiErrorBodySchema = z.object({
  error: z.object({
    code: z.string().meta({ examples: ['BadRequest', 'NotFound', 'Unauthorized', 'Unavailable'] }),
    message: z.string(),
    details: z.array(z.object({ parameter: z.string(), message: z.string() })).optional(),
  }),
});
export type ApiErrorBody = z.infer<typeof apiErrorBodySchema>;

/** Collection of one API of a source. */
export const apiStatusViewSchema = z.object({
  api,
  checkpoint: time.nullable().meta({ description: 'Live checkpoint: everything before it has been collected.' }),
  lagSeconds: count.nullable().meta({ description: 'Now minus the checkpoint, in seconds.' }),
  lastSuccessfulPollAt: time.nullable(),
  records: z.object({
    total: count,
    byLane: z.record(lane, count),
    lastPoll: count.nullable().meta({ description: 'Records of the last job that ended well.' }),
  }),
  lastPoll: z
    .object({ at: time, lane, records: count, pages: count, durationMs: z.number().min(0), finished: z.boolean() })
    .nullable()
    .meta({ description: 'The last job that ended well, whatever its lane.' }),
  backfill: z
    .object({ from: time, to: time, lastTimestamp: time.nullable(), records: count, done: z.boolean(), percent: z.number().min(0).max(100) })
    .nullable(),
  recordsPerMinute: z.array(count).meta({ description: 'Records per minute over the last hour, oldest first, the last being the current minute.' }),
  failuresTotal: count,
  jobsInFlight: z.array(lane).meta({ description: 'The lanes with a job out now.' }),
});
export type ApiStatusView = z.infer<typeof apiStatusViewSchema>;

/** An open health event as a source's status summarises it. */
export const openHealthEventViewSchema = z.object({
  eventId: z.string(),
  eventName: z.string(),
  severityLevel: severity,
  errorType,
  eventTime: time,
  description: z.string(),
  action: z.string().meta({ description: 'What to do.' }),
  occurrences: count,
  api: api.nullable(),
});
export type OpenHealthEventView = z.infer<typeof openHealthEventViewSchema>;

/** The status icon: red when an error is open or the source is in Error, orange for warnings. */
export const healthLevelSchema = z.enum(['healthy', 'warning', 'error']);
export type HealthLevel = z.infer<typeof healthLevelSchema>;

/** A source with its state, health and per-API collection. */
export const sourceStatusViewSchema = z.object({
  id: z.string(),
  name: z.string(),
  collectorId: z.string(),
  category: z.string().nullable(),
  description: z.string().nullable(),
  baseUrl: z.string(),
  supportedApis: z.array(api),
  state: z.enum(SOURCE_STATES),
  since: time.meta({ description: 'When the source entered its state.' }),
  reason: z.string().meta({ description: 'Why the source took its last transition.' }),
  failure: z
    .object({ errorType: z.enum(ERROR_TYPES), eventName: z.string(), reason: z.string(), api: api.nullable() })
    .nullable()
    .meta({ description: 'The failure that put it in Error, while it is there.' }),
  generation: z.number().int().min(1),
  createdAt: time,
  updatedAt: time,
  health: healthLevelSchema,
  openErrors: count,
  openWarnings: count,
  openHealthEvents: z.array(openHealthEventViewSchema),
  apis: z.array(apiStatusViewSchema),
});
export type SourceStatusView = z.infer<typeof sourceStatusViewSchema>;

/** A health event in the hosted product's shape (docs/DESIGN.md), then ours. */
export const healthEventViewSchema = z.object({
  eventId: z.string(),
  eventName: z.string().meta({ examples: ['ThirdPartyConfigError'] }),
  eventType: z.literal('Health-Change'),
  severityLevel: severity,
  status: z.enum(['Healthy', 'UnHealthy']),
  eventTime: time.meta({ description: 'When it last changed: raised, occurred again, or resolved.' }),
  subsystem: z.string(),
  details: z.object({ trackerId: z.string(), name: z.string(), description: z.string() }),
  resourceIdentity: z.object({
    collectorId: z.string(),
    collectorName: z.string(),
    id: z.string(),
    name: z.string(),
    type: z.literal('SourceResource'),
  }),
  errorType,
  retry: z.object({ retrying: z.boolean(), nextAttemptAt: time.optional(), until: time.optional() }),
  firstSeen: time,
  lastSeen: time,
  occurrences: count,
  resolvedAt: time.nullable(),
  action: z.string().meta({ description: 'What to do.' }),
  api: api.nullable(),
});
export type HealthEventView = z.infer<typeof healthEventViewSchema>;

/** A page of a list: `total` matches the filters, `offset` and `limit` as asked (or their defaults). */
export function pageSchema<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), total: count, limit: z.number().int().min(1), offset: count });
}
export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

/** A source's change history, oldest first: who, when, what changed; secrets masked. */
export const sourceHistorySchema = z.object({ sourceId: z.string(), entries: z.array(historyEntrySchema) });
export type SourceHistory = z.infer<typeof sourceHistorySchema>;

const dependencyCheckSchema = z.object({ ok: z.boolean(), latencyMs: z.number().min(0).optional(), error: z.string().optional() });

/** `/healthz`: the round trip to each dependency, and whether the read models hold the log. */
export const readinessSchema = z.object({
  status: z.enum(['ok', 'unavailable']),
  checks: z.object({ nats: dependencyCheckSchema, mongodb: dependencyCheckSchema }),
  readModel: z.object({
    ready: z.boolean().meta({ description: 'The log replayed at start is in memory.' }),
    checkpoint: count.meta({ description: 'The S1C_EVENTS sequence read up to.' }),
  }),
});
export type Readiness = z.infer<typeof readinessSchema>;
export type DependencyCheck = z.infer<typeof dependencyCheckSchema>;
