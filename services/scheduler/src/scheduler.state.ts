import type { FetchJob } from '@s1c/contracts';
import {
  evolveSource,
  evolveCollection,
  expandCollectionEvent,
  initialCollectionState,
  initialSourceState,
  isCollectionEvent,
  laneMark,
  parseMicros,
  isSourceEvent,
  SOURCE_APIS,
  type CollectionEvent,
  type CollectionState,
  type JobDispatched,
  type Lane,
  type SourceApi,
  type SourceEvent,
  type SourceState,
  type Versioned,
} from '@s1c/domain';


/**
 * An aggregate as the scheduler folded it: with the log position of its last event (0 when
 * unknown), so that the driver can pass it as `from` and append without reading the log.
 */
export interface Folded<State> extends Versioned<State> {
  readonly position: number;
}

/** A collection as the scheduler knows it: its state, and the job each lane was last handed. */
export interface KnownCollection extends Folded<CollectionState> {
  /** The FetchJob of each lane's last JobDispatched, so it can be published again unchanged. */
  readonly dispatched: Readonly<Partial<Record<Lane, FetchJob>>>;
}

/** The part of a logged event the scheduler folds. */
export interface LoggedEvent {
  readonly streamId: string;
  readonly version: number;
  /** The event's log position; 0 when not known (events made up by unit tests). */
  readonly position?: number;
  readonly type: string;
  readonly data: unknown;
}

/** A job dispatched and published whose JobDispatched its fetcher has not appended yet. */
interface DeferredDispatch {
  readonly job: FetchJob;
  readonly event: JobDispatched;
  /** The lane's {@link laneMark} on the collection the dispatch was decided on. */
  readonly mark: string;
}

/** What tests and the driver may look at; nothing here changes the state. */
export interface SchedulerStateView {
  sourceIds(): string[];
  source(sourceId: string): Folded<SourceState> | undefined;
  collection(sourceId: string, api: SourceApi): KnownCollection | undefined;
  /** Every collection of a source that has a stream, by API. */
  collections(sourceId: string): ReadonlyMap<SourceApi, KnownCollection>;
  /** Jobs in flight, as published, with whether the fetcher has reported progress since. */
  inFlightJobs(): Array<{ job: FetchJob; progressed: boolean }>;
}

/**
 * The shape of {@link SchedulerSnapshotItem}s: name a new one whenever SourceState, CollectionState
 * or KnownCollection change shape, so that a snapshot of the old shape is not restored (the log is
 * replayed once instead).
 */
export const SCHEDULER_SNAPSHOT_SCHEMA = 'scheduler-1';

/** One aggregate of a {@link SchedulerState} snapshot (plain JSON). */
export type SchedulerSnapshotItem =
  | { readonly source: string; readonly folded: Folded<SourceState> }
  | { readonly collection: string; readonly known: KnownCollection };

const SOURCE_PREFIX = 'source-';
const COLLECTION_PREFIX = 'collection-';
/** Job ids whose expiries {@link SchedulerState} remembers at most (a dispatch again follows within a tick or two). */
const MAX_EXPIRED_REMEMBERED = 10_000;

/**
 * The scheduler's picture of the log: every source and every collection, folded with the
 * deciders' own `evolve` functions, with their stream versions (the versions the scheduler's
 * writes expect).
 *
 * Folding is idempotent per stream: an event at or below the version already folded is ignored.
 * That lets the driver fold its own appends at once and the reader of S1C_EVENTS deliver them again
 * later. Every stream's events reach it in version order: the reader (EventTailer) hands each
 * stream's events over in version order, filling any gap from the store, and the driver only
 * appends at the version it knows.
 *
 * Scale: kept in memory (a few KiB per source); a start restores it from the last snapshot
 * ({@link SchedulerState.snapshotItems}, saved by the scheduler) and reads the events after it,
 * or replays the whole log when there is no usable snapshot.
 */
export class SchedulerState implements SchedulerStateView {
  private readonly sources = new Map<string, Folded<SourceState>>();
  private readonly byStream = new Map<string, KnownCollection>();
  private readonly collectionStreams = new Map<string, Map<SourceApi, string>>();
  /**
   * Jobs published but not in the log yet, by collection stream and lane: the fetcher appends a
   * job's JobDispatched with its first record (COLLECTION.md, "One append per job"). Until then the
   * scheduler sees the job in flight through them; they are kept in memory only (a restart decides
   * the same jobs again, under the same ids, which JetStream keeps once).
   */
  private readonly deferred = new Map<string, Map<Lane, DeferredDispatch>>();
  /** Job id → how many times its dispatch expired ({@link expireDispatches}). */
  private readonly expired = new Map<string, number>();

  /**
   * Folds one event into the state. Returns false when it is ignored: another kind of stream, or
   * a version already folded.
   */
  apply(event: LoggedEvent): boolean {
    if (event.streamId.startsWith(SOURCE_PREFIX)) return this.applySource(event);
    if (event.streamId.startsWith(COLLECTION_PREFIX)) return this.applyCollection(event);
    return false;
  }

  /** Every aggregate folded, as plain JSON values, for a snapshot. */
  snapshotItems(): SchedulerSnapshotItem[] {
    const items: SchedulerSnapshotItem[] = [];
    for (const [source, folded] of this.sources) items.push({ source, folded });
    for (const [collection, known] of this.byStream) items.push({ collection, known });
    return items;
  }

  /**
   * Replaces what is held with a snapshot's items. Returns false, holding nothing, when one of them
   * is not what {@link snapshotItems} writes (the caller then replays the log instead).
   */
  restore(items: readonly unknown[]): boolean {
    this.clear();
    this.deferred.clear();
    for (const item of items) {
      const { source, folded, collection, known } = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
      const parsed = typeof collection === 'string' ? parseCollectionStream(collection) : undefined;
      if (typeof source === 'string' && isFolded(folded)) this.sources.set(source, folded as Folded<SourceState>);
      else if (parsed && isFolded(known) && typeof (known as { dispatched?: unknown }).dispatched === 'object') {
        this.byStream.set(collection as string, known as KnownCollection);
        let streams = this.collectionStreams.get(parsed.sourceId);
        if (!streams) this.collectionStreams.set(parsed.sourceId, (streams = new Map()));
        streams.set(parsed.api, collection as string);
      } else {
        this.clear();
        return false;
      }
    }
    return true;
  }

  private clear(): void {
    this.sources.clear();
    this.byStream.clear();
    this.collectionStreams.clear();
  }

  applyAll(events: Iterable<LoggedEvent>): void {
    for (const event of events) this.apply(event);
  }

  sourceIds(): string[] {
    return [...this.sources.keys()];
  }

  source(sourceId: string): Folded<SourceState> | undefined {
    return this.sources.get(sourceId);
  }

  /** The collection with the jobs dispatched but not yet in the log in flight (see {@link dispatched}). */
  collection(sourceId: string, api: SourceApi): KnownCollection | undefined {
    const streamId = this.collectionStreams.get(sourceId)?.get(api);
    return streamId === undefined ? undefined : this.withDeferred(streamId, this.byStream.get(streamId)!);
  }

  /** The collection as the log has it: without the jobs not yet in it. */
  loggedCollection(sourceId: string, api: SourceApi): KnownCollection | undefined {
    const streamId = this.collectionStreams.get(sourceId)?.get(api);
    return streamId === undefined ? undefined : this.byStream.get(streamId);
  }

  collections(sourceId: string): ReadonlyMap<SourceApi, KnownCollection> {
    const result = new Map<SourceApi, KnownCollection>();
    for (const [api, streamId] of this.collectionStreams.get(sourceId) ?? []) result.set(api, this.withDeferred(streamId, this.byStream.get(streamId)!));
    return result;
  }

  /**
   * Remembers a job the driver published without appending its JobDispatched (`event`, decided on
   * the logged collection): the job is in flight for the scheduler until the log shows its
   * JobDispatched, or its lane moves otherwise (then its fetcher finds it stale too), or
   * {@link expireDispatches} gives up on it.
   */
  dispatched(job: FetchJob, event: JobDispatched): void {
    const streamId = this.collectionStreams.get(job.sourceId)?.get(job.api);
    const logged = streamId === undefined ? undefined : this.byStream.get(streamId);
    if (!streamId || !logged) return;
    let lanes = this.deferred.get(streamId);
    if (!lanes) this.deferred.set(streamId, (lanes = new Map()));
    lanes.set(job.lane, { job, event, mark: laneMark(logged.state, job.lane) });
  }

  /**
   * Forgets the source's dispatched jobs that are not in the log `stallTimeoutMs` after their
   * dispatch (a job lost, or its fetchers down): their lanes are dispatched again, as a stalled job
   * in the log is abandoned and dispatched again. Returns how many.
   */
  expireDispatches(sourceId: string, now: Date, stallTimeoutMs: number): number {
    let expired = 0;
    for (const streamId of this.collectionStreams.get(sourceId)?.values() ?? []) {
      const lanes = this.deferred.get(streamId);
      if (!lanes) continue;
      for (const [lane, { job }] of lanes) {
        if (now.getTime() - parseMicros(job.dispatchedAt)! / 1000 < stallTimeoutMs) continue;
        lanes.delete(lane);
        // Bounded: only a job dispatched again soon after matters.
        if (this.expired.size >= MAX_EXPIRED_REMEMBERED) this.expired.clear();
        this.expired.set(job.jobId, (this.expired.get(job.jobId) ?? 0) + 1);
        expired++;
      }
      if (lanes.size === 0) this.deferred.delete(streamId);
    }
    return expired;
  }

  /** How many times a dispatch of `jobId` was given up on at its stall timeout (by this process). */
  expiries(jobId: string): number {
    return this.expired.get(jobId) ?? 0;
  }

  /** The logged collection with its deferred dispatches folded in; drops those the log has settled. */
  private withDeferred(streamId: string, logged: KnownCollection): KnownCollection {
    const lanes = this.deferred.get(streamId);
    if (!lanes) return logged;
    let { state, dispatched } = logged;
    for (const [lane, pending] of lanes) {
      // In the log already (the tail brought its JobDispatched), or never to be: its lane moved.
      if (logged.dispatched[lane]?.jobId === pending.job.jobId || laneMark(logged.state, lane) !== pending.mark) {
        lanes.delete(lane);
        continue;
      }
      state = evolveCollection(state, pending.event);
      dispatched = { ...dispatched, [lane]: pending.job };
    }
    if (lanes.size === 0) this.deferred.delete(streamId);
    return { ...logged, state, dispatched };
  }

  inFlightJobs(): Array<{ job: FetchJob; progressed: boolean }> {
    const result: Array<{ job: FetchJob; progressed: boolean }> = [];
    for (const known of this.byStream.values()) {
      if (known.state.status !== 'Planned') continue;
      for (const inFlight of Object.values(known.state.jobs)) {
        const job = inFlight && known.dispatched[inFlight.lane];
        if (job && job.jobId === inFlight.jobId) result.push({ job, progressed: inFlight.lastProgressAt !== inFlight.dispatchedAt });
      }
    }
    return result;
  }

  private applySource(event: LoggedEvent): boolean {
    const sourceId = event.streamId.slice(SOURCE_PREFIX.length);
    const known = this.sources.get(sourceId) ?? { state: initialSourceState(), version: 0, position: 0 };
    if (event.version <= known.version) return false;
    // The version moves with every event of the stream, as AggregateRepository counts it.
    const state = isSourceEvent(event) ? evolveSource(known.state, event as unknown as SourceEvent) : known.state;
    this.sources.set(sourceId, { state, version: event.version, position: event.position ?? 0 });
    return true;
  }

  private applyCollection(event: LoggedEvent): boolean {
    const parsed = parseCollectionStream(event.streamId);
    if (!parsed) return false;
    const known = this.byStream.get(event.streamId) ?? { state: initialCollectionState(), version: 0, position: 0, dispatched: {} };
    if (event.version <= known.version) return false;
    let { state, dispatched } = known;
    if (isCollectionEvent(event)) {
      const collectionEvent = event as unknown as CollectionEvent;
      state = evolveCollection(state, collectionEvent);
      // A JobRan's dispatch too: a deferred dispatch of the scheduler's is settled by either.
      for (const part of expandCollectionEvent(collectionEvent)) {
        if (part.type !== 'JobDispatched') continue;
        const { jobId, sourceId, api, lane, generation, window, resume, at } = part.data;
        // With where its JobDispatched is, so a fetcher can fold it from the job (the driver adds the folds when it republishes).
        const where = { collectionVersion: event.version, ...(event.position ? { collectionPosition: event.position } : {}) };
        dispatched = { ...dispatched, [lane]: { jobId, sourceId, api, lane, generation, window, resume, dispatchedAt: at, ...where } };
      }
    }
    this.byStream.set(event.streamId, { state, version: event.version, position: event.position ?? 0, dispatched });
    let streams = this.collectionStreams.get(parsed.sourceId);
    if (!streams) this.collectionStreams.set(parsed.sourceId, (streams = new Map()));
    streams.set(parsed.api, event.streamId);
    return true;
  }
}

function isFolded(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const { state, version, position } = value as Record<string, unknown>;
  return typeof state === 'object' && state !== null && Number.isInteger(version) && typeof position === 'number';
}

/** `collection-<sourceId>-<api>`: source ids contain '-' (UUIDs), API names do not. */
function parseCollectionStream(streamId: string): { sourceId: string; api: SourceApi } | undefined {
  const rest = streamId.slice(COLLECTION_PREFIX.length);
  const cut = rest.lastIndexOf('-');
  if (cut <= 0) return undefined;
  const api = rest.slice(cut + 1);
  if (!(SOURCE_APIS as readonly string[]).includes(api)) return undefined;
  return { sourceId: rest.slice(0, cut), api: api as SourceApi };
}
