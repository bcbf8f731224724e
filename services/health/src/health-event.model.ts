import { parseMicros, SOURCE_APIS, toMicroIso, type SourceApi } from '@s1c/domain';
import { z } from 'zod';

/** A timestamp the read models can normalise (a bad one would otherwise stop the projection). */
const timestamp = z.string().refine((s) => parseMicros(s) !== undefined, 'must be an ISO-8601 timestamp');

/** What the log's HealthEventRaised carries, from any stream (`api` may be absent outside collection). */
export const raisedFactsSchema = z.object({
  healthEventId: z.string().min(1).max(500),
  severity: z.enum(['Error', 'Warning']),
  errorType: z.string().min(1).max(100),
  eventName: z.string().min(1).max(200),
  description: z.string().max(10_000),
  sourceId: z.string().min(1).max(200),
  api: z.enum(SOURCE_APIS).optional(),
  retry: z.object({ retrying: z.boolean(), nextAttemptAt: timestamp.optional(), until: timestamp.optional() }),
  at: timestamp,
});
export type RaisedFacts = z.infer<typeof raisedFactsSchema>;

export const resolvedFactsSchema = z.object({
  healthEventId: z.string().min(1).max(500),
  sourceId: z.string().min(1).max(200).optional(),
  at: timestamp,
});
export type ResolvedFacts = z.infer<typeof resolvedFactsSchema>;

/**
 * One health event in the `health_events` index, in the shape people query in the hosted product
 * (docs/DESIGN.md), plus ours: `errorType`, `retry`, `firstSeen`, `lastSeen`, `occurrences`,
 * `resolvedAt`, and `action` (what to do).
 */
export interface HealthEventDoc {
  /** The health event id. */
  _id: string;
  eventId: string;
  eventName: string;
  eventType: 'Health-Change';
  severityLevel: 'Error' | 'Warning';
  status: 'Healthy' | 'UnHealthy';
  /** When it last changed: raised, occurred again, or resolved. */
  eventTime: string;
  subsystem: string;
  details: { trackerId: string; name: string; description: string };
  resourceIdentity: { collectorId: string; collectorName: string; id: string; name: string; type: 'SourceResource' };
  errorType: string;
  retry: { retrying: boolean; nextAttemptAt?: string; until?: string };
  firstSeen: string;
  lastSeen: string;
  occurrences: number;
  resolvedAt: string | null;
  action: string;
  api: SourceApi | null;
  /** The stream that raised it, and the last log position applied to this document. */
  streamId: string;
  position: number;
}

const TITLES: Record<string, string> = {
  ThirdPartyConfig: 'Third-party configuration error',
  ThirdPartyGeneric: 'Third-party error',
  FirstPartyGeneric: 'Internal error',
  RateLimited: 'Rate limited by SentinelOne',
  TokenExpiring: 'API token expires soon',
};

/** What an operator should do about an event of this type. */
export function actionFor(errorType: string, retrying: boolean): string {
  switch (errorType) {
    case 'ThirdPartyConfig':
      return 'Check the API token, its permissions and base_url; then update the source (or restart it once fixed in SentinelOne).';
    case 'ThirdPartyGeneric':
      return retrying
        ? 'Nothing while it retries; if it persists, check SentinelOne\'s status and the network path to the console.'
        : 'Restart the source once SentinelOne is reachable again.';
    case 'FirstPartyGeneric':
      return retrying
        ? 'Check the collector\'s services (NATS, MongoDB) and their logs.'
        : 'Fix the collector\'s services (NATS, MongoDB), then restart the source.';
    case 'RateLimited':
      return 'Nothing: collection continues more slowly. If it persists, use fewer sources per API token.';
    case 'TokenExpiring':
      return "Create a new API token in the SentinelOne console and update the source's api_secret before the old one expires.";
    default:
      return 'See the description.';
  }
}

/** Which part of the system raised it: the API for collection streams, else the stream's kind. */
export function subsystemOf(streamId: string, api: SourceApi | undefined): string {
  if (streamId.startsWith('collection-') && api) return api;
  const kind = /^([a-z]+)-/.exec(streamId)?.[1];
  return kind ?? 'collection';
}

/**
 * What the index knows of the source a health event belongs to: its name, and, from its status (a
 * `SourceStatusDoc`, in memory), what lets a raise that was overtaken by a deletion or by an
 * update that dropped its API be recognised (the position and time of the source's last event).
 */
export interface RaisingSource {
  collectorId: string;
  name: string;
  state?: string;
  supportedApis?: readonly string[];
  position?: number;
  updatedAt?: string;
}

/**
 * The index document after a HealthEventRaised: a new event, or one more occurrence of it.
 *
 * Positions: a health event is raised and resolved in one stream, where positions ascend, so
 * "only if newer" is exact for those. A source's deletion, or an update that drops an API, resolves
 * the open events from another stream (`health.projection`): across streams positions are only
 * roughly in time order, and events of different streams may be relayed in either order. A raise
 * older than such a change, arriving after it, stays resolved: the document then holds the
 * change's position, or, when the raise comes first of all, is stored resolved at once.
 */
export function raiseHealthEvent(
  doc: HealthEventDoc | undefined,
  facts: RaisedFacts,
  source: RaisingSource | undefined,
  at: { streamId: string; position: number },
): HealthEventDoc | undefined {
  if (doc && doc.position >= at.position) return undefined;
  const raised = raisedDocument(doc, facts, source, at);
  const overtaken =
    !doc &&
    source?.position !== undefined &&
    source.position > at.position &&
    (source.state === 'Deleted' || (facts.api !== undefined && source.supportedApis?.includes(facts.api) === false));
  if (!overtaken) return raised;
  const time = toMicroIso(source.updatedAt ?? facts.at);
  return { ...raised, status: 'Healthy', eventTime: time, resolvedAt: time, retry: { retrying: false }, action: 'Nothing: resolved.', position: source.position! };
}

function raisedDocument(
  doc: HealthEventDoc | undefined,
  facts: RaisedFacts,
  source: RaisingSource | undefined,
  at: { streamId: string; position: number },
): HealthEventDoc {
  const time = toMicroIso(facts.at);
  const retry = {
    retrying: facts.retry.retrying,
    ...(facts.retry.nextAttemptAt ? { nextAttemptAt: toMicroIso(facts.retry.nextAttemptAt) } : {}),
    ...(facts.retry.until ? { until: toMicroIso(facts.retry.until) } : {}),
  };
  const subsystem = subsystemOf(at.streamId, facts.api);
  const common = {
    eventName: facts.eventName,
    severityLevel: facts.severity,
    status: 'UnHealthy' as const,
    eventTime: time,
    details: { trackerId: `${subsystem}.${facts.errorType}`, name: TITLES[facts.errorType] ?? facts.eventName, description: facts.description },
    errorType: facts.errorType,
    retry,
    lastSeen: time,
    resolvedAt: null,
    action: actionFor(facts.errorType, facts.retry.retrying),
    position: at.position,
  };
  if (doc) return { ...doc, ...common, occurrences: doc.occurrences + 1 };
  const collectorId = source?.collectorId ?? 'default';
  return {
    _id: facts.healthEventId,
    eventId: facts.healthEventId,
    eventType: 'Health-Change',
    subsystem,
    resourceIdentity: { collectorId, collectorName: collectorId, id: facts.sourceId, name: source?.name ?? facts.sourceId, type: 'SourceResource' },
    firstSeen: time,
    occurrences: 1,
    api: facts.api ?? null,
    streamId: at.streamId,
    ...common,
  };
}

/** The index document after a HealthEventResolved, or undefined when nothing changes. */
export function resolveHealthEvent(doc: HealthEventDoc | undefined, facts: { at: string }, at: { position: number }): HealthEventDoc | undefined {
  if (!doc || doc.position >= at.position || doc.resolvedAt !== null) return undefined;
  const time = toMicroIso(facts.at);
  return { ...doc, status: 'Healthy', eventTime: time, resolvedAt: time, retry: { retrying: false }, action: 'Nothing: resolved.', position: at.position };
}
