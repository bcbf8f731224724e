import { ConfigError } from '@s1c/config';
import { createLogger } from '@s1c/logger';
import { loadGatewayConfig } from './gateway.config';
import { startGateway } from './gateway.app';

async function main(): Promise<void> {
  let config;
  try {
    config = loadGatewayConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`gateway: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger({ name: 'gateway', level: config.LOG_LEVEL });
  let runtime: Awaited<ReturnType<typeof startGateway>>;
  try {
    runtime = await startGateway(config, { logger });
  } catch (error) {
    logger.fatal({ err: error }, 'gateway failed to start');
    process.exit(1);
  }
  process.stdout.write(`gateway: listening at ${runtime.url}\n`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'gateway stopping');
    runtime.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'gateway did not stop cleanly');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

void main();
