import { runService } from '@s1c/runtime';
import { SecretKeyConfigError } from '@s1c/secrets';
import type { ApiSpec } from './api-spec';
import { startFetcher } from './fetcher.app';
import { loadFetcherConfig } from './fetcher.config';

/**
 * A fetcher service's `main` (libs/runtime): configuration from the environment (exit 2 when it
 * is unusable), start (exit 1 when that fails), and a stop on SIGTERM/SIGINT within
 * `S1C_SHUTDOWN_DEADLINE` (exit 0 when clean); jobs cut off are redelivered.
 */
export function runFetcherProcess(spec: ApiSpec): Promise<void> {
  return runService({
    name: `fetcher-${spec.api}`,
    loadConfig: loadFetcherConfig,
    start: (config, { logger }) => startFetcher(spec, config, { logger }),
    startConfigError: (error) => (error instanceof SecretKeyConfigError ? `S1C_SECRET_KEY: ${error.message}` : undefined),
  });
}
