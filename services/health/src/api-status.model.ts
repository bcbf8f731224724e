import { expandCollectionEvent, parseMicros, toMicroIso, type CollectionEvent, type Lane, type SourceApi } from '@s1c/domain';

/** Upper bounds (seconds) of the poll-duration histogram buckets; the last bucket is +Inf. */
export const POLL_DURATION_BUCKETS_S = [1, 5, 15, 60, 300, 900] as const;
/** How many minutes of records-per-minute history a document keeps (the dashboard's sparkline). */
export const PER_MINUTE_WINDOW = 60;

interface JobView {
  jobId: string;
  dispatchedAt: string;
  windowTo: string;
  /** Records the job had already collected when it was dispatched (a resumed walk). */
  startRecords: number;
}

/**
 * Collection of one API of one source, folded from its `collection-<sourceId>-<api>` stream and
 * held in memory by the `HealthModel` (not stored).
 */
export interface ApiStatusDoc {
  /** The stream id. */
  _id: string;
  sourceId: string;
  api: SourceApi;
  generation: number;
  /** Everything before it has been collected by the live lane. */
  liveCheckpoint: string;
  backfill: { from: string; to: string; lastTimestamp: string | null; records: number; done: boolean; percent: number } | null;
  /** The last time SentinelOne answered this API's collection with data (a page or a job's end). */
  lastSuccessfulPollAt: string | null;
  /** The last job that ended well, whatever its lane. */
  lastPoll: { at: string; lane: Lane; records: number; pages: number; durationMs: number; finished: boolean } | null;
  recordsTotal: number;
  recordsByLane: Record<Lane, number>;
  /** Records collected per minute (by event time), oldest first, the last {@link PER_MINUTE_WINDOW} minutes with any. */
  perMinute: Array<{ minute: string; records: number }>;
  /** Cumulative histogram of job durations: `buckets[i]` counts jobs at or under the i-th bound; the last is +Inf. */
  pollDurations: { count: number; sumMs: number; buckets: number[] };
  failuresTotal: number;
  rateLimitedPages: number;
  jobs: Partial<Record<Lane, JobView>>;
  version: number;
  position: number;
  updatedAt: string;
}

const ZERO_LANES: Record<Lane, number> = { backfill: 0, live: 0, snapshot: 0, replay: 0 };

/** Backfill progress as a percentage of its window, from the last record's timestamp. */
export function backfillPercent(window: { from: string; to: string }, lastTimestamp: string | null, done: boolean): number {
  if (done) return 100;
  if (lastTimestamp === null) return 0;
  const from = parseMicros(window.from);
  const to = parseMicros(window.to);
  const last = parseMicros(lastTimestamp);
  if (from === undefined || to === undefined || last === undefined || to <= from) return 0;
  const percent = ((last - from) / (to - from)) * 100;
  return Math.round(Math.min(100, Math.max(0, percent)) * 10) / 10;
}

/**
 * The document after `event`, or undefined when it does not apply (not the next version of the
 * stream, or before the collection was planned). Pure: the model keeps what it returns.
 */
export function evolveApiStatus(
  doc: ApiStatusDoc | undefined,
  event: CollectionEvent,
  at: { streamId: string; version: number; position: number },
): ApiStatusDoc | undefined {
  if (doc && doc.version !== at.version - 1) return undefined;
  let next = doc;
  // A JobRan is applied as the three events it stands for, all at its version.
  for (const part of expandCollectionEvent(event)) {
    next = applyApiEvent(next, part, at);
    if (!next) return undefined;
  }
  return next;
}

function applyApiEvent(
  doc: ApiStatusDoc | undefined,
  event: CollectionEvent,
  at: { streamId: string; version: number; position: number },
): ApiStatusDoc | undefined {
  const time = toMicroIso(event.data.at);
  if (event.type === 'CollectionPlanned') {
    const { sourceId, api, generation, reset, backfill, liveCheckpoint } = event.data;
    const keep = doc && !reset;
    return {
      _id: at.streamId,
      sourceId,
      api,
      generation,
      liveCheckpoint: toMicroIso(liveCheckpoint),
      backfill: keep
        ? doc.backfill
        : backfill
          ? { from: toMicroIso(backfill.from), to: toMicroIso(backfill.to), lastTimestamp: null, records: 0, done: false, percent: 0 }
          : null,
      lastSuccessfulPollAt: doc?.lastSuccessfulPollAt ?? null,
      lastPoll: doc?.lastPoll ?? null,
      recordsTotal: doc?.recordsTotal ?? 0,
      recordsByLane: doc?.recordsByLane ?? { ...ZERO_LANES },
      perMinute: doc?.perMinute ?? [],
      pollDurations: doc?.pollDurations ?? { count: 0, sumMs: 0, buckets: POLL_DURATION_BUCKETS_S.map(() => 0).concat(0) },
      failuresTotal: doc?.failuresTotal ?? 0,
      rateLimitedPages: doc?.rateLimitedPages ?? 0,
      // Jobs of the previous configuration are over: their late reports are stale.
      jobs: {},
      version: at.version,
      position: at.position,
      updatedAt: time,
    };
  }
  // Events before the plan (none in practice) only move the version.
  if (!doc) return undefined;
  const next: ApiStatusDoc = { ...doc, version: at.version, position: at.position, updatedAt: time };
  switch (event.type) {
    case 'JobDispatched': {
      const { jobId, lane, window, resume } = event.data;
      return { ...next, jobs: { ...doc.jobs, [lane]: { jobId, dispatchedAt: time, windowTo: toMicroIso(window.to), startRecords: resume.records } } };
    }
    case 'PageCollected': {
      const job = doc.jobs[event.data.lane];
      if (!job || job.jobId !== event.data.jobId) return next;
      const { pageRecords, progress, lane, rateLimited } = event.data;
      return {
        ...next,
        lastSuccessfulPollAt: time,
        recordsTotal: doc.recordsTotal + pageRecords,
        recordsByLane: { ...doc.recordsByLane, [lane]: doc.recordsByLane[lane] + pageRecords },
        perMinute: addToMinute(doc.perMinute, time, pageRecords),
        rateLimitedPages: doc.rateLimitedPages + (rateLimited ? 1 : 0),
        backfill: lane === 'backfill' && doc.backfill ? withBackfillProgress(doc.backfill, progress, false) : doc.backfill,
      };
    }
    case 'JobCompleted': {
      const { jobId, lane, finished, progress } = event.data;
      const job = doc.jobs[lane];
      if (!job || job.jobId !== jobId) return next;
      const jobs = { ...doc.jobs };
      delete jobs[lane];
      const durationMs = Math.max(0, ((parseMicros(time) ?? 0) - (parseMicros(job.dispatchedAt) ?? 0)) / 1000);
      return {
        ...next,
        jobs,
        lastSuccessfulPollAt: time,
        lastPoll: { at: time, lane, records: progress.records - job.startRecords, pages: progress.pages, durationMs, finished },
        pollDurations: observe(doc.pollDurations, durationMs),
        // As the domain does: the checkpoint only moves forward, whatever window a job carried.
        liveCheckpoint: lane === 'live' && finished && job.windowTo > doc.liveCheckpoint ? job.windowTo : doc.liveCheckpoint,
        backfill: lane === 'backfill' && doc.backfill ? withBackfillProgress(doc.backfill, progress, finished) : doc.backfill,
      };
    }
    case 'JobFailed':
    case 'JobAbandoned': {
      const job = doc.jobs[event.data.lane];
      if (!job || job.jobId !== event.data.jobId) return next;
      const jobs = { ...doc.jobs };
      delete jobs[event.data.lane];
      return { ...next, jobs, failuresTotal: doc.failuresTotal + (event.type === 'JobFailed' ? 1 : 0) };
    }
    case 'ReplayRequested':
    case 'TokenVerified':
    case 'HealthEventRaised':
    case 'HealthEventResolved':
    case 'JobRan': // expanded by evolveApiStatus: never here
      return next;
  }
}

function withBackfillProgress(
  backfill: NonNullable<ApiStatusDoc['backfill']>,
  progress: { lastTimestamp: string | null; records: number },
  finished: boolean,
): NonNullable<ApiStatusDoc['backfill']> {
  const lastTimestamp = progress.lastTimestamp === null ? backfill.lastTimestamp : toMicroIso(progress.lastTimestamp);
  const done = backfill.done || finished;
  return { ...backfill, lastTimestamp, records: progress.records, done, percent: backfillPercent(backfill, lastTimestamp, done) };
}

function addToMinute(perMinute: ApiStatusDoc['perMinute'], time: string, records: number): ApiStatusDoc['perMinute'] {
  const minute = `${time.slice(0, 16)}:00.000000Z`;
  const list = perMinute.map((m) => ({ ...m }));
  const existing = list.find((m) => m.minute === minute);
  if (existing) existing.records += records;
  else list.push({ minute, records });
  list.sort((a, b) => (a.minute < b.minute ? -1 : a.minute > b.minute ? 1 : 0));
  const newest = parseMicros(list.at(-1)!.minute)!;
  return list.filter((m) => newest - parseMicros(m.minute)! < PER_MINUTE_WINDOW * 60_000_000);
}

function observe(histogram: ApiStatusDoc['pollDurations'], durationMs: number): ApiStatusDoc['pollDurations'] {
  const seconds = durationMs / 1000;
  return {
    count: histogram.count + 1,
    sumMs: histogram.sumMs + durationMs,
    buckets: histogram.buckets.map((n, i) => (i >= POLL_DURATION_BUCKETS_S.length || seconds <= POLL_DURATION_BUCKETS_S[i]! ? n + 1 : n)),
  };
}
