import { commonEnvShape, env, loadConfig, metricsEnvShape } from '@s1c/config';
import { loadS1Network, s1NetworkEnvShape } from '@s1c/s1-client';
import type { RetryPolicy } from '@s1c/domain';
import { z } from 'zod';

/** A fetcher's environment (the same for the three of them), parsed once at start-up. */
export const fetcherEnvShape = {
  ...commonEnvShape,
  /** The metrics port; default the fetcher's own (`METRICS_PORTS` of @s1c/config: 9103 activities, 9104 agents, 9105 threats); 0: none. */
  S1C_METRICS_PORT: z.coerce.number().int().min(0).max(65_535).optional(),
  S1C_METRICS_HOST: metricsEnvShape(0).S1C_METRICS_HOST,
  /** AES-256 key(s) that decrypt the sources' API tokens; the registry's `S1C_SECRET_KEY`. */
  S1C_SECRET_KEY: z.string().min(1),
  /** Allows http and private/loopback console URLs: for tests and the simulator only. */
  S1C_ALLOW_INSECURE_BASE_URL: env.boolean(false),
  /** How consoles are reached: S1C_S1_CA_FILE, S1C_S1_PRIVATE_CONSOLES, HTTPS_PROXY, NO_PROXY (the registry's, the same values). */
  ...s1NetworkEnvShape,
  /** Pages one job walks before it hands over to a continuation job. */
  S1C_MAX_PAGES_PER_JOB: env.positiveInt(20),
  /** Requests per second to one SentinelOne console, shared by every source and API of this process. */
  S1C_S1_REQUESTS_PER_SECOND: z.coerce.number().positive().max(1000).default(10),
  /** Per HTTP request to SentinelOne, from connect to the last byte. */
  S1C_S1_TIMEOUT: env.durationMs('30s'),
  /** How long a failure streak is retried before collection gives up (the source goes to Error). */
  S1C_RETRY_WINDOW: env.durationMs('90m'),
  /** The first retry delay of a streak; it doubles per attempt, with jitter. */
  S1C_RETRY_INITIAL_DELAY: env.durationMs('5s'),
  /** The longest delay between two attempts. */
  S1C_RETRY_MAX_DELAY: env.durationMs('10m'),
  /** How long a log reader waits for a missing position before filling it. */
  S1C_EVENT_GAP_TIMEOUT: env.durationMs('2s'),
  /** How long JetStream waits for a job's ack before redelivering it (kept alive while it runs). */
  S1C_JOB_ACK_WAIT: env.durationMs('60s'),
  /** Deliveries of a job before it is dead-lettered. */
  S1C_JOB_MAX_DELIVER: env.positiveInt(10),
  /**
   * Days before a source's API token expires that its health warning (TokenExpiring) is raised;
   * the expiry is asked of SentinelOne once a day per source. 0 turns the check off.
   */
  S1C_TOKEN_EXPIRY_WARNING_DAYS: z.coerce.number().int().min(0).max(365).default(14),
  /** Jobs this process runs at once. */
  S1C_FETCHER_CONCURRENCY: env.positiveInt(4),
};

export type FetcherConfig = ReturnType<typeof loadFetcherConfig>;

/** Parses and freezes a fetcher's configuration; throws a ConfigError listing every problem. */
export function loadFetcherConfig(source: Record<string, string | undefined> = process.env) {
  const config = loadConfig(fetcherEnvShape, source);
  return Object.freeze({ ...config, s1Network: loadS1Network(config) });
}

/** The retry policy the collection decider applies to a failed job. */
export function retryPolicyOf(config: Pick<FetcherConfig, 'S1C_RETRY_WINDOW' | 'S1C_RETRY_INITIAL_DELAY' | 'S1C_RETRY_MAX_DELAY'>): RetryPolicy {
  return Object.freeze({
    windowMs: config.S1C_RETRY_WINDOW,
    initialDelayMs: config.S1C_RETRY_INITIAL_DELAY,
    maxDelayMs: config.S1C_RETRY_MAX_DELAY,
  });
}
