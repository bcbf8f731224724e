import { isCollectionEvent, isSourceEvent, toMicroIso, type CollectionEvent, type SourceEvent } from '@s1c/domain';
import type { RecordedEvent, TailerLogger } from '@s1c/event-store';
import type { Collection, Db } from 'mongodb';
import {
  raisedFactsSchema,
  raiseHealthEvent,
  resolvedFactsSchema,
  resolveHealthEvent,
  type HealthEventDoc,
} from './health-event.model';
import type { HealthModel } from './health.model';

/** The health service's only collection: source and API status are held in memory ({@link HealthModel}). */
export const HEALTH_COLLECTIONS = { events: 'health_events' } as const;

export function healthEvents(db: Db): Collection<HealthEventDoc> {
  return db.collection<HealthEventDoc>(HEALTH_COLLECTIONS.events);
}

const DUPLICATE_KEY = 11000;

/**
 * Applies the log to the health read models, in one order (a health event's source is known before
 * the event: whoever raises one learnt of the source from the same stream of events, after its
 * creation): source status and API status in memory (the {@link HealthModel}, per source and per
 * collection stream), and the health-event index in MongoDB (`health_events`,
 * HealthEventRaised/Resolved from any stream, e.g. `delivery-<id>` too; written only when something
 * fails or recovers, and kept for its history).
 *
 * The model is folded again from the whole log at every start, so every event is applied to
 * `health_events` again then: every write there is a `$set` of values computed from the event and
 * the document's previous version, conditional on its log position (or an insert that a duplicate
 * key ignores): FerretDB does not make concurrent updates atomic, so a second replica applying the
 * same event writes the same values, and a replayed event matches nothing (a resolved event is not
 * raised again by its old raise).
 *
 * Order: the events come from S1C_EVENTS, each stream's in version order, different streams in the
 * order they were relayed (roughly their positions' order, not exactly; the replay at start reads
 * the log by position). A health event is raised and resolved in one stream, where positions
 * ascend; a source's deletion or an update that drops an API resolves from another stream, and
 * there position decides (see raiseHealthEvent and resolveOpen), so the outcome does not depend on
 * which of two streams was relayed first.
 */
export class HealthProjection {
  private readonly events: Collection<HealthEventDoc>;

  constructor(
    private readonly model: HealthModel,
    db: Db,
    private readonly logger?: TailerLogger,
  ) {
    this.events = healthEvents(db);
  }

  async setup(): Promise<void> {
    // One index per call (FerretDB 1.24 panics on mixed batches). On FerretDB's SQLite backend
    // only `_id` lookups use an index; these serve MongoDB 7.
    await this.events.createIndex({ 'resourceIdentity.id': 1 });
    await this.events.createIndex({ eventTime: -1 });
  }

  async apply(event: RecordedEvent): Promise<void> {
    if (event.streamId.startsWith('source-') && isSourceEvent(event)) {
      await this.applySourceEvent(event as RecordedEvent & SourceEvent);
      return;
    }
    if (event.streamId.startsWith('collection-') && isCollectionEvent(event)) this.model.applyCollection(event as RecordedEvent & CollectionEvent);
    if (event.type === 'HealthEventRaised' || event.type === 'HealthEventResolved') await this.applyHealthEvent(event);
  }

  private async applySourceEvent(event: RecordedEvent & SourceEvent): Promise<void> {
    const change = this.model.applySource(event);
    if (!change) return;
    const { before, after } = change;
    const id = after._id;
    const at = toMicroIso(event.data.at);
    if (before && before.name !== after.name) {
      await this.events.updateMany({ 'resourceIdentity.id': id }, { $set: { 'resourceIdentity.name': after.name } });
    }
    // Open health events of what is no longer collected have nobody left to resolve them.
    if (event.type === 'SourceDeleted') {
      await this.resolveOpen({ 'resourceIdentity.id': id }, at, event.position);
    } else if (event.type === 'SourceUpdated') {
      const dropped = (before?.supportedApis ?? []).filter((api) => !after.supportedApis.includes(api));
      if (dropped.length > 0) await this.resolveOpen({ 'resourceIdentity.id': id, api: { $in: dropped } }, at, event.position);
    }
  }

  /**
   * Resolves the open health events matching `filter`, on behalf of a source event (another stream
   * than theirs): only those whose last change is older than it, by position, so that a raise
   * appended after the source event but relayed before it stays open, as it would in log order.
   */
  private async resolveOpen(filter: Record<string, unknown>, at: string, position: number): Promise<void> {
    await this.events.updateMany(
      { ...filter, resolvedAt: null, position: { $lt: position } },
      { $set: { status: 'Healthy', eventTime: at, resolvedAt: at, retry: { retrying: false }, action: 'Nothing: resolved.', position } },
    );
  }

  private async applyHealthEvent(event: RecordedEvent): Promise<void> {
    const parsed =
      event.type === 'HealthEventRaised'
        ? ({ kind: 'raised', ...raisedFactsSchema.safeParse(event.data) } as const)
        : ({ kind: 'resolved', ...resolvedFactsSchema.safeParse(event.data) } as const);
    if (!parsed.success) {
      // Another service's malformed event must not stop the read models for good: skip it, loudly.
      this.logger?.error(
        { streamId: event.streamId, position: event.position, eventType: event.type, problems: parsed.error.issues.map((i) => i.path.join('.')) },
        'health event skipped: it does not have the expected shape',
      );
      return;
    }
    const id = parsed.data.healthEventId;
    const before = (await this.events.findOne({ _id: id })) ?? undefined;
    const after =
      parsed.kind === 'raised'
        ? raiseHealthEvent(before, parsed.data, this.model.source(parsed.data.sourceId), event)
        : resolveHealthEvent(before, parsed.data, event);
    if (!after) return;
    if (!before) {
      try {
        await this.events.insertOne(after);
      } catch (error) {
        // Another replica applied the same event first: it wrote the same document.
        if ((error as { code?: number }).code !== DUPLICATE_KEY) throw error;
      }
      return;
    }
    const { _id, ...fields } = after;
    await this.events.updateOne({ _id, position: before.position }, { $set: fields });
  }
}
