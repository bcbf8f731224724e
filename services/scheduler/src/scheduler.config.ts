import { commonEnvShape, ConfigError, env, loadConfig, METRICS_PORTS, metricsEnvShape } from '@s1c/config';

/** The scheduler's environment, parsed once at start-up. It never sees API tokens. */
export const schedulerEnvShape = {
  ...commonEnvShape,
  ...metricsEnvShape(METRICS_PORTS.scheduler),
  /** How far back the first collection of activities and threats reaches. */
  S1C_BACKFILL: env.durationMs('24h'),
  /** How often the live lane collects what is new. */
  S1C_POLL_INTERVAL: env.durationMs('5m'),
  /** How far each live window reaches back before the checkpoint (late rows, clock skew); below the poll interval. */
  S1C_LIVE_OVERLAP: env.durationMs('2m'),
  /** How often the agent inventory is walked in full. */
  S1C_AGENT_SNAPSHOT_INTERVAL: env.durationMs('24h'),
  /** A job with no progress for this long is abandoned and dispatched again. */
  S1C_JOB_STALL_TIMEOUT: env.durationMs('5m'),
  /** How often every source is driven. */
  S1C_SCHEDULER_TICK: env.durationMs('1s'),
  /** Sources driven at once in a tick (each appends to the log and publishes its jobs); their appends go to the store together (group commit). */
  S1C_SCHEDULER_CONCURRENCY: env.positiveInt(8),
  /**
   * How often the scheduler saves a snapshot of what it holds in memory (also after a replay of the
   * log and at shutdown): a start reads only the events after the last snapshot, not the whole log.
   */
  S1C_SNAPSHOT_INTERVAL: env.durationMs('5m'),
  /** How long the reader of S1C_EVENTS looks in the log for a missing version before going on without it. */
  S1C_EVENT_GAP_TIMEOUT: env.durationMs('2s'),
};

export type SchedulerConfig = ReturnType<typeof loadSchedulerConfig>;

/**
 * Parses and freezes the scheduler's environment.
 *
 * @throws ConfigError naming every bad variable, also when the live overlap is not shorter than the
 *   poll interval (each window would then start before the previous one did).
 */
export function loadSchedulerConfig(source: Record<string, string | undefined> = process.env) {
  const config = loadConfig(schedulerEnvShape, source);
  if (config.S1C_LIVE_OVERLAP >= config.S1C_POLL_INTERVAL) {
    throw new ConfigError(['S1C_LIVE_OVERLAP: must be shorter than S1C_POLL_INTERVAL']);
  }
  return config;
}
