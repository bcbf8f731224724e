import { SOURCE_STATES, sourceIdSchema } from '@s1c/contracts';
import { ERROR_TYPES, parseMicros } from '@s1c/domain';
import { z } from 'zod';

/** `a,b` or a repeated parameter, as a list of enum values. */
function listOf<T extends readonly [string, ...string[]]>(values: T) {
  return z
    .union([z.string(), z.array(z.string())])
    .transform((v) => (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== ''))
    .pipe(z.array(z.enum(values)).min(1, `must name at least one of ${values.join(', ')}`));
}

const timestamp = z
  .string()
  .refine((s) => parseMicros(s) !== undefined, 'must be an ISO-8601 timestamp such as 2026-11-27T23:10:00Z');

const paging = {
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
};

/** A source id in a path: what the registry issues. */
export const sourceIdParamSchema = sourceIdSchema;

/** `GET /api/v1/sources`. Unknown parameters are refused, so a typo never silently widens a filter. */
export const sourcesQuerySchema = z.strictObject({
  state: listOf(SOURCE_STATES).optional(),
  collector: z.string().min(1).max(200).optional(),
  /** Case-insensitive part of the name. */
  name: z.string().min(1).max(200).optional(),
  ...paging,
});
export type SourcesQuery = z.infer<typeof sourcesQuerySchema>;

export const HEALTH_EVENT_ERROR_TYPES = [...ERROR_TYPES, 'RateLimited'] as const;

const healthEventFilters = {
  errorType: listOf(HEALTH_EVENT_ERROR_TYPES).optional(),
  severity: listOf(['Error', 'Warning'] as const).optional(),
  /** `open` (UnHealthy) or `resolved` (Healthy). */
  status: z.enum(['open', 'resolved']).optional(),
  /** Events still open at or resolved after this time. */
  from: timestamp.optional(),
  /** Events first seen before this time. */
  to: timestamp.optional(),
  ...paging,
};

/** `GET /api/v1/sources/{id}/health-events`. */
export const sourceHealthEventsQuerySchema = z.strictObject(healthEventFilters);

/** `GET /api/v1/health-events`. */
export const healthEventsQuerySchema = z.strictObject({ ...healthEventFilters, source: z.string().min(1).max(200).optional() });
export type HealthEventsQuery = z.infer<typeof healthEventsQuerySchema>;

/** `GET /api/v1/sources/{id}`: no parameters. */
export const noQuerySchema = z.strictObject({});
