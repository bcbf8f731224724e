import { runService } from '@s1c/runtime';
import { startGateway } from './gateway.app';
import { loadGatewayConfig } from './gateway.config';

void runService({
  name: 'gateway',
  loadConfig: loadGatewayConfig,
  start: (config, { logger }) => startGateway(config, { logger }),
  started: (runtime) => process.stdout.write(`gateway: listening at ${runtime.url}\n`),
});
