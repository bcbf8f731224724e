import type { Command } from './decider';
import type { Lane, Progress, TimeWindow } from './collection.types';
import type { ErrorType, SourceApi } from './source.types';

export type PlanCollection = Command<
  'PlanCollection',
  { sourceId: string; api: SourceApi; generation: number; baseUrl: string; backfillMs: number }
>;
/**
 * `generation`: the configuration generation the dispatch was decided for; a collection planned
 * again since refuses it (the fetcher that records a dispatch the scheduler decided earlier passes it).
 */
export type DispatchJob = Command<'DispatchJob', { jobId: string; lane: Lane; window: TimeWindow; resume: Progress; generation?: number }>;
export type RequestReplay = Command<'RequestReplay', { window: TimeWindow }>;
export type RecordTokenVerified = Command<'RecordTokenVerified', { jobId: string; rateLimited?: boolean }>;
export type RecordPage = Command<'RecordPage', { jobId: string; progress: Progress; pageRecords: number; rateLimited: boolean }>;
export type CompleteJob = Command<'CompleteJob', { jobId: string; finished: boolean; progress: Progress }>;
export type FailJob = Command<'FailJob', { jobId: string; errorType: ErrorType; reason: string; retryAfterMs?: number; random: number }>;
export type AbandonJob = Command<'AbandonJob', { jobId: string; reason: string }>;

export type CollectionCommand = PlanCollection | DispatchJob | RequestReplay | RecordTokenVerified | RecordPage | CompleteJob | FailJob | AbandonJob;
