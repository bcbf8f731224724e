import { ConfigError } from '@s1c/config';
import { createLogger } from '@s1c/logger';
import { SecretKeyConfigError } from '@s1c/secrets';
import { loadRegistryConfig } from './registry.config';
import { startRegistry } from './registry.app';

async function main(): Promise<void> {
  let config;
  try {
    config = loadRegistryConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`registry: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger({ name: 'registry', level: config.LOG_LEVEL });
  let runtime: Awaited<ReturnType<typeof startRegistry>>;
  try {
    runtime = await startRegistry(config, { logger });
  } catch (error) {
    if (error instanceof SecretKeyConfigError) {
      process.stderr.write(`registry: S1C_SECRET_KEY: ${error.message}\n`);
      process.exit(2);
    }
    logger.fatal({ err: error }, 'registry failed to start');
    process.exit(1);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'registry stopping');
    runtime.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'registry did not stop cleanly');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

void main();
