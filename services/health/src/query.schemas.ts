import { collectorIdSchema, safeText, SOURCE_STATES, sourceIdSchema } from '@s1c/contracts';
import { ERROR_TYPES, parseMicros, TOKEN_EXPIRING } from '@s1c/domain';
import { z } from 'zod';

/** `a,b` or a repeated parameter, as a list of enum values. */
function listOf<T extends readonly [string, ...string[]]>(values: T) {
  return z
    .union([z.string(), z.array(z.string())])
    .transform((v) => (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== ''))
    .pipe(z.array(z.enum(values)).min(1, `must name at least one of ${values.join(', ')}`))
    .meta({ description: `One or more of ${values.join(', ')}: comma-separated or repeated.` });
}

const timestamp = z
  .string()
  .refine((s) => parseMicros(s) !== undefined, 'must be an ISO-8601 timestamp such as 2026-11-27T23:10:00Z')
  .meta({ format: 'date-time' });

/**
 * A whole number written in decimal digits. `z.coerce.number()` would take `1e2`, `0x10`, ` 5` or
 * a one-element array (`Number(['5'])` is 5): a query parameter is text, so read it as text.
 */
function integer(min: number, max: number, fallback: number) {
  return z
    .string()
    .regex(/^\d{1,9}$/, 'must be a whole number in decimal digits')
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`))
    .default(fallback)
    .meta({ description: `A whole number from ${min} to ${max}; ${fallback} when absent.` });
}

const paging = {
  limit: integer(1, 500, 50),
  offset: integer(0, 1_000_000, 0),
};

/** `GET /api/v1/sources`. Unknown parameters are refused, so a typo never silently widens a filter. */
export const sourcesQuerySchema = z.strictObject({
  state: listOf(SOURCE_STATES).optional(),
  collector: collectorIdSchema.optional().meta({ description: 'Collector id.' }),
  /** Case-insensitive part of the name, matched as plain text (never as a pattern). */
  name: safeText({ min: 1, max: 128 }).optional().meta({ description: 'Part of the name, any case, as plain text.' }),
  ...paging,
});
export type SourcesQuery = z.infer<typeof sourcesQuerySchema>;

export const HEALTH_EVENT_ERROR_TYPES = [...ERROR_TYPES, 'RateLimited', TOKEN_EXPIRING] as const;

const healthEventFilters = {
  errorType: listOf(HEALTH_EVENT_ERROR_TYPES).optional(),
  severity: listOf(['Error', 'Warning'] as const).optional(),
  /** `open` (UnHealthy) or `resolved` (Healthy). */
  status: z.enum(['open', 'resolved']).optional().meta({ description: 'open (UnHealthy) or resolved (Healthy).' }),
  from: timestamp.optional().meta({ description: 'Events still open at, or resolved after, this time.' }),
  to: timestamp.optional().meta({ description: 'Events first seen before this time.' }),
  ...paging,
};

/** `GET /api/v1/sources/{id}/health-events`. */
export const sourceHealthEventsQuerySchema = z.strictObject(healthEventFilters);

/** `GET /api/v1/health-events`. */
export const healthEventsQuerySchema = z.strictObject({ ...healthEventFilters, source: sourceIdSchema.optional().meta({ description: 'Source id.' }) });
export type HealthEventsQuery = z.infer<typeof healthEventsQuerySchema>;

/** `GET /api/v1/sources/{id}`: no parameters. */
export const noQuerySchema = z.strictObject({});
