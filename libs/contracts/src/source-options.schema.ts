import { parseDurationMs, SOURCE_APIS, type SourceOptions } from '@s1c/domain';
import { z } from 'zod';

const DAY = 86_400_000;
/** SentinelOne ids: digit strings (18-19 digits in practice). */
const MAX_SCOPE_IDS = 1000;

function duration(what: string, minMs: number, maxMs: number, minText: string, maxText: string) {
  return z.string().transform((value, ctx) => {
    const ms = parseDurationMs(value);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `must be a duration such as 90s, 5m, 24h or 7d (${what})` });
      return z.NEVER;
    }
    if (ms < minMs || ms > maxMs) {
      ctx.addIssue({ code: 'custom', message: `must be from ${minText} to ${maxText} (${what})` });
      return z.NEVER;
    }
    return ms;
  });
}

const pollInterval = duration('how often live data is polled', 30_000, DAY, '30s', '24h');
const backfill = duration('history collected when collection starts; 0s for none', 0, 365 * DAY, '0s', '365d');

const scopeIds = z
  .array(z.string().regex(/^\d{1,20}$/, 'must be a SentinelOne id (a string of digits)'))
  .min(1, 'must name at least one id (leave the key out for no filter)')
  .max(MAX_SCOPE_IDS, `must name at most ${MAX_SCOPE_IDS} ids`)
  .superRefine((ids, ctx) => {
    ids.forEach((id, index) => {
      if (ids.indexOf(id) !== index) ctx.addIssue({ code: 'custom', message: `"${id}" is listed twice`, path: [index] });
    });
  });

const apiTiming = z.strictObject({ poll_interval: pollInterval.optional(), backfill: backfill.optional() });

/**
 * `config.options`: our extension of the hosted document, every key optional, an unknown one
 * refused. Parsed into the domain's {@link SourceOptions} (durations in ms); `{}` is no options.
 */
export const sourceOptionsSchema = z
  .strictObject({
    poll_interval: pollInterval.optional(),
    backfill: backfill.optional(),
    scope: z
      .strictObject({ account_ids: scopeIds.optional(), site_ids: scopeIds.optional(), group_ids: scopeIds.optional() })
      .optional(),
    requests_per_second: z.number().min(0.1, 'must be from 0.1 to 100').max(100, 'must be from 0.1 to 100').optional(),
    apis: z
      .strictObject({
        activities: apiTiming.optional(),
        // Inventories have no backfill: they are collected whole by their snapshots.
        agents: z.strictObject({ poll_interval: pollInterval.optional() }).optional(),
        threats: apiTiming.optional(),
        alerts: apiTiming.optional(),
        groups: z.strictObject({ poll_interval: pollInterval.optional() }).optional(),
      })
      .optional(),
  })
  .transform((o): SourceOptions | undefined => {
    const timing = (t: { poll_interval?: number | undefined; backfill?: number | undefined } | undefined) =>
      t === undefined
        ? undefined
        : { ...(t.poll_interval !== undefined ? { pollIntervalMs: t.poll_interval } : {}), ...(t.backfill !== undefined ? { backfillMs: t.backfill } : {}) };
    const scope = o.scope && {
      ...(o.scope.account_ids ? { accountIds: o.scope.account_ids } : {}),
      ...(o.scope.site_ids ? { siteIds: o.scope.site_ids } : {}),
      ...(o.scope.group_ids ? { groupIds: o.scope.group_ids } : {}),
    };
    const apis = Object.fromEntries(
      SOURCE_APIS.flatMap((api) => {
        const t = timing(o.apis?.[api]);
        return t && Object.keys(t).length > 0 ? [[api, t]] : [];
      }),
    );
    const options: SourceOptions = {
      ...timing(o),
      ...(scope && Object.keys(scope).length > 0 ? { scope } : {}),
      ...(o.requests_per_second !== undefined ? { requestsPerSecond: o.requests_per_second } : {}),
      ...(Object.keys(apis).length > 0 ? { apis } : {}),
    };
    return Object.keys(options).length > 0 ? options : undefined;
  });

/** `config.options` as replies show it (see `sourceOptionsDocument` in the domain). */
export const sourceOptionsDocumentSchema = z.object({
  poll_interval: z.string().optional(),
  backfill: z.string().optional(),
  scope: z.object({ account_ids: z.array(z.string()).optional(), site_ids: z.array(z.string()).optional(), group_ids: z.array(z.string()).optional() }).optional(),
  requests_per_second: z.number().optional(),
  apis: z
    .object({
      activities: z.object({ poll_interval: z.string().optional(), backfill: z.string().optional() }).optional(),
      agents: z.object({ poll_interval: z.string().optional() }).optional(),
      threats: z.object({ poll_interval: z.string().optional(), backfill: z.string().optional() }).optional(),
      alerts: z.object({ poll_interval: z.string().optional(), backfill: z.string().optional() }).optional(),
      groups: z.object({ poll_interval: z.string().optional() }).optional(),
    })
    .optional(),
});
