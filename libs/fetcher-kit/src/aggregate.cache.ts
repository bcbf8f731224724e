import type { LoadedAggregate } from '@s1c/event-store';

/**
 * Folded aggregates by stream id, at most `capacity` of them: the least recently used stream is
 * dropped first, so memory stays flat however many sources there are (a dropped stream costs one
 * read of it when its next job comes).
 *
 * Every entry must be an exact fold of its stream's first `version` events (a read, an append's
 * result, or an event the caller knows is at that version); it may be behind the log, never ahead
 * of it or different from it. A newer fold replaces an older one, never the other way round, so
 * jobs of one stream running side by side cannot put an older fold back.
 */
export class AggregateCache<State> {
  private readonly entries = new Map<string, LoadedAggregate<State>>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`cache capacity must be a positive integer, not ${capacity}`);
  }

  get size(): number {
    return this.entries.size;
  }

  /** The stream's fold, if kept; marks it as recently used. */
  get(streamId: string): LoadedAggregate<State> | undefined {
    const entry = this.entries.get(streamId);
    if (entry === undefined) return undefined;
    this.entries.delete(streamId);
    this.entries.set(streamId, entry);
    return entry;
  }

  /** Keeps `aggregate` unless a fold at a later version is kept already; returns the one kept. */
  set(streamId: string, aggregate: LoadedAggregate<State>): LoadedAggregate<State> {
    const existing = this.entries.get(streamId);
    const kept = existing !== undefined && existing.version > aggregate.version ? existing : aggregate;
    this.entries.delete(streamId);
    this.entries.set(streamId, kept);
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    return kept;
  }

  delete(streamId: string): void {
    this.entries.delete(streamId);
  }
}
