import { commonEnvShape, ConfigError, env, loadConfig, METRICS_PORTS, metricsEnvShape } from '@s1c/config';
import { z } from 'zod';

const optionalUrl = z
  .string()
  .optional()
  .refine(
    (value) => {
      if (value === undefined) return true;
      try {
        return ['http:', 'https:'].includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { message: 'must be an http:// or https:// URL' },
  );

const bytes = (defaultValue: number) => z.coerce.number().int().min(1024).default(defaultValue);

/** The enricher's environment, parsed once at start-up (documented in services/enricher/README.md). */
export const enricherEnvShape = {
  ...commonEnvShape,
  ...metricsEnvShape(METRICS_PORTS.enricher),
  /** Raw batches (messages of up to a page of records each) handled together, at most: one claim insert, one marker. */
  S1C_ENRICHER_BATCH_SIZE: z.coerce.number().int().min(1).max(1000).default(64),
  /**
   * The bytes of raw batches handled together, at most (at least one raw batch): a backfill's full
   * pages go two at a time, live polls' small ones many at a time. The raw batches this process
   * holds are bounded by twice this per concurrent batch.
   */
  S1C_ENRICHER_BATCH_BYTES: bytes(1024 * 1024),
  /** How long a short batch waits for more raw batches (live polls' small ones go together: fewer store writes). */
  S1C_ENRICHER_LINGER: env.durationMs('250ms', { zero: true }),
  /** Batches processed at once by this process (overlaps MongoDB and NATS round trips). */
  S1C_ENRICHER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  /** Server-side cap on unacknowledged raw batches across all replicas. */
  S1C_ENRICHER_MAX_ACK_PENDING: z.coerce.number().int().min(1).default(256),
  /** How long the server waits for an ack before redelivering a raw message. */
  S1C_ENRICHER_ACK_WAIT: env.durationMs('60s'),
  /** Deliveries of a raw message before it is dead-lettered. */
  S1C_ENRICHER_MAX_DELIVER: env.positiveInt(10),
  /** Source configurations kept in memory, one per (source, stream version). */
  S1C_SOURCE_CACHE_SIZE: env.positiveInt(1000),
  /** How often the state (Stopping/Deleted) of a source the relayed events do not cover is re-read from the log, at most. */
  S1C_SOURCE_REFRESH_INTERVAL: env.durationMs('5s'),
  /**
   * How long the sources' reader of S1C_EVENTS looks in the log for a missing version, and how long
   * a record waits for it to reach the record's source version before the log is read.
   */
  S1C_EVENT_GAP_TIMEOUT: env.durationMs('2s'),
  /** How long the delivered set remembers a record, counted from the record's own day (`enricher_delivered_<YYYYMMDD>`). */
  S1C_DELIVERED_RETENTION: env.durationMs('30d'),
  /** How often expired delivered-set entries are removed. */
  S1C_DELIVERED_CLEANUP_INTERVAL: env.durationMs('1h'),

  /** The HTTP collector to deliver to; the HTTP sink runs only when this is set. */
  S1C_SINK_HTTP_URL: optionalUrl,
  /** Records per HTTP batch, at most. */
  S1C_SINK_BATCH_RECORDS: z.coerce.number().int().min(1).max(100_000).default(5000),
  /** Uncompressed bytes per HTTP batch, at most (a single larger record goes alone). */
  S1C_SINK_BATCH_BYTES: bytes(1024 * 1024),
  /** A batch is sent at the latest this long after its first record arrived. */
  S1C_SINK_FLUSH_INTERVAL: env.durationMs('1s'),
  /** Timeout of one POST. */
  S1C_SINK_HTTP_TIMEOUT: env.durationMs('30s'),
  /** POSTs in flight at once. */
  S1C_SINK_HTTP_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  /** First delay after a failed POST; doubles per attempt, with jitter. */
  S1C_SINK_RETRY_INITIAL: env.durationMs('1s'),
  /** Longest delay between two attempts of a batch (a Retry-After may ask for more, up to S1C_RETRY_WINDOW). */
  S1C_SINK_RETRY_MAX: env.durationMs('60s'),
  /** How long the sink keeps retrying a batch the collector refuses (4xx), then dead-letters it. */
  S1C_RETRY_WINDOW: env.durationMs('90m'),
  /** How long the server waits for the sinks' acks; held messages are kept alive with working(). */
  S1C_SINK_ACK_WAIT: env.durationMs('60s'),
  /** Unacknowledged output messages a sink may hold (must exceed one batch's records). */
  S1C_SINK_MAX_ACK_PENDING: z.coerce.number().int().min(1).default(20_000),

  /** Directory of the file sink (NDJSON per source and API); the file sink runs only when set. */
  S1C_SINK_FILE_DIR: z.string().min(1).optional(),
  /** A file is rotated once it would grow beyond this many bytes. */
  S1C_SINK_FILE_MAX_BYTES: bytes(100 * 1024 * 1024),
  /**
   * What a file-sink line holds: `record` (default), the output record, with the SIEM metadata next
   * to the S1 object under `event`; `event`, the bare S1 object.
   */
  S1C_SINK_FILE_FORMAT: z.enum(['record', 'event']).default('record'),
};

export type EnricherConfig = ReturnType<typeof loadEnricherConfig>;

/** Parses and freezes the enricher's environment; throws `ConfigError` naming every bad variable. */
export function loadEnricherConfig(source: Record<string, string | undefined> = process.env) {
  const config = loadConfig(enricherEnvShape, source);
  if (config.S1C_SINK_MAX_ACK_PENDING < config.S1C_SINK_BATCH_RECORDS) {
    // A sink holds a whole batch unacknowledged: with fewer allowed, batches could never fill.
    throw new ConfigError(['S1C_SINK_MAX_ACK_PENDING: must be at least S1C_SINK_BATCH_RECORDS']);
  }
  return config;
}
