import { ConfigError } from '@s1c/config';
import { createLogger } from '@s1c/logger';
import { loadHealthConfig } from './health.config';
import { startHealth } from './health.app';

async function main(): Promise<void> {
  let config;
  try {
    config = loadHealthConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`health: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger({ name: 'health', level: config.LOG_LEVEL });
  let runtime: Awaited<ReturnType<typeof startHealth>>;
  try {
    runtime = await startHealth(config, { logger });
  } catch (error) {
    logger.fatal({ err: error }, 'health failed to start');
    process.exit(1);
  }
  process.stdout.write(`health: dashboard at ${runtime.url}\n`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'health stopping');
    runtime.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'health did not stop cleanly');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

void main();
