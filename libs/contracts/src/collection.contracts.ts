import { LANES, SOURCE_APIS } from '@s1c/domain';
import { z } from 'zod';

const timestamp = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/, 'must be a microsecond UTC timestamp');

export const progressSchema = z.strictObject({
  cursor: z.string().nullable(),
  walkFrom: timestamp.nullable(),
  lastTimestamp: z.string().nullable(),
  records: z.number().int().nonnegative(),
  pages: z.number().int().nonnegative(),
});

/** The largest fold (its state as JSON, in characters) a job may carry; a larger one is dropped. */
export const MAX_CARRIED_FOLD_CHARS = 32 * 1024;

/**
 * An aggregate as the scheduler folded it, carried in a job so that a fetcher that holds nothing
 * newer need not read the stream: its state (checked here only for a `status` string and its size;
 * the fetcher checks the rest before it keeps it), the stream version it was folded at and the log
 * position of that version's event.
 */
export const carriedFoldSchema = z.strictObject({
  state: z.looseObject({ status: z.string().min(1).max(32) }),
  version: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  position: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
}).refine((fold) => JSON.stringify(fold.state).length <= MAX_CARRIED_FOLD_CHARS, { message: `state larger than ${MAX_CARRIED_FOLD_CHARS} characters` });
/** A carried fold as code builds and reads it: any state with a `status` (interfaces have no index signature). */
export interface CarriedFold {
  readonly state: { readonly status: string };
  readonly version: number;
  readonly position: number;
}

/** A carried fold, or undefined when absent or malformed: a bad fold costs a read, never the job. */
const optionalFold = carriedFoldSchema.optional().catch(undefined);

/**
 * A fetch job on `s1c.job.<api>` (work queue, `Nats-Msg-Id` = jobId). It names what to collect,
 * never how to authenticate: the fetcher reads the source's (encrypted) token from the log.
 */
export const fetchJobSchema = z.strictObject({
  jobId: z.string().min(1).max(256),
  sourceId: z.string().min(1).max(64),
  api: z.enum(SOURCE_APIS),
  lane: z.enum(LANES),
  /** The source configuration generation the job was planned for. */
  generation: z.number().int().positive(),
  window: z.strictObject({ from: timestamp, to: timestamp }),
  resume: progressSchema,
  dispatchedAt: timestamp,
  /**
   * Where the job's JobDispatched event is in the log: its version in the collection stream and its
   * log position. The job carries every field of that event (`dispatchedAt` is its `at`), so a
   * fetcher holding the collection folded up to the version before can fold the event itself
   * instead of reading the stream (docs/COLLECTION.md, "What a fetcher keeps in memory").
   * Optional: jobs of older schedulers, and jobs the scheduler republishes after a restart, may
   * lack them; a fetcher then reads the newer events of the stream.
   */
  collectionVersion: z.number().int().positive().optional(),
  collectionPosition: z.number().nonnegative().optional(),
  /**
   * The source stream's version the scheduler had folded when it dispatched the job: a fetcher
   * whose cached source is older reads the newer source events first (optional, as above).
   */
  sourceVersion: z.number().int().positive().optional(),
  /**
   * The collection as the scheduler folded it right after the job's JobDispatched (or later, for a
   * job republished at start-up): a fetcher holding nothing newer keeps it instead of reading the
   * stream (docs/COLLECTION.md, "What a fetcher keeps in memory"). Optional; a malformed one is
   * dropped here (the fetcher then reads the stream, as without it). The source is never carried:
   * its base URL and token decide where the token goes, so they come from the log only.
   */
  collectionFold: optionalFold,
  /**
   * The job's JobDispatched is not in the log yet: the scheduler decided it on the collection at
   * version `collectionVersion - 1` (the fold it carries, `collectionFold`, is that one) and the
   * fetcher appends it together with the job's first record (docs/COLLECTION.md, "One append per
   * job"). Absent: the scheduler appended it before publishing (older schedulers).
   */
  deferred: z.literal(true).optional(),
});
export type FetchJob = Omit<z.infer<typeof fetchJobSchema>, 'collectionFold'> & {
  readonly collectionFold?: CarriedFold | undefined;
};

/**
 * Headers of a raw batch on `s1c.raw.<api>.<sourceId>`: the records of one page of one job, or of
 * part of a page when the page is larger than {@link RAW_BATCH_MAX_BYTES} or spans two days. The body is the list
 * body `{"data":[r1,r2,...]}` of the SentinelOne objects' JSON exactly as received (64-bit ids keep
 * every digit); everything about them travels here. `Nats-Msg-Id` is a digest of the record ids.
 */
export const RAW_BATCH_HEADERS = {
  /** The records' ids, a JSON array of strings in the order of `data`. */
  recordIds: 'S1c-Record-Ids',
  /**
   * The UTC day (`YYYY-MM-DD`) of the time the records' ids stand for (a record's creation or
   * version time, a snapshot's time): every record of a batch has the same. The enricher keeps
   * what it delivered per day of the records.
   */
  recordDay: 'S1c-Record-Day',
  /**
   * Each record's length in bytes, a JSON array of integers in the order of `data`: with the list
   * body's fixed layout (`{"data":[` records joined by `,` `]}`), the enricher cuts the records out
   * of the body without parsing it. A batch without it is parsed.
   */
  recordLengths: 'S1c-Record-Lengths',
  /** Each record's `_siemEventID` (domain `siemEventId`), a JSON array of strings in the order of `data`; sent with `recordLengths`. */
  recordEventIds: 'S1c-Record-Event-Ids',
  sourceId: 'S1c-Source-Id',
  collectorId: 'S1c-Collector-Id',
  api: 'S1c-Api',
  lane: 'S1c-Lane',
  jobId: 'S1c-Job-Id',
  generation: 'S1c-Generation',
  /** The source stream's version when the records were fetched: their metadata is the config at that version. */
  sourceVersion: 'S1c-Source-Version',
  fetchedAt: 'S1c-Fetched-At',
  /** Agents' full snapshots: which snapshot the records belong to. */
  snapshotId: 'S1c-Snapshot-Id',
} as const;

/**
 * Most bytes of records and ids in one raw batch: half of nats-server's default `max_payload`
 * (1 MiB), so a batch with its headers always fits. A single larger record goes alone.
 */
export const RAW_BATCH_MAX_BYTES = 512 * 1024;

/**
 * Headers of an output record on `s1c.data.<api>.<sourceId>` (stream `S1C_DATA`), beside
 * `Nats-Msg-Id` = the record id. They let a consumer route, batch and cut the body without
 * parsing the SentinelOne object.
 */
export const DATA_RECORD_HEADERS = {
  recordId: 'S1c-Record-Id',
  sourceId: 'S1c-Source-Id',
  collectorId: 'S1c-Collector-Id',
  api: 'S1c-Api',
  /** The source stream version whose configuration produced the metadata. */
  sourceVersion: 'S1c-Source-Version',
  /** Byte offset in the body where the SentinelOne object (`event`) starts; it ends one byte before the body's end. */
  eventOffset: 'S1c-Event-Offset',
} as const;
