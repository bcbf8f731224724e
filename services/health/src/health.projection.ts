import { isCollectionEvent, isSourceEvent, toMicroIso, type CollectionEvent, type SourceEvent } from '@s1c/domain';
import type { Projection, RecordedEvent, TailerLogger } from '@s1c/event-store';
import type { Collection, Db } from 'mongodb';
import { evolveApiStatus, type ApiStatusDoc } from './api-status.model';
import {
  raisedFactsSchema,
  raiseHealthEvent,
  resolvedFactsSchema,
  resolveHealthEvent,
  type HealthEventDoc,
} from './health-event.model';
import { evolveSourceStatus, type SourceStatusDoc } from './source-status.model';

export const HEALTH_COLLECTIONS = { sources: 'health_sources', apis: 'health_apis', events: 'health_events' } as const;

export interface HealthCollections {
  readonly sources: Collection<SourceStatusDoc>;
  readonly apis: Collection<ApiStatusDoc>;
  readonly events: Collection<HealthEventDoc>;
}

export function healthCollections(db: Db): HealthCollections {
  return {
    sources: db.collection<SourceStatusDoc>(HEALTH_COLLECTIONS.sources),
    apis: db.collection<ApiStatusDoc>(HEALTH_COLLECTIONS.apis),
    events: db.collection<HealthEventDoc>(HEALTH_COLLECTIONS.events),
  };
}

const DUPLICATE_KEY = 11000;

/**
 * The health service's read models, kept by one projection so that they see the events in one order
 * (a health event's source is known before the event: whoever raises one learnt of the source from
 * the same stream of events, after its creation): source status (`health_sources`,
 * per source stream), API status (`health_apis`, per collection stream) and the health-event
 * index (`health_events`, HealthEventRaised/Resolved from any stream, e.g. `delivery-<id>` too).
 *
 * Every write is a `$set` of values computed from the event and the document's previous version,
 * conditional on that version (or log position): FerretDB does not make concurrent updates
 * atomic, so a second replica applying the same event writes the same values, and a replayed
 * event matches nothing.
 *
 * Order: the events come from S1C_EVENTS, each stream's in version order, different streams in the
 * order they were relayed (roughly their positions' order, not exactly; a rebuild replays the log
 * by position). Source and API documents follow one stream each, by version. A health event is
 * raised and resolved in one stream, where positions ascend; a source's deletion or an update that
 * drops an API resolves from another stream, and there position decides (see raiseHealthEvent and
 * resolveOpen), so the outcome does not depend on which of two streams was relayed first.
 */
export function healthProjection(logger?: TailerLogger): Projection {
  const apis = new LastWritten<ApiStatusDoc>(API_DOCS_KEPT);
  return {
    name: 'health.read-models',

    async setup(db) {
      const c = healthCollections(db);
      // One index per call (FerretDB 1.24 panics on mixed batches). On FerretDB's SQLite backend
      // only `_id` lookups use an index; these serve MongoDB 7.
      await c.sources.createIndex({ name: 1, _id: 1 });
      await c.apis.createIndex({ sourceId: 1 });
      await c.events.createIndex({ 'resourceIdentity.id': 1 });
      await c.events.createIndex({ eventTime: -1 });
    },

    async apply(event, db) {
      const c = healthCollections(db);
      if (event.streamId.startsWith('source-') && isSourceEvent(event)) {
        await applySourceEvent(c, event as RecordedEvent & SourceEvent);
        return;
      }
      if (event.streamId.startsWith('collection-') && isCollectionEvent(event)) {
        await applyCollectionEvent(c, event as RecordedEvent & CollectionEvent, apis);
      }
      if (event.type === 'HealthEventRaised' || event.type === 'HealthEventResolved') await applyHealthEvent(c, event, logger);
    },

    async reset(db) {
      apis.clear();
      const c = healthCollections(db);
      await c.sources.deleteMany({});
      await c.apis.deleteMany({});
      await c.events.deleteMany({});
    },
  };
}

async function applySourceEvent(c: HealthCollections, event: RecordedEvent & SourceEvent): Promise<void> {
  const id = event.data.sourceId;
  const before = (await c.sources.findOne({ _id: id })) ?? undefined;
  const after = evolveSourceStatus(before, event, event);
  if (!after) return;
  if (!before) {
    await insertIgnoringDuplicate(c.sources, after);
  } else {
    const { _id, ...fields } = after;
    const result = await c.sources.updateOne({ _id, version: before.version }, { $set: fields });
    if (result.matchedCount === 0) return;
  }
  const at = toMicroIso(event.data.at);
  if (before && before.name !== after.name) {
    await c.events.updateMany({ 'resourceIdentity.id': id }, { $set: { 'resourceIdentity.name': after.name } });
  }
  // Open health events of what is no longer collected have nobody left to resolve them.
  if (event.type === 'SourceDeleted') {
    await resolveOpen(c, { 'resourceIdentity.id': id }, at, event.position);
  } else if (event.type === 'SourceUpdated') {
    const dropped = (before?.supportedApis ?? []).filter((api) => !after.supportedApis.includes(api));
    if (dropped.length > 0) await resolveOpen(c, { 'resourceIdentity.id': id, api: { $in: dropped } }, at, event.position);
  }
}

/**
 * Resolves the open health events matching `filter`, on behalf of a source event (another stream
 * than theirs): only those whose last change is older than it, by position, so that a raise
 * appended after the source event but relayed before it stays open, as it would in log order.
 */
async function resolveOpen(c: HealthCollections, filter: Record<string, unknown>, at: string, position: number): Promise<void> {
  await c.events.updateMany(
    { ...filter, resolvedAt: null, position: { $lt: position } },
    { $set: { status: 'Healthy', eventTime: at, resolvedAt: at, retry: { retrying: false }, action: 'Nothing: resolved.', position } },
  );
}

/**
 * An API document follows its collection stream, several events a job: the document this process
 * last wrote is taken as the one stored rather than read again. Another replica may have written
 * since; then the conditional update matches nothing, and the event is decided again on a fresh read.
 */
async function applyCollectionEvent(c: HealthCollections, event: RecordedEvent & CollectionEvent, written: LastWritten<ApiStatusDoc>): Promise<void> {
  const id = event.streamId;
  for (const cached of [written.get(id), undefined]) {
    const before = cached ?? (await c.apis.findOne({ _id: id })) ?? undefined;
    const after = evolveApiStatus(before, event, event);
    if (!after) {
      if (before) written.set(id, before);
      return;
    }
    if (!before) {
      await insertIgnoringDuplicate(c.apis, after);
    } else {
      const { _id, ...fields } = after;
      const result = await c.apis.updateOne({ _id, version: before.version }, { $set: fields });
      if (result.matchedCount === 0) {
        written.delete(id);
        if (cached) continue;
        return;
      }
    }
    written.set(id, after);
    return;
  }
}

/** API documents kept in memory by the projection (about 1 KB each). */
const API_DOCS_KEPT = 20_000;

/** The documents a projection last wrote, by id, the oldest dropped beyond `capacity`. */
class LastWritten<T> {
  private readonly docs = new Map<string, T>();
  constructor(private readonly capacity: number) {}
  get(id: string): T | undefined {
    return this.docs.get(id);
  }
  set(id: string, doc: T): void {
    this.docs.delete(id);
    this.docs.set(id, doc);
    if (this.docs.size > this.capacity) this.docs.delete(this.docs.keys().next().value!);
  }
  delete(id: string): void {
    this.docs.delete(id);
  }
  clear(): void {
    this.docs.clear();
  }
}

async function applyHealthEvent(c: HealthCollections, event: RecordedEvent, logger?: TailerLogger): Promise<void> {
  const parsed =
    event.type === 'HealthEventRaised'
      ? ({ kind: 'raised', ...raisedFactsSchema.safeParse(event.data) } as const)
      : ({ kind: 'resolved', ...resolvedFactsSchema.safeParse(event.data) } as const);
  if (!parsed.success) {
    // Another service's malformed event must not stop the read models for good: skip it, loudly.
    logger?.error(
      { streamId: event.streamId, position: event.position, eventType: event.type, problems: parsed.error.issues.map((i) => i.path.join('.')) },
      'health event skipped: it does not have the expected shape',
    );
    return;
  }
  const id = parsed.data.healthEventId;
  const before = (await c.events.findOne({ _id: id })) ?? undefined;
  let after: HealthEventDoc | undefined;
  if (parsed.kind === 'raised') {
    const source = (await c.sources.findOne({ _id: parsed.data.sourceId })) ?? undefined;
    after = raiseHealthEvent(before, parsed.data, source, event);
  } else {
    after = resolveHealthEvent(before, parsed.data, event);
  }
  if (!after) return;
  if (!before) {
    await insertIgnoringDuplicate(c.events, after);
    return;
  }
  const { _id, ...fields } = after;
  await c.events.updateOne({ _id, position: before.position }, { $set: fields });
}

async function insertIgnoringDuplicate<T extends { _id: string }>(collection: Collection<T>, doc: T): Promise<void> {
  try {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    await collection.insertOne(doc as any);
  } catch (error) {
    // Another replica applied the same event first: it wrote the same document.
    if ((error as { code?: number }).code !== DUPLICATE_KEY) throw error;
  }
}
