import type { HealthFacts, Lane, Progress, TimeWindow } from './collection.types';
import type { ErrorType, SourceApi } from './source.types';

interface Event<Type extends string, Data> {
  readonly type: Type;
  readonly data: Data & { readonly sourceId: string; readonly api: SourceApi; readonly at: string };
}

/**
 * Collection of one API of one source was planned for a configuration generation. `reset` means
 * the checkpoints start over (a new source, or a new console URL); otherwise they carry over.
 */
export type CollectionPlanned = Event<
  'CollectionPlanned',
  { generation: number; baseUrl: string; reset: boolean; backfill: TimeWindow | null; liveCheckpoint: string }
>;
/** A fetch job was handed out for a lane, resuming `resume` within `window`. */
export type JobDispatched = Event<
  'JobDispatched',
  { jobId: string; lane: Lane; generation: number; window: TimeWindow; resume: Progress }
>;
/** An operator asked to collect `window` again (output stays deduplicated downstream). */
export type ReplayRequested = Event<'ReplayRequested', { window: TimeWindow }>;
/** SentinelOne accepted the source's token. */
export type TokenVerified = Event<'TokenVerified', { jobId: string; generation: number }>;
/** A page's records are durably published; `progress` is the job's total so far. */
export type PageCollected = Event<
  'PageCollected',
  { jobId: string; lane: Lane; progress: Progress; pageRecords: number; rateLimited: boolean }
>;
/** The job ended: `finished` when its window is done, otherwise it stopped at its page budget. */
export type JobCompleted = Event<'JobCompleted', { jobId: string; lane: Lane; finished: boolean; progress: Progress }>;
/**
 * A whole job of one page, recorded in one append: it stands for its JobDispatched (at
 * `dispatchedAt`), PageCollected and JobCompleted (at `at`), in that order
 * ({@link expandCollectionEvent}). What a live poll records: one stored event instead of three.
 */
export type JobRan = Event<
  'JobRan',
  {
    jobId: string;
    lane: Lane;
    generation: number;
    window: TimeWindow;
    resume: Progress;
    dispatchedAt: string;
    progress: Progress;
    pageRecords: number;
    rateLimited: boolean;
    finished: boolean;
  }
>;
/** The job failed; `retryAt` is when to try again, null when collection gave up. */
export type JobFailed = Event<
  'JobFailed',
  { jobId: string; lane: Lane; errorType: ErrorType; reason: string; attempt: number; retryAt: string | null }
>;
/** The job was given up without an outcome (it stalled, or its source is stopping). */
export type JobAbandoned = Event<'JobAbandoned', { jobId: string; lane: Lane; reason: string }>;
/** A health event opened, or occurred again (same id: the hosted product's occurrences). */
export type HealthEventRaised = Event<'HealthEventRaised', HealthFacts>;
/** The condition behind a health event is over. */
export type HealthEventResolved = Event<'HealthEventResolved', { healthEventId: string }>;

/** Every event of a Collection stream (one per source and API). */
export type CollectionEvent =
  | CollectionPlanned
  | JobDispatched
  | ReplayRequested
  | TokenVerified
  | PageCollected
  | JobCompleted
  | JobRan
  | JobFailed
  | JobAbandoned
  | HealthEventRaised
  | HealthEventResolved;

export type CollectionEventType = CollectionEvent['type'];

export const COLLECTION_EVENT_TYPES: readonly CollectionEventType[] = [
  'CollectionPlanned',
  'JobDispatched',
  'ReplayRequested',
  'TokenVerified',
  'PageCollected',
  'JobCompleted',
  'JobRan',
  'JobFailed',
  'JobAbandoned',
  'HealthEventRaised',
  'HealthEventResolved',
];

export function isCollectionEvent(event: { type: string }): event is CollectionEvent {
  return (COLLECTION_EVENT_TYPES as readonly string[]).includes(event.type);
}
