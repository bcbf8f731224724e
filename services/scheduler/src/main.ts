import { runService } from '@s1c/runtime';
import { startScheduler } from './scheduler.app';
import { loadSchedulerConfig } from './scheduler.config';

void runService({
  name: 'scheduler',
  loadConfig: loadSchedulerConfig,
  start: (config, { logger }) => startScheduler(config, { logger }),
});
