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
};
