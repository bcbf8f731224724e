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
  LOG_LEVEL: env.logLevel(),
  /**
   * How long a service may take to stop after SIGTERM/SIGINT (libs/runtime); then it exits 1 and
   * the work under way is left for redelivery. Keep it below the supervisor's grace period.
   */
  S1C_SHUTDOWN_DEADLINE: env.durationMs('8s'),
};
