import { runService } from '@s1c/runtime';
import { startEnricher } from './enricher.app';
import { loadEnricherConfig } from './enricher.config';

void runService({
  name: 'enricher',
  loadConfig: loadEnricherConfig,
  start: (config, { logger }) => startEnricher(config, { logger }),
});
