import { ConfigError } from '@s1c/config';
import { createLogger } from '@s1c/logger';
import { startScheduler } from './scheduler.app';
import { loadSchedulerConfig } from './scheduler.config';

async function main(): Promise<void> {
  let config;
  try {
    config = loadSchedulerConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`scheduler: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger({ name: 'scheduler', level: config.LOG_LEVEL });
  let runtime: Awaited<ReturnType<typeof startScheduler>>;
  try {
    runtime = await startScheduler(config, { logger });
  } catch (error) {
    logger.fatal({ err: error }, 'scheduler failed to start');
    process.exit(1);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'scheduler stopping');
    runtime.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'scheduler did not stop cleanly');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

void main();
