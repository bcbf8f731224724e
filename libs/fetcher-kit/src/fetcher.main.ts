import { ConfigError } from '@s1c/config';
import { createLogger } from '@s1c/logger';
import { SecretKeyConfigError } from '@s1c/secrets';
import type { ApiSpec } from './api-spec';
import { startFetcher, type FetcherRuntime } from './fetcher.app';
import { loadFetcherConfig } from './fetcher.config';

/**
 * A fetcher service's `main`: configuration from the environment (exit 2 when it is unusable),
 * start (exit 1 when that fails), and a clean stop on SIGTERM/SIGINT (exit 0).
 */
export async function runFetcherProcess(spec: ApiSpec): Promise<void> {
  const name = `fetcher-${spec.api}`;
  let config;
  try {
    config = loadFetcherConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${name}: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger({ name, level: config.LOG_LEVEL });
  let runtime: FetcherRuntime;
  try {
    runtime = await startFetcher(spec, config, { logger });
  } catch (error) {
    if (error instanceof SecretKeyConfigError) {
      process.stderr.write(`${name}: S1C_SECRET_KEY: ${error.message}\n`);
      process.exit(2);
    }
    logger.fatal({ err: error }, `${name} failed to start`);
    process.exit(1);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, `${name} stopping`);
    runtime.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, `${name} did not stop cleanly`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
