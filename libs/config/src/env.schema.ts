import { mongoEnvShape, natsEnvShape } from './connections';
import { env } from './env.builders';
import { z } from 'zod';

export { env, parseDurationMs } from './env.builders';

/** Variables every service reads. */
export const commonEnvShape = {
  ...natsEnvShape,
  ...mongoEnvShape,
  S1C_DB_NAME: z
    .string()
    .regex(/^[A-Za-z]{1,63}$/, 'must be 1-63 latin letters (FerretDB accepts nothing else)')
    .default('sonecollector'),
  /**
   * Replicas of every stream the services declare: 1 on one server, 3 on a three-node cluster. A
   * change on a running deployment is applied to the existing streams (the server moves the data),
   * or refused with the server's reason (e.g. more replicas than servers in the cluster).
   */
  S1C_STREAM_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
  LOG_LEVEL: env.logLevel(),
  /**
   * How long a service may take to stop after SIGTERM/SIGINT (libs/runtime); then it exits 1 and
   * the work under way is left for redelivery. Keep it below the supervisor's grace period.
   */
  S1C_SHUTDOWN_DEADLINE: env.durationMs('8s'),
};

/**
 * Where a service serves Prometheus metrics (`GET /metrics`): `S1C_METRICS_PORT` (each service its
 * own default; 0 turns it off) on `S1C_METRICS_HOST` (loopback by default; compose sets 0.0.0.0 on
 * its private network and publishes nothing). Metrics carry no secret.
 */
export function metricsEnvShape(defaultPort: number) {
  return {
    S1C_METRICS_PORT: env.port(defaultPort),
    S1C_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  };
}

/** The default metrics port of each service (`S1C_METRICS_PORT`); health serves its own on its API port. */
export const METRICS_PORTS = {
  registry: 9101,
  scheduler: 9102,
  'fetcher-activities': 9103,
  'fetcher-agents': 9104,
  'fetcher-threats': 9105,
  enricher: 9106,
  gateway: 9107,
  'fetcher-alerts': 9108,
  'fetcher-groups': 9109,
} as const;
