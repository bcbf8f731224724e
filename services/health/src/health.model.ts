import type { CollectionEvent, SourceEvent } from '@s1c/domain';
import type { RecordedEvent } from '@s1c/event-store';
import { evolveApiStatus, type ApiStatusDoc } from './api-status.model';
import { evolveSourceStatus, type SourceStatusDoc } from './source-status.model';

/**
 * The shape of {@link HealthSnapshotItem}s: name a new one whenever SourceStatusDoc or ApiStatusDoc
 * change shape, so that a snapshot of the old shape is not restored (the log is replayed once instead).
 */
export const HEALTH_SNAPSHOT_SCHEMA = 'health-1';

/** One document of a {@link HealthModel} snapshot (plain JSON). */
export type HealthSnapshotItem = { readonly source: SourceStatusDoc } | { readonly api: string; readonly doc: ApiStatusDoc };

/**
 * The source and API status of every source, in memory, folded from the log with the pure
 * `evolveSourceStatus` / `evolveApiStatus`: one {@link SourceStatusDoc} per source stream, one
 * {@link ApiStatusDoc} per collection stream. Nothing here is updated in the store (on FerretDB an
 * update decodes the whole collection, and these documents change with every job): a process folds
 * the log at its start, from its last snapshot ({@link snapshotItems}) when there is one. Each stream's events must come in version order; an event that is not the next
 * version of its stream changes nothing, so applying one again is harmless. The documents are never
 * changed in place (each event makes new ones), so a reader may keep one it was given.
 */
export class HealthModel {
  private readonly sources = new Map<string, SourceStatusDoc>();
  /** By collection stream id. */
  private readonly apis = new Map<string, ApiStatusDoc>();
  /** Collection stream ids by source id. */
  private readonly apisBySource = new Map<string, Set<string>>();
  /** Whether the model holds the log as of its reader's start (the cold replay is over); set by that reader. */
  ready = false;

  /** Applies a source event; returns the document before and after it, or undefined when it changed nothing. */
  applySource(event: RecordedEvent & SourceEvent): { before: SourceStatusDoc | undefined; after: SourceStatusDoc } | undefined {
    const id = event.data.sourceId;
    const before = this.sources.get(id);
    const after = evolveSourceStatus(before, event, event);
    if (!after) return undefined;
    this.sources.set(id, after);
    return { before, after };
  }

  /** Applies a collection event; returns whether it changed anything. */
  applyCollection(event: RecordedEvent & CollectionEvent): boolean {
    const after = evolveApiStatus(this.apis.get(event.streamId), event, event);
    if (!after) return false;
    this.apis.set(event.streamId, after);
    let ids = this.apisBySource.get(after.sourceId);
    if (!ids) this.apisBySource.set(after.sourceId, (ids = new Set()));
    ids.add(event.streamId);
    return true;
  }

  /** Every document held, for a snapshot. */
  snapshotItems(): HealthSnapshotItem[] {
    const items: HealthSnapshotItem[] = [];
    for (const source of this.sources.values()) items.push({ source });
    for (const [api, doc] of this.apis) items.push({ api, doc });
    return items;
  }

  /**
   * Replaces what is held with a snapshot's documents. Returns false, holding nothing, when one of
   * them is not what {@link snapshotItems} writes.
   */
  restore(items: readonly unknown[]): boolean {
    this.sources.clear();
    this.apis.clear();
    this.apisBySource.clear();
    for (const item of items) {
      const { source, api, doc } = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
      if (isDoc(source)) this.sources.set(source._id, source as unknown as SourceStatusDoc);
      else if (typeof api === 'string' && isDoc(doc) && typeof doc.sourceId === 'string') {
        this.apis.set(api, doc as unknown as ApiStatusDoc);
        let ids = this.apisBySource.get(doc.sourceId);
        if (!ids) this.apisBySource.set(doc.sourceId, (ids = new Set()));
        ids.add(api);
      } else {
        this.sources.clear();
        this.apis.clear();
        this.apisBySource.clear();
        return false;
      }
    }
    return true;
  }

  source(id: string): SourceStatusDoc | undefined {
    return this.sources.get(id);
  }

  /** Every source, deleted ones included, in no particular order. */
  allSources(): SourceStatusDoc[] {
    return [...this.sources.values()];
  }

  /** The API documents of one source (those planned so far). */
  apisOf(sourceId: string): ApiStatusDoc[] {
    return [...(this.apisBySource.get(sourceId) ?? [])].map((id) => this.apis.get(id)!);
  }

  /** Every API document, in no particular order. */
  allApis(): ApiStatusDoc[] {
    return [...this.apis.values()];
  }

  /** Everything held, sorted by id: for comparisons. */
  snapshot(): { sources: SourceStatusDoc[]; apis: ApiStatusDoc[] } {
    const byId = (a: { _id: string }, b: { _id: string }) => (a._id < b._id ? -1 : a._id > b._id ? 1 : 0);
    return { sources: this.allSources().sort(byId), apis: this.allApis().sort(byId) };
  }
}

function isDoc(value: unknown): value is { _id: string; sourceId?: unknown } {
  return typeof value === 'object' && value !== null && typeof (value as { _id?: unknown })._id === 'string';
}
