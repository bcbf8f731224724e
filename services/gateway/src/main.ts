import { ConfigError } from '@s1c/config';
import { runService } from '@s1c/runtime';
import { ApiTokensError } from './api-tokens';
import { startGateway } from './gateway.app';
import { loadGatewayConfig } from './gateway.config';

void runService({
  name: 'gateway',
  loadConfig: loadGatewayConfig,
  start: (config, { logger }) => startGateway(config, { logger }),
  // The token file is read at start: a problem with it is a configuration error (exit 2).
  startConfigError: (error) => (error instanceof ConfigError ? error.message : error instanceof ApiTokensError ? `invalid configuration: ${error.message}` : undefined),
  started: (runtime) => process.stdout.write(`gateway: listening at ${runtime.url}\n`),
});
