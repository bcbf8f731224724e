import { z } from 'zod';
import { IMMUTABLE_APIS, type DataApi } from './dataset.store.js';
import { DEFAULT_LIMIT, MAX_LIMIT } from './simulator.options.js';
import { parseTimestampMicros, type Micros } from './timestamp.util.js';

/** A half-open time interval [from, to) in microseconds; either end may be open. */
export interface TimeRange {
  readonly from?: Micros;
  readonly to?: Micros;
}

export type SortBy = 'createdAt' | 'updatedAt' | 'id';
export type SortOrder = 'asc' | 'desc';

/** The filters of a list request: everything a cursor is bound to. */
export interface ListFilters {
  readonly sortBy: SortBy;
  readonly sortOrder: SortOrder;
  readonly createdAt: TimeRange;
  readonly updatedAt: TimeRange;
  readonly ids?: readonly string[];
  readonly siteIds?: readonly string[];
  readonly accountIds?: readonly string[];
  readonly activityTypes?: readonly number[];
}

export interface ListQuery {
  readonly filters: ListFilters;
  readonly limit: number;
  readonly cursor?: string;
  readonly countOnly: boolean;
  readonly skipCount: boolean;
}

const timestamp = z.string().transform((value, ctx) => {
  const micros = parseTimestampMicros(value);
  if (micros === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a valid ISO-8601 timestamp` });
    return z.NEVER;
  }
  return micros;
});
const csv = z
  .string()
  .transform((v) => v.split(',').map((s) => s.trim()).filter((s) => s.length > 0))
  .pipe(z.array(z.string().max(64)).min(1, 'must list at least one value').max(10_000));
const numericIds = csv.pipe(z.array(z.string().regex(/^\d+$/, 'must be a string of digits')));
const flag = z.enum(['true', 'false', 'True', 'False', '1', '0']).transform((v) => v === 'true' || v === 'True' || v === '1');

const querySchema = z.object({
  limit: z
    .string()
    .regex(/^\d+$/, `must be an integer between 1 and ${MAX_LIMIT}`)
    .transform(Number)
    .pipe(z.number().int().min(1, `must be an integer between 1 and ${MAX_LIMIT}`).max(MAX_LIMIT, `must be an integer between 1 and ${MAX_LIMIT}`))
    .optional(),
  cursor: z.string().min(1).max(4_096).optional(),
  // Alerts sort by `alertInfoCreatedAt` (their createdAt is inside alertInfo); elsewhere it is createdAt.
  sortBy: z.enum(['createdAt', 'updatedAt', 'id', 'alertInfoCreatedAt']).optional(),
  sortOrder: z.enum(['asc', 'desc']).optional(),
  countOnly: flag.optional(),
  skipCount: flag.optional(),
  skip: z.never({ error: 'is not supported by the simulator; page with cursor' }).optional(),
  ids: numericIds.optional(),
  siteIds: numericIds.optional(),
  accountIds: numericIds.optional(),
  activityTypes: csv.pipe(z.array(z.string().regex(/^\d+$/, 'must be integers').transform(Number))).optional(),
  createdAt__gt: timestamp.optional(),
  createdAt__gte: timestamp.optional(),
  createdAt__lt: timestamp.optional(),
  createdAt__lte: timestamp.optional(),
  updatedAt__gt: timestamp.optional(),
  updatedAt__gte: timestamp.optional(),
  updatedAt__lt: timestamp.optional(),
  updatedAt__lte: timestamp.optional(),
});

export type QueryResult = { readonly ok: true; readonly query: ListQuery } | { readonly ok: false; readonly detail: string };

/**
 * Validates list query parameters. Unknown parameters are ignored (S1 has many filters the
 * simulator does not model); known ones must be valid. Repeated parameters are joined with
 * commas, as list filters are comma-separated.
 */
export function parseListQuery(api: DataApi, params: URLSearchParams): QueryResult {
  const raw: Record<string, string> = {};
  for (const key of new Set(params.keys())) raw[key] = params.getAll(key).join(',');
  const parsed = querySchema.safeParse(raw);
  if (!parsed.success) {
    return { ok: false, detail: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
  }
  const q = parsed.data;
  const updatedAtUsed = [q.updatedAt__gt, q.updatedAt__gte, q.updatedAt__lt, q.updatedAt__lte].some((v) => v !== undefined);
  if (IMMUTABLE_APIS.has(api) && (updatedAtUsed || q.sortBy === 'updatedAt')) {
    return { ok: false, detail: `${api} can only be filtered and sorted by createdAt or id` };
  }
  if (api === 'alerts' && q.sortBy === 'createdAt') return { ok: false, detail: 'alerts are sorted by alertInfoCreatedAt or id' };
  if (api !== 'alerts' && q.sortBy === 'alertInfoCreatedAt') return { ok: false, detail: `alertInfoCreatedAt is not a sort of ${api}` };
  if (api !== 'activities' && q.activityTypes !== undefined) {
    return { ok: false, detail: `activityTypes is not a filter of ${api}` };
  }
  return {
    ok: true,
    query: {
      filters: {
        sortBy: q.sortBy === 'alertInfoCreatedAt' ? 'createdAt' : (q.sortBy ?? 'createdAt'),
        sortOrder: q.sortOrder ?? 'desc',
        createdAt: range(q.createdAt__gt, q.createdAt__gte, q.createdAt__lt, q.createdAt__lte),
        updatedAt: range(q.updatedAt__gt, q.updatedAt__gte, q.updatedAt__lt, q.updatedAt__lte),
        ...(q.ids && { ids: q.ids }),
        ...(q.siteIds && { siteIds: q.siteIds }),
        ...(q.accountIds && { accountIds: q.accountIds }),
        ...(q.activityTypes && { activityTypes: q.activityTypes }),
      },
      limit: q.limit ?? DEFAULT_LIMIT,
      ...(q.cursor !== undefined && { cursor: q.cursor }),
      countOnly: q.countOnly ?? false,
      skipCount: q.skipCount ?? false,
    },
  };
}

// Microseconds are integers, so `> x` is `>= x + 1` and `<= x` is `< x + 1`.
function range(gt?: Micros, gte?: Micros, lt?: Micros, lte?: Micros): TimeRange {
  const froms = [gt === undefined ? undefined : gt + 1, gte].filter((v): v is number => v !== undefined);
  const tos = [lt, lte === undefined ? undefined : lte + 1].filter((v): v is number => v !== undefined);
  return {
    ...(froms.length > 0 && { from: Math.max(...froms) }),
    ...(tos.length > 0 && { to: Math.min(...tos) }),
  };
}
