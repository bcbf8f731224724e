import { INVENTORY_APIS, type ErrorType, type SourceApi } from './source.types';

/**
 * The independent ways an API is collected: the historical `backfill`, the `live` tail every poll
 * interval, for the agent inventory a periodic full `snapshot`, and an operator's `replay` of a
 * window. Each lane has at most one job in flight, so a long backfill never delays fresh data.
 */
export const LANES = ['backfill', 'live', 'snapshot', 'replay'] as const;
export type Lane = (typeof LANES)[number];

/** A time range `[from, to)` in normalised microsecond timestamps. */
export interface TimeWindow {
  readonly from: string;
  readonly to: string;
}

/** How far a walk through a window got: enough to resume it after a crash. */
export interface Progress {
  /** SentinelOne's cursor for the next page, or null. */
  readonly cursor: string | null;
  /**
   * The lower bound the cursor's walk was started with: a cursor is only valid with the exact
   * filters it was issued for, so a resumed walk re-sends this one.
   */
  readonly walkFrom: string | null;
  /** The incremental field of the last record collected (createdAt or updatedAt), or null. */
  readonly lastTimestamp: string | null;
  readonly records: number;
  readonly pages: number;
}

export const NO_PROGRESS: Progress = { cursor: null, walkFrom: null, lastTimestamp: null, records: 0, pages: 0 };

/** A health event's severity, as the hosted product shows it. */
export type Severity = 'Error' | 'Warning';

/** Retry information carried by a health event. */
export interface RetryInfo {
  readonly retrying: boolean;
  /** When the next attempt is due, while retrying. */
  readonly nextAttemptAt?: string;
  /** When retrying stops (the end of the 90-minute window). */
  readonly until?: string;
}

/** What a health event says, beside its identity. */
export interface HealthFacts {
  readonly healthEventId: string;
  readonly severity: Severity;
  readonly errorType: ErrorType | 'RateLimited';
  readonly eventName: string;
  /** The human reason and what to do about it. */
  readonly description: string;
  readonly sourceId: string;
  readonly api: SourceApi;
  readonly retry: RetryInfo;
}

/** Which lanes an API has: inventories (agents, groups) are snapshotted instead of backfilled. */
export function lanesOf(api: SourceApi): readonly Lane[] {
  return INVENTORY_APIS.has(api) ? ['live', 'snapshot', 'replay'] : ['backfill', 'live', 'replay'];
}

/** The stream of one API's collection for one source. */
export const collectionStreamId = (sourceId: string, api: SourceApi): string => `collection-${sourceId}-${api}`;
