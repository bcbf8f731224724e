import { fetchJobSchema, RAW_BATCH_HEADERS, type FetchJob } from '@s1c/contracts';
import {
  collectionStreamId,
  collectionDecider,
  CollectionNotPlannedError,
  isCollectionEvent,
  isSourceEvent,
  laneMark,
  LaneBusyError,
  parseMicros,
  sourceDecider,
  sourceStreamId,
  StaleJobError,
  systemActor,
  toMicroIso,
  type CollectionCommand,
  type CollectionEvent,
  type CollectionState,
  type DispatchJob,
  type ErrorType,
  type JobDispatched,
  type JobInFlight,
  type LifecycleStatus,
  type LiveSourceState,
  type Progress,
  type RetryPolicy,
  type SourceCommand,
  type SourceEvent,
  type SourceState,
  type TokenHealthState,
  scopeFilters,
  siemEventId,
} from '@s1c/domain';
import { AggregateRepository, ConcurrencyError, type FoldedStreams, type LoadedAggregate, type MongoEventStore } from '@s1c/event-store';
import { registerSecret, scrubString, type Logger } from '@s1c/logger';
import { PoisonMessageError, RetryableError, subjects } from '@s1c/messaging';
import { ConsoleRateLimiter, S1Client, S1Error, type AddressResolver, type ListQuery, type S1Network, type S1Page } from '@s1c/s1-client';
import type { SecretBox } from '@s1c/secrets';
import { AggregateCache } from './aggregate.cache';
import { carriedCollection, carriedDecidedOn } from './carried-folds';
import { MalformedRecordError, snapshotIdOf, type ApiSpec } from './api-spec';
import type { RawPublisher } from './raw.publisher';
import { fetcherMetrics } from './fetcher.metrics';
import { TokenExpiryWatch } from './token.expiry';

/** SentinelOne's largest page. */
export const PAGE_LIMIT = 1000;

/**
 * Streams of each kind (collections, sources) a runner keeps folded in memory, least recently used
 * dropped first: a few KiB each, so a few tens of MiB at most, whatever the number of sources.
 */
export const DEFAULT_CACHED_STREAMS = 5_000;
/** How long a job waits by default for the relayed source events to reach its source version. */
export const RELAY_WAIT_MS = 2_000;

/** How a {@link JobRunner} talks to SentinelOne and paces a job. */
export interface JobRunnerSettings {
  /** Pages one job walks before it completes unfinished (the scheduler dispatches the continuation). */
  readonly maxPagesPerJob: number;
  /** Requests per second to one console, shared by the whole process. */
  readonly requestsPerSecond: number;
  readonly s1TimeoutMs: number;
  /** S1C_ALLOW_INSECURE_BASE_URL. */
  readonly allowInsecure: boolean;
  /** CA file, proxy and allow-listed on-premises consoles (S1C_S1_*, HTTPS_PROXY, NO_PROXY); default none. */
  readonly network?: S1Network;
  /** Resolves console host names for the connect-time address check (tests inject one); default: the system resolver. */
  readonly resolver?: AddressResolver;
  /** The retry policy the collection decider applies to FailJob. */
  readonly retryPolicy: RetryPolicy;
  /** Records per page asked of SentinelOne; default (and maximum) {@link PAGE_LIMIT}. Tests use small pages to walk many. */
  readonly pageLimit?: number;
  /** Collections, and sources, kept folded in memory between jobs; default {@link DEFAULT_CACHED_STREAMS} of each. */
  readonly cachedStreams?: number;
  /** S1C_TOKEN_EXPIRY_WARNING_DAYS: warn this many days before a source's token expires (checked daily); 0: never. Default 0. */
  readonly tokenExpiryWarningDays?: number;
}

export interface JobRunnerDeps {
  readonly spec: ApiSpec;
  readonly store: MongoEventStore;
  readonly publisher: RawPublisher;
  readonly secrets: SecretBox;
  readonly settings: JobRunnerSettings;
  readonly logger: Logger;
  readonly clock?: () => Date;
  /** A number in [0, 1): the retry jitter of FailJob. */
  readonly random?: () => number;
  /**
   * Every source folded from the relayed events (the fetcher's own reader of S1C_EVENTS): a job's
   * source comes from it when it reaches the version the job was dispatched on, instead of a read
   * of the log. Without it, each source is read from the log on its first job in the process.
   */
  readonly sourceFolds?: Pick<FoldedStreams<SourceState>, 'atLeast' | 'offer'>;
  /** How long a job waits for the relayed source events to reach its source version. Default 2000 ms. */
  readonly relayWaitMs?: number;
  /** Every source's token health folded from the relayed events (`s1c.evt.token.>`); without it, read from the log at a source's first check. */
  readonly tokenFolds?: Pick<FoldedStreams<TokenHealthState>, 'head'>;
}

/** What the JetStream handler needs from its message while a job runs. */
export interface JobContext {
  /** Restarts the message's ack wait; called between pages. */
  working(): void;
  /** Aborts the job between pages (and cancels a SentinelOne call in flight). */
  readonly signal?: AbortSignal;
  /**
   * 1 on the message's first delivery (the default), more on a redelivery: then another delivery
   * of the job may have recorded progress this process has not seen, so the job starts from the log.
   */
  readonly deliveryCount?: number;
}

/** How a job ended, for logs and tests. Every outcome but a thrown error acks the job. */
export type JobOutcome =
  | { readonly kind: 'stale'; readonly reason: string }
  | { readonly kind: 'abandoned'; readonly reason: string }
  | { readonly kind: 'completed'; readonly finished: boolean; readonly progress: Progress; readonly pages: number }
  | { readonly kind: 'failed'; readonly errorType: ErrorType; readonly reason: string; readonly retryAt: string | null }
  | { readonly kind: 'interrupted'; readonly progress: Progress | null }
  | { readonly kind: 'superseded'; readonly reason: string };

/**
 * The job's progress in the log is no longer what this runner wrote last: another delivery of the
 * same job (a redelivery after a stall, a second replica) is recording it now, so this one stops.
 */
export class JobSupersededError extends Error {
  override readonly name = 'JobSupersededError';
  constructor(readonly jobId: string) {
    super(`job ${jobId} is being recorded by another delivery`);
  }
}

/** Parses a job message's JSON; a job that can never run is a poison message (dead letter). */
export function parseFetchJob(json: unknown, spec: Pick<ApiSpec, 'api'>): FetchJob {
  const parsed = fetchJobSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(job)'}: ${i.message}`).join('; ');
    throw new PoisonMessageError(`invalid fetch job: ${problems}`);
  }
  if (parsed.data.api !== spec.api) throw new PoisonMessageError(`a ${parsed.data.api} job reached the ${spec.api} fetcher`);
  if (parsed.data.window.from >= parsed.data.window.to) throw new PoisonMessageError('invalid fetch job: window.from must be before window.to');
  return parsed.data;
}

function sameProgress(a: Progress, b: Progress): boolean {
  return a.cursor === b.cursor && a.walkFrom === b.walkFrom && a.lastTimestamp === b.lastTimestamp && a.records === b.records && a.pages === b.pages;
}

function jobInFlight(state: CollectionState, job: FetchJob): JobInFlight | undefined {
  if (state.status !== 'Planned' || state.generation !== job.generation) return undefined;
  const inflight = state.jobs[job.lane];
  return inflight?.jobId === job.jobId ? inflight : undefined;
}

function isOwnershipLoss(error: unknown): boolean {
  return (
    error instanceof StaleJobError ||
    error instanceof JobSupersededError ||
    error instanceof ConcurrencyError ||
    error instanceof LaneBusyError ||
    error instanceof CollectionNotPlannedError
  );
}

/** A source's verdict on a job; when live, its fold and the token in clear. */
type SourceCheck =
  | { readonly kind: 'abandoned'; readonly reason: string }
  | { readonly kind: 'stale'; readonly reason: string }
  | { readonly kind: 'live'; readonly source: { readonly state: LiveSourceState; readonly version: number }; readonly token: string };

/** A source whose jobs may run: not Nonexistent, Stopping, Deleted or Error. */
function isLive(state: SourceState): state is LiveSourceState & { readonly status: LifecycleStatus } {
  return state.status !== 'Nonexistent' && state.status !== 'Deleted' && state.status !== 'Stopping' && state.status !== 'Error';
}

/** What a job run knows about itself, kept outside the walk so failures can be recorded. */
interface Tracker {
  /** The job's progress as this runner last saw or wrote it; null before the collection was read. */
  expected: Progress | null;
  /** The collection as this runner last read or wrote it: each record reads only newer events. */
  collection?: LoadedAggregate<CollectionState>;
  /**
   * A deferred job's dispatch, until its first record appends it (see {@link JobRunner.record}):
   * the command, and the lane's mark on the collection the scheduler decided it on.
   */
  dispatch?: { readonly command: DispatchJob; readonly mark: string };
}

/**
 * Runs fetch jobs (COLLECTION.md "Jobs", steps 1-6): checks the job is still in flight and its
 * source still collecting, verifies the token once per generation, walks SentinelOne's pages
 * from where the job's lane got to, publishes each page's records to `s1c.raw.<api>.<sourceId>` (as raw batches)
 * and records the page only once every record is stored, and records how the job ended.
 * Fetchers only read the source stream; they write the collection stream.
 *
 * It keeps every collection and source it has folded in memory between jobs (bounded, least
 * recently used dropped), so that a job normally starts without reading the log, which on FerretDB
 * costs a scan of the whole log per read (issue 13; COLLECTION.md, "What a fetcher keeps in memory"):
 *
 * - Collection. Every kept fold is exact up to its version (a read, an append's result, or the job's
 *   own JobDispatched, which the job carries whole, at the version it names). A fold that is behind
 *   the log is harmless: every write appends at the fold's version + 1, so a stale fold loses the
 *   race on the unique stream version, and only then are the newer events read and the command
 *   decided again on them. The job is taken from the kept fold when that fold already holds the
 *   job's JobDispatched, or is one version short of it (the JobDispatched is folded from the job);
 *   otherwise, or on a redelivery, the newer events are read first. "Not in flight" on a fold that
 *   holds the job's JobDispatched is final: a job leaves its lane for ever (job ids are unique).
 *   A deferred job (its JobDispatched not in the log yet) is taken from a kept fold at or after the
 *   version it was decided on, or from the fold it carries; its first record appends the
 *   JobDispatched with it, decided again after a lost race as long as the lane's mark is the one
 *   the scheduler saw (COLLECTION.md, "One append per job").
 * - Source. The kept fold of a source is the one folded from the relayed source events
 *   (`sourceFolds`, waited for up to `relayWaitMs` to reach the job's source version) or the last
 *   one read from the log (then offered to `sourceFolds`), whichever is newer. A kept fold is used only to let the job go ahead: when it is of the job's generation,
 *   live (not Stopping, Deleted or Error), at least at the source version the scheduler dispatched
 *   the job on, and the job is not redelivered. Anything else (abandon, stale) is decided on the
 *   log after reading the newer source events, as before. The scheduler dispatches only for a live
 *   source of the job's generation and the job carries the source version it saw, so the fetcher's
 *   view is never older than the scheduler's at dispatch; what it can miss is a change after the
 *   dispatch. Then: an update or restart (new generation) makes the scheduler plan the collection
 *   again, which ends the job in the collection stream, so its next write loses on the version and
 *   it stops at its next page without recording anything (superseded); a deletion or a failure stops all further dispatches, so at
 *   most the jobs already dispatched (one per lane) run once more, within their page budget, and
 *   end: the same as a job whose source was deleted right after the check at its start (the
 *   enricher drops the records of a source once it has seen it stopping or deleted). A decryption failure on a kept
 *   source re-reads it (the key list only changes with a restart of the process, which empties the
 *   cache, so this is a safety net).
 * - The fold carried by the job. The scheduler puts into the job the collection as it folded it
 *   right after the JobDispatched (`collectionFold`). When nothing as new is kept, a fetcher keeps it
 *   (checked by {@link carriedCollection}: shape, the job's source, API, generation and versions,
 *   the job in flight) instead of reading the stream, so a fresh process's first job of a
 *   collection reads only its source. It is a fold like any other: exact up to its version, maybe
 *   behind the log; a malformed or inconsistent one is ignored (the stream is read), and a
 *   redelivered job ignores it. The source is never taken from a job: its base URL and token decide
 *   where the token is sent, so they come from the log or its relayed events only (only the relay may publish those: a forged job cannot redirect it).
 */
export class JobRunner {
  private readonly collections: AggregateRepository<CollectionState, CollectionCommand, CollectionEvent>;
  private readonly sources: AggregateRepository<SourceState, SourceCommand, SourceEvent>;
  private readonly evolveCollection: (state: CollectionState, event: CollectionEvent) => CollectionState;
  private readonly collectionCache: AggregateCache<CollectionState>;
  private readonly sourceCache: AggregateCache<SourceState>;
  private readonly clock: () => Date;
  private readonly random: () => number;
  private readonly shutdown = new AbortController();
  private readonly tokenExpiry: TokenExpiryWatch;
  /**
   * Failures that could not be recorded (MongoDB down), by job id: recorded when the job comes
   * back, so an outage of the log still shows as a failure streak and its health event.
   */
  private readonly unrecorded = new Map<string, Failure>();

  constructor(private readonly deps: JobRunnerDeps) {
    const decider = collectionDecider(deps.settings.retryPolicy);
    this.collections = new AggregateRepository(deps.store, decider, isCollectionEvent);
    this.sources = new AggregateRepository(deps.store, sourceDecider, isSourceEvent);
    this.evolveCollection = decider.evolve;
    const cached = deps.settings.cachedStreams ?? DEFAULT_CACHED_STREAMS;
    this.collectionCache = new AggregateCache(cached);
    this.sourceCache = new AggregateCache(cached);
    this.clock = deps.clock ?? (() => new Date());
    this.random = deps.random ?? Math.random;
    this.tokenExpiry = new TokenExpiryWatch({
      store: deps.store,
      warningDays: deps.settings.tokenExpiryWarningDays ?? 0,
      clock: this.clock,
      logger: deps.logger,
      ...(deps.tokenFolds ? { folds: deps.tokenFolds } : {}),
    });
  }

  /** Stops every job at its next page boundary; each completes unfinished, to be continued. */
  stop(): void {
    this.shutdown.abort();
  }

  /**
   * Runs one job. Resolves with its outcome once the outcome is in the log (ack the message);
   * throws {@link RetryableError} when even a failure could not be recorded (nak: redeliver).
   */
  async run(job: FetchJob, ctx: JobContext): Promise<JobOutcome> {
    const signal = ctx.signal ? AbortSignal.any([ctx.signal, this.shutdown.signal]) : this.shutdown.signal;
    const tracker: Tracker = { expected: null };
    const fields = { jobId: job.jobId, sourceId: job.sourceId, api: job.api, lane: job.lane, correlationId: job.jobId };
    const log = this.deps.logger.child(fields);
    let outcome: JobOutcome | undefined;
    try {
      outcome = await this.execute(job, ctx, signal, tracker, log);
      log.info({ outcome }, `job ${outcome.kind}`);
      return outcome;
    } catch (error) {
      outcome = await this.onError(job, error, signal, tracker, log);
      return outcome;
    } finally {
      fetcherMetrics.job(job.api, job.lane, outcome?.kind ?? 'error');
    }
  }

  private async execute(job: FetchJob, ctx: JobContext, signal: AbortSignal, tracker: Tracker, log: Logger): Promise<JobOutcome> {
    const { settings } = this.deps;
    const redelivered = (ctx.deliveryCount ?? 1) > 1;
    // 1. The job must still be in flight in its collection (deferred: its lane as the scheduler saw it).
    const collection = await this.collectionFor(job, redelivered);
    tracker.collection = collection;
    const inflight = jobInFlight(collection.state, job) ?? this.deferredDispatch(job, collection, tracker);
    const earlier = this.unrecorded.get(job.jobId);
    this.unrecorded.delete(job.jobId);
    if (!inflight || collection.state.status !== 'Planned') return { kind: 'stale', reason: 'the job is not in flight in its collection' };
    tracker.expected = inflight.progress;
    // The previous delivery failed and MongoDB could not take it then: record it now (the job ends
    // failed and is retried as any failure is), so the outage is in the log as a health event.
    if (earlier) return this.recordFailure(job, earlier, tracker, log);

    // 2. Its source must still be collecting this generation; 3. the token exists in clear only
    // here, in memory, for this job.
    const checked = await this.sourceFor(job, redelivered);
    if (checked.kind === 'abandoned') {
      await this.record(job, tracker, { type: 'AbandonJob', data: { jobId: job.jobId, reason: checked.reason }, metadata: { now: this.clock() } });
      return checked;
    }
    if (checked.kind === 'stale') return checked;
    const { source, token } = checked;
    const src = source.state;
    registerSecret(token);
    let host: string;
    try {
      host = new URL(src.config.baseUrl).host;
    } catch {
      host = src.config.baseUrl;
    }
    const client = new S1Client({
      baseUrl: src.config.baseUrl,
      token,
      allowInsecure: settings.allowInsecure,
      ...(settings.network ? { network: settings.network } : {}),
      timeoutMs: settings.s1TimeoutMs,
      rateLimiter: ConsoleRateLimiter.shared(host, src.config.options?.requestsPerSecond ?? settings.requestsPerSecond),
      ...(settings.resolver ? { resolver: settings.resolver } : {}),
      onRequest: fetcherMetrics.s1Request,
    });
    try {
      // 4. Verify the token once per configuration generation.
      if (collection.state.verifiedGeneration !== collection.state.generation) {
        const { rateLimited } = await client.verifyToken({ signal });
        await this.record(job, tracker, { type: 'RecordTokenVerified', data: { jobId: job.jobId, rateLimited }, metadata: { now: this.clock() } });
      }
      // 5. Once a day, the token's expiry: a health warning before it lapses.
      await this.tokenExpiry.checkIfDue(job.sourceId, job.generation, client, signal, log);
      // 6. Walk.
      return await this.walk(job, inflight, client, { sourceVersion: source.version, collectorId: src.collectorId, scope: scopeFilters(src.config.options) }, ctx, signal, tracker, log);
    } finally {
      client.close();
    }
  }

  /**
   * The collection with the job's JobDispatched folded in, from memory when possible (see the
   * class comment): kept at or after the job's version, or one version short of it (the
   * JobDispatched is folded from the job); otherwise the events after the kept fold are read.
   */
  private async collectionFor(job: FetchJob, redelivered: boolean): Promise<LoadedAggregate<CollectionState>> {
    const streamId = collectionStreamId(job.sourceId, job.api);
    if (job.deferred) {
      // Its JobDispatched is not in the log: a fold at or after the version it was decided on will
      // do (a newer log makes the first record lose its race and decide again on what it reads).
      if (!redelivered) this.seed(this.collectionCache, streamId, carriedDecidedOn(job));
      const kept = this.collectionCache.get(streamId);
      if (kept && !redelivered && job.collectionVersion !== undefined && kept.version >= job.collectionVersion - 1) return kept;
      return this.collectionCache.set(streamId, await this.collections.load(streamId, kept));
    }
    if (!redelivered) this.seed(this.collectionCache, streamId, carriedCollection(job));
    const kept = this.collectionCache.get(streamId);
    if (kept && !redelivered) {
      const version = job.collectionVersion;
      if (version !== undefined) {
        if (kept.version >= version) return kept;
        if (kept.version === version - 1) {
          const folded = this.foldDispatch(kept, job);
          if (folded) return this.collectionCache.set(streamId, folded);
        }
      } else if (jobInFlight(kept.state, job)) {
        // A job without its version (an older scheduler's, or republished after a restart): the
        // kept fold holds it, so it does not need the newer events; its first write brings them if any.
        return kept;
      }
    }
    return this.collectionCache.set(streamId, await this.collections.load(streamId, kept));
  }

  /**
   * A deferred job not yet in its collection: when its lane is still as the scheduler saw it (the
   * same mark as on the fold it decided on), the job as it will be in flight, and the dispatch to
   * append with its first record (kept in `tracker`). Undefined otherwise: the job is stale.
   */
  private deferredDispatch(job: FetchJob, collection: LoadedAggregate<CollectionState>, tracker: Tracker): JobInFlight | undefined {
    if (!job.deferred || job.collectionVersion === undefined) return undefined;
    const decidedOn = carriedDecidedOn(job) ?? (collection.version === job.collectionVersion - 1 ? collection : undefined);
    if (!decidedOn) return undefined;
    const mark = laneMark(decidedOn.state, job.lane);
    if (laneMark(collection.state, job.lane) !== mark) return undefined;
    const { jobId, lane, window, resume, generation, dispatchedAt } = job;
    const now = new Date(Math.floor(parseMicros(dispatchedAt)! / 1000));
    tracker.dispatch = { command: { type: 'DispatchJob', data: { jobId, lane, window, resume, generation }, metadata: { now } }, mark };
    return { jobId, lane, window, dispatchedAt, lastProgressAt: dispatchedAt, progress: resume };
  }

  /**
   * `kept` (the collection at the version before the job's JobDispatched) with that event folded
   * in, rebuilt from the job: the job carries every field of it. Undefined when `kept` cannot be
   * the state the dispatch was decided on (the lane busy, another generation), which a correct
   * scheduler never produces; the caller then reads the log.
   */
  private foldDispatch(kept: LoadedAggregate<CollectionState>, job: FetchJob): LoadedAggregate<CollectionState> | undefined {
    const { state } = kept;
    if (job.collectionVersion === undefined || job.collectionPosition === undefined) return undefined;
    if (state.status !== 'Planned' || state.generation !== job.generation || state.sourceId !== job.sourceId || state.api !== job.api) return undefined;
    if (state.jobs[job.lane]) return undefined;
    const dispatched: JobDispatched = {
      type: 'JobDispatched',
      data: {
        sourceId: job.sourceId,
        api: job.api,
        at: job.dispatchedAt,
        jobId: job.jobId,
        lane: job.lane,
        generation: job.generation,
        window: job.window,
        resume: job.resume,
      },
    };
    return { state: this.evolveCollection(state, dispatched), version: job.collectionVersion, position: job.collectionPosition };
  }

  /**
   * Whether the job may run on its source, and its token. A kept fold of the source only ever lets
   * a job go ahead (see the class comment); any other answer, a redelivery, and a token the kept
   * fold cannot decrypt are decided on the log, after reading the newer source events.
   */
  private async sourceFor(job: FetchJob, redelivered: boolean): Promise<SourceCheck> {
    const streamId = sourceStreamId(job.sourceId);
    const folds = this.deps.sourceFolds;
    if (folds) this.seed(this.sourceCache, streamId, await folds.atLeast(streamId, job.sourceVersion ?? 0, this.deps.relayWaitMs ?? RELAY_WAIT_MS));
    let kept = this.sourceCache.get(streamId);
    if (kept && !redelivered && kept.version >= (job.sourceVersion ?? 0) && isLive(kept.state) && kept.state.generation === job.generation) {
      try {
        return { kind: 'live', source: { state: kept.state, version: kept.version }, token: this.deps.secrets.decrypt(kept.state.secret, job.sourceId) };
      } catch {
        // Re-read the whole stream below, not only the events after the kept fold: a newer fold may
        // hold the token under a key of this process.
        this.sourceCache.delete(streamId);
        kept = undefined;
      }
    }
    const source = this.sourceCache.set(streamId, await this.sources.load(streamId, kept));
    folds?.offer(streamId, source);
    const src = source.state;
    if (src.status === 'Nonexistent' || src.status === 'Deleted' || src.status === 'Stopping' || src.status === 'Error') {
      const reason = {
        Nonexistent: 'source does not exist',
        Deleted: 'source is deleted',
        Stopping: 'source is stopping',
        Error: 'source is in Error',
      }[src.status];
      return { kind: 'abandoned', reason };
    }
    if (src.generation !== job.generation) return { kind: 'stale', reason: `the source is at generation ${src.generation}` };
    return { kind: 'live', source: { state: src, version: source.version }, token: this.deps.secrets.decrypt(src.secret, job.sourceId) };
  }

  /**
   * Keeps a fold the job carries (checked by carriedCollection / carriedSource) when nothing as new
   * is kept: the fold the scheduler had, which may be behind the log but is exact up to its version.
   */
  private seed<State>(cache: AggregateCache<State>, streamId: string, carried: LoadedAggregate<State> | undefined): void {
    if (!carried) return;
    const kept = cache.get(streamId);
    if (!kept || kept.version < carried.version) cache.set(streamId, carried);
  }

  private async walk(
    job: FetchJob,
    inflight: JobInFlight,
    client: S1Client,
    about: { sourceVersion: number; collectorId: string; scope: Record<string, string> },
    ctx: JobContext,
    signal: AbortSignal,
    tracker: Tracker,
    log: Logger,
  ): Promise<JobOutcome> {
    const { spec, settings } = this.deps;
    const { window } = inflight;
    const snapshot = job.lane === 'snapshot';
    const pageLimit = Math.min(Math.max(1, settings.pageLimit ?? PAGE_LIMIT), PAGE_LIMIT);
    let progress = inflight.progress;
    if (progress.pages > 0 && progress.cursor === null) {
      // The last page was recorded but the job ended before its completion was: nothing is left to fetch.
      await this.record(job, tracker, { type: 'CompleteJob', data: { jobId: job.jobId, finished: true, progress }, metadata: { now: this.clock() } });
      return { kind: 'completed', finished: true, progress, pages: 0 };
    }
    // A cursor is only valid with the filters of the walk that issued it, so a resumed walk re-sends walkFrom.
    let walkFrom: string | null = progress.cursor !== null ? (progress.walkFrom ?? (snapshot ? null : window.from)) : snapshot ? null : window.from;
    let cursor: string | undefined = progress.cursor ?? undefined;
    let lastRestartFrom: string | null | undefined;
    let pages = 0;
    const subject = subjects.raw(job.api, job.sourceId);
    const baseHeaders: Record<string, string> = {
      [RAW_BATCH_HEADERS.sourceId]: job.sourceId,
      [RAW_BATCH_HEADERS.collectorId]: about.collectorId,
      [RAW_BATCH_HEADERS.api]: job.api,
      [RAW_BATCH_HEADERS.lane]: job.lane,
      [RAW_BATCH_HEADERS.jobId]: job.jobId,
      [RAW_BATCH_HEADERS.generation]: String(job.generation),
      [RAW_BATCH_HEADERS.sourceVersion]: String(about.sourceVersion),
      ...(snapshot ? { [RAW_BATCH_HEADERS.snapshotId]: snapshotIdOf(window) } : {}),
    };

    const request = (from: string | null, at: string | undefined): Promise<S1Page> => {
      // The source's scope (accountIds, siteIds, groupIds) with every request of every walk.
      const filters: Record<string, string> = { ...about.scope };
      if (from !== null) filters[`${spec.timeField}__gte`] = from;
      if (!snapshot) filters[`${spec.timeField}__lt`] = window.to;
      const query: ListQuery = { filters, sortBy: spec.sortBy, sortOrder: 'asc', limit: pageLimit, ...(at !== undefined ? { cursor: at } : {}) };
      const pending = client.listPage(spec.api, query, { signal });
      // Awaited later, or never when the job stops first: its failure must not go unhandled.
      pending.catch(() => undefined);
      return pending;
    };
    // The next page, asked for while this one is published and recorded: SentinelOne's latency
    // overlaps ours instead of adding to it. Used only if the walk goes on where it pointed.
    let prefetched: { walkFrom: string | null; cursor: string | undefined; page: Promise<S1Page> } | undefined;

    for (;;) {
      if (signal.aborted) return this.interrupt(job, tracker, progress, log);
      ctx.working();
      let page: S1Page;
      try {
        const ahead = prefetched && prefetched.walkFrom === walkFrom && prefetched.cursor === cursor ? prefetched.page : undefined;
        prefetched = undefined;
        page = await (ahead ?? request(walkFrom, cursor));
      } catch (error) {
        if (signal.aborted) return this.interrupt(job, tracker, progress, log);
        if (error instanceof S1Error && error.reason === 'InvalidCursor' && cursor !== undefined) {
          // The cursor expired (or SentinelOne forgot it): a new walk from the newest timestamp
          // collected loses nothing; the records at that instant come again and are dropped as
          // duplicates by their Nats-Msg-Id.
          const from = progress.lastTimestamp ?? walkFrom;
          if (lastRestartFrom !== undefined && from === lastRestartFrom) throw error;
          lastRestartFrom = from;
          log.warn({ walkFrom: from }, 'SentinelOne refused the cursor; restarting the walk from the last timestamp collected');
          walkFrom = from;
          cursor = undefined;
          continue;
        }
        throw error;
      }
      ctx.working();
      const fetchedAt = toMicroIso(this.clock());
      // Ids first: one malformed record and nothing of the page is published.
      const records = page.records.map((r) => {
        const { id, timestamp } = spec.recordOf(job.sourceId, r, job.lane, window);
        // The record's bytes as they came. Its day is that of the time its id stands for: a snapshot's, or its own.
        return { id, timestamp, day: (snapshot ? window.to : timestamp).slice(0, 10), eventId: siemEventId(job.api, r), bytes: r.bytes };
      });
      if (page.nextCursor !== null && pages + 1 < settings.maxPagesPerJob) {
        prefetched = { walkFrom, cursor: page.nextCursor, page: request(walkFrom, page.nextCursor) };
      }
      try {
        await this.deps.publisher.publish(subject, records, { ...baseHeaders, [RAW_BATCH_HEADERS.fetchedAt]: fetchedAt });
        fetcherMetrics.recordsFetched(job.api, records.length);
      } catch (error) {
        throw new RawPublishError(subject, error);
      }

      let lastTimestamp = progress.lastTimestamp;
      for (const r of records) if (lastTimestamp === null || r.timestamp > lastTimestamp) lastTimestamp = r.timestamp;
      const next: Progress = { cursor: page.nextCursor, walkFrom, lastTimestamp, records: progress.records + records.length, pages: progress.pages + 1 };
      const finished = page.nextCursor === null;
      const last = finished || pages + 1 >= settings.maxPagesPerJob;
      const now = this.clock();
      const recordPage: CollectionCommand = {
        type: 'RecordPage',
        data: { jobId: job.jobId, progress: next, pageRecords: records.length, rateLimited: page.rateLimited },
        metadata: { now },
      };
      // The job's last page and its end are one append.
      await this.record(job, tracker, last ? [recordPage, { type: 'CompleteJob', data: { jobId: job.jobId, finished, progress: next }, metadata: { now } }] : recordPage);
      progress = next;
      pages += 1;
      lastRestartFrom = undefined;
      log.debug({ pages: progress.pages, records: progress.records, pageRecords: records.length, rateLimited: page.rateLimited }, 'page collected');
      if (last) return { kind: 'completed', finished, progress, pages };
      cursor = page.nextCursor ?? undefined;
    }
  }

  /** Shutdown between pages: hand the job over as unfinished, so a continuation resumes it at once. */
  private async interrupt(job: FetchJob, tracker: Tracker, progress: Progress, log: Logger): Promise<JobOutcome> {
    try {
      await this.record(job, tracker, { type: 'CompleteJob', data: { jobId: job.jobId, finished: false, progress }, metadata: { now: this.clock() } });
    } catch (error) {
      if (isOwnershipLoss(error)) return { kind: 'superseded', reason: (error as Error).message };
      throw new RetryableError('stopping: the unfinished job could not be recorded', { cause: error, delayMs: 0 });
    }
    log.info({ progress }, 'job interrupted by shutdown; completed unfinished');
    return { kind: 'interrupted', progress };
  }

  /**
   * Appends a command's events to the collection, as long as the job is still in flight there
   * with the progress this runner last recorded (otherwise someone else owns the job now).
   */
  private async record(job: FetchJob, tracker: Tracker, commands: CollectionCommand | readonly CollectionCommand[]): Promise<CollectionEvent[]> {
    const expected = tracker.expected;
    const { dispatch } = tracker;
    const result = await this.collections.execute(
      collectionStreamId(job.sourceId, job.api),
      (state) => {
        const current = jobInFlight(state, job);
        // A deferred job's first record appends its dispatch too, as long as its lane is as the
        // scheduler saw it; once in flight (this record's or another delivery's) it is a job like any.
        if (!current && dispatch) {
          if (laneMark(state, job.lane) !== dispatch.mark) throw new StaleJobError(job.jobId);
          return [dispatch.command, ...(Array.isArray(commands) ? commands : [commands])];
        }
        if (!current) throw new StaleJobError(job.jobId);
        if (expected !== null && !sameProgress(current.progress, expected)) throw new JobSupersededError(job.jobId);
        return commands;
      },
      { metadata: { correlationId: job.jobId, actor: systemActor(`fetcher-${job.api}`) }, ...(tracker.collection ? { from: tracker.collection } : {}) },
    );
    // A command that changed nothing reports position 0: the fold's position is then the one before.
    const position = Math.max(result.position, tracker.collection?.position ?? 0);
    tracker.collection = this.collectionCache.set(collectionStreamId(job.sourceId, job.api), { state: result.state, version: result.version, position });
    delete tracker.dispatch;
    for (const command of Array.isArray(commands) ? commands : [commands]) {
      if (command.type === 'RecordPage' || command.type === 'CompleteJob') tracker.expected = command.data.progress;
    }
    return result.events.map((e) => ({ type: e.type, data: e.data }) as CollectionEvent);
  }

  private async onError(job: FetchJob, error: unknown, signal: AbortSignal, tracker: Tracker, log: Logger): Promise<JobOutcome> {
    if (isOwnershipLoss(error)) {
      log.info({ reason: (error as Error).message }, 'job taken over or ended elsewhere; stopping');
      return { kind: 'superseded', reason: (error as Error).message };
    }
    if (error instanceof RetryableError || error instanceof PoisonMessageError) throw error;
    if (signal.aborted && tracker.expected !== null) return this.interrupt(job, tracker, tracker.expected, log);

    const failure = classifyFailure(error);
    if (failure.errorType === 'FirstPartyGeneric') log.error({ err: error, reason: failure.reason }, 'job failed on our side');
    else log.warn({ err: error, errorType: failure.errorType, reason: failure.reason }, 'job failed talking to SentinelOne');
    return this.recordFailure(job, failure, tracker, log);
  }

  /** Records FailJob; when even that fails, remembers the failure for the job's redelivery and throws RetryableError (nak). */
  private async recordFailure(job: FetchJob, failure: Failure, tracker: Tracker, log: Logger): Promise<JobOutcome> {
    try {
      const events = await this.record(job, tracker, {
        type: 'FailJob',
        data: {
          jobId: job.jobId,
          errorType: failure.errorType,
          reason: failure.reason,
          ...(failure.retryAfterMs !== undefined ? { retryAfterMs: failure.retryAfterMs } : {}),
          random: this.random(),
        },
        metadata: { now: this.clock() },
      });
      const failed = events.find((e) => e.type === 'JobFailed');
      const retryAt = failed?.type === 'JobFailed' ? failed.data.retryAt : null;
      log.info({ errorType: failure.errorType, retryAt }, 'job failure recorded');
      return { kind: 'failed', errorType: failure.errorType, reason: failure.reason, retryAt };
    } catch (recordError) {
      if (isOwnershipLoss(recordError)) {
        log.info({ reason: (recordError as Error).message }, 'job ended elsewhere before its failure was recorded');
        return { kind: 'superseded', reason: (recordError as Error).message };
      }
      log.error({ err: recordError }, 'the job failure could not be recorded; the job will be redelivered');
      // Bounded: only jobs this process ran and that come back soon matter.
      if (this.unrecorded.size >= 1000) this.unrecorded.clear();
      this.unrecorded.set(job.jobId, failure);
      throw new RetryableError(`the job failed (${failure.reason}) and the failure could not be recorded`, { cause: recordError });
    }
  }
}

/** A record could not be stored in the raw stream (NATS down, PubAck timeout). */
export class RawPublishError extends Error {
  override readonly name = 'RawPublishError';
  constructor(
    readonly subject: string,
    cause: unknown,
  ) {
    super(`publishing raw records to ${subject} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

const MAX_REASON_LENGTH = 500;

/** A classified failure: what FailJob records. */
type Failure = ReturnType<typeof classifyFailure>;

/** The error type and human reason a failure is recorded with; the reason never holds a secret. */
export function classifyFailure(error: unknown): { errorType: ErrorType; reason: string; retryAfterMs?: number } {
  const clip = (text: string) => scrubString(text).slice(0, MAX_REASON_LENGTH);
  if (error instanceof S1Error) {
    return {
      errorType: error.errorType,
      reason: clip(error.message),
      ...(error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}),
    };
  }
  if (error instanceof MalformedRecordError) return { errorType: 'ThirdPartyGeneric', reason: clip(`${error.message}; will retry`) };
  const message = error instanceof Error ? error.message : String(error);
  return { errorType: 'FirstPartyGeneric', reason: clip(`internal failure: ${message}`) };
}
