import { runService } from '@s1c/runtime';
import { startHealth } from './health.app';
import { loadHealthConfig } from './health.config';

void runService({
  name: 'health',
  loadConfig: loadHealthConfig,
  start: (config, { logger }) => startHealth(config, { logger }),
  started: (runtime) => process.stdout.write(`health: dashboard at ${runtime.url}\n`),
});
