import { collectorIdSchema, safeText, SOURCE_STATES, sourceIdSchema } from '@s1c/contracts';
import { z } from 'zod';
import { ApiError } from './api.errors';

/** `a,b` or a repeated parameter, as a list of states. */
const states = z
  .union([z.string(), z.array(z.string())])
  .transform((v) => (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== ''))
  .pipe(z.array(z.enum(SOURCE_STATES, { error: `must be one of ${SOURCE_STATES.join(', ')}` })).min(1, `must name at least one of ${SOURCE_STATES.join(', ')}`));

/** `GET .../sources`: the list command's filters and paging. Unknown parameters are refused. */
export const listQuerySchema = z.strictObject({
  state: states.optional(),
  /** The exact name (names are unique per collector). */
  name: safeText({ min: 1, max: 128 }).optional(),
  /** Decimal digits only: `z.coerce.number()` would also take `1e2`, `0x10` or ` 5`. */
  limit: z
    .string()
    .regex(/^\d{1,9}$/, 'must be a whole number in decimal digits')
    .transform(Number)
    .pipe(z.number().min(1, 'must be at least 1').max(1000, 'must be at most 1000'))
    .default(100),
  /** `nextCursor` of the previous page. */
  cursor: z.string().min(1).max(512).optional(),
});
export type ListQuery = z.infer<typeof listQuerySchema>;

/** Routes without parameters refuse any, so a typo never goes unnoticed. */
export const noQuerySchema = z.strictObject({});

/** Parses a query string; a bad or unknown parameter is a 400 naming each one (never echoing its value). */
export function parseQuery<S extends z.ZodType>(schema: S, query: unknown): z.infer<S> {
  const result = schema.safeParse(query ?? {});
  if (result.success) return result.data;
  const details: Array<{ path: string; message: string }> = [];
  for (const issue of result.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) details.push({ path: key.slice(0, 100), message: 'is not a known query parameter' });
    } else {
      details.push({ path: String(issue.path[0] ?? '(query)'), message: issue.message });
    }
  }
  throw new ApiError('ValidationError', `invalid query parameter(s): ${[...new Set(details.map((d) => d.path))].join(', ')}`, details);
}

/** Checks the path's collector and source ids, as the registry would. */
export function parsePathIds(collectorId: string, sourceId?: string): void {
  const details: Array<{ path: string; message: string }> = [];
  if (!collectorIdSchema.safeParse(collectorId).success) details.push({ path: 'collectorId', message: 'must be 1-64 letters, digits, "-" or "_"' });
  if (sourceId !== undefined && !sourceIdSchema.safeParse(sourceId).success) details.push({ path: 'sourceId', message: 'must be a source id' });
  if (details.length > 0) throw new ApiError('ValidationError', `invalid path: ${details.map((d) => `${d.path} ${d.message}`).join('; ')}`, details);
}
