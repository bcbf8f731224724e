import { historyFromLog } from '@s1c/contracts';
import { foldSource, isSourceEvent, parseMicros, sourceStreamId, toMicroIso, type Lane, type SourceApi, type SourceEvent } from '@s1c/domain';
import type { MongoEventStore } from '@s1c/event-store';
import type { Collection, Db, Filter } from 'mongodb';
import { PER_MINUTE_WINDOW, type ApiStatusDoc } from './api-status.model';
import type { ApiStatusView, HealthEventView, Page, SourceHistory, SourceStatusView } from './api.schemas';
import type { HealthEventDoc } from './health-event.model';
import type { HealthModel } from './health.model';
import { healthEvents } from './health.projection';
import { unavailable } from './http.errors';
import type { HealthEventsQuery, SourcesQuery } from './query.schemas';
import type { SourceStatusDoc } from './source-status.model';

/**
 * Reads the health read models and shapes them for the API: source and API status from the
 * in-memory {@link HealthModel}, health events from `health_events`; `clock` makes lag testable.
 * What reads the model answers 503 until the model is ready (the log replayed at start).
 */
export class HealthQueries {
  private readonly events: Collection<HealthEventDoc>;

  constructor(
    db: Db,
    private readonly model: HealthModel,
    private readonly clock: () => Date,
    private readonly store: MongoEventStore,
  ) {
    this.events = healthEvents(db);
  }

  async listSources(query: SourcesQuery): Promise<Page<SourceStatusView>> {
    const states = query.state;
    const needle = query.name?.toLowerCase();
    const all = this.loaded()
      .allSources()
      .filter((s) => (states ? states.includes(s.state) : s.state !== 'Deleted'))
      .filter((s) => !query.collector || s.collectorId === query.collector)
      .filter((s) => !needle || s.name.toLowerCase().includes(needle))
      .sort((a, b) => a.name.localeCompare(b.name) || (a._id < b._id ? -1 : 1));
    const page = all.slice(query.offset, query.offset + query.limit);
    return { items: await this.views(page), total: all.length, limit: query.limit, offset: query.offset };
  }

  async getSource(id: string): Promise<SourceStatusView | undefined> {
    const doc = this.loaded().source(id);
    if (!doc || doc.state === 'Deleted') return undefined;
    return (await this.views([doc]))[0];
  }

  async listHealthEvents(query: Partial<HealthEventsQuery> & { limit: number; offset: number }): Promise<Page<HealthEventView>> {
    const filter: Filter<HealthEventDoc> = {};
    if (query.source) filter['resourceIdentity.id'] = query.source;
    if (query.errorType) filter.errorType = { $in: query.errorType };
    if (query.severity) filter.severityLevel = { $in: query.severity };
    if (query.status) filter.status = query.status === 'open' ? 'UnHealthy' : 'Healthy';
    if (query.to) filter.firstSeen = { $lt: toMicroIso(query.to) };
    if (query.from) filter.$or = [{ resolvedAt: null }, { resolvedAt: { $gte: toMicroIso(query.from) } }];
    const total = await this.events.countDocuments(filter);
    const docs = await this.events
      .find(filter)
      .sort({ eventTime: -1, _id: 1 })
      .skip(query.offset)
      .limit(query.limit)
      .toArray();
    return { items: docs.map(toEventView), total, limit: query.limit, offset: query.offset };
  }

  /**
   * A source's change history, derived from its stream in the log (not from a read model), so it
   * is complete as soon as the events are stored. Undefined for an unknown or deleted source.
   */
  async sourceHistory(id: string): Promise<SourceHistory | undefined> {
    const events = await this.store.readStream(sourceStreamId(id));
    const state = foldSource(events.filter(isSourceEvent) as unknown as SourceEvent[]);
    if (state.status === 'Nonexistent' || state.status === 'Deleted') return undefined;
    return { sourceId: id, entries: historyFromLog(events) };
  }

  /** Whether the source exists (and is not deleted). */
  sourceExists(id: string): boolean {
    const doc = this.loaded().source(id);
    return !!doc && doc.state !== 'Deleted';
  }

  /** Everything `/metrics` reports, in one read. */
  async metricsSnapshot(): Promise<{ sources: SourceStatusDoc[]; apis: ApiStatusDoc[]; open: Array<Pick<HealthEventDoc, 'resourceIdentity' | 'severityLevel' | 'errorType'>> }> {
    const model = this.loaded();
    const sources = model.allSources().filter((s) => s.state !== 'Deleted');
    const apis = model.allApis();
    const open = await this.events.find({ resolvedAt: null }, { projection: { resourceIdentity: 1, severityLevel: 1, errorType: 1 } }).toArray();
    return { sources, apis, open };
  }

  /** The model, once it holds the whole log (503 before). */
  private loaded(): HealthModel {
    if (!this.model.ready) throw unavailable('the health read models are still replaying the event log (at start); try again shortly');
    return this.model;
  }

  private async views(docs: SourceStatusDoc[]): Promise<SourceStatusView[]> {
    if (docs.length === 0) return [];
    const ids = docs.map((d) => d._id);
    const open = await this.events
      .find({ 'resourceIdentity.id': { $in: ids }, resolvedAt: null })
      .sort({ eventTime: -1, _id: 1 })
      .toArray();
    const now = this.clock();
    return docs.map((doc) => {
      const apis = this.model.apisOf(doc._id);
      const mine = open.filter((e) => e.resourceIdentity.id === doc._id);
      const openErrors = mine.filter((e) => e.severityLevel === 'Error').length;
      const openWarnings = mine.length - openErrors;
      return {
        id: doc._id,
        name: doc.name,
        collectorId: doc.collectorId,
        category: doc.category,
        description: doc.description,
        baseUrl: doc.baseUrl,
        supportedApis: doc.supportedApis,
        state: doc.state,
        since: doc.since,
        reason: doc.reason,
        failure: doc.failure,
        generation: doc.generation,
        createdAt: doc.createdAt,
        updatedAt: doc.updatedAt,
        health: doc.state === 'Error' || openErrors > 0 ? 'error' : openWarnings > 0 ? 'warning' : 'healthy',
        openErrors,
        openWarnings,
        openHealthEvents: mine.map((e) => ({
          eventId: e.eventId,
          eventName: e.eventName,
          severityLevel: e.severityLevel,
          errorType: e.errorType,
          eventTime: e.eventTime,
          description: e.details.description,
          action: e.action,
          occurrences: e.occurrences,
          api: e.api,
        })),
        apis: doc.supportedApis.map((api) => apiView(api, apis.find((a) => a.api === api), now)),
      };
    });
  }
}

/** docs/DESIGN.md's shape first, in its order, then ours; storage fields left out. */
function toEventView(d: HealthEventDoc): HealthEventView {
  return {
    eventId: d.eventId,
    eventName: d.eventName,
    eventType: d.eventType,
    severityLevel: d.severityLevel,
    status: d.status,
    eventTime: d.eventTime,
    subsystem: d.subsystem,
    details: { trackerId: d.details.trackerId, name: d.details.name, description: d.details.description },
    resourceIdentity: {
      collectorId: d.resourceIdentity.collectorId,
      collectorName: d.resourceIdentity.collectorName,
      id: d.resourceIdentity.id,
      name: d.resourceIdentity.name,
      type: d.resourceIdentity.type,
    },
    errorType: d.errorType,
    retry: d.retry,
    firstSeen: d.firstSeen,
    lastSeen: d.lastSeen,
    occurrences: d.occurrences,
    resolvedAt: d.resolvedAt,
    action: d.action,
    api: d.api,
  };
}

/** One API's status; `doc` is absent until the scheduler planned its collection. */
export function apiView(api: SourceApi, doc: ApiStatusDoc | undefined, now: Date): ApiStatusView {
  if (!doc) {
    return {
      api,
      checkpoint: null,
      lagSeconds: null,
      lastSuccessfulPollAt: null,
      records: { total: 0, byLane: { backfill: 0, live: 0, snapshot: 0, replay: 0 }, lastPoll: null },
      lastPoll: null,
      backfill: null,
      recordsPerMinute: new Array<number>(PER_MINUTE_WINDOW).fill(0),
      failuresTotal: 0,
      jobsInFlight: [],
    };
  }
  const nowMicros = now.getTime() * 1000;
  return {
    api,
    checkpoint: doc.liveCheckpoint,
    lagSeconds: Math.max(0, Math.round((nowMicros - (parseMicros(doc.liveCheckpoint) ?? nowMicros)) / 1_000_000)),
    lastSuccessfulPollAt: doc.lastSuccessfulPollAt,
    records: { total: doc.recordsTotal, byLane: doc.recordsByLane, lastPoll: doc.lastPoll?.records ?? null },
    lastPoll: doc.lastPoll,
    backfill: doc.backfill,
    recordsPerMinute: perMinuteSeries(doc.perMinute, now),
    failuresTotal: doc.failuresTotal,
    jobsInFlight: Object.keys(doc.jobs) as Lane[],
  };
}

/** The last hour as one count per minute, oldest first, the last one being the current minute. */
export function perMinuteSeries(perMinute: ApiStatusDoc['perMinute'], now: Date): number[] {
  const currentMinute = Math.floor(now.getTime() / 60_000);
  const series = new Array<number>(PER_MINUTE_WINDOW).fill(0);
  for (const { minute, records } of perMinute) {
    const index = PER_MINUTE_WINDOW - 1 - (currentMinute - Math.floor(parseMicros(minute)! / 60_000_000));
    if (index >= 0 && index < PER_MINUTE_WINDOW) series[index]! += records;
  }
  return series;
}
