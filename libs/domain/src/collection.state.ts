import type { Lane, Progress, TimeWindow } from './collection.types';
import type { ErrorType, SourceApi } from './source.types';

/** A job in flight. */
export interface JobInFlight {
  readonly jobId: string;
  readonly lane: Lane;
  readonly window: TimeWindow;
  readonly dispatchedAt: string;
  readonly lastProgressAt: string;
  readonly progress: Progress;
}

/** An unfinished window, kept so the next job resumes where the last one stopped. */
export interface PendingWindow {
  readonly window: TimeWindow;
  readonly progress: Progress;
}

export interface FailureStreak {
  readonly healthEventId: string;
  readonly errorType: ErrorType;
  readonly reason: string;
  readonly firstAt: string;
  readonly attempts: number;
  /** When the next attempt is due; null when collection gave up. */
  readonly retryAt: string | null;
}

/** Collection of one API of one source, folded from its stream. */
export type CollectionState =
  | { readonly status: 'Unplanned' }
  | {
      readonly status: 'Planned';
      readonly sourceId: string;
      readonly api: SourceApi;
      readonly generation: number;
      readonly baseUrl: string;
      readonly backfill: { readonly window: TimeWindow; readonly progress: Progress; readonly done: boolean } | null;
      /**
       * Everything before `checkpoint` has been collected by the live lane. Live polls are due on a
       * grid, `grid + k × poll interval` (`grid` is the plan's live checkpoint), so that a poll the
       * scheduler starts late does not push every later one back (absent in folds of older code).
       */
      readonly live: { readonly checkpoint: string; readonly pending: PendingWindow | null; readonly grid?: string };
      readonly snapshot: { readonly lastStartedAt: string | null; readonly lastCompletedAt: string | null; readonly pending: PendingWindow | null };
      /** An operator's replay still to do (or under way). */
      readonly replay: PendingWindow | null;
      readonly jobs: Readonly<Partial<Record<Lane, JobInFlight>>>;
      readonly failure: FailureStreak | null;
      readonly warning: { readonly healthEventId: string; readonly since: string } | null;
      /** The generation whose token SentinelOne accepted, and the one that collected a page. */
      readonly verifiedGeneration: number | null;
      readonly collectingGeneration: number | null;
    };

export type PlannedCollection = Extract<CollectionState, { status: 'Planned' }>;

export const initialCollectionState = (): CollectionState => ({ status: 'Unplanned' });
