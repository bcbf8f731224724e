/**
 * @packageDocumentation
 * What the three fetchers share: the {@link JobRunner} (COLLECTION.md "Jobs"), their
 * configuration, and {@link startFetcher}. A fetcher service is an {@link ApiSpec} and a `main`.
 *
 * @example
 * ```ts
 * export const activitiesApi = defineApiSpec({ api: 'activities', timeField: 'createdAt', timestampPath: ['createdAt'], versioned: false });
 * void runFetcherProcess(activitiesApi);
 * ```
 */
export { AggregateCache } from './aggregate.cache';
export { defineApiSpec, MalformedRecordError, snapshotIdOf, type ApiSpec, type ApiSpecDefinition } from './api-spec';
export { fetcherDurable, startFetcher, type FetcherOptions, type FetcherRuntime } from './fetcher.app';
export { fetcherEnvShape, loadFetcherConfig, retryPolicyOf, type FetcherConfig } from './fetcher.config';
export { runFetcherProcess } from './fetcher.main';
export {
  classifyFailure,
  DEFAULT_CACHED_STREAMS,
  JobRunner,
  JobSupersededError,
  PAGE_LIMIT,
  parseFetchJob,
  RawPublishError,
  type JobContext,
  type JobOutcome,
  type JobRunnerDeps,
  type JobRunnerSettings,
} from './job.runner';
export { jetStreamRawPublisher, rawBatchesOf, rawBatchMaxBytes, type RawPublisher, type RawRecord } from './raw.publisher';
