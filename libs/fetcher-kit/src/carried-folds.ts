import { progressSchema, type CarriedFold, type FetchJob } from '@s1c/contracts';
import { ERROR_TYPES, LANES, SOURCE_APIS, type CollectionState } from '@s1c/domain';
import type { LoadedAggregate } from '@s1c/event-store';
import { z } from 'zod';

/**
 * The fold a job may carry (`collectionFold`: docs/COLLECTION.md, "What a fetcher keeps in
 * memory"), checked before a fetcher keeps it instead of reading the stream. The job's
 * schema only checks their outline (a `status`, versions, size); here each must be the shape the
 * runner and the deciders work on, and agree with the job. Anything else is ignored: the fetcher
 * then reads the stream, as for a job without folds. Objects are loose (unknown keys kept as they
 * are), so a field added to a state later does not make every fold fall back to a read.
 */

const text = z.string().max(4_096);
const window = z.looseObject({ from: text, to: text });
const pending = z.looseObject({ window, progress: progressSchema }).nullable();
const jobInFlight = z.looseObject({
  jobId: text,
  lane: z.enum(LANES),
  window,
  dispatchedAt: text,
  lastProgressAt: text,
  progress: progressSchema,
});
const generation = z.number().int().positive();

const plannedCollectionSchema = z.looseObject({
  status: z.literal('Planned'),
  sourceId: text,
  api: z.enum(SOURCE_APIS),
  generation,
  baseUrl: text,
  backfill: z.looseObject({ window, progress: progressSchema, done: z.boolean() }).nullable(),
  live: z.looseObject({ checkpoint: text, pending }),
  snapshot: z.looseObject({ lastStartedAt: text.nullable(), lastCompletedAt: text.nullable(), pending }),
  replay: pending,
  jobs: z.strictObject(Object.fromEntries(LANES.map((lane) => [lane, jobInFlight.optional()]))),
  failure: z
    .looseObject({
      healthEventId: text,
      errorType: z.enum(ERROR_TYPES),
      reason: text,
      firstAt: text,
      attempts: z.number().int().nonnegative(),
      retryAt: text.nullable(),
    })
    .nullable(),
  warning: z.looseObject({ healthEventId: text, since: text }).nullable(),
  verifiedGeneration: generation.nullable(),
  collectingGeneration: generation.nullable(),
});

/** A source whose jobs may run (the only kind a kept fold is used for); the token stays encrypted. */

/**
 * The job's collection fold, when it can be kept: a Planned collection of the job's source, API
 * and generation, at or after the job's JobDispatched (its version, and its position when at that
 * version), with the job in flight in its lane as dispatched. Never a fold that would make the job
 * stale without a read.
 */
export function carriedCollection(job: FetchJob): LoadedAggregate<CollectionState> | undefined {
  if (job.deferred) return undefined;
  const fold = parsedFold(job);
  if (!fold || job.collectionVersion === undefined || fold.version < job.collectionVersion) return undefined;
  if (fold.version === job.collectionVersion && job.collectionPosition !== undefined && fold.position !== job.collectionPosition) return undefined;
  const inflight = fold.state.status === 'Planned' ? fold.state.jobs[job.lane] : undefined;
  if (!inflight || inflight.jobId !== job.jobId || inflight.lane !== job.lane || inflight.dispatchedAt !== job.dispatchedAt) return undefined;
  if (inflight.window.from !== job.window.from || inflight.window.to !== job.window.to) return undefined;
  return fold;
}

/**
 * A deferred job's fold (its JobDispatched not in the log yet), when it can be kept: the collection
 * the scheduler decided the dispatch on, at the version before the one the JobDispatched is to take,
 * of the job's source, API and generation, with the job's lane idle.
 */
export function carriedDecidedOn(job: FetchJob): LoadedAggregate<CollectionState> | undefined {
  if (!job.deferred) return undefined;
  const fold = parsedFold(job);
  if (!fold || job.collectionVersion === undefined || fold.version !== job.collectionVersion - 1) return undefined;
  if (fold.state.status !== 'Planned' || fold.state.jobs[job.lane]) return undefined;
  return fold;
}

/** The job's collection fold, when it is a Planned collection of the job's source, API and generation. */
function parsedFold(job: FetchJob): LoadedAggregate<CollectionState> | undefined {
  const fold: CarriedFold | undefined = job.collectionFold;
  if (!fold) return undefined;
  const parsed = plannedCollectionSchema.safeParse(fold.state);
  if (!parsed.success) return undefined;
  const state = parsed.data;
  if (state.sourceId !== job.sourceId || state.api !== job.api || state.generation !== job.generation) return undefined;
  return { state: fold.state as unknown as CollectionState, version: fold.version, position: fold.position };
}
