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
  const apis = new ApiDocuments(API_DOCS_KEPT, logger);
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
        await apis.apply(c, event as RecordedEvent & CollectionEvent);
      }
      if (event.type === 'HealthEventRaised' || event.type === 'HealthEventResolved') await applyHealthEvent(c, event, logger);
    },

    flush(db) {
      return apis.flush(healthCollections(db));
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

/** API documents kept in memory by the projection (about 1 KB each). */
const API_DOCS_KEPT = 20_000;

/** An API document's changes not written yet: the document now, the one stored, and the events between. */
interface HeldDocument {
  doc: ApiStatusDoc;
  /** The document as stored (undefined: not stored yet, to be inserted). */
  stored: ApiStatusDoc | undefined;
  events: Array<RecordedEvent & CollectionEvent>;
}

/**
 * The API documents (`health_apis`, one per collection stream): every event of a job changes its
 * collection's document, and on FerretDB an update decodes the whole collection, so the changes
 * are gathered in memory and written once per document when the runner flushes (before it saves
 * its checkpoint, at most about once a second when caught up): one write per job instead of one
 * per event. The document this process last wrote is taken as the stored one rather than read
 * again. A write is conditional on the stored version; when it matches nothing (another replica
 * wrote first), the stored document is read and the held events it lacks are folded onto it.
 */
class ApiDocuments {
  private readonly held = new Map<string, HeldDocument>();
  /** The documents this process last wrote (or read), the oldest dropped beyond `capacity`. */
  private readonly written = new Map<string, ApiStatusDoc>();
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly capacity: number,
    private readonly logger: TailerLogger | undefined,
  ) {}

  async apply(c: HealthCollections, event: RecordedEvent & CollectionEvent): Promise<void> {
    const id = event.streamId;
    const held = this.held.get(id);
    const before = held?.doc ?? this.written.get(id) ?? (await c.apis.findOne({ _id: id })) ?? undefined;
    const after = evolveApiStatus(before, event, event);
    if (!after) return;
    if (held) {
      held.doc = after;
      held.events.push(event);
    } else {
      this.held.set(id, { doc: after, stored: before, events: [event] });
    }
  }

  /** Writes every held document; one flush at a time. */
  flush(c: HealthCollections): Promise<void> {
    const run = () => this.writeHeld(c);
    const next = this.flushing.then(run, run);
    this.flushing = next.catch(() => undefined);
    return next;
  }

  clear(): void {
    this.held.clear();
    this.written.clear();
  }

  private async writeHeld(c: HealthCollections): Promise<void> {
    for (const [id, held] of [...this.held]) {
      const eventsWritten = held.events.length;
      const stored = await this.write(c, id, held);
      // Events applied while the write was under way stay held, on top of what was written.
      if (held.events.length === eventsWritten) this.held.delete(id);
      else {
        held.stored = stored;
        held.events = held.events.slice(eventsWritten);
      }
      if (stored) this.remember(id, stored);
      else this.written.delete(id);
    }
  }

  /** Writes `held.doc`; returns the document then stored, or undefined when it is not known. */
  private async write(c: HealthCollections, id: string, held: HeldDocument): Promise<ApiStatusDoc | undefined> {
    let { stored } = held;
    let doc = held.doc;
    for (let attempt = 1; attempt <= 3; attempt++) {
      if (stored && stored.version >= doc.version) return stored;
      if (!stored) {
        try {
          // eslint-disable-next-line @typescript-eslint/no-explicit-any
          await c.apis.insertOne(doc as any);
          return doc;
        } catch (error) {
          if ((error as { code?: number }).code !== DUPLICATE_KEY) throw error;
        }
      } else {
        const { _id, ...fields } = doc;
        const result = await c.apis.updateOne({ _id, version: stored.version }, { $set: fields });
        if (result.matchedCount > 0) return doc;
      }
      // Another replica wrote first: start from what it stored and fold on what it lacks.
      stored = (await c.apis.findOne({ _id: id })) ?? undefined;
      let folded = stored;
      for (const event of held.events) folded = (folded && folded.version >= event.version ? folded : evolveApiStatus(folded, event, event)) ?? folded;
      if (!folded || folded.version < doc.version) {
        // The stored document is behind the first held event (a rebuild under way): the replica
        // that is rebuilding writes the rest.
        this.logger?.warn({ streamId: id, stored: stored?.version ?? 0, held: doc.version }, 'an API document could not be brought up to date here; left to the replica that wrote it');
        return undefined;
      }
      doc = folded;
    }
    return undefined;
  }

  private remember(id: string, doc: ApiStatusDoc): void {
    this.written.delete(id);
    this.written.set(id, doc);
    if (this.written.size > this.capacity) this.written.delete(this.written.keys().next().value!);
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
