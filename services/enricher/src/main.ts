import { ConfigError } from '@s1c/config';
import { createLogger } from '@s1c/logger';
import { loadEnricherConfig } from './enricher.config';
import { startEnricher, type EnricherRuntime } from './enricher.app';

async function main(): Promise<void> {
  let config;
  try {
    config = loadEnricherConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`enricher: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger({ name: 'enricher', level: config.LOG_LEVEL });
  let runtime: EnricherRuntime;
  try {
    runtime = await startEnricher(config, { logger });
  } catch (error) {
    logger.fatal({ err: error }, 'enricher failed to start');
    process.exit(1);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'enricher stopping');
    runtime.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'enricher did not stop cleanly');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

void main();
