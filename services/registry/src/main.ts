import { runService } from '@s1c/runtime';
import { SecretKeyConfigError } from '@s1c/secrets';
import { startRegistry } from './registry.app';
import { loadRegistryConfig } from './registry.config';

void runService({
  name: 'registry',
  loadConfig: loadRegistryConfig,
  start: (config, { logger }) => startRegistry(config, { logger }),
  startConfigError: (error) => (error instanceof SecretKeyConfigError ? `S1C_SECRET_KEY: ${error.message}` : undefined),
});
