import type { SourceApi } from './source.types';

/** Collection timing of one API of a source, overriding the source's and the process's. */
export interface ApiOptions {
  readonly pollIntervalMs?: number;
  readonly backfillMs?: number;
}

/** Which part of the console a source collects: SentinelOne's `accountIds`, `siteIds` and `groupIds` filters. */
export interface SourceScope {
  readonly accountIds?: readonly string[];
  readonly siteIds?: readonly string[];
  readonly groupIds?: readonly string[];
}

/**
 * A source's own collection settings, our extension of the hosted document (`config.options`,
 * docs/COLLECTION.md "Per-source options"). Each one left out takes the process's setting
 * (S1C_POLL_INTERVAL, S1C_BACKFILL, S1C_S1_REQUESTS_PER_SECOND); an API's own timing comes first.
 */
export interface SourceOptions {
  readonly pollIntervalMs?: number;
  readonly backfillMs?: number;
  readonly scope?: SourceScope;
  /** The most requests per second sent to this source's console (shared with every source of the same console in a process: the lowest wins). */
  readonly requestsPerSecond?: number;
  readonly apis?: Readonly<Partial<Record<SourceApi, ApiOptions>>>;
}

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Parses a duration such as `1500ms`, `90s`, `5m`, `24h` or `7d` into milliseconds. */
export function parseDurationMs(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]);
}

/** A duration in its largest whole unit: `5m`, `24h`, `7d`, `90s`, `1500ms`. */
export function formatDurationMs(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1_000]] as const) {
    if (ms !== 0 && ms % size === 0) return `${ms / size}${unit}`;
  }
  return ms === 0 ? '0s' : `${ms}ms`;
}

/** The poll interval and backfill of one API of a source: its API's options, then the source's, then the process's `defaults`. */
export function collectionTimings(
  options: SourceOptions | undefined,
  api: SourceApi,
  defaults: { readonly pollIntervalMs: number; readonly backfillMs: number },
): { pollIntervalMs: number; backfillMs: number } {
  const own = options?.apis?.[api];
  return {
    pollIntervalMs: own?.pollIntervalMs ?? options?.pollIntervalMs ?? defaults.pollIntervalMs,
    backfillMs: own?.backfillMs ?? options?.backfillMs ?? defaults.backfillMs,
  };
}

/** The list filters of a source's scope (`accountIds=1,2`...), sent with every list request of every API. */
export function scopeFilters(options: SourceOptions | undefined): Record<string, string> {
  const filters: Record<string, string> = {};
  const scope = options?.scope;
  if (scope?.accountIds?.length) filters.accountIds = scope.accountIds.join(',');
  if (scope?.siteIds?.length) filters.siteIds = scope.siteIds.join(',');
  if (scope?.groupIds?.length) filters.groupIds = scope.groupIds.join(',');
  return filters;
}

/** The document form of the options (`config.options`: snake_case keys, durations as text), as replies show them. */
export interface SourceOptionsDocument {
  poll_interval?: string;
  backfill?: string;
  scope?: { account_ids?: string[]; site_ids?: string[]; group_ids?: string[] };
  requests_per_second?: number;
  apis?: Partial<Record<SourceApi, { poll_interval?: string; backfill?: string }>>;
}

/** The document form of `options` ({@link SourceOptionsDocument}), keys in a stable order. */
export function sourceOptionsDocument(options: SourceOptions): SourceOptionsDocument {
  const timing = (o: ApiOptions) => ({
    ...(o.pollIntervalMs !== undefined ? { poll_interval: formatDurationMs(o.pollIntervalMs) } : {}),
    ...(o.backfillMs !== undefined ? { backfill: formatDurationMs(o.backfillMs) } : {}),
  });
  const { scope, apis } = options;
  const apiEntries = Object.entries(apis ?? {}).filter((entry): entry is [SourceApi, ApiOptions] => entry[1] !== undefined);
  return {
    ...timing(options),
    ...(scope
      ? {
          scope: {
            ...(scope.accountIds ? { account_ids: [...scope.accountIds] } : {}),
            ...(scope.siteIds ? { site_ids: [...scope.siteIds] } : {}),
            ...(scope.groupIds ? { group_ids: [...scope.groupIds] } : {}),
          },
        }
      : {}),
    ...(options.requestsPerSecond !== undefined ? { requests_per_second: options.requestsPerSecond } : {}),
    ...(apiEntries.length > 0 ? { apis: Object.fromEntries(apiEntries.map(([api, o]) => [api, timing(o)])) } : {}),
  };
}

/** Every leaf of an options document by its dotted path (`scope.site_ids`), behind `prefix` when given. */
export function documentLeaves(document: SourceOptionsDocument, prefix = ''): Map<string, string | number | string[]> {
  const leaves = new Map<string, string | number | string[]>();
  const walk = (value: unknown, path: string): void => {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      for (const [key, inner] of Object.entries(value)) walk(inner, path ? `${path}.${key}` : key);
    } else {
      leaves.set(path, value as string | number | string[]);
    }
  };
  walk(document, prefix);
  return leaves;
}

/** Every leaf of the options' document form, by its path under `options` (`options.scope.site_ids`), for the history. */
export function optionLeaves(options: SourceOptions | undefined): Map<string, string | number | string[]> {
  return options ? documentLeaves(sourceOptionsDocument(options), 'options') : new Map();
}
