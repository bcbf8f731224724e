import { anonymousExposureProblem, commonEnvShape, ConfigError, env, loadConfig } from '@s1c/config';
import { z } from 'zod';

/** The health service's environment, parsed once at start-up. */
export const healthEnvShape = {
  ...commonEnvShape,
  /** Port of the HTTP API and the dashboard. */
  S1C_HEALTH_PORT: env.port(8080),
  /** Interface to listen on: loopback unless named (compose names 0.0.0.0 inside the container). */
  S1C_HEALTH_HOST: z.string().min(1).default('127.0.0.1'),
  /**
   * When set, every request but `/healthz` (and the dashboard's static files, which hold no data)
   * must carry `Authorization: Bearer <token>`.
   */
  S1C_API_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /**
   * Lets the service listen beyond loopback (S1C_HEALTH_HOST) without S1C_API_TOKEN, answering
   * anyone who reaches it; without it, that configuration is refused at start-up.
   */
  S1C_ALLOW_ANONYMOUS: env.boolean(false),
  /** How long a tailing reader waits for a missing log position before filling it. */
  S1C_EVENT_GAP_TIMEOUT: env.durationMs('2s'),
  /**
   * How often the source and API status held in memory are saved as a snapshot (also once caught
   * up after a start, and at shutdown): a start reads only the events after the last one.
   */
  S1C_SNAPSHOT_INTERVAL: env.durationMs('5m'),
};

export type HealthConfig = ReturnType<typeof loadHealthConfig>;

export function loadHealthConfig(source: Record<string, string | undefined> = process.env) {
  const config = loadConfig(healthEnvShape, source);
  const problem = anonymousExposureProblem({
    hostVariable: 'S1C_HEALTH_HOST',
    host: config.S1C_HEALTH_HOST,
    hasToken: config.S1C_API_TOKEN !== undefined,
    tokenVariables: ['S1C_API_TOKEN'],
    allowAnonymous: config.S1C_ALLOW_ANONYMOUS,
  });
  if (problem) throw new ConfigError([problem]);
  return config;
}
